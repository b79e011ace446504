/* latency_main.c — batch-1 inference latency of one generated program,
 * linked by bench_train.c with the program's emitted C (-DPROGRAM=name_program).
 * Prints the median and the 10th percentile of single forward calls in
 * microseconds, after warm-up, with the thread count given.
 * rt_model_forward runs the program's generated forward function, the one
 * the inference artefact's NAME_predict and `./NAME predict` run too.
 *
 * What profiles of it taught (perf record -e cpu-clock; this VM has no
 * hardware counters): mlp.net at batch 1 is all rt_gemm_short_avx512,
 * memory-bound (2.1 MB of weights from L3 per call), so the kernel's
 * reading order is what matters: one weight row after another, 27 us
 * against 54 us for four rows interleaved. LeNet at batch 1 was 50% conv2's
 * GEMM (rt_gemm_kernel_avx512_direct_at at the FMA peak), im2col 17%, fc1
 * 10%, conv1's GEMM 8%, bias and ReLU 5%, pooling 5% (one thread, 56 us);
 * with the direct tiles (conv_forward.c's forward_direct: no im2col, bias,
 * ReLU and pool in registers) it is 86% rt_conv_avx512_direct_tile (conv2
 * about 31 us, conv1 8) and 11% fc1, 45 us; on two threads 19% of the
 * samples are the pool's threads waiting at the three hand-overs.
 * Session 6: mlp.net on one thread (22.5 us quiet) is within 5% of a bare
 * read of its 2.1 MB of weights in the same order (21.3 us); its forward
 * is the three short products and nothing else (alone, from L3: 16.1 +
 * 5.9 + 0.1 us; the second is 3.3 us when in L2): the 20 us
 * target on one thread is below what the L3 delivers to one core without
 * reading fewer bytes. What did not help is listed at
 * rt_gemm_short_avx512. */
#include "netrt.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

extern const rt_program PROGRAM;

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec * 1e-3;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    rt_threads_init(threads);
    char err[256];
    rt_model *m = rt_model_new(&PROGRAM, 1, 1, err, sizeof err);
    if (!m) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    float *x = calloc((size_t)PROGRAM.x_size, sizeof *x), *out = calloc((size_t)PROGRAM.out_size, sizeof *out);
    for (int64_t i = 0; i < PROGRAM.x_size; i++)
        x[i] = (float)(i % 29) / 29.0f;
    enum { RUNS = 3000 };
    static double t[RUNS];
    for (int i = 0; i < 300; i++)
        rt_model_forward(m, x, out, 1);
    for (int i = 0; i < RUNS; i++) {
        double t0 = now_us();
        rt_model_forward(m, x, out, 1);
        t[i] = now_us() - t0;
    }
    qsort(t, RUNS, sizeof t[0], cmp);
    printf("%.1f %.1f\n", t[RUNS / 2], t[RUNS / 10]);
    rt_model_free(m);
    return 0;
}
