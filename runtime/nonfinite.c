/* nonfinite.c — what train.c says when a step's loss comes out NaN or
 * infinite: which weight an earlier update made non-finite, or else the
 * first instruction of the step that made a NaN or an infinity from finite
 * inputs, found by running the step again through its checked copy
 * (rt_program.checked_step, rt_step.checked_step, or the JIT's
 * compile_checked), under mpirun on every rank.
 *
 * Requires the buffers of the failed step as it left them (the batch in x
 * and y); overwrites the gradients and the arena (the run stops after). */
#include "netrt.h"
#include "dist.h"
#include "train_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The checked re-run of a step whose loss went non-finite: after each
 * instruction, the first NaN or infinity in what a step writes (the
 * parameters' running statistics, the gradients, the arena) or in the loss
 * so far. Everything starts finite (parameters and inputs are checked,
 * gradients and arena zeroed), so the first instruction after which one is
 * found made it from finite inputs. */
typedef struct checker {
    const float *region[3];
    int64_t count[3];
    int first;   /* that instruction, or -1 */
    bool nan;    /* a NaN, else an infinity */
} checker;

static void check_instruction(void *ctx, int k, double loss)
{
    checker *ck = ctx;
    if (ck->first >= 0)
        return;
    if (!isfinite(loss)) {
        ck->first = k;
        ck->nan = isnan(loss);
        return;
    }
    for (int r = 0; r < 3; r++)
        for (int64_t i = 0; i < ck->count[r]; i++)
            if (!isfinite(ck->region[r][i])) {
                ck->first = k;
                ck->nan = isnan(ck->region[r][i]);
                return;
            }
}

/* Under mpirun each rank reran its own part of the batch: the earliest
 * instruction any rank found, and the largest input of any rank's part
 * (every rank calls this, at the same point). */
static void over_ranks(checker *ck, float *big_x)
{
    if (!rt_dist_on())
        return;
    int size = rt_dist_size(), rank = rt_dist_rank();
    double *v = calloc((size_t)size * 3, sizeof *v);
    if (!v) {
        ck->first = -1;
        return;
    }
    v[3 * rank] = ck->first + 1;
    v[3 * rank + 1] = ck->nan;
    v[3 * rank + 2] = *big_x;
    rt_dist_sum(v, 3 * size);
    ck->first = -1;
    for (int r = 0; r < size; r++) {
        if (v[3 * r] > 0 && (ck->first < 0 || v[3 * r] - 1 < ck->first)) {
            ck->first = (int)v[3 * r] - 1;
            ck->nan = v[3 * r + 1] > 0;
        }
        *big_x = v[3 * r + 2] > *big_x ? (float)v[3 * r + 2] : *big_x;
    }
    free(v);
}

/* Reruns step k (the train step when the program has one) on the same
 * batch with the same seed and parameters through its checked step and
 * writes "FILE:LINE: OP 'LAYER' (forward) produced ..." into what; false
 * if no instruction was found (or the program has no checked step).
 * big_x: the largest input of the batch (of this rank's part). Under
 * mpirun every rank reruns its part alone (no all-reduce: rt_dist_rerun),
 * so every rank must call it. */
static bool locate_non_finite(const rt_program *p, const buffers *b, int64_t batch, uint64_t seed, int k, float *big_x,
                              char *what, size_t len)
{
    rt_checked_step_fn checked = p->nsteps ? p->steps[k].checked_step : p->checked_step;
    int nops = p->nsteps ? p->steps[k].nops : p->nops;
    const rt_op_desc *ops = p->nsteps ? p->steps[k].ops : p->ops;
    if (!checked && p->compile_checked)
        checked = p->compile_checked(p, k);
    int64_t arena = p->train_arena_floats * batch;
    checker ck = { { b->params, b->grads, b->arena }, { p->param_floats, p->param_floats, arena }, -1, false };
    if (checked) {
        memset(b->grads, 0, sizeof(float) * (size_t)p->param_floats);
        memset(b->arena, 0, sizeof(float) * (size_t)arena);
        rt_dist_rerun(true);
        checked(b->params, b->grads, b->x, b->y, batch, b->arena, seed, check_instruction, &ck);
        rt_dist_rerun(false);
    }
    over_ranks(&ck, big_x);
    if (ck.first < 0 || ck.first >= nops)
        return false;
    const rt_op_desc *op = &ops[ck.first];
    const char *slash = p->source ? strrchr(p->source, '/') : NULL;
    char layer[300] = "";
    if (op->layer[0])
        snprintf(layer, sizeof layer, " '%s'", op->layer);
    snprintf(what, len, "%s:%d: %s%s (%s) produced %s from finite inputs", slash ? slash + 1 : p->source ? p->source : "?",
             op->line, op->op, layer, op->backward ? "backward" : "forward", ck.nan ? "NaN" : "an infinity");
    return true;
}

/* What to try when a step with finite weights and inputs overflowed: at
 * the run's first step no update has run, so the learning rate cannot be
 * the cause; large inputs (above 1000: not normalised) can be, and
 * otherwise the model itself is. big_x < 0: the inputs are token ids. */
static const char *overflow_fix(int64_t step, float big_x, char *buf, size_t len)
{
    if (step > 1)
        return "lower the learning rate (--lr) or clip gradients in the train block, or scale the inputs";
    const char *first = "no update has run yet, so the learning rate is not the cause";
    if (big_x > 1000)
        snprintf(buf, len, "%s: scale the inputs (the largest is %g) or change the model", first, (double)big_x);
    else if (big_x >= 0)
        snprintf(buf, len, "%s, nor the inputs (the largest is %g): change the model", first, (double)big_x);
    else
        snprintf(buf, len, "%s: change the model", first);
    return buf;
}

/* The loss of step k (of the train step) came out NaN or infinite: say
 * where it came from instead of always blaming the learning rate. Loaded
 * weights and data are refused at load when not finite, so a non-finite
 * weight now was made by an earlier update; with finite weights and
 * inputs, this step's computation overflowed: the checked re-run names
 * the instruction, or else the largest values show which. Under mpirun
 * every rank calls it (the re-run is collective) and rank 0 reports. */
void rt_report_non_finite(const char *prog, const rt_program *p, const buffers *b, int64_t batch, double loss, int k,
                          int64_t step, int64_t epoch, uint64_t seed)
{
    const char *step_model = p->nsteps ? p->steps[k].model : NULL;
    bool speak = rt_dist_rank() == 0;
    char what[300];
    snprintf(what, sizeof what, "%s%s became %s", step_model ? " of step " : "", step_model ? step_model : "",
             isnan(loss) ? "NaN" : "infinite");
    const rt_param_desc *big = NULL;
    float big_value = 0;
    for (int j = 0; j < p->nparams; j++) {
        const rt_param_desc *d = &p->params[j];
        const float *v = b->params + d->offset;
        for (int64_t i = 0; i < d->count; i++) {
            if (!isfinite(v[i])) {
                if (speak)
                    rt_report(prog, "the loss%s at step %lld (epoch %lld): parameter %s holds %s at index %lld, "
                              "made so by the update after step %lld; lower the learning rate (--lr) or clip "
                              "gradients in the train block", what, (long long)step, (long long)epoch, d->name,
                              isnan(v[i]) ? "NaN" : "an infinity", (long long)i, (long long)step - 1);
                return;
            }
            if (fabsf(v[i]) > big_value) {
                big_value = fabsf(v[i]);
                big = d;
            }
        }
    }
    float big_x = -1; /* the batch's data (with steps, samples of `real`), or -1 for token ids */
    if ((p->nsteps ? p->data_dtype : p->x_dtype) == RT_F32) {
        big_x = 0;
        const float *x = b->x;
        for (int64_t i = 0; i < batch * (p->nsteps ? p->data_size : p->x_size); i++)
            big_x = fabsf(x[i]) > big_x ? fabsf(x[i]) : big_x;
    }
    char where[600], fix[200];
    if (locate_non_finite(p, b, batch, seed, k, &big_x, where, sizeof where)) {
        if (speak)
            rt_report(prog, "the loss%s at step %lld (epoch %lld) with finite weights and inputs: %s; %s", what,
                      (long long)step, (long long)epoch, where, overflow_fix(step, big_x, fix, sizeof fix));
        return;
    }
    if (speak)
        rt_report(prog, "the loss%s at step %lld (epoch %lld) with finite weights and inputs: the model's "
                  "computation overflowed (largest weight %g in %s, largest input %g); %s", what, (long long)step,
                  (long long)epoch, (double)big_value, big ? big->name : "none", (double)(big_x > 0 ? big_x : 0),
                  overflow_fix(step, big_x, fix, sizeof fix));
}
