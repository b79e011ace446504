/* gradcheck_main.c — linked with one generated program (model `m`) by
 * test_gradcheck.c: compares every parameter gradient that train_step
 * returns with central finite differences of the loss it returns: eight
 * entries of each tensor, or every entry with GRADCHECK_ALL=1 in the
 * environment. A model that takes token ids (i32) gets ids drawn from
 * [0, x_vocab), which repeat within and across its samples when there are
 * more positions than ids.
 * Not a suite of its own: the Makefile builds tests/test_*.c only. */
#include "netrt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const rt_program m_program;

enum { BATCH = 3 };

/* Deterministic inputs, independent of the runtime's generator. */
static float fill(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return (float)((*s >> 8) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}

static double loss_at(const rt_program *p, float *params, float *grads, const void *x, const void *y, float *arena)
{
    /* the same dropout masks at every evaluation: the seed is fixed */
    return p->train_step(params, grads, x, y, BATCH, arena, 12345) / BATCH;
}

int main(void)
{
    const rt_program *p = &m_program;
    uint32_t s = 2463534242u;
    float *params = calloc((size_t)p->param_floats, sizeof *params);
    float *grads = calloc((size_t)p->param_floats, sizeof *grads);
    float *scratch = calloc((size_t)p->param_floats, sizeof *scratch);
    float *arena = aligned_alloc(64, ((size_t)p->train_arena_floats * BATCH * 4 + 63) / 64 * 64 + 64);
    void *x = calloc((size_t)p->x_size * BATCH, 4);
    void *y = calloc((size_t)p->y_size * BATCH, 4);
    if (!params || !grads || !scratch || !arena || !x || !y)
        return 2;
    for (int i = 0; i < p->nparams; i++)
        for (int64_t k = 0; k < p->params[i].count; k++)
            params[p->params[i].offset + k] = 0.5f * fill(&s);
    int64_t vocab = p->x_vocab > 0 ? p->x_vocab : 1;
    for (int64_t i = 0; i < p->x_size * BATCH; i++) {
        if (p->x_dtype == RT_I32)
            ((int32_t *)x)[i] = (int32_t)((fill(&s) * 0.5f + 0.5f) * (float)vocab) % (int32_t)vocab;
        else
            ((float *)x)[i] = fill(&s);
    }
    int64_t classes = p->out_dims[p->out_rank - 1];
    for (int64_t i = 0; i < p->y_size * BATCH; i++) {
        if (p->y_dtype == RT_I32)
            ((int32_t *)y)[i] = (int32_t)((fill(&s) * 0.5f + 0.5f) * (float)classes) % (int32_t)classes;
        else
            ((float *)y)[i] = fill(&s) * 0.5f + 0.5f;
    }
    loss_at(p, params, grads, x, y, arena);
    int checked = 0, failed = 0;
    /* h: large enough that float rounding of the loss (~1e-7 relative)
     * stays far below the difference, small enough for the O(h^2) term */
    const double h = 4e-3;
    for (int i = 0; i < p->nparams; i++) {
        const rt_param_desc *d = &p->params[i];
        if (!d->trainable)
            continue;
        int64_t picks[8] = { 0, d->count - 1, d->count / 2, d->count / 3, (d->count * 2) / 3, d->count / 5, 1, d->count / 7 };
        bool all = getenv("GRADCHECK_ALL") != NULL;
        for (int64_t k = 0; k < (all ? d->count : 8); k++) {
            int64_t idx = d->offset + (all ? k : picks[k] < d->count ? picks[k] : 0);
            float keep = params[idx];
            params[idx] = keep + (float)h;
            double up = loss_at(p, params, scratch, x, y, arena);
            params[idx] = keep - (float)h;
            double down = loss_at(p, params, scratch, x, y, arena);
            params[idx] = keep;
            double fd = (up - down) / (2 * h), g = grads[idx];
            checked++;
            /* tolerance: absolute 1e-3 for gradients near zero, else 3%;
             * a ReLU kink inside [x-h, x+h] would show as a large miss */
            if (fabs(g - fd) > 1e-3 + 3e-2 * fabs(fd)) {
                failed++;
                fprintf(stderr, "%s[%lld]: analytic %.6g, finite difference %.6g\n", d->name,
                        (long long)(idx - d->offset), g, fd);
            }
        }
    }
    printf("%d gradients checked, %d off\n", checked, failed);
    free(params);
    free(grads);
    free(scratch);
    free(arena);
    free(x);
    free(y);
    rt_threads_shutdown();
    return failed ? 1 : 0;
}
