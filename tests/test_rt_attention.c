/* test_rt_attention.c — multi-head self-attention (rt_attention_forward,
 * rt_attention_backward).
 *
 * The forward pass against a double-precision reference written here from
 * the definition in netrt.h (index arithmetic, the causal mask as keys
 * skipped), on every ISA path: outputs and probabilities, exact zeros
 * above the diagonal of a causal head, inference (no probabilities kept)
 * the same bits as training. The backward pass against central finite
 * differences of that reference, for single elements and along a random
 * direction of every input; gradients accumulate; outputs may be left out.
 * 1 vs 2 threads bitwise. Sequence lengths are not multiples of 16 and
 * causal ones span several 32-row blocks.
 */
#include <string.h>

#include "netrt.h"
#include "testutil.h"

/* t, d, heads, causal */
static const int64_t shapes[][4] = {
    { 1, 4, 1, 0 }, { 5, 8, 2, 1 }, { 19, 12, 3, 1 }, { 37, 16, 2, 0 }, { 70, 16, 4, 1 }, { 33, 8, 1, 1 },
    { 45, 64, 2, 1 }, { 41, 64, 2, 0 }, /* dk = 32, as gpt.net's heads: more than one B panel */
};
#define NSHAPES (int)(sizeof shapes / sizeof shapes[0])

/* The inputs of a layer, in order: x, w_qkv, b_qkv, w_out, b_out. */
enum { X, W_QKV, B_QKV, W_OUT, B_OUT, NPARTS };
static const char *const part_names[NPARTS] = { "x", "w_qkv", "b_qkv", "w_out", "b_out" };

typedef struct layer {
    rt_attention a;
    int64_t batch;
    int64_t size[NPARTS];
    float *in[NPARTS];
} layer;

static layer make_layer(int s, int64_t batch)
{
    layer l = { .a = { .t = shapes[s][0], .d = shapes[s][1], .heads = shapes[s][2], .causal = shapes[s][3] },
                .batch = batch };
    int64_t t = l.a.t, d = l.a.d;
    int64_t size[NPARTS] = { batch * t * d, 3 * d * d, 3 * d, d * d, d };
    for (int k = 0; k < NPARTS; k++) {
        l.size[k] = size[k];
        l.in[k] = alloc_floats(size[k]);
        test_fill(l.in[k], size[k], (uint32_t)(100 * s + k + 1));
    }
    /* weights of about 2/sqrt(D), so scores spread over several units and
     * the softmax is neither uniform nor one-hot */
    for (int k = W_QKV; k < NPARTS; k++)
        for (int64_t i = 0; i < size[k]; i++)
            l.in[k][i] *= (float)(2.0 / sqrt((double)d));
    return l;
}

static void free_layer(layer *l)
{
    for (int k = 0; k < NPARTS; k++)
        free(l->in[k]);
}

static double *to_double(const float *v, int64_t n)
{
    double *d = malloc(sizeof *d * (size_t)n);
    ck_assert_ptr_nonnull(d);
    for (int64_t i = 0; i < n; i++)
        d[i] = v[i];
    return d;
}

/* The layer in double, from the definition. Fills y (B,T,D) and probs
 * (B,H,T,T) when not NULL; returns sum(dy * y) when dy is given. */
static double ref_forward(const rt_attention *a, int64_t batch, double *const in[NPARTS], const double *dy,
                          double *probs, double *y)
{
    int64_t T = a->t, D = a->d, H = a->heads, dh = D / H;
    const double *x = in[X], *wq = in[W_QKV], *bq = in[B_QKV], *wo = in[W_OUT], *bo = in[B_OUT];
    double *qkv = malloc(sizeof *qkv * (size_t)(T * 3 * D)), *ctx = malloc(sizeof *ctx * (size_t)(T * D));
    double *p = malloc(sizeof *p * (size_t)T);
    ck_assert(qkv && ctx && p);
    double loss = 0;
    for (int64_t b = 0; b < batch; b++) {
        const double *xb = x + b * T * D;
        for (int64_t i = 0; i < T; i++)
            for (int64_t c = 0; c < 3 * D; c++) {
                double v = bq[c];
                for (int64_t k = 0; k < D; k++)
                    v += xb[i * D + k] * wq[c * D + k];
                qkv[i * 3 * D + c] = v;
            }
        for (int64_t h = 0; h < H; h++)
            for (int64_t i = 0; i < T; i++) {
                int64_t keys = a->causal ? i + 1 : T;
                double max = -INFINITY, sum = 0;
                for (int64_t j = 0; j < keys; j++) {
                    double s = 0;
                    for (int64_t c = 0; c < dh; c++)
                        s += qkv[i * 3 * D + h * dh + c] * qkv[j * 3 * D + D + h * dh + c];
                    p[j] = s / sqrt((double)dh);
                    max = p[j] > max ? p[j] : max;
                }
                for (int64_t j = 0; j < keys; j++)
                    sum += p[j] = exp(p[j] - max);
                for (int64_t j = 0; j < T; j++) {
                    p[j] = j < keys ? p[j] / sum : 0;
                    if (probs)
                        probs[((b * H + h) * T + i) * T + j] = p[j];
                }
                for (int64_t c = 0; c < dh; c++) {
                    double v = 0;
                    for (int64_t j = 0; j < keys; j++)
                        v += p[j] * qkv[j * 3 * D + 2 * D + h * dh + c];
                    ctx[i * D + h * dh + c] = v;
                }
            }
        for (int64_t i = 0; i < T; i++)
            for (int64_t o = 0; o < D; o++) {
                double v = bo[o];
                for (int64_t k = 0; k < D; k++)
                    v += ctx[i * D + k] * wo[o * D + k];
                if (y)
                    y[(b * T + i) * D + o] = v;
                if (dy)
                    loss += dy[(b * T + i) * D + o] * v;
            }
    }
    free(qkv);
    free(ctx);
    free(p);
    return loss;
}

/* What a training forward writes. */
typedef struct outputs {
    float *qkv, *ctx, *probs, *y;
} outputs;

static outputs forward(const layer *l, bool keep_probs)
{
    int64_t bt = l->batch * l->a.t, d = l->a.d;
    outputs o = { alloc_floats(bt * 3 * d), alloc_floats(bt * d),
                  keep_probs ? alloc_floats(l->batch * l->a.heads * l->a.t * l->a.t) : NULL, alloc_floats(bt * d) };
    rt_attention_forward(&l->a, l->batch, l->in[X], l->in[W_QKV], l->in[B_QKV], l->in[W_OUT], l->in[B_OUT], o.qkv,
                         o.ctx, o.probs, o.y);
    return o;
}

static void free_outputs(outputs *o)
{
    free(o->qkv), free(o->ctx), free(o->probs), free(o->y);
}

START_TEST(test_forward_reference)
{
    const int64_t batch = 3;
    FOR_EACH_ISA(isa) {
        for (int s = 0; s < NSHAPES; s++) {
            layer l = make_layer(s, batch);
            int64_t T = l.a.t, n = batch * T * l.a.d, np = batch * l.a.heads * T * T;
            double *in[NPARTS];
            for (int k = 0; k < NPARTS; k++)
                in[k] = to_double(l.in[k], l.size[k]);
            double *want = malloc(sizeof *want * (size_t)n), *want_p = malloc(sizeof *want_p * (size_t)np);
            ck_assert(want && want_p);
            ref_forward(&l.a, batch, in, NULL, want_p, want);
            outputs o = forward(&l, true);
            for (int64_t i = 0; i < n; i++)
                CHECK_MSG(test_close(o.y[i], want[i], 1e-4, 1e-4), "%s, shape %d: y[%lld] = %.7g, want %.7g",
                          rt_isa_name((rt_isa)isa), s, (long long)i, (double)o.y[i], want[i]);
            for (int64_t i = 0; i < np; i++) {
                CHECK_MSG(test_close(o.probs[i], want_p[i], 1e-5, 1e-4), "%s, shape %d: probs[%lld] = %.7g, want %.7g",
                          rt_isa_name((rt_isa)isa), s, (long long)i, (double)o.probs[i], want_p[i]);
                if (l.a.causal && i % T > i / T % T)
                    CHECK_MSG(o.probs[i] == 0.0f, "shape %d: probs[%lld] above the diagonal is %g", s, (long long)i,
                              (double)o.probs[i]);
            }
            /* inference keeps no probabilities and computes the same bits */
            outputs e = forward(&l, false);
            CHECK_MSG(memcmp(e.y, o.y, sizeof(float) * (size_t)n) == 0, "shape %d: inference differs from training", s);
            free_outputs(&o), free_outputs(&e);
            free(want), free(want_p);
            for (int k = 0; k < NPARTS; k++)
                free(in[k]);
            free_layer(&l);
        }
    }
}
END_TEST

/* The analytic gradients of sum(dy * y) with respect to every input. */
typedef struct grads {
    float *g[NPARTS];
} grads;

static grads backward(const layer *l, const outputs *o, const float *dy, bool accumulate, grads *into)
{
    grads gr = { { 0 } };
    if (into)
        gr = *into;
    else
        for (int k = 0; k < NPARTS; k++)
            gr.g[k] = alloc_floats(l->size[k]);
    float *work = alloc_floats(l->batch * 4 * l->a.t * l->a.d);
    rt_attention_backward(&l->a, l->batch, l->in[X], l->in[W_QKV], l->in[W_OUT], o->qkv, o->ctx, o->probs, dy, work,
                          gr.g[X], gr.g[W_QKV], gr.g[B_QKV], gr.g[W_OUT], gr.g[B_OUT], accumulate);
    free(work);
    return gr;
}

static void free_grads(grads *g)
{
    for (int k = 0; k < NPARTS; k++)
        free(g->g[k]);
}

/* Central difference of the reference's sum(dy * y) along direction v of
 * input `part` (in[part] is restored). */
static double ref_slope(const layer *l, double *in[NPARTS], const double *dy, int part, const double *v)
{
    const double h = 1e-4;
    int64_t n = l->size[part];
    double *keep = to_double(l->in[part], n);
    for (int64_t i = 0; i < n; i++)
        in[part][i] = keep[i] + h * v[i];
    double up = ref_forward(&l->a, l->batch, in, dy, NULL, NULL);
    for (int64_t i = 0; i < n; i++)
        in[part][i] = keep[i] - h * v[i];
    double down = ref_forward(&l->a, l->batch, in, dy, NULL, NULL);
    memcpy(in[part], keep, sizeof *keep * (size_t)n);
    free(keep);
    return (up - down) / (2 * h);
}

/* Every input: along a random direction, and at three single elements. */
static void check_gradients(const layer *l, const grads *g, const float *dyf, const char *what)
{
    int64_t n = l->batch * l->a.t * l->a.d;
    double *dy = to_double(dyf, n), *in[NPARTS];
    for (int k = 0; k < NPARTS; k++)
        in[k] = to_double(l->in[k], l->size[k]);
    for (int k = 0; k < NPARTS; k++) {
        int64_t size = l->size[k];
        float *dir = alloc_floats(size);
        test_fill(dir, size, (uint32_t)(7 + k));
        double *v = to_double(dir, size), analytic = 0;
        for (int64_t i = 0; i < size; i++)
            analytic += (double)g->g[k][i] * v[i];
        double fd = ref_slope(l, in, dy, k, v);
        CHECK_MSG(test_close(analytic, fd, 1e-4, 2e-3), "%s: d/d%s along a direction: %.7g, finite difference %.7g",
                  what, part_names[k], analytic, fd);
        int64_t picks[3] = { 0, size / 2, size - 1 };
        for (int p = 0; p < 3; p++) {
            memset(v, 0, sizeof *v * (size_t)size);
            v[picks[p]] = 1;
            fd = ref_slope(l, in, dy, k, v);
            CHECK_MSG(test_close(g->g[k][picks[p]], fd, 1e-4, 2e-3), "%s: d/d%s[%lld] = %.7g, finite difference %.7g",
                      what, part_names[k], (long long)picks[p], (double)g->g[k][picks[p]], fd);
        }
        free(v), free(dir);
    }
    for (int k = 0; k < NPARTS; k++)
        free(in[k]);
    free(dy);
}

START_TEST(test_backward_finite_differences)
{
    const int64_t batch = 2;
    FOR_EACH_ISA(isa) {
        for (int s = 0; s < NSHAPES; s++) {
            layer l = make_layer(s, batch);
            int64_t n = batch * l.a.t * l.a.d;
            float *dy = alloc_floats(n);
            test_fill(dy, n, (uint32_t)(50 + s));
            outputs o = forward(&l, true);
            grads g = backward(&l, &o, dy, false, NULL);
            char what[64];
            snprintf(what, sizeof what, "%s, shape %d", rt_isa_name((rt_isa)isa), s);
            check_gradients(&l, &g, dy, what);
            free_grads(&g), free_outputs(&o), free(dy);
            free_layer(&l);
        }
    }
}
END_TEST

/* With accumulate the parameter gradients are added to (dx is not: it is
 * overwritten); gradients left out (NULL) change nothing else. */
START_TEST(test_backward_accumulate_and_optional)
{
    layer l = make_layer(4, 2);
    int64_t n = l.batch * l.a.t * l.a.d;
    float *dy = alloc_floats(n);
    test_fill(dy, n, 60);
    outputs o = forward(&l, true);
    grads once = backward(&l, &o, dy, false, NULL), twice = backward(&l, &o, dy, false, NULL);
    backward(&l, &o, dy, true, &twice);
    CHECK(memcmp(once.g[X], twice.g[X], sizeof(float) * (size_t)n) == 0);
    for (int k = W_QKV; k < NPARTS; k++)
        for (int64_t i = 0; i < l.size[k]; i++)
            CHECK_MSG(test_close(twice.g[k][i], 2.0 * once.g[k][i], 1e-6, 1e-6), "%s[%lld]: %g after two, %g after one",
                      part_names[k], (long long)i, (double)twice.g[k][i], (double)once.g[k][i]);
    float *work = alloc_floats(4 * n), *dx = alloc_floats(n), *dwq = alloc_floats(l.size[W_QKV]);
    rt_attention_backward(&l.a, l.batch, l.in[X], l.in[W_QKV], l.in[W_OUT], o.qkv, o.ctx, o.probs, dy, work, dx,
                          NULL, NULL, NULL, NULL, false);
    CHECK(memcmp(dx, once.g[X], sizeof(float) * (size_t)n) == 0);
    rt_attention_backward(&l.a, l.batch, l.in[X], l.in[W_QKV], l.in[W_OUT], o.qkv, o.ctx, o.probs, dy, work, NULL,
                          dwq, NULL, NULL, NULL, false);
    CHECK(memcmp(dwq, once.g[W_QKV], sizeof(float) * (size_t)l.size[W_QKV]) == 0);
    free(work), free(dx), free(dwq);
    free_grads(&once), free_grads(&twice), free_outputs(&o), free(dy);
    free_layer(&l);
}
END_TEST

/* 1 and 2 threads, every output of both directions, the same bits; a
 * batch of 8 samples of 4 heads makes 32 tasks. */
START_TEST(test_threads_identical)
{
    const int64_t batch = 8;
    layer l = make_layer(4, batch);
    int64_t n = batch * l.a.t * l.a.d;
    float *dy = alloc_floats(n);
    test_fill(dy, n, 70);
    outputs o[2];
    grads g[2];
    for (int t = 0; t < 2; t++) {
        rt_threads_init(t + 1);
        o[t] = forward(&l, true);
        g[t] = backward(&l, &o[t], dy, false, NULL);
    }
    CHECK(memcmp(o[0].y, o[1].y, sizeof(float) * (size_t)n) == 0);
    CHECK(memcmp(o[0].probs, o[1].probs, sizeof(float) * (size_t)(batch * l.a.heads * l.a.t * l.a.t)) == 0);
    for (int k = 0; k < NPARTS; k++)
        CHECK_MSG(memcmp(g[0].g[k], g[1].g[k], sizeof(float) * (size_t)l.size[k]) == 0, "d%s differs", part_names[k]);
    for (int t = 0; t < 2; t++)
        free_outputs(&o[t]), free_grads(&g[t]);
    free(dy);
    free_layer(&l);
    rt_threads_init(0);
}
END_TEST

static Suite *attention_suite(void)
{
    Suite *s = suite_create("rt_attention");
    TCase *tc = test_case("attention");
    tcase_add_test(tc, test_forward_reference);
    tcase_add_test(tc, test_backward_finite_differences);
    tcase_add_test(tc, test_backward_accumulate_and_optional);
    tcase_add_test(tc, test_threads_identical);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(attention_suite)
