/* cfg: YAML configuration into mtrl_config, driven by one schema table. */
#include "core/cfg.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "core/strutil.h"

/* ------------------------------------------------------------------ schema */

enum {
    F_NOMAX = 1,   /* no upper bound worth printing */
    F_LO_EXCL = 2, /* lower bound is exclusive (learning rates, tau, ...) */
    F_HI_EXCL = 4,
};

typedef struct key_def {
    const char *path;
    cfg_type type;
    size_t off;
    const char *def; /* default, as YAML text: parsed by the same code as files */
    double lo, hi;   /* numbers and list items; ignored for other types */
    unsigned flags;
    const char *const *words; /* enum words, NULL-terminated, in enum order */
    /* extra check of a string value; returns NULL if fine, else what was expected */
    const char *(*check)(const char *s);
    const char *doc;
} key_def;

/* Enum words, NULL-terminated, from the one list of each setting (cfg.h). */
#define WORDS(LIST) {LIST(CFG_ENUM_WORD, _) NULL}
static const char *const w_goals[] = WORDS(CFG_GOALS_LIST);
static const char *const w_task_input[] = WORDS(CFG_TASK_INPUT_LIST);
static const char *const w_alpha[] = WORDS(CFG_ALPHA_LIST);
static const char *const w_reward_norm[] = WORDS(CFG_REWARD_NORM_LIST);
static const char *const w_sampling[] = WORDS(CFG_SAMPLING_LIST);
static const char *const w_method[] = WORDS(CFG_MTL_METHOD_LIST);
static const char *const w_rescale[] = WORDS(CFG_RESCALE_LIST);
static const char *const w_fast_gram[] = WORDS(CFG_FAST_GRAM_LIST);
static const char *const w_mgda_norm[] = WORDS(CFG_MGDA_NORM_LIST);
static const char *const w_rlw_dist[] = WORDS(CFG_RLW_DIST_LIST);
static const char *const w_famo_scale[] = WORDS(CFG_FAMO_SCALE_LIST);

static const char *check_benchmark(const char *s)
{
    static const char *want = "mt10, mt50 or mt1:<task> (e.g. mt1:reach-v2)";
    if (!strcmp(s, "mt10") || !strcmp(s, "mt50"))
        return NULL;
    if (strncmp(s, "mt1:", 4) || !s[4])
        return want;
    /* Task names are checked by envs, which knows them; here only their shape. */
    for (const char *p = s + 4; *p; p++)
        if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '-' || *p == '_'))
            return want;
    return NULL;
}

static const char *check_nonempty(const char *s) { return s[0] ? NULL : "a non-empty string"; }

/* A run name becomes part of a directory name and of paths in messages,
 * shell commands and reports: keep it short and plain. Empty means "the
 * config file's name". */
#define RUN_NAME_MAX 100
static int run_name_char(char c)
{
    return isalnum((unsigned char)c) || c == '-' || c == '_' || c == '.' || c == '+';
}

static const char *check_run_name(const char *s)
{
    static const char *want = "a name of at most 100 characters from A-Z a-z 0-9 - _ . + "
                              "(not starting with '.' or '-'), or \"\" for the config file's name";
    size_t n = strlen(s);
    if (n == 0)
        return NULL;
    if (n > RUN_NAME_MAX || s[0] == '.' || s[0] == '-')
        return want;
    for (const char *p = s; *p; p++)
        if (!run_name_char(*p))
            return want;
    return NULL;
}

#define OFF(sec, field) offsetof(mtrl_config, sec) + offsetof(cfg_##sec, field)
#define NOMAX 0, F_NOMAX

/* The order here is the order of printing and of configs/base.yaml. */
static const key_def keys[] = {
    /* run */
    {"run.name", CFG_T_STRING, OFF(run, name), "\"\"", 0, 0, 0, NULL, check_run_name,
     "run name, first part of the run directory (at most 100 of A-Z a-z 0-9 - _ . +); "
     "empty: the config file's name"},
    {"run.runs_dir", CFG_T_STRING, OFF(run, runs_dir), "runs", 0, 0, 0, NULL, check_nonempty,
     "where run directories <name>-<timestamp>/ are created (mtrl run --out overrides)"},
    {"run.seed", CFG_T_INT64, OFF(run, seed), "1", 0, NOMAX, NULL, NULL,
     "seed of every random stream (same seed and threads: same run)"},
    {"run.iterations", CFG_T_INT64, OFF(run, iterations), "2000000", 1, NOMAX, NULL, NULL,
     "training loop iterations; one iteration steps every task's env once"},
    {"run.threads", CFG_T_INT, OFF(run, threads), "0", 0, 1024, 0, NULL, NULL,
     "env workers and learner threads (OpenBLAS on 1); 0 = number of cores"},
    /* env */
    {"env.benchmark", CFG_T_STRING, OFF(env, benchmark), "mt10", 0, 0, 0, NULL, check_benchmark,
     "task set: mt10, mt50 or mt1:<task>"},
    {"env.goals", CFG_T_ENUM, OFF(env, goals), "fixed", 0, 0, 0, w_goals, NULL,
     "fixed: one goal per task for the whole run (reference); sampled: new goal each reset"},
    {"env.goal_seed", CFG_T_INT64, OFF(env, goal_seed), "-1", -1, NOMAX, NULL, NULL,
     "seed of the goal draws; -1 = derived from run.seed"},
    {"env.max_episode_steps", CFG_T_INT, OFF(env, max_episode_steps), "500", 1, 100000, 0, NULL,
     NULL, "episode cap (Meta-World v2: 500; the CAGrad/mtrl runs: 150)"},
    /* agent */
    {"agent.actor_hidden", CFG_T_INT_LIST, OFF(agent, actor_hidden), "[400, 400, 400]", 1, 65536,
     0, NULL, NULL, "actor MLP hidden widths"},
    {"agent.critic_hidden", CFG_T_INT_LIST, OFF(agent, critic_hidden), "[400, 400, 400]", 1,
     65536, 0, NULL, NULL, "widths of each of the twin critic MLPs"},
    {"agent.task_input", CFG_T_ENUM, OFF(agent, task_input), "onehot", 0, 0, 0, w_task_input, NULL,
     "onehot: task one-hot appended to the observation; none: reference"},
    {"agent.discount", CFG_T_DOUBLE, OFF(agent, discount), "0.99", 0, 1, 0, NULL, NULL,
     "discount gamma"},
    {"agent.tau", CFG_T_DOUBLE, OFF(agent, tau), "0.005", 0, 1, F_LO_EXCL, NULL, NULL,
     "Polyak rate of the target critics"},
    {"agent.actor_lr", CFG_T_DOUBLE, OFF(agent, actor_lr), "3e-4", 0, 1, F_LO_EXCL, NULL, NULL,
     "Adam learning rate of the actor"},
    {"agent.critic_lr", CFG_T_DOUBLE, OFF(agent, critic_lr), "3e-4", 0, 1, F_LO_EXCL, NULL, NULL,
     "Adam learning rate of the critics"},
    {"agent.alpha_lr", CFG_T_DOUBLE, OFF(agent, alpha_lr), "3e-4", 0, 1, F_LO_EXCL, NULL, NULL,
     "Adam learning rate of log alpha"},
    {"agent.adam_beta1", CFG_T_DOUBLE, OFF(agent, adam_beta1), "0.9", 0, 1, F_HI_EXCL, NULL, NULL,
     "Adam beta1 (all optimizers)"},
    {"agent.adam_beta2", CFG_T_DOUBLE, OFF(agent, adam_beta2), "0.999", 0, 1, F_HI_EXCL, NULL,
     NULL, "Adam beta2 (all optimizers)"},
    {"agent.adam_eps", CFG_T_DOUBLE, OFF(agent, adam_eps), "1e-8", 0, 1, F_LO_EXCL, NULL, NULL,
     "Adam epsilon (all optimizers)"},
    {"agent.init_temperature", CFG_T_DOUBLE, OFF(agent, init_temperature), "1.0", 0, 1e6,
     F_LO_EXCL, NULL, NULL, "initial alpha"},
    {"agent.alpha", CFG_T_ENUM, OFF(agent, alpha), "per_task", 0, 0, 0, w_alpha, NULL,
     "per_task: one temperature per task; shared: one for all (reference)"},
    {"agent.target_entropy", CFG_T_DOUBLE, OFF(agent, target_entropy), "-4.0", -1e6, 1e6, 0, NULL,
     NULL, "target entropy; -|A| = -4 for the Sawyer's 4-dim action"},
    {"agent.batch_size", CFG_T_INT, OFF(agent, batch_size), "1280", 1, NOMAX, NULL, NULL,
     "transitions per update, all tasks together"},
    {"agent.actor_update_freq", CFG_T_INT, OFF(agent, actor_update_freq), "1", 1, NOMAX, NULL,
     NULL, "actor and alpha step every N updates"},
    {"agent.critic_target_update_freq", CFG_T_INT, OFF(agent, critic_target_update_freq), "1", 1,
     NOMAX, NULL, NULL, "Polyak update of the targets every N updates"},
    {"agent.init_steps", CFG_T_INT64, OFF(agent, init_steps), "1500", 0, NOMAX, NULL, NULL,
     "first iterations with uniform random actions and no updates"},
    {"agent.init_updates", CFG_T_INT64, OFF(agent, init_updates), "1500", 0, NOMAX, NULL, NULL,
     "burst of updates at iteration init_steps"},
    {"agent.updates_per_iter", CFG_T_INT, OFF(agent, updates_per_iter), "1", 1, 1000, 0, NULL,
     NULL, "updates per iteration after the burst"},
    {"agent.log_std_min", CFG_T_DOUBLE, OFF(agent, log_std_min), "-20", -100, 100, 0, NULL, NULL,
     "lower bound of the policy's log std"},
    {"agent.log_std_max", CFG_T_DOUBLE, OFF(agent, log_std_max), "2", -100, 100, 0, NULL, NULL,
     "upper bound of the policy's log std"},
    {"agent.actor_l2", CFG_T_DOUBLE, OFF(agent, actor_l2), "0", 0, NOMAX, NULL, NULL,
     "coupled L2 (Adam weight decay) on the actor, added after the combiner; 0 = off"},
    {"agent.grad_clip", CFG_T_DOUBLE, OFF(agent, grad_clip), "0", 0, NOMAX, NULL, NULL,
     "clip each update vector to this global norm; 0 = off"},
    {"agent.max_nonfinite_skips", CFG_T_INT, OFF(agent, max_nonfinite_skips), "10", 0, NOMAX,
     NULL, NULL, "consecutive updates skipped for NaN/Inf before the run stops"},
    /* replay */
    {"replay.capacity", CFG_T_INT64, OFF(replay, capacity), "4000000", 1, NOMAX, NULL, NULL,
     "transitions kept, all tasks together (capacity / tasks per task)"},
    {"replay.reward_norm", CFG_T_ENUM, OFF(replay, reward_norm), "std", 0, 0, 0, w_reward_norm,
     NULL, "std: raw rewards, divided by the task's std at sampling; ema: mtenv; none"},
    {"replay.reward_ema_rate", CFG_T_DOUBLE, OFF(replay, reward_ema_rate), "0.001", 0, 1,
     F_LO_EXCL, NULL, NULL, "rate of the mtenv-style EMA (reward_norm: ema)"},
    {"replay.sampling", CFG_T_ENUM, OFF(replay, sampling), "balanced", 0, 0, 0, w_sampling, NULL,
     "balanced: batch_size / tasks rows per task; uniform: over all (reference)"},
    /* mtl */
    {"mtl.method", CFG_T_ENUM, OFF(mtl, method), "cagrad", 0, 0, 0, w_method, NULL,
     "multi-task combiner of the per-task gradients"},
    {"mtl.on_critic", CFG_T_BOOL, OFF(mtl, on_critic), "true", 0, 0, 0, NULL, NULL,
     "combine the critic's per-task gradients (false: plain mean loss)"},
    {"mtl.on_actor", CFG_T_BOOL, OFF(mtl, on_actor), "true", 0, 0, 0, NULL, NULL,
     "combine the actor's per-task gradients"},
    {"mtl.on_alpha", CFG_T_BOOL, OFF(mtl, on_alpha), "true", 0, 0, 0, NULL, NULL,
     "combine the temperature's per-task gradients"},
    {"mtl.cagrad_c", CFG_T_DOUBLE, OFF(mtl, cagrad_c), "0.9", 0, NOMAX, NULL, NULL,
     "CAGrad c, radius of the ball around the mean gradient"},
    {"mtl.cagrad_lr", CFG_T_DOUBLE, OFF(mtl, cagrad_lr), "0", 0, NOMAX, NULL, NULL,
     "step of the CAGrad dual solver; 0 = auto (50 when K = 50, else 25)"},
    {"mtl.cagrad_momentum", CFG_T_DOUBLE, OFF(mtl, cagrad_momentum), "0.5", 0, 1, F_HI_EXCL, NULL,
     NULL, "momentum of the CAGrad dual solver"},
    {"mtl.cagrad_steps", CFG_T_INT, OFF(mtl, cagrad_steps), "20", 1, 100000, 0, NULL, NULL,
     "steps of the CAGrad dual solver"},
    {"mtl.cagrad_rescale", CFG_T_ENUM, OFF(mtl, cagrad_rescale), "reference", 0, 0, 0, w_rescale,
     NULL, "reference: /(1+c^2) CAGrad, /(1+c) CAGrad-Fast; none: paper; c2, c: forced"},
    {"mtl.cagrad_fast_subset", CFG_T_INT, OFF(mtl, cagrad_fast_subset), "4", 1, NOMAX, NULL,
     NULL, "CAGrad-Fast: tasks sampled per update (rows = subset + 1 remainder)"},
    {"mtl.cagrad_fast_gram", CFG_T_ENUM, OFF(mtl, cagrad_fast_gram), "full", 0, 0, 0, w_fast_gram,
     NULL, "CAGrad-Fast Gram from the full K x K Gram, or from the subset rows (cheaper for MT50)"},
    {"mtl.mgda_normalize", CFG_T_ENUM, OFF(mtl, mgda_normalize), "l2", 0, 0, 0, w_mgda_norm, NULL,
     "MGDA: l2 = min-norm point of the unit-normalised gradients (Kurin)"},
    {"mtl.graddrop_k", CFG_T_DOUBLE, OFF(mtl, graddrop_k), "1.0", 0, NOMAX, NULL, NULL,
     "GradDrop sign-purity factor k"},
    {"mtl.rlw_dist", CFG_T_ENUM, OFF(mtl, rlw_dist), "dirichlet", 0, 0, 0, w_rlw_dist, NULL,
     "RLW weight distribution"},
    {"mtl.nash_update_every", CFG_T_INT, OFF(mtl, nash_update_every), "1", 1, NOMAX, NULL, NULL,
     "Nash-MTL: recompute the weights every N calls, reuse them in between"},
    {"mtl.nash_iters", CFG_T_INT, OFF(mtl, nash_iters), "20", 1, 1000, 0, NULL, NULL,
     "Nash-MTL: solver iterations"},
    {"mtl.nash_max_norm", CFG_T_DOUBLE, OFF(mtl, nash_max_norm), "0", 0, NOMAX, NULL, NULL,
     "Nash-MTL: scale the update down to this norm; 0 = off"},
    {"mtl.famo_lr", CFG_T_DOUBLE, OFF(mtl, famo_lr), "0.025", 0, 1, F_LO_EXCL, NULL, NULL,
     "FAMO: Adam learning rate of the task logits"},
    {"mtl.famo_gamma", CFG_T_DOUBLE, OFF(mtl, famo_gamma), "0.01", 0, NOMAX, NULL, NULL,
     "FAMO: weight decay of the task logits"},
    {"mtl.famo_scale", CFG_T_ENUM, OFF(mtl, famo_scale), "paper", 0, 0, 0, w_famo_scale, NULL,
     "FAMO: paper: weights sum to 1; mtrl: FAMO's mtrl patch (the paper's update times c^2)"},
    {"mtl.upgrad_norm_eps", CFG_T_DOUBLE, OFF(mtl, upgrad_norm_eps), "1e-4", 0, NOMAX, NULL, NULL,
     "UPGrad/DualProj: below this Gram trace the mean is returned"},
    {"mtl.upgrad_reg_eps", CFG_T_DOUBLE, OFF(mtl, upgrad_reg_eps), "1e-4", 0, NOMAX, NULL, NULL,
     "UPGrad/DualProj: ridge added to the normalised Gram"},
    /* eval */
    {"eval.every", CFG_T_INT64, OFF(eval, every), "10000", 0, NOMAX, NULL, NULL,
     "iterations between evaluations (also at iteration 0); 0 = never"},
    {"eval.episodes", CFG_T_INT, OFF(eval, episodes), "1", 1, NOMAX, NULL, NULL,
     "evaluation episodes per task"},
    {"eval.video_every", CFG_T_INT64, OFF(eval, video_every), "0", 0, NOMAX, NULL, NULL,
     "iterations between evaluation videos (run_dir/videos/); 0 = never (no GL)"},
    {"eval.deterministic", CFG_T_BOOL, OFF(eval, deterministic), "true", 0, 0, 0, NULL, NULL,
     "evaluate the mean action tanh(mu) instead of sampling"},
    /* log */
    {"log.every", CFG_T_INT64, OFF(log, every), "0", 0, NOMAX, NULL, NULL,
     "iterations between training log rows; 0 = at each episode end"},
    {"log.checkpoint_every", CFG_T_INT64, OFF(log, checkpoint_every), "0", -1, NOMAX, NULL, NULL,
     "-1 = never, 0 = at each evaluation, N = every N iterations"},
    {"log.save_replay", CFG_T_BOOL, OFF(log, save_replay), "true", 0, 0, 0, NULL, NULL,
     "save the replay buffer with each checkpoint (needed to resume exactly)"},
    {"log.keep_checkpoints", CFG_T_INT, OFF(log, keep_checkpoints), "1", 0, NOMAX, NULL, NULL,
     "keep the newest N checkpoints; 0 = keep all"},
};

#define NKEYS ((int)(sizeof keys / sizeof keys[0]))

static const char *const sections[] = {"run", "env", "agent", "replay", "mtl", "eval", "log"};
#define NSECTIONS ((int)(sizeof sections / sizeof sections[0]))

static const key_def *find_key(const char *path)
{
    for (int i = 0; i < NKEYS; i++)
        if (!strcmp(keys[i].path, path))
            return &keys[i];
    return NULL;
}

static int is_section(const char *path)
{
    for (int i = 0; i < NSECTIONS; i++)
        if (!strcmp(sections[i], path))
            return 1;
    return 0;
}

/* ------------------------------------------------------------ error places */

/* Where a value came from, for messages: a file line, an override, or the
 * built-in default (origin unknown). */
typedef struct where {
    const char *file;
    int line;
    const char *override; /* the whole "k=v" text of a --set */
    const char *okey;     /* the key of that override */
} where;

static int fail(mtrl_err *err, const where *w, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(mtrl_err *err, const where *w, const char *key, const char *fmt, ...)
{
    char msg[MTRL_ERR_MSG_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* An override names its key already; repeat it only for list items. A
     * long one is shortened so the reason still fits in the message. */
    if (w && w->override) {
        char ov[200];
        size_t n = strlen(w->override);
        if (n < sizeof ov)
            snprintf(ov, sizeof ov, "%s", w->override);
        else
            snprintf(ov, sizeof ov, "%.120s... (%zu characters)", w->override, n);
        if (key && w->okey && strcmp(key, w->okey))
            return err_set(err, MTRL_EINPUT, "--set %s: %s: %s", ov, key, msg);
        return err_set(err, MTRL_EINPUT, "--set %s: %s", ov, msg);
    }
    if (w && w->file && key)
        return err_set(err, MTRL_EINPUT, "%s:%d: %s: %s", w->file, w->line, key, msg);
    if (w && w->file)
        return err_set(err, MTRL_EINPUT, "%s:%d: %s", w->file, w->line, msg);
    if (key)
        return err_set(err, MTRL_EINPUT, "%s: %s", key, msg);
    return err_set(err, MTRL_EINPUT, "%s", msg);
}

/* ------------------------------------------------------- values from text */

/* What a key accepts, in words, for "expected ..., got ..." messages. */
static void describe(const key_def *k, int item, char *out, size_t n)
{
    char lo[64], hi[64];
    snprintf(lo, sizeof lo, "%.15g", k->lo);
    snprintf(hi, sizeof hi, "%.15g", k->hi);
    switch (k->type) {
    case CFG_T_INT:
    case CFG_T_INT64:
    case CFG_T_INT_LIST:
        if (k->type == CFG_T_INT_LIST && !item) {
            snprintf(out, n, "a list of 1 to %d integers in [%s, %s], like [400, 400, 400]",
                     CFG_LIST_MAX, lo, hi);
        } else if (k->flags & F_NOMAX) {
            snprintf(out, n, "%s", k->lo == 1   ? "a positive integer"
                                   : k->lo == 0 ? "a non-negative integer"
                                                : "an integer");
            if (k->lo != 0 && k->lo != 1)
                snprintf(out, n, "an integer >= %s", lo);
        } else {
            snprintf(out, n, "an integer in [%s, %s]", lo, hi);
        }
        break;
    case CFG_T_DOUBLE:
        if (k->flags & F_NOMAX) {
            if (k->lo == 0)
                snprintf(out, n, "%s", (k->flags & F_LO_EXCL) ? "a positive number" : "a non-negative number");
            else
                snprintf(out, n, "a number %s %s", (k->flags & F_LO_EXCL) ? ">" : ">=", lo);
        } else {
            snprintf(out, n, "a number in %c%s, %s%c", (k->flags & F_LO_EXCL) ? '(' : '[', lo, hi,
                     (k->flags & F_HI_EXCL) ? ')' : ']');
        }
        break;
    case CFG_T_BOOL:
        snprintf(out, n, "true or false");
        break;
    case CFG_T_STRING:
        snprintf(out, n, "a string of at most %d bytes", CFG_STR_LEN - 1);
        break;
    case CFG_T_ENUM: {
        size_t len = (size_t)snprintf(out, n, "one of ");
        for (int i = 0; k->words[i] && len < n; i++)
            len += (size_t)snprintf(out + len, n - len, "%s%s", i ? ", " : "", k->words[i]);
        break;
    }
    }
}

static int in_range(const key_def *k, double v)
{
    if (!isfinite(v))
        return 0;
    if ((k->flags & F_LO_EXCL) ? !(v > k->lo) : !(v >= k->lo))
        return 0;
    if (!(k->flags & F_NOMAX) && ((k->flags & F_HI_EXCL) ? !(v < k->hi) : !(v <= k->hi)))
        return 0;
    return 1;
}

/* An integer as YAML writes it: optional sign, digits with optional '_'
 * separators (4_000_000), or an exactly integral float form (2e6). */
static int parse_int64(const char *s, int64_t *out)
{
    char buf[64];
    size_t n = 0;
    for (const char *p = s; *p; p++) {
        if (*p == '_' && p != s && isdigit((unsigned char)p[-1]) && isdigit((unsigned char)p[1]))
            continue;
        if (n + 1 >= sizeof buf)
            return -1;
        buf[n++] = *p;
    }
    buf[n] = 0;
    if (!n)
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (!*end && end != buf && !errno) {
        *out = v;
        return 0;
    }
    /* Float forms must be integral and well inside the exactly representable range. */
    errno = 0;
    double d = strtod(buf, &end);
    if (*end || end == buf || errno || !isfinite(d) || d != floor(d) || fabs(d) > 9.0e15)
        return -1;
    for (const char *p = buf; *p; p++) /* no hex floats, nan, inf */
        if (!(isdigit((unsigned char)*p) || strchr("+-.eE", *p)))
            return -1;
    *out = (int64_t)d;
    return 0;
}

static int parse_double(const char *s, double *out)
{
    char *end;
    if (!*s)
        return -1;
    for (const char *p = s; *p; p++) /* plain decimal forms only: no hex, nan, inf */
        if (!(isdigit((unsigned char)*p) || strchr("+-.eE", *p)))
            return -1;
    errno = 0;
    double d = strtod(s, &end);
    if (*end || end == s || !isfinite(d))
        return -1;
    *out = d;
    return 0;
}

static int parse_bool(const char *s, int *out)
{
    static const char *const t[] = {"true", "yes", "on", NULL};
    static const char *const f[] = {"false", "no", "off", NULL};
    for (int i = 0; t[i]; i++) {
        if (!strcasecmp(s, t[i]))
            return *out = 1, 0;
        if (!strcasecmp(s, f[i]))
            return *out = 0, 0;
    }
    return -1;
}

static int is_null_scalar(const char *s)
{
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

/* Shows a value in a message: quoted, control characters escaped, cut short. */
static void show(const char *s, char *out, size_t n)
{
    size_t j = 0;
    out[j++] = '"';
    for (const char *p = s; *p && j + 8 < n; p++) {
        if ((unsigned char)*p < 0x20 || *p == '"' || *p == '\\')
            j += (size_t)snprintf(out + j, n - j, "\\x%02x", (unsigned char)*p);
        else
            out[j++] = *p;
        if (p - s > 80) {
            j += (size_t)snprintf(out + j, n - j, "...");
            break;
        }
    }
    out[j++] = '"';
    out[j] = 0;
}

static int expected(mtrl_err *err, const where *w, const key_def *k, const char *key, int item,
                     const char *got)
{
    char want[512], g[128];
    describe(k, item, want, sizeof want);
    show(got, g, sizeof g);
    return fail(err, w, key, "expected %s, got %s", want, g);
}

/* ------------------------------------------------------- setting one value */

static int set_int_like(const key_def *k, const char *key, const char *text, int item,
                        int64_t *out, const where *w, mtrl_err *err)
{
    int64_t v;
    if (parse_int64(text, &v) || !in_range(k, (double)v))
        return expected(err, w, k, key, item, text);
    if ((k->type == CFG_T_INT || k->type == CFG_T_INT_LIST) && (v < INT_MIN || v > INT_MAX))
        return expected(err, w, k, key, item, text);
    *out = v;
    return 0;
}

/* 1 if s is valid UTF-8 (no overlongs, surrogates or code points past
 * U+10FFFF). A --set value can hold any bytes, but config.yaml is YAML,
 * which must be UTF-8: a string that is not could not be loaded back
 * (found by tests/fuzz/fuzz_config.c). */
static int utf8_valid(const unsigned char *s)
{
    while (*s) {
        unsigned c = *s++;
        int n = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2
                : (c & 0xf8) == 0xf0 ? 3 : -1;
        if (n < 0)
            return 0;
        unsigned cp = n == 0 ? c : n == 1 ? c & 0x1f : n == 2 ? c & 0x0f : c & 0x07;
        for (int i = 0; i < n; i++, s++) {
            if ((*s & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (*s & 0x3f);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
    }
    return 1;
}

/* One scalar into its field. null: the YAML scalar was empty or null. */
static int set_scalar(mtrl_config *c, const key_def *k, const char *text, int null,
                      const where *w, mtrl_err *err)
{
    char *field = (char *)c + k->off;
    const char *key = k->path;
    if (k->type == CFG_T_STRING) {
        const char *s = null ? "" : text;
        if (strlen(s) >= CFG_STR_LEN)
            return expected(err, w, k, key, 0, s);
        if (!utf8_valid((const unsigned char *)s))
            return fail(err, w, key, "expected UTF-8 text, got bytes that are not UTF-8");
        const char *bad = k->check ? k->check(s) : NULL;
        if (bad) {
            char g[128];
            show(s, g, sizeof g);
            return fail(err, w, key, "expected %s, got %s", bad, g);
        }
        memcpy(field, s, strlen(s) + 1);
        return 0;
    }
    if (null) {
        char want[512];
        describe(k, 0, want, sizeof want);
        return fail(err, w, key, "expected %s, got an empty value", want);
    }
    int64_t iv;
    double d;
    int b;
    switch (k->type) {
    case CFG_T_INT:
        if (set_int_like(k, key, text, 0, &iv, w, err))
            return MTRL_EINPUT;
        *(int *)field = (int)iv;
        return 0;
    case CFG_T_INT64:
        if (set_int_like(k, key, text, 0, &iv, w, err))
            return MTRL_EINPUT;
        *(int64_t *)field = iv;
        return 0;
    case CFG_T_DOUBLE:
        if (parse_double(text, &d) || !in_range(k, d))
            return expected(err, w, k, key, 0, text);
        *(double *)field = d;
        return 0;
    case CFG_T_BOOL:
        if (parse_bool(text, &b))
            return expected(err, w, k, key, 0, text);
        *(int *)field = b;
        return 0;
    case CFG_T_ENUM:
        for (int i = 0; k->words[i]; i++)
            if (!strcmp(k->words[i], text)) {
                *(int *)field = i;
                return 0;
            }
        return expected(err, w, k, key, 0, text);
    default: /* a list given as a scalar */
        return expected(err, w, k, key, 0, text);
    }
}

static int node_is_null(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           is_null_scalar((const char *)n->data.scalar.value);
}

static const char *node_kind(const yaml_node_t *n)
{
    return n->type == YAML_MAPPING_NODE ? "a mapping" : n->type == YAML_SEQUENCE_NODE ? "a list" : "a value";
}

/* A YAML node into the field of key k. file: where the node's lines are,
 * NULL when the node came from an override or a default (w says which). */
static int set_node(mtrl_config *c, const key_def *k, yaml_document_t *doc, yaml_node_t *n,
                    const where *w0, mtrl_err *err)
{
    where w = *w0;
    if (w.file)
        w.line = (int)n->start_mark.line + 1;
    if (n->type == YAML_SCALAR_NODE) {
        /* "\0abc" in double quotes: C would see an empty string. */
        if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length)
            return fail(err, &w, k->path, "the value contains a NUL character (\\0)");
        return set_scalar(c, k, (const char *)n->data.scalar.value, node_is_null(n), &w, err);
    }
    char want[512];
    describe(k, 0, want, sizeof want);
    if (k->type != CFG_T_INT_LIST || n->type != YAML_SEQUENCE_NODE)
        return fail(err, &w, k->path, "expected %s, got %s", want, node_kind(n));
    int cnt = (int)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (cnt < 1 || cnt > CFG_LIST_MAX)
        return fail(err, &w, k->path, "expected %s, got a list of %d items", want, cnt);
    cfg_int_list list = {0};
    for (int i = 0; i < cnt; i++) {
        yaml_node_t *it = yaml_document_get_node(doc, n->data.sequence.items.start[i]);
        char key[160];
        snprintf(key, sizeof key, "%s[%d]", k->path, i);
        where wi = w;
        if (w.file)
            wi.line = (int)it->start_mark.line + 1;
        if (it->type != YAML_SCALAR_NODE || node_is_null(it)) {
            char iw[256];
            describe(k, 1, iw, sizeof iw);
            return fail(err, &wi, key, "expected %s, got %s", iw,
                        it->type == YAML_SCALAR_NODE ? "an empty value" : node_kind(it));
        }
        int64_t v;
        if (set_int_like(k, key, (const char *)it->data.scalar.value, 1, &v, &wi, err))
            return MTRL_EINPUT;
        list.v[i] = (int)v;
    }
    list.n = cnt;
    memcpy((char *)c + k->off, &list, sizeof list);
    return 0;
}

/* libyaml's scanner spends time proportional to the nesting depth on each
 * token, so a deeply nested input takes time quadratic in its size before
 * any error. A config needs 3 levels; the event pass below stops at the
 * first one past CFG_MAX_NESTING (cfg.h), having read only that far. */
/* 0 if text nests at most CFG_MAX_NESTING lists/mappings deep, else the
 * 1-based line where it goes deeper. Syntax errors are left to the loader,
 * which reports them. */
static int too_deep_at(const char *text, size_t len)
{
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p))
        return 0;
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    int depth = 0, line = 0;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev))
            break;
        yaml_event_type_t t = ev.type;
        if (t == YAML_SEQUENCE_START_EVENT || t == YAML_MAPPING_START_EVENT) {
            if (++depth > CFG_MAX_NESTING)
                line = (int)ev.start_mark.line + 1;
        } else if (t == YAML_SEQUENCE_END_EVENT || t == YAML_MAPPING_END_EVENT) {
            depth--;
        }
        yaml_event_delete(&ev);
        if (line || t == YAML_STREAM_END_EVENT)
            break;
    }
    yaml_parser_delete(&p);
    return line;
}

/* Loads text (a default or an override value) as one YAML value, with
 * nothing after it: "[32,32]]" or "[32] [5]" are errors, not [32,32], [32]. */
static int load_text(yaml_document_t *doc, const char *text, char *problem, size_t n)
{
    size_t len = strlen(text);
    if (too_deep_at(text, len)) {
        snprintf(problem, n, "lists nested deeper than %d levels", CFG_MAX_NESTING);
        return -1;
    }
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p))
        return snprintf(problem, n, "out of memory"), -1;
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    int ok = yaml_parser_load(&p, doc);
    if (!ok)
        snprintf(problem, n, "%s", p.problem ? p.problem : "bad YAML");
    if (ok && !yaml_document_get_root_node(doc)) {
        yaml_document_delete(doc);
        snprintf(problem, n, "no value");
        ok = 0;
    } else if (ok) {
        /* The rest must be the end of the stream: no second document. */
        yaml_document_t rest;
        int ok2 = yaml_parser_load(&p, &rest);
        int more = !ok2 || yaml_document_get_root_node(&rest);
        if (ok2)
            yaml_document_delete(&rest);
        if (more) {
            yaml_document_delete(doc);
            snprintf(problem, n, "unexpected text after the value");
            ok = 0;
        }
    }
    yaml_parser_delete(&p);
    return ok ? 0 : -1;
}

/* A value given as text: lists go through libyaml (flow form [64, 64]);
 * scalars are taken as written, so any string works without YAML quoting,
 * with one pair of surrounding quotes removed if present. */
static int set_text(mtrl_config *c, const key_def *k, const char *text, const where *w,
                    mtrl_err *err)
{
    if (k->type == CFG_T_INT_LIST) {
        yaml_document_t doc;
        char problem[256];
        if (load_text(&doc, text, problem, sizeof problem)) {
            char want[512], g[128];
            describe(k, 0, want, sizeof want);
            show(text, g, sizeof g);
            return fail(err, w, k->path, "expected %s, got %s (%s)", want, g, problem);
        }
        int rc = set_node(c, k, &doc, yaml_document_get_root_node(&doc), w, err);
        yaml_document_delete(&doc);
        return rc;
    }
    size_t len = strlen(text);
    if (len >= 2 && (text[0] == '"' || text[0] == '\'') && text[len - 1] == text[0]) {
        char buf[CFG_STR_LEN + 2];
        if (len - 2 >= sizeof buf)
            return set_scalar(c, k, text, 0, w, err); /* too long: reported as such */
        memcpy(buf, text + 1, len - 2);
        buf[len - 2] = 0;
        return set_scalar(c, k, buf, 0, w, err);
    }
    return set_scalar(c, k, text, is_null_scalar(text), w, err);
}

/* ------------------------------------------------------------- suggestions */

/* The known key closest to a misspelt one, or NULL if none is close. A key
 * put in the wrong section (agent.capacity) is found by its last part. */
static const char *closest_key(const char *path)
{
    const char *best = NULL;
    int bestd = 1000;
    const char *leaf = strrchr(path, '.');
    leaf = leaf ? leaf + 1 : path;
    for (int i = 0; i < NKEYS; i++) {
        int d = str_edit_distance(path, keys[i].path);
        const char *kl = strrchr(keys[i].path, '.') + 1;
        if (!strcmp(kl, leaf) && d > 1)
            d = 1; /* same name, other section */
        if (d < bestd)
            bestd = d, best = keys[i].path;
    }
    if (!strchr(path, '.')) /* a misspelt section: compare with section names */
        for (int i = 0; i < NSECTIONS; i++) {
            int d = str_edit_distance(path, sections[i]);
            if (d < bestd)
                bestd = d, best = sections[i];
        }
    int limit = (int)strlen(path) / 3;
    if (limit < 2)
        limit = 2;
    return bestd <= limit ? best : NULL;
}

static int unknown_key(mtrl_err *err, const where *w, const char *path)
{
    const char *s = closest_key(path);
    if (w->override) {
        if (s)
            return fail(err, w, NULL, "unknown key %s (did you mean %s?)", path, s);
        return fail(err, w, NULL, "unknown key %s (mtrl config --keys lists them)", path);
    }
    if (s)
        return fail(err, w, path, "unknown key (did you mean %s?)", s);
    return fail(err, w, path, "unknown key (mtrl config --keys lists them)");
}

/* ----------------------------------------------------------------- loading */

#define MAX_INCLUDE_DEPTH 16
#define ORIGIN_LEN 320

typedef struct loader {
    mtrl_config *c;
    int depth;
    char real[MAX_INCLUDE_DEPTH][PATH_MAX]; /* files being read, for loop detection */
    char disp[MAX_INCLUDE_DEPTH][PATH_MAX];
    char opened[MAX_INCLUDE_DEPTH][PATH_MAX];
    char (*origin)[ORIGIN_LEN]; /* per key "file:line" or "--set k=v"; may be NULL */
    unsigned char *origin_is_set;
} loader;

static void note_origin(loader *L, const key_def *k, const where *w)
{
    if (!L->origin)
        return;
    int i = (int)(k - keys);
    if (w->override)
        snprintf(L->origin[i], ORIGIN_LEN, "--set %s", w->override);
    else
        snprintf(L->origin[i], ORIGIN_LEN, "%s:%d", w->file, w->line);
    L->origin_is_set[i] = w->override ? 2 : 1;
}

/* Lexical clean-up of a path for messages: "a/b/../c" -> "a/c". */
static void normalize_path(const char *in, char *out, size_t n)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", in);
    const char *parts[256];
    int np = 0, abs = buf[0] == '/';
    for (char *save = NULL, *t = strtok_r(buf, "/", &save); t && np < 256; t = strtok_r(NULL, "/", &save)) {
        if (!strcmp(t, "."))
            continue;
        if (!strcmp(t, "..") && np > 0 && strcmp(parts[np - 1], ".."))
            np--;
        else if (!strcmp(t, "..") && abs)
            continue;
        else
            parts[np++] = t;
    }
    size_t len = 0;
    out[0] = 0;
    if (abs)
        len += (size_t)snprintf(out + len, n - len, "/");
    for (int i = 0; i < np && len < n; i++)
        len += (size_t)snprintf(out + len, n - len, "%s%s", i ? "/" : "", parts[i]);
    if (!out[0])
        snprintf(out, n, ".");
}

static int apply_file(loader *L, const char *open_path, const char *disp, const where *from,
                      mtrl_err *err);

static int apply_include(loader *L, const char *file, yaml_node_t *n, mtrl_err *err)
{
    where w = {file, (int)n->start_mark.line + 1, NULL, NULL};
    if (n->type != YAML_SCALAR_NODE || node_is_null(n) || !n->data.scalar.value[0])
        return fail(err, &w, "include", "expected a file path or a list of file paths, got %s",
                    n->type == YAML_SCALAR_NODE ? "an empty value" : node_kind(n));
    const char *inc = (const char *)n->data.scalar.value;
    char open_path[PATH_MAX], disp[PATH_MAX];
    const char *cur_open = L->opened[L->depth - 1];
    const char *os = strrchr(cur_open, '/');
    /* Relative to the including file's directory as it was opened, so the
     * two files' paths relate as they were written. */
    int len = inc[0] == '/' || !os
                  ? snprintf(open_path, sizeof open_path, "%s", inc)
                  : snprintf(open_path, sizeof open_path, "%.*s/%s", (int)(os - cur_open), cur_open, inc);
    if (len < 0 || (size_t)len >= sizeof open_path)
        return fail(err, &w, "include", "path too long");
    {
        char joined[PATH_MAX];
        const char *cur = L->disp[L->depth - 1];
        const char *s = strrchr(cur, '/');
        if (inc[0] == '/')
            snprintf(joined, sizeof joined, "%s", inc);
        else if (s)
            snprintf(joined, sizeof joined, "%.*s/%s", (int)(s - cur), cur, inc);
        else
            snprintf(joined, sizeof joined, "%s", inc);
        normalize_path(joined, disp, sizeof disp);
    }
    return apply_file(L, open_path, disp, &w, err);
}

/* Applies the pairs of a mapping whose keys are below prefix ("" = top). */
static int apply_map(loader *L, yaml_document_t *doc, yaml_node_t *map, const char *prefix,
                     const char *file, mtrl_err *err)
{
    yaml_node_pair_t *start = map->data.mapping.pairs.start, *top = map->data.mapping.pairs.top;
    for (yaml_node_pair_t *p = start; p < top; p++) {
        yaml_node_t *kn = yaml_document_get_node(doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(doc, p->value);
        where w = {file, (int)kn->start_mark.line + 1, NULL, NULL};
        if (kn->type != YAML_SCALAR_NODE)
            return fail(err, &w, prefix[0] ? prefix : NULL, "expected a key name, got %s",
                        node_kind(kn));
        const char *name = (const char *)kn->data.scalar.value;
        if (!prefix[0] && !strcmp(name, "include"))
            continue; /* applied before everything else */
        char path[200];
        if ((size_t)snprintf(path, sizeof path, "%s%s%s", prefix, prefix[0] ? "." : "", name) >=
            sizeof path)
            return fail(err, &w, NULL, "key too long");
        for (yaml_node_pair_t *q = start; q < p; q++) {
            yaml_node_t *qk = yaml_document_get_node(doc, q->key);
            if (qk->type == YAML_SCALAR_NODE && !strcmp((const char *)qk->data.scalar.value, name))
                return fail(err, &w, path, "duplicate key (first at line %d)",
                            (int)qk->start_mark.line + 1);
        }
        const key_def *k = find_key(path);
        if (k) {
            int rc = set_node(L->c, k, doc, vn, &w, err);
            if (rc)
                return rc;
            where wv = w;
            wv.line = (int)vn->start_mark.line + 1;
            note_origin(L, k, &wv);
            continue;
        }
        if (!prefix[0] && is_section(path)) {
            if (vn->type == YAML_MAPPING_NODE) {
                int rc = apply_map(L, doc, vn, path, file, err);
                if (rc)
                    return rc;
                continue;
            }
            if (node_is_null(vn))
                continue; /* a section with every key commented out */
            return fail(err, &w, path, "expected a mapping of %s.* keys, got %s", path,
                        node_kind(vn));
        }
        return unknown_key(err, &w, path);
    }
    return 0;
}

#define CFG_MAX_FILE_BYTES (4 << 20)

/* The whole config file. Only a regular file: opening a FIFO would block
 * until someone writes to it, a directory gives libyaml's "input error". */
static int read_config_text(const char *open_path, const char *disp, const where *from,
                            char **text, size_t *len, mtrl_err *err)
{
    char why[160] = "";
    int fd = open(open_path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd < 0)
        snprintf(why, sizeof why, "%s", strerror(errno));
    else if (fstat(fd, &st) != 0)
        snprintf(why, sizeof why, "%s", strerror(errno));
    else if (S_ISDIR(st.st_mode))
        snprintf(why, sizeof why, "it is a directory, not a YAML file");
    else if (!S_ISREG(st.st_mode))
        snprintf(why, sizeof why, "not a regular file (%s)",
                 S_ISFIFO(st.st_mode) ? "a FIFO" : S_ISSOCK(st.st_mode) ? "a socket" : "a device");
    else if (st.st_size > CFG_MAX_FILE_BYTES)
        snprintf(why, sizeof why, "%lld bytes, more than a config can be (%d)",
                 (long long)st.st_size, CFG_MAX_FILE_BYTES);
    char *buf = NULL;
    size_t n = 0;
    if (!why[0]) {
        buf = malloc((size_t)st.st_size + 1);
        if (!buf) {
            close(fd);
            return err_set(err, MTRL_ENOMEM, "%s: out of memory", disp);
        }
        while (n < (size_t)st.st_size) {
            ssize_t r = read(fd, buf + n, (size_t)st.st_size - n);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0)
                snprintf(why, sizeof why, "%s", strerror(errno));
            if (r <= 0)
                break;
            n += (size_t)r;
        }
        buf[n] = 0;
    }
    if (fd >= 0)
        close(fd);
    if (why[0]) {
        free(buf);
        if (from)
            return fail(err, from, "include", "cannot read %s: %s", disp, why);
        return err_set(err, MTRL_EINPUT, "%s: cannot read: %s", disp, why);
    }
    *text = buf;
    *len = n;
    return 0;
}

static int apply_file(loader *L, const char *open_path, const char *disp, const where *from,
                      mtrl_err *err)
{
    char real[PATH_MAX];
    if (!realpath(open_path, real)) {
        if (from)
            return fail(err, from, "include", "cannot read %s: %s", disp, strerror(errno));
        return err_set(err, MTRL_EINPUT, "%s: cannot read: %s", disp, strerror(errno));
    }
    for (int i = 0; i < L->depth; i++) {
        if (strcmp(L->real[i], real))
            continue;
        char chain[MTRL_ERR_MSG_LEN / 2];
        size_t len = 0;
        for (int j = i; j < L->depth && len < sizeof chain; j++)
            len += (size_t)snprintf(chain + len, sizeof chain - len, "%s -> ", L->disp[j]);
        if (len < sizeof chain)
            snprintf(chain + len, sizeof chain - len, "%s", disp);
        return fail(err, from, "include", "include loop: %s", chain);
    }
    if (L->depth >= MAX_INCLUDE_DEPTH)
        return fail(err, from, "include", "includes nested deeper than %d files", MAX_INCLUDE_DEPTH);
    char *text = NULL;
    size_t text_len = 0;
    int rc = read_config_text(open_path, disp, from, &text, &text_len, err);
    if (rc)
        return rc;
    snprintf(L->real[L->depth], PATH_MAX, "%s", real);
    snprintf(L->disp[L->depth], PATH_MAX, "%s", disp);
    snprintf(L->opened[L->depth], PATH_MAX, "%s", open_path);
    L->depth++;
    const char *file = L->disp[L->depth - 1];

    yaml_parser_t parser;
    yaml_document_t doc;
    int have_doc = 0;
    int deep = too_deep_at(text, text_len);
    if (deep) {
        where w = {file, deep, NULL, NULL};
        rc = fail(err, &w, NULL, "lists or mappings nested deeper than %d levels",
                  CFG_MAX_NESTING);
        free(text);
        L->depth--;
        return rc;
    }
    if (!yaml_parser_initialize(&parser)) {
        free(text);
        L->depth--;
        return err_set(err, MTRL_ENOMEM, "%s: out of memory", disp);
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, text_len);
    if (!yaml_parser_load(&parser, &doc)) {
        if (parser.context)
            rc = err_set(err, MTRL_EINPUT, "%s:%d:%d: bad YAML: %s (%s started at line %d)", file,
                         (int)parser.problem_mark.line + 1, (int)parser.problem_mark.column + 1,
                         parser.problem ? parser.problem : "syntax error", parser.context,
                         (int)parser.context_mark.line + 1);
        else
            rc = err_set(err, MTRL_EINPUT, "%s:%d:%d: bad YAML: %s", file,
                         (int)parser.problem_mark.line + 1, (int)parser.problem_mark.column + 1,
                         parser.problem ? parser.problem : "syntax error");
        goto done;
    }
    have_doc = 1;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root)
        goto done; /* empty file: nothing to apply */
    {
        yaml_document_t doc2;
        if (!yaml_parser_load(&parser, &doc2)) {
            rc = err_set(err, MTRL_EINPUT, "%s:%d:%d: bad YAML: %s", file,
                         (int)parser.problem_mark.line + 1, (int)parser.problem_mark.column + 1,
                         parser.problem ? parser.problem : "syntax error");
            goto done;
        }
        yaml_node_t *r2 = yaml_document_get_root_node(&doc2);
        int line2 = r2 ? (int)r2->start_mark.line + 1 : 0;
        yaml_document_delete(&doc2);
        if (r2) {
            where w = {file, line2, NULL, NULL};
            rc = fail(err, &w, NULL, "a second YAML document; a config is one document");
            goto done;
        }
    }
    if (root->type != YAML_MAPPING_NODE) {
        where w = {file, (int)root->start_mark.line + 1, NULL, NULL};
        rc = fail(err, &w, NULL, "expected a mapping of sections (run, env, agent, replay, mtl, "
                                 "eval, log), got %s",
                  node_kind(root));
        goto done;
    }
    /* Included files first, in order, whatever the position of the key:
     * the including file's own keys always win. */
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(&doc, p->key);
        if (kn->type != YAML_SCALAR_NODE || strcmp((const char *)kn->data.scalar.value, "include"))
            continue;
        yaml_node_t *vn = yaml_document_get_node(&doc, p->value);
        if (vn->type == YAML_SEQUENCE_NODE) {
            for (yaml_node_item_t *it = vn->data.sequence.items.start; it < vn->data.sequence.items.top && !rc; it++)
                rc = apply_include(L, file, yaml_document_get_node(&doc, *it), err);
        } else {
            rc = apply_include(L, file, vn, err);
        }
        if (rc)
            goto done;
    }
    rc = apply_map(L, &doc, root, "", file, err);
done:
    if (have_doc)
        yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    free(text);
    L->depth--;
    return rc;
}

static int apply_override(loader *L, const char *kv, mtrl_err *err)
{
    where w = {NULL, 0, kv, NULL};
    const char *eq = strchr(kv, '=');
    if (!eq)
        return fail(err, &w, NULL, "expected key.path=value");
    char key[200];
    const char *a = kv, *b = eq;
    while (a < b && isspace((unsigned char)*a))
        a++;
    while (b > a && isspace((unsigned char)b[-1]))
        b--;
    if (b == a)
        return fail(err, &w, NULL, "expected key.path=value");
    if ((size_t)(b - a) >= sizeof key)
        return fail(err, &w, NULL,
                    "a key of %zu characters is not a config key (the longest has under 40; "
                    "mtrl config --keys lists them)",
                    (size_t)(b - a));
    memcpy(key, a, (size_t)(b - a));
    key[b - a] = 0;
    w.okey = key;
    const key_def *k = find_key(key);
    if (!k) {
        if (is_section(key))
            return fail(err, &w, NULL, "%s is a section; set one of its keys (%s.<key>=value)", key,
                        key);
        return unknown_key(err, &w, key);
    }
    const char *v = eq + 1;
    while (isspace((unsigned char)*v))
        v++;
    /* The whole value, however long: a cut one would be a different value. */
    size_t vn = strlen(v);
    while (vn && isspace((unsigned char)v[vn - 1]))
        vn--;
    char *val = malloc(vn + 1);
    if (!val)
        return err_set(err, MTRL_ENOMEM, "--set %s: out of memory", key);
    memcpy(val, v, vn);
    val[vn] = 0;
    int rc = set_text(L->c, k, val, &w, err);
    free(val);
    if (!rc)
        note_origin(L, k, &w);
    return rc;
}

/* ----------------------------------------------------- cross-field checks */

/* Reports a broken relation between two keys, blaming the one the user set
 * (an override before a file line, the primary key when both or neither
 * were set), each with its own wording since the message starts with it. */
static int check_fail(char (*origin)[ORIGIN_LEN], const unsigned char *is_set, mtrl_err *err,
                      const char *primary, const char *msg_primary, const char *secondary,
                      const char *msg_secondary)
{
    int a = (int)(find_key(primary) - keys), b = secondary ? (int)(find_key(secondary) - keys) : -1;
    int sa = origin ? is_set[a] : 0, sb = origin && b >= 0 ? is_set[b] : 0;
    int use_b = b >= 0 && sb > sa;
    const char *path = use_b ? secondary : primary, *msg = use_b ? msg_secondary : msg_primary;
    int i = use_b ? b : a, how = use_b ? sb : sa;
    if (how == 1)
        return err_set(err, MTRL_EINPUT, "%s: %s: %s", origin[i], path, msg);
    if (how == 2)
        return err_set(err, MTRL_EINPUT, "%s: %s", origin[i], msg);
    return err_set(err, MTRL_EINPUT, "%s: %s", path, msg);
}

static int check(const mtrl_config *c, char (*origin)[ORIGIN_LEN], const unsigned char *is_set,
                 mtrl_err *err)
{
    char m1[512], m2[512];
    int K = cfg_num_tasks(c);
    if (K < 1) {
        snprintf(m1, sizeof m1, "expected mt10, mt50 or mt1:<task>, got \"%s\"", c->env.benchmark);
        return check_fail(origin, is_set, err, "env.benchmark", m1, NULL, NULL);
    }
    if (c->replay.sampling == CFG_SAMPLING_BALANCED && c->agent.batch_size % K) {
        int b = c->agent.batch_size, lo = b / K * K, hi = lo + K;
        char use[96];
        if (lo)
            snprintf(use, sizeof use, "use %d or %d", lo, hi);
        else
            snprintf(use, sizeof use, "use a multiple of %d", K);
        snprintf(m1, sizeof m1,
                 "%d is not divisible by the %d tasks of %s (replay.sampling: balanced); %s", b, K,
                 c->env.benchmark, use);
        snprintf(m2, sizeof m2,
                 "the %d tasks of %s do not divide agent.batch_size %d (replay.sampling: "
                 "balanced); %s for agent.batch_size",
                 K, c->env.benchmark, b, use);
        return check_fail(origin, is_set, err, "agent.batch_size", m1, "env.benchmark", m2);
    }
    if (c->replay.capacity < K) {
        snprintf(m1, sizeof m1, "%" PRId64 " is less than one transition per task (%d tasks)",
                 c->replay.capacity, K);
        return check_fail(origin, is_set, err, "replay.capacity", m1, NULL, NULL);
    }
    if (!(c->agent.log_std_min < c->agent.log_std_max)) {
        snprintf(m1, sizeof m1, "%g is not above agent.log_std_min (%g)", c->agent.log_std_max,
                 c->agent.log_std_min);
        snprintf(m2, sizeof m2, "%g is not below agent.log_std_max (%g)", c->agent.log_std_min,
                 c->agent.log_std_max);
        return check_fail(origin, is_set, err, "agent.log_std_max", m1, "agent.log_std_min", m2);
    }
    /* A single task makes every combiner the identity, so mt1 smoke runs of
     * any config stay valid; with several tasks a subset that covers them all
     * is almost surely a mistake (it would silently be plain CAGrad). */
    if (c->mtl.method == CFG_MTL_CAGRAD_FAST && K > 1 && c->mtl.cagrad_fast_subset >= K) {
        int n = c->mtl.cagrad_fast_subset;
        snprintf(m1, sizeof m1,
                 "%d sampled tasks leave no remainder among the %d tasks of %s; use 1 to %d, "
                 "or mtl.method: cagrad",
                 n, K, c->env.benchmark, K - 1);
        snprintf(m2, sizeof m2, "%s has %d tasks, too few for mtl.cagrad_fast_subset %d (use 1 to %d)",
                 c->env.benchmark, K, n, K - 1);
        return check_fail(origin, is_set, err, "mtl.cagrad_fast_subset", m1, "env.benchmark", m2);
    }
    return 0;
}

/* ------------------------------------------------------------- public API */

void cfg_defaults(mtrl_config *c)
{
    memset(c, 0, sizeof *c);
    where w = {NULL, 0, NULL, NULL};
    for (int i = 0; i < NKEYS; i++) {
        mtrl_err e;
        /* Defaults are schema text; test_core_config checks each one parses. */
        set_text(c, &keys[i], keys[i].def, &w, &e);
    }
}

int cfg_read_file(mtrl_config *c, const char *path, mtrl_err *err)
{
    loader *L = calloc(1, sizeof *L);
    if (!L)
        return err_set(err, MTRL_ENOMEM, "%s: out of memory", path);
    mtrl_config tmp = *c;
    L->c = &tmp;
    int rc = apply_file(L, path, path, NULL, err);
    if (!rc)
        *c = tmp;
    free(L);
    return rc;
}

int cfg_apply_override(mtrl_config *c, const char *kv, mtrl_err *err)
{
    loader L0 = {0};
    mtrl_config tmp = *c;
    L0.c = &tmp;
    int rc = apply_override(&L0, kv, err);
    if (!rc)
        *c = tmp;
    return rc;
}

int cfg_check(const mtrl_config *c, mtrl_err *err) { return check(c, NULL, NULL, err); }

int cfg_load(mtrl_config *c, const char *path, const char *const *sets, int n_sets, mtrl_err *err)
{
    loader *L = calloc(1, sizeof *L);
    char(*origin)[ORIGIN_LEN] = calloc(NKEYS, sizeof *origin);
    unsigned char *is_set = calloc(NKEYS, 1);
    mtrl_config *tmp = malloc(sizeof *tmp);
    int rc;
    if (!L || !origin || !is_set || !tmp) {
        rc = err_set(err, MTRL_ENOMEM, "%s: out of memory", path);
        goto out;
    }
    cfg_defaults(tmp);
    L->c = tmp;
    L->origin = origin;
    L->origin_is_set = is_set;
    rc = apply_file(L, path, path, NULL, err);
    for (int i = 0; !rc && i < n_sets; i++)
        rc = apply_override(L, sets[i], err);
    if (rc)
        goto out;
    if (!tmp->run.name[0]) {
        /* The file's stem names the run: configs/quickstart.yaml -> quickstart. */
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        size_t n = strcspn(base, ".");
        if (n > RUN_NAME_MAX)
            n = RUN_NAME_MAX;
        memcpy(tmp->run.name, base, n);
        tmp->run.name[n] = 0;
        /* A file name may hold anything but '/': keep what a run name
         * allows (check_run_name), so the directory name stays plain. */
        for (char *q = tmp->run.name; *q; q++)
            if (!run_name_char(*q) || (q == tmp->run.name && *q == '-'))
                *q = '_';
    }
    rc = check(tmp, origin, is_set, err);
    if (!rc)
        *c = *tmp;
out:
    free(L);
    free(origin);
    free(is_set);
    free(tmp);
    return rc;
}

int cfg_num_tasks(const mtrl_config *c)
{
    const char *b = c->env.benchmark;
    if (!strcmp(b, "mt10"))
        return 10;
    if (!strcmp(b, "mt50"))
        return 50;
    if (!check_benchmark(b))
        return 1;
    return -1;
}

const char *cfg_mt1_task(const mtrl_config *c)
{
    return cfg_num_tasks(c) == 1 ? c->env.benchmark + 4 : NULL;
}

const char *cfg_enum_word(const char *path, int value)
{
    const key_def *k = find_key(path);
    if (!k || k->type != CFG_T_ENUM || value < 0)
        return NULL;
    for (int i = 0; k->words[i]; i++)
        if (i == value)
            return k->words[i];
    return NULL;
}

/* Shortest text that reads back as exactly the same double. Plain decimals
 * where they are short; otherwise an exponent with a dotted mantissa
 * ("1.0e-8"), the form YAML 1.1 readers such as PyYAML take as a float. */
static void fmt_double(double v, char *out, size_t n)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, n, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            break;
    }
    char *e = strchr(out, 'e');
    if (e && fabs(v) >= 1e-4 && fabs(v) < 1e16) {
        for (int dec = 0; dec <= 20; dec++) {
            snprintf(out, n, "%.*f", dec, v);
            if (strtod(out, NULL) == v)
                break;
        }
        e = NULL;
    }
    if (e) {
        char mant[40], ex[16];
        snprintf(mant, sizeof mant, "%.*s", (int)(e - out), out);
        int x = atoi(e + 1);
        snprintf(ex, sizeof ex, "e%d", x);
        snprintf(out, n, "%s%s%s", mant, strchr(mant, '.') ? "" : ".0", ex);
        return;
    }
    if (!strchr(out, '.'))
        strncat(out, ".0", n - strlen(out) - 1);
}

static void value_text(const mtrl_config *c, const key_def *k, char *out, size_t n)
{
    const char *field = (const char *)c + k->off;
    switch (k->type) {
    case CFG_T_INT:
        snprintf(out, n, "%d", *(const int *)field);
        break;
    case CFG_T_INT64:
        snprintf(out, n, "%" PRId64, *(const int64_t *)field);
        break;
    case CFG_T_DOUBLE:
        fmt_double(*(const double *)field, out, n);
        break;
    case CFG_T_BOOL:
        snprintf(out, n, "%s", *(const int *)field ? "true" : "false");
        break;
    case CFG_T_ENUM: {
        const char *wd = cfg_enum_word(k->path, *(const int *)field);
        snprintf(out, n, "%s", wd ? wd : "?");
        break;
    }
    case CFG_T_STRING: {
        /* YAML double-quoted form: only '"', '\' and control bytes escaped. */
        size_t j = 0;
        out[j++] = '"';
        for (const char *p = field; *p && j + 6 < n; p++) {
            if (*p == '"' || *p == '\\')
                out[j++] = '\\', out[j++] = *p;
            else if ((unsigned char)*p < 0x20 || *p == 0x7f)
                j += (size_t)snprintf(out + j, n - j, "\\x%02x", (unsigned char)*p);
            else
                out[j++] = *p;
        }
        out[j++] = '"';
        out[j] = 0;
        break;
    }
    case CFG_T_INT_LIST: {
        const cfg_int_list *l = (const cfg_int_list *)field;
        size_t j = (size_t)snprintf(out, n, "[");
        for (int i = 0; i < l->n && j < n; i++)
            j += (size_t)snprintf(out + j, n - j, "%s%d", i ? ", " : "", l->v[i]);
        if (j < n)
            snprintf(out + j, n - j, "]");
        break;
    }
    }
}

int cfg_print(const mtrl_config *c, FILE *f)
{
    for (int s = 0; s < NSECTIONS; s++) {
        fprintf(f, "%s%s:\n", s ? "\n" : "", sections[s]);
        size_t sl = strlen(sections[s]);
        for (int i = 0; i < NKEYS; i++) {
            if (strncmp(keys[i].path, sections[s], sl) || keys[i].path[sl] != '.')
                continue;
            char v[CFG_STR_LEN * 4 + 8], line[CFG_STR_LEN * 4 + 128];
            value_text(c, &keys[i], v, sizeof v);
            int len = snprintf(line, sizeof line, "  %s: %s", keys[i].path + sl + 1, v);
            fprintf(f, "%s%*s  # %s\n", line, len < 44 ? 44 - len : 0, "", keys[i].doc);
        }
    }
    fflush(f);
    return ferror(f) ? MTRL_EIO : 0;
}

int cfg_write_yaml(const mtrl_config *c, const char *path, mtrl_err *err)
{
    char tmp[PATH_MAX];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid()) >= sizeof tmp)
        return err_set(err, MTRL_EIO, "%s: path too long", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return err_set(err, MTRL_EIO, "%s: cannot write: %s", tmp, strerror(errno));
    fprintf(f, "# The fully resolved mtrl configuration: every key, defaults included.\n"
               "# It loads as it is: mtrl config %s\n\n",
            path);
    int bad = cfg_print(c, f) != 0;
    bad |= fflush(f) != 0;
    bad |= fsync(fileno(f)) != 0;
    int saved = errno;
    bad |= fclose(f) != 0;
    if (bad) {
        remove(tmp);
        return err_set(err, MTRL_EIO, "%s: write failed: %s", tmp, strerror(saved ? saved : errno));
    }
    if (rename(tmp, path)) {
        saved = errno;
        remove(tmp);
        return err_set(err, MTRL_EIO, "%s: cannot rename into place: %s", path, strerror(saved));
    }
    return 0;
}

static const char *type_name(const key_def *k)
{
    switch (k->type) {
    case CFG_T_INT:
        return "int";
    case CFG_T_INT64:
        return "int64";
    case CFG_T_DOUBLE:
        return "number";
    case CFG_T_BOOL:
        return "bool";
    case CFG_T_STRING:
        return "string";
    case CFG_T_ENUM:
        return "enum";
    case CFG_T_INT_LIST:
        return "int list";
    }
    return "?";
}

void cfg_print_keys(FILE *f)
{
    mtrl_config d;
    cfg_defaults(&d);
    for (int i = 0; i < NKEYS; i++) {
        char v[CFG_STR_LEN * 4 + 8], want[512];
        value_text(&d, &keys[i], v, sizeof v);
        describe(&keys[i], 0, want, sizeof want);
        if (keys[i].check)
            snprintf(want, sizeof want, "%s", keys[i].check(""));
        fprintf(f, "%s = %s  (%s: %s)\n    %s\n", keys[i].path, v, type_name(&keys[i]), want,
                keys[i].doc);
    }
}

int cfg_equal(const mtrl_config *a, const mtrl_config *b)
{
    for (int i = 0; i < NKEYS; i++) {
        const char *x = (const char *)a + keys[i].off, *y = (const char *)b + keys[i].off;
        int same;
        switch (keys[i].type) {
        case CFG_T_INT:
        case CFG_T_BOOL:
        case CFG_T_ENUM:
            same = *(const int *)x == *(const int *)y;
            break;
        case CFG_T_INT64:
            same = *(const int64_t *)x == *(const int64_t *)y;
            break;
        case CFG_T_DOUBLE:
            same = *(const double *)x == *(const double *)y;
            break;
        case CFG_T_STRING:
            same = !strcmp(x, y);
            break;
        case CFG_T_INT_LIST: {
            const cfg_int_list *p = (const cfg_int_list *)x, *q = (const cfg_int_list *)y;
            same = p->n == q->n && !memcmp(p->v, q->v, sizeof(int) * (size_t)p->n);
            break;
        }
        default:
            same = 0;
        }
        if (!same)
            return 0;
    }
    return 1;
}

int cfg_key_count(void) { return NKEYS; }

void cfg_key_get(int i, cfg_key_info *out)
{
    if (i < 0 || i >= NKEYS || !out)
        return;
    out->path = keys[i].path;
    out->type = keys[i].type;
    out->doc = keys[i].doc;
}

int cfg_read_yaml_text(const char *path, char **text, size_t *len, mtrl_err *err)
{
    return read_config_text(path, path, NULL, text, len, err);
}

int cfg_yaml_too_deep(const char *text, size_t len) { return too_deep_at(text, len); }
