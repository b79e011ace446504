/* kernels_internal.h — private to libnetrt: what the portable kernels
 * (kernels.c, rng.c, optim.c) share with their instruction-set variants
 * (kernels_avx2.c, kernels_avx512.c). Not installed, not for generated code.
 *
 * The SIMD entry points below are only called after the portable file has
 * checked rt_isa_current(); each works on one contiguous chunk, so the
 * threading and the chunking (which decide the results' bits) stay there.
 */
#ifndef KERNELS_INTERNAL_H
#define KERNELS_INTERNAL_H

#include "netrt.h"

/* ------------------------------------------------------------- random */

/* The counter-based generator is SplitMix64's output function applied to a
 * Weyl sequence whose start is a hash of the seed:
 *   rt_rand_u64(seed, c) = rt_rng_mix(rt_rng_key(seed) + c * RT_RNG_WEYL)
 * The SIMD dropout kernels rebuild the same bits lane by lane. */
#define RT_RNG_WEYL 0x9e3779b97f4a7c15ull
#define RT_RNG_MUL1 0xbf58476d1ce4e5b9ull
#define RT_RNG_MUL2 0x94d049bb133111ebull

static inline uint64_t rt_rng_mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * RT_RNG_MUL1;
    z = (z ^ (z >> 27)) * RT_RNG_MUL2;
    return z ^ (z >> 31);
}

uint64_t rt_rng_key(uint64_t seed);

/* ------------------------------------------------------------- embed */

/* Aborts, naming `who`, the id and its position, unless every one of the
 * n ids is in [0, vocab) (rt_embed_forward's check, shared with the
 * recurrent layers that read token ids). */
void rt_embed_check_ids(const char *who, int64_t n, int64_t vocab, const int32_t *ids);

/* ------------------------------------------------------ small products */

/* rt_sgemm for products small enough to stay in L1/L2 (attention's
 * per-head products), on the calling thread, with the operands read in
 * place where the path allows (gemm.c says how). Bitwise rt_sgemm's
 * results. */
void rt_sgemm_small(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                    const float *B, int ldb, float beta, float *C, int ldc);
/* C = alpha A B^T + beta C with B^T packed once for several products:
 * rt_sgemm_small_pack_bt packs B (N,K) into rt_sgemm_small_bt_floats(N, K)
 * floats and says whether it did (only on AVX-512, and K <= 384);
 * rt_sgemm_small_bt then computes rt_sgemm_small(false, true, ...) for any
 * N' <= N first rows of that B, from `packed` when it is not NULL (pass
 * NULL when the packing was refused). */
int64_t rt_sgemm_small_bt_floats(int N, int K);
bool rt_sgemm_small_pack_bt(int N, int K, const float *B, int ldb, float *packed);
void rt_sgemm_small_bt(int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                       const float *packed, float beta, float *C, int ldc);

/* ---------------------------------------------------- SIMD entry points */

/* y (n) = act(x) */
void rt_avx512_add(int64_t n, const float *a, const float *b, float *dst);
void rt_avx2_add(int64_t n, const float *a, const float *b, float *dst);
void rt_avx512_act_forward(rt_act act, float alpha, int64_t n, const float *x, float *y);
void rt_avx2_act_forward(rt_act act, float alpha, int64_t n, const float *x, float *y);
/* dx (n) = dy * act'(x); dx may alias dy */
void rt_avx512_act_backward(rt_act act, float alpha, int64_t n, const float *x,
                            const float *y, const float *dy, float *dx);
void rt_avx2_act_backward(rt_act act, float alpha, int64_t n, const float *x,
                          const float *y, const float *dy, float *dx);

/* One sample's LSTM cell backward at one step (recurrent.c's formulas),
 * j < H: with a = the gate values i, f, g, o (H each), tc = tanh(c_t),
 * prev = c_{t-1} (NULL at t = 0), dh and dy (dy may be NULL) the gradient
 * reaching h_t, dc the cell gradient from step t+1 (updated to step t's,
 * for step t-1), d the four pre-activation gradients. Every path does the
 * portable loop's float operations in its order, unfused, so all give its
 * bits. The scalar loop was 6.6% of charlstm.net's training (perf, one
 * thread). */
void rt_lstm_cell_backward(rt_isa isa, int64_t H, const float *a, const float *tc, const float *prev,
                           const float *dh, const float *dy, float *dc, float *d);
void rt_avx512_lstm_cell_backward(int64_t H, const float *a, const float *tc, const float *prev,
                                  const float *dh, const float *dy, float *dc, float *d);
void rt_avx2_lstm_cell_backward(int64_t H, const float *a, const float *tc, const float *prev,
                                const float *dh, const float *dy, float *dc, float *d);

/* One sample's LSTM cell forward at one step, j < H: a holds the four
 * pre-activations i, f, g, o (H each) and gets their values (sigmoid,
 * sigmoid, tanh, sigmoid); cell = f prev + i g (prev = c_{t-1}, NULL at
 * t = 0; it may be cell itself, each block read before it is written),
 * tc = tanh(cell) when not NULL (kept for the backward pass), h = o tc.
 * The same float operations as rt_act_forward's and the portable loop,
 * unfused, so every path gives the bits of the five separate passes it
 * replaced: those passes over the batch, four rt_act_forward calls and two
 * scalar loops per sample and step, were 5% of charlstm.net's training
 * (perf, one thread), and each re-read the gate row. */
void rt_lstm_cell_forward(rt_isa isa, int64_t H, float *a, const float *prev, float *cell, float *tc, float *h);
/* recurrent.c's estimate of run i's speed (how the batch is cut into runs
 * of samples on more than one thread), set by hand: tests force uneven
 * cuts with it. */
void rt_recurrent_run_speed_set(int64_t run, double speed);
void rt_avx512_lstm_cell_forward(int64_t H, float *a, const float *prev, float *cell, float *tc, float *h);
void rt_avx2_lstm_cell_forward(int64_t H, float *a, const float *prev, float *cell, float *tc, float *h);

/* acc[j] += dy[m * ld + j] for m = 0, 1, ..., M - 1 in that order, each
 * float widened to double, j < width: one task of rt_sum_rows. The order
 * per column is the portable loop's, so every path gives the same bits;
 * the vectors only run several columns at once (the portable loop, one
 * column at a time through memory, was 5.8% of charlstm.net's training:
 * the bias gradients of its lstm layers, 2048 x 1024 each). */
void rt_avx512_sum_rows(int64_t M, int64_t ld, int64_t width, const float *dy, double *acc);
void rt_avx2_sum_rows(int64_t M, int64_t ld, int64_t width, const float *dy, double *acc);

/* What a softmax row leaves behind besides y: the row's max and
 * sum(exp(x - max)) in double, so log(sum(exp(x))) = max + log(sum).
 * The log is left to the caller that wants it (the cross-entropy loss):
 * attention's rows do not, and in gpt.net's training the log of every
 * score row was 0.5% of the time (perf: __ieee754_log_fma, one thread). */
typedef struct rt_softmax_sums {
    float max;
    double sum;
} rt_softmax_sums;

/* One row: x (cols) -> y (cols) = softmax(x), the sum in double. */
rt_softmax_sums rt_avx512_softmax_row(int64_t cols, const float *x, float *y);
rt_softmax_sums rt_avx2_softmax_row(int64_t cols, const float *x, float *y);

/* g (width) = p * (g - dot(p, g)) over the first n, 0 past them, the dot
 * product in double: the softmax's backward for attention's rows
 * (kernels_simd.h). */
void rt_avx512_softmax_grad_row(int64_t n, int64_t width, const float *p, float *g);
void rt_avx2_softmax_grad_row(int64_t n, int64_t width, const float *p, float *g);

/* The same on the path `isa` names (kernels.c dispatches): what
 * rt_softmax_forward does to each row, for kernels that softmax rows of
 * their own (attention's scores). y may alias x. */
rt_softmax_sums rt_softmax_row(rt_isa isa, int64_t cols, const float *x, float *y);
/* The same for rt_avx512_softmax_grad_row's work (attention's backward). */
void rt_softmax_grad_row(rt_isa isa, int64_t n, int64_t width, const float *p, float *g);

/* out[i] = keep(i) ? in[i] * scale : 0 for i in [begin, end), where keep(i)
 * tests the top 24 bits of rt_rng_mix(key + i * RT_RNG_WEYL) against
 * threshold; in and out point at element 0 of the whole call. */
void rt_avx512_dropout(int64_t begin, int64_t end, uint64_t key, uint32_t threshold,
                       float scale, const float *in, float *out);
void rt_avx2_dropout(int64_t begin, int64_t end, uint64_t key, uint32_t threshold,
                     float scale, const float *in, float *out);

/* ------------------------------------------------- layer normalisation */

/* One row of rt_layernorm_forward and rt_layernorm_backward (layernorm.c
 * owns the threading and the chunks of rows). Every path computes the
 * same float and double operations in the same order, so all give the
 * portable path's bits:
 *  - a row sum goes into RT_LN_LANES double lanes, element j into lane
 *    j % RT_LN_LANES in increasing j (vector code keeps the lanes in
 *    registers, tails are scalar and continue the same lanes), and the
 *    lanes are then added as a pairwise tree: lane k + lane k + 8 for
 *    k < 8, then k + (k + 4) for k < 4, then k + (k + 2), then the two;
 *  - mean = (float)(sum x / d); the variance sums (double)(x - mean)^2;
 *    rstd = (float)(1 / sqrt(var + eps));
 *  - y = ((x - mean) * rstd) * gamma + beta in float, never fused;
 *  - backward: xhat = (x - mean) * rstd, g = dy * gamma (float); the row
 *    sums of (double)g and (double)g * xhat give a = (float)(sum / d) and
 *    b likewise; dx = rstd * ((g - a) - xhat * b); when pg is not NULL,
 *    pg[j] += (double)dy * xhat and pb[j] += (double)dy. */
#define RT_LN_LANES 16

/* The lanes' total by the pairwise tree above: lanes k and k + 8, then k
 * and k + 4, k and k + 2, and the last two. */
static inline double rt_ln_lane_total(const double lane[RT_LN_LANES])
{
    double t[8];
    for (int k = 0; k < 8; k++)
        t[k] = lane[k] + lane[k + 8];
    for (int k = 0; k < 4; k++)
        t[k] += t[k + 4];
    for (int k = 0; k < 2; k++)
        t[k] += t[k + 2];
    return t[0] + t[1];
}
// x, gamma, beta, y (d); *mean, *rstd: the row's statistics
void rt_avx512_layernorm_row(int64_t d, const float *x, const float *gamma, const float *beta,
                             float eps, float *y, float *mean, float *rstd);
void rt_avx2_layernorm_row(int64_t d, const float *x, const float *gamma, const float *beta,
                           float eps, float *y, float *mean, float *rstd);
// x, dy, gamma, dx (d); pg, pb (d) doubles or NULL
void rt_avx512_layernorm_row_backward(int64_t d, const float *x, const float *dy,
                                      const float *gamma, float mean, float rstd, float *dx,
                                      double *pg, double *pb);
void rt_avx2_layernorm_row_backward(int64_t d, const float *x, const float *dy,
                                    const float *gamma, float mean, float rstd, float *dx,
                                    double *pg, double *pb);

/* ---------------------------------------------------------- optimizers */

/* The per-call constants of one optimizer update (optim.c works them out
 * from rt_optimizer and the step). Every path performs the same float
 * operations in the same order, with no fused multiply-add, so all paths
 * give the same bits; optim.c's portable loops spell the order out. */
typedef struct rt_update {
    float lr, weight_decay, momentum;
    bool first_step, nesterov;          /* sgd */
    float keep;                         /* adamw: 1 - lr * wd; adam: 1 */
    float one_minus_beta1, beta2, one_minus_beta2;
    float step_size, bc2_sqrt, eps;     /* adam: lr / (1 - beta1^t), sqrt(1 - beta2^t) */
    float alpha, one_minus_alpha;       /* rmsprop */
} rt_update;

// p, g, buf (n)
void rt_avx512_sgd(const rt_update *u, int64_t n, float *p, const float *g, float *buf);
void rt_avx2_sgd(const rt_update *u, int64_t n, float *p, const float *g, float *buf);
// p, g, m, v (n)
void rt_avx512_adam(const rt_update *u, int64_t n, float *p, const float *g, float *m, float *v);
void rt_avx2_adam(const rt_update *u, int64_t n, float *p, const float *g, float *m, float *v);
// p, g, sq, buf (n); buf unused without momentum
void rt_avx512_rmsprop(const rt_update *u, int64_t n, float *p, const float *g, float *sq, float *buf);
void rt_avx2_rmsprop(const rt_update *u, int64_t n, float *p, const float *g, float *sq, float *buf);

#endif
