/* sema.c — from AST to graph IR.
 * Requires: c->decls from the parser. Produces: c->prog with one graph per
 * model (inputs, parameters and ops in topological order, every shape
 * checked by its rule), one loss graph per train step and the train specs.
 * Resolves names, expands user layers and `repeat`, folds integer
 * expressions on dimensions and gives every parameter a stable name.
 * Recovers from errors by producing a poison value that silences the
 * errors that would follow from it, so one run reports every root cause. */
#include "sema_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>


static Value poison(void) { Value v = { .kind = V_POISON }; return v; }
static Value int_value(int64_t i) { Value v = { .kind = V_INT, .i = i }; return v; }
static Value float_value(double f) { Value v = { .kind = V_FLOAT, .f = f }; return v; }

static Value eval_call(Sema *s, Scope *sc, const Ast *call, const Value *piped, Span piped_span,
                       const char *forced_name);

/* ------------------------------------------------------------ helpers */


static const char *type_of(Sema *s, uint32_t node)
{
    return ir_type_str(s->c, node_at(s, node)->dtype, &node_at(s, node)->shape);
}

/* How a value reads in a message: "the number 2.5", "f32[784]". */
const char *sema_describe(Sema *s, const Value *v)
{
    switch (v->kind) {
    case V_POISON: return "an invalid value";
    case V_INT: return arena_printf(s->c->arena, "the integer %lld", (long long)v->i);
    case V_FLOAT: return arena_printf(s->c->arena, "the number %g", v->f);
    case V_BOOL: return v->i ? "true" : "false";
    case V_STRING: return arena_printf(s->c->arena, "the string \"%s\"", v->s);
    case V_TENSOR: return arena_printf(s->c->arena, "a tensor %s", type_of(s, v->node));
    case V_LIST: return "a list";
    }
    unreachable();
}

enum { SCOPE_INDEX_AFTER = 32 };

static uint32_t str_hash(const char *name)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *name; name++)
        h = (h ^ (unsigned char)*name) * 16777619u;
    return h;
}

static void index_add(Scope *sc, Binding *b)
{
    uint32_t k = str_hash(b->name) & (sc->index_cap - 1);
    b->hnext = sc->index[k];
    sc->index[k] = b;
}

/* (Re)builds the index at twice the bindings' count or more; the oldest
 * go in first, so each bucket lists the newest first, as head does. */
static void index_rebuild(Arena *a, Scope *sc)
{
    uint32_t cap = 64;
    while (cap < 2 * sc->count)
        cap *= 2;
    sc->index = arena_alloc(a, sizeof *sc->index * cap);
    memset(sc->index, 0, sizeof *sc->index * cap);
    sc->index_cap = cap;
    Binding **all = arena_alloc(a, sizeof *all * sc->count);
    uint32_t n = 0;
    for (Binding *b = sc->head; b && n < sc->count; b = b->next)
        all[n++] = b;
    while (n > 0)
        index_add(sc, all[--n]);
}

void sema_bind(Sema *s, Scope *sc, const char *name, Value v, Span at)
{
    Binding *b = arena_alloc(s->c->arena, sizeof *b);
    b->name = name;
    b->v = v;
    b->span = at;
    b->next = sc->head;
    b->hnext = NULL;
    sc->head = b;
    sc->count++;
    if (sc->index && sc->count <= sc->index_cap / 2)
        index_add(sc, b);
    else if (sc->count > SCOPE_INDEX_AFTER)
        index_rebuild(s->c->arena, sc);
}

static Binding *lookup(Scope *sc, const char *name)
{
    for (; sc; sc = sc->parent) {
        if (sc->index) {
            for (Binding *b = sc->index[str_hash(name) & (sc->index_cap - 1)]; b; b = b->hnext)
                if (strcmp(b->name, name) == 0)
                    return b;
            continue;
        }
        for (Binding *b = sc->head; b; b = b->next)
            if (strcmp(b->name, name) == 0)
                return b;
    }
    return NULL;
}

/* The layer or model declared as name (decl_names holds both, by their
 * index among the declarations), if it is of this kind. */
static const Ast *find_decl(Sema *s, AstKind kind, const char *name)
{
    const Binding *b = lookup(&s->decl_names, name);
    if (!b)
        return NULL;
    const Ast *decl = s->c->decls.items[b->v.nitems];
    return decl->kind == kind ? decl : NULL;
}

static int find_op(const char *name)
{
    for (int op = 0; op < OP_COUNT; op++)
        if (ir_ops[op].kind == OPK_SURFACE && strcmp(ir_ops[op].name, name) == 0)
            return op;
    return -1;
}

int sema_model_graph(Sema *s, const char *name)
{
    for (int i = 0; i < s->c->prog->nmodels; i++)
        if (strcmp(s->c->prog->graphs[i].name, name) == 0)
            return i;
    return -1;
}

/* The source text of a span for messages, if short and on one line. */
static const char *source_text(Sema *s, Span at, const char *fallback)
{
    uint32_t len = at.end - at.begin;
    const char *p = s->c->src.text + at.begin;
    if (len == 0 || len > 72 || memchr(p, '\n', len))
        return fallback;
    return arena_strndup(s->c->arena, p, len);
}

/* Candidates for "did you mean": everything callable, and names in scope. */
static const char **callable_names(Sema *s, Scope *sc, int *n)
{
    int cap = OP_COUNT + s->nlayers + s->nmodels + 64, k = 0;
    const char **names = arena_alloc(s->c->arena, sizeof *names * (size_t)cap);
    for (int op = 0; op < OP_COUNT; op++)
        if (ir_ops[op].kind == OPK_SURFACE)
            names[k++] = ir_ops[op].name;
    for (int i = 0; i < s->nlayers; i++)
        names[k++] = s->layers[i]->name;
    if (s->allow_model_calls)
        for (int i = 0; i < s->nmodels; i++)
            names[k++] = s->models[i]->name;
    for (Scope *q = sc; q; q = q->parent)
        for (Binding *b = q->head; b && k < cap; b = b->next)
            names[k++] = b->name;
    *n = k;
    return names;
}

/* ------------------------------------------------- integer arithmetic */

/* Integer expressions on dimensions are exact: overflow is an error, and
 * `/` gives an integer only when it divides (1/255 is a fraction). */
static Value arith(Sema *s, char op, Value a, Value b, Span at)
{
    if (a.kind == V_INT && b.kind == V_INT) {
        int64_t r;
        bool over = false;
        switch (op) {
        case '+': over = __builtin_add_overflow(a.i, b.i, &r); break;
        case '-': over = __builtin_sub_overflow(a.i, b.i, &r); break;
        case '*': over = __builtin_mul_overflow(a.i, b.i, &r); break;
        case '/':
            if (b.i == 0) {
                diag_error(&s->c->diag, at, "division by zero");
                return poison();
            }
            if (a.i == INT64_MIN && b.i == -1) {
                over = true;
                break;
            }
            if (a.i % b.i)
                return float_value((double)a.i / (double)b.i);
            r = a.i / b.i;
            break;
        default: unreachable();
        }
        if (over) {
            diag_error(&s->c->diag, at, "integer overflow: %lld %c %lld does not fit in 64 bits",
                       (long long)a.i, op, (long long)b.i);
            return poison();
        }
        return int_value(r);
    }
    double x = a.kind == V_INT ? (double)a.i : a.f, y = b.kind == V_INT ? (double)b.i : b.f;
    switch (op) {
    case '+': return float_value(x + y);
    case '-': return float_value(x - y);
    case '*': return float_value(x * y);
    case '/':
        if (y == 0) {
            diag_error(&s->c->diag, at, "division by zero");
            return poison();
        }
        return float_value(x / y);
    default: unreachable();
    }
}


/* ----------------------------------------------------- node creation */

/* Stable names: a label wins; otherwise the callee and a 1-based count per
 * scope ("dense1", "block2.relu1"), skipping names a label already took. */
static unsigned name_hash(const char *name)
{
    unsigned h = 2166136261u; /* FNV-1a */
    for (; *name; name++)
        h = (h ^ (unsigned char)*name) * 16777619u;
    return h % 1024;
}

static bool name_taken(Sema *s, const char *name)
{
    for (UsedName *u = s->used[name_hash(name)]; u; u = u->next)
        if (strcmp(u->name, name) == 0)
            return true;
    return false;
}

static void take_name(Sema *s, const char *name, Span at)
{
    UsedName *u = arena_alloc(s->c->arena, sizeof *u);
    u->name = name;
    u->span = at;
    u->next = s->used[name_hash(name)];
    s->used[name_hash(name)] = u;
}

static const char *derive_name(Sema *s, const char *callee, const char *label, Span label_span)
{
    Arena *a = s->c->arena;
    if (label) {
        const char *name = arena_printf(a, "%s%s", s->prefix, label);
        for (UsedName *u = s->used[name_hash(name)]; u; u = u->next)
            if (strcmp(u->name, name) == 0) {
                diag_error(&s->c->diag, label_span, "duplicate layer name '%s'; each layer call needs its own name, as its parameters are saved under it", label);
                diag_note(&s->c->diag, u->span, "'%s' first named here", label);
                return arena_printf(a, "%s%s#dup", s->prefix, label);
            }
        take_name(s, name, label_span);
        return name;
    }
    const char *key = arena_printf(a, "%s%s", s->prefix, callee);
    NameCount *nc = s->counts;
    while (nc && strcmp(nc->key, key) != 0)
        nc = nc->next;
    if (!nc) {
        nc = arena_alloc(a, sizeof *nc);
        nc->key = key;
        nc->next = s->counts;
        s->counts = nc;
    }
    const char *name;
    do
        name = arena_printf(a, "%s%d", key, ++nc->count);
    while (name_taken(s, name));
    take_name(s, name, label_span);
    return name;
}

static uint32_t add_node(Sema *s, Op op, DType dt, Shape sh, const uint32_t *inputs, int ninputs, int ndata,
                         Attr *attrs, const char *name, Span at)
{
    Node n = { 0 };
    n.op = op;
    n.dtype = dt;
    n.shape = sh;
    n.ninputs = ninputs;
    n.ndata = ndata;
    if (ninputs) {
        n.inputs = arena_alloc(s->c->arena, sizeof *n.inputs * (size_t)ninputs);
        memcpy(n.inputs, inputs, sizeof *n.inputs * (size_t)ninputs);
    }
    n.attrs = attrs;
    n.name = name;
    n.span = at;
    return ir_add_node(s->c, s->g, &n);
}

/* The softmax node n's values come out of, through model calls, or NULL. */
static const Node *softmax_source(const Sema *s, const Node *n)
{
    const Program *p = s->c->prog;
    while (n->op == OP_model_call && p->graphs[n->model].has_output) {
        const Graph *m = &p->graphs[n->model];
        n = &m->nodes[m->output];
    }
    return n->op == OP_softmax ? n : NULL;
}

/* Runs the op's shape rule; on success adds its parameters and the node. */
Value sema_build_op(Sema *s, Op op, const uint32_t *data, int ndata, Attr *attrs, const char *call_text,
                      const char *name, Span at)
{
    Shape in[MAX_DATA_INPUTS];
    DType dt[MAX_DATA_INPUTS];
    if (ndata > MAX_DATA_INPUTS)
        die("%s: %d inputs", call_text, ndata); /* call_builtin refuses them */
    for (int i = 0; i < ndata; i++) {
        in[i] = node_at(s, data[i])->shape;
        dt[i] = node_at(s, data[i])->dtype;
    }
    ShapeCtx ctx = { .c = s->c, .op = op, .call = call_text, .in = in, .in_dtype = dt, .nin = ndata,
                     .attrs = attrs };
    /* Softmax twice: the loss's own and the model's; training then stalls
     * near ln C with nothing to say why. */
    const Node *twice = op == OP_cross_entropy && ndata > 0 ? softmax_source(s, node_at(s, data[0])) : NULL;
    if (twice) {
        diag_error(&s->c->diag, at,
                   "%s takes class scores and applies softmax itself, but these scores come out of "
                   "softmax, so it would be applied twice and training would stall; drop the "
                   "softmax at the model's end (predict --probs gives probabilities)", call_text);
        diag_note(&s->c->diag, twice->span, "the softmax is here");
        return poison();
    }
    if (!shape_infer(&ctx)) {
        diag_error(&s->c->diag, at, "%s", ctx.err);
        return poison();
    }
    if (ctx.warn[0])
        diag_warning(&s->c->diag, at, "%s", ctx.warn);
    if (ir_shape_elems(&ctx.out) > MAX_ELEMS) {
        diag_error(&s->c->diag, at, "%s gives %s, more than 2^40 values per sample",
                   call_text, ir_type_str(s->c, ctx.out_dtype, &ctx.out));
        return poison();
    }
    uint32_t inputs[MAX_DATA_INPUTS + 6];
    memcpy(inputs, data, sizeof *data * (size_t)ndata);
    for (int k = 0; k < ctx.nparams; k++) {
        const ShapeParamDecl *d = &ctx.params[k];
        Param p = { .name = arena_printf(s->c->arena, "%s.%s", name, d->suffix), .shape = d->shape,
                    .init = d->init, .fan_in = d->fan_in, .fan_out = d->fan_out,
                    .trainable = d->trainable, .span = at };
        uint32_t pi = ir_add_param(s->c, &p);
        Node pn = { .op = OP_param, .dtype = DT_F32, .shape = d->shape, .param = pi, .name = p.name, .span = at };
        inputs[ndata + k] = ir_add_node(s->c, s->g, &pn);
    }
    return tensor_value(add_node(s, op, ctx.out_dtype, ctx.out, inputs, ndata + ctx.nparams, ndata, attrs,
                                 name, at));
}

/* Arithmetic with a number: x * k, x + k, k - x, x / k become one scale op. */
static Value scale_op(Sema *s, uint32_t x, double factor, double offset, Span at, const char *what)
{
    Attr *attrs = arena_alloc(s->c->arena, sizeof *attrs * 3);
    attrs[1].f = factor;
    attrs[2].f = offset;
    return sema_build_op(s, OP_scale, &x, 1, attrs, what, derive_name(s, "scale", NULL, at), at);
}

/* An operand of a broadcasting add, sub or mul whose shape is not a suffix
 * of the result's (f32[3, 1] against f32[3, 4], f32[1] against f32[8]) is
 * repeated to the result's shape first by an expand op, so the
 * elementwise loop reads every operand whole or as a repeated row. Shapes
 * that do not broadcast are left to the op's rule, which says why. */
static void expand_operands(Sema *s, Op o, uint32_t in[2], Span at)
{
    Shape sh[2] = { node_at(s, in[0])->shape, node_at(s, in[1])->shape };
    DType dt[2] = { node_at(s, in[0])->dtype, node_at(s, in[1])->dtype };
    Attr none[2];
    memset(none, 0, sizeof none);
    ShapeCtx ctx = { .c = s->c, .op = o, .call = ir_ops[o].name, .in = sh, .in_dtype = dt, .nin = 2, .attrs = none };
    if (!shape_infer(&ctx))
        return;
    for (int k = 0; k < 2; k++) {
        const Shape *x = &sh[k];
        bool suffix = x->rank <= ctx.out.rank;
        for (int i = 0; suffix && i < x->rank; i++)
            suffix = x->dim[x->rank - 1 - i] == ctx.out.dim[ctx.out.rank - 1 - i];
        if (suffix)
            continue;
        Attr *attrs = arena_alloc(s->c->arena, sizeof *attrs * 2);
        attrs[1].nints = ctx.out.rank;
        attrs[1].ints = arena_alloc(s->c->arena, sizeof *attrs[1].ints * (size_t)(ctx.out.rank + 1));
        memcpy(attrs[1].ints, ctx.out.dim, sizeof *attrs[1].ints * (size_t)ctx.out.rank);
        Value v = sema_build_op(s, OP_expand, &in[k], 1, attrs, "broadcast", derive_name(s, "expand", NULL, at), at);
        if (v.kind == V_TENSOR)
            in[k] = v.node;
    }
}

static Value tensor_arith(Sema *s, char op, Value a, Value b, Span at)
{
    Arena *ar = s->c->arena;
    const char *sym = arena_printf(ar, "'%c'", op);
    if (a.kind == V_TENSOR && b.kind == V_TENSOR) {
        if (op == '/') {
            diag_error(&s->c->diag, at, "dividing a tensor by a tensor is not supported; multiply by a number instead");
            return poison();
        }
        Op o = op == '+' ? OP_add : op == '-' ? OP_sub : OP_mul;
        uint32_t in[2] = { a.node, b.node };
        expand_operands(s, o, in, at);
        Attr *attrs = arena_alloc(ar, sizeof *attrs * 2);
        return sema_build_op(s, o, in, 2, attrs, sym, derive_name(s, ir_ops[o].name, NULL, at), at);
    }
    bool left = a.kind == V_TENSOR;
    const Value *t = left ? &a : &b, *k = left ? &b : &a;
    if (!is_number(k)) {
        diag_error(&s->c->diag, at, "cannot apply %s to %s and %s", sym, sema_describe(s, &a), sema_describe(s, &b));
        return poison();
    }
    double v = number_of(k);
    switch (op) {
    case '+': return scale_op(s, t->node, 1, v, at, sym);
    case '-': return left ? scale_op(s, t->node, 1, -v, at, sym) : scale_op(s, t->node, -1, v, at, sym);
    case '*': return scale_op(s, t->node, v, 0, at, sym);
    case '/':
        if (!left) {
            diag_error(&s->c->diag, at, "dividing a number by a tensor is not supported");
            return poison();
        }
        if (v == 0) {
            diag_error(&s->c->diag, at, "division by zero");
            return poison();
        }
        return scale_op(s, t->node, 1 / v, 0, at, sym);
    default: unreachable();
    }
}

/* ------------------------------------------------------- expressions */

static Value eval_name(Sema *s, Scope *sc, const Ast *e)
{
    Binding *b = lookup(sc, e->name);
    if (b)
        return b->v;
    if (!s->allow_model_calls && (!strcmp(e->name, "real") || !strcmp(e->name, "noise"))) {
        diag_error(&s->c->diag, e->span, "'%s' exists only in the loss of a train step, as in step D { loss bce(D(real), 1) }",
                   e->name);
        return poison();
    }
    if (!strcmp(e->name, "noise")) {
        diag_error(&s->c->diag, e->span, "this train block has no noise source; add e.g. 'noise normal(64)'");
        return poison();
    }
    if (find_op(e->name) >= 0 || find_decl(s, AST_LAYER, e->name)) {
        diag_error(&s->c->diag, e->span, "'%s' is a layer; call it as %s(x) or put it in a chain: x -> %s",
                   e->name, e->name, e->name);
        return poison();
    }
    int n;
    const char **cands = callable_names(s, sc, &n);
    const char *hint = diag_suggest(e->name, cands, n);
    if (hint)
        diag_error(&s->c->diag, e->span, "unknown name '%s'; did you mean '%s'?", e->name, hint);
    else
        diag_error(&s->c->diag, e->span, "unknown name '%s'", e->name);
    return poison();
}

/* A chain stage: `relu`, `dense(10)`, `fc: dense(10)`, `repeat 4 block()`. */
static Value apply_stage(Sema *s, Scope *sc, Value v, Span v_span, const Ast *stage, const char *forced_name)
{
    switch (stage->kind) {
    case AST_NAME: {
        Binding *b = lookup(sc, stage->name);
        if (b && b->v.kind == V_TENSOR) {
            diag_error(&s->c->diag, stage->span, "'%s' is a tensor, not a layer; a chain stage must be a layer such as relu or dense(10)",
                       stage->name);
            return poison();
        }
        Ast call = *stage;
        call.kind = AST_CALL;
        call.name_span = stage->span;
        call.list = ast_list_new();
        return eval_call(s, sc, &call, &v, v_span, forced_name);
    }
    case AST_CALL:
        return eval_call(s, sc, stage, &v, v_span, forced_name);
    case AST_REPEAT: {
        Value n = sema_eval(s, sc, stage->lhs);
        if (n.kind == V_POISON)
            return poison();
        if (n.kind != V_INT || n.i < 1 || n.i > MAX_REPEAT) {
            diag_error(&s->c->diag, stage->lhs->span, "repeat count must be an integer from 1 to %d, got %s",
                       MAX_REPEAT, sema_describe(s, &n));
            return poison();
        }
        const Ast *inner = stage->rhs;
        if (inner->kind == AST_REPEAT) {
            diag_error(&s->c->diag, inner->span, "nested repeat; wrap the inner one in a layer");
            return poison();
        }
        /* The copies share one name with an index: block1.0, block1.1, ... */
        const char *base = derive_name(s, inner->name, inner->kind == AST_CALL ? inner->label : NULL,
                                       inner->kind == AST_CALL && inner->label ? inner->label_span : inner->span);
        for (int64_t i = 0; i < n.i && v.kind != V_POISON; i++)
            v = apply_stage(s, sc, v, v_span, inner, arena_printf(s->c->arena, "%s.%lld", base, (long long)i));
        return v;
    }
    default:
        diag_error(&s->c->diag, stage->span, "a chain stage must be a layer call");
        return poison();
    }
}

Value sema_eval(Sema *s, Scope *sc, const Ast *e)
{
    switch (e->kind) {
    case AST_INT: return int_value(e->ival);
    case AST_FLOAT: return float_value(e->fval);
    case AST_BOOL: { Value v = { .kind = V_BOOL, .i = e->ival }; return v; }
    case AST_STRING: { Value v = { .kind = V_STRING, .s = e->str }; return v; }
    case AST_NAME: return eval_name(s, sc, e);
    case AST_CALL: return eval_call(s, sc, e, NULL, e->span, NULL);
    case AST_BINARY: {
        Value a = sema_eval(s, sc, e->lhs), b = sema_eval(s, sc, e->rhs);
        if (a.kind == V_POISON || b.kind == V_POISON)
            return poison();
        if (is_number(&a) && is_number(&b))
            return arith(s, e->op, a, b, e->span);
        if (a.kind == V_TENSOR || b.kind == V_TENSOR)
            return tensor_arith(s, e->op, a, b, e->span);
        diag_error(&s->c->diag, e->span, "cannot apply '%c' to %s and %s", e->op, sema_describe(s, &a), sema_describe(s, &b));
        return poison();
    }
    case AST_NEG: {
        Value a = sema_eval(s, sc, e->lhs);
        if (a.kind == V_POISON)
            return a;
        if (a.kind == V_INT)
            return arith(s, '-', int_value(0), a, e->span);
        if (a.kind == V_FLOAT)
            return float_value(-a.f);
        if (a.kind == V_TENSOR)
            return scale_op(s, a.node, -1, 0, e->span, "'-'");
        diag_error(&s->c->diag, e->span, "cannot negate %s", sema_describe(s, &a));
        return poison();
    }
    case AST_CHAIN: {
        Value v = sema_eval(s, sc, e->list.items[0]);
        Span at = e->list.items[0]->span;
        for (int i = 1; i < e->list.count && v.kind != V_POISON; i++) {
            if (v.kind != V_TENSOR) {
                diag_error(&s->c->diag, at, "a chain starts from a tensor, not %s", sema_describe(s, &v));
                return poison();
            }
            v = apply_stage(s, sc, v, at, e->list.items[i], NULL);
            at = span_join(at, e->list.items[i]->span);
        }
        return v;
    }
    case AST_REPEAT:
        diag_error(&s->c->diag, e->span, "repeat is a chain stage: write x -> repeat N layer(...)");
        return poison();
    case AST_LIST: {
        Value v = { .kind = V_LIST, .nitems = e->list.count };
        v.items = arena_alloc(s->c->arena, sizeof *v.items * (size_t)(e->list.count + 1));
        for (int i = 0; i < e->list.count; i++) {
            v.items[i] = sema_eval(s, sc, e->list.items[i]);
            if (v.items[i].kind == V_POISON)
                return poison();
        }
        return v;
    }
    case AST_KWARG:
        diag_error(&s->c->diag, e->span, "'%s = ...' is only allowed as a call argument", e->name);
        return poison();
    case AST_TYPE: case AST_LET: case AST_RETURN: case AST_EXPR: case AST_PARAM: case AST_MODEL:
    case AST_LAYER: case AST_CONST: case AST_TRAIN: case AST_ITEM: case AST_STEP: case AST_AUGMENT:
    case AST_INIT: case AST_MAP:
        break;
    }
    die("eval of a non-expression");
}

/* ---------------------------------------------------- argument binding */

static const char *kind_name(ArgKind k)
{
    switch (k) {
    case ARG_TENSOR: return "a tensor";
    case ARG_TENSORS: return "tensors";
    case ARG_OPERAND: return "a tensor or a number";
    case ARG_INT: return "an integer";
    case ARG_INTS: return "integers";
    case ARG_FLOAT: return "a number";
    case ARG_BOOL: return "true or false";
    case ARG_STRING: return "a string";
    case ARG_PADDING: return "an integer >= 0, \"same\" or \"valid\"";
    }
    unreachable();
}

static bool value_fits(const Value *v, ArgKind k)
{
    switch (k) {
    case ARG_TENSOR: case ARG_TENSORS: return v->kind == V_TENSOR;
    case ARG_OPERAND: return v->kind == V_TENSOR || is_number(v);
    case ARG_INT: case ARG_INTS: return v->kind == V_INT;
    case ARG_FLOAT: return is_number(v);
    case ARG_BOOL: return v->kind == V_BOOL;
    case ARG_STRING: return v->kind == V_STRING;
    case ARG_PADDING:
        /* Negative integers would alias PAD_SAME and PAD_VALID. */
        return (v->kind == V_INT && v->i >= 0) || (v->kind == V_STRING && (!strcmp(v->s, "same") || !strcmp(v->s, "valid")));
    }
    unreachable();
}

static const char *signature_text(Sema *s, const char *callee, const ArgSpec *args, int nargs)
{
    char buf[512];
    size_t n = (size_t)snprintf(buf, sizeof buf, "%s(", callee);
    for (int i = 0; i < nargs && n < sizeof buf; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s%s", i ? ", " : "", args[i].name,
                              args[i].kind == ARG_TENSORS || args[i].kind == ARG_INTS ? "..." : "");
    if (n < sizeof buf)
        snprintf(buf + n, sizeof buf - n, ")");
    return arena_strdup(s->c->arena, buf);
}

/* The piped value (`x -> f(...)`) fills the first slot, or starts a
 * variadic one. Returns the next positional slot, or -1 after reporting. */
static int bind_piped(Sema *s, const Ast *call, const char *callee, const ArgSpec *args, int nargs, const Value *piped,
                      Span piped_span, Bound *slots)
{
    if (nargs == 0 || (args[0].kind != ARG_TENSOR && args[0].kind != ARG_TENSORS)) {
        diag_error(&s->c->diag, call->span, "%s cannot be a chain stage: its first argument is not a tensor", callee);
        return -1;
    }
    slots[0].v = *piped;
    slots[0].span = piped_span;
    slots[0].set = true;
    if (args[0].kind != ARG_TENSORS)
        return 1;
    slots[0].many = arena_alloc(s->c->arena, sizeof(Value) * (size_t)(call->list.count + 1));
    slots[0].many[slots[0].nmany++] = *piped;
    return 0;
}

/* `name = value`: the slot of that name. Reports and returns false when
 * there is none or it is already filled. */
static bool bind_keyword(Sema *s, Scope *sc, const Ast *arg, const char *callee, const ArgSpec *args, int nargs,
                         bool piped, Bound *slots)
{
    Diag *d = &s->c->diag;
    int k = 0;
    while (k < nargs && strcmp(args[k].name, arg->name) != 0)
        k++;
    if (k == nargs) {
        const char *names[16];
        for (int j = 0; j < nargs && j < 16; j++)
            names[j] = args[j].name;
        const char *hint = diag_suggest(arg->name, names, nargs < 16 ? nargs : 16);
        if (hint)
            diag_error(d, arg->name_span, "%s has no argument '%s'; did you mean '%s'?", callee, arg->name, hint);
        else
            diag_error(d, arg->name_span, "%s has no argument '%s'; it takes %s", callee, arg->name,
                       signature_text(s, callee, args, nargs));
        return false;
    }
    if (slots[k].set) {
        diag_error(d, arg->span, "argument '%s' of %s is given twice", arg->name, callee);
        diag_note(d, slots[k].span, "'%s' is %s here%s", arg->name, piped && k == 0 ? "the chain's input" : "given",
                  piped && k == 0 ? "" : "; remove one of them");
        return false;
    }
    slots[k].v = sema_eval(s, sc, arg->lhs);
    slots[k].span = arg->lhs->span;
    slots[k].set = true;
    return true;
}

/* A bare name that is not a value but names a flag: attention(4, causal).
 * 1 when arg was such a flag (its slot is set), -1 after reporting a
 * misspelt one (attention(4, casual)), 0 when it is no flag. */
static int bind_flag(Sema *s, Scope *sc, const Ast *arg, const char *callee, const ArgSpec *args, int nargs,
                     Bound *slots)
{
    if (arg->kind != AST_NAME || lookup(sc, arg->name))
        return 0;
    const char *flags[16];
    int nflags = 0;
    for (int k = 0; k < nargs; k++)
        if (args[k].kind == ARG_BOOL) {
            if (strcmp(args[k].name, arg->name) == 0) {
                slots[k].v = (Value){ .kind = V_BOOL, .i = 1 };
                slots[k].span = arg->span;
                slots[k].set = true;
                return 1;
            }
            if (nflags < 16)
                flags[nflags++] = args[k].name;
        }
    const char *hint = nflags ? diag_suggest(arg->name, flags, nflags) : NULL;
    if (!hint || find_op(arg->name) >= 0 || find_decl(s, AST_LAYER, arg->name))
        return 0;
    diag_error(&s->c->diag, arg->span, "unknown name '%s'; did you mean %s's flag '%s'?", arg->name, callee, hint);
    return -1;
}

/* A positional argument: the next free slot, or the variadic slot being
 * filled. Returns the next slot, or -1 after reporting too many. */
static int bind_positional(Sema *s, Scope *sc, const Ast *call, int ai, const char *callee, const ArgSpec *args,
                           int nargs, bool piped, int next, Bound *slots)
{
    const Ast *arg = call->list.items[ai];
    Value v = sema_eval(s, sc, arg);
    while (next < nargs && slots[next].set && args[next].kind != ARG_TENSORS && args[next].kind != ARG_INTS)
        next++;
    if (next >= nargs) {
        diag_error(&s->c->diag, arg->span, "too many arguments to %s; it takes %s%s", callee,
                   signature_text(s, callee, args, nargs),
                   piped ? arena_printf(s->c->arena, ", and in a chain '%s' is the value before '->'", args[0].name) : "");
        return -1;
    }
    ArgKind k = args[next].kind;
    Bound *b = &slots[next];
    if ((k == ARG_TENSORS || k == ARG_INTS) && !(k == ARG_INTS && v.kind == V_LIST)) {
        if (!b->many)
            b->many = arena_alloc(s->c->arena, sizeof(Value) * (size_t)(call->list.count + 1));
        b->many[b->nmany++] = v;
        b->span = b->set ? span_join(b->span, arg->span) : arg->span;
        b->set = true;
        /* The variadic slot takes every following positional argument
         * of its kind. */
        if (ai + 1 < call->list.count && call->list.items[ai + 1]->kind != AST_KWARG)
            return next;
        return next + 1;
    }
    b->v = v;
    b->span = arg->span;
    b->set = true;
    return next + 1;
}

/* Slot k after binding: present unless it has a default, and of its
 * argument's kind. Reports and returns false otherwise. */
static bool check_slot(Sema *s, const Ast *call, const char *callee, const ArgSpec *args, int nargs, int k, Bound *b)
{
    Diag *d = &s->c->diag;
    if (!b->set) {
        if (args[k].has_default)
            return true;
        diag_error(d, call->span, "%s needs argument '%s' (%s); it takes %s", callee, args[k].name,
                   kind_name(args[k].kind), signature_text(s, callee, args, nargs));
        return false;
    }
    if (b->many) {
        bool fits = true; /* a poisoned value was reported where it was made */
        for (int j = 0; j < b->nmany; j++) {
            if (b->many[j].kind == V_POISON) {
                fits = false;
            } else if (!value_fits(&b->many[j], args[k].kind)) {
                diag_error(d, b->span, "argument '%s' of %s expects %s, got %s", args[k].name, callee,
                           kind_name(args[k].kind), sema_describe(s, &b->many[j]));
                return false;
            }
        }
        return fits;
    }
    if (b->v.kind == V_POISON)
        return false;
    if (args[k].kind == ARG_INTS && b->v.kind == V_LIST) {
        b->many = b->v.items;
        b->nmany = b->v.nitems;
        for (int j = 0; j < b->nmany; j++)
            if (b->many[j].kind != V_INT) {
                diag_error(d, b->span, "argument '%s' of %s expects integers, got %s", args[k].name, callee,
                           sema_describe(s, &b->many[j]));
                return false;
            }
        return true;
    }
    if (!value_fits(&b->v, args[k].kind)) {
        const char *hint = "";
        if (args[k].kind == ARG_INT && b->v.kind == V_FLOAT)
            hint = "; dimensions and counts are whole numbers";
        diag_error(d, b->span, "argument '%s' of %s expects %s, got %s%s", args[k].name, callee, kind_name(args[k].kind),
                   sema_describe(s, &b->v), hint);
        return false;
    }
    return true;
}

/* Fills slots from the piped value, positional and keyword arguments,
 * checking each against its kind. Reports and returns false on error. */
bool sema_bind_args(Sema *s, Scope *sc, const Ast *call, const char *callee, const ArgSpec *args, int nargs,
                    const Value *piped, Span piped_span, Bound *slots)
{
    bool ok = true;
    int next = 0;
    if (piped && (next = bind_piped(s, call, callee, args, nargs, piped, piped_span, slots)) < 0)
        return false;
    for (int ai = 0; ai < call->list.count; ai++) {
        const Ast *arg = call->list.items[ai];
        if (arg->kind == AST_KWARG)
            ok = bind_keyword(s, sc, arg, callee, args, nargs, piped != NULL, slots) && ok;
        else {
            int flag = bind_flag(s, sc, arg, callee, args, nargs, slots);
            if (flag < 0 || (flag == 0 && (next = bind_positional(s, sc, call, ai, callee, args, nargs,
                                                                  piped != NULL, next, slots)) < 0))
                return false;
        }
    }
    for (int k = 0; k < nargs; k++)
        ok = check_slot(s, call, callee, args, nargs, k, &slots[k]) && ok;
    return ok;
}

/* Non-tensor slots become the node's attrs, by signature position. */
static Attr *make_attrs(Sema *s, const ArgSpec *args, int nargs, const Bound *slots)
{
    Attr *attrs = arena_alloc(s->c->arena, sizeof *attrs * (size_t)(nargs + 1));
    for (int k = 0; k < nargs; k++) {
        const ArgSpec *a = &args[k];
        const Bound *b = &slots[k];
        Attr *at = &attrs[k];
        if (!b->set) {
            at->i = a->dint;
            at->f = a->dfloat;
            at->s = a->dstr;
            if (a->kind == ARG_OPERAND)
                at->is_number = false;
            continue;
        }
        switch (a->kind) {
        case ARG_TENSOR: case ARG_TENSORS: break;
        case ARG_OPERAND:
            if (is_number(&b->v)) {
                at->is_number = true;
                at->f = number_of(&b->v);
            }
            break;
        case ARG_INT: case ARG_BOOL: at->i = b->v.i; break;
        case ARG_FLOAT: at->f = number_of(&b->v); break;
        case ARG_STRING: at->s = b->v.s; break;
        case ARG_PADDING:
            at->i = b->v.kind == V_INT ? b->v.i : !strcmp(b->v.s, "same") ? PAD_SAME : PAD_VALID;
            break;
        case ARG_INTS:
            at->nints = b->nmany;
            at->ints = arena_alloc(s->c->arena, sizeof *at->ints * (size_t)(b->nmany + 1));
            for (int j = 0; j < b->nmany; j++)
                at->ints[j] = b->many[j].i;
            break;
        }
    }
    return attrs;
}

/* ------------------------------------------------------------- calls */

static Value call_builtin(Sema *s, Scope *sc, const Ast *call, Op op, const Value *piped, Span piped_span,
                          const char *forced_name)
{
    const OpInfo *info = &ir_ops[op];
    Bound slots[16];
    memset(slots, 0, sizeof slots);
    /* The call's name is taken first so names follow source order. */
    const char *name = forced_name ? forced_name : derive_name(s, info->name, call->label,
                                                                call->label ? call->label_span : call->name_span);
    if (!sema_bind_args(s, sc, call, info->name, info->args, info->nargs, piped, piped_span, slots))
        return poison();
    const char *text = source_text(s, call->span, arena_printf(s->c->arena, "%s(...)", info->name));
    uint32_t data[MAX_DATA_INPUTS];
    int ndata = 0;
    for (int k = 0; k < info->nargs; k++) {
        const Bound *b = &slots[k];
        if (info->args[k].kind == ARG_TENSOR || (info->args[k].kind == ARG_OPERAND && b->set && b->v.kind == V_TENSOR)) {
            data[ndata++] = b->v.node;
        } else if (info->args[k].kind == ARG_TENSORS) {
            if (ndata + b->nmany > MAX_DATA_INPUTS) {
                diag_error(&s->c->diag, call->span, "%s: too many inputs (%d); the limit is %d, so nest the calls: %s(%s(a, b), c)",
                           text, ndata + b->nmany, MAX_DATA_INPUTS, info->name, info->name);
                return poison();
            }
            for (int j = 0; j < b->nmany; j++)
                data[ndata++] = b->many[j].node;
        }
    }
    return sema_build_op(s, op, data, ndata, make_attrs(s, info->args, info->nargs, slots), text, name, call->span);
}

/* One dimension of a type: an integer, or false after reporting (a
 * poisoned value was reported where it was made). */
static bool eval_dim(Sema *s, Scope *sc, const Ast *dim, Value *v)
{
    *v = sema_eval(s, sc, dim);
    if (v->kind == V_POISON)
        return false;
    if (v->kind != V_INT) {
        diag_error(&s->c->diag, dim->span, "a dimension must be an integer, got %s", sema_describe(s, v));
        return false;
    }
    return true;
}

/* Matches an actual tensor against a declared type `f32[T, D]`: literal
 * dimensions must be equal, unbound names are bound to the actual size. */
static bool match_type(Sema *s, Scope *sc, const Ast *type, uint32_t actual, Span at, const char *what)
{
    Node *n = node_at(s, actual);
    const char *want = source_text(s, type->span, type->name);
    DType dt = strcmp(type->name, "i32") == 0 ? DT_I32 : DT_F32;
    bool ok = n->dtype == dt && (!type->has_dims || n->shape.rank == type->list.count);
    const Binding *fixed = NULL; /* a name in the type that already had a value */
    int64_t fixed_value = 0;
    for (int i = 0; ok && type->has_dims && i < type->list.count; i++) {
        const Ast *dim = type->list.items[i];
        if (dim->kind == AST_NAME && !lookup(sc, dim->name)) {
            sema_bind(s, sc, dim->name, int_value(n->shape.dim[i]), dim->span);
            continue;
        }
        Value v;
        if (!eval_dim(s, sc, dim, &v))
            return false;
        ok = v.i == n->shape.dim[i];
        if (!ok && dim->kind == AST_NAME) {
            fixed = lookup(sc, dim->name);
            fixed_value = v.i;
        }
    }
    if (!ok) {
        /* `what` is "proj's 'x'" (an argument) or "layer 'half'" (a result). A
         * dimension name that already has a value (a const, an earlier
         * parameter) is a check, not a new name: say which value it had. */
        const char *with = fixed ? arena_printf(s->c->arena, " with %s = %lld", fixed->name, (long long)fixed_value) : "";
        if (strncmp(what, "layer '", 7) == 0)
            diag_error(&s->c->diag, at, "%s should return %s%s, but its body produces %s", what, want, with,
                       type_of(s, actual));
        else
            diag_error(&s->c->diag, at, "%s expects %s%s, got %s", what, want, with, type_of(s, actual));
        if (fixed && lookup(&s->globals, fixed->name) == fixed)
            diag_note(&s->c->diag, fixed->span, "'%s' is this const; rename the dimension in the layer's type to let it take any size",
                      fixed->name);
        return false;
    }
    return true;
}

static bool known_type(Sema *s, const Ast *type, bool tensor_only)
{
    static const char *const tensors[] = { "f32", "i32" };
    static const char *const all[] = { "f32", "i32", "int", "float", "bool", "string" };
    bool is_tensor = !strcmp(type->name, "f32") || !strcmp(type->name, "i32");
    bool is_scalar = !strcmp(type->name, "int") || !strcmp(type->name, "float") ||
                     !strcmp(type->name, "bool") || !strcmp(type->name, "string");
    if (is_tensor || (is_scalar && !tensor_only)) {
        if (is_scalar && type->has_dims) {
            diag_error(&s->c->diag, type->span, "'%s' takes no dimensions", type->name);
            return false;
        }
        return true;
    }
    const char *hint = tensor_only ? diag_suggest(type->name, tensors, 2) : diag_suggest(type->name, all, 6);
    if (hint)
        diag_error(&s->c->diag, type->name_span, "unknown type '%s'; did you mean '%s'?", type->name, hint);
    else
        diag_error(&s->c->diag, type->name_span, "unknown type '%s'; %s", type->name,
                   tensor_only ? "tensors are f32[...] or i32[...]" : "use f32[...], i32[...], int, float, bool or string");
    return false;
}

static Value eval_body(Sema *s, Scope *sc, const Ast *decl, const char *what);

static ArgKind param_kind(const Ast *type)
{
    if (!strcmp(type->name, "int"))
        return ARG_INT;
    if (!strcmp(type->name, "float"))
        return ARG_FLOAT;
    if (!strcmp(type->name, "bool"))
        return ARG_BOOL;
    if (!strcmp(type->name, "string"))
        return ARG_STRING;
    return ARG_TENSOR;
}

static Value call_layer(Sema *s, Scope *sc, const Ast *call, const Ast *layer, const Value *piped, Span piped_span,
                        const char *forced_name)
{
    Diag *d = &s->c->diag;
    for (int i = 0; i < s->depth; i++)
        if (s->stack[i] == layer) {
            diag_error(d, call->span, "layer '%s' calls itself; a network has a fixed depth (use repeat N)", layer->name);
            return poison();
        }
    if (s->depth == MAX_LAYER_DEPTH) {
        diag_error(d, call->span, "layers nested more than %d deep", MAX_LAYER_DEPTH);
        return poison();
    }
    int nargs = layer->list.count;
    ArgSpec *args = arena_alloc(s->c->arena, sizeof *args * (size_t)(nargs + 1));
    for (int i = 0; i < nargs; i++) {
        const Ast *p = layer->list.items[i];
        args[i].name = p->name;
        args[i].kind = param_kind(p->type);
        args[i].has_default = p->lhs != NULL;
    }
    const char *name = forced_name ? forced_name : derive_name(s, layer->name, call->label,
                                                                call->label ? call->label_span : call->name_span);
    Bound *slots = arena_alloc(s->c->arena, sizeof *slots * (size_t)(nargs + 1));
    if (!sema_bind_args(s, sc, call, layer->name, args, nargs, piped, piped_span, slots))
        return poison();
    Scope inner = { .parent = &s->globals };
    for (int i = 0; i < nargs; i++) {
        const Ast *p = layer->list.items[i];
        Value v = slots[i].set ? slots[i].v : sema_eval(s, &inner, p->lhs);
        if (v.kind == V_POISON)
            return poison();
        if (!slots[i].set && !value_fits(&v, args[i].kind)) {
            diag_error(d, p->lhs->span, "default of '%s' must be %s, got %s", p->name, kind_name(args[i].kind),
                       sema_describe(s, &v));
            return poison();
        }
        if (args[i].kind == ARG_TENSOR &&
            !match_type(s, &inner, p->type, v.node, slots[i].set ? slots[i].span : call->span,
                        arena_printf(s->c->arena, "%s's '%s'", layer->name, p->name))) {
            diag_note(d, p->span, "'%s' declared here", p->name);
            return poison();
        }
        if (args[i].kind == ARG_FLOAT && v.kind == V_INT)
            v = float_value((double)v.i);
        sema_bind(s, &inner, p->name, v, p->span);
    }
    const char *saved = s->prefix;
    s->prefix = arena_printf(s->c->arena, "%s.", name);
    s->stack[s->depth++] = layer;
    int errors_before = d->errors;
    Value r = eval_body(s, &inner, layer, "layer");
    s->depth--;
    s->prefix = saved;
    if (d->errors > errors_before)
        diag_note(d, call->span, "in layer '%s' called here", layer->name);
    if (r.kind == V_TENSOR && layer->type &&
        !match_type(s, &inner, layer->type, r.node, call->span,
                    arena_printf(s->c->arena, "layer '%s'", layer->name))) {
        diag_note(d, layer->type->span, "return type declared here");
        return poison();
    }
    return r;
}

static Value call_model(Sema *s, Scope *sc, const Ast *call, int gi, const Value *piped, Span piped_span)
{
    Program *p = s->c->prog;
    Graph *m = &p->graphs[gi];
    if (m == s->g || !m->has_output)
        return poison(); /* the model itself had errors */
    Bound slots[16];
    memset(slots, 0, sizeof slots);
    ArgSpec args[16] = { { 0 } };
    int nargs = m->ninputs < 16 ? m->ninputs : 16;
    for (int i = 0; i < nargs; i++) {
        args[i].name = m->nodes[m->inputs[i]].name;
        args[i].kind = ARG_TENSOR;
    }
    if (!sema_bind_args(s, sc, call, m->name, args, nargs, piped, piped_span, slots))
        return poison();
    uint32_t in[16];
    for (int i = 0; i < nargs; i++) {
        const Node *want = &m->nodes[m->inputs[i]];
        Node *got = node_at(s, slots[i].v.node);
        if (s->has_deferred && slots[i].v.node == s->deferred_input) {
            got->shape = want->shape;
            got->dtype = want->dtype;
            s->has_deferred = false;
        }
        /* Data samples are reshaped to what the model takes when the
         * number of values agrees (28x28 images feed f32[784]). */
        bool data = got->op == OP_input;
        bool ok = got->dtype == want->dtype &&
                  (ir_shape_eq(&got->shape, &want->shape) ||
                   (data && ir_shape_elems(&got->shape) == ir_shape_elems(&want->shape)));
        if (!ok && got->op == OP_model_call) {
            /* a generator feeding a discriminator: the fix is in one of the two models */
            const Graph *from = &s->c->prog->graphs[got->model];
            diag_error(&s->c->diag, slots[i].span, "model '%s' returns %s but model '%s' takes %s: %s; make %s's output fit %s's input",
                       from->name, type_of(s, slots[i].v.node), m->name, want->name,
                       ir_type_str(s->c, want->dtype, &want->shape), from->name, m->name);
            return poison();
        }
        if (!ok) {
            diag_error(&s->c->diag, slots[i].span, "model '%s' takes %s: %s, got %s", m->name, want->name,
                       ir_type_str(s->c, want->dtype, &want->shape), type_of(s, slots[i].v.node));
            return poison();
        }
        in[i] = slots[i].v.node;
    }
    const Node *out = &m->nodes[m->output];
    Node n = { .op = OP_model_call, .dtype = out->dtype, .shape = out->shape, .model = (uint32_t)gi,
               .name = derive_name(s, m->name, NULL, call->name_span), .span = call->span };
    n.inputs = arena_alloc(s->c->arena, sizeof *n.inputs * (size_t)(nargs + 1));
    memcpy(n.inputs, in, sizeof *in * (size_t)nargs);
    n.ninputs = n.ndata = nargs;
    return tensor_value(ir_add_node(s->c, s->g, &n));
}

static Value eval_call(Sema *s, Scope *sc, const Ast *call, const Value *piped, Span piped_span,
                       const char *forced_name)
{
    const Ast *layer = find_decl(s, AST_LAYER, call->name);
    if (layer)
        return call_layer(s, sc, call, layer, piped, piped_span, forced_name);
    int op = find_op(call->name);
    if (op >= 0)
        return call_builtin(s, sc, call, (Op)op, piped, piped_span, forced_name);
    if (s->allow_model_calls) {
        int gi = sema_model_graph(s, call->name);
        if (gi >= 0)
            return call_model(s, sc, call, gi, piped, piped_span);
    }
    Diag *d = &s->c->diag;
    Binding *b = lookup(sc, call->name);
    if (b) {
        diag_error(d, call->name_span, "'%s' is %s, not a layer", call->name, sema_describe(s, &b->v));
        return poison();
    }
    /* The models' AST, not their graphs: a model may call one declared
     * later, and the graph count is final only after every model. */
    if (find_decl(s, AST_MODEL, call->name)) {
        diag_error(d, call->name_span, "model '%s' cannot be called here; models are called only in train-step losses (to share layers, declare them with 'layer')",
                   call->name);
        return poison();
    }
    int n;
    const char **cands = callable_names(s, sc, &n);
    const char *hint = diag_suggest(call->name, cands, n);
    if (hint)
        diag_error(d, call->name_span, "unknown layer '%s'; did you mean '%s'?", call->name, hint);
    else
        diag_error(d, call->name_span, "unknown layer '%s'; define it with 'layer %s(x: f32[N]) { ... }'",
                   call->name, call->name);
    return poison();
}

/* ------------------------------------------------------------- bodies */

/* Statements in order; the value is the `return`, or else the last bare
 * expression. */
static Value eval_body(Sema *s, Scope *sc, const Ast *decl, const char *what)
{
    Diag *d = &s->c->diag;
    Value result = poison();
    bool have = false, failed = false;
    const AstList *body = &decl->body;
    for (int i = 0; i < body->count; i++) {
        const Ast *st = body->items[i];
        switch (st->kind) {
        case AST_LET: {
            Value v = sema_eval(s, sc, st->lhs);
            failed |= v.kind == V_POISON;
            sema_bind(s, sc, st->name, v, st->name_span);
            break;
        }
        case AST_RETURN:
        case AST_EXPR: {
            Value v = sema_eval(s, sc, st->lhs);
            failed |= v.kind == V_POISON;
            if (st->kind == AST_RETURN || i == body->count - 1) {
                if (i != body->count - 1)
                    diag_warning(d, body->items[i + 1]->span, "statement after return is never used");
                result = v;
                have = true;
                i = body->count;
            } else if (v.kind != V_POISON) {
                diag_warning(d, st->span, "result of this expression is unused; bind it with 'name = ...'");
            }
            break;
        }
        default:
            die("statement kind %d", st->kind);
        }
    }
    if (!have) {
        if (!failed) {
            if (body->count && body->items[body->count - 1]->kind == AST_LET)
                diag_error(d, decl->name_span, "%s '%s' produces no result; its last statement binds '%s', end the body with '%s' or 'return ...'",
                           what, decl->name, body->items[body->count - 1]->name, body->items[body->count - 1]->name);
            else
                diag_error(d, decl->name_span, "%s '%s' produces no result; end its body with an expression or 'return ...'",
                           what, decl->name);
        }
        return poison();
    }
    if (result.kind != V_TENSOR && result.kind != V_POISON) {
        diag_error(d, body->items[body->count - 1]->span, "%s '%s' must produce a tensor, got %s", what, decl->name,
                   sema_describe(s, &result));
        return poison();
    }
    return result;
}

/* Evaluates a declared tensor type's dimensions in scope to a Shape. */
static bool eval_type(Sema *s, Scope *sc, const Ast *type, DType *dt, Shape *sh)
{
    if (!known_type(s, type, true))
        return false;
    *dt = strcmp(type->name, "i32") == 0 ? DT_I32 : DT_F32;
    if (!type->has_dims) {
        diag_error(&s->c->diag, type->span, "a tensor type needs its dimensions: %s[...]", type->name);
        return false;
    }
    if (type->list.count > MAX_RANK) {
        diag_error(&s->c->diag, type->span, "a sample has at most %d dimensions, got %d", MAX_RANK, type->list.count);
        return false;
    }
    sh->rank = type->list.count;
    int64_t elems = 1;
    for (int i = 0; i < type->list.count; i++) {
        const Ast *dim = type->list.items[i];
        Value v;
        if (!eval_dim(s, sc, dim, &v))
            return false;
        if (v.i < 1 || v.i > MAX_DIM) {
            diag_error(&s->c->diag, dim->span, "a dimension must be between 1 and %lld, got %lld",
                       (long long)MAX_DIM, (long long)v.i);
            return false;
        }
        if (__builtin_mul_overflow(elems, v.i, &elems) || elems > MAX_ELEMS) {
            diag_error(&s->c->diag, type->span, "%s has more than 2^40 values per sample", source_text(s, type->span, "this type"));
            return false;
        }
        sh->dim[i] = v.i;
    }
    return true;
}

void sema_begin_graph(Sema *s, const char *name, Span at)
{
    s->g = ir_new_graph(s->c, name, at);
    s->prefix = "";
    s->counts = NULL;
    memset(s->used, 0, sizeof s->used);
}

uint32_t sema_add_input(Sema *s, const char *name, DType dt, Shape sh, Span at)
{
    Node n = { .op = OP_input, .dtype = dt, .shape = sh, .name = name, .span = at };
    uint32_t id = ir_add_node(s->c, s->g, &n);
    Graph *g = s->g;
    g->inputs = arena_grow(s->c->arena, g->inputs, (size_t)g->ninputs, (size_t)g->ninputs + 1, sizeof *g->inputs);
    g->inputs[g->ninputs++] = id;
    return id;
}

static void collect_params(Sema *s, Graph *g)
{
    g->params = arena_alloc(s->c->arena, sizeof *g->params * (g->nnodes + 1));
    for (uint32_t i = 0; i < g->nnodes; i++)
        if (g->nodes[i].op == OP_param)
            g->params[g->nparams++] = g->nodes[i].param;
}

static void sema_model(Sema *s, const Ast *m)
{
    Diag *d = &s->c->diag;
    sema_begin_graph(s, m->name, m->span);
    Scope sc = { .parent = &s->globals };
    bool ok = true;
    for (int i = 0; i < m->list.count; i++) {
        const Ast *p = m->list.items[i];
        if (p->lhs) {
            diag_error(d, p->lhs->span, "model inputs take no default");
            ok = false;
        }
        if (lookup(&sc, p->name) && lookup(&sc, p->name) != lookup(&s->globals, p->name)) {
            diag_error(d, p->name_span, "duplicate input '%s'", p->name);
            ok = false;
            continue;
        }
        DType dt;
        Shape sh;
        if (!eval_type(s, &s->globals, p->type, &dt, &sh)) {
            ok = false;
            continue;
        }
        sema_bind(s, &sc, p->name, tensor_value(sema_add_input(s, p->name, dt, sh, p->span)), p->name_span);
    }
    if (m->list.count == 0) {
        diag_error(d, m->name_span, "model '%s' has no inputs; declare one such as (x: f32[784])", m->name);
        ok = false;
    }
    if (!ok)
        return;
    Value r = eval_body(s, &sc, m, "model");
    if (r.kind != V_TENSOR)
        return;
    if (m->type) {
        DType dt;
        Shape sh;
        if (!eval_type(s, &s->globals, m->type, &dt, &sh))
            return;
        Node *out = node_at(s, r.node);
        if (dt != out->dtype || !ir_shape_eq(&sh, &out->shape)) {
            const Ast *last = m->body.items[m->body.count - 1];
            diag_error(d, last->span, "model '%s' returns %s but its body produces %s", m->name,
                       ir_type_str(s->c, dt, &sh), type_of(s, r.node));
            diag_note(d, m->type->span, "return type declared here");
            return;
        }
    }
    s->g->output = r.node;
    s->g->has_output = true;
    collect_params(s, s->g);
}

/* ------------------------------------------------------- declarations */

static void check_layer_decl(Sema *s, const Ast *l)
{
    Diag *d = &s->c->diag;
    for (int i = 0; i < l->list.count; i++) {
        const Ast *p = l->list.items[i];
        if (!known_type(s, p->type, false))
            continue;
        for (int j = 0; j < i; j++)
            if (!strcmp(l->list.items[j]->name, p->name)) {
                diag_error(d, p->name_span, "duplicate parameter '%s' in layer '%s'", p->name, l->name);
                diag_note(d, l->list.items[j]->name_span, "first declared here");
            }
        if (i == 0 && param_kind(p->type) != ARG_TENSOR)
            diag_error(d, p->span, "the first parameter of layer '%s' must be a tensor (the chain feeds it), got '%s'",
                       l->name, p->type->name);
    }
    if (l->list.count == 0)
        diag_error(d, l->name_span, "layer '%s' has no parameters; its first must be a tensor such as (x: f32[N])", l->name);
}

static void sema_const(Sema *s, const Ast *k)
{
    Binding *b = lookup(&s->globals, k->name);
    if (b) {
        diag_error(&s->c->diag, k->name_span, "redefinition of '%s'", k->name);
        diag_note(&s->c->diag, b->span, "previous definition here");
        return;
    }
    Value v = sema_eval(s, &s->globals, k->lhs);
    if (v.kind == V_TENSOR) {
        diag_error(&s->c->diag, k->lhs->span, "a const must be a number, bool or string");
        v = poison();
    }
    sema_bind(s, &s->globals, k->name, v, k->name_span);
}

/* Declarations of one kind share a namespace with the others and with the
 * built-in layers. */
static bool check_unique(Sema *s, const Ast *decl, int decl_at, Ast **seen, int nseen)
{
    Diag *d = &s->c->diag;
    if ((decl->kind == AST_LAYER || decl->kind == AST_MODEL) && find_op(decl->name) >= 0) {
        diag_error(d, decl->name_span, "'%s' is the name of a built-in layer; choose another name", decl->name);
        return false;
    }
    /* A model's name becomes C symbols (NAME_forward, NAME_program) and
     * file names (NAME.c, NAME.h) beside the runtime's: rt_*, netrt.h
     * are the runtime's, and such a model's C would not compile. */
    if (decl->kind == AST_MODEL && (!strcmp(decl->name, "rt") || !strncmp(decl->name, "rt_", 3) ||
                                    !strcasecmp(decl->name, "netrt"))) {
        diag_error(d, decl->name_span,
                   "'%s' is reserved for the runtime (rt, rt_* and netrt name its symbols and header); "
                   "choose another model name", decl->name);
        return false;
    }
    const Binding *b = lookup(&s->decl_names, decl->name);
    if (b) {
        diag_error(d, decl->name_span, "redefinition of '%s'", decl->name);
        diag_note(d, seen[b->v.i]->name_span, "previous definition here");
        return false;
    }
    sema_bind(s, &s->decl_names, decl->name, (Value){ .kind = V_INT, .i = nseen, .nitems = decl_at }, decl->name_span);
    return true;
}

bool sema_run(Compiler *c)
{
    ir_ops_init();
    c->prog = arena_alloc(c->arena, sizeof *c->prog);
    Sema s = { .c = c, .prefix = "" };
    int n = c->decls.count;
    s.layers = arena_alloc(c->arena, sizeof *s.layers * (size_t)(n + 1));
    s.models = arena_alloc(c->arena, sizeof *s.models * (size_t)(n + 1));
    Ast **seen = arena_alloc(c->arena, sizeof *seen * (size_t)(n + 1));
    int nseen = 0;
    for (int i = 0; i < n; i++) {
        Ast *dcl = c->decls.items[i];
        if (dcl->kind == AST_TRAIN || dcl->kind == AST_CONST)
            continue;
        if (!check_unique(&s, dcl, i, seen, nseen))
            continue;
        seen[nseen++] = dcl;
        if (dcl->kind == AST_LAYER) {
            s.layers[s.nlayers++] = dcl;
            check_layer_decl(&s, dcl);
        } else {
            s.models[s.nmodels++] = dcl;
        }
    }
    for (int i = 0; i < n; i++)
        if (c->decls.items[i]->kind == AST_CONST)
            sema_const(&s, c->decls.items[i]);
    for (int i = 0; i < s.nmodels; i++)
        sema_model(&s, s.models[i]);
    c->prog->nmodels = c->prog->ngraphs;
    if (s.nmodels == 0 && c->diag.errors == 0)
        diag_file_error(&c->diag, "no model is declared; a .net file needs at least one 'model NAME(x: f32[N]) { ... }'");
    for (int i = 0; i < n; i++)
        if (c->decls.items[i]->kind == AST_TRAIN)
            sema_train(&s, c->decls.items[i]);
    return c->diag.errors == 0;
}
