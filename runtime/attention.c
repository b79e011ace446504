/* attention.c — multi-head self-attention, forward and backward (the
 * computation is written out above rt_attention in netrt.h).
 *
 * One kernel per direction owns the whole layer: the two projections are
 * GEMMs over all batch * T rows (threaded inside rt_sgemm), and the heads
 * run as one task per (sample, head), each doing its own small GEMMs
 * serially (a GEMM called from a task does not go back to the pool)
 * through rt_sgemm_small, which reads Q, K, V, P and the gradients where
 * they lie; only a head's K^T and V^T are packed, once per head (the
 * packing for every product was a fifth of gpt.net's training). Tasks
 * write disjoint columns of qkv, ctx and their gradients, so the results
 * do not depend on which thread runs what: the same bits for any thread
 * count.
 *
 * The training forward keeps the softmax probabilities (H*T*T floats per
 * sample) rather than have the backward pass recompute them: recomputing
 * costs the score GEMM again (a quarter of the backward's head products)
 * and T*T exponentials per head, while at the sizes netc trains (T in the
 * hundreds) the probabilities are no larger than the activations of the
 * MLP beside the attention.
 *
 * A causal head is computed in blocks of query rows: rows [r0, r1) attend
 * to keys [0, r1) only, so the products skip most of the masked triangle.
 * The probabilities beyond the diagonal inside a block are exact zeros.
 * Blocks of 16 and 24 rows measured the same as 32 (the scores' columns
 * go in 32-wide panels whatever the block).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels_internal.h"
#include "util.h"

/* Query rows per block of a causal head. At T = 128, 32-row blocks do 62%
 * of the full products; smaller blocks make GEMMs too short to pay for
 * their packing. A constant, so the blocks depend on T alone. */
enum { CAUSAL_ROWS = 32 };

/* ------------------------------------------------------------- scratch */

/* A T x T buffer for this thread (the scores of a head at inference, the
 * probabilities' gradient in the backward pass). */
static float *scratch(int64_t floats)
{
    return rt_thread_scratch(RT_SCRATCH_ATTENTION, (size_t)floats * sizeof(float));
}

/* A head's K (or V), T rows of dh at a stride of 3D, packed transposed
 * once for the products of all its blocks (rt_sgemm_small_bt); NULL where
 * the path reads it otherwise. */
static const float *pack_bt(int64_t T, int64_t dh, const float *m, int64_t ld)
{
    size_t bytes = (size_t)rt_sgemm_small_bt_floats((int)T, (int)dh) * sizeof(float);
    float *buf = rt_thread_scratch(RT_SCRATCH_ATTENTION_BT, bytes);
    return rt_sgemm_small_pack_bt((int)T, (int)dh, m, (int)ld, buf) ? buf : NULL;
}

/* --------------------------------------------------------------- heads */

typedef struct heads_task {
    rt_isa isa;
    int64_t t, d, heads, dh, block;
    bool causal;
    float scale;
    const float *qkv;
    float *probs, *ctx;             /* forward: written (probs may be NULL) */
    const float *saved_probs, *dctx; /* backward: read */
    float *dqkv;
} heads_task;

/* Where head h of sample b starts in a (B,T,3D) tensor (its Q columns;
 * K and V follow D and 2D floats later) and in a (B,T,D) one. */
static int64_t qkv_at(const heads_task *t, int64_t b, int64_t h)
{
    return b * t->t * 3 * t->d + h * t->dh;
}

static int64_t ctx_at(const heads_task *t, int64_t b, int64_t h)
{
    return b * t->t * t->d + h * t->dh;
}

/* Keys a block of query rows ending at r1 attends to. */
static int64_t keys_of(const heads_task *t, int64_t r1)
{
    return t->causal ? r1 : t->t;
}

/* Rows [r0, r1) of p (ld T), holding scaled scores, become probabilities:
 * each row's softmax over its keys, zero beyond them. */
static void softmax_rows(const heads_task *t, float *p, int64_t r0, int64_t r1)
{
    for (int64_t i = r0; i < r1; i++) {
        int64_t n = t->causal ? i + 1 : t->t;
        float *row = p + i * t->t;
        rt_softmax_row(t->isa, n, row, row);
        memset(row + n, 0, sizeof(float) * (size_t)(t->t - n));
    }
}

// qkv (B,T,3D) -> probs (B,H,T,T) or scratch, ctx (B,T,D); task = b * H + h
static void forward_head(void *arg, int64_t task)
{
    const heads_task *t = arg;
    int64_t T = t->t, ld = 3 * t->d, b = task / t->heads, h = task % t->heads;
    const float *q = t->qkv + qkv_at(t, b, h), *k = q + t->d, *v = q + 2 * t->d;
    float *p = t->probs ? t->probs + task * T * T : scratch(T * T);
    float *ctx = t->ctx + ctx_at(t, b, h);
    const float *kt = pack_bt(T, t->dh, k, ld);
    for (int64_t r0 = 0; r0 < T; r0 += t->block) {
        int64_t r1 = min_i64(r0 + t->block, T), keys = keys_of(t, r1);
        /* S = scale Q K^T, then P = softmax(S), then ctx = P V */
        rt_sgemm_small_bt((int)(r1 - r0), (int)keys, (int)t->dh, t->scale, q + r0 * ld, (int)ld, k, (int)ld, kt,
                          0.0f, p + r0 * T, (int)T);
        softmax_rows(t, p, r0, r1);
        rt_sgemm_small(false, false, (int)(r1 - r0), (int)t->dh, (int)keys, 1.0f, p + r0 * T, (int)T, v, (int)ld,
                       0.0f, ctx + r0 * t->d, (int)t->d);
    }
}

/* dS = P * (dP - rowsum(P * dP)), the softmax's gradient, in place of dP
 * (rows [r0, r1) of P; ds has `keys` columns), the sum in double; zero
 * beyond each row's keys. */
static void softmax_grad_rows(const heads_task *t, const float *p, float *ds, int64_t r0, int64_t r1,
                              int64_t keys)
{
    for (int64_t i = r0; i < r1; i++) {
        int64_t n = t->causal ? i + 1 : t->t;
        rt_softmax_grad_row(t->isa, n, keys, p + i * t->t, ds + (i - r0) * keys);
    }
}

/* dctx (B,T,D), probs, qkv -> dqkv (B,T,3D); task = b * H + h. Blocks run
 * last to first: the last one's keys are all T, so it writes every row of
 * dK and dV, and the earlier ones (fewer keys, when causal) add to them. */
static void backward_head(void *arg, int64_t task)
{
    const heads_task *t = arg;
    int64_t T = t->t, ld = 3 * t->d, b = task / t->heads, h = task % t->heads;
    const float *q = t->qkv + qkv_at(t, b, h), *k = q + t->d, *v = q + 2 * t->d;
    const float *p = t->saved_probs + task * T * T, *dout = t->dctx + ctx_at(t, b, h);
    float *dq = t->dqkv + qkv_at(t, b, h), *dk = dq + t->d, *dv = dq + 2 * t->d;
    float *ds = scratch(t->block * T);
    int64_t blocks = (T + t->block - 1) / t->block;
    const float *vt = pack_bt(T, t->dh, v, ld);
    for (int64_t blk = blocks - 1; blk >= 0; blk--) {
        int64_t r0 = blk * t->block, r1 = min_i64(r0 + t->block, T), keys = keys_of(t, r1);
        int rows = (int)(r1 - r0), dh = (int)t->dh;
        float beta = blk == blocks - 1 ? 0.0f : 1.0f;
        /* dV += P^T dO; dP = dO V^T; dS from dP; dQ = scale dS K; dK += scale dS^T Q */
        rt_sgemm_small(true, false, (int)keys, dh, rows, 1.0f, p + r0 * T, (int)T, dout + r0 * t->d, (int)t->d,
                       beta, dv, (int)ld);
        rt_sgemm_small_bt(rows, (int)keys, dh, 1.0f, dout + r0 * t->d, (int)t->d, v, (int)ld, vt, 0.0f, ds,
                          (int)keys);
        softmax_grad_rows(t, p, ds, r0, r1, keys);
        rt_sgemm_small(false, false, rows, dh, (int)keys, t->scale, ds, (int)keys, k, (int)ld, 0.0f, dq + r0 * ld,
                       (int)ld);
        rt_sgemm_small(true, false, (int)keys, dh, rows, t->scale, ds, (int)keys, q + r0 * ld, (int)ld, beta, dk,
                       (int)ld);
    }
}

/* The task description shared by both directions; a shape the compiler
 * should never have produced aborts with a message. */
static heads_task heads_of(const rt_attention *a, const char *who)
{
    if (a->t < 1 || a->d < 1 || a->heads < 1 || a->d % a->heads) {
        fprintf(stderr, "%s: netrt: %s: t=%lld d=%lld heads=%lld is not an attention layer\n", __FILE__, who,
                (long long)a->t, (long long)a->d, (long long)a->heads);
        abort();
    }
    heads_task t = { .isa = rt_isa_current(), .t = a->t, .d = a->d, .heads = a->heads, .dh = a->d / a->heads,
                     .causal = a->causal != 0 };
    t.block = t.causal ? CAUSAL_ROWS : t.t;
    t.scale = (float)(1.0 / sqrt((double)t.dh));
    return t;
}

// x (B,T,D), w_qkv (3D,D), b_qkv (3D), w_out (D,D), b_out (D) -> qkv (B,T,3D), ctx (B,T,D), probs (B,H,T,T), y (B,T,D)
void rt_attention_forward(const rt_attention *a, int64_t batch, const float *x, const float *w_qkv,
                          const float *b_qkv, const float *w_out, const float *b_out, float *qkv,
                          float *ctx, float *probs, float *y)
{
    heads_task t = heads_of(a, "rt_attention_forward");
    if (batch < 1)
        return;
    int rows = (int)(batch * t.t), d = (int)t.d;
    rt_epilogue ep = { .bias = b_qkv };
    rt_sgemm_ex(false, true, rows, 3 * d, d, 1.0f, x, d, w_qkv, d, 0.0f, qkv, 3 * d, &ep);
    t.qkv = qkv;
    t.probs = probs;
    t.ctx = ctx;
    rt_run_tasks(batch * t.heads, forward_head, &t);
    ep.bias = b_out;
    rt_sgemm_ex(false, true, rows, d, d, 1.0f, ctx, d, w_out, d, 0.0f, y, d, &ep);
}

// dy (B,T,D), work (B,4TD) -> dx (B,T,D), dw_qkv (3D,D), db_qkv (3D), dw_out (D,D), db_out (D)
void rt_attention_backward(const rt_attention *a, int64_t batch, const float *x,
                           const float *w_qkv, const float *w_out, const float *qkv,
                           const float *ctx, const float *probs, const float *dy, float *work,
                           float *dx, float *dw_qkv, float *db_qkv, float *dw_out, float *db_out,
                           bool accumulate)
{
    heads_task t = heads_of(a, "rt_attention_backward");
    if (batch < 1)
        return;
    int rows = (int)(batch * t.t), d = (int)t.d;
    float beta = accumulate ? 1.0f : 0.0f;
    float *dqkv = work, *dctx = work + (int64_t)rows * 3 * d;
    /* through the output projection */
    rt_sgemm(false, false, rows, d, d, 1.0f, dy, d, w_out, d, 0.0f, dctx, d);
    if (dw_out)
        rt_sgemm(true, false, d, d, rows, 1.0f, dy, d, ctx, d, beta, dw_out, d);
    if (db_out)
        rt_sum_rows(rows, d, dy, db_out, accumulate);
    /* through the heads */
    t.qkv = qkv;
    t.saved_probs = probs;
    t.dctx = dctx;
    t.dqkv = dqkv;
    rt_run_tasks(batch * t.heads, backward_head, &t);
    /* through the input projection */
    if (dw_qkv)
        rt_sgemm(true, false, 3 * d, d, rows, 1.0f, dqkv, 3 * d, x, d, beta, dw_qkv, d);
    if (db_qkv)
        rt_sum_rows(rows, 3 * d, dqkv, db_qkv, accumulate);
    if (dx)
        rt_sgemm(false, false, rows, d, 3 * d, 1.0f, dqkv, 3 * d, w_qkv, d, 0.0f, dx, d);
}
