/* sema_internal.h — what the two halves of sema share: model semantics
 * (sema.c: names, values, layer expansion, op building) and train-block
 * semantics (sema_train.c: sources, optimizers, losses and steps).
 * Not used outside sema. */
#ifndef SEMA_INTERNAL_H
#define SEMA_INTERNAL_H

#include "compiler.h"

/* Per-sample tensors larger than this are refused: the batch multiplies it
 * and offsets must stay far from overflow. */
#define MAX_ELEMS ((int64_t)1 << 40)
#define MAX_DIM ((int64_t)INT32_MAX)
#define MAX_REPEAT 4096
#define MAX_LAYER_DEPTH 64

typedef enum VKind {
    V_POISON, /* an error was reported; everything built on it stays quiet */
    V_INT, V_FLOAT, V_BOOL, V_STRING, V_TENSOR, V_LIST,
} VKind;

typedef struct Value {
    VKind kind;
    int64_t i;
    double f;
    const char *s;
    uint32_t node; /* V_TENSOR: node index in the current graph */
    struct Value *items;
    int nitems;
} Value;

typedef struct Binding {
    const char *name;
    Value v;
    Span span;
    struct Binding *next;
    struct Binding *hnext; /* the next binding in the same bucket of the scope's index */
} Binding;

/* Bindings, newest first. A scope that grows past a few dozen names (the
 * globals of a file with 50k consts) also keeps a hash index of them, so
 * lookup stays constant time and the front end linear. */
typedef struct Scope {
    Binding *head;
    struct Scope *parent;
    Binding **index;      /* NULL until the scope holds SCOPE_INDEX_AFTER names */
    uint32_t index_cap;   /* buckets, a power of two */
    uint32_t count;
} Scope;

typedef struct NameCount {
    const char *key; /* prefix + callee */
    int count;
    struct NameCount *next;
} NameCount;

typedef struct UsedName {
    const char *name;
    Span span;
    struct UsedName *next;
} UsedName;

typedef struct Sema {
    Compiler *c;
    Graph *g;
    Scope globals;
    Scope decl_names;       /* layers and models by name: .i their index in `seen`,
                             * .nitems in the file's declarations */
    const char *prefix;     /* "" in a model body, "block1." inside a layer call */
    NameCount *counts;      /* derived-name counters of the current graph */
    UsedName *used[1024];   /* layer-call names taken in the current graph, by hash:
                             * a 100k-stage chain must not be quadratic */
    const Ast *stack[MAX_LAYER_DEPTH]; /* user layers being expanded */
    int depth;
    bool allow_model_calls; /* train-step losses call models */
    uint32_t deferred_input; /* `real` whose shape the first model call fixes */
    bool has_deferred;
    Ast **layers, **models;
    int nlayers, nmodels;
} Sema;

/* An argument bound to a signature slot. */
typedef struct Bound {
    Value v;
    Span span;
    bool set;
    Value *many; /* ARG_TENSORS / ARG_INTS collect several */
    int nmany;
} Bound;

static inline Value tensor_value(uint32_t node) { Value v = { .kind = V_TENSOR, .node = node }; return v; }
static inline bool is_number(const Value *v) { return v->kind == V_INT || v->kind == V_FLOAT; }
static inline double number_of(const Value *v) { return v->kind == V_INT ? (double)v->i : v->f; }
static inline Node *node_at(Sema *s, uint32_t i) { return &s->g->nodes[i]; }

uint32_t sema_add_input(Sema *s, const char *name, DType dt, Shape sh, Span at);
void sema_begin_graph(Sema *s, const char *name, Span at);
void sema_bind(Sema *s, Scope *sc, const char *name, Value v, Span at);
bool sema_bind_args(Sema *s, Scope *sc, const Ast *call, const char *callee, const ArgSpec *args, int nargs,
                    const Value *piped, Span piped_span, Bound *slots);
Value sema_build_op(Sema *s, Op op, const uint32_t *data, int ndata, Attr *attrs, const char *call_text,
                    const char *name, Span at);
const char *sema_describe(Sema *s, const Value *v);
Value sema_eval(Sema *s, Scope *sc, const Ast *e);
int sema_model_graph(Sema *s, const char *name);

/* Checks one train block and appends its TrainSpec (sema_train.c). */
void sema_train(Sema *s, const Ast *t);

#endif
