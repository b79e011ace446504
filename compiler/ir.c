/* ir.c — the graph IR: the op table parsed from ops.def, graph and
 * parameter construction, type strings and the -dS dump.
 * Requires nothing but the arena. */
#include "compiler.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

OpInfo ir_ops[OP_COUNT] = {
#define OP(name, kind, flags, act, sig) [OP_##name] = { #name, OPK_##kind, flags, RT_ACT_##act, sig, 0, {{0}} },
#include "ops.def"
#undef OP
};

static const char *skip_space(const char *p)
{
    while (*p == ' ')
        p++;
    return p;
}

static const char *read_word(const char *p, char *out, size_t max)
{
    size_t n = 0;
    while (isalnum((unsigned char)*p) || *p == '_' || *p == '.' || *p == '-' || *p == '"') {
        if (n + 1 < max)
            out[n++] = *p;
        p++;
    }
    out[n] = '\0';
    return p;
}

/* "x: tensor, units: int, bias: bool = true" -> ArgSpecs. The strings are
 * ours (ops.def and the train-block tables), so a malformed one is a bug. */
bool ir_parse_signature(const char *sig, ArgSpec *args, int *nargs, int max)
{
    static const struct { const char *name; ArgKind kind; } kinds[] = {
        { "tensor", ARG_TENSOR }, { "tensors", ARG_TENSORS }, { "operand", ARG_OPERAND },
        { "int", ARG_INT }, { "ints", ARG_INTS }, { "float", ARG_FLOAT }, { "bool", ARG_BOOL },
        { "string", ARG_STRING }, { "padding", ARG_PADDING },
    };
    int n = 0;
    const char *p = skip_space(sig);
    while (*p) {
        char name[64], kind[64], dflt[64];
        if (n == max)
            return false;
        p = skip_space(read_word(p, name, sizeof name));
        if (*p++ != ':')
            return false;
        p = skip_space(read_word(skip_space(p), kind, sizeof kind));
        ArgSpec *a = &args[n++];
        memset(a, 0, sizeof *a);
        a->name = strdup(name);
        if (!a->name)
            die("out of memory");
        bool found = false;
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
            if (strcmp(kinds[k].name, kind) == 0) {
                a->kind = kinds[k].kind;
                found = true;
            }
        if (!found)
            return false;
        if (*p == '=') {
            p = skip_space(read_word(skip_space(p + 1), dflt, sizeof dflt));
            a->has_default = true;
            if (strcmp(dflt, "true") == 0 || strcmp(dflt, "false") == 0)
                a->dint = dflt[0] == 't';
            else if (dflt[0] == '"') {
                size_t l = strlen(dflt);
                if (l < 2)
                    return false;
                dflt[l - 1] = '\0';
                a->dstr = strdup(dflt + 1);
                if (strcmp(a->dstr, "same") == 0)
                    a->dint = PAD_SAME;
            } else {
                a->dfloat = strtod(dflt, NULL);
                a->dint = strtoll(dflt, NULL, 10);
            }
        }
        if (*p == ',')
            p = skip_space(p + 1);
        else if (*p)
            return false;
    }
    *nargs = n;
    return true;
}

/* The parsed strings live for the process: the table is built once and is
 * shared by every compilation in it. */
void ir_ops_init(void)
{
    static bool done;
    if (done)
        return;
    for (int op = 0; op < OP_COUNT; op++) {
        OpInfo *info = &ir_ops[op];
        if (!ir_parse_signature(info->signature, info->args, &info->nargs,
                                (int)(sizeof info->args / sizeof info->args[0])))
            die("malformed signature of op %s: \"%s\"", info->name, info->signature);
    }
    done = true;
}

Graph *ir_new_graph(Compiler *c, const char *name, Span at)
{
    Program *p = c->prog;
    ARENA_RESERVE(c->arena, p->graphs, p->ngraphs, p->graphs_cap, 8);
    Graph *g = &p->graphs[p->ngraphs++];
    memset(g, 0, sizeof *g);
    g->name = name;
    g->span = at;
    return g;
}

uint32_t ir_add_node(Compiler *c, Graph *g, const Node *n)
{
    /* from 8: a file may hold thousands of small models (20,000 models of
     * 4 nodes: 88 MB of node arrays from 32) */
    ARENA_RESERVE(c->arena, g->nodes, g->nnodes, g->cap, 8);
    g->nodes[g->nnodes] = *n;
    return g->nnodes++;
}

uint32_t ir_add_param(Compiler *c, const Param *prm)
{
    Program *p = c->prog;
    ARENA_RESERVE(c->arena, p->params, p->nparams, p->params_cap, 32);
    p->params[p->nparams] = *prm;
    return p->nparams++;
}

int ir_arg_index(Op op, const char *name)
{
    const OpInfo *info = &ir_ops[op];
    for (int i = 0; i < info->nargs; i++)
        if (strcmp(info->args[i].name, name) == 0)
            return i;
    return -1;
}

int ir_tensor_args(Op op)
{
    int n = 0;
    for (int i = 0; i < ir_ops[op].nargs; i++)
        n += ir_ops[op].args[i].kind == ARG_TENSOR || ir_ops[op].args[i].kind == ARG_OPERAND;
    return n;
}

const Attr *ir_attr(const Node *n, const char *name)
{
    const OpInfo *info = &ir_ops[n->op];
    for (int i = 0; i < info->nargs; i++)
        if (strcmp(info->args[i].name, name) == 0)
            return &n->attrs[i];
    die("op %s has no argument '%s'", info->name, name);
}

const char *ir_base_name(Base b)
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

const char *ir_dtype_name(DType t)
{
    switch (t) {
    case DT_F32: return "f32";
    case DT_I32: return "i32";
    }
    unreachable();
}

const char *ir_type_str(Compiler *c, DType t, const Shape *s)
{
    char buf[256];
    size_t n = (size_t)snprintf(buf, sizeof buf, "%s[", ir_dtype_name(t));
    for (int i = 0; i < s->rank; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%lld", i ? ", " : "", (long long)s->dim[i]);
    snprintf(buf + n, sizeof buf - n, "]");
    return arena_strdup(c->arena, buf);
}

int64_t ir_shape_elems(const Shape *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++)
        n *= s->dim[i];
    return n;
}

bool ir_shape_eq(const Shape *a, const Shape *b)
{
    if (a->rank != b->rank)
        return false;
    for (int i = 0; i < a->rank; i++)
        if (a->dim[i] != b->dim[i])
            return false;
    return true;
}

static void dump_shape(FILE *out, DType t, const Shape *s)
{
    fprintf(out, "%s[", ir_dtype_name(t));
    for (int i = 0; i < s->rank; i++)
        fprintf(out, "%s%lld", i ? ", " : "", (long long)s->dim[i]);
    fputc(']', out);
}

static void dump_attrs(FILE *out, const Node *n)
{
    const OpInfo *info = &ir_ops[n->op];
    int k = 0;
    for (int i = 0; i < info->nargs; i++) {
        const ArgSpec *a = &info->args[i];
        const Attr *at = &n->attrs[i];
        if (a->kind == ARG_TENSOR || a->kind == ARG_TENSORS || (a->kind == ARG_OPERAND && !at->is_number))
            continue;
        fprintf(out, "%s%s=", k++ ? ", " : " {", a->name);
        switch (a->kind) {
        case ARG_INT: fprintf(out, "%lld", (long long)at->i); break;
        case ARG_BOOL: fputs(at->i ? "true" : "false", out); break;
        case ARG_FLOAT: case ARG_OPERAND: fprintf(out, "%g", at->f); break;
        case ARG_STRING: fprintf(out, "\"%s\"", at->s); break;
        case ARG_PADDING:
            if (at->i == PAD_SAME)
                fputs("\"same\"", out);
            else if (at->i == PAD_VALID)
                fputs("\"valid\"", out);
            else
                fprintf(out, "%lld", (long long)at->i);
            break;
        case ARG_INTS:
            for (int j = 0; j < at->nints; j++)
                fprintf(out, "%s%lld", j ? "x" : "", (long long)at->ints[j]);
            break;
        case ARG_TENSOR: case ARG_TENSORS: break;
        }
    }
    if (k)
        fputc('}', out);
}

void ir_dump_graph(FILE *out, const Program *p, const Graph *g)
{
    fprintf(out, "graph %s {\n", g->name);
    for (uint32_t i = 0; i < g->nnodes; i++) {
        const Node *n = &g->nodes[i];
        fprintf(out, "  %%%u = ", i);
        dump_shape(out, n->dtype, &n->shape);
        fprintf(out, " %s", ir_ops[n->op].name);
        if (n->op == OP_param)
            fprintf(out, " \"%s\"%s", p->params[n->param].name, p->params[n->param].trainable ? "" : " (state)");
        else if (n->op == OP_input)
            fprintf(out, " \"%s\"", n->name);
        else if (n->op == OP_model_call)
            fprintf(out, " @%s", p->graphs[n->model].name);
        for (int j = 0; j < n->ninputs; j++)
            fprintf(out, "%s%%%u", j ? ", " : " ", n->inputs[j]);
        if (n->attrs)
            dump_attrs(out, n);
        if (n->name && n->op != OP_input)
            fprintf(out, "  # %s", n->name);
        fputc('\n', out);
    }
    if (g->has_output)
        fprintf(out, "  return %%%u\n", g->output);
    fputs("}\n", out);
}

void ir_dump(FILE *out, const Program *p)
{
    for (int i = 0; i < p->ngraphs; i++)
        ir_dump_graph(out, p, &p->graphs[i]);
}

static uint32_t model_hash(const char *name)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *q = (const unsigned char *)name; *q; q++)
        h = (h ^ *q) * 16777619u;
    return h;
}

int ir_find_model(Compiler *c, const char *name)
{
    Program *p = c->prog;
    if (!p->model_slots_cap) {
        uint32_t cap = 16;
        while (cap < 2u * (uint32_t)p->nmodels + 1)
            cap *= 2;
        p->model_slots = arena_alloc(c->arena, sizeof *p->model_slots * cap);
        for (uint32_t i = 0; i < cap; i++)
            p->model_slots[i] = -1;
        p->model_slots_cap = cap;
        for (int m = 0; m < p->nmodels; m++) {
            uint32_t k = model_hash(p->graphs[m].name) & (cap - 1);
            while (p->model_slots[k] >= 0)
                k = (k + 1) & (cap - 1);
            p->model_slots[k] = m;
        }
    }
    for (uint32_t k = model_hash(name) & (p->model_slots_cap - 1); p->model_slots[k] >= 0;
         k = (k + 1) & (p->model_slots_cap - 1))
        if (!strcmp(p->graphs[p->model_slots[k]].name, name))
            return p->model_slots[k];
    return -1;
}

bool batchnorm_frozen(const Program *p, const Graph *g, const Node *n)
{
    if (n->op != OP_batchnorm || n->ninputs < 5)
        return false;
    const Node *mean = &g->nodes[n->inputs[3]];
    return mean->op == OP_param && p->params[mean->param].frozen;
}
