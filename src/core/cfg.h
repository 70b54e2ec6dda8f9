/* cfg: the run configuration. YAML files (libyaml) with `include:` and
 * `--set key.path=value` overrides are read into ONE plain struct,
 * mtrl_config, filled with defaults first. One schema table in cfg.c (key
 * path, type, field offset, default, range or allowed words, one-line doc)
 * drives defaults, parsing, validation, overrides, printing and `mtrl config
 * --keys`, so a key is added in exactly one place.
 * Every bad input is MTRL_EINPUT with a message naming file:line: key.
 * Depends on core/err only (and libyaml); it knows nothing about the
 * modules that consume the values, except the task count of a benchmark
 * name, needed to check that balanced batches divide evenly. The modules
 * that act on an enum-valued key expand their enum from its list here, so
 * its values and words are defined once (see "Enum-valued keys"). */
#ifndef MTRL_CORE_CFG_H
#define MTRL_CORE_CFG_H

#include <stdint.h>
#include <stdio.h>

#include "core/err.h"

#define CFG_STR_LEN 256 /* strings are fixed arrays: the struct is copyable */
#define CFG_LIST_MAX 16 /* longest int list (hidden layer widths) */

typedef struct cfg_int_list {
    int n;
    int v[CFG_LIST_MAX];
} cfg_int_list;

/* Enum-valued keys. Each list below is THE definition of a setting's values
 * and of their config words, in value order: X(P, ID, "word"). cfg's enums
 * (cfg_goals: CFG_GOALS_FIXED, ...) and word tables are expanded from them,
 * and so are the enums of the modules that act on a setting (mtl_method
 * MTL_MEAN... in mtl.h, rb_sampling in replay.h, env_goals_mode in envs.h),
 * so a value has one name, one number and one word everywhere and a module
 * value converts from cfg's by a plain cast. The lists live here because
 * cfg, in core, is below every module that uses them.
 * Expand a list with CFG_ENUM_ID and a prefix for enum constants, with
 * CFG_ENUM_WORD for its words. */
#define CFG_ENUM_ID(P, id, word) P##id,
#define CFG_ENUM_WORD(P, id, word) word,

#define CFG_GOALS_LIST(X, P) X(P, FIXED, "fixed") X(P, SAMPLED, "sampled")
#define CFG_TASK_INPUT_LIST(X, P) X(P, ONEHOT, "onehot") X(P, NONE, "none")
#define CFG_ALPHA_LIST(X, P) X(P, PER_TASK, "per_task") X(P, SHARED, "shared")
#define CFG_REWARD_NORM_LIST(X, P) X(P, STD, "std") X(P, EMA, "ema") X(P, NONE, "none")
#define CFG_SAMPLING_LIST(X, P) X(P, BALANCED, "balanced") X(P, UNIFORM, "uniform")
/* mtl.method: what each method does is documented in src/mtl/mtl.h. */
#define CFG_MTL_METHOD_LIST(X, P)                                                          \
    X(P, MEAN, "mean") X(P, SUM, "sum") X(P, PCGRAD, "pcgrad") X(P, CAGRAD, "cagrad")      \
    X(P, CAGRAD_FAST, "cagrad_fast") X(P, MGDA, "mgda") X(P, ALIGNED_MTL, "aligned_mtl")   \
    X(P, ALIGNED_MTL_UB, "aligned_mtl_ub") X(P, IMTL_G, "imtl_g")                          \
    X(P, GRADDROP, "graddrop") X(P, RLW, "rlw") X(P, NASH_MTL, "nash_mtl")                 \
    X(P, FAMO, "famo") X(P, UPGRAD, "upgrad") X(P, DUALPROJ, "dualproj")                   \
    X(P, CONFIG, "config")
#define CFG_RESCALE_LIST(X, P) \
    X(P, REFERENCE, "reference") X(P, NONE, "none") X(P, C2, "c2") X(P, C, "c")
#define CFG_FAST_GRAM_LIST(X, P) X(P, FULL, "full") X(P, SUBSET, "subset")
#define CFG_MGDA_NORM_LIST(X, P) X(P, L2, "l2") X(P, NONE, "none")
#define CFG_RLW_DIST_LIST(X, P) X(P, DIRICHLET, "dirichlet") X(P, NORMAL, "normal")
#define CFG_FAMO_SCALE_LIST(X, P) X(P, PAPER, "paper") X(P, MTRL, "mtrl")

typedef enum { CFG_GOALS_LIST(CFG_ENUM_ID, CFG_GOALS_) } cfg_goals;
typedef enum { CFG_TASK_INPUT_LIST(CFG_ENUM_ID, CFG_TASK_INPUT_) } cfg_task_input;
typedef enum { CFG_ALPHA_LIST(CFG_ENUM_ID, CFG_ALPHA_) } cfg_alpha;
typedef enum { CFG_REWARD_NORM_LIST(CFG_ENUM_ID, CFG_REWARD_NORM_) } cfg_reward_norm;
typedef enum { CFG_SAMPLING_LIST(CFG_ENUM_ID, CFG_SAMPLING_) } cfg_sampling;
typedef enum { CFG_MTL_METHOD_LIST(CFG_ENUM_ID, CFG_MTL_) CFG_MTL_COUNT } cfg_mtl_method;
typedef enum { CFG_RESCALE_LIST(CFG_ENUM_ID, CFG_RESCALE_) } cfg_rescale;
typedef enum { CFG_FAST_GRAM_LIST(CFG_ENUM_ID, CFG_FAST_GRAM_) } cfg_fast_gram;
typedef enum { CFG_MGDA_NORM_LIST(CFG_ENUM_ID, CFG_MGDA_NORM_) } cfg_mgda_norm;
typedef enum { CFG_RLW_DIST_LIST(CFG_ENUM_ID, CFG_RLW_) } cfg_rlw_dist;
typedef enum { CFG_FAMO_SCALE_LIST(CFG_ENUM_ID, CFG_FAMO_) } cfg_famo_scale;

typedef struct cfg_run {
    char name[CFG_STR_LEN];     /* "" in the file: the config file's stem */
    char runs_dir[CFG_STR_LEN]; /* parent of runs/<name>-<timestamp>/ */
    int64_t seed;
    int64_t iterations; /* loop iterations; one steps every env once */
    int threads;        /* env worker threads; 0 = number of cores */
} cfg_run;

typedef struct cfg_env {
    char benchmark[CFG_STR_LEN]; /* "mt10", "mt50" or "mt1:<task>" */
    cfg_goals goals;
    int64_t goal_seed; /* -1 = derive from run.seed */
    int max_episode_steps;
} cfg_env;

typedef struct cfg_agent {
    cfg_int_list actor_hidden;
    cfg_int_list critic_hidden;
    cfg_task_input task_input;
    double discount;
    double tau;
    double actor_lr, critic_lr, alpha_lr;
    double adam_beta1, adam_beta2, adam_eps;
    double init_temperature;
    cfg_alpha alpha;
    double target_entropy;
    int batch_size; /* transitions per update, all tasks together */
    int actor_update_freq;
    int critic_target_update_freq;
    int64_t init_steps;   /* iterations of uniform random actions, no updates */
    int64_t init_updates; /* update burst at iteration init_steps */
    int updates_per_iter; /* updates per iteration after the burst */
    double log_std_min, log_std_max;
    double actor_l2;  /* coupled L2 on the actor (Kurin); 0 = off */
    double grad_clip; /* max global norm of the update; 0 = off */
    int max_nonfinite_skips;
} cfg_agent;

typedef struct cfg_replay {
    int64_t capacity; /* transitions, all tasks together */
    cfg_reward_norm reward_norm;
    double reward_ema_rate; /* for reward_norm = ema (mtenv) */
    cfg_sampling sampling;
} cfg_replay;

typedef struct cfg_mtl {
    cfg_mtl_method method;
    int on_critic, on_actor, on_alpha; /* which losses go through the combiner */
    double cagrad_c;
    double cagrad_lr; /* dual solver step; 0 = auto (25, or 50 when K = 50) */
    double cagrad_momentum;
    int cagrad_steps;
    cfg_rescale cagrad_rescale;
    int cagrad_fast_subset; /* |S| sampled tasks; rows = |S| + 1 */
    cfg_fast_gram cagrad_fast_gram;
    cfg_mgda_norm mgda_normalize;
    double graddrop_k;
    cfg_rlw_dist rlw_dist;
    int nash_update_every;
    int nash_iters;
    double nash_max_norm; /* 0 = off */
    double famo_lr;
    double famo_gamma;
    cfg_famo_scale famo_scale;
    double upgrad_norm_eps;
    double upgrad_reg_eps;
} cfg_mtl;

typedef struct cfg_eval {
    int64_t every; /* iterations; 0 = never */
    int episodes;  /* per task */
    int deterministic;
    int64_t video_every; /* iterations between evaluation videos; 0 = never */
} cfg_eval;

typedef struct cfg_log {
    int64_t every;            /* iterations between train log rows; 0 = each episode */
    int64_t checkpoint_every; /* -1 never, 0 at each evaluation, N every N iterations */
    int save_replay;
    int keep_checkpoints; /* newest N kept; 0 = keep all */
} cfg_log;

typedef struct mtrl_config {
    cfg_run run;
    cfg_env env;
    cfg_agent agent;
    cfg_replay replay;
    cfg_mtl mtl;
    cfg_eval eval;
    cfg_log log;
} mtrl_config;

/* Sets every key to its default. */
void cfg_defaults(mtrl_config *c);

/* The usual entry point: defaults, then the file at path (with its
 * includes), then each "key.path=value" of sets[0..n_sets), then the
 * cross-field checks. sets may be NULL when n_sets is 0. */
int cfg_load(mtrl_config *c, const char *path, const char *const *sets, int n_sets,
             mtrl_err *err);

/* Applies one file (and its includes) over the current values of *c, without
 * the cross-field checks; each key still gets its own type and range check. */
int cfg_read_file(mtrl_config *c, const char *path, mtrl_err *err);

/* For other YAML inputs (sweep files): reads the regular file at path into
 * a new NUL-terminated buffer (free it), refusing directories, FIFOs and
 * devices and oversized files with a message naming path; then 0 if the
 * text nests at most as deep as a config may, else the 1-based line where
 * it goes deeper (checked before libyaml, whose scan is quadratic in depth). */
int cfg_read_yaml_text(const char *path, char **text, size_t *len, mtrl_err *err);
int cfg_yaml_too_deep(const char *text, size_t len);
#define CFG_MAX_NESTING 32

/* Applies one "key.path=value" override (value as it would appear in YAML;
 * lists as [64, 64]). Messages start with "--set key.path=value: ". */
int cfg_apply_override(mtrl_config *c, const char *kv, mtrl_err *err);

/* Cross-field checks (balanced batch divisible by the task count, log_std
 * bounds ordered, ...). cfg_load calls it; call it after extra overrides. */
int cfg_check(const mtrl_config *c, mtrl_err *err);

/* Number of tasks of env.benchmark: 10, 50 or 1 (mt1:<task>); -1 if the
 * name is not one of those forms. */
int cfg_num_tasks(const mtrl_config *c);

/* The task name of an "mt1:<task>" benchmark, or NULL. */
const char *cfg_mt1_task(const mtrl_config *c);

/* The YAML word of an enum value of the key at path (e.g. "mtl.method"),
 * or NULL if path is not an enum key or value is out of range. */
const char *cfg_enum_word(const char *path, int value);

/* Every key, grouped by section, as loadable YAML with the doc of each key
 * as a comment. */
int cfg_print(const mtrl_config *c, FILE *f);

/* Writes cfg_print's text to path through a temporary file renamed into
 * place, so an existing file is never left half-written. */
int cfg_write_yaml(const mtrl_config *c, const char *path, mtrl_err *err);

/* Every key with its type, default and doc, for `mtrl config --keys`. */
void cfg_print_keys(FILE *f);

/* 1 if every key of a and b holds the same value, else 0. */
int cfg_equal(const mtrl_config *a, const mtrl_config *b);

/* The schema, read-only, for tools and tests. */
typedef enum {
    CFG_T_INT,
    CFG_T_INT64,
    CFG_T_DOUBLE,
    CFG_T_BOOL,
    CFG_T_STRING,
    CFG_T_ENUM,
    CFG_T_INT_LIST
} cfg_type;

typedef struct cfg_key_info {
    const char *path; /* "agent.batch_size" */
    cfg_type type;
    const char *doc;
} cfg_key_info;

/* Number of keys; fills *out with key i (0 <= i < count) when out != NULL. */
int cfg_key_count(void);
void cfg_key_get(int i, cfg_key_info *out);

#endif
