/* embed.c — the embedding lookup and its gradient.
 *
 * Forward is a gather of table rows, threaded over output rows; it checks
 * every id first and aborts on one outside the table, so a bad id can
 * neither read past the table nor leave half a batch written. Data that
 * reaches the generated code through rt_main or rt_model has been checked
 * already (rt_program.x_vocab): this is the last line, for direct callers.
 *
 * Backward is a scatter-add, where ids repeat within a sample and across
 * the batch. Splitting it over positions would make two tasks add into one
 * row, so the split is over the table's rows instead: a counting sort
 * (serial, O(n + vocab)) lists each id's positions in increasing order,
 * and each task owns a run of vocabulary rows and adds their positions'
 * gradient rows in that order. Every row's sum is then one fixed sequence
 * of float additions whoever computes it: the result has the same bits for
 * any thread count and any split. Ids outside [0, vocab) are left out of
 * the sort, so nothing outside dweight is written.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels_internal.h"
#include "util.h"

typedef float v4sf __attribute__((vector_size(16)));

/* Floats per task: enough to amortise a worker's wake-up. */
enum { EMBED_TASK_FLOATS = 1 << 15 };

/* Rows of `dim` floats per task, at least one. */
static int64_t rows_per_task(int64_t dim)
{
    return dim >= EMBED_TASK_FLOATS ? 1 : EMBED_TASK_FLOATS / dim;
}

typedef struct embed_task {
    int64_t n, vocab, dim, per_task;
    const int32_t *ids;
    const float *weight, *dy;
    float *out, *dweight;
    const int64_t *start, *order; /* backward: positions of id v are order[start[v] .. start[v+1]) */
    bool accumulate;
} embed_task;

static void forward_task(void *ctx, int64_t task)
{
    const embed_task *t = ctx;
    int64_t r0 = task * t->per_task, r1 = r0 + t->per_task < t->n ? r0 + t->per_task : t->n;
    size_t bytes = (size_t)t->dim * sizeof(float);
    for (int64_t r = r0; r < r1; r++)
        memcpy(t->out + r * t->dim, t->weight + (int64_t)t->ids[r] * t->dim, bytes);
}

void rt_embed_check_ids(const char *who, int64_t n, int64_t vocab, const int32_t *ids)
{
    for (int64_t r = 0; r < n; r++)
        if (ids[r] < 0 || ids[r] >= vocab) {
            fprintf(stderr, "%s: token id %d at position %lld is outside [0, %lld), "
                    "the embedding's vocabulary\n", who, (int)ids[r], (long long)r, (long long)vocab);
            abort();
        }
}

// ids (n), weight (vocab,dim), out (n,dim)
void rt_embed_forward(int64_t n, int64_t vocab, int64_t dim, const int32_t *ids,
                      const float *weight, float *out)
{
    if (n <= 0 || dim <= 0)
        return;
    rt_embed_check_ids("rt_embed_forward", n, vocab, ids);
    embed_task t = { .n = n, .vocab = vocab, .dim = dim, .per_task = rows_per_task(dim), .ids = ids,
                     .weight = weight, .out = out };
    rt_run_tasks(ceil_div(n, t.per_task), forward_task, &t);
}

static void backward_task(void *ctx, int64_t task)
{
    const embed_task *t = ctx;
    int64_t v0 = task * t->per_task, v1 = v0 + t->per_task < t->vocab ? v0 + t->per_task : t->vocab;
    for (int64_t v = v0; v < v1; v++) {
        float *restrict dst = t->dweight + v * t->dim;
        if (!t->accumulate)
            memset(dst, 0, (size_t)t->dim * sizeof *dst);
        for (int64_t k = t->start[v]; k < t->start[v + 1]; k++) {
            const float *restrict src = t->dy + t->order[k] * t->dim;
            /* four lanes at a time (SSE on any x86-64; gcc -O2 leaves the
             * plain loop scalar); one add per element either way */
            int64_t j = 0;
            for (; j + 4 <= t->dim; j += 4) {
                v4sf a, b;
                memcpy(&a, dst + j, sizeof a);
                memcpy(&b, src + j, sizeof b);
                a += b;
                memcpy(dst + j, &a, sizeof a);
            }
            for (; j < t->dim; j++)
                dst[j] += src[j];
        }
    }
}

// ids (n), dy (n,dim), dweight (vocab,dim)
void rt_embed_backward(int64_t n, int64_t vocab, int64_t dim, const int32_t *ids,
                       const float *dy, float *dweight, bool accumulate)
{
    if (vocab <= 0 || dim <= 0)
        return;
    if (n < 0)
        n = 0;
    int64_t *start = rt_thread_scratch(RT_SCRATCH_EMBED, (size_t)(vocab + 1 + n) * sizeof(int64_t));
    int64_t *order = start + vocab + 1;
    /* counting sort of the positions by id, stable: start[v + 1] first
     * counts id v, then the prefix sums make start[v] its first slot */
    memset(start, 0, (size_t)(vocab + 1) * sizeof *start);
    for (int64_t r = 0; r < n; r++)
        if (ids[r] >= 0 && ids[r] < vocab)
            start[ids[r] + 1]++;
    for (int64_t v = 0; v < vocab; v++)
        start[v + 1] += start[v];
    /* order is filled from slot start[v], which moves on; rebuilt after */
    for (int64_t r = 0; r < n; r++)
        if (ids[r] >= 0 && ids[r] < vocab)
            order[start[ids[r]]++] = r;
    for (int64_t v = vocab; v > 0; v--)
        start[v] = start[v - 1];
    start[0] = 0;
    embed_task t = { .n = n, .vocab = vocab, .dim = dim, .per_task = rows_per_task(dim), .ids = ids,
                     .dy = dy, .dweight = dweight, .start = start, .order = order, .accumulate = accumulate };
    rt_run_tasks(ceil_div(vocab, t.per_task), backward_task, &t);
}
