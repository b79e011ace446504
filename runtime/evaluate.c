/* evaluate.c — a model's figures on a data set: the held-out evaluation
 * of `train` (train.c) and the `eval` command.
 *
 * Losses. train_step returns the sum of per-sample losses; the reported
 * train loss is its mean per sample. Test loss is the kernel's sum divided
 * by the rows it covers (cross-entropy: samples * rows per sample; MSE and
 * BCE: samples * outputs), which is the same number when a sample's loss is
 * the mean over its rows or outputs, as PyTorch's default reduction.
 * Evaluation runs every sample, the last batch smaller. */
#include "netrt.h"
#include "dist.h"
#include "train_internal.h"
#include "metrics.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Forward over the rows of d (every row when rows is NULL), in batches,
 * the last one smaller; m is reset and gets the figures. Under mpirun each
 * rank runs a contiguous share of the rows and the counts are all-reduced,
 * so every rank gets the figures of the whole set. */
void rt_evaluate(const rt_program *p, const rt_dataset *d, const int64_t *rows, int64_t n,
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

int rt_eval_metrics_init(const char *prog, const rt_program *p, rt_metrics *m)
{
    if (rt_metrics_init(m, p->reconstructs ? RT_LOSS_MSE : p->loss, rt_class_count(p)) != 0) {
        rt_report(prog, "out of memory");
        return RC_INPUT;
    }
    return RC_OK;
}

/* "test loss 0.3710  test accuracy 86.41%" (prefix "test "), and an
 * autoencoder's "test reconstruction mse 0.0123". */
void rt_eval_summary(const rt_program *p, const rt_metrics *m, const char *prefix, char *buf, size_t len)
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
    int rc = rt_resolve_source(o->prog, p, &p->config.test, &p->config.data, "--test",
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
        rc = rt_eval_metrics_init(o->prog, p, &m);
    rc = rt_dist_agree_report(o->prog, rc, "to read the test set or the weights");
    if (rc == RC_OK) {
        rt_evaluate(p, &test, NULL, test.n, batch, buf.params, &buf, &m);
        if (o->given[FLAG_JSON]) {
            if (rt_metrics_print_json(stdout, &m, "test") != 0) {
                rt_report(o->prog, "out of memory");
                rc = RC_INPUT;
            }
        } else {
            char text[160], count[48];
            rt_eval_summary(p, &m, "test ", text, sizeof text);
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
        double loss = rt_metrics_loss(&m);
        if (rc == RC_OK && !isfinite(loss)) {
            /* the figures are printed as they are, but they are no result */
            rt_report(o->prog, "the test loss is %s: these weights make the forward pass overflow (a diverged "
                      "run's); their figures mean nothing", isnan(loss) ? "NaN" : "infinite");
            rc = RC_INPUT;
        }
    }
    rt_metrics_free(&m);
    free(buf.block);
    rt_dataset_free(&test);
    return rc;
}
