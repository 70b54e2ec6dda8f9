/* plot_svg: what mtrl plot draws with (see plot_svg.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/plot_svg.h"
#include "core/fsutil.h"

void plot_csv_free(plot_csv *t)
{
    for (int i = 0; i < t->n_cols; i++)
        free(t->names[i]);
    free(t->v);
    memset(t, 0, sizeof *t);
}

/* Reads a CSV written by runlog (header line, numeric rows). */
int plot_csv_read(const char *path, plot_csv *t, char *err, size_t cap)
{
    memset(t, 0, sizeof *t);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, cap, "cannot open %s (was the run evaluated yet?)", path);
        return -1;
    }
    static char line[1 << 16];
    if (!fgets(line, sizeof line, f)) {
        fclose(f);
        snprintf(err, cap, "%s is empty", path);
        return -1;
    }
    for (char *tok = strtok(line, ",\n"); tok && t->n_cols < PLOT_MAX_COLS; tok = strtok(NULL, ",\n"))
        t->names[t->n_cols++] = strdup(tok);
    int cap_rows = 0;
    while (fgets(line, sizeof line, f)) {
        if (t->n_rows == cap_rows) {
            cap_rows = cap_rows ? 2 * cap_rows : 256;
            t->v = realloc(t->v, (size_t)cap_rows * (size_t)t->n_cols * sizeof(double));
        }
        double *row = t->v + (size_t)t->n_rows * (size_t)t->n_cols;
        char *p = line;
        for (int c = 0; c < t->n_cols; c++) {
            row[c] = strtod(p, &p);
            if (*p == ',')
                p++;
        }
        t->n_rows++;
    }
    fclose(f);
    return 0;
}

int plot_csv_col(const plot_csv *t, const char *name)
{
    for (int i = 0; i < t->n_cols; i++)
        if (!strcmp(t->names[i], name))
            return i;
    return -1;
}

static const char *const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

double plot_px(const plot_panel *p, double x)
{
    return p->x0 + (x - p->xmin) / (p->xmax - p->xmin) * p->w;
}
double plot_py(const plot_panel *p, double y)
{
    return p->y0 + p->h - (y - p->ymin) / (p->ymax - p->ymin) * p->h;
}

const char *plot_color(int i)
{
    return palette[i % 10];
}

void plot_panel_frame(FILE *o, const plot_panel *p, const char *title, const char *xlabel,
                      const char *ylabel)
{
    fprintf(o, "<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' fill='none' stroke='#444'/>\n",
            p->x0, p->y0, p->w, p->h);
    fprintf(o, "<text x='%.1f' y='%.1f' font-size='14' font-weight='bold'>%s</text>\n", p->x0,
            p->y0 - 8, title);
    for (int i = 0; i <= 4; i++) {
        double y = p->ymin + (p->ymax - p->ymin) * i / 4, x = p->xmin + (p->xmax - p->xmin) * i / 4;
        fprintf(o, "<line x1='%.1f' x2='%.1f' y1='%.1f' y2='%.1f' stroke='#ddd'/>\n", p->x0,
                p->x0 + p->w, plot_py(p, y), plot_py(p, y));
        fprintf(o, "<text x='%.1f' y='%.1f' font-size='11' text-anchor='end'>%.3g</text>\n",
                p->x0 - 4, plot_py(p, y) + 4, y);
        fprintf(o, "<text x='%.1f' y='%.1f' font-size='11' text-anchor='middle'>%.0f</text>\n",
                plot_px(p, x), p->y0 + p->h + 14, x);
    }
    fprintf(o, "<text x='%.1f' y='%.1f' font-size='11' text-anchor='middle'>%s</text>\n",
            p->x0 + p->w / 2, p->y0 + p->h + 30, xlabel);
    fprintf(o, "<text x='%.1f' y='%.1f' font-size='11' transform='rotate(-90 %.1f %.1f)' "
               "text-anchor='middle'>%s</text>\n",
            p->x0 - 62, p->y0 + p->h / 2, p->x0 - 62, p->y0 + p->h / 2, ylabel);
}

void plot_polyline(FILE *o, const plot_panel *p, const plot_csv *t, int cx, int cy,
                   const char *color, double width)
{
    fprintf(o, "<polyline fill='none' stroke='%s' stroke-width='%.1f' points='", color, width);
    for (int r = 0; r < t->n_rows; r++) {
        double x = t->v[r * t->n_cols + cx], y = t->v[r * t->n_cols + cy];
        if (isfinite(x) && isfinite(y))
            fprintf(o, "%.1f,%.1f ", plot_px(p, x), plot_py(p, y));
    }
    fprintf(o, "'/>\n");
}

void plot_legend(FILE *o, const plot_panel *p, int i, const char *color, const char *label)
{
    double y = p->y0 + 14 + 14 * i;
    fprintf(o, "<line x1='%.1f' x2='%.1f' y1='%.1f' y2='%.1f' stroke='%s' stroke-width='2'/>\n",
            p->x0 + p->w + 10, p->x0 + p->w + 28, y - 4, y - 4, color);
    fprintf(o, "<text x='%.1f' y='%.1f' font-size='11'>%s</text>\n", p->x0 + p->w + 32, y, label);
}

void plot_col_range(const plot_csv *t, int c, double *lo, double *hi)
{
    for (int r = 0; r < t->n_rows; r++) {
        double v = t->v[r * t->n_cols + c];
        if (isfinite(v)) {
            *lo = fmin(*lo, v);
            *hi = fmax(*hi, v);
        }
    }
}

/* Writes the SVG in buf to out (atomically) and its path on stdout; the
 * exit code. */
int plot_svg_write(const char *out, const char *buf, size_t len)
{
    mtrl_err e = {0};
    if (fs_write_atomic(out, buf, len, &e)) {
        fprintf(stderr, "mtrl plot: %s\n", e.msg);
        return 1;
    }
    printf("%s\n", out);
    return 0;
}

/* label with the XML specials escaped (labels come from config values). */
void plot_xml_escape(const char *label, char *esc, size_t cap)
{
    size_t m = 0;
    for (const char *q = label; *q && m + 8 < cap; q++) {
        const char *rep = *q == '<' ? "&lt;" : *q == '>' ? "&gt;" : *q == '&' ? "&amp;"
                        : *q == '\'' ? "&apos;" : NULL;
        if (rep)
            m += (size_t)snprintf(esc + m, cap - m, "%s", rep);
        else
            esc[m++] = *q;
    }
    esc[m] = '\0';
}
