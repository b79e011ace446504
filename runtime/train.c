/* train.c — the `train` command of rt_main (cli.c): the run's settings,
 * its memory block, and the training loop (epochs of steps, held-out
 * evaluation during them, checkpoints and log rows after them). What it
 * leans on lives beside it: the data (train_data.c), checkpoints of a run
 * (train_checkpoint.c), evaluation and the `eval` command (evaluate.c), the
 * CSV log (trainlog.c), the run's record (record.c), the progress line
 * (progress.c), and the report of a step whose loss goes non-finite
 * (nonfinite.c).
 *
 * Requires an rt_program from netc (parameter layout, train_step, forward
 * and the train block's config); produces trained weights in a safetensors
 * checkpoint, a CSV log, and evaluation output.
 *
 * Determinism. Every random choice is a pure function of the seed and a
 * counter: tensor i is initialised from (seed, i); epoch e's order is a
 * Fisher–Yates shuffle of the identity driven by (seed, e); the dropout seed
 * of a step comes from (seed, global step). Nothing depends on what the
 * process did before, so a run resumed from a checkpoint replays what the
 * uninterrupted run would have done, and the same seed with the same thread
 * count gives the same loss trace bit for bit.
 *
 * Partial batches. Training drops the last n % batch samples of each
 * shuffled epoch: a smaller batch would change the gradient's noise and
 * every generated train_step would need a second shape; reshuffling means
 * every sample is still seen.
 */
#include "netrt.h"
#include "dist.h"
#include "train_internal.h"
#include "metrics.h"

#include <errno.h>
#include <signal.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

/* Domains keep the streams of different uses of one seed apart. */
#define INIT_DOMAIN 0x243f6a8885a308d3ull
#define SHUFFLE_DOMAIN 0x13198a2e03707344ull
#define STEP_DOMAIN 0xa4093822299f31d0ull
#define AUGMENT_DOMAIN 0x082efa98ec4e6c89ull

/* Under mpirun, the parameters of every rank are compared (a hash of their
 * bits, gathered) at the start and every this many steps in builds without
 * NDEBUG, and after every step with --check-replicas. */
#ifdef NDEBUG
#define REPLICA_CHECK_EVERY 0
#else
#define REPLICA_CHECK_EVERY 100
#endif

/* -------------------------------------------------------------- memory */

int rt_alloc_buffers(const char *prog, const rt_program *p, int64_t batch, int64_t state_floats,
                         bool training, buffers *b)
{
    memset(b, 0, sizeof *b);
    /* The batch-dependent half of netc's size rule (the compiler checks
     * per-sample sizes): the generated code passes k * batch to int
     * parameters of the kernels, so the batch is bounded here, once, for
     * every command. */
    if (p->max_batch > 0 && batch > p->max_batch) {
        rt_report(prog, "--batch %lld is too large for model '%s': layer %s would pass the kernels more than "
                  "2^31 - 1 values at once; the largest batch is %lld", (long long)batch, p->name,
                  p->max_batch_layer ? p->max_batch_layer : "?", (long long)p->max_batch);
        return RC_USAGE;
    }
    int64_t arena_per = p->eval_arena_floats;
    if (training && p->train_arena_floats > arena_per)
        arena_per = p->train_arena_floats;
    int64_t sizes[8] = {
        p->param_floats,
        training ? p->param_floats : 0,
        training ? state_floats : 0,
        rt_mul_checked(arena_per, batch) + p->eval_scratch_floats,
        rt_mul_checked(p->out_size, batch),
        rt_mul_checked(p->out_size, batch),
        rt_mul_checked(p->x_size > p->data_size ? p->x_size : p->data_size, batch),
        rt_mul_checked(p->y_size, batch),
    };
    int64_t total = 0, offsets[8];
    for (int i = 0; i < 8; i++) {
        if (sizes[i] < 0 || total < 0) {
            total = -1;
            break;
        }
        offsets[i] = total;
        total += round_up(sizes[i], FLOAT_ALIGN);
    }
    int64_t bytes = rt_mul_checked(total < 0 ? -1 : total, 4);
    if (bytes < 0 || (uint64_t)bytes > SIZE_MAX / 2) {
        rt_report(prog, "model '%s' with batch %lld needs more memory than can be addressed; "
               "lower --batch", p->name, (long long)batch);
        return RC_INPUT;
    }
    /* zeroed: the optimizer state must start at zero, and no buffer should
     * hold garbage that a bug could read */
    b->block = rt_alloc_floats(total);
    if (!b->block) {
        char size[32];
        rt_format_size((double)bytes, size, sizeof size);
        rt_report(prog, "cannot allocate %s for model '%s' with batch %lld; lower --batch", size,
               p->name, (long long)batch);
        return RC_INPUT;
    }
    float *base = b->block;
    b->params = base + offsets[0];
    b->grads = base + offsets[1];
    b->state = base + offsets[2];
    b->arena = base + offsets[3];
    b->out = base + offsets[4];
    b->probs = base + offsets[5];
    b->x = base + offsets[6];
    b->y = base + offsets[7];
    return RC_OK;
}

void rt_init_params(const rt_program *p, uint64_t seed, float *params)
{
    for (int i = 0; i < p->nparams; i++) {
        const rt_param_desc *d = &p->params[i];
        rt_init_tensor(d->init, d->fan_in, d->fan_out, rt_rand_u64(seed ^ INIT_DOMAIN, (uint64_t)i),
                       d->count, params + d->offset);
    }
}

uint64_t rt_step_seed(uint64_t seed, int64_t step)
{
    return rt_rand_u64(seed ^ STEP_DOMAIN, (uint64_t)step);
}

uint64_t rt_step_seed_of(uint64_t seed, int64_t step, int k)
{
    return rt_rand_u64(rt_step_seed(seed, step), (uint64_t)k);
}

/* The steps of one iteration, as the training loop runs them: a program
 * without step blocks is one step over every trainable float. Each step's
 * optimizer state is its own: `blocks` blocks of (end - begin) floats at
 * state_offset in the state buffer. */
void rt_plan_steps(const rt_program *p, step_plan *sp)
{
    memset(sp, 0, sizeof *sp);
    if (p->nsteps == 0) {
        sp->n = 1;
        sp->step[0] = (rt_step){ .model = p->name, .begin = 0, .end = p->trainable_floats,
                                 .opt = p->config.opt, .arena_floats = p->train_arena_floats,
                                 .train_step = p->train_step };
    } else {
        sp->n = p->nsteps;
        for (int k = 0; k < p->nsteps; k++)
            sp->step[k] = p->steps[k];
    }
    for (int k = 0; k < sp->n; k++) {
        sp->blocks[k] = rt_optimizer_state_per_param(&sp->step[k].opt);
        sp->state_offset[k] = sp->state_floats;
        sp->state_floats += (int64_t)sp->blocks[k] * (sp->step[k].end - sp->step[k].begin);
    }
}

/* ---------------------------------------------------------------- train */

/* Epoch e's order: a Fisher–Yates shuffle of the identity, so it depends
 * on (seed, e) alone. The modulo's bias is below n / 2^64. */
void rt_epoch_order(int64_t *order, int64_t n, uint64_t seed, int64_t epoch)
{
    for (int64_t i = 0; i < n; i++)
        order[i] = i;
    uint64_t key = rt_rand_u64(seed ^ SHUFFLE_DOMAIN, (uint64_t)epoch);
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)(rt_rand_u64(key, (uint64_t)i) % (uint64_t)(i + 1));
        int64_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

/* Copies the batch's samples into contiguous x and y. With augmentation,
 * each training sample is transformed on the way: its random choices come
 * from (seed, its slot in the run: step * batch + i), so a resumed run
 * augments exactly as the uninterrupted one. The sample's own shape is the
 * data file's (C,H,W or H,W); the background is what a 0 pixel became
 * after scale and shift. */
static void gather(const rt_program *p, const rt_dataset *d, const int64_t *rows, int64_t batch,
                   const buffers *b, uint64_t seed, int64_t step, int64_t global_batch, int64_t first)
{
    size_t xbytes = (size_t)(p->nsteps ? p->data_size : p->x_size) * 4, ybytes = (size_t)p->y_size * 4;
    const rt_train_config *c = &p->config;
    bool augment = c->naugment > 0 && d->x_dtype == RT_F32 && d->x_rank >= 2;
    int64_t ch = d->x_rank >= 3 ? d->x_dims[d->x_rank - 3] : 1;
    int64_t h = d->x_rank >= 2 ? d->x_dims[d->x_rank - 2] : 1, w = d->x_dims[d->x_rank - 1];
    for (int64_t i = 0; i < batch; i++) {
        const char *src = (const char *)d->x + (size_t)rows[i] * xbytes;
        char *dst = (char *)b->x + (size_t)i * xbytes;
        if (augment)
            rt_augment_sample(c->augment, c->naugment, ch, h, w, c->data.shift, seed ^ AUGMENT_DOMAIN,
                              (uint64_t)(step * global_batch + first + i), (const float *)src,
                              (float *)dst);
        else
            memcpy(dst, src, xbytes);
        if (ybytes)
            memcpy((char *)b->y + (size_t)i * ybytes, (const char *)d->y + (size_t)rows[i] * ybytes,
                   ybytes);
    }
}

typedef struct train_run {
    const options *o;
    const rt_program *p;
    step_plan sp;
    double step_loss[RT_MAX_STEPS]; /* this epoch's sum of each step's losses */
    rt_schedule sched;
    int64_t batch, epochs, steps; /* epochs or steps is 0 */
    int64_t first, local;         /* this rank's samples of each batch (all of it in one process) */
    int64_t local_max;            /* the most samples any rank takes: the buffers' batch */
    bool stop;                    /* under mpirun: some rank was asked to stop */
    int64_t steps_per_epoch, total_steps, last_epoch;
    source_files data_files, test_files;
    rt_dataset data, test;
    bool has_test;
    buffers buf;
    int64_t *order;
    tensor_list tensors, weights;
    csv_log log;
    position at;
    /* Validation: a file (val), or rows of data held out (val_rows; the
     * rest, train_rows, are trained on); neither when !has_val. */
    source_files val_files;
    rt_dataset val;
    bool has_val;
    int64_t *train_rows, *val_rows, ntrain, nval;
    int64_t eval_every;      /* 0: at the end of each epoch */
    rt_metrics held;         /* the last evaluation of validation (or test) */
    rt_early_stop es;
    bool stop_early;
    int64_t last_eval_step;  /* -1: none yet */
    double eval_seconds;     /* spent evaluating, kept out of training rates */
    double eval_cpu;         /* the same in CPU seconds */
    /* the training since the last log row */
    double row_loss, row_start, row_eval_mark;
    int64_t row_samples;
    float lr;
} train_run;

static int train_settings(train_run *r)
{
    const options *o = r->o;
    const rt_train_config *c = &r->p->config;
    rt_plan_steps(r->p, &r->sp);
    for (int k = 0; k < r->sp.n && o->given[FLAG_LR]; k++)
        r->sp.step[k].opt.lr = o->lr;
    r->sched = c->sched;
    r->batch = o->given[FLAG_BATCH] ? o->count[FLAG_BATCH] : c->batch;
    r->epochs = c->epochs;
    r->steps = c->steps;
    if (o->given[FLAG_EPOCHS]) {
        r->epochs = o->count[FLAG_EPOCHS];
        r->steps = 0;
    }
    if (o->given[FLAG_STEPS]) {
        r->steps = o->count[FLAG_STEPS];
        r->epochs = 0;
    }
    r->at.seed = o->given[FLAG_SEED] ? o->seed : c->seed;
    if (!r->sp.step[0].train_step && r->p->inference) {
        rt_report(o->prog, "this binary was built with --inference (the forward pass alone), so it "
                  "predicts, evaluates and samples only; build %s without --inference to train",
                  r->p->source ? r->p->source : "its .net file");
        return RC_USAGE;
    }
    if (!r->sp.step[0].train_step) {
        rt_report(o->prog, "model '%s' has no train block, so this binary predicts and evaluates only; "
               "add 'train %s { ... }' to %s to train it", r->p->name, r->p->name,
               r->p->source ? r->p->source : "its .net file");
        return RC_USAGE;
    }
    if (r->batch <= 0) {
        rt_report(o->prog, "model '%s' has no batch size; give one with --batch N", r->p->name);
        return RC_USAGE;
    }
    if (r->epochs <= 0 && r->steps <= 0) {
        rt_report(o->prog, "model '%s' has no epochs or steps to train; give --epochs N or --steps N",
               r->p->name);
        return RC_USAGE;
    }
    if (o->given[FLAG_SAMPLES]) {
        int rc = rt_sample_check(o->prog, r->p);
        if (rc != RC_OK)
            return rc;
    }
    if (c->data.kind == RT_SRC_NONE && !o->given[FLAG_DATA]) {
        rt_report(o->prog, "model '%s' has no training data; give it with --data FILE", r->p->name);
        return RC_USAGE;
    }
    if (r->batch < rt_dist_size()) {
        rt_report(o->prog, "a batch of %lld cannot be split over %d ranks; give --batch %d or more, or "
                  "start fewer ranks", (long long)r->batch, rt_dist_size(), rt_dist_size());
        return RC_USAGE;
    }
    rt_dist_shard(r->batch, &r->first, &r->local);
    r->local_max = (r->batch + rt_dist_size() - 1) / rt_dist_size();
    return RC_OK;
}

/* Under mpirun rank 0 alone writes the log and the checkpoints. */
static bool writes_files(void)
{
    return rt_dist_rank() == 0;
}

/* The log and the checkpoint are first written after an epoch; a folder
 * that is missing or read-only is reported now, not after that work. */
static int check_writable(const char *prog, const char *flag, const char *path)
{
    char dir[PATHLEN];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    char err[ERRLEN];
    if (rt_check_output(path, err, sizeof err) != 0) {
        rt_report(prog, "%s (%s)", err, flag);
        return RC_INPUT;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        rt_report(prog, "%s (%s): folder %s: %s", path, flag, dir, strerror(errno));
        return RC_INPUT;
    }
    return RC_OK;
}

/* An output of this run must not be one of its inputs: the training or
 * test data, the program itself, or the other output. (--save onto the
 * --resume checkpoint is allowed: continuing a run in place is usual.) */
static int check_not_an_input(const char *prog, const char *flag, const char *path, const train_run *r)
{
    const char *inputs[] = { r->data_files.path, r->data_files.labels, r->has_test ? r->test_files.path : "",
                             r->has_test ? r->test_files.labels : "", r->has_val ? r->val_files.path : "",
                             r->has_val ? r->val_files.labels : "" };
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++)
        if (inputs[i][0] && rt_same_file(path, inputs[i])) {
            rt_report(prog, "%s %s would overwrite the data file %s; choose another name", flag, path, inputs[i]);
            return RC_INPUT;
        }
    if (rt_same_file(path, "/proc/self/exe")) {
        rt_report(prog, "%s %s would overwrite this program; choose another name", flag, path);
        return RC_INPUT;
    }
    /* the .net file, named as netc was given it, relative to the folder it
     * was in (base_dir) when that name is relative */
    const char *src = r->p->source;
    if (src && *src) {
        char where[PATHLEN];
        const char *base = r->p->config.base_dir;
        if (src[0] != '/' && base && *base)
            snprintf(where, sizeof where, "%s/%s", base, strrchr(src, '/') ? strrchr(src, '/') + 1 : src);
        else
            snprintf(where, sizeof where, "%s", src);
        if (rt_same_file(path, where) || rt_same_file(path, src)) {
            rt_report(prog, "%s %s would overwrite the model's source %s; choose another name", flag, path, src);
            return RC_INPUT;
        }
    }
    return RC_OK;
}

static int train_load_data(train_run *r)
{
    const options *o = r->o;
    const rt_program *p = r->p;
    int rc = rt_resolve_source(o->prog, p, &p->config.data, NULL, "--data", o->path[FLAG_DATA],
                               &r->data_files);
    if (rc == RC_OK)
        rc = rt_load_source(o->prog, p, &r->data_files, p->nsteps == 0, &r->data);
    if (rc != RC_OK)
        return rc;
    /* a GAN's steps have no one loss a test set could measure */
    r->has_test = (p->config.test.kind != RT_SRC_NONE || o->given[FLAG_TEST]) && (!p->nsteps || p->reconstructs);
    if (!r->has_test && (p->config.test.kind != RT_SRC_NONE || o->given[FLAG_TEST]) && writes_files())
        rt_report(o->prog, "warning: %s is not evaluated: model '%s' trains in step blocks that do not "
                  "reconstruct their data, which have no test figures yet",
                  o->given[FLAG_TEST] ? "--test" : "the train block's test source", p->name);
    if (r->has_test) {
        rc = rt_resolve_source(o->prog, p, &p->config.test, &p->config.data, "--test",
                               o->path[FLAG_TEST], &r->test_files);
        if (rc == RC_OK)
            rc = rt_load_source(o->prog, p, &r->test_files, p->nsteps == 0, &r->test);
        if (rc != RC_OK)
            return rc;
    }
    if (r->data.n < r->batch) {
        rt_report(o->prog, "%s: holds %lld samples, fewer than one batch of %lld; lower --batch",
               r->data_files.src.path, (long long)r->data.n, (long long)r->batch);
        return RC_INPUT;
    }
    r->ntrain = r->data.n;
    r->steps_per_epoch = r->data.n / r->batch;
    const rt_train_config *c = &p->config;
    if (o->given[FLAG_VAL] && p->nsteps > 0) {
        rt_report(o->prog, "--val: model '%s' trains through step blocks, which have no validation yet",
                  p->name);
        return RC_USAGE;
    }
    if (o->given[FLAG_VAL] || c->val.kind != RT_SRC_NONE) {
        rc = rt_resolve_source(o->prog, p, &c->val, &c->data, "--val", o->path[FLAG_VAL], &r->val_files);
        if (rc == RC_OK)
            rc = rt_load_source(o->prog, p, &r->val_files, true, &r->val);
        if (rc != RC_OK)
            return rc;
        r->has_val = true;
    }
    return RC_OK;
}

/* `val = fraction`: holds out rows of data, chosen by the run's seed (so
 * after --resume, the checkpoint's), before the epochs are planned. */
static int split_validation(train_run *r)
{
    const options *o = r->o;
    const rt_train_config *c = &r->p->config;
    if (!r->has_val && c->val_fraction > 0) {
        r->nval = rt_split_count(r->data.n, c->val_fraction);
        if (r->nval == 0) {
            rt_report(o->prog, "%s: holds %lld sample%s, too few to hold out a validation part (val = %g)",
                      r->data_files.src.path, (long long)r->data.n, r->data.n == 1 ? "" : "s",
                      (double)c->val_fraction);
            return RC_INPUT;
        }
        r->ntrain = r->data.n - r->nval;
        r->train_rows = malloc((size_t)r->ntrain * sizeof *r->train_rows);
        r->val_rows = malloc((size_t)r->nval * sizeof *r->val_rows);
        if (!r->train_rows || !r->val_rows ||
            rt_split_rows(r->data.n, r->nval, r->data_files.src.kind == RT_SRC_TEXT, r->at.seed,
                          r->train_rows, r->val_rows) != 0) {
            rt_report(o->prog, "out of memory");
            return RC_INPUT;
        }
        r->has_val = true;
        if (r->ntrain < r->batch) {
            rt_report(o->prog, "%s: %lld samples are left to train on after holding out %lld for "
                      "validation, fewer than one batch of %lld; lower --batch or val",
                      r->data_files.src.path, (long long)r->ntrain, (long long)r->nval,
                      (long long)r->batch);
            return RC_INPUT;
        }
        r->steps_per_epoch = r->ntrain / r->batch;
    }
    if (o->given[FLAG_SAVE_BEST] && !r->has_val) {
        rt_report(o->prog, "--save-best keeps the best validation evaluation, but model '%s' has no "
                  "validation data; add val = 0.1 to its train block or give --val FILE", r->p->name);
        return RC_USAGE;
    }
    r->eval_every = c->eval_every;
    if (r->eval_every > 0 && !r->has_val && !r->has_test && writes_files())
        rt_report(o->prog, "warning: eval_every %lld has nothing to evaluate: model '%s' has no "
                  "validation or test data; add val = 0.1 to its train block or give --val FILE",
                  (long long)r->eval_every, r->p->name);
    /* a resumed run continues its early stopping when it watches the same */
    rt_early_stop saved = r->at.es;
    rt_early_stop_init(&r->at.es, c->monitor == RT_MONITOR_VAL_ACCURACY, r->has_val ? c->stop_after : 0);
    if (r->has_val && saved.evals > 0 && saved.maximize == r->at.es.maximize) {
        saved.patience = r->at.es.patience;
        r->at.es = saved;
    }
    r->last_eval_step = -1;
    return RC_OK;
}

/* Where to start and how far to go, after --resume. `total_steps` is what
 * the schedule spans: for epochs, the steps of the whole run had it never
 * stopped (so a resumed cosine schedule continues on the same curve). */
static int train_plan(train_run *r)
{
    const options *o = r->o;
    position *at = &r->at;
    if (at->in_epoch > 0 && at->batch < 1) {
        rt_report(o->prog, "%s: metadata gives position %lld in epoch %lld but no batch size; the checkpoint is "
                  "damaged", o->path[FLAG_RESUME], (long long)at->in_epoch, (long long)at->epoch + 1);
        return RC_INPUT;
    }
    if (at->in_epoch > 0 && at->batch != r->batch) {
        rt_report(o->prog, "%s stopped in the middle of epoch %lld with batch %lld; resume with "
               "--batch %lld", o->path[FLAG_RESUME], (long long)at->epoch + 1, (long long)at->batch,
               (long long)at->batch);
        return RC_USAGE;
    }
    if (at->in_epoch >= r->steps_per_epoch && at->in_epoch > 0) {
        rt_report(o->prog, "%s: position %lld is past the %lld steps of an epoch; the data set "
               "changed since it was saved", o->path[FLAG_RESUME], (long long)at->in_epoch,
               (long long)r->steps_per_epoch);
        return RC_INPUT;
    }
    if (r->epochs > 0) {
        if (at->epoch >= r->epochs) {
            printf("%s already finished epoch %lld of %lld; nothing to train (raise --epochs to "
                   "train longer)\n", o->path[FLAG_RESUME], (long long)at->epoch,
                   (long long)r->epochs);
            return RC_NOTHING_TO_DO;
        }
        r->total_steps = at->step - at->in_epoch + (r->epochs - at->epoch) * r->steps_per_epoch;
        r->last_epoch = r->epochs;
    } else {
        if (at->step >= r->steps) {
            printf("%s already reached step %lld of %lld; nothing to train (raise --steps to "
                   "train longer)\n", o->path[FLAG_RESUME], (long long)at->step,
                   (long long)r->steps);
            return RC_NOTHING_TO_DO;
        }
        r->total_steps = r->steps;
        int64_t left = r->steps - at->step + at->in_epoch;
        r->last_epoch = at->epoch + (left + r->steps_per_epoch - 1) / r->steps_per_epoch;
    }
    return RC_OK;
}

/* Ctrl-C (SIGINT) or SIGTERM asks the loop to stop after the current step
 * and save where it is, so `--resume` continues exactly there; a second
 * Ctrl-C kills as usual. */
static volatile sig_atomic_t stop_requested;

static void request_stop(int sig)
{
    stop_requested = 1;
    signal(sig, SIG_DFL);
}

/* Evaluates the run's held-out set — the validation data when there is
 * some, else the test set — and appends its figures to line. With
 * validation it also tracks the best evaluation (writing --save-best when
 * one improves, marked "best" on the line) and decides early stopping. */
static int evaluate_held_out(train_run *r, char *line, size_t len, bool *best)
{
    const rt_program *p = r->p;
    const options *o = r->o;
    double t0 = rt_seconds(), c0 = rt_cpu_seconds();
    *best = false;
    if (r->has_val && r->val_rows)
        rt_evaluate(p, &r->data, r->val_rows, r->nval, r->local_max, r->buf.params, &r->buf, &r->held);
    else if (r->has_val)
        rt_evaluate(p, &r->val, NULL, r->val.n, r->local_max, r->buf.params, &r->buf, &r->held);
    else
        rt_evaluate(p, &r->test, NULL, r->test.n, r->local_max, r->buf.params, &r->buf, &r->held);
    r->last_eval_step = r->at.step;
    size_t n = strlen(line);
    if (n + 2 < len) {
        memcpy(line + n, "  ", 3);
        rt_eval_summary(p, &r->held, r->has_val ? "val " : "test ", line + n + 2, len - n - 2);
    }
    int rc = RC_OK;
    double held_loss = rt_metrics_loss(&r->held);
    if (!isfinite(held_loss)) {
        /* finite weights so large that the forward pass overflows: the
         * next step's loss would stop the run; the last one's stops it
         * here, before a checkpoint of them is written */
        rt_report(o->prog, "the %s loss is %s after step %lld: the weights have grown until the forward pass "
                  "overflows (the training diverged); stopped without saving; lower the learning rate (--lr) "
                  "or add clip to the train block", r->has_val ? "validation" : "test", isnan(held_loss) ? "NaN"
                  : "infinite", (long long)r->at.step);
        rc = RC_INPUT;
    } else if (r->has_val) {
        bool acc = p->config.monitor == RT_MONITOR_VAL_ACCURACY;
        double v = acc ? rt_metrics_accuracy(&r->held) : held_loss;
        int64_t epoch = r->at.in_epoch > 0 ? r->at.epoch + 1 : r->at.epoch;
        *best = rt_early_stop_record(&r->at.es, v, r->at.step, epoch);
        if (*best) {
            n = strlen(line);
            snprintf(line + n, len - n, "  best");
            if (o->given[FLAG_SAVE_BEST] && writes_files())
                rc = rt_run_checkpoint_save(o->prog, o->path[FLAG_SAVE_BEST], p, &r->tensors, &r->sp, &r->at);
        }
        r->stop_early = rt_early_stop_done(&r->at.es);
    }
    r->eval_seconds += rt_seconds() - t0;
    r->eval_cpu += rt_cpu_seconds() - c0;
    return rc;
}

/* A log row for the training since the last row; evaluated: with the
 * figures of the evaluation just made. */
static int write_row(train_run *r, int64_t epoch, bool evaluated, bool best)
{
    double now = rt_seconds();
    double seconds = now - r->row_start - (r->eval_seconds - r->row_eval_mark);
    double rate = seconds > 0 ? (double)r->row_samples / seconds : 0;
    double loss = r->row_samples ? r->row_loss / (double)r->row_samples : 0;
    const rt_metrics *held = evaluated ? &r->held : NULL;
    int rc = !writes_files() ? RC_OK
             : rt_log_row(r->o->prog, &r->log, epoch, r->at.step, r->lr, loss, r->has_val ? NULL : held,
                          r->has_val ? held : NULL, best, rate, seconds);
    r->row_loss = 0;
    r->row_samples = 0;
    r->row_start = now;
    r->row_eval_mark = r->eval_seconds;
    return rc;
}

/* eval_every's evaluation inside an epoch: a line and a log row. */
static int evaluation_row(train_run *r, int64_t epoch)
{
    char line[512];
    snprintf(line, sizeof line, "step %lld/%lld  loss %.4f", (long long)r->at.step,
             (long long)r->total_steps, r->row_samples ? r->row_loss / (double)r->row_samples : 0.0);
    bool best;
    int rc = evaluate_held_out(r, line, sizeof line, &best);
    printf("%s\n", line);
    fflush(stdout);
    if (rc == RC_OK)
        rc = write_row(r, epoch, true, best);
    return rc;
}

/* Under mpirun the ranks stop together: at a step whose all-reduce said
 * that some rank was asked to. */
static bool stopping(const train_run *r)
{
    return rt_dist_on() ? r->stop : stop_requested != 0;
}

/* One iteration: the steps in order, each on the parameters the one before
 * left. *loss gets the sum of their losses, *lr the last step's rate.
 * RC_OK, or RC_INPUT after a non-finite loss was reported. */
static int train_iteration(train_run *r, rt_progress *pg, int64_t epoch, double *loss, float *lr)
{
    const rt_program *p = r->p;
    position *at = &r->at;
    *loss = 0;
    for (int k = 0; k < r->sp.n; k++) {
        const rt_step *st = &r->sp.step[k];
        uint64_t seed = p->nsteps ? rt_step_seed_of(at->seed, at->step, k) : rt_step_seed(at->seed, at->step);
        rt_dist_step_begin(st->begin, st->end, r->first, r->local, r->batch);
        double step_loss = st->train_step(r->buf.params, r->buf.grads, r->buf.x, r->buf.y, r->local,
                                          r->buf.arena, seed);
        if (rt_dist_on()) {
            bool stop = stop_requested;
            rt_dist_step_end(&step_loss, &stop);
            r->stop = r->stop || stop;
        }
        if (!isfinite(step_loss)) { /* the summed loss: every rank sees it */
            rt_progress_clear(pg);
            rt_report_non_finite(r->o->prog, p, &r->buf, r->local, step_loss, k, at->step + 1, epoch + 1, seed);
            return RC_INPUT;
        }
        int64_t n = st->end - st->begin;
        float clip = st->clip > 0 ? st->clip : p->config.clip;
        if (clip > 0)
            rt_clip_grad_norm(n, r->buf.grads + st->begin, clip);
        *lr = rt_schedule_lr(st->has_sched ? &st->sched : &r->sched, st->opt.lr, at->step + 1, r->total_steps);
        rt_optimizer_step(&st->opt, *lr, at->step + 1, n, r->buf.params + st->begin,
                          r->buf.grads + st->begin, r->buf.state + r->sp.state_offset[k]);
        r->step_loss[k] += step_loss;
        *loss += step_loss;
    }
    return RC_OK;
}

/* After an iteration: the replica check under mpirun, and eval_every's
 * evaluation inside an epoch (which may decide to stop early). */
static int after_iteration(train_run *r, rt_progress *pg, int64_t epoch)
{
    const options *o = r->o;
    const position *at = &r->at;
    if (rt_dist_on() && (o->given[FLAG_CHECK_REPLICAS] || (REPLICA_CHECK_EVERY > 0 &&
                                                          at->step % REPLICA_CHECK_EVERY == 0))) {
        int rc = rt_dist_check_replicas(o->prog, r->buf.params, r->p->param_floats, at->step);
        if (rc != RC_OK)
            return rc;
    }
    if (r->eval_every > 0 && at->step % r->eval_every == 0 && at->in_epoch < r->steps_per_epoch &&
        at->step < r->total_steps && (r->has_val || r->has_test)) {
        rt_progress_clear(pg);
        return evaluation_row(r, epoch + 1);
    }
    return RC_OK;
}

/* Ctrl-C or SIGTERM (or, under mpirun, another rank's): the line saying
 * where the run stopped, and with --save the checkpoint to resume from.
 * RC_INTERRUPTED, or the error that kept the checkpoint from being saved. */
/* name as one word of a shell command: as it is when it needs no quotes,
 * else in single quotes, a quote in it written '\'' */
static void print_shell_word(const char *name)
{
    if (name[0] && !name[strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/+=:,@%")]) {
        fputs(name, stdout);
        return;
    }
    putchar('\'');
    for (const char *c = name; *c; c++)
        if (*c == '\'')
            fputs("'\\''", stdout);
        else
            putchar(*c);
    putchar('\'');
}

static int stop_run(train_run *r, rt_progress *pg, int64_t epoch)
{
    const options *o = r->o;
    const position *at = &r->at;
    rt_progress_clear(pg);
    printf("stopped at step %lld (epoch %lld, %lld of %lld steps into it)\n", (long long)at->step,
           (long long)epoch + 1, (long long)at->in_epoch, (long long)r->steps_per_epoch);
    int rc = RC_INTERRUPTED;
    if (o->given[FLAG_SAVE]) {
        rc = writes_files() ? rt_run_checkpoint_save(o->prog, o->path[FLAG_SAVE], r->p, &r->tensors, &r->sp, at)
                            : RC_OK;
        rc = rt_dist_agree_report(o->prog, rc, "to save the checkpoint");
        if (rc == RC_OK) {
            printf("saved %s; continue with --resume ", o->path[FLAG_SAVE]);
            print_shell_word(o->path[FLAG_SAVE]);
            putchar('\n');
            rc = RC_INTERRUPTED;
        }
    }
    fflush(stdout);
    return rc;
}

/* What an epoch did, for its line. */
typedef struct epoch_figures {
    int64_t epoch; /* 0-based */
    int64_t samples;
    double loss_sum, seconds, cpu;
} epoch_figures;

/* "epoch 3/10  loss 0.4120  train 12.3s (CPU 23.10s)  52,000 samples/s",
 * with each step's loss for a program of steps, and the time waiting in
 * the all-reduce under mpirun. */
static void epoch_line(const train_run *r, const epoch_figures *e, char *line, size_t len)
{
    const rt_program *p = r->p;
    double train_loss = e->samples ? e->loss_sum / (double)e->samples : 0;
    double rate = e->seconds > 0 ? (double)e->samples / e->seconds : 0;
    char rate_text[48];
    rt_format_thousands(rate, rate_text, sizeof rate_text);
    char per_step[256] = "";
    for (int k = 0, used = 0; p->nsteps && k < r->sp.n && used < (int)sizeof per_step; k++)
        used += snprintf(per_step + used, sizeof per_step - (size_t)used, "%s %s %.4f", k ? "," : "", r->sp.step[k].model,
                         e->samples ? r->step_loss[k] / (double)e->samples : 0);
    if (!p->nsteps)
        snprintf(per_step, sizeof per_step, " %.4f", train_loss);
    char wait[64] = "";
    if (rt_dist_on())
        snprintf(wait, sizeof wait, "  (%d ranks, %.1f%% waiting in all-reduce)", rt_dist_size(),
                 e->seconds > 0 ? 100.0 * rt_dist_wait_seconds() / e->seconds : 0.0);
    snprintf(line, len, "epoch %lld/%lld  loss%s  train %.1fs (CPU %.2fs)  %s samples/s%s",
             (long long)e->epoch + 1, (long long)r->last_epoch, per_step, e->seconds, e->cpu, rate_text, wait);
}

/* The end of an epoch (or of the run inside one): its line, the held-out
 * evaluation (at the end of each epoch, or with eval_every at its steps and
 * at the end of the run), the log row, the checkpoint and the samples. */
static int end_epoch(train_run *r, const epoch_figures *e)
{
    const rt_program *p = r->p;
    const options *o = r->o;
    position *at = &r->at;
    if (at->in_epoch == r->steps_per_epoch) {
        at->epoch++;
        at->in_epoch = 0;
    }
    bool eval_now = (r->has_val || r->has_test) && r->last_eval_step != at->step &&
                    (r->eval_every == 0 || at->step % r->eval_every == 0 || at->step >= r->total_steps);
    char line[512];
    epoch_line(r, e, line, sizeof line);
    bool best = false;
    int rc = RC_OK;
    if (eval_now)
        rc = evaluate_held_out(r, line, sizeof line, &best);
    printf("%s\n", line);
    fflush(stdout);
    if (rc == RC_OK && r->row_samples > 0)
        rc = write_row(r, e->epoch + 1, eval_now, best);
    if (writes_files()) {
        if (rc == RC_OK && o->given[FLAG_SAVE])
            rc = rt_run_checkpoint_save(o->prog, o->path[FLAG_SAVE], p, &r->tensors, &r->sp, at);
        if (rc == RC_OK && o->given[FLAG_SAMPLES]) {
            /* the same noise every epoch (the run's seed), so the grids show
             * the generator learning, not new draws */
            char path[PATHLEN];
            snprintf(path, sizeof path, "%s/epoch-%03lld.png", o->path[FLAG_SAMPLES], (long long)e->epoch + 1);
            rc = rt_sample_grid(o->prog, p, r->buf.params, 8, 8, at->seed, path);
        }
    }
    return rt_dist_agree_report(o->prog, rc, "to write the log, the checkpoint or the samples");
}

/* One epoch from at->in_epoch to its end (or to total_steps). */
static int train_epoch(train_run *r, rt_progress *pg)
{
    position *at = &r->at;
    int64_t epoch = at->epoch;
    rt_epoch_order(r->order, r->ntrain, at->seed, epoch);
    if (r->train_rows)
        for (int64_t i = 0; i < r->ntrain; i++)
            r->order[i] = r->train_rows[r->order[i]];
    memset(r->step_loss, 0, sizeof r->step_loss);

    double start = rt_seconds(), cpu_start = rt_cpu_seconds();
    epoch_figures e = { .epoch = epoch };
    int64_t first_step = at->step;
    rt_progress_state ps = { .epoch = epoch + 1, .epochs = r->last_epoch,
                             .steps = r->steps_per_epoch, .run_steps = r->total_steps,
                             .by_steps = r->steps > 0 };
    double eval_mark = r->eval_seconds, eval_cpu_mark = r->eval_cpu;
    while (at->in_epoch < r->steps_per_epoch && at->step < r->total_steps && !stopping(r)) {
        gather(r->p, &r->data, r->order + at->in_epoch * r->batch + r->first, r->local, &r->buf,
               at->seed, at->step, r->batch, r->first);
        double loss;
        float lr = 0;
        int rc = train_iteration(r, pg, epoch, &loss, &lr);
        if (rc != RC_OK)
            return rc;
        at->step++;
        at->in_epoch++;
        e.loss_sum += loss;
        e.samples += r->batch;
        r->row_loss += loss;
        r->row_samples += r->batch;
        r->lr = lr;
        rc = after_iteration(r, pg, epoch);
        if (rc != RC_OK)
            return rc;
        if (r->stop_early)
            break;
        if (pg->live || pg->plain) {
            /* the rate is training's, as the epoch line's; the ETA counts
             * the evaluations too, as the ones to come will take as long */
            double elapsed = rt_seconds() - start, training = elapsed - (r->eval_seconds - eval_mark);
            ps.step = at->in_epoch;
            ps.run_step = at->step;
            ps.run_steps_left = r->total_steps - at->step;
            ps.mean_loss = e.loss_sum / (double)e.samples;
            ps.samples_per_s = training > 0 ? (double)e.samples / training : 0;
            ps.steps_per_s = elapsed > 0 ? (double)(at->step - first_step) / elapsed : 0;
            rt_progress_update(pg, &ps, false);
        }
    }
    if (stopping(r))
        return stop_run(r, pg, epoch);
    e.seconds = rt_seconds() - start - (r->eval_seconds - eval_mark);
    e.cpu = rt_cpu_seconds() - cpu_start - (r->eval_cpu - eval_cpu_mark);
    rt_progress_clear(pg);
    return end_epoch(r, &e);
}

/* LOG.json beside --log's CSV, with the run's status. */
static int write_record(const train_run *r, const char *status, long long started)
{
    const options *o = r->o;
    if (!o->given[FLAG_LOG])
        return RC_OK;
    const rt_train_config *c = &r->p->config;
    rt_run_record rec = {
        .p = r->p, .argc = o->argc, .argv = o->argv, .seed = r->at.seed, .batch = r->batch,
        .epochs = r->epochs, .steps = r->steps, .data = r->data_files.src.path,
        .test = r->has_test ? r->test_files.src.path : NULL,
        .val = r->has_val && !r->val_rows ? r->val_files.src.path : NULL,
        .val_fraction = r->val_rows ? c->val_fraction : 0, .train_samples = r->ntrain,
        .val_samples = r->val_rows ? r->nval : r->val.n, .started = started, .status = status,
        .step = r->at.step, .best = r->has_val ? &r->at.es : NULL,
        .monitor = c->monitor == RT_MONITOR_VAL_ACCURACY ? "val_accuracy" : "val_loss",
        .save_best = o->given[FLAG_SAVE_BEST] ? o->path[FLAG_SAVE_BEST] : NULL,
    };
    char err[ERRLEN];
    if (rt_run_record_write(o->path[FLAG_LOG], &rec, err, sizeof err) != 0) {
        rt_report(o->prog, "%s", err);
        return RC_INPUT;
    }
    return RC_OK;
}

/* The end of a run with validation: why it stopped early, and which
 * evaluation was best. */
static void report_best(const train_run *r)
{
    const rt_early_stop *e = &r->at.es;
    const char *name = r->p->config.monitor == RT_MONITOR_VAL_ACCURACY ? "val_accuracy" : "val_loss";
    if (r->stop_early)
        printf("stopped early: %s did not improve for %lld evaluations\n", name,
               (long long)e->patience);
    if (!r->has_val || e->best_eval == 0)
        return;
    char value[32];
    if (r->p->config.monitor == RT_MONITOR_VAL_ACCURACY)
        snprintf(value, sizeof value, "%.2f%%", 100.0 * e->best);
    else
        snprintf(value, sizeof value, "%.4f", e->best);
    printf("best: evaluation %lld of %lld (step %lld, epoch %lld), %s %s", (long long)e->best_eval,
           (long long)e->evals, (long long)e->best_step, (long long)e->best_epoch, name, value);
    if (r->o->given[FLAG_SAVE_BEST])
        printf("; its weights are in %s", r->o->path[FLAG_SAVE_BEST]);
    printf("\n");
}

/* The outputs of the run (--save, --log, --save-best, --samples) can be
 * written, are not its inputs and not one another: checked before any
 * work. Those only rank 0 writes are checked there. */
static int check_outputs(train_run *r)
{
    const options *o = r->o;
    int rc = RC_OK;
    if (rc == RC_OK && o->given[FLAG_SAVE])
        rc = check_not_an_input(o->prog, "--save", o->path[FLAG_SAVE], r);
    if (rc == RC_OK && o->given[FLAG_LOG])
        rc = check_not_an_input(o->prog, "--log", o->path[FLAG_LOG], r);
    if (rc == RC_OK && o->given[FLAG_SAVE_BEST])
        rc = check_not_an_input(o->prog, "--save-best", o->path[FLAG_SAVE_BEST], r);
    if (rc == RC_OK && o->given[FLAG_SAVE_BEST] && o->given[FLAG_LOG] &&
        rt_same_file(o->path[FLAG_SAVE_BEST], o->path[FLAG_LOG])) {
        rt_report(o->prog, "--save-best and --log both name %s; give them different files", o->path[FLAG_LOG]);
        rc = RC_INPUT;
    }
    if (rc == RC_OK && o->given[FLAG_SAVE_BEST])
        rc = check_writable(o->prog, "--save-best", o->path[FLAG_SAVE_BEST]);
    return rc;
}

/* The settings, the outputs' folders (before the data is read: a typo in
 * --save should not wait for a large data set to load), the data, then
 * every buffer of the run, the checkpoint's tensors and the all-reduce. */
static int train_setup(train_run *r)
{
    const options *o = r->o;
    const rt_program *p = r->p;
    int rc = train_settings(r);
    if (rc == RC_OK && o->given[FLAG_SAVE] && writes_files())
        rc = check_writable(o->prog, "--save", o->path[FLAG_SAVE]);
    if (rc == RC_OK && o->given[FLAG_LOG] && writes_files())
        rc = check_writable(o->prog, "--log", o->path[FLAG_LOG]);
    if (rc == RC_OK && o->given[FLAG_SAVE] && o->given[FLAG_LOG] && rt_same_file(o->path[FLAG_SAVE], o->path[FLAG_LOG])) {
        rt_report(o->prog, "--save and --log both name %s; give them different files", o->path[FLAG_SAVE]);
        rc = RC_INPUT;
    }
    if (rc == RC_OK && o->given[FLAG_SAMPLES] && writes_files() && access(o->path[FLAG_SAMPLES], W_OK | X_OK) != 0) {
        rt_report(o->prog, "%s (--samples): %s; make the folder first", o->path[FLAG_SAMPLES], strerror(errno));
        rc = RC_INPUT;
    }
    if (rc == RC_OK)
        rc = train_load_data(r);
    if (rc == RC_OK)
        rc = check_outputs(r);
    if (rc == RC_OK)
        rc = rt_eval_metrics_init(o->prog, p, &r->held);
    if (rc == RC_OK)
        rc = rt_alloc_buffers(o->prog, p, r->local_max, r->sp.state_floats, true, &r->buf);
    if (rc == RC_OK) {
        r->order = malloc((size_t)r->data.n * sizeof *r->order);
        if (!r->order) {
            rt_report(o->prog, "out of memory");
            rc = RC_INPUT;
        }
    }
    if (rc == RC_OK)
        rc = rt_run_tensors_build(o->prog, p, r->buf.params, r->buf.state, &r->sp, &r->tensors);
    if (rc == RC_OK)
        rc = rt_run_tensors_build(o->prog, p, r->buf.params, NULL, NULL, &r->weights);
    if (rc == RC_OK)
        rc = rt_dist_setup(o->prog, p, &r->sp, r->buf.params, r->buf.grads);
    return rt_dist_agree_report(o->prog, rc, "to start (its flags, data or memory)");
}

/* The parameters the run starts from: drawn from the seed, then `init
 * from` a file, or with --resume the checkpoint's (and its position). */
static int train_start(train_run *r)
{
    const options *o = r->o;
    const rt_program *p = r->p;
    r->at.batch = r->batch;
    rt_init_params(p, r->at.seed, r->buf.params);
    if (p->config.init_path && !o->given[FLAG_RESUME]) {
        char path[PATHLEN];
        rt_data_resolve(p->config.init_path, p->config.base_dir, path, sizeof path);
        int rc = rt_init_from(o->prog, p, path, r->buf.params, stdout);
        if (rc != RC_OK)
            return rc;
    }
    if (o->given[FLAG_RESUME]) {
        uint64_t flag_seed = r->at.seed;
        /* Every rank reads the checkpoint (so it must be readable on every
         * machine); the replica check below holds them to the same bits. */
        int rc = rt_run_resume(o->prog, o->path[FLAG_RESUME], p, &r->sp, &r->tensors, &r->weights, &r->at);
        rc = rt_dist_agree_report(o->prog, rc, "to read the checkpoint");
        if (rc != RC_OK)
            return rc;
        /* The checkpoint's seed keeps the shuffles of the run it continues,
         * unless the user asks for another. */
        if (o->given[FLAG_SEED])
            r->at.seed = flag_seed;
    }
    return RC_OK;
}

/* The epochs, with Ctrl-C and SIGTERM asking the loop to stop and save. */
static int train_epochs(train_run *r)
{
    rt_progress pg;
    rt_progress_init(&pg, isatty(STDERR_FILENO) == 1);
    r->row_start = rt_seconds();
    stop_requested = 0;
    struct sigaction stop = { .sa_handler = request_stop }, old_int, old_term;
    sigemptyset(&stop.sa_mask);
    sigaction(SIGINT, &stop, &old_int);
    sigaction(SIGTERM, &stop, &old_term);
    int rc = RC_OK;
    while (rc == RC_OK && r->at.step < r->total_steps && !r->stop_early)
        rc = train_epoch(r, &pg);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    return rc;
}

static void train_run_free(train_run *r)
{
    rt_dist_teardown();
    free(r->log.text);
    rt_run_tensors_free(&r->tensors);
    rt_run_tensors_free(&r->weights);
    free(r->order);
    free(r->buf.block);
    rt_dataset_free(&r->data);
    rt_dataset_free(&r->test);
    rt_dataset_free(&r->val);
    free(r->train_rows);
    free(r->val_rows);
    rt_metrics_free(&r->held);
}

int rt_cmd_train(const options *o, const rt_program *p)
{
    train_run r = { .o = o, .p = p };
    long long started = (long long)time(NULL);
    int rc = train_setup(&r);
    if (rc == RC_OK)
        rc = train_start(&r);
    if (rc == RC_OK)
        rc = split_validation(&r);
    if (rc == RC_OK)
        rc = train_plan(&r);
    if (rc == RC_NOTHING_TO_DO)
        rc = RC_OK;
    if (rc != RC_OK || r.at.step >= r.total_steps)
        goto done;
    r.at.batch = r.batch;
    if (o->given[FLAG_LOG] && writes_files())
        rc = rt_log_open(o->prog, &r.log, o->path[FLAG_LOG], r.last_epoch - r.at.epoch, o->given[FLAG_RESUME],
                         r.at.step);
    if (rc == RC_OK && o->given[FLAG_LOG] && writes_files())
        rc = write_record(&r, "running", started);
    rc = rt_dist_agree_report(o->prog, rc, "to open the log");
    if (rc == RC_OK && rt_dist_on())
        rc = rt_dist_check_replicas(o->prog, r.buf.params, p->param_floats, r.at.step);
    if (rc != RC_OK)
        goto done;

    rc = train_epochs(&r);
    if (rc == RC_OK)
        report_best(&r);
    if (r.log.path) {
        const char *status = rc == RC_OK ? (r.stop_early ? "stopped early" : "finished")
                             : rc == RC_INTERRUPTED ? "interrupted" : "failed";
        int wrc = write_record(&r, status, started);
        if (rc == RC_OK)
            rc = wrc;
    }
    if (rc == RC_OK && o->given[FLAG_SAVE])
        printf("saved %s (epoch %lld, step %lld)\n", o->path[FLAG_SAVE], (long long)r.at.epoch,
               (long long)r.at.step);

done:
    if (fflush(stdout) != 0 && rc == RC_OK) {
        rt_report(o->prog, "writing to stdout: %s", strerror(errno));
        rc = RC_INPUT;
    }
    train_run_free(&r);
    return rc;
}
