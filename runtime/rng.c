/* rng.c — the runtime's counter-based random numbers and parameter
 * initialisation.
 *
 * Every value is a pure function of (seed, counter), so a kernel can draw
 * element i's number from any thread in any order and get the same bits; no
 * generator state exists anywhere. The generator is SplitMix64's output
 * function over a Weyl sequence (see kernels_internal.h), which passes
 * BigCrush as a stream; the seed is hashed first so that nearby seeds start
 * far apart on the sequence.
 */
#include <math.h>

#include "dist.h"
#include "kernels_internal.h"

uint64_t rt_rng_key(uint64_t seed)
{
    /* The extra constant keeps seed 0 from mapping to key 0, whose first
     * draw would be rt_rng_mix(0) = 0. */
    return rt_rng_mix(seed ^ 0x6a09e667f3bcc909ull);
}

uint64_t rt_rand_u64(uint64_t seed, uint64_t counter)
{
    return rt_rng_mix(rt_rng_key(seed) + counter * RT_RNG_WEYL);
}

/* The top 24 bits, so every value is exactly representable as a float and
 * 1.0 can never come out of rounding. */
float rt_rand_uniform(uint64_t seed, uint64_t counter)
{
    return (float)(rt_rand_u64(seed, counter) >> 40) * 0x1p-24f;
}

/* Box–Muller, cosine branch only, so one draw per counter. Its two uniforms
 * come from counters 2c and 2c+1; u1 is taken in (0, 1] (53 bits) so the
 * logarithm is finite. The arithmetic is in double: the result's tail then
 * reaches about 8.6 standard deviations instead of float's 5.6. */
float rt_rand_normal(uint64_t seed, uint64_t counter)
{
    uint64_t key = rt_rng_key(seed);
    uint64_t h1 = rt_rng_mix(key + (2 * counter) * RT_RNG_WEYL);
    uint64_t h2 = rt_rng_mix(key + (2 * counter + 1) * RT_RNG_WEYL);
    double u1 = (double)((h1 >> 11) + 1) * 0x1p-53;
    double u2 = (double)(h2 >> 11) * 0x1p-53;
    return (float)(sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
}

void rt_noise(int64_t n, bool uniform, uint64_t seed, float *out)
{
    /* a rank of a data-parallel run draws its samples' part of the global
     * batch's noise, as one process would */
    uint64_t first = (uint64_t)rt_dist_element_offset(n);
    if (uniform)
        for (int64_t i = 0; i < n; i++)
            out[i] = 2.0f * rt_rand_uniform(seed, first + (uint64_t)i) - 1.0f;
    else
        for (int64_t i = 0; i < n; i++)
            out[i] = rt_rand_normal(seed, first + (uint64_t)i);
}

typedef struct init_task {
    rt_init kind;
    float scale; /* std for the normal kinds, bound for the uniform one */
    uint64_t seed;
    int64_t n;
    float *w;
} init_task;

enum { INIT_CHUNK = 1 << 16 };

static void init_chunk(void *ctx, int64_t chunk)
{
    const init_task *t = ctx;
    int64_t begin = chunk * INIT_CHUNK;
    int64_t end = begin + INIT_CHUNK < t->n ? begin + INIT_CHUNK : t->n;
    switch (t->kind) {
    case RT_INIT_ZEROS:
        for (int64_t i = begin; i < end; i++)
            t->w[i] = 0.0f;
        break;
    case RT_INIT_ONES:
        for (int64_t i = begin; i < end; i++)
            t->w[i] = 1.0f;
        break;
    case RT_INIT_HE_NORMAL:
    case RT_INIT_NORMAL_002:
        for (int64_t i = begin; i < end; i++)
            t->w[i] = t->scale * rt_rand_normal(t->seed, (uint64_t)i);
        break;
    case RT_INIT_GLOROT_UNIFORM:
        /* 2u - 1 is exact in float for a 24-bit u, and lies in [-1, 1). */
        for (int64_t i = begin; i < end; i++)
            t->w[i] = t->scale * (2.0f * rt_rand_uniform(t->seed, (uint64_t)i) - 1.0f);
        break;
    }
}

/* w (n). He: std sqrt(2/fan_in). Glorot: bound sqrt(6/(fan_in+fan_out)).
 * NORMAL_002: std 0.02. Element i depends only on (seed, i). */
void rt_init_tensor(rt_init kind, int64_t fan_in, int64_t fan_out, uint64_t seed,
                    int64_t n, float *w)
{
    init_task t = { .kind = kind, .scale = 0.0f, .seed = seed, .n = n, .w = w };
    switch (kind) {
    case RT_INIT_ZEROS:
    case RT_INIT_ONES:
        break;
    case RT_INIT_HE_NORMAL:
        t.scale = (float)sqrt(2.0 / (double)(fan_in > 0 ? fan_in : 1));
        break;
    case RT_INIT_GLOROT_UNIFORM:
        t.scale = (float)sqrt(6.0 / (double)(fan_in + fan_out > 0 ? fan_in + fan_out : 1));
        break;
    case RT_INIT_NORMAL_002:
        t.scale = 0.02f;
        break;
    }
    if (n <= 0)
        return;
    int64_t chunks = (n + INIT_CHUNK - 1) / INIT_CHUNK;
    if (chunks == 1)
        init_chunk(&t, 0);
    else
        rt_parallel_for(chunks, init_chunk, &t);
}
