/* bench_rt_gemm.c — GFLOP/s of rt_sgemm on the MLP's shapes (forward and
 * both backward products of each dense layer, batch 128) and a few square
 * sizes, per ISA path, with 1 and 2 threads.
 *
 * Each figure is the median of 7 timed samples after 30 ms of warm-up; a
 * sample repeats the call until it lasts at least 5 ms, so the small
 * shapes are not timer noise. The machine is shared: a figure far below
 * its neighbours usually means another process took a core. Operands are allocated once per shape and
 * stay in cache the way they would in a training step.
 */
#include "benchutil.h" /* now, compare_doubles, SAMPLES, the measured peak */
#include "netrt.h"

/* WARMUP_SECONDS (benchutil.h): the first milliseconds after a switch of
 * ISA or thread count ran 20-50% slow (clock ramp, pool start, cold
 * caches): with a single warm-up call the 2 ms samples of the small shapes
 * read half what a longer run does. */

typedef struct shape {
    const char *name;
    bool ta, tb;
    int M, N, K;
} shape;

static const shape shapes[] = {
    {"fc1 fwd  X W", false, false, 128, 512, 784},
    {"fc1 dW  X^T dY", true, false, 784, 512, 128},
    {"fc1 dX  dY W^T", false, true, 128, 784, 512},
    {"fc2 fwd  H W", false, false, 128, 256, 512},
    {"fc2 dW  H^T dY", true, false, 512, 256, 128},
    {"fc2 dX  dY W^T", false, true, 128, 512, 256},
    {"fc3 fwd  H W", false, false, 128, 10, 256},
    {"fc3 dW  H^T dY", true, false, 256, 10, 128},
    {"fc3 dX  dY W^T", false, true, 128, 256, 10},
    {"square 256", false, false, 256, 256, 256},
    {"square 512", false, false, 512, 512, 512},
    {"square 1024", false, false, 1024, 1024, 1024},
};

static void fill(float *x, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)(seed >> 8) / 16777216.0f - 0.5f;
    }
}

/* Median seconds of one call. */
static double time_gemm(const shape *s, const float *A, const float *B, float *C)
{
    int lda = s->ta ? s->M : s->K, ldb = s->tb ? s->K : s->N;
    double t0 = now(), once = 0;
    for (int calls = 1;; calls++) {
        rt_sgemm(s->ta, s->tb, s->M, s->N, s->K, 1.0f, A, lda, B, ldb, 0.0f, C, s->N);
        once = (now() - t0) / calls;
        if (now() - t0 >= WARMUP_SECONDS)
            break;
    }
    int reps = once >= MIN_SAMPLE_SECONDS ? 1 : (int)(MIN_SAMPLE_SECONDS / (once + 1e-9)) + 1;
    double samples[SAMPLES];
    for (int i = 0; i < SAMPLES; i++) {
        t0 = now();
        for (int r = 0; r < reps; r++)
            rt_sgemm(s->ta, s->tb, s->M, s->N, s->K, 1.0f, A, lda, B, ldb, 0.0f, C, s->N);
        samples[i] = (now() - t0) / reps;
    }
    qsort(samples, SAMPLES, sizeof samples[0], compare_doubles);
    return samples[SAMPLES / 2];
}

int main(void)
{
    printf("rt_sgemm GFLOP/s, median of %d; %% of peak = %.0f GFLOP/s per core (FP32 FMA), "
           "x2 for 2 threads; march %s\n\n",
           SAMPLES, PEAK_GFLOPS_PER_CORE, rt_cpu_march());
    printf("%-16s %5s %5s %5s  %-9s %9s %7s %9s %7s %8s\n", "shape", "M", "N", "K", "isa",
           "1 thread", "% peak", "2 threads", "% peak", "speedup");
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const shape *s = &shapes[i];
        size_t an = (size_t)s->M * s->K, bn = (size_t)s->K * s->N, cn = (size_t)s->M * s->N;
        float *A = malloc(an * sizeof *A), *B = malloc(bn * sizeof *B), *C = malloc(cn * sizeof *C);
        if (!A || !B || !C) {
            fprintf(stderr, "bench_rt_gemm: out of memory for %s\n", s->name);
            return 1;
        }
        fill(A, an, 1);
        fill(B, bn, 2);
        double flops = 2.0 * s->M * s->N * s->K;
        for (int isa = RT_ISA_AVX512; isa >= RT_ISA_PORTABLE; isa--) {
            if (!rt_isa_set((rt_isa)isa))
                continue;
            double gflops[2];
            for (int t = 1; t <= 2; t++) {
                rt_threads_init(t);
                gflops[t - 1] = flops / time_gemm(s, A, B, C) * 1e-9;
            }
            printf("%-16s %5d %5d %5d  %-9s %9.1f %6.0f%% %9.1f %6.0f%% %7.2fx\n", s->name, s->M,
                   s->N, s->K, rt_isa_name((rt_isa)isa), gflops[0],
                   100 * gflops[0] / PEAK_GFLOPS_PER_CORE, gflops[1],
                   100 * gflops[1] / (2 * PEAK_GFLOPS_PER_CORE), gflops[1] / gflops[0]);
        }
        free(A);
        free(B);
        free(C);
    }
    rt_threads_shutdown();
    return 0;
}
