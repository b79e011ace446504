/* plan.c — memory planning.
 * Requires: a fused unit and the parameter layout.
 * Produces: for every value, where it lives: the parameter or gradient
 * block at its tensor's offset, the caller's input/label/output buffers,
 * or one activation arena at a fixed per-sample offset (scaled by the batch
 * size at run time, so one plan serves every batch size). Offsets come
 * from lifetimes: two values share arena bytes only if one is dead before
 * the other is written. The training step allocates nothing. */
#include "compiler.h"

#include <stdlib.h>
#include <string.h>

/* 16 floats: every buffer starts on a 64-byte line for any batch size. */
#define ALIGN_FLOATS 16

void layout_params(Compiler *c, const Graph *model, ParamLayout *pl)
{
    const Program *p = c->prog;
    pl->offset = arena_alloc(c->arena, sizeof *pl->offset * (p->nparams + 1));
    pl->order = arena_alloc(c->arena, sizeof *pl->order * (p->nparams + 1));
    for (uint32_t i = 0; i < p->nparams; i++)
        pl->offset[i] = -1;
    pl->n = 0;
    pl->total = pl->trainable = 0;
    /* trainable tensors first, so optimizers run over one contiguous span */
    for (int pass = 0; pass < 2; pass++) {
        for (int k = 0; k < model->nparams; k++) {
            uint32_t pi = model->params[k];
            if (p->params[pi].trainable != (pass == 0) || pl->offset[pi] >= 0)
                continue;
            pl->offset[pi] = pl->total;
            pl->order[pl->n++] = pi;
            pl->total += (ir_shape_elems(&p->params[pi].shape) + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
        }
        if (pass == 0)
            pl->trainable = pl->total;
    }
}

/* What a node needs in the arena, per sample; 0 if it needs no storage. */
static int64_t arena_need(const Unit *u, uint32_t i)
{
    const Node *n = &u->g->nodes[i];
    const NodeInfo *in = &u->info[i];
    if (in->dead || in->alias_of >= 0 || in->loop_into >= 0 || n->op == OP_input || n->op == OP_param || n->writes_grad)
        return 0;
    if ((n->op == OP_dense || n->op == OP_conv2d) && (in->act >= 0 || in->fold_bn >= 0) && !in->needs_preact)
        return 0; /* the activation or batchnorm after it holds the result */
    if (in->fused_into >= 0 && n->op == OP_batchnorm) /* folded: it holds the conv's output, unless an activation does */
        return u->info[in->fused_into].act >= 0 ? 0 : ir_shape_elems(&n->shape);
    if (n->op == OP_batchnorm && u->training)
        return ir_shape_elems(&n->shape) + 2 * n->shape.dim[0]; /* y, then the batch mean and 1/std (a batch-scaled slot, used 2C floats of) */
    if (n->op == OP_layernorm && u->training) /* y, then the mean and 1/std of each row */
        return ir_shape_elems(&n->shape) + 2 * (ir_shape_elems(&n->shape) / n->shape.dim[n->shape.rank - 1]);
    if (n->op == OP_cross_entropy)
        return ir_shape_elems(&u->g->nodes[n->inputs[0]].shape); /* the probabilities, for backward */
    if (n->op == OP_mse || n->op == OP_bce)
        return 0; /* only their sum is kept */
    return ir_shape_elems(&n->shape);
}

static uint32_t root_of(const Unit *u, uint32_t i)
{
    while (u->info[i].alias_of >= 0)
        i = (uint32_t)u->info[i].alias_of;
    return i;
}

typedef struct Interval {
    uint32_t node, first, last;
    int64_t floats, offset;
} Interval;

static int by_size(const void *a, const void *b)
{
    const Interval *x = a, *y = b;
    if (x->floats != y->floats)
        return x->floats < y->floats ? 1 : -1;
    return x->first < y->first ? -1 : x->first > y->first;
}

/* Where a node's work runs: a fused activation in its dense's GEMM, a
 * loop-fused value in its consumer's loop. */
static uint32_t exec_pos(const Unit *u, uint32_t i)
{
    for (;;) {
        if (u->info[i].fused_into >= 0)
            i = (uint32_t)u->info[i].fused_into;
        else if (u->info[i].loop_into >= 0)
            i = (uint32_t)u->info[i].loop_into;
        else
            return i;
    }
}

void plan_unit(Compiler *c, Unit *u, const ParamLayout *pl)
{
    Graph *g = u->g;
    const Program *p = c->prog;
    uint32_t n = g->nnodes;
    /* lifetimes: a value is born where its work runs and dies at its last
     * live reader's work, through aliases */
    for (uint32_t i = 0; i < n; i++) {
        NodeInfo *in = &u->info[i];
        in->first = exec_pos(u, i);
        in->last = in->first;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (u->info[i].dead)
            continue;
        const Node *node = &g->nodes[i];
        uint32_t at = exec_pos(u, i);
        for (int k = 0; k < node->ninputs; k++) {
            uint32_t r = root_of(u, node->inputs[k]);
            if (u->info[r].last < at)
                u->info[r].last = at;
        }
    }
    Interval *iv = arena_alloc(c->arena, sizeof *iv * (n + 1));
    int count = 0;
    for (uint32_t i = 0; i < n; i++) {
        const Node *node = &g->nodes[i];
        NodeInfo *in = &u->info[i];
        in->base = BASE_NONE;
        in->floats = arena_need(u, i);
        if (in->dead)
            continue;
        if (node->op == OP_param) {
            in->base = BASE_PARAMS;
            in->offset = pl->offset[node->param];
            in->floats = ir_shape_elems(&node->shape);
            if (in->offset < 0)
                die("parameter %s is outside the layout", p->params[node->param].name);
        } else if (node->writes_grad) {
            in->base = BASE_GRADS;
            in->offset = pl->offset[node->param];
        } else if (node->op == OP_input) {
            in->base = i == u->x_node ? BASE_X : BASE_Y;
            in->offset = 0;
        } else if (u->has_out && i == root_of(u, u->out_node)) {
            in->base = BASE_OUT;
            in->offset = 0;
        } else if (in->floats > 0) {
            iv[count++] = (Interval){ i, in->first, in->last, in->floats, -1 };
        }
    }
    /* Greedy by size: each buffer takes the lowest offset that no buffer
     * alive at the same time overlaps. Quadratic in buffers, which number
     * in the hundreds. */
    qsort(iv, (size_t)count, sizeof *iv, by_size);
    int64_t top = 0;
    for (int a = 0; a < count; a++) {
        int64_t size = (iv[a].floats + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
        int64_t off = 0;
        for (bool moved = true; moved;) {
            moved = false;
            for (int b = 0; b < a; b++) {
                bool overlap_time = iv[b].first <= iv[a].last && iv[a].first <= iv[b].last;
                int64_t bsize = (iv[b].floats + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
                if (overlap_time && iv[b].offset < off + size && off < iv[b].offset + bsize) {
                    off = iv[b].offset + bsize;
                    moved = true;
                }
            }
        }
        iv[a].offset = off;
        if (off + size > top)
            top = off + size;
        u->info[iv[a].node].base = BASE_ARENA;
        u->info[iv[a].node].offset = off;
    }
    u->arena_floats = top;
    /* folded conv weights and biases: one region, reused by every fold */
    u->scratch_floats = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (u->info[i].fold_bn < 0 || u->info[i].dead)
            continue;
        const Node *w = &g->nodes[g->nodes[i].inputs[1]];
        int64_t need = (ir_shape_elems(&w->shape) + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS + w->shape.dim[0];
        if (need > u->scratch_floats)
            u->scratch_floats = need;
    }
    /* aliases take their root's place */
    for (uint32_t i = 0; i < n; i++) {
        NodeInfo *in = &u->info[i];
        if (in->alias_of >= 0 && !in->dead) {
            uint32_t r = root_of(u, i);
            in->base = u->info[r].base;
            in->offset = u->info[r].offset;
        }
    }
}

static const char *base_name(Base b)
{
    switch (b) {
    case BASE_NONE: return "-";
    case BASE_ARENA: return "arena";
    case BASE_PARAMS: return "params";
    case BASE_GRADS: return "grads";
    case BASE_X: return "x";
    case BASE_Y: return "y";
    case BASE_OUT: return "out";
    }
    unreachable();
}

void plan_dump(FILE *out, const Unit *u)
{
    const Graph *g = u->g;
    fprintf(out, "plan %s: arena %lld floats per sample (%lld bytes)\n", u->name, (long long)u->arena_floats,
            (long long)u->arena_floats * 4);
    for (uint32_t i = 0; i < g->nnodes; i++) {
        const NodeInfo *in = &u->info[i];
        if (in->dead || g->nodes[i].op == OP_param || in->base == BASE_NONE)
            continue;
        fprintf(out, "  %%%-4u %-18s %-6s +%-8lld %8lld floats  live [%u, %u]\n", i, ir_ops[g->nodes[i].op].name,
                base_name(in->base), (long long)in->offset, (long long)in->floats, in->first, in->last);
    }
}
