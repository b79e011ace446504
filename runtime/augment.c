/* augment.c — on-the-fly data augmentation of one image sample (C,H,W).
 *
 * Every random choice is rt_rand_* at a counter derived from the sample's
 * counter, the transform's position in the list and the draw's purpose, so
 * a sample's augmentation depends on (seed, sample_counter) alone: not on
 * the thread that runs it, the batch it falls in, or what ran before.
 *
 * Geometric transforms map each output pixel back to the input (so there
 * are no holes) and read `fill` outside the image; bilinear sampling is a
 * convex combination of pixels and fill, so values stay within
 * [min(in, fill), max(in, fill)]. Transforms after the first work on the
 * previous one's output, ping-ponging between out and a scratch buffer.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netrt.h"
#include "util.h"

/* Draws per transform reserved in the counter space, and transforms per
 * sample: counter = (sample * MAX_TRANSFORMS + index) * DRAWS + draw. */
#define DRAWS 8
#define MAX_TRANSFORMS 64

static uint64_t draw_counter(uint64_t sample, int index, int draw)
{
    return (sample * MAX_TRANSFORMS + (uint64_t)index) * DRAWS + (uint64_t)draw;
}

/* Uniform in [lo, hi]. */
static float uniform_in(uint64_t seed, uint64_t counter, float lo, float hi)
{
    return lo + (hi - lo) * rt_rand_uniform(seed, counter);
}

/* Uniform integer in [-a, a]. */
static int64_t uniform_int(uint64_t seed, uint64_t counter, int64_t a)
{
    if (a <= 0)
        return 0;
    return (int64_t)(rt_rand_u64(seed, counter) % (uint64_t)(2 * a + 1)) - a;
}

static float pixel_or_fill(const float *plane, int64_t h, int64_t w, int64_t y, int64_t x,
                           float fill)
{
    return y >= 0 && y < h && x >= 0 && x < w ? plane[y * w + x] : fill;
}

/* out(y, x) = in(sy, sx), bilinear, with (sx, sy) = centre + M (x, y) - centre
 * for the 2x2 matrix m = {m00, m01, m10, m11} (output to input). */
static void warp(int64_t c, int64_t h, int64_t w, const float m[4], float fill, const float *in,
                 float *out)
{
    double cy = (double)(h - 1) / 2, cx = (double)(w - 1) / 2;
    for (int64_t ch = 0; ch < c; ch++) {
        const float *plane = in + ch * h * w;
        float *o = out + ch * h * w;
        for (int64_t y = 0; y < h; y++)
            for (int64_t x = 0; x < w; x++) {
                double dx = (double)x - cx, dy = (double)y - cy;
                double sx = cx + m[0] * dx + m[1] * dy;
                double sy = cy + m[2] * dx + m[3] * dy;
                double fx0 = floor(sx), fy0 = floor(sy);
                int64_t x0 = (int64_t)fx0, y0 = (int64_t)fy0;
                float fx = (float)(sx - fx0), fy = (float)(sy - fy0);
                float v00 = pixel_or_fill(plane, h, w, y0, x0, fill);
                float v01 = fx > 0 ? pixel_or_fill(plane, h, w, y0, x0 + 1, fill) : v00;
                float v10 = fy > 0 ? pixel_or_fill(plane, h, w, y0 + 1, x0, fill) : v00;
                float v11 = fx > 0 && fy > 0 ? pixel_or_fill(plane, h, w, y0 + 1, x0 + 1, fill)
                                             : fx > 0 ? v01 : v10;
                float top = v00 + fx * (v01 - v00), bottom = v10 + fx * (v11 - v10);
                float v = top + fy * (bottom - top);
                /* v00 + f (v01 - v00) can round a hair outside [v00, v01]. */
                float lo = fminf(fminf(v00, v01), fminf(v10, v11));
                float hi = fmaxf(fmaxf(v00, v01), fmaxf(v10, v11));
                o[y * w + x] = fminf(fmaxf(v, lo), hi);
            }
    }
}

static void shift(int64_t c, int64_t h, int64_t w, int64_t sy, int64_t sx, float fill,
                  const float *in, float *out)
{
    for (int64_t ch = 0; ch < c; ch++)
        for (int64_t y = 0; y < h; y++)
            for (int64_t x = 0; x < w; x++)
                out[(ch * h + y) * w + x] = pixel_or_fill(in + ch * h * w, h, w, y - sy, x - sx, fill);
}

static void flip(int64_t c, int64_t h, int64_t w, bool horizontal, const float *in, float *out)
{
    for (int64_t ch = 0; ch < c; ch++)
        for (int64_t y = 0; y < h; y++)
            for (int64_t x = 0; x < w; x++) {
                int64_t sy = horizontal ? y : h - 1 - y, sx = horizontal ? w - 1 - x : x;
                out[(ch * h + y) * w + x] = in[(ch * h + sy) * w + sx];
            }
}

/* One transform: src -> dst (distinct buffers). */
static void apply(const rt_augment *a, int index, int64_t c, int64_t h, int64_t w, float fill,
                  uint64_t seed, uint64_t sample, const float *src, float *dst)
{
    int64_t n = c * h * w;
    switch (a->kind) {
    case RT_AUG_FLIP_H:
    case RT_AUG_FLIP_V:
        if (rt_rand_uniform(seed, draw_counter(sample, index, 0)) < 0.5f)
            flip(c, h, w, a->kind == RT_AUG_FLIP_H, src, dst);
        else
            memcpy(dst, src, (size_t)n * sizeof *dst);
        return;
    case RT_AUG_SHIFT: {
        int64_t max = (int64_t)a->a;
        int64_t sy = uniform_int(seed, draw_counter(sample, index, 0), max);
        int64_t sx = uniform_int(seed, draw_counter(sample, index, 1), max);
        shift(c, h, w, sy, sx, fill, src, dst);
        return;
    }
    case RT_AUG_ROTATE: {
        double deg = uniform_in(seed, draw_counter(sample, index, 0), -a->a, a->a);
        double rad = deg * M_PI / 180.0;
        /* Output to input is the inverse rotation. */
        float cs = (float)cos(rad), sn = (float)sin(rad);
        float m[4] = { cs, sn, -sn, cs };
        warp(c, h, w, m, fill, src, dst);
        return;
    }
    case RT_AUG_SCALE: {
        float s = uniform_in(seed, draw_counter(sample, index, 0), a->a, a->b);
        if (!(s > 0.0f)) {
            fprintf(stderr, "%s:%d: netrt: rt_augment_sample: scale factor %g is not positive\n",
                    __FILE__, __LINE__, (double)s);
            abort();
        }
        float inv = 1.0f / s;
        float m[4] = { inv, 0.0f, 0.0f, inv };
        warp(c, h, w, m, fill, src, dst);
        return;
    }
    case RT_AUG_NOISE: {
        /* Per-pixel draws from a key that is itself a draw of this sample. */
        uint64_t key = rt_rand_u64(seed, draw_counter(sample, index, 0));
        for (int64_t i = 0; i < n; i++)
            dst[i] = src[i] + a->a * rt_rand_normal(key, (uint64_t)i);
        return;
    }
    }
}

/* Scratch for chains of two or more transforms. */
static float *scratch_for(int64_t size)
{
    return rt_thread_scratch(RT_SCRATCH_AUGMENT, (size_t)size * sizeof(float));
}

// in, out (C,H,W)
void rt_augment_sample(const rt_augment *list, int n, int64_t c, int64_t h, int64_t w,
                       float fill, uint64_t seed, uint64_t sample_counter, const float *in,
                       float *out)
{
    int64_t size = c * h * w;
    if (n > MAX_TRANSFORMS) {
        fprintf(stderr, "%s:%d: netrt: rt_augment_sample: %d transforms, at most %d\n",
                __FILE__, __LINE__, n, MAX_TRANSFORMS);
        abort();
    }
    if (n <= 0) {
        memcpy(out, in, (size_t)size * sizeof *out);
        return;
    }
    float *scratch = n > 1 ? scratch_for(size) : NULL;
    /* Ping-pong so that the last transform writes out. */
    const float *src = in;
    for (int i = 0; i < n; i++) {
        float *dst = (n - 1 - i) % 2 == 0 ? out : scratch;
        apply(&list[i], i, c, h, w, fill, seed, sample_counter, src, dst);
        src = dst;
    }
}
