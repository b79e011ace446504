/* validate.c — the held-out validation split and early stopping, the parts
 * of validation that are pure functions of their inputs (train.c runs the
 * evaluations and acts on them).
 *
 * The split. `val = f` holds out round(n * f) rows of the training data
 * (at least 1, at most n - 1). For a text source the held-out rows are the
 * LAST ones: a text's windows are consecutive, so a random pick would put
 * every validation window's neighbours in the training set and the
 * validation loss would measure memory, not generalisation. Otherwise the
 * rows are a uniform random subset chosen by a Fisher–Yates shuffle driven
 * by (seed, VAL_DOMAIN), so the same seed always holds out the same rows,
 * whatever the thread count, batch or epochs. Both lists come out in
 * increasing row order.
 *
 * Early stopping. An evaluation improves when its monitored figure is
 * strictly better than the best so far (lower loss, higher accuracy; NaN
 * never improves), as Keras's EarlyStopping with min_delta 0. After
 * `patience` evaluations in a row without improvement the run stops. */
#include "train_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VAL_DOMAIN 0x452821e638d01377ull

int64_t rt_split_count(int64_t n, double fraction)
{
    if (n < 2 || !(fraction > 0) || !(fraction < 1))
        return 0;
    int64_t k = (int64_t)llround((double)n * fraction);
    return k < 1 ? 1 : k > n - 1 ? n - 1 : k;
}

int rt_split_rows(int64_t n, int64_t nval, bool tail, uint64_t seed, int64_t *train_rows,
                  int64_t *val_rows)
{
    if (tail) {
        for (int64_t i = 0; i < n - nval; i++)
            train_rows[i] = i;
        for (int64_t i = 0; i < nval; i++)
            val_rows[i] = n - nval + i;
        return 0;
    }
    /* perm's first nval entries are the held-out rows; marks put both lists
     * back in row order. */
    int64_t *perm = malloc((size_t)n * sizeof *perm);
    unsigned char *held = calloc((size_t)n, 1);
    if (!perm || !held) {
        free(perm);
        free(held);
        return -1;
    }
    for (int64_t i = 0; i < n; i++)
        perm[i] = i;
    uint64_t key = rt_rand_u64(seed ^ VAL_DOMAIN, 0);
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)(rt_rand_u64(key, (uint64_t)i) % (uint64_t)(i + 1));
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    for (int64_t i = 0; i < nval; i++)
        held[perm[i]] = 1;
    int64_t a = 0, b = 0;
    for (int64_t i = 0; i < n; i++) {
        if (held[i])
            val_rows[b++] = i;
        else
            train_rows[a++] = i;
    }
    free(perm);
    free(held);
    return 0;
}

void rt_early_stop_init(rt_early_stop *e, bool maximize, int64_t patience)
{
    memset(e, 0, sizeof *e);
    e->maximize = maximize;
    e->patience = patience;
    e->best = NAN;
}

bool rt_early_stop_record(rt_early_stop *e, double value, int64_t step, int64_t epoch)
{
    e->evals++;
    bool better = !isnan(value) &&
                  (isnan(e->best) || (e->maximize ? value > e->best : value < e->best));
    if (better) {
        e->best = value;
        e->best_eval = e->evals;
        e->best_step = step;
        e->best_epoch = epoch;
        e->since_best = 0;
    } else {
        e->since_best++;
    }
    return better;
}

void rt_early_stop_format(const rt_early_stop *e, char *buf, size_t len)
{
    if (e->evals <= 0) {
        snprintf(buf, len, "none");
        return;
    }
    snprintf(buf, len, "evals=%lld,since=%lld,best_eval=%lld,best_step=%lld,best_epoch=%lld,maximize=%d,best=%.17g",
             (long long)e->evals, (long long)e->since_best, (long long)e->best_eval, (long long)e->best_step,
             (long long)e->best_epoch, e->maximize ? 1 : 0, e->best);
}

/* since_best counts the evaluations after the best one, so a record whose
 * every evaluation was NaN (no best: best_eval 0, since == evals) is one a
 * run writes, and resumes; so is one with a best, where since == evals -
 * best_eval and the best is a number. */
bool rt_early_stop_parse(const char *v, rt_early_stop *e)
{
    if (strcmp(v, "none") == 0)
        return true;
    long long evals, since, best_eval, best_step, best_epoch;
    int maximize, used = 0;
    double best;
    if (sscanf(v, "evals=%lld,since=%lld,best_eval=%lld,best_step=%lld,best_epoch=%lld,maximize=%d,best=%lf%n",
               &evals, &since, &best_eval, &best_step, &best_epoch, &maximize, &best, &used) != 7 ||
        v[used] != '\0' || evals < 1 || best_eval < 0 || best_eval > evals || since != evals - best_eval ||
        (best_eval == 0) != (isnan(best) != 0) || best_step < 0 || best_epoch < 0 || (maximize != 0 && maximize != 1))
        return false;
    e->maximize = maximize != 0;
    e->best = best;
    e->evals = evals;
    e->best_eval = best_eval;
    e->best_step = best_step;
    e->best_epoch = best_epoch;
    e->since_best = since;
    return true;
}

bool rt_early_stop_done(const rt_early_stop *e)
{
    return e->patience > 0 && e->since_best >= e->patience;
}
