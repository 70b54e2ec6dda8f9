/* mtrl plot: learning curves of one or more runs as a self-contained SVG
 * (no plotting library needed): mean evaluation success over iterations,
 * one line per run, plus per-task success of the first run and its training
 * episode return. Reads the runs' eval.csv and train.csv. With --group (or
 * when the runs given form groups of several seeds, as src/report groups
 * them), one curve per group instead: the mean over seeds with a band of
 * +- one standard error. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli/plot_svg.h"
#include "report/report.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: mtrl plot RUN_DIR [RUN_DIR ...] [--out FILE.svg]\n"
               "       mtrl plot --group DIR... [--by KEYS] [--x iterations|env_steps] [--out FILE.svg]\n\n"
               "Writes learning curves as an SVG (default DIR/curves.svg of the first DIR):\n"
               "mean evaluation success of every run, the per-task success of the first run,\n"
               "and its training episode return. Open the SVG in any browser.\n\n"
               "Group curves (--group, or automatically when the runs given form groups of\n"
               "more than one seed): runs are found and grouped as mtrl report does (DIR may\n"
               "be a sweep directory; --by KEYS groups by those config keys); per group the\n"
               "mean eval success over seeds with a band of +- one standard error, on the\n"
               "iterations every run of the group has evaluated at.\n"
               "  --x env_steps   x axis in environment steps (iterations x tasks)\n");
}

/* Group g's curve: band = mean +- s.e. as one closed polygon, the mean as a
 * line, and its legend entry. xs scales iterations to the x axis. */
static void group_curve(FILE *o, const plot_panel *p, const rep_report *rp, int g, const rep_curve *k,
                        double xs)
{
    const char *c = plot_color(g);
    fprintf(o, "<polygon class='band' fill='%s' fill-opacity='0.18' stroke='none' points='", c);
    for (int i = 0; i < k->n; i++)
        fprintf(o, "%.1f,%.1f ", plot_px(p, (double)k->step[i] * xs),
                plot_py(p, fmin(1, k->mean[i] + (isfinite(k->se[i]) ? k->se[i] : 0))));
    for (int i = k->n - 1; i >= 0; i--)
        fprintf(o, "%.1f,%.1f ", plot_px(p, (double)k->step[i] * xs),
                plot_py(p, fmax(0, k->mean[i] - (isfinite(k->se[i]) ? k->se[i] : 0))));
    fprintf(o, "'/>\n<polyline class='mean' fill='none' stroke='%s' stroke-width='2' points='", c);
    for (int i = 0; i < k->n; i++)
        fprintf(o, "%.1f,%.1f ", plot_px(p, (double)k->step[i] * xs), plot_py(p, k->mean[i]));
    fprintf(o, "'/>\n");
    char label[600], esc[1600];
    const rep_group *gr = rep_report_group(rp, g);
    snprintf(label, sizeof label, "%s (%d seed%s)", gr->label, gr->n, gr->n == 1 ? "" : "s");
    plot_xml_escape(label, esc, sizeof esc);
    plot_legend(o, p, g, c, esc);
}

/* One curve per group of rp: the mean over seeds with its band. */
static int plot_groups(const rep_report *rp, int env_steps, const char *out)
{
    int G = rep_report_n_groups(rp), rc = 1;
    rep_curve *cv = calloc((size_t)G, sizeof *cv);
    double *xs = calloc((size_t)G, sizeof *xs);
    mtrl_err e = {0};
    if (!cv || !xs)
        goto done;
    double xmax = 1;
    for (int g = 0; g < G; g++) {
        if (rep_group_curve(rp, g, &cv[g], &e)) {
            fprintf(stderr, "mtrl plot: %s\n", e.msg);
            goto done;
        }
        const rep_run *r0 = rep_report_run(rp, rep_report_group(rp, g)->run[0]);
        xs[g] = env_steps ? (r0->n_tasks ? r0->n_tasks : 1) : 1;
        for (int i = 0; i < cv[g].n; i++)
            xmax = fmax(xmax, (double)cv[g].step[i] * xs[g]);
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *o = open_memstream(&buf, &len);
    if (!o)
        goto done;
    fprintf(o, "<svg xmlns='http://www.w3.org/2000/svg' width='1300' height='420' "
               "font-family='sans-serif'>\n<rect width='100%%' height='100%%' fill='white'/>\n");
    plot_panel p = {90, 40, 780, 300, 0, xmax, 0, 1};
    plot_panel_frame(o, &p, "mean evaluation success over seeds (band: +- standard error)",
                env_steps ? "environment steps" : "iteration", "success");
    for (int g = 0; g < G; g++)
        group_curve(o, &p, rp, g, &cv[g], xs[g]);
    fprintf(o, "</svg>\n");
    fclose(o);
    rc = plot_svg_write(out, buf, len);
    free(buf);
done:
    for (int g = 0; cv && g < G; g++)
        rep_curve_free(&cv[g]);
    free(cv);
    free(xs);
    return rc;
}

#define MAX_DIRS 256
#define MAX_RUNS 8 /* as separate curves */

typedef struct plot_args {
    const char *runs[MAX_DIRS], *out, *by[64];
    int n_runs, group, env_steps, n_by;
    char *by_buf; /* the strings of by */
    char def_out[4200];
} plot_args;

/* Fills a from argv: -1 to go on, else the exit code (0 after --help). */
static int plot_parse_args(int argc, char **argv, plot_args *a)
{
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(s, "--out") && i + 1 < argc) {
            a->out = argv[++i];
        } else if (!strcmp(s, "--group")) {
            a->group = 1;
        } else if (!strcmp(s, "--by") && i + 1 < argc) {
            free(a->by_buf);
            a->by_buf = strdup(argv[++i]);
            a->n_by = 0;
            for (char *t = a->by_buf ? strtok(a->by_buf, ",") : NULL; t && a->n_by < 64;
                 t = strtok(NULL, ","))
                a->by[a->n_by++] = t;
            a->group = 1;
        } else if (!strcmp(s, "--x") && i + 1 < argc) {
            const char *x = argv[++i];
            if (strcmp(x, "iterations") && strcmp(x, "env_steps")) {
                fprintf(stderr, "mtrl plot: --x '%s': expected iterations or env_steps\n", x);
                return 2;
            }
            a->env_steps = !strcmp(x, "env_steps");
        } else if (s[0] == '-' || a->n_runs == MAX_DIRS) {
            fprintf(stderr, "mtrl plot: unexpected argument '%s' (mtrl plot --help)\n", s);
            return 2;
        } else {
            a->runs[a->n_runs++] = s;
        }
    }
    if (!a->n_runs) {
        usage(stderr);
        return 2;
    }
    if (!a->out) {
        snprintf(a->def_out, sizeof a->def_out, "%s/curves.svg", a->runs[0]);
        a->out = a->def_out;
    }
    return -1;
}

/* Group curves, when asked for or when the runs form groups of several
 * seeds of one setting: -1 if not, else the exit code. */
static int plot_if_grouped(const plot_args *a)
{
    rep_run *rs;
    int nr, rc = -1;
    mtrl_err e = {0};
    rep_opts ro = {.stat = REP_STAT_MEAN, .bootstrap = 1, .at = -1, .n_by = a->n_by, .by = a->by};
    rep_report *rp = NULL;
    int lrc = rep_find_runs(a->runs, a->n_runs, &rs, &nr, &e);
    if (!lrc)
        lrc = rep_report_create(&rp, rs, nr, &ro, &e);
    int multi = 0;
    for (int g = 0; !lrc && g < rep_report_n_groups(rp); g++)
        multi |= rep_report_group(rp, g)->n > 1;
    if (a->group && lrc) {
        fprintf(stderr, "mtrl plot: %s\n", e.msg);
        rc = err_exit_code(lrc);
    } else if (!lrc && (a->group || multi)) {
        rc = plot_groups(rp, a->env_steps, a->out);
    }
    rep_report_destroy(rp);
    return rc;
}

/* Panel 1: the mean evaluation success of every run. */
static void runs_panel(FILE *o, const plot_args *a, const plot_csv *ev, double xmax)
{
    plot_panel p1 = {90, 40, 780, 260, 0, xmax, 0, 1};
    plot_panel_frame(o, &p1, "mean evaluation success", "iteration", "success");
    for (int r = 0; r < a->n_runs; r++) {
        const char *c = plot_color(r);
        plot_polyline(o, &p1, &ev[r], 0, plot_csv_col(&ev[r], "success"), c, 2);
        plot_legend(o, &p1, r, c, a->runs[r]);
    }
}

/* Panel 2: the per-task evaluation success of one run. */
static void tasks_panel(FILE *o, const plot_csv *ev, double xmax)
{
    plot_panel p2 = {90, 370, 780, 260, 0, xmax, 0, 1};
    plot_panel_frame(o, &p2, "per-task evaluation success (first run)", "iteration", "success");
    int li = 0;
    for (int c = 0; c < ev->n_cols; c++) {
        if (strncmp(ev->names[c], "success_", 8))
            continue;
        const char *col = plot_color(li);
        plot_polyline(o, &p2, ev, 0, c, col, 1.5);
        plot_legend(o, &p2, li++, col, ev->names[c] + 8);
    }
}

/* Panel 3: the training episode return, if train.csv has it. */
static void return_panel(FILE *o, const plot_csv *tr)
{
    int cr = plot_csv_col(tr, "return");
    if (cr < 0)
        return;
    double lo = INFINITY, hi = -INFINITY, x0 = 0, x1 = 1;
    plot_col_range(tr, cr, &lo, &hi);
    plot_col_range(tr, 0, &x0, &x1);
    if (!(hi > lo))
        lo = 0, hi = 1;
    plot_panel p3 = {90, 700, 780, 240, 0, x1, lo, hi};
    plot_panel_frame(o, &p3, "training episode return (mean over tasks)", "iteration", "return");
    plot_polyline(o, &p3, tr, 0, cr, plot_color(0), 1.5);
}

/* The per-run curves; tr: the first run's train.csv, or NULL. */
static int write_runs_svg(const plot_args *a, const plot_csv *ev, const plot_csv *tr)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *o = open_memstream(&buf, &len);
    if (!o)
        return 1;
    double W = 1100, H = tr ? 1000 : 700;
    fprintf(o, "<svg xmlns='http://www.w3.org/2000/svg' width='%.0f' height='%.0f' "
               "font-family='sans-serif'>\n<rect width='100%%' height='100%%' fill='white'/>\n",
            W, H);
    double xmax = 1;
    for (int r = 0; r < a->n_runs; r++) {
        double lo = 0;
        plot_col_range(&ev[r], 0, &lo, &xmax);
    }
    runs_panel(o, a, ev, xmax);
    tasks_panel(o, &ev[0], xmax);
    if (tr)
        return_panel(o, tr);
    fprintf(o, "</svg>\n");
    fclose(o);
    int rc = plot_svg_write(a->out, buf, len);
    free(buf);
    return rc;
}

/* One curve per run, from the runs' eval.csv and the first's train.csv. */
static int plot_runs(const plot_args *a)
{
    plot_csv ev[MAX_RUNS], tr;
    char err[512] = "", path[4200];
    int rc = 2, loaded = 0;
    for (; loaded < a->n_runs; loaded++) {
        snprintf(path, sizeof path, "%s/eval.csv", a->runs[loaded]);
        if (plot_csv_read(path, &ev[loaded], err, sizeof err) || plot_csv_col(&ev[loaded], "success") < 0) {
            fprintf(stderr, "mtrl plot: %s\n", err[0] ? err : "no success column");
            goto done;
        }
    }
    snprintf(path, sizeof path, "%s/train.csv", a->runs[0]);
    int have_train = plot_csv_read(path, &tr, err, sizeof err) == 0;
    rc = write_runs_svg(a, ev, have_train ? &tr : NULL);
    if (have_train)
        plot_csv_free(&tr);
done:
    for (int r = 0; r < loaded; r++)
        plot_csv_free(&ev[r]);
    return rc;
}

int cmd_plot(int argc, char **argv)
{
    plot_args a = {0};
    int rc = plot_parse_args(argc, argv, &a);
    if (rc < 0)
        rc = plot_if_grouped(&a);
    free(a.by_buf);
    if (rc >= 0)
        return rc;
    if (a.n_runs > MAX_RUNS) {
        fprintf(stderr, "mtrl plot: at most %d runs as separate curves\n", MAX_RUNS);
        return 2;
    }
    return plot_runs(&a);
}
