#include "sac/rows.h"

#include <stdlib.h>
#include <string.h>

void sac_rows_destroy(sac_rows *r)
{
    if (!r)
        return;
    void *bufs[] = {r->off, r->group_task, r->gs,   r->order, r->boff,
                    r->onehot, r->obs,     r->act,  r->task,  r->y, r->eps};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
    free(r);
}

int sac_rows_create(sac_rows **out, int K, int obs_dim, int act_dim, int max_batch, int onehot,
                    mtrl_err *e)
{
    *out = NULL;
    sac_rows *r = calloc(1, sizeof *r);
    if (!r)
        return err_set(e, MTRL_ENOMEM, "out of memory for the agent's row layout");
    r->K = K, r->obs_dim = obs_dim, r->act_dim = act_dim, r->max_batch = max_batch;
    size_t B = (size_t)max_batch, ki = (size_t)K * sizeof(int);
    r->off = malloc(ki + sizeof(int));
    r->group_task = malloc(ki);
    r->gs = malloc(ki);
    r->order = malloc(ki);
    r->boff = malloc(ki + sizeof(int));
    r->onehot = onehot ? calloc(B * (size_t)K, sizeof(float)) : NULL;
    r->obs = malloc(B * (size_t)obs_dim * sizeof(float));
    r->act = malloc(B * (size_t)act_dim * sizeof(float));
    r->task = malloc(B * sizeof(int32_t));
    r->y = malloc(B * sizeof(float));
    r->eps = malloc(B * (size_t)act_dim * sizeof(float));
    if (!r->off || !r->group_task || !r->gs || !r->order || !r->boff || (onehot && !r->onehot) ||
        !r->obs || !r->act || !r->task || !r->y || !r->eps) {
        sac_rows_destroy(r);
        return err_set(e, MTRL_ENOMEM, "out of memory for the agent's row layout");
    }
    *out = r;
    return 0;
}

void sac_rows_fill_onehot(sac_rows *r, int n, const int32_t *task)
{
    if (!r->onehot)
        return;
    memset(r->onehot, 0, (size_t)n * (size_t)r->K * sizeof(float));
    for (int i = 0; i < n; i++)
        r->onehot[(size_t)i * (size_t)r->K + (size_t)task[i]] = 1.0f;
}

int sac_rows_begin(sac_rows *r, const rb_batch *b)
{
    int k = 0;
    r->off[0] = 0;
    for (int t = 0; t < r->K; t++) {
        int n = b->offsets[t + 1] - b->offsets[t];
        if (n <= 0)
            continue;
        r->group_task[k] = t;
        r->off[k + 1] = b->offsets[t + 1];
        r->off[k] = b->offsets[t];
        k++;
    }
    r->groups = k;
    r->ns = 0;
    for (int g = 0; g < k; g++)
        r->gs[g] = r->off[g];
    sac_rows_fill_onehot(r, b->rows, b->task);
    r->onehot_perm = 0;
    return k;
}

void sac_rows_place(const sac_rows *r, const float *src, float *dst, int width)
{
    for (int g = 0; g < r->groups; g++)
        memcpy(dst + (size_t)r->gs[g] * (size_t)width, src + (size_t)r->off[g] * (size_t)width,
               sizeof(float) * (size_t)sac_rows_count(r, g) * (size_t)width);
}

/* Rows keep their order within a group, so every per-task sum adds the
 * same values in the same order in either layout. */
int sac_rows_lay_out(sac_rows *r, mtl_combiner *fast, const rb_batch *b, int with_act,
                     mtrl_err *e)
{
    int ns = 0, groups = r->groups;
    if (fast) {
        ns = mtl_fast_draw(fast, groups, r->order, e);
        if (ns < 0)
            return ns;
    }
    r->ns = ns;
    if (ns == 0) {
        for (int g = 0; g < groups; g++)
            r->gs[g] = r->off[g];
        if (r->onehot_perm) {
            sac_rows_fill_onehot(r, b->rows, b->task);
            r->onehot_perm = 0;
        }
        return 0;
    }
    int pos = r->off[0];
    for (int j = 0; j < groups; j++) {
        int g = r->order[j];
        r->gs[g] = pos;
        if (j <= ns)
            r->boff[j] = pos;
        pos += sac_rows_count(r, g);
    }
    r->boff[ns + 1] = pos;
    sac_rows_place(r, b->obs, r->obs, r->obs_dim);
    if (with_act)
        sac_rows_place(r, b->act, r->act, r->act_dim);
    for (int g = 0; g < groups; g++)
        memcpy(r->task + r->gs[g], b->task + r->off[g], sizeof(int32_t) * (size_t)sac_rows_count(r, g));
    sac_rows_fill_onehot(r, b->rows, r->task);
    r->onehot_perm = 1;
    return ns;
}

float sac_rows_scale(const sac_rows *r, int g)
{
    float s = 1.0f / (float)sac_rows_count(r, g);
    int rest = r->ns > 0 && r->gs[g] >= r->boff[r->ns];
    return rest ? s / (float)(r->groups - r->ns) : s;
}
