/* gemm.c — single-precision GEMM: dispatch, packing, blocking, threading
 * and the fused epilogue. The micro-kernels live in gemm_avx512.c,
 * gemm_avx2.c and (portable) here.
 *
 * Layout (GotoBLAS/BLIS, mirrored for row-major C so the vector dimension
 * is N): for each NC-wide column block of C, for each KC-deep slice of K,
 * a KC x NC block of op(B) is packed into NR-wide micro-panels that stay
 * in L2; then for each MR-row micro-panel of op(A), packed just in time and
 * kept in L1, the micro-kernel sweeps every B micro-panel of the block.
 * Packing A per micro-panel instead of per MC block costs nothing extra
 * (A is read once per (NC, KC) block either way) and needs a buffer of
 * only MR x KC floats.
 *
 * Determinism: K is cut into slices that depend on K alone, every output
 * element is computed by exactly one thread, and the micro-kernels do the
 * same arithmetic for edge and interior tiles, so results are bitwise the
 * same for any thread count (but differ between ISA paths).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "activations.h"
#include "gemm_internal.h"
#include "kernels_internal.h"
#include "netrt.h"
#include "util.h"

/* Deepest K slice. 384 keeps the AVX-512 A micro-panel (12 x 384 x 4 =
 * 18 KiB) in the 32 KiB L1 next to the B micro-panel streaming through.
 * Measured on the MLP shapes, 1024^3 and 128x3072x768 (one thread): 256
 * and 384 are within noise of each other, 512 loses 5-15%; B blocks of
 * 384, 512 and 768 KiB are within noise. */
#define KC_MAX 384
/* Bytes of packed B per block: half of Zen 4's 1 MiB L2, leaving room for
 * the C tiles and the A stream. */
#define B_BLOCK_BYTES (512 * 1024)
/* Below this many multiply-adds a GEMM runs on the calling thread: waking
 * the pool (a few microseconds when workers sleep) costs more than it
 * saves. */
#define PARALLEL_MIN_MACS (256 * 1024)
#define PARALLEL_MIN_K 32
#define SHORT_PARALLEL_MIN_FLOATS (64 * 1024)
/* Cost of packing one element, in multiply-adds, for choosing how to split
 * work between threads (each thread packs what it uses). */
#define PACK_COST_MACS 16
/* C at most this wide (and 4 times taller) is computed transposed. */
#define NARROW_N 16

typedef struct gemm_path {
    int mr, nr;
    rt_gemm_kernel_fn kernel;
    rt_gemm_kernel_direct_fn kernel_direct; /* NULL: always pack B */
    /* A read in place, as A^T (direct_ab) or along its rows (direct_at);
     * NULL: always pack A */
    rt_gemm_kernel_direct_a_fn direct_ab, direct_at;
    rt_gemm_transpose_fn transpose; /* the swapped forward's; NULL: no swap */
} gemm_path;

typedef struct gemm_problem {
    bool trans_a, trans_b;
    int64_t M, N, K;
    float alpha, beta;
    const float *A, *B;
    int64_t lda, ldb, ldc;
    float *C;
    const rt_epilogue *ep; /* NULL when it would do nothing */
    gemm_path path;
    bool fast_pack; /* AVX2 transposes for packing */
    bool direct_a;  /* A read in place (the SIMD paths) */
    rt_gemm_epilogue_fn epilogue;
    int64_t kc_step;
    const float *packed_b; /* all of op(B) packed (rt_sgemm_pack_b), or NULL */
    int64_t packed_npad;   /* its N rounded up to the path's NR */
    bool split_n;   /* threads take column ranges (else row ranges) */
    int64_t units;  /* NR-wide column or MR-tall row units to share out */
    int64_t parts;
} gemm_problem;

/* ------------------------------------------------------------ reference */

void rt_sgemm_reference(bool trans_a, bool trans_b, int M, int N, int K, float alpha,
                        const float *A, int lda, const float *B, int ldb, float beta, float *C,
                        int ldc)
{
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            double sum = 0.0;
            for (int64_t k = 0; k < K; k++) {
                double a = trans_a ? A[k * lda + m] : A[m * lda + k];
                double b = trans_b ? B[n * ldb + k] : B[k * ldb + n];
                sum += a * b;
            }
            double v = (double)alpha * sum;
            if (beta != 0.0f)
                v += (double)beta * C[m * ldc + n];
            C[m * ldc + n] = (float)v;
        }
}

/* ---------------------------------------------------- portable kernel */

static void kernel_portable(int64_t kc, const float *a, const float *b, float *c, int64_t ldc,
                            int mr, int nr, float alpha, float beta)
{
    enum { MR = RT_GEMM_MR_PORTABLE, NR = RT_GEMM_NR_PORTABLE };
    float acc[MR][NR] = {{0}};
    for (int64_t k = 0; k < kc; k++, a += MR, b += NR)
        for (int i = 0; i < MR; i++)
            for (int j = 0; j < NR; j++)
                acc[i][j] += a[i] * b[j];
    for (int i = 0; i < mr; i++) {
        float *ci = c + i * ldc;
        for (int j = 0; j < nr; j++)
            ci[j] = beta == 0.0f ? alpha * acc[i][j] : alpha * acc[i][j] + beta * ci[j];
    }
}

/* ------------------------------------------------------------ epilogue */

static void epilogue_portable(float *c, int64_t ldc, int mr, int nr, const float *bias,
                              float *preact, rt_act act, float act_alpha)
{
    for (int i = 0; i < mr; i++) {
        float *ci = c + i * ldc;
        for (int j = 0; j < nr; j++) {
            float v = bias ? ci[j] + bias[j] : ci[j];
            if (preact)
                preact[i * ldc + j] = v;
            ci[j] = rt_act_scalar(act, act_alpha, v); /* rt_act_forward's (activations.h) */
        }
    }
}

/* ------------------------------------------------------------- buffers */

/* Packing buffers belong to the thread that packs into them (util.h's
 * per-thread scratch): kept between GEMMs, grown when a deeper K slice or
 * wider block needs it. */
typedef struct gemm_buffers {
    float *a, *b;
} gemm_buffers;

static gemm_buffers get_buffers(size_t a_need, size_t b_need)
{
    return (gemm_buffers){ rt_thread_scratch(RT_SCRATCH_GEMM_A, a_need * sizeof(float)),
                           rt_thread_scratch(RT_SCRATCH_GEMM_B, b_need * sizeof(float)) };
}

/* ------------------------------------------------------------- packing */

/* dst[k * width + r] = src[r * ld + k], zero for rows <= r < width. */
static void pack_transposed_portable(const float *src, int64_t ld, int rows, int64_t kc,
                                     int width, float *dst)
{
    for (int r = 0; r < rows; r++)
        for (int64_t k = 0; k < kc; k++)
            dst[k * width + r] = src[r * ld + k];
    for (int64_t k = 0; k < kc; k++)
        for (int r = rows; r < width; r++)
            dst[k * width + r] = 0.0f;
}

/* dst[k * WIDTH + j] = src[k * ld + j] for j < cols, zero up to WIDTH.
 * Inlined with WIDTH constant so each full row is a fixed-size memcpy,
 * which gcc turns into vector moves; an element loop stayed scalar (gcc
 * -O2 will not version it for aliasing) and packing B took 23% of
 * C(128x512) = X(128x784) W (perf annotate: one movss per element). */
static inline void pack_rows_n(const float *src, int64_t ld, int cols, int64_t kc, float *dst,
                               const int WIDTH)
{
    if (cols == WIDTH) {
        for (int64_t k = 0; k < kc; k++) {
            __builtin_prefetch(src + (k + 8) * ld);
            memcpy(dst + k * WIDTH, src + k * ld, (size_t)WIDTH * sizeof(float));
        }
        return;
    }
    for (int64_t k = 0; k < kc; k++) {
        int j = 0;
        for (; j < cols; j++)
            dst[k * WIDTH + j] = src[k * ld + j];
        for (; j < WIDTH; j++)
            dst[k * WIDTH + j] = 0.0f;
    }
}

static void pack_rows(const float *src, int64_t ld, int cols, int64_t kc, int width, float *dst)
{
    switch (width) {
    case 32: pack_rows_n(src, ld, cols, kc, dst, 32); return;
    case 16: pack_rows_n(src, ld, cols, kc, dst, 16); return;
    case 12: pack_rows_n(src, ld, cols, kc, dst, 12); return;
    case 8: pack_rows_n(src, ld, cols, kc, dst, 8); return;
    case 6: pack_rows_n(src, ld, cols, kc, dst, 6); return;
    case 4: pack_rows_n(src, ld, cols, kc, dst, 4); return;
    }
    pack_rows_n(src, ld, cols, kc, dst, width);
}

static void pack_transposed(const gemm_problem *p, const float *src, int64_t ld, int rows,
                            int64_t kc, int width, float *dst)
{
    if (p->fast_pack)
        rt_gemm_pack_transposed_avx2(src, ld, rows, kc, width, dst);
    else
        pack_transposed_portable(src, ld, rows, kc, width, dst);
}

/* Micro-panels of A^T packed together: A (K,M) gives each micro-panel MR
 * floats of a line per k, so packed one panel at a time every k read a
 * fresh line for 24 of its 64 bytes on AVX2 (6 rows), and the next panel
 * fetched the line again after the kernel had swept the B block through
 * the cache: that packing was 4.7% of charlstm.net's training and 3.4% of
 * gpt.net's on Zen 3 (perf: the loads in pack_rows_n, one thread). Eight
 * panels at a time read 48 contiguous floats per k. */
#define A_GROUP 8

static inline void pack_rows_group_n(const float *src, int64_t ld, int rows, int64_t kc, float *dst,
                                     const int WIDTH)
{
    int full = rows / WIDTH, tail = rows - full * WIDTH;
    for (int64_t k = 0; k < kc; k++) {
        const float *s = src + k * ld;
        __builtin_prefetch(s + 8 * ld);
        __builtin_prefetch(s + 8 * ld + 16);
        __builtin_prefetch(s + 8 * ld + 32);
        for (int g = 0; g < full; g++)
            memcpy(dst + (g * kc + k) * WIDTH, s + g * WIDTH, (size_t)WIDTH * sizeof(float));
        if (tail) {
            float *d = dst + (full * kc + k) * WIDTH;
            for (int j = 0; j < tail; j++)
                d[j] = s[full * WIDTH + j];
            for (int j = tail; j < WIDTH; j++)
                d[j] = 0.0f;
        }
    }
}

/* op(A)[m0 .. m0+rows) x [k0 .. k0+kc), rows <= A_GROUP * MR, A
 * transposed, into ceil(rows / MR) micro-panels of MR x kc side by side. */
static void pack_a_group(const gemm_problem *p, int64_t m0, int rows, int64_t k0, int64_t kc, float *dst)
{
    const float *src = p->A + k0 * p->lda + m0;
    switch (p->path.mr) {
    case RT_GEMM_MR_AVX2: pack_rows_group_n(src, p->lda, rows, kc, dst, RT_GEMM_MR_AVX2); return;
    case RT_GEMM_MR_PORTABLE: pack_rows_group_n(src, p->lda, rows, kc, dst, RT_GEMM_MR_PORTABLE); return;
    }
    pack_rows_group_n(src, p->lda, rows, kc, dst, p->path.mr);
}

/* op(A)[m0 .. m0+mr) x [k0 .. k0+kc) into one micro-panel: k-major, MR
 * values per k, rows past mr zero. */
static void pack_a(const gemm_problem *p, int64_t m0, int mr, int64_t k0, int64_t kc, float *dst)
{
    if (p->trans_a) /* A is (K,M): each k gives mr contiguous values */
        pack_rows(p->A + k0 * p->lda + m0, p->lda, mr, kc, p->path.mr, dst);
    else
        pack_transposed(p, p->A + m0 * p->lda + k0, p->lda, mr, kc, p->path.mr, dst);
}

/* B (K,N) rows [0, kc) x columns [0, nc) into ceil(nc/NR) micro-panels of
 * kc x NR. Row by row across all panels, so the source is read as one
 * contiguous run per row: panel by panel it was two cache lines per row at
 * a stride of ldb, which the hardware prefetchers do not follow, and
 * packing B from DRAM took 18% of C(128x3072) = X(128x768) W (6.9 GB/s). */
#define PACK_PREFETCH_ROWS 4
static inline void pack_b_rows_n(const float *src, int64_t ld, int64_t nc, int64_t kc, float *dst,
                                 const int NR)
{
    int64_t full = nc / NR * NR;
    int tail = (int)(nc - full);
    for (int64_t k = 0; k < kc; k++) {
        const float *row = src + k * ld;
        float *d = dst + k * NR;
        int64_t j = 0;
        for (; j < full; j += NR, d += kc * NR) {
            for (int line = 0; line < NR; line += 16)
                __builtin_prefetch(row + PACK_PREFETCH_ROWS * ld + j + line);
            memcpy(d, row + j, (size_t)NR * sizeof(float));
        }
        if (tail) {
            memcpy(d, row + j, (size_t)tail * sizeof(float));
            memset(d + tail, 0, (size_t)(NR - tail) * sizeof(float));
        }
    }
}

/* op(B)[k0 .. k0+kc) x [n0 .. n0+nc) into ceil(nc/NR) micro-panels of
 * kc x NR, columns past nc zero. */
static void pack_b(const gemm_problem *p, int64_t k0, int64_t kc, int64_t n0, int64_t nc,
                   float *dst)
{
    const int NR = p->path.nr;
    if (!p->trans_b) {
        const float *src = p->B + k0 * p->ldb + n0;
        switch (NR) {
        case RT_GEMM_NR_AVX512: pack_b_rows_n(src, p->ldb, nc, kc, dst, RT_GEMM_NR_AVX512); return;
        case RT_GEMM_NR_AVX2: pack_b_rows_n(src, p->ldb, nc, kc, dst, RT_GEMM_NR_AVX2); return;
        case RT_GEMM_NR_PORTABLE: pack_b_rows_n(src, p->ldb, nc, kc, dst, RT_GEMM_NR_PORTABLE); return;
        }
        pack_b_rows_n(src, p->ldb, nc, kc, dst, NR);
        return;
    }
    /* B is (N,K): each panel is a transpose of nr rows of B. */
    for (int64_t j0 = 0; j0 < nc; j0 += NR, dst += kc * NR) {
        int nr = nc - j0 < NR ? (int)(nc - j0) : NR;
        pack_transposed(p, p->B + (n0 + j0) * p->ldb + k0, p->ldb, nr, kc, NR, dst);
    }
}

/* ---------------------------------------------------------- the driver */

/* Vectorized epilogues because GELU through libm's tanhf made
 * C(128x3072) = X(128x768) W 23% slower (9.4 ms against 7.6 ms, one
 * thread); vectorized it costs nothing measurable. */
static rt_gemm_epilogue_fn epilogue_for(rt_isa isa)
{
    switch (isa) {
    case RT_ISA_AVX512: return rt_avx512_gemm_epilogue;
    case RT_ISA_AVX2: return rt_avx2_gemm_epilogue;
    case RT_ISA_PORTABLE: break;
    }
    return epilogue_portable;
}

/* C[m0..m1) x [n0..n1) on the calling thread. */
static void gemm_region(const gemm_problem *p, int64_t m0, int64_t m1, int64_t n0, int64_t n1)
{
    const int MR = p->path.mr, NR = p->path.nr;
    const int64_t kc_step = p->kc_step;
    int64_t nc_step = B_BLOCK_BYTES / (int64_t)sizeof(float) / kc_step / NR * NR;
    if (nc_step < NR)
        nc_step = NR;
    int64_t width = n1 - n0;
    /* Equal blocks, so the last is not a sliver. */
    int64_t nblocks = (width + nc_step - 1) / nc_step;
    nc_step = ((width + nblocks - 1) / nblocks + NR - 1) / NR * NR;

    /* A^T packed A_GROUP micro-panels at a time (see pack_a_group) */
    const int64_t group = p->trans_a && !p->direct_a ? A_GROUP : 1;
    gemm_buffers buf = get_buffers((size_t)(group * MR) * kc_step, (size_t)kc_step * nc_step);
    rt_gemm_epilogue_fn epilogue = p->epilogue;
    const rt_epilogue *ep = p->ep;
    /* Rows that fit one micro-panel would use each packed B panel once:
     * packing then copies all of B to read it once more, and for C(10x256)
     * = X^T(10x128) dY (the output layer's weight gradient) it was 30% of
     * the time (perf: gemm_region, where pack_b is inlined), 65 GFLOP/s
     * against OpenBLAS's 96. The kernel reads those rows of B in place
     * instead (whole panels; the ragged last one is still packed). */
    bool direct_b = !p->packed_b && p->path.kernel_direct && !p->trans_b && m1 - m0 <= MR && !p->direct_a;

    for (int64_t nb = n0; nb < n1; nb += nc_step) {
        int64_t nc = n1 - nb < nc_step ? n1 - nb : nc_step;
        for (int64_t k0 = 0; k0 < p->K; k0 += kc_step) {
            int64_t kc = p->K - k0 < kc_step ? p->K - k0 : kc_step;
            float beta = k0 == 0 ? p->beta : 1.0f;
            bool last = k0 + kc == p->K;
            /* rt_sgemm_pack_b's layout: slice k0's panels from k0 * npad,
             * panel nb / NR at nb * kc within it, as pack_b lays a block */
            const float *bblock = p->packed_b ? p->packed_b + k0 * p->packed_npad + nb * kc : buf.b;
            if (!direct_b && !p->packed_b)
                pack_b(p, k0, kc, nb, nc, buf.b);
            for (int64_t mb = m0; mb < m1; mb += MR) {
                int mr = m1 - mb < MR ? (int)(m1 - mb) : MR;
                const float *apanel = buf.a;
                if (group > 1) {
                    int64_t g = (mb - m0) / MR % group;
                    if (g == 0) {
                        int64_t rows = m1 - mb < group * MR ? m1 - mb : group * MR;
                        pack_a_group(p, mb, (int)rows, k0, kc, buf.a);
                    }
                    apanel = buf.a + g * MR * kc;
                } else if (!p->direct_a)
                    pack_a(p, mb, mr, k0, kc, buf.a);
                for (int64_t j = 0; j < nc; j += NR) {
                    int nr = nc - j < NR ? (int)(nc - j) : NR;
                    float *c = p->C + mb * p->ldc + nb + j;
                    if (p->direct_a && p->trans_a)
                        p->path.direct_ab(kc, p->A + k0 * p->lda + mb, p->lda, bblock + j * kc, NR, c,
                                          p->ldc, mr, nr, p->alpha, beta);
                    else if (p->direct_a)
                        p->path.direct_at(kc, p->A + mb * p->lda + k0, p->lda, bblock + j * kc, NR, c,
                                          p->ldc, mr, nr, p->alpha, beta);
                    else if (direct_b && nr == NR)
                        p->path.kernel_direct(kc, apanel, p->B + k0 * p->ldb + nb + j, p->ldb, c,
                                              p->ldc, mr, nr, p->alpha, beta);
                    else if (direct_b) {
                        pack_b(p, k0, kc, nb + j, nr, buf.b);
                        p->path.kernel(kc, apanel, buf.b, c, p->ldc, mr, nr, p->alpha, beta);
                    } else
                        p->path.kernel(kc, apanel, bblock + j * kc, c, p->ldc, mr, nr, p->alpha,
                                       beta);
                    /* While the tile is still in L1. */
                    if (last && ep)
                        epilogue(c, p->ldc, mr, nr, ep->bias ? ep->bias + nb + j : NULL,
                                 ep->preact ? ep->preact + mb * p->ldc + nb + j : NULL, ep->act,
                                 ep->act_alpha);
                }
            }
        }
    }
}

typedef struct gemm_range {
    int64_t m0, m1, n0, n1;
} gemm_range;

/* The part of C that task `part` computes: its share of the split
 * dimension, all of the other. */
static gemm_range task_range(const gemm_problem *p, int64_t part)
{
    int64_t u0 = part * p->units / p->parts, u1 = (part + 1) * p->units / p->parts;
    if (p->split_n) {
        int64_t n0 = u0 * p->path.nr, n1 = u1 * p->path.nr;
        return (gemm_range){ 0, p->M, n0, n1 < p->N ? n1 : p->N };
    }
    int64_t m0 = u0 * p->path.mr, m1 = u1 * p->path.mr;
    return (gemm_range){ m0, m1 < p->M ? m1 : p->M, 0, p->N };
}

static void gemm_task(void *ctx, int64_t part)
{
    const gemm_problem *p = ctx;
    gemm_range r = task_range(p, part);
    gemm_region(p, r.m0, r.m1, r.n0, r.n1);
}

static gemm_path path_for(rt_isa isa)
{
    switch (isa) {
    case RT_ISA_AVX512:
        return (gemm_path){RT_GEMM_MR_AVX512, RT_GEMM_NR_AVX512, rt_gemm_kernel_avx512,
                           rt_gemm_kernel_avx512_direct, rt_gemm_kernel_avx512_direct_ab,
                           rt_gemm_kernel_avx512_direct_at, rt_gemm_transpose_avx512};
    case RT_ISA_AVX2:
        return (gemm_path){RT_GEMM_MR_AVX2, RT_GEMM_NR_AVX2, rt_gemm_kernel_avx2,
                           rt_gemm_kernel_avx2_direct, rt_gemm_kernel_avx2_direct_ab,
                           rt_gemm_kernel_avx2_direct_at, rt_gemm_transpose_avx2};
    case RT_ISA_PORTABLE:
        break;
    }
    return (gemm_path){RT_GEMM_MR_PORTABLE, RT_GEMM_NR_PORTABLE, kernel_portable, NULL, NULL, NULL, NULL};
}

/* How to share the work among `threads`: split the dimension that leaves
 * the least to do on the busiest thread, counting the tile padding its
 * units bring and the packing each thread repeats (splitting N repacks A
 * on every thread, splitting M repacks B). */
static void choose_split(gemm_problem *p, int threads)
{
    const int64_t MR = p->path.mr, NR = p->path.nr, M = p->M, N = p->N, K = p->K;
    int64_t units_n = (N + NR - 1) / NR, units_m = (M + MR - 1) / MR;
    int64_t parts_n = units_n < threads ? units_n : threads;
    int64_t parts_m = units_m < threads ? units_m : threads;
    int64_t mpad = units_m * MR, npad = units_n * NR;
    int64_t cols = (units_n + parts_n - 1) / parts_n * NR;
    int64_t rows = (units_m + parts_m - 1) / parts_m * MR;
    int64_t cost_n = cols * mpad * K + PACK_COST_MACS * (M * K + cols * K);
    int64_t cost_m = rows * npad * K + PACK_COST_MACS * (rows * K + N * K);
    p->split_n = cost_n <= cost_m;
    p->units = p->split_n ? units_n : units_m;
    p->parts = p->split_n ? parts_n : parts_m;
}

/* ------------------------------------------------ the swapped forward */

/* C (M,N) = A (M,K) B^T, B (N,K) row-major: a dense layer's forward
 * y = x W^T at a training batch. Computed the usual way, the weight W is B
 * and is packed transposed on every call; for gan.net (M = 64) that
 * packing was 19% of the training time (perf, one thread), because each
 * packed weight panel serves only ceil(64 / 12) = 6 micro-panels of x.
 * Swapped, y^T (N,M) = W x^T: W is the A operand, which the
 * micro-kernel reads in place as MR streams along K
 * (the path's direct_at), and only x (M x K, small) is packed.
 * y^T goes to a scratch buffer and is transposed into C, where the
 * epilogue runs. Each output is the same FMA chain over the same K slices
 * (they depend on K alone) with the same alpha/beta steps, so the result
 * is bitwise the one of the unswapped product. AVX-512 and AVX2 (the
 * paths with an A-in-place kernel), beta 0 only (C is not read).
 * From M = 32 (a whole 32-wide B panel) to 256, where the usual packing
 * is already spread over 22 micro-panels. */
#define SWAP_MIN_M 32
#define SWAP_MAX_M 256
/* Not for shallow or very wide products: y^T's transpose into C costs as
 * much as a K = 10 product (the MLP's dX from 10 classes took 1.47x longer
 * swapped, transpose_16 40% of it), and a 1 x 1 convolution's
 * 256 x 3136 output (N = the image's pixels) does not fit the cache on
 * its way through the scratch (0.61x swapped; perf: direct_ab and
 * transpose_16). Measured by the session-5 before/after comparison
 * (docs/performance-history.md); dense layers' N (their widths) stay in. */
#define SWAP_MIN_K 16
#define SWAP_MAX_N 1024

typedef struct swapped_problem {
    gemm_problem t;        /* y^T = W x^T into scratch */
    const gemm_problem *p; /* the caller's */
} swapped_problem;

static bool use_swapped(const gemm_problem *p)
{
    /* Not with a prepacked op(B) (recurrent steps): its packing is already
     * paid for, and the swapped problem's B is x, not W. */
    return p->path.transpose && !p->trans_a && p->beta == 0.0f && !p->packed_b &&
           p->M >= SWAP_MIN_M && p->M <= SWAP_MAX_M && p->N >= p->M &&
           p->K >= SWAP_MIN_K && p->N <= SWAP_MAX_N;
}

/* C's rows [m0, m1) x columns [n0, n1) from the transposed scratch, the
 * epilogue applied on the way. */
static void swapped_finish(const swapped_problem *s, int64_t m0, int64_t m1, int64_t n0,
                           int64_t n1)
{
    const gemm_problem *p = s->p;
    rt_gemm_transpose_ep ep;
    if (p->ep)
        ep = (rt_gemm_transpose_ep){ p->ep->bias ? p->ep->bias + n0 : NULL,
                                     p->ep->preact ? p->ep->preact + m0 * p->ldc + n0 : NULL,
                                     p->ep->act, p->ep->act_alpha };
    p->path.transpose(s->t.C + n0 * s->t.ldc + m0, s->t.ldc, n1 - n0, m1 - m0, p->C + m0 * p->ldc + n0,
                      p->ldc, p->ep ? &ep : NULL);
}

/* The task's part of y^T, then its part of C (rows of y^T are columns of
 * C). */
static void swapped_task(void *ctx, int64_t part)
{
    const swapped_problem *s = ctx;
    gemm_range r = task_range(&s->t, part);
    gemm_region(&s->t, r.m0, r.m1, r.n0, r.n1);
    swapped_finish(s, r.n0, r.n1, r.m0, r.m1);
}

static void swapped_gemm(const gemm_problem *p, int threads)
{
    swapped_problem s = { .t = *p, .p = p };
    gemm_problem *t = &s.t;
    t->trans_a = !p->trans_b;
    t->trans_b = true;
    t->M = p->N;
    t->N = p->M;
    t->A = p->B;
    t->lda = p->ldb;
    t->B = p->A;
    t->ldb = p->lda;
    t->ldc = p->M;
    t->C = rt_thread_scratch(RT_SCRATCH_GEMM_S, (size_t)(p->M * p->N) * sizeof(float));
    t->ep = NULL;
    t->direct_a = true;
    choose_split(t, threads);
    if (t->parts <= 1)
        swapped_task(&s, 0);
    else
        rt_parallel_for(t->parts, swapped_task, &s);
}

/* C = beta * C, then the epilogue: what is left when K or alpha is 0. */
static void scale_only(const gemm_problem *p)
{
    for (int64_t m = 0; m < p->M; m++) {
        float *c = p->C + m * p->ldc;
        for (int64_t n = 0; n < p->N; n++)
            c[n] = p->beta == 0.0f ? 0.0f : p->beta * c[n];
        if (p->ep)
            epilogue_portable(c, p->ldc, 1, (int)p->N, p->ep->bias,
                              p->ep->preact ? p->ep->preact + m * p->ldc : NULL, p->ep->act,
                              p->ep->act_alpha);
    }
}

/* A few rows of C (inference on a few samples): B read in place
 * (gemm_avx512.c, gemm_avx2.c, short_portable), 64-column tasks whose bounds depend on the
 * shape alone, the epilogue on each task's columns. */
typedef struct short_task {
    const gemm_problem *p;
    int64_t chunk;
} short_task;

/* The portable short product with B transposed: C[m,n] = dot(A row m,
 * B row n), K in blocks of 8 with one partial sum per lane (acc[j] takes
 * k = j mod 8, which gcc keeps in SSE registers), then a fixed tree. As on
 * the SIMD paths, each output's arithmetic is the same whatever M. */
static void short_portable(int64_t M, int64_t K, float alpha, const float *A, int64_t lda, const float *B,
                           int64_t ldb, float beta, float *C, int64_t ldc, int64_t n0, int64_t n1)
{
    for (int64_t n = n0; n < n1; n++)
        for (int64_t m = 0; m < M; m++) {
            const float *a = A + m * lda, *b = B + n * ldb;
            float acc[8] = { 0 };
            int64_t k = 0;
            for (; k + 8 <= K; k += 8)
                for (int j = 0; j < 8; j++)
                    acc[j] += a[k + j] * b[k + j];
            for (int j = 0; k + j < K; j++)
                acc[j] += a[k + j] * b[k + j];
            float s = alpha * (((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])));
            float *c = C + m * ldc + n;
            *c = beta == 0.0f ? s : s + beta * *c;
        }
}

static void short_columns(const gemm_problem *p, int64_t n0, int64_t n1)
{
    switch (rt_isa_current()) {
    case RT_ISA_AVX512:
        rt_gemm_short_avx512(p->trans_b, p->M, p->K, p->alpha, p->A, p->lda, p->B, p->ldb, p->beta, p->C, p->ldc,
                             n0, n1);
        break;
    case RT_ISA_AVX2:
        rt_gemm_short_avx2(p->M, p->K, p->alpha, p->A, p->lda, p->B, p->ldb, p->beta, p->C, p->ldc, n0, n1);
        break;
    case RT_ISA_PORTABLE:
        short_portable(p->M, p->K, p->alpha, p->A, p->lda, p->B, p->ldb, p->beta, p->C, p->ldc, n0, n1);
        break;
    }
    if (p->ep)
        for (int64_t m = 0; m < p->M; m++)
            p->epilogue(p->C + m * p->ldc + n0, p->ldc, 1, (int)(n1 - n0), p->ep->bias ? p->ep->bias + n0 : NULL,
                        p->ep->preact ? p->ep->preact + m * p->ldc + n0 : NULL, p->ep->act, p->ep->act_alpha);
}

static void short_task_run(void *ctx, int64_t i)
{
    const short_task *t = ctx;
    int64_t n0 = i * t->chunk, n1 = n0 + t->chunk < t->p->N ? n0 + t->chunk : t->p->N;
    short_columns(t->p, n0, n1);
}

static void short_gemm(const gemm_problem *p)
{
    short_task t = { p, 64 };
    int64_t tasks = (p->N + t.chunk - 1) / t.chunk;
    /* Memory-bound (B is read once): worth a second thread from 64K floats
     * of B on, where streaming B from L3 takes about 2.5 us and the
     * spinning worker starts in well under one. mlp.net's second layer
     * (128K floats) was left on one thread by the multiply-add count. */
    if (tasks <= 1 || (p->N * p->K < SHORT_PARALLEL_MIN_FLOATS && p->M * p->N * p->K < PARALLEL_MIN_MACS))
        short_columns(p, 0, p->N);
    else
        rt_parallel_for(tasks, short_task_run, &t);
}

/* C (M,N) with N much smaller than M (the 10-class output layer and its
 * weight gradient): computed as C^T = op(B)^T op(A)^T into a scratch
 * buffer, so the long M dimension runs along the vector lanes, then added
 * into C. With C itself the 16-wide tile wasted 6 lanes of 16 and C(128x10)
 * = H(128x256) W ran at 28 GFLOP/s against OpenBLAS's 70. */
static void narrow_gemm(const gemm_problem *p)
{
    float *t = rt_thread_scratch(RT_SCRATCH_GEMM_T, (size_t)(p->M * p->N) * sizeof(float));
    rt_sgemm(!p->trans_b, !p->trans_a, (int)p->N, (int)p->M, (int)p->K, p->alpha, p->B,
             (int)p->ldb, p->A, (int)p->lda, 0.0f, t, (int)p->M);
    for (int64_t m = 0; m < p->M; m++) {
        float *c = p->C + m * p->ldc;
        for (int64_t n = 0; n < p->N; n++)
            c[n] = p->beta == 0.0f ? t[n * p->M + m] : t[n * p->M + m] + p->beta * c[n];
        if (p->ep)
            p->epilogue(c, p->ldc, 1, (int)p->N, p->ep->bias,
                        p->ep->preact ? p->ep->preact + m * p->ldc : NULL, p->ep->act,
                        p->ep->act_alpha);
    }
}

/* Equal slices no deeper than KC_MAX, so K = 784 is 3 x 262 rather than
 * 384 + 384 + 16. Depends on K alone (determinism). */
static int64_t kc_step_for(int64_t K)
{
    int64_t kslices = (K + KC_MAX - 1) / KC_MAX;
    return (K + kslices - 1) / kslices;
}

/* rt_sgemm_ex, with op(B) already packed when packed is not NULL (see
 * rt_sgemm_packed_ex below). */
static void sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
                  int lda, const float *B, int ldb, float beta, float *C, int ldc,
                  const rt_epilogue *ep, const float *packed)
{
    if (M <= 0 || N <= 0)
        return;
    if (ep && !ep->bias && !ep->preact && ep->act == RT_ACT_NONE)
        ep = NULL;
    gemm_problem p = {
        .trans_a = trans_a, .trans_b = trans_b, .M = M, .N = N, .K = K,
        .alpha = alpha, .beta = beta, .A = A, .B = B, .lda = lda, .ldb = ldb, .ldc = ldc,
        .C = C, .ep = ep,
    };
    rt_isa isa = rt_isa_current();
    /* A 32-wide AVX-512 tile would be mostly padding on a narrow C (the
     * 10-class output layer: 22 GFLOP/s against 30 with the 16-wide AVX2
     * tile). Narrow and tall C goes through narrow_gemm below; this is for
     * narrow C that is short too. Depends on the shape alone, so still
     * deterministic. */
    if (isa == RT_ISA_AVX512 && N <= RT_GEMM_NR_AVX2)
        isa = RT_ISA_AVX2;
    p.path = path_for(isa);
    p.packed_b = packed; /* only gemm_region reads it: the paths below read B */
    p.packed_npad = round_up(N, p.path.nr);
    p.fast_pack = isa >= RT_ISA_AVX2;
    p.epilogue = epilogue_for(rt_isa_current());
    /* A read in place on AVX-512 and AVX2 (the portable path has no
     * kernel that takes it so): packing it cost more than it saved. A micro-panel is
     * MR rows of at most KC_MAX floats, in L1 either way, and it is swept
     * across every B panel of the block from there. Measured (paired
     * whole-process CPU time, one thread): gpt.net's training 5% less,
     * charlstm.net's 5%, mlp.net, lenet.net and gan.net within noise;
     * gpt.net's dense products (M = 2048, K = 128 to 2048) went from
     * 170-190 to 190-215 GFLOP/s. With a prepacked B too (the recurrent
     * steps' products, 32 rows of h or of the gate gradients against W_hh,
     * which packed A every step): charlstm.net's training 2.5% less CPU
     * (6 alternating pairs, 0.969-1.039). Not for a few rows with B in
     * place (gemm_region's direct_b: packing B would then cost a copy of
     * B). On AVX2, A^T (the weight gradients' X^T) stays packed: the
     * 6-row tile takes 6 floats of each 16-float line of A^T, so in place
     * its kc lines filled most of Zen 3's 32 KiB L1 beside the B panel,
     * and charlstm.net's training took 1.13x the CPU (perf: direct_ab
     * 39%); with A's rows in place only, 0.96x (and gpt.net 0.90x, 5
     * pairs each, one thread). */
    p.direct_a = p.path.direct_at && (trans_b || M > p.path.mr) && (!trans_a || isa == RT_ISA_AVX512);
    if (K <= 0 || alpha == 0.0f) {
        scale_only(&p);
        return;
    }
    /* A few rows (inference on a few samples): B read in place. B not
     * transposed only on AVX-512 (gemm_avx512.c); transposed (a dense
     * layer's forward) on every path. */
    if (M <= RT_GEMM_SHORT_M && !trans_a && (trans_b || rt_isa_current() == RT_ISA_AVX512)) {
        short_gemm(&p);
        return;
    }
    if (N <= NARROW_N && M >= 4 * N) {
        narrow_gemm(&p);
        return;
    }
    p.kc_step = kc_step_for(K);

    /* With K this shallow packing outweighs the product, and splitting
     * repeats it: C(128x256) = dY(128x10) W^T ran at 75 GFLOP/s on one
     * thread and 57 on two. */
    bool small = (int64_t)M * N * K < PARALLEL_MIN_MACS || K < PARALLEL_MIN_K;
    int threads = small ? 1 : rt_threads_count();
    if (use_swapped(&p)) {
        swapped_gemm(&p, threads);
        return;
    }
    choose_split(&p, threads);
    if (p.parts <= 1)
        gemm_region(&p, 0, p.M, 0, p.N);
    else
        rt_parallel_for(p.parts, gemm_task, &p);
}

void rt_sgemm_ex(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
                 int lda, const float *B, int ldb, float beta, float *C, int ldc,
                 const rt_epilogue *ep)
{
    sgemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ep, NULL);
}

/* ------------------------------------------------ B packed once, reused */

/* A recurrent layer multiplies the same W_hh at each of its T steps with
 * only B = 32 rows of h: packing the 1 MiB of W_hh (transposed) for every
 * step cost more than a third as much as the products themselves (perf,
 * charlstm.net one thread: the transposed packing 12%, pack_b 4%, against
 * the micro-kernel's 58%). Packed once per call instead, in the layout
 * gemm_region's blocks would have: slice by slice of kc_step_for(K), each
 * slice's NR-wide panels side by side. The micro-kernel then sees the same
 * numbers in the same order, so the products are bitwise those of
 * rt_sgemm_ex. */
int64_t rt_sgemm_packed_floats(int N, int K)
{
    return (int64_t)(K > 0 ? K : 0) * round_up(N, RT_GEMM_NR_MAX);
}

void rt_sgemm_pack_b(bool trans_b, int N, int K, const float *B, int ldb, float *packed)
{
    if (N <= 0 || K <= 0)
        return;
    gemm_problem p = { .trans_b = trans_b, .N = N, .K = K, .B = B, .ldb = ldb };
    rt_isa isa = rt_isa_current();
    if (isa == RT_ISA_AVX512 && N <= RT_GEMM_NR_AVX2) /* as sgemm chooses */
        isa = RT_ISA_AVX2;
    p.path = path_for(isa);
    p.fast_pack = isa >= RT_ISA_AVX2;
    int64_t step = kc_step_for(K), npad = round_up(N, p.path.nr);
    for (int64_t k0 = 0; k0 < K; k0 += step)
        pack_b(&p, k0, K - k0 < step ? K - k0 : step, 0, N, packed + k0 * npad);
}

void rt_sgemm_packed_ex(bool trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                        const float *B, int ldb, const float *packed, float beta, float *C, int ldc,
                        const rt_epilogue *ep)
{
    sgemm(false, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ep, packed);
}

/* ----------------------------------------- small products, in place */

/* The per-head products of attention (attention.c: T x dk operands, dk =
 * D / heads, 32 for gpt.net) are too small for packing to pay: each
 * operand is used by a handful of micro-tiles, and packing them (A
 * transposed into micro-panels, B into NR-wide panels) plus the driver
 * took 20% of gpt.net's training against the micro-kernel's 48% (perf,
 * one thread). Here, on AVX-512 and AVX2, A is read where it lies by the kernels
 * that take it in place (direct_at: rows along K; direct_ab: A^T), and B
 * too when not transposed, whole panels in place and the ragged last one
 * packed (a full-width read there could run past the matrix). A
 * transposed B is packed, once per K slice, or once for several products
 * by rt_sgemm_small_pack_bt (a head's K^T, used by each block of query
 * rows: packing it per block was a quarter of the heads' time). The K
 * slices are sgemm's and the kernels do the packed kernel's arithmetic,
 * so the results are bitwise rt_sgemm's; on the portable path this is
 * rt_sgemm. One thread always: the callers run it inside their own
 * tasks. */
static void small_slice(const gemm_problem *p, int64_t k0, int64_t kc, float beta, float *buf,
                        const float *packed)
{
    const int MR = p->path.mr, NR = p->path.nr;
    int64_t full = p->trans_b ? 0 : p->N / NR * NR;
    if (packed) /* all of op(B) for this slice, packed by the caller */
        buf = (float *)packed;
    else if (full < p->N) /* the panels read from buf: all of them, or the ragged last */
        pack_b(p, k0, kc, full, p->N - full, buf);
    for (int64_t j = 0; j < p->N; j += NR) {
        int nr = p->N - j < NR ? (int)(p->N - j) : NR;
        const float *b = j < full ? p->B + k0 * p->ldb + j : buf + (j - full) * kc;
        int64_t ldb = j < full ? p->ldb : NR;
        for (int64_t mb = 0; mb < p->M; mb += MR) {
            int mr = p->M - mb < MR ? (int)(p->M - mb) : MR;
            float *c = p->C + mb * p->ldc + j;
            if (p->trans_a)
                p->path.direct_ab(kc, p->A + k0 * p->lda + mb, p->lda, b, ldb, c, p->ldc, mr, nr, p->alpha, beta);
            else
                p->path.direct_at(kc, p->A + mb * p->lda + k0, p->lda, b, ldb, c, p->ldc, mr, nr, p->alpha, beta);
        }
    }
}

/* Whether the small path takes this product (else: rt_sgemm): sgemm's own
 * choices for these shapes send a narrower C to the AVX2 tile or the
 * transposed product, a few rows to the short path. */
static bool small_applies(int M, int N, int K, float alpha)
{
    return rt_isa_current() >= RT_ISA_AVX2 && M > RT_GEMM_SHORT_M && N > RT_GEMM_NR_AVX2 && K > 0 &&
           alpha != 0.0f && !(N <= NARROW_N && M >= 4 * N);
}

static void small_gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                       const float *B, int ldb, const float *packed, float beta, float *C, int ldc)
{
    gemm_problem p = {
        .trans_a = trans_a, .trans_b = trans_b, .M = M, .N = N, .K = K, .alpha = alpha, .beta = beta,
        .A = A, .B = B, .lda = lda, .ldb = ldb, .ldc = ldc, .C = C,
        .path = path_for(rt_isa_current()), .fast_pack = true,
    };
    int64_t step = kc_step_for(K), npad = round_up(N, p.path.nr);
    float *buf = packed ? NULL : rt_thread_scratch(RT_SCRATCH_GEMM_B, (size_t)(step * npad) * sizeof(float));
    for (int64_t k0 = 0; k0 < K; k0 += step)
        small_slice(&p, k0, K - k0 < step ? K - k0 : step, k0 == 0 ? beta : 1.0f, buf, packed);
}

void rt_sgemm_small(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                    const float *B, int ldb, float beta, float *C, int ldc)
{
    if (small_applies(M, N, K, alpha))
        small_gemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, NULL, beta, C, ldc);
    else
        rt_sgemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

int64_t rt_sgemm_small_bt_floats(int N, int K)
{
    return (int64_t)(K > 0 ? K : 0) * round_up(N, RT_GEMM_NR_MAX);
}

/* One K slice only (K <= KC_MAX), so that the panels of any first N' <= N
 * rows of B are where a product with N' columns looks for them. */
bool rt_sgemm_small_pack_bt(int N, int K, const float *B, int ldb, float *packed)
{
    if (rt_isa_current() < RT_ISA_AVX2 || N <= 0 || K <= 0 || K > KC_MAX)
        return false;
    gemm_problem p = { .trans_b = true, .N = N, .K = K, .B = B, .ldb = ldb,
                       .path = path_for(rt_isa_current()), .fast_pack = true };
    pack_b(&p, 0, K, 0, N, packed);
    return true;
}

void rt_sgemm_small_bt(int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                       const float *packed, float beta, float *C, int ldc)
{
    if (packed && small_applies(M, N, K, alpha))
        small_gemm(false, true, M, N, K, alpha, A, lda, B, ldb, packed, beta, C, ldc);
    else
        rt_sgemm_small(false, true, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void rt_sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
              int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    rt_sgemm_ex(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, NULL);
}
