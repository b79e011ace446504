/* recurrent.c — rnn, lstm and gru layers (equations in netrt.h): the
 * forward pass, for training or inference, and backpropagation through
 * time, each one call that owns the loop over time, as cuDNN's do.
 *
 * Where the work goes:
 *  - the input projection of every step, (B*T, D) x (D, G*H) + bias, is one
 *    GEMM into the gate buffer before the loop;
 *  - each step adds the recurrent product (B, H) x (H, G*H) with one GEMM
 *    over the whole batch (on more than one thread, over each thread's run
 *    of samples: "runs of samples" below), W_hh packed for the GEMM once per call
 *    (rt_sgemm_pack_b; per step its packing cost 16% of charlstm.net's
 *    training, perf, one thread) (straight into the gate buffer for rnn and lstm,
 *    the rnn's tanh in its epilogue; into a buffer of its own for gru,
 *    whose reset gate scales the n block), then the cell's elementwise work
 *    runs over the batch;
 *  - backward keeps every step's pre-activation gradients, so dx, dW_ih,
 *    the bias gradient and dW_hh are one GEMM (or sum) each after the loop,
 *    which is left with one (B, G*H) x (G*H, H) GEMM per step.
 *
 * Determinism: the GEMMs are bitwise the same for any thread count, and the
 * elementwise work is split into runs of whole samples whose bounds depend
 * on the sizes only; activations go through rt_act_forward/backward, so
 * they are vectorized on every ISA path.
 *
 * Arrays live batch-major, each a contiguous block of the caller's state or
 * work buffer: gates (B, T, G*H) is one matrix of B*T rows for the GEMMs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>

#include "kernels_internal.h"
#include "netrt.h"
#include "util.h"

/* Elements of gate work per task of a step's elementwise pass: enough to
 * amortise waking a worker. */
#define CELL_TASK_ELEMENTS 8192

/* A sequence of rows: the row of sample b at step t starts at
 * p + b * ld + t * step (step 0: one row per sample, reused every step). */
typedef struct rows_view {
    float *p;
    int64_t ld, step;
} rows_view;

static float *row(const rows_view *v, int64_t b, int64_t t)
{
    return v->p + b * v->ld + t * v->step;
}

/* Sizes per sample of the forward state's arrays, in the order they are
 * laid out; 0 where an array is not needed or lives in y. */
typedef struct state_sizes {
    int64_t gates, cells, tanh_cells, hidden, recur, recur_n;
} state_sizes;

/* ... and of the backward pass's working arrays. */
typedef struct work_sizes {
    int64_t dgates, dh, dc, scratch;
} work_sizes;

typedef struct rnn_ctx {
    rt_cell cell;
    const float *whh_packed; /* W_hh packed for every step's product, or NULL */
    /* forward over token ids: row r of the input projections is row ids[r]
     * of table (vocab, GH); NULL when they are computed into gates */
    const int32_t *ids;
    const float *table;
    int64_t batch, T, D, H, GH;
    bool sequences;
    /* forward */
    rows_view gates;   /* pre-activations, then gate values; rnn: the hidden states */
    rows_view cells;   /* lstm: c_t (every step in training, one running row at inference) */
    rows_view tanh_cells; /* lstm training: tanh(c_t) of every step, for backward */
    rows_view hidden;  /* h_t: y with sequences; else every step (training, rnn) or y's one row */
    rows_view recur;   /* gru: W_hh h_{t-1} of the current step */
    rows_view recur_n; /* gru training: its n block at every step, for backward */
    /* backward */
    const float *dy;
    rows_view dgates;  /* d(loss)/d(pre-activation) of every step */
    rows_view dh;      /* d(loss)/d(h_t) through step t+1 */
    rows_view dc;      /* lstm: d(loss)/d(c_t) through step t+1 */
    rows_view scratch; /* gru: d(loss)/d(W_hh h_{t-1}) */
} rnn_ctx;

static int64_t gates_of(rt_cell cell)
{
    return cell == RT_CELL_LSTM ? 4 : cell == RT_CELL_GRU ? 3 : 1;
}

static void check(const rt_recurrent *r, const char *who)
{
    if ((r->cell != RT_CELL_RNN && r->cell != RT_CELL_LSTM && r->cell != RT_CELL_GRU) || r->steps < 1 ||
        r->inputs < 1 || r->units < 1 || (r->sequences != 0 && r->sequences != 1)) {
        fprintf(stderr, "%s:%d: netrt: %s: bad layer cell=%lld steps=%lld inputs=%lld units=%lld sequences=%lld\n",
                __FILE__, __LINE__, who, (long long)r->cell, (long long)r->steps, (long long)r->inputs,
                (long long)r->units, (long long)r->sequences);
        abort();
    }
}

/* The rnn's gate buffer is its hidden states (h_t = tanh of the
 * pre-activation, in place). Inference keeps one running row of c and h
 * where training keeps every step; the input projections of every step are
 * needed either way. lstm training also keeps tanh(c_t), which the
 * forward cell computes anyway: recomputed in backward it was 1.5% of
 * charlstm.net's training (perf, one thread). */
static state_sizes state_layout(const rt_recurrent *r, bool training)
{
    int64_t T = r->steps, H = r->units, GH = gates_of((rt_cell)r->cell) * H;
    bool lstm = r->cell == RT_CELL_LSTM, gru = r->cell == RT_CELL_GRU, rnn = r->cell == RT_CELL_RNN;
    return (state_sizes){
        .gates = rnn ? 0 : T * GH,
        .cells = lstm ? (training ? T * H : H) : 0,
        .tanh_cells = lstm && training ? T * H : 0,
        .hidden = !r->sequences && (training || rnn) ? T * H : 0,
        .recur = gru ? 3 * H : 0,
        .recur_n = gru && training ? T * H : 0,
    };
}

static work_sizes work_layout(const rt_recurrent *r)
{
    int64_t H = r->units, GH = gates_of((rt_cell)r->cell) * H;
    bool lstm = r->cell == RT_CELL_LSTM, gru = r->cell == RT_CELL_GRU;
    return (work_sizes){ .dgates = r->steps * GH, .dh = H, .dc = lstm ? H : 0, .scratch = gru ? GH : 0 };
}

int64_t rt_recurrent_state_floats(const rt_recurrent *r, bool training)
{
    check(r, "rt_recurrent_state_floats");
    state_sizes s = state_layout(r, training);
    return s.gates + s.cells + s.tanh_cells + s.hidden + s.recur + s.recur_n;
}

int64_t rt_recurrent_work_floats(const rt_recurrent *r)
{
    check(r, "rt_recurrent_work_floats");
    work_sizes w = work_layout(r);
    return w.dgates + w.dh + w.dc + w.scratch;
}

/* The next array of `per_sample * batch` floats at *cursor, as a view
 * whose steps are `step` floats apart (a row per sample when step is 0). */
static rows_view take(float **cursor, int64_t batch, int64_t per_sample, int64_t step)
{
    if (per_sample == 0)
        return (rows_view){ NULL, 0, 0 };
    rows_view v = { *cursor, per_sample, step };
    *cursor += batch * per_sample;
    return v;
}

static rnn_ctx make_ctx(const rt_recurrent *r, int64_t batch, bool training, float *state, float *y)
{
    rnn_ctx c = { .cell = (rt_cell)r->cell, .batch = batch, .T = r->steps, .D = r->inputs, .H = r->units,
                  .sequences = r->sequences != 0 };
    c.GH = gates_of(c.cell) * c.H;
    state_sizes s = state_layout(r, training);
    float *at = state;
    c.gates = take(&at, batch, s.gates, c.GH);
    c.cells = take(&at, batch, s.cells, training ? c.H : 0);
    c.tanh_cells = take(&at, batch, s.tanh_cells, c.H);
    c.hidden = take(&at, batch, s.hidden, c.H);
    c.recur = take(&at, batch, s.recur, 0);
    c.recur_n = take(&at, batch, s.recur_n, c.H);
    if (c.sequences)
        c.hidden = (rows_view){ y, c.T * c.H, c.H };
    else if (!c.hidden.p)
        c.hidden = (rows_view){ y, c.H, 0 };
    if (c.cell == RT_CELL_RNN)
        c.gates = c.hidden;
    return c;
}

/* Runs step(c, b, t) for every sample b, in runs of samples whose bounds
 * depend on the sizes only (samples are independent, so the split never
 * changes a bit). */
typedef void (*cell_step_fn)(const rnn_ctx *c, int64_t b, int64_t t);

typedef struct step_task {
    const rnn_ctx *c;
    cell_step_fn step;
    int64_t t, per_task;
} step_task;

/* Sample b's input projection of step t, a row of the table. */
static void gather_row(const rnn_ctx *c, int64_t b, int64_t t)
{
    memcpy(row(&c->gates, b, t), c->table + (int64_t)c->ids[b * c->T + t] * c->GH, (size_t)c->GH * sizeof(float));
}

/* Over token ids, a sample's cell task also copies its next step's row
 * (lstm, gru: rnn runs no cell task after its first step), in parallel
 * and while the sample's gate rows are in cache. */
static void step_run(void *ctx, int64_t task)
{
    const step_task *s = ctx;
    const rnn_ctx *c = s->c;
    int64_t end = (task + 1) * s->per_task < c->batch ? (task + 1) * s->per_task : c->batch;
    bool gather_next = c->table && c->cell != RT_CELL_RNN && s->t + 1 < c->T;
    for (int64_t b = task * s->per_task; b < end; b++) {
        s->step(c, b, s->t);
        if (gather_next)
            gather_row(c, b, s->t + 1);
    }
}

static void each_sample(const rnn_ctx *c, cell_step_fn step, int64_t t)
{
    step_task s = { c, step, t, CELL_TASK_ELEMENTS / c->GH > 0 ? CELL_TASK_ELEMENTS / c->GH : 1 };
    int64_t ntasks = (c->batch + s.per_task - 1) / s.per_task;
    if (ntasks == 1)
        step_run(&s, 0);
    else if (ntasks > 1)
        rt_parallel_for(ntasks, step_run, &s);
}

/* ------------------------------------------------------------- forward */

/* rnn's first step (the later ones get tanh in the GEMM's epilogue). */
static void rnn_first_step(const rnn_ctx *c, int64_t b, int64_t t)
{
    float *a = row(&c->gates, b, t);
    rt_act_forward(RT_ACT_TANH, 0.0f, c->H, a, a);
}

// gates (i, f, g, o) pre-activations in, values out; c_t, tanh(c_t) in training, h_t
static void lstm_step(const rnn_ctx *c, int64_t b, int64_t t)
{
    /* at inference prev is the cell row itself, read before written */
    const float *prev = t ? row(&c->cells, b, t - 1) : NULL;
    rt_lstm_cell_forward(rt_isa_current(), c->H, row(&c->gates, b, t), prev, row(&c->cells, b, t),
                         c->tanh_cells.p ? row(&c->tanh_cells, b, t) : NULL, row(&c->hidden, b, t));
}

// gates (r, z, n) input projections in, values out; recur = W_hh h_{t-1}; h_t
static void gru_step(const rnn_ctx *c, int64_t b, int64_t t)
{
    int64_t H = c->H;
    float *a = row(&c->gates, b, t), *n = a + 2 * H;
    const float *rec = t ? row(&c->recur, b, t) : NULL; /* h_{-1} = 0: no recurrent term */
    if (rec)
        for (int64_t j = 0; j < 2 * H; j++)
            a[j] += rec[j];
    rt_act_forward(RT_ACT_SIGMOID, 0.0f, 2 * H, a, a);
    const float *r = a, *z = a + H;
    float *saved = c->recur_n.p ? row(&c->recur_n, b, t) : NULL;
    for (int64_t j = 0; j < H; j++) {
        float hn = rec ? rec[2 * H + j] : 0.0f;
        if (saved)
            saved[j] = hn;
        if (rec)
            n[j] += r[j] * hn;
    }
    rt_act_forward(RT_ACT_TANH, 0.0f, H, n, n);
    float *h = row(&c->hidden, b, t);
    const float *prev = t ? row(&c->hidden, b, t - 1) : NULL; /* h itself at inference: read before written */
    for (int64_t j = 0; j < H; j++) {
        float keep = prev ? z[j] * prev[j] : 0.0f;
        h[j] = (1.0f - z[j]) * n[j] + keep;
    }
}

/* op(W_hh) (K, N) packed in this thread's scratch for the steps'
 * products, or NULL (the products pack it themselves) when there are too
 * few steps to share one packing: a single step, as in generation. */
static const float *pack_whh(bool trans, int N, int K, const float *w_hh, int64_t steps)
{
    if (steps < 3)
        return NULL;
    float *packed = rt_thread_scratch(RT_SCRATCH_RNN_WHH, (size_t)rt_sgemm_packed_floats(N, K) * sizeof(float));
    rt_sgemm_pack_b(trans, N, K, w_hh, trans ? K : N, packed);
    return packed;
}

/* W_hh h_{t-1} for every sample: added to the step's pre-activations (rnn,
 * lstm; the rnn's tanh in the epilogue), or into `recur` (gru). */
static void recurrent_product(const rnn_ctx *c, const float *w_hh, int64_t t)
{
    int M = (int)c->batch, N = (int)c->GH, K = (int)c->H;
    const float *prev = row(&c->hidden, 0, t - 1);
    int lda = (int)c->hidden.ld;
    if (c->cell == RT_CELL_GRU) {
        rt_sgemm_packed_ex(true, M, N, K, 1.0f, prev, lda, w_hh, K, c->whh_packed, 0.0f, c->recur.p,
                           (int)c->recur.ld, NULL);
        return;
    }
    rt_epilogue tanh_ep = { .act = RT_ACT_TANH };
    rt_sgemm_packed_ex(true, M, N, K, 1.0f, prev, lda, w_hh, K, c->whh_packed, 1.0f, row(&c->gates, 0, t),
                       (int)c->gates.ld, c->cell == RT_CELL_RNN ? &tanh_ep : NULL);
}

/* ------------------------------------------------------ runs of samples */

/* Samples are independent through the loop over time, so with more than
 * one thread the batch is cut into one run of samples per thread and each
 * run goes through every step on its own thread: no join per step. Over
 * the whole batch a step joins twice (its product's tasks, then its
 * cells'), and on two threads charlstm.net's training spent 8% of its
 * samples waiting in the pool (perf: worker_main 4%, rt_parallel_for
 * 3.7%). A run's products have fewer rows; the GEMMs give the same bits
 * for any rows and any split (test_threads_and_modes_identical), so the
 * results do not depend on the thread count. Runs of fewer than
 * RUN_MIN_SAMPLES samples would leave the micro-kernel's row tiles
 * mostly empty: below 2 runs' worth the batch runs whole, its steps'
 * products and cells split over the threads as before. */
#define RUN_MIN_SAMPLES 8

typedef void (*steps_fn)(const rnn_ctx *c, const float *w_hh);

/* c for samples [b0, b0 + n): every per-sample array starts b0 samples on. */
static rnn_ctx sample_run(const rnn_ctx *c, int64_t b0, int64_t n)
{
    rnn_ctx r = *c;
    r.batch = n;
    rows_view *views[] = { &r.gates, &r.cells, &r.tanh_cells, &r.hidden, &r.recur,
                           &r.recur_n, &r.dgates, &r.dh, &r.dc, &r.scratch };
    for (size_t i = 0; i < sizeof views / sizeof views[0]; i++)
        if (views[i]->p)
            views[i]->p += b0 * views[i]->ld;
    if (r.ids)
        r.ids += b0 * r.T;
    if (r.dy)
        r.dy += b0 * (r.sequences ? r.T * r.H : r.H);
    return r;
}

/* The runs' sizes follow how fast each ran before. The pool runs run i
 * on thread i (its home task), and two vCPUs are not always alike: on
 * one machine charlstm.net trained 17% slower pinned to its second vCPU
 * than to its first (the same FMA peak, less memory bandwidth), so with
 * equal halves the faster thread waited for the other at the end of every
 * layer's loop. Each run times itself; run_speed[i] keeps a moving
 * average of run i's samples per second, relative to the others, and the
 * next call cuts the batch in proportion. Any cut gives the same bits
 * (samples are independent), so this moves time, never results. */
enum { MAX_RUNS = 16 };
static _Atomic uint64_t run_speed[MAX_RUNS]; /* double bits; 0: not measured */

static double run_speed_of(int64_t i)
{
    uint64_t bits = atomic_load_explicit(&run_speed[i], memory_order_relaxed);
    double v;
    memcpy(&v, &bits, sizeof v);
    return bits ? v : 1.0;
}

void rt_recurrent_run_speed_set(int64_t run, double speed)
{
    if (run < 0 || run >= MAX_RUNS || !(speed > 0.0))
        return;
    uint64_t bits;
    memcpy(&bits, &speed, sizeof bits);
    atomic_store_explicit(&run_speed[run], bits, memory_order_relaxed);
}

typedef struct runs_task {
    const rnn_ctx *c;
    const float *w_hh;
    steps_fn steps;
    int64_t runs;
    int64_t start[MAX_RUNS + 1]; /* run i: samples [start[i], start[i + 1]) */
    double seconds[MAX_RUNS];
} runs_task;

static void runs_run(void *ctx, int64_t i)
{
    runs_task *t = ctx;
    int64_t b0 = t->start[i], b1 = t->start[i + 1];
    rnn_ctx r = sample_run(t->c, b0, b1 - b0);
    double t0 = rt_seconds();
    t->steps(&r, t->w_hh);
    t->seconds[i] = rt_seconds() - t0;
}

/* Cuts the batch in proportion to the runs' speeds, each run at least
 * RUN_MIN_SAMPLES samples (over_runs makes runs only when there are that
 * many per run). */
static void cut_runs(runs_task *t)
{
    int64_t B = t->c->batch, least = RUN_MIN_SAMPLES;
    double total = 0.0, sum = 0.0;
    for (int64_t i = 0; i < t->runs; i++)
        total += run_speed_of(i);
    t->start[0] = 0;
    for (int64_t i = 1; i < t->runs; i++) {
        sum += run_speed_of(i - 1);
        int64_t b = (int64_t)((double)B * sum / total + 0.5);
        t->start[i] = b < t->start[i - 1] + least ? t->start[i - 1] + least : b;
    }
    t->start[t->runs] = B;
    for (int64_t i = t->runs - 1; i > 0; i--) /* from the end: room for the last runs */
        if (t->start[i] > t->start[i + 1] - least)
            t->start[i] = t->start[i + 1] - least;
}

/* Each run's samples per second, normalised to a mean of 1, into the
 * averages (a quarter of the new figure each time). */
static void record_speeds(const runs_task *t)
{
    double speed[MAX_RUNS], mean = 0.0;
    for (int64_t i = 0; i < t->runs; i++) {
        if (t->seconds[i] <= 0.0)
            return;
        speed[i] = (double)(t->start[i + 1] - t->start[i]) / t->seconds[i];
        mean += speed[i] / (double)t->runs;
    }
    for (int64_t i = 0; i < t->runs; i++)
        rt_recurrent_run_speed_set(i, 0.75 * run_speed_of(i) + 0.25 * speed[i] / mean);
}

static void over_runs(const rnn_ctx *c, const float *w_hh, steps_fn steps)
{
    int64_t runs = min_i64(min_i64(rt_threads_count(), c->batch / RUN_MIN_SAMPLES), MAX_RUNS);
    if (runs <= 1) {
        steps(c, w_hh);
        return;
    }
    runs_task t = { .c = c, .w_hh = w_hh, .steps = steps, .runs = runs };
    cut_runs(&t);
    rt_parallel_for(runs, runs_run, &t);
    record_speeds(&t);
}

/* The loop over time, once every step's input projection is in the gate
 * buffer or in c->table (copied into it step by step). */
static void forward_loop(const rnn_ctx *c, const float *w_hh)
{
    static const cell_step_fn steps[] = { [RT_CELL_RNN] = rnn_first_step, [RT_CELL_LSTM] = lstm_step,
                                          [RT_CELL_GRU] = gru_step };
    for (int64_t t = 0; t < c->T; t++) {
        for (int64_t b = 0; c->table && (t == 0 || c->cell == RT_CELL_RNN) && b < c->batch; b++)
            gather_row(c, b, t); /* else the previous step's cell tasks did */
        if (t > 0)
            recurrent_product(c, w_hh, t);
        if (t == 0 || c->cell != RT_CELL_RNN)
            each_sample(c, steps[c->cell], t);
    }
}

static void forward_steps(rnn_ctx *c, const float *w_hh, float *y)
{
    c->whh_packed = pack_whh(true, (int)c->GH, (int)c->H, w_hh, c->T);
    over_runs(c, w_hh, forward_loop);
    if (!c->sequences && c->hidden.p != y)
        rt_copy_rows(c->batch, c->H, row(&c->hidden, 0, c->T - 1), c->hidden.ld, y, c->H);
}

/* x W_ih^T + bias for `rows` rows of x into out (rows, G*H). */
static void input_projection(const rnn_ctx *c, int64_t rows, const float *x, const float *w_ih, const float *bias,
                             float *out)
{
    rt_epilogue with_bias = { .bias = bias };
    rt_sgemm_ex(false, true, (int)rows, (int)c->GH, (int)c->D, 1.0f, x, (int)c->D, w_ih, (int)c->D, 0.0f, out,
                (int)c->GH, &with_bias);
}

// x (B,T,D), w_ih (GH,D), w_hh (GH,H), bias (GH), y (B,T,H) or (B,H)
void rt_recurrent_forward(const rt_recurrent *r, int64_t batch, bool training, const float *x,
                          const float *w_ih, const float *w_hh, const float *bias, float *state, float *y)
{
    check(r, "rt_recurrent_forward");
    if (batch <= 0)
        return;
    rnn_ctx c = make_ctx(r, batch, training, state, y);
    input_projection(&c, batch * c.T, x, w_ih, bias, c.gates.p);
    forward_steps(&c, w_hh, y);
}

/* Over B*T token ids of a vocabulary of V, the input projections are rows
 * of the V x G*H table E W_ih^T + bias: computed once per call when there
 * are at least V ids (charlstm.net: 256 rows instead of 2048), else the
 * ids' rows of E are gathered and projected as x would be. */
// ids (B,T), table (V,D), w_ih (GH,D), w_hh (GH,H), bias (GH), y (B,T,H) or (B,H)
void rt_recurrent_forward_embed(const rt_recurrent *r, int64_t batch, bool training, const int32_t *ids,
                                int64_t vocab, const float *table, const float *w_ih, const float *w_hh,
                                const float *bias, float *state, float *y)
{
    check(r, "rt_recurrent_forward_embed");
    if (batch <= 0)
        return;
    rnn_ctx c = make_ctx(r, batch, training, state, y);
    int64_t rows = batch * c.T;
    rt_embed_check_ids("rt_recurrent_forward_embed", rows, vocab, ids);
    if (rows < vocab) {
        float *x = rt_thread_scratch(RT_SCRATCH_RNN_TABLE, (size_t)(rows * c.D) * sizeof(float));
        rt_embed_forward(rows, vocab, c.D, ids, table, x);
        input_projection(&c, rows, x, w_ih, bias, c.gates.p);
        forward_steps(&c, w_hh, y);
        return;
    }
    float *projected = rt_thread_scratch(RT_SCRATCH_RNN_TABLE, (size_t)(vocab * c.GH) * sizeof(float));
    input_projection(&c, vocab, table, w_ih, bias, projected);
    c.ids = ids;
    c.table = projected;
    forward_steps(&c, w_hh, y);
}

/* ------------------------------------------------------------ backward */

/* d(loss)/d(h_t) from the output: dy's row, or none (every step but the
 * last without sequences). */
static const float *dy_row(const rnn_ctx *c, int64_t b, int64_t t)
{
    if (c->sequences)
        return c->dy + (b * c->T + t) * c->H;
    return t == c->T - 1 ? c->dy + b * c->H : NULL;
}

static float dh_total(const float *dh, const float *dy, int64_t j)
{
    return dy ? dh[j] + dy[j] : dh[j];
}

// dgates_t = (dh + dy_t) * (1 - h_t^2)
static void rnn_backward_step(const rnn_ctx *c, int64_t b, int64_t t)
{
    const float *h = row(&c->gates, b, t), *dh = row(&c->dh, b, t), *dy = dy_row(c, b, t);
    float *d = row(&c->dgates, b, t);
    for (int64_t j = 0; j < c->H; j++)
        d[j] = dh_total(dh, dy, j);
    rt_act_backward(RT_ACT_TANH, 0.0f, c->H, h, h, d, d);
}

/* With gh = d(loss)/d(h_t) and dc = d(loss)/d(c_t) in total:
 *   do = gh tanh(c_t),  dc = dc_next + gh o (1 - tanh(c_t)^2),
 *   di = dc g,  df = dc c_{t-1},  dg = dc i,  dc_next for step t-1 = dc f,
 * each times its activation's derivative (rt_lstm_cell_backward, kernels.c,
 * vectorized on the SIMD paths). */
static void lstm_backward_step(const rnn_ctx *c, int64_t b, int64_t t)
{
    const float *prev = t ? row(&c->cells, b, t - 1) : NULL;
    rt_lstm_cell_backward(rt_isa_current(), c->H, row(&c->gates, b, t), row(&c->tanh_cells, b, t), prev,
                          row(&c->dh, b, t), dy_row(c, b, t), row(&c->dc, b, t), row(&c->dgates, b, t));
}

/* With gh = d(loss)/d(h_t):  dn = gh (1 - z),  dz = gh (h_{t-1} - n),
 * d(loss)/d(h_{t-1}) directly = gh z (the GEMM adds the rest), and through
 * n's pre-activation dpn: dr = dpn (W_hh h_{t-1})_n, d(W_hh h_{t-1})_n =
 * dpn r. scratch gets d(W_hh h_{t-1}), which differs from the
 * pre-activation gradients in its n block. */
static void gru_backward_step(const rnn_ctx *c, int64_t b, int64_t t)
{
    int64_t H = c->H;
    const float *a = row(&c->gates, b, t), *r = a, *z = a + H, *n = a + 2 * H;
    const float *hn = row(&c->recur_n, b, t), *prev = t ? row(&c->hidden, b, t - 1) : NULL;
    const float *dy = dy_row(c, b, t);
    float *dh = row(&c->dh, b, t), *d = row(&c->dgates, b, t), *drec = row(&c->scratch, b, t);
    for (int64_t j = 0; j < H; j++) {
        float gh = dh_total(dh, dy, j);
        float dpn = gh * (1.0f - z[j]) * (1.0f - n[j] * n[j]);
        float dz = gh * ((prev ? prev[j] : 0.0f) - n[j]);
        dh[j] = gh * z[j];
        d[j] = dpn * hn[j] * r[j] * (1.0f - r[j]);
        d[H + j] = dz * z[j] * (1.0f - z[j]);
        d[2 * H + j] = dpn;
        drec[j] = d[j];
        drec[H + j] = d[H + j];
        drec[2 * H + j] = dpn * r[j];
    }
}

/* d(loss)/d(h_{t-1}) = d(W_hh h_{t-1}) W_hh, plus gru's direct term that
 * its step left in dh. */
static void hidden_grad(const rnn_ctx *c, const float *w_hh, int64_t t)
{
    bool gru = c->cell == RT_CELL_GRU;
    const rows_view *drec = gru ? &c->scratch : &c->dgates;
    rt_sgemm_packed_ex(false, (int)c->batch, (int)c->H, (int)c->GH, 1.0f, row(drec, 0, t), (int)drec->ld, w_hh,
                       (int)c->H, c->whh_packed, gru ? 1.0f : 0.0f, c->dh.p, (int)c->H, NULL);
}

/* dW_hh = sum over samples and steps t >= 1 of d(W_hh h_{t-1})^T h_{t-1}:
 * one GEMM over the rows of every step, with the recurrent gradients
 * shifted one row against the hidden states. Row (b, t) of the gradients
 * meets row (b, t-1) of h; at t = 0 it would meet the previous sample's
 * last h, so those rows are zeroed first (h_{-1} = 0: they add nothing).
 * gru's recurrent gradient is its pre-activation gradient with the n block
 * times r. The pre-activation gradients are not needed after this. */
static void hidden_weight_grad(const rnn_ctx *c, float *dw_hh, bool accumulate)
{
    int64_t H = c->H, GH = c->GH, rows = c->batch * c->T;
    if (c->cell == RT_CELL_GRU)
        for (int64_t k = 0; k < rows; k++) {
            float *d = c->dgates.p + k * GH;
            const float *r = c->gates.p + k * GH;
            for (int64_t j = 0; j < H; j++)
                d[2 * H + j] *= r[j];
        }
    for (int64_t b = 0; b < c->batch; b++)
        memset(row(&c->dgates, b, 0), 0, (size_t)GH * sizeof(float));
    rt_sgemm(true, false, (int)GH, (int)H, (int)(rows - 1), 1.0f, c->dgates.p + GH, (int)GH, c->hidden.p, (int)H,
             accumulate ? 1.0f : 0.0f, dw_hh, (int)H);
}

static rnn_ctx backward_ctx(const rt_recurrent *r, int64_t batch, const float *state, const float *y,
                            const float *dy, float *work)
{
    /* state and y are only read here; the views are shared with forward */
    rnn_ctx c = make_ctx(r, batch, true, (float *)state, (float *)y);
    c.dy = dy;
    work_sizes w = work_layout(r);
    float *at = work;
    c.dgates = take(&at, batch, w.dgates, c.GH);
    c.dh = take(&at, batch, w.dh, 0);
    c.dc = take(&at, batch, w.dc, 0);
    c.scratch = take(&at, batch, w.scratch, 0);
    return c;
}

/* Every step's pre-activation gradients into dgates, last step first. */
static void backward_loop(const rnn_ctx *c, const float *w_hh)
{
    static const cell_step_fn steps[] = { [RT_CELL_RNN] = rnn_backward_step, [RT_CELL_LSTM] = lstm_backward_step,
                                          [RT_CELL_GRU] = gru_backward_step };
    memset(c->dh.p, 0, (size_t)(c->batch * c->H) * sizeof(float));
    if (c->dc.p)
        memset(c->dc.p, 0, (size_t)(c->batch * c->H) * sizeof(float));
    for (int64_t t = c->T - 1; t >= 0; t--) {
        each_sample(c, steps[c->cell], t);
        if (t > 0)
            hidden_grad(c, w_hh, t);
    }
}

static void backward_steps(rnn_ctx *c, const float *w_hh)
{
    c->whh_packed = pack_whh(false, (int)c->H, (int)c->GH, w_hh, c->T);
    over_runs(c, w_hh, backward_loop);
}

// x (B,T,D), dy like y, dx (B,T,D), dw_ih (GH,D), dw_hh (GH,H), dbias (GH)
void rt_recurrent_backward(const rt_recurrent *r, int64_t batch, const float *x, const float *w_ih,
                           const float *w_hh, const float *state, const float *y, const float *dy,
                           float *work, float *dx, float *dw_ih, float *dw_hh, float *dbias, bool accumulate)
{
    check(r, "rt_recurrent_backward");
    if (batch <= 0)
        return;
    rnn_ctx c = backward_ctx(r, batch, state, y, dy, work);
    backward_steps(&c, w_hh);
    int rows = (int)(batch * c.T), GH = (int)c.GH, D = (int)c.D;
    float beta = accumulate ? 1.0f : 0.0f;
    if (dx)
        rt_sgemm(false, false, rows, D, GH, 1.0f, c.dgates.p, GH, w_ih, D, 0.0f, dx, D);
    if (dw_ih)
        rt_sgemm(true, false, GH, D, rows, 1.0f, c.dgates.p, GH, x, D, beta, dw_ih, D);
    if (dbias)
        rt_sum_rows(rows, GH, c.dgates.p, dbias, accumulate);
    if (dw_hh)
        hidden_weight_grad(&c, dw_hh, accumulate);
}

/* The pre-activation gradients summed per token id (dT, V x G*H: the
 * gradient of the forward's table) give the input-side gradients with V
 * rows instead of B*T: dtable = dT W_ih, dW_ih = dT^T table, dbias = the
 * sum of dT's rows. The same sums as the unfused layer's, reassociated. */
// ids (B,T), table (V,D), dy like y, dtable (V,D), dw_ih (GH,D), dw_hh (GH,H), dbias (GH)
void rt_recurrent_backward_embed(const rt_recurrent *r, int64_t batch, const int32_t *ids, int64_t vocab,
                                 const float *table, const float *w_ih, const float *w_hh, const float *state,
                                 const float *y, const float *dy, float *work, float *dtable,
                                 bool accumulate_table, float *dw_ih, float *dw_hh, float *dbias, bool accumulate)
{
    check(r, "rt_recurrent_backward_embed");
    if (batch <= 0)
        return;
    rnn_ctx c = backward_ctx(r, batch, state, y, dy, work);
    backward_steps(&c, w_hh);
    int V = (int)vocab, GH = (int)c.GH, D = (int)c.D;
    float *dT = rt_thread_scratch(RT_SCRATCH_RNN_TABLE, (size_t)(vocab * c.GH) * sizeof(float));
    rt_embed_backward(batch * c.T, vocab, c.GH, ids, c.dgates.p, dT, false);
    if (dtable)
        rt_sgemm(false, false, V, D, GH, 1.0f, dT, GH, w_ih, D, accumulate_table ? 1.0f : 0.0f, dtable, D);
    if (dw_ih)
        rt_sgemm(true, false, GH, D, V, 1.0f, dT, GH, table, D, accumulate ? 1.0f : 0.0f, dw_ih, D);
    if (dbias)
        rt_sum_rows(V, GH, dT, dbias, accumulate);
    if (dw_hh)
        hidden_weight_grad(&c, dw_hh, accumulate);
}
