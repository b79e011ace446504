/* test_sema.c — name resolution, layer and repeat expansion, stable
 * parameter names, constant folding, arithmetic on tensors and numbers,
 * and the train specs sema builds. Expected values are worked out by hand
 * from the language's rules, not copied from the compiler's output. */
#include "front.h"

static void open_file(FeRun *r, const char *path)
{
    size_t len;
    char *text = fe_slurp(path, &len);
    fe_open_n(r, text, len, FE_FRONT);
    free(text);
    ck_assert_msg(r->ok, "%s:\n%s", path, r->out);
}

static void shape_is(Compiler *c, const Node *n, const char *want)
{
    ck_assert_ptr_nonnull(n);
    ck_assert_str_eq(fe_type(c, n), want);
}

static void param_is(FeRun *r, const char *name, const char *want, bool trainable)
{
    const Param *p = fe_param(r->c.prog, name);
    ck_assert_msg(p != NULL, "no parameter %s", name);
    ck_assert_str_eq(ir_type_str(&r->c, DT_F32, &p->shape), want);
    ck_assert_int_eq(p->trainable, trainable);
}

/* The value of the model's output node. */
static const Node *output(FeRun *r, int graph)
{
    const Graph *g = &r->c.prog->graphs[graph];
    ck_assert(g->has_output);
    return &g->nodes[g->output];
}

/* gpt.net: 4 copies of block, each with its own parameters named
 * block1.<copy>.<layer><n>.<suffix>; T and D are bound from the argument
 * f32[128, 128], so dense(4*D) has 512 units. */
START_TEST(test_gpt_names)
{
    FeRun r;
    open_file(&r, "examples/gpt.net");
    const Program *p = r.c.prog;
    /* embed 1 + position 1 + 4 x (ln 2 + attention 4 + ln 2 + dense 2 + dense 2) + ln 2 + dense 2 */
    ck_assert_uint_eq(p->nparams, 1 + 1 + 4 * 12 + 2 + 2);
    static const char *const order[] = {
        "embed1.weight", "position1.weight",
        "block1.0.layernorm1.weight", "block1.0.layernorm1.bias",
        "block1.0.attention1.qkv_weight", "block1.0.attention1.qkv_bias",
        "block1.0.attention1.out_weight", "block1.0.attention1.out_bias",
        "block1.0.layernorm2.weight", "block1.0.layernorm2.bias",
        "block1.0.dense1.weight", "block1.0.dense1.bias", "block1.0.dense2.weight", "block1.0.dense2.bias",
        "block1.1.layernorm1.weight",
    };
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        ck_assert_str_eq(p->params[i].name, order[i]);
    ck_assert_str_eq(p->params[2 + 3 * 12].name, "block1.3.layernorm1.weight");
    ck_assert_str_eq(p->params[50].name, "layernorm1.weight");
    ck_assert_str_eq(p->params[53].name, "dense1.bias");
    param_is(&r, "embed1.weight", "f32[256, 128]", true);
    param_is(&r, "position1.weight", "f32[128, 128]", true);
    param_is(&r, "block1.2.attention1.qkv_weight", "f32[384, 128]", true);
    param_is(&r, "block1.3.dense1.weight", "f32[512, 128]", true);
    param_is(&r, "block1.3.dense2.weight", "f32[128, 512]", true);
    param_is(&r, "dense1.weight", "f32[256, 128]", true);
    /* Copies are separate parameters, not one shared. */
    ck_assert_ptr_ne(fe_param(p, "block1.0.dense1.weight"), fe_param(p, "block1.1.dense1.weight"));
    const Graph *g = &p->graphs[0];
    shape_is(&r.c, fe_node(g, "block1.1.add2"), "f32[128, 128]");
    shape_is(&r.c, output(&r, 0), "f32[128, 256]");
    /* attention(heads, causal): the bare flag name sets causal. */
    const Node *att = fe_node(g, "block1.0.attention1");
    ck_assert_int_eq(ir_attr(att, "heads")->i, 4);
    ck_assert_int_eq(ir_attr(att, "causal")->i, 1);
    fe_close(&r);
}
END_TEST

/* Labels name parameters; unlabelled calls count per callee. */
START_TEST(test_labels_and_counts)
{
    FeRun r;
    open_file(&r, "examples/lenet.net");
    param_is(&r, "conv1.weight", "f32[32, 1, 5, 5]", true);
    param_is(&r, "conv1.bias", "f32[32]", true);
    param_is(&r, "conv2.weight", "f32[64, 32, 5, 5]", true);
    param_is(&r, "fc1.weight", "f32[128, 1024]", true);
    param_is(&r, "fc2.bias", "f32[10]", true);
    const Graph *g = &r.c.prog->graphs[0];
    shape_is(&r.c, fe_node(g, "maxpool2"), "f32[64, 4, 4]");
    shape_is(&r.c, fe_node(g, "relu3"), "f32[128]");
    fe_close(&r);
    /* A label takes its name; a later unlabelled call skips it. */
    fe_open_ok(&r, "model m(x: f32[4]) { x -> dense2: dense(3) -> dense(2) -> dense(2) }\n");
    ck_assert_ptr_nonnull(fe_param(r.c.prog, "dense2.weight"));
    ck_assert_ptr_nonnull(fe_param(r.c.prog, "dense1.weight"));
    ck_assert_ptr_nonnull(fe_param(r.c.prog, "dense3.weight"));
    param_is(&r, "dense2.weight", "f32[3, 4]", true);
    param_is(&r, "dense1.weight", "f32[2, 3]", true);
    fe_close(&r);
}
END_TEST

/* resnet.net: repeat copies and several calls of one layer. */
START_TEST(test_resnet_names)
{
    FeRun r;
    open_file(&r, "examples/resnet.net");
    param_is(&r, "stem.weight", "f32[16, 1, 3, 3]", true);
    param_is(&r, "batchnorm1.running_mean", "f32[16]", false);
    param_is(&r, "residual1.0.conv2d1.weight", "f32[16, 16, 3, 3]", true);
    param_is(&r, "residual1.1.batchnorm2.running_var", "f32[16]", false);
    param_is(&r, "downsample1.conv2d3.weight", "f32[32, 16, 1, 1]", true);
    param_is(&r, "residual2.1.conv2d2.weight", "f32[32, 32, 3, 3]", true);
    param_is(&r, "downsample2.conv2d1.weight", "f32[64, 32, 3, 3]", true);
    param_is(&r, "residual3.conv2d2.weight", "f32[64, 64, 3, 3]", true);
    param_is(&r, "head.weight", "f32[10, 64]", true);
    ck_assert_ptr_null(fe_param(r.c.prog, "stem.bias")); /* bias = false */
    const Graph *g = &r.c.prog->graphs[0];
    shape_is(&r.c, fe_node(g, "downsample1.relu2"), "f32[32, 14, 14]");
    shape_is(&r.c, fe_node(g, "residual3.relu2"), "f32[64, 7, 7]");
    shape_is(&r.c, fe_node(g, "global_avgpool1"), "f32[64]");
    fe_close(&r);
}
END_TEST

/* Integer expressions fold exactly; `/` is an integer only when it divides. */
START_TEST(test_constant_folding)
{
    FeRun r;
    fe_open_ok(&r, "const K = 6 / 3\nconst W = 2 * (K + 1) - 1\n"
                   "model m(x: f32[W * 2]) { x -> dense(K) -> dense(W) -> dense(-(-K)) }\n");
    const Graph *g = &r.c.prog->graphs[0];
    shape_is(&r.c, &g->nodes[g->inputs[0]], "f32[10]");
    shape_is(&r.c, fe_node(g, "dense1"), "f32[2]");
    shape_is(&r.c, fe_node(g, "dense2"), "f32[5]");
    shape_is(&r.c, fe_node(g, "dense3"), "f32[2]");
    fe_close(&r);
    bool ok;
    char *out = fe_diags("const F = 1/255\nmodel m(x: f32[4]) { x -> dense(F) }\n", &ok);
    ck_assert(!ok);
    ck_assert_ptr_nonnull(strstr(out, "argument 'units' of dense expects an integer, got the number 0.00392157; dimensions and counts are whole numbers"));
    free(out);
    out = fe_diags("const F = 7 / 2\nmodel m(x: f32[F]) { x }\n", &ok);
    ck_assert(!ok);
    ck_assert_ptr_nonnull(strstr(out, "a dimension must be an integer, got the number 3.5"));
    free(out);
}
END_TEST

/* A layer binds named dims from its argument and evaluates defaults. */
START_TEST(test_layer_expansion)
{
    FeRun r;
    fe_open_ok(&r, "layer mlp2(x: f32[T, D], mult: int = 4, rate: float = 0.25) -> f32[T, D] {\n"
                   "    h = x -> dense(mult * D) -> relu -> dropout(rate)\n"
                   "    return h -> dense(D)\n}\n"
                   "model m(x: f32[3, 6]) -> f32[3, 6] { x -> mlp2 -> wide: mlp2(mult = 2, rate = 0.5) }\n");
    param_is(&r, "mlp21.dense1.weight", "f32[24, 6]", true);
    param_is(&r, "mlp21.dense2.weight", "f32[6, 24]", true);
    param_is(&r, "wide.dense1.weight", "f32[12, 6]", true);
    const Graph *g = &r.c.prog->graphs[0];
    ck_assert(ir_attr(fe_node(g, "mlp21.dropout1"), "rate")->f == 0.25);
    ck_assert(ir_attr(fe_node(g, "wide.dropout1"), "rate")->f == 0.5);
    fe_close(&r);
}
END_TEST

/* Rebinding a name replaces it for the statements after. */
START_TEST(test_rebinding)
{
    FeRun r;
    fe_open_ok(&r, "model m(x: f32[4]) { x = x -> dense(8)\n x = x -> dense(2)\n x }\n");
    shape_is(&r.c, output(&r, 0), "f32[2]");
    const Node *d2 = fe_node(&r.c.prog->graphs[0], "dense2");
    ck_assert_str_eq(r.c.prog->graphs[0].nodes[d2->inputs[0]].name, "dense1");
    fe_close(&r);
}
END_TEST

/* + - * broadcast like NumPy: align at the last dimension, 1 stretches. */
START_TEST(test_broadcasting)
{
    static const struct { const char *a, *b, *op, *want; } ok_cases[] = {
        { "f32[4, 8]", "f32[8]", "+", "f32[4, 8]" },
        { "f32[8]", "f32[4, 8]", "-", "f32[4, 8]" },
        { "f32[4, 1]", "f32[1, 8]", "*", "f32[4, 8]" },
        { "f32[2, 3, 4]", "f32[3, 1]", "+", "f32[2, 3, 4]" },
        { "f32[1]", "f32[5]", "*", "f32[5]" },
        { "f32[6]", "f32[6]", "-", "f32[6]" },
    };
    for (size_t i = 0; i < sizeof ok_cases / sizeof ok_cases[0]; i++) {
        char src[256];
        snprintf(src, sizeof src, "model m(a: %s, b: %s) { a %s b }\n", ok_cases[i].a, ok_cases[i].b, ok_cases[i].op);
        FeRun r;
        fe_open_ok(&r, src);
        shape_is(&r.c, output(&r, 0), ok_cases[i].want);
        Op want = ok_cases[i].op[0] == '+' ? OP_add : ok_cases[i].op[0] == '-' ? OP_sub : OP_mul;
        ck_assert_int_eq(output(&r, 0)->op, want);
        fe_close(&r);
    }
    static const struct { const char *a, *b, *msg; } bad[] = {
        { "f32[4, 8]", "f32[4]", "cannot add f32[4, 8] and f32[4]: dimension 2 is 8 on the left and 4 on the right" },
        { "f32[2, 3]", "f32[3, 2]", "cannot add f32[2, 3] and f32[3, 2]: dimension 1 is 2 on the left and 3 on the right" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char src[256];
        snprintf(src, sizeof src, "model m(a: %s, b: %s) { a + b }\n", bad[i].a, bad[i].b);
        bool ok;
        char *out = fe_diags(src, &ok);
        ck_assert(!ok);
        ck_assert_msg(strstr(out, bad[i].msg) != NULL, "%s", out);
        free(out);
    }
    bool ok;
    char *out = fe_diags("model m(a: f32[4], b: i32[4]) { a + b }\n", &ok);
    ck_assert(!ok);
    ck_assert_ptr_nonnull(strstr(out, "expects a f32 tensor, got i32[4]"));
    free(out);
}
END_TEST

/* Arithmetic with a number is one scale op: x * factor + offset. */
START_TEST(test_scale)
{
    static const struct { const char *expr; double factor, offset; } cases[] = {
        { "x * 0.5", 0.5, 0 }, { "0.5 * x", 0.5, 0 }, { "x + 1", 1, 1 }, { "2 + x", 1, 2 },
        { "x - 3", 1, -3 }, { "1 - x", -1, 1 }, { "x / 4", 0.25, 0 }, { "-x", -1, 0 },
        { "x * (1 / 2)", 0.5, 0 }, { "x * (2 * 3)", 6, 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char src[256];
        snprintf(src, sizeof src, "model m(x: f32[3, 2]) { %s }\n", cases[i].expr);
        FeRun r;
        fe_open_ok(&r, src);
        const Node *n = output(&r, 0);
        ck_assert_int_eq(n->op, OP_scale);
        ck_assert_str_eq(n->name, "scale1");
        shape_is(&r.c, n, "f32[3, 2]");
        ck_assert_msg(ir_attr(n, "factor")->f == cases[i].factor && ir_attr(n, "offset")->f == cases[i].offset,
                      "%s: factor %g offset %g", cases[i].expr, ir_attr(n, "factor")->f, ir_attr(n, "offset")->f);
        fe_close(&r);
    }
    bool ok;
    char *out = fe_diags("model m(x: f32[3]) { 2 / x }\n", &ok);
    ck_assert_ptr_nonnull(strstr(out, "dividing a number by a tensor is not supported"));
    free(out);
    out = fe_diags("model m(x: f32[3]) { x * \"s\" }\n", &ok);
    ck_assert_ptr_nonnull(strstr(out, "cannot apply '*' to a tensor f32[3] and the string \"s\""));
    free(out);
}
END_TEST

/* Name resolution: inputs, lets, consts, and the errors when a name is
 * not what the place needs. */
START_TEST(test_resolution)
{
    FeRun r;
    fe_open_ok(&r, "const U = 3\nlayer twice(x: f32[N]) { x -> dense(U) -> dense(U) }\n"
                   "model m(a: f32[5], b: f32[5]) { c = a + b\n c -> twice }\n");
    param_is(&r, "twice1.dense2.weight", "f32[3, 3]", true);
    fe_close(&r);
    /* A name in a layer's type that is a global const is a constraint, not
     * a new dimension (gpt.net's block(x: f32[T, D]) checks T and D). */
    fe_open_ok(&r, "const N = 7\nlayer id(x: f32[N]) { x -> dense(N) }\nmodel m(a: f32[7]) { a -> id }\n");
    shape_is(&r.c, output(&r, 0), "f32[7]");
    fe_close(&r);
    bool ok;
    char *out = fe_diags("const N = 100\nlayer id(x: f32[N]) { x -> dense(N) }\nmodel m(a: f32[7]) { a -> id }\n", &ok);
    ck_assert(!ok);
    ck_assert_ptr_nonnull(strstr(out, "t.net:3:22: error: id's 'x' expects f32[N] with N = 100, got f32[7]"));
    free(out);
    out = fe_diags("model m(a: f32[5]) { a -> b }\n", &ok);
    ck_assert_ptr_nonnull(strstr(out, "unknown layer 'b'"));
    free(out);
    out = fe_diags("model m(a: f32[5], a: f32[5]) { a }\n", &ok);
    ck_assert_ptr_nonnull(strstr(out, "t.net:1:20: error: duplicate input 'a'"));
    free(out);
}
END_TEST

static const TrainSpec *only_train(FeRun *r)
{
    ck_assert_int_eq(r->c.prog->ntrains, 1);
    return &r->c.prog->trains[0];
}

START_TEST(test_train_mlp)
{
    FeRun r;
    open_file(&r, "examples/mlp.net");
    const TrainSpec *t = only_train(&r);
    ck_assert_str_eq(t->name, "mlp");
    ck_assert_int_eq(t->data.kind, RT_SRC_IDX);
    ck_assert_str_eq(t->data.path, "train-images-idx3-ubyte.gz");
    ck_assert_str_eq(t->data.labels, "train-labels-idx1-ubyte.gz");
    ck_assert(t->data.scale == 1.0 / 255);
    ck_assert(t->data.shift == 0);
    ck_assert_int_eq(t->test.kind, RT_SRC_IDX);
    ck_assert_str_eq(t->test.path, "t10k-images-idx3-ubyte.gz");
    ck_assert_int_eq(t->batch, 128);
    ck_assert_int_eq(t->epochs, 5);
    ck_assert_int_eq(t->steps, 0);
    ck_assert_int_eq(t->seed, 1);
    ck_assert(t->clip == 0);
    ck_assert_int_eq(t->sched.kind, RT_SCHED_COSINE);
    ck_assert_int_eq(t->sched.warmup, 200);
    ck_assert(t->sched.min_lr == 0);
    ck_assert_int_eq(t->nsteps, 1);
    const StepSpec *st = &t->steps_list[0];
    ck_assert_str_eq(st->model, "mlp");
    ck_assert_int_eq(st->opt.kind, RT_OPT_ADAMW);
    ck_assert(st->opt.lr == 1e-3 && st->opt.weight_decay == 1e-4);
    ck_assert(st->opt.beta1 == 0.9 && st->opt.beta2 == 0.999 && st->opt.eps == 1e-8);
    /* The loss graph: cross_entropy(mlp(x), labels), labels i32[] per sample. */
    const Graph *lg = &r.c.prog->graphs[st->graph];
    ck_assert_str_eq(lg->name, "mlp.loss");
    ck_assert_int_eq(lg->ninputs, 2);
    shape_is(&r.c, &lg->nodes[lg->inputs[0]], "f32[784]");
    shape_is(&r.c, &lg->nodes[lg->inputs[1]], "i32[]");
    const Node *loss = &lg->nodes[lg->output];
    ck_assert_int_eq(loss->op, OP_cross_entropy);
    shape_is(&r.c, loss, "f32[]");
    ck_assert_int_eq(lg->nodes[loss->inputs[0]].op, OP_model_call);
    fe_close(&r);
}
END_TEST

START_TEST(test_train_resnet_charlstm)
{
    FeRun r;
    open_file(&r, "examples/resnet.net");
    const TrainSpec *t = only_train(&r);
    ck_assert_int_eq(t->naug, 2);
    ck_assert_int_eq(t->aug[0].kind, RT_AUG_FLIP_H);
    ck_assert_int_eq(t->aug[1].kind, RT_AUG_SHIFT);
    ck_assert(t->aug[1].a == 2);
    const OptSpec *o = &t->steps_list[0].opt;
    ck_assert_int_eq(o->kind, RT_OPT_SGD);
    ck_assert(o->lr == 0.05 && o->momentum == 0.9 && o->nesterov && o->weight_decay == 5e-4);
    ck_assert_int_eq(t->epochs, 10);
    fe_close(&r);
    open_file(&r, "examples/charlstm.net");
    t = only_train(&r);
    ck_assert_int_eq(t->data.kind, RT_SRC_TEXT);
    ck_assert_str_eq(t->data.path, "kjv.txt");
    ck_assert_int_eq(t->data.seq, 64);
    ck_assert_int_eq(t->steps, 2000);
    ck_assert_int_eq(t->epochs, 0);
    ck_assert(t->clip == 1.0);
    ck_assert_int_eq(t->batch, 32);
    ck_assert_int_eq(t->steps_list[0].opt.kind, RT_OPT_ADAM);
    ck_assert(t->steps_list[0].opt.lr == 2e-3);
    /* Text labels are the next token at each position: i32[64]. */
    const Graph *lg = &r.c.prog->graphs[t->steps_list[0].graph];
    shape_is(&r.c, &lg->nodes[lg->inputs[0]], "i32[64]");
    shape_is(&r.c, &lg->nodes[lg->inputs[1]], "i32[64]");
    fe_close(&r);
}
END_TEST

/* gan.net: two steps with their own loss graphs over model calls; `real`
 * takes the shape of D's input, even in G's step that does not read it. */
START_TEST(test_train_gan)
{
    FeRun r;
    open_file(&r, "examples/gan.net");
    const TrainSpec *t = only_train(&r);
    ck_assert_int_eq(t->data.kind, RT_SRC_IDX);
    ck_assert_ptr_null(t->data.labels);
    ck_assert(t->data.scale == 1 / 127.5 && t->data.shift == -1);
    ck_assert_int_eq(t->noise_dim, 64);
    ck_assert(!t->noise_uniform);
    ck_assert_int_eq(t->batch, 64);
    ck_assert_int_eq(t->epochs, 20);
    ck_assert_int_eq(t->nsteps, 2);
    static const char *const models[] = { "D", "G" };
    static const int calls[] = { 3, 2 };
    for (int i = 0; i < 2; i++) {
        const StepSpec *st = &t->steps_list[i];
        ck_assert_str_eq(st->model, models[i]);
        ck_assert_int_eq(st->opt.kind, RT_OPT_ADAM);
        ck_assert(st->opt.lr == 2e-4 && st->opt.beta1 == 0.5 && st->opt.beta2 == 0.999);
        const Graph *lg = &r.c.prog->graphs[st->graph];
        ck_assert(lg->has_output);
        shape_is(&r.c, &lg->nodes[lg->output], "f32[]");
        shape_is(&r.c, &lg->nodes[lg->inputs[0]], "f32[784]");
        shape_is(&r.c, &lg->nodes[lg->inputs[1]], "f32[64]");
        int n = 0;
        for (uint32_t k = 0; k < lg->nnodes; k++)
            n += lg->nodes[k].op == OP_model_call;
        ck_assert_int_eq(n, calls[i]);
    }
    const Graph *dstep = &r.c.prog->graphs[t->steps_list[0].graph];
    ck_assert_int_eq(dstep->nodes[dstep->output].op, OP_add);
    const Node *bce1 = fe_node(dstep, "bce1");
    ck_assert(ir_attr(bce1, "target")->is_number && ir_attr(bce1, "target")->f == 1);
    fe_close(&r);
}
END_TEST

START_TEST(test_train_specs_misc)
{
    FeRun r;
    fe_open_ok(&r, "model m(x: f32[3]) -> f32[2] { x -> dense(2) }\n"
                   "train m { data csv(\"d.csv\", label_column = 3, header = true, scale = 0.5); loss cross_entropy\n"
                   "  optimizer rmsprop(lr = 0.02, alpha = 0.9, momentum = 0.1)\n"
                   "  schedule step(every = 100, gamma = 0.5, warmup = 10) }\n");
    const TrainSpec *t = only_train(&r);
    ck_assert_int_eq(t->data.kind, RT_SRC_CSV);
    ck_assert_int_eq(t->data.label_column, 3);
    ck_assert(t->data.header && t->data.scale == 0.5);
    ck_assert_int_eq(t->epochs, 1); /* neither epochs nor steps: one epoch */
    ck_assert_int_eq(t->batch, 32);
    ck_assert_int_eq(t->sched.kind, RT_SCHED_STEP);
    ck_assert(t->sched.every == 100 && t->sched.gamma == 0.5 && t->sched.warmup == 10);
    const OptSpec *o = &t->steps_list[0].opt;
    ck_assert_int_eq(o->kind, RT_OPT_RMSPROP);
    ck_assert(o->lr == 0.02 && o->alpha == 0.9 && o->momentum == 0.1 && o->eps == 1e-8);
    fe_close(&r);
    /* Regression on csv data: mse against one value per sample. */
    fe_open_ok(&r, "model m(x: f32[3]) -> f32[1] { x -> dense(1) }\n"
                   "train m { data csv(\"d.csv\", label_column = 0) loss mse optimizer sgd noise uniform(5) }\n");
    t = only_train(&r);
    ck_assert_int_eq(t->data.kind, RT_SRC_CSV);
    ck_assert_int_eq(t->steps_list[0].opt.kind, RT_OPT_SGD);
    ck_assert(t->steps_list[0].opt.lr == 0.01);
    ck_assert(t->noise_uniform && t->noise_dim == 5);
    const Graph *lg = &r.c.prog->graphs[t->steps_list[0].graph];
    shape_is(&r.c, &lg->nodes[lg->inputs[1]], "f32[1]");
    ck_assert_int_eq(lg->nodes[lg->output].op, OP_mse);
    fe_close(&r);
    /* Every augmentation and its numbers. */
    fe_open_ok(&r, "model m(x: f32[1, 4, 4]) -> f32[2] { x -> flatten -> dense(2) }\n"
                   "train m { data idx(\"i\", \"l\") loss cross_entropy\n"
                   "  augment { flip_horizontal; flip_vertical; shift(3); rotate(15); scale(0.9, 1.1); noise(0.05) } }\n");
    t = only_train(&r);
    ck_assert_int_eq(t->naug, 6);
    static const rt_aug_kind kinds[] = { RT_AUG_FLIP_H, RT_AUG_FLIP_V, RT_AUG_SHIFT, RT_AUG_ROTATE, RT_AUG_SCALE, RT_AUG_NOISE };
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(t->aug[i].kind, kinds[i]);
    ck_assert(t->aug[2].a == 3 && t->aug[3].a == 15 && t->aug[4].a == 0.9 && t->aug[4].b == 1.1 && t->aug[5].a == 0.05);
    fe_close(&r);
    /* Bad augment for non-image data is reported. */
    bool ok;
    char *out = fe_diags("model m(x: f32[3]) -> f32[1] { x -> dense(1) }\n"
                         "train m { data raw(\"d.bin\", size = 3) loss mse augment { flip_horizontal } }\n", &ok);
    ck_assert(!ok);
    ck_assert_ptr_nonnull(strstr(out, "augment needs image data; this train block reads raw values"));
    free(out);
}
END_TEST

static Suite *sema_suite(void)
{
    Suite *s = suite_create("sema");
    TCase *tc = test_case("names");
    tcase_add_test(tc, test_gpt_names);
    tcase_add_test(tc, test_labels_and_counts);
    tcase_add_test(tc, test_resnet_names);
    tcase_add_test(tc, test_layer_expansion);
    tcase_add_test(tc, test_rebinding);
    tcase_add_test(tc, test_resolution);
    suite_add_tcase(s, tc);
    tc = test_case("values");
    tcase_add_test(tc, test_constant_folding);
    tcase_add_test(tc, test_broadcasting);
    tcase_add_test(tc, test_scale);
    suite_add_tcase(s, tc);
    tc = test_case("train");
    tcase_add_test(tc, test_train_mlp);
    tcase_add_test(tc, test_train_resnet_charlstm);
    tcase_add_test(tc, test_train_gan);
    tcase_add_test(tc, test_train_specs_misc);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(sema_suite)
