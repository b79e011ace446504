/* metrics.h — how well a model's outputs match their labels, by loss:
 *   cross_entropy  accuracy, top-5 accuracy (more than 5 classes), and a
 *                  confusion matrix from which per-class precision and
 *                  recall follow;
 *   bce            accuracy, precision and recall with the decision at
 *                  probability 0.5 (a logit above 0 says "positive"; a
 *                  target of 0.5 or more is a positive);
 *   mse            mean squared and mean absolute error.
 * Everything is counted per row: a cross-entropy row is one label (a
 * sequence model has several per sample), a bce or mse row one output.
 * Internal to the runtime (train.c's eval and validation); not part of
 * netrt.h. */
#ifndef METRICS_H
#define METRICS_H

#include "netrt.h"

#include <stdio.h>

/* Classes beyond this get accuracy and top-5 but no confusion matrix (and
 * so no per-class figures): 1024^2 counts are 8 MiB. */
enum { RT_METRICS_MAX_CONFUSION = 1024 };

typedef struct rt_metrics {
    rt_loss_kind loss;
    int64_t classes;    /* cross_entropy: scores per row; else 1 */
    int64_t rows;       /* rows counted */
    int64_t samples;    /* samples counted (rows / rows per sample) */
    double loss_sum;    /* the loss kernel's sum over the rows */
    int64_t correct;    /* cross_entropy: argmax == label; bce: decision == target */
    int64_t top5;       /* cross_entropy: label among the 5 highest scores */
    int64_t *confusion; /* cross_entropy: [label * classes + predicted], or NULL */
    int64_t tp, fp, fn; /* bce */
    double sq_err, abs_err; /* mse */
} rt_metrics;

/* Returns 0, or -1 when the confusion matrix cannot be allocated. */
int rt_metrics_init(rt_metrics *m, rt_loss_kind loss, int64_t classes);
void rt_metrics_reset(rt_metrics *m);
void rt_metrics_free(rt_metrics *m);
/* Counts `rows` rows: out holds rows * classes scores (cross_entropy,
 * labels i32 class ids) or rows outputs (bce logits, mse predictions;
 * labels f32 targets). loss_sum is what the loss kernel returned for them. */
void rt_metrics_add(rt_metrics *m, int64_t rows, int64_t samples, const float *out,
                    const void *labels, double loss_sum);

/* Adds up the counts of every process (data-parallel evaluation: each
 * counted a share of the rows) with `sum`, an all-reduce of n doubles in
 * place; counts stay exact up to 2^53. */
void rt_metrics_sum_with(rt_metrics *m, void (*sum)(double *v, int n));

/* The figures. Each is NaN where it is not defined: accuracy for mse, a
 * precision when nothing was predicted as that class, a recall when the
 * class never occurs, the mse figures for other losses. */
double rt_metrics_loss(const rt_metrics *m);
double rt_metrics_accuracy(const rt_metrics *m);
double rt_metrics_top5(const rt_metrics *m);      /* NaN unless cross_entropy with classes > 5 */
double rt_metrics_precision(const rt_metrics *m, int64_t cls); /* cls ignored for bce */
double rt_metrics_recall(const rt_metrics *m, int64_t cls);
double rt_metrics_mse(const rt_metrics *m);
double rt_metrics_mae(const rt_metrics *m);
/* Per-class figures exist: cross_entropy with a confusion matrix. */
bool rt_metrics_per_class(const rt_metrics *m);

/* "loss 0.3710  accuracy 86.41%" (cross_entropy, bce) or "mse 0.0123  mae
 * 0.0810" (mse), each name after `prefix` ("test ", "val "): the short
 * summary of training lines and eval's first line. */
void rt_metrics_summary(const rt_metrics *m, const char *prefix, char *buf, size_t len);
/* eval's full report after the summary: top-5, per-class precision and
 * recall (all classes when there are at most `max_classes`, none when
 * there are more; max_classes < 0: only the classes that occur or are
 * predicted, however many), bce's precision and recall, mse's MAE; with
 * confusion, the confusion matrix. */
void rt_metrics_print(FILE *f, const rt_metrics *m, int64_t max_classes, bool confusion);
/* Every figure as one JSON object on one line (eval --json). Returns 0, or
 * -1 when out of memory. */
int rt_metrics_print_json(FILE *f, const rt_metrics *m, const char *set);

#endif
