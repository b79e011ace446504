/* benchutil.h — the timing the runtime benchmarks share: a median of
 * repeated calls after a warm-up, in seconds. */
#ifndef BENCHUTIL_H
#define BENCHUTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define PEAK_GFLOPS_PER_CORE 116.0
#define SAMPLES 7
#define MIN_SAMPLE_SECONDS 0.005
#define WARMUP_SECONDS 0.03

static inline double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef void (*bench_fn)(void *ctx);

/* Median seconds of one call of fn: SAMPLES samples, each of as many calls
 * as fill MIN_SAMPLE_SECONDS, after WARMUP_SECONDS of calls. */
static inline double time_it(bench_fn fn, void *ctx)
{
    double t0 = now();
    while (now() - t0 < WARMUP_SECONDS)
        fn(ctx);
    double samples[SAMPLES];
    for (int s = 0; s < SAMPLES; s++) {
        int64_t calls = 0;
        double start = now(), elapsed;
        do {
            fn(ctx);
            calls++;
            elapsed = now() - start;
        } while (elapsed < MIN_SAMPLE_SECONDS);
        samples[s] = elapsed / (double)calls;
    }
    qsort(samples, SAMPLES, sizeof samples[0], compare_doubles);
    return samples[SAMPLES / 2];
}

/* n floats, 64-byte aligned (at least one), uniform in [-scale/2,
 * scale/2) from a linear congruential generator seeded with seed; exits
 * when memory runs out. */
static inline float *bench_floats(int64_t n, unsigned seed, float scale)
{
    float *x = aligned_alloc(64, ((size_t)(n > 0 ? n : 1) * sizeof(float) + 63) / 64 * 64);
    if (!x) {
        fprintf(stderr, "benchmark: out of memory\n");
        exit(1);
    }
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = ((float)(seed >> 8) / 16777216.0f - 0.5f) * scale;
    }
    return x;
}

#endif
