/* mtrl bench update: what one full SAC update (critic, actor, temperature,
 * targets) costs per multi-task optimizer, measured side by side in one run
 * on the paper settings (configs/mt10/cagrad.yaml, configs/mt50/cagrad.yaml:
 * 3 x 400 networks, batch 1280 / 1300), with the time split the agent
 * reports, the FLOP rate of the update's matrix products next to this
 * machine's sgemm rate, and the per-episode figure the papers report
 * (CAGrad Table 7, Nash-MTL Table 5: one 150-iteration episode of the whole
 * loop, spec mtrl-cagrad.md §8).
 * Methods are interleaved in round-robin blocks and every method draws the
 * same batches, so machine noise and data hit all of them alike. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli/bench_update.h"

/* One benchmark: its rows timed, their results in rep, the text printed. */
static int run_bench(const bu_opts *o, const char *bench_arg, bu_report *rep, mtrl_err *e)
{
    bu_run b;
    int skipped, rc = bu_setup(&b, o, bench_arg, rep, &skipped, e);
    if (!rc && !skipped && !(rc = bu_fill_replay(&b, e)) && !(rc = bu_time_updates(&b, e)) &&
        !(rc = bu_time_episodes(&b, e))) {
        int first = rep->n_results;
        bu_results(&b, rep);
        if (!o->json && !o->csv)
            bu_print_bench_text(&b, rep, rep->results + first, rep->n_results - first);
    }
    bu_run_free(&b);
    return rc;
}

int cmd_bench_update(int argc, char **argv)
{
    bu_opts o;
    memset(&o, 0, sizeof o);
    o.sets = calloc((size_t)argc + 1, sizeof *o.sets);
    bu_report *rep = calloc(1, sizeof *rep);
    if (!o.sets || !rep) {
        free(o.sets);
        free(rep);
        return 1;
    }
    int rc = bu_parse_args(argc, argv, &o);
    if (rc)
        goto out;
    o.blas_threads0 = openblas_get_num_threads();
    mtrl_err e = {0};
    for (int i = 0; i < o.n_bench; i++) {
        if ((rc = run_bench(&o, o.bench[i], rep, &e))) {
            fprintf(stderr, "mtrl bench update: %s\n", e.msg);
            rc = err_exit_code(rc);
            goto out;
        }
        fflush(stdout);
    }
    if (rep->n_results == 0) {
        fprintf(stderr, "mtrl bench update: nothing was measured\n");
        if (o.json)
            bu_print_json(rep, &o);
        rc = 1;
    } else if (o.json) {
        bu_print_json(rep, &o);
    } else if (o.csv) {
        bu_print_csv(rep);
    } else {
        bu_print_targets(rep, &o);
    }
out:
    free(o.sets);
    free(rep);
    return rc < 0 ? 0 : rc;
}
