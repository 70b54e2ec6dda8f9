#include "progress.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "timer.h"

#define PROG_RATE_TAU 10.0 /* seconds the smoothed rate looks back */

struct prog {
    int64_t total;
    int tty;
    FILE *out;
    double plain_s, tty_s;
    int started;
    double t0;       /* time of the first update */
    int64_t step0;   /* step at the first update (a resumed run starts late) */
    double last_print;
    double rate_t;   /* time and step of the last rate sample */
    int64_t rate_step;
    double rate;     /* smoothed steps per second; < 0 until known */
    int64_t step;
    int shown;       /* a terminal line is on screen */
    char status[128];
};

prog *prog_create(int64_t total, int tty)
{
    prog *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->total = total;
    p->tty = tty < 0 ? isatty(STDERR_FILENO) : tty != 0;
    p->out = stderr;
    p->plain_s = 10.0;
    p->tty_s = 0.1;
    p->rate = -1;
    return p;
}

void prog_destroy(prog *p) { free(p); }

void prog_set_stream(prog *p, FILE *out)
{
    if (p && out)
        p->out = out;
}

void prog_set_interval(prog *p, double plain_s, double tty_s)
{
    if (!p)
        return;
    if (plain_s >= 0)
        p->plain_s = plain_s;
    if (tty_s >= 0)
        p->tty_s = tty_s;
}

static void fmt_dur(char *b, size_t cap, double s)
{
    if (!isfinite(s) || s < 0) {
        snprintf(b, cap, "?");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 86400)
        snprintf(b, cap, "%ldd%02ldh", t / 86400, t % 86400 / 3600);
    else
        snprintf(b, cap, "%ld:%02ld:%02ld", t / 3600, t % 3600 / 60, t % 60);
}

static void fmt_rate(char *b, size_t cap, double r)
{
    if (r < 0 || !isfinite(r))
        snprintf(b, cap, "?");
    else
        snprintf(b, cap, r >= 100 ? "%.0f" : "%.1f", r);
}

static size_t build_line(prog *p, char *b, size_t cap, double now, double rate, int final)
{
    char rs[32], el[32], eta[32];
    fmt_rate(rs, sizeof rs, rate);
    fmt_dur(el, sizeof el, now - p->t0);
    size_t k;
    if (p->total > 0) {
        double pct = 100.0 * (double)p->step / (double)p->total;
        k = (size_t)snprintf(b, cap, "%lld/%lld (%.1f%%) %s steps/s",
                             (long long)p->step, (long long)p->total, pct, rs);
        if (!final) {
            double left = (double)(p->total - p->step);
            fmt_dur(eta, sizeof eta, rate > 0 ? left / rate : -1);
            k += (size_t)snprintf(b + k, k < cap ? cap - k : 0, " ETA %s", eta);
        }
    } else {
        k = (size_t)snprintf(b, cap, "%lld steps %s steps/s", (long long)p->step, rs);
    }
    if (k < cap)
        k += (size_t)snprintf(b + k, cap - k, final ? " done in %s" : " elapsed %s", el);
    if (p->status[0] && k < cap)
        k += (size_t)snprintf(b + k, cap - k, " | %s", p->status);
    return k < cap ? k : cap - 1;
}

static int term_width(FILE *out)
{
    struct winsize ws;
    if (ioctl(fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 10)
        return ws.ws_col;
    return 80;
}

static void emit(prog *p, double now, double rate, int final)
{
    char line[512];
    size_t len = build_line(p, line, sizeof line, now, rate, final);
    if (p->tty) {
        /* A line wider than the terminal wraps, and \r then only returns to
         * the start of the last row: the old text would pile up. */
        size_t w = (size_t)term_width(p->out) - 1;
        if (len > w)
            len = w;
        fprintf(p->out, "\r%.*s\033[K%s", (int)len, line, final ? "\n" : "");
        p->shown = !final;
    } else {
        fprintf(p->out, "%.*s\n", (int)len, line);
    }
    fflush(p->out);
    p->last_print = now;
}

static void set_status(prog *p, const char *status)
{
    if (!status)
        return;
    size_t i = 0;
    for (; status[i] && i < sizeof p->status - 1; i++) {
        char c = status[i];
        p->status[i] = (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
    }
    p->status[i] = '\0';
}

void prog_update_at(prog *p, int64_t step, const char *status, double now)
{
    if (!p)
        return;
    set_status(p, status);
    p->step = step;
    if (!p->started) {
        p->started = 1;
        p->t0 = p->last_print = p->rate_t = now;
        p->step0 = p->rate_step = step;
        return;
    }
    double interval = p->tty ? p->tty_s : p->plain_s;
    if (now - p->last_print < interval)
        return;
    double dt = now - p->rate_t;
    if (dt > 0) {
        double inst = (double)(step - p->rate_step) / dt;
        double a = 1.0 - exp(-dt / PROG_RATE_TAU);
        p->rate = p->rate < 0 ? inst : p->rate + a * (inst - p->rate);
        p->rate_t = now;
        p->rate_step = step;
    }
    emit(p, now, p->rate, 0);
}

void prog_update(prog *p, int64_t step, const char *status)
{
    prog_update_at(p, step, status, tm_now());
}

void prog_clear(prog *p)
{
    if (!p || !p->tty || !p->shown)
        return;
    fprintf(p->out, "\r\033[K");
    fflush(p->out);
    p->shown = 0;
    p->last_print = -INFINITY; /* redraw at the next update */
}

void prog_finish_at(prog *p, double now)
{
    if (!p)
        return;
    if (!p->started) {
        p->started = 1;
        p->t0 = now;
        p->step0 = p->step;
    }
    double dt = now - p->t0;
    double avg = dt > 0 ? (double)(p->step - p->step0) / dt : -1;
    emit(p, now, avg, 1);
}

void prog_finish(prog *p) { prog_finish_at(p, tm_now()); }
