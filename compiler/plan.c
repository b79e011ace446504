/* plan.c — memory planning.
 * Requires: a fused unit and the parameter layout.
 * Produces: for every value, where it lives: the parameter or gradient
 * block at its tensor's offset, the caller's input/label/output buffers,
 * or one activation arena at a fixed per-sample offset (scaled by the batch
 * size at run time, so one plan serves every batch size); and for a node
 * whose kernel needs more than its value (a recurrent layer's state, its
 * gradient's working space), that aux storage in the arena too. Offsets
 * come from lifetimes: two buffers share arena bytes only if one is dead
 * before the other is written. A kernel that needs memory only while it
 * runs (an attention's projections at inference, its gradient's scratch)
 * gets a workspace that lives at the node's own position, beside its
 * inputs and output. The training step allocates nothing. */
#include "compiler.h"
#include "netrt.h"

#include <stdlib.h>
#include <string.h>

/* 16 floats: every buffer starts on a 64-byte line for any batch size. */
#define ALIGN_FLOATS 16

static int64_t aligned(int64_t floats)
{
    return (floats + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
}

void layout_params(Compiler *c, const Graph *model, ParamLayout *pl)
{
    layout_models(c, &model, 1, pl, NULL);
}

void layout_models(Compiler *c, const Graph *const *models, int n, ParamLayout *pl, int64_t (*range)[2])
{
    const Program *p = c->prog;
    uint32_t lo = UINT32_MAX, hi = 0, used = 0;
    for (int m = 0; m < n; m++)
        for (int k = 0; k < models[m]->nparams; k++) {
            uint32_t pi = models[m]->params[k];
            lo = pi < lo ? pi : lo;
            hi = pi > hi ? pi : hi;
            used++;
        }
    pl->first = used ? lo : 0;
    pl->span = used ? hi - lo + 1 : 0;
    pl->offset = arena_alloc(c->arena, sizeof *pl->offset * (pl->span + 1));
    pl->order = arena_alloc(c->arena, sizeof *pl->order * (used + 1));
    for (uint32_t i = 0; i < pl->span; i++)
        pl->offset[i] = -1;
    pl->n = 0;
    pl->total = pl->trainable = 0;
    /* trainable tensors first, model by model, so an optimizer runs over
     * one contiguous span of one model */
    for (int pass = 0; pass < 2; pass++) {
        for (int m = 0; m < n; m++) {
            const Graph *model = models[m];
            if (range && pass == 0)
                range[m][0] = pl->total;
            for (int k = 0; k < model->nparams; k++) {
                uint32_t pi = model->params[k];
                if (p->params[pi].trainable != (pass == 0) || pl->offset[pi - pl->first] >= 0)
                    continue;
                pl->offset[pi - pl->first] = pl->total;
                pl->order[pl->n++] = pi;
                pl->total += aligned(ir_shape_elems(&p->params[pi].shape));
            }
            if (range && pass == 0)
                range[m][1] = pl->total;
        }
        if (pass == 0)
            pl->trainable = pl->total;
    }
}

void plan_recurrent(const Graph *g, const Node *layer, rt_recurrent *r)
{
    if (!ir_op_is(layer->op, OPF_RECURRENT))
        die("plan_recurrent on %s", ir_ops[layer->op].name);
    const Node *x = &g->nodes[layer->inputs[0]];
    rt_cell cell = layer->op == OP_rnn ? RT_CELL_RNN : layer->op == OP_lstm ? RT_CELL_LSTM : RT_CELL_GRU;
    *r = (rt_recurrent){ .cell = cell, .steps = x->shape.dim[0], .inputs = x->shape.dim[1],
                         .units = ir_attr(layer, "units")->i, .sequences = ir_attr(layer, "sequences")->i != 0 };
}

/* What a node's kernel needs in the arena besides its value, per sample,
 * as the runtime sizes it: a recurrent layer's state (in training what its
 * gradient reads, at inference working space) and its gradient's working
 * space. */
static int64_t aux_need(const Unit *u, uint32_t i)
{
    const Graph *g = u->g;
    const Node *n = &g->nodes[i];
    rt_recurrent r;
    if (u->info[i].dead)
        return 0;
    if (ir_op_is(n->op, OPF_RECURRENT)) {
        plan_recurrent(g, n, &r);
        return rt_recurrent_state_floats(&r, u->training);
    }
    if (n->op == OP_recurrent_grad) {
        plan_recurrent(g, &g->nodes[n->inputs[2]], &r);
        return rt_recurrent_work_floats(&r);
    }
    return 0;
}

AttentionParts plan_attention_parts(const Node *n, bool training)
{
    int64_t t = n->shape.dim[0], d = n->shape.dim[1], heads = ir_attr(n, "heads")->i;
    AttentionParts p = { .qkv = training ? aligned(t * d) : 0, .probs = -1 };
    p.ctx = p.qkv + aligned(3 * t * d);
    p.floats = p.ctx + aligned(t * d);
    if (training) {
        p.probs = p.floats;
        p.floats += heads * t * t;
    }
    return p;
}

int64_t plan_attention_grad_work(const Node *n)
{
    return 4 * ir_shape_elems(&n->shape);
}

SlotLayout plan_slot(const Node *n)
{
    int64_t elems = ir_shape_elems(&n->shape);
    SlotLayout s = { .floats = elems };
    if (n->op == OP_batchnorm) { /* a batch-scaled slot of which 2C floats are used */
        int64_t c = n->shape.dim[0];
        s = (SlotLayout){ { elems, elems }, { 0, c }, 2, elems + 2 * c };
    } else if (n->op == OP_layernorm) {
        int64_t rows = elems / n->shape.dim[n->shape.rank - 1];
        s = (SlotLayout){ { elems, elems + rows }, { 0, 0 }, 2, elems + 2 * rows };
    } else if (n->op == OP_attention) {
        AttentionParts p = plan_attention_parts(n, true);
        s = (SlotLayout){ { p.qkv, p.ctx, p.probs }, { 0, 0, 0 }, 3, p.floats };
    }
    return s;
}

/* Workspace a node's kernel needs while it runs, per sample. */
static int64_t work_need(const Unit *u, uint32_t i)
{
    const Node *n = &u->g->nodes[i];
    if (u->info[i].dead)
        return 0;
    if (n->op == OP_attention && !u->training)
        return plan_attention_parts(n, false).floats;
    if (n->op == OP_attention_grad)
        return plan_attention_grad_work(n);
    return 0;
}

/* What a node needs in the arena, per sample; 0 if it needs no storage. */
static int64_t arena_need(const Unit *u, uint32_t i)
{
    const Node *n = &u->g->nodes[i];
    const NodeInfo *in = &u->info[i];
    if (u->has_noise && i == u->noise_node && !in->dead)
        return ir_shape_elems(&n->shape); /* the step draws it into the arena */
    if (in->dead || in->alias_of >= 0 || in->loop_into >= 0 || n->op == OP_input || n->op == OP_param ||
        n->writes_grad || in->variant == VARIANT_PARAMS_ONLY || in->variant == VARIANT_EMBED_TABLE)
        return 0;
    const FusedGroup *gr = in->group >= 0 ? &u->groups[in->group] : NULL;
    if (gr && gr->embed == (int32_t)i)
        return 0; /* its recurrent layer reads the table and the ids */
    if (gr && gr->anchor == i && (gr->act >= 0 || gr->fold_bn >= 0) && !gr->keeps_preact)
        return 0; /* the activation or batchnorm after it holds the result */
    if (gr && gr->fold_bn == (int32_t)i) /* folded: it holds the conv's output, unless an activation does */
        return gr->act >= 0 ? 0 : ir_shape_elems(&n->shape);
    if (u->training && plan_slot(n).nparts > 0) /* y, then what its backward reads */
        return plan_slot(n).floats;
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
    bool aux;  /* the node's aux storage, not its value */
    bool work; /* the node's workspace, not its value */
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
        if (unit_fused_into(u, i) >= 0)
            i = (uint32_t)unit_fused_into(u, i);
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
    Interval *iv = arena_alloc(c->arena, sizeof *iv * (3 * n + 1));
    int count = 0;
    for (uint32_t i = 0; i < n; i++) {
        const Node *node = &g->nodes[i];
        NodeInfo *in = &u->info[i];
        in->base = BASE_NONE;
        in->floats = arena_need(u, i);
        in->aux_floats = aux_need(u, i);
        in->work_floats = work_need(u, i);
        if (in->dead)
            continue;
        /* a layer's state lives as long as its value when its gradient
         * reads it; working space only while the kernel runs */
        bool kept = u->training && node->op != OP_recurrent_grad;
        if (in->aux_floats > 0)
            iv[count++] = (Interval){ i, in->first, kept ? in->last : in->first, in->aux_floats, -1, .aux = true };
        if (in->work_floats > 0) /* alive only while its node runs */
            iv[count++] = (Interval){ i, in->first, in->first, in->work_floats, -1, .work = true };
        if (node->op == OP_param) {
            in->base = BASE_PARAMS;
            in->offset = param_offset(pl, node->param);
            in->floats = ir_shape_elems(&node->shape);
            if (in->offset < 0)
                die("parameter %s is outside the layout", p->params[node->param].name);
        } else if (node->writes_grad) {
            in->base = BASE_GRADS;
            in->offset = param_offset(pl, node->param);
        } else if (u->has_noise && i == u->noise_node) {
            iv[count++] = (Interval){ i, in->first, in->last, in->floats, -1, false, false };
        } else if (node->op == OP_input) {
            in->base = i == u->x_node ? BASE_X : BASE_Y;
            in->offset = 0;
        } else if (u->has_out && i == root_of(u, u->out_node)) {
            in->base = BASE_OUT;
            in->offset = 0;
        } else if (in->floats > 0) {
            iv[count++] = (Interval){ i, in->first, in->last, in->floats, -1, false, false };
        }
    }
    /* Greedy by size: each buffer takes the lowest offset that no buffer
     * alive at the same time overlaps. Quadratic in buffers, which number
     * in the hundreds (thousands for a chain of thousands of layers: see
     * bench_jit's depth table). */
    qsort(iv, (size_t)count, sizeof *iv, by_size);
    /* The buffers alive with this one are gathered first and only they
     * are swept again after a move: the passes over every placed buffer
     * were 45% of emitting a 8,000-layer chain. Same offsets. */
    int *live = arena_alloc(c->arena, sizeof *live * (size_t)(count + 1));
    int64_t top = 0;
    for (int a = 0; a < count; a++) {
        int64_t size = aligned(iv[a].floats);
        int64_t off = 0;
        int nlive = 0;
        for (int b = 0; b < a; b++)
            if (iv[b].first <= iv[a].last && iv[a].first <= iv[b].last)
                live[nlive++] = b;
        for (bool moved = true; moved;) {
            moved = false;
            for (int k = 0; k < nlive; k++) {
                const Interval *b = &iv[live[k]];
                int64_t bsize = aligned(b->floats);
                if (b->offset < off + size && off < b->offset + bsize) {
                    off = b->offset + bsize;
                    moved = true;
                }
            }
        }
        iv[a].offset = off;
        if (off + size > top)
            top = off + size;
        NodeInfo *in = &u->info[iv[a].node];
        if (iv[a].aux) {
            in->aux_offset = off;
        } else if (iv[a].work) {
            in->work_offset = off;
        } else {
            in->base = BASE_ARENA;
            in->offset = off;
        }
    }
    u->arena_floats = top;
    /* folded conv weights and biases: one region, reused by every fold */
    u->scratch_floats = 0;
    for (int k = 0; k < u->ngroups; k++) {
        uint32_t i = u->groups[k].anchor;
        if (u->groups[k].fold_bn < 0 || u->info[i].dead)
            continue;
        const Node *w = &g->nodes[g->nodes[i].inputs[1]];
        int64_t need = aligned(ir_shape_elems(&w->shape)) + w->shape.dim[0];
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


void plan_dump(FILE *out, const Unit *u)
{
    const Graph *g = u->g;
    fprintf(out, "plan %s: arena %lld floats per sample (%lld bytes)\n", u->name, (long long)u->arena_floats,
            (long long)u->arena_floats * 4);
    for (uint32_t i = 0; i < g->nnodes; i++) {
        const NodeInfo *in = &u->info[i];
        if (in->dead || g->nodes[i].op == OP_param || (in->base == BASE_NONE && in->aux_floats == 0 && in->work_floats == 0))
            continue;
        fprintf(out, "  %%%-4u %-18s %-6s +%-8lld %8lld floats  live [%u, %u]\n", i, ir_ops[g->nodes[i].op].name,
                ir_base_name(in->base), (long long)in->offset, (long long)in->floats, in->first, in->last);
        if (in->aux_floats > 0)
            fprintf(out, "        %-18s arena  +%-8lld %8lld floats\n", "(its kernel's aux)", (long long)in->aux_offset,
                    (long long)in->aux_floats);
        if (in->work_floats > 0)
            fprintf(out, "        %-18s %-6s +%-8lld %8lld floats  while it runs\n", "(workspace)", "arena",
                    (long long)in->work_offset, (long long)in->work_floats);
    }
}
