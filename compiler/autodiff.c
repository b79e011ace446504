/* autodiff.c — reverse-mode differentiation on the graph IR.
 * Requires: a checked program and a train step (its loss graph).
 * Produces: a TrainGraph whose nodes are the loss graph with every model
 * call inlined (parameters shared by program index), then the backward
 * nodes in execution order, each verified by its shape rule. Parameter
 * gradients are nodes marked writes_grad: they land in the gradient block,
 * and a parameter used twice accumulates there.
 * The loss must be a linear combination of loss ops (cross_entropy, mse,
 * bce), so each loss op's gradient is a constant per sample: its weight in
 * the total divided by the batch size. */
#include "compiler.h"

#include <string.h>

#define NONE UINT32_MAX

typedef struct Ad {
    Compiler *c;
    Graph *g;
    uint32_t *param_node; /* per program param: its node in g, or NONE */
    bool *needs;          /* per node: depends on a parameter being trained */
    uint32_t *grad;       /* per node: the node holding d(loss)/d(value), or NONE */
    uint32_t cap;
} Ad;

static Attr *attrs_for(Compiler *c, Op op)
{
    return arena_alloc(c->arena, sizeof(Attr) * (size_t)(ir_ops[op].nargs + 1));
}

static Attr *attr_slot(Op op, Attr *attrs, const char *name)
{
    Node n = { .op = op, .attrs = attrs };
    return (Attr *)ir_attr(&n, name);
}

static uint32_t copy_node(Ad *a, const Node *src, const uint32_t *inputs)
{
    Node n = *src;
    n.inputs = arena_alloc(a->c->arena, sizeof *n.inputs * (size_t)(src->ninputs + 1));
    memcpy(n.inputs, inputs, sizeof *inputs * (size_t)src->ninputs);
    return ir_add_node(a->c, a->g, &n);
}

/* A new node whose shape its rule gives; a failing rule here is our bug. */
static uint32_t make(Ad *a, Op op, const uint32_t *inputs, int n, Attr *attrs, const char *name, Span at)
{
    Shape in[8];
    DType dt[8];
    for (int i = 0; i < n; i++) {
        in[i] = a->g->nodes[inputs[i]].shape;
        dt[i] = a->g->nodes[inputs[i]].dtype;
    }
    if (!attrs)
        attrs = attrs_for(a->c, op);
    ShapeCtx s = { .c = a->c, .op = op, .call = ir_ops[op].name, .in = in, .in_dtype = dt, .nin = n, .attrs = attrs };
    if (!shape_infer(&s))
        die("autodiff made an ill-shaped %s: %s", ir_ops[op].name, s.err);
    Node node = { .op = op, .dtype = s.out_dtype, .shape = s.out, .ninputs = n, .ndata = n, .attrs = attrs,
                  .name = name, .span = at, .unbatched = s.out_unbatched };
    node.inputs = arena_alloc(a->c->arena, sizeof *node.inputs * (size_t)(n + 1));
    memcpy(node.inputs, inputs, sizeof *inputs * (size_t)n);
    return ir_add_node(a->c, a->g, &node);
}

static uint32_t param_ref(Ad *a, const Node *src)
{
    if (a->param_node[src->param] == NONE)
        a->param_node[src->param] = ir_add_node(a->c, a->g, src);
    return a->param_node[src->param];
}

/* Copies model m's nodes into g with its inputs bound to args; returns the
 * node of m's output. */
static uint32_t inline_model(Ad *a, const Graph *m, const uint32_t *args)
{
    uint32_t *map = arena_alloc(a->c->arena, sizeof *map * (m->nnodes + 1));
    int next_input = 0;
    for (uint32_t i = 0; i < m->nnodes; i++) {
        const Node *n = &m->nodes[i];
        if (n->op == OP_input) {
            map[i] = args[next_input++];
            continue;
        }
        if (n->op == OP_param) {
            map[i] = param_ref(a, n);
            continue;
        }
        uint32_t in[64];
        for (int k = 0; k < n->ninputs; k++)
            in[k] = map[n->inputs[k]];
        map[i] = copy_node(a, n, in);
    }
    return map[m->output];
}

static void accumulate(Ad *a, uint32_t value, uint32_t g)
{
    if (a->grad[value] == NONE) {
        a->grad[value] = g;
        return;
    }
    uint32_t in[2] = { a->grad[value], g };
    a->grad[value] = make(a, OP_add, in, 2, NULL, "grad_sum", a->g->nodes[value].span);
}

/* Grows the per-node tables as backward nodes are appended; the first call
 * sizes them for the whole forward graph, however long. */
static void reserve(Ad *a)
{
    if (a->g->nnodes + 64 < a->cap)
        return;
    uint32_t cap = a->cap;
    while (a->g->nnodes + 64 >= cap)
        cap = cap * 2 + 256;
    a->needs = arena_grow(a->c->arena, a->needs, a->cap, cap, sizeof *a->needs);
    uint32_t *grad = arena_grow(a->c->arena, a->grad, a->cap, cap, sizeof *grad);
    for (uint32_t i = a->cap; i < cap; i++)
        grad[i] = NONE;
    a->grad = grad;
    a->cap = cap;
}

static int64_t positions(const Node *logits)
{
    /* cross_entropy over f32[T, C] averages over the T positions */
    return ir_shape_elems(&logits->shape) / logits->shape.dim[logits->shape.rank - 1];
}

/* Copies the named attrs of src into a new attrs array for op. */
static Attr *copy_attrs(Ad *a, Op op, const Node *src, const char *const *names, int n)
{
    Attr *attrs = attrs_for(a->c, op);
    for (int i = 0; i < n; i++)
        *attr_slot(op, attrs, names[i]) = *ir_attr(src, names[i]);
    return attrs;
}

/* A parameter gradient computed by the kernel of `owner`: it reads the
 * owner so liveness keeps the owner, and lowers to nothing itself. A
 * recurrent layer's also reads the parameter, which gives its shape. */
static void param_grad(Ad *a, Op op, uint32_t owner, uint32_t param_node, int which, const char *name, Span at)
{
    Attr *attrs = NULL;
    if (ir_arg_index(op, "which") >= 0) {
        attrs = attrs_for(a->c, op);
        attr_slot(op, attrs, "which")->i = which;
    }
    uint32_t in[2] = { owner, param_node };
    uint32_t g = make(a, op, in, ir_tensor_args(op), attrs, name, at);
    a->g->nodes[g].writes_grad = true;
    a->g->nodes[g].param = a->g->nodes[param_node].param;
}

/* ------------------------------------------- gradient rules (ops.def) */

/* The gradient rule of one forward node `id` (n: a copy of it, since
 * appending nodes may move the array), given d(loss)/d(node) in gy: it
 * makes the backward nodes and accumulates the gradients of the inputs
 * that need one. A row of ops.def without its rule here fails to compile. */
typedef bool GradRule(Ad *a, uint32_t id, const Node *n, uint32_t gy);

static bool grad_none(Ad *a, uint32_t id, const Node *n, uint32_t gy)
{
    (void)a, (void)id, (void)n, (void)gy;
    return true;
}

/* Ops that have no gradient rule: the backward ops themselves (every
 * BACKWARD row of ops.def, through op_rules.h), and losses, whose
 * gradients seed_losses makes. */
static bool no_grad(Ad *a, uint32_t id, const Node *n, uint32_t gy)
{
    (void)id, (void)gy;
    diag_error(&a->c->diag, n->span, "training through %s is not supported yet (it has no gradient rule)",
               ir_ops[n->op].name);
    return false;
}

/* A parameter gradient node written by a kernel of its own. */
static void param_grad_node(Ad *a, uint32_t g, uint32_t param_node)
{
    a->g->nodes[g].writes_grad = true;
    a->g->nodes[g].param = a->g->nodes[param_node].param;
}

#define grad_input grad_none
#define grad_param grad_none

static bool grad_model_call(Ad *a, uint32_t id, const Node *n, uint32_t gy)
{
    (void)a, (void)id, (void)n, (void)gy;
    die("model call left after inlining");
}

static bool grad_dense(Ad *a, uint32_t id, const Node *n, uint32_t gy)
{
    (void)id;
    uint32_t x = n->inputs[0], w = n->inputs[1];
    if (a->needs[x]) {
        uint32_t in[2] = { gy, w };
        accumulate(a, x, make(a, OP_dense_grad_x, in, 2, NULL, n->name, n->span));
    }
    for (int k = 1; k < n->ninputs; k++) {
        uint32_t pn = n->inputs[k];
        if (!a->needs[pn])
            continue;
        uint32_t in[2] = { gy, x };
        param_grad_node(a, make(a, k == 1 ? OP_dense_grad_w : OP_bias_grad, in, k == 1 ? 2 : 1, NULL, n->name, n->span), pn);
    }
    return true;
}

/* Every activation: one act_grad. Most derivatives are computed from the
 * output (for ReLU and leaky ReLU, y > 0 exactly when x > 0); gelu's needs
 * its input (OPF_GRAD_OF_X). */
static bool grad_activation(Ad *a, uint32_t id, const Node *n, uint32_t gy)
{
    Attr *attrs = attrs_for(a->c, OP_act_grad);
    attr_slot(OP_act_grad, attrs, "act")->i = n->op;
    attr_slot(OP_act_grad, attrs, "alpha")->f = ir_arg_index(n->op, "alpha") >= 0 ? ir_attr(n, "alpha")->f : 0;
    uint32_t in[2] = { gy, ir_op_is(n->op, OPF_GRAD_OF_X) ? n->inputs[0] : id };
    accumulate(a, n->inputs[0], make(a, OP_act_grad, in, 2, attrs, n->name, n->span));
    return true;
}

static bool grad_dropout(Ad *a, uint32_t id, const Node *n, uint32_t gy)
{
    Attr *attrs = attrs_for(a->c, OP_dropout_grad);
    attr_slot(OP_dropout_grad, attrs, "rate")->f = ir_attr(n, "rate")->f;
    attr_slot(OP_dropout_grad, attrs, "salt")->i = id; /* the forward node's id seeds both masks */
    accumulate(a, n->inputs[0], make(a, OP_dropout_grad, &gy, 1, attrs, n->name, n->span));
    return true;
}

static bool grad_conv2d(Ad *a, uint32_t id, const Node *n, uint32_t gy)
{
    static const char *const geom[] = { "filters", "kernel", "stride", "padding", "dilation", "groups" };
    (void)id;
    uint32_t x = n->inputs[0], w = n->inputs[1];
    if (a->needs[x]) {
        uint32_t in[3] = { gy, w, x };
        accumulate(a, x, make(a, OP_conv2d_grad_x, in, 3, copy_attrs(a, OP_conv2d_grad_x, n, geom, 6), n->name, n->span));
    }
    if (a->needs[w]) {
        uint32_t in[2] = { gy, x };
        uint32_t gw = make(a, OP_conv2d_grad_w, in, 2, copy_attrs(a, OP_conv2d_grad_w, n, geom, 6), n->name, n->span);
        param_grad_node(a, gw, w);
        if (n->ninputs > 2 && a->needs[n->inputs[2]])
            param_grad(a, OP_conv2d_grad_b, gw, n->inputs[2], 0, n->name, n->span);
    }
    return true;
}

/* maxpool's gradient reads its output too (where the maximum was). */
static bool grad_pool(Ad *a, uint32_t id, const Node *n, uint32_t gy)
{
    static const char *const win[] = { "size", "stride", "padding" };
    Op gop = n->op == OP_maxpool ? OP_maxpool_grad : OP_avgpool_grad;
    uint32_t in[3] = { gy, n->inputs[0], id };
    accumulate(a, n->inputs[0], make(a, gop, in, ir_tensor_args(gop), copy_attrs(a, gop, n, win, 3), n->name, n->span));
    return true;
}
#define grad_maxpool grad_pool
#define grad_avgpool grad_pool

static bool grad_global_avgpool(Ad *a, uint32_t id, const Node *n, uint32_t gy)
{
    (void)id;
    uint32_t in[2] = { gy, n->inputs[0] };
    accumulate(a, n->inputs[0], make(a, OP_global_avgpool_grad, in, 2, NULL, n->name, n->span));
    return true;
}

/* One backward node (gop: dy, x, the forward node) whose kernel computes
 * dx and the parameters' gradients, companions (cop, numbered by `which`
 * when cop has one) that read it: batchnorm, layernorm, attention, the
 * recurrent layers. */
static void fused_backward(Ad *a, uint32_t id, const Node *n, uint32_t gy, Op gop, Attr *attrs, Op cop)
{
    uint32_t in[3] = { gy, n->inputs[0], id };
    uint32_t g = make(a, gop, in, 3, attrs, n->name, n->span);
    if (a->needs[n->inputs[0]])
        accumulate(a, n->inputs[0], g);
    for (int k = n->ndata; k < n->ninputs; k++)
        if (a->needs[n->inputs[k]])
            param_grad(a, cop, g, n->inputs[k], k - n->ndata, n->name, n->span);
}

static bool grad_batchnorm(Ad *a, uint32_t id, const Node *n, uint32_t gy)
{
    /* the running statistics, not trained, need no gradient */
    static const char *const eps[] = { "eps" };
    if (batchnorm_frozen(a->c->prog, a->g, n)) {
        /* eval mode (lower_batchnorm): y = x * gamma / sqrt(var + eps) + a
         * constant per channel, and nothing of it trains; dx only, for
         * what trains before it */
        uint32_t in[3] = { gy, n->inputs[1], n->inputs[4] };
        accumulate(a, n->inputs[0],
                   make(a, OP_batchnorm_frozen_grad, in, 3, copy_attrs(a, OP_batchnorm_frozen_grad, n, eps, 1), n->name,
                        n->span));
        return true;
    }
    fused_backward(a, id, n, gy, OP_batchnorm_grad, copy_attrs(a, OP_batchnorm_grad, n, eps, 1), OP_batchnorm_grad_param);
    return true;
}

/* One backward node whose kernel computes dx and the four parameter
 * gradients (its companions), from x and what the forward kept in its
 * slot. */
static bool grad_attention(Ad *a, uint32_t id, const Node *n, uint32_t gy)
{
    fused_backward(a, id, n, gy, OP_attention_grad, NULL, OP_attention_grad_param);
    return true;
}

/* one kernel gives dx and the partial sums of dgamma and dbeta, from the
 * mean and 1/std per row the forward saved */
static bool grad_layernorm(Ad *a, uint32_t id, const Node *n, uint32_t gy)
{
    static const char *const eps[] = { "eps" };
    fused_backward(a, id, n, gy, OP_layernorm_grad, copy_attrs(a, OP_layernorm_grad, n, eps, 1), OP_layernorm_grad_param);
    return true;
}

/* the table's rows named by the ids collect dy; the ids, integers, have no
 * gradient */
static bool grad_embed(Ad *a, uint32_t id, const Node *n, uint32_t gy)
{
    static const char *const vocab[] = { "vocab" };
    (void)id;
    uint32_t w = n->inputs[1];
    if (a->needs[w]) {
        uint32_t in[2] = { gy, n->inputs[0] };
        param_grad_node(a, make(a, OP_embed_grad, in, 2, copy_attrs(a, OP_embed_grad, n, vocab, 1), n->name, n->span), w);
    }
    return true;
}

/* y = x + w: x's gradient is dy itself, w's the sum over the batch */
static bool grad_position(Ad *a, uint32_t id, const Node *n, uint32_t gy)
{
    (void)id;
    uint32_t x = n->inputs[0], w = n->inputs[1];
    if (a->needs[x])
        accumulate(a, x, gy);
    if (a->needs[w])
        param_grad_node(a, make(a, OP_position_grad, &gy, 1, NULL, n->name, n->span), w);
    return true;
}

static bool grad_softmax(Ad *a, uint32_t id, const Node *n, uint32_t gy)
{
    uint32_t in[2] = { gy, id };
    accumulate(a, n->inputs[0], make(a, OP_softmax_grad, in, 2, NULL, n->name, n->span));
    return true;
}

static bool grad_scale(Ad *a, uint32_t id, const Node *n, uint32_t gy)
{
    (void)id;
    Attr *attrs = attrs_for(a->c, OP_scale);
    attr_slot(OP_scale, attrs, "factor")->f = ir_attr(n, "factor")->f;
    accumulate(a, n->inputs[0], make(a, OP_scale, &gy, 1, attrs, n->name, n->span));
    return true;
}

/* A reduce_to node: g summed back to the shape `to` of a broadcast operand. */
static uint32_t reduce_to(Ad *a, uint32_t g, const Shape *to, const Node *n)
{
    Attr *attrs = attrs_for(a->c, OP_reduce_to);
    Attr *sh = attr_slot(OP_reduce_to, attrs, "shape");
    sh->nints = to->rank;
    sh->ints = arena_alloc(a->c->arena, sizeof *sh->ints * (size_t)(to->rank + 1));
    memcpy(sh->ints, to->dim, sizeof *sh->ints * (size_t)to->rank);
    return make(a, OP_reduce_to, &g, 1, attrs, n->name, n->span);
}

/* add, sub, mul; a broadcast operand's gradient sums what it was repeated
 * into */
static bool grad_arith(Ad *a, uint32_t id, const Node *n, uint32_t gy)
{
    (void)id;
    uint32_t x = n->inputs[0], y = n->inputs[1];
    const Shape *sx = &a->g->nodes[x].shape, *sy = &a->g->nodes[y].shape;
    for (int side = 0; side < 2; side++) {
        uint32_t v = side ? y : x, other = side ? x : y;
        if (!a->needs[v])
            continue;
        uint32_t gv = gy;
        if (n->op == OP_mul) {
            uint32_t in[2] = { gy, other };
            gv = make(a, OP_mul, in, 2, NULL, n->name, n->span);
        } else if (n->op == OP_sub && side) {
            Attr *attrs = attrs_for(a->c, OP_scale);
            attr_slot(OP_scale, attrs, "factor")->f = -1;
            gv = make(a, OP_scale, &gy, 1, attrs, n->name, n->span);
        }
        const Shape *sv = side ? sy : sx;
        if (!ir_shape_eq(sv, &n->shape))
            gv = reduce_to(a, gv, sv, n);
        accumulate(a, v, gv);
    }
    return true;
}
#define grad_add grad_arith
#define grad_sub grad_arith
#define grad_mul grad_arith

/* flatten and reshape: the gradient reshaped back to x's shape */
static bool grad_view(Ad *a, uint32_t id, const Node *n, uint32_t gy)
{
    (void)id;
    const Node *x = &a->g->nodes[n->inputs[0]];
    Attr *attrs = attrs_for(a->c, OP_reshape);
    Attr *sh = attr_slot(OP_reshape, attrs, "shape");
    sh->nints = x->shape.rank;
    sh->ints = arena_alloc(a->c->arena, sizeof *sh->ints * (size_t)(x->shape.rank + 1));
    memcpy(sh->ints, x->shape.dim, sizeof *sh->ints * (size_t)x->shape.rank);
    accumulate(a, n->inputs[0], make(a, OP_reshape, &gy, 1, attrs, n->name, n->span));
    return true;
}
#define grad_flatten grad_view
#define grad_reshape grad_view

/* Each input of a concat gets its slice of the output's gradient. An input
 * given twice (concat(h, h)) gets both slices, summed by accumulate. */
static bool grad_concat(Ad *a, uint32_t id, const Node *n, uint32_t gy)
{
    (void)id;
    int axis = shape_concat_axis(n);
    int64_t start = 0;
    for (int k = 0; k < n->ndata; k++) {
        uint32_t x = n->inputs[k];
        int64_t size = a->g->nodes[x].shape.dim[axis];
        if (a->needs[x]) {
            Attr *attrs = attrs_for(a->c, OP_concat_grad);
            attr_slot(OP_concat_grad, attrs, "axis")->i = axis;
            attr_slot(OP_concat_grad, attrs, "start")->i = start;
            attr_slot(OP_concat_grad, attrs, "size")->i = size;
            accumulate(a, x, make(a, OP_concat_grad, &gy, 1, attrs, n->name, n->span));
        }
        start += size;
    }
    return true;
}

/* Backpropagation through time is one kernel, as the forward pass is: it
 * reads the forward node (its output and the state it kept) and computes
 * dx, its value, and the parameter gradients, companions that read it. */
static bool grad_recurrent(Ad *a, uint32_t id, const Node *n, uint32_t gy)
{
    fused_backward(a, id, n, gy, OP_recurrent_grad, NULL, OP_recurrent_grad_param);
    return true;
}
/* expand's gradient: dy summed back to x's shape */
static bool grad_expand(Ad *a, uint32_t id, const Node *n, uint32_t gy)
{
    (void)id;
    accumulate(a, n->inputs[0], reduce_to(a, gy, &a->g->nodes[n->inputs[0]].shape, n));
    return true;
}

#define grad_rnn grad_recurrent
#define grad_lstm grad_recurrent
#define grad_gru grad_recurrent

#define grad_cross_entropy no_grad
#define grad_mse no_grad
#define grad_bce no_grad

static GradRule *const grad_rules[OP_COUNT] = {
#define RULE(name) grad_##name
#define RULE_ACT grad_activation
#define RULE_BACKWARD(name) no_grad
#include "op_rules.h"
};

static bool backward_node(Ad *a, uint32_t id)
{
    const Node n = a->g->nodes[id];
    return grad_rules[n.op](a, id, &n, a->grad[id]);
}

/* Walks back from the loss graph's output through add/sub/scale of
 * per-sample losses, giving each loss op its weight. */
static bool loss_weights(Ad *a, TrainGraph *tg, uint32_t out, uint32_t nforward)
{
    double *coef = tg->loss_coef;
    bool *reached = arena_alloc(a->c->arena, sizeof *reached * (nforward + 1));
    double *w = arena_alloc(a->c->arena, sizeof *w * (nforward + 1));
    reached[out] = true;
    w[out] = 1;
    for (uint32_t i = nforward; i-- > 0;) {
        if (!reached[i])
            continue;
        const Node *n = &a->g->nodes[i];
        if (ir_op_is(n->op, OPF_LOSS)) {
            coef[i] += w[i];
            continue;
        }
        if (n->op == OP_scale && n->shape.rank == 0 && ir_attr(n, "offset")->f != 0) {
            /* the reported loss is the losses' weighted sum: a constant
             * would vanish from it, and changes no gradient */
            diag_error(&a->c->diag, n->span, "a loss must be a sum of losses (cross_entropy, mse, bce), each possibly "
                       "times a number; a constant term (%+g) changes no gradient and is not reported: drop it",
                       ir_attr(n, "offset")->f);
            return false;
        }
        if ((n->op == OP_add || n->op == OP_sub || n->op == OP_scale) && n->shape.rank == 0) {
            tg->combine[i] = true;
            for (int k = 0; k < n->ndata; k++) {
                uint32_t v = n->inputs[k];
                double f = n->op == OP_scale ? ir_attr(n, "factor")->f : n->op == OP_sub && k ? -1 : 1;
                reached[v] = true;
                w[v] += w[i] * f;
            }
            continue;
        }
        diag_error(&a->c->diag, n->span, "a loss must be a sum of losses (cross_entropy, mse, bce), each possibly times a number; %s is not one",
                   ir_ops[n->op].name);
        return false;
    }
    return true;
}

static bool seed_losses(Ad *a, TrainGraph *tg, uint32_t nforward)
{
    for (uint32_t i = 0; i < nforward; i++) {
        if (tg->loss_coef[i] == 0)
            continue;
        const Node n = a->g->nodes[i];
        uint32_t z = n.inputs[0];
        if (n.ndata > 1 && a->needs[n.inputs[1]]) {
            diag_error(&a->c->diag, n.span, "%s: the target depends on the parameters being trained; netc differentiates the first argument only",
                       ir_ops[n.op].name);
            return false;
        }
        if (!a->needs[z])
            continue;
        double per = n.op == OP_cross_entropy ? (double)positions(&a->g->nodes[z])
                                              : (double)ir_shape_elems(&a->g->nodes[z].shape);
        Op gop = n.op == OP_cross_entropy ? OP_cross_entropy_grad : n.op == OP_mse ? OP_mse_grad : OP_bce_grad;
        Attr *attrs = attrs_for(a->c, gop);
        attr_slot(gop, attrs, "scale")->f = tg->loss_coef[i] / per;
        uint32_t in[3] = { z, n.ndata > 1 ? n.inputs[1] : 0, i };
        int nin = n.op == OP_cross_entropy ? 3 : n.ndata;
        if (n.op != OP_cross_entropy && n.ndata == 1)
            *attr_slot(gop, attrs, "target") = *ir_attr(&n, "target");
        accumulate(a, z, make(a, gop, in, nin, attrs, n.name, n.span));
    }
    return true;
}

bool autodiff_build(Compiler *c, const TrainSpec *ts, int step_index, TrainGraph *tg)
{
    Program *p = c->prog;
    const StepSpec *st = &ts->steps_list[step_index];
    const Graph *loss = &p->graphs[st->graph];
    memset(tg, 0, sizeof *tg);
    tg->train = ts;
    tg->step = st;
    for (int i = 0; i < p->nmodels; i++)
        if (!strcmp(p->graphs[i].name, st->model))
            tg->model = i;
    Ad a = { .c = c };
    a.g = tg->g = arena_alloc(c->arena, sizeof *tg->g);
    a.g->name = arena_printf(c->arena, "%s.train", ts->name);
    a.g->span = ts->span;
    a.param_node = arena_alloc(c->arena, sizeof *a.param_node * (p->nparams + 1));
    for (uint32_t i = 0; i < p->nparams; i++)
        a.param_node[i] = NONE;

    /* Inline: the loss graph's nodes, each model call replaced by the model. */
    uint32_t *map = arena_alloc(c->arena, sizeof *map * (loss->nnodes + 1));
    for (uint32_t i = 0; i < loss->nnodes; i++) {
        const Node *n = &loss->nodes[i];
        uint32_t in[64];
        for (int k = 0; k < n->ninputs; k++)
            in[k] = map[n->inputs[k]];
        if (n->op == OP_model_call) {
            map[i] = inline_model(&a, &p->graphs[n->model], in);
        } else if (n->op == OP_param) {
            map[i] = param_ref(&a, n);
        } else {
            map[i] = copy_node(&a, n, in);
            if (n->op == OP_input) {
                Graph *g = a.g;
                g->inputs = arena_grow(c->arena, g->inputs, (size_t)g->ninputs, (size_t)g->ninputs + 1, sizeof *g->inputs);
                g->inputs[g->ninputs++] = map[i];
            }
        }
    }
    a.g->output = map[loss->output];
    a.g->has_output = true;
    uint32_t nforward = a.g->nnodes;
    tg->x_input = a.g->inputs[0];
    tg->has_y = a.g->ninputs > 1;
    tg->y_input = tg->has_y ? a.g->inputs[1] : 0;
    if (ts->free_form) {
        /* a step's inputs are `real` (the data) and `noise`, which the
         * step draws itself; it has no labels */
        tg->has_y = false;
        for (int k = 0; k < a.g->ninputs; k++) {
            uint32_t in = a.g->inputs[k];
            if (!strcmp(a.g->nodes[in].name, "noise")) {
                tg->noise_input = in;
                tg->has_noise = true;
            } else {
                tg->x_input = in;
            }
        }
    }

    /* Which values depend on the parameters this step trains. */
    a.cap = 0;
    reserve(&a);
    const Graph *model = &p->graphs[tg->model];
    /* the model's own parameters, by program index (a scan of the model's
     * list for every parameter node was quadratic in depth) */
    bool *in_model = arena_alloc(c->arena, sizeof *in_model * ((size_t)p->nparams + 1)); /* zeroed */
    for (int k = 0; k < model->nparams; k++)
        in_model[model->params[k]] = true;
    for (uint32_t i = 0; i < nforward; i++) {
        const Node *n = &a.g->nodes[i];
        if (n->op == OP_param) {
            a.needs[i] = in_model[n->param] && p->params[n->param].trainable;
            continue;
        }
        for (int k = 0; k < n->ninputs; k++)
            a.needs[i] |= a.needs[n->inputs[k]];
    }

    tg->loss_coef = arena_alloc(c->arena, sizeof *tg->loss_coef * (nforward + 1));
    tg->combine = arena_alloc(c->arena, sizeof *tg->combine * (nforward + 1));
    /* they fail only on the loss's form: an error of the file */
    if (!loss_weights(&a, tg, a.g->output, nforward) || !seed_losses(&a, tg, nforward)) {
        c->loss_refused = true;
        return false;
    }
    for (uint32_t i = nforward; i-- > 0;) {
        reserve(&a);
        if (a.grad[i] == NONE || !a.needs[i] || tg->combine[i])
            continue;
        if (!backward_node(&a, i))
            return false;
    }
    /* The per-node tables cover the backward nodes too (all zero). */
    tg->loss_coef = arena_grow(c->arena, tg->loss_coef, nforward, a.g->nnodes + 1, sizeof *tg->loss_coef);
    tg->combine = arena_grow(c->arena, tg->combine, nforward, a.g->nnodes + 1, sizeof *tg->combine);
    return shape_verify_graph(c, p, a.g);
}
