/* mtrl combine: applies one multi-task combiner to a gradient matrix stored
 * in HDF5, so the combiners can be used and checked from outside (h5py,
 * numpy) and timed on real gradient dumps. Its settings are the config's
 * keys (--set mtl.cagrad_c=0.5, or a whole --config), read by the config
 * loader and mapped by mtl_options_from_config, as for a run. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli/combine_input.h"
#include "core/cfg.h"
#include "core/h5io.h"
#include "core/rng.h"
#include "mtl/mtl.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: mtrl combine --input G.h5 [--output d.h5] [settings]\n"
            "       mtrl combine --random K,P [--repeat N] [settings]\n\n"
            "Reads the dataset G (K x P float32: row k = task k's gradient) from G.h5,\n"
            "combines its rows into one update vector and writes d.h5 with the datasets\n"
            "d (P, float32) and w (K, float32; d = G^T w), and the method and settings\n"
            "as attributes. Prints |g0|, |d|, conflicts and the time per call.\n"
            "famo also reads the dataset losses (K per-task losses >= 0; --random draws\n"
            "them in [0.5, 2]); aligned_mtl_ub reads rep_gram (K x K Gram of the task\n"
            "gradients w.r.t. a shared representation) if the file has one, and is\n"
            "aligned_mtl on G's own Gram otherwise.\n"
            "Exit 2 if G or the losses hold NaN/Inf (nothing is written then).\n\n"
            "Settings are the config's keys, with the config's defaults\n"
            "(configs/base.yaml; `mtrl config --keys` lists them): the mtl.* keys and\n"
            "run.seed (the seed of the combiner's draws and of --random).\n"
            "  --set KEY=VALUE   set one key, e.g. --set mtl.method=cagrad_fast\n"
            "                    --set mtl.cagrad_fast_gram=subset --set mtl.famo_scale=mtrl\n"
            "                    (repeatable; also -s, --set=KEY=VALUE)\n"
            "  --config FILE     start from a run config's values (then --set applies)\n"
            "  --method M        = --set mtl.method=M: mean | sum | pcgrad | cagrad |\n"
            "                    cagrad_fast | mgda | aligned_mtl | aligned_mtl_ub | imtl_g |\n"
            "                    graddrop | rlw | nash_mtl | famo | upgrad | dualproj | config\n"
            "  --c C             = --set mtl.cagrad_c=C\n"
            "  --subset N        = --set mtl.cagrad_fast_subset=N\n"
            "  --seed S          = --set run.seed=S\n\n"
            "  --input FILE      HDF5 file with the gradient matrix\n"
            "  --output FILE     HDF5 file to write (replaced atomically; optional)\n"
            "  --random K,P      instead of --input: a random K x P matrix (seeded by\n"
            "                    run.seed; shared direction plus noise), for timing\n"
            "  --dataset NAME    dataset to read instead of G\n"
            "  --repeat N        run N times and print the mean time per call\n"
            "                    (d and w are those of the first call)\n"
            "  -h, --help        this help\n");
}

/* The short flags, each one config key. */
static const struct {
    const char *flag, *key;
} aliases[] = {
    {"--method", "mtl.method"},
    {"--c", "mtl.cagrad_c"},
    {"--subset", "mtl.cagrad_fast_subset"},
    {"--seed", "run.seed"},
};
#define N_ALIASES (int)(sizeof aliases / sizeof aliases[0])

typedef struct combine_args {
    const char *in, *out, *dset, *random, *config;
    long repeat;
    char **sets; /* "key=value", owned */
    int n_sets;
} combine_args;

static void args_free(combine_args *a)
{
    for (int i = 0; i < a->n_sets; i++)
        free(a->sets[i]);
    free(a->sets);
}

/* Only the keys the combiner reads: any other would be silently ignored. */
static int set_applies(const char *kv)
{
    while (*kv == ' ' || *kv == '\t')
        kv++;
    size_t n = strcspn(kv, "= \t");
    return !strncmp(kv, "mtl.", 4) || (n == 8 && !strncmp(kv, "run.seed", 8));
}

static int add_set(combine_args *a, const char *key, const char *value)
{
    size_t n = (key ? strlen(key) + 1 : 0) + strlen(value) + 1;
    char *kv = malloc(n);
    if (!kv) {
        fprintf(stderr, "mtrl combine: out of memory\n");
        return 1;
    }
    snprintf(kv, n, "%s%s%s", key ? key : "", key ? "=" : "", value);
    a->sets[a->n_sets++] = kv;
    if (!set_applies(kv)) {
        fprintf(stderr, "mtrl combine: --set %s: combine reads only the mtl.* keys and run.seed\n",
                kv);
        return 2;
    }
    return 0;
}

/* One argument at argv[*i] (its value, if any, at argv[*i + 1]). */
static int parse_one(combine_args *a, int argc, char **argv, int *i)
{
    const char *f = argv[*i];
    if (!strncmp(f, "--set=", 6))
        return add_set(a, NULL, f + 6);
    static const char *const valued[] = {"--set", "-s", "--config", "--input", "--output",
                                         "--dataset", "--random", "--repeat"};
    int known = -1;
    for (int j = 0; j < N_ALIASES; j++)
        known = !strcmp(f, aliases[j].flag) ? j : known;
    for (int j = 0; j < (int)(sizeof valued / sizeof *valued) && known < 0; j++)
        known = !strcmp(f, valued[j]) ? N_ALIASES : known;
    if (known < 0) {
        fprintf(stderr,
                "mtrl combine: unknown argument '%s' (settings are config keys: --set "
                "mtl.KEY=VALUE; mtrl combine --help)\n",
                f);
        return 2;
    }
    if (*i + 1 >= argc) {
        fprintf(stderr, "mtrl combine: %s needs a value\n", f);
        return 2;
    }
    const char *v = argv[++*i];
    if (known < N_ALIASES)
        return add_set(a, aliases[known].key, v);
    if (!strcmp(f, "--set") || !strcmp(f, "-s"))
        return add_set(a, NULL, v);
    if (!strcmp(f, "--repeat"))
        return cli_parse_long("combine", f, v, 1, 1000000, &a->repeat);
    const char **dst = !strcmp(f, "--config")  ? &a->config
                       : !strcmp(f, "--input") ? &a->in
                       : !strcmp(f, "--output") ? &a->out
                       : !strcmp(f, "--dataset") ? &a->dset
                                                 : &a->random;
    *dst = v;
    return 0;
}

/* 0: run; 2: bad usage; -1: --help was printed. */
static int parse_args(combine_args *a, int argc, char **argv)
{
    *a = (combine_args){.dset = "G", .repeat = 1};
    a->sets = calloc((size_t)argc + 1, sizeof *a->sets);
    if (!a->sets) {
        fprintf(stderr, "mtrl combine: out of memory\n");
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return -1;
        }
        int rc = parse_one(a, argc, argv, &i);
        if (rc)
            return rc;
    }
    if (!a->in == !a->random) {
        fprintf(stderr, "mtrl combine: one of --input or --random is required\n");
        usage(stderr);
        return 2;
    }
    return 0;
}

/* The settings: defaults (or the --config file), then the --set keys in
 * order, through the config loader, so messages name the key. */
static int load_options(const combine_args *a, mtrl_config *cfg, mtl_options *o)
{
    mtrl_err err = {0};
    int rc = 0;
    if (a->config) {
        rc = cfg_load(cfg, a->config, (const char *const *)a->sets, a->n_sets, &err);
    } else {
        cfg_defaults(cfg);
        for (int i = 0; !rc && i < a->n_sets; i++)
            rc = cfg_apply_override(cfg, a->sets[i], &err);
    }
    /* Component -1: a combiner of its own (the library's rng stream). */
    if (!rc)
        rc = mtl_options_from_config(cfg, -1, o, &err);
    if (rc)
        fprintf(stderr, "mtrl combine: %s\n", err.msg);
    return rc ? err_exit_code(rc) : 0;
}

/* Rows like per-task gradients: a shared direction with a per-task strength
 * in [-0.5, 1] (so some tasks conflict) plus noise, per-task scales spread
 * over a decade. Only for timing and trying the methods out. */
static void random_G(long K, long P, uint64_t seed, float *G)
{
    rng_state r;
    rng_seed(&r, seed, RNG_STREAM_INIT);
    float *m = G + (K - 1) * P; /* the last row holds the direction first */
    rng_normal_fill(&r, m, P);
    for (long k = 0; k < K; k++) {
        float a = (float)rng_range(&r, -0.5, 1.0);
        float s = (float)(pow(10.0, rng_range(&r, -0.5, 0.5)) / sqrt((double)P));
        float *g = G + k * P;
        for (long p = 0; p < P; p++)
            g[p] = s * (a * m[p] + (float)rng_normal(&r));
    }
}

/* --random K,P: the matrix, and losses in [0.5, 2] when the method needs them. */
static int random_input(const char *spec, uint64_t seed, int want_losses, combine_input *ci)
{
    char *end;
    errno = 0;
    long rk = strtol(spec, &end, 10), rp = 0;
    if (!errno && *end == ',')
        rp = strtol(end + 1, &end, 10);
    if (errno || *end || rk < 1 || rk > 100000 || rp < 1 || rp > 2147483647L) {
        fprintf(stderr, "mtrl combine: --random needs K,P (e.g. 10,656002), got '%s'\n", spec);
        return 2;
    }
    *ci = (combine_input){.K = (int)rk, .P = rp};
    ci->G = malloc(sizeof(float) * (size_t)rk * (size_t)rp);
    ci->losses = want_losses ? malloc(sizeof(float) * (size_t)rk) : NULL;
    if (!ci->G || (want_losses && !ci->losses)) {
        fprintf(stderr, "mtrl combine: out of memory for a %ld x %ld matrix\n", rk, rp);
        combine_input_free(ci);
        return 1;
    }
    random_G(rk, rp, seed, ci->G);
    if (want_losses) {
        rng_state r;
        rng_seed(&r, seed, RNG_STREAM_INIT + 1);
        for (long k = 0; k < rk; k++)
            ci->losses[k] = (float)rng_range(&r, 0.5, 2.0);
    }
    return 0;
}

static int read_input(const combine_args *a, const mtl_options *o, combine_input *ci)
{
    int want_losses = o->method == MTL_FAMO, want_rep = o->method == MTL_ALIGNED_MTL_UB;
    if (a->random)
        return random_input(a->random, o->seed, want_losses, ci);
    mtrl_err err = {0};
    int rc = combine_input_read(a->in, a->dset, want_losses, want_rep, ci, &err);
    if (rc)
        fprintf(stderr, "mtrl combine: %s\n", err.msg);
    return rc ? err_exit_code(rc) : 0;
}

typedef struct combine_result {
    float *d, *w;       /* of the first call */
    mtl_stats first;
    double tg, ts, tc, tmin; /* summed split and fastest call, seconds */
} combine_result;

/* repeat calls; d and w of the first are kept, later calls (with their own
 * draws) only add to the timing. */
static int run_calls(const combine_args *a, const mtl_options *o, const combine_input *ci,
                     combine_result *res)
{
    mtrl_err err = {0};
    mtl_combiner *comb = NULL;
    int rc = mtl_create(&comb, ci->K, ci->P, o, &err);
    if (rc) {
        fprintf(stderr, "mtrl combine: %s\n", err.msg);
        return err_exit_code(rc);
    }
    res->d = malloc(sizeof(float) * (size_t)ci->P);
    res->w = malloc(sizeof(float) * (size_t)ci->K);
    float *scratch = a->repeat > 1 ? malloc(sizeof(float) * (size_t)ci->P) : NULL;
    if (!res->d || !res->w || (a->repeat > 1 && !scratch)) {
        fprintf(stderr, "mtrl combine: out of memory for P = %ld\n", ci->P);
        rc = 1;
    }
    res->tmin = INFINITY;
    mtl_input min = {.k = ci->K, .G = ci->G, .losses = ci->losses, .rep_gram = ci->rep_gram};
    for (long r = 0; !rc && r < a->repeat; r++) {
        mtl_stats st;
        if ((rc = mtl_combine_in(comb, &min, r == 0 ? res->d : scratch, &st, &err))) {
            fprintf(stderr, "mtrl combine: %s\n", err.msg);
            rc = err_exit_code(rc);
            break;
        }
        if (r == 0 && st.nonfinite) {
            /* The inputs were checked finite when read: what overflowed is
             * the Gram or the result. */
            fprintf(stderr, "mtrl combine: %s: '%s' holds values so large that its "
                            "Gram or the update overflows float; nothing written\n",
                    a->in ? a->in : "(random)", a->dset);
            rc = 2;
            break;
        }
        if (r == 0)
            res->first = st, memcpy(res->w, st.w, sizeof(float) * (size_t)ci->K);
        res->tg += st.t_gram, res->ts += st.t_solve, res->tc += st.t_combine;
        res->tmin = fmin(res->tmin, st.t_gram + st.t_solve + st.t_combine);
    }
    free(scratch);
    mtl_destroy(comb);
    return rc;
}

static int write_output(const combine_args *a, const mtl_options *o, const combine_input *ci,
                        const combine_result *res)
{
    mtrl_err err = {0};
    h5_file *f = NULL;
    long kd = ci->K, P = ci->P;
    int rc;
    if ((rc = h5_create(&f, a->out, &err)) || (rc = h5_write_f32(f, "d", 1, &P, res->d, &err)) ||
        (rc = h5_write_f32(f, "w", 1, &kd, res->w, &err)) ||
        (rc = h5_write_attr_str(f, NULL, "method", mtl_method_name(o->method), &err)) ||
        (rc = h5_write_attr_f64(f, NULL, "c", o->c, &err)) ||
        (rc = h5_write_attr_i64(f, NULL, "seed", (int64_t)o->seed, &err)) ||
        (rc = h5_write_attr_i64(f, NULL, "fast_subset", o->fast_subset, &err)) ||
        (rc = h5_write_attr_str(f, NULL, "input", a->in ? a->in : "(random)", &err)) ||
        (rc = h5_write_attr_f64(f, NULL, "d_norm", res->first.d_norm, &err)) ||
        (rc = h5_write_attr_f64(f, NULL, "g0_norm", res->first.g0_norm, &err))) {
        fprintf(stderr, "mtrl combine: %s\n", err.msg);
        h5_abort(f);
        return err_exit_code(rc);
    }
    if ((rc = h5_commit(f, &err))) {
        fprintf(stderr, "mtrl combine: %s\n", err.msg);
        return err_exit_code(rc);
    }
    return 0;
}

static void print_summary(const combine_args *a, const mtl_options *o, const combine_input *ci,
                          const combine_result *res)
{
    const mtl_stats *s = &res->first;
    double n = (double)a->repeat;
    printf("%s: K %d, P %ld, |g0| %.6g, |d| %.6g", mtl_method_name(o->method), ci->K, ci->P,
           s->g0_norm, s->d_norm);
    if (s->gram)
        printf(", min cos %.4f, %d conflicting pairs", s->min_cos, s->n_conflicts);
    if (s->fallback)
        printf(", no solution: previous weights kept");
    printf("\ntime per call (mean of %ld): gram %.3f ms, solve %.3f ms, combine %.3f ms, "
           "total %.3f ms (fastest %.3f ms)\n",
           a->repeat, 1e3 * res->tg / n, 1e3 * res->ts / n, 1e3 * res->tc / n,
           1e3 * (res->tg + res->ts + res->tc) / n, 1e3 * res->tmin);
    if (a->out)
        printf("wrote %s\n", a->out);
}

int cmd_combine(int argc, char **argv)
{
    combine_args a;
    mtrl_config *cfg = malloc(sizeof *cfg);
    mtl_options o;
    combine_input ci = {0};
    combine_result res = {0};
    int rc = cfg ? parse_args(&a, argc, argv) : 1;
    if (!cfg)
        fprintf(stderr, "mtrl combine: out of memory\n");
    if (!rc)
        rc = load_options(&a, cfg, &o);
    if (!rc)
        rc = read_input(&a, &o, &ci);
    if (!rc)
        rc = run_calls(&a, &o, &ci, &res);
    if (!rc && a.out)
        rc = write_output(&a, &o, &ci, &res);
    if (!rc)
        print_summary(&a, &o, &ci, &res);
    if (cfg)
        args_free(&a);
    free(cfg);
    free(res.d);
    free(res.w);
    combine_input_free(&ci);
    return rc < 0 ? 0 : rc;
}
