/* train.c — the `train` and `eval` commands of rt_main (cli.c): data, the
 * memory block, checkpoints, evaluation, the CSV log and the training loop
 * (a step whose loss goes non-finite is reported by nonfinite.c).
 *
 * Requires an rt_program from netc (parameter layout, train_step, forward
 * and the train block's config); produces trained weights in a safetensors
 * checkpoint, a CSV log, and evaluation and prediction output.
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
 * every sample is still seen. Evaluation and prediction run every sample,
 * the last batch smaller.
 *
 * Data flags. --data/--test FILE keep the kind, scale, shift and CSV
 * columns of the train block's source and replace its file. For IDX sources
 * the labels file is the same path with "images-idx3" replaced by
 * "labels-idx1" (train-images-idx3-ubyte.gz -> train-labels-idx1-ubyte.gz).
 * A path on the command line is looked up as written (relative to the
 * working folder), then in $NETC_DATA_PATH and /usr/share/datasets; a name
 * in the train block is looked up next to the .net file first.
 *
 * Losses. train_step returns the sum of per-sample losses; the reported
 * train loss is its mean per sample. Test loss is the kernel's sum divided
 * by the rows it covers (cross-entropy: samples * rows per sample; MSE and
 * BCE: samples * outputs), which is the same number when a sample's loss is
 * the mean over its rows or outputs, as PyTorch's default reduction.
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

#define CHECKPOINT_FORMAT "1"

/* Under mpirun, the parameters of every rank are compared (a hash of their
 * bits, gathered) at the start and every this many steps in builds without
 * NDEBUG, and after every step with --check-replicas. */
#ifdef NDEBUG
#define REPLICA_CHECK_EVERY 0
#else
#define REPLICA_CHECK_EVERY 100
#endif
#define LOG_HEADER "epoch,step,lr,train_loss,test_loss,test_accuracy,samples_per_s,seconds,val_loss,val_accuracy,best\n"

/* ----------------------------------------------------------------- data */

int64_t rt_class_count(const rt_program *p)
{
    return p->out_rank > 0 ? p->out_dims[p->out_rank - 1] : p->out_size;
}


static void not_found_in_search(const char *prog, const char *name, const rt_program *p,
                                const char *flag)
{
    const char *base = p->config.base_dir && p->config.base_dir[0] ? p->config.base_dir : ".";
    rt_report(prog, "%s: not found in %s, $NETC_DATA_PATH or /usr/share/datasets; give its path "
           "with %s FILE", name, base, flag);
}

/* Fills f from the train block's source `config` or, when flag_path is
 * given, from that file with config's kind and scale (or `fallback`'s when
 * config has no source). Returns RC_OK, or a code after a message. */
/* A data file named on the command line was not found as a file: say
 * whether it is missing or there but not a file (a folder, a device). */
int rt_report_unresolved(const char *prog, const char *path, const char *flag)
{
    char err[ERRLEN], with[64] = "";
    if (flag)
        snprintf(with, sizeof with, " (given with %s)", flag);
    int fd = access(path, F_OK) == 0 ? rt_open_regular(path, err, sizeof err) : 0;
    if (fd < 0) {
        rt_report(prog, "%s%s", err, with);
        return RC_INPUT;
    }
    if (fd > 0)
        close(fd);
    rt_report(prog, "%s: no such file%s", path, with);
    return RC_INPUT;
}

static int resolve_source(const char *prog, const rt_program *p, const rt_source *config,
                          const rt_source *fallback, const char *flag, const char *flag_path,
                          source_files *f)
{
    memset(f, 0, sizeof *f);
    if (!flag_path) {
        f->src = *config;
        f->shown = config->path;
        if (rt_data_resolve(config->path, p->config.base_dir, f->path, sizeof f->path) != 0) {
            not_found_in_search(prog, config->path, p, flag);
            return RC_INPUT;
        }
        f->src.path = f->path;
        if (config->labels_path) {
            if (rt_data_resolve(config->labels_path, p->config.base_dir, f->labels,
                                sizeof f->labels) != 0) {
                not_found_in_search(prog, config->labels_path, p, flag);
                return RC_INPUT;
            }
            f->src.labels_path = f->labels;
        }
        return RC_OK;
    }

    const rt_source *like = config->kind != RT_SRC_NONE ? config : fallback;
    if (like && like->kind != RT_SRC_NONE) {
        f->src = *like;
    } else {
        /* No train block source to copy: an IDX file by its name, else CSV
         * without a label column. */
        f->src = (rt_source){ .kind = strstr(flag_path, "idx") ? RT_SRC_IDX : RT_SRC_CSV,
                              .scale = 1.0f, .label_column = -1 };
    }
    f->shown = flag_path;
    if (rt_data_resolve(flag_path, NULL, f->path, sizeof f->path) != 0)
        return rt_report_unresolved(prog, flag_path, flag);
    f->src.path = f->path;
    f->src.labels_path = NULL;
    if (f->src.kind == RT_SRC_IDX && like && like->labels_path) {
        const char *slash = strrchr(f->path, '/');
        char *at = strstr(slash ? slash + 1 : f->path, "images-idx3");
        if (!at) {
            rt_report(prog, "%s %s: cannot tell its labels file: the name holds no 'images-idx3' to "
                   "replace with 'labels-idx1' (name the files like train-images-idx3-ubyte.gz "
                   "and train-labels-idx1-ubyte.gz)", flag, flag_path);
            return RC_USAGE;
        }
        size_t prefix = (size_t)(at - f->path);
        snprintf(f->labels, sizeof f->labels, "%.*slabels-idx1%s", (int)prefix, f->path,
                 at + strlen("images-idx3"));
        if (access(f->labels, F_OK) != 0) {
            rt_report(prog, "%s: no such file (the labels for %s %s: its name with 'images-idx3' "
                   "replaced by 'labels-idx1')", f->labels, flag, flag_path);
            return RC_INPUT;
        }
        f->src.labels_path = f->labels;
    }
    return RC_OK;
}

/* Integer labels become f32 targets in place (both are 4 bytes). */
static void labels_to_float(rt_dataset *d)
{
    int64_t n = d->n * d->y_size;
    for (int64_t i = 0; i < n; i++) {
        int32_t v;
        memcpy(&v, (char *)d->y + 4 * i, 4);
        float f = (float)v;
        memcpy((char *)d->y + 4 * i, &f, 4);
    }
    d->y_dtype = RT_F32;
}

/* Checks a loaded data set against what the program takes. */
/* Token ids from a source that reads numbers (a CSV): every value must be
 * a whole number that fits an id; they become i32 in place. Returns
 * RC_OK, or RC_INPUT after a message naming the value, its sample and the
 * input. */
static int numbers_to_ids(const char *prog, const rt_program *p, const char *file, const char *input, rt_dataset *d)
{
    float *v = d->x;
    int32_t *ids = d->x;
    for (int64_t i = 0; i < d->n * d->x_size; i++) {
        if (!(v[i] == floorf(v[i]) && v[i] >= -2147483648.0f && v[i] < 2147483648.0f)) {
            rt_report(prog, "%s: value %g of sample %lld is not a token id: model '%s' takes %s: i32 (whole "
                      "numbers, ids of its embedding)", file, (double)v[i], (long long)(i / d->x_size), p->name,
                      input);
            return RC_INPUT;
        }
        ids[i] = (int32_t)v[i];
    }
    d->x_dtype = RT_I32;
    return RC_OK;
}

static int check_dataset(const char *prog, const rt_program *p, const source_files *f,
                         rt_dataset *d, bool need_labels)
{
    const char *xfile = f->src.path;
    const char *yfile = f->src.labels_path ? f->src.labels_path : f->src.path;
    char want[128], have[128];
    /* a program of steps trains on `real`, which need not be forward's x */
    rt_dtype x_dtype = p->nsteps ? p->data_dtype : p->x_dtype;
    int x_rank = p->nsteps ? p->data_rank : p->x_rank;
    const int64_t *x_dims = p->nsteps ? p->data_dims : p->x_dims;
    int64_t x_size = p->nsteps ? p->data_size : p->x_size;
    const char *input = p->nsteps ? "real" : p->x_name ? p->x_name : "x";
    rt_format_type(x_dtype, x_dims, x_rank, want, sizeof want);
    if (d->x_size != x_size) {
        char dims[128] = "";
        if (d->x_rank > 1) {
            char x[120];
            rt_format_dims_x(d->x_dims, d->x_rank, x, sizeof x);
            snprintf(dims, sizeof dims, " (%s)", x);
        }
        rt_report(prog, "%s: samples hold %lld value%s%s but model '%s' takes %s: %s", xfile,
               (long long)d->x_size, d->x_size == 1 ? "" : "s", dims, p->name, input, want);
        return RC_INPUT;
    }
    if (d->x_dtype == RT_F32 && x_dtype == RT_I32 && f->src.kind == RT_SRC_CSV &&
        numbers_to_ids(prog, p, xfile, input, d) != RC_OK)
        return RC_INPUT;
    if (d->x_dtype != x_dtype) {
        rt_report(prog, "%s: samples are %s but model '%s' takes %s: %s%s", xfile,
               rt_dtype_name(d->x_dtype), p->name, input, want,
               x_dtype == RT_I32 ? " (token ids: give a CSV of whole numbers, or text for a byte model)" : "");
        return RC_INPUT;
    }
    if (d->x_dtype == RT_I32 && p->x_vocab > 0) {
        /* The embedding kernel aborts on an id outside its table; data is
         * where such an id comes from, so it is refused here, named. */
        const int32_t *ids = d->x;
        for (int64_t i = 0; i < d->n * d->x_size; i++)
            if (ids[i] < 0 || ids[i] >= p->x_vocab) {
                rt_report(prog, "%s: token id %d of sample %lld is outside [0, %lld): model '%s' embeds "
                       "%lld token ids; make the embed's vocab larger or map the data's ids into it",
                       xfile, (int)ids[i], (long long)(i / d->x_size), (long long)p->x_vocab, p->name,
                       (long long)p->x_vocab);
                return RC_INPUT;
            }
    }
    if (!need_labels)
        return RC_OK;

    rt_format_type(p->y_dtype, p->y_dims, p->y_rank, want, sizeof want);
    if (!d->y || d->y_size == 0) {
        rt_report(prog, "%s: no labels, but model '%s' needs y: %s for its %s loss; name a labels "
               "file in the train block's source", xfile, p->name, want, rt_loss_name(p->loss));
        return RC_INPUT;
    }
    if (d->y_size != p->y_size) {
        rt_format_type(d->y_dtype, d->y_dims, d->y_rank, have, sizeof have);
        rt_report(prog, "%s: labels are %s per sample but model '%s' takes y: %s", yfile, have,
               p->name, want);
        return RC_INPUT;
    }
    if (p->loss == RT_LOSS_CROSS_ENTROPY) {
        if (d->y_dtype != RT_I32) {
            rt_report(prog, "%s: labels are numbers, but cross_entropy needs class ids (whole "
                   "numbers)", yfile);
            return RC_INPUT;
        }
        /* Checked here because the kernel treats a bad label as a bug and
         * aborts. */
        int64_t classes = rt_class_count(p), n = d->n * d->y_size;
        const int32_t *y = d->y;
        for (int64_t i = 0; i < n; i++)
            if (y[i] < 0 || y[i] >= classes) {
                rt_report(prog, "%s: label %d of sample %lld is outside [0, %lld): model '%s' has "
                       "%lld classes", yfile, (int)y[i], (long long)(i / d->y_size),
                       (long long)classes, p->name, (long long)classes);
                return RC_INPUT;
            }
    } else {
        if (d->y_dtype == RT_I32)
            labels_to_float(d);
        /* BCE's targets are probabilities; a class id of 3 would train
         * towards a logit of infinity without complaint. */
        int64_t n = d->n * d->y_size;
        const float *y = d->y;
        for (int64_t i = 0; p->loss == RT_LOSS_BCE && i < n; i++)
            if (!(y[i] >= 0.0f && y[i] <= 1.0f)) {
                rt_report(prog, "%s: target %g of sample %lld is outside [0, 1], which bce needs",
                       yfile, (double)y[i], (long long)(i / d->y_size));
                return RC_INPUT;
            }
    }
    return RC_OK;
}

int rt_load_source(const char *prog, const rt_program *p, const source_files *f,
                       bool need_labels, rt_dataset *d)
{
    char err[ERRLEN];
    if (rt_dataset_load(&f->src, d, err, sizeof err) != 0) {
        rt_report(prog, "%s", err);
        return RC_INPUT;
    }
    int rc = check_dataset(prog, p, f, d, need_labels);
    if (rc != RC_OK)
        rt_dataset_free(d);
    return rc;
}

/* -------------------------------------------------------------- memory */

static int64_t round_floats(int64_t n)
{
    return (n + FLOAT_ALIGN - 1) / FLOAT_ALIGN * FLOAT_ALIGN;
}

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
        total += round_floats(sizes[i]);
    }
    int64_t bytes = rt_mul_checked(total < 0 ? -1 : total, 4);
    if (bytes < 0 || (uint64_t)bytes > SIZE_MAX / 2) {
        rt_report(prog, "model '%s' with batch %lld needs more memory than can be addressed; "
               "lower --batch", p->name, (long long)batch);
        return RC_INPUT;
    }
    b->block = aligned_alloc(64, bytes > 0 ? (size_t)bytes : 64);
    if (!b->block) {
        char size[32];
        rt_format_size((double)bytes, size, sizeof size);
        rt_report(prog, "cannot allocate %s for model '%s' with batch %lld; lower --batch", size,
               p->name, (long long)batch);
        return RC_INPUT;
    }
    /* Zero: the optimizer state must start at zero, and no buffer should
     * hold garbage that a bug could read. */
    memset(b->block, 0, (size_t)bytes);
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

/* "adam", or "adam,adam" for two steps: what a checkpoint's state is. */
static void optimizer_names(const step_plan *sp, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int k = 0; k < sp->n && used < len; k++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s", k ? "," : "",
                                 rt_optimizer_name(sp->step[k].opt.kind));
}

/* --------------------------------------------------------- checkpoints */

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

typedef struct tensor_list {
    rt_named_tensor *t;
    int n;
    char *names; /* storage for the optimizer tensors' names */
} tensor_list;

static void free_tensors(tensor_list *l)
{
    free(l->t);
    free(l->names);
    memset(l, 0, sizeof *l);
}

/* Parameters by their names, then (with a step plan) the optimizer state
 * of each trainable one its step updates as `optimizer.<name>.<block>`. */
static int build_tensors(const char *prog, const rt_program *p, float *params, float *state,
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
        free_tensors(l);
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

/* Where a run stands: enough to continue it exactly. */
typedef struct position {
    int64_t step;     /* optimizer steps done */
    int64_t epoch;    /* epochs finished (0-based index of the current one) */
    int64_t in_epoch; /* steps done in the current epoch */
    int64_t batch;
    uint64_t seed;
    rt_early_stop es; /* the best validation evaluation so far, and since when */
} position;

enum { META_FORMAT, META_MODEL, META_STEP, META_EPOCH, META_POSITION, META_BATCH, META_SEED,
       META_OPTIMIZER, META_VALIDATION, NMETA };
static const char *const meta_keys[NMETA] = {
    "netc.format", "netc.model", "netc.step", "netc.epoch", "netc.position", "netc.batch",
    "netc.seed", "netc.optimizer", "netc.validation",
};

static int save_checkpoint(const char *prog, const char *path, const rt_program *p,
                           const tensor_list *l, const step_plan *sp, const position *at)
{
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
    char validation[256] = "none";
    const rt_early_stop *e = &at->es;
    if (e->evals > 0)
        snprintf(validation, sizeof validation,
                 "evals=%lld,since=%lld,best_eval=%lld,best_step=%lld,best_epoch=%lld,maximize=%d,best=%.17g",
                 (long long)e->evals, (long long)e->since_best, (long long)e->best_eval,
                 (long long)e->best_step, (long long)e->best_epoch, e->maximize ? 1 : 0, e->best);
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
    rc = build_tensors(prog, p, params, NULL, NULL, &l);
    if (rc == RC_OK)
        rc = load_tensors(prog, path, p, &l, true, values);
    free_meta(values);
    free_tensors(&l);
    return rc;
}

/* --resume: weights, optimizer state (when the optimizer is the same: the
 * file then must hold exactly the model and its state) and the position. */
static int resume_from(const char *prog, const char *path, const rt_program *p,
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
    if (rc == RC_OK && v && strcmp(v, "none") != 0) {
        long long evals, since, best_eval, best_step, best_epoch;
        int maximize, used = 0;
        double best;
        if (sscanf(v, "evals=%lld,since=%lld,best_eval=%lld,best_step=%lld,best_epoch=%lld,maximize=%d,best=%lf%n",
                   &evals, &since, &best_eval, &best_step, &best_epoch, &maximize, &best, &used) != 7 ||
            v[used] != '\0' || evals < 1 || since < 0 || since >= evals || best_eval < 1 || best_eval > evals) {
            rt_report(prog, "%s: metadata netc.validation = '%s' is damaged", path, v);
            rc = RC_INPUT;
        } else {
            es = (rt_early_stop){ .maximize = maximize != 0, .best = best, .evals = evals,
                                  .best_eval = best_eval, .best_step = best_step,
                                  .best_epoch = best_epoch, .since_best = since };
        }
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

/* ------------------------------------------------------------ evaluation */

/* Forward over the rows of d (every row when rows is NULL), in batches,
 * the last one smaller; m is reset and gets the figures. Under mpirun each
 * rank runs a contiguous share of the rows and the counts are all-reduced,
 * so every rank gets the figures of the whole set. */
static void evaluate(const rt_program *p, const rt_dataset *d, const int64_t *rows, int64_t n,
                     int64_t batch, const float *params, const buffers *b, rt_metrics *m)
{
    size_t xbytes = (size_t)p->x_size * 4, ybytes = (size_t)p->y_size * 4;
    int64_t classes = rt_class_count(p);
    rt_metrics_reset(m);
    int64_t first, count;
    rt_dist_shard(n, &first, &count);
    for (int64_t i = first; i < first + count; i += batch) {
        int64_t bn = first + count - i < batch ? first + count - i : batch;
        /* Copied so generated code always sees 64-byte-aligned rows. */
        if (rows) {
            for (int64_t k = 0; k < bn; k++) {
                memcpy((char *)b->x + (size_t)k * xbytes, (const char *)d->x + (size_t)rows[i + k] * xbytes, xbytes);
                if (ybytes)
                    memcpy((char *)b->y + (size_t)k * ybytes, (const char *)d->y + (size_t)rows[i + k] * ybytes,
                           ybytes);
            }
        } else {
            memcpy(b->x, (const char *)d->x + (size_t)i * xbytes, (size_t)bn * xbytes);
            if (ybytes)
                memcpy(b->y, (const char *)d->y + (size_t)i * ybytes, (size_t)bn * ybytes);
        }
        p->forward(params, b->x, b->out, bn, b->arena);
        int64_t outputs = bn * p->out_size;
        double sum = 0;
        /* an autoencoder's target is its input (its figures are mse's,
         * metrics_init), a regression's or a bce model's the labels */
        if (p->reconstructs) {
            sum = rt_mse_forward(outputs, b->out, b->x);
            rt_metrics_add(m, outputs, bn, b->out, b->x, sum);
            continue;
        }
        switch (p->loss) {
        case RT_LOSS_CROSS_ENTROPY:
            sum = rt_softmax_xent_forward(outputs / classes, classes, b->out, b->y, b->probs);
            rt_metrics_add(m, outputs / classes, bn, b->out, b->y, sum);
            break;
        case RT_LOSS_MSE:
            sum = rt_mse_forward(outputs, b->out, b->y);
            rt_metrics_add(m, outputs, bn, b->out, b->y, sum);
            break;
        case RT_LOSS_BCE:
            sum = rt_bce_forward(outputs, b->out, b->y);
            rt_metrics_add(m, outputs, bn, b->out, b->y, sum);
            break;
        }
    }
    if (rt_dist_on())
        rt_metrics_sum_with(m, rt_dist_sum);
}

static int metrics_init(const char *prog, const rt_program *p, rt_metrics *m)
{
    if (rt_metrics_init(m, p->reconstructs ? RT_LOSS_MSE : p->loss, rt_class_count(p)) != 0) {
        rt_report(prog, "out of memory");
        return RC_INPUT;
    }
    return RC_OK;
}

/* "test loss 0.3710  test accuracy 86.41%" (prefix "test "), and an
 * autoencoder's "test reconstruction mse 0.0123". */
static void summary(const rt_program *p, const rt_metrics *m, const char *prefix, char *buf, size_t len)
{
    if (p->reconstructs) {
        snprintf(buf, len, "%sreconstruction mse %.4f", prefix, rt_metrics_loss(m));
        return;
    }
    rt_metrics_summary(m, prefix, buf, len);
    /* A model of text() bytes: its cross-entropy per position is nats per
     * character; bits per character are what language models report. */
    if (p->config.data.kind == RT_SRC_TEXT && p->loss == RT_LOSS_CROSS_ENTROPY) {
        size_t n = strlen(buf);
        if (n < len)
            snprintf(buf + n, len - n, "  %s%.4f bits/char", prefix, rt_metrics_loss(m) / log(2.0));
    }
}

/* ------------------------------------------------------------------ log */

/* The CSV log lives in memory and is rewritten whole, atomically, after
 * every epoch, so a reader never sees half a row. */
typedef struct csv_log {
    const char *path;
    char *text;
    size_t len, cap;
} csv_log;

/* Keeps the rows of a previous run's log up to step `upto` when resuming,
 * so the log covers the whole run. */
static void keep_previous_rows(csv_log *log, const char *old, size_t oldlen, int64_t upto)
{
    size_t header = strlen(LOG_HEADER);
    if (oldlen < header || memcmp(old, LOG_HEADER, header) != 0)
        return;
    const char *p = old + header, *end = old + oldlen;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            break; /* a torn last row: the file was never written that way, skip it */
        const char *comma = memchr(p, ',', (size_t)(nl - p));
        if (comma && strtoll(comma + 1, NULL, 10) <= upto && log->len + (size_t)(nl + 1 - p) < log->cap) {
            memcpy(log->text + log->len, p, (size_t)(nl + 1 - p));
            log->len += (size_t)(nl + 1 - p);
        }
        p = nl + 1;
    }
}

static int log_open(const char *prog, csv_log *log, const char *path, int64_t rows,
                    bool resuming, int64_t upto)
{
    memset(log, 0, sizeof *log);
    log->path = path;
    char *old = NULL;
    size_t oldlen = 0;
    if (resuming) {
        FILE *f = fopen(path, "rb");
        if (f) {
            /* A log of a run that long would be absurd; beyond it, start anew. */
            enum { MAX_OLD = 16 << 20 };
            old = malloc(MAX_OLD);
            if (old)
                oldlen = fread(old, 1, MAX_OLD, f);
            if (ferror(f) || oldlen == MAX_OLD)
                oldlen = 0;
            fclose(f);
        }
    }
    log->cap = strlen(LOG_HEADER) + oldlen + (size_t)(rows + 1) * 256;
    log->text = malloc(log->cap);
    if (!log->text) {
        free(old);
        rt_report(prog, "out of memory");
        return RC_INPUT;
    }
    memcpy(log->text, LOG_HEADER, strlen(LOG_HEADER));
    log->len = strlen(LOG_HEADER);
    if (old)
        keep_previous_rows(log, old, oldlen, upto);
    free(old);
    return RC_OK;
}

/* Loss and accuracy of an evaluation, or empty fields when there was none. */
static void log_figures(const rt_metrics *m, char *loss, char *acc, size_t len)
{
    loss[0] = acc[0] = '\0';
    if (!m)
        return;
    snprintf(loss, len, "%.9g", rt_metrics_loss(m));
    if (m->loss != RT_LOSS_MSE)
        snprintf(acc, len, "%.6f", rt_metrics_accuracy(m));
}

/* One row: an evaluation, or the end of an epoch, or both. test and val
 * are NULL when not evaluated at this row; best marks the best validation
 * evaluation so far. */
static int log_row(const char *prog, csv_log *log, int64_t epoch, int64_t step, float lr,
                   double train_loss, const rt_metrics *test, const rt_metrics *val, bool best,
                   double samples_per_s, double seconds)
{
    if (!log->path)
        return RC_OK;
    char tl[32], ta[32], vl[32], va[32];
    log_figures(test, tl, ta, sizeof tl);
    log_figures(val, vl, va, sizeof vl);
    if (log->cap - log->len < 512) {
        size_t cap = log->cap * 2 + 4096;
        char *grown = realloc(log->text, cap);
        if (!grown) {
            rt_report(prog, "out of memory");
            return RC_INPUT;
        }
        log->text = grown;
        log->cap = cap;
    }
    log->len += (size_t)snprintf(log->text + log->len, log->cap - log->len,
                                 "%lld,%lld,%.9g,%.9g,%s,%s,%.1f,%.3f,%s,%s,%s\n", (long long)epoch,
                                 (long long)step, (double)lr, train_loss, tl, ta, samples_per_s,
                                 seconds, vl, va, best ? "1" : "");
    char err[ERRLEN];
    if (rt_write_file_atomic(log->path, log->text, log->len, err, sizeof err) != 0) {
        rt_report(prog, "%s", err);
        return RC_INPUT;
    }
    return RC_OK;
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

/* Under mpirun, every rank learns the worst exit code of all of them at
 * the same point; rank 0 says which rank failed when it was not itself
 * (that rank's own message, with its rank, is above). */
static int agree(const char *prog, int rc, const char *when)
{
    int worst;
    int all = rt_dist_agree(rc, &worst);
    if (all != RC_OK && rc == RC_OK && rt_dist_rank() == 0)
        rt_report(prog, "stopping every rank: rank %d failed %s", worst, when);
    return all;
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
    return RC_OK;
}

static int train_load_data(train_run *r)
{
    const options *o = r->o;
    const rt_program *p = r->p;
    int rc = resolve_source(o->prog, p, &p->config.data, NULL, "--data", o->path[FLAG_DATA],
                            &r->data_files);
    if (rc == RC_OK)
        rc = rt_load_source(o->prog, p, &r->data_files, p->nsteps == 0, &r->data);
    if (rc != RC_OK)
        return rc;
    /* a GAN's steps have no one loss a test set could measure */
    r->has_test = (p->config.test.kind != RT_SRC_NONE || o->given[FLAG_TEST]) && (!p->nsteps || p->reconstructs);
    if (r->has_test) {
        rc = resolve_source(o->prog, p, &p->config.test, &p->config.data, "--test",
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
        rc = resolve_source(o->prog, p, &c->val, &c->data, "--val", o->path[FLAG_VAL], &r->val_files);
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
        evaluate(p, &r->data, r->val_rows, r->nval, r->local_max, r->buf.params, &r->buf, &r->held);
    else if (r->has_val)
        evaluate(p, &r->val, NULL, r->val.n, r->local_max, r->buf.params, &r->buf, &r->held);
    else
        evaluate(p, &r->test, NULL, r->test.n, r->local_max, r->buf.params, &r->buf, &r->held);
    r->last_eval_step = r->at.step;
    size_t n = strlen(line);
    if (n + 2 < len) {
        memcpy(line + n, "  ", 3);
        summary(p, &r->held, r->has_val ? "val " : "test ", line + n + 2, len - n - 2);
    }
    int rc = RC_OK;
    if (r->has_val) {
        bool acc = p->config.monitor == RT_MONITOR_VAL_ACCURACY;
        double v = acc ? rt_metrics_accuracy(&r->held) : rt_metrics_loss(&r->held);
        int64_t epoch = r->at.in_epoch > 0 ? r->at.epoch + 1 : r->at.epoch;
        *best = rt_early_stop_record(&r->at.es, v, r->at.step, epoch);
        if (*best) {
            n = strlen(line);
            snprintf(line + n, len - n, "  best");
            if (o->given[FLAG_SAVE_BEST] && writes_files())
                rc = save_checkpoint(o->prog, o->path[FLAG_SAVE_BEST], p, &r->tensors, &r->sp, &r->at);
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
             : log_row(r->o->prog, &r->log, epoch, r->at.step, r->lr, loss, r->has_val ? NULL : held,
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

/* One epoch from at->in_epoch to its end (or to total_steps). */
static int train_epoch(train_run *r, rt_progress *pg)
{
    const rt_program *p = r->p;
    const options *o = r->o;
    position *at = &r->at;
    int64_t epoch = at->epoch;
    rt_epoch_order(r->order, r->ntrain, at->seed, epoch);
    if (r->train_rows)
        for (int64_t i = 0; i < r->ntrain; i++)
            r->order[i] = r->train_rows[r->order[i]];
    memset(r->step_loss, 0, sizeof r->step_loss);

    double start = rt_seconds(), cpu_start = rt_cpu_seconds(), loss_sum = 0;
    int64_t samples = 0, first_step = at->step;
    float lr = 0;
    rt_progress_state ps = { .epoch = epoch + 1, .epochs = r->last_epoch,
                             .steps = r->steps_per_epoch, .run_steps = r->total_steps,
                             .by_steps = r->steps > 0 };
    double eval_mark = r->eval_seconds, eval_cpu_mark = r->eval_cpu;
    while (at->in_epoch < r->steps_per_epoch && at->step < r->total_steps && !stopping(r)) {
        gather(p, &r->data, r->order + at->in_epoch * r->batch + r->first, r->local, &r->buf,
               at->seed, at->step, r->batch, r->first);
        /* the steps in order, each on the parameters the one before left */
        double loss = 0;
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
                rt_report_non_finite(o->prog, p, &r->buf, r->local, step_loss, k, at->step + 1, epoch + 1, seed);
                return RC_INPUT;
            }
            int64_t n = st->end - st->begin;
            float clip = st->clip > 0 ? st->clip : p->config.clip;
            if (clip > 0)
                rt_clip_grad_norm(n, r->buf.grads + st->begin, clip);
            lr = rt_schedule_lr(st->has_sched ? &st->sched : &r->sched, st->opt.lr, at->step + 1, r->total_steps);
            rt_optimizer_step(&st->opt, lr, at->step + 1, n, r->buf.params + st->begin,
                              r->buf.grads + st->begin, r->buf.state + r->sp.state_offset[k]);
            r->step_loss[k] += step_loss;
            loss += step_loss;
        }
        at->step++;
        at->in_epoch++;
        if (rt_dist_on() && (o->given[FLAG_CHECK_REPLICAS] || (REPLICA_CHECK_EVERY > 0 &&
                                                              at->step % REPLICA_CHECK_EVERY == 0))) {
            int rc = rt_dist_check_replicas(o->prog, r->buf.params, p->param_floats, at->step);
            if (rc != RC_OK)
                return rc;
        }
        loss_sum += loss;
        samples += r->batch;
        r->row_loss += loss;
        r->row_samples += r->batch;
        r->lr = lr;
        if (r->eval_every > 0 && at->step % r->eval_every == 0 && at->in_epoch < r->steps_per_epoch &&
            at->step < r->total_steps && (r->has_val || r->has_test)) {
            rt_progress_clear(pg);
            int rc = evaluation_row(r, epoch + 1);
            if (rc != RC_OK)
                return rc;
            if (r->stop_early)
                break;
        }

        if (pg->live || pg->plain) {
            double elapsed = rt_seconds() - start;
            ps.step = at->in_epoch;
            ps.run_step = at->step;
            ps.run_steps_left = r->total_steps - at->step;
            ps.mean_loss = loss_sum / (double)samples;
            ps.samples_per_s = elapsed > 0 ? (double)samples / elapsed : 0;
            ps.steps_per_s = elapsed > 0 ? (double)(at->step - first_step) / elapsed : 0;
            rt_progress_update(pg, &ps, false);
        }
    }
    if (stopping(r)) {
        rt_progress_clear(pg);
        printf("stopped at step %lld (epoch %lld, %lld of %lld steps into it)\n", (long long)at->step,
               (long long)epoch + 1, (long long)at->in_epoch, (long long)r->steps_per_epoch);
        int rc = RC_INTERRUPTED;
        if (o->given[FLAG_SAVE]) {
            rc = writes_files() ? save_checkpoint(o->prog, o->path[FLAG_SAVE], p, &r->tensors,
                                                  &r->sp, at) : RC_OK;
            rc = agree(o->prog, rc, "to save the checkpoint");
            if (rc == RC_OK) {
                printf("saved %s; continue with --resume %s\n", o->path[FLAG_SAVE], o->path[FLAG_SAVE]);
                rc = RC_INTERRUPTED;
            }
        }
        fflush(stdout);
        return rc;
    }
    double seconds = rt_seconds() - start - (r->eval_seconds - eval_mark);
    double cpu = rt_cpu_seconds() - cpu_start - (r->eval_cpu - eval_cpu_mark);
    double train_loss = samples ? loss_sum / (double)samples : 0;
    double rate = seconds > 0 ? (double)samples / seconds : 0;
    if (at->in_epoch == r->steps_per_epoch) {
        at->epoch++;
        at->in_epoch = 0;
    }
    rt_progress_clear(pg);

    /* Evaluated at the end of each epoch, or with eval_every at its steps
     * and at the end of the run. */
    bool eval_now = (r->has_val || r->has_test) && r->last_eval_step != at->step &&
                    (r->eval_every == 0 || at->step % r->eval_every == 0 || at->step >= r->total_steps);
    char line[512], rate_text[48];
    rt_format_thousands(rate, rate_text, sizeof rate_text);
    char per_step[256] = "";
    for (int k = 0, used = 0; p->nsteps && k < r->sp.n && used < (int)sizeof per_step; k++)
        used += snprintf(per_step + used, sizeof per_step - (size_t)used, "%s %s %.4f", k ? "," : "", r->sp.step[k].model,
                         samples ? r->step_loss[k] / (double)samples : 0);
    if (!p->nsteps)
        snprintf(per_step, sizeof per_step, " %.4f", train_loss);
    char wait[64] = "";
    if (rt_dist_on())
        snprintf(wait, sizeof wait, "  (%d ranks, %.1f%% waiting in all-reduce)", rt_dist_size(),
                 seconds > 0 ? 100.0 * rt_dist_wait_seconds() / seconds : 0.0);
    snprintf(line, sizeof line, "epoch %lld/%lld  loss%s  train %.1fs (CPU %.2fs)  %s samples/s%s",
             (long long)epoch + 1, (long long)r->last_epoch, per_step, seconds, cpu, rate_text, wait);
    bool best = false;
    int rc = RC_OK;
    if (eval_now)
        rc = evaluate_held_out(r, line, sizeof line, &best);
    printf("%s\n", line);
    fflush(stdout);
    if (rc == RC_OK && r->row_samples > 0)
        rc = write_row(r, epoch + 1, eval_now, best);
    if (writes_files()) {
        if (rc == RC_OK && o->given[FLAG_SAVE])
            rc = save_checkpoint(o->prog, o->path[FLAG_SAVE], p, &r->tensors, &r->sp, at);
        if (rc == RC_OK && o->given[FLAG_SAMPLES]) {
            /* the same noise every epoch (the run's seed), so the grids show
             * the generator learning, not new draws */
            char path[PATHLEN];
            snprintf(path, sizeof path, "%s/epoch-%03lld.png", o->path[FLAG_SAMPLES], (long long)epoch + 1);
            rc = rt_sample_grid(o->prog, p, r->buf.params, 8, 8, at->seed, path);
        }
    }
    return agree(o->prog, rc, "to write the log, the checkpoint or the samples");
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

int rt_cmd_train(const options *o, const rt_program *p)
{
    train_run r = { .o = o, .p = p };
    long long started = (long long)time(NULL);
    int rc = train_settings(&r);
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
        rc = train_load_data(&r);
    if (rc == RC_OK && o->given[FLAG_SAVE])
        rc = check_not_an_input(o->prog, "--save", o->path[FLAG_SAVE], &r);
    if (rc == RC_OK && o->given[FLAG_LOG])
        rc = check_not_an_input(o->prog, "--log", o->path[FLAG_LOG], &r);
    if (rc == RC_OK && o->given[FLAG_SAVE_BEST])
        rc = check_not_an_input(o->prog, "--save-best", o->path[FLAG_SAVE_BEST], &r);
    if (rc == RC_OK && o->given[FLAG_SAVE_BEST] && o->given[FLAG_LOG] &&
        rt_same_file(o->path[FLAG_SAVE_BEST], o->path[FLAG_LOG])) {
        rt_report(o->prog, "--save-best and --log both name %s; give them different files", o->path[FLAG_LOG]);
        rc = RC_INPUT;
    }
    if (rc == RC_OK && o->given[FLAG_SAVE_BEST])
        rc = check_writable(o->prog, "--save-best", o->path[FLAG_SAVE_BEST]);
    if (rc == RC_OK)
        rc = metrics_init(o->prog, p, &r.held);
    if (rc == RC_OK)
        rc = rt_alloc_buffers(o->prog, p, r.local_max, r.sp.state_floats, true, &r.buf);
    if (rc == RC_OK) {
        r.order = malloc((size_t)r.data.n * sizeof *r.order);
        if (!r.order) {
            rt_report(o->prog, "out of memory");
            rc = RC_INPUT;
        }
    }
    if (rc == RC_OK)
        rc = build_tensors(o->prog, p, r.buf.params, r.buf.state, &r.sp, &r.tensors);
    if (rc == RC_OK)
        rc = build_tensors(o->prog, p, r.buf.params, NULL, NULL, &r.weights);
    if (rc == RC_OK)
        rc = rt_dist_setup(o->prog, p, &r.sp, r.buf.params, r.buf.grads);
    rc = agree(o->prog, rc, "to start (its flags, data or memory)");
    if (rc != RC_OK)
        goto done;

    r.at.batch = r.batch;
    rt_init_params(p, r.at.seed, r.buf.params);
    if (p->config.init_path && !o->given[FLAG_RESUME]) {
        char path[PATHLEN];
        rt_data_resolve(p->config.init_path, p->config.base_dir, path, sizeof path);
        rc = rt_init_from(o->prog, p, path, r.buf.params, stdout);
        if (rc != RC_OK)
            goto done;
    }
    if (o->given[FLAG_RESUME]) {
        uint64_t flag_seed = r.at.seed;
        /* Every rank reads the checkpoint (so it must be readable on every
         * machine); the replica check below holds them to the same bits. */
        rc = resume_from(o->prog, o->path[FLAG_RESUME], p, &r.sp, &r.tensors, &r.weights, &r.at);
        rc = agree(o->prog, rc, "to read the checkpoint");
        if (rc != RC_OK)
            goto done;
        /* The checkpoint's seed keeps the shuffles of the run it continues,
         * unless the user asks for another. */
        if (o->given[FLAG_SEED])
            r.at.seed = flag_seed;
    }
    rc = split_validation(&r);
    if (rc == RC_OK)
        rc = train_plan(&r);
    if (rc == RC_NOTHING_TO_DO)
        rc = RC_OK;
    if (rc != RC_OK || r.at.step >= r.total_steps)
        goto done;
    r.at.batch = r.batch;
    if (o->given[FLAG_LOG] && writes_files())
        rc = log_open(o->prog, &r.log, o->path[FLAG_LOG], r.last_epoch - r.at.epoch,
                      o->given[FLAG_RESUME], r.at.step);
    if (rc == RC_OK && o->given[FLAG_LOG] && writes_files())
        rc = write_record(&r, "running", started);
    rc = agree(o->prog, rc, "to open the log");
    if (rc == RC_OK && rt_dist_on())
        rc = rt_dist_check_replicas(o->prog, r.buf.params, p->param_floats, r.at.step);
    if (rc != RC_OK)
        goto done;

    rt_progress pg;
    rt_progress_init(&pg, isatty(STDERR_FILENO) == 1);
    r.row_start = rt_seconds();
    stop_requested = 0;
    struct sigaction stop = { .sa_handler = request_stop }, old_int, old_term;
    sigemptyset(&stop.sa_mask);
    sigaction(SIGINT, &stop, &old_int);
    sigaction(SIGTERM, &stop, &old_term);
    while (rc == RC_OK && r.at.step < r.total_steps && !r.stop_early)
        rc = train_epoch(&r, &pg);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
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
    rt_dist_teardown();
    free(r.log.text);
    free_tensors(&r.tensors);
    free_tensors(&r.weights);
    free(r.order);
    free(r.buf.block);
    rt_dataset_free(&r.data);
    rt_dataset_free(&r.test);
    rt_dataset_free(&r.val);
    free(r.train_rows);
    free(r.val_rows);
    rt_metrics_free(&r.held);
    return rc;
}

/* ----------------------------------------------------------------- eval */

int rt_cmd_eval(const options *o, const rt_program *p)
{
    int64_t batch = o->given[FLAG_BATCH] ? o->count[FLAG_BATCH]
                    : p->config.batch > 0 ? p->config.batch : 128;
    /* a predictor (netc build --inference) keeps its train block's labels
     * and loss, but not the training step */
    if (!p->train_step && !p->nsteps && !(p->weights && p->y_size > 0)) {
        rt_report(o->prog, "model '%s' has no train block, so no loss to evaluate; add `train %s { ... }` "
               "to its .net file", p->name, p->name);
        return RC_USAGE;
    }
    if (p->nsteps && !p->reconstructs) {
        /* under netc the program's name is "netc eval m.net": the command
         * to suggest is "netc sample m.net", not "netc eval m.net sample" */
        const char *file = strncmp(o->prog, "netc ", 5) == 0 ? strchr(o->prog + 5, ' ') : NULL;
        char sample[PATHLEN];
        if (file)
            snprintf(sample, sizeof sample, "netc sample%s", file);
        else
            snprintf(sample, sizeof sample, "%s sample", o->prog);
        rt_report(o->prog, "'%s' trains several models against each other, so it has no test loss to "
               "evaluate; look at its samples instead (%s --load FILE)", p->name, sample);
        return RC_USAGE;
    }
    if (p->config.test.kind == RT_SRC_NONE && !o->given[FLAG_TEST]) {
        rt_report(o->prog, "model '%s' has no test set in its train block; give one with --test FILE",
               p->name);
        return RC_USAGE;
    }
    source_files files;
    rt_dataset test = { 0 };
    buffers buf = { 0 };
    int rc = resolve_source(o->prog, p, &p->config.test, &p->config.data, "--test",
                            o->path[FLAG_TEST], &files);
    if (rc == RC_OK)
        rc = rt_load_source(o->prog, p, &files, !p->nsteps, &test);
    if (rc == RC_OK && batch > test.n)
        batch = test.n; /* --batch 1000000 on 10 samples needs memory for 10 */
    if (rc == RC_OK)
        rc = rt_alloc_buffers(o->prog, p, batch, 0, false, &buf);
    if (rc == RC_OK)
        rc = rt_load_weights(o->prog, o->path[FLAG_LOAD], p, buf.params);
    rt_metrics m = { 0 };
    if (rc == RC_OK)
        rc = metrics_init(o->prog, p, &m);
    rc = agree(o->prog, rc, "to read the test set or the weights");
    if (rc == RC_OK) {
        evaluate(p, &test, NULL, test.n, batch, buf.params, &buf, &m);
        if (o->given[FLAG_JSON]) {
            if (rt_metrics_print_json(stdout, &m, "test") != 0) {
                rt_report(o->prog, "out of memory");
                rc = RC_INPUT;
            }
        } else {
            char text[160], count[48];
            summary(p, &m, "test ", text, sizeof text);
            rt_format_thousands((double)m.samples, count, sizeof count);
            printf("%s  (%s samples)\n", text, count);
            /* A text model's classes are its vocabulary (256 bytes), most
             * of which a text never holds: no per-class table unless
             * --per-class asks for it (then, as for any model, the classes
             * that occur or are predicted) */
            bool text_model = files.src.kind == RT_SRC_TEXT;
            rt_metrics_print(stdout, &m, o->given[FLAG_PER_CLASS] ? -1 : text_model ? 0 : 100,
                             o->given[FLAG_CONFUSION]);
        }
        if (fflush(stdout) != 0) {
            rt_report(o->prog, "writing to stdout: %s", strerror(errno));
            rc = RC_INPUT;
        }
    }
    rt_metrics_free(&m);
    free(buf.block);
    rt_dataset_free(&test);
    return rc;
}

