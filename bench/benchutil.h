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
