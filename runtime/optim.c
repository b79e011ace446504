/* optim.c — optimizers, learning-rate schedules and gradient clipping.
 *
 * The updates follow PyTorch's torch.optim (single-tensor code paths,
 * amsgrad off, dampening 0, RMSprop not centered) operation for operation,
 * so a run here and a run there with the same hyper-parameters can be
 * compared. Scalars that depend only on the step (bias corrections) are
 * computed in double, as PyTorch does in Python, then used in float.
 *
 * State layout: `state` holds per_param blocks of n floats, block b at
 * state + b * n, so every loop below streams through contiguous arrays.
 *
 * The updates have AVX2 and AVX-512 variants (kernels_simd.h, compiled in
 * kernels_avx2.c and kernels_avx512.c), chosen from rt_isa_current(): with errno-setting sqrtf
 * and unknown trip counts gcc -O2 vectorizes none of these loops. All paths
 * do the same float operations in the same order, so they agree bit for bit.
 */
#include <math.h>

#include "kernels_internal.h"

/* Parameters per task when threaded; large enough that a task outweighs its
 * hand-off, and the result never depends on how tasks are spread. */
enum { OPTIM_CHUNK = 1 << 16 };
enum { MAX_NORM_CHUNKS = 64 };

int rt_optimizer_state_per_param(const rt_optimizer *opt)
{
    switch (opt->kind) {
    case RT_OPT_SGD:
        return opt->momentum != 0.0f ? 1 : 0;
    case RT_OPT_ADAM:
    case RT_OPT_ADAMW:
        return 2;
    case RT_OPT_RMSPROP:
        return opt->momentum > 0.0f ? 2 : 1;
    }
    return 0;
}

typedef struct step_task {
    rt_isa isa;
    rt_opt_kind kind;
    rt_update u;
    int64_t n;
    float *params;
    const float *grads;
    float *state;
    int blocks; /* rt_optimizer_state_per_param */
} step_task;

/* p, g, buf (n).
 *   g = grad + wd * p
 *   buf = g at step 1, else momentum * buf + g      (dampening 0)
 *   g = nesterov ? g + momentum * buf : buf         (when momentum != 0)
 *   p -= lr * g */
static void sgd_portable(const rt_update *u, int64_t n, float *restrict p,
                         const float *restrict grad, float *restrict buf)
{
    const float lr = u->lr, wd = u->weight_decay, mu = u->momentum;
    if (mu == 0.0f) {
        for (int64_t i = 0; i < n; i++)
            p[i] = p[i] - lr * (grad[i] + wd * p[i]);
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        float g = grad[i] + wd * p[i];
        float b = u->first_step ? g : mu * buf[i] + g;
        buf[i] = b;
        p[i] = p[i] - lr * (u->nesterov ? g + mu * b : b);
    }
}

/* p, g, m, v (n).
 *   adam:  g = grad + wd * p          adamw: p *= 1 - lr * wd; g = grad
 *   m += (1 - beta1) (g - m)          (PyTorch's lerp)
 *   v = beta2 v + (1 - beta2) g^2
 *   p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps) */
static void adam_portable(const rt_update *u, int64_t n, float *restrict p,
                          const float *restrict grad, float *restrict m, float *restrict v)
{
    for (int64_t i = 0; i < n; i++) {
        float g = grad[i] + u->weight_decay * p[i];
        float decayed = p[i] * u->keep;
        float mi = m[i] + u->one_minus_beta1 * (g - m[i]);
        float vi = u->beta2 * v[i] + u->one_minus_beta2 * g * g;
        m[i] = mi;
        v[i] = vi;
        p[i] = decayed - u->step_size * (mi / (sqrtf(vi) / u->bc2_sqrt + u->eps));
    }
}

/* p, g, sq, buf (n).
 *   g = grad + wd * p
 *   sq = alpha sq + (1 - alpha) g^2
 *   d = g / (sqrt(sq) + eps)                        (eps outside the root)
 *   momentum > 0: buf = momentum buf + d; p -= lr buf    (buf starts at 0)
 *   otherwise:    p -= lr d */
static void rmsprop_portable(const rt_update *u, int64_t n, float *restrict p,
                             const float *restrict grad, float *restrict sq, float *restrict buf)
{
    for (int64_t i = 0; i < n; i++) {
        float g = grad[i] + u->weight_decay * p[i];
        float s = u->alpha * sq[i] + u->one_minus_alpha * g * g;
        sq[i] = s;
        float d = g / (sqrtf(s) + u->eps);
        if (u->momentum > 0.0f) {
            float b = u->momentum * buf[i] + d;
            buf[i] = b;
            d = b;
        }
        p[i] = p[i] - u->lr * d;
    }
}

/* The update `name` on the path `isa`: rt_avx512_name, rt_avx2_name (the
 * bodies of kernels_simd.h) or name_portable; a switch without default,
 * so -Wswitch names a path a new rt_isa lacks. */
#define ON_ISA(isa, name, ...)                                              \
    do {                                                                    \
        switch (isa) {                                                      \
        case RT_ISA_AVX512: rt_avx512_##name(__VA_ARGS__); break;           \
        case RT_ISA_AVX2: rt_avx2_##name(__VA_ARGS__); break;               \
        case RT_ISA_PORTABLE: name##_portable(__VA_ARGS__); break;          \
        }                                                                   \
    } while (0)

static void step_chunk(void *ctx, int64_t chunk)
{
    const step_task *t = ctx;
    int64_t begin = chunk * OPTIM_CHUNK;
    int64_t len = begin + OPTIM_CHUNK < t->n ? OPTIM_CHUNK : t->n - begin;
    float *p = t->params + begin;
    const float *g = t->grads + begin;
    /* Only blocks that exist are pointed at: state may be NULL for SGD
     * without momentum, and holds one block for RMSprop without it. */
    float *s0 = t->blocks > 0 ? t->state + begin : NULL;
    float *s1 = t->blocks > 1 ? t->state + t->n + begin : NULL;
    switch (t->kind) {
    case RT_OPT_SGD: ON_ISA(t->isa, sgd, &t->u, len, p, g, s0); break;
    case RT_OPT_ADAM:
    case RT_OPT_ADAMW: ON_ISA(t->isa, adam, &t->u, len, p, g, s0, s1); break;
    case RT_OPT_RMSPROP: ON_ISA(t->isa, rmsprop, &t->u, len, p, g, s0, s1); break;
    }
}

/* params (n), grads (n), state (n * rt_optimizer_state_per_param(opt)).
 * Without momentum, SGD's and RMSprop's second block is never touched, so
 * state may be NULL for SGD without momentum. */
void rt_optimizer_step(const rt_optimizer *opt, float lr, int64_t step, int64_t n,
                       float *params, const float *grads, float *state)
{
    if (n <= 0)
        return;
    step_task t = { .isa = rt_isa_current(), .kind = opt->kind, .n = n, .params = params,
                    .grads = grads, .state = state,
                    .blocks = rt_optimizer_state_per_param(opt) };
    rt_update *u = &t.u;
    u->lr = lr;
    u->weight_decay = opt->weight_decay;
    u->momentum = opt->momentum;
    u->first_step = step == 1;
    u->nesterov = opt->nesterov;
    u->eps = opt->eps;
    u->alpha = opt->alpha;
    u->one_minus_alpha = 1.0f - opt->alpha;
    if (opt->kind == RT_OPT_ADAM || opt->kind == RT_OPT_ADAMW) {
        double t_step = (double)step;
        u->keep = 1.0f;
        if (opt->kind == RT_OPT_ADAMW) {
            /* decoupled: the decay scales p, never enters the moments */
            u->keep = (float)(1.0 - (double)lr * (double)opt->weight_decay);
            u->weight_decay = 0.0f;
        }
        u->one_minus_beta1 = 1.0f - opt->beta1;
        u->beta2 = opt->beta2;
        u->one_minus_beta2 = 1.0f - opt->beta2;
        u->step_size = (float)((double)lr / (1.0 - pow((double)opt->beta1, t_step)));
        u->bc2_sqrt = (float)sqrt(1.0 - pow((double)opt->beta2, t_step));
    }
    int64_t chunks = (n + OPTIM_CHUNK - 1) / OPTIM_CHUNK;
    if (chunks == 1)
        step_chunk(&t, 0);
    else
        rt_parallel_for(chunks, step_chunk, &t);
}

/* The learning rate at 1-based `step` of `total`:
 *
 *   warm-up, step <= warmup:   base_lr * step / warmup
 *
 * after it, with s = step - warmup - 1 (0 at the first step after warm-up)
 * and span = total - warmup (the steps left):
 *
 *   constant:  base_lr
 *   step:      base_lr * gamma^floor(s / every)
 *              (the first `every` steps after warm-up run at base_lr, as
 *              PyTorch's StepLR stepped once after each optimizer step)
 *   cosine:    min_lr + (base_lr - min_lr) * (1 + cos(pi * s / (span - 1))) / 2
 *              so the first step after warm-up runs at base_lr and step
 *              `total` at exactly min_lr (CosineAnnealingLR, T_max = span - 1);
 *              steps past `total` stay at min_lr; span <= 1 runs at base_lr.
 */
float rt_schedule_lr(const rt_schedule *s, float base_lr, int64_t step, int64_t total)
{
    if (s->warmup > 0 && step <= s->warmup)
        return (float)((double)base_lr * (double)step / (double)s->warmup);
    int64_t after = step - (s->warmup > 0 ? s->warmup : 0) - 1;
    if (after < 0)
        after = 0;
    switch (s->kind) {
    case RT_SCHED_CONSTANT:
        return base_lr;
    case RT_SCHED_STEP: {
        if (s->every <= 0)
            return base_lr;
        return (float)((double)base_lr * pow((double)s->gamma, (double)(after / s->every)));
    }
    case RT_SCHED_COSINE: {
        int64_t span = total - (s->warmup > 0 ? s->warmup : 0);
        if (span <= 1)
            return base_lr;
        double progress = (double)after / (double)(span - 1);
        if (progress > 1.0)
            progress = 1.0;
        double lo = s->min_lr, hi = base_lr;
        return (float)(lo + (hi - lo) * 0.5 * (1.0 + cos(M_PI * progress)));
    }
    }
    return base_lr;
}

typedef struct norm_task {
    int64_t n, per_chunk;
    float *grads;
    float scale;
    double partial[MAX_NORM_CHUNKS];
} norm_task;

/* Eight running sums, element i into sum i % 8 (the tail into the
 * first), added pairwise at the end: the same order on every path. One
 * running sum made each addition wait for the previous one (4 cycles a
 * gradient): 1% of charlstm.net's and gpt.net's training (perf, one
 * thread). */
enum { NORM_LANES = 8 };

static void sum_squares_chunk(void *ctx, int64_t chunk)
{
    norm_task *t = ctx;
    int64_t begin = chunk * t->per_chunk;
    int64_t end = begin + t->per_chunk < t->n ? begin + t->per_chunk : t->n;
    const float *g = t->grads;
    double acc[NORM_LANES] = { 0 };
    int64_t i = begin;
    for (; i + NORM_LANES <= end; i += NORM_LANES)
        for (int l = 0; l < NORM_LANES; l++)
            acc[l] += (double)g[i + l] * g[i + l];
    for (; i < end; i++)
        acc[0] += (double)g[i] * g[i];
    t->partial[chunk] = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

static void scale_chunk(void *ctx, int64_t chunk)
{
    norm_task *t = ctx;
    int64_t begin = chunk * t->per_chunk;
    int64_t end = begin + t->per_chunk < t->n ? begin + t->per_chunk : t->n;
    for (int64_t i = begin; i < end; i++)
        t->grads[i] *= t->scale;
}

/* grads (n). The norm is summed in double over chunks fixed by n alone, so
 * it is the same for any thread count. When max_norm > 0 and the norm
 * exceeds it, grads are scaled by max_norm / (norm + 1e-6), PyTorch's
 * clip_grad_norm_ coefficient. */
double rt_clip_grad_norm(int64_t n, float *grads, float max_norm)
{
    if (n <= 0)
        return 0.0;
    norm_task t = { .n = n, .grads = grads };
    int64_t chunks = (n + OPTIM_CHUNK - 1) / OPTIM_CHUNK;
    if (chunks > MAX_NORM_CHUNKS)
        chunks = MAX_NORM_CHUNKS;
    t.per_chunk = (n + chunks - 1) / chunks;
    chunks = (n + t.per_chunk - 1) / t.per_chunk;
    if (chunks == 1)
        sum_squares_chunk(&t, 0);
    else
        rt_parallel_for(chunks, sum_squares_chunk, &t);
    double sum = 0.0;
    for (int64_t c = 0; c < chunks; c++)
        sum += t.partial[c];
    double norm = sqrt(sum);
    if (max_norm > 0.0f && norm > (double)max_norm) {
        t.scale = (float)((double)max_norm / (norm + 1e-6));
        if (chunks == 1)
            scale_chunk(&t, 0);
        else
            rt_parallel_for(chunks, scale_chunk, &t);
    }
    return norm;
}
