/* mtrl combine: applies one multi-task combiner to a gradient matrix stored
 * in HDF5, so the combiners can be used and checked from outside (h5py,
 * numpy) and timed on real gradient dumps. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli/combine_input.h"
#include "core/h5io.h"
#include "core/rng.h"
#include "mtl/mtl.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: mtrl combine --method M --input G.h5 [--output d.h5] [options]\n"
            "       mtrl combine --method M --random K,P [--repeat N] [options]\n\n"
            "Reads the dataset G (K x P float32: row k = task k's gradient) from G.h5,\n"
            "combines its rows into one update vector and writes d.h5 with the datasets\n"
            "d (P, float32) and w (K, float32; d = G^T w), and the method and settings\n"
            "as attributes. Prints |g0|, |d|, conflicts and the time per call.\n"
            "famo also reads the dataset losses (K per-task losses >= 0; --random draws\n"
            "them in [0.5, 2]); aligned_mtl_ub reads rep_gram (K x K Gram of the task\n"
            "gradients w.r.t. a shared representation) if the file has one, and is\n"
            "aligned_mtl on G's own Gram otherwise.\n"
            "Exit 2 if G or the losses hold NaN/Inf (nothing is written then).\n\n"
            "  --method M        mean | sum | pcgrad | cagrad | cagrad_fast | mgda |\n"
            "                    aligned_mtl | aligned_mtl_ub | imtl_g | graddrop | rlw |\n"
            "                    nash_mtl | famo | upgrad | dualproj | config\n"
            "  --input FILE      HDF5 file with the gradient matrix\n"
            "  --output FILE     HDF5 file to write (replaced atomically; optional)\n"
            "  --random K,P      instead of --input: a random K x P matrix (seeded by\n"
            "                    --seed; shared direction plus noise), for timing\n"
            "  --dataset NAME    dataset to read instead of G\n"
            "  --c C             CAGrad radius (default 0.5)\n"
            "  --seed S          seed of the combiner's random draws (default 0)\n"
            "  --subset N        CAGrad-Fast: number of sampled tasks |S| (default 4)\n"
            "  --fast-gram R     CAGrad-Fast Gram route: full | subset (default full)\n"
            "  --rescale R       CAGrad divisor: default | none | c2 | c\n"
            "  --steps N         CAGrad dual solver steps (default 20)\n"
            "  --lr X            CAGrad dual step size (default: 25, 50 for 50 rows)\n"
            "  --momentum X      CAGrad dual momentum (default 0.5)\n"
            "  --mgda-raw        MGDA on the raw rows instead of l2-normalised ones\n"
            "  --graddrop-k X    GradDrop sign-purity factor (default 1)\n"
            "  --rlw-dist D      RLW weights: dirichlet | normal (default dirichlet)\n"
            "  --nash-every N    Nash-MTL: solve every N calls, reuse between (default 1)\n"
            "  --nash-iters N    Nash-MTL: Newton steps at most (default 20)\n"
            "  --nash-max-norm X Nash-MTL: scale d down to norm X (default 0: off)\n"
            "  --famo-lr X       FAMO logit step size (default 0.025)\n"
            "  --famo-gamma X    FAMO logit weight decay (default 0.01)\n"
            "  --famo-scale S    FAMO weights: paper | mtrl (default paper)\n"
            "  --upgrad-norm-eps X  UPGrad/DualProj: trace below X gives the mean (1e-4)\n"
            "  --upgrad-reg-eps X   UPGrad/DualProj: ridge on the normalised Gram (1e-4)\n"
            "  --repeat N        run N times and print the mean time per call\n"
            "                    (d and w are those of the first call)\n"
            "  -h, --help        this help\n");
}

static int parse_double(const char *opt, const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end) {
        fprintf(stderr, "mtrl combine: %s needs a number, got '%s'\n", opt, s);
        return 2;
    }
    *out = v;
    return 0;
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

int cmd_combine(int argc, char **argv)
{
    const char *method = NULL, *in = NULL, *out = NULL, *dset = "G";
    const char *fast_gram = NULL, *rescale = NULL, *random = NULL, *rlw_dist = NULL,
               *famo_scale = NULL;
    double c = 0, lr = 0, mom = 0;
    long seed = 0, subset = 0, steps = 0, repeat = 1;
    int raw = 0, have_c = 0, have_mom = 0, have_steps = 0, have_subset = 0;
    /* The other methods' numeric settings: value and whether it was given. */
    double gd_k = 0, nash_max = 0, famo_lr = 0, famo_gamma = 0, up_norm = 0, up_reg = 0;
    long nash_every = 0, nash_iters = 0;
    int have_gd_k = 0, have_nash_max = 0, have_famo_lr = 0, have_famo_gamma = 0,
        have_up_norm = 0, have_up_reg = 0, have_nash_every = 0, have_nash_iters = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--mgda-raw")) {
            raw = 1;
            continue;
        }
        static const char *const valued[] = {"--method", "--input", "--output", "--dataset",
                                             "--c", "--seed", "--subset", "--fast-gram",
                                             "--rescale", "--steps", "--lr", "--momentum",
                                             "--repeat", "--random", "--graddrop-k",
                                             "--rlw-dist", "--nash-every", "--nash-iters",
                                             "--nash-max-norm", "--famo-lr", "--famo-gamma",
                                             "--famo-scale", "--upgrad-norm-eps",
                                             "--upgrad-reg-eps"};
        int known = 0;
        for (size_t j = 0; j < sizeof valued / sizeof *valued; j++)
            known |= !strcmp(a, valued[j]);
        if (!known) {
            fprintf(stderr, "mtrl combine: unknown argument '%s' (mtrl combine --help)\n", a);
            return 2;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "mtrl combine: %s needs a value\n", a);
            return 2;
        }
        const char *v = argv[++i];
        int rc = 0;
        if (!strcmp(a, "--method"))
            method = v;
        else if (!strcmp(a, "--input"))
            in = v;
        else if (!strcmp(a, "--output"))
            out = v;
        else if (!strcmp(a, "--dataset"))
            dset = v;
        else if (!strcmp(a, "--fast-gram"))
            fast_gram = v;
        else if (!strcmp(a, "--rescale"))
            rescale = v;
        else if (!strcmp(a, "--random"))
            random = v;
        else if (!strcmp(a, "--rlw-dist"))
            rlw_dist = v;
        else if (!strcmp(a, "--famo-scale"))
            famo_scale = v;
        else if (!strcmp(a, "--graddrop-k"))
            rc = parse_double(a, v, &gd_k), have_gd_k = 1;
        else if (!strcmp(a, "--nash-max-norm"))
            rc = parse_double(a, v, &nash_max), have_nash_max = 1;
        else if (!strcmp(a, "--famo-lr"))
            rc = parse_double(a, v, &famo_lr), have_famo_lr = 1;
        else if (!strcmp(a, "--famo-gamma"))
            rc = parse_double(a, v, &famo_gamma), have_famo_gamma = 1;
        else if (!strcmp(a, "--upgrad-norm-eps"))
            rc = parse_double(a, v, &up_norm), have_up_norm = 1;
        else if (!strcmp(a, "--upgrad-reg-eps"))
            rc = parse_double(a, v, &up_reg), have_up_reg = 1;
        else if (!strcmp(a, "--nash-every"))
            rc = cli_parse_long("combine", a, v, 1, 1000000000, &nash_every), have_nash_every = 1;
        else if (!strcmp(a, "--nash-iters"))
            rc = cli_parse_long("combine", a, v, 1, 1000, &nash_iters), have_nash_iters = 1;
        else if (!strcmp(a, "--c"))
            rc = parse_double(a, v, &c), have_c = 1;
        else if (!strcmp(a, "--lr"))
            rc = parse_double(a, v, &lr);
        else if (!strcmp(a, "--momentum"))
            rc = parse_double(a, v, &mom), have_mom = 1;
        else if (!strcmp(a, "--seed"))
            rc = cli_parse_long("combine", a, v, 0, 0x7fffffffffffffffL, &seed);
        else if (!strcmp(a, "--subset"))
            rc = cli_parse_long("combine", a, v, 1, 1000000, &subset), have_subset = 1;
        else if (!strcmp(a, "--steps"))
            rc = cli_parse_long("combine", a, v, 0, 100000, &steps), have_steps = 1;
        else
            rc = cli_parse_long("combine", a, v, 1, 1000000, &repeat);
        if (rc)
            return rc;
    }
    if (!method || !in == !random) {
        fprintf(stderr, "mtrl combine: --method and one of --input or --random are required\n");
        usage(stderr);
        return 2;
    }
    long rk = 0, rp = 0;
    if (random) {
        char *end;
        errno = 0;
        rk = strtol(random, &end, 10);
        if (!errno && *end == ',')
            rp = strtol(end + 1, &end, 10);
        if (errno || *end || rk < 1 || rk > 100000 || rp < 1 || rp > 2147483647L) {
            fprintf(stderr, "mtrl combine: --random needs K,P (e.g. 10,656002), got '%s'\n",
                    random);
            return 2;
        }
    }

    mtrl_err err = {0};
    mtl_options o;
    mtl_method m;
    mtl_rescale rs = MTL_RESCALE_DEFAULT;
    mtl_fast_gram fg = MTL_FAST_GRAM_FULL;
    mtl_rlw_dist rd = MTL_RLW_DIRICHLET;
    mtl_famo_scale fsc = MTL_FAMO_PAPER;
    if (mtl_method_parse(method, &m, &err) || (rescale && mtl_rescale_parse(rescale, &rs, &err)) ||
        (fast_gram && mtl_fast_gram_parse(fast_gram, &fg, &err)) ||
        (rlw_dist && mtl_rlw_dist_parse(rlw_dist, &rd, &err)) ||
        (famo_scale && mtl_famo_scale_parse(famo_scale, &fsc, &err))) {
        fprintf(stderr, "mtrl combine: %s\n", err.msg);
        return 2;
    }
    mtl_options_default(&o, m);
    /* Out-of-range values are refused by mtl_create with the option's name. */
    if (have_c)
        o.c = c;
    o.lr = lr;
    if (have_mom)
        o.momentum = mom;
    if (have_steps)
        o.steps = (int)steps;
    if (have_subset)
        o.fast_subset = (int)subset;
    o.rescale = rs;
    o.fast_gram = fg;
    o.mgda_normalize = !raw;
    o.rlw_dist = rd;
    o.famo_scale = fsc;
    if (have_gd_k)
        o.graddrop_k = gd_k;
    if (have_nash_every)
        o.nash_update_every = (int)nash_every;
    if (have_nash_iters)
        o.nash_iters = (int)nash_iters;
    if (have_nash_max)
        o.nash_max_norm = nash_max;
    if (have_famo_lr)
        o.famo_lr = famo_lr;
    if (have_famo_gamma)
        o.famo_gamma = famo_gamma;
    if (have_up_norm)
        o.upgrad_norm_eps = up_norm;
    if (have_up_reg)
        o.upgrad_reg_eps = up_reg;
    o.seed = (uint64_t)seed;
    const int want_losses = m == MTL_FAMO, want_rep = m == MTL_ALIGNED_MTL_UB;

    h5_file *f = NULL;
    int rc;
    long dims[2];
    float *G = NULL, *d = NULL, *w = NULL, *scratch = NULL, *losses = NULL, *rep = NULL;
    mtl_combiner *comb = NULL;
    if (random) {
        G = malloc(sizeof(float) * (size_t)rk * (size_t)rp);
        if (!G) {
            fprintf(stderr, "mtrl combine: out of memory for a %ld x %ld matrix\n", rk, rp);
            return 1;
        }
        random_G(rk, rp, (uint64_t)seed, G);
        dims[0] = rk, dims[1] = rp;
        in = "(random)";
        if (want_losses) {
            rng_state r;
            rng_seed(&r, (uint64_t)seed, RNG_STREAM_INIT + 1);
            if (!(losses = malloc(sizeof(float) * (size_t)rk))) {
                free(G);
                fprintf(stderr, "mtrl combine: out of memory\n");
                return 1;
            }
            for (long k = 0; k < rk; k++)
                losses[k] = (float)rng_range(&r, 0.5, 2.0);
        }
    } else {
        combine_input ci;
        if ((rc = combine_input_read(in, dset, want_losses, want_rep, &ci, &err))) {
            fprintf(stderr, "mtrl combine: %s\n", err.msg);
            return err_exit_code(rc);
        }
        G = ci.G, losses = ci.losses, rep = ci.rep_gram;
        dims[0] = ci.K, dims[1] = ci.P;
    }
    const int K = (int)dims[0];
    const long P = dims[1];
    if ((rc = mtl_create(&comb, K, P, &o, &err))) {
        fprintf(stderr, "mtrl combine: %s\n", err.msg);
        free(G), free(losses), free(rep);
        return err_exit_code(rc);
    }
    d = malloc(sizeof(float) * P);
    w = malloc(sizeof(float) * K);
    if (repeat > 1)
        scratch = malloc(sizeof(float) * P);
    if (!d || !w || (repeat > 1 && !scratch)) {
        fprintf(stderr, "mtrl combine: out of memory for P = %ld\n", P);
        rc = 1;
        goto done;
    }
    mtl_stats st, first = {0};
    double tg = 0, ts = 0, tc = 0, tmin = INFINITY;
    for (long r = 0; r < repeat; r++) {
        /* d and w of the first call are the ones written; later calls (with
         * their own draws) only add to the timing. */
        mtl_input min = {.k = K, .G = G, .losses = losses, .rep_gram = rep};
        if ((rc = mtl_combine_in(comb, &min, r == 0 ? d : scratch, &st, &err))) {
            fprintf(stderr, "mtrl combine: %s\n", err.msg);
            rc = err_exit_code(rc);
            goto done;
        }
        if (r == 0) {
            first = st;
            memcpy(w, st.w, sizeof(float) * K);
            if (st.nonfinite) {
                /* The inputs were checked finite when read: what overflowed is
                 * the Gram or the result. */
                fprintf(stderr, "mtrl combine: %s: '%s' holds values so large that its "
                                "Gram or the update overflows float; nothing written\n",
                        in, dset);
                rc = 2;
                goto done;
            }
        }
        tg += st.t_gram, ts += st.t_solve, tc += st.t_combine;
        tmin = fmin(tmin, st.t_gram + st.t_solve + st.t_combine);
    }

    long kd = K;
    if (out && ((rc = h5_create(&f, out, &err)) || (rc = h5_write_f32(f, "d", 1, &P, d, &err)) ||
        (rc = h5_write_f32(f, "w", 1, &kd, w, &err)) ||
        (rc = h5_write_attr_str(f, NULL, "method", mtl_method_name(m), &err)) ||
        (rc = h5_write_attr_f64(f, NULL, "c", o.c, &err)) ||
        (rc = h5_write_attr_i64(f, NULL, "seed", seed, &err)) ||
        (rc = h5_write_attr_i64(f, NULL, "fast_subset", o.fast_subset, &err)) ||
        (rc = h5_write_attr_str(f, NULL, "input", in, &err)) ||
        (rc = h5_write_attr_f64(f, NULL, "d_norm", first.d_norm, &err)) ||
        (rc = h5_write_attr_f64(f, NULL, "g0_norm", first.g0_norm, &err)))) {
        fprintf(stderr, "mtrl combine: %s\n", err.msg);
        h5_abort(f);
        rc = err_exit_code(rc);
        goto done;
    }
    if (out && (rc = h5_commit(f, &err))) {
        fprintf(stderr, "mtrl combine: %s\n", err.msg);
        rc = err_exit_code(rc);
        goto done;
    }
    printf("%s: K %d, P %ld, |g0| %.6g, |d| %.6g", mtl_method_name(m), K, P, first.g0_norm,
           first.d_norm);
    if (first.gram)
        printf(", min cos %.4f, %d conflicting pairs", first.min_cos, first.n_conflicts);
    if (first.fallback)
        printf(", no solution: previous weights kept");
    printf("\ntime per call (mean of %ld): gram %.3f ms, solve %.3f ms, combine %.3f ms, "
           "total %.3f ms (fastest %.3f ms)\n",
           repeat, 1e3 * tg / repeat, 1e3 * ts / repeat, 1e3 * tc / repeat,
           1e3 * (tg + ts + tc) / repeat, 1e3 * tmin);
    if (out)
        printf("wrote %s\n", out);
    rc = 0;
done:
    mtl_destroy(comb);
    free(G);
    free(d);
    free(w);
    free(scratch);
    free(losses);
    free(rep);
    return rc;
}
