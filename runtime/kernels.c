/* kernels.c — elementwise, softmax, loss and copy kernels of libnetrt: the
 * portable C path, the dispatch to the SIMD paths (kernels_simd.h in
 * kernels_avx2.c and kernels_avx512.c) and the threading.
 *
 * Determinism: work is cut into chunks whose bounds depend only on the
 * sizes, never on the thread count, and every reduction adds its per-chunk
 * partial sums in chunk order; so a result has the same bits for 1 thread or
 * 64. Which ISA path runs is read once per call, on the calling thread.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "kernels_internal.h"
#include "activations.h"
#include "util.h"

/* Elements per task of an elementwise kernel: large enough to amortise a
 * wake-up, small enough to spread a 1M-element tensor over many cores. */
enum { ELEMENT_CHUNK = 1 << 15 };
/* Reductions keep one partial sum per chunk on the stack. */
enum { MAX_REDUCE_CHUNKS = 64 };
/* Columns per task of rt_sum_rows: the double accumulators live on the
 * stack. 64, not 256: a bias gradient of 128 or 256 columns (gpt.net's,
 * charlstm.net's dense layers) was one task, a serial section on two
 * threads; the columns of a task are still four 16-wide vectors' worth. */
enum { SUM_ROWS_COLUMNS = 64 };

/* How many chunks a reduction over `work` elements uses: a function of the
 * size only, at most MAX_REDUCE_CHUNKS. */
static int64_t reduce_chunks(int64_t work)
{
    int64_t chunks = ceil_div(work, ELEMENT_CHUNK);
    if (chunks < 1)
        chunks = 1;
    return min_i64(chunks, MAX_REDUCE_CHUNKS);
}

/* ---------------------------------------------------------- activations */

// x (n), y (n): activations.h's formulas one float at a time (RT_ACT_NONE:
// act_forward_chunk copies)
static void act_forward_portable(rt_act act, float alpha, int64_t n, const float *x, float *y)
{
    switch (act) {
#define RT_ACT_CASE(E, name)                                                                 \
    case RT_ACT_##E:                                                                         \
        for (int64_t i = 0; i < n; i++)                                                      \
            y[i] = act_##name(x[i], alpha);                                                  \
        break;
    RT_ACT_LIST(RT_ACT_CASE)
#undef RT_ACT_CASE
    }
}

// x, y, dy, dx (n)
static void act_backward_portable(rt_act act, float alpha, int64_t n, const float *x,
                                  const float *y, const float *dy, float *dx)
{
    switch (act) {
#define RT_ACT_CASE(E, name)                                                                 \
    case RT_ACT_##E:                                                                         \
        for (int64_t i = 0; i < n; i++)                                                      \
            dx[i] = dact_##name(x[i], y[i], dy[i], alpha);                                   \
        break;
    RT_ACT_LIST(RT_ACT_CASE)
#undef RT_ACT_CASE
    }
}

typedef struct act_task {
    rt_isa isa;
    rt_act act;
    float alpha;
    int64_t n;
    const float *x, *y, *dy;
    float *out; /* y for forward, dx for backward */
} act_task;

static void act_forward_chunk(void *ctx, int64_t chunk)
{
    const act_task *t = ctx;
    int64_t begin = chunk * ELEMENT_CHUNK;
    int64_t len = min_i64(ELEMENT_CHUNK, t->n - begin);
    const float *x = t->x + begin;
    float *y = t->out + begin;
    if (t->act == RT_ACT_NONE) { /* a copy, or nothing in place */
        if (x != y)
            memmove(y, x, (size_t)len * sizeof *y);
        return;
    }
    switch (t->isa) {
    case RT_ISA_AVX512:
        rt_avx512_act_forward(t->act, t->alpha, len, x, y);
        break;
    case RT_ISA_AVX2:
        rt_avx2_act_forward(t->act, t->alpha, len, x, y);
        break;
    case RT_ISA_PORTABLE:
        act_forward_portable(t->act, t->alpha, len, x, y);
        break;
    }
}

static void act_backward_chunk(void *ctx, int64_t chunk)
{
    const act_task *t = ctx;
    int64_t begin = chunk * ELEMENT_CHUNK;
    int64_t len = min_i64(ELEMENT_CHUNK, t->n - begin);
    const float *x = t->x + begin, *y = t->y + begin, *dy = t->dy + begin;
    float *dx = t->out + begin;
    if (t->act == RT_ACT_NONE) {
        if (dy != dx)
            memmove(dx, dy, (size_t)len * sizeof *dx);
        return;
    }
    switch (t->isa) {
    case RT_ISA_AVX512:
        rt_avx512_act_backward(t->act, t->alpha, len, x, y, dy, dx);
        break;
    case RT_ISA_AVX2:
        rt_avx2_act_backward(t->act, t->alpha, len, x, y, dy, dx);
        break;
    case RT_ISA_PORTABLE:
        act_backward_portable(t->act, t->alpha, len, x, y, dy, dx);
        break;
    }
}

// x (n), y (n)
void rt_act_forward(rt_act act, float alpha, int64_t n, const float *x, float *y)
{
    act_task t = { .isa = rt_isa_current(), .act = act, .alpha = alpha, .n = n,
                   .x = x, .out = y };
    rt_run_tasks(ceil_div(n, ELEMENT_CHUNK), act_forward_chunk, &t);
}

// x (n), y (n), dy (n), dx (n)
void rt_act_backward(rt_act act, float alpha, int64_t n, const float *x,
                     const float *y, const float *dy, float *dx)
{
    act_task t = { .isa = rt_isa_current(), .act = act, .alpha = alpha, .n = n,
                   .x = x, .y = y, .dy = dy, .out = dx };
    rt_run_tasks(ceil_div(n, ELEMENT_CHUNK), act_backward_chunk, &t);
}

/* ------------------------------------------------------------------ add */

typedef struct add_task {
    rt_isa isa;
    int64_t n, period;
    const float *a, *b;
    float *dst;
} add_task;

static void add_run(rt_isa isa, int64_t n, const float *a, const float *b, float *dst)
{
    switch (isa) {
    case RT_ISA_AVX512:
        rt_avx512_add(n, a, b, dst);
        break;
    case RT_ISA_AVX2:
        rt_avx2_add(n, a, b, dst);
        break;
    case RT_ISA_PORTABLE:
        for (int64_t i = 0; i < n; i++)
            dst[i] = a[i] + b[i];
        break;
    }
}

/* With a period, b repeats: the chunk goes in runs along which b is
 * contiguous. */
static void add_chunk(void *ctx, int64_t chunk)
{
    const add_task *t = ctx;
    int64_t begin = chunk * ELEMENT_CHUNK, end = min_i64(begin + ELEMENT_CHUNK, t->n);
    for (int64_t i = begin; i < end;) {
        int64_t at = t->period ? i % t->period : i;
        int64_t len = t->period ? min_i64(end - i, t->period - at) : end - i;
        add_run(t->isa, len, t->a + i, t->b + at, t->dst + i);
        i += len;
    }
}

// a (n), b (n, or period), dst (n)
void rt_add(int64_t n, const float *a, const float *b, int64_t period, float *dst)
{
    add_task t = { .isa = rt_isa_current(), .n = n, .period = period > 0 ? period : 0, .a = a, .b = b,
                   .dst = dst };
    rt_run_tasks(ceil_div(n, ELEMENT_CHUNK), add_chunk, &t);
}

/* -------------------------------------------------------------- softmax */

/* x (cols) -> y (cols); returns the max and sum exp(x - max).
 * Subtracting the max keeps every exp in (0, 1]; the sum is in double so a
 * row of many small terms loses nothing. */
static rt_softmax_sums softmax_row_portable(int64_t cols, const float *x, float *y)
{
    float max = x[0];
    for (int64_t j = 1; j < cols; j++)
        max = x[j] > max ? x[j] : max;
    double sum = 0.0;
    for (int64_t j = 0; j < cols; j++) {
        y[j] = expf(x[j] - max);
        sum += y[j];
    }
    float inv = (float)(1.0 / sum);
    for (int64_t j = 0; j < cols; j++)
        y[j] *= inv;
    return (rt_softmax_sums){ max, sum };
}

rt_softmax_sums rt_softmax_row(rt_isa isa, int64_t cols, const float *x, float *y)
{
    switch (isa) {
    case RT_ISA_AVX512:
        return rt_avx512_softmax_row(cols, x, y);
    case RT_ISA_AVX2:
        return rt_avx2_softmax_row(cols, x, y);
    case RT_ISA_PORTABLE:
        return softmax_row_portable(cols, x, y);
    }
    return (rt_softmax_sums){ 0.0f, 1.0 };
}

static void softmax_grad_row_portable(int64_t n, int64_t width, const float *p, float *g)
{
    double dot = 0.0;
    for (int64_t j = 0; j < n; j++)
        dot += (double)p[j] * g[j];
    float fdot = (float)dot;
    for (int64_t j = 0; j < n; j++)
        g[j] = p[j] * (g[j] - fdot);
    for (int64_t j = n; j < width; j++)
        g[j] = 0.0f;
}

void rt_softmax_grad_row(rt_isa isa, int64_t n, int64_t width, const float *p, float *g)
{
    switch (isa) {
    case RT_ISA_AVX512:
        rt_avx512_softmax_grad_row(n, width, p, g);
        return;
    case RT_ISA_AVX2:
        rt_avx2_softmax_grad_row(n, width, p, g);
        return;
    case RT_ISA_PORTABLE:
        softmax_grad_row_portable(n, width, p, g);
        return;
    }
}

/* ---------------------------------------------------------- lstm cell */

void rt_lstm_cell_forward(rt_isa isa, int64_t H, float *a, const float *prev, float *cell, float *tc, float *h)
{
    if (isa == RT_ISA_AVX512) {
        rt_avx512_lstm_cell_forward(H, a, prev, cell, tc, h);
        return;
    }
    if (isa == RT_ISA_AVX2) {
        rt_avx2_lstm_cell_forward(H, a, prev, cell, tc, h);
        return;
    }
    for (int64_t j = 0; j < H; j++) {
        float i = act_sigmoid(a[j], 0.0f), f = act_sigmoid(a[H + j], 0.0f);
        float g = act_tanh(a[2 * H + j], 0.0f), o = act_sigmoid(a[3 * H + j], 0.0f);
        a[j] = i, a[H + j] = f, a[2 * H + j] = g, a[3 * H + j] = o;
        float c = prev ? f * prev[j] + i * g : i * g;
        cell[j] = c;
        float t = act_tanh(c, 0.0f);
        if (tc)
            tc[j] = t;
        h[j] = t * o;
    }
}

void rt_lstm_cell_backward(rt_isa isa, int64_t H, const float *a, const float *tc, const float *prev,
                           const float *dh, const float *dy, float *dc, float *d)
{
    if (isa == RT_ISA_AVX512) {
        rt_avx512_lstm_cell_backward(H, a, tc, prev, dh, dy, dc, d);
        return;
    }
    if (isa == RT_ISA_AVX2) {
        rt_avx2_lstm_cell_backward(H, a, tc, prev, dh, dy, dc, d);
        return;
    }
    const float *i = a, *f = a + H, *g = a + 2 * H, *o = a + 3 * H;
    for (int64_t j = 0; j < H; j++) {
        float gh = dy ? dh[j] + dy[j] : dh[j];
        float dcell = dc[j] + gh * o[j] * (1.0f - tc[j] * tc[j]);
        float df = prev ? dcell * prev[j] : 0.0f;
        dc[j] = dcell * f[j];
        d[j] = dcell * g[j] * i[j] * (1.0f - i[j]);
        d[H + j] = df * f[j] * (1.0f - f[j]);
        d[2 * H + j] = dcell * i[j] * (1.0f - g[j] * g[j]);
        d[3 * H + j] = gh * tc[j] * o[j] * (1.0f - o[j]);
    }
}

typedef struct softmax_task {
    rt_isa isa;
    int64_t rows, cols, rows_per_chunk;
    const float *x;
    float *y;
    const int32_t *labels; /* NULL for plain softmax */
    double partial[MAX_REDUCE_CHUNKS];
} softmax_task;

static void softmax_chunk(void *ctx, int64_t chunk)
{
    softmax_task *t = ctx;
    int64_t begin = chunk * t->rows_per_chunk;
    int64_t end = min_i64(begin + t->rows_per_chunk, t->rows);
    double loss = 0.0;
    for (int64_t r = begin; r < end; r++) {
        const float *x = t->x + r * t->cols;
        /* read first, so probs may overwrite the logits in place */
        double at_label = t->labels ? (double)x[t->labels[r]] : 0.0;
        rt_softmax_sums s = rt_softmax_row(t->isa, t->cols, x, t->y + r * t->cols);
        if (t->labels)
            loss += ((double)s.max + log(s.sum)) - at_label;
    }
    t->partial[chunk] = loss;
}

/* Splits rows into at most MAX_REDUCE_CHUNKS chunks of whole rows, runs them
 * and adds the per-chunk losses in order. */
static double softmax_rows(int64_t rows, int64_t cols, const float *x, float *y,
                           const int32_t *labels)
{
    if (rows <= 0 || cols <= 0)
        return 0.0;
    softmax_task t = { .isa = rt_isa_current(), .rows = rows, .cols = cols,
                       .x = x, .y = y, .labels = labels };
    int64_t chunks = min_i64(reduce_chunks(rows * cols), rows);
    t.rows_per_chunk = ceil_div(rows, chunks);
    chunks = ceil_div(rows, t.rows_per_chunk);
    rt_run_tasks(chunks, softmax_chunk, &t);
    double loss = 0.0;
    for (int64_t c = 0; c < chunks; c++)
        loss += t.partial[c];
    return loss;
}

// x (rows,cols), y (rows,cols)
void rt_softmax_forward(int64_t rows, int64_t cols, const float *x, float *y)
{
    softmax_rows(rows, cols, x, y, NULL);
}

/* Row-wise backward kernels split rows into chunks of about ELEMENT_CHUNK
 * elements; rows are independent, so the split never changes a bit. */
typedef struct rows_task {
    int64_t rows, cols, rows_per_chunk;
    const float *a, *b; /* softmax: y, dy; xent: probs, unused */
    const int32_t *labels;
    float scale;
    float *out;
} rows_task;

static void run_row_chunks(rows_task *t, rt_task_fn fn)
{
    if (t->rows <= 0 || t->cols <= 0)
        return;
    t->rows_per_chunk = ELEMENT_CHUNK / t->cols > 0 ? ELEMENT_CHUNK / t->cols : 1;
    rt_run_tasks(ceil_div(t->rows, t->rows_per_chunk), fn, t);
}

/* dx = y (dy - <dy, y>), the dot product in double. */
static void softmax_backward_chunk(void *ctx, int64_t chunk)
{
    const rows_task *t = ctx;
    int64_t begin = chunk * t->rows_per_chunk, end = min_i64(begin + t->rows_per_chunk, t->rows);
    for (int64_t r = begin; r < end; r++) {
        const float *y = t->a + r * t->cols, *dy = t->b + r * t->cols;
        float *dx = t->out + r * t->cols;
        double dot = 0.0;
        for (int64_t j = 0; j < t->cols; j++)
            dot += (double)dy[j] * y[j];
        float d = (float)dot;
        for (int64_t j = 0; j < t->cols; j++)
            dx[j] = y[j] * (dy[j] - d);
    }
}

// y (rows,cols), dy (rows,cols), dx (rows,cols)
void rt_softmax_backward(int64_t rows, int64_t cols, const float *y,
                         const float *dy, float *dx)
{
    rows_task t = { .rows = rows, .cols = cols, .a = y, .b = dy, .out = dx };
    run_row_chunks(&t, softmax_backward_chunk);
}

static void check_labels(const char *who, int64_t rows, int64_t classes,
                         const int32_t *labels)
{
    for (int64_t r = 0; r < rows; r++) {
        if (labels[r] < 0 || labels[r] >= classes) {
            fprintf(stderr, "%s: label %d of row %lld is outside [0, %lld)\n", who,
                    (int)labels[r], (long long)r, (long long)classes);
            abort();
        }
    }
}

// logits (rows,classes), labels (rows), probs (rows,classes)
double rt_softmax_xent_forward(int64_t rows, int64_t classes, const float *logits,
                               const int32_t *labels, float *probs)
{
    check_labels("rt_softmax_xent_forward", rows, classes, labels);
    return softmax_rows(rows, classes, logits, probs, labels);
}

static void xent_backward_chunk(void *ctx, int64_t chunk)
{
    const rows_task *t = ctx;
    int64_t begin = chunk * t->rows_per_chunk, end = min_i64(begin + t->rows_per_chunk, t->rows);
    for (int64_t r = begin; r < end; r++) {
        const float *p = t->a + r * t->cols;
        float *d = t->out + r * t->cols;
        /* read before the row is overwritten: d may alias p */
        float at_label = p[t->labels[r]];
        for (int64_t j = 0; j < t->cols; j++)
            d[j] = t->scale * p[j];
        d[t->labels[r]] = t->scale * (at_label - 1.0f);
    }
}

// probs (rows,classes), labels (rows), dlogits (rows,classes)
void rt_softmax_xent_backward(int64_t rows, int64_t classes, const float *probs,
                              const int32_t *labels, float scale, float *dlogits)
{
    check_labels("rt_softmax_xent_backward", rows, classes, labels);
    rows_task t = { .rows = rows, .cols = classes, .a = probs, .labels = labels,
                    .scale = scale, .out = dlogits };
    run_row_chunks(&t, xent_backward_chunk);
}

/* scores (rows,classes), labels (rows). Ties go to the first maximum, as
 * torch.argmax does. */
int64_t rt_count_correct(int64_t rows, int64_t classes, const float *scores,
                         const int32_t *labels)
{
    int64_t correct = 0;
    for (int64_t r = 0; r < rows; r++) {
        const float *s = scores + r * classes;
        int64_t best = 0;
        for (int64_t j = 1; j < classes; j++)
            if (s[j] > s[best])
                best = j;
        correct += best == labels[r];
    }
    return correct;
}

/* ---------------------------------------------------------------- losses */

typedef struct loss_task {
    int64_t n, per_chunk;
    const float *a, *b; /* pred/logits, target (NULL: every target is `target`) */
    float target;
    float scale;
    float *out;
    double partial[MAX_REDUCE_CHUNKS];
} loss_task;

static double run_reduction(loss_task *t, rt_task_fn fn)
{
    if (t->n <= 0)
        return 0.0;
    int64_t chunks = reduce_chunks(t->n);
    t->per_chunk = ceil_div(t->n, chunks);
    chunks = ceil_div(t->n, t->per_chunk);
    rt_run_tasks(chunks, fn, t);
    double sum = 0.0;
    for (int64_t c = 0; c < chunks; c++)
        sum += t->partial[c];
    return sum;
}

/* One element's loss, in double (the forward pass sums them): mse's
 * squared difference, or bce's with logits, max(z,0) - z t + log(1 +
 * exp(-|z|)): the exp never overflows and log1p keeps the small tail, as
 * PyTorch's BCEWithLogits. */
static inline double loss_term(bool bce, double z, double target)
{
    if (bce)
        return (z > 0.0 ? z : 0.0) - z * target + log1p(exp(-fabs(z)));
    double d = z - target;
    return d * d;
}

/* One element's gradient times scale: mse's in float; bce's sigmoid in
 * double, since s - t cancels when s is near the target 1 and a float s
 * would leave only a few correct bits of the difference. */
static inline float loss_grad(bool bce, float z, float target, float scale)
{
    if (bce) {
        double s = 1.0 / (1.0 + exp(-(double)z));
        return scale * (float)(s - (double)target);
    }
    return 2.0f * scale * (z - target);
}

/* The bodies take bce as a constant from their callers below, so each
 * loss gets its own loop with no test inside (as when they were four
 * functions). */
static inline void loss_forward_body(loss_task *t, int64_t chunk, bool bce)
{
    int64_t begin = chunk * t->per_chunk, end = min_i64(begin + t->per_chunk, t->n);
    double sum = 0.0;
    for (int64_t i = begin; i < end; i++)
        sum += loss_term(bce, t->a[i], t->b ? t->b[i] : t->target);
    t->partial[chunk] = sum;
}

static inline void loss_backward_body(const loss_task *t, int64_t chunk, bool bce)
{
    int64_t begin = chunk * ELEMENT_CHUNK, end = min_i64(begin + ELEMENT_CHUNK, t->n);
    for (int64_t i = begin; i < end; i++)
        t->out[i] = loss_grad(bce, t->a[i], t->b ? t->b[i] : t->target, t->scale);
}

static void mse_forward_chunk(void *ctx, int64_t chunk) { loss_forward_body(ctx, chunk, false); }
static void bce_forward_chunk(void *ctx, int64_t chunk) { loss_forward_body(ctx, chunk, true); }
static void mse_backward_chunk(void *ctx, int64_t chunk) { loss_backward_body(ctx, chunk, false); }
static void bce_backward_chunk(void *ctx, int64_t chunk) { loss_backward_body(ctx, chunk, true); }

/* The sum of the losses of a (n) against b (n), or against `target` for
 * every element when b is NULL. */
static double loss_forward(bool bce, int64_t n, const float *a, const float *b, float target)
{
    loss_task t = { .n = n, .a = a, .b = b, .target = target };
    return run_reduction(&t, bce ? bce_forward_chunk : mse_forward_chunk);
}

/* out (n) = scale * the loss's gradient with respect to a (n). */
static void loss_backward(bool bce, int64_t n, const float *a, const float *b, float target, float scale, float *out)
{
    loss_task t = { .n = n, .a = a, .b = b, .target = target, .scale = scale, .out = out };
    rt_run_tasks(ceil_div(n, ELEMENT_CHUNK), bce ? bce_backward_chunk : mse_backward_chunk, &t);
}

// pred (n), target (n)
double rt_mse_forward(int64_t n, const float *pred, const float *target)
{
    return loss_forward(false, n, pred, target, 0);
}

// pred (n), target (n), dpred (n)
void rt_mse_backward(int64_t n, const float *pred, const float *target, float scale, float *dpred)
{
    loss_backward(false, n, pred, target, 0, scale, dpred);
}

// logits (n), target (n)
double rt_bce_forward(int64_t n, const float *logits, const float *target)
{
    return loss_forward(true, n, logits, target, 0);
}

// logits (n), target (n), dlogits (n)
void rt_bce_backward(int64_t n, const float *logits, const float *target, float scale, float *dlogits)
{
    loss_backward(true, n, logits, target, 0, scale, dlogits);
}

/* The same losses against one number for every element (bce(D(x), 1),
 * label smoothing bce(D(x), 0.9), mse(y, 0)): no target buffer. */
double rt_mse_forward_const(int64_t n, const float *pred, float target)
{
    return loss_forward(false, n, pred, NULL, target);
}

void rt_mse_backward_const(int64_t n, const float *pred, float target, float scale, float *dpred)
{
    loss_backward(false, n, pred, NULL, target, scale, dpred);
}

double rt_bce_forward_const(int64_t n, const float *logits, float target)
{
    return loss_forward(true, n, logits, NULL, target);
}

void rt_bce_backward_const(int64_t n, const float *logits, float target, float scale, float *dlogits)
{
    loss_backward(true, n, logits, NULL, target, scale, dlogits);
}

typedef struct broadcast_task {
    const rt_broadcast *b;
    const float *dy;
    float *dx;
    int64_t n_out, n_keep;
    bool copy; /* forward: dy is x (n_keep), dx is y (n_out) */
} broadcast_task;

/* One sample: dy's values in order, each added into the dx value it was
 * repeated from, so the sum's order is fixed. */
static void sum_broadcast_sample(void *ctx, int64_t s)
{
    const broadcast_task *t = ctx;
    const rt_broadcast *b = t->b;
    int rank = (int)b->rank;
    int64_t idx[RT_MAX_RANK] = { 0 }, stride[RT_MAX_RANK];
    int64_t k = 1;
    for (int d = rank - 1; d >= 0; d--) {
        stride[d] = b->keep[d] == 1 ? 0 : k;
        k *= b->keep[d];
    }
    const float *dy = t->dy + s * (t->copy ? t->n_keep : t->n_out);
    float *dx = t->dx + s * (t->copy ? t->n_out : t->n_keep);
    if (!t->copy)
        memset(dx, 0, (size_t)t->n_keep * sizeof *dx);
    for (int64_t i = 0; i < t->n_out; i++) {
        int64_t j = 0;
        for (int d = 0; d < rank; d++)
            j += idx[d] * stride[d];
        if (t->copy)
            dx[i] = dy[j];
        else
            dx[j] += dy[i];
        for (int d = rank - 1; d >= 0; d--) {
            if (++idx[d] < b->out[d])
                break;
            idx[d] = 0;
        }
    }
}

// dy (batch, prod out), dx (batch, prod keep)
void rt_sum_broadcast(int64_t batch, const rt_broadcast *b, const float *dy, float *dx)
{
    broadcast_task t = { .b = b, .dy = dy, .dx = dx, .n_out = 1, .n_keep = 1 };
    for (int d = 0; d < b->rank; d++) {
        t.n_out *= b->out[d];
        t.n_keep *= b->keep[d];
    }
    rt_run_tasks(batch, sum_broadcast_sample, &t);
}

// x (batch, prod keep), y (batch, prod out)
void rt_broadcast_copy(int64_t batch, const rt_broadcast *b, const float *x, float *y)
{
    broadcast_task t = { .b = b, .dy = x, .dx = y, .n_out = 1, .n_keep = 1, .copy = true };
    for (int d = 0; d < b->rank; d++) {
        t.n_out *= b->out[d];
        t.n_keep *= b->keep[d];
    }
    rt_run_tasks(batch, sum_broadcast_sample, &t);
}

/* --------------------------------------------------------------- dropout */

typedef struct dropout_task {
    rt_isa isa;
    int64_t n;
    uint64_t key;
    uint32_t threshold;
    float scale;
    const float *in;
    float *out;
} dropout_task;

// in [begin,end) -> out [begin,end)
static void dropout_portable(int64_t begin, int64_t end, uint64_t key, uint32_t threshold,
                             float scale, const float *in, float *out)
{
    for (int64_t i = begin; i < end; i++) {
        uint64_t k = rt_rng_mix(key + (uint64_t)i * RT_RNG_WEYL) >> 40;
        out[i] = k >= threshold ? in[i] * scale : 0.0f;
    }
}

static void dropout_chunk(void *ctx, int64_t chunk)
{
    const dropout_task *t = ctx;
    int64_t begin = chunk * ELEMENT_CHUNK, end = min_i64(begin + ELEMENT_CHUNK, t->n);
    switch (t->isa) {
    case RT_ISA_AVX512:
        rt_avx512_dropout(begin, end, t->key, t->threshold, t->scale, t->in, t->out);
        break;
    case RT_ISA_AVX2:
        rt_avx2_dropout(begin, end, t->key, t->threshold, t->scale, t->in, t->out);
        break;
    case RT_ISA_PORTABLE:
        dropout_portable(begin, end, t->key, t->threshold, t->scale, t->in, t->out);
        break;
    }
}

/* Forward and backward are the same map (multiply the kept elements by
 * 1/(1-rate), zero the rest), so they share it and the mask cannot differ.
 * keep(i) is rt_rand_uniform(seed, i) >= rate, tested on the integer
 * 24 bits: u = k / 2^24 >= rate exactly when k >= ceil(rate * 2^24), and
 * rate * 2^24 is exact in double. rate <= 0 copies; rate >= 1 drops all, as
 * PyTorch does for p = 1. */
static void dropout_apply(int64_t n, float rate, uint64_t seed, const float *in, float *out)
{
    if (n <= 0)
        return;
    if (!(rate > 0.0f)) {
        if (in != out)
            memmove(out, in, (size_t)n * sizeof *out);
        return;
    }
    if (rate >= 1.0f) {
        memset(out, 0, (size_t)n * sizeof *out);
        return;
    }
    /* Element i's draw is keyed on key + i * WEYL; a rank of a
     * data-parallel run starts where its samples start in the global
     * batch, so it draws the masks one process would. */
    uint64_t key = rt_rng_key(seed) + (uint64_t)rt_dist_element_offset(n) * RT_RNG_WEYL;
    dropout_task t = { .isa = rt_isa_current(), .n = n, .key = key,
                       .threshold = (uint32_t)ceil((double)rate * 0x1p24),
                       .scale = (float)(1.0 / (1.0 - (double)rate)), .in = in, .out = out };
    rt_run_tasks(ceil_div(n, ELEMENT_CHUNK), dropout_chunk, &t);
}

// x (n), y (n)
void rt_dropout_forward(int64_t n, float rate, uint64_t seed, const float *x, float *y)
{
    dropout_apply(n, rate, seed, x, y);
}

// dy (n), dx (n)
void rt_dropout_backward(int64_t n, float rate, uint64_t seed, const float *dy, float *dx)
{
    dropout_apply(n, rate, seed, dy, dx);
}

/* ------------------------------------------------------------- sum_rows */

typedef struct sum_rows_task {
    rt_isa isa;
    int64_t M, N;
    const float *dy;
    float *db;
    bool accumulate;
} sum_rows_task;

/* Each task owns a block of columns and walks every row, so no two tasks
 * write the same db element and the addition order is fixed. */
static void sum_rows_chunk(void *ctx, int64_t chunk)
{
    const sum_rows_task *t = ctx;
    int64_t c0 = chunk * SUM_ROWS_COLUMNS, width = min_i64(SUM_ROWS_COLUMNS, t->N - c0);
    double acc[SUM_ROWS_COLUMNS];
    for (int64_t j = 0; j < width; j++)
        acc[j] = t->accumulate ? (double)t->db[c0 + j] : 0.0;
    if (t->isa == RT_ISA_AVX512)
        rt_avx512_sum_rows(t->M, t->N, width, t->dy + c0, acc);
    else if (t->isa == RT_ISA_AVX2)
        rt_avx2_sum_rows(t->M, t->N, width, t->dy + c0, acc);
    else
        for (int64_t m = 0; m < t->M; m++) {
            const float *row = t->dy + m * t->N + c0;
            for (int64_t j = 0; j < width; j++)
                acc[j] += row[j];
        }
    for (int64_t j = 0; j < width; j++)
        t->db[c0 + j] = (float)acc[j];
}

// dy (M,N), db (N)
void rt_sum_rows(int64_t M, int64_t N, const float *dy, float *db, bool accumulate)
{
    sum_rows_task t = { .isa = rt_isa_current(), .M = M, .N = N, .dy = dy, .db = db, .accumulate = accumulate };
    rt_run_tasks(ceil_div(N, SUM_ROWS_COLUMNS), sum_rows_chunk, &t);
}

/* ----------------------------------------------------------------- copies */

typedef struct copy_rows_task {
    int64_t rows, cols, rows_per_task;
    const char *src;
    int64_t src_ld;
    char *dst;
    int64_t dst_ld;
} copy_rows_task;

enum { COPY_ELEMENT = 4 }; /* bytes: a float or an int32 */

static void copy_rows_chunk(void *ctx, int64_t chunk)
{
    const copy_rows_task *t = ctx;
    int64_t begin = chunk * t->rows_per_task, end = min_i64(begin + t->rows_per_task, t->rows);
    for (int64_t r = begin; r < end; r++)
        memcpy(t->dst + r * t->dst_ld * COPY_ELEMENT, t->src + r * t->src_ld * COPY_ELEMENT,
               (size_t)(t->cols * COPY_ELEMENT));
}

// src (rows, src_ld), dst (rows, dst_ld): the first cols of each row
void rt_copy_rows(int64_t rows, int64_t cols, const void *src, int64_t src_ld, void *dst, int64_t dst_ld)
{
    if (rows <= 0 || cols <= 0)
        return;
    /* whole rows per task, about ELEMENT_CHUNK elements of them */
    int64_t per_task = cols >= ELEMENT_CHUNK ? 1 : ELEMENT_CHUNK / cols;
    copy_rows_task t = { .rows = rows, .cols = cols, .rows_per_task = per_task, .src = src, .src_ld = src_ld,
                         .dst = dst, .dst_ld = dst_ld };
    rt_run_tasks(ceil_div(rows, per_task), copy_rows_chunk, &t);
}
