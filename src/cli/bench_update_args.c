/* mtrl bench update: its arguments. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli/bench_update.h"

static const char *const default_methods = "mean,pcgrad,cagrad,cagrad_fast,mgda";

void bu_usage(FILE *f)
{
    fprintf(f,
            "usage: mtrl bench update [--benchmark mt10|mt50|both] [--methods LIST]\n"
            "                         [--updates N] [--config CONFIG] [--set k=v ...]\n"
            "                         [--json|--csv] [--quick] [more options below]\n\n"
            "Times full SAC updates (critic, actor, temperature, target critics) for each\n"
            "multi-task optimizer on the paper settings: configs/mt10/cagrad.yaml and\n"
            "configs/mt50/cagrad.yaml (networks, batch, c), with mtl.method set per row\n"
            "(CAGrad-Fast samples 4 tasks on MT10, 8 on MT50, as the paper; FAMO\n"
            "reweights the critic only, as its runs). The replay buffer holds real\n"
            "transitions from random-action iterations of the envs.\n"
            "Methods run interleaved, in round-robin blocks of updates, and draw the same\n"
            "batches, so load from other processes hits all of them alike.\n\n"
            "Per row: median, min and max ms per update; the ratio to `mean` measured in the\n"
            "same run (of the medians, and of the minima); the split, medians per update\n"
            "(forward/backward including the per-task gradient products and, for the\n"
            "Gram-based methods, the Gram formed inside the backward pass; the part of it\n"
            "beyond mean's; the combiner's own Gram (if any) + solve; combine + Adam +\n"
            "Polyak; the rest);\n"
            "the update's matrix-product GFLOP and GFLOP/s next to this machine's sgemm\n"
            "GFLOP/s measured in the same run; and seconds per episode of the whole loop\n"
            "(K env steps + 1 update per iteration, as `mtrl run`), the figure of CAGrad's\n"
            "Table 7 and Nash-MTL's Table 5 (tools/timing-table puts them side by side):\n"
            "the episode length times the median loop iteration, methods taking turns\n"
            "iteration by iteration (JSON/CSV also give the mean-based figure).\n\n"
            "  --benchmark B      mt10, mt50 or both (default both; with --config: the\n"
            "                     config's env.benchmark)\n"
            "  --methods LIST     comma-separated (default %s)\n"
            "  --updates N        timed updates per method (default 30; --quick 6)\n"
            "  --warmup N         untimed updates per method first (default 3; --quick 1)\n"
            "  --block N          updates per method per round (default 2)\n"
            "  --fill N           random-action iterations filling the replay buffer\n"
            "                     (default 500; --quick 200)\n"
            "  --episodes N       episodes per method for the per-episode figure\n"
            "                     (default 1; 0 skips it)\n"
            "  --episode-iters N  loop iterations timed per episode (default: the episode\n"
            "                     length env.max_episode_steps; --quick 10)\n"
            "  --threads T        learner threads, as `mtrl run` uses run.threads: the\n"
            "                     networks split their products over T threads of their own\n"
            "                     and OpenBLAS runs on 1; the env workers are T too (default:\n"
            "                     the config's run.threads, 0 there = the number of cores).\n"
            "                     0: the old way, OpenBLAS threading every product itself\n"
            "                     (OPENBLAS_NUM_THREADS) beside the per-task product workers\n"
            "  --config CONFIG    one config instead of the paper configs\n"
            "  --set k=v          override a config key (repeatable; mtl.method is set per row)\n"
            "  --stand-in         time a benchmark whose tasks are not all registered yet with\n"
            "                     registered tasks standing in (same K, networks and batch;\n"
            "                     rows are marked); without it such a benchmark is skipped\n"
            "  --json, --csv      machine-readable output on stdout (progress on stderr)\n"
            "  --quick            short settings (for make bench)\n"
            "  -h, --help         this help\n",
            default_methods);
}

static int parse_methods(const char *list, bu_opts *o)
{
    char buf[512];
    if (strlen(list) >= sizeof buf) {
        fprintf(stderr, "mtrl bench update: --methods list too long\n");
        return 2;
    }
    strcpy(buf, list);
    o->n_methods = 0;
    mtrl_config probe;
    cfg_defaults(&probe);
    for (char *save = NULL, *m = strtok_r(buf, ",", &save); m; m = strtok_r(NULL, ",", &save)) {
        char kv[64];
        mtrl_err e = {0};
        snprintf(kv, sizeof kv, "mtl.method=%s", m);
        if (strlen(m) >= sizeof o->method[0] || cfg_apply_override(&probe, kv, &e)) {
            /* The config's message minus its "--set mtl.method=X: " prefix. */
            const char *why = strstr(e.msg, ": ");
            fprintf(stderr, "mtrl bench update: --methods: '%s': %s\n", m,
                    why ? why + 2 : "not a method");
            return 2;
        }
        for (int i = 0; i < o->n_methods; i++)
            if (!strcmp(o->method[i], m)) {
                fprintf(stderr, "mtrl bench update: --methods names '%s' twice\n", m);
                return 2;
            }
        if (o->n_methods == BU_MAX_METHODS) {
            fprintf(stderr, "mtrl bench update: --methods: at most %d methods\n", BU_MAX_METHODS);
            return 2;
        }
        snprintf(o->method[o->n_methods++], sizeof o->method[0], "%s", m);
    }
    if (o->n_methods == 0) {
        fprintf(stderr, "mtrl bench update: --methods is empty\n");
        return 2;
    }
    return 0;
}

/* The raw values of the options that take one (-1 / NULL: not given). */
typedef struct raw_args {
    int updates, warmup, block, fill, episodes, ep_iters;
    const char *methods, *bench;
} raw_args;

/* The options taking a value. */
static const char *const valued[] = {"--benchmark", "--methods", "--updates",  "--warmup",
                                     "--block",     "--fill",    "--episodes", "--episode-iters",
                                     "--config",    "--threads", "--set",      "-s"};

static int takes_value(const char *a)
{
    for (size_t i = 0; i < sizeof valued / sizeof valued[0]; i++)
        if (!strcmp(a, valued[i]))
            return 1;
    return 0;
}

static int parse_value(const char *a, const char *v, bu_opts *o, raw_args *r)
{
    const char *cmd = "bench update";
    if (!strcmp(a, "--benchmark"))
        r->bench = v;
    else if (!strcmp(a, "--methods"))
        r->methods = v;
    else if (!strcmp(a, "--config"))
        o->config = v;
    else if (!strcmp(a, "--set") || !strcmp(a, "-s"))
        o->sets[o->n_sets++] = v;
    else if (!strcmp(a, "--threads"))
        return cli_parse_int(cmd, a, v, 0, 256, &o->threads);
    else if (!strcmp(a, "--updates"))
        return cli_parse_int(cmd, a, v, 1, 1000000, &r->updates);
    else if (!strcmp(a, "--warmup"))
        return cli_parse_int(cmd, a, v, 0, 1000000, &r->warmup);
    else if (!strcmp(a, "--block"))
        return cli_parse_int(cmd, a, v, 1, 1000000, &r->block);
    else if (!strcmp(a, "--fill"))
        return cli_parse_int(cmd, a, v, 1, 10000000, &r->fill);
    else if (!strcmp(a, "--episodes"))
        return cli_parse_int(cmd, a, v, 0, 100000, &r->episodes);
    else
        return cli_parse_int(cmd, a, v, 1, 1000000, &r->ep_iters);
    return 0;
}

/* The benchmarks to time: --benchmark, else both, else (--config) the
 * config's own. */
static int resolve_bench(const char *bench, bu_opts *o)
{
    if (bench) {
        if (!strcmp(bench, "both")) {
            o->bench[0] = "mt10", o->bench[1] = "mt50", o->n_bench = 2;
        } else if (!strcmp(bench, "mt10") || !strcmp(bench, "mt50")) {
            o->bench[0] = bench, o->n_bench = 1;
        } else {
            fprintf(stderr, "mtrl bench update: --benchmark wants mt10, mt50 or both, got '%s'\n",
                    bench);
            return 2;
        }
    } else if (!o->config) {
        o->bench[0] = "mt10", o->bench[1] = "mt50", o->n_bench = 2;
    } else {
        o->bench[0] = NULL, o->n_bench = 1; /* the config's own benchmark */
    }
    return 0;
}

int bu_parse_args(int argc, char **argv, bu_opts *o)
{
    raw_args r = {-1, -1, -1, -1, -1, -1, default_methods, NULL};
    o->threads = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int rc = 0;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            bu_usage(stdout);
            return -1;
        } else if (!strcmp(a, "--quick")) {
            o->quick = 1;
        } else if (!strcmp(a, "--json")) {
            o->json = 1;
        } else if (!strcmp(a, "--csv")) {
            o->csv = 1;
        } else if (!strcmp(a, "--stand-in")) {
            o->stand_in = 1;
        } else if (!strncmp(a, "--set=", 6)) {
            o->sets[o->n_sets++] = a + 6;
        } else if (takes_value(a)) {
            if (i + 1 >= argc) {
                fprintf(stderr, "mtrl bench update: %s needs a value\n", a);
                return 2;
            }
            rc = parse_value(a, argv[++i], o, &r);
        } else {
            fprintf(stderr, "mtrl bench update: unknown argument '%s' (mtrl bench update --help)\n",
                    a);
            return 2;
        }
        if (rc)
            return rc;
    }
    if (o->json && o->csv) {
        fprintf(stderr, "mtrl bench update: --json and --csv exclude each other\n");
        return 2;
    }
    if (resolve_bench(r.bench, o))
        return 2;
    o->updates = r.updates > 0 ? r.updates : o->quick ? 6 : 30;
    o->warmup = r.warmup >= 0 ? r.warmup : o->quick ? 1 : 3;
    o->block = r.block > 0 ? r.block : 2;
    if (o->block > o->updates)
        o->block = o->updates;
    o->fill = r.fill > 0 ? r.fill : o->quick ? 200 : 500;
    o->episodes = r.episodes >= 0 ? r.episodes : 1;
    o->episode_iters = r.ep_iters > 0 ? r.ep_iters : o->quick ? 10 : 0; /* 0: the episode length */
    return parse_methods(r.methods, o);
}

int bu_user_set(const bu_opts *o, const char *key)
{
    size_t n = strlen(key);
    for (int i = 0; i < o->n_sets; i++)
        if (!strncmp(o->sets[i], key, n) && o->sets[i][n] == '=')
            return 1;
    return 0;
}
