/* plot_svg: what mtrl plot draws with: a run log (CSV of numbers) read into
 * a table, and SVG panels (frame, axes, lines, legend) in pixel boxes.
 * Written for mtrl plot alone; plain SVG text, no plotting library. */
#ifndef MTRL_CLI_PLOT_SVG_H
#define MTRL_CLI_PLOT_SVG_H

#include <stddef.h>
#include <stdio.h>

#define PLOT_MAX_COLS 128

typedef struct plot_csv {
    int n_cols, n_rows;
    char *names[PLOT_MAX_COLS];
    double *v; /* n_rows x n_cols */
} plot_csv;

/* Reads a CSV written by runlog (header line, numeric rows); on failure
 * says why in err. */
int plot_csv_read(const char *path, plot_csv *t, char *err, size_t cap);
void plot_csv_free(plot_csv *t);
/* The index of column name, or -1. */
int plot_csv_col(const plot_csv *t, const char *name);
/* Widens [*lo, *hi] to the finite values of column c. */
void plot_col_range(const plot_csv *t, int c, double *lo, double *hi);

typedef struct plot_panel {
    double x0, y0, w, h;        /* pixel box */
    double xmin, xmax, ymin, ymax;
} plot_panel;

/* Data coordinates to pixels. */
double plot_px(const plot_panel *p, double x);
double plot_py(const plot_panel *p, double y);
/* The i-th colour of the palette (it repeats after 10). */
const char *plot_color(int i);
/* The panel's box, title, grid, tick labels and axis labels. */
void plot_panel_frame(FILE *o, const plot_panel *p, const char *title, const char *xlabel,
                      const char *ylabel);
/* Column cy over column cx of t as one line (non-finite points skipped). */
void plot_polyline(FILE *o, const plot_panel *p, const plot_csv *t, int cx, int cy,
                   const char *color, double width);
/* Legend entry i, right of the panel. */
void plot_legend(FILE *o, const plot_panel *p, int i, const char *color, const char *label);
/* label with the XML specials escaped, into esc (cap bytes). */
void plot_xml_escape(const char *label, char *esc, size_t cap);
/* Writes the SVG in buf to out (atomically) and its path on stdout; the
 * exit code (1 and the reason on stderr if it cannot). */
int plot_svg_write(const char *out, const char *buf, size_t len);

#endif
