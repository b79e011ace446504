/* benchutil.h — the timing the runtime benchmarks share: a median of
 * repeated calls after a warm-up, in seconds; and what the training
 * benchmarks share (a model binary's reported rate, FLOPs per sample). */
#ifndef BENCHUTIL_H
#define BENCHUTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <immintrin.h>

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

/* One core's FP32 FMA peak, measured in this run: 12 independent chains of
 * fused multiply-adds on the widest vectors the CPU has (12 hide the FMA
 * latency on Zen 4 and Zen 5), best of 10 runs of about 3 ms (24 million
 * FMAs each) after one of warm-up. The figure differs between the
 * project's machines (Zen 4's half-width AVX-512 measured about 116
 * GFLOP/s, Zen 5 about 220 sustained), so no constant serves. The runs
 * used to be 0.3 ms, five of them: a measurement of 1.5 ms, which one
 * interruption could spoil (a Zen 5 run of bench_rt_gemm printed a peak
 * of 145 and percentages of it above 100), and which read a boost of up
 * to 234 that 3-ms runs do not see. */
#define PEAK_CHAINS 12
#define PEAK_ROUNDS 2000000

/* The chains as named variables (an array of vectors stayed in memory,
 * and the store-to-load latency capped the loop at a third of the peak). */
#define PEAK_BODY(VT, set1, fma)                                                                  \
    VT m = set1(0.999999f), a = set1(1e-7f);                                                      \
    VT c0 = set1(0), c1 = set1(1), c2 = set1(2), c3 = set1(3), c4 = set1(4), c5 = set1(5);         \
    VT c6 = set1(6), c7 = set1(7), c8 = set1(8), c9 = set1(9), c10 = set1(10), c11 = set1(11);     \
    double t0 = now();                                                                            \
    for (int r = 0; r < PEAK_ROUNDS; r++) {                                                       \
        c0 = fma(c0, m, a); c1 = fma(c1, m, a); c2 = fma(c2, m, a); c3 = fma(c3, m, a);           \
        c4 = fma(c4, m, a); c5 = fma(c5, m, a); c6 = fma(c6, m, a); c7 = fma(c7, m, a);           \
        c8 = fma(c8, m, a); c9 = fma(c9, m, a); c10 = fma(c10, m, a); c11 = fma(c11, m, a);       \
    }                                                                                             \
    double t = now() - t0;                                                                        \
    VT sum[12] = { c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11 };                            \
    volatile float sink = 0;                                                                      \
    for (int i = 0; i < 12; i++)                                                                  \
        sink += sum[i][0];

__attribute__((target("avx512f"), noinline)) static double peak_avx512_run(void)
{
    PEAK_BODY(__m512, _mm512_set1_ps, _mm512_fmadd_ps)
    return (double)PEAK_ROUNDS * PEAK_CHAINS * 16 * 2 / t * 1e-9;
}

__attribute__((target("avx2,fma"), noinline)) static double peak_avx2_run(void)
{
    PEAK_BODY(__m256, _mm256_set1_ps, _mm256_fmadd_ps)
    return (double)PEAK_ROUNDS * PEAK_CHAINS * 8 * 2 / t * 1e-9;
}

/* Portable: scalar multiply-adds the compiler may vectorise for SSE2. */
__attribute__((noinline)) static double peak_portable_run(void)
{
    float acc[PEAK_CHAINS];
    for (int i = 0; i < PEAK_CHAINS; i++)
        acc[i] = (float)i;
    double t0 = now();
    for (int r = 0; r < PEAK_ROUNDS; r++)
        for (int i = 0; i < PEAK_CHAINS; i++)
            acc[i] = acc[i] * 0.999999f + 1e-7f;
    double t = now() - t0;
    volatile float sink = acc[0] + acc[PEAK_CHAINS - 1];
    (void)sink;
    return (double)PEAK_ROUNDS * PEAK_CHAINS * 2 / t * 1e-9;
}

static inline double bench_peak_gflops(void)
{
    static double peak;
    if (peak > 0)
        return peak;
    double (*run)(void) = __builtin_cpu_supports("avx512f")                                 ? peak_avx512_run
                          : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? peak_avx2_run
                                                                                            : peak_portable_run;
    run();
    for (int i = 0; i < 10; i++) {
        double g = run();
        if (g > peak)
            peak = g;
    }
    return peak;
}
#define PEAK_GFLOPS_PER_CORE bench_peak_gflops()

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

/* ------------------------------------ the training benchmarks' share */

/* The best of three runs' samples/s, as `EXE train --steps STEPS --threads
 * THREADS` reports it last (bench_train, bench_finetune); exits naming
 * `who` when a run fails. */
static inline double bench_train_rate(const char *who, const char *exe, int threads, int steps)
{
    double best = 0;
    for (int r = 0; r < 3; r++) {
        char cmd[1024], line[512];
        snprintf(cmd, sizeof cmd, "%s train --steps %d --threads %d 2>&1", exe, steps, threads);
        FILE *p = popen(cmd, "r");
        double rate = 0;
        while (p && fgets(line, sizeof line, p)) {
            char *at = strstr(line, " samples/s");
            if (!at)
                continue;
            char *start = at, digits[64];
            while (start > line && start[-1] != ' ')
                start--;
            size_t k = 0;
            for (char *q = start; q < at && k + 1 < sizeof digits; q++)
                if (*q != ',')
                    digits[k++] = *q;
            digits[k] = '\0';
            rate = strtod(digits, NULL);
        }
        if (!p || pclose(p) != 0 || rate <= 0) {
            fprintf(stderr, "%s: '%s' failed\n", who, cmd);
            exit(1);
        }
        best = rate > best ? rate : best;
    }
    return best;
}

#ifdef COMPILER_H
/* FLOPs per training sample of the .net file's first train block, from
 * the compiler's cost model over its training graph. */
static inline int64_t bench_train_flops(const char *path)
{
    Compiler c;
    if (!source_load(&c, path, stderr) || !compile_front(&c))
        exit(1);
    TrainGraph tg;
    if (!autodiff_build(&c, &c.prog->trains[0], 0, &tg))
        exit(1);
    int64_t flops = 0;
    for (uint32_t i = 0; i < tg.g->nnodes; i++)
        flops += summary_node_flops(c.prog, tg.g, &tg.g->nodes[i]);
    compiler_free(&c);
    return flops;
}
#endif

#endif
