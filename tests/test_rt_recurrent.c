/* test_rt_recurrent.c — rnn, lstm and gru: forward and backpropagation
 * through time.
 *
 * The forward pass (training and inference) against a double reference
 * written from netrt.h's equations, whose lstm and gru steps are in turn
 * checked by hand on one-unit layers (and the gru's n-block bias shown to
 * sit outside the reset gate); the backward pass against central finite
 * differences of that reference's loss sum(y * dy), for dx and every
 * parameter gradient; both on every ISA path. Then what callers rely on:
 * the same bits for 1 and 2 threads, training and inference forward alike,
 * accumulate adding, NULL gradients skipped; the layer over token ids
 * against the embedding then the layer.
 */
#include <string.h>

#include "kernels_internal.h"
#include "netrt.h"
#include "testutil.h"

static int64_t gates_of(int64_t cell)
{
    return cell == RT_CELL_LSTM ? 4 : cell == RT_CELL_GRU ? 3 : 1;
}

static double sigmoid(double v)
{
    return 1.0 / (1.0 + exp(-v));
}

/* ------------------------------------------------------------ reference */

/* One sample, in double, straight from the equations: x (T,D), y (T,H)
 * with sequences, else (H). */
static void ref_sample(const rt_recurrent *r, const double *x, const double *w_ih, const double *w_hh,
                       const double *bias, double *y)
{
    int64_t T = r->steps, D = r->inputs, H = r->units, GH = gates_of(r->cell) * H;
    double h[64] = { 0 }, c[64] = { 0 }, px[256], ph[256];
    ck_assert(H <= 64 && GH <= 256);
    for (int64_t t = 0; t < T; t++) {
        for (int64_t k = 0; k < GH; k++) {
            px[k] = bias[k];
            for (int64_t d = 0; d < D; d++)
                px[k] += w_ih[k * D + d] * x[t * D + d];
            ph[k] = 0;
            for (int64_t j = 0; j < H; j++)
                ph[k] += w_hh[k * H + j] * h[j];
        }
        for (int64_t j = 0; j < H; j++) {
            if (r->cell == RT_CELL_RNN) {
                h[j] = tanh(px[j] + ph[j]);
            } else if (r->cell == RT_CELL_LSTM) {
                double i = sigmoid(px[j] + ph[j]), f = sigmoid(px[H + j] + ph[H + j]);
                double g = tanh(px[2 * H + j] + ph[2 * H + j]), o = sigmoid(px[3 * H + j] + ph[3 * H + j]);
                c[j] = f * c[j] + i * g;
                h[j] = o * tanh(c[j]);
            } else {
                double rr = sigmoid(px[j] + ph[j]), z = sigmoid(px[H + j] + ph[H + j]);
                double n = tanh(px[2 * H + j] + rr * ph[2 * H + j]);
                h[j] = (1 - z) * n + z * h[j];
            }
        }
        if (r->sequences)
            memcpy(y + t * H, h, (size_t)H * sizeof *h);
    }
    if (!r->sequences)
        memcpy(y, h, (size_t)H * sizeof *h);
}

static int64_t out_size(const rt_recurrent *r)
{
    return r->sequences ? r->steps * r->units : r->units;
}

/* A layer's inputs in double, and its loss sum(y * dy) over the batch. */
typedef struct ref_layer {
    rt_recurrent r;
    int64_t batch;
    double *x, *w_ih, *w_hh, *bias, *dy;
} ref_layer;

static double ref_loss(const ref_layer *L)
{
    int64_t T = L->r.steps, D = L->r.inputs, n = out_size(&L->r);
    double y[64 * 64], loss = 0;
    for (int64_t b = 0; b < L->batch; b++) {
        ref_sample(&L->r, L->x + b * T * D, L->w_ih, L->w_hh, L->bias, y);
        for (int64_t k = 0; k < n; k++)
            loss += y[k] * L->dy[b * n + k];
    }
    return loss;
}

/* ------------------------------------------------------------ the layer */

/* A layer's float inputs, weights scaled so pre-activations stay in the
 * activations' curved range rather than saturating. */
typedef struct layer {
    rt_recurrent r;
    int64_t batch, n_x, n_wih, n_whh, n_b, n_y;
    float *x, *w_ih, *w_hh, *bias, *dy;
} layer;

static void scale(float *v, int64_t n, float k)
{
    for (int64_t i = 0; i < n; i++)
        v[i] *= k;
}

static layer make_layer(int64_t cell, int64_t batch, int64_t T, int64_t D, int64_t H, bool sequences, uint32_t seed)
{
    layer L = { .r = { cell, T, D, H, sequences }, .batch = batch };
    int64_t GH = gates_of(cell) * H;
    L.n_x = batch * T * D, L.n_wih = GH * D, L.n_whh = GH * H, L.n_b = GH, L.n_y = batch * out_size(&L.r);
    L.x = alloc_floats(L.n_x), L.w_ih = alloc_floats(L.n_wih), L.w_hh = alloc_floats(L.n_whh);
    L.bias = alloc_floats(L.n_b), L.dy = alloc_floats(L.n_y);
    test_fill(L.x, L.n_x, seed);
    test_fill(L.w_ih, L.n_wih, seed + 1);
    test_fill(L.w_hh, L.n_whh, seed + 2);
    test_fill(L.bias, L.n_b, seed + 3);
    test_fill(L.dy, L.n_y, seed + 4);
    scale(L.w_ih, L.n_wih, 1.5f / sqrtf((float)D));
    scale(L.w_hh, L.n_whh, 1.5f / sqrtf((float)H));
    scale(L.bias, L.n_b, 0.5f);
    return L;
}

static void free_layer(layer *L)
{
    free(L->x), free(L->w_ih), free(L->w_hh), free(L->bias), free(L->dy);
}

static double *to_double(const float *v, int64_t n)
{
    double *d = malloc((size_t)(n > 0 ? n : 1) * sizeof *d);
    ck_assert_ptr_nonnull(d);
    for (int64_t i = 0; i < n; i++)
        d[i] = v[i];
    return d;
}

static ref_layer make_ref(const layer *L)
{
    return (ref_layer){ L->r, L->batch, to_double(L->x, L->n_x), to_double(L->w_ih, L->n_wih),
                        to_double(L->w_hh, L->n_whh), to_double(L->bias, L->n_b), to_double(L->dy, L->n_y) };
}

static void free_ref(ref_layer *R)
{
    free(R->x), free(R->w_ih), free(R->w_hh), free(R->bias), free(R->dy);
}

/* What one forward (and backward) call wrote. */
typedef struct outputs {
    float *y, *state, *work, *dx, *dw_ih, *dw_hh, *db;
} outputs;

static outputs alloc_outputs(const layer *L, bool training)
{
    outputs o;
    o.y = alloc_floats(L->n_y);
    o.state = alloc_floats(L->batch * rt_recurrent_state_floats(&L->r, training));
    o.work = alloc_floats(L->batch * rt_recurrent_work_floats(&L->r));
    o.dx = alloc_floats(L->n_x), o.dw_ih = alloc_floats(L->n_wih), o.dw_hh = alloc_floats(L->n_whh);
    o.db = alloc_floats(L->n_b);
    return o;
}

static void free_outputs(outputs *o)
{
    free(o->y), free(o->state), free(o->work), free(o->dx), free(o->dw_ih), free(o->dw_hh), free(o->db);
}

static void forward(const layer *L, bool training, outputs *o)
{
    rt_recurrent_forward(&L->r, L->batch, training, L->x, L->w_ih, L->w_hh, L->bias, o->state, o->y);
}

static void backward(const layer *L, outputs *o, bool accumulate)
{
    rt_recurrent_backward(&L->r, L->batch, L->x, L->w_ih, L->w_hh, o->state, o->y, L->dy, o->work, o->dx, o->dw_ih,
                          o->dw_hh, o->db, accumulate);
}

static const char *cell_name(int64_t cell)
{
    return cell == RT_CELL_RNN ? "rnn" : cell == RT_CELL_LSTM ? "lstm" : "gru";
}

/* batch, T, D, H: one step, odd sizes, a width across vector lengths */
static const int64_t shapes[][4] = { { 3, 4, 3, 5 }, { 1, 1, 2, 3 }, { 2, 6, 4, 17 }, { 4, 3, 7, 33 } };
#define NSHAPES (int)(sizeof shapes / sizeof shapes[0])

/* -------------------------------------------------------------- forward */

START_TEST(test_forward_reference)
{
    int64_t cell = _i;
    for (int si = 0; si < NSHAPES; si++)
        for (int seq = 0; seq < 2; seq++) {
            const int64_t *s = shapes[si];
            layer L = make_layer(cell, s[0], s[1], s[2], s[3], seq, (uint32_t)si * 10 + 1);
            ref_layer R = make_ref(&L);
            int64_t n = out_size(&L.r);
            double *want = malloc((size_t)L.n_y * sizeof *want);
            for (int64_t b = 0; b < L.batch; b++)
                ref_sample(&L.r, R.x + b * L.r.steps * L.r.inputs, R.w_ih, R.w_hh, R.bias, want + b * n);
            FOR_EACH_ISA(isa)
                for (int training = 0; training < 2; training++) {
                    outputs o = alloc_outputs(&L, training);
                    forward(&L, training, &o);
                    for (int64_t k = 0; k < L.n_y; k++)
                        CHECK_MSG(test_close(o.y[k], want[k], 2e-6, 1e-5), "%s shape %d seq %d isa %d training %d: y[%lld] %.8g, want %.8g",
                                  cell_name(cell), si, seq, isa, training, (long long)k, (double)o.y[k], want[k]);
                    free_outputs(&o);
                }
            free(want);
            free_ref(&R);
            free_layer(&L);
        }
}
END_TEST

/* The reference's lstm step, by hand on one unit over two steps (the
 * second has a recurrent term): gates in PyTorch's order i, f, g, o. */
START_TEST(test_lstm_equations_by_hand)
{
    const double w_ih[4] = { 0.5, -0.3, 0.8, 0.2 }, w_hh[4] = { 0.7, 0.4, -0.6, 0.9 };
    const double bias[4] = { 0.1, 0.6, -0.2, 0.3 }, x[2] = { 0.9, -0.4 };
    rt_recurrent r = { RT_CELL_LSTM, 2, 1, 1, 1 };
    double y[2];
    ref_sample(&r, x, w_ih, w_hh, bias, y);
    double i0 = sigmoid(0.5 * 0.9 + 0.1), g0 = tanh(0.8 * 0.9 - 0.2), o0 = sigmoid(0.2 * 0.9 + 0.3);
    double c0 = i0 * g0, h0 = o0 * tanh(c0);
    double i1 = sigmoid(0.5 * -0.4 + 0.1 + 0.7 * h0), f1 = sigmoid(-0.3 * -0.4 + 0.6 + 0.4 * h0);
    double g1 = tanh(0.8 * -0.4 - 0.2 - 0.6 * h0), o1 = sigmoid(0.2 * -0.4 + 0.3 + 0.9 * h0);
    double c1 = f1 * c0 + i1 * g1, h1 = o1 * tanh(c1);
    ck_assert(fabs(y[0] - h0) < 1e-15 && fabs(y[1] - h1) < 1e-15);
    /* and the kernel */
    float xf[2] = { 0.9f, -0.4f }, wi[4], wh[4], bf[4], yf[2], state[32];
    for (int k = 0; k < 4; k++)
        wi[k] = (float)w_ih[k], wh[k] = (float)w_hh[k], bf[k] = (float)bias[k];
    FOR_EACH_ISA(isa) {
        rt_recurrent_forward(&r, 1, true, xf, wi, wh, bf, state, yf);
        ck_assert_msg(test_close(yf[0], h0, 1e-6, 1e-6) && test_close(yf[1], h1, 1e-6, 1e-6),
                      "isa %d: %g %g, want %g %g", isa, (double)yf[0], (double)yf[1], h0, h1);
    }
}
END_TEST

/* The gru by hand on one unit, gates r, z, n: the n block's bias is added
 * to the input projection, outside the reset gate (PyTorch's GRU with
 * bias_hh = 0), which a reset gate well below 1 and a large bias tell
 * apart from r * (W_hn h + b_n). */
START_TEST(test_gru_equations_by_hand)
{
    const double w_ih[3] = { 0.5, -0.3, 0.8 }, w_hh[3] = { -1.5, 0.4, 1.2 };
    const double bias[3] = { -0.4, 0.6, 0.9 }, x[2] = { 0.9, 0.7 };
    rt_recurrent r = { RT_CELL_GRU, 2, 1, 1, 1 };
    double y[2];
    ref_sample(&r, x, w_ih, w_hh, bias, y);
    double r0 = sigmoid(0.5 * 0.9 - 0.4), z0 = sigmoid(-0.3 * 0.9 + 0.6), n0 = tanh(0.8 * 0.9 + 0.9);
    double h0 = (1 - z0) * n0;
    (void)r0; /* h_{-1} = 0: the reset gate has nothing to scale at step 0 */
    double r1 = sigmoid(0.5 * 0.7 - 0.4 - 1.5 * h0), z1 = sigmoid(-0.3 * 0.7 + 0.6 + 0.4 * h0);
    double n1 = tanh(0.8 * 0.7 + 0.9 + r1 * (1.2 * h0));
    double h1 = (1 - z1) * n1 + z1 * h0;
    ck_assert(fabs(y[0] - h0) < 1e-15 && fabs(y[1] - h1) < 1e-15);
    double n1_inside = tanh(0.8 * 0.7 + r1 * (1.2 * h0 + 0.9)), h1_inside = (1 - z1) * n1_inside + z1 * h0;
    ck_assert_msg(r1 < 0.5 && fabs(h1 - h1_inside) > 0.05, "the case does not tell the placements apart");
    float xf[2] = { 0.9f, 0.7f }, wi[3], wh[3], bf[3], yf[2], state[32];
    for (int k = 0; k < 3; k++)
        wi[k] = (float)w_ih[k], wh[k] = (float)w_hh[k], bf[k] = (float)bias[k];
    FOR_EACH_ISA(isa)
        for (int training = 0; training < 2; training++) {
            rt_recurrent_forward(&r, 1, training, xf, wi, wh, bf, state, yf);
            ck_assert_msg(test_close(yf[0], h0, 1e-6, 1e-6) && test_close(yf[1], h1, 1e-6, 1e-6),
                          "isa %d: %g %g, want %g %g", isa, (double)yf[0], (double)yf[1], h0, h1);
        }
}
END_TEST

/* ------------------------------------------------------------- backward */

/* d(ref_loss)/d(v[i]) for every i by central differences. */
static void finite_differences(ref_layer *R, double *v, int64_t n, double *grad)
{
    const double h = 1e-5;
    for (int64_t i = 0; i < n; i++) {
        double keep = v[i];
        v[i] = keep + h;
        double up = ref_loss(R);
        v[i] = keep - h;
        double down = ref_loss(R);
        v[i] = keep;
        grad[i] = (up - down) / (2 * h);
    }
}

static void check_grad(const char *what, const float *got, const double *want, int64_t n, const char *ctx)
{
    for (int64_t i = 0; i < n; i++)
        CHECK_MSG(test_close(got[i], want[i], 3e-6, 1e-4), "%s: %s[%lld] %.8g, finite difference %.8g", ctx, what,
                  (long long)i, (double)got[i], want[i]);
}

START_TEST(test_backward_finite_differences)
{
    int64_t cell = _i;
    for (int si = 0; si < NSHAPES; si++)
        for (int seq = 0; seq < 2; seq++) {
            const int64_t *s = shapes[si];
            layer L = make_layer(cell, s[0], s[1], s[2], s[3], seq, (uint32_t)si * 10 + 5);
            ref_layer R = make_ref(&L);
            double *gx = malloc((size_t)L.n_x * sizeof *gx), *gwi = malloc((size_t)L.n_wih * sizeof *gwi);
            double *gwh = malloc((size_t)L.n_whh * sizeof *gwh), *gb = malloc((size_t)L.n_b * sizeof *gb);
            finite_differences(&R, R.x, L.n_x, gx);
            finite_differences(&R, R.w_ih, L.n_wih, gwi);
            finite_differences(&R, R.w_hh, L.n_whh, gwh);
            finite_differences(&R, R.bias, L.n_b, gb);
            FOR_EACH_ISA(isa) {
                char ctx[96];
                snprintf(ctx, sizeof ctx, "%s shape %d seq %d isa %d", cell_name(cell), si, seq, isa);
                outputs o = alloc_outputs(&L, true);
                forward(&L, true, &o);
                backward(&L, &o, false);
                check_grad("dx", o.dx, gx, L.n_x, ctx);
                check_grad("dw_ih", o.dw_ih, gwi, L.n_wih, ctx);
                check_grad("dw_hh", o.dw_hh, gwh, L.n_whh, ctx);
                check_grad("dbias", o.db, gb, L.n_b, ctx);
                free_outputs(&o);
            }
            free(gx), free(gwi), free(gwh), free(gb);
            free_ref(&R);
            free_layer(&L);
        }
}
END_TEST

/* -------------------------------------------------- what callers rely on */

static bool same(const float *a, const float *b, int64_t n)
{
    return memcmp(a, b, (size_t)n * sizeof *a) == 0;
}

/* Enough samples that each step's elementwise pass splits into several
 * tasks, and GEMMs large enough to be threaded. */
START_TEST(test_threads_and_modes_identical)
{
    int64_t cell = _i;
    for (int seq = 0; seq < 2; seq++) {
        layer L = make_layer(cell, 70, 5, 24, 64, seq, 77);
        outputs o[2] = { alloc_outputs(&L, true), alloc_outputs(&L, true) };
        for (int k = 0; k < 2; k++) {
            rt_threads_init(k + 1);
            forward(&L, true, &o[k]);
            backward(&L, &o[k], false);
        }
        /* over token ids: the cell tasks also copy the next step's rows */
        enum { VOCAB = 50 };
        int32_t ids[70 * 5];
        float *table = alloc_floats(VOCAB * 24), *dtable[2] = { alloc_floats(VOCAB * 24), alloc_floats(VOCAB * 24) };
        test_fill(table, VOCAB * 24, 78);
        for (int r = 0; r < 70 * 5; r++)
            ids[r] = (int32_t)((r * 13 + 5) % VOCAB);
        outputs t[2] = { alloc_outputs(&L, true), alloc_outputs(&L, true) };
        for (int k = 0; k < 2; k++) {
            rt_threads_init(k + 1);
            rt_recurrent_forward_embed(&L.r, L.batch, true, ids, VOCAB, table, L.w_ih, L.w_hh, L.bias, t[k].state,
                                       t[k].y);
            rt_recurrent_backward_embed(&L.r, L.batch, ids, VOCAB, table, L.w_ih, L.w_hh, t[k].state, t[k].y, L.dy,
                                        t[k].work, dtable[k], false, t[k].dw_ih, t[k].dw_hh, t[k].db, false);
        }
        rt_threads_init(0);
        CHECK(same(t[0].y, t[1].y, L.n_y) && same(dtable[0], dtable[1], VOCAB * 24));
        CHECK(same(t[0].dw_ih, t[1].dw_ih, L.n_wih) && same(t[0].dw_hh, t[1].dw_hh, L.n_whh) &&
              same(t[0].db, t[1].db, L.n_b));
        free_outputs(&t[0]), free_outputs(&t[1]);
        free(table), free(dtable[0]), free(dtable[1]);
        CHECK(same(o[0].y, o[1].y, L.n_y) && same(o[0].dx, o[1].dx, L.n_x));
        CHECK(same(o[0].dw_ih, o[1].dw_ih, L.n_wih) && same(o[0].dw_hh, o[1].dw_hh, L.n_whh));
        CHECK(same(o[0].db, o[1].db, L.n_b));
        /* two threads, the batch of 70 cut unevenly into its runs of
         * samples (as when one core runs slower): 53 + 17, 9 + 61 */
        static const double speeds[][2] = { { 3.0, 1.0 }, { 0.15, 1.0 } };
        for (int k = 0; k < 2; k++) {
            outputs u = alloc_outputs(&L, true);
            rt_threads_init(2);
            rt_recurrent_run_speed_set(0, speeds[k][0]);
            rt_recurrent_run_speed_set(1, speeds[k][1]);
            forward(&L, true, &u);
            rt_recurrent_run_speed_set(0, speeds[k][0]);
            rt_recurrent_run_speed_set(1, speeds[k][1]);
            backward(&L, &u, false);
            rt_threads_init(0);
            CHECK_MSG(same(u.y, o[0].y, L.n_y) && same(u.dx, o[0].dx, L.n_x) && same(u.dw_ih, o[0].dw_ih, L.n_wih) &&
                          same(u.dw_hh, o[0].dw_hh, L.n_whh) && same(u.db, o[0].db, L.n_b),
                      "%s seq %d: runs cut by speeds %g:%g differ from one thread", cell_name(cell), seq,
                      speeds[k][0], speeds[k][1]);
            free_outputs(&u);
        }
        /* inference keeps less but computes the same values */
        outputs e = alloc_outputs(&L, false);
        forward(&L, false, &e);
        CHECK_MSG(same(e.y, o[0].y, L.n_y), "%s seq %d: inference differs from training", cell_name(cell), seq);
        free_outputs(&e);
        free_outputs(&o[0]);
        free_outputs(&o[1]);
        free_layer(&L);
    }
}
END_TEST

/* accumulate adds the parameter gradients to what is there (dx is always
 * overwritten); a NULL gradient is skipped and the others are unchanged. */
START_TEST(test_accumulate_and_null)
{
    int64_t cell = _i;
    layer L = make_layer(cell, 3, 4, 5, 6, false, 31);
    outputs a = alloc_outputs(&L, true), b = alloc_outputs(&L, true);
    forward(&L, true, &a);
    backward(&L, &a, false);
    forward(&L, true, &b);
    backward(&L, &b, false);
    backward(&L, &b, true);
    CHECK(same(a.dx, b.dx, L.n_x));
    for (int64_t k = 0; k < L.n_wih; k++)
        CHECK(b.dw_ih[k] == 2 * a.dw_ih[k]);
    for (int64_t k = 0; k < L.n_whh; k++)
        CHECK(b.dw_hh[k] == 2 * a.dw_hh[k]);
    for (int64_t k = 0; k < L.n_b; k++)
        CHECK(b.db[k] == 2 * a.db[k]);
    forward(&L, true, &b);
    rt_recurrent_backward(&L.r, L.batch, L.x, L.w_ih, L.w_hh, b.state, b.y, L.dy, b.work, NULL, b.dw_ih, NULL, NULL,
                          false);
    CHECK(same(a.dw_ih, b.dw_ih, L.n_wih));
    rt_recurrent_backward(&L.r, L.batch, L.x, L.w_ih, L.w_hh, b.state, b.y, L.dy, b.work, NULL, NULL, b.dw_hh, b.db,
                          false);
    CHECK(same(a.dw_hh, b.dw_hh, L.n_whh) && same(a.db, b.db, L.n_b));
    free_outputs(&a);
    free_outputs(&b);
    free_layer(&L);
}
END_TEST

/* |a - b| within 1e-5 of max(1, |b|) for every element. */
static bool near(const float *a, const float *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (!test_close(a[i], b[i], 1e-5, 1e-5))
            return false;
    return true;
}

/* A layer over token ids (rt_recurrent_*_embed) against rt_embed_forward
 * then the layer, and the layer's dx scattered by rt_embed_backward: the
 * same sums, reassociated, so within 1e-5. Vocabulary 5 (fewer ids than
 * the 12 of the batch: the vocab-row table) and 40 (more: the ids' rows
 * gathered), on every ISA path, training and inference, with accumulate. */
START_TEST(test_embed_matches_unfused)
{
    int64_t cell = _i;
    for (int vi = 0; vi < 2; vi++)
        for (int seq = 0; seq < 2; seq++) {
            int64_t vocab = vi ? 40 : 5;
            layer L = make_layer(cell, 3, 4, 6, 17, seq, 91);
            int64_t rows = L.batch * L.r.steps;
            int32_t ids[12];
            float *table = alloc_floats(vocab * L.r.inputs), *dtable = alloc_floats(vocab * L.r.inputs);
            float *want = alloc_floats(vocab * L.r.inputs);
            test_fill(table, vocab * L.r.inputs, 92);
            for (int64_t r = 0; r < rows; r++)
                ids[r] = (int32_t)((r * 7 + 3) % (vi ? 37 : 5));
            rt_embed_forward(rows, vocab, L.r.inputs, ids, table, L.x);
            FOR_EACH_ISA(isa) {
                outputs a = alloc_outputs(&L, true), b = alloc_outputs(&L, true);
                forward(&L, true, &a);
                backward(&L, &a, false);
                rt_embed_backward(rows, vocab, L.r.inputs, ids, a.dx, want, false);
                for (int k = 0; k < 2; k++) { /* the second call adds to the first's */
                    rt_recurrent_forward_embed(&L.r, L.batch, true, ids, vocab, table, L.w_ih, L.w_hh, L.bias,
                                               b.state, b.y);
                    rt_recurrent_backward_embed(&L.r, L.batch, ids, vocab, table, L.w_ih, L.w_hh, b.state, b.y,
                                                L.dy, b.work, dtable, k, b.dw_ih, b.dw_hh, b.db, k);
                }
                scale(a.dw_ih, L.n_wih, 2), scale(a.dw_hh, L.n_whh, 2), scale(a.db, L.n_b, 2);
                scale(want, vocab * L.r.inputs, 2);
                CHECK_MSG(near(b.y, a.y, L.n_y) && near(dtable, want, vocab * L.r.inputs),
                          "%s vocab %lld seq %d isa %d: y or the table's gradient", cell_name(cell),
                          (long long)vocab, seq, isa);
                CHECK_MSG(near(b.dw_ih, a.dw_ih, L.n_wih) && near(b.dw_hh, a.dw_hh, L.n_whh) &&
                              near(b.db, a.db, L.n_b),
                          "%s vocab %lld seq %d isa %d: parameter gradients", cell_name(cell), (long long)vocab,
                          seq, isa);
                outputs e = alloc_outputs(&L, false);
                rt_recurrent_forward_embed(&L.r, L.batch, false, ids, vocab, table, L.w_ih, L.w_hh, L.bias, e.state,
                                           e.y);
                CHECK(same(e.y, b.y, L.n_y));
                free_outputs(&e);
                free_outputs(&a);
                free_outputs(&b);
            }
            free(table), free(dtable), free(want);
            free_layer(&L);
        }
}
END_TEST

/* What the compiler plans per sample: inference keeps neither cell states
 * nor per-step hidden states. */
START_TEST(test_state_sizes)
{
    rt_recurrent lstm = { RT_CELL_LSTM, 10, 3, 8, 0 }, gru = { RT_CELL_GRU, 10, 3, 8, 1 };
    rt_recurrent rnn = { RT_CELL_RNN, 10, 3, 8, 1 }, rnn_last = { RT_CELL_RNN, 10, 3, 8, 0 };
    /* gates 10*32, cells 10*8, their tanh 10*8, hidden 10*8 | gates, one running cell row */
    ck_assert_int_eq(rt_recurrent_state_floats(&lstm, true), 320 + 80 + 80 + 80);
    ck_assert_int_eq(rt_recurrent_state_floats(&lstm, false), 320 + 8);
    /* gates 10*24, W_hh h of a step 24, its n block every step 10*8 */
    ck_assert_int_eq(rt_recurrent_state_floats(&gru, true), 240 + 24 + 80);
    ck_assert_int_eq(rt_recurrent_state_floats(&gru, false), 240 + 24);
    /* an rnn's gates are its hidden states: y, or kept when y is the last */
    ck_assert_int_eq(rt_recurrent_state_floats(&rnn, true), 0);
    ck_assert_int_eq(rt_recurrent_state_floats(&rnn_last, false), 80);
    /* dgates every step, dh, dc */
    ck_assert_int_eq(rt_recurrent_work_floats(&lstm), 320 + 8 + 8);
    ck_assert_int_eq(rt_recurrent_work_floats(&gru), 240 + 8 + 24);
}
END_TEST

static Suite *recurrent_suite(void)
{
    Suite *s = suite_create("rt_recurrent");
    TCase *tc = test_case("rnn, lstm, gru");
    tcase_add_loop_test(tc, test_forward_reference, RT_CELL_RNN, RT_CELL_GRU + 1);
    tcase_add_test(tc, test_lstm_equations_by_hand);
    tcase_add_test(tc, test_gru_equations_by_hand);
    tcase_add_loop_test(tc, test_backward_finite_differences, RT_CELL_RNN, RT_CELL_GRU + 1);
    tcase_add_loop_test(tc, test_threads_and_modes_identical, RT_CELL_RNN, RT_CELL_GRU + 1);
    tcase_add_loop_test(tc, test_accumulate_and_null, RT_CELL_RNN, RT_CELL_GRU + 1);
    tcase_add_test(tc, test_state_sizes);
    tcase_add_loop_test(tc, test_embed_matches_unfused, RT_CELL_RNN, RT_CELL_GRU + 1);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(recurrent_suite)
