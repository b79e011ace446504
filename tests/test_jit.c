/* test_jit.c — the JIT backend against the C backend.
 * Both compile the same LProgram with the same gcc flags
 * (backend_codegen_flags: -O2, the same -march, -ffp-contract=off) and call
 * the same libnetrt kernels, and gcc 12 is behind both cc and libgccjit, so
 * every float operation happens in the same order with the same rounding:
 * training must agree BITWISE, not within a tolerance. The cases:
 *  - parity in process: each small model's generated C is compiled into a
 *    shared object and dlopen'd, its JIT twin built with jit_compile; both
 *    train N steps through rt_model on the same batches; parameters, losses
 *    and forward outputs are compared with memcmp;
 *  - parity through the driver: `netc train examples/mlp.net --steps N
 *    --save` against the binary of `netc build`, on a small synthetic IDX
 *    dataset, checkpoints compared byte for byte, and each side evaluating
 *    the other's checkpoint (the round trip);
 *  - concat's forward, through both backends, against index arithmetic,
 *    and attention's against the runtime kernel on the parameters found by
 *    name (the other ops' forwards are checked in the runtime's own
 *    suites);
 *  - a JIT compile failure (hand-broken LIR) is an error message with
 *    libgccjit's first error, not a crash; --dump-jit writes the dumps. */
#include "front.h"
#include "netrt.h"

#include <dlfcn.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>

static char *temp_dir(void)
{
    char tmpl[] = "/tmp/netc-jit-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(tmpl));
    return strdup(tmpl);
}

static void remove_dir(char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    free(dir);
}

/* Front end and lowering of model "m" (or the first) of `net`. */
static void lower_ok(FeRun *r, const char *net, LProgram *lp)
{
    fe_open(r, net);
    ck_assert_msg(r->ok, "front end failed:\n%.*s", (int)r->len, r->out);
    bool ok = lower_program(&r->c, NULL, lp);
    fflush(r->diag);
    ck_assert_msg(ok, "lowering failed:\n%.*s", (int)r->len, r->out);
}

/* The C backend's program: NAME.c from emit_c, compiled by cc with the
 * codegen flags into a shared object, loaded here. */
static const rt_program *aot_program(Compiler *c, LProgram *lp, const char *dir, void **handle)
{
    char cpath[512], so[512], cmd[2048];
    snprintf(cpath, sizeof cpath, "%s/%s.c", dir, lp->name);
    snprintf(so, sizeof so, "%s/%s.so", dir, lp->name);
    FILE *f = fopen(cpath, "w");
    ck_assert_ptr_nonnull(f);
    emit_c(f, c, lp, false);
    ck_assert_int_eq(fclose(f), 0);
    const char *flags[BACKEND_MAX_FLAGS];
    int n = backend_codegen_flags(flags);
    int len = snprintf(cmd, sizeof cmd, "cc -std=c11");
    for (int i = 0; i < n; i++)
        len += snprintf(cmd + len, sizeof cmd - (size_t)len, " %s", flags[i]);
    snprintf(cmd + len, sizeof cmd - (size_t)len, " -fPIC -shared -Iruntime %s -o %s", cpath, so);
    ck_assert_msg(system(cmd) == 0, "cc failed: %s", cmd);
    *handle = dlopen(so, RTLD_NOW | RTLD_LOCAL);
    ck_assert_msg(*handle, "dlopen: %s", dlerror());
    char sym[300];
    snprintf(sym, sizeof sym, "%s_program", lp->name);
    const rt_program *p = dlsym(*handle, sym);
    ck_assert_msg(p, "dlsym %s: %s", sym, dlerror());
    return p;
}

/* A batch for program p: inputs in [-1, 1) (token ids in [0, x_vocab),
 * repeating), labels that fit its loss. */
static void make_batch(const rt_program *p, int64_t batch, uint32_t seed, float *x, void *y)
{
    test_fill(x, batch * p->x_size, seed);
    if (p->x_dtype == RT_I32)
        for (int64_t i = 0; i < batch * p->x_size; i++)
            ((int32_t *)x)[i] = (int32_t)((i * 5 + seed + (uint32_t)(i / 7)) % (uint64_t)p->x_vocab);
    if (p->loss == RT_LOSS_CROSS_ENTROPY) {
        int64_t classes = p->out_dims[p->out_rank - 1];
        for (int64_t i = 0; i < batch * p->y_size; i++)
            ((int32_t *)y)[i] = (int32_t)((i * 7 + seed) % (uint32_t)classes);
    } else {
        float *t = y;
        test_fill(t, batch * p->y_size, seed + 1000);
        for (int64_t i = 0; i < batch * p->y_size; i++)
            t[i] = t[i] * 0.5f + 0.5f; /* [0, 1): valid for bce and mse */
    }
}

enum { STEPS = 5, BATCH = 16 };

/* A net compiled by both backends in a temporary folder: progs[0] is the C
 * backend's (built and loaded), progs[1] the JIT's. */
typedef struct Both {
    char *dir;
    FeRun r;
    LProgram lp;
    void *handle;
    JitProgram *jp;
    const rt_program *progs[2];
} Both;

static void both_open(Both *b, const char *net)
{
    b->dir = temp_dir();
    lower_ok(&b->r, net, &b->lp);
    b->lp.base_dir = b->dir;
    b->progs[0] = aot_program(&b->r.c, &b->lp, b->dir, &b->handle);
    b->jp = jit_compile(&b->r.c, &b->lp, NULL, b->r.diag);
    fflush(b->r.diag);
    ck_assert_msg(b->jp, "JIT failed:\n%.*s", (int)b->r.len, b->r.out);
    b->progs[1] = jit_program(b->jp);
}

static void both_close(Both *b)
{
    jit_free(b->jp);
    dlclose(b->handle);
    fe_close(&b->r);
    remove_dir(b->dir);
}

/* Trains both programs STEPS steps from the same seed on the same batches
 * and requires identical bits in every loss, parameter and output. */
static void check_parity(const char *net)
{
    Both both;
    both_open(&both, net);
    const rt_program *aot = both.progs[0], *jit = both.progs[1];
    ck_assert_int_eq(jit->param_floats, aot->param_floats);
    ck_assert_int_eq(jit->nparams, aot->nparams);
    for (int i = 0; i < jit->nparams; i++)
        ck_assert_str_eq(jit->params[i].name, aot->params[i].name);

    char err[256];
    rt_model *ma = rt_model_new(aot, 7, BATCH, err, sizeof err), *mj = rt_model_new(jit, 7, BATCH, err, sizeof err);
    ck_assert_msg(ma && mj, "%s", err);
    float *x = malloc(sizeof(float) * BATCH * (size_t)aot->x_size);
    float *y = malloc(sizeof(float) * BATCH * (size_t)(aot->y_size ? aot->y_size : 1));
    float *oa = malloc(sizeof(float) * BATCH * (size_t)aot->out_size), *oj = malloc(sizeof(float) * BATCH * (size_t)aot->out_size);
    ck_assert(x && y && oa && oj);
    for (int s = 0; s < STEPS; s++) {
        make_batch(aot, BATCH, (uint32_t)s + 1, x, y);
        double la = rt_model_train_step(ma, x, y, BATCH), lj = rt_model_train_step(mj, x, y, BATCH);
        ck_assert_msg(isfinite(la), "step %d: loss %g", s, la);
        ck_assert_msg(memcmp(&la, &lj, sizeof la) == 0, "step %d: loss %.17g (C) vs %.17g (JIT) for:\n%s", s, la, lj, net);
    }
    const float *pa = rt_model_params(ma), *pj = rt_model_params(mj);
    for (int64_t i = 0; i < aot->param_floats; i++)
        ck_assert_msg(memcmp(&pa[i], &pj[i], sizeof(float)) == 0, "param %lld: %.9g (C) vs %.9g (JIT) for:\n%s",
                      (long long)i, (double)pa[i], (double)pj[i], net);
    ck_assert_int_eq(rt_model_forward(ma, x, oa, BATCH), 0);
    ck_assert_int_eq(rt_model_forward(mj, x, oj, BATCH), 0);
    ck_assert_msg(memcmp(oa, oj, sizeof(float) * BATCH * (size_t)aot->out_size) == 0, "forward differs for:\n%s", net);
    free(x);
    free(y);
    free(oa);
    free(oj);
    rt_model_free(ma);
    rt_model_free(mj);
    both_close(&both);
}

#define TRAIN_XENT "train m { data idx(\"a.gz\", \"b.gz\") loss cross_entropy optimizer adamw(lr = 1e-2) }\n"
#define TRAIN_MSE "train m { data csv(\"a.csv\", label_column = 0) loss mse optimizer sgd(lr = 0.1, momentum = 0.9) }\n"
#define TRAIN_BCE "train m { data csv(\"a.csv\", label_column = 0) loss bce }\n"

START_TEST(parity_mlp)
{
    size_t len;
    char *text = fe_slurp("examples/mlp.net", &len);
    check_parity(text);
    free(text);
}
END_TEST

/* every activation as a GEMM epilogue and as a kernel call */
START_TEST(parity_epilogue_activations)
{
    char net[512];
    snprintf(net, sizeof net, "model m(x: f32[10]) { x -> dense(7) -> %s -> dense(3) }\n" TRAIN_XENT,
             fe_activation_call(_i));
    check_parity(net);
}
END_TEST

/* every activation inside a fused elementwise loop (LE_ACT) */
START_TEST(parity_loop_activations)
{
    char net[512];
    snprintf(net, sizeof net,
             "model m(x: f32[8]) { a = x -> dense(6)\n b = x -> dense(6)\n (a * 0.5 + b) -> %s -> dense(3) }\n" TRAIN_XENT,
             fe_activation_call(_i));
    check_parity(net);
}
END_TEST

/* loops: add, sub, mul, numbers on both sides, broadcasting, residuals */
START_TEST(parity_loops)
{
    check_parity("model m(x: f32[8]) {\n"
                 "  a = x -> dense(6) -> tanh\n  b = x -> dense(6)\n"
                 "  c = a * b - (b * 2 + 1) + (1 - a)\n"
                 "  c -> dense(3)\n}\n" TRAIN_XENT);
    check_parity("layer blk(x: f32[N]) { return x + (x -> dense(N) -> tanh) }\n"
                 "model m(x: f32[6]) { x -> dense(5) -> repeat 2 blk -> dense(3) }\n" TRAIN_XENT);
    check_parity("model m(x: f32[3, 5]) { x -> dense(4) -> gelu -> dense(2) -> flatten -> dense(3) }\n" TRAIN_XENT);
}
END_TEST

START_TEST(parity_dropout_softmax)
{
    check_parity("model m(x: f32[2, 6]) { x -> flatten -> dense(8) -> dropout(0.3) -> softmax -> reshape(2, 4) -> flatten "
                 "-> dense(3) }\n" TRAIN_XENT);
}
END_TEST

/* convolution, pooling, batchnorm (folded into the conv at inference) */
START_TEST(parity_cnn)
{
    check_parity("model m(x: f32[2, 8, 8]) { x -> conv2d(4, 3) -> relu -> maxpool(2) -> flatten -> dense(3) }\n" TRAIN_XENT);
    check_parity("model m(x: f32[2, 8, 8]) {\n"
                 "  x -> conv2d(4, 3, padding = \"same\", bias = false) -> batchnorm -> relu -> avgpool(2)\n"
                 "    -> conv2d(6, 3, stride = 2, padding = 1) -> gelu -> global_avgpool -> dense(3)\n}\n" TRAIN_XENT);
}
END_TEST

/* The examples themselves: lenet.net and resnet.net, through the
 * JIT and through the C backend, to the same bits. */
START_TEST(parity_lenet_resnet)
{
    static const char *const files[] = { "examples/lenet.net", "examples/resnet.net" };
    size_t len;
    char *text = fe_slurp(files[_i], &len);
    check_parity(text);
    free(text);
}
END_TEST

START_TEST(parity_mse_bce)
{
    check_parity("model m(x: f32[7]) { x -> dense(5) -> sigmoid -> dense(1) }\n" TRAIN_MSE);
    check_parity("model m(x: f32[7]) { x -> dense(5) -> relu -> dense(1) }\n" TRAIN_BCE);
}
END_TEST

/* concat: trained through both backends to the same bits, along the
 * channels of an image and along the last axis of a sequence, with a
 * value beside itself */
START_TEST(parity_concat)
{
    check_parity("model m(x: f32[2, 6, 6]) {\n"
                 "  a = x -> conv2d(3, 3, padding = 1) -> relu\n  b = x -> conv2d(2, 1)\n"
                 "  h = concat(a, b, a) -> maxpool(2)\n  concat(h, tanh(h)) -> flatten -> dense(3)\n}\n" TRAIN_XENT);
    check_parity("model m(x: f32[4, 5]) { h = x -> dense(3) -> gelu\n concat(x, h, h, axis = -1) -> dense(2) -> flatten -> dense(1) }\n"
                 TRAIN_MSE);
}
END_TEST

/* recurrent layers: stacked lstms (the upper one's kernel computes dx,
 * the lower's does not), a gru under an rnn that is the model's output
 * (its value in the caller's buffer, its state in the arena) */
START_TEST(parity_recurrent)
{
    check_parity("model m(x: f32[6, 4]) { x -> lstm(8) -> dropout(0.1) -> lstm(7, sequences = false) -> dense(3) }\n"
                 TRAIN_XENT);
    check_parity("model m(x: f32[5, 3]) { x -> gru(6) -> rnn(1, sequences = false) }\n" TRAIN_MSE);
}
END_TEST

/* charlstm's shape in small: embed -> lstm -> lstm, the first layer's
 * kernels reading the token ids and the table (fuse_embeds) */
START_TEST(parity_embed_recurrent)
{
    check_parity("model m(tok: i32[16]) { tok -> embed(20, 8) -> lstm(8) -> dropout(0.1) -> gru(6) -> dense(20) }\n"
                 "train m { data text(\"a.txt\", seq = 16) loss cross_entropy optimizer adamw(lr = 1e-2) }\n");
}
END_TEST

#define TRAIN_TEXT "train m { data text(\"a.txt\", seq = 16) loss cross_entropy optimizer adamw(lr = 1e-2) }\n"

/* token ids through embed, learned positions and layernorm, on sequences,
 * with cross_entropy over f32[T, V] against i32[T]: the transformer's
 * skeleton without attention. Widths 24 and 40 give the AVX-512 and AVX2
 * layernorm rows full vectors and a tail. */
START_TEST(parity_sequence)
{
    check_parity("model m(tok: i32[16]) { tok -> embed(20, 24) -> position -> layernorm -> dense(20) }\n" TRAIN_TEXT);
    check_parity("layer blk(x: f32[T, D]) {\n"
                 "  x = x + (x -> layernorm -> dense(D))\n"
                 "  return x + (x -> layernorm(eps = 1e-3) -> dense(2 * D) -> gelu -> dense(D))\n}\n"
                 "model m(tok: i32[16]) {\n"
                 "  h = tok -> embed(30, 40) -> dropout(0.1) -> position\n"
                 "  h -> repeat 2 blk -> layernorm -> dense(30) }\n" TRAIN_TEXT);
}
END_TEST

/* Reference concatenation of parts (batch, ..., widths[k] along axis, ...)
 * of a rank-3 sample shape `dims` whose axis extent is their sum: each
 * output element found from its coordinates. */
static void ref_concat(int64_t batch, const int64_t dims[3], int axis, int nparts, const float *const *parts,
                       const int64_t *widths, float *out)
{
    int64_t n = dims[0] * dims[1] * dims[2];
    for (int64_t b = 0; b < batch; b++)
        for (int64_t i = 0; i < n; i++) {
            int64_t at[3] = { i / (dims[1] * dims[2]), i / dims[2] % dims[1], i % dims[2] };
            int k = 0;
            while (k + 1 < nparts && at[axis] >= widths[k])
                at[axis] -= widths[k++];
            int64_t pd[3] = { dims[0], dims[1], dims[2] };
            pd[axis] = widths[k];
            out[b * n + i] = parts[k][b * pd[0] * pd[1] * pd[2] + (at[0] * pd[1] + at[1]) * pd[2] + at[2]];
        }
}

/* Fills the parameter block of m with test values (the same for every
 * model of one program) and, if fetched is not NULL, copies out the
 * tensors called names[i] into fetched[i] (malloc'd). */
static void set_params(rt_model *m, const rt_program *p, const char *const *names, int nnames, float **fetched)
{
    float *block = rt_model_params(m);
    test_fill(block, p->param_floats, 77);
    for (int i = 0; fetched && i < nnames; i++) {
        const rt_param_desc *d = NULL;
        for (int k = 0; k < p->nparams; k++)
            if (!strcmp(p->params[k].name, names[i]))
                d = &p->params[k];
        ck_assert_msg(d, "no parameter %s", names[i]);
        fetched[i] = alloc_floats(d->count);
        memcpy(fetched[i], block + d->offset, sizeof(float) * (size_t)d->count);
    }
}

/* The forward pass of `net` on x (batch samples) through the C backend
 * into outs[0] and the JIT into outs[1], each out_size floats a sample.
 * With names, the parameters are test values, not an initialisation, and
 * fetched[i] receives a copy of the one called names[i]. */
static void forward_both(const char *net, const float *x, int64_t batch, int64_t out_size, float *outs[2],
                         const char *const *names, int nnames, float **fetched)
{
    Both both;
    both_open(&both, net);
    for (int k = 0; k < 2; k++) {
        char err[256];
        rt_model *m = rt_model_new(both.progs[k], 1, batch, err, sizeof err);
        ck_assert_msg(m, "%s", err);
        ck_assert_int_eq(both.progs[k]->out_size, out_size);
        if (names)
            set_params(m, both.progs[k], names, nnames, k == 0 ? fetched : NULL);
        ck_assert_int_eq(rt_model_forward(m, x, outs[k], batch), 0);
        rt_model_free(m);
    }
    both_close(&both);
}

/* concat's forward against the reference, through both backends: parts of
 * two widths (x - 1, then the inner concat of x and x * 2, twice as wide),
 * along each axis of f32[2, 3, 4] and along -1. A forward and backward that
 * agreed on a wrong layout would pass the gradient check; not this. */
START_TEST(concat_forward_reference)
{
    static const int axes[] = { 0, 1, 2, -1 };
    enum { B = 3, N = 2 * 3 * 4 };
    int axis = axes[_i] < 0 ? axes[_i] + 3 : axes[_i];
    char net[256];
    snprintf(net, sizeof net, "model m(x: f32[2, 3, 4]) { concat(x - 1, concat(x, x * 2, axis = %d), axis = %d) }\n",
             axes[_i], axes[_i]);
    float x[B * N], lower[B * N], twice[B * N], inner[2 * B * N], want[3 * B * N], got[2 * 3 * B * N];
    test_fill(x, B * N, 5);
    for (int i = 0; i < B * N; i++) {
        lower[i] = x[i] - 1.0f;
        twice[i] = x[i] * 2.0f;
    }
    int64_t dims[3] = { 2, 3, 4 }, w = dims[axis];
    dims[axis] = 2 * w;
    ref_concat(B, dims, axis, 2, (const float *const[]){ x, twice }, (const int64_t[]){ w, w }, inner);
    dims[axis] = 3 * w;
    ref_concat(B, dims, axis, 2, (const float *const[]){ lower, inner }, (const int64_t[]){ w, 2 * w }, want);

    float *outs[2] = { got, got + 3 * B * N };
    forward_both(net, x, B, 3 * N, outs, NULL, 0, NULL);
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 3 * B * N; i++)
            ck_assert_msg(outs[k][i] == want[i], "%s, axis %d: out[%d] = %g, want %g", k ? "JIT" : "C", axes[_i], i,
                          (double)outs[k][i], (double)want[i]);
}
END_TEST

/* attention: trained through both backends to the same bits, causal and
 * not, inside a residual, stacked, on a sequence whose length is not a
 * multiple of 16 */
START_TEST(parity_attention)
{
    check_parity("layer blk(x: f32[T, D], heads: int, causal: bool) { return x + attention(x, heads, causal) }\n"
                 "model m(x: f32[19, 8]) { x -> dense(8) -> blk(2, true) -> blk(4, false) -> dense(2) -> flatten -> dense(3) }\n"
                 TRAIN_XENT);
    check_parity("model m(x: f32[35, 4]) { x -> attention(1, causal) -> gelu -> flatten -> dense(1) }\n" TRAIN_MSE);
}
END_TEST

/* Models long enough that both backends make their train step, forward
 * and step function a sequence of parts (BACKEND_PART_MAX instructions
 * each): the same bits as in one function, the loss passed through the
 * parts in order; the step functions generate the same scores. */
START_TEST(parity_parts)
{
    static const char *const nets[] = {
        "layer blk(x: f32[N]) { return x + (x -> dense(N) -> tanh) }\n"
        "model m(x: f32[6]) { x -> dense(5) -> repeat 40 blk -> dense(3) }\n" TRAIN_XENT,
        "layer blk(x: f32[T, D]) {\n"
        "  x = x + (x -> layernorm -> dense(D))\n"
        "  return x + (x -> layernorm -> dense(2 * D) -> gelu -> dense(D))\n}\n"
        "model m(tok: i32[16]) { tok -> embed(20, 8) -> position -> repeat 12 blk -> layernorm -> dense(20) }\n" TRAIN_TEXT,
    };
    const char *net = nets[_i];
    check_parity(net);
    Both b;
    both_open(&b, net);
    ck_assert_int_gt(backend_parts(&b.lp.train_step), 1);
    ck_assert_int_gt(backend_parts(&b.lp.forward), 1);
    if (b.lp.has_step) {
        ck_assert_int_gt(backend_parts(&b.lp.step), 1);
        char err[256];
        rt_model *m = rt_model_new(b.progs[0], 3, 1, err, sizeof err);
        ck_assert_msg(m, "%s", err);
        rt_generator *g[2];
        for (int k = 0; k < 2; k++) {
            g[k] = rt_generator_new(b.progs[k], rt_model_params(m), err, sizeof err);
            ck_assert_msg(g[k], "%s", err);
        }
        for (int32_t t = 0; t < 10; t++) {
            const float *sa = rt_generator_feed(g[0], (t * 7) % 20), *sj = rt_generator_feed(g[1], (t * 7) % 20);
            ck_assert(sa && sj);
            ck_assert_msg(memcmp(sa, sj, sizeof(float) * 20) == 0, "token %d: the step functions differ", t);
        }
        rt_generator_free(g[0]);
        rt_generator_free(g[1]);
        rt_model_free(m);
    }
    both_close(&b);
}
END_TEST

/* The checked step computes what the train step computes (the same loss
 * and gradients, to the bit) in both backends, and calls its check once
 * per instruction, in order, with the loss so far. */
typedef struct Calls {
    int n;
    bool in_order;
} Calls;

static void count_call(void *ctx, int k, double loss)
{
    Calls *c = ctx;
    c->in_order &= k == c->n && isfinite(loss);
    c->n++;
}

START_TEST(checked_step_is_the_step)
{
    Both b;
    both_open(&b, "layer blk(x: f32[N]) { return x + (x -> dense(N) -> tanh) }\n"
                  "model m(x: f32[6]) { x -> dense(5) -> dropout(0.2) -> repeat 12 blk -> dense(3) }\n" TRAIN_XENT);
    const rt_program *p0 = b.progs[0];
    enum { B = 4 };
    int64_t nf = p0->param_floats, na = p0->train_arena_floats * B;
    float *x = malloc(sizeof(float) * B * (size_t)p0->x_size);
    float *y = malloc(sizeof(float) * B * (size_t)(p0->y_size ? p0->y_size : 1));
    float *params = malloc(sizeof(float) * (size_t)nf), *grads[4];
    float *arena = aligned_alloc(64, sizeof(float) * (size_t)((na + 16) / 16 * 16));
    ck_assert(x && y && params && arena);
    make_batch(p0, B, 3, x, y);
    rt_init_params(p0, 5, params);
    double loss[4];
    for (int k = 0; k < 4; k++) { /* C, JIT; then each one's checked step */
        const rt_program *p = b.progs[k % 2];
        grads[k] = calloc((size_t)nf, sizeof(float));
        ck_assert_ptr_nonnull(grads[k]);
        if (k < 2) {
            loss[k] = p->train_step(params, grads[k], x, y, B, arena, 11);
            continue;
        }
        rt_checked_step_fn checked = p->checked_step ? p->checked_step : p->compile_checked(p, 0);
        ck_assert_ptr_nonnull(checked);
        Calls calls = { 0, true };
        loss[k] = checked(params, grads[k], x, y, B, arena, 11, count_call, &calls);
        ck_assert_int_eq(calls.n, p->nops);
        ck_assert(calls.in_order);
    }
    ck_assert_int_eq(b.progs[0]->nops, b.lp.train_step.n);
    ck_assert_int_eq(b.progs[1]->nops, b.lp.train_step.n);
    for (int k = 1; k < 4; k++) {
        ck_assert_msg(memcmp(&loss[k], &loss[0], sizeof loss[0]) == 0, "loss %d: %.17g vs %.17g", k, loss[k], loss[0]);
        ck_assert_msg(memcmp(grads[k], grads[0], sizeof(float) * (size_t)nf) == 0, "gradients %d differ", k);
    }
    for (int k = 0; k < 4; k++)
        free(grads[k]);
    free(x);
    free(y);
    free(params);
    free(arena);
    both_close(&b);
}
END_TEST

/* The forward pass of a model that is h + attention(h), h = x * 2, or
 * attention(h) alone, on test parameters, through both backends: the same
 * bits as the runtime's kernel (checked against a double reference in
 * test_rt_attention) on the parameters found by name, so lowering passes
 * each one in its place, the kernel's workspace does not clobber h, which
 * the add reads after, and a layer can write the model's output. */
START_TEST(attention_forward_kernel)
{
    static const int64_t configs[][3] = { { 2, 1, 1 }, { 4, 0, 0 } }; /* heads, causal, residual */
    enum { B = 3, T = 19, D = 8, N = T * D };
    int64_t heads = configs[_i][0], causal = configs[_i][1], residual = configs[_i][2];
    char net[256];
    snprintf(net, sizeof net, "model m(x: f32[%d, %d]) { h = x * 2\n %s(h -> att: attention(%lld, causal = %s)) }\n",
             T, D, residual ? "h + " : "", (long long)heads, causal ? "true" : "false");
    static const char *const names[] = { "att.qkv_weight", "att.qkv_bias", "att.out_weight", "att.out_bias" };
    float x[B * N], h[B * N], want[B * N], got[2 * B * N], qkv[B * 3 * N], ctx[B * N], *p[4];
    test_fill(x, B * N, 11);
    float *outs[2] = { got, got + B * N };
    forward_both(net, x, B, N, outs, names, 4, p);
    for (int i = 0; i < B * N; i++)
        h[i] = x[i] * 2;
    rt_attention a = { .t = T, .d = D, .heads = heads, .causal = causal };
    rt_attention_forward(&a, B, h, p[0], p[1], p[2], p[3], qkv, ctx, NULL, want);
    for (int i = 0; residual && i < B * N; i++)
        want[i] = h[i] + want[i];
    for (int k = 0; k < 2; k++)
        ck_assert_msg(memcmp(outs[k], want, sizeof want) == 0, "%s backend: attention's forward is not the kernel's",
                      k ? "JIT" : "C");
    for (int i = 0; i < 4; i++)
        free(p[i]);
}
END_TEST

/* A ReLU inside a fused loop computes what the runtime's ReLU kernel does,
 * in both backends: NaN passes (it used to be fmaxf, which returned 0) and
 * negatives give 0. */
START_TEST(relu_in_loop_like_kernel)
{
    enum { B = 2, N = 8 };
    const char *net = "model m(x: f32[8]) { relu(x * 2 + 1) }\n";
    float x[B * N] = { NAN, -0.5f, -1.0f, 0.25f, -3.0f, INFINITY, -INFINITY, 2.0f,
                       1.0f, -0.75f, 0.0f, -0.5f, 5.0f, -2.0f, NAN, 0.5f };
    float want[B * N], got[2 * B * N];
    for (int i = 0; i < B * N; i++) {
        float v = x[i] * 2 + 1;
        rt_act_forward(RT_ACT_RELU, 0.0f, 1, &v, &want[i]);
    }
    float *outs[2] = { got, got + B * N };
    forward_both(net, x, B, N, outs, NULL, 0, NULL);
    for (int k = 0; k < 2; k++)
        ck_assert_msg(memcmp(outs[k], want, sizeof want) == 0, "%s backend: relu in a loop differs from the kernel",
                      k ? "JIT" : "C");
    ck_assert(isnan(got[0]) && isnan(got[B * N]));
}
END_TEST

/* Every activation inside a fused loop gives the runtime kernel's bits,
 * in both backends and on every instruction-set path the CPU runs, over a
 * sweep of [-8, 8] and the special values: +-0, denormals, the largest
 * floats, +-inf and NaN. A fused and an unfused graph of the same model
 * compute the same numbers. */
START_TEST(activations_in_loops_like_kernels)
{
    enum { N = 2048 };
    static const float special[] = { 0.0f, -0.0f, 1e-40f, -1e-40f, 1.4e-45f, -1.4e-45f, FLT_MIN, -FLT_MIN,
                                     FLT_MAX, -FLT_MAX, INFINITY, -INFINITY, NAN, -NAN, 1e-20f, -1e-20f,
                                     20.0f, -20.0f, 89.0f, -89.0f, 1e10f, -1e10f };
    enum { NSPECIAL = sizeof special / sizeof special[0] };
    float *x = alloc_floats(N), *want = alloc_floats(N), *got = alloc_floats(2 * N);
    for (int i = 0; i < N; i++) /* the sweep, then the specials over its end */
        x[i] = -8.0f + 16.0f * (float)i / (float)(N - 1);
    memcpy(x + N - NSPECIAL, special, sizeof special);
    for (int a = 0; a < fe_activation_count(); a++) {
        char net[128];
        const char *act = fe_activation_call(a);
        snprintf(net, sizeof net, "model m(x: f32[%d]) { (x * 1) -> %s }\n", N, act);
        FOR_EACH_ISA(isa) {
            rt_act_forward(ir_ops[fe_activation_op(a)].act, strchr(act, '(') ? 0.1f : 0.0f, N, x, want);
            float *outs[2] = { got, got + N };
            forward_both(net, x, 1, N, outs, NULL, 0, NULL);
            for (int k = 0; k < 2; k++) {
                int differ = 0, first = -1;
                for (int i = 0; i < N; i++)
                    if (memcmp(&outs[k][i], &want[i], sizeof(float)) != 0 && !(isnan(outs[k][i]) && isnan(want[i]))) {
                        differ++;
                        first = first < 0 ? i : first;
                    }
                ck_assert_msg(differ == 0, "%s, %s backend, isa %d: %d of %d values differ from the kernel's, first at x = %g: %a against %a",
                              act, k ? "JIT" : "C", isa, differ, N, first >= 0 ? x[first] : 0.0,
                              first >= 0 ? outs[k][first] : 0.0, first >= 0 ? want[first] : 0.0);
            }
        }
    }
    free(x);
    free(want);
    free(got);
}
END_TEST

/* A model that only reshapes its input still writes its output: the plan
 * gives the output the input's storage, and lowering copies it out. */
START_TEST(output_is_reshaped_input)
{
    enum { B = 3, N = 6 };
    float x[B * N], got[2 * B * N];
    test_fill(x, B * N, 9);
    float *outs[2] = { got, got + B * N };
    for (int i = 0; i < 2 * B * N; i++)
        got[i] = NAN;
    forward_both("model m(x: f32[2, 3]) -> f32[6] { x -> flatten }\n", x, B, N, outs, NULL, 0, NULL);
    for (int k = 0; k < 2; k++)
        ck_assert_msg(memcmp(outs[k], x, sizeof x) == 0, "%s backend: the output is not the input", k ? "JIT" : "C");
}
END_TEST

/* embed -> position's forward through both backends against the table
 * rows and positions by hand (the position loop reads its parameter at
 * i % (T * D), once for the whole batch); then token ids outside the table
 * are refused by rt_model before any kernel runs. */
START_TEST(embed_position_forward_reference)
{
    enum { B = 3, T = 4, V = 6, D = 5 };
    const char *net = "model m(tok: i32[4]) { tok -> embed(6, 5) -> position }\n"
                      "train m { data text(\"a.txt\", seq = 4) loss cross_entropy }\n";
    char *dir = temp_dir();
    FeRun r;
    LProgram lp;
    lower_ok(&r, net, &lp);
    lp.base_dir = dir;
    void *handle;
    JitProgram *jp = jit_compile(&r.c, &lp, NULL, r.diag);
    ck_assert_ptr_nonnull(jp);
    const rt_program *progs[2] = { aot_program(&r.c, &lp, dir, &handle), jit_program(jp) };
    int32_t tok[B * T] = { 0, 5, 5, 2, 3, 3, 3, 3, 1, 0, 4, 0 };
    for (int k = 0; k < 2; k++) {
        const rt_program *p = progs[k];
        ck_assert_int_eq(p->x_vocab, V);
        char err[256];
        rt_model *m = rt_model_new(p, 3, B, err, sizeof err);
        ck_assert_msg(m, "%s", err);
        const float *params = rt_model_params(m), *table = NULL, *pos = NULL;
        for (int i = 0; i < p->nparams; i++) {
            if (!strcmp(p->params[i].name, "embed1.weight"))
                table = params + p->params[i].offset;
            if (!strcmp(p->params[i].name, "position1.weight"))
                pos = params + p->params[i].offset;
        }
        ck_assert(table && pos);
        float out[B * T * D], keep[B * T * D];
        ck_assert_int_eq(rt_model_forward(m, tok, out, B), 0);
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++)
                for (int j = 0; j < D; j++) {
                    float want = table[tok[b * T + t] * D + j] + pos[t * D + j];
                    ck_assert_msg(out[(b * T + t) * D + j] == want, "%s: out[%d][%d][%d] = %g, want %g",
                                  k ? "JIT" : "C", b, t, j, (double)out[(b * T + t) * D + j], (double)want);
                }
        /* an id of V (or -1) anywhere in the batch: refused, nothing written */
        memcpy(keep, out, sizeof out);
        static const int32_t bad[] = { V, -1 };
        for (int i = 0; i < 2; i++) {
            int32_t t2[B * T];
            memcpy(t2, tok, sizeof tok);
            t2[B * T - 1] = bad[i];
            ck_assert_int_eq(rt_model_forward(m, t2, out, B), -1);
            ck_assert(memcmp(out, keep, sizeof out) == 0);
            int32_t labels[B * T] = { 0 };
            ck_assert(isnan(rt_model_train_step(m, t2, labels, B)));
        }
        rt_model_free(m);
    }
    jit_free(jp);
    dlclose(handle);
    fe_close(&r);
    remove_dir(dir);
}
END_TEST

/* ------------------------------------------------------ through the driver */

static void write_idx(const char *path, uint32_t magic, const uint32_t *dims, int ndims, uint32_t seed)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    unsigned char be[4];
    uint32_t words[4] = { magic };
    size_t n = 1;
    for (int i = 0; i < ndims; i++) {
        words[i + 1] = dims[i];
        n *= dims[i];
    }
    for (int i = 0; i <= ndims; i++) {
        be[0] = (unsigned char)(words[i] >> 24), be[1] = (unsigned char)(words[i] >> 16);
        be[2] = (unsigned char)(words[i] >> 8), be[3] = (unsigned char)words[i];
        ck_assert_int_eq(fwrite(be, 1, 4, f), 4);
    }
    uint32_t s = seed;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        fputc(magic == 0x801 ? (int)((s >> 16) % 10) : (int)(s >> 24), f);
    }
    ck_assert_int_eq(fclose(f), 0);
}

static void write_dataset(const char *dir, const char *prefix, uint32_t count, uint32_t seed)
{
    char path[600];
    uint32_t img[] = { count, 28, 28 }, lab[] = { count };
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte", dir, prefix);
    write_idx(path, 0x803, img, 3, seed);
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte", dir, prefix);
    write_idx(path, 0x801, lab, 1, seed + 1);
}

static void run_ok(FeProc *p, const char *const argv[])
{
    fe_spawn(p, (char *const *)argv, 120);
    ck_assert_msg(fe_exit_code(p) == 0, "%s %s failed:\n%.1500s%.1500s", argv[0], argv[1], p->out, p->err);
}

/* netc train against the built binary on mlp.net: same checkpoint, byte
 * for byte; each evaluates the other's checkpoint to the same numbers. */
START_TEST(driver_mlp_checkpoints)
{
    char *dir = temp_dir();
    write_dataset(dir, "train", 300, 11);
    write_dataset(dir, "t10k", 100, 22);
    char data[600], test[600], exe[600], jit_ck[600], aot_ck[600];
    snprintf(data, sizeof data, "%s/train-images-idx3-ubyte", dir);
    snprintf(test, sizeof test, "%s/t10k-images-idx3-ubyte", dir);
    snprintf(exe, sizeof exe, "%s/mlp", dir);
    snprintf(jit_ck, sizeof jit_ck, "%s/jit.safetensors", dir);
    snprintf(aot_ck, sizeof aot_ck, "%s/aot.safetensors", dir);
    const char *netc = fe_netc();
    FeProc p;
    const char *build[] = { netc, "build", "examples/mlp.net", "-o", exe, NULL };
    run_ok(&p, build);
    fe_proc_free(&p);
    /* 300 samples at batch 128: a partial last batch is trained too */
    const char *jit_train[] = { netc, "train", "examples/mlp.net", "--steps", "4", "--threads", "2", "--data", data,
                          "--test", test, "--save", jit_ck, NULL };
    run_ok(&p, jit_train);
    fe_proc_free(&p);
    const char *aot_train[] = { exe, "train", "--steps", "4", "--threads", "2", "--data", data, "--test", test, "--save",
                          aot_ck, NULL };
    run_ok(&p, aot_train);
    fe_proc_free(&p);
    size_t na, nj;
    char *a = fe_slurp(aot_ck, &na), *j = fe_slurp(jit_ck, &nj);
    ck_assert_msg(na == nj && memcmp(a, j, na) == 0, "checkpoints of netc train and the built binary differ");
    free(a);
    free(j);

    /* the round trip: each side loads the other's checkpoint */
    FeProc ea, ej;
    const char *aot_eval[] = { exe, "eval", "--load", jit_ck, "--test", test, NULL };
    run_ok(&ea, aot_eval);
    const char *jit_eval[] = { netc, "eval", "examples/mlp.net", "--load", aot_ck, "--test", test, NULL };
    run_ok(&ej, jit_eval);
    ck_assert_msg(strstr(ea.out, "accuracy"), "eval printed:\n%s", ea.out);
    ck_assert_str_eq(ea.out, ej.out);
    fe_proc_free(&ea);
    fe_proc_free(&ej);
    const char *jit_predict[] = { netc, "predict", "examples/mlp.net", "--load", aot_ck, test, NULL };
    const char *aot_predict[] = { exe, "predict", "--load", jit_ck, test, NULL };
    run_ok(&ej, jit_predict);
    run_ok(&ea, aot_predict);
    ck_assert_str_eq(ea.out, ej.out);
    fe_proc_free(&ea);
    fe_proc_free(&ej);
    remove_dir(dir);
}
END_TEST

/* A character model (embed -> position -> layernorm -> dense) trained on
 * a text file by netc train and by the built binary: the same checkpoint,
 * byte for byte, and a loss that falls. Then the same model with a table
 * too small for the file's bytes: both refuse the data, naming the id. */
START_TEST(driver_text_checkpoints)
{
    char *dir = temp_dir();
    char corpus[600], net[600], small[600], exe[600], jit_ck[600], aot_ck[600];
    snprintf(corpus, sizeof corpus, "%s/corpus.txt", dir);
    snprintf(net, sizeof net, "%s/chars.net", dir);
    snprintf(small, sizeof small, "%s/small.net", dir);
    snprintf(exe, sizeof exe, "%s/chars", dir);
    snprintf(jit_ck, sizeof jit_ck, "%s/jit.safetensors", dir);
    snprintf(aot_ck, sizeof aot_ck, "%s/aot.safetensors", dir);
    FILE *f = fopen(corpus, "w");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 400; i++)
        fputs(i % 3 ? "the cat sat on the mat. " : "a dog ate the hat! ", f);
    ck_assert_int_eq(fclose(f), 0);
    static const char *const text =
        "model chars(tok: i32[32]) -> f32[32, 128] {\n"
        "  h = tok -> embed(%d, 32) -> position\n"
        "  h = h + (h -> layernorm -> dense(64) -> gelu -> dense(32))\n"
        "  h -> layernorm -> dense(128)\n}\n"
        "train chars { data text(\"corpus.txt\", seq = 32) loss cross_entropy optimizer adamw(lr = 3e-3)\n"
        "  batch 8 steps 30 seed 3 }\n";
    for (int k = 0; k < 2; k++) {
        f = fopen(k ? small : net, "w");
        ck_assert_ptr_nonnull(f);
        fprintf(f, text, k ? 100 : 128);
        ck_assert_int_eq(fclose(f), 0);
    }
    const char *netc = fe_netc();
    FeProc p, q;
    const char *build[] = { netc, "build", net, "-o", exe, NULL };
    run_ok(&p, build);
    fe_proc_free(&p);
    const char *jit_train[] = { netc, "train", net, "--threads", "2", "--save", jit_ck, NULL };
    run_ok(&p, jit_train);
    const char *aot_train[] = { exe, "train", "--threads", "1", "--save", aot_ck, NULL };
    run_ok(&q, aot_train);
    double loss = 0, loss_aot = 1;
    const char *at = strstr(p.out, "loss "), *at_aot = strstr(q.out, "loss ");
    ck_assert_msg(at && sscanf(at, "loss %lf", &loss) == 1, "train printed:\n%s", p.out);
    ck_assert_msg(at_aot && sscanf(at_aot, "loss %lf", &loss_aot) == 1, "train printed:\n%s", q.out);
    ck_assert_msg(loss == loss_aot, "loss %g (JIT) vs %g (built)", loss, loss_aot);
    ck_assert_msg(loss < 4.0, "mean loss %g over 30 steps: not learning (log 128 = 4.85)", loss);
    fe_proc_free(&p);
    fe_proc_free(&q);
    size_t na, nj;
    char *a = fe_slurp(aot_ck, &na), *j = fe_slurp(jit_ck, &nj);
    ck_assert_msg(na == nj && memcmp(a, j, na) == 0, "checkpoints of netc train and the built binary differ");
    free(a);
    free(j);

    const char *bad_train[] = { netc, "train", small, "--steps", "1", NULL };
    fe_spawn(&p, (char *const *)bad_train, 120);
    ck_assert_int_eq(fe_exit_code(&p), 1);
    ck_assert_msg(strstr(p.err, "corpus.txt: token id 100 of sample 0 is outside [0, 100)"), "stderr:\n%s", p.err);
    fe_proc_free(&p);
    remove_dir(dir);
}
END_TEST

/* val = 0.25 on a text holds out its LAST quarter: a text whose last
 * quarter is made of letters the rest never has is learnt on the rest
 * (low training loss) and scores badly on the held-out part. A random
 * pick of windows would have put "ab" windows in validation too. */
START_TEST(text_validation_is_the_end_of_the_text)
{
    char *dir = temp_dir();
    char corpus[600], net[600], log[600];
    snprintf(corpus, sizeof corpus, "%s/corpus.txt", dir);
    snprintf(net, sizeof net, "%s/tail.net", dir);
    snprintf(log, sizeof log, "%s/log.csv", dir);
    /* 96 windows of 16 tokens: 72 of "abab...", then 24 of "xyxy..." */
    FILE *f = fopen(corpus, "w");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 72 * 16; i++)
        fputc("ab"[i % 2], f);
    for (int i = 0; i < 24 * 16 + 1; i++)
        fputc("xy"[i % 2], f);
    ck_assert_int_eq(fclose(f), 0);
    f = fopen(net, "w");
    ck_assert_ptr_nonnull(f);
    fputs("model tail(tok: i32[16]) -> f32[16, 128] { tok -> embed(128, 16) -> dense(128) }\n"
          "train tail { data text(\"corpus.txt\", seq = 16) loss cross_entropy optimizer adam(lr = 1e-2)\n"
          "  batch 8 epochs 6 seed 1 val = 0.25 }\n", f);
    ck_assert_int_eq(fclose(f), 0);
    const char *train[] = { fe_netc(), "train", net, "--log", log, NULL };
    FeProc p;
    run_ok(&p, train);
    const char *last = strstr(p.out, "epoch 6/6  loss ");
    double train_loss = 9, val_loss = 0;
    ck_assert_msg(last && sscanf(last, "epoch 6/6  loss %lf", &train_loss) == 1, "%s", p.out);
    const char *v = strstr(last, "val loss ");
    ck_assert_msg(v && sscanf(v, "val loss %lf", &val_loss) == 1, "%s", p.out);
    ck_assert_msg(train_loss < 0.5 && val_loss > 2.0, "train loss %g, validation loss %g:\n%s", train_loss,
                  val_loss, p.out);
    fe_proc_free(&p);
    char record[700];
    snprintf(record, sizeof record, "%s.json", log);
    char *rec = fe_slurp(record, NULL);
    ck_assert_msg(strstr(rec, "\"train_samples\": 72") && strstr(rec, "\"val_samples\": 24"), "%s", rec);
    /* the command as typed, not the argv netc made up for rt_main */
    char command[1200];
    snprintf(command, sizeof command, "\"command\": [\n    \"%s\",\n    \"train\",\n    \"%s\",\n    \"--log\",\n",
             fe_netc(), net);
    ck_assert_msg(strstr(rec, command), "%s", rec);
    free(rec);
    remove_dir(dir);
}
END_TEST

/* The model's own flags reach rt_main; its usage errors keep exit code 2. */
START_TEST(driver_flags)
{
    FeProc p;
    fe_netc_run(&p, "train", "examples/mlp.net", "--epochs", NULL);
    ck_assert_int_eq(fe_exit_code(&p), 2);
    ck_assert_msg(strstr(p.err, "--epochs needs a value"), "stderr:\n%s", p.err);
    fe_proc_free(&p);
    fe_netc_run(&p, "eval", "examples/mlp.net", NULL, NULL);
    ck_assert_int_eq(fe_exit_code(&p), 2);
    ck_assert_msg(strstr(p.err, "--load"), "stderr:\n%s", p.err);
    fe_proc_free(&p);
    fe_netc_run(&p, "train", "examples/mlp.net", "--help", NULL);
    ck_assert_int_eq(fe_exit_code(&p), 0);
    ck_assert_msg(strstr(p.out, "--save FILE"), "stdout:\n%s", p.out);
    fe_proc_free(&p);
    fe_netc_run(&p, "--help", NULL, NULL, NULL);
    ck_assert_int_eq(fe_exit_code(&p), 0);
    ck_assert_msg(strstr(p.out, "  train ") && strstr(p.out, "--dump-jit"), "help:\n%s", p.out);
    fe_proc_free(&p);
}
END_TEST

/* ------------------------------------------------------------ failures */

static const char *small_net = "model m(x: f32[10]) { x -> dense(7) -> relu -> dense(3) }\n" TRAIN_XENT;

/* Compiles lp, expecting failure; returns the message (malloc'd). */
static char *jit_error(FeRun *r, LProgram *lp)
{
    char *msg = NULL;
    size_t len = 0;
    FILE *err = open_memstream(&msg, &len);
    ck_assert_ptr_nonnull(err);
    JitProgram *jp = jit_compile(&r->c, lp, NULL, err);
    fclose(err);
    ck_assert_msg(!jp, "a broken program compiled");
    return msg;
}

START_TEST(broken_lir_is_an_error)
{
    FeRun r;
    LProgram lp;
    lower_ok(&r, small_net, &lp);
    /* a GEMM call with three arguments: refused against kernels.def's row */
    LInstr saved = lp.forward.code[0];
    ck_assert_int_eq(saved.fn, K_rt_sgemm_ex);
    lp.forward.code[0].nargs = 3;
    char *msg = jit_error(&r, &lp);
    ck_assert_msg(!strncmp(msg, "netc: error: JIT compilation failed: ", 37) && strstr(msg, "rt_sgemm_ex") &&
                      strstr(msg, "arguments"),
                  "got: %s", msg);
    free(msg);
    /* a float where a pointer goes: a type error from libgccjit (the
     * arguments are held apart from the instruction: restored below) */
    lp.forward.code[0] = saved;
    LArg saved_arg = saved.args[6];
    lp.forward.code[0].args[6] = (LArg){ .kind = LA_FLOAT, .f = 1 };
    msg = jit_error(&r, &lp);
    ck_assert_msg(!strncmp(msg, "netc: error: JIT compilation failed: ", 37) && strstr(msg, "rt_sgemm_ex"), "got: %s", msg);
    free(msg);
    /* a kernel outside kernels.def */
    lp.forward.code[0] = saved;
    lp.forward.code[0].args[6] = saved_arg;
    lp.forward.code[0].fn = K_NONE;
    msg = jit_error(&r, &lp);
    ck_assert_msg(strstr(msg, "JIT compilation failed: internal error: a call of no runtime kernel"), "got: %s", msg);
    free(msg);
    /* and the intact program still compiles in a fresh context */
    lp.forward.code[0] = saved;
    JitProgram *jp = jit_compile(&r.c, &lp, NULL, r.diag);
    ck_assert_ptr_nonnull(jp);
    jit_free(jp);
    fe_close(&r);
}
END_TEST

/* sub/NAME.jit.c holds every needle; NAME.reproducer.c and NAME.s exist. */
static void expect_dumps(const char *sub, const char *name, const char *const *needles, int n)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s.jit.c", sub, name);
    char *text = fe_slurp(path, NULL);
    for (int i = 0; i < n; i++)
        ck_assert_msg(strstr(text, needles[i]), "%s lacks %s:\n%s", path, needles[i], text);
    free(text);
    snprintf(path, sizeof path, "%s/%s.reproducer.c", sub, name);
    ck_assert_int_eq(access(path, R_OK), 0);
    snprintf(path, sizeof path, "%s/%s.s", sub, name);
    ck_assert_int_eq(access(path, R_OK), 0);
}

/* net lowered and compiled by the JIT with dumps into DIR/dumps (*sub). */
static JitProgram *compile_dumping(FeRun *r, LProgram *lp, const char *net, char **dir, char *sub, size_t len)
{
    *dir = temp_dir();
    snprintf(sub, len, "%s/dumps", *dir);
    lower_ok(r, net, lp);
    JitProgram *jp = jit_compile(&r->c, lp, sub, r->diag);
    ck_assert_ptr_nonnull(jp);
    return jp;
}

START_TEST(dump_jit)
{
    char *dir, sub[600];
    FeRun r;
    LProgram lp;
    jit_free(compile_dumping(&r, &lp, small_net, &dir, sub, sizeof sub));
    static const char *const needles[] = { "m_train_step", "rt_sgemm_ex", "dense" };
    expect_dumps(sub, "m", needles, 3);
    fe_close(&r);
    remove_dir(dir);
}
END_TEST

/* The functions compiled on first use (sample's step function, a train
 * step's checked twin) are dumped too, each under its own name, when they
 * are compiled. */
START_TEST(dump_jit_later_functions)
{
    static const char lm[] = "model m(tok: i32[8]) -> f32[8, 20] { tok -> embed(20, 8) -> lstm(12) -> dense(20) }\n"
                             "train m { data text(\"c.txt\", seq = 8) loss cross_entropy optimizer adam(lr = 1e-2) }\n";
    char *dir, sub[600], path[700];
    FeRun r;
    LProgram lp;
    JitProgram *jp = compile_dumping(&r, &lp, lm, &dir, sub, sizeof sub);
    ck_assert(lp.has_step);
    snprintf(path, sizeof path, "%s/m_step.jit.c", sub);
    ck_assert_int_ne(access(path, R_OK), 0); /* not compiled yet */
    const rt_program *p = jit_program(jp);
    ck_assert_ptr_nonnull(rt_program_step(p));
    ck_assert_ptr_nonnull(p->compile_checked(p, 0));
    static const char *const names[] = { "m_step", "m_train_step_checked" };
    for (int i = 0; i < 2; i++)
        expect_dumps(sub, names[i], &names[i], 1);
    jit_free(jp);
    fe_close(&r);
    remove_dir(dir);
}
END_TEST

static Suite *jit_suite(void)
{
    Suite *s = suite_create("jit");
    TCase *tc = test_case("JIT vs C backend, bitwise");
    tcase_add_test(tc, parity_mlp);
    tcase_add_loop_test(tc, parity_epilogue_activations, 0, fe_activation_count());
    tcase_add_loop_test(tc, parity_loop_activations, 0, fe_activation_count());
    tcase_add_test(tc, parity_loops);
    tcase_add_test(tc, parity_dropout_softmax);
    tcase_add_test(tc, parity_mse_bce);
    tcase_add_test(tc, parity_cnn);
    tcase_add_loop_test(tc, parity_lenet_resnet, 0, 2);
    tcase_add_test(tc, parity_concat);
    tcase_add_test(tc, parity_recurrent);
    tcase_add_test(tc, parity_embed_recurrent);
    tcase_add_test(tc, parity_sequence);
    tcase_add_test(tc, embed_position_forward_reference);
    tcase_add_loop_test(tc, concat_forward_reference, 0, 4);
    tcase_add_test(tc, parity_attention);
    tcase_add_loop_test(tc, parity_parts, 0, 2);
    tcase_add_test(tc, checked_step_is_the_step);
    tcase_add_loop_test(tc, attention_forward_kernel, 0, 2);
    tcase_add_test(tc, relu_in_loop_like_kernel);
    tcase_add_test(tc, activations_in_loops_like_kernels);
    tcase_add_test(tc, output_is_reshaped_input);
    suite_add_tcase(s, tc);
    tc = test_case("driver");
    tcase_add_test(tc, driver_mlp_checkpoints);
    tcase_add_test(tc, driver_text_checkpoints);
    tcase_add_test(tc, driver_flags);
    tcase_add_test(tc, text_validation_is_the_end_of_the_text);
    suite_add_tcase(s, tc);
    tc = test_case("failures and dumps");
    tcase_add_test(tc, broken_lir_is_an_error);
    tcase_add_test(tc, dump_jit);
    tcase_add_test(tc, dump_jit_later_functions);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(jit_suite)
