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


typedef struct Lower {
    Compiler *c;
    Unit *u;
    LFunc *f;
    const ParamLayout *pl;
    bool *grad_written; /* per param of the layout's span (index pi - pl->first):
                         * a gradient writer ran already. Sized by the span, not
                         * the program, so lowering each of many models (netc
                         * check's report) stays linear. */
} Lower;

/* An activation node's slope parameter (leaky_relu's alpha), 0 if none. */
static double act_alpha(const Node *n)
{
    return ir_arg_index(n->op, "alpha") >= 0 ? ir_attr(n, "alpha")->f : 0;
}

LInstr *lir_append(Compiler *c, LFunc *f, LKind kind, Kernel fn, Span span)
{
    ARENA_RESERVE(c->arena, f->code, f->n, f->cap, 32);
    LInstr *in = &f->code[f->n++];
    memset(in, 0, sizeof *in);
    in->kind = kind;
    in->fn = fn;
    in->span = span;
    if (kind == LI_CALL || kind == LI_LOSS_CALL) {
        in->cap_args = kernel_info(fn)->nparams;
        in->args = arena_alloc(c->arena, sizeof *in->args * (size_t)(in->cap_args ? in->cap_args : 1));
    }
    return in;
}

void lir_push(LInstr *in, LArg a)
{
    if (in->nargs == in->cap_args)
        die("lowering: more than %d arguments for %s", in->cap_args, kernel_info(in->fn)->name);
    in->args[in->nargs++] = a;
}

static LInstr *emit(Lower *l, LKind kind, Kernel fn, const Node *n)
{
    LInstr *in = lir_append(l->c, l->f, kind, fn, n->span);
    in->comment = arena_printf(l->c->arena, "%s: %s -> %s", n->name ? n->name : "", ir_ops[n->op].name,
                               ir_type_str(l->c, n->dtype, &n->shape));
    in->layer = n->name ? n->name : "";
    in->op = ir_ops[n->op].name;
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


static void arg_ptr(LInstr *in, LPtr p) { lir_push(in, (LArg){ .kind = LA_PTR, .ptr = p }); }
static void arg_val(Lower *l, LInstr *in, uint32_t node) { arg_ptr(in, ptr_of(l, node)); }
/* A pointer to int32 values (token ids), which the C backend casts: they
 * may sit in the float arena (a concat of ids). */
static void arg_ids(Lower *l, LInstr *in, uint32_t node)
{
    lir_push(in, (LArg){ .kind = LA_PTR, .ptr = ptr_of(l, node), .ints = true });
}
static void arg_bool(LInstr *in, bool b) { lir_push(in, (LArg){ .kind = LA_BOOL, .i = b }); }
static void arg_act(LInstr *in, int act) { lir_push(in, (LArg){ .kind = LA_ACT, .i = act }); }
static void arg_seed(LInstr *in, int64_t salt) { lir_push(in, (LArg){ .kind = LA_SEED, .i = salt }); }

/* An int argument: k + per_batch * batch. */
static void arg_int(LInstr *in, int64_t k, int64_t per_batch)
{
    lir_push(in, (LArg){ .kind = LA_INT, .i = k, .i_batch = per_batch });
}

static void arg_float(LInstr *in, double f, bool div_batch)
{
    lir_push(in, (LArg){ .kind = LA_FLOAT, .f = f, .f_div_batch = div_batch });
}

static const Node *node_at(Lower *l, uint32_t i) { return &l->u->g->nodes[i]; }
static int64_t elems(const Node *n) { return ir_shape_elems(&n->shape); }
static int64_t last_dim(const Node *n) { return n->shape.rank ? n->shape.dim[n->shape.rank - 1] : 1; }
/* Rows of a value seen as a matrix over its last dimension, per sample. */
static int64_t rows(const Node *n) { return elems(n) / last_dim(n); }

/* A node that writes the gradient of its parameter: true when another
 * writer ran before it, so it must add to the gradient, not overwrite it. */
static bool grad_writer(Lower *l, const Node *n)
{
    if (param_offset(l->pl, n->param) < 0)
        die("lowering %s: parameter %u is not in the layout", n->name ? n->name : "", n->param);
    bool *written = &l->grad_written[n->param - l->pl->first];
    bool accumulate = *written;
    *written = true;
    return accumulate;
}

/* A value seen as rows over its last dimension (softmax and its
 * gradients): the batch's rows, then the row length. */
static void arg_rows(LInstr *in, const Node *n)
{
    arg_int(in, 0, rows(n));
    arg_int(in, last_dim(n), 0);
}

/* A kernel call whose arguments come from the node alone, written as a
 * recipe: words separated by spaces, one an argument, in the kernel's
 * order (kernels.def has the signatures):
 *   n       the node's elements (per sample, times the batch)
 *   r       its rows over the last dimension (times the batch), then the row length
 *   0 to 4  input k's storage;  o  the node's own
 *   f:NAME  the float attribute NAME;  F:NAME  the same divided by the batch
 *   s       a dropout seed salted by the node;  s:NAME  salted by the int attribute NAME
 *   p0, p1  the pooling geometry (rt_pool2d) over input k, then the batch
 *   c1, c2  the convolution geometry (rt_conv2d) over input k, then the batch
 * Many ops lower to one such call; a recipe keeps each to one line. */
static void arg_pool(Lower *l, LInstr *in, const Node *n, uint32_t x);
static void arg_conv(Lower *l, LInstr *in, const Node *n, uint32_t x);
static bool lower_call(Lower *l, uint32_t id, Kernel fn, const char *recipe)
{
    const Node *n = node_at(l, id);
    LInstr *in = emit(l, LI_CALL, fn, n);
    for (const char *w = recipe; *w; w += strcspn(w, " "), w += *w == ' ') {
        const char *name = w[1] == ':' ? arena_strndup(l->c->arena, w + 2, strcspn(w + 2, " ")) : NULL;
        if (w[0] >= '0' && w[0] <= '4')
            arg_val(l, in, n->inputs[w[0] - '0']);
        else if (w[0] == 'o')
            arg_val(l, in, id);
        else if (w[0] == 'n')
            arg_int(in, 0, elems(n));
        else if (w[0] == 'r')
            arg_rows(in, n);
        else if (w[0] == 'f' || w[0] == 'F')
            arg_float(in, ir_attr(n, name)->f, w[0] == 'F');
        else if (w[0] == 's')
            arg_seed(in, name ? ir_attr(n, name)->i : (int64_t)id);
        else if (w[0] == 'p' || w[0] == 'c') {
            if (w[0] == 'p')
                arg_pool(l, in, n, n->inputs[w[1] - '0']);
            else
                arg_conv(l, in, n, n->inputs[w[1] - '0']);
            arg_int(in, 0, 1);
        } else
            die("lowering %s: recipe \"%s\" has an unknown word at \"%s\"", ir_ops[n->op].name, recipe, w);
    }
    return true;
}

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
    if (!ir_op_is(n->op, OPF_ELEMENTWISE))
        die("no loop expression for %s", ir_ops[n->op].name);
    if (ir_op_is(n->op, OPF_ACTIVATION)) {
        if (!ir_op_is(n->op, OPF_EXACT_INLINE))
            die("%s inside a loop: fuse.c keeps it out", ir_ops[n->op].name);
        e = expr_new(l, LE_ACT);
        e->act = ir_ops[n->op].act;
        e->alpha = act_alpha(n);
        e->a = a;
        return e;
    }
    if (n->op == OP_scale) {
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
    /* add, sub, mul, position (x plus its table) */
    LExpr *b = loop_expr(l, n->inputs[1], root);
    if (!b)
        return NULL;
    e = expr_new(l, n->op == OP_sub ? LE_SUB : n->op == OP_mul ? LE_MUL : LE_ADD);
    e->a = a;
    e->b = b;
    return e;
}

/* A loop that only adds two stored values (a residual add, the sum of a
 * value's gradients, position's table) is rt_add: the same float sums,
 * threaded (the generated loop ran on one thread). */
static bool lower_add(Lower *l, const Node *n, uint32_t id, LExpr *e)
{
    if (e->kind != LE_ADD || e->a->kind != LE_LOAD || e->b->kind != LE_LOAD || e->a->period ||
        (e->b->period && e->b->c != 0))
        return false;
    LInstr *in = emit(l, LI_CALL, K_rt_add, n);
    arg_int(in, 0, elems(n));
    arg_ptr(in, e->a->ptr);
    arg_ptr(in, e->b->ptr);
    arg_int(in, e->b->period, 0);
    arg_val(l, in, id);
    return true;
}

static bool lower_loop(Lower *l, uint32_t id)
{
    const Node *n = node_at(l, id);
    /* an activation the loop cannot compute inline: the loop writes its
     * input, then the kernel runs over it in place */
    bool kernel_act = ir_op_is(n->op, OPF_ACTIVATION) && !ir_op_is(n->op, OPF_EXACT_INLINE);
    LExpr *e = loop_expr(l, kernel_act ? n->inputs[0] : id, id);
    if (!e)
        return false;
    if (!kernel_act && lower_add(l, n, id, e))
        return true;
    LInstr *in = emit(l, LI_LOOP, K_NONE, n);
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
    if (kernel_act) {
        LInstr *act = emit(l, LI_CALL, K_rt_act_forward, n);
        arg_act(act, ir_ops[n->op].act);
        arg_float(act, act_alpha(n), false);
        arg_int(act, 0, elems(n));
        arg_val(l, act, id);
        arg_val(l, act, id);
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

static bool lower_dense(Lower *l, uint32_t id)
{
    const Node *n = node_at(l, id);
    const FusedGroup *gr = unit_anchored(l->u, id);
    int32_t act_node = gr ? gr->act : -1;
    uint32_t x = n->inputs[0], w = n->inputs[1];
    int64_t k = last_dim(node_at(l, x)), units = last_dim(n), r = rows(n);
    LInstr *in = emit(l, LI_CALL, K_rt_sgemm_ex, n);
    if (act_node >= 0)
        in->comment = arena_printf(l->c->arena, "%s + %s", in->comment, ir_ops[node_at(l, (uint32_t)act_node)->op].name);
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
    arg_ptr(in, ptr_of(l, act_node >= 0 ? (uint32_t)act_node : id));
    arg_int(in, units, 0);
    LArg ep = { .kind = LA_EPILOGUE };
    if (n->ninputs > 2) {
        ep.has_bias = true;
        ep.bias = ptr_of(l, n->inputs[2]);
    }
    if (act_node >= 0) {
        const Node *a = node_at(l, (uint32_t)act_node);
        ep.act = ir_ops[a->op].act;
        ep.alpha = act_alpha(a);
        if (gr->keeps_preact) {
            ep.has_preact = true;
            ep.preact = ptr_of(l, id);
        }
    }
    lir_push(in, ep);
    return true;
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
    lir_push(in, (LArg){ .kind = LA_STRUCT, .type = "rt_conv2d", .fields = conv_fields, .vals = v,
                                    .nvals = CONV_FIELDS });
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
    lir_push(in, (LArg){ .kind = LA_STRUCT, .type = "rt_pool2d", .fields = pool_fields, .vals = v, .nvals = 8 });
}

/* The scratch region after the per-sample arena, k floats in. */
static LPtr scratch(Lower *l, int64_t k, LArg *arg)
{
    *arg = (LArg){ .kind = LA_PTR, .ptr = { BASE_ARENA, l->u->arena_floats, true }, .i = k };
    return arg->ptr;
}

/* Inference of a conv with a fused pool whose output y only the pool
 * reads: the kernel gets y = NULL and skips storing it (LeNet's batch-1
 * prediction: 1.7 us of 45 on one thread, mostly conv1's 18,432 floats).
 * Training keeps y for the backward pass. */
static bool pooled_only(const Lower *l, const FusedGroup *gr, uint32_t y)
{
    return gr->pool >= 0 && !l->u->training && l->u->info[y].users == 1 && y != l->u->out_node;
}

static bool lower_conv2d(Lower *l, uint32_t id)
{
    const Node *n = node_at(l, id);
    const FusedGroup none = { .anchor = id, .act = -1, .fold_bn = -1, .pool = -1 };
    const FusedGroup *gr = unit_anchored(l->u, id) ? unit_anchored(l->u, id) : &none;
    LArg w_arg = { .kind = LA_NULL }, b_arg = { .kind = LA_NULL };
    uint32_t out = id;
    if (gr->fold_bn >= 0) {
        /* w' = w * s, b' = (b - mean) * s + beta, s = gamma / sqrt(var + eps) */
        const Node *bn = node_at(l, (uint32_t)gr->fold_bn), *w = node_at(l, n->inputs[1]);
        int64_t wsize = elems(w), k = wsize / w->shape.dim[0];
        LInstr *f = emit(l, LI_CALL, K_rt_batchnorm_fold, bn);
        f->comment = arena_printf(l->c->arena, "%s folded into %s", bn->name, n->name);
        arg_int(f, w->shape.dim[0], 0);
        arg_int(f, k, 0);
        arg_val(l, f, n->inputs[1]);
        if (n->ninputs > 2)
            arg_val(l, f, n->inputs[2]);
        else
            lir_push(f, (LArg){ .kind = LA_NULL });
        for (int j = 1; j <= 4; j++)
            arg_val(l, f, bn->inputs[j]);
        arg_float(f, ir_attr(bn, "eps")->f, false);
        scratch(l, 0, &w_arg);
        scratch(l, (wsize + 15) / 16 * 16, &b_arg);
        lir_push(f, w_arg);
        lir_push(f, b_arg);
        out = (uint32_t)gr->fold_bn;
    }
    LInstr *in = emit(l, LI_CALL, gr->pool >= 0 ? K_rt_conv2d_forward_maxpool : K_rt_conv2d_forward, n);
    rt_act act = RT_ACT_NONE;
    double alpha = 0;
    if (gr->act >= 0) {
        const Node *a = node_at(l, (uint32_t)gr->act);
        in->comment = arena_printf(l->c->arena, "%s + %s", in->comment, ir_ops[a->op].name);
        act = ir_ops[a->op].act;
        alpha = act_alpha(a);
    }
    arg_conv(l, in, n, n->inputs[0]);
    if (gr->pool >= 0) {
        const Node *pl = node_at(l, (uint32_t)gr->pool);
        in->comment = arena_printf(l->c->arena, "%s + %s", in->comment, pl->name ? pl->name : "maxpool");
        arg_pool(l, in, pl, pl->inputs[0]);
    }
    arg_int(in, 0, 1);
    arg_val(l, in, n->inputs[0]);
    if (gr->fold_bn >= 0) {
        lir_push(in, w_arg);
        lir_push(in, b_arg);
    } else {
        arg_val(l, in, n->inputs[1]);
        if (n->ninputs > 2)
            arg_val(l, in, n->inputs[2]);
        else
            lir_push(in, (LArg){ .kind = LA_NULL });
    }
    arg_act(in, act);
    arg_float(in, alpha, false);
    if (gr->keeps_preact)
        arg_val(l, in, id);
    else
        lir_push(in, (LArg){ .kind = LA_NULL });
    uint32_t y = gr->act >= 0 ? (uint32_t)gr->act : out;
    if (pooled_only(l, gr, y))
        lir_push(in, (LArg){ .kind = LA_NULL });
    else
        arg_ptr(in, ptr_of(l, y));
    if (gr->pool >= 0)
        arg_ptr(in, ptr_of(l, (uint32_t)gr->pool));
    return true;
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
        if (l->u->info[j].dead || !ir_op_is(m->op, OPF_COMPANION) || m->inputs[0] != owner)
            continue;
        bool numbered = ir_arg_index(m->op, "which") >= 0, by_param = ir_tensor_args(m->op) == 2;
        if (numbered ? ir_attr(m, "which")->i == which : by_param ? m->inputs[1] == which : true)
            return (int32_t)j;
    }
    return -1;
}

/* A gradient pointer for a parameter gradient node, and whether to add to it. */
static void arg_grad_or_null(Lower *l, LInstr *in, int32_t node, bool *accumulate)
{
    if (node < 0) {
        lir_push(in, (LArg){ .kind = LA_NULL });
        return;
    }
    const Node *n = node_at(l, (uint32_t)node);
    *accumulate |= grad_writer(l, n);
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
    lir_push(in, (LArg){ .kind = LA_STRUCT, .type = "rt_recurrent", .fields = recurrent_fields, .vals = v,
                                    .nvals = 5 });
}

/* A node's aux storage (a recurrent layer's state, its gradient's working
 * space), NULL when it needs none. */
static void arg_aux(Lower *l, LInstr *in, uint32_t node)
{
    const NodeInfo *info = &l->u->info[node];
    if (info->aux_floats > 0)
        arg_ptr(in, (LPtr){ BASE_ARENA, info->aux_offset, true });
    else
        lir_push(in, (LArg){ .kind = LA_NULL });
}

/* A layer over a fused embed (fuse.c's fuse_embeds) reads the embed's
 * token ids, vocabulary size and table where the others read x. */
static void arg_embed_input(Lower *l, LInstr *in, const Node *emb)
{
    arg_ids(l, in, emb->inputs[0]);
    arg_int(in, node_at(l, emb->inputs[1])->shape.dim[0], 0);
    arg_val(l, in, emb->inputs[1]);
}

/* x, weight_ih, weight_hh, bias -> y; in training the state keeps what
 * the gradient reads. */
static bool lower_recurrent(Lower *l, uint32_t id)
{
    const Node *n = node_at(l, id);
    const FusedGroup *gr = unit_anchored(l->u, id);
    bool over_embed = gr && gr->embed >= 0;
    LInstr *in = emit(l, LI_CALL, over_embed ? K_rt_recurrent_forward_embed : K_rt_recurrent_forward, n);
    arg_recurrent(l, in, n);
    arg_int(in, 0, 1);
    arg_bool(in, l->u->training);
    if (over_embed)
        arg_embed_input(l, in, node_at(l, (uint32_t)gr->embed));
    else
        arg_val(l, in, n->inputs[0]);
    for (int k = 1; k < 4; k++)
        arg_val(l, in, n->inputs[k]);
    arg_aux(l, in, id);
    arg_val(l, in, id);
    return true;
}

/* The call of the gradient kernel of a layer that saved its state in the
 * forward pass (n->inputs: dy, x, the forward node): the layer's struct
 * (arg_layer: arg_recurrent, arg_attention), the batch, x and the
 * layer's first weight; the kernel's own arguments follow. */
static LInstr *emit_layer_grad(Lower *l, uint32_t id, Kernel fn, void (*arg_layer)(Lower *, LInstr *, const Node *))
{
    const Node *n = node_at(l, id), *fwd = node_at(l, n->inputs[2]);
    LInstr *in = emit(l, LI_CALL, fn, n);
    arg_layer(l, in, fwd);
    arg_int(in, 0, 1);
    arg_val(l, in, n->inputs[1]);
    arg_val(l, in, fwd->inputs[1]);
    return in;
}

/* Backpropagation through time: dx (unless nothing reads it), or over a
 * fused embed the table's gradient (when the table trains), and the three
 * parameter gradients in one kernel. */
static bool lower_recurrent_grad(Lower *l, uint32_t id)
{
    const Node *n = node_at(l, id), *fwd = node_at(l, n->inputs[2]);
    const FusedGroup *gr = unit_anchored(l->u, id);
    bool over_embed = l->u->info[id].variant == VARIANT_EMBED_TABLE, accumulate = false, accumulate_table = false;
    LInstr *in = emit(l, LI_CALL, over_embed ? K_rt_recurrent_backward_embed : K_rt_recurrent_backward, n);
    arg_recurrent(l, in, fwd);
    arg_int(in, 0, 1);
    if (over_embed)
        arg_embed_input(l, in, node_at(l, fwd->inputs[0]));
    else
        arg_val(l, in, n->inputs[1]);
    arg_val(l, in, fwd->inputs[1]);
    arg_val(l, in, fwd->inputs[2]);
    arg_aux(l, in, n->inputs[2]);
    arg_val(l, in, n->inputs[2]);
    arg_val(l, in, n->inputs[0]);
    arg_aux(l, in, id);
    if (over_embed) {
        arg_grad_or_null(l, in, gr ? gr->embed : -1, &accumulate_table);
        arg_bool(in, accumulate_table);
    } else if (l->u->info[id].variant == VARIANT_PARAMS_ONLY) {
        lir_push(in, (LArg){ .kind = LA_NULL });
        in->comment = arena_printf(l->c->arena, "%s (no dx: its input needs no gradient)", in->comment);
    } else {
        arg_val(l, in, id);
    }
    for (int k = 1; k < fwd->ninputs; k++)
        arg_grad_or_null(l, in, companion(l, id, fwd->inputs[k]), &accumulate);
    arg_bool(in, accumulate);
    return true;
}

static bool lower_param_grad(Lower *l, uint32_t id)
{
    const Node *n = node_at(l, id);
    uint32_t dy = n->inputs[0];
    const Node *dyn = node_at(l, dy);
    bool accumulate = grad_writer(l, n);
    if (n->op == OP_bias_grad) {
        LInstr *in = emit(l, LI_CALL, K_rt_sum_rows, n);
        arg_int(in, 0, rows(dyn));
        arg_int(in, last_dim(dyn), 0);
        arg_val(l, in, dy);
        arg_val(l, in, id);
        arg_bool(in, accumulate);
        return true;
    }
    /* dW (N,K) = dy^T (N, rows) x (rows, K), rows = batch * rows per sample */
    uint32_t x = n->inputs[1];
    int64_t units = last_dim(dyn), k = last_dim(node_at(l, x));
    LInstr *in = emit(l, LI_CALL, K_rt_sgemm, n);
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
    return true;
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
    LInstr *in = emit(l, LI_CALL, K_rt_copy_rows, n);
    arg_int(in, 0, outer);
    arg_int(in, width, 0);
    lir_push(in, into_whole ? dense : slice);
    arg_int(in, into_whole ? width : total, 0);
    lir_push(in, into_whole ? slice : dense);
    arg_int(in, into_whole ? total : width, 0);
}

static bool lower_concat(Lower *l, uint32_t id)
{
    const Node *n = node_at(l, id);
    int axis = shape_concat_axis(n);
    int64_t start = 0;
    for (int k = 0; k < n->ndata; k++) {
        copy_slice(l, n, axis, id, n->inputs[k], start, true);
        start += node_at(l, n->inputs[k])->shape.dim[axis];
    }
    return true;
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
    lir_push(in, (LArg){ .kind = LA_STRUCT, .type = "rt_attention", .fields = attention_fields, .vals = v,
                                    .nvals = 4 });
}

/* k floats per sample past a per-sample pointer. */
static LPtr past(LPtr p, int64_t k)
{
    p.offset += k;
    return p;
}

/* The saved parts of a forward node's slot (plan_slot): the mean and
 * 1/std of a batchnorm or layernorm, in training. */
static void arg_saved_parts(Lower *l, LInstr *in, uint32_t fwd)
{
    SlotLayout slot = plan_slot(node_at(l, fwd));
    for (int k = 0; k < slot.nparts; k++)
        lir_push(in, (LArg){ .kind = LA_PTR, .ptr = past(ptr_of(l, fwd), slot.part[k]), .i = slot.part_fixed[k] });
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
static bool lower_attention(Lower *l, uint32_t id)
{
    const Node *n = node_at(l, id);
    AttentionParts parts = plan_attention_parts(n, l->u->training);
    LPtr base = l->u->training ? ptr_of(l, id) : work_of(l, id);
    if (base.base != BASE_ARENA)
        die("attention %s: its saved values are not in the arena", n->name);
    LInstr *in = emit(l, LI_CALL, K_rt_attention_forward, n);
    arg_attention(l, in, n);
    arg_int(in, 0, 1);
    for (int k = 0; k < n->ninputs; k++) /* x, qkv_weight, qkv_bias, out_weight, out_bias */
        arg_val(l, in, n->inputs[k]);
    arg_ptr(in, past(base, parts.qkv));
    arg_ptr(in, past(base, parts.ctx));
    if (l->u->training)
        arg_ptr(in, past(base, parts.probs));
    else
        lir_push(in, (LArg){ .kind = LA_NULL });
    arg_val(l, in, id);
    return true;
}

/* Whether a live node other than the parameter gradients computed by
 * `owner`'s kernel reads owner's value. */
static bool read_beyond_companions(Lower *l, uint32_t owner)
{
    const Graph *g = l->u->g;
    for (uint32_t j = owner + 1; j < g->nnodes; j++) {
        const Node *m = &g->nodes[j];
        if (l->u->info[j].dead || ir_op_is(m->op, OPF_COMPANION))
            continue;
        for (int k = 0; k < m->ninputs; k++)
            if (m->inputs[k] == owner)
                return true;
    }
    return false;
}

/* dx (when something reads it: not for a model input) and the parameter
 * gradients, from what the forward kept. */
static bool lower_attention_grad(Lower *l, uint32_t id)
{
    const Node *n = node_at(l, id), *fwd = node_at(l, n->inputs[2]);
    SlotLayout slot = plan_slot(fwd); /* qkv, ctx, probs */
    LPtr saved = ptr_of(l, n->inputs[2]);
    LInstr *in = emit_layer_grad(l, id, K_rt_attention_backward, arg_attention);
    arg_val(l, in, fwd->inputs[3]);
    for (int k = 0; k < slot.nparts; k++)
        arg_ptr(in, past(saved, slot.part[k]));
    arg_val(l, in, n->inputs[0]);
    arg_ptr(in, work_of(l, id));
    if (read_beyond_companions(l, id))
        arg_val(l, in, id);
    else
        lir_push(in, (LArg){ .kind = LA_NULL });
    bool accumulate = false;
    for (int k = 0; k < fwd->ninputs - fwd->ndata; k++) /* qkv_weight, qkv_bias, out_weight, out_bias */
        arg_grad_or_null(l, in, companion(l, id, k), &accumulate);
    arg_bool(in, accumulate);
    return true;
}

/* embed: one table row per id; its gradient, the scatter-add of dy's rows
 * into the table's, deterministic in the runtime (rt_embed_backward). */
static bool lower_embed(Lower *l, uint32_t id)
{
    const Node *n = node_at(l, id);
    const Node *w = node_at(l, n->op == OP_embed ? n->inputs[1] : id);
    uint32_t ids = n->op == OP_embed ? n->inputs[0] : n->inputs[1];
    LInstr *in = emit(l, LI_CALL, n->op == OP_embed ? K_rt_embed_forward : K_rt_embed_backward, n);
    arg_int(in, 0, elems(node_at(l, ids)));
    arg_int(in, w->shape.dim[0], 0);
    arg_int(in, w->shape.dim[1], 0);
    arg_ids(l, in, ids);
    if (n->op == OP_embed) {
        arg_val(l, in, n->inputs[1]);
        arg_val(l, in, id);
        return true;
    }
    bool accumulate = grad_writer(l, n);
    arg_val(l, in, n->inputs[0]);
    arg_val(l, in, id);
    arg_bool(in, accumulate);
    return true;
}

/* The arguments a normalisation's gradient (layernorm_grad, batchnorm_grad:
 * dy, x, fwd) takes after its sizes, the same for both kernels: x, dy,
 * gamma, the forward's saved statistics, dx, then dgamma and dbeta (or
 * null where no companion wants them) and whether to add to them. */
static void arg_norm_grad(Lower *l, LInstr *in, uint32_t id)
{
    const Node *n = node_at(l, id), *fwd = node_at(l, n->inputs[2]);
    bool accumulate = false;
    arg_val(l, in, n->inputs[1]);
    arg_val(l, in, n->inputs[0]);
    arg_val(l, in, fwd->inputs[1]);
    arg_saved_parts(l, in, n->inputs[2]);
    arg_val(l, in, id);
    arg_grad_or_null(l, in, companion(l, id, 0), &accumulate);
    arg_grad_or_null(l, in, companion(l, id, 1), &accumulate);
    arg_bool(in, accumulate);
}

/* layernorm over the last axis: every row of every sample is one row of
 * the kernel. In training the node's slot holds y, then the mean and the
 * 1/std of each row (batch * rows floats each), which the gradient reads. */
static bool lower_layernorm(Lower *l, uint32_t id)
{
    const Node *n = node_at(l, id);
    int64_t d = last_dim(n), r = rows(n);
    if (n->op == OP_layernorm) {
        LInstr *in = emit(l, LI_CALL, K_rt_layernorm_forward, n);
        arg_int(in, 0, r);
        arg_int(in, d, 0);
        arg_val(l, in, n->inputs[0]);
        arg_val(l, in, n->inputs[1]);
        arg_val(l, in, n->inputs[2]);
        arg_float(in, ir_attr(n, "eps")->f, false);
        if (l->u->training) {
            arg_saved_parts(l, in, id);
        } else {
            lir_push(in, (LArg){ .kind = LA_NULL });
            lir_push(in, (LArg){ .kind = LA_NULL });
        }
        arg_val(l, in, id);
        return true;
    }
    /* layernorm_grad (dy, x, fwd) */
    LInstr *in = emit(l, LI_CALL, K_rt_layernorm_backward, n);
    arg_int(in, 0, r);
    arg_int(in, d, 0);
    arg_norm_grad(l, in, id);
    return true;
}

/* ----------------------------------------------- per-op lowering (ops.def) */

/* The kernel calls of node `id`; false after a user error. A row of
 * ops.def without its function here fails to compile. */
typedef bool LowerRule(Lower *l, uint32_t id);

/* Values with no code of their own: inputs, parameters, views of their
 * input, and parameter gradients their owner's kernel computes. */
static bool lower_nothing(Lower *l, uint32_t id)
{
    (void)l, (void)id;
    return true;
}
#define lower_input lower_nothing
#define lower_param lower_nothing
#define lower_flatten lower_nothing
#define lower_reshape lower_nothing
#define lower_conv2d_grad_b lower_nothing
#define lower_batchnorm_grad_param lower_nothing
#define lower_recurrent_grad_param lower_nothing
#define lower_attention_grad_param lower_nothing
#define lower_layernorm_grad_param lower_nothing

static bool lower_model_call(Lower *l, uint32_t id)
{
    (void)l, (void)id;
    die("model call in a unit");
}

/* An activation is a loop when other elementwise values ride in it, the
 * runtime's kernel otherwise. */
static bool lower_activation(Lower *l, uint32_t id)
{
    const Node *n = node_at(l, id);
    if (has_loop_inputs(l, id))
        return lower_loop(l, id);
    LInstr *in = emit(l, LI_CALL, K_rt_act_forward, n);
    arg_act(in, ir_ops[n->op].act);
    arg_float(in, act_alpha(n), false);
    arg_int(in, 0, elems(n));
    arg_val(l, in, n->inputs[0]);
    arg_val(l, in, id);
    return true;
}

#define lower_scale lower_loop
#define lower_add lower_loop
#define lower_sub lower_loop
#define lower_mul lower_loop
#define lower_position lower_loop
#define lower_rnn lower_recurrent
#define lower_lstm lower_recurrent
#define lower_gru lower_recurrent
#define lower_embed_grad lower_embed
#define lower_layernorm_grad lower_layernorm
#define lower_dense_grad_w lower_param_grad
#define lower_bias_grad lower_param_grad

static bool lower_dropout(Lower *l, uint32_t id) { return lower_call(l, id, K_rt_dropout_forward, "n f:rate s 0 o"); }
static bool lower_softmax(Lower *l, uint32_t id) { return lower_call(l, id, K_rt_softmax_forward, "r 0 o"); }

/* the table's gradient: dy (batch, T*D) summed over the batch */
static bool lower_position_grad(Lower *l, uint32_t id)
{
    const Node *n = node_at(l, id);
    bool accumulate = grad_writer(l, n);
    LInstr *in = emit(l, LI_CALL, K_rt_sum_rows, n);
    arg_int(in, 0, 1);
    arg_int(in, elems(n), 0);
    arg_val(l, in, n->inputs[0]);
    arg_val(l, in, id);
    arg_bool(in, accumulate);
    return true;
}

static bool lower_cross_entropy(Lower *l, uint32_t id)
{
    const Node *n = node_at(l, id), *z = node_at(l, n->inputs[0]);
    LInstr *in = emit(l, LI_LOSS_CALL, K_rt_softmax_xent_forward, n);
    in->coef = l->u->info[id].loss_coef / (double)rows(z);
    arg_int(in, 0, rows(z));
    arg_int(in, last_dim(z), 0);
    arg_val(l, in, n->inputs[0]);
    arg_val(l, in, n->inputs[1]);
    arg_val(l, in, id);
    return true;
}

/* mse and bce, and their gradients (backward): the kernel for a target per
 * element or one number for every element (bce(D(real), 1)), then the
 * count, the prediction and the target. */
static LInstr *emit_target_loss(Lower *l, uint32_t id, bool backward)
{
    static const Kernel kernels[2][2][2] = { /* [backward][bce][one number] */
        { { K_rt_mse_forward, K_rt_mse_forward_const }, { K_rt_bce_forward, K_rt_bce_forward_const } },
        { { K_rt_mse_backward, K_rt_mse_backward_const }, { K_rt_bce_backward, K_rt_bce_backward_const } },
    };
    const Node *n = node_at(l, id);
    bool bce = n->op == OP_bce || n->op == OP_bce_grad, number = n->ndata < 2;
    LInstr *in = emit(l, backward ? LI_CALL : LI_LOSS_CALL, kernels[backward][bce][number], n);
    arg_int(in, 0, elems(node_at(l, n->inputs[0])));
    arg_val(l, in, n->inputs[0]);
    if (number)
        arg_float(in, ir_attr(n, "target")->f, false);
    else
        arg_val(l, in, n->inputs[1]);
    return in;
}

static bool lower_mse(Lower *l, uint32_t id)
{
    LInstr *in = emit_target_loss(l, id, false);
    in->coef = l->u->info[id].loss_coef / (double)elems(node_at(l, node_at(l, id)->inputs[0]));
    return true;
}
#define lower_bce lower_mse

/* dx (rows, K) = dy (rows, N) W (N, K) */
static bool lower_dense_grad_x(Lower *l, uint32_t id)
{
    const Node *n = node_at(l, id), *dy = node_at(l, n->inputs[0]);
    int64_t units = last_dim(dy), k = last_dim(n);
    LInstr *in = emit(l, LI_CALL, K_rt_sgemm, n);
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

static bool lower_act_grad(Lower *l, uint32_t id)
{
    const Node *n = node_at(l, id);
    uint32_t saved = n->inputs[1];
    LInstr *in = emit(l, LI_CALL, K_rt_act_backward, n);
    arg_act(in, ir_ops[ir_attr(n, "act")->i].act);
    arg_float(in, ir_attr(n, "alpha")->f, false);
    arg_int(in, 0, elems(n));
    arg_val(l, in, saved);
    arg_val(l, in, saved);
    arg_val(l, in, n->inputs[0]);
    arg_val(l, in, id);
    return true;
}

static bool lower_dropout_grad(Lower *l, uint32_t id)
{
    return lower_call(l, id, K_rt_dropout_backward, "n f:rate s:salt 0 o");
}
static bool lower_softmax_grad(Lower *l, uint32_t id) { return lower_call(l, id, K_rt_softmax_backward, "r 1 0 o"); }
static bool lower_cross_entropy_grad(Lower *l, uint32_t id)
{
    return lower_call(l, id, K_rt_softmax_xent_backward, "r 2 1 F:scale o");
}

static bool lower_mse_grad(Lower *l, uint32_t id)
{
    const Node *n = node_at(l, id);
    LInstr *in = emit_target_loss(l, id, true);
    arg_float(in, ir_attr(n, "scale")->f, true);
    arg_val(l, in, id);
    return true;
}
#define lower_bce_grad lower_mse_grad

static bool lower_pool(Lower *l, uint32_t id)
{
    return lower_call(l, id, node_at(l, id)->op == OP_maxpool ? K_rt_maxpool_forward : K_rt_avgpool_forward, "p0 0 o");
}
#define lower_maxpool lower_pool
#define lower_avgpool lower_pool

/* global_avgpool and its gradient: (C, H*W) per sample, s the shape of x */
static void global_avgpool_call(Lower *l, uint32_t id, Kernel fn, const Shape *s)
{
    const Node *n = node_at(l, id);
    LInstr *in = emit(l, LI_CALL, fn, n);
    arg_int(in, 0, 1);
    arg_int(in, s->dim[0], 0);
    arg_int(in, s->dim[1] * s->dim[2], 0);
    arg_val(l, in, n->inputs[0]);
    arg_val(l, in, id);
}

static bool lower_global_avgpool(Lower *l, uint32_t id)
{
    global_avgpool_call(l, id, K_rt_global_avgpool_forward, &node_at(l, node_at(l, id)->inputs[0])->shape);
    return true;
}

static bool lower_global_avgpool_grad(Lower *l, uint32_t id)
{
    global_avgpool_call(l, id, K_rt_global_avgpool_backward, &node_at(l, id)->shape);
    return true;
}

/* A batchnorm kernel's first arguments: the batch, channels and pixels
 * per channel of n, then its first `inputs` inputs. */
static void arg_channels(Lower *l, LInstr *in, const Node *n, int inputs)
{
    int64_t c = n->shape.dim[0];
    arg_int(in, 0, 1);
    arg_int(in, c, 0);
    arg_int(in, elems(n) / c, 0);
    for (int k = 0; k < inputs; k++)
        arg_val(l, in, n->inputs[k]);
}

static bool lower_batchnorm(Lower *l, uint32_t id)
{
    const Node *n = node_at(l, id);
    /* A frozen batchnorm (init from ... { freeze bn }) normalises with its
     * running statistics in training too, and leaves them as loaded. */
    bool train = l->u->training && !batchnorm_frozen(l->c->prog, l->u->g, n);
    LInstr *in = emit(l, LI_CALL, train ? K_rt_batchnorm_forward_train : K_rt_batchnorm_forward_eval, n);
    arg_channels(l, in, n, 5); /* x, gamma, beta, running mean, running variance */
    if (train)
        arg_float(in, ir_attr(n, "momentum")->f, false);
    arg_float(in, ir_attr(n, "eps")->f, false);
    if (train)
        arg_saved_parts(l, in, id);
    arg_val(l, in, id);
    return true;
}

static bool lower_batchnorm_frozen_grad(Lower *l, uint32_t id)
{
    const Node *n = node_at(l, id);
    LInstr *in = emit(l, LI_CALL, K_rt_batchnorm_backward_frozen, n);
    arg_channels(l, in, n, 3); /* dy, gamma, running variance */
    arg_float(in, ir_attr(n, "eps")->f, false);
    arg_val(l, in, id);
    return true;
}

static bool lower_batchnorm_grad(Lower *l, uint32_t id)
{
    const Node *n = node_at(l, id);
    LInstr *in = emit(l, LI_CALL, K_rt_batchnorm_backward, n);
    arg_channels(l, in, n, 0);
    arg_norm_grad(l, in, id);
    return true;
}

static bool lower_conv2d_grad_x(Lower *l, uint32_t id)
{
    return lower_call(l, id, K_rt_conv2d_backward_data, "c2 0 1 o");
}

static bool lower_conv2d_grad_w(Lower *l, uint32_t id)
{
    const Node *n = node_at(l, id);
    bool accumulate = grad_writer(l, n);
    LInstr *in = emit(l, LI_CALL, K_rt_conv2d_backward_filter, n);
    arg_conv(l, in, n, n->inputs[1]);
    arg_int(in, 0, 1);
    arg_val(l, in, n->inputs[1]);
    arg_val(l, in, n->inputs[0]);
    arg_val(l, in, id);
    arg_grad_or_null(l, in, companion(l, id, 0), &accumulate);
    arg_bool(in, accumulate);
    return true;
}

static bool lower_maxpool_grad(Lower *l, uint32_t id)
{
    const Node *n = node_at(l, id);
    bool through_relu = l->u->info[id].variant == VARIANT_THROUGH_RELU;
    LInstr *in = emit(l, LI_CALL, through_relu ? K_rt_maxpool_relu_backward : K_rt_maxpool_backward, n);
    if (through_relu)
        in->comment = arena_printf(l->c->arena, "%s + relu gradient", in->comment);
    arg_pool(l, in, n, n->inputs[1]);
    arg_int(in, 0, 1);
    arg_val(l, in, n->inputs[1]);
    if (!through_relu)
        arg_val(l, in, n->inputs[2]);
    arg_val(l, in, n->inputs[0]);
    arg_val(l, in, id);
    return true;
}

static bool lower_avgpool_grad(Lower *l, uint32_t id) { return lower_call(l, id, K_rt_avgpool_backward, "p1 0 o"); }

static bool lower_concat_grad(Lower *l, uint32_t id)
{
    const Node *n = node_at(l, id);
    copy_slice(l, n, (int)ir_attr(n, "axis")->i, n->inputs[0], id, ir_attr(n, "start")->i, false);
    return true;
}

/* expand (x repeated to a larger shape) and reduce_to (a gradient summed
 * back to a broadcast operand's shape): the smaller shape padded to the
 * larger's rank, 1 where it is repeated. */
static bool lower_broadcast(Lower *l, uint32_t id)
{
    static const char *const fields[] = { "rank", "out[0]", "out[1]", "out[2]", "out[3]", "out[4]", "out[5]",
                                          "keep[0]", "keep[1]", "keep[2]", "keep[3]", "keep[4]", "keep[5]" };
    const Node *n = node_at(l, id);
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
    LInstr *in = emit(l, LI_CALL, expand ? K_rt_broadcast_copy : K_rt_sum_broadcast, n);
    arg_int(in, 0, 1);
    lir_push(in, (LArg){ .kind = LA_STRUCT, .type = "rt_broadcast", .fields = fields, .vals = vals, .nvals = 13 });
    arg_val(l, in, n->inputs[0]);
    arg_val(l, in, id);
    return true;
}
#define lower_expand lower_broadcast
#define lower_reduce_to lower_broadcast

static LowerRule *const lower_rules[OP_COUNT] = {
#define RULE(name) lower_##name
#define RULE_ACT lower_activation
#include "op_rules.h"
};

/* Nodes fused into another's kernel or loop, aliases and dead values have
 * no code of their own. */
static bool lower_node(Lower *l, uint32_t id)
{
    const NodeInfo *info = &l->u->info[id];
    if (info->dead || info->alias_of >= 0 || unit_fused_into(l->u, id) >= 0 || info->loop_into >= 0)
        return true;
    return lower_rules[node_at(l, id)->op](l, id);
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
    LInstr *in = emit(l, LI_CALL, K_rt_copy_rows, node_at(l, l->u->out_node));
    int64_t k = elems(n);
    arg_int(in, 0, 1);
    arg_int(in, k, 0);
    arg_val(l, in, r);
    arg_int(in, k, 0);
    arg_ptr(in, (LPtr){ BASE_OUT, 0, true });
    arg_int(in, k, 0);
}

/* ---------------------------------------------- gradients made final */

/* The trainable parameter whose gradient holds grads[offset], or -1.
 * The layout's order is by offset (layout_models), so a binary search
 * finds the last tensor starting at or before it: a scan of every
 * parameter for every instruction made lowering a 8,000-layer file
 * quadratic. Tensors of no elements share an offset with the next, hence
 * the walk back over equal offsets. */
static int grad_owner(Lower *l, LPtr p, int64_t extra)
{
    if (p.base != BASE_GRADS)
        return -1;
    int64_t at = p.offset + extra;
    const Program *prog = l->c->prog;
    int lo = -1, hi = l->pl->n; /* offset(order[lo]) <= at < offset(order[hi]) */
    while (hi - lo > 1) {
        int mid = lo + (hi - lo) / 2;
        if (param_offset(l->pl, l->pl->order[mid]) <= at)
            lo = mid;
        else
            hi = mid;
    }
    for (int k = lo; k >= 0; k--) {
        uint32_t pi = l->pl->order[k];
        int64_t off = param_offset(l->pl, pi);
        if (prog->params[pi].trainable && at < off + ir_shape_elems(&prog->params[pi].shape))
            return (int)pi;
        if (k > 0 && param_offset(l->pl, l->pl->order[k - 1]) != off)
            break;
    }
    return -1;
}

/* last[] is indexed like grad_written: pi - pl->first. */
static void touch_expr(Lower *l, const LExpr *e, int k, int *last)
{
    if (!e)
        return;
    int pi = e->kind == LE_LOAD ? grad_owner(l, e->ptr, 0) : -1;
    if (pi >= 0)
        last[pi - l->pl->first] = k;
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
    const uint32_t first = l->pl->first, span = l->pl->span;
    int *last = arena_alloc(l->c->arena, sizeof *last * (size_t)(span + 1));
    for (uint32_t s = 0; s < span; s++)
        last[s] = -1;
    for (int k = 0; k < f->n; k++) {
        const LInstr *in = &f->code[k];
        int pi;
        if ((in->kind == LI_LOOP || in->kind == LI_ZERO) && (pi = grad_owner(l, in->dst, 0)) >= 0)
            last[pi - first] = k;
        touch_expr(l, in->expr, k, last);
        for (int a = 0; a < in->nargs; a++) {
            const LArg *arg = &in->args[a];
            if (arg->kind == LA_PTR && (pi = grad_owner(l, arg->ptr, arg->i)) >= 0)
                last[pi - first] = k;
            if (arg->kind == LA_EPILOGUE && arg->has_bias && (pi = grad_owner(l, arg->bias, 0)) >= 0)
                last[pi - first] = k;
            if (arg->kind == LA_EPILOGUE && arg->has_preact && (pi = grad_owner(l, arg->preact, 0)) >= 0)
                last[pi - first] = k;
        }
    }
    LInstr *code = f->code;
    int n = f->n;
    /* The parameters whose last touch is instruction k, in index order:
     * head[k], then next[] (lists built backwards, so they come out in
     * ascending pi, the order a scan of all parameters per instruction
     * gave, which made lowering a long file quadratic). */
    int *head = arena_alloc(l->c->arena, sizeof *head * (size_t)(n + 1));
    int *next = arena_alloc(l->c->arena, sizeof *next * (size_t)(span + 1));
    for (int k = 0; k < n; k++)
        head[k] = -1;
    for (uint32_t s = span; s-- > 0;)
        if (last[s] >= 0) {
            next[s] = head[last[s]];
            head[last[s]] = (int)s;
        }
    f->code = NULL;
    f->n = f->cap = 0;
    for (int k = 0; k < n; k++) {
        Node fake = { .op = OP_param, .span = code[k].span };
        *emit(l, code[k].kind, code[k].fn, &fake) = code[k];
        for (int s = head[k]; s >= 0; s = next[s]) {
            uint32_t pi = first + (uint32_t)s;
            const Param *p = &prog->params[pi];
            Node at = { .op = OP_param, .name = p->name, .shape = p->shape, .span = code[k].span };
            LInstr *in = emit(l, LI_CALL, K_rt_grad_ready, &at);
            arg_int(in, param_offset(l->pl, pi), 0);
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

bool lower_unit(Compiler *c, Unit *u, const ParamLayout *pl, LFunc *f)
{
    memset(f, 0, sizeof *f);
    f->name = u->name;
    f->training = u->training;
    f->arena_floats = u->arena_floats;
    f->scratch_floats = u->scratch_floats;
    Lower l = { .c = c, .u = u, .f = f, .pl = pl };
    l.grad_written = arena_alloc(c->arena, sizeof *l.grad_written * (pl->span + 1));
    for (uint32_t i = 0; i < u->g->nnodes; i++) {
        if (u->has_noise && i == u->noise_node && !u->info[i].dead) {
            /* the step's noise source, drawn afresh from its seed */
            const Node *n = node_at(&l, i);
            LInstr *in = emit(&l, LI_CALL, K_rt_noise, n);
            arg_int(in, 0, elems(n));
            arg_bool(in, u->noise_uniform);
            arg_seed(in, i);
            arg_val(&l, in, i);
        }
        if (!lower_node(&l, i))
            return false;
    }
    for (int i = 0; i < f->n; i++) {
        const LInstr *in = &f->code[i];
        if ((in->kind == LI_CALL || in->kind == LI_LOSS_CALL) && in->nargs != kernel_info(in->fn)->nparams)
            die("lowering %s: %d arguments for %s, which takes %d", in->comment, in->nargs, kernel_info(in->fn)->name,
                kernel_info(in->fn)->nparams);
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
        if (!p->trainable || l.grad_written[pi - pl->first] || (u->trains && !graph_uses_param(u->trains, pi)))
            continue;
        Node fake = { .op = OP_param, .name = p->name, .shape = p->shape, .span = p->span };
        LInstr *in = emit(&l, LI_ZERO, K_NONE, &fake);
        in->dst = (LPtr){ BASE_GRADS, param_offset(pl, pi), false };
        in->n = ir_shape_elems(&p->shape);
    }
    mark_grads_ready(&l);
    return true;
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
        else if ((ir_op_is(n->op, OPF_VIEW) || n->op == OP_concat) && n->dtype == DT_I32)
            for (int k = 0; k < n->ndata; k++)
                ids[i] |= ids[n->inputs[k]];
        else if (n->op == OP_embed && ids[n->inputs[0]]) {
            int64_t v = ir_attr(n, "vocab")->i;
            vocab = vocab == 0 || v < vocab ? v : vocab;
        }
    }
    return vocab;
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
    return ir_find_model(c, ts->steps_list[0].model);
}

/* At most how many models a train block's steps name or call: the bound
 * its list of models is sized by (the block's own size, not the file's
 * count of models, so each of many train blocks stays linear). */
static size_t models_called_bound(const Program *p, const TrainSpec *ts)
{
    size_t bound = 1; /* the forward model */
    for (int k = 0; k < ts->nsteps; k++) {
        const Graph *loss = &p->graphs[ts->steps_list[k].graph];
        bound++;
        for (uint32_t i = 0; i < loss->nnodes; i++)
            bound += loss->nodes[i].op == OP_model_call;
    }
    return bound;
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
    size_t bound = models_called_bound(p, ts);
    const Graph **models = arena_alloc(c->arena, sizeof *models * (bound + 1));
    int nm = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int k = 0; k < ts->nsteps; k++) {
            const Graph *loss = &p->graphs[ts->steps_list[k].graph];
            for (uint32_t i = 0; i < (pass ? loss->nnodes : 1); i++) {
                const Graph *g = pass ? (loss->nodes[i].op == OP_model_call ? &p->graphs[loss->nodes[i].model] : NULL)
                                      : &p->graphs[ir_find_model(c, ts->steps_list[k].model)];
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

    if (!compile_unit(c, m, "forward", NULL, &lp->layout, &lp->forward))
        return false;

    lp->loss_kind = RT_LOSS_BCE;
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
        const Graph *sm = &p->graphs[ir_find_model(c, st->spec->model)];
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
        if (!compile_unit(c, tg.g, arena_printf(c->arena, "train_step%d", k), &tg, &lp->layout, &st->fn))
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
    int mi = model ? ir_find_model(c, model) : 0;
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

    if (!compile_unit(c, m, "forward", NULL, &lp->layout, &lp->forward))
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
    lp->loss_kind = lossop->op == OP_cross_entropy ? RT_LOSS_CROSS_ENTROPY : lossop->op == OP_mse ? RT_LOSS_MSE : RT_LOSS_BCE;
    const Node *y = &tg.g->nodes[tg.y_input];
    lp->y_dtype = y->dtype;
    lp->y_shape = y->shape;
    return compile_unit(c, tg.g, "train_step", &tg, &lp->layout, &lp->train_step);
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

static void dump_arg(FILE *out, const LArg *a)
{
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
            fprintf(out, "%s(", kernel_info(in->fn)->name);
            for (int k = 0; k < in->nargs; k++) {
                fputs(k ? ", " : "", out);
                dump_arg(out, &in->args[k]);
            }
            fputs(")\n", out);
            break;
        case LI_LOOP: case LI_ZERO:
            fprintf(out, in->kind == LI_LOOP ? "for i < %lld*B: " : "zero %lld floats at ", (long long)in->n);
            dump_ptr(out, in->dst);
            if (in->kind == LI_LOOP) {
                fputs("[i] = ", out);
                dump_expr(out, in->expr);
            }
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
