/* metrics.c — accuracy, top-5, confusion, precision, recall, MSE and MAE of
 * a model's outputs against their labels (see metrics.h), and their text
 * and JSON reports.
 *
 * The predicted class is the first highest score, as rt_count_correct
 * takes it, so accuracy here and in the loss kernels agree bit for bit. A
 * label is in the top 5 when fewer than 5 scores are strictly higher than
 * its own (ties count in its favour). */
#include "metrics.h"
#include "train_internal.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int rt_metrics_init(rt_metrics *m, rt_loss_kind loss, int64_t classes)
{
    memset(m, 0, sizeof *m);
    m->loss = loss;
    m->classes = loss == RT_LOSS_CROSS_ENTROPY ? classes : 1;
    if (loss == RT_LOSS_CROSS_ENTROPY && classes <= RT_METRICS_MAX_CONFUSION) {
        m->confusion = calloc((size_t)(classes * classes), sizeof *m->confusion);
        if (!m->confusion)
            return -1;
    }
    return 0;
}

void rt_metrics_reset(rt_metrics *m)
{
    int64_t *confusion = m->confusion;
    rt_loss_kind loss = m->loss;
    int64_t classes = m->classes;
    memset(m, 0, sizeof *m);
    m->loss = loss;
    m->classes = classes;
    m->confusion = confusion;
    if (confusion)
        memset(confusion, 0, (size_t)(classes * classes) * sizeof *confusion);
}

void rt_metrics_free(rt_metrics *m)
{
    free(m->confusion);
    m->confusion = NULL;
}

void rt_metrics_add(rt_metrics *m, int64_t rows, int64_t samples, const float *out,
                    const void *labels, double loss_sum)
{
    m->rows += rows;
    m->samples += samples;
    m->loss_sum += loss_sum;
    switch (m->loss) {
    case RT_LOSS_CROSS_ENTROPY: {
        const int32_t *y = labels;
        int64_t c = m->classes;
        for (int64_t r = 0; r < rows; r++) {
            const float *s = out + r * c;
            int64_t best = 0, higher = 0;
            bool nan = isnan(s[0]);
            for (int64_t j = 1; j < c; j++) {
                nan |= isnan(s[j]);
                if (s[j] > s[best])
                    best = j;
            }
            float own = s[y[r]];
            for (int64_t j = 0; j < c && higher < 5; j++)
                higher += s[j] > own;
            /* a row with a NaN score is no prediction (every comparison
             * with NaN is false, which ranked its label first) */
            m->correct += !nan && best == y[r];
            m->top5 += !nan && higher < 5;
            if (m->confusion)
                m->confusion[(int64_t)y[r] * c + best]++;
        }
        break;
    }
    case RT_LOSS_BCE: {
        const float *t = labels;
        for (int64_t r = 0; r < rows; r++) {
            bool said = out[r] > 0.0f, is = t[r] >= 0.5f;
            m->correct += said == is;
            m->tp += said && is;
            m->fp += said && !is;
            m->fn += !said && is;
        }
        break;
    }
    case RT_LOSS_MSE: {
        const float *t = labels;
        for (int64_t r = 0; r < rows; r++) {
            double e = (double)out[r] - (double)t[r];
            m->sq_err += e * e;
            m->abs_err += fabs(e);
        }
        break;
    }
    }
}

void rt_metrics_sum_with(rt_metrics *m, void (*sum)(double *v, int n))
{
    enum { SCALARS = 10 };
    int64_t cells = m->confusion ? m->classes * m->classes : 0;
    double fixed[SCALARS], *v = cells ? malloc(sizeof *v * (size_t)(SCALARS + cells)) : fixed;
    if (!v)
        v = fixed, cells = 0; /* out of memory: the matrix stays this process's */
    double scalars[SCALARS] = { m->loss_sum, (double)m->rows, (double)m->samples, (double)m->correct,
                                (double)m->top5, (double)m->tp, (double)m->fp, (double)m->fn,
                                m->sq_err, m->abs_err };
    memcpy(v, scalars, sizeof scalars);
    for (int64_t i = 0; i < cells; i++)
        v[SCALARS + i] = (double)m->confusion[i];
    sum(v, (int)(SCALARS + cells));
    m->loss_sum = v[0];
    m->rows = (int64_t)v[1];
    m->samples = (int64_t)v[2];
    m->correct = (int64_t)v[3];
    m->top5 = (int64_t)v[4];
    m->tp = (int64_t)v[5];
    m->fp = (int64_t)v[6];
    m->fn = (int64_t)v[7];
    m->sq_err = v[8];
    m->abs_err = v[9];
    for (int64_t i = 0; i < cells; i++)
        m->confusion[i] = (int64_t)v[SCALARS + i];
    if (v != fixed)
        free(v);
}

static double ratio(double a, double b)
{
    return b > 0 ? a / b : NAN;
}

double rt_metrics_loss(const rt_metrics *m)
{
    return ratio(m->loss_sum, (double)m->rows);
}

double rt_metrics_accuracy(const rt_metrics *m)
{
    return m->loss == RT_LOSS_MSE ? NAN : ratio((double)m->correct, (double)m->rows);
}

double rt_metrics_top5(const rt_metrics *m)
{
    if (m->loss != RT_LOSS_CROSS_ENTROPY || m->classes <= 5)
        return NAN;
    return ratio((double)m->top5, (double)m->rows);
}

bool rt_metrics_per_class(const rt_metrics *m)
{
    return m->loss == RT_LOSS_CROSS_ENTROPY && m->confusion;
}

/* Column sum (predicted as cls) or row sum (labelled cls) of the matrix. */
static int64_t confusion_sum(const rt_metrics *m, int64_t cls, bool column)
{
    int64_t s = 0;
    for (int64_t k = 0; k < m->classes; k++)
        s += column ? m->confusion[k * m->classes + cls] : m->confusion[cls * m->classes + k];
    return s;
}

/* Precision (of the predictions of cls, the right ones) or recall (of the
 * samples of cls, those predicted so); bce's for its positive class. */
static double precision_or_recall(const rt_metrics *m, int64_t cls, bool precision)
{
    if (m->loss == RT_LOSS_BCE)
        return ratio((double)m->tp, (double)(m->tp + (precision ? m->fp : m->fn)));
    if (!rt_metrics_per_class(m) || cls < 0 || cls >= m->classes)
        return NAN;
    return ratio((double)m->confusion[cls * m->classes + cls], (double)confusion_sum(m, cls, precision));
}

double rt_metrics_precision(const rt_metrics *m, int64_t cls) { return precision_or_recall(m, cls, true); }
double rt_metrics_recall(const rt_metrics *m, int64_t cls) { return precision_or_recall(m, cls, false); }

double rt_metrics_mse(const rt_metrics *m)
{
    return m->loss == RT_LOSS_MSE ? ratio(m->sq_err, (double)m->rows) : NAN;
}

double rt_metrics_mae(const rt_metrics *m)
{
    return m->loss == RT_LOSS_MSE ? ratio(m->abs_err, (double)m->rows) : NAN;
}

/* "86.41%", or "-" where the figure is not defined. */
static void percent(double v, char *buf, size_t len)
{
    if (isnan(v))
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%.2f%%", 100.0 * v);
}

void rt_metrics_summary(const rt_metrics *m, const char *prefix, char *buf, size_t len)
{
    char acc[32];
    switch (m->loss) {
    case RT_LOSS_CROSS_ENTROPY:
    case RT_LOSS_BCE:
        percent(rt_metrics_accuracy(m), acc, sizeof acc);
        snprintf(buf, len, "%sloss %.4f  %saccuracy %s", prefix, rt_metrics_loss(m), prefix, acc);
        return;
    case RT_LOSS_MSE:
        snprintf(buf, len, "%smse %.4f  %smae %.4f", prefix, rt_metrics_loss(m), prefix,
                 rt_metrics_mae(m));
        return;
    }
}

void rt_metrics_print(FILE *f, const rt_metrics *m, int64_t max_classes, bool confusion)
{
    char a[32], b[32], n[48];
    switch (m->loss) {
    case RT_LOSS_CROSS_ENTROPY:
        if (m->classes > 5) {
            percent(rt_metrics_top5(m), a, sizeof a);
            fprintf(f, "top-5 accuracy %s\n", a);
        }
        if (!rt_metrics_per_class(m)) {
            fprintf(f, "(no per-class figures for %lld classes; at most %d)\n", (long long)m->classes,
                    RT_METRICS_MAX_CONFUSION);
            return;
        }
        if (max_classes >= 0 && m->classes > max_classes) {
            fprintf(f, "(per-class figures of the %lld classes: eval --per-class, or --json)\n",
                    (long long)m->classes);
        } else {
            /* max_classes < 0 (--per-class): only the classes that occur
             * or are predicted, however many */
            int64_t left_out = 0;
            fprintf(f, "class  precision   recall   support\n");
            for (int64_t c = 0; c < m->classes; c++) {
                int64_t support = confusion_sum(m, c, false);
                if (max_classes < 0 && support == 0 && confusion_sum(m, c, true) == 0) {
                    left_out++;
                    continue;
                }
                percent(rt_metrics_precision(m, c), a, sizeof a);
                percent(rt_metrics_recall(m, c), b, sizeof b);
                rt_format_thousands((double)support, n, sizeof n);
                fprintf(f, "%5lld  %9s  %7s  %8s\n", (long long)c, a, b, n);
            }
            if (left_out)
                fprintf(f, "(%lld class%s neither in the test set nor predicted, not shown)\n",
                        (long long)left_out, left_out == 1 ? "" : "es");
        }
        if (confusion) {
            /* columns as wide as the largest count */
            int64_t most = 0;
            for (int64_t i = 0; i < m->classes * m->classes; i++)
                most = m->confusion[i] > most ? m->confusion[i] : most;
            int w = snprintf(NULL, 0, "%lld", (long long)most);
            int cw = snprintf(NULL, 0, "%lld", (long long)(m->classes - 1));
            w = (w > cw ? w : cw) + 1;
            fprintf(f, "confusion matrix (rows: true class, columns: predicted class)\n%*s", cw + 1, "");
            for (int64_t c = 0; c < m->classes; c++)
                fprintf(f, "%*lld", w, (long long)c);
            fputc('\n', f);
            for (int64_t r = 0; r < m->classes; r++) {
                fprintf(f, "%*lld ", cw, (long long)r);
                for (int64_t c = 0; c < m->classes; c++)
                    fprintf(f, "%*lld", w, (long long)m->confusion[r * m->classes + c]);
                fputc('\n', f);
            }
        }
        return;
    case RT_LOSS_BCE:
        percent(rt_metrics_precision(m, 0), a, sizeof a);
        percent(rt_metrics_recall(m, 0), b, sizeof b);
        fprintf(f, "precision %s  recall %s  (decision at probability 0.5)\n", a, b);
        return;
    case RT_LOSS_MSE:
        fprintf(f, "MSE %.6g  MAE %.6g\n", rt_metrics_mse(m), rt_metrics_mae(m));
        return;
    }
}

/* A number, or null where it is not defined (JSON has no NaN). */
static json_t *number(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static const char *loss_text(rt_loss_kind k)
{
    switch (k) {
    case RT_LOSS_CROSS_ENTROPY: return "cross_entropy";
    case RT_LOSS_MSE: return "mse";
    case RT_LOSS_BCE: return "bce";
    }
    return "?";
}

int rt_metrics_print_json(FILE *f, const rt_metrics *m, const char *set)
{
    json_t *o = json_object();
    if (!o)
        return -1;
    int bad = 0;
    bad |= json_object_set_new(o, "set", json_string(set));
    bad |= json_object_set_new(o, "loss_kind", json_string(loss_text(m->loss)));
    bad |= json_object_set_new(o, "samples", json_integer(m->samples));
    bad |= json_object_set_new(o, "rows", json_integer(m->rows));
    bad |= json_object_set_new(o, "loss", number(rt_metrics_loss(m)));
    switch (m->loss) {
    case RT_LOSS_CROSS_ENTROPY:
        bad |= json_object_set_new(o, "accuracy", number(rt_metrics_accuracy(m)));
        if (m->classes > 5)
            bad |= json_object_set_new(o, "top5_accuracy", number(rt_metrics_top5(m)));
        bad |= json_object_set_new(o, "classes", json_integer(m->classes));
        if (rt_metrics_per_class(m)) {
            json_t *per = json_array(), *matrix = json_array();
            for (int64_t c = 0; per && matrix && c < m->classes; c++) {
                json_t *row = json_object(), *counts = json_array();
                if (!row || !counts) {
                    json_decref(row);
                    json_decref(counts);
                    bad = 1;
                    break;
                }
                bad |= json_object_set_new(row, "class", json_integer(c));
                bad |= json_object_set_new(row, "precision", number(rt_metrics_precision(m, c)));
                bad |= json_object_set_new(row, "recall", number(rt_metrics_recall(m, c)));
                bad |= json_object_set_new(row, "support", json_integer(confusion_sum(m, c, false)));
                bad |= json_array_append_new(per, row);
                for (int64_t k = 0; k < m->classes; k++)
                    bad |= json_array_append_new(counts, json_integer(m->confusion[c * m->classes + k]));
                bad |= json_array_append_new(matrix, counts);
            }
            bad |= json_object_set_new(o, "per_class", per);
            bad |= json_object_set_new(o, "confusion", matrix);
        }
        break;
    case RT_LOSS_BCE:
        bad |= json_object_set_new(o, "accuracy", number(rt_metrics_accuracy(m)));
        bad |= json_object_set_new(o, "precision", number(rt_metrics_precision(m, 0)));
        bad |= json_object_set_new(o, "recall", number(rt_metrics_recall(m, 0)));
        bad |= json_object_set_new(o, "true_positives", json_integer(m->tp));
        bad |= json_object_set_new(o, "false_positives", json_integer(m->fp));
        bad |= json_object_set_new(o, "false_negatives", json_integer(m->fn));
        break;
    case RT_LOSS_MSE:
        bad |= json_object_set_new(o, "mse", number(rt_metrics_mse(m)));
        bad |= json_object_set_new(o, "mae", number(rt_metrics_mae(m)));
        break;
    }
    char *text = bad ? NULL : json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    json_decref(o);
    if (!text)
        return -1;
    fprintf(f, "%s\n", text);
    free(text);
    return 0;
}
