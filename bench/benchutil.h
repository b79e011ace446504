/* benchutil.h — the timing the runtime benchmarks share: a median of
 * repeated calls after a warm-up, in seconds. */
#ifndef BENCHUTIL_H
#define BENCHUTIL_H

#include <stdint.h>
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

#endif
