/* test_shape.c — the shape rule of every surface op in compiler/ops.def,
 * valid and invalid, through small .net snippets (and those of the backward
 * ops concat_grad, attention_grad and the recurrent gradients, which no
 * snippet can reach, directly). Each expectation is worked out by hand
 * from the op's definition (a comment says how when it is not obvious);
 * parameters are listed as "suffix type", with "(state)" for running
 * statistics that are not trained. */
#include "front.h"

/* The last node's output type and its parameters, as one line:
 * "f32[10] | weight f32[10, 784]; bias f32[10]". */
static char *describe_output(FeRun *r)
{
    const Graph *g = &r->c.prog->graphs[0];
    const Node *n = &g->nodes[g->output];
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    fprintf(f, "%s |", fe_type(&r->c, n));
    for (int i = n->ndata; i < n->ninputs; i++) {
        const Node *pn = &g->nodes[n->inputs[i]];
        const Param *p = &r->c.prog->params[pn->param];
        const char *suffix = strrchr(p->name, '.') + 1;
        fprintf(f, "%s %s %s%s", i == n->ndata ? "" : ";", suffix, ir_type_str(&r->c, DT_F32, &p->shape),
                p->trainable ? "" : " (state)");
    }
    fclose(f);
    return buf;
}

/* model m(<inputs>) { <body> } must compile to `want`. */
static void rule_ok(const char *inputs, const char *body, const char *want)
{
    char src[512];
    snprintf(src, sizeof src, "model m(%s) { %s }\n", inputs, body);
    FeRun r;
    fe_open(&r, src);
    ck_assert_msg(r.ok && r.len == 0, "%s\n%s", src, r.out);
    char *got = describe_output(&r);
    ck_assert_msg(strcmp(got, want) == 0, "%s\nwant: %s\ngot:  %s", src, want, got);
    free(got);
    fe_close(&r);
}

/* ... must fail with `msg` in its first error. */
static void rule_err(const char *inputs, const char *body, const char *msg)
{
    char src[512];
    snprintf(src, sizeof src, "model m(%s) { %s }\n", inputs, body);
    bool ok;
    char *out = fe_diags(src, &ok);
    ck_assert_msg(!ok && strstr(out, msg) != NULL, "%s\nwant: %s\ngot:\n%s", src, msg, out);
    char *first = strstr(out, "error: ");
    ck_assert_msg(first && strncmp(first + 7, msg, strlen(msg)) == 0, "not the first error: %s\n%s", msg, out);
    free(out);
}

START_TEST(test_dense)
{
    rule_ok("x: f32[784]", "x -> dense(10)", "f32[10] | weight f32[10, 784]; bias f32[10]");
    /* A sequence: the weight applies at every position. */
    rule_ok("x: f32[5, 8]", "x -> dense(16, bias = false)", "f32[5, 16] | weight f32[16, 8]");
    rule_err("x: f32[1, 28, 28]", "x -> dense(10)",
             "dense(10) expects f32[N] (or a sequence f32[T, N]), got f32[1, 28, 28]; insert flatten before it");
    rule_err("x: f32[4]", "x -> dense(-3)", "dense(-3): 'units' must be at least 1, got -3");
    rule_err("x: i32[4]", "x -> dense(3)", "dense(3) expects a f32 tensor, got i32[4]; token ids go through embed first");
}
END_TEST

START_TEST(test_conv2d)
{
    /* out = (in + 2 pad - (dilation (k - 1) + 1)) / stride + 1 */
    rule_ok("x: f32[3, 32, 32]", "x -> conv2d(8, 3)", "f32[8, 30, 30] | weight f32[8, 3, 3, 3]; bias f32[8]");
    rule_ok("x: f32[3, 33, 33]", "x -> conv2d(8, 3, stride = 2)", "f32[8, 16, 16] | weight f32[8, 3, 3, 3]; bias f32[8]");
    rule_ok("x: f32[1, 28, 28]", "x -> conv2d(4, 3, padding = 1, bias = false)", "f32[4, 28, 28] | weight f32[4, 1, 3, 3]");
    /* "same": ceil(in / stride) whatever the kernel. */
    rule_ok("x: f32[1, 28, 28]", "x -> conv2d(4, 5, stride = 2, padding = \"same\", bias = false)", "f32[4, 14, 14] | weight f32[4, 1, 5, 5]");
    rule_ok("x: f32[2, 7, 9]", "x -> conv2d(4, 3, padding = \"same\", bias = false)", "f32[4, 7, 9] | weight f32[4, 2, 3, 3]");
    rule_ok("x: f32[1, 28, 28]", "x -> conv2d(4, 5, padding = \"valid\", bias = false)", "f32[4, 24, 24] | weight f32[4, 1, 5, 5]");
    /* dilation 2 makes a 3x3 kernel span 5. */
    rule_ok("x: f32[1, 28, 28]", "x -> conv2d(4, 3, dilation = 2, bias = false)", "f32[4, 24, 24] | weight f32[4, 1, 3, 3]");
    /* groups: each filter sees C / groups channels. */
    rule_ok("x: f32[4, 10, 10]", "x -> conv2d(8, 3, groups = 2)", "f32[8, 8, 8] | weight f32[8, 2, 3, 3]; bias f32[8]");
    rule_ok("x: f32[6, 5, 5]", "x -> conv2d(6, 1, groups = 6, bias = false)", "f32[6, 5, 5] | weight f32[6, 1, 1, 1]");
    rule_err("x: f32[784]", "x -> conv2d(8, 3)",
             "conv2d(8, 3) expects an image f32[C, H, W], got f32[784]; a dense input needs reshape(C, H, W) first");
    rule_err("x: f32[4, 10, 10]", "x -> conv2d(8, 3, groups = 3)",
             "conv2d(8, 3, groups = 3): groups=3 must divide both the input channels (4) and the filters (8)");
    rule_err("x: f32[1, 4, 4]", "x -> conv2d(8, 5)",
             "conv2d(8, 5): the kernel (5) is larger than the input (4); use a smaller kernel or padding");
    rule_err("x: f32[1, 4, 4]", "x -> conv2d(8, 3, stride = 0)", "conv2d(8, 3, stride = 0): 'stride' must be at least 1, got 0");
    /* -1 and -2 are how "same" and "valid" are stored; written as numbers they are errors. */
    rule_err("x: f32[1, 4, 4]", "x -> conv2d(8, 3, padding = -1)",
             "argument 'padding' of conv2d expects an integer >= 0, \"same\" or \"valid\", got the integer -1");
    rule_err("x: f32[1, 4, 4]", "x -> conv2d(8, 3, padding = -2)",
             "argument 'padding' of conv2d expects an integer >= 0, \"same\" or \"valid\", got the integer -2");
    rule_err("x: f32[1, 4, 4]", "x -> conv2d(8, 3, padding = \"full\")",
             "argument 'padding' of conv2d expects an integer >= 0, \"same\" or \"valid\", got the string \"full\"");
}
END_TEST

START_TEST(test_stride_warning)
{
    /* (32 - 3) / 2 = 14 rem 1: the last row is never read. */
    FeRun r;
    fe_open(&r, "model m(x: f32[3, 32, 32]) { x -> conv2d(8, 3, stride = 2) }\n");
    ck_assert(r.ok);
    ck_assert_int_eq(r.c.diag.warnings, 1);
    ck_assert_ptr_nonnull(strstr(r.out, "warning: conv2d(8, 3, stride = 2): at stride 2 the windows stop 1 row short of the input's 32, so the last row and column are ignored"));
    fe_close(&r);
    /* A 1x1 stride-2 shortcut skips rows by design: no warning. */
    fe_open(&r, "model m(x: f32[3, 32, 32]) { x -> conv2d(8, 1, stride = 2) }\n");
    ck_assert(r.ok);
    ck_assert_int_eq(r.c.diag.warnings, 0);
    fe_close(&r);
}
END_TEST

START_TEST(test_pooling)
{
    /* stride defaults to the window size. */
    rule_ok("x: f32[3, 28, 28]", "x -> maxpool(2)", "f32[3, 14, 14] |");
    rule_ok("x: f32[3, 28, 28]", "x -> maxpool", "f32[3, 14, 14] |");
    /* (7 - 3) / 2 + 1 = 3 */
    rule_ok("x: f32[3, 7, 7]", "x -> maxpool(3, stride = 2)", "f32[3, 3, 3] |");
    /* (5 + 2 - 3) / 1 + 1 = 5 */
    rule_ok("x: f32[2, 5, 5]", "x -> avgpool(3, stride = 1, padding = 1)", "f32[2, 5, 5] |");
    rule_ok("x: f32[2, 8, 6]", "x -> avgpool(2)", "f32[2, 4, 3] |");
    rule_ok("x: f32[16, 7, 7]", "x -> global_avgpool", "f32[16] |");
    rule_err("x: f32[3, 8, 8]", "x -> maxpool(2, padding = 2)",
             "maxpool(2, padding = 2): padding must be between 0 and half the window (1), got 2");
    rule_err("x: f32[3, 8, 8]", "x -> maxpool(0)", "maxpool(0): 'size' must be at least 1, got 0");
    rule_err("x: f32[64]", "x -> avgpool(2)", "avgpool(2) expects an image f32[C, H, W], got f32[64]; pooling works on images");
    rule_err("x: f32[3, 2, 2]", "x -> maxpool(3)", "maxpool(3): the window (3) is larger than the input (2); use a smaller window or padding");
    rule_err("x: f32[16, 7]", "x -> global_avgpool", "global_avgpool expects an image f32[C, H, W], got f32[16, 7]");
}
END_TEST

START_TEST(test_normalization)
{
    rule_ok("x: f32[32]", "x -> batchnorm",
            "f32[32] | weight f32[32]; bias f32[32]; running_mean f32[32] (state); running_var f32[32] (state)");
    /* Per channel on images. */
    rule_ok("x: f32[8, 4, 4]", "x -> batchnorm(momentum = 0.01, eps = 1e-3)",
            "f32[8, 4, 4] | weight f32[8]; bias f32[8]; running_mean f32[8] (state); running_var f32[8] (state)");
    rule_err("x: f32[4, 8]", "x -> batchnorm",
             "batchnorm expects f32[C] or an image f32[C, H, W], got f32[4, 8]; for sequences use layernorm");
    rule_err("x: f32[4]", "x -> batchnorm(momentum = 1.5)", "batchnorm(momentum = 1.5): momentum must be between 0 and 1, got 1.5");
    rule_err("x: f32[4]", "x -> batchnorm(eps = 0)", "batchnorm(eps = 0): eps must be positive, got 0");
    /* layernorm normalises the last dimension. */
    rule_ok("x: f32[5, 12]", "x -> layernorm", "f32[5, 12] | weight f32[12]; bias f32[12]");
    rule_ok("x: f32[2, 3, 4]", "x -> layernorm(eps = 1e-6)", "f32[2, 3, 4] | weight f32[4]; bias f32[4]");
    rule_err("x: f32[4]", "x -> layernorm(eps = -1)", "layernorm(eps = -1): eps must be positive, got -1");
}
END_TEST

START_TEST(test_sequence_layers)
{
    rule_ok("x: i32[10]", "x -> embed(100, 16)", "f32[10, 16] | weight f32[100, 16]");
    rule_ok("x: i32[2, 3]", "x -> embed(7, 4)", "f32[2, 3, 4] | weight f32[7, 4]");
    rule_err("x: f32[10]", "x -> embed(100, 16)", "embed(100, 16) expects token ids i32[T], got f32[10]");
    rule_err("x: i32[10]", "x -> embed(0, 16)", "embed(0, 16): 'vocab' must be at least 1, got 0");
    rule_ok("x: f32[10, 16]", "x -> position", "f32[10, 16] | weight f32[10, 16]");
    rule_err("x: f32[16]", "x -> position", "position expects a sequence f32[T, D], got f32[16]");
    /* attention: qkv projects D to 3D, out projects D to D. */
    rule_ok("x: f32[10, 16]", "x -> attention(4)",
            "f32[10, 16] | qkv_weight f32[48, 16]; qkv_bias f32[48]; out_weight f32[16, 16]; out_bias f32[16]");
    rule_ok("x: f32[10, 16]", "x -> attention(16, causal = true)",
            "f32[10, 16] | qkv_weight f32[48, 16]; qkv_bias f32[48]; out_weight f32[16, 16]; out_bias f32[16]");
    rule_err("x: f32[10, 16]", "x -> attention(3)",
             "attention(3): the width 16 is not divisible by 3 heads; use a head count that divides 16");
    rule_err("x: f32[16]", "x -> attention(4)", "attention(4) expects a sequence f32[T, D], got f32[16]");
}
END_TEST

/* Recurrent layers: gates x units rows, one bias per gate row. */
START_TEST(test_recurrent)
{
    rule_ok("x: f32[5, 3]", "x -> rnn(8)", "f32[5, 8] | weight_ih f32[8, 3]; weight_hh f32[8, 8]; bias f32[8]");
    rule_ok("x: f32[5, 3]", "x -> lstm(8, sequences = false)", "f32[8] | weight_ih f32[32, 3]; weight_hh f32[32, 8]; bias f32[32]");
    rule_ok("x: f32[5, 3]", "x -> lstm(8)", "f32[5, 8] | weight_ih f32[32, 3]; weight_hh f32[32, 8]; bias f32[32]");
    rule_ok("x: f32[5, 3]", "x -> gru(8)", "f32[5, 8] | weight_ih f32[24, 3]; weight_hh f32[24, 8]; bias f32[24]");
    rule_ok("x: f32[5, 3]", "x -> gru(2, sequences = false)", "f32[2] | weight_ih f32[6, 3]; weight_hh f32[6, 2]; bias f32[6]");
    rule_err("x: f32[2, 5, 3]", "x -> gru(8)", "gru(8) expects a sequence f32[T, D], got f32[2, 5, 3]");
    rule_err("x: i32[5]", "x -> rnn(8)", "rnn(8) expects a f32 tensor, got i32[5]; token ids go through embed first");
    /* Parameter counts: rnn 8*3 + 8*8 + 8 = 96; lstm 4x the gates:
     * 32*3 + 32*8 + 32 = 384; gru 24*3 + 24*8 + 24 = 288. */
    FeRun r;
    fe_open_ok(&r, "model m(x: f32[5, 3]) { a = x -> rnn(8)\n b = x -> lstm(8)\n c = x -> gru(8)\n a + b + c }\n");
    const Graph *g = &r.c.prog->graphs[0];
    ck_assert_int_eq(summary_node_params(r.c.prog, g, fe_node(g, "rnn1")), 96);
    ck_assert_int_eq(summary_node_params(r.c.prog, g, fe_node(g, "lstm1")), 384);
    ck_assert_int_eq(summary_node_params(r.c.prog, g, fe_node(g, "gru1")), 288);
    fe_close(&r);
}
END_TEST

START_TEST(test_shape_ops)
{
    rule_ok("x: f32[64, 4, 4]", "x -> flatten", "f32[1024] |");
    rule_ok("x: i32[2, 3]", "x -> flatten", "i32[6] |");
    rule_ok("x: f32[12]", "x -> reshape(2, -1)", "f32[2, 6] |");
    rule_ok("x: f32[12]", "x -> reshape([3, 4])", "f32[3, 4] |");
    rule_ok("x: f32[2, 6]", "x -> reshape(-1)", "f32[12] |");
    rule_ok("x: f32[784]", "x -> reshape(1, 28, 28)", "f32[1, 28, 28] |");
    rule_err("x: f32[12]", "x -> reshape(5, -1)",
             "reshape(5, -1): cannot infer the -1 dimension: 12 elements of f32[12] are not divisible by 5");
    rule_err("x: f32[12]", "x -> reshape(-1, -1)", "reshape(-1, -1): dimensions must be positive (one may be -1, inferred), got -1");
    rule_err("x: f32[12]", "x -> reshape(0, 12)", "reshape(0, 12): dimensions must be positive (one may be -1, inferred), got 0");
    rule_err("x: f32[12]", "x -> reshape(5, 2)", "reshape(5, 2): the new shape has 10 elements but f32[12] has 12");
    rule_err("x: f32[12]", "x -> reshape(1, 2, 3, 4, 5, 6, 7)", "reshape(1, 2, 3, 4, 5, 6, 7): at most 6 dimensions, got 7");
    rule_err("x: f32[12]", "x -> reshape(2.5)", "argument 'shape' of reshape expects integers, got the number 2.5");
}
END_TEST

START_TEST(test_concat)
{
    rule_ok("x: f32[2, 3], y: f32[4, 3]", "concat(x, y)", "f32[6, 3] |");
    rule_ok("x: f32[2, 3], y: f32[2, 5]", "concat(x, y, axis = -1)", "f32[2, 8] |");
    rule_ok("x: f32[2, 3], y: f32[2, 5]", "concat(x, y, axis = 1)", "f32[2, 8] |");
    rule_ok("x: f32[2], y: f32[3], z: f32[4]", "concat(x, y, z)", "f32[9] |");
    /* In a chain the piped value comes first. */
    rule_ok("x: f32[2, 3], y: f32[2, 5]", "x -> concat(y, axis = -1)", "f32[2, 8] |");
    rule_ok("x: f32[4, 8, 8], y: f32[2, 8, 8]", "concat(x, y)", "f32[6, 8, 8] |");
    rule_err("x: f32[2, 3], y: f32[4, 3]", "concat(x, y, axis = 1)",
             "concat(x, y, axis = 1): input 2 is f32[4, 3] and input 1 is f32[2, 3]; they must agree in every dimension but axis 1");
    rule_err("x: f32[2, 3], y: f32[2, 3]", "concat(x, y, axis = -3)", "concat(x, y, axis = -3): axis -3 is out of range for f32[2, 3]");
    rule_err("x: f32[2, 3], y: f32[6]", "concat(x, y)",
             "concat(x, y): input 2 is f32[6] and input 1 is f32[2, 3]; they must agree in every dimension but axis 0");
    rule_err("x: f32[3], y: i32[3]", "concat(x, y)", "concat(x, y): input 2 is i32[3] but input 1 is f32[3]; all inputs need one dtype");
}
END_TEST

START_TEST(test_elementwise)
{
    rule_ok("x: f32[4]", "x -> dropout(0.2)", "f32[4] |");
    rule_ok("x: f32[4]", "x -> dropout(0)", "f32[4] |");
    rule_ok("x: f32[4]", "x -> dropout", "f32[4] |");
    rule_err("x: f32[4]", "x -> dropout(1.0)", "dropout(1.0): rate must be in [0, 1), got 1");
    rule_err("x: f32[4]", "x -> dropout(-0.1)", "dropout(-0.1): rate must be in [0, 1), got -0.1");
    static const char *const acts[] = { "softmax", "leaky_relu", "leaky_relu(0.2)" };
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++) {
        char body[64];
        snprintf(body, sizeof body, "x -> %s", acts[i]);
        rule_ok("x: f32[3, 5]", body, "f32[3, 5] |");
    }
    for (int i = 0; i < fe_activation_count(); i++) { /* every ACT row of ops.def */
        char body[96];
        snprintf(body, sizeof body, "x -> %s", fe_activation_call(i));
        rule_ok("x: f32[3, 5]", body, "f32[3, 5] |");
    }
    rule_err("x: f32[4]", "x -> leaky_relu(-1)", "leaky_relu(-1): alpha must be >= 0, got -1");
    rule_err("x: i32[4]", "x -> relu", "relu expects a f32 tensor, got i32[4]");
    rule_ok("a: f32[2, 3], b: f32[3]", "add(a, b)", "f32[2, 3] |");
    rule_ok("a: f32[2, 3], b: f32[2, 1]", "sub(a, b)", "f32[2, 3] |");
    rule_ok("a: f32[2, 3], b: f32[2, 3]", "a -> mul(b)", "f32[2, 3] |");
    rule_err("a: f32[2, 3], b: f32[2]", "mul(a, b)",
             "cannot multiply f32[2, 3] and f32[2]: dimension 2 is 3 on the left and 2 on the right; shapes must match or be 1 to broadcast");
}
END_TEST

START_TEST(test_losses)
{
    rule_ok("z: f32[10], y: i32[]", "cross_entropy(z, y)", "f32[] |");
    rule_ok("z: f32[5, 10], y: i32[5]", "cross_entropy(z, y)", "f32[] |");
    rule_err("z: f32[5, 10], y: i32[4]", "cross_entropy(z, y)", "cross_entropy(z, y): scores f32[5, 10] need labels i32[5], got i32[4]");
    rule_err("z: f32[10], y: f32[10]", "cross_entropy(z, y)",
             "cross_entropy(z, y) expects class labels i32, got f32[10]; use mse or bce for real-valued targets");
    rule_err("z: i32[10], y: i32[]", "cross_entropy(z, y)", "cross_entropy(z, y) expects a f32 tensor, got i32[10]");
    rule_ok("p: f32[3], t: f32[3]", "mse(p, t)", "f32[] |");
    rule_ok("p: f32[3]", "mse(p, 0.5)", "f32[] |");
    rule_ok("z: f32[1]", "bce(z, 1)", "f32[] |");
    rule_ok("z: f32[2, 2], t: f32[2, 2]", "z -> bce(t)", "f32[] |");
    rule_err("p: f32[3], t: f32[4]", "mse(p, t)", "mse(p, t): the prediction is f32[3] but the target is f32[4]; they must have one shape");
    rule_err("p: f32[3], t: i32[3]", "bce(p, t)", "bce(p, t) expects a f32 target, got i32[3]");
    rule_err("p: f32[3]", "mse(p, \"x\")", "argument 'target' of mse expects a tensor or a number, got the string \"x\"");
    /* The number target is kept as an attribute. */
    FeRun r;
    fe_open_ok(&r, "model m(p: f32[3]) { mse(p, 0.25) }\n");
    const Graph *g = &r.c.prog->graphs[0];
    const Attr *t = ir_attr(&g->nodes[g->output], "target");
    ck_assert(t->is_number && t->f == 0.25);
    ck_assert_int_eq(g->nodes[g->output].ndata, 1);
    fe_close(&r);
}
END_TEST

/* The rule of an op autodiff makes, called directly: f32 inputs, attrs by
 * signature position (tensors' slots unused). */
static bool internal_rule(Op op, const Shape *in, int nin, const Attr *attrs, Shape *out, bool *unbatched, FeRun *r)
{
    DType dt[3] = { DT_F32, DT_F32, DT_F32 };
    ShapeCtx s = { .c = &r->c, .op = op, .call = ir_ops[op].name, .in = in, .in_dtype = dt, .nin = nin, .attrs = attrs };
    bool ok = shape_infer(&s);
    *out = s.out;
    *unbatched = s.out_unbatched;
    return ok;
}

/* concat_grad, the rule autodiff's slices are verified by: dy's shape with
 * the slice's size along the axis, and a range outside dy refused. Attrs
 * by signature position: dy, axis, start, size. */
static bool concat_grad_rule(const Shape *dy, int64_t axis, int64_t start, int64_t size, Shape *out, FeRun *r)
{
    Attr attrs[4] = { { 0 }, { .i = axis }, { .i = start }, { .i = size } };
    bool unbatched;
    return internal_rule(OP_concat_grad, dy, 1, attrs, out, &unbatched, r);
}

START_TEST(test_concat_grad)
{
    FeRun r;
    fe_open_ok(&r, "model m(x: f32[2, 9, 5]) { concat(x, x, axis = -2) }\n");
    const Graph *g = &r.c.prog->graphs[0];
    ck_assert_int_eq(shape_concat_axis(&g->nodes[g->output]), 1);
    Shape dy = { 3, { 2, 9, 5 } }, out;
    ck_assert(concat_grad_rule(&dy, 1, 3, 4, &out, &r));
    ck_assert_str_eq(ir_type_str(&r.c, DT_F32, &out), "f32[2, 4, 5]");
    ck_assert(concat_grad_rule(&dy, 2, 0, 5, &out, &r));
    ck_assert_str_eq(ir_type_str(&r.c, DT_F32, &out), "f32[2, 9, 5]");
    ck_assert(!concat_grad_rule(&dy, 1, 6, 4, &out, &r));
    ck_assert(!concat_grad_rule(&dy, 3, 0, 1, &out, &r));
    ck_assert(!concat_grad_rule(&dy, 0, 0, 0, &out, &r));
    fe_close(&r);
}
END_TEST

/* recurrent_grad: dx has x's shape; dy must have the layer's output shape,
 * every step's f32[T, H] or the last f32[H]. recurrent_grad_param: the
 * parameter's shape, without a batch. Inputs by signature position. */
static bool backward_rule(Op op, const Shape *in, int n, Shape *out, bool *unbatched, FeRun *r)
{
    DType dt[3] = { DT_F32, DT_F32, DT_F32 };
    ShapeCtx s = { .c = &r->c, .op = op, .call = ir_ops[op].name, .in = in, .in_dtype = dt, .nin = n };
    bool ok = shape_infer(&s);
    *out = s.out;
    *unbatched = s.out_unbatched;
    return ok;
}

START_TEST(test_recurrent_grad)
{
    FeRun r;
    fe_open_ok(&r, "model m(x: f32[5, 3]) { x -> lstm(8) }\n");
    Shape out, seq[3] = { { 2, { 5, 8 } }, { 2, { 5, 3 } }, { 2, { 5, 8 } } };
    Shape last[3] = { { 1, { 8 } }, { 2, { 5, 3 } }, { 1, { 8 } } };
    bool unbatched;
    ck_assert(backward_rule(OP_recurrent_grad, seq, 3, &out, &unbatched, &r) && !unbatched);
    ck_assert_str_eq(ir_type_str(&r.c, DT_F32, &out), "f32[5, 3]");
    ck_assert(backward_rule(OP_recurrent_grad, last, 3, &out, &unbatched, &r));
    ck_assert_str_eq(ir_type_str(&r.c, DT_F32, &out), "f32[5, 3]");
    Shape mismatch[3] = { { 1, { 8 } }, { 2, { 5, 3 } }, { 2, { 5, 8 } } };
    ck_assert(!backward_rule(OP_recurrent_grad, mismatch, 3, &out, &unbatched, &r));
    Shape steps[3] = { { 2, { 4, 8 } }, { 2, { 5, 3 } }, { 2, { 4, 8 } } };
    ck_assert(!backward_rule(OP_recurrent_grad, steps, 3, &out, &unbatched, &r));
    Shape param[2] = { { 2, { 5, 3 } }, { 2, { 32, 3 } } };
    ck_assert(backward_rule(OP_recurrent_grad_param, param, 2, &out, &unbatched, &r) && unbatched);
    ck_assert_str_eq(ir_type_str(&r.c, DT_F32, &out), "f32[32, 3]");
    fe_close(&r);
}
END_TEST

/* attention_grad: dx has the sequence's shape, and dy, x and the forward
 * value must agree; attention_grad_param: the shape of parameter `which`
 * (qkv_weight, qkv_bias, out_weight, out_bias), with no batch dimension,
 * as the layer declares them (test_sequence_layers). */
START_TEST(test_attention_grad)
{
    FeRun r;
    fe_open_ok(&r, "model m(x: f32[4]) { x }\n");
    Shape seq = { 2, { 10, 16 } }, other = { 2, { 10, 8 } }, out;
    bool unbatched;
    Attr none[4] = { { 0 } };
    ck_assert(internal_rule(OP_attention_grad, (Shape[]){ seq, seq, seq }, 3, none, &out, &unbatched, &r));
    ck_assert_str_eq(ir_type_str(&r.c, DT_F32, &out), "f32[10, 16]");
    ck_assert(!unbatched);
    ck_assert(!internal_rule(OP_attention_grad, (Shape[]){ seq, other, seq }, 3, none, &out, &unbatched, &r));
    static const char *const want[] = { "f32[48, 16]", "f32[48]", "f32[16, 16]", "f32[16]" };
    for (int which = 0; which < 4; which++) {
        Attr attrs[2] = { { 0 }, { .i = which } };
        ck_assert(internal_rule(OP_attention_grad_param, &seq, 1, attrs, &out, &unbatched, &r));
        ck_assert_str_eq(ir_type_str(&r.c, DT_F32, &out), want[which]);
        ck_assert(unbatched);
    }
    Attr bad[2] = { { 0 }, { .i = 4 } };
    ck_assert(!internal_rule(OP_attention_grad_param, &seq, 1, bad, &out, &unbatched, &r));
    fe_close(&r);
}
END_TEST

/* Every surface op of the table has a case in this file (the activations:
 * test_elementwise's loop over them). */
START_TEST(test_every_surface_op_covered)
{
    static const char *const covered[] = {
        "dense", "conv2d", "batchnorm", "layernorm", "embed", "position", "attention", "rnn", "lstm", "gru",
        "maxpool", "avgpool", "global_avgpool", "flatten", "reshape", "concat", "dropout", "add", "sub", "mul",
        "softmax", "cross_entropy", "mse", "bce",
    };
    ir_ops_init();
    for (int op = 0; op < OP_COUNT; op++) {
        if (ir_ops[op].kind != OPK_SURFACE || (ir_ops[op].flags & OPF_ACTIVATION))
            continue;
        bool found = false;
        for (size_t i = 0; i < sizeof covered / sizeof covered[0]; i++)
            found |= !strcmp(covered[i], ir_ops[op].name);
        ck_assert_msg(found, "surface op %s has no shape test", ir_ops[op].name);
    }
}
END_TEST

static Suite *shape_suite(void)
{
    Suite *s = suite_create("shape");
    TCase *tc = test_case("rules");
    tcase_add_test(tc, test_dense);
    tcase_add_test(tc, test_conv2d);
    tcase_add_test(tc, test_stride_warning);
    tcase_add_test(tc, test_pooling);
    tcase_add_test(tc, test_normalization);
    tcase_add_test(tc, test_sequence_layers);
    tcase_add_test(tc, test_recurrent);
    tcase_add_test(tc, test_shape_ops);
    tcase_add_test(tc, test_concat);
    tcase_add_test(tc, test_concat_grad);
    tcase_add_test(tc, test_recurrent_grad);
    tcase_add_test(tc, test_attention_grad);
    tcase_add_test(tc, test_elementwise);
    tcase_add_test(tc, test_losses);
    tcase_add_test(tc, test_every_surface_op_covered);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(shape_suite)
