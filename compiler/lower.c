/* lower.c — from planned graph IR to LIR.
 * Requires: units that fuse.c and plan.c have run over.
 * Produces: an LProgram: the parameter layout, and two LIR functions,
 * train_step and forward, each a list of kernel calls into libnetrt and
 * fused elementwise loops with constant shapes. The C emitter prints it,
 * the JIT builds it; neither looks at the graph IR. */
#include "compiler.h"
#include "netrt.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* rt_act values, as netrt.h numbers them (RT_ACT_NONE = 0, ...). */
enum { ACT_NONE, ACT_RELU, ACT_LEAKY_RELU, ACT_GELU, ACT_TANH, ACT_SIGMOID };
/* rt_loss_kind */
enum { LOSS_CROSS_ENTROPY, LOSS_MSE, LOSS_BCE };

typedef struct Lower {
    Compiler *c;
    Unit *u;
    LFunc *f;
    const ParamLayout *pl;
    bool *grad_written; /* per program param: a gradient writer ran already */
} Lower;

static int act_of(Op op)
{
    return op == OP_relu ? ACT_RELU : op == OP_leaky_relu ? ACT_LEAKY_RELU : op == OP_gelu ? ACT_GELU
         : op == OP_tanh ? ACT_TANH : op == OP_sigmoid ? ACT_SIGMOID : ACT_NONE;
}

static LInstr *emit(Lower *l, LKind kind, const char *fn, const Node *n)
{
    LFunc *f = l->f;
    if (f->n == f->cap) {
        int cap = f->cap ? f->cap * 2 : 32;
        f->code = arena_grow(l->c->arena, f->code, (size_t)f->n, (size_t)cap, sizeof *f->code);
        f->cap = cap;
    }
    LInstr *in = &f->code[f->n++];
    memset(in, 0, sizeof *in);
    in->kind = kind;
    in->fn = fn;
    in->span = n->span;
    in->comment = arena_printf(l->c->arena, "%s: %s -> %s", n->name ? n->name : "", ir_ops[n->op].name,
                               ir_type_str(l->c, n->dtype, &n->shape));
    return in;
}

static LPtr ptr_of(Lower *l, uint32_t node)
{
    const NodeInfo *in = &l->u->info[node];
    if (in->base == BASE_NONE)
        die("%s: value %%%u (%s) has no storage", l->u->name, node, ir_ops[l->u->g->nodes[node].op].name);
    LPtr p = { in->base, in->offset, in->base != BASE_PARAMS && in->base != BASE_GRADS };
    return p;
}

static void arg_ptr(LInstr *in, LPtr p) { in->args[in->nargs++] = (LArg){ .kind = LA_PTR, .ptr = p }; }
static void arg_val(Lower *l, LInstr *in, uint32_t node) { arg_ptr(in, ptr_of(l, node)); }
/* A pointer to int32 values (token ids), which the C backend casts: they
 * may sit in the float arena (a concat of ids). */
static void arg_ids(Lower *l, LInstr *in, uint32_t node)
{
    in->args[in->nargs++] = (LArg){ .kind = LA_PTR, .ptr = ptr_of(l, node), .ints = true };
}
static void arg_bool(LInstr *in, bool b) { in->args[in->nargs++] = (LArg){ .kind = LA_BOOL, .i = b }; }
static void arg_act(LInstr *in, int act) { in->args[in->nargs++] = (LArg){ .kind = LA_ACT, .i = act }; }
static void arg_seed(LInstr *in, int64_t salt) { in->args[in->nargs++] = (LArg){ .kind = LA_SEED, .i = salt }; }

/* An int argument: k + per_batch * batch. */
static void arg_int(LInstr *in, int64_t k, int64_t per_batch)
{
    in->args[in->nargs++] = (LArg){ .kind = LA_INT, .i = k, .i_batch = per_batch };
}

static void arg_float(LInstr *in, double f, bool div_batch)
{
    in->args[in->nargs++] = (LArg){ .kind = LA_FLOAT, .f = f, .f_div_batch = div_batch };
}

static const Node *node_at(Lower *l, uint32_t i) { return &l->u->g->nodes[i]; }
static int64_t elems(const Node *n) { return ir_shape_elems(&n->shape); }
static int64_t last_dim(const Node *n) { return n->shape.rank ? n->shape.dim[n->shape.rank - 1] : 1; }
/* Rows of a value seen as a matrix over its last dimension, per sample. */
static int64_t rows(const Node *n) { return elems(n) / last_dim(n); }

/* --------------------------------------------------------- elementwise */

static LExpr *expr_new(Lower *l, LExprKind kind)
{
    LExpr *e = arena_alloc(l->c->arena, sizeof *e);
    e->kind = kind;
    return e;
}

/* A load of `node` inside a loop over the elements of `out`. A per-sample
 * operand whose shape is a suffix of out's repeats across the leading
 * dimensions (NumPy broadcasting of the common case). */
static LExpr *load(Lower *l, uint32_t node, const Node *out)
{
    const Node *n = node_at(l, node);
    LExpr *e = expr_new(l, LE_LOAD);
    e->ptr = ptr_of(l, node);
    int64_t E = elems(out), e_n = elems(n);
    if (e_n == E && e->ptr.per_sample)
        return e;
    bool suffix = n->shape.rank <= out->shape.rank;
    for (int i = 0; suffix && i < n->shape.rank; i++)
        suffix = n->shape.dim[n->shape.rank - 1 - i] == out->shape.dim[out->shape.rank - 1 - i];
    if (!suffix)
        return NULL;
    /* per sample: index (i / E) * e_n + i % e_n; a parameter, which has
     * no batch dimension (position's table): i % e_n */
    e->period = e_n;
    e->c = e->ptr.per_sample ? (double)E : 0;
    return e;
}

/* The expression of value v inside the loop of `root`: values fused into
 * the loop are computed inline, the rest are loaded. */
static LExpr *loop_expr(Lower *l, uint32_t v, uint32_t root)
{
    const Node *n = node_at(l, v), *out = node_at(l, root);
    if (v != root && l->u->info[v].loop_into < 0) {
        LExpr *e = load(l, v, out);
        if (!e)
            diag_error(&l->c->diag, out->span, "broadcasting %s to %s is not supported by the code generator yet",
                       ir_type_str(l->c, n->dtype, &n->shape), ir_type_str(l->c, out->dtype, &out->shape));
        return e;
    }
    LExpr *e, *a = loop_expr(l, n->inputs[0], root);
    if (!a)
        return NULL;
    switch (n->op) {
    case OP_scale: {
        LExpr *f = expr_new(l, LE_CONST), *o = expr_new(l, LE_CONST);
        f->c = ir_attr(n, "factor")->f;
        o->c = ir_attr(n, "offset")->f;
        e = expr_new(l, LE_MUL);
        e->a = a;
        e->b = f;
        if (o->c != 0) {
            LExpr *sum = expr_new(l, LE_ADD);
            sum->a = e;
            sum->b = o;
            e = sum;
        }
        return e;
    }
    case OP_add: case OP_sub: case OP_mul: case OP_position: {
        LExpr *b = loop_expr(l, n->inputs[1], root);
        if (!b)
            return NULL;
        e = expr_new(l, n->op == OP_sub ? LE_SUB : n->op == OP_mul ? LE_MUL : LE_ADD);
        e->a = a;
        e->b = b;
        return e;
    }
    case OP_relu: case OP_leaky_relu: case OP_gelu: case OP_tanh: case OP_sigmoid:
        e = expr_new(l, LE_ACT);
        e->act = act_of(n->op);
        e->alpha = n->op == OP_leaky_relu ? ir_attr(n, "alpha")->f : 0;
        e->a = a;
        return e;
    default:
        die("no loop expression for %s", ir_ops[n->op].name);
    }
}

static bool lower_loop(Lower *l, uint32_t id)
{
    const Node *n = node_at(l, id);
    LExpr *e = loop_expr(l, id, id);
    if (!e)
        return false;
    LInstr *in = emit(l, LI_LOOP, NULL, n);
    in->dst = ptr_of(l, id);
    in->n = elems(n);
    in->expr = e;
    for (uint32_t i = 0; i < id; i++)
        if (l->u->info[i].loop_into >= 0 && !l->u->info[i].dead) {
            uint32_t r = i;
            while (l->u->info[r].loop_into >= 0)
                r = (uint32_t)l->u->info[r].loop_into;
            if (r == id)
                in->comment = arena_printf(l->c->arena, "%s, with %s", in->comment, node_at(l, i)->name);
        }
    return true;
}

/* Whether some value is computed inside this node's loop. */
static bool has_loop_inputs(Lower *l, uint32_t id)
{
    const Node *n = node_at(l, id);
    for (int k = 0; k < n->ndata; k++)
        if (l->u->info[n->inputs[k]].loop_into == (int32_t)id)
            return true;
    return false;
}

/* ------------------------------------------------------------- kernels */

static void lower_dense(Lower *l, uint32_t id)
{
    const Node *n = node_at(l, id);
    const NodeInfo *info = &l->u->info[id];
    uint32_t x = n->inputs[0], w = n->inputs[1];
    int64_t k = last_dim(node_at(l, x)), units = last_dim(n), r = rows(n);
    LInstr *in = emit(l, LI_CALL, "rt_sgemm_ex", n);
    if (info->act >= 0)
        in->comment = arena_printf(l->c->arena, "%s + %s", in->comment, ir_ops[node_at(l, (uint32_t)info->act)->op].name);
    arg_bool(in, false);
    arg_bool(in, true);
    arg_int(in, 0, r);
    arg_int(in, units, 0);
    arg_int(in, k, 0);
    arg_float(in, 1, false);
    arg_val(l, in, x);
    arg_int(in, k, 0);
    arg_val(l, in, w);
    arg_int(in, k, 0);
    arg_float(in, 0, false);
    arg_ptr(in, ptr_of(l, info->act >= 0 ? (uint32_t)info->act : id));
    arg_int(in, units, 0);
    LArg ep = { .kind = LA_EPILOGUE };
    if (n->ninputs > 2) {
        ep.has_bias = true;
        ep.bias = ptr_of(l, n->inputs[2]);
    }
    if (info->act >= 0) {
        const Node *a = node_at(l, (uint32_t)info->act);
        ep.act = act_of(a->op);
        ep.alpha = a->op == OP_leaky_relu ? ir_attr(a, "alpha")->f : 0;
        if (info->needs_preact) {
            ep.has_preact = true;
            ep.preact = ptr_of(l, id);
        }
    }
    in->args[in->nargs++] = ep;
}

static const char *const conv_fields[] = { "c", "h", "w", "f", "kh", "kw", "stride", "dilation", "groups",
                                           "pad_top", "pad_left", "pad_bottom", "pad_right", "ho", "wo", "algo" };
#define CONV_FIELDS 16
static const char *const pool_fields[] = { "c", "h", "w", "size", "stride", "pad", "ho", "wo" };

/* The geometry of a conv2d-like node whose input is `x` as rt_conv2d,
 * with its algorithm chosen here, at compile time, from the shape by the
 * runtime's own rule (rt_conv2d_choose says why each shape gets what); the
 * instruction's comment names it. */
static void arg_conv(Lower *l, LInstr *in, const Node *n, uint32_t x)
{
    ConvGeom g = shape_conv_geometry(n, &node_at(l, x)->shape);
    rt_conv2d cv = { .c = g.c, .h = g.h, .w = g.w, .f = g.f, .kh = g.k, .kw = g.k, .stride = g.stride,
                     .dilation = g.dilation, .groups = g.groups, .pad_top = g.pad_top,
                     .pad_left = g.pad_left, .pad_bottom = g.pad_bottom, .pad_right = g.pad_right,
                     .ho = g.ho, .wo = g.wo };
    rt_conv_algo algo = rt_conv2d_choose(&cv);
    int64_t *v = arena_alloc(l->c->arena, sizeof *v * CONV_FIELDS);
    int64_t vals[CONV_FIELDS] = { cv.c, cv.h, cv.w, cv.f, cv.kh, cv.kw, cv.stride, cv.dilation, cv.groups,
                                  cv.pad_top, cv.pad_left, cv.pad_bottom, cv.pad_right, cv.ho, cv.wo, algo };
    memcpy(v, vals, sizeof vals);
    in->args[in->nargs++] = (LArg){ .kind = LA_STRUCT, .type = "rt_conv2d", .fields = conv_fields, .vals = v,
                                    .nvals = CONV_FIELDS };
    in->comment = arena_printf(l->c->arena, "%s [%s]", in->comment, rt_conv_algo_name(algo));
}

static void arg_pool(Lower *l, LInstr *in, const Node *n, uint32_t x)
{
    const Shape *s = &node_at(l, x)->shape;
    int64_t size = ir_attr(n, "size")->i, stride = ir_attr(n, "stride")->i, pad = ir_attr(n, "padding")->i;
    if (stride == 0)
        stride = size;
    int64_t *v = arena_alloc(l->c->arena, sizeof *v * 8);
    int64_t vals[8] = { s->dim[0], s->dim[1], s->dim[2], size, stride, pad,
                        (s->dim[1] + 2 * pad - size) / stride + 1, (s->dim[2] + 2 * pad - size) / stride + 1 };
    memcpy(v, vals, sizeof vals);
    in->args[in->nargs++] = (LArg){ .kind = LA_STRUCT, .type = "rt_pool2d", .fields = pool_fields, .vals = v, .nvals = 8 };
}

/* The scratch region after the per-sample arena, k floats in. */
static LPtr scratch(Lower *l, int64_t k, LArg *arg)
{
    *arg = (LArg){ .kind = LA_PTR, .ptr = { BASE_ARENA, l->u->arena_floats, true }, .i = k };
    return arg->ptr;
}

static void lower_conv(Lower *l, uint32_t id)
{
    const Node *n = node_at(l, id);
    const NodeInfo *info = &l->u->info[id];
    LArg w_arg = { .kind = LA_NULL }, b_arg = { .kind = LA_NULL };
    uint32_t out = id;
    if (info->fold_bn >= 0) {
        /* w' = w * s, b' = (b - mean) * s + beta, s = gamma / sqrt(var + eps) */
        const Node *bn = node_at(l, (uint32_t)info->fold_bn), *w = node_at(l, n->inputs[1]);
        int64_t wsize = elems(w), k = wsize / w->shape.dim[0];
        LInstr *f = emit(l, LI_CALL, "rt_batchnorm_fold", bn);
        f->comment = arena_printf(l->c->arena, "%s folded into %s", bn->name, n->name);
        arg_int(f, w->shape.dim[0], 0);
        arg_int(f, k, 0);
        arg_val(l, f, n->inputs[1]);
        if (n->ninputs > 2)
            arg_val(l, f, n->inputs[2]);
        else
            f->args[f->nargs++] = (LArg){ .kind = LA_NULL };
        for (int j = 1; j <= 4; j++)
            arg_val(l, f, bn->inputs[j]);
        arg_float(f, ir_attr(bn, "eps")->f, false);
        scratch(l, 0, &w_arg);
        scratch(l, (wsize + 15) / 16 * 16, &b_arg);
        f->args[f->nargs++] = w_arg;
        f->args[f->nargs++] = b_arg;
        out = (uint32_t)info->fold_bn;
    }
    LInstr *in = emit(l, LI_CALL, info->pool >= 0 ? "rt_conv2d_forward_maxpool" : "rt_conv2d_forward", n);
    int act = ACT_NONE;
    double alpha = 0;
    if (info->act >= 0) {
        const Node *a = node_at(l, (uint32_t)info->act);
        in->comment = arena_printf(l->c->arena, "%s + %s", in->comment, ir_ops[a->op].name);
        act = act_of(a->op);
        alpha = a->op == OP_leaky_relu ? ir_attr(a, "alpha")->f : 0;
    }
    arg_conv(l, in, n, n->inputs[0]);
    if (info->pool >= 0) {
        const Node *pl = node_at(l, (uint32_t)info->pool);
        in->comment = arena_printf(l->c->arena, "%s + %s", in->comment, pl->name ? pl->name : "maxpool");
        arg_pool(l, in, pl, pl->inputs[0]);
    }
    arg_int(in, 0, 1);
    arg_val(l, in, n->inputs[0]);
    if (info->fold_bn >= 0) {
        in->args[in->nargs++] = w_arg;
        in->args[in->nargs++] = b_arg;
    } else {
        arg_val(l, in, n->inputs[1]);
        if (n->ninputs > 2)
            arg_val(l, in, n->inputs[2]);
        else
            in->args[in->nargs++] = (LArg){ .kind = LA_NULL };
    }
    arg_act(in, act);
    arg_float(in, alpha, false);
    if (info->needs_preact)
        arg_val(l, in, id);
    else
        in->args[in->nargs++] = (LArg){ .kind = LA_NULL };
    arg_ptr(in, ptr_of(l, info->act >= 0 ? (uint32_t)info->act : out));
    if (info->pool >= 0)
        arg_ptr(in, ptr_of(l, (uint32_t)info->pool));
}

/* The companion node of `owner` that holds a parameter gradient the
 * owner's kernel computes: a conv's bias, a batchnorm's gamma (which 0) or
 * beta (1), attention's four parameters (which 0-3), or a recurrent
 * layer's parameter whose node is `which`. */
static int32_t companion(Lower *l, uint32_t owner, int64_t which)
{
    const Graph *g = l->u->g;
    for (uint32_t j = owner + 1; j < g->nnodes; j++) {
        const Node *m = &g->nodes[j];
        if (l->u->info[j].dead || m->ninputs < 1 || m->inputs[0] != owner)
            continue;
        bool numbered = m->op == OP_batchnorm_grad_param || m->op == OP_attention_grad_param ||
                        m->op == OP_layernorm_grad_param;
        if (m->op == OP_conv2d_grad_b || (numbered && ir_attr(m, "which")->i == which) ||
            (m->op == OP_recurrent_grad_param && m->inputs[1] == which))
            return (int32_t)j;
    }
    return -1;
}

/* A gradient pointer for a parameter gradient node, and whether to add to it. */
static void arg_grad_or_null(Lower *l, LInstr *in, int32_t node, bool *accumulate)
{
    if (node < 0) {
        in->args[in->nargs++] = (LArg){ .kind = LA_NULL };
        return;
    }
    const Node *n = node_at(l, (uint32_t)node);
    *accumulate |= l->grad_written[n->param];
    l->grad_written[n->param] = true;
    arg_val(l, in, (uint32_t)node);
}

static const char *const recurrent_fields[] = { "cell", "steps", "inputs", "units", "sequences" };

/* A recurrent layer as rt_recurrent. */
static void arg_recurrent(Lower *l, LInstr *in, const Node *layer)
{
    rt_recurrent r;
    plan_recurrent(l->u->g, layer, &r);
    int64_t *v = arena_alloc(l->c->arena, sizeof *v * 5);
    int64_t vals[5] = { r.cell, r.steps, r.inputs, r.units, r.sequences };
    memcpy(v, vals, sizeof vals);
    in->args[in->nargs++] = (LArg){ .kind = LA_STRUCT, .type = "rt_recurrent", .fields = recurrent_fields, .vals = v,
                                    .nvals = 5 };
}

/* A node's aux storage (a recurrent layer's state, its gradient's working
 * space), NULL when it needs none. */
static void arg_aux(Lower *l, LInstr *in, uint32_t node)
{
    const NodeInfo *info = &l->u->info[node];
    if (info->aux_floats > 0)
        arg_ptr(in, (LPtr){ BASE_ARENA, info->aux_offset, true });
    else
        in->args[in->nargs++] = (LArg){ .kind = LA_NULL };
}

/* x, weight_ih, weight_hh, bias -> y; in training the state keeps what
 * the gradient reads. */
static void lower_recurrent(Lower *l, uint32_t id)
{
    const Node *n = node_at(l, id);
    LInstr *in = emit(l, LI_CALL, "rt_recurrent_forward", n);
    arg_recurrent(l, in, n);
    arg_int(in, 0, 1);
    arg_bool(in, l->u->training);
    for (int k = 0; k < 4; k++)
        arg_val(l, in, n->inputs[k]);
    arg_aux(l, in, id);
    arg_val(l, in, id);
}

/* Backpropagation through time: dx (unless nothing reads it) and the
 * three parameter gradients in one kernel. */
static void lower_recurrent_grad(Lower *l, uint32_t id)
{
    const Node *n = node_at(l, id), *fwd = node_at(l, n->inputs[2]);
    bool accumulate = false;
    LInstr *in = emit(l, LI_CALL, "rt_recurrent_backward", n);
    arg_recurrent(l, in, fwd);
    arg_int(in, 0, 1);
    arg_val(l, in, n->inputs[1]);
    arg_val(l, in, fwd->inputs[1]);
    arg_val(l, in, fwd->inputs[2]);
    arg_aux(l, in, n->inputs[2]);
    arg_val(l, in, n->inputs[2]);
    arg_val(l, in, n->inputs[0]);
    arg_aux(l, in, id);
    if (l->u->info[id].value_unused) {
        in->args[in->nargs++] = (LArg){ .kind = LA_NULL };
        in->comment = arena_printf(l->c->arena, "%s (no dx: its input needs no gradient)", in->comment);
    } else {
        arg_val(l, in, id);
    }
    for (int k = 1; k < fwd->ninputs; k++)
        arg_grad_or_null(l, in, companion(l, id, fwd->inputs[k]), &accumulate);
    arg_bool(in, accumulate);
}

static void lower_param_grad(Lower *l, uint32_t id)
{
    const Node *n = node_at(l, id);
    uint32_t dy = n->inputs[0];
    const Node *dyn = node_at(l, dy);
    bool accumulate = l->grad_written[n->param];
    l->grad_written[n->param] = true;
    if (n->op == OP_bias_grad) {
        LInstr *in = emit(l, LI_CALL, "rt_sum_rows", n);
        arg_int(in, 0, rows(dyn));
        arg_int(in, last_dim(dyn), 0);
        arg_val(l, in, dy);
        arg_val(l, in, id);
        arg_bool(in, accumulate);
        return;
    }
    /* dW (N,K) = dy^T (N, rows) x (rows, K), rows = batch * rows per sample */
    uint32_t x = n->inputs[1];
    int64_t units = last_dim(dyn), k = last_dim(node_at(l, x));
    LInstr *in = emit(l, LI_CALL, "rt_sgemm", n);
    arg_bool(in, true);
    arg_bool(in, false);
    arg_int(in, units, 0);
    arg_int(in, k, 0);
    arg_int(in, 0, rows(dyn));
    arg_float(in, 1, false);
    arg_val(l, in, dy);
    arg_int(in, units, 0);
    arg_val(l, in, x);
    arg_int(in, k, 0);
    arg_float(in, accumulate ? 1 : 0, false);
    arg_val(l, in, id);
    arg_int(in, k, 0);
}

/* concat and its gradient copy between a part (an input, or its gradient)
 * and its slice of a whole (the output, or the output's gradient): per
 * sample the whole is `outer` rows of `total` floats, the part columns
 * [start, start + width) of each, so with the batch it is one rt_copy_rows
 * over batch * outer rows.
 * Why copies and not a free concat, each input written in place into its
 * slice: values are batch-major, so a slice along a per-sample axis is not
 * a dense (batch, ...) tensor but strided rows, and every kernel that can
 * produce an input (GEMM epilogues, convolutions, pooling, fused loops)
 * writes dense output. A free concat needs an output stride in all of
 * them and a planner that places each input inside the output's lifetime;
 * the copy costs one pass over memory that the layers feeding it already
 * make several times over. */
static void copy_slice(Lower *l, const Node *n, int axis, uint32_t whole, uint32_t part, int64_t start, bool into_whole)
{
    const Shape *s = &node_at(l, whole)->shape;
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; d++)
        outer *= s->dim[d];
    for (int d = axis + 1; d < s->rank; d++)
        inner *= s->dim[d];
    int64_t total = s->dim[axis] * inner, width = node_at(l, part)->shape.dim[axis] * inner;
    LArg slice = { .kind = LA_PTR, .ptr = ptr_of(l, whole), .i = start * inner };
    LArg dense = { .kind = LA_PTR, .ptr = ptr_of(l, part) };
    LInstr *in = emit(l, LI_CALL, "rt_copy_rows", n);
    arg_int(in, 0, outer);
    arg_int(in, width, 0);
    in->args[in->nargs++] = into_whole ? dense : slice;
    arg_int(in, into_whole ? width : total, 0);
    in->args[in->nargs++] = into_whole ? slice : dense;
    arg_int(in, into_whole ? total : width, 0);
}

static void lower_concat(Lower *l, uint32_t id)
{
    const Node *n = node_at(l, id);
    int axis = shape_concat_axis(n);
    int64_t start = 0;
    for (int k = 0; k < n->ndata; k++) {
        copy_slice(l, n, axis, id, n->inputs[k], start, true);
        start += node_at(l, n->inputs[k])->shape.dim[axis];
    }
}

/* --------------------------------------------------------- attention */

static const char *const attention_fields[] = { "t", "d", "heads", "causal" };

/* An attention node's rt_attention. */
static void arg_attention(Lower *l, LInstr *in, const Node *fwd)
{
    int64_t *v = arena_alloc(l->c->arena, sizeof *v * 4);
    v[0] = fwd->shape.dim[0];
    v[1] = fwd->shape.dim[1];
    v[2] = ir_attr(fwd, "heads")->i;
    v[3] = ir_attr(fwd, "causal")->i;
    in->args[in->nargs++] = (LArg){ .kind = LA_STRUCT, .type = "rt_attention", .fields = attention_fields, .vals = v,
                                    .nvals = 4 };
}

/* k floats per sample past a per-sample pointer. */
static LPtr past(LPtr p, int64_t k)
{
    p.offset += k;
    return p;
}

static LPtr work_of(Lower *l, uint32_t id)
{
    return (LPtr){ BASE_ARENA, l->u->info[id].work_offset, true };
}

/* The training forward keeps qkv, ctx and the probabilities after y in the
 * node's slot, where its gradient finds them (plan_attention_parts); at
 * inference they go to the node's workspace, without the probabilities.
 * Why one op and not dense, attention core, dense: the graph keeps the
 * layer as the user wrote it (its parameters and their names are the
 * layer's), and the kernel owns the loop over heads, as DESIGN.md has it
 * for composite layers; lowering would gain nothing from three nodes, as
 * the projections are the same rt_sgemm calls either way. */
static void lower_attention(Lower *l, uint32_t id)
{
    const Node *n = node_at(l, id);
    AttentionParts parts = plan_attention_parts(n, l->u->training);
    LPtr base = l->u->training ? ptr_of(l, id) : work_of(l, id);
    if (base.base != BASE_ARENA)
        die("attention %s: its saved values are not in the arena", n->name);
    LInstr *in = emit(l, LI_CALL, "rt_attention_forward", n);
    arg_attention(l, in, n);
    arg_int(in, 0, 1);
    for (int k = 0; k < n->ninputs; k++) /* x, qkv_weight, qkv_bias, out_weight, out_bias */
        arg_val(l, in, n->inputs[k]);
    arg_ptr(in, past(base, parts.qkv));
    arg_ptr(in, past(base, parts.ctx));
    if (l->u->training)
        arg_ptr(in, past(base, parts.probs));
    else
        in->args[in->nargs++] = (LArg){ .kind = LA_NULL };
    arg_val(l, in, id);
}

/* Whether a live node other than the parameter gradients computed by
 * `owner`'s kernel reads owner's value. */
static bool read_beyond_companions(Lower *l, uint32_t owner)
{
    const Graph *g = l->u->g;
    for (uint32_t j = owner + 1; j < g->nnodes; j++) {
        const Node *m = &g->nodes[j];
        if (l->u->info[j].dead || m->op == OP_attention_grad_param)
            continue;
        for (int k = 0; k < m->ninputs; k++)
            if (m->inputs[k] == owner)
                return true;
    }
    return false;
}

/* dx (when something reads it: not for a model input) and the parameter
 * gradients, from what the forward kept. */
static void lower_attention_grad(Lower *l, uint32_t id)
{
    const Node *n = node_at(l, id), *fwd = node_at(l, n->inputs[2]);
    AttentionParts parts = plan_attention_parts(fwd, true);
    LPtr saved = ptr_of(l, n->inputs[2]);
    LInstr *in = emit(l, LI_CALL, "rt_attention_backward", n);
    arg_attention(l, in, fwd);
    arg_int(in, 0, 1);
    arg_val(l, in, n->inputs[1]);
    arg_val(l, in, fwd->inputs[1]);
    arg_val(l, in, fwd->inputs[3]);
    arg_ptr(in, past(saved, parts.qkv));
    arg_ptr(in, past(saved, parts.ctx));
    arg_ptr(in, past(saved, parts.probs));
    arg_val(l, in, n->inputs[0]);
    arg_ptr(in, work_of(l, id));
    if (read_beyond_companions(l, id))
        arg_val(l, in, id);
    else
        in->args[in->nargs++] = (LArg){ .kind = LA_NULL };
    bool accumulate = false;
    for (int k = 0; k < fwd->ninputs - fwd->ndata; k++) /* qkv_weight, qkv_bias, out_weight, out_bias */
        arg_grad_or_null(l, in, companion(l, id, k), &accumulate);
    arg_bool(in, accumulate);
}

/* embed: one table row per id; its gradient, the scatter-add of dy's rows
 * into the table's, deterministic in the runtime (rt_embed_backward). */
static void lower_embed(Lower *l, uint32_t id)
{
    const Node *n = node_at(l, id);
    const Node *w = node_at(l, n->op == OP_embed ? n->inputs[1] : id);
    uint32_t ids = n->op == OP_embed ? n->inputs[0] : n->inputs[1];
    LInstr *in = emit(l, LI_CALL, n->op == OP_embed ? "rt_embed_forward" : "rt_embed_backward", n);
    arg_int(in, 0, elems(node_at(l, ids)));
    arg_int(in, w->shape.dim[0], 0);
    arg_int(in, w->shape.dim[1], 0);
    arg_ids(l, in, ids);
    if (n->op == OP_embed) {
        arg_val(l, in, n->inputs[1]);
        arg_val(l, in, id);
        return;
    }
    bool accumulate = l->grad_written[n->param];
    l->grad_written[n->param] = true;
    arg_val(l, in, n->inputs[0]);
    arg_val(l, in, id);
    arg_bool(in, accumulate);
}

/* layernorm over the last axis: every row of every sample is one row of
 * the kernel. In training the node's slot holds y, then the mean and the
 * 1/std of each row (batch * rows floats each), which the gradient reads. */
static void lower_layernorm(Lower *l, uint32_t id)
{
    const Node *n = node_at(l, id);
    int64_t d = last_dim(n), r = rows(n);
    if (n->op == OP_layernorm) {
        LInstr *in = emit(l, LI_CALL, "rt_layernorm_forward", n);
        arg_int(in, 0, r);
        arg_int(in, d, 0);
        arg_val(l, in, n->inputs[0]);
        arg_val(l, in, n->inputs[1]);
        arg_val(l, in, n->inputs[2]);
        arg_float(in, ir_attr(n, "eps")->f, false);
        if (l->u->training) {
            LPtr mean = ptr_of(l, id), rstd = mean;
            mean.offset += elems(n);
            rstd.offset += elems(n) + r;
            arg_ptr(in, mean);
            arg_ptr(in, rstd);
        } else {
            in->args[in->nargs++] = (LArg){ .kind = LA_NULL };
            in->args[in->nargs++] = (LArg){ .kind = LA_NULL };
        }
        arg_val(l, in, id);
        return;
    }
    /* layernorm_grad (dy, x, fwd) */
    const Node *fwd = node_at(l, n->inputs[2]);
    bool accumulate = false;
    LInstr *in = emit(l, LI_CALL, "rt_layernorm_backward", n);
    arg_int(in, 0, r);
    arg_int(in, d, 0);
    arg_val(l, in, n->inputs[1]);
    arg_val(l, in, n->inputs[0]);
    arg_val(l, in, fwd->inputs[1]);
    LPtr mean = ptr_of(l, n->inputs[2]), rstd = mean;
    mean.offset += elems(n);
    rstd.offset += elems(n) + r;
    arg_ptr(in, mean);
    arg_ptr(in, rstd);
    arg_val(l, in, id);
    arg_grad_or_null(l, in, companion(l, id, 0), &accumulate);
    arg_grad_or_null(l, in, companion(l, id, 1), &accumulate);
    arg_bool(in, accumulate);
}

static bool lower_node(Lower *l, uint32_t id)
{
    const Node *n = node_at(l, id);
    const NodeInfo *info = &l->u->info[id];
    if (info->dead || info->alias_of >= 0 || info->fused_into >= 0 || info->loop_into >= 0)
        return true;
    LInstr *in;
    switch (n->op) {
    case OP_input: case OP_param: case OP_flatten: case OP_reshape:
        return true;
    case OP_dense:
        lower_dense(l, id);
        return true;
    case OP_relu: case OP_leaky_relu: case OP_gelu: case OP_tanh: case OP_sigmoid:
        if (has_loop_inputs(l, id))
            return lower_loop(l, id);
        in = emit(l, LI_CALL, "rt_act_forward", n);
        arg_act(in, act_of(n->op));
        arg_float(in, n->op == OP_leaky_relu ? ir_attr(n, "alpha")->f : 0, false);
        arg_int(in, 0, elems(n));
        arg_val(l, in, n->inputs[0]);
        arg_val(l, in, id);
        return true;
    case OP_dropout:
        in = emit(l, LI_CALL, "rt_dropout_forward", n);
        arg_int(in, 0, elems(n));
        arg_float(in, ir_attr(n, "rate")->f, false);
        arg_seed(in, id);
        arg_val(l, in, n->inputs[0]);
        arg_val(l, in, id);
        return true;
    case OP_softmax:
        in = emit(l, LI_CALL, "rt_softmax_forward", n);
        arg_int(in, 0, rows(n));
        arg_int(in, last_dim(n), 0);
        arg_val(l, in, n->inputs[0]);
        arg_val(l, in, id);
        return true;
    case OP_scale: case OP_add: case OP_sub: case OP_mul: case OP_position:
        return lower_loop(l, id);
    case OP_embed: case OP_embed_grad:
        lower_embed(l, id);
        return true;
    case OP_layernorm: case OP_layernorm_grad:
        lower_layernorm(l, id);
        return true;
    case OP_position_grad: {
        /* the table's gradient: dy (batch, T*D) summed over the batch */
        bool accumulate = l->grad_written[n->param];
        l->grad_written[n->param] = true;
        in = emit(l, LI_CALL, "rt_sum_rows", n);
        arg_int(in, 0, 1);
        arg_int(in, elems(n), 0);
        arg_val(l, in, n->inputs[0]);
        arg_val(l, in, id);
        arg_bool(in, accumulate);
        return true;
    }
    case OP_cross_entropy: {
        const Node *z = node_at(l, n->inputs[0]);
        in = emit(l, LI_LOSS_CALL, "rt_softmax_xent_forward", n);
        in->coef = info->loss_coef / (double)rows(z);
        arg_int(in, 0, rows(z));
        arg_int(in, last_dim(z), 0);
        arg_val(l, in, n->inputs[0]);
        arg_val(l, in, n->inputs[1]);
        arg_val(l, in, id);
        return true;
    }
    case OP_mse: case OP_bce: {
        const Node *z = node_at(l, n->inputs[0]);
        bool number = n->ndata < 2; /* bce(D(real), 1): one target for every element */
        in = emit(l, LI_LOSS_CALL, n->op == OP_mse ? number ? "rt_mse_forward_const" : "rt_mse_forward"
                                                  : number ? "rt_bce_forward_const" : "rt_bce_forward", n);
        in->coef = info->loss_coef / (double)elems(z);
        arg_int(in, 0, elems(z));
        arg_val(l, in, n->inputs[0]);
        if (number)
            arg_float(in, ir_attr(n, "target")->f, false);
        else
            arg_val(l, in, n->inputs[1]);
        return true;
    }
    case OP_dense_grad_x: {
        /* dx (rows, K) = dy (rows, N) W (N, K) */
        const Node *dy = node_at(l, n->inputs[0]);
        int64_t units = last_dim(dy), k = last_dim(n);
        in = emit(l, LI_CALL, "rt_sgemm", n);
        arg_bool(in, false);
        arg_bool(in, false);
        arg_int(in, 0, rows(n));
        arg_int(in, k, 0);
        arg_int(in, units, 0);
        arg_float(in, 1, false);
        arg_val(l, in, n->inputs[0]);
        arg_int(in, units, 0);
        arg_val(l, in, n->inputs[1]);
        arg_int(in, k, 0);
        arg_float(in, 0, false);
        arg_val(l, in, id);
        arg_int(in, k, 0);
        return true;
    }
    case OP_dense_grad_w: case OP_bias_grad:
        lower_param_grad(l, id);
        return true;
    case OP_act_grad: {
        uint32_t saved = n->inputs[1];
        in = emit(l, LI_CALL, "rt_act_backward", n);
        arg_act(in, act_of((Op)ir_attr(n, "act")->i));
        arg_float(in, ir_attr(n, "alpha")->f, false);
        arg_int(in, 0, elems(n));
        arg_val(l, in, saved);
        arg_val(l, in, saved);
        arg_val(l, in, n->inputs[0]);
        arg_val(l, in, id);
        return true;
    }
    case OP_dropout_grad:
        in = emit(l, LI_CALL, "rt_dropout_backward", n);
        arg_int(in, 0, elems(n));
        arg_float(in, ir_attr(n, "rate")->f, false);
        arg_seed(in, ir_attr(n, "salt")->i);
        arg_val(l, in, n->inputs[0]);
        arg_val(l, in, id);
        return true;
    case OP_softmax_grad:
        in = emit(l, LI_CALL, "rt_softmax_backward", n);
        arg_int(in, 0, rows(n));
        arg_int(in, last_dim(n), 0);
        arg_val(l, in, n->inputs[1]);
        arg_val(l, in, n->inputs[0]);
        arg_val(l, in, id);
        return true;
    case OP_cross_entropy_grad:
        in = emit(l, LI_CALL, "rt_softmax_xent_backward", n);
        arg_int(in, 0, rows(n));
        arg_int(in, last_dim(n), 0);
        arg_val(l, in, n->inputs[2]);
        arg_val(l, in, n->inputs[1]);
        arg_float(in, ir_attr(n, "scale")->f, true);
        arg_val(l, in, id);
        return true;
    case OP_mse_grad: case OP_bce_grad: {
        bool number = n->ndata < 2;
        in = emit(l, LI_CALL, n->op == OP_mse_grad ? number ? "rt_mse_backward_const" : "rt_mse_backward"
                                                   : number ? "rt_bce_backward_const" : "rt_bce_backward", n);
        arg_int(in, 0, elems(n));
        arg_val(l, in, n->inputs[0]);
        if (number)
            arg_float(in, ir_attr(n, "target")->f, false);
        else
            arg_val(l, in, n->inputs[1]);
        arg_float(in, ir_attr(n, "scale")->f, true);
        arg_val(l, in, id);
        return true;
    }
    case OP_conv2d:
        lower_conv(l, id);
        return true;
    case OP_maxpool: case OP_avgpool:
        in = emit(l, LI_CALL, n->op == OP_maxpool ? "rt_maxpool_forward" : "rt_avgpool_forward", n);
        arg_pool(l, in, n, n->inputs[0]);
        arg_int(in, 0, 1);
        arg_val(l, in, n->inputs[0]);
        arg_val(l, in, id);
        return true;
    case OP_global_avgpool: {
        const Shape *s = &node_at(l, n->inputs[0])->shape;
        in = emit(l, LI_CALL, "rt_global_avgpool_forward", n);
        arg_int(in, 0, 1);
        arg_int(in, s->dim[0], 0);
        arg_int(in, s->dim[1] * s->dim[2], 0);
        arg_val(l, in, n->inputs[0]);
        arg_val(l, in, id);
        return true;
    }
    case OP_batchnorm: {
        int64_t c = n->shape.dim[0], hw = elems(n) / c;
        in = emit(l, LI_CALL, l->u->training ? "rt_batchnorm_forward_train" : "rt_batchnorm_forward_eval", n);
        arg_int(in, 0, 1);
        arg_int(in, c, 0);
        arg_int(in, hw, 0);
        arg_val(l, in, n->inputs[0]);
        arg_val(l, in, n->inputs[1]);
        arg_val(l, in, n->inputs[2]);
        arg_val(l, in, n->inputs[3]);
        arg_val(l, in, n->inputs[4]);
        if (l->u->training)
            arg_float(in, ir_attr(n, "momentum")->f, false);
        arg_float(in, ir_attr(n, "eps")->f, false);
        if (l->u->training) {
            /* mean and 1/std after y in the node's slot: c floats each */
            LPtr stats = ptr_of(l, id);
            stats.offset += elems(n);
            arg_ptr(in, stats);
            in->args[in->nargs++] = (LArg){ .kind = LA_PTR, .ptr = stats, .i = c };
        }
        arg_val(l, in, id);
        return true;
    }
    case OP_conv2d_grad_x: {
        in = emit(l, LI_CALL, "rt_conv2d_backward_data", n);
        arg_conv(l, in, n, n->inputs[2]);
        arg_int(in, 0, 1);
        arg_val(l, in, n->inputs[0]);
        arg_val(l, in, n->inputs[1]);
        arg_val(l, in, id);
        return true;
    }
    case OP_conv2d_grad_w: {
        bool accumulate = l->grad_written[n->param];
        l->grad_written[n->param] = true;
        in = emit(l, LI_CALL, "rt_conv2d_backward_filter", n);
        arg_conv(l, in, n, n->inputs[1]);
        arg_int(in, 0, 1);
        arg_val(l, in, n->inputs[1]);
        arg_val(l, in, n->inputs[0]);
        arg_val(l, in, id);
        arg_grad_or_null(l, in, companion(l, id, 0), &accumulate);
        arg_bool(in, accumulate);
        return true;
    }
    case OP_conv2d_grad_b: case OP_batchnorm_grad_param: case OP_attention_grad_param:
    case OP_layernorm_grad_param:
        return true; /* computed by the kernel of the node they read */
    case OP_attention:
        lower_attention(l, id);
        return true;
    case OP_attention_grad:
        lower_attention_grad(l, id);
        return true;
    case OP_maxpool_grad:
        in = emit(l, LI_CALL, info->through_relu ? "rt_maxpool_relu_backward" : "rt_maxpool_backward", n);
        if (info->through_relu)
            in->comment = arena_printf(l->c->arena, "%s + relu gradient", in->comment);
        arg_pool(l, in, n, n->inputs[1]);
        arg_int(in, 0, 1);
        arg_val(l, in, n->inputs[1]);
        if (!info->through_relu)
            arg_val(l, in, n->inputs[2]);
        arg_val(l, in, n->inputs[0]);
        arg_val(l, in, id);
        return true;
    case OP_avgpool_grad:
        in = emit(l, LI_CALL, "rt_avgpool_backward", n);
        arg_pool(l, in, n, n->inputs[1]);
        arg_int(in, 0, 1);
        arg_val(l, in, n->inputs[0]);
        arg_val(l, in, id);
        return true;
    case OP_global_avgpool_grad: {
        const Shape *s = &n->shape;
        in = emit(l, LI_CALL, "rt_global_avgpool_backward", n);
        arg_int(in, 0, 1);
        arg_int(in, s->dim[0], 0);
        arg_int(in, s->dim[1] * s->dim[2], 0);
        arg_val(l, in, n->inputs[0]);
        arg_val(l, in, id);
        return true;
    }
    case OP_batchnorm_grad: {
        const Node *fwd = node_at(l, n->inputs[2]);
        int64_t c = n->shape.dim[0], hw = elems(n) / c;
        bool accumulate = false;
        in = emit(l, LI_CALL, "rt_batchnorm_backward", n);
        arg_int(in, 0, 1);
        arg_int(in, c, 0);
        arg_int(in, hw, 0);
        arg_val(l, in, n->inputs[1]);
        arg_val(l, in, n->inputs[0]);
        arg_val(l, in, fwd->inputs[1]);
        LPtr stats = ptr_of(l, n->inputs[2]);
        stats.offset += elems(n);
        arg_ptr(in, stats);
        in->args[in->nargs++] = (LArg){ .kind = LA_PTR, .ptr = stats, .i = c };
        arg_val(l, in, id);
        arg_grad_or_null(l, in, companion(l, id, 0), &accumulate);
        arg_grad_or_null(l, in, companion(l, id, 1), &accumulate);
        arg_bool(in, accumulate);
        return true;
    }
    case OP_concat:
        lower_concat(l, id);
        return true;
    case OP_concat_grad:
        copy_slice(l, n, (int)ir_attr(n, "axis")->i, n->inputs[0], id, ir_attr(n, "start")->i, false);
        return true;
    case OP_rnn: case OP_lstm: case OP_gru:
        lower_recurrent(l, id);
        return true;
    case OP_recurrent_grad:
        lower_recurrent_grad(l, id);
        return true;
    case OP_recurrent_grad_param:
        return true; /* computed by the recurrent_grad it reads */
    case OP_reduce_to: case OP_expand: {
        /* the smaller shape padded to the larger's rank: 1 where it is repeated */
        static const char *const fields[] = { "rank", "out[0]", "out[1]", "out[2]", "out[3]", "out[4]", "out[5]",
                                              "keep[0]", "keep[1]", "keep[2]", "keep[3]", "keep[4]", "keep[5]" };
        bool expand = n->op == OP_expand;
        const Shape *big = expand ? &n->shape : &node_at(l, n->inputs[0])->shape;
        const Shape *small = expand ? &node_at(l, n->inputs[0])->shape : &n->shape;
        int64_t *vals = arena_alloc(l->c->arena, sizeof *vals * 13);
        vals[0] = big->rank;
        for (int d = 0; d < 6; d++) {
            int pad = big->rank - small->rank;
            vals[1 + d] = d < big->rank ? big->dim[d] : 1;
            vals[7 + d] = d < pad || d >= big->rank ? 1 : small->dim[d - pad];
        }
        in = emit(l, LI_CALL, expand ? "rt_broadcast_copy" : "rt_sum_broadcast", n);
        arg_int(in, 0, 1);
        in->args[in->nargs++] = (LArg){ .kind = LA_STRUCT, .type = "rt_broadcast", .fields = fields, .vals = vals, .nvals = 13 };
        arg_val(l, in, n->inputs[0]);
        arg_val(l, in, id);
        return true;
    }
    case OP_model_call:
        die("model call in a unit");
    case OP_COUNT:
        break;
    }
    die("lowering: node %u has no op", id);
}

/* A model whose output is its input, reshaped or through inference
 * dropout (`x -> flatten`), computes nothing: the plan gives the output
 * the input's storage, so copy it into `out`. */
static void copy_input_to_out(Lower *l)
{
    uint32_t r = l->u->out_node;
    while (l->u->info[r].alias_of >= 0)
        r = (uint32_t)l->u->info[r].alias_of;
    const Node *n = node_at(l, r);
    if (n->op != OP_input)
        return;
    LInstr *in = emit(l, LI_CALL, "rt_copy_rows", node_at(l, l->u->out_node));
    int64_t k = elems(n);
    arg_int(in, 0, 1);
    arg_int(in, k, 0);
    arg_val(l, in, r);
    arg_int(in, k, 0);
    arg_ptr(in, (LPtr){ BASE_OUT, 0, true });
    arg_int(in, k, 0);
}

/* ---------------------------------------------- gradients made final */

/* The trainable parameter whose gradient holds grads[offset], or -1. */
static int grad_owner(Lower *l, LPtr p, int64_t extra)
{
    if (p.base != BASE_GRADS)
        return -1;
    int64_t at = p.offset + extra;
    const Program *prog = l->c->prog;
    for (int pi = 0; pi < (int)prog->nparams; pi++) {
        int64_t off = l->pl->offset[pi];
        if (prog->params[pi].trainable && off >= 0 && at >= off &&
            at < off + ir_shape_elems(&prog->params[pi].shape))
            return pi;
    }
    return -1;
}

static void touch_expr(Lower *l, const LExpr *e, int k, int *last)
{
    if (!e)
        return;
    int pi = e->kind == LE_LOAD ? grad_owner(l, e->ptr, 0) : -1;
    if (pi >= 0)
        last[pi] = k;
    touch_expr(l, e->a, k, last);
    touch_expr(l, e->b, k, last);
}

/* After the last instruction of train_step that writes or reads a trainable
 * parameter's gradient, a call rt_grad_ready(offset, count): from there on
 * the runtime may all-reduce it while the backward pass goes on (dist.c).
 * It reads the finished LIR, so it knows nothing of any op. */
static void mark_grads_ready(Lower *l)
{
    const Program *prog = l->c->prog;
    LFunc *f = l->f;
    int *last = arena_alloc(l->c->arena, sizeof *last * (size_t)(prog->nparams + 1));
    for (int pi = 0; pi < (int)prog->nparams; pi++)
        last[pi] = -1;
    for (int k = 0; k < f->n; k++) {
        const LInstr *in = &f->code[k];
        int pi;
        if ((in->kind == LI_LOOP || in->kind == LI_ZERO) && (pi = grad_owner(l, in->dst, 0)) >= 0)
            last[pi] = k;
        touch_expr(l, in->expr, k, last);
        for (int a = 0; a < in->nargs; a++) {
            const LArg *arg = &in->args[a];
            if (arg->kind == LA_PTR && (pi = grad_owner(l, arg->ptr, arg->i)) >= 0)
                last[pi] = k;
            if (arg->kind == LA_EPILOGUE && arg->has_bias && (pi = grad_owner(l, arg->bias, 0)) >= 0)
                last[pi] = k;
            if (arg->kind == LA_EPILOGUE && arg->has_preact && (pi = grad_owner(l, arg->preact, 0)) >= 0)
                last[pi] = k;
        }
    }
    LInstr *code = f->code;
    int n = f->n;
    f->code = NULL;
    f->n = f->cap = 0;
    for (int k = 0; k < n; k++) {
        Node fake = { .op = OP_param, .span = code[k].span };
        *emit(l, code[k].kind, code[k].fn, &fake) = code[k];
        for (int pi = 0; pi < (int)prog->nparams; pi++) {
            if (last[pi] != k)
                continue;
            const Param *p = &prog->params[pi];
            Node at = { .op = OP_param, .name = p->name, .shape = p->shape, .span = code[k].span };
            LInstr *in = emit(l, LI_CALL, "rt_grad_ready", &at);
            arg_int(in, l->pl->offset[pi], 0);
            arg_int(in, ir_shape_elems(&p->shape), 0);
        }
    }
}

static bool graph_uses_param(const Graph *g, uint32_t pi)
{
    for (int k = 0; k < g->nparams; k++)
        if (g->params[k] == pi)
            return true;
    return false;
}

static bool lower_unit(Compiler *c, Unit *u, const ParamLayout *pl, LFunc *f)
{
    memset(f, 0, sizeof *f);
    f->name = u->name;
    f->training = u->training;
    f->arena_floats = u->arena_floats;
    f->scratch_floats = u->scratch_floats;
    Lower l = { .c = c, .u = u, .f = f, .pl = pl };
    l.grad_written = arena_alloc(c->arena, sizeof *l.grad_written * (c->prog->nparams + 1));
    for (uint32_t i = 0; i < u->g->nnodes; i++) {
        if (u->has_noise && i == u->noise_node && !u->info[i].dead) {
            /* the step's noise source, drawn afresh from its seed */
            const Node *n = node_at(&l, i);
            LInstr *in = emit(&l, LI_CALL, "rt_noise", n);
            arg_int(in, 0, elems(n));
            arg_bool(in, u->noise_uniform);
            arg_seed(in, i);
            arg_val(&l, in, i);
        }
        if (!lower_node(&l, i))
            return false;
    }
    if (u->has_out)
        copy_input_to_out(&l);
    if (!u->training)
        return true;
    /* A trainable parameter no gradient reaches still gets a defined
     * gradient: zero. */
    for (int k = 0; k < pl->n; k++) {
        uint32_t pi = pl->order[k];
        const Param *p = &c->prog->params[pi];
        if (!p->trainable || l.grad_written[pi] || (u->trains && !graph_uses_param(u->trains, pi)))
            continue;
        Node fake = { .op = OP_param, .name = p->name, .shape = p->shape, .span = p->span };
        LInstr *in = emit(&l, LI_ZERO, NULL, &fake);
        in->dst = (LPtr){ BASE_GRADS, pl->offset[pi], false };
        in->n = ir_shape_elems(&p->shape);
    }
    mark_grads_ready(&l);
    return true;
}

static void dump_unit(Compiler *c, const Unit *u)
{
    if (c->dumps && strchr(c->dumps, 'F'))
        fuse_dump(c->dump_out, u);
    if (c->dumps && strchr(c->dumps, 'P'))
        plan_dump(c->dump_out, u);
}

/* The bound on the model input's token ids: the smallest vocabulary of
 * the embeds that read them (through reshapes and concats), 0 if none
 * does. The runtime checks data against it before the kernel sees it. */
static int64_t input_vocab(Compiler *c, const Graph *m)
{
    bool *ids = arena_alloc(c->arena, sizeof *ids * (m->nnodes + 1));
    int64_t vocab = 0;
    for (uint32_t i = 0; i < m->nnodes; i++) {
        const Node *n = &m->nodes[i];
        if (n->op == OP_input)
            ids[i] = i == m->inputs[0] && n->dtype == DT_I32;
        else if ((n->op == OP_flatten || n->op == OP_reshape || n->op == OP_concat) && n->dtype == DT_I32)
            for (int k = 0; k < n->ndata; k++)
                ids[i] |= ids[n->inputs[k]];
        else if (n->op == OP_embed && ids[n->inputs[0]]) {
            int64_t v = ir_attr(n, "vocab")->i;
            vocab = vocab == 0 || v < vocab ? v : vocab;
        }
    }
    return vocab;
}

static int find_model(Compiler *c, const char *name)
{
    for (int i = 0; i < c->prog->nmodels; i++)
        if (!strcmp(c->prog->graphs[i].name, name))
            return i;
    return -1;
}

/* The model a free-form train block's program runs forward: the one its
 * losses call on `noise` (a GAN's generator, for `sample`), else the model
 * of its first step (an autoencoder). */
static int forward_model(Compiler *c, const TrainSpec *ts, bool *on_noise)
{
    const Program *p = c->prog;
    for (int k = 0; k < ts->nsteps; k++) {
        const Graph *loss = &p->graphs[ts->steps_list[k].graph];
        for (uint32_t i = 0; i < loss->nnodes; i++) {
            const Node *n = &loss->nodes[i];
            if (n->op == OP_model_call && loss->nodes[n->inputs[0]].op == OP_input &&
                !strcmp(loss->nodes[n->inputs[0]].name, "noise")) {
                *on_noise = true;
                return (int)n->model;
            }
        }
    }
    *on_noise = false;
    return find_model(c, ts->steps_list[0].model);
}

/* A train block of steps: one parameter block for every model its losses
 * call (each stepped model's trainable tensors contiguous, so its step's
 * optimizer runs over one span), the forward model's inference, and one
 * train_step per step. */
static bool lower_steps(Compiler *c, const TrainSpec *ts, LProgram *lp)
{
    Program *p = c->prog;
    bool on_noise;
    int fm = forward_model(c, ts, &on_noise);
    Graph *m = &p->graphs[fm];
    const Node *x = &m->nodes[m->inputs[0]], *out = &m->nodes[m->output];
    if (m->ninputs != 1 || out->dtype != DT_F32) {
        diag_error(&c->diag, m->span, "model '%s' must take one input and return floats to be run by the program of train block '%s'",
                   m->name, ts->name);
        return false;
    }
    lp->name = ts->name;
    lp->model = m;
    lp->source = c->src.path;
    lp->train = ts;
    lp->noise_input = on_noise;
    lp->x_dtype = x->dtype;
    lp->x_shape = x->shape;
    lp->x_vocab = input_vocab(c, m);
    lp->out_shape = out->shape;
    /* the models, stepped ones first in step order, then the ones only called */
    const Graph **models = arena_alloc(c->arena, sizeof *models * (size_t)(p->nmodels + 1));
    int nm = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int k = 0; k < ts->nsteps; k++) {
            const Graph *loss = &p->graphs[ts->steps_list[k].graph];
            for (uint32_t i = 0; i < (pass ? loss->nnodes : 1); i++) {
                const Graph *g = pass ? (loss->nodes[i].op == OP_model_call ? &p->graphs[loss->nodes[i].model] : NULL)
                                      : &p->graphs[find_model(c, ts->steps_list[k].model)];
                bool seen = g == NULL;
                for (int j = 0; j < nm && !seen; j++)
                    seen = models[j] == g;
                if (!seen)
                    models[nm++] = g;
            }
        }
    bool forward_seen = false;
    for (int j = 0; j < nm; j++)
        forward_seen |= models[j] == m;
    if (!forward_seen)
        models[nm++] = m;
    int64_t (*range)[2] = arena_alloc(c->arena, sizeof *range * (size_t)(nm + 1));
    layout_models(c, models, nm, &lp->layout, range);

    Unit fwd;
    unit_init(c, &fwd, m, "forward", NULL);
    fuse_unit(c, &fwd);
    plan_unit(c, &fwd, &lp->layout);
    dump_unit(c, &fwd);
    if (!lower_unit(c, &fwd, &lp->layout, &lp->forward))
        return false;

    lp->loss_kind = LOSS_BCE;
    lp->y_dtype = DT_F32;
    const Graph *first = &p->graphs[ts->steps_list[0].graph];
    for (int k = 0; k < first->ninputs; k++) {
        const Node *in = &first->nodes[first->inputs[k]];
        if (!strcmp(in->name, "real")) {
            lp->data_dtype = in->dtype;
            lp->data_shape = in->shape;
        }
    }
    lp->reconstructs = ts->nsteps == 1 && !on_noise && x->dtype == DT_F32 && lp->data_dtype == DT_F32 &&
                       ir_shape_elems(&lp->data_shape) == ir_shape_elems(&x->shape) &&
                       ir_shape_elems(&out->shape) == ir_shape_elems(&x->shape);
    lp->nsteps = ts->nsteps;
    lp->steps = arena_alloc(c->arena, sizeof *lp->steps * (size_t)(ts->nsteps + 1));
    for (int k = 0; k < ts->nsteps; k++) {
        LStep *st = &lp->steps[k];
        st->spec = &ts->steps_list[k];
        const Graph *sm = &p->graphs[find_model(c, st->spec->model)];
        for (int j = 0; j < nm; j++)
            if (models[j] == sm) {
                st->begin = range[j][0];
                st->end = range[j][1];
            }
        TrainGraph tg;
        if (!autodiff_build(c, ts, k, &tg))
            return false;
        if (c->dumps && strchr(c->dumps, 'D'))
            ir_dump_graph(c->dump_out, p, tg.g);
        Unit tr;
        unit_init(c, &tr, tg.g, arena_printf(c->arena, "train_step%d", k), &tg);
        fuse_unit(c, &tr);
        plan_unit(c, &tr, &lp->layout);
        dump_unit(c, &tr);
        if (!lower_unit(c, &tr, &lp->layout, &st->fn))
            return false;
    }
    return true;
}

/* The free-form train block a compilation of `model` means: the one named
 * so, or with no name given the file's first one, if it comes before any
 * plain train block. */
static const TrainSpec *free_form_train(Compiler *c, const char *model)
{
    for (int t = 0; t < c->prog->ntrains; t++) {
        const TrainSpec *ts = &c->prog->trains[t];
        if (model ? !strcmp(ts->name, model) && ts->free_form : true)
            return ts->free_form ? ts : NULL;
    }
    return NULL;
}

bool lower_program(Compiler *c, const char *model, LProgram *lp)
{
    Program *p = c->prog;
    memset(lp, 0, sizeof *lp);
    const TrainSpec *free_form = free_form_train(c, model);
    if (free_form)
        return lower_steps(c, free_form, lp);
    int mi = model ? find_model(c, model) : 0;
    if (mi < 0) {
        diag_file_error(&c->diag, "no model named '%s'", model);
        return false;
    }
    Graph *m = &p->graphs[mi];
    lp->name = m->name;
    lp->model = m;
    lp->source = c->src.path;
    const Node *x = &m->nodes[m->inputs[0]], *out = &m->nodes[m->output];
    if (m->ninputs != 1) {
        diag_error(&c->diag, m->span, "model '%s' takes %d inputs; built programs take exactly one", m->name, m->ninputs);
        return false;
    }
    if (out->dtype != DT_F32) {
        diag_error(&c->diag, m->span,
                   "model '%s' returns %s; built programs return floats: end the model with f32 values",
                   m->name, ir_type_str(c, out->dtype, &out->shape));
        return false;
    }
    lp->x_dtype = x->dtype;
    lp->x_shape = x->shape;
    lp->x_vocab = input_vocab(c, m);
    lp->out_shape = out->shape;
    layout_params(c, m, &lp->layout);

    Unit fwd;
    unit_init(c, &fwd, m, "forward", NULL);
    fuse_unit(c, &fwd);
    plan_unit(c, &fwd, &lp->layout);
    dump_unit(c, &fwd);
    if (!lower_unit(c, &fwd, &lp->layout, &lp->forward))
        return false;
    step_lower(c, m, lp);

    for (int t = 0; t < p->ntrains; t++) {
        const TrainSpec *ts = &p->trains[t];
        if (ts->free_form || ts->nsteps != 1 || strcmp(ts->steps_list[0].model, m->name))
            continue;
        lp->train = ts;
    }
    if (!lp->train)
        return true;
    TrainGraph tg;
    if (!autodiff_build(c, lp->train, 0, &tg))
        return false;
    if (c->dumps && strchr(c->dumps, 'D'))
        ir_dump_graph(c->dump_out, p, tg.g);
    const Graph *loss = &p->graphs[lp->train->steps_list[0].graph];
    const Node *lossop = &loss->nodes[loss->output];
    lp->loss_kind = lossop->op == OP_cross_entropy ? LOSS_CROSS_ENTROPY : lossop->op == OP_mse ? LOSS_MSE : LOSS_BCE;
    const Node *y = &tg.g->nodes[tg.y_input];
    lp->y_dtype = y->dtype;
    lp->y_shape = y->shape;
    Unit tr;
    unit_init(c, &tr, tg.g, "train_step", &tg);
    fuse_unit(c, &tr);
    plan_unit(c, &tr, &lp->layout);
    dump_unit(c, &tr);
    return lower_unit(c, &tr, &lp->layout, &lp->train_step);
}

/* `netc check`'s memory lines: the plan for one model, when the code
 * generator supports every op in it. Runs the passes quietly: what they
 * cannot do yet is not an error of the .net file. */
static bool lower_quietly(Compiler *c, const char *model, LProgram *lp)
{
    FILE *devnull = fopen("/dev/null", "w");
    if (!devnull)
        return false;
    FILE *saved_out = c->diag.out;
    int saved_errors = c->diag.errors, saved_warnings = c->diag.warnings;
    const char *saved_dumps = c->dumps;
    c->diag.out = devnull;
    c->dumps = NULL;
    bool ok = lower_program(c, model, lp);
    c->diag.out = saved_out;
    c->diag.errors = saved_errors;
    c->diag.warnings = saved_warnings;
    c->dumps = saved_dumps;
    fclose(devnull);
    return ok;
}

static int state_blocks(const OptSpec *o)
{
    return o->kind == OPTK_ADAM || o->kind == OPTK_ADAMW ? 2 : o->kind == OPTK_SGD && o->momentum == 0 ? 0 : 1;
}

void lower_train_report(FILE *out, Compiler *c, const TrainSpec *ts)
{
    LProgram lp;
    fprintf(out, "train %s: %d step%s, run in this order each iteration\n", ts->name, ts->nsteps, ts->nsteps == 1 ? "" : "s");
    if (!lower_quietly(c, ts->name, &lp)) {
        fputs("  memory plan: not available (the code generator does not support every op here yet)\n", out);
        return;
    }
    double mib = 1.0 / (1024 * 1024);
    fprintf(out, "  memory plan: parameters %.2f MiB (every model the steps call), gradients %.2f MiB\n",
            (double)lp.layout.total * 4 * mib, (double)lp.layout.total * 4 * mib);
    for (int k = 0; k < lp.nsteps; k++) {
        const LStep *st = &lp.steps[k];
        int64_t n = st->end - st->begin;
        fprintf(out, "  step %s: updates %.2f MiB of parameters, optimizer state %.2f MiB, activation arena %lld bytes per sample (%.2f MiB at batch %lld)\n",
                st->spec->model, (double)n * 4 * mib, (double)n * 4 * state_blocks(&st->spec->opt) * mib,
                (long long)st->fn.arena_floats * 4, (double)st->fn.arena_floats * 4 * (double)ts->batch * mib,
                (long long)ts->batch);
    }
    fprintf(out, "  inference (%s): %lld bytes per sample\n", lp.model->name, (long long)lp.forward.arena_floats * 4);
}

void lower_memory_report(FILE *out, Compiler *c, const char *model)
{
    LProgram lp;
    bool ok = lower_quietly(c, model, &lp);
    if (!ok) {
        fputs("  memory plan: not available (the code generator does not support every op here yet)\n", out);
        return;
    }
    double mib = 1.0 / (1024 * 1024);
    fprintf(out, "  memory plan: parameters %.2f MiB", (double)lp.layout.total * 4 * mib);
    if (lp.train) {
        int state = state_blocks(&lp.train->steps_list[0].opt);
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

/* ---------------------------------------------------------------- dump */

static void dump_ptr(FILE *out, LPtr p)
{
    static const char *const names[] = { "none", "arena", "params", "grads", "x", "y", "out" };
    fprintf(out, "%s+%lld%s", names[p.base], (long long)p.offset, p.per_sample ? "*B" : "");
}

static void dump_expr(FILE *out, const LExpr *e)
{
    switch (e->kind) {
    case LE_LOAD:
        dump_ptr(out, e->ptr);
        if (e->period && e->c == 0)
            fprintf(out, "[i %% %lld]", (long long)e->period);
        else
            fputs(e->period ? "[bcast i]" : "[i]", out);
        break;
    case LE_CONST: fprintf(out, "%g", e->c); break;
    case LE_ADD: case LE_SUB: case LE_MUL:
        fputc('(', out);
        dump_expr(out, e->a);
        fprintf(out, " %c ", e->kind == LE_ADD ? '+' : e->kind == LE_SUB ? '-' : '*');
        dump_expr(out, e->b);
        fputc(')', out);
        break;
    case LE_ACT: fputs("act(", out); dump_expr(out, e->a); fputc(')', out); break;
    }
}

static void dump_func(FILE *out, const LFunc *f)
{
    fprintf(out, "func %s (arena %lld floats per sample) {\n", f->name, (long long)f->arena_floats);
    for (int i = 0; i < f->n; i++) {
        const LInstr *in = &f->code[i];
        fprintf(out, "  # %s\n  ", in->comment);
        switch (in->kind) {
        case LI_CALL: case LI_LOSS_CALL:
            if (in->kind == LI_LOSS_CALL)
                fprintf(out, "loss += %g * ", in->coef);
            fprintf(out, "%s(", in->fn);
            for (int k = 0; k < in->nargs; k++) {
                const LArg *a = &in->args[k];
                if (k)
                    fputs(", ", out);
                switch (a->kind) {
                case LA_PTR:
                    dump_ptr(out, a->ptr);
                    if (a->i)
                        fprintf(out, "+%lld", (long long)a->i);
                    break;
                case LA_STRUCT:
                    fprintf(out, "%s{", a->type);
                    for (int v = 0; v < a->nvals; v++)
                        fprintf(out, "%s%lld", v ? "," : "", (long long)a->vals[v]);
                    fputc('}', out);
                    break;
                case LA_NULL: fputs("null", out); break;
                case LA_INT:
                    if (a->i_batch)
                        fprintf(out, "%lld*B%s", (long long)a->i_batch, a->i ? "+" : "");
                    if (a->i || !a->i_batch)
                        fprintf(out, "%lld", (long long)a->i);
                    break;
                case LA_FLOAT: fprintf(out, "%g%s", a->f, a->f_div_batch ? "/B" : ""); break;
                case LA_BOOL: fputs(a->i ? "true" : "false", out); break;
                case LA_ACT: fprintf(out, "act%lld", (long long)a->i); break;
                case LA_SEED: fprintf(out, "seed(%lld)", (long long)a->i); break;
                case LA_POS: fputs("pos", out); break;
                case LA_EPILOGUE:
                    fputs("{bias ", out);
                    if (a->has_bias)
                        dump_ptr(out, a->bias);
                    else
                        fputs("none", out);
                    fprintf(out, ", act%d", a->act);
                    if (a->has_preact) {
                        fputs(", preact ", out);
                        dump_ptr(out, a->preact);
                    }
                    fputc('}', out);
                    break;
                }
            }
            fputs(")\n", out);
            break;
        case LI_LOOP:
            fprintf(out, "for i < %lld*B: ", (long long)in->n);
            dump_ptr(out, in->dst);
            fputs("[i] = ", out);
            dump_expr(out, in->expr);
            fputc('\n', out);
            break;
        case LI_ZERO:
            fprintf(out, "zero %lld floats at ", (long long)in->n);
            dump_ptr(out, in->dst);
            fputc('\n', out);
            break;
        }
    }
    fputs("}\n", out);
}

void lir_dump(FILE *out, const LProgram *lp)
{
    fprintf(out, "program %s: %lld parameters (%lld trainable floats)\n", lp->name, (long long)lp->layout.total,
            (long long)lp->layout.trainable);
    dump_func(out, &lp->forward);
    if (lp->train)
        dump_func(out, &lp->train_step);
    if (lp->has_step)
        dump_func(out, &lp->step);
    else
        fprintf(out, "no step function: %s\n", lp->step_refusal ? lp->step_refusal : "?");
}
