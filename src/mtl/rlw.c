/* Random loss weighting (Lin et al., TMLR 2022) as Kurin et al. ran it in RL
 * (spec/mtl-methods.md §6): fresh weights at every call, lambda = K x
 * Dirichlet(1, ..., 1) or K x softmax(N(0, I)), so E[d] is the sum of the
 * rows. The Dirichlet draw is normalised Gamma draws; the Gamma sampler is
 * here rather than in core because only this method needs it. */
#include "mtl/mtl_impl.h"

#include <math.h>

double mtl_gamma_draw(rng_state *r, double shape)
{
    /* Shape < 1: Gamma(a) = Gamma(a + 1) U^(1/a) (Marsaglia & Tsang's boost). */
    double boost = 1;
    if (shape < 1) {
        double u = 1.0 - rng_uniform(r); /* (0, 1] */
        boost = pow(u, 1 / shape);
        shape += 1;
    }
    const double dd = shape - 1.0 / 3.0, cc = 1 / sqrt(9 * dd);
    for (;;) {
        double x = rng_normal(r), v = 1 + cc * x;
        if (v <= 0)
            continue;
        v = v * v * v;
        double u = rng_uniform(r), x2 = x * x;
        if (u < 1 - 0.0331 * x2 * x2)
            return dd * v * boost;
        if (u > 0 && log(u) < 0.5 * x2 + dd * (1 - v + log(v)))
            return dd * v * boost;
    }
}

void mtl_rlw_weights(mtl_combiner *c, const mtl_input *in, mtl_stats *st)
{
    (void)st;
    const int k = in->k;
    double s = 0;
    if (c->o.rlw_dist == MTL_RLW_DIRICHLET) {
        for (int g = 0; g < k; g++)
            s += (c->wd[g] = mtl_gamma_draw(&c->rng, 1.0));
    } else {
        double mx = -INFINITY;
        for (int g = 0; g < k; g++)
            mx = fmax(mx, c->wd[g] = rng_normal(&c->rng));
        for (int g = 0; g < k; g++)
            s += (c->wd[g] = exp(c->wd[g] - mx));
    }
    for (int g = 0; g < k; g++)
        c->wd[g] *= k / s;
}
