/* trainlog.c — the CSV log of `train --log`: one row per epoch and per
 * evaluation, kept in memory and rewritten whole, atomically, after every
 * row; a resumed run keeps the rows of the run it continues. */
#include "netrt.h"
#include "train_internal.h"
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_HEADER "epoch,step,lr,train_loss,test_loss,test_accuracy,samples_per_s,seconds,val_loss,val_accuracy,best\n"

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

int rt_log_open(const char *prog, csv_log *log, const char *path, int64_t rows,
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
int rt_log_row(const char *prog, csv_log *log, int64_t epoch, int64_t step, float lr,
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
