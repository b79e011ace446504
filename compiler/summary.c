/* summary.c — what `netc check` prints: one row per layer call (name, op,
 * output type, parameters, forward FLOPs per sample), then totals.
 * Requires a checked program. FLOPs count a multiply-add as 2; the rules
 * for each op are in docs/language.md ("Cost model") and here. */
#include "compiler.h"

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

int64_t summary_node_flops(const Program *p, const Graph *g, const Node *n)
{
    (void)p;
    switch (n->op) {
    case OP_input: case OP_param: case OP_model_call: case OP_flatten: case OP_reshape: case OP_concat:
    case OP_embed:
        return 0;
    case OP_dense: return flops_matmul_layer(g, n);
    case OP_conv2d: return conv_flops(g, n);
    case OP_maxpool: case OP_avgpool: {
        int64_t k = ir_attr(n, "size")->i;
        return elems(n) * k * k;
    }
    case OP_global_avgpool: return elems(in0(g, n));
    case OP_batchnorm: return 2 * elems(n);          /* folded scale and shift */
    case OP_layernorm: return 8 * elems(n);          /* mean, variance, normalise, scale, shift */
    case OP_softmax: return 5 * elems(n);            /* max, exp, sum, divide */
    case OP_position: return elems(n);
    case OP_attention: return attention_flops(n, ir_attr(n, "heads")->i);
    case OP_rnn: return recurrent_flops(g, n, 1, 1);
    case OP_lstm: return recurrent_flops(g, n, 4, 8);
    case OP_gru: return recurrent_flops(g, n, 3, 8);
    case OP_dropout: case OP_add: case OP_sub: case OP_mul: case OP_scale: case OP_relu: case OP_leaky_relu:
    case OP_gelu: case OP_tanh: case OP_sigmoid:
        return elems(n);
    case OP_dense_grad_x: {
        const Node *dy = in0(g, n);
        return 2 * elems(n) * dy->shape.dim[dy->shape.rank - 1];
    }
    case OP_dense_grad_w: {
        /* per sample: the outer products that sum to dW */
        const Node *x = &g->nodes[n->inputs[1]];
        return 2 * elems(in0(g, n)) * x->shape.dim[x->shape.rank - 1];
    }
    case OP_bias_grad: case OP_act_grad: case OP_dropout_grad: return elems(in0(g, n));
    case OP_conv2d_grad_x: case OP_conv2d_grad_w: {
        /* the forward's multiply-adds, once more: each dy element meets C/g*k*k inputs */
        const Node *x = &g->nodes[n->inputs[n->op == OP_conv2d_grad_x ? 2 : 1]];
        int64_t k = ir_attr(n, "kernel")->i, groups = ir_attr(n, "groups")->i;
        return 2 * elems(in0(g, n)) * (x->shape.dim[0] / groups) * k * k;
    }
    case OP_conv2d_grad_b: case OP_batchnorm_grad_param: case OP_concat_grad: case OP_recurrent_grad_param:
    case OP_attention_grad_param: return 0;
    case OP_recurrent_grad: /* every product of the forward twice: for dx and h, and for the weights */
        return 2 * summary_node_flops(p, g, &g->nodes[n->inputs[2]]);
    case OP_attention_grad: {
        /* about twice the forward: each product once per operand's
         * gradient (dx is skipped when nothing reads it) */
        const Node *fwd = &g->nodes[n->inputs[2]];
        return 2 * attention_flops(n, ir_attr(fwd, "heads")->i);
    }
    case OP_maxpool_grad: case OP_avgpool_grad: case OP_global_avgpool_grad: return elems(n);
    case OP_batchnorm_grad: return 6 * elems(n);
    case OP_softmax_grad: return 3 * elems(n);
    case OP_cross_entropy_grad: case OP_mse_grad: case OP_bce_grad: return 2 * elems(n);
    case OP_embed_grad: case OP_position_grad: return elems(in0(g, n)); /* one addition per dy value */
    case OP_layernorm_grad: return 12 * elems(n);
    case OP_layernorm_grad_param: return 0;
    case OP_reduce_to: return elems(in0(g, n));
    case OP_expand: return 0;
    case OP_cross_entropy: return 5 * elems(in0(g, n));
    case OP_mse: case OP_bce: return 3 * elems(in0(g, n));
    case OP_COUNT: break;
    }
    unreachable();
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

static const char *human_bytes(char *buf, double b)
{
    static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    int u = 0;
    while (b >= 1024 && u < 4) {
        b /= 1024;
        u++;
    }
    snprintf(buf, 32, u ? "%.2f %s" : "%.0f %s", b, units[u]);
    return buf;
}

static const char *human_flops(char *buf, double f)
{
    static const char *const units[] = { "", "K", "M", "G", "T", "P" };
    int u = 0;
    while (f >= 1000 && u < 5) {
        f /= 1000;
        u++;
    }
    snprintf(buf, 32, u ? "%.2f %sFLOP" : "%.0f %sFLOP", f, units[u]);
    return buf;
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
