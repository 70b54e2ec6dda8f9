/* mtrl sweep exec SWEEP_DIR INDEX: runs or resumes one run of a sweep (what
 * each local slot and each Slurm array task executes). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli/sweep_cli.h"
#include "sweep/sweep.h"

static volatile sig_atomic_t got_signal;

static void on_signal(int sig) { got_signal = sig; }

int cmd_sweep_exec(int argc, char **argv)
{
    if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        printf("usage: mtrl sweep exec SWEEP_DIR INDEX\n\n"
               "Runs run INDEX (its row in SWEEP_DIR/manifest.csv) as a child mtrl run: fresh, resumed\n"
               "from its checkpoint, or nothing if it is done; output appended to\n"
               "SWEEP_DIR/logs/<name>.log. SIGINT, SIGTERM and SIGUSR1 are passed on as one SIGTERM\n"
               "(the run stops at a checkpoint); inside Slurm a SIGTERM is not, since Slurm sends it to\n"
               "the run as well. Inside a Slurm job, a run stopped by a signal requeues its own array\n"
               "task. Exit: 0 done, 3 stopped (resumable), 4 running elsewhere, else failed.\n");
        return 0;
    }
    if (argc != 3) {
        fprintf(stderr, "usage: mtrl sweep exec SWEEP_DIR INDEX\n");
        return 2;
    }
    long index;
    if (cli_parse_long("sweep exec", "INDEX", argv[2], 0, SWEEP_MAX_RUNS - 1, &index))
        return 2;
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);

    char self[4096];
    if (sweep_cli_self(self, sizeof self))
        return 1;
    mtrl_err err = {0};
    sweep_spec *s;
    int rc = sweep_dir_open(&s, argv[1], &err);
    if (rc) {
        fprintf(stderr, "mtrl sweep exec: %s\n", err.msg);
        return err_exit_code(rc);
    }
    sweep_exec_opts o = {.self = self, .signal = &got_signal, .in_slurm = getenv("SLURM_JOB_ID") != NULL};
    int code;
    rc = sweep_exec(s, argv[1], (int)index, &o, &code, &err);
    sweep_destroy(s);
    if (rc) {
        fprintf(stderr, "mtrl sweep exec: %s\n", err.msg);
        return code == 4 ? 4 : err_exit_code(rc);
    }
    return code;
}
