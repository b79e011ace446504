/* model.c — a generated program with its memory, for embedding (the API
 * behind NAME.h of `netc emit`). Everything is allocated in rt_model_new;
 * steps allocate nothing. */
#include "netrt.h"
#include "train_internal.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rt_model {
    const rt_program *p;
    int64_t max_batch;
    int64_t step;
    uint64_t seed;
    float *params, *grads, *state, *arena;
    step_plan sp;                     /* the steps of one iteration, as train runs them */
    double step_loss[RT_MAX_STEPS];   /* each step's mean loss in the last iteration */
};

rt_model *rt_model_new(const rt_program *p, uint64_t seed, int64_t max_batch, char *err, size_t errlen)
{
    if (max_batch < 1) {
        snprintf(err, errlen, "%s: max_batch must be at least 1", p->name);
        return NULL;
    }
    /* the batch-dependent half of netc's size rule, as rt_main checks it */
    if (p->max_batch > 0 && max_batch > p->max_batch) {
        snprintf(err, errlen,
                 "%s: max_batch %lld is too large: layer %s would pass the kernels more than 2^31 - 1 values at "
                 "once; the largest batch is %lld", p->name, (long long)max_batch,
                 p->max_batch_layer ? p->max_batch_layer : "?", (long long)p->max_batch);
        return NULL;
    }
    int64_t arena = p->train_arena_floats > p->eval_arena_floats ? p->train_arena_floats : p->eval_arena_floats;
    int64_t arena_floats = rt_mul_checked(arena, max_batch);
    if (arena_floats < 0 || arena_floats > INT64_MAX / 8 - p->eval_scratch_floats) {
        snprintf(err, errlen, "%s: batches of %lld need more memory than can be addressed", p->name,
                 (long long)max_batch);
        return NULL;
    }
    rt_model *m = calloc(1, sizeof *m);
    if (m) {
        m->p = p;
        m->max_batch = max_batch;
        rt_plan_steps(p, &m->sp);
        m->params = rt_alloc_floats(p->param_floats);
        m->grads = rt_alloc_floats(p->param_floats);
        m->state = rt_alloc_floats(m->sp.state_floats);
        m->arena = rt_alloc_floats(arena_floats + p->eval_scratch_floats);
    }
    if (!m || !m->params || !m->grads || !m->state || !m->arena) {
        snprintf(err, errlen, "%s: out of memory for a model of %lld parameters and batches of %lld", p->name,
                 (long long)p->param_floats, (long long)max_batch);
        rt_model_free(m);
        return NULL;
    }
    m->seed = seed;
    rt_init_params(p, seed, m->params);
    return m;
}

void rt_model_free(rt_model *m)
{
    if (!m)
        return;
    free(m->params);
    free(m->grads);
    free(m->state);
    free(m->arena);
    free(m);
}

float *rt_model_params(rt_model *m) { return m->params; }

/* Token ids out of the embedding's range would make the kernel abort: a
 * batch holding one is refused here instead. */
static bool ids_ok(const rt_program *p, const void *x, int64_t batch)
{
    if (p->x_dtype != RT_I32 || p->x_vocab <= 0)
        return true;
    const int32_t *ids = x;
    for (int64_t i = 0; i < batch * p->x_size; i++)
        if (ids[i] < 0 || ids[i] >= p->x_vocab)
            return false;
    return true;
}

/* Class labels inside the model's classes: the softmax kernel takes a
 * label outside them for a bug and aborts, which must not take the host
 * program with it. */
static bool labels_ok(const rt_program *p, const void *y, int64_t batch)
{
    return p->nsteps || p->loss != RT_LOSS_CROSS_ENTROPY || p->y_dtype != RT_I32 || !y ||
           rt_first_bad_label(p, y, batch * p->y_size) < 0;
}

int rt_model_forward(rt_model *m, const void *x, float *out, int64_t batch)
{
    if (batch < 1 || batch > m->max_batch || !ids_ok(m->p, x, batch))
        return -1;
    m->p->forward(m->params, x, out, batch, m->arena);
    return 0;
}

/* One iteration as the training loop runs it (train.c's train_epoch):
 * every step in order on the parameters the one before left, each with
 * its seed, clip, schedule and optimizer state. */
double rt_model_train_step(rt_model *m, const void *x, const void *y, int64_t batch)
{
    const rt_program *p = m->p;
    if (!m->sp.step[0].train_step || batch < 1 || batch > m->max_batch || !ids_ok(p, x, batch) ||
        !labels_ok(p, y, batch))
        return NAN;
    double loss = 0;
    for (int k = 0; k < m->sp.n; k++) {
        const rt_step *st = &m->sp.step[k];
        /* the same seeds as `train --seed` uses for the same step */
        uint64_t seed = p->nsteps ? rt_step_seed_of(m->seed, m->step, k) : rt_step_seed(m->seed, m->step);
        double step_loss = st->train_step(m->params, m->grads, x, y, batch, m->arena, seed);
        int64_t n = st->end - st->begin;
        float clip = st->clip > 0 ? st->clip : p->config.clip;
        if (clip > 0)
            rt_clip_grad_norm(n, m->grads + st->begin, clip);
        /* Without a known run length, a schedule that needs one sees a run
         * that never ends (its warm-up still applies). */
        float lr = rt_schedule_lr(st->has_sched ? &st->sched : &p->config.sched, st->opt.lr, m->step + 1, INT64_MAX);
        rt_optimizer_step(&st->opt, lr, m->step + 1, n, m->params + st->begin, m->grads + st->begin,
                          m->state + m->sp.state_offset[k]);
        m->step_loss[k] = step_loss / (double)batch;
        loss += m->step_loss[k];
    }
    m->step++;
    return loss;
}

double rt_model_step_loss(const rt_model *m, int k)
{
    return k >= 0 && k < m->sp.n ? m->step_loss[k] : NAN;
}

/* The model's parameters as named tensors (malloc'd) over the block
 * `params` (m's own, or a staging copy of its size), or NULL with err
 * saying so for the file at path. */
static rt_named_tensor *tensors_of(rt_model *m, float *params, const char *path, char *err, size_t errlen)
{
    const rt_program *p = m->p;
    rt_named_tensor *t = calloc((size_t)p->nparams + 1, sizeof *t);
    if (!t) {
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    for (int i = 0; i < p->nparams; i++) {
        t[i].name = p->params[i].name;
        t[i].dtype = RT_F32;
        t[i].rank = p->params[i].rank;
        memcpy(t[i].dims, p->params[i].dims, sizeof t[i].dims);
        t[i].data = params + p->params[i].offset;
    }
    return t;
}

int rt_model_load(rt_model *m, const char *path, char *err, size_t errlen)
{
    /* read into a staging block: a file refused halfway (a NaN in its
     * third tensor) leaves the model's weights as they were */
    size_t bytes = (size_t)(m->p->param_floats > 0 ? m->p->param_floats : 1) * sizeof(float);
    float *staged = malloc(bytes);
    if (!staged) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    memcpy(staged, m->params, bytes);
    rt_named_tensor *t = tensors_of(m, staged, path, err, errlen);
    if (!t) {
        free(staged);
        return -1;
    }
    /* optimizer state saved by `train` is there too, and not needed here */
    int rc = rt_checkpoint_load(path, t, m->p->nparams, true, NULL, 0, NULL, err, errlen);
    if (rc == 0)
        memcpy(m->params, staged, bytes);
    free(t);
    free(staged);
    return rc;
}

int rt_model_save(rt_model *m, const char *path, char *err, size_t errlen)
{
    rt_named_tensor *t = tensors_of(m, m->params, path, err, errlen);
    if (!t)
        return -1;
    char step[32];
    snprintf(step, sizeof step, "%lld", (long long)m->step);
    rt_meta meta[] = { { "netc.model", m->p->name }, { "netc.step", step }, { "netc.format", "1" } };
    int rc = rt_checkpoint_save(path, t, m->p->nparams, meta, 3, err, errlen);
    free(t);
    return rc;
}
