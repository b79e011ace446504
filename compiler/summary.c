/* summary.c — what `netc check` prints: one row per layer call (name, op,
 * output type, parameters, forward FLOPs per sample), then totals.
 * Requires a checked program. FLOPs count a multiply-add as 2; the rules
 * for each op are in docs/language.md ("Cost model") and here. */
#include "compiler.h"

#include <stdlib.h>
#include <string.h>

static const Node *in0(const Graph *g, const Node *n) { return &g->nodes[n->inputs[0]]; }

static int64_t elems(const Node *n) { return ir_shape_elems(&n->shape); }

static int64_t flops_matmul_layer(const Graph *g, const Node *n)
{
    /* dense: each output value is a K-long dot product plus its bias. */
    const Node *x = in0(g, n);
    int64_t k = x->shape.dim[x->shape.rank - 1];
    return elems(n) * 2 * k + (n->ninputs - n->ndata > 1 ? elems(n) : 0);
}

static int64_t conv_flops(const Graph *g, const Node *n)
{
    const Node *x = in0(g, n);
    int64_t k = ir_attr(n, "kernel")->i, groups = ir_attr(n, "groups")->i;
    int64_t per_out = 2 * (x->shape.dim[0] / groups) * k * k;
    return elems(n) * per_out + (n->ninputs - n->ndata > 1 ? elems(n) : 0);
}

static int64_t recurrent_flops(const Graph *g, const Node *n, int gates, int64_t cell)
{
    const Node *x = in0(g, n);
    int64_t t = x->shape.dim[0], d = x->shape.dim[1], h = ir_attr(n, "units")->i;
    /* per step: gates from input and hidden state, bias, then the cell's
     * elementwise work (`cell` operations per hidden unit). */
    return t * (2 * (d + h) * gates * h + gates * h + cell * h);
}

/* The forward's cost over x: f32[T, D] (n's shape); see language.md. */
static int64_t attention_flops(const Node *n, int64_t heads)
{
    int64_t t = n->shape.dim[0], d = n->shape.dim[1];
    int64_t proj = 2 * t * d * 3 * d + 3 * t * d + 2 * t * d * d + t * d;
    int64_t scores = 2 * t * t * d, mix = 2 * t * t * d, soft = 5 * heads * t * t;
    return proj + scores + mix + soft;
}

/* ------------------------------------------------ per-op costs (ops.def) */

typedef int64_t FlopsRule(const Program *p, const Graph *g, const Node *n);

static int64_t flops_none(const Program *p, const Graph *g, const Node *n)
{
    (void)p, (void)g, (void)n;
    return 0;
}

/* One operation per output value: elementwise ops, pooling gradients. */
static int64_t flops_per_output(const Program *p, const Graph *g, const Node *n)
{
    (void)p, (void)g;
    return elems(n);
}

/* One operation per value of the first input (dy for most gradients). */
static int64_t flops_per_input(const Program *p, const Graph *g, const Node *n)
{
    (void)p;
    return elems(in0(g, n));
}

#define flops_input flops_none
#define flops_param flops_none
#define flops_model_call flops_none
#define flops_flatten flops_none
#define flops_reshape flops_none
#define flops_concat flops_none
#define flops_embed flops_none

static int64_t flops_dense(const Program *p, const Graph *g, const Node *n) { (void)p; return flops_matmul_layer(g, n); }
static int64_t flops_conv2d(const Program *p, const Graph *g, const Node *n) { (void)p; return conv_flops(g, n); }

static int64_t flops_maxpool(const Program *p, const Graph *g, const Node *n)
{
    (void)p, (void)g;
    int64_t k = ir_attr(n, "size")->i;
    return elems(n) * k * k;
}
#define flops_avgpool flops_maxpool
#define flops_global_avgpool flops_per_input

/* batchnorm: the folded scale and shift; layernorm: mean, variance,
 * normalise, scale, shift; softmax: max, exp, sum, divide. */
static int64_t flops_batchnorm(const Program *p, const Graph *g, const Node *n) { (void)p, (void)g; return 2 * elems(n); }
static int64_t flops_layernorm(const Program *p, const Graph *g, const Node *n) { (void)p, (void)g; return 8 * elems(n); }
static int64_t flops_softmax(const Program *p, const Graph *g, const Node *n) { (void)p, (void)g; return 5 * elems(n); }
#define flops_position flops_per_output

static int64_t flops_attention(const Program *p, const Graph *g, const Node *n)
{
    (void)p, (void)g;
    return attention_flops(n, ir_attr(n, "heads")->i);
}

static int64_t flops_rnn(const Program *p, const Graph *g, const Node *n) { (void)p; return recurrent_flops(g, n, 1, 1); }
static int64_t flops_lstm(const Program *p, const Graph *g, const Node *n) { (void)p; return recurrent_flops(g, n, 4, 8); }
static int64_t flops_gru(const Program *p, const Graph *g, const Node *n) { (void)p; return recurrent_flops(g, n, 3, 8); }

#define flops_dropout flops_per_output
#define flops_add flops_per_output
#define flops_sub flops_per_output
#define flops_mul flops_per_output
#define flops_scale flops_per_output

static int64_t flops_cross_entropy(const Program *p, const Graph *g, const Node *n) { (void)p; return 5 * elems(in0(g, n)); }
static int64_t flops_mse(const Program *p, const Graph *g, const Node *n) { (void)p; return 3 * elems(in0(g, n)); }
#define flops_bce flops_mse

static int64_t flops_dense_grad_x(const Program *p, const Graph *g, const Node *n)
{
    (void)p;
    const Node *dy = in0(g, n);
    return 2 * elems(n) * dy->shape.dim[dy->shape.rank - 1];
}

static int64_t flops_dense_grad_w(const Program *p, const Graph *g, const Node *n)
{
    /* per sample: the outer products that sum to dW */
    (void)p;
    const Node *x = &g->nodes[n->inputs[1]];
    return 2 * elems(in0(g, n)) * x->shape.dim[x->shape.rank - 1];
}

#define flops_bias_grad flops_per_input
#define flops_act_grad flops_per_input
#define flops_dropout_grad flops_per_input

/* the forward's multiply-adds, once more: each dy element meets C/g*k*k
 * inputs; x is the input at `xi` */
static int64_t conv_grad_flops(const Graph *g, const Node *n, int xi)
{
    const Node *x = &g->nodes[n->inputs[xi]];
    int64_t k = ir_attr(n, "kernel")->i, groups = ir_attr(n, "groups")->i;
    return 2 * elems(in0(g, n)) * (x->shape.dim[0] / groups) * k * k;
}
static int64_t flops_conv2d_grad_x(const Program *p, const Graph *g, const Node *n) { (void)p; return conv_grad_flops(g, n, 2); }
static int64_t flops_conv2d_grad_w(const Program *p, const Graph *g, const Node *n) { (void)p; return conv_grad_flops(g, n, 1); }

/* parameter gradients their owner's kernel computes cost nothing more */
#define flops_conv2d_grad_b flops_none
#define flops_batchnorm_grad_param flops_none
#define flops_recurrent_grad_param flops_none
#define flops_attention_grad_param flops_none
#define flops_layernorm_grad_param flops_none
#define flops_concat_grad flops_none

static int64_t flops_recurrent_grad(const Program *p, const Graph *g, const Node *n)
{
    /* every product of the forward twice: for dx and h, and for the weights */
    return 2 * summary_node_flops(p, g, &g->nodes[n->inputs[2]]);
}

static int64_t flops_attention_grad(const Program *p, const Graph *g, const Node *n)
{
    /* about twice the forward: each product once per operand's gradient
     * (dx is skipped when nothing reads it) */
    (void)p;
    const Node *fwd = &g->nodes[n->inputs[2]];
    return 2 * attention_flops(n, ir_attr(fwd, "heads")->i);
}

#define flops_maxpool_grad flops_per_output
#define flops_avgpool_grad flops_per_output
#define flops_global_avgpool_grad flops_per_output
static int64_t flops_batchnorm_grad(const Program *p, const Graph *g, const Node *n) { (void)p, (void)g; return 6 * elems(n); }
static int64_t flops_batchnorm_frozen_grad(const Program *p, const Graph *g, const Node *n) { (void)p, (void)g; return 2 * elems(n); }
static int64_t flops_softmax_grad(const Program *p, const Graph *g, const Node *n) { (void)p, (void)g; return 3 * elems(n); }
static int64_t flops_cross_entropy_grad(const Program *p, const Graph *g, const Node *n) { (void)p, (void)g; return 2 * elems(n); }
#define flops_mse_grad flops_cross_entropy_grad
#define flops_bce_grad flops_cross_entropy_grad
#define flops_embed_grad flops_per_input /* one addition per dy value */
#define flops_position_grad flops_per_input
#define flops_reduce_to flops_per_input
#define flops_expand flops_none
static int64_t flops_layernorm_grad(const Program *p, const Graph *g, const Node *n) { (void)p, (void)g; return 12 * elems(n); }

/* A row of ops.def without its cost here fails to compile. */
static FlopsRule *const flops_rules[OP_COUNT] = {
#define RULE(name) flops_##name
#define RULE_ACT flops_per_output
#include "op_rules.h"
};

int64_t summary_node_flops(const Program *p, const Graph *g, const Node *n)
{
    return flops_rules[n->op](p, g, n);
}

/* Trainable parameters a node owns (its parameter inputs). */
int64_t summary_node_params(const Program *p, const Graph *g, const Node *n)
{
    int64_t total = 0;
    for (int i = n->ndata; i < n->ninputs; i++) {
        const Node *pn = &g->nodes[n->inputs[i]];
        if (p->params[pn->param].trainable || p->params[pn->param].frozen)
            total += ir_shape_elems(&pn->shape);
    }
    return total;
}

Summary summary_graph(const Program *p, const Graph *g)
{
    Summary s = { 0 };
    for (uint32_t i = 0; i < g->nnodes; i++) {
        const Node *n = &g->nodes[i];
        if (n->op == OP_param) {
            if (p->params[n->param].trainable || p->params[n->param].frozen)
                s.params += elems(n);
            if (p->params[n->param].frozen)
                s.frozen += elems(n);
            else if (!p->params[n->param].trainable)
                s.buffers += elems(n);
            continue;
        }
        s.flops += summary_node_flops(p, g, n);
        s.activation_bytes += elems(n) * 4;
    }
    return s;
}

/* 1234567 -> "1,234,567" */
static const char *grouped(char *buf, int64_t v)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%lld", (long long)v), k = 0;
    for (int i = 0; i < n; i++) {
        buf[k++] = tmp[i];
        if (tmp[i] != '-' && (n - i - 1) % 3 == 0 && i != n - 1)
            buf[k++] = ',';
    }
    buf[k] = '\0';
    return buf;
}

/* v in the largest of units (steps of `base`) it reaches, two decimals
 * once scaled: "2.95 MFLOP", "20.38 KiB", "18 FLOP". */
static const char *human(char *buf, double v, double base, const char *const *units, int nunits, const char *suffix)
{
    int u = 0;
    while (v >= base && u < nunits - 1) {
        v /= base;
        u++;
    }
    snprintf(buf, 32, u ? "%.2f %s%s" : "%.0f %s%s", v, units[u], suffix);
    return buf;
}

static const char *human_bytes(char *buf, double b)
{
    static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    return human(buf, b, 1024, units, 5, "");
}

static const char *human_flops(char *buf, double f)
{
    static const char *const units[] = { "", "K", "M", "G", "T", "P" };
    return human(buf, f, 1000, units, 6, "FLOP");
}

void summary_print(FILE *out, Compiler *c, const Graph *g)
{
    const Program *p = c->prog;
    int wname = 5, wop = 2, wtype = 6;
    for (uint32_t i = 0; i < g->nnodes; i++) {
        const Node *n = &g->nodes[i];
        if (n->op == OP_param)
            continue;
        int ln = (int)strlen(n->name ? n->name : ""), lo = (int)strlen(ir_ops[n->op].name);
        int lt = (int)strlen(ir_type_str(c, n->dtype, &n->shape));
        wname = ln > wname ? ln : wname;
        wop = lo > wop ? lo : wop;
        wtype = lt > wtype ? lt : wtype;
    }
    char b1[48], b2[48], b3[48];
    fprintf(out, "model %s\n", g->name);
    fprintf(out, "  %-*s  %-*s  %-*s  %13s  %15s\n", wname, "layer", wop, "op", wtype, "output", "params", "FLOPs/sample");
    for (uint32_t i = 0; i < g->nnodes; i++) {
        const Node *n = &g->nodes[i];
        if (n->op == OP_param)
            continue;
        fprintf(out, "  %-*s  %-*s  %-*s  %13s  %15s\n", wname, n->name ? n->name : "", wop, ir_ops[n->op].name, wtype,
                ir_type_str(c, n->dtype, &n->shape), grouped(b1, summary_node_params(p, g, n)),
                grouped(b2, summary_node_flops(p, g, n)));
    }
    Summary s = summary_graph(p, g);
    fprintf(out, "  parameters: %s (%s as f32)", grouped(b1, s.params), human_bytes(b2, (double)s.params * 4));
    if (s.frozen)
        fprintf(out, ", %s of them frozen", grouped(b3, s.frozen));
    if (s.buffers)
        fprintf(out, ", plus %s running statistics", grouped(b3, s.buffers));
    fprintf(out, "\n  forward: %s per sample (%s)\n", grouped(b1, s.flops), human_flops(b2, (double)s.flops));
    fprintf(out, "  activations: %s per sample (every layer output, before memory planning)\n",
            human_bytes(b3, (double)s.activation_bytes));
}

/* The passes to the LIR for `netc check`, quietly: what the code generator
 * cannot do yet is not an error of the .net file. A loss autodiff refuses
 * is one (build would refuse it too), so its diagnostics are shown and
 * counted. */
static bool lower_quietly(Compiler *c, const char *model, LProgram *lp)
{
    char *said = NULL;
    size_t said_len = 0;
    FILE *capture = open_memstream(&said, &said_len);
    if (!capture)
        return false;
    FILE *saved_out = c->diag.out;
    int saved_errors = c->diag.errors, saved_warnings = c->diag.warnings;
    const char *saved_dumps = c->dumps;
    c->diag.out = capture;
    c->dumps = NULL;
    c->loss_refused = false;
    bool ok = lower_program(c, model, lp);
    fclose(capture);
    c->diag.out = saved_out;
    c->dumps = saved_dumps;
    c->diag.warnings = saved_warnings;
    if (!ok && c->loss_refused)
        fwrite(said, 1, said_len, saved_out);
    else
        c->diag.errors = saved_errors;
    free(said);
    return ok;
}

/* Why a memory plan could not be made (after lower_quietly failed). */
static void plan_unavailable(FILE *out, const Compiler *c)
{
    fputs(c->loss_refused ? "  memory plan: not available (the loss is refused; see the error)\n"
                          : "  memory plan: not available (the code generator does not support every op here yet)\n",
          out);
}

/* Floats of optimizer state per parameter: what the runtime allocates. */
static int state_per_param(const OptSpec *o)
{
    rt_optimizer opt = rtprogram_optimizer(o);
    return rt_optimizer_state_per_param(&opt);
}

/* `netc check`'s lines for a train block of steps: the plan of each step. */
static void print_train_report(FILE *out, Compiler *c, const TrainSpec *ts)
{
    LProgram lp;
    fprintf(out, "train %s: %d step%s, run in this order each iteration\n", ts->name, ts->nsteps, ts->nsteps == 1 ? "" : "s");
    if (!lower_quietly(c, ts->name, &lp)) {
        plan_unavailable(out, c);
        return;
    }
    double mib = 1.0 / (1024 * 1024);
    fprintf(out, "  memory plan: parameters %.2f MiB (every model the steps call), gradients %.2f MiB\n",
            (double)lp.layout.total * 4 * mib, (double)lp.layout.total * 4 * mib);
    for (int k = 0; k < lp.nsteps; k++) {
        const LStep *st = &lp.steps[k];
        int64_t n = st->end - st->begin;
        fprintf(out, "  step %s: updates %.2f MiB of parameters, optimizer state %.2f MiB, activation arena %lld bytes per sample (%.2f MiB at batch %lld)\n",
                st->spec->model, (double)n * 4 * mib, (double)n * 4 * state_per_param(&st->spec->opt) * mib,
                (long long)st->fn.arena_floats * 4, (double)st->fn.arena_floats * 4 * (double)ts->batch * mib,
                (long long)ts->batch);
    }
    fprintf(out, "  inference (%s): %lld bytes per sample\n", lp.model->name, (long long)lp.forward.arena_floats * 4);
}

/* `netc check`'s memory lines: the plan for one model, when the code
 * generator supports every op in it. */
static void print_memory_report(FILE *out, Compiler *c, const char *model)
{
    LProgram lp;
    if (!lower_quietly(c, model, &lp)) {
        plan_unavailable(out, c);
        return;
    }
    double mib = 1.0 / (1024 * 1024);
    fprintf(out, "  memory plan: parameters %.2f MiB", (double)lp.layout.total * 4 * mib);
    if (lp.train) {
        int state = state_per_param(&lp.train->steps_list[0].opt);
        fprintf(out, ", gradients %.2f MiB, optimizer state %.2f MiB\n", (double)lp.layout.total * 4 * mib,
                (double)lp.layout.trainable * 4 * state * mib);
        fprintf(out, "  activation arena: %lld bytes per sample to train (%.2f MiB at batch %lld), %lld bytes per sample to infer\n",
                (long long)lp.train_step.arena_floats * 4,
                (double)lp.train_step.arena_floats * 4 * (double)lp.train->batch * mib, (long long)lp.train->batch,
                (long long)lp.forward.arena_floats * 4);
    } else {
        fprintf(out, "\n  activation arena: %lld bytes per sample to infer\n", (long long)lp.forward.arena_floats * 4);
    }
}

/* Each report lowers a whole program only to print a few figures, and
 * nothing it made outlives the report: it runs in an arena of its own,
 * freed at its end, so `netc check` of a file of many models keeps one
 * model's lowering at a time (20,000 models peaked at 1.1 GB while every
 * report's LIR stayed in the compilation's arena). */
static Arena *report_arena_begin(Compiler *c)
{
    /* the program's index of models is made at its first lookup: in the
     * compilation's arena, not the report's */
    (void)ir_find_model(c, "");
    Arena *saved = c->arena;
    c->arena = arena_new();
    return saved;
}

static void report_arena_end(Compiler *c, Arena *saved)
{
    arena_free(c->arena);
    c->arena = saved;
}

/* `netc check`'s lines for a train block of steps: the plan of each step. */
void summary_train_report(FILE *out, Compiler *c, const TrainSpec *ts)
{
    Arena *saved = report_arena_begin(c);
    print_train_report(out, c, ts);
    report_arena_end(c, saved);
}

/* `netc check`'s memory lines: the plan for one model, when the code
 * generator supports every op in it. */
void summary_memory_report(FILE *out, Compiler *c, const char *model)
{
    Arena *saved = report_arena_begin(c);
    print_memory_report(out, c, model);
    report_arena_end(c, saved);
}
