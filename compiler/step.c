/* step.c — the incremental forward: a model over a sequence, lowered to
 * one position of it, for generation.
 * Requires: a model graph from sema and its parameter layout. Produces: the
 * LProgram's `step` LIR function (NAME_step in both backends), or the
 * reason a model has none, and the sizes the runtime needs.
 *
 * Which models: the input and the output are sequences along their first
 * axis (tok: i32[T] -> f32[T, V]), and every value between is a sequence of
 * the same length whose position t depends on positions <= t only. Then
 * position t of every value is computed from position t of its inputs,
 * except in three layers, which read earlier positions through state the
 * step function keeps in its arena from one call to the next:
 *  - rnn, lstm, gru (sequences = true): h (and c), O(1) per position;
 *  - causal attention: every earlier position's keys and values, O(t);
 *  - position: the table's row t (the position is the call's `pos`).
 * Everything else is per position already (dense, layernorm, embed,
 * elementwise, softmax, dropout as the identity, concat along the last
 * axis). A model with anything else (pooling, convolution, non-causal
 * attention, recurrent layers that return one vector, reshapes across
 * positions) has no step function; `sample` says why.
 *
 * Memory, per sample of the batch (the arena scales by the batch as
 * forward's does): the carried state first (step_state_floats), then one
 * slot per value, then the largest kernel workspace. Nothing is reused:
 * one position's values are small (a few thousand floats), and a plan
 * buys nothing here.
 *
 * Why a lowering of its own and not forward's with T = 1: the three
 * stateful layers call other kernels with other arguments (the position,
 * the state), and the other ops are simple enough that one loop over the
 * graph lowers them; the batch-sized passes (fusion, planning) are for
 * values with a batch of T positions.
 */
#include "compiler.h"
#include "netrt.h"

#include <string.h>

enum { STEP_ALIGN = 16 }; /* floats: 64 bytes */

typedef struct Stepper {
    Compiler *c;
    const Graph *g;
    const ParamLayout *pl;
    LFunc *f;
    int64_t T;
    LPtr *at;          /* per node: its value at one position */
    int64_t state, slots, work; /* per-sample floats: the state and the slots so far, the largest workspace */
    int64_t work_base;          /* where the workspace starts */
    int64_t context;   /* > 0 once a layer bounds the position */
    int *users;        /* per node: how many nodes read it */
    uint32_t *fused;   /* per dense node: the activation its epilogue applies, or 0 */
    const char *refusal;
} Stepper;

static int64_t round_up(int64_t n)
{
    return (n + STEP_ALIGN - 1) / STEP_ALIGN * STEP_ALIGN;
}

static int64_t per_position(const Stepper *s, const Node *n)
{
    return ir_shape_elems(&n->shape) / s->T;
}

static int64_t last_dim(const Node *n)
{
    return n->shape.dim[n->shape.rank - 1];
}

static LInstr *emit(Stepper *s, LKind kind, Kernel fn, const Node *n)
{
    LInstr *in = lir_append(s->c, s->f, kind, fn, n->span);
    in->comment = arena_printf(s->c->arena, "%s: %s at one position", n->name ? n->name : "", ir_ops[n->op].name);
    return in;
}

static void arg(LInstr *in, LArg a) { lir_push(in, a); }
static void arg_ptr(LInstr *in, LPtr p) { arg(in, (LArg){ .kind = LA_PTR, .ptr = p }); }
static void arg_ids(LInstr *in, LPtr p) { arg(in, (LArg){ .kind = LA_PTR, .ptr = p, .ints = true }); }
static void arg_int(LInstr *in, int64_t k, int64_t per_batch) { arg(in, (LArg){ .kind = LA_INT, .i = k, .i_batch = per_batch }); }
static void arg_float(LInstr *in, double f) { arg(in, (LArg){ .kind = LA_FLOAT, .f = f }); }
static void arg_bool(LInstr *in, bool b) { arg(in, (LArg){ .kind = LA_BOOL, .i = b }); }
static void arg_null(LInstr *in) { arg(in, (LArg){ .kind = LA_NULL }); }
static void arg_pos(LInstr *in) { arg(in, (LArg){ .kind = LA_POS }); }
static void arg_struct(Stepper *s, LInstr *in, const char *type, const char *const *fields, const int64_t *vals, int n)
{
    int64_t *v = arena_alloc(s->c->arena, sizeof *v * (size_t)n);
    memcpy(v, vals, sizeof *v * (size_t)n);
    arg(in, (LArg){ .kind = LA_STRUCT, .type = type, .fields = fields, .vals = v, .nvals = n });
}

static LPtr arena_at(int64_t offset) { return (LPtr){ BASE_ARENA, offset, true }; }
static LPtr val(const Stepper *s, uint32_t node) { return s->at[node]; }

static bool refuse(Stepper *s, const Node *n, const char *why)
{
    if (!s->refusal)
        s->refusal = arena_printf(s->c->arena, "%s (%s) %s", n->name ? n->name : ir_ops[n->op].name,
                                  ir_ops[n->op].name, why);
    return false;
}

static int64_t take_state(Stepper *s, int64_t floats)
{
    int64_t at = s->state;
    s->state += round_up(floats);
    return at;
}

static void need_work(Stepper *s, int64_t floats)
{
    if (floats > s->work)
        s->work = floats;
}

/* ------------------------------------------------------------- ops */

/* An activation node's slope parameter (leaky_relu's alpha), 0 if none. */
static double act_alpha(const Node *n)
{
    return ir_arg_index(n->op, "alpha") >= 0 ? ir_attr(n, "alpha")->f : 0;
}

static void lower_dense(Stepper *s, uint32_t id)
{
    const Node *n = &s->g->nodes[id], *x = &s->g->nodes[n->inputs[0]];
    int64_t k = last_dim(x), units = last_dim(n), rows = per_position(s, n) / units;
    LInstr *in = emit(s, LI_CALL, K_rt_sgemm_ex, n);
    arg_bool(in, false);
    arg_bool(in, true);
    arg_int(in, 0, rows);
    arg_int(in, units, 0);
    arg_int(in, k, 0);
    arg_float(in, 1);
    arg_ptr(in, val(s, n->inputs[0]));
    arg_int(in, k, 0);
    arg_ptr(in, val(s, n->inputs[1]));
    arg_int(in, k, 0);
    arg_float(in, 0);
    arg_ptr(in, val(s, id));
    arg_int(in, units, 0);
    LArg ep = { .kind = LA_EPILOGUE };
    if (n->ninputs > 2) {
        ep.has_bias = true;
        ep.bias = val(s, n->inputs[2]);
    }
    if (s->fused[id]) {
        const Node *a = &s->g->nodes[s->fused[id]];
        ep.act = ir_ops[a->op].act;
        ep.alpha = a->op == OP_leaky_relu ? ir_attr(a, "alpha")->f : 0;
    }
    arg(in, ep);
}

/* A loop operand: a value at this position, or a parameter of the
 * position's size (broadcast over the batch). */
static LExpr *load(Stepper *s, uint32_t node, int64_t elems)
{
    const Node *n = &s->g->nodes[node];
    LExpr *e = arena_alloc(s->c->arena, sizeof *e);
    e->kind = LE_LOAD;
    e->ptr = val(s, node);
    if (n->op == OP_param) {
        if (ir_shape_elems(&n->shape) != elems)
            return NULL;
        e->period = elems;
        return e;
    }
    return per_position(s, n) == elems ? e : NULL;
}

static LExpr *node_expr(Stepper *s, LExprKind kind, LExpr *a, LExpr *b)
{
    LExpr *e = arena_alloc(s->c->arena, sizeof *e);
    e->kind = kind;
    e->a = a;
    e->b = b;
    return e;
}

static bool lower_elementwise(Stepper *s, uint32_t id)
{
    const Node *n = &s->g->nodes[id];
    int64_t elems = per_position(s, n);
    LExpr *a = load(s, n->inputs[0], elems), *e;
    if (!a)
        return refuse(s, n, "broadcasts across positions");
    if (n->op == OP_scale) {
        LExpr *factor = node_expr(s, LE_CONST, NULL, NULL), *offset = node_expr(s, LE_CONST, NULL, NULL);
        factor->c = ir_attr(n, "factor")->f;
        offset->c = ir_attr(n, "offset")->f;
        e = node_expr(s, LE_MUL, a, factor);
        if (offset->c != 0)
            e = node_expr(s, LE_ADD, e, offset);
    } else { /* add, sub, mul */
        LExpr *b = load(s, n->inputs[1], elems);
        if (!b)
            return refuse(s, n, "broadcasts across positions");
        e = node_expr(s, n->op == OP_add ? LE_ADD : n->op == OP_sub ? LE_SUB : LE_MUL, a, b);
    }
    LInstr *in = emit(s, LI_LOOP, K_NONE, n);
    in->dst = val(s, id);
    in->n = elems;
    in->expr = e;
    return true;
}

static const char *const recurrent_fields[] = { "cell", "steps", "inputs", "units", "sequences" };
static const char *const attention_fields[] = { "t", "d", "heads", "causal" };

/* The call of a layer that carries state from one position to the next
 * (rt_recurrent_step, rt_attention_step): the layer's struct, the batch
 * and the position come first ... */
static LInstr *emit_stateful(Stepper *s, Kernel fn, const Node *n, const char *type, const char *const *fields,
                             const int64_t *v, int nv)
{
    LInstr *in = emit(s, LI_CALL, fn, n);
    arg_struct(s, in, type, fields, v, nv);
    arg_int(in, 0, 1);
    arg_pos(in);
    return in;
}

/* ... and its state, the workspace and its value last. */
static void arg_state_work_out(Stepper *s, LInstr *in, int64_t state, uint32_t id)
{
    arg_ptr(in, arena_at(state));
    arg_ptr(in, arena_at(s->work_base));
    arg_ptr(in, val(s, id));
}

static bool lower_recurrent(Stepper *s, uint32_t id)
{
    const Node *n = &s->g->nodes[id];
    if (!ir_attr(n, "sequences")->i)
        return refuse(s, n, "returns one vector for the whole sequence (sequences = false)");
    rt_recurrent r;
    plan_recurrent(s->g, n, &r);
    int64_t carry = take_state(s, rt_recurrent_carry_floats(&r));
    need_work(s, rt_recurrent_step_work_floats(&r));
    int64_t v[5] = { r.cell, r.steps, r.inputs, r.units, r.sequences };
    LInstr *in = emit_stateful(s, K_rt_recurrent_step, n, "rt_recurrent", recurrent_fields, v, 5);
    for (int k = 0; k < 4; k++) /* x, weight_ih, weight_hh, bias */
        arg_ptr(in, val(s, n->inputs[k]));
    arg_state_work_out(s, in, carry, id);
    return true;
}

static bool lower_attention(Stepper *s, uint32_t id)
{
    const Node *n = &s->g->nodes[id];
    if (!ir_attr(n, "causal")->i)
        return refuse(s, n, "is not causal: every position reads the later ones");
    rt_attention a = { .t = n->shape.dim[0], .d = n->shape.dim[1], .heads = ir_attr(n, "heads")->i, .causal = 1 };
    int64_t cache = take_state(s, rt_attention_cache_floats(&a));
    need_work(s, rt_attention_step_work_floats(&a));
    s->context = a.t;
    int64_t v[4] = { a.t, a.d, a.heads, a.causal };
    LInstr *in = emit_stateful(s, K_rt_attention_step, n, "rt_attention", attention_fields, v, 4);
    for (int k = 0; k < 5; k++) /* x, qkv_weight, qkv_bias, out_weight, out_bias */
        if (k < n->ninputs)
            arg_ptr(in, val(s, n->inputs[k]));
        else
            arg_null(in);
    arg_state_work_out(s, in, cache, id);
    return true;
}

static bool lower_concat(Stepper *s, uint32_t id)
{
    const Node *n = &s->g->nodes[id];
    if (shape_concat_axis(n) != n->shape.rank - 1 || n->shape.rank < 2)
        return refuse(s, n, "joins along the sequence axis");
    int64_t total = last_dim(n), rows = per_position(s, n) / total, start = 0;
    for (int k = 0; k < n->ndata; k++) {
        const Node *x = &s->g->nodes[n->inputs[k]];
        int64_t w = last_dim(x);
        LInstr *in = emit(s, LI_CALL, K_rt_copy_rows, n);
        arg_int(in, 0, rows);
        arg_int(in, w, 0);
        arg_ptr(in, val(s, n->inputs[k]));
        arg_int(in, w, 0);
        arg(in, (LArg){ .kind = LA_PTR, .ptr = val(s, id), .i = start });
        arg_int(in, total, 0);
        start += w;
    }
    return true;
}

/* ------------------------------------------------ the per-op step rules */

/* One op at one position: its calls, into the value slot lower_node gave
 * it. An op that mixes positions (a convolution, a pool, a loss, every
 * gradient) has no such form and refuses, naming itself; the table below
 * has a row for every op of ops.def, so a new op must say which it is. */
typedef bool StepRule(Stepper *s, uint32_t id);

static bool step_none(Stepper *s, uint32_t id)
{
    return refuse(s, &s->g->nodes[id], "has no step kernel (it mixes positions)");
}

/* the runtime's kernel, as in the full forward: the same bits */
static bool step_activation(Stepper *s, uint32_t id)
{
    const Node *n = &s->g->nodes[id];
    LInstr *in = emit(s, LI_CALL, K_rt_act_forward, n);
    arg(in, (LArg){ .kind = LA_ACT, .i = ir_ops[n->op].act });
    arg(in, (LArg){ .kind = LA_FLOAT, .f = act_alpha(n) });
    arg_int(in, 0, per_position(s, n));
    arg_ptr(in, val(s, n->inputs[0]));
    arg_ptr(in, val(s, id));
    return true;
}

static bool step_dense(Stepper *s, uint32_t id)
{
    lower_dense(s, id);
    return true;
}

static bool step_embed(Stepper *s, uint32_t id)
{
    const Node *n = &s->g->nodes[id], *w = &s->g->nodes[n->inputs[1]];
    LInstr *in = emit(s, LI_CALL, K_rt_embed_forward, n);
    arg_int(in, 0, per_position(s, &s->g->nodes[n->inputs[0]]));
    arg_int(in, w->shape.dim[0], 0);
    arg_int(in, w->shape.dim[1], 0);
    arg_ids(in, val(s, n->inputs[0]));
    arg_ptr(in, val(s, n->inputs[1]));
    arg_ptr(in, val(s, id));
    return true;
}

static bool step_position(Stepper *s, uint32_t id)
{
    const Node *n = &s->g->nodes[id];
    s->context = s->T;
    LInstr *in = emit(s, LI_CALL, K_rt_position_step, n);
    arg_int(in, 0, 1);
    arg_int(in, per_position(s, n), 0);
    arg_pos(in);
    arg_ptr(in, val(s, n->inputs[0]));
    arg_ptr(in, val(s, n->inputs[1]));
    arg_ptr(in, val(s, id));
    return true;
}

/* A kernel over the rows of n's last axis at one position: its call with
 * the rows and the row length as the first two arguments. */
static LInstr *emit_rows(Stepper *s, Kernel fn, const Node *n)
{
    LInstr *in = emit(s, LI_CALL, fn, n);
    arg_int(in, 0, per_position(s, n) / last_dim(n));
    arg_int(in, last_dim(n), 0);
    return in;
}

static bool step_layernorm(Stepper *s, uint32_t id)
{
    const Node *n = &s->g->nodes[id];
    LInstr *in = emit_rows(s, K_rt_layernorm_forward, n);
    for (int k = 0; k < 3; k++) /* x, gamma, beta */
        arg_ptr(in, val(s, n->inputs[k]));
    arg_float(in, ir_attr(n, "eps")->f);
    arg_null(in);
    arg_null(in);
    arg_ptr(in, val(s, id));
    return true;
}

static bool step_softmax(Stepper *s, uint32_t id)
{
    const Node *n = &s->g->nodes[id];
    LInstr *in = emit_rows(s, K_rt_softmax_forward, n);
    arg_ptr(in, val(s, n->inputs[0]));
    arg_ptr(in, val(s, id));
    return true;
}

#define step_add lower_elementwise
#define step_sub lower_elementwise
#define step_mul lower_elementwise
#define step_scale lower_elementwise
#define step_rnn lower_recurrent
#define step_lstm lower_recurrent
#define step_gru lower_recurrent
#define step_attention lower_attention
#define step_concat lower_concat
/* inputs, parameters and views (dropout at inference, flatten, reshape):
 * lower_node places them before it reaches the table */
#define step_input step_none
#define step_param step_none
#define step_dropout step_none
#define step_flatten step_none
#define step_reshape step_none
/* every position at once, or training only */
#define step_model_call step_none
#define step_conv2d step_none
#define step_batchnorm step_none
#define step_maxpool step_none
#define step_avgpool step_none
#define step_global_avgpool step_none
#define step_cross_entropy step_none
#define step_mse step_none
#define step_bce step_none
#define step_expand step_none

static StepRule *const step_rules[OP_COUNT] = {
#define RULE(name) step_##name
#define RULE_ACT step_activation
#define RULE_BACKWARD(name) step_none /* gradients do not run in generation */
#include "op_rules.h"
};

/* Value slots and calls for one node; false (with the reason) for an op
 * that has no meaning one position at a time. */
static bool lower_node(Stepper *s, uint32_t id)
{
    const Node *n = &s->g->nodes[id];
    if (n->op == OP_param) {
        s->at[id] = (LPtr){ BASE_PARAMS, param_offset(s->pl, n->param), false };
        return true;
    }
    if (n->shape.rank < 1 || n->shape.dim[0] != s->T)
        return refuse(s, n, arena_printf(s->c->arena, "is %s, not a sequence of the input's %lld positions",
                                         ir_type_str(s->c, n->dtype, &n->shape), (long long)s->T));
    if (n->op == OP_input) {
        s->at[id] = (LPtr){ BASE_X, 0, true };
        return true;
    }
    if (s->fused[n->inputs[0]] == id && n->op != OP_param) {
        s->at[id] = s->at[n->inputs[0]]; /* the dense before it applied it */
        return true;
    }
    if (n->op == OP_dropout || n->op == OP_flatten || n->op == OP_reshape) {
        if ((n->op != OP_dropout && n->shape.rank < 2) ||
            per_position(s, n) != per_position(s, &s->g->nodes[n->inputs[0]]))
            return refuse(s, n, "moves values across positions");
        s->at[id] = s->at[n->inputs[0]]; /* the identity at inference, or the same floats */
        return true;
    }
    s->at[id] = arena_at(s->slots);
    s->slots += round_up(per_position(s, n));
    return step_rules[n->op](s, id);
}

/* Lowers every node with the value slots starting at slot_base and the
 * workspace at work_base (per-sample floats into the arena). */
static bool lower_all(Stepper *s, int64_t slot_base, int64_t work_base)
{
    memset(s->f, 0, sizeof *s->f);
    s->f->name = "step";
    s->state = 0;
    s->slots = slot_base;
    s->work_base = work_base;
    s->work = 0;
    s->context = 0;
    for (uint32_t i = 0; i < s->g->nnodes; i++)
        if (!lower_node(s, i))
            return false;
    return true;
}

bool step_lower(Compiler *c, const Graph *m, LProgram *lp)
{
    const Node *x = &m->nodes[m->inputs[0]], *out = &m->nodes[m->output];
    Stepper s = { .c = c, .g = m, .pl = &lp->layout, .f = &lp->step };
    s.T = x->shape.rank >= 1 ? x->shape.dim[0] : 0;
    memset(&lp->step, 0, sizeof lp->step);
    if (x->shape.rank < 1 || out->shape.rank < 1 || out->shape.dim[0] != s.T || s.T < 1) {
        lp->step_refusal = arena_printf(c->arena, "its input %s and output %s are not sequences of one length",
                                        ir_type_str(c, x->dtype, &x->shape), ir_type_str(c, out->dtype, &out->shape));
        return false;
    }
    s.at = arena_alloc(c->arena, sizeof *s.at * (m->nnodes + 1));
    /* A dense layer whose one reader is an activation applies it in its
     * GEMM's epilogue (the runtime's vectorised formulas, as forward's
     * fusion does), and the activation takes the dense's slot. */
    s.users = arena_alloc(c->arena, sizeof *s.users * (m->nnodes + 1));
    s.fused = arena_alloc(c->arena, sizeof *s.fused * (m->nnodes + 1));
    for (uint32_t i = 0; i < m->nnodes; i++)
        for (int k = 0; k < m->nodes[i].ninputs; k++)
            s.users[m->nodes[i].inputs[k]]++;
    for (uint32_t i = 0; i < m->nnodes; i++) {
        const Node *n = &m->nodes[i];
        bool act = ir_op_is(n->op, OPF_ACTIVATION);
        if (act && m->nodes[n->inputs[0]].op == OP_dense && s.users[n->inputs[0]] == 1 && n->inputs[0] != m->output)
            s.fused[n->inputs[0]] = i;
    }
    /* The arena holds the carried state, then the values, then the
     * workspace: the first pass measures the state and the values, the
     * second places them. */
    if (!lower_all(&s, 0, 0)) {
        lp->step_refusal = s.refusal;
        memset(&lp->step, 0, sizeof lp->step);
        return false;
    }
    int64_t state = s.state, slots = s.slots;
    lower_all(&s, state, state + slots);
    int64_t out_size = per_position(&s, out);
    LInstr *in = emit(&s, LI_CALL, K_rt_copy_rows, out);
    arg_int(in, 0, 1);
    arg_int(in, out_size, 0);
    arg_ptr(in, val(&s, m->output));
    arg_int(in, out_size, 0);
    arg_ptr(in, (LPtr){ BASE_OUT, 0, true });
    arg_int(in, out_size, 0);
    lp->has_step = true;
    lp->step_state_floats = state;
    lp->step.arena_floats = state + slots + round_up(s.work);
    lp->step_x_size = per_position(&s, x);
    lp->step_out_size = out_size;
    lp->step_context = s.context;
    return true;
}
