/* fuse.c — decides what runs as one kernel.
 * Requires: a unit (a training graph or a model graph) in node order.
 * Produces: per node, in NodeInfo: dead nodes (not needed for the loss,
 * the gradients or the output), aliases (flatten and reshape share their
 * input's storage; so does dropout at inference), loops; and per kernel
 * that computes several nodes one FusedGroup record (Unit.groups): a dense
 * or conv2d with the activation that rides in its epilogue (the GEMM
 * writes the activated values once instead of writing, reading and
 * writing again), the batchnorm folded into its weights, the max-pool its
 * tasks compute, the embed whose ids and table a recurrent layer reads
 * (and, in its gradient, the table's gradient). Every node of a group has
 * NodeInfo.group set.
 * Softmax and cross-entropy are one kernel by construction (the op). A
 * concat is never an alias: lower.c's copy_slice says why. */
#include "compiler.h"

#include <string.h>

static bool is_activation(Op op) { return ir_op_is(op, OPF_ACTIVATION); }

/* Ops a generated loop computes one element at a time (position adds its
 * table, a parameter read at i modulo its size). */
static bool is_elementwise(Op op) { return ir_op_is(op, OPF_ELEMENTWISE); }

/* An elementwise value read once, by another elementwise op of the same
 * size, is computed inside that op's loop and never stored: a chain such
 * as relu(a * 0.5 + b) is one pass over memory. Values read twice (an
 * activation its gradient reads again) are stored, by the same rule. */
static void fuse_loops(Compiler *c, Unit *u)
{
    /* A loop's expression is built recursively, and a hundred operations
     * already fill a loop body: longer chains split into several loops. */
    enum { MAX_LOOP_DEPTH = 64 };
    Graph *g = u->g;
    int *depth = arena_alloc(c->arena, sizeof *depth * (g->nnodes + 1));
    for (uint32_t i = 0; i < g->nnodes; i++) {
        NodeInfo *in = &u->info[i];
        const Node *n = &g->nodes[i];
        depth[i] = 1;
        for (int k = 0; k < n->ndata; k++)
            if (u->info[n->inputs[k]].loop_into == (int32_t)i && depth[n->inputs[k]] + 1 > depth[i])
                depth[i] = depth[n->inputs[k]] + 1;
        if (in->dead || in->users != 1 || unit_fused_into(u, i) >= 0 || in->alias_of >= 0 || !is_elementwise(n->op) ||
            depth[i] >= MAX_LOOP_DEPTH)
            continue;
        /* gelu, tanh, sigmoid are computed by the runtime's kernel, never
         * inside another node's loop (ops.def's OPF_EXACT_INLINE) */
        if (is_activation(n->op) && !ir_op_is(n->op, OPF_EXACT_INLINE))
            continue;
        for (uint32_t j = i + 1; j < g->nnodes; j++) {
            const Node *m = &g->nodes[j];
            bool reads = false;
            for (int k = 0; k < m->ninputs; k++)
                reads |= m->inputs[k] == i;
            if (u->info[j].dead || !reads)
                continue;
            if (is_elementwise(m->op) && unit_fused_into(u, j) < 0 && ir_shape_elems(&m->shape) == ir_shape_elems(&n->shape))
                in->loop_into = (int32_t)j;
            break;
        }
    }
}

void unit_init(Compiler *c, Unit *u, Graph *g, const char *name, const TrainGraph *tg)
{
    memset(u, 0, sizeof *u);
    u->name = name;
    u->g = g;
    u->training = tg != NULL;
    u->info = arena_alloc(c->arena, sizeof *u->info * (g->nnodes + 1));
    u->groups = arena_alloc(c->arena, sizeof *u->groups * (g->nnodes + 1));
    for (uint32_t i = 0; i < g->nnodes; i++) {
        NodeInfo *in = &u->info[i];
        in->group = in->alias_of = in->loop_into = -1;
        in->offset = in->aux_offset = -1;
        if (tg) {
            in->loss_coef = tg->loss_coef[i];
            in->dead = tg->combine[i];
        }
    }
    if (tg) {
        u->x_node = tg->x_input;
        u->y_node = tg->y_input;
        u->has_y = tg->has_y;
        u->noise_node = tg->noise_input;
        u->has_noise = tg->has_noise;
        u->noise_uniform = tg->train->noise_uniform;
        u->trains = tg->train->free_form ? &c->prog->graphs[tg->model] : NULL;
    } else {
        u->x_node = g->inputs[0];
        u->out_node = g->output;
        u->has_out = true;
    }
}

/* Live values: what the loss, the parameter gradients or the output need.
 * Additions and scalings of per-sample losses are used by nothing live, so
 * they die here: their effect is already in the loss weights. */
static void mark_live(Unit *u)
{
    Graph *g = u->g;
    uint32_t n = g->nnodes;
    for (uint32_t i = 0; i < n; i++) {
        NodeInfo *in = &u->info[i];
        in->dead = u->training ? !(in->loss_coef != 0 || g->nodes[i].writes_grad) : i != u->out_node;
        in->users = 0;
    }
    for (uint32_t i = n; i-- > 0;) {
        if (u->info[i].dead)
            continue;
        const Node *node = &g->nodes[i];
        for (int k = 0; k < node->ninputs; k++) {
            u->info[node->inputs[k]].dead = false;
            u->info[node->inputs[k]].users++;
        }
    }
}

/* The group anchored at `anchor`, made on first use. */
static FusedGroup *group_at(Unit *u, uint32_t anchor)
{
    int32_t k = u->info[anchor].group;
    if (k < 0) {
        k = u->ngroups++;
        u->groups[k] = (FusedGroup){ .anchor = anchor, .act = -1, .fold_bn = -1, .pool = -1, .embed = -1 };
        u->info[anchor].group = k;
    }
    return &u->groups[k];
}

/* Node `member` joins the group anchored at `anchor`. */
static FusedGroup *join_group(Unit *u, uint32_t anchor, uint32_t member)
{
    FusedGroup *gr = group_at(u, anchor);
    u->info[member].group = u->info[anchor].group;
    return gr;
}

/* The conv2d whose kernel writes value v (itself, or the activation or
 * folded batchnorm riding in it), or -1. */
static int32_t conv_writing(const Unit *u, uint32_t v)
{
    const Graph *g = u->g;
    if (g->nodes[v].op == OP_conv2d) {
        const FusedGroup *gr = unit_anchored(u, v);
        return !gr || (gr->act < 0 && gr->fold_bn < 0) ? (int32_t)v : -1;
    }
    int32_t c = unit_fused_into(u, v);
    if (c < 0 || g->nodes[c].op != OP_conv2d)
        return -1;
    const FusedGroup *cv = &u->groups[u->info[v].group];
    if (cv->act == (int32_t)v || (cv->fold_bn == (int32_t)v && cv->act < 0))
        return c;
    return -1;
}

/* conv2d (+ activation) -> maxpool with disjoint, unpadded windows: the
 * conv's tasks pool the rows they have just written while those are in
 * cache (rt_conv2d_forward_maxpool), so pooling costs no pass over the
 * conv's output and no parallel section of its own. The conv's output is
 * still stored: maxpool's and the activation's gradients read it. In
 * LeNet on Fashion-MNIST the first conv's output is 4.7 MB per batch of
 * 64, past the L2, which the separate max-pool read back. Overlapping or
 * padded windows would straddle the tasks' rows; they stay separate. */
static void fuse_pools(Unit *u)
{
    const Graph *g = u->g;
    for (uint32_t i = 0; i < g->nnodes; i++) {
        const Node *n = &g->nodes[i];
        if (u->info[i].dead || n->op != OP_maxpool)
            continue;
        int64_t size = ir_attr(n, "size")->i, stride = ir_attr(n, "stride")->i;
        if ((stride != 0 && stride != size) || ir_attr(n, "padding")->i != 0)
            continue;
        int32_t c = conv_writing(u, n->inputs[0]);
        if (c < 0 || (unit_anchored(u, (uint32_t)c) && unit_anchored(u, (uint32_t)c)->pool >= 0))
            continue;
        join_group(u, (uint32_t)c, i)->pool = (int32_t)i;
    }
}

/* maxpool_grad -> the gradient of the ReLU whose output was pooled: one
 * pass (rt_maxpool_relu_backward) routes each window's gradient to its
 * argmax and drops it where the maximum is not positive, instead of
 * writing the full-size gradient and reading it back with the ReLU's
 * output to mask it. The act_grad becomes an alias of the maxpool_grad,
 * which nothing else reads. */
static void fuse_pool_grads(Unit *u)
{
    const Graph *g = u->g;
    for (uint32_t i = 0; i < g->nnodes; i++) {
        const Node *n = &g->nodes[i];
        if (u->info[i].dead || n->op != OP_act_grad || ir_attr(n, "act")->i != OP_relu)
            continue;
        uint32_t mg = n->inputs[0];
        const Node *m = &g->nodes[mg];
        if (m->op != OP_maxpool_grad || u->info[mg].users != 1 || m->inputs[1] != n->inputs[1])
            continue;
        u->info[i].alias_of = (int32_t)mg;
        u->info[mg].variant = VARIANT_THROUGH_RELU;
    }
}

/* A recurrent layer's gradient whose input needs none (a first layer over
 * the model's input) stays for the parameter gradients its kernel
 * computes, but skips dx, a GEMM as large as the input projection, and
 * stores nothing. */
static void mark_unused_values(Unit *u)
{
    const Graph *g = u->g;
    for (uint32_t i = 0; i < g->nnodes; i++) {
        if (u->info[i].dead || g->nodes[i].op != OP_recurrent_grad)
            continue;
        bool read = false;
        for (uint32_t j = i + 1; j < g->nnodes && !read; j++) {
            const Node *m = &g->nodes[j];
            for (int k = 0; k < m->ninputs && !u->info[j].dead; k++)
                read |= m->inputs[k] == i && !ir_op_is(m->op, OPF_COMPANION);
        }
        if (!read)
            u->info[i].variant = VARIANT_PARAMS_ONLY;
    }
}

/* The one live node j > from that reads `value` other than `except`
 * (companions aside), and whether it reads it as input `slot`; -1 if none,
 * -2 if several or in another slot. */
static int32_t only_reader(const Unit *u, uint32_t value, uint32_t except, int slot)
{
    const Graph *g = u->g;
    int32_t found = -1;
    for (uint32_t j = value + 1; j < g->nnodes; j++) {
        const Node *m = &g->nodes[j];
        if (u->info[j].dead || j == except || ir_op_is(m->op, OPF_COMPANION))
            continue;
        for (int k = 0; k < m->ninputs; k++)
            if (m->inputs[k] == value) {
                if (found >= 0 || k != slot)
                    return -2;
                found = (int32_t)j;
            }
    }
    return found;
}

/* embed -> rnn/lstm/gru, the embedding read by nothing else: the layer's
 * kernel reads the token ids and the table itself
 * (rt_recurrent_forward_embed), so its input projections are rows of one
 * vocab x G*H product, E W_ih^T + bias, and the embedding is never
 * stored; its gradient kernel writes the table's gradient through the
 * per-id sums of the gate gradients (rt_recurrent_backward_embed) instead
 * of dx, which the embed_grad would scatter. charlstm.net: 256 rows of
 * input projection per step instead of 2048, 6% of its FLOPs. */
static void fuse_embeds(Unit *u)
{
    const Graph *g = u->g;
    for (uint32_t i = 0; i < g->nnodes; i++) {
        const Node *n = &g->nodes[i];
        if (u->info[i].dead || !ir_op_is(n->op, OPF_RECURRENT))
            continue;
        uint32_t e = n->inputs[0];
        const Node *emb = &g->nodes[e];
        if (emb->op != OP_embed || (u->has_out && e == u->out_node) || only_reader(u, e, i, 1) == -2)
            continue;
        int32_t grad = only_reader(u, e, i, 1), table_grad = -1;
        if (grad >= 0 && (g->nodes[grad].op != OP_recurrent_grad || g->nodes[grad].inputs[2] != i))
            continue;
        if (grad >= 0) {
            table_grad = only_reader(u, (uint32_t)grad, UINT32_MAX, 0);
            const Node *tg = table_grad >= 0 ? &g->nodes[table_grad] : NULL;
            if (table_grad == -2 || (tg && (tg->op != OP_embed_grad || tg->inputs[1] != emb->inputs[0] ||
                                            tg->param != g->nodes[emb->inputs[1]].param)))
                continue;
        }
        join_group(u, i, e)->embed = (int32_t)e;
        if (grad < 0)
            continue;
        u->info[grad].variant = VARIANT_EMBED_TABLE;
        if (table_grad >= 0) /* else the table is frozen */
            join_group(u, (uint32_t)grad, (uint32_t)table_grad)->embed = table_grad;
    }
}

void fuse_unit(Compiler *c, Unit *u)
{
    Graph *g = u->g;
    mark_live(u);
    for (uint32_t i = 0; i < g->nnodes; i++) {
        const Node *n = &g->nodes[i];
        NodeInfo *in = &u->info[i];
        if (in->dead)
            continue;
        if (ir_op_is(n->op, OPF_VIEW) || (n->op == OP_dropout && !u->training))
            in->alias_of = (int32_t)n->inputs[0];
    }
    /* conv2d -> batchnorm at inference: the normalisation is an affine map
     * per filter, so it folds into the convolution's weights and bias
     * (computed at the start of each forward from the running statistics)
     * and the conv writes normalised values directly. */
    for (uint32_t i = 0; i < g->nnodes && !u->training; i++) {
        const Node *n = &g->nodes[i];
        uint32_t cv = n->inputs ? n->inputs[0] : 0;
        if (u->info[i].dead || n->op != OP_batchnorm || g->nodes[cv].op != OP_conv2d || u->info[cv].users != 1 ||
            i == u->out_node)
            continue;
        join_group(u, cv, i)->fold_bn = (int32_t)i;
    }
    /* dense or conv2d -> activation: the activation rides in the epilogue when every
     * other live reader of the dense output is that activation's gradient
     * (which then needs the pre-activation kept: gelu). Each value's live
     * readers are counted once, first: counting them per activation made
     * a 4096-layer model's fusion quadratic. */
    int32_t *readers = arena_alloc(c->arena, sizeof *readers * 2 * ((size_t)g->nnodes + 1));
    int32_t *grad_readers = readers + g->nnodes + 1;
    memset(readers, 0, sizeof *readers * 2 * ((size_t)g->nnodes + 1));
    for (uint32_t j = 0; j < g->nnodes; j++)
        for (int k = 0; !u->info[j].dead && k < g->nodes[j].ninputs; k++) {
            if (g->nodes[j].op == OP_act_grad && k == 1)
                grad_readers[g->nodes[j].inputs[k]]++;
            else
                readers[g->nodes[j].inputs[k]]++;
        }
    for (uint32_t i = 0; i < g->nnodes; i++) {
        const Node *n = &g->nodes[i];
        if (u->info[i].dead || !is_activation(n->op))
            continue;
        uint32_t d = n->inputs[0];
        bool via_bn = false;
        if (unit_fused_into(u, d) >= 0 && g->nodes[d].op == OP_batchnorm) {
            if (u->info[d].users != 1)
                continue;
            d = (uint32_t)unit_fused_into(u, d); /* conv -> folded batchnorm -> activation */
            via_bn = true;
        }
        if ((g->nodes[d].op != OP_dense && g->nodes[d].op != OP_conv2d) ||
            (unit_anchored(u, d) && unit_anchored(u, d)->act >= 0) ||
            (!u->training && d == u->out_node))
            continue;
        int others = 0, grads = 0;
        if (!via_bn) { /* the live readers of d but the activation itself */
            others = readers[d];
            grads = grad_readers[d];
            for (int k = 0; k < n->ninputs; k++)
                others -= n->inputs[k] == d;
        }
        if (others)
            continue;
        FusedGroup *gr = join_group(u, d, i);
        gr->act = (int32_t)i;
        gr->keeps_preact = grads > 0;
    }
    fuse_pools(u);
    fuse_pool_grads(u);
    fuse_loops(c, u);
    mark_unused_values(u);
    fuse_embeds(u);
}

void fuse_dump(FILE *out, const Unit *u)
{
    const Graph *g = u->g;
    fprintf(out, "fused %s (%s) {\n", u->name, g->name);
    for (uint32_t i = 0; i < g->nnodes; i++) {
        const Node *n = &g->nodes[i];
        const NodeInfo *in = &u->info[i];
        if (in->dead || n->op == OP_param || n->op == OP_input || unit_fused_into(u, i) >= 0)
            continue;
        if (in->loop_into >= 0) {
            fprintf(out, "  %%%u %s (inside the loop of %%%d)  # %s\n", i, ir_ops[n->op].name, in->loop_into,
                    n->name ? n->name : "");
            continue;
        }
        fprintf(out, "  %%%u %s", i, ir_ops[n->op].name);
        const FusedGroup *gr = unit_anchored(u, i);
        if (gr && gr->fold_bn >= 0)
            fprintf(out, " + batchnorm %%%d (folded into the weights)", gr->fold_bn);
        if (gr && gr->act >= 0)
            fprintf(out, " + bias + %s (epilogue%s)", ir_ops[g->nodes[gr->act].op].name,
                    gr->keeps_preact ? ", keeps the pre-activation" : "");
        if (gr && gr->pool >= 0)
            fprintf(out, " + maxpool %%%d (pooled in its tasks)", gr->pool);
        if (gr && gr->embed >= 0)
            fprintf(out, n->op == OP_recurrent_grad ? " + embed_grad %%%d (the table's gradient, per-id sums)"
                                                    : " + embed %%%d (input projections from a vocab-row table)",
                    gr->embed);
        if (in->variant == VARIANT_EMBED_TABLE && !(gr && gr->embed >= 0))
            fputs(" (over a frozen embed: no dx)", out);
        if (n->op == OP_cross_entropy)
            fputs(" (softmax + cross-entropy, one kernel)", out);
        if (in->variant == VARIANT_THROUGH_RELU)
            fputs(" + relu gradient (one pass)", out);
        if (in->variant == VARIANT_PARAMS_ONLY)
            fputs(" (parameter gradients only)", out);
        if (in->alias_of >= 0)
            fprintf(out, " = %%%d (alias, no copy)", in->alias_of);
        if (in->loss_coef != 0)
            fprintf(out, " (loss weight %g)", in->loss_coef);
        if (n->writes_grad)
            fputs(" (into the gradient block)", out);
        fprintf(out, "  # %s\n", n->name ? n->name : "");
    }
    fputs("}\n", out);
}
