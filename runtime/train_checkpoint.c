/* train_checkpoint.c — a run's checkpoints (train.c, evaluate.c,
 * predict.c): its parameters and optimizer state as named tensors, and
 * where it stands (step, epoch, position in the epoch, batch, seed, early
 * stopping's count) as metadata, so --resume continues exactly where the
 * run stopped. checkpoint.c reads and writes the safetensors file. */
#include "netrt.h"
#include "train_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECKPOINT_FORMAT "1"

/* "adam", or "adam,adam" for two steps: what a checkpoint's state is. */
static void optimizer_names(const step_plan *sp, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int k = 0; k < sp->n && used < len; k++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s", k ? "," : "",
                                 rt_optimizer_name(sp->step[k].opt.kind));
}

/* Names of the optimizer's state blocks, in the order rt_optimizer_step
 * lays them out (block b at state + b * trainable_floats); PyTorch's names. */
static const char *state_block_name(rt_opt_kind k, int block)
{
    switch (k) {
    case RT_OPT_SGD: return "momentum";
    case RT_OPT_ADAM:
    case RT_OPT_ADAMW: return block == 0 ? "m" : "v";
    case RT_OPT_RMSPROP: return block == 0 ? "square_avg" : "momentum";
    }
    return "state";
}

void rt_run_tensors_free(tensor_list *l)
{
    free(l->t);
    free(l->names);
    memset(l, 0, sizeof *l);
}

/* Parameters by their names, then (with a step plan) the optimizer state
 * of each trainable one its step updates as `optimizer.<name>.<block>`. */
int rt_run_tensors_build(const char *prog, const rt_program *p, float *params, float *state,
                         const step_plan *sp, tensor_list *l)
{
    int state_blocks = 0;
    for (int k = 0; sp && k < sp->n; k++)
        state_blocks = sp->blocks[k] > state_blocks ? sp->blocks[k] : state_blocks;
    memset(l, 0, sizeof *l);
    int trainable = 0;
    size_t name_bytes = 1;
    for (int i = 0; i < p->nparams; i++)
        if (p->params[i].trainable) {
            trainable++;
            name_bytes += strlen(p->params[i].name) + 32;
        }
    int n = p->nparams + trainable * state_blocks;
    l->t = calloc((size_t)(n > 0 ? n : 1), sizeof *l->t);
    l->names = malloc(name_bytes * (size_t)(state_blocks > 0 ? state_blocks : 1));
    if (!l->t || !l->names) {
        rt_run_tensors_free(l);
        rt_report(prog, "out of memory");
        return RC_INPUT;
    }
    for (int i = 0; i < p->nparams; i++) {
        const rt_param_desc *d = &p->params[i];
        l->t[i] = (rt_named_tensor){ .name = d->name, .dtype = RT_F32, .rank = d->rank,
                                     .data = params + d->offset };
        memcpy(l->t[i].dims, d->dims, sizeof d->dims);
    }
    l->n = p->nparams;
    char *next = l->names;
    for (int b = 0; b < state_blocks; b++)
        for (int i = 0; i < p->nparams; i++) {
            const rt_param_desc *d = &p->params[i];
            int k = 0;
            while (k < sp->n && !(d->offset >= sp->step[k].begin && d->offset < sp->step[k].end))
                k++;
            if (!d->trainable || k == sp->n || b >= sp->blocks[k])
                continue;
            const rt_step *st = &sp->step[k];
            int len = sprintf(next, "optimizer.%s.%s", d->name, state_block_name(st->opt.kind, b));
            rt_named_tensor *t = &l->t[l->n++];
            *t = l->t[i];
            t->name = next;
            t->data = state + sp->state_offset[k] + (int64_t)b * (st->end - st->begin) + (d->offset - st->begin);
            next += len + 1;
        }
    return RC_OK;
}

enum { META_FORMAT, META_MODEL, META_STEP, META_EPOCH, META_POSITION, META_BATCH, META_SEED,
       META_OPTIMIZER, META_VALIDATION, NMETA };
static const char *const meta_keys[NMETA] = {
    "netc.format", "netc.model", "netc.step", "netc.epoch", "netc.position", "netc.batch",
    "netc.seed", "netc.optimizer", "netc.validation",
};

/* The first tensor of l holding a NaN or an infinity, or NULL. A step's
 * loss is checked when the next step runs; the last updates before a save
 * (of an epoch, or of the run) are checked here, so a diverged run never
 * leaves a checkpoint that load refuses. */
static const rt_named_tensor *non_finite_tensor(const tensor_list *l)
{
    for (int i = 0; i < l->n; i++) {
        const rt_named_tensor *t = &l->t[i];
        if (t->dtype != RT_F32)
            continue;
        int64_t n = 1;
        for (int d = 0; d < t->rank; d++)
            n *= t->dims[d];
        if (rt_first_non_finite(t->data, n) >= 0)
            return t;
    }
    return NULL;
}

int rt_run_checkpoint_save(const char *prog, const char *path, const rt_program *p,
                           const tensor_list *l, const step_plan *sp, const position *at)
{
    const rt_named_tensor *bad = non_finite_tensor(l);
    if (bad) {
        rt_report(prog, "%s: not written: '%s' holds NaN or an infinity after step %lld (the training diverged; "
                  "a checkpoint already there is as it was); lower the learning rate (--lr) or add clip to the "
                  "train block", path, bad->name, (long long)at->step);
        return RC_INPUT;
    }
    char opt[256];
    optimizer_names(sp, opt, sizeof opt);
    char step[24], epoch[24], pos[24], batch[24], seed[24];
    snprintf(step, sizeof step, "%lld", (long long)at->step);
    snprintf(epoch, sizeof epoch, "%lld", (long long)at->epoch);
    snprintf(pos, sizeof pos, "%lld", (long long)at->in_epoch);
    snprintf(batch, sizeof batch, "%lld", (long long)at->batch);
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)at->seed);
    /* early stopping's count, so a resumed run neither forgets its best
     * nor lets --save-best overwrite it with a worse one */
    char validation[256];
    rt_early_stop_format(&at->es, validation, sizeof validation);
    const rt_meta meta[NMETA] = {
        { meta_keys[META_FORMAT], CHECKPOINT_FORMAT },
        { meta_keys[META_MODEL], p->name },
        { meta_keys[META_STEP], step },
        { meta_keys[META_EPOCH], epoch },
        { meta_keys[META_POSITION], pos },
        { meta_keys[META_BATCH], batch },
        { meta_keys[META_SEED], seed },
        { meta_keys[META_OPTIMIZER], opt },
        { meta_keys[META_VALIDATION], validation },
    };
    char err[ERRLEN];
    if (rt_checkpoint_save(path, l->t, l->n, meta, NMETA, err, sizeof err) != 0) {
        rt_report(prog, "%s", err);
        return RC_INPUT;
    }
    return RC_OK;
}

static void free_meta(char **values)
{
    for (int i = 0; i < NMETA; i++)
        free(values[i]);
}

static int meta_number(const char *prog, const char *path, char **values, int key,
                       uint64_t *out)
{
    const char *v = values[key];
    if (!v) {
        *out = 0;
        return RC_OK;
    }
    bool digits = v[0] != '\0';
    for (const char *c = v; *c; c++)
        digits = digits && *c >= '0' && *c <= '9';
    errno = 0;
    unsigned long long n = digits ? strtoull(v, NULL, 10) : 0;
    if (!digits || errno == ERANGE || (key != META_SEED && n > (unsigned long long)INT64_MAX)) {
        rt_report(prog, "%s: metadata %s = '%s' is not a whole number", path, meta_keys[key], v);
        return RC_INPUT;
    }
    *out = n;
    return RC_OK;
}

/* A checkpoint's metadata alone (no tensor is read), checked for a format
 * this program understands. */
static int read_meta(const char *prog, const char *path, char **values)
{
    char err[ERRLEN];
    if (rt_checkpoint_load(path, NULL, 0, true, meta_keys, NMETA, values, err, sizeof err) != 0) {
        rt_report(prog, "%s", err);
        return RC_INPUT;
    }
    if (values[META_FORMAT] && strcmp(values[META_FORMAT], CHECKPOINT_FORMAT) != 0) {
        rt_report(prog, "%s: checkpoint format '%s'; this program reads format " CHECKPOINT_FORMAT,
               path, values[META_FORMAT]);
        free_meta(values);
        return RC_INPUT;
    }
    return RC_OK;
}

/* Loads the tensors of l; when they do not match and the file says it holds
 * another model, the message says so, since that is the likely reason. */
static int load_tensors(const char *prog, const char *path, const rt_program *p,
                        const tensor_list *l, bool allow_extra, char **values)
{
    char err[ERRLEN];
    if (rt_checkpoint_load(path, l->t, l->n, allow_extra, NULL, 0, NULL, err, sizeof err) != 0) {
        if (values[META_MODEL] && strcmp(values[META_MODEL], p->name) != 0)
            rt_report(prog, "%s (the checkpoint holds model '%s', this is '%s')", err,
                   values[META_MODEL], p->name);
        else
            rt_report(prog, "%s", err);
        return RC_INPUT;
    }
    return RC_OK;
}

/* Weights only, for eval and predict: optimizer tensors in the file are
 * ignored. */
int rt_load_weights(const char *prog, const char *path, const rt_program *p, float *params)
{
    if (!path && p->weights) {
        /* netc build --inference --weights: the weights are in the binary */
        memcpy(params, p->weights, sizeof *params * (size_t)p->param_floats);
        return RC_OK;
    }
    char *values[NMETA];
    int rc = read_meta(prog, path, values);
    if (rc != RC_OK)
        return rc;
    tensor_list l;
    rc = rt_run_tensors_build(prog, p, params, NULL, NULL, &l);
    if (rc == RC_OK)
        rc = load_tensors(prog, path, p, &l, true, values);
    free_meta(values);
    rt_run_tensors_free(&l);
    return rc;
}

/* --resume: weights, optimizer state (when the optimizer is the same: the
 * file then must hold exactly the model and its state) and the position. */
int rt_run_resume(const char *prog, const char *path, const rt_program *p,
                  const step_plan *sp, const tensor_list *with_state,
                  const tensor_list *weights_only, position *at)
{
    char *values[NMETA];
    int rc = read_meta(prog, path, values);
    if (rc != RC_OK)
        return rc;
    char opt[256];
    optimizer_names(sp, opt, sizeof opt);
    bool same_opt = values[META_OPTIMIZER] && strcmp(values[META_OPTIMIZER], opt) == 0;
    rc = load_tensors(prog, path, p, same_opt ? with_state : weights_only, !same_opt, values);
    uint64_t step = 0, epoch = 0, pos = 0, batch = 0, seed = 0;
    if (rc == RC_OK)
        rc = meta_number(prog, path, values, META_STEP, &step);
    if (rc == RC_OK)
        rc = meta_number(prog, path, values, META_EPOCH, &epoch);
    if (rc == RC_OK)
        rc = meta_number(prog, path, values, META_POSITION, &pos);
    if (rc == RC_OK)
        rc = meta_number(prog, path, values, META_BATCH, &batch);
    if (rc == RC_OK)
        rc = meta_number(prog, path, values, META_SEED, &seed);
    if (rc == RC_OK && !values[META_SEED])
        seed = at->seed;
    /* every epoch takes at least one step: a file claiming more epochs
     * than steps was not written by a run */
    if (rc == RC_OK && epoch > step) {
        rt_report(prog, "%s: metadata says epoch %llu at step %llu, but every epoch takes at least one step; "
                  "the checkpoint is damaged", path, (unsigned long long)epoch, (unsigned long long)step);
        rc = RC_INPUT;
    }
    rt_early_stop es;
    memset(&es, 0, sizeof es);
    const char *v = values[META_VALIDATION];
    if (rc == RC_OK && v && !rt_early_stop_parse(v, &es)) {
        rt_report(prog, "%s: metadata netc.validation = '%s' is damaged", path, v);
        rc = RC_INPUT;
    }
    if (rc == RC_OK && !same_opt && with_state->n > weights_only->n)
        fprintf(stderr, "%s: note: %s holds no %s state (optimizer: %s); it starts from zero\n",
                prog, path, opt,
                values[META_OPTIMIZER] ? values[META_OPTIMIZER] : "none");
    free_meta(values);
    if (rc != RC_OK)
        return rc;
    at->step = (int64_t)step;
    at->epoch = (int64_t)epoch;
    at->in_epoch = (int64_t)pos;
    at->batch = (int64_t)batch;
    at->seed = seed;
    at->es = es;
    return RC_OK;
}
