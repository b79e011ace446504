/* train_data.c — the data of `train` and `eval` (train.c, evaluate.c):
 * finding the files a train block or the command line names, loading them
 * and checking them against what the model takes, before any kernel sees
 * them (a bad label or token id is a message naming the file and sample,
 * not an abort in a kernel).
 *
 * Data flags. --data/--test FILE keep the kind, scale, shift and CSV
 * columns of the train block's source and replace its file. For IDX sources
 * the labels file is the same path with "images-idx3" replaced by
 * "labels-idx1" (train-images-idx3-ubyte.gz -> train-labels-idx1-ubyte.gz).
 * A path on the command line is looked up as written (relative to the
 * working folder), then in $NETC_DATA_PATH and /usr/share/datasets; a name
 * in the train block is looked up next to the .net file first. */
#include "netrt.h"
#include "train_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* Fills f from the train block's source `config` or, when flag_path is
 * given, from that file with config's kind and scale (or `fallback`'s when
 * config has no source). Returns RC_OK, or a code after a message. */
int rt_resolve_source(const char *prog, const rt_program *p, const rt_source *config,
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

/* Token ids from a source that reads numbers (a CSV): every value must be
 * a whole number that fits an id; they become i32 in place. Returns
 * RC_OK, or RC_INPUT after a message naming the value, its sample and the
 * input. */
static int numbers_to_ids(const char *prog, const rt_program *p, const char *file, const char *input, rt_dataset *d)
{
    float *v = d->x;
    int32_t *ids = d->x;
    for (int64_t i = 0; i < d->n * d->x_size; i++) {
        if (!(v[i] == floorf(v[i]))) {
            rt_report(prog, "%s: value %.9g of sample %lld is not a token id: model '%s' takes %s: i32 (whole "
                      "numbers, ids of its embedding)", file, (double)v[i], (long long)(i / d->x_size), p->name,
                      input);
            return RC_INPUT;
        }
        if (!(v[i] >= -2147483648.0f && v[i] < 2147483648.0f)) {
            rt_report(prog, "%s: token id %.0f of sample %lld is outside [0, %lld): model '%s' embeds %lld "
                      "token ids; make the embed's vocab larger or map the data's ids into it", file,
                      (double)v[i], (long long)(i / d->x_size), (long long)p->x_vocab, p->name,
                      (long long)p->x_vocab);
            return RC_INPUT;
        }
        ids[i] = (int32_t)v[i];
    }
    d->x_dtype = RT_I32;
    return RC_OK;
}

int64_t rt_first_bad_label(const rt_program *p, const int32_t *y, int64_t n)
{
    int64_t classes = rt_class_count(p);
    for (int64_t i = 0; i < n; i++)
        if (y[i] < 0 || y[i] >= classes)
            return i;
    return -1;
}

/* Checks a loaded data set against what the program takes: its training
 * data (`real` for a program of steps), or, as_forward, forward's input. */
static int check_dataset(const char *prog, const rt_program *p, const source_files *f,
                         rt_dataset *d, bool need_labels, bool as_forward)
{
    const char *xfile = f->src.path;
    const char *yfile = f->src.labels_path ? f->src.labels_path : f->src.path;
    char want[128], have[128];
    /* a program of steps trains on `real`, which need not be forward's x
     * (a GAN's forward is its generator, fed noise) */
    bool real = p->nsteps && !as_forward;
    rt_dtype x_dtype = real ? p->data_dtype : p->x_dtype;
    int x_rank = real ? p->data_rank : p->x_rank;
    const int64_t *x_dims = real ? p->data_dims : p->x_dims;
    int64_t x_size = real ? p->data_size : p->x_size;
    const char *input = real ? "real" : p->x_name ? p->x_name : "x";
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
    /* a number a file holds finitely can still leave float's range (1e39,
     * a float64 IDX, or a scale that overflows): an infinity here would
     * train or predict NaN without a word */
    int64_t bad = d->x_dtype == RT_F32 ? rt_first_non_finite(d->x, d->n * d->x_size) : -1;
    if (bad >= 0) {
        rt_report(prog, "%s: sample %lld holds a value beyond the range of a 32-bit float (about 3.4e38) at "
                  "index %lld once read%s", xfile, (long long)(bad / d->x_size), (long long)(bad % d->x_size),
                  f->src.scale != 1.0f || f->src.shift != 0.0f ? " and scaled" : "");
        return RC_INPUT;
    }
    bad = d->y && d->y_dtype == RT_F32 ? rt_first_non_finite(d->y, d->n * d->y_size) : -1;
    if (bad >= 0) {
        rt_report(prog, "%s: sample %lld has a label beyond the range of a 32-bit float (about 3.4e38) at index "
                  "%lld", yfile, (long long)(bad / d->y_size), (long long)(bad % d->y_size));
        return RC_INPUT;
    }
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
        int64_t classes = rt_class_count(p), i = rt_first_bad_label(p, d->y, d->n * d->y_size);
        if (i >= 0) {
            const int32_t *y = d->y;
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

static int load_checked(const char *prog, const rt_program *p, const source_files *f, bool need_labels,
                        bool as_forward, rt_dataset *d)
{
    char err[ERRLEN];
    if (rt_dataset_load(&f->src, d, err, sizeof err) != 0) {
        rt_report(prog, "%s", err);
        return RC_INPUT;
    }
    int rc = check_dataset(prog, p, f, d, need_labels, as_forward);
    if (rc != RC_OK)
        rt_dataset_free(d);
    return rc;
}

int rt_load_source(const char *prog, const rt_program *p, const source_files *f,
                       bool need_labels, rt_dataset *d)
{
    return load_checked(prog, p, f, need_labels, false, d);
}

int rt_load_forward_input(const char *prog, const rt_program *p, const source_files *f, rt_dataset *d)
{
    return load_checked(prog, p, f, false, true, d);
}
