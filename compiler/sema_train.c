/* sema_train.c — train blocks: from a `train NAME { ... }` declaration
 * to a TrainSpec (sources, loss, optimizer, schedule, augmentation, noise
 * and steps), each value checked against its signature, and the loss
 * graph of every step built from calls of the file's models.
 * Requires: the models' graphs from sema.c. Produces: c->prog's train specs. */
#include "sema_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------- train blocks */

/* What a train-block key accepts: a name from a table, called like a layer
 * with its signature ("idx(images, labels, scale = 1/255)"). */
enum { SPEC_SLOTS = 8 }; /* arguments of a callable, at most */

typedef enum CallKind { CALL_SOURCE, CALL_OPTIMIZER, CALL_SCHEDULE, CALL_AUGMENT, CALL_NOISE, CALL_LOSS } CallKind;

typedef struct Callable {
    CallKind kind;
    const char *name;
    int code;
    const char *sig;
    ArgSpec args[SPEC_SLOTS];
    int nargs;
} Callable;

static Callable callables[] = {
#define CALLABLE(kind, name, code, sig) { CALL_##kind, name, code, sig, {{0}}, -1 },
#include "callables.def"
};
#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* A kind's rows (they stand together in callables.def) and their count. */
static Callable *kind_rows(CallKind kind, int *n)
{
    int i = 0;
    while (callables[i].kind != kind)
        i++;
    for (*n = 0; i + *n < COUNT(callables) && callables[i + *n].kind == kind; (*n)++)
        ;
    return &callables[i];
}

static const char *const train_keys[] = {
    "data", "test", "loss", "optimizer", "schedule", "batch", "epochs", "steps", "seed", "clip",
    "augment", "noise", "step", "init", "val", "eval_every", "stop_after", "monitor",
};
static const char *const step_keys[] = { "loss", "optimizer", "schedule", "clip" };
static void schedule_spec(Sema *s, Scope *g, const Ast *item, SchedSpec *sched);

/* A key a train or step block does not have: the nearest one, else the
 * list (`keys_are`). */
static void unknown_key(Diag *d, const Ast *it, const char *const *keys, int nkeys, const char *block,
                        const char *keys_are)
{
    const char *hint = diag_suggest(it->name, keys, nkeys);
    if (hint)
        diag_error(d, it->name_span, "unknown key '%s' in %s; did you mean '%s'?", it->name, block, hint);
    else
        diag_error(d, it->name_span, "unknown key '%s' in %s; %s", it->name, block, keys_are);
}

/* A call (or bare name) of one of kind's callables, bound to its signature
 * in slots (SPEC_SLOTS of them, zeroed here). Returns the entry or NULL
 * after reporting. */
static Callable *spec_call(Sema *s, Scope *sc, const Ast *v, CallKind kind, const char *what, Bound *slots)
{
    int n;
    Callable *table = kind_rows(kind, &n);
    memset(slots, 0, sizeof *slots * SPEC_SLOTS);
    Diag *d = &s->c->diag;
    if (v->kind != AST_CALL && v->kind != AST_NAME) {
        diag_error(d, v->span, "%s expects one of %s%s%s%s%s%s%s", what, table[0].name, n > 1 ? ", " : "",
                   n > 1 ? table[1].name : "", n > 2 ? ", " : "", n > 2 ? table[2].name : "", n > 3 ? ", ..." : "",
                   "");
        return NULL;
    }
    Callable *k = NULL;
    for (int i = 0; i < n; i++)
        if (!strcmp(table[i].name, v->name))
            k = &table[i];
    if (!k) {
        const char *names[16] = { 0 }; /* initialised: gcc -O1 (make asan) warns otherwise */
        for (int i = 0; i < n; i++)
            names[i] = table[i].name;
        const char *hint = diag_suggest(v->name, names, n);
        char list[256];
        size_t len = 0;
        for (int i = 0; i < n && len < sizeof list; i++)
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? (i == n - 1 ? " or " : ", ") : "", names[i]);
        if (hint)
            diag_error(d, v->name_span, "unknown %s '%s'; did you mean '%s'?", what, v->name, hint);
        else
            diag_error(d, v->name_span, "unknown %s '%s'; use %s", what, v->name, list);
        return NULL;
    }
    if (k->nargs < 0 && !ir_parse_signature(k->sig, k->args, &k->nargs, COUNT(k->args)))
        die("malformed signature of %s", k->name);
    if (v->kind == AST_NAME) {
        Ast call = *v;
        call.kind = AST_CALL;
        call.list = ast_list_new();
        return sema_bind_args(s, sc, &call, k->name, k->args, k->nargs, NULL, v->span, slots) ? k : NULL;
    }
    return sema_bind_args(s, sc, v, k->name, k->args, k->nargs, NULL, v->span, slots) ? k : NULL;
}

static const Bound *slot(const Callable *k, const Bound *slots, const char *name, const ArgSpec **spec)
{
    for (int i = 0; i < k->nargs; i++)
        if (!strcmp(k->args[i].name, name)) {
            *spec = &k->args[i];
            return &slots[i];
        }
    die("%s has no argument %s", k->name, name);
}

static double slot_float(const Callable *k, const Bound *slots, const char *name)
{
    const ArgSpec *a;
    const Bound *b = slot(k, slots, name, &a);
    return b->set ? number_of(&b->v) : a->dfloat;
}

static int64_t slot_int(const Callable *k, const Bound *slots, const char *name)
{
    const ArgSpec *a;
    const Bound *b = slot(k, slots, name, &a);
    return b->set ? b->v.i : a->dint;
}

static const char *slot_str(const Callable *k, const Bound *slots, const char *name)
{
    const ArgSpec *a;
    const Bound *b = slot(k, slots, name, &a);
    return b->set ? b->v.s : a->dstr;
}

static Span slot_span(const Callable *k, const Bound *slots, const char *name, Span dflt)
{
    const ArgSpec *a;
    const Bound *b = slot(k, slots, name, &a);
    return b->set ? b->span : dflt;
}

static bool positive_int(Sema *s, const Ast *item, Value v, int64_t *out)
{
    if (v.kind == V_POISON)
        return false;
    if (v.kind != V_INT || v.i < 1) {
        diag_error(&s->c->diag, item->lhs->span, "'%s' expects a positive integer, got %s", item->name, sema_describe(s, &v));
        return false;
    }
    *out = v.i;
    return true;
}

/* Int slot `name` of a data source, which must be at least `least`: else
 * the error `message` at the slot, and the source is dropped. */
static int64_t source_int(Sema *s, const Callable *k, const Bound *slots, const char *name, int64_t least,
                          const char *message, DataSpec *ds)
{
    int64_t v = slot_int(k, slots, name);
    if (v < least) {
        diag_error(&s->c->diag, slot_span(k, slots, name, ds->span), "%s", message);
        ds->kind = RT_SRC_NONE;
    }
    return v;
}

static void data_spec(Sema *s, Scope *sc, const Ast *item, DataSpec *ds)
{
    Bound slots[SPEC_SLOTS];
    Callable *k = spec_call(s, sc, item->lhs, CALL_SOURCE, "data source", slots);
    if (!k)
        return;
    ds->kind = (rt_source_kind)k->code;
    ds->span = item->lhs->span;
    ds->scale = 1;
    switch (ds->kind) {
    case RT_SRC_IDX:
        ds->path = slot_str(k, slots, "images");
        ds->labels = slot_str(k, slots, "labels");
        if (ds->labels && !ds->labels[0])
            ds->labels = NULL;
        break;
    case RT_SRC_CSV:
        ds->path = slot_str(k, slots, "path");
        ds->header = slot_int(k, slots, "header");
        ds->label_column = source_int(s, k, slots, "label_column", -1,
                                      "label_column is a 0-based column index, or -1 for none", ds);
        break;
    case RT_SRC_RAW:
        ds->path = slot_str(k, slots, "path");
        ds->size = source_int(s, k, slots, "size", 1, "size (values per sample) must be positive", ds);
        break;
    case RT_SRC_TEXT:
        ds->path = slot_str(k, slots, "path");
        ds->seq = source_int(s, k, slots, "seq", 1, "seq (tokens per sample) must be positive", ds);
        break;
    case RT_SRC_NONE:
        break;
    }
    if (ds->kind == RT_SRC_IDX || ds->kind == RT_SRC_CSV || ds->kind == RT_SRC_RAW) {
        ds->scale = slot_float(k, slots, "scale");
        ds->shift = slot_float(k, slots, "shift");
    }
    if (ds->path && !ds->path[0]) {
        diag_error(&s->c->diag, ds->span, "the data file name is empty");
        ds->kind = RT_SRC_NONE;
    }
}

static void opt_spec(Sema *s, Scope *sc, const Ast *value, OptSpec *o)
{
    Bound slots[SPEC_SLOTS];
    Callable *k = spec_call(s, sc, value, CALL_OPTIMIZER, "optimizer", slots);
    if (!k)
        return;
    Diag *d = &s->c->diag;
    o->kind = (rt_opt_kind)k->code;
    o->span = value->span;
    o->lr = slot_float(k, slots, "lr");
    o->weight_decay = slot_float(k, slots, "weight_decay");
    if (o->kind == RT_OPT_ADAM || o->kind == RT_OPT_ADAMW) {
        o->beta1 = slot_float(k, slots, "beta1");
        o->beta2 = slot_float(k, slots, "beta2");
        o->eps = slot_float(k, slots, "eps");
        if (o->beta1 < 0 || o->beta1 >= 1 || o->beta2 < 0 || o->beta2 >= 1)
            diag_error(d, value->span, "%s: beta1 and beta2 must be in [0, 1)", k->name);
    }
    if (o->kind == RT_OPT_SGD || o->kind == RT_OPT_RMSPROP)
        o->momentum = slot_float(k, slots, "momentum");
    if (o->kind == RT_OPT_SGD) {
        o->nesterov = slot_int(k, slots, "nesterov");
        if (o->nesterov && o->momentum <= 0)
            diag_error(d, slot_span(k, slots, "nesterov", value->span), "nesterov needs momentum > 0");
    }
    if (o->kind == RT_OPT_RMSPROP) {
        o->alpha = slot_float(k, slots, "alpha");
        o->eps = slot_float(k, slots, "eps");
    }
    if (!(o->lr > 0))
        diag_error(d, slot_span(k, slots, "lr", value->span), "the learning rate must be positive, got %g", o->lr);
    if (o->weight_decay < 0 || o->momentum < 0)
        diag_error(d, value->span, "%s: weight_decay and momentum must be >= 0", k->name);
}

static const char *graph_input_desc(Sema *s, const Graph *m)
{
    const Node *in = &m->nodes[m->inputs[0]];
    return arena_printf(s->c->arena, "%s: %s", in->name, ir_type_str(s->c, in->dtype, &in->shape));
}

/* The shape of one sample of the data, as far as the block says it: text
 * and raw sources declare it; idx and csv shapes come from the file when
 * the runtime loads it (and are checked against the model there). */
static bool data_sample(const DataSpec *ds, DType *dt, Shape *sh, bool *known)
{
    *known = false;
    *dt = DT_F32;
    sh->rank = 1;
    switch (ds->kind) {
    case RT_SRC_TEXT: *dt = DT_I32; sh->dim[0] = ds->seq; *known = true; return true;
    case RT_SRC_RAW: sh->dim[0] = ds->size; *known = true; return true;
    case RT_SRC_IDX: case RT_SRC_CSV: return true;
    case RT_SRC_NONE: return false;
    }
    unreachable();
}

/* Labels: idx and csv give one class per sample, text the next token at
 * each position; raw has none. */
static bool data_labels(const DataSpec *ds, Shape *sh)
{
    sh->rank = 0;
    switch (ds->kind) {
    case RT_SRC_IDX: return ds->labels != NULL;
    case RT_SRC_CSV: return ds->label_column >= 0;
    case RT_SRC_TEXT: sh->rank = 1; sh->dim[0] = ds->seq; return true;
    case RT_SRC_RAW: case RT_SRC_NONE: return false;
    }
    unreachable();
}

/* Whether a source's samples can feed model m's one input, as far as the
 * block states them (see data_sample); says why not. */
static bool source_fits(Sema *s, const Graph *m, const DataSpec *ds)
{
    const Node *in = &m->nodes[m->inputs[0]];
    DType xdt;
    Shape xs;
    bool known;
    if (!data_sample(ds, &xdt, &xs, &known))
        return true;
    /* a CSV's numbers feed token ids too: the runtime checks that each is
     * a whole number */
    if (ds->kind == RT_SRC_CSV && in->dtype == DT_I32)
        xdt = DT_I32;
    if (xdt != in->dtype || (known && ir_shape_elems(&xs) != ir_shape_elems(&in->shape))) {
        diag_error(&s->c->diag, ds->span, "model '%s' takes %s but this source gives %s samples", m->name,
                   graph_input_desc(s, m), ir_type_str(s->c, xdt, &xs));
        return false;
    }
    return true;
}

static void single_model_loss(Sema *s, const Ast *t, TrainSpec *ts, const Ast *loss_item, int gi)
{
    Diag *d = &s->c->diag;
    Program *p = s->c->prog;
    Graph *m = &p->graphs[gi];
    if (!m->has_output)
        return;
    if (m->ninputs != 1) {
        diag_error(d, t->name_span, "model '%s' takes %d inputs; a train block without step blocks feeds exactly one",
                   m->name, m->ninputs);
        return;
    }
    const Node *in = &m->nodes[m->inputs[0]];
    if (ts->data.kind == RT_SRC_NONE || !source_fits(s, m, &ts->data))
        return;
    if ((ts->val.kind != RT_SRC_NONE && !source_fits(s, m, &ts->val)) ||
        (ts->test.kind != RT_SRC_NONE && !source_fits(s, m, &ts->test)))
        return;
    Bound none[SPEC_SLOTS];
    Callable *k = spec_call(s, &s->globals, loss_item->lhs, CALL_LOSS, "loss", none);
    if (!k)
        return;
    Shape ls;
    if (!data_labels(&ts->data, &ls)) {
        diag_error(d, ts->data.span, "the %s loss needs labels, but this data source has none%s", k->name,
                   ts->data.kind == RT_SRC_IDX ? "; give idx(images, labels)" : ts->data.kind == RT_SRC_CSV ? "; set label_column"
                   : "; raw files hold no labels: use idx(images, labels) or csv(path, label_column = 0)");
        return;
    }
    const Node *out = &m->nodes[m->output];
    DType ldt = DT_I32;
    if (k->code != OP_cross_entropy) {
        /* Real-valued targets: one label per sample, for an output of one value. */
        if (ir_shape_elems(&out->shape) != ir_shape_elems(&ls)) {
            diag_error(d, loss_item->lhs->span, "%s compares %s with the labels, but the data gives %s per sample; use cross_entropy for class labels",
                       k->name, ir_type_str(s->c, out->dtype, &out->shape), ls.rank ? "a sequence" : "one label");
            return;
        }
        ls = out->shape;
        ldt = DT_F32;
    }
    StepSpec *st = &ts->steps_list[ts->nsteps++];
    st->model = m->name;
    st->span = t->span;
    sema_begin_graph(s, arena_printf(s->c->arena, "%s.loss", ts->name), loss_item->span);
    st->graph = (uint32_t)(s->g - p->graphs);
    uint32_t x = sema_add_input(s, in->name, in->dtype, in->shape, in->span);
    uint32_t y = sema_add_input(s, "labels", ldt, ls, ts->data.span);
    Node call = { .op = OP_model_call, .dtype = out->dtype, .shape = out->shape, .model = (uint32_t)gi,
                  .name = m->name, .span = t->name_span, .ninputs = 1, .ndata = 1 };
    call.inputs = arena_alloc(s->c->arena, sizeof *call.inputs);
    call.inputs[0] = x;
    uint32_t z = ir_add_node(s->c, s->g, &call);
    uint32_t in2[2] = { z, y };
    Attr *attrs = arena_alloc(s->c->arena, sizeof *attrs * 3);
    Value v = sema_build_op(s, (Op)k->code, in2, 2, attrs, k->name, k->name, loss_item->lhs->span);
    if (v.kind == V_TENSOR) {
        s->g->output = v.node;
        s->g->has_output = true;
    }
}

/* The step a plain train block with a written loss stands for: as if it
 * read step NAME { loss ... }. */
static Ast *sema_ast_step_of(Sema *s, const Ast *t, const Ast *loss_item)
{
    Ast *step = arena_alloc(s->c->arena, sizeof *step);
    step->kind = AST_STEP;
    step->name = "step";
    step->label = t->name;
    step->span = t->span;
    step->name_span = loss_item->name_span;
    step->label_span = t->name_span;
    step->body.items = arena_alloc(s->c->arena, sizeof *step->body.items);
    step->body.items[0] = (Ast *)loss_item;
    step->body.count = 1;
    return step;
}

/* The file's model whose name is nearest a name that names none, or NULL. */
static const char *suggest_model(const Program *p, const char *name)
{
    const char *names[64];
    int n = 0;
    for (int i = 0; i < p->nmodels && n < 64; i++)
        names[n++] = p->graphs[i].name;
    return diag_suggest(name, names, n);
}

static void step_block(Sema *s, const Ast *t, TrainSpec *ts, const Ast *step)
{
    Diag *d = &s->c->diag;
    Program *p = s->c->prog;
    int gi = sema_model_graph(s, step->label);
    if (gi < 0) {
        const char *hint = suggest_model(p, step->label);
        diag_error(d, step->label_span, "step names no model '%s'%s%s%s", step->label, hint ? "; did you mean '" : "",
                   hint ? hint : "", hint ? "'?" : "");
        return;
    }
    const Ast *loss = NULL, *opt = NULL, *sched = NULL, *clip = NULL;
    for (int i = 0; i < step->body.count; i++) {
        const Ast *it = step->body.items[i];
        const Ast **slotp = it->kind != AST_ITEM ? NULL : !strcmp(it->name, "loss") ? &loss
                            : !strcmp(it->name, "optimizer") ? &opt : !strcmp(it->name, "schedule") ? &sched
                            : !strcmp(it->name, "clip") ? &clip : NULL;
        if (!slotp) {
            unknown_key(d, it, step_keys, COUNT(step_keys), "step block",
                        "a step has 'loss', 'optimizer', 'schedule' and 'clip'");
            continue;
        }
        if (*slotp) {
            diag_error(d, it->name_span, "duplicate key '%s' in step block", it->name);
            diag_note(d, (*slotp)->name_span, "first given here");
            continue;
        }
        *slotp = it;
    }
    for (int k = 0; k < ts->nsteps; k++)
        if (!strcmp(ts->steps_list[k].model, p->graphs[gi].name)) {
            diag_error(d, step->label_span, "model '%s' already has a step; one step per model (write its losses as one sum)",
                       step->label);
            diag_note(d, ts->steps_list[k].span, "its first step is here");
            return;
        }
    StepSpec *st = &ts->steps_list[ts->nsteps++];
    st->model = p->graphs[gi].name;
    st->span = step->span;
    st->opt = (OptSpec){ .kind = RT_OPT_ADAM, .lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8 };
    if (opt)
        opt_spec(s, &s->globals, opt->lhs, &st->opt);
    if (sched) {
        schedule_spec(s, &s->globals, sched, &st->sched);
        st->has_sched = true;
    }
    if (clip) {
        Value v = sema_eval(s, &s->globals, clip->lhs);
        if (is_number(&v) && number_of(&v) > 0)
            st->clip = number_of(&v);
        else if (v.kind != V_POISON)
            diag_error(d, clip->lhs->span, "'clip' expects a positive number (the largest global gradient norm), got %s",
                       sema_describe(s, &v));
    }
    if (!loss) {
        diag_error(d, step->name_span, "step %s has no 'loss'", step->label);
        return;
    }
    /* The loss graph: `real` is a data sample, `noise` a draw of the noise
     * source; models are called by name. */
    sema_begin_graph(s, arena_printf(s->c->arena, "%s.step%d.%s", ts->name, ts->nsteps, step->label), loss->span);
    st->graph = (uint32_t)(s->g - p->graphs);
    Scope sc = { .parent = &s->globals };
    DType dt;
    Shape sh = { 0 }; /* f32[0] until a model call fixes it (fix_unused_real) */
    bool known;
    if (data_sample(&ts->data, &dt, &sh, &known)) {
        uint32_t real = sema_add_input(s, "real", dt, sh, ts->data.span);
        s->deferred_input = real;
        s->has_deferred = !known;
        sema_bind(s, &sc, "real", tensor_value(real), ts->data.span);
    }
    if (ts->noise_dim > 0) {
        Shape ns = { 1, { ts->noise_dim } };
        sema_bind(s, &sc, "noise", tensor_value(sema_add_input(s, "noise", DT_F32, ns, t->span)), t->span);
    }
    s->allow_model_calls = true;
    Value v = sema_eval(s, &sc, loss->lhs);
    s->allow_model_calls = false;
    s->has_deferred = false;
    if (v.kind == V_POISON)
        return;
    if (v.kind != V_TENSOR || node_at(s, v.node)->shape.rank != 0) {
        diag_error(d, loss->lhs->span, "a loss must be one number per sample, got %s; use a loss such as bce(...) or mse(...)",
                   sema_describe(s, &v));
        return;
    }
    s->g->output = v.node;
    s->g->has_output = true;
    bool calls = false;
    for (uint32_t i = 0; i < s->g->nnodes; i++)
        calls |= s->g->nodes[i].op == OP_model_call && s->g->nodes[i].model == (uint32_t)gi;
    if (!calls)
        diag_error(d, loss->lhs->span, "this loss does not depend on the parameters of '%s', which step %s updates; call %s in it, as in bce(D(%s(noise)), 1)",
                   step->label, step->label, step->label, step->label);
}

/* A step whose loss never reads `real` (the generator's, in a GAN) still
 * has the input, and its shape is the one another step's model call gave
 * the same data; without this it would keep the f32[0] placeholder. */
static void fix_unused_real(Sema *s, TrainSpec *ts)
{
    Program *p = s->c->prog;
    const Node *known = NULL;
    bool placeholders = false;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < ts->nsteps; i++) {
            Graph *g = &p->graphs[ts->steps_list[i].graph];
            if (g->ninputs == 0 || strcmp(g->nodes[g->inputs[0]].name, "real"))
                continue;
            Node *real = &g->nodes[g->inputs[0]];
            bool placeholder = real->shape.rank == 1 && real->shape.dim[0] == 0;
            placeholders |= placeholder;
            if (pass == 0 && !placeholder && !known)
                known = real;
            else if (pass == 1 && placeholder && known) {
                real->shape = known->shape;
                real->dtype = known->dtype;
            }
        }
    /* no step fixed it, and the data does not say it (idx, csv): the run
     * would refuse every file as not matching an f32[0] */
    if (placeholders && !known && s->c->diag.errors == 0)
        diag_error(&s->c->diag, ts->data.span, "no step passes 'real' (a sample of this data) to a model, so its "
                   "shape is unknown and nothing learns from the data; call a model on it in a loss, as in "
                   "bce(D(real), 1)");
}

/* val = 0.1 | val idx(...), eval_every N, stop_after N, monitor val_loss|val_accuracy.
 * Early stopping and the best checkpoint watch validation figures, so
 * stop_after and monitor need a val; accuracy needs a classifying loss. */
static void validation_keys(Sema *s, TrainSpec *ts, const Ast *val, const Ast *every, const Ast *stop,
                            const Ast *monitor, const Ast *loss, bool steps)
{
    Diag *d = &s->c->diag;
    Scope *g = &s->globals;
    const Ast *any = val ? val : every ? every : stop ? stop : monitor;
    if (any && steps) {
        diag_error(d, any->name_span, "'%s' needs a train block with one model and a loss; step blocks have no validation yet",
                   any->name);
        return;
    }
    if (val && (val->lhs->kind == AST_CALL || val->lhs->kind == AST_NAME)) {
        data_spec(s, g, val, &ts->val);
    } else if (val) {
        Value v = sema_eval(s, g, val->lhs);
        if (is_number(&v) && number_of(&v) > 0 && number_of(&v) < 1)
            ts->val_fraction = number_of(&v);
        else if (v.kind != V_POISON)
            diag_error(d, val->lhs->span,
                       "'val' expects a fraction of the data to hold out, between 0 and 1 (val = 0.1), or a data source "
                       "(val idx(\"images.gz\", \"labels.gz\")); got %s", sema_describe(s, &v));
    }
    if (every)
        positive_int(s, every, sema_eval(s, g, every->lhs), &ts->eval_every);
    if (stop)
        positive_int(s, stop, sema_eval(s, g, stop->lhs), &ts->stop_after);
    if (monitor) {
        const Ast *m = monitor->lhs;
        bool name = m->kind == AST_NAME;
        if (name && !strcmp(m->name, "val_accuracy"))
            ts->monitor_accuracy = true;
        else if (!name || strcmp(m->name, "val_loss"))
            diag_error(d, m->span, "'monitor' expects val_loss or val_accuracy");
        const char *lname = loss && (loss->lhs->kind == AST_NAME || loss->lhs->kind == AST_CALL) ? loss->lhs->name : NULL;
        if (ts->monitor_accuracy && lname && !strcmp(lname, "mse"))
            diag_error(d, m->span, "val_accuracy needs a cross_entropy or bce loss; an mse model is monitored by val_loss");
    }
    const Ast *needs = stop ? stop : monitor;
    if (needs && !val)
        diag_error(d, needs->name_span, "'%s' watches the validation figures, but this train block has no 'val'; add val = 0.1 "
                   "(a held-out tenth of the data) or val idx(...)/csv(...)", needs->name);
}

/* Each item of a train block against the keys it may use: unknown,
 * misplaced and duplicate keys are reported; seen[k] is the item of key
 * k. Returns how many step blocks there are. */
static int train_items(Sema *s, const Ast *t, const Ast **seen)
{
    Diag *d = &s->c->diag;
    int nstep_items = 0;
    for (int i = 0; i < t->list.count; i++) {
        const Ast *it = t->list.items[i];
        int k = 0;
        while (k < COUNT(train_keys) && strcmp(train_keys[k], it->name))
            k++;
        if (k == COUNT(train_keys)) {
            unknown_key(d, it, train_keys, COUNT(train_keys), "train block",
                        "the keys are data, test, loss, optimizer, schedule, batch, epochs, steps, seed, clip, augment, "
                        "noise, step, init, val, eval_every, stop_after and monitor");
            continue;
        }
        bool is_step = !strcmp(it->name, "step"), is_aug = !strcmp(it->name, "augment");
        bool is_init = !strcmp(it->name, "init");
        if (is_step != (it->kind == AST_STEP) || is_aug != (it->kind == AST_AUGMENT) ||
            is_init != (it->kind == AST_INIT)) {
            diag_error(d, it->span, "'%s' %s", it->name,
                       is_step ? "takes a model and a block: step D { loss ... optimizer ... }"
                       : is_aug ? "takes a block: augment { flip_horizontal; shift(2) }"
                       : is_init ? "takes a checkpoint and a block: init from(\"lenet.safetensors\") { conv1.* <- conv1.*; fresh fc2 }"
                                : "takes a value, not a block");
            continue;
        }
        if (is_step) {
            nstep_items++;
            continue;
        }
        if (seen[k]) {
            diag_error(d, it->name_span, "duplicate key '%s' in train block", it->name);
            diag_note(d, seen[k]->name_span, "first given here");
            continue;
        }
        seen[k] = it;
    }
    return nstep_items;
}

static void schedule_spec(Sema *s, Scope *g, const Ast *item, SchedSpec *sched)
{
    Diag *d = &s->c->diag;
    Bound slots[SPEC_SLOTS];
    Callable *k = spec_call(s, g, item->lhs, CALL_SCHEDULE, "schedule", slots);
    if (k) {
        sched->kind = (rt_sched_kind)k->code;
        sched->warmup = slot_int(k, slots, "warmup");
        if (sched->warmup < 0)
            diag_error(d, item->lhs->span, "warmup must be >= 0 steps");
        if (k->code == RT_SCHED_STEP) {
            sched->every = slot_int(k, slots, "every");
            sched->gamma = slot_float(k, slots, "gamma");
            if (sched->every < 1)
                diag_error(d, item->lhs->span, "step(every = N) needs N >= 1");
        }
        if (k->code == RT_SCHED_COSINE)
            sched->min_lr = slot_float(k, slots, "min_lr");
    }
}

static void noise_spec(Sema *s, Scope *g, const Ast *item, TrainSpec *ts)
{
    Diag *d = &s->c->diag;
    Bound slots[SPEC_SLOTS];
    Callable *k = spec_call(s, g, item->lhs, CALL_NOISE, "noise", slots);
    if (k) {
        ts->noise_dim = slot_int(k, slots, "dim");
        ts->noise_uniform = k->code == 1;
        if (ts->noise_dim < 1) {
            diag_error(d, item->lhs->span, "noise dimension must be positive");
            ts->noise_dim = 0;
        }
    }
}

/* augment { flip_horizontal; shift(2); ... }: image data only. */
static void augment_spec(Sema *s, Scope *g, const Ast *a, TrainSpec *ts)
{
    Diag *d = &s->c->diag;
    if (ts->data.kind != RT_SRC_IDX && ts->data.kind != RT_SRC_NONE)
        diag_error(d, a->name_span, "augment needs image data; this train block reads %s",
                   ts->data.kind == RT_SRC_CSV ? "csv rows" : ts->data.kind == RT_SRC_TEXT ? "text" : "raw values");
    ts->aug = arena_alloc(s->c->arena, sizeof *ts->aug * (size_t)(a->body.count + 1));
    for (int i = 0; i < a->body.count; i++) {
        Bound slots[SPEC_SLOTS];
        const Ast *e = a->body.items[i];
        Callable *k = spec_call(s, g, e, CALL_AUGMENT, "augmentation", slots);
        if (!k)
            continue;
        AugSpec *as = &ts->aug[ts->naug++];
        as->kind = (rt_aug_kind)k->code;
        as->span = e->span;
        switch (as->kind) {
        case RT_AUG_FLIP_H: case RT_AUG_FLIP_V: break;
        case RT_AUG_SHIFT:
            as->a = (double)slot_int(k, slots, "pixels");
            if (as->a < 0)
                diag_error(d, e->span, "shift(pixels) needs pixels >= 0");
            break;
        case RT_AUG_ROTATE:
            as->a = slot_float(k, slots, "degrees");
            if (as->a < 0 || as->a > 180)
                diag_error(d, e->span, "rotate(degrees) needs degrees in [0, 180]");
            break;
        case RT_AUG_SCALE:
            as->a = slot_float(k, slots, "min");
            as->b = slot_float(k, slots, "max");
            if (!(as->a > 0 && as->a <= as->b))
                diag_error(d, e->span, "scale(min, max) needs 0 < min <= max");
            break;
        case RT_AUG_NOISE:
            as->a = slot_float(k, slots, "std");
            if (as->a < 0)
                diag_error(d, e->span, "noise(std) needs std >= 0");
            break;
        }
    }
}

void sema_train(Sema *s, const Ast *t)
{
    Diag *d = &s->c->diag;
    Program *p = s->c->prog;
    p->trains = arena_grow(s->c->arena, p->trains, (size_t)p->ntrains, (size_t)p->ntrains + 1, sizeof *p->trains);
    TrainSpec *ts = &p->trains[p->ntrains++];
    memset(ts, 0, sizeof *ts);
    ts->name = t->name;
    ts->span = t->span;
    ts->batch = 32;
    ts->seed = 0;
    const Ast *seen[COUNT(train_keys)] = { 0 };
    int nstep_items = train_items(s, t, seen);
#define ITEM(key) seen[key]
    enum { K_DATA, K_TEST, K_LOSS, K_OPT, K_SCHED, K_BATCH, K_EPOCHS, K_STEPS, K_SEED, K_CLIP, K_AUG, K_NOISE, K_STEP, K_INIT,
           K_VAL, K_EVAL_EVERY, K_STOP_AFTER, K_MONITOR };
    Scope *g = &s->globals;
    if (ITEM(K_DATA))
        data_spec(s, g, ITEM(K_DATA), &ts->data);
    else
        diag_error(d, t->name_span, "train block '%s' has no 'data'; add e.g. data idx(\"train-images-idx3-ubyte.gz\", \"train-labels-idx1-ubyte.gz\")",
                   t->name);
    if (ITEM(K_TEST))
        data_spec(s, g, ITEM(K_TEST), &ts->test);
    validation_keys(s, ts, ITEM(K_VAL), ITEM(K_EVAL_EVERY), ITEM(K_STOP_AFTER), ITEM(K_MONITOR), ITEM(K_LOSS),
                    nstep_items > 0);
    if (ITEM(K_BATCH))
        positive_int(s, ITEM(K_BATCH), sema_eval(s, g, ITEM(K_BATCH)->lhs), &ts->batch);
    if (ITEM(K_EPOCHS))
        positive_int(s, ITEM(K_EPOCHS), sema_eval(s, g, ITEM(K_EPOCHS)->lhs), &ts->epochs);
    if (ITEM(K_STEPS))
        positive_int(s, ITEM(K_STEPS), sema_eval(s, g, ITEM(K_STEPS)->lhs), &ts->steps);
    if (ITEM(K_EPOCHS) && ITEM(K_STEPS)) {
        diag_error(d, ITEM(K_STEPS)->name_span, "give either 'epochs' or 'steps', not both");
        diag_note(d, ITEM(K_EPOCHS)->name_span, "'epochs' given here");
    }
    if (!ITEM(K_EPOCHS) && !ITEM(K_STEPS))
        ts->epochs = 1;
    if (ITEM(K_SEED)) {
        Value v = sema_eval(s, g, ITEM(K_SEED)->lhs);
        if (v.kind == V_INT && v.i >= 0)
            ts->seed = v.i;
        else if (v.kind != V_POISON)
            diag_error(d, ITEM(K_SEED)->lhs->span, "'seed' expects a non-negative integer, got %s", sema_describe(s, &v));
    }
    if (ITEM(K_CLIP)) {
        Value v = sema_eval(s, g, ITEM(K_CLIP)->lhs);
        if (is_number(&v) && number_of(&v) > 0)
            ts->clip = number_of(&v);
        else if (v.kind != V_POISON)
            diag_error(d, ITEM(K_CLIP)->lhs->span, "'clip' expects a positive number (the largest global gradient norm), got %s",
                       sema_describe(s, &v));
    }
    if (ITEM(K_SCHED))
        schedule_spec(s, g, ITEM(K_SCHED), &ts->sched);
    if (ITEM(K_NOISE))
        noise_spec(s, g, ITEM(K_NOISE), ts);
    if (ITEM(K_AUG))
        augment_spec(s, g, ITEM(K_AUG), ts);
    ts->steps_list = arena_alloc(s->c->arena, sizeof *ts->steps_list * (size_t)(nstep_items + 1));
    OptSpec opt = { .kind = RT_OPT_ADAM, .lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8 };
    if (nstep_items) {
        if (ITEM(K_LOSS))
            diag_error(d, ITEM(K_LOSS)->name_span, "with step blocks, each step has its own 'loss'; move it into a step");
        if (ITEM(K_OPT))
            diag_error(d, ITEM(K_OPT)->name_span, "with step blocks, each step has its own 'optimizer'; move it into a step");
        if (ITEM(K_INIT))
            diag_error(d, ITEM(K_INIT)->name_span, "'init' is for a one-model train block, not yet for step blocks");
        for (int i = 0; i < t->list.count; i++)
            if (t->list.items[i]->kind == AST_STEP && !strcmp(t->list.items[i]->name, "step"))
                step_block(s, t, ts, t->list.items[i]);
        fix_unused_real(s, ts);
        ts->free_form = true;
        return;
    }
    if (ITEM(K_OPT))
        opt_spec(s, g, ITEM(K_OPT)->lhs, &opt);
    int gi = sema_model_graph(s, t->name);
    if (gi < 0) {
        const char *hint = suggest_model(p, t->name);
        if (hint)
            diag_error(d, t->name_span, "train block names no model '%s'; did you mean '%s'?", t->name, hint);
        else
            diag_error(d, t->name_span, "train block names no model '%s'; name a model, or train several with step blocks",
                       t->name);
        return;
    }
    if (ITEM(K_INIT))
        transfer_spec(s->c, ts, ITEM(K_INIT), gi);
    if (!ITEM(K_LOSS)) {
        diag_error(d, t->name_span, "train block '%s' has no 'loss'; add e.g. loss cross_entropy", t->name);
        return;
    }
    if (ts->data.kind == RT_SRC_NONE)
        return;
    const Ast *le = ITEM(K_LOSS)->lhs;
    if (le->kind == AST_BINARY || le->kind == AST_NEG || (le->kind == AST_CALL && le->list.count > 0)) {
        /* a loss written over model calls (mse(ae(real), real)): one step
         * that updates the model the block names */
        Ast *step = sema_ast_step_of(s, t, ITEM(K_LOSS));
        step_block(s, t, ts, step);
        fix_unused_real(s, ts);
        ts->free_form = true;
        if (ts->nsteps)
            ts->steps_list[0].opt = opt;
        return;
    }
    single_model_loss(s, t, ts, ITEM(K_LOSS), gi);
    if (ts->nsteps)
        ts->steps_list[0].opt = opt;
#undef ITEM
}


