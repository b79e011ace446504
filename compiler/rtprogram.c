/* rtprogram.c — the runtime's description of a lowered program.
 * Requires: an LProgram (with base_dir set). Produces: the rt_program that
 * rt_main and rt_model run, minus its two function pointers. Both backends
 * start from it: emit_c prints it as an initializer, emit_jit hands it to
 * rt_main with the JIT's function pointers, so the two cannot drift apart.
 * Everything it points to lives in the compiler's arena. */
#include "compiler.h"
#include "netrt.h"

#include <nettle/sha2.h>
#include <stdio.h>
#include <string.h>

rt_optimizer rtprogram_optimizer(const OptSpec *o)
{
    return (rt_optimizer){ .kind = o->kind, .lr = (float)o->lr, .momentum = (float)o->momentum,
                           .nesterov = o->nesterov, .beta1 = (float)o->beta1, .beta2 = (float)o->beta2,
                           .eps = (float)o->eps, .alpha = (float)o->alpha, .weight_decay = (float)o->weight_decay };
}

static void dims(const Shape *s, int *rank, int64_t out[RT_MAX_RANK], int64_t *size)
{
    *rank = s->rank;
    for (int i = 0; i < s->rank; i++)
        out[i] = s->dim[i];
    *size = ir_shape_elems(s);
}


static rt_source source(const DataSpec *d)
{
    return (rt_source){
        .kind = d->kind,
        .path = d->path,
        .labels_path = d->labels,
        .scale = d->kind == RT_SRC_NONE ? 1.0f : (float)d->scale,
        .shift = (float)d->shift,
        .label_column = (int)d->label_column,
        .header = d->header,
        .seq = d->kind == RT_SRC_RAW ? d->size : d->seq,
    };
}

/* The batch-dependent half of the size rule: every int argument of a
 * kernel call is k + per_batch * batch, and must fit an int; the
 * smallest batch bound over all calls, and the layer that sets it (the
 * instruction's comment starts with its name). */
static void batch_bound(Compiler *c, const LFunc *f, rt_program *p)
{
    for (int i = 0; i < f->n; i++) {
        const LInstr *in = &f->code[i];
        if (in->kind != LI_CALL && in->kind != LI_LOSS_CALL)
            continue;
        for (int k = 0; k < in->nargs; k++) {
            const LArg *a = &in->args[k];
            if (a->kind != LA_INT || a->i_batch <= 0)
                continue;
            int64_t bound = a->i >= INT32_MAX ? 1 : (INT32_MAX - a->i) / a->i_batch;
            if (bound < 1)
                bound = 1;
            if (p->max_batch == 0 || bound < p->max_batch) {
                p->max_batch = bound;
                const char *colon = strchr(in->comment, ':');
                p->max_batch_layer = colon ? arena_strndup(c->arena, in->comment, (size_t)(colon - in->comment))
                                           : in->comment;
            }
        }
    }
}

/* Defaults for a model without a train block: rt_model can still be made
 * from it, and eval/predict need only the data kind. */
static void config(Compiler *c, const LProgram *lp, rt_train_config *cf)
{
    cf->base_dir = lp->base_dir;
    const TrainSpec *t = lp->train;
    if (!t) {
        cf->data = cf->test = (rt_source){ .kind = RT_SRC_NONE, .scale = 1 };
        cf->opt = (rt_optimizer){ .kind = RT_OPT_ADAM, .lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f };
        cf->batch = 32;
        cf->epochs = 1;
        cf->val = cf->data;
        return;
    }
    cf->data = source(&t->data);
    cf->test = source(&t->test);
    /* mse and bce learn real-valued targets: a CSV's labels are read as such */
    cf->data.real_labels = cf->test.real_labels = lp->loss_kind != 0 && !lp->nsteps;
    cf->opt = rtprogram_optimizer(&t->steps_list[0].opt);
    cf->sched = (rt_schedule){ .kind = t->sched.kind, .warmup = t->sched.warmup, .every = t->sched.every,
                               .gamma = (float)t->sched.gamma, .min_lr = (float)t->sched.min_lr };
    cf->batch = t->batch;
    cf->epochs = t->epochs;
    cf->steps = t->steps;
    cf->seed = (uint64_t)t->seed;
    cf->clip = (float)t->clip;
    rt_augment *aug = arena_alloc(c->arena, sizeof *aug * (size_t)(t->naug + 1));
    for (int k = 0; k < t->naug; k++)
        aug[k] = (rt_augment){ .kind = t->aug[k].kind, .a = (float)t->aug[k].a, .b = (float)t->aug[k].b };
    cf->augment = aug;
    cf->naugment = t->naug;
    cf->init_path = t->init ? t->init->path : NULL;
    cf->val = source(&t->val);
    cf->val_fraction = (float)t->val_fraction;
    cf->eval_every = t->eval_every;
    cf->stop_after = t->stop_after;
    cf->monitor = t->monitor_accuracy ? RT_MONITOR_VAL_ACCURACY : RT_MONITOR_VAL_LOSS;
}

/* The .net file's SHA-256 in hex, for the run's reproducibility record:
 * `sha256sum model.net` prints the same. */
static const char *source_sha256(Compiler *c)
{
    struct sha256_ctx ctx;
    uint8_t digest[SHA256_DIGEST_SIZE];
    sha256_init(&ctx);
    sha256_update(&ctx, c->src.len, (const uint8_t *)c->src.text);
    sha256_digest(&ctx, sizeof digest, digest);
    char *hex = arena_alloc(c->arena, 2 * SHA256_DIGEST_SIZE + 1);
    for (int i = 0; i < SHA256_DIGEST_SIZE; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    return hex;
}

/* What each instruction of the train step computes and where, for the
 * checked step's message. The gradient's instructions follow the last
 * loss. */
static void op_table(Compiler *c, const LFunc *f, int *nops, const rt_op_desc **table)
{
    rt_op_desc *ops = arena_alloc(c->arena, sizeof *ops * (size_t)(f->n + 1));
    int last_loss = -1;
    for (int i = 0; i < f->n; i++)
        if (f->code[i].kind == LI_LOSS_CALL)
            last_loss = i;
    for (int i = 0; i < f->n; i++) {
        const LInstr *in = &f->code[i];
        int line, col;
        diag_line_col(&c->src, in->span.begin, &line, &col);
        ops[i] = (rt_op_desc){ .layer = in->layer ? in->layer : "", .op = in->op ? in->op : "zeroing",
                               .line = line, .backward = i > last_loss };
    }
    *table = ops;
    *nops = f->n;
}

void rtprogram_fill(Compiler *c, const LProgram *lp, struct rt_program *p)
{
    memset(p, 0, sizeof *p);
    const ParamLayout *pl = &lp->layout;
    rt_param_desc *d = arena_alloc(c->arena, sizeof *d * (size_t)(pl->n ? pl->n : 1));
    for (int k = 0; k < pl->n; k++) {
        uint32_t pi = pl->order[k];
        const Param *prm = &c->prog->params[pi];
        int64_t count;
        /* a program of several models names each tensor after its model too */
        const char *name = prm->name;
        for (int m = 0; lp->nsteps && m < c->prog->nmodels; m++)
            for (int j = 0; j < c->prog->graphs[m].nparams; j++)
                if (c->prog->graphs[m].params[j] == pi)
                    name = arena_printf(c->arena, "%s.%s", c->prog->graphs[m].name, prm->name);
        d[k] = (rt_param_desc){ .name = name, .offset = param_offset(pl, pi), .init = prm->init,
                                .fan_in = prm->fan_in, .fan_out = prm->fan_out, .trainable = prm->trainable,
                                .init_from = prm->init_from, .frozen = prm->frozen };
        dims(&prm->shape, &d[k].rank, d[k].dims, &count);
        d[k].count = count;
    }
    p->name = lp->name;
    p->source = lp->source;
    p->param_floats = pl->total;
    p->trainable_floats = pl->trainable;
    p->nparams = pl->n;
    p->params = d;
    p->x_name = lp->model->nodes[lp->model->inputs[0]].name;
    p->x_dtype = lp->x_dtype == DT_I32 ? RT_I32 : RT_F32;
    dims(&lp->x_shape, &p->x_rank, p->x_dims, &p->x_size);
    p->x_vocab = lp->x_vocab;
    if (lp->train) {
        p->y_dtype = lp->y_dtype == DT_I32 ? RT_I32 : RT_F32;
        dims(&lp->y_shape, &p->y_rank, p->y_dims, &p->y_size);
    }
    dims(&lp->out_shape, &p->out_rank, p->out_dims, &p->out_size);
    p->loss = lp->loss_kind;
    p->train_arena_floats = lp->train_step.arena_floats;
    p->eval_arena_floats = lp->forward.arena_floats;
    p->eval_scratch_floats = lp->forward.scratch_floats;
    if (lp->has_step) { /* the function pointer is the backend's */
        p->step_arena_floats = lp->step.arena_floats;
        p->step_state_floats = lp->step_state_floats;
        p->step_x_size = lp->step_x_size;
        p->step_out_size = lp->step_out_size;
        p->step_context = lp->step_context;
    } else {
        p->step_missing = lp->step_refusal;
    }
    batch_bound(c, &lp->forward, p);
    if (lp->train)
        batch_bound(c, &lp->train_step, p);
    if (lp->train && !lp->nsteps && !lp->inference)
        op_table(c, &lp->train_step, &p->nops, &p->ops);
    config(c, lp, &p->config);
    p->source_sha256 = c->src.text ? source_sha256(c) : NULL;
    if (lp->nsteps) {
        rt_step *st = arena_alloc(c->arena, sizeof *st * (size_t)lp->nsteps);
        for (int k = 0; k < lp->nsteps; k++) {
            const LStep *ls = &lp->steps[k];
            const SchedSpec *sc = &ls->spec->sched;
            st[k] = (rt_step){ .model = ls->spec->model, .begin = ls->begin, .end = ls->end, .opt = rtprogram_optimizer(&ls->spec->opt),
                               .arena_floats = ls->fn.arena_floats, .has_sched = ls->spec->has_sched,
                               .sched = { .kind = sc->kind, .warmup = sc->warmup, .every = sc->every,
                                          .gamma = (float)sc->gamma, .min_lr = (float)sc->min_lr },
                               .clip = (float)ls->spec->clip };
            if (!lp->inference)
                op_table(c, &ls->fn, &st[k].nops, &st[k].ops);
            if (ls->fn.arena_floats > p->train_arena_floats)
                p->train_arena_floats = ls->fn.arena_floats;
        }
        p->nsteps = lp->nsteps;
        p->data_dtype = lp->data_dtype == DT_I32 ? RT_I32 : RT_F32;
        dims(&lp->data_shape, &p->data_rank, p->data_dims, &p->data_size);
        p->steps = st;
        p->y_dtype = RT_F32;
        p->y_rank = 0;
        p->y_size = 0;
    }
    p->noise_input = lp->noise_input;
    p->reconstructs = lp->reconstructs;
    p->noise_uniform = lp->train && lp->train->noise_uniform;
}
