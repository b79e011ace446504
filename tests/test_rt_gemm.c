/* test_rt_gemm.c — GEMM against the double-accumulated reference on every
 * ISA path this CPU runs, with 1 and 2 threads; the thread pool; CPU
 * dispatch.
 *
 * Tolerance of a GEMM result c against the reference r (double sums,
 * rounded once): |c - r| <= 8 * FLT_EPSILON * sqrt(K + 2) * s, where
 * s = |alpha| * sum_k |a_mk b_kn| + |beta c_mn| is the magnitude the sum
 * passed through. Float rounding errors of a K-term sum grow like sqrt(K)
 * when they do not conspire; 8 ulps of headroom covers the alpha/beta
 * roundings. The epilogue adds the activation's own error: 2e-6 relative
 * plus 1e-6 absolute (vectorized tanh/exp are within a few ulps; the
 * absolute part covers tanh near 0 computed through exp).
 */
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "act_ref.h"
#include "kernels_internal.h"
#include "netrt.h"
#include "testutil.h"

extern char **environ;

/* ------------------------------------------------------------- helpers */

typedef struct gemm_case {
    bool ta, tb;
    int M, N, K;
    float alpha, beta;
    int pad;      /* added to every leading dimension */
    bool use_ep;
    rt_act act;
    bool bias, preact;
} gemm_case;

/* Runs one case on every ISA path with 1 and 2 threads; checks each result
 * against the reference and that thread counts agree bit for bit. */
static void check_case(const gemm_case *g)
{
    const int M = g->M, N = g->N, K = g->K;
    /* Stored shapes: A is (M,K) or (K,M), B is (K,N) or (N,K). */
    int a_rows = g->ta ? K : M, a_cols = g->ta ? M : K;
    int b_rows = g->tb ? N : K, b_cols = g->tb ? K : N;
    int lda = a_cols + g->pad, ldb = b_cols + g->pad, ldc = N + g->pad;
    size_t a_n = (size_t)a_rows * lda, b_n = (size_t)b_rows * ldb, c_n = (size_t)M * ldc;

    /* NaN everywhere a correct GEMM never reads (padding, and C when
     * beta == 0), so reading it shows up in the result. */
    float *A = alloc_floats(a_n), *B = alloc_floats(b_n), *C0 = alloc_floats(c_n);
    float *absA = alloc_floats(a_n), *absB = alloc_floats(b_n), *absC = alloc_floats(c_n);
    for (size_t i = 0; i < a_n; i++) A[i] = NAN;
    for (size_t i = 0; i < b_n; i++) B[i] = NAN;
    for (size_t i = 0; i < c_n; i++) C0[i] = NAN;
    for (int r = 0; r < a_rows; r++) test_fill(A + (size_t)r * lda, a_cols, 1000 + r);
    for (int r = 0; r < b_rows; r++) test_fill(B + (size_t)r * ldb, b_cols, 2000 + r);
    if (g->beta != 0.0f)
        for (int r = 0; r < M; r++) test_fill(C0 + (size_t)r * ldc, N, 3000 + r);
    for (size_t i = 0; i < a_n; i++) absA[i] = fabsf(A[i]);
    for (size_t i = 0; i < b_n; i++) absB[i] = fabsf(B[i]);
    for (size_t i = 0; i < c_n; i++) absC[i] = fabsf(C0[i]);
    float *bias = alloc_floats((size_t)N);
    test_fill(bias, N, 77);

    float *ref = alloc_floats(c_n), *mag = alloc_floats(c_n);
    memcpy(ref, C0, c_n * sizeof(float));
    memcpy(mag, absC, c_n * sizeof(float));
    rt_sgemm_reference(g->ta, g->tb, M, N, K, g->alpha, A, lda, B, ldb, g->beta, ref, ldc);
    rt_sgemm_reference(g->ta, g->tb, M, N, K, fabsf(g->alpha), absA, lda, absB, ldb,
                       fabsf(g->beta), mag, ldc);

    rt_epilogue ep = {g->bias ? bias : NULL, NULL, g->act, 0.1f};
    float *C = alloc_floats(c_n), *first = alloc_floats(c_n);
    float *pre = alloc_floats(c_n), *pre_first = alloc_floats(c_n);
    double gemm_tol_scale = 8.0 * FLT_EPSILON * sqrt(K + 2.0);

    for (int isa = RT_ISA_PORTABLE; isa <= (int)rt_cpu_best_isa(); isa++) {
        ck_assert(rt_isa_set((rt_isa)isa));
        for (int threads = 1; threads <= 2; threads++) {
            rt_threads_init(threads);
            memcpy(C, C0, c_n * sizeof(float));
            for (size_t i = 0; i < c_n; i++) pre[i] = -7.0f;
            ep.preact = g->preact ? pre : NULL;
            if (g->use_ep)
                rt_sgemm_ex(g->ta, g->tb, M, N, K, g->alpha, A, lda, B, ldb, g->beta, C, ldc, &ep);
            else
                rt_sgemm(g->ta, g->tb, M, N, K, g->alpha, A, lda, B, ldb, g->beta, C, ldc);

            for (int m = 0; m < M; m++) {
                for (int n = 0; n < N; n++) {
                    size_t i = (size_t)m * ldc + n;
                    double tol = gemm_tol_scale * mag[i] + 1e-30;
                    double v = (double)ref[i] + (g->use_ep && g->bias ? bias[n] : 0.0);
                    double want = g->use_ep ? ref_act(g->act, 0.1, v) : v;
                    /* Every activation here has slope <= 1.13. */
                    double act_tol = g->use_ep ? 1.13 * tol + 2e-6 * fabs(want) + 1e-6 : tol;
                    if (!(fabs(C[i] - want) <= act_tol))
                        ck_abort_msg("%s %d thr: ta=%d tb=%d M=%d N=%d K=%d alpha=%g beta=%g "
                                     "pad=%d act=%d bias=%d: C[%d,%d] = %.9g, want %.9g (tol %.3g)",
                                     rt_isa_name((rt_isa)isa), threads, g->ta, g->tb, M, N, K,
                                     g->alpha, g->beta, g->pad, g->act, g->bias, m, n, C[i],
                                     want, act_tol);
                    if (g->use_ep && g->preact && !(fabs(pre[i] - v) <= tol + 1e-6 * fabs(v)))
                        ck_abort_msg("%s: preact[%d,%d] = %.9g, want %.9g", rt_isa_name((rt_isa)isa),
                                     m, n, pre[i], v);
                }
                /* Padding of C is not C. */
                for (int n = N; n < ldc; n++)
                    ck_assert(isnan(C[(size_t)m * ldc + n]));
            }
            if (threads == 1) {
                memcpy(first, C, c_n * sizeof(float));
                memcpy(pre_first, pre, c_n * sizeof(float));
            } else {
                for (int m = 0; m < M; m++)
                    ck_assert_msg(memcmp(first + (size_t)m * ldc, C + (size_t)m * ldc,
                                         (size_t)N * sizeof(float)) == 0,
                                  "%s: 1 and 2 threads differ in row %d (M=%d N=%d K=%d ta=%d tb=%d)",
                                  rt_isa_name((rt_isa)isa), m, M, N, K, g->ta, g->tb);
                if (g->use_ep && g->preact)
                    ck_assert(memcmp(pre_first, pre, c_n * sizeof(float)) == 0);
            }
        }
    }
    rt_isa_set(rt_cpu_best_isa());
    free(A); free(B); free(C0); free(absA); free(absB); free(absC); free(bias);
    free(ref); free(mag); free(C); free(first); free(pre); free(pre_first);
}

/* ---------------------------------------------------------- GEMM tests */

static const int tail_dims[] = {1, 7, 10, 17, 129};
#define NDIMS ((int)(sizeof tail_dims / sizeof tail_dims[0]))

/* Every (M, N, K) from the tail sizes, with every transpose; padded
 * leading dimensions on half of them. _i picks the transpose pair. */
START_TEST(test_tails_cross)
{
    bool ta = _i & 1, tb = _i & 2;
    for (int im = 0; im < NDIMS; im++)
        for (int in = 0; in < NDIMS; in++)
            for (int ik = 0; ik < NDIMS; ik++) {
                gemm_case g = {ta, tb, tail_dims[im], tail_dims[in], tail_dims[ik], 1.0f, 0.0f,
                               (im + in + ik) % 2 ? 3 : 0, false, RT_ACT_NONE, false, false};
                check_case(&g);
            }
}
END_TEST

START_TEST(test_alpha_beta)
{
    static const float ab[][2] = {{1, 0}, {1, 1}, {-0.5f, 2}, {2, -1}, {0, 0.5f}, {0, 0}, {3, 0}};
    static const int shapes[][3] = {{17, 129, 10}, {129, 17, 129}, {10, 7, 400}, {1, 1, 1}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (size_t i = 0; i < sizeof ab / sizeof ab[0]; i++)
            for (int t = 0; t < 4; t++) {
                gemm_case g = {t & 1, t & 2, shapes[s][0], shapes[s][1], shapes[s][2], ab[i][0],
                               ab[i][1], (int)(s + i) % 3 * 5, false, RT_ACT_NONE, false, false};
                check_case(&g);
            }
}
END_TEST

/* K = 0: C = beta * C, then the epilogue. */
START_TEST(test_k_zero)
{
    gemm_case g = {false, false, 7, 10, 0, 1.0f, 0.5f, 2, false, RT_ACT_NONE, false, false};
    check_case(&g);
    g.beta = 0.0f;
    check_case(&g);
    g = (gemm_case){false, true, 7, 10, 0, 1.0f, 2.0f, 0, true, RT_ACT_SIGMOID, true, true};
    check_case(&g);
}
END_TEST

/* An activation in the portable epilogue gives the bits of the portable
 * rt_act_forward over the pre-activations (both compute activations.h's
 * rt_act_scalar): fusing a dense or conv layer's activation changes no
 * number. Products a_i * 1 are exact, so the pre-activations are the sweep
 * itself plus the bias: [-8, 8], +-0, denormals, the largest floats,
 * +-inf, NaN. On every path: the SIMD epilogues apply the kernels' own
 * vector formulas (activations_simd.h). The shapes reach each way the
 * SIMD epilogue takes its vectors (kernels_simd.h's epilogue_tile): whole
 * 16-wide tiles two rows at a time with an odd last row (97 x 40 through
 * the blocked path), a 16-wide C one row at a time (the narrow path), one
 * wide row four vectors at a time (3 x 100, B transposed: the short
 * path), one vector of a tile's rows (the 40's last 8 columns) and the
 * tails; with and without bias, and without preact the same bits. */
START_TEST(test_epilogue_like_kernels)
{
    enum { MAXM = 97, MAXN = 100 };
    static const struct { int M, N; bool tb; } shapes[] = { { 96, 16, false }, { 97, 40, false }, { 3, 100, true } };
    static const float special[] = { 0.0f, -0.0f, 1e-40f, -1e-40f, FLT_MAX, -FLT_MAX, INFINITY, -INFINITY, NAN,
                                     20.0f, -20.0f, 89.0f, -89.0f };
    enum { NSPECIAL = sizeof special / sizeof special[0] };
    static float a[MAXM], b[MAXN], bias[MAXN], c[MAXM * MAXN], c2[MAXM * MAXN], pre[MAXM * MAXN],
        want[MAXM * MAXN];
    for (int j = 0; j < MAXN; j++)
        b[j] = 1.0f, bias[j] = 0.125f * (float)(j % 7) - 0.375f;
    FOR_EACH_ISA(isa) {
        CHECK(rt_isa_set((rt_isa)isa));
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            int M = shapes[s].M, N = shapes[s].N;
            for (int i = 0; i < M; i++)
                a[i] = -8.0f + 16.0f * (float)i / (float)(M - 1);
            if (M >= NSPECIAL)
                memcpy(a + M - NSPECIAL, special, sizeof special);
            for (int with_bias = 0; with_bias < 2; with_bias++)
                for (int act = RT_ACT_NONE; act < NACTS; act++) {
                    rt_epilogue ep = { with_bias ? bias : NULL, pre, (rt_act)act, 0.1f };
                    rt_sgemm_ex(false, shapes[s].tb, M, N, 1, 1.0f, a, 1, b, shapes[s].tb ? 1 : N, 0.0f, c, N, &ep);
                    rt_act_forward((rt_act)act, 0.1f, (int64_t)M * N, pre, want);
                    ep.preact = NULL;
                    rt_sgemm_ex(false, shapes[s].tb, M, N, 1, 1.0f, a, 1, b, shapes[s].tb ? 1 : N, 0.0f, c2, N, &ep);
                    for (int i = 0; i < M * N; i++) {
                        CHECK_MSG(memcmp(&c[i], &want[i], sizeof(float)) == 0 || (isnan(c[i]) && isnan(want[i])),
                                  "%s %dx%d bias %d act %d: epilogue %a, rt_act_forward %a at x = %g",
                                  rt_isa_name((rt_isa)isa), M, N, with_bias, act, c[i], want[i], pre[i]);
                        CHECK_MSG(memcmp(&c[i], &c2[i], sizeof(float)) == 0 || (isnan(c[i]) && isnan(c2[i])),
                                  "%s %dx%d bias %d act %d: %a with preact, %a without, at %d",
                                  rt_isa_name((rt_isa)isa), M, N, with_bias, act, c[i], c2[i], i);
                    }
                }
        }
        CHECK(rt_isa_set(rt_cpu_best_isa()));
    }
}
END_TEST

/* Every activation, with and without bias and preact; K = 800 needs three
 * K slices, so an epilogue applied before the last one would show; the
 * 129 x 10 shape takes the transposed narrow path. */
START_TEST(test_epilogue)
{
    static const int shapes[][3] = {{17, 129, 10}, {129, 33, 800}, {7, 10, 1}, {129, 10, 300}};
    for (int act = RT_ACT_NONE; act < NACTS; act++)
        for (int variant = 0; variant < 4; variant++)
            for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
                gemm_case g = {s == 1, s >= 2, shapes[s][0], shapes[s][1], shapes[s][2], 1.0f,
                               s == 0 || s == 3 ? 0.5f : 0.0f, (int)s, true, (rt_act)act,
                               variant & 1, variant & 2};
                check_case(&g);
            }
}
END_TEST

/* The MLP's shapes (batch 128, 784-512-256-10): forward, dW = X^T dY and
 * dX = dY W^T; big enough that both threads get work. */
START_TEST(test_mlp_shapes)
{
    static const gemm_case cases[] = {
        {false, false, 128, 512, 784, 1, 0, 0, true, RT_ACT_RELU, true, true},
        {false, false, 128, 256, 512, 1, 0, 0, true, RT_ACT_RELU, true, false},
        {false, false, 128, 10, 256, 1, 0, 0, true, RT_ACT_NONE, true, false},
        {true, false, 784, 512, 128, 1, 0, 0, false, RT_ACT_NONE, false, false},
        {true, false, 512, 256, 128, 1, 1, 0, false, RT_ACT_NONE, false, false},
        {false, true, 128, 784, 512, 1, 0, 0, false, RT_ACT_NONE, false, false},
        {false, true, 128, 512, 256, 1, 0, 0, false, RT_ACT_NONE, false, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_case(&cases[i]);
}
END_TEST

/* Products whose rows fit one micro-panel, where the kernel reads B in
 * place instead of packing it (op(B) = B only): big enough for two
 * threads, K over one K slice, a ragged last column panel, beta and the
 * epilogue. */
START_TEST(test_short_rows)
{
    static const gemm_case cases[] = {
        {true, false, 10, 256, 128, 1, 0, 0, false, RT_ACT_NONE, false, false},
        {false, false, 12, 1001, 400, 1, 0.5f, 3, true, RT_ACT_GELU, true, true},
        {true, false, 5, 777, 129, -1, 1, 1, true, RT_ACT_RELU, true, false},
        {false, false, 1, 4099, 65, 2, 0, 0, false, RT_ACT_NONE, false, false},
        {false, true, 10, 300, 200, 1, 0, 0, false, RT_ACT_NONE, false, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_case(&cases[i]);
}
END_TEST

/* One to four rows (inference on a few samples): on AVX-512 B is read in
 * place by its own kernel, both layouts of B, K not a multiple of 16, N
 * over several 64-column tasks with a ragged last one, beta, padding and
 * every epilogue piece; checked on every path and thread count like the
 * rest. Such rows may differ in their last bits from the same rows inside
 * a taller product (another kernel), but never between thread counts. */
START_TEST(test_few_rows)
{
    for (int m = 1; m <= 4; m++)
        for (int tb = 0; tb < 2; tb++) {
            gemm_case a = {false, tb, m, 517, 791, 1, 0, 1, true, RT_ACT_GELU, true, true};
            gemm_case b = {false, tb, m, 70, 33, -0.5f, 0.25f, 0, true, RT_ACT_RELU, true, false};
            gemm_case c = {false, tb, m, 5, 16, 2, 0, 2, false, RT_ACT_NONE, false, false};
            /* K = 29: a last block of 13 (the AVX2 short product's second
             * masked half); K = 8: no full block */
            gemm_case d = {false, tb, m, 40, 29, 1, 0, 3, true, RT_ACT_RELU, true, false};
            gemm_case e = {false, tb, m, 3, 8, 1, 0.5f, 0, false, RT_ACT_NONE, false, false};
            check_case(&a);
            check_case(&b);
            check_case(&c);
            check_case(&d);
            check_case(&e);
        }
}
END_TEST

/* A row of C does not depend on which rows come with it: rows 0..9 of a
 * 40-row product (full micro-panels, B packed) and the same rows computed
 * alone (a 10-row tile, B read in place) agree bit for bit on every path,
 * so the kernel chosen for a shape never changes results. */
START_TEST(test_rows_independent)
{
    enum { M = 40, N = 333, K = 300, ROWS = 10 };
    float *A = alloc_floats((size_t)M * K), *B = alloc_floats((size_t)K * N);
    float *C = alloc_floats((size_t)M * N), *C_rows = alloc_floats((size_t)ROWS * N);
    test_fill(A, M * K, 5);
    test_fill(B, K * N, 6);
    for (int isa = RT_ISA_PORTABLE; isa <= (int)rt_cpu_best_isa(); isa++) {
        ck_assert(rt_isa_set((rt_isa)isa));
        for (int ta = 0; ta < 2; ta++) {
            /* A as (M,K), or as (K,M) holding the same op(A). */
            float *At = alloc_floats((size_t)M * K);
            for (int m = 0; m < M; m++)
                for (int k = 0; k < K; k++)
                    At[k * M + m] = A[m * K + k];
            const float *a = ta ? At : A;
            int lda = ta ? M : K;
            rt_sgemm(ta, false, M, N, K, 1.0f, a, lda, B, N, 0.0f, C, N);
            rt_sgemm(ta, false, ROWS, N, K, 1.0f, a, lda, B, N, 0.0f, C_rows, N);
            ck_assert_msg(memcmp(C, C_rows, (size_t)ROWS * N * sizeof(float)) == 0,
                          "%s ta=%d: rows of a short product differ from a tall one's",
                          rt_isa_name((rt_isa)isa), ta);
            free(At);
        }
    }
    rt_isa_set(rt_cpu_best_isa());
    free(A); free(B); free(C); free(C_rows);
}
END_TEST

/* The swapped products (gemm.c: a dense layer's forward y = x W^T and its
 * dX = dY W at a training batch, computed on AVX-512 as y^T = W x^T with W
 * read in place) give bitwise what the usual product gives. Per output the
 * arithmetic does not depend on the rows around it (test_rows_independent),
 * so a 16-row product (below the swap's 32 rows) is the reference: each
 * 16-row block of a 40- and a 64-row product, with bias, preact and
 * leaky_relu, K over two slices, a ragged N, 1 and 2 threads, every ISA
 * (paths without the swap must agree as well). */
START_TEST(test_swapped_forward_bitwise)
{
    enum { MMAX = 64, N = 300, K = 600, BLOCK = 16 };
    static const int Ms[] = { 40, MMAX };
    float *A = alloc_floats((size_t)MMAX * K), *B = alloc_floats((size_t)N * K);
    float *bias = alloc_floats(N);
    float *C = alloc_floats((size_t)MMAX * N), *P = alloc_floats((size_t)MMAX * N);
    float *Cb = alloc_floats((size_t)BLOCK * N), *Pb = alloc_floats((size_t)BLOCK * N);
    test_fill(A, MMAX * K, 11);
    test_fill(B, N * K, 12);
    test_fill(bias, N, 13);
    for (int isa = RT_ISA_PORTABLE; isa <= (int)rt_cpu_best_isa(); isa++) {
        ck_assert(rt_isa_set((rt_isa)isa));
        for (int threads = 1; threads <= 2; threads++) {
            rt_threads_init(threads);
            for (int tb = 0; tb < 2; tb++)
                for (size_t mi = 0; mi < sizeof Ms / sizeof Ms[0]; mi++) {
                    int M = Ms[mi], ldb = tb ? K : N;
                    rt_epilogue ep = { bias, P, RT_ACT_LEAKY_RELU, 0.2f };
                    rt_sgemm_ex(false, tb, M, N, K, 1.0f, A, K, B, ldb, 0.0f, C, N, &ep);
                    for (int m0 = 0; m0 < M; m0 += BLOCK) {
                        int rows = M - m0 < BLOCK ? M - m0 : BLOCK;
                        rt_epilogue epb = { bias, Pb, RT_ACT_LEAKY_RELU, 0.2f };
                        rt_sgemm_ex(false, tb, rows, N, K, 1.0f, A + (size_t)m0 * K, K, B, ldb, 0.0f, Cb,
                                    N, &epb);
                        ck_assert_msg(memcmp(C + (size_t)m0 * N, Cb, (size_t)rows * N * sizeof(float)) == 0 &&
                                          memcmp(P + (size_t)m0 * N, Pb, (size_t)rows * N * sizeof(float)) == 0,
                                      "%s, %d threads, tb=%d, M=%d: rows %d.. differ from a %d-row product",
                                      rt_isa_name((rt_isa)isa), threads, tb, M, m0, rows);
                    }
                }
        }
    }
    rt_threads_init(0);
    rt_isa_set(rt_cpu_best_isa());
    free(A); free(B); free(bias); free(C); free(P); free(Cb); free(Pb);
}
END_TEST

/* rt_sgemm_small (attention's per-head products, operands read in place)
 * computes what rt_sgemm computes, bit for bit, on every path: the four
 * transpose cases at a head's shapes (T x dk operands in rows of a wider
 * matrix: padded leading dimensions), a ragged last B panel, exactly one
 * panel, K over two slices, beta 0 and 1, and the shapes it hands back to
 * rt_sgemm (a few rows, N <= 16, narrow and tall C). */
START_TEST(test_small_bitwise)
{
    static const struct { int M, N, K; } cases[] = {
        { 32, 128, 32 }, { 32, 32, 96 }, { 37, 70, 19 }, { 13, 45, 500 }, { 3, 50, 40 }, { 20, 16, 50 },
        { 64, 10, 30 }, { 128, 32, 128 },
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                const int M = cases[ci].M, N = cases[ci].N, K = cases[ci].K, pad = 5;
                int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
                int64_t asize = (int64_t)(ta ? K : M) * lda, bsize = (int64_t)(tb ? N : K) * ldb;
                float *A = alloc_floats(asize), *B = alloc_floats(bsize);
                float *want = alloc_floats((int64_t)M * ldc), *got = alloc_floats((int64_t)M * ldc);
                test_fill(A, asize, 21);
                test_fill(B, bsize, 22);
                for (int isa = RT_ISA_PORTABLE; isa <= (int)rt_cpu_best_isa(); isa++) {
                    ck_assert(rt_isa_set((rt_isa)isa));
                    for (int bz = 0; bz < 2; bz++) {
                        float beta = bz ? 0.0f : 1.0f;
                        test_fill(want, M * ldc, 23);
                        test_fill(got, M * ldc, 23);
                        rt_sgemm(ta, tb, M, N, K, 0.5f, A, lda, B, ldb, beta, want, ldc);
                        rt_sgemm_small(ta, tb, M, N, K, 0.5f, A, lda, B, ldb, beta, got, ldc);
                        ck_assert_msg(memcmp(want, got, (size_t)M * ldc * sizeof(float)) == 0,
                                      "%s, beta %g: M=%d N=%d K=%d ta=%d tb=%d: rt_sgemm_small differs from rt_sgemm",
                                      rt_isa_name((rt_isa)isa), (double)beta, M, N, K, ta, tb);
                    }
                }
                rt_isa_set(rt_cpu_best_isa());
                free(A); free(B); free(want); free(got);
            }
}
END_TEST

/* rt_sgemm_pack_b + rt_sgemm_packed_ex compute what rt_sgemm_ex computes,
 * bit for bit, on every path and thread count: a recurrent step's shapes
 * (B transposed with a tanh epilogue, and not transposed with K deeper than
 * one 384 slice), ragged N, and the shapes whose paths read B in place
 * (a few rows; N <= 16 that AVX-512 runs with the AVX2 tile; narrow and
 * tall C), where the packed copy must simply go unread. */
START_TEST(test_packed_b)
{
    static const struct { int M, N, K; bool tb, ep; } cases[] = {
        { 32, 1024, 256, true, true }, { 32, 256, 1024, false, false }, { 13, 100, 700, true, false },
        { 25, 33, 385, false, true }, { 3, 50, 40, true, false }, { 2, 70, 30, false, false },
        { 20, 16, 50, true, true }, { 64, 10, 30, false, false },
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const int M = cases[ci].M, N = cases[ci].N, K = cases[ci].K, pad = 3;
        int ldb = (cases[ci].tb ? K : N) + pad, brows = cases[ci].tb ? N : K;
        float *A = alloc_floats((int64_t)M * K), *B = alloc_floats((int64_t)brows * ldb);
        float *want = alloc_floats((int64_t)M * N), *got = alloc_floats((int64_t)M * N), *bias = alloc_floats(N);
        float *packed = aligned_alloc(64, ((size_t)rt_sgemm_packed_floats(N, K) * sizeof(float) + 63) / 64 * 64);
        ck_assert_ptr_nonnull(packed);
        test_fill(A, M * K, 11);
        test_fill(B, brows * ldb, 12);
        test_fill(bias, N, 13);
        rt_epilogue ep = { bias, NULL, RT_ACT_TANH, 0.0f };
        const rt_epilogue *e = cases[ci].ep ? &ep : NULL;
        for (int isa = RT_ISA_PORTABLE; isa <= (int)rt_cpu_best_isa(); isa++) {
            ck_assert(rt_isa_set((rt_isa)isa));
            rt_sgemm_pack_b(cases[ci].tb, N, K, B, ldb, packed);
            /* beta 0 too: rt_sgemm_ex takes the swapped path there (M 32..256),
             * the packed product must not (its packing is of W, not x). */
            for (int threads = 1; threads <= 2; threads++)
                for (int bz = 0; bz < 2; bz++) {
                    float beta = bz ? 0.0f : 1.0f;
                    rt_threads_init(threads);
                    test_fill(want, M * N, 14);
                    test_fill(got, M * N, 14);
                    rt_sgemm_ex(false, cases[ci].tb, M, N, K, 0.5f, A, K, B, ldb, beta, want, N, e);
                    rt_sgemm_packed_ex(cases[ci].tb, M, N, K, 0.5f, A, K, B, ldb, packed, beta, got, N, e);
                    ck_assert_msg(memcmp(want, got, (size_t)M * N * sizeof(float)) == 0,
                                  "%s, %d threads, beta %g: M=%d N=%d K=%d tb=%d: packed B differs from rt_sgemm_ex",
                                  rt_isa_name((rt_isa)isa), threads, (double)beta, M, N, K, cases[ci].tb);
                }
        }
        rt_isa_set(rt_cpu_best_isa());
        free(A); free(B); free(want); free(got); free(bias); free(packed);
    }
}
END_TEST

/* ------------------------------------------------------- thread pool */

typedef struct count_ctx {
    _Atomic int *hits;
    int64_t inner;
} count_ctx;

static void count_task(void *ctx, int64_t i)
{
    count_ctx *c = ctx;
    atomic_fetch_add(&c->hits[i], 1);
}

static void nested_task(void *ctx, int64_t i)
{
    count_ctx *c = ctx;
    count_ctx inner = {c->hits + i * c->inner, 0};
    rt_parallel_for(c->inner, count_task, &inner);
}

START_TEST(test_parallel_for_once)
{
    enum { N = 10000 };
    static _Atomic int hits[N];
    /* up to 4096 tasks go by home ranges (threads.c's HOME_TASKS), more
     * by the shared counter: both sides of the bound, and jobs of either
     * kind one after the other */
    static const int64_t sizes[] = { 0, 1, 2, 3, 7, 9, 27, 81, 243, 729, 4095, 4096, 4097, 3, 10000, 5, 4096 };
    for (int threads = 1; threads <= 4; threads++) {
        rt_threads_init(threads);
        ck_assert_int_eq(rt_threads_count(), threads);
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            int64_t n = sizes[k];
            for (int i = 0; i < N; i++) hits[i] = 0;
            count_ctx c = {hits, 0};
            rt_parallel_for(n, count_task, &c);
            for (int i = 0; i < N; i++)
                ck_assert_int_eq(hits[i], i < n ? 1 : 0);
        }
    }
    rt_threads_shutdown();
    /* Lazily restarted by the next call. */
    for (int i = 0; i < N; i++) hits[i] = 0;
    count_ctx c = {hits, 0};
    rt_parallel_for(N, count_task, &c);
    for (int i = 0; i < N; i++) ck_assert_int_eq(hits[i], 1);
}
END_TEST

/* A GEMM inside a task: runs serially on that thread, must not deadlock
 * on the pool the task is running on, and gives the same bits. */
typedef struct nested_gemm_ctx {
    const float *A, *B;
    float *C; /* one 64x64 result per task */
} nested_gemm_ctx;

static void nested_gemm_task(void *ctx, int64_t i)
{
    nested_gemm_ctx *g = ctx;
    rt_sgemm(false, false, 64, 64, 64, 1.0f, g->A, 64, g->B, 64, 0.0f, g->C + i * 64 * 64, 64);
}

START_TEST(test_gemm_inside_task)
{
    static float A[64 * 64], B[64 * 64], C[4 * 64 * 64], want[64 * 64];
    test_fill(A, 64 * 64, 11);
    test_fill(B, 64 * 64, 12);
    rt_threads_init(2);
    rt_sgemm(false, false, 64, 64, 64, 1.0f, A, 64, B, 64, 0.0f, want, 64);
    nested_gemm_ctx g = {A, B, C};
    rt_parallel_for(4, nested_gemm_task, &g);
    for (int i = 0; i < 4; i++)
        ck_assert(memcmp(C + i * 64 * 64, want, sizeof want) == 0);
}
END_TEST

START_TEST(test_parallel_for_nested)
{
    enum { OUTER = 13, INNER = 17 };
    static _Atomic int hits[OUTER * INNER];
    rt_threads_init(2);
    count_ctx c = {hits, INNER};
    rt_parallel_for(OUTER, nested_task, &c);
    for (int i = 0; i < OUTER * INNER; i++) ck_assert_int_eq(hits[i], 1);
}
END_TEST

/* Several user threads calling into the pool (and GEMM) at once. */
enum { USERS = 4, ROUNDS = 200, USER_N = 64 };
static _Atomic int user_hits[USERS][USER_N];

static void *user_thread(void *arg)
{
    int u = (int)(intptr_t)arg;
    count_ctx c = {user_hits[u], 0};
    for (int r = 0; r < ROUNDS; r++)
        rt_parallel_for(USER_N, count_task, &c);
    float A[64 * 64], B[64 * 64], C[64 * 64];
    test_fill(A, 64 * 64, 5);
    test_fill(B, 64 * 64, 6);
    for (int r = 0; r < 20; r++)
        rt_sgemm(false, false, 64, 64, 64, 1.0f, A, 64, B, 64, 0.0f, C, 64);
    return NULL;
}

START_TEST(test_parallel_for_concurrent_callers)
{
    rt_threads_init(2);
    pthread_t t[USERS];
    for (int u = 0; u < USERS; u++)
        ck_assert_int_eq(pthread_create(&t[u], NULL, user_thread, (void *)(intptr_t)u), 0);
    for (int u = 0; u < USERS; u++)
        pthread_join(t[u], NULL);
    for (int u = 0; u < USERS; u++)
        for (int i = 0; i < USER_N; i++) ck_assert_int_eq(user_hits[u][i], ROUNDS);
}
END_TEST

START_TEST(test_threads_env)
{
    setenv("NETRT_THREADS", "3", 1);
    rt_threads_init(0);
    ck_assert_int_eq(rt_threads_count(), 3);
    unsetenv("NETRT_THREADS");
    rt_threads_init(0);
    ck_assert_int_eq(rt_threads_count(), (int)sysconf(_SC_NPROCESSORS_ONLN));
}
END_TEST

/* ------------------------------------------------------------------ CPU */

START_TEST(test_cpu_march_accepted)
{
    const char *march = rt_cpu_march();
    ck_assert(strcmp(march, "x86-64") == 0 || strcmp(march, "x86-64-v2") == 0 ||
              strcmp(march, "x86-64-v3") == 0 || strcmp(march, "x86-64-v4") == 0);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "cc -march=%s -x c -c /dev/null -o /dev/null", march);
    ck_assert_msg(system(cmd) == 0, "`%s` failed", cmd);
    /* The AVX-512 path needs a v4 CPU in practice and vice versa for AVX2/v3. */
    if (rt_cpu_best_isa() == RT_ISA_AVX512)
        ck_assert(strcmp(march, "x86-64-v3") == 0 || strcmp(march, "x86-64-v4") == 0);
}
END_TEST

START_TEST(test_isa_set)
{
    rt_isa best = rt_cpu_best_isa();
    ck_assert_str_eq(rt_isa_name(RT_ISA_PORTABLE), "portable");
    ck_assert_str_eq(rt_isa_name(RT_ISA_AVX2), "avx2");
    ck_assert_str_eq(rt_isa_name(RT_ISA_AVX512), "avx512");
    for (int isa = RT_ISA_PORTABLE; isa <= RT_ISA_AVX512; isa++) {
        bool ok = rt_isa_set((rt_isa)isa);
        ck_assert_int_eq(ok, isa <= (int)best);
        ck_assert_int_eq(rt_isa_current(), isa <= (int)best ? isa : (int)best);
        rt_isa_set(best);
    }
}
END_TEST

/* NETRT_ISA is read once per process, so each value is tried in a fresh
 * copy of this program that runs only test_isa_env_probe. */
START_TEST(test_isa_env_probe)
{
    const char *expect = getenv("NETRT_ISA_EXPECT");
    if (expect)
        ck_assert_str_eq(rt_isa_name(rt_isa_current()), expect);
}
END_TEST

START_TEST(test_isa_env)
{
    static const char *values[] = {"portable", "avx2", "avx512", "bogus"};
    static const rt_isa wanted[] = {RT_ISA_PORTABLE, RT_ISA_AVX2, RT_ISA_AVX512, RT_ISA_AVX512};
    rt_isa best = rt_cpu_best_isa();
    for (int v = 0; v < 4; v++) {
        rt_isa expect = wanted[v] > best ? best : wanted[v];
        char isa_var[64], expect_var[64];
        snprintf(isa_var, sizeof isa_var, "NETRT_ISA=%s", values[v]);
        snprintf(expect_var, sizeof expect_var, "NETRT_ISA_EXPECT=%s", rt_isa_name(expect));
        char *env[] = {isa_var, expect_var, (char *)"CK_RUN_CASE=isa_env_probe", NULL};
        char *argv[] = {(char *)"test_rt_gemm", NULL};
        /* The child's own report would only be noise here. */
        posix_spawn_file_actions_t quiet;
        posix_spawn_file_actions_init(&quiet);
        posix_spawn_file_actions_addopen(&quiet, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&quiet, 2, "/dev/null", O_WRONLY, 0);
        pid_t pid;
        ck_assert_int_eq(posix_spawn(&pid, "/proc/self/exe", &quiet, NULL, argv, env), 0);
        posix_spawn_file_actions_destroy(&quiet);
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "NETRT_ISA=%s did not select %s", values[v], rt_isa_name(expect));
    }
}
END_TEST

static Suite *gemm_suite(void)
{
    Suite *s = suite_create("rt_gemm");
    TCase *tc = test_case("gemm");
    tcase_add_loop_test(tc, test_tails_cross, 0, 4);
    tcase_add_test(tc, test_alpha_beta);
    tcase_add_test(tc, test_k_zero);
    tcase_add_test(tc, test_epilogue);
    tcase_add_test(tc, test_epilogue_like_kernels);
    tcase_add_test(tc, test_mlp_shapes);
    tcase_add_test(tc, test_short_rows);
    tcase_add_test(tc, test_few_rows);
    tcase_add_test(tc, test_rows_independent);
    tcase_add_test(tc, test_swapped_forward_bitwise);
    tcase_add_test(tc, test_packed_b);
    tcase_add_test(tc, test_small_bitwise);
    suite_add_tcase(s, tc);

    tc = test_case("threads");
    tcase_add_test(tc, test_parallel_for_once);
    tcase_add_test(tc, test_parallel_for_nested);
    tcase_add_test(tc, test_gemm_inside_task);
    tcase_add_test(tc, test_parallel_for_concurrent_callers);
    tcase_add_test(tc, test_threads_env);
    suite_add_tcase(s, tc);

    tc = test_case("cpu");
    tcase_add_test(tc, test_cpu_march_accepted);
    tcase_add_test(tc, test_isa_set);
    tcase_add_test(tc, test_isa_env);
    suite_add_tcase(s, tc);

    tc = test_case("isa_env_probe");
    tcase_add_test(tc, test_isa_env_probe);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(gemm_suite)
