/* sac (private): the row layout of one update's batch. The batch comes
 * task-grouped (rb_sample); the tasks with rows are compacted into groups
 * (the reference combines only the tasks present in a batch, spec §4.2).
 * A component combined by CAGrad-Fast forms only its |S| sampled groups'
 * gradient rows and one remainder row, so for its passes the batch is laid
 * out with the sampled groups first (in draw order) and all others after
 * them as one contiguous block, which one backward pass turns into the
 * remainder row. Every other pass sees the batch as sampled. The task
 * one-hot input lives here too, as it follows the layout.
 * Only sac.c uses this; the fields are read there, written here. */
#ifndef MTRL_SAC_ROWS_H
#define MTRL_SAC_ROWS_H

#include <stdint.h>

#include "core/err.h"
#include "mtl/mtl.h"
#include "replay/replay.h"

typedef struct sac_rows {
    int K, obs_dim, act_dim, max_batch;
    int groups;        /* non-empty task groups of the batch */
    int *off;          /* K + 1: group g is rows [off[g], off[g+1]) as sampled */
    int *group_task;   /* K: task of each group */
    int ns;            /* |S| of the current layout; 0: the batch as sampled */
    int *gs;           /* K: first row of each group in the current layout */
    int *order;        /* K: groups in layout order */
    int *boff;         /* ns + 2: backward group offsets (S's groups, then the rest) */
    float *onehot;     /* max_batch x K task one-hot of the current layout, or NULL */
    int onehot_perm;   /* the one-hot holds the reordered rows */
    float *obs, *act;  /* the batch in the layout (when ns > 0) */
    int32_t *task;
    float *y, *eps;    /* critic targets, actor noise: scratch for sac_rows_place */
} sac_rows;

/* onehot: keep a task one-hot (agent.task_input onehot). */
int sac_rows_create(sac_rows **out, int K, int obs_dim, int act_dim, int max_batch, int onehot,
                    mtrl_err *e);
void sac_rows_destroy(sac_rows *r);

/* The one-hot of n rows of tasks (sac_act, or a batch as sampled). */
void sac_rows_fill_onehot(sac_rows *r, int n, const int32_t *task);

/* Takes a new batch: compacts its groups and lays it out as sampled.
 * Returns the number of groups (0: empty batch). */
int sac_rows_begin(sac_rows *r, const rb_batch *b);

/* The layout of one component's passes. fast: the component's CAGrad-Fast
 * combiner, which draws its subset S here, before any pass runs (the very
 * draw it would make inside mtl_combine_in); NULL: the batch as sampled.
 * with_act: also lay out the batch's actions (the critic). Returns |S|
 * (0: as sampled) or a negative code. */
int sac_rows_lay_out(sac_rows *r, mtl_combiner *fast, const rb_batch *b, int with_act,
                     mtrl_err *e);

/* Copies each group's rows of src (width floats a row, as sampled) to
 * their place in the current layout in dst. */
void sac_rows_place(const sac_rows *r, const float *src, float *dst, int width);

/* Rows of group g in the current layout: [first, first + count). */
static inline int sac_rows_first(const sac_rows *r, int g) { return r->gs[g]; }
static inline int sac_rows_count(const sac_rows *r, int g) { return r->off[g + 1] - r->off[g]; }

/* dL/d(out) scale of group g's rows: 1/n of its group, and for the groups
 * of CAGrad-Fast's remainder block also 1/(groups - |S|), so that the
 * block's summed gradient is the remainder row (the mean of their per-task
 * means). */
float sac_rows_scale(const sac_rows *r, int g);

#endif
