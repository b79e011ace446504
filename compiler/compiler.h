/* compiler.h — the compiler's internals: arena, diagnostics, AST, graph IR,
 * and the passes' entry points. Exported names carry their module's prefix:
 * arena_, diag_, ast_, sema_, ir_, shape_, summary_, graph_, driver_.
 */
#ifndef COMPILER_H
#define COMPILER_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The runtime's enums (rt_act, rt_init, rt_opt_kind, ...) are the
 * compiler's too: no mirrored copies. */
#include "netrt.h"

#define MAX_RANK 6

/* Internal bugs, never user errors (QBE's die_, chibicc's unreachable). */
_Noreturn void die_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define die(...) die_at(__FILE__, __LINE__, __VA_ARGS__)
#define unreachable() die_at(__FILE__, __LINE__, "unreachable")

/* ---------------------------------------------------------------- arena */

/* One arena per compilation; everything a compilation makes lives in it and
 * goes with arena_free. Allocation never fails silently: out of memory dies. */
typedef struct Arena Arena;
Arena *arena_new(void);
void arena_free(Arena *a);
void *arena_alloc(Arena *a, size_t size);          /* zeroed, 16-aligned */
char *arena_strdup(Arena *a, const char *s);
char *arena_strndup(Arena *a, const char *s, size_t n);
char *arena_printf(Arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A growable array in the arena: old storage is abandoned, not freed. */
void *arena_grow(Arena *a, void *old, size_t old_count, size_t new_count, size_t elem);
/* Room for items[n] in a growable array of cap items: doubles it when
 * full, from `first` items. */
#define ARENA_RESERVE(arena, items, n, cap, first)                                        \
    do {                                                                                  \
        if ((n) == (cap)) {                                                               \
            size_t old_cap_ = (size_t)(cap);                                              \
            (cap) = (cap) ? (cap) * 2 : (first);                                          \
            (items) = arena_grow((arena), (items), old_cap_, (size_t)(cap), sizeof *(items)); \
        }                                                                                 \
    } while (0)

/* ---------------------------------------------------------- diagnostics */

/* A span of source: byte offsets [begin, end) in the one source file. */
typedef struct Span {
    uint32_t begin, end;
} Span;

typedef struct Source {
    const char *path; /* as given on the command line */
    const char *text; /* NUL-terminated copy of the whole file */
    size_t len;       /* bytes, excluding the terminating NUL */
    /* the offset where each line begins, line_starts[0] = 0 (compiler_init
     * makes them; NULL: diag_line_col scans from the start) */
    const uint32_t *line_starts;
    uint32_t nlines;
} Source;

typedef struct Diag {
    const Source *src;
    FILE *out;
    int errors;
    int warnings;
    int max_errors; /* stop reporting after this many (the run still fails) */
    bool color;
} Diag;

void diag_init(Diag *d, const Source *src, FILE *out);
/* `file:line:col: error: message`, the source line, and a caret span. */
void diag_error(Diag *d, Span at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void diag_warning(Diag *d, Span at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void diag_note(Diag *d, Span at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* An error with no place in the source (file-level problems). */
void diag_file_error(Diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void diag_line_col(const Source *src, uint32_t offset, int *line, int *col);
Span span_join(Span a, Span b);
/* The closest of `candidates` to `name` by edit distance, or NULL if none is
 * close enough to suggest ("did you mean ...?"). */
const char *diag_suggest(const char *name, const char *const *candidates, int n);

/* ------------------------------------------------------------------ AST */

typedef enum AstKind {
    /* expressions */
    AST_INT,      /* ival */
    AST_FLOAT,    /* fval */
    AST_STRING,   /* str (unescaped) */
    AST_BOOL,     /* ival 0/1 */
    AST_NAME,     /* name */
    AST_CALL,     /* name(args); label if `label: name(...)` */
    AST_BINARY,   /* lhs op rhs, op in + - * / */
    AST_NEG,      /* -lhs */
    AST_CHAIN,    /* list[0] -> list[1] -> ...; stages are AST_NAME, AST_CALL or AST_REPEAT */
    AST_REPEAT,   /* repeat lhs rhs: rhs is the stage (name or call) applied lhs times */
    AST_LIST,     /* [list...] */
    AST_KWARG,    /* name = lhs, in call arguments */
    /* types */
    AST_TYPE,     /* name (f32, i32, int, float, bool, string); list = dims if has_dims */
    /* statements */
    AST_LET,      /* name = lhs */
    AST_RETURN,   /* return lhs */
    AST_EXPR,     /* lhs */
    /* declarations */
    AST_PARAM,    /* name: type [= lhs] */
    AST_MODEL,    /* model name(params) [-> type] { body } */
    AST_LAYER,    /* layer name(params) [-> type] { body } */
    AST_CONST,    /* const name = lhs */
    AST_TRAIN,    /* train name { items } */
    AST_ITEM,     /* key value: name = key, lhs = value */
    AST_STEP,     /* key target { items }: name = key ("step"), label = model */
    AST_AUGMENT,  /* key { list of expressions } */
    AST_INIT,     /* key source { body }: `init from("a.safetensors") { map, freeze, fresh }`; lhs = source call */
    AST_MAP,      /* lhs <- rhs in an init block: patterns (AST_NAME or AST_STRING) */
} AstKind;

typedef struct Ast Ast;
typedef struct AstList {
    Ast **items;
    int count;
} AstList;

struct Ast {
    AstKind kind;
    Span span;
    const char *name;  /* NAME, CALL callee, KWARG key, LET, PARAM, decl names, ITEM key */
    const char *label; /* CALL label; STEP model name */
    Span name_span;    /* where `name` is written */
    Span label_span;
    Ast *lhs, *rhs;
    Ast *type;         /* PARAM type, MODEL/LAYER return type (may be NULL) */
    AstList list;      /* CALL args, CHAIN stages, LIST items, TYPE dims, decl params, TRAIN items */
    AstList body;      /* MODEL/LAYER statements, STEP/AUGMENT items */
    int64_t ival;
    double fval;
    const char *str;
    char op;           /* BINARY */
    bool has_dims;     /* TYPE */
    int depth;         /* expression nesting depth, bounded by the parser */
};

typedef struct Program Program;

/* A whole compilation: one arena, one source, its diagnostics, the AST and
 * the IR made from it. */
typedef struct Compiler {
    Arena *arena;
    Source src;
    Diag diag;
    AstList decls; /* top-level declarations, in source order */
    Program *prog;
    bool too_deep; /* the nesting error was reported once */
    const char *dumps; /* -d letters: passes print what they made to dump_out */
    FILE *dump_out;
    /* autodiff refused a train block's loss (its form, not a missing
     * gradient rule): an error of the file, which `check` reports too */
    bool loss_refused;
} Compiler;

/* Builders called from grammar actions (one line each in netc.y). */
Ast *ast_new(Compiler *c, AstKind kind, Span span);
Ast *ast_int(Compiler *c, Span at, const char *text);
Ast *ast_float(Compiler *c, Span at, const char *text);
Ast *ast_string(Compiler *c, Span at, const char *text);
Ast *ast_bool(Compiler *c, Span at, bool v);
Ast *ast_name(Compiler *c, Span at, const char *name);
Ast *ast_call(Compiler *c, Span at, Ast *callee, AstList args);
Ast *ast_label(Compiler *c, Span at, Ast *label, Ast *call);
Ast *ast_binary(Compiler *c, Span at, char op, Ast *lhs, Ast *rhs);
Ast *ast_neg(Compiler *c, Span at, Ast *e);
Ast *ast_chain(Compiler *c, Span at, Ast *chain, Ast *stage);
Ast *ast_repeat(Compiler *c, Span at, Ast *count, Ast *stage);
Ast *ast_list_expr(Compiler *c, Span at, AstList items);
Ast *ast_kwarg(Compiler *c, Span at, Ast *key, Ast *value);
Ast *ast_type(Compiler *c, Span at, Ast *name, bool has_dims, AstList dims);
Ast *ast_let(Compiler *c, Span at, Ast *name, Ast *value);
Ast *ast_return(Compiler *c, Span at, Ast *value);
Ast *ast_expr_stmt(Compiler *c, Ast *e);
Ast *ast_param(Compiler *c, Span at, Ast *name, Ast *type, Ast *dflt);
Ast *ast_model(Compiler *c, AstKind kind, Span at, Ast *name, AstList params, Ast *ret, AstList body);
Ast *ast_const(Compiler *c, Span at, Ast *name, Ast *value);
Ast *ast_train(Compiler *c, Span at, Ast *name, AstList items);
Ast *ast_item(Compiler *c, Span at, Ast *key, Ast *value);
Ast *ast_step(Compiler *c, Span at, Ast *key, Ast *target, AstList items);
Ast *ast_augment(Compiler *c, Span at, Ast *key, AstList items);
Ast *ast_init(Compiler *c, Span at, Ast *key, Ast *source, AstList items);
Ast *ast_map(Compiler *c, Span at, Ast *dst, Ast *src);
AstList ast_list_new(void);
AstList ast_list_push(Compiler *c, AstList l, Ast *item);
void ast_dump(FILE *out, const AstList *decls);

/* Parses c->src into c->decls; reports syntax errors to c->diag. */
bool parse_source(Compiler *c);

/* ------------------------------------------------------------- graph IR */

typedef enum OpKind { OPK_SURFACE, OPK_INTERNAL, OPK_BACKWARD } OpKind;

/* The sets of ops the passes ask about: ops.def's flags column says what
 * each one means. */
typedef enum OpFlag {
    OPF_ELEMENTWISE = 1 << 0,
    OPF_ACTIVATION = 1 << 1,
    OPF_LOSS = 1 << 2,
    OPF_COMPANION = 1 << 3,
    OPF_RECURRENT = 1 << 4,
    OPF_VIEW = 1 << 5,
    OPF_GRAD_OF_X = 1 << 6,
    OPF_EXACT_INLINE = 1 << 7,
} OpFlag;

typedef enum Op {
#define OP(name, kind, flags, act, sig) OP_##name,
#include "ops.def"
#undef OP
    OP_COUNT
} Op;

typedef enum DType { DT_F32, DT_I32 } DType;

/* One sample's shape: the batch dimension is implicit everywhere. */
typedef struct Shape {
    int rank;
    int64_t dim[MAX_RANK];
} Shape;

/* Kinds of op arguments, from the signature strings of ops.def. */
typedef enum ArgKind {
    ARG_TENSOR, ARG_TENSORS, ARG_OPERAND, ARG_INT, ARG_INTS, ARG_FLOAT, ARG_BOOL,
    ARG_STRING, ARG_PADDING,
} ArgKind;

typedef struct ArgSpec {
    const char *name;
    ArgKind kind;
    bool has_default;
    int64_t dint; /* default of int/bool/padding */
    double dfloat;
    const char *dstr;
} ArgSpec;

typedef struct OpInfo {
    const char *name;
    OpKind kind;
    unsigned flags;       /* OpFlag */
    rt_act act;           /* OPF_ACTIVATION: the runtime's activation */
    const char *signature;
    int nargs;
    ArgSpec args[10];
} OpInfo;

/* Parsed op table, filled once (ir_ops_init) and read-only after. */
extern OpInfo ir_ops[OP_COUNT];
void ir_ops_init(void);
static inline bool ir_op_is(Op op, unsigned flags) { return (ir_ops[op].flags & flags) != 0; }
/* The index of a signature argument by name, or -1 if the op has none. */
int ir_arg_index(Op op, const char *name);
/* The op's tensor arguments (its data inputs unless variadic). */
int ir_tensor_args(Op op);
bool ir_parse_signature(const char *sig, ArgSpec *args, int *nargs, int max);

/* A non-tensor argument as an op keeps it. */
typedef struct Attr {
    int64_t i;       /* int, bool, padding (-1 for "same", -2 for "valid") */
    double f;        /* float, operand number */
    const char *s;   /* string */
    int64_t *ints;   /* ints */
    int nints;
    bool is_number;  /* operand given as a number (bce(z, 1)) */
} Attr;

#define PAD_SAME (-1)
#define PAD_VALID (-2)

/* A trainable tensor (or a running statistic when !trainable). */
typedef struct Param {
    const char *name; /* stable: "fc1.weight", "block1.0.attention1.qkv_weight" */
    Shape shape;
    rt_init init;
    int64_t fan_in, fan_out;
    bool trainable;   /* false for running statistics and frozen parameters */
    bool frozen;      /* loaded by `init from` and never trained */
    const char *init_from; /* the checkpoint tensor it starts from (init from), or NULL */
    Span span;        /* the layer call that owns it */
} Param;

/* Data inputs one node may have (concat's are variadic): sema refuses more
 * with a message, and every pass sizes its per-node arrays by it. */
#define MAX_DATA_INPUTS 64

/* A node of the graph IR: an SSA value with a static shape. Inputs refer to
 * earlier nodes by index (topological order). For layers, the inputs are
 * the data inputs followed by the parameter nodes the layer owns. */
typedef struct Node {
    Op op;
    DType dtype;
    Shape shape;
    uint32_t *inputs;
    int ninputs;
    int ndata;          /* inputs[0..ndata) are data, the rest parameters */
    Attr *attrs;        /* one per signature argument that is not a tensor */
    const char *name;   /* "dense1", "block1.0.relu1"; inputs: their name */
    uint32_t param;     /* OP_param: index into the program's params */
    uint32_t model;     /* OP_model_call: index into the program's graphs */
    Span span;          /* the source it came from */
    bool unbatched;     /* parameters and their gradients: no batch dimension */
    bool writes_grad;   /* a parameter gradient: it lands in the gradient block at `param` */
} Node;

typedef struct Graph {
    const char *name;
    Span span;
    Node *nodes;
    uint32_t nnodes, cap;
    uint32_t *inputs; /* node indices of OP_input nodes, in signature order */
    int ninputs;
    uint32_t output;  /* node index of the result (loss graphs: the loss) */
    bool has_output;
    uint32_t *params; /* program param indices this graph uses */
    int nparams;
} Graph;

typedef struct DataSpec {
    rt_source_kind kind;
    const char *path, *labels;
    double scale, shift;
    int64_t label_column, size, seq;
    bool header;
    Span span;
} DataSpec;

typedef struct OptSpec {
    rt_opt_kind kind;
    double lr, momentum, beta1, beta2, eps, alpha, weight_decay;
    bool nesterov;
    Span span;
} OptSpec;

typedef struct SchedSpec {
    rt_sched_kind kind;
    int64_t warmup, every;
    double gamma, min_lr;
} SchedSpec;

typedef struct AugSpec {
    rt_aug_kind kind;
    double a, b;
    Span span;
} AugSpec;

/* One optimisation step of a train block: a loss graph and its optimizer.
 * A plain train block has one step whose loss is `loss(model(x), labels)`. */
typedef struct StepSpec {
    const char *model;  /* the model whose parameters this step updates */
    uint32_t graph;     /* loss graph index in the program */
    OptSpec opt;
    SchedSpec sched;    /* its own schedule when has_sched, else the block's */
    bool has_sched;
    double clip;        /* its own clipping norm, 0: the block's */
    Span span;
} StepSpec;

/* `init from(FILE) { ... }` of a train block (transfer.c): the parameters'
 * init_from and frozen say what it maps; this is the file and what its
 * header holds (no tensors when it was not found at compile time). */
typedef struct InitSpec {
    const char *path;          /* as written */
    const char *resolved;      /* the file read, or NULL */
    Span span, from_span;
    int model;                 /* graph index */
    struct rt_tensor_info *tensors;
    const char **tnames;
    bool *tused;               /* some parameter loads it */
    int ntensors;
} InitSpec;

typedef struct TrainSpec {
    const char *name;
    Span span;
    DataSpec data, test;
    int64_t batch, epochs, steps, seed;
    double clip;
    SchedSpec sched;
    AugSpec *aug;
    int naug;
    int64_t noise_dim;
    bool noise_uniform;
    StepSpec *steps_list;
    int nsteps;
    DataSpec val;             /* a validation file (kind SRC_NONE when none) */
    double val_fraction;      /* or the held-out fraction of data, 0 for none */
    int64_t eval_every, stop_after;
    bool monitor_accuracy;    /* monitor val_accuracy (else val_loss) */
    InitSpec *init;            /* NULL without an init block */
    bool free_form;    /* step blocks, or a loss written over model calls: lowered as steps */
} TrainSpec;

struct Program {
    Graph *graphs; /* models first (in source order), then loss graphs */
    int ngraphs, nmodels, graphs_cap;
    Param *params;
    uint32_t nparams, params_cap;
    TrainSpec *trains;
    int ntrains;
    int *model_slots;         /* open-addressed index of the models by name (ir_find_model) */
    uint32_t model_slots_cap; /* a power of two, 0 until the first lookup */
};

Graph *ir_new_graph(Compiler *c, const char *name, Span at);
/* The index of the model named name, or -1; constant time, so a pass that
 * looks up every model of a 20k-model file stays linear. Call only after
 * sema has declared every model. */
int ir_find_model(Compiler *c, const char *name);
uint32_t ir_add_node(Compiler *c, Graph *g, const Node *n);
uint32_t ir_add_param(Compiler *c, const Param *p);
const char *ir_dtype_name(DType t);
/* A node's attribute by its signature name (compile-time lookup). */
const Attr *ir_attr(const Node *n, const char *name);
/* A batchnorm node of g whose running statistics are frozen (init from
 * ... { freeze bn }): it normalises with them in training too. */
bool batchnorm_frozen(const Program *p, const Graph *g, const Node *n);
/* "f32[64, 7, 7]"; into an arena string. */
const char *ir_type_str(Compiler *c, DType t, const Shape *s);
int64_t ir_shape_elems(const Shape *s);
bool ir_shape_eq(const Shape *a, const Shape *b);
void ir_dump(FILE *out, const Program *p);
void ir_dump_graph(FILE *out, const Program *p, const Graph *g);

/* ---------------------------------------------------------------- passes */

/* Resolves names, expands layers and repeats, folds dimensions and builds
 * the graph IR, calling each op's shape rule as it goes (parameter shapes
 * and a user layer's named dimensions depend on the shapes of its inputs).
 * Reports every error it can recover from. */
bool sema_run(Compiler *c);

/* The shape rules, one per op: given the node's data inputs and attrs, sets
 * its output shape and dtype and declares the parameters it owns. On a user
 * error writes a message (the text after "error: ") into err and returns
 * false. */
typedef struct ShapeParamDecl {
    const char *suffix; /* "weight", "bias", ... */
    Shape shape;
    rt_init init;
    int64_t fan_in, fan_out;
    bool trainable;
} ShapeParamDecl;

/* The most values one layer output (per sample) or one parameter may
 * hold: every size formed from them fits an int (see shape_infer). */
#define SHAPE_MAX_VALUES ((int64_t)INT32_MAX)

typedef struct ShapeCtx {
    Compiler *c;
    Op op;
    const char *call;       /* "dense(10)" as written, for messages */
    const Shape *in;        /* data input shapes */
    const DType *in_dtype;
    int nin;
    const Attr *attrs;      /* by signature position */
    Shape out;
    DType out_dtype;
    bool out_unbatched;     /* parameter gradients */
    ShapeParamDecl params[6];
    int nparams;
    char err[512];
    char warn[512];         /* a warning that does not stop compilation */
} ShapeCtx;

bool shape_infer(ShapeCtx *s);

/* Where a convolution or pooling window goes: TensorFlow's "same" puts the
 * odd padding pixel at the bottom and right. */
typedef struct ConvGeom {
    int64_t c, h, w, f, k, stride, dilation, groups;
    int64_t pad_top, pad_left, pad_bottom, pad_right, ho, wo;
} ConvGeom;
/* From a conv2d-like node's attrs (filters, kernel, stride, padding,
 * dilation, groups) and its input shape (C, H, W). */
ConvGeom shape_conv_geometry(const Node *n, const Shape *x);
/* A concat node's axis counted from 0 (its attr may count from the end). */
int shape_concat_axis(const Node *n);
/* Re-derives every node's shape from its rule and compares it with what the
 * node holds: the IR verifier run after sema and after later passes. */
bool shape_verify(Compiler *c, const Program *p);
bool shape_verify_graph(Compiler *c, const Program *p, const Graph *g);
/* Attribute of a signature argument by name (compile-time lookup). */
const Attr *shape_attr(const ShapeCtx *s, const char *name);

/* `netc check`'s table: one row per layer call, then totals. */
typedef struct Summary {
    int64_t params;        /* trainable or frozen */
    int64_t frozen;        /* of them, frozen by an init block */
    int64_t buffers;       /* running statistics */
    int64_t flops;         /* forward, per sample */
    int64_t activation_bytes;
} Summary;
int64_t summary_node_flops(const Program *p, const Graph *g, const Node *n);
int64_t summary_node_params(const Program *p, const Graph *g, const Node *n);
Summary summary_graph(const Program *p, const Graph *g);
void summary_print(FILE *out, Compiler *c, const Graph *g);
/* The planned memory of a model (it runs the passes to the LIR quietly),
 * for `netc check`; a line saying so if the code generator cannot. */
void summary_memory_report(FILE *out, Compiler *c, const char *model);
/* `netc check`'s plan of a train block of steps, step by step. */
void summary_train_report(FILE *out, Compiler *c, const TrainSpec *ts);

/* `init from(FILE) { maps; freeze ...; fresh ... }` of a one-model train
 * block (transfer.c): resolves the map against the model's parameters and
 * the checkpoint's header, reports what does not fit, marks Param.frozen
 * and Param.init_from, and sets ts->init. */
void transfer_spec(Compiler *c, TrainSpec *ts, const Ast *item, int model);
/* `netc check`'s report of a model's init block: loaded, frozen, fresh,
 * unused in the file, and the training FLOPs freezing saves. */
void transfer_report(FILE *out, Compiler *c, const char *model);

/* Graphviz dot of every model. */
void graph_dot(FILE *out, Compiler *c);

/* Reads a file into a NUL-terminated buffer; refuses files over the limit. */
#define SOURCE_MAX_BYTES (16u << 20)
bool source_load(Compiler *c, const char *path, FILE *errout);
/* Sets up a compilation of an in-memory text (tests). */
void compiler_init(Compiler *c, const char *path, const char *text, size_t len, FILE *diag_out);
void compiler_free(Compiler *c);
/* Front end: parse + sema + verify. true when no errors. */
bool compile_front(Compiler *c);


/* ------------------------------------------------------------- training */

/* A training graph: one step's loss graph with every model call inlined,
 * followed by the backward nodes autodiff appends (so execution order is
 * node order). The total loss is sum over loss ops of coef * (mean of the
 * op's per-sample loss over the batch). */
typedef struct TrainGraph {
    Graph *g;
    const TrainSpec *train;
    const StepSpec *step;
    int model;              /* the graph index of the model being trained */
    double *loss_coef;      /* per node: weight of a loss op, 0 for others */
    bool *combine;          /* per node: add/sub/scale of per-sample losses, never executed */
    uint32_t x_input, y_input, noise_input;
    bool has_y, has_noise;
} TrainGraph;

/* Inlines the step's model calls and appends the backward pass for the
 * trainable parameters of the step's model. */
bool autodiff_build(Compiler *c, const TrainSpec *ts, int step, TrainGraph *out);

/* Where a value lives when the step runs. */
typedef enum Base {
    BASE_NONE,   /* no storage: fused into another node, or not executed */
    BASE_ARENA,  /* the activation arena, per sample */
    BASE_PARAMS, /* the parameter block */
    BASE_GRADS,  /* the gradient block */
    BASE_X,      /* the batch of inputs */
    BASE_Y,      /* the batch of labels */
    BASE_OUT,    /* forward's output */
} Base;
/* A storage base's name ("arena", "params", ...; "-" for none), as the
 * dumps and the generated C's variables spell it. */
const char *ir_base_name(Base b);

/* Nodes that one kernel computes: a dense or conv2d (the anchor) and what
 * rides in it. fuse.c makes these records; plan.c and lower.c read them. */
typedef struct FusedGroup {
    uint32_t anchor;     /* the dense, conv2d, recurrent layer or its gradient whose kernel runs the group */
    int32_t act;         /* the activation in its epilogue, or -1 */
    int32_t fold_bn;     /* conv2d at inference: the batchnorm folded into its weights, or -1 */
    int32_t pool;        /* conv2d: the max-pool its tasks compute from its output, or -1 */
    int32_t embed;       /* rnn/lstm/gru: the embed whose rows it reads from the token ids itself;
                          * recurrent_grad: the embed_grad whose table gradient it writes; or -1 */
    bool keeps_preact;   /* the activation's gradient reads the pre-activation: the anchor's value is stored too */
} FusedGroup;

/* How fusion changed one op's own kernel call, beyond groups, loops and
 * aliases: one field for every such op-specific form, not a flag per op
 * on every node. */
typedef enum NodeVariant {
    VARIANT_PLAIN,         /* the call its lower_<op> makes */
    VARIANT_THROUGH_RELU,  /* maxpool_grad: also applies the ReLU gradient after it (that act_grad aliases it) */
    VARIANT_PARAMS_ONLY,   /* recurrent_grad read only by its parameter gradients: dx is neither computed nor stored */
    VARIANT_EMBED_TABLE,   /* recurrent_grad of a layer over an embed: the table's gradient instead of dx */
} NodeVariant;

/* What fusion and planning decide for one node of a unit. */
typedef struct NodeInfo {
    int32_t group;       /* -1, or the FusedGroup (Unit.groups) the node belongs to, as anchor or member */
    int32_t alias_of;    /* -1, or the node whose storage holds this value (reshape, eval dropout) */
    int32_t loop_into;   /* -1, or the elementwise node whose loop computes this value inline */
    bool dead;           /* not executed */
    NodeVariant variant; /* the form of its op's own kernel call fusion chose */
    double loss_coef;    /* loss ops: weight in the total loss */
    Base base;
    int64_t offset;      /* floats from the base; times the batch size for per-sample bases */
    int64_t floats;      /* per sample (or total when unbatched) */
    int64_t aux_floats;  /* per sample: arena storage the kernel needs besides the value (a recurrent */
    int64_t aux_offset;  /* layer's state, its gradient's working space), and where it is */
    int64_t work_offset; /* arena workspace the node's kernel uses only while it runs: */
    int64_t work_floats; /* per sample, 0 for none (attention's projections at inference) */
    uint32_t first, last;/* lifetime in node order */
    int users;
} NodeInfo;

/* One function to generate: the training step, or inference. */
typedef struct Unit {
    const char *name;       /* "train_step", "forward" */
    Graph *g;
    NodeInfo *info;
    FusedGroup *groups;     /* fuse.c's, indexed by NodeInfo.group */
    int ngroups;
    bool training;
    uint32_t x_node, y_node, out_node;
    uint32_t noise_node;    /* an input the step fills with its noise source (arena storage) */
    bool has_y, has_out, has_noise;
    bool noise_uniform;
    const Graph *trains;    /* training: the model whose parameters get gradients (NULL: all) */
    int64_t arena_floats;   /* per sample */
    int64_t scratch_floats; /* after the per-sample arena, not scaled by the batch: folded weights */
} Unit;

/* The parameter block: trainable tensors first, then running statistics. */
typedef struct ParamLayout {
    int64_t *offset;        /* per program param in [first, first + span): floats into
                             * the block, -1 if unused; read it with param_offset */
    uint32_t first, span;   /* the models' params only, so laying out each of many
                             * models (netc check's report) stays linear */
    uint32_t *order;        /* program param indices in block order */
    int n;
    int64_t total, trainable;
} ParamLayout;

/* Floats into the parameter block of program param pi, or -1 if the
 * layout's models do not use it. */
static inline int64_t param_offset(const ParamLayout *pl, uint32_t pi)
{
    return pi >= pl->first && pi - pl->first < pl->span ? pl->offset[pi - pl->first] : -1;
}

void layout_params(Compiler *c, const Graph *model, ParamLayout *pl);
/* Several models in one block (a GAN's G and D): each model's trainable
 * tensors contiguous, in the order given, then every running statistic;
 * range[m] (if not NULL) gets model m's trainable floats [begin, end). A
 * model listed twice gets its tensors at its first place. */
void layout_models(Compiler *c, const Graph *const *models, int n, ParamLayout *pl, int64_t (*range)[2]);
void unit_init(Compiler *c, Unit *u, Graph *g, const char *name, const TrainGraph *tg);
/* Marks activations that ride in a dense epilogue, aliases and dead nodes. */
void fuse_unit(Compiler *c, Unit *u);
void fuse_dump(FILE *out, const Unit *u);
/* The group node i anchors (runs in its kernel), or NULL. */
static inline const FusedGroup *unit_anchored(const Unit *u, uint32_t i)
{
    int32_t k = u->info[i].group;
    return k >= 0 && u->groups[k].anchor == i ? &u->groups[k] : NULL;
}
/* The anchor whose kernel computes node i, a member of its group; -1 if
 * i is no member (an anchor itself, or in no group). */
static inline int32_t unit_fused_into(const Unit *u, uint32_t i)
{
    int32_t k = u->info[i].group;
    return k >= 0 && u->groups[k].anchor != i ? (int32_t)u->groups[k].anchor : -1;
}
/* Assigns every value a base and offset: lifetimes -> one arena. */
void plan_unit(Compiler *c, Unit *u, const ParamLayout *pl);
/* An rnn, lstm or gru node as the runtime's recurrent kernels take it
 * (netrt.h's rt_recurrent): the kernels size its state and working space. */
struct rt_recurrent;
void plan_recurrent(const Graph *g, const Node *layer, struct rt_recurrent *r);
/* Where an attention kernel puts its projections qkv, its heads' output
 * ctx and the softmax probabilities, in floats per sample from the start
 * of the node's slot: in training after y (the backward pass reads them),
 * at inference in the node's workspace with no probabilities (nothing
 * outlives the kernel). Each part starts on a 16-float boundary. */
typedef struct AttentionParts {
    int64_t qkv, ctx, probs; /* probs < 0 at inference */
    int64_t floats;          /* the slot in training, the workspace at inference */
} AttentionParts;
AttentionParts plan_attention_parts(const Node *n, bool training);
/* What a forward node's arena slot holds in training, in floats per sample
 * from its start: its value, then the parts its backward reads, which
 * lowering addresses by these offsets (the forward writes them, the
 * gradient reads them): batchnorm and layernorm the mean and the 1/std
 * (of each channel, of each row), attention qkv, ctx and the softmax
 * probabilities (plan_attention_parts). Other ops: the value alone. A
 * batchnorm's statistics are per batch, not per sample: both start at
 * `elems` per sample, the second `fixed` floats (C) further, unscaled. */
typedef struct SlotLayout {
    int64_t part[3];        /* floats per sample */
    int64_t part_fixed[3];  /* and floats not scaled by the batch size */
    int nparts;
    int64_t floats; /* the whole slot */
} SlotLayout;
SlotLayout plan_slot(const Node *n);
/* The workspace of an attention_grad, per sample (rt_attention_backward's
 * `work`: the gradients of qkv and ctx). */
int64_t plan_attention_grad_work(const Node *n);
void plan_dump(FILE *out, const Unit *u);

/* ------------------------------------------------------------------ LIR */

/* A pointer: base + offset floats, the offset scaled by the batch size for
 * per-sample storage. */
typedef struct LPtr {
    Base base;
    int64_t offset;
    bool per_sample;
} LPtr;

typedef enum LArgKind {
    LA_PTR,    /* ptr, plus i floats not scaled by the batch size */
    LA_NULL,
    LA_INT,    /* i + i_batch * batch */
    LA_FLOAT,  /* f, divided by the batch size when f_div_batch */
    LA_BOOL, LA_ACT,
    LA_SEED,   /* the step's seed mixed with a per-node salt (i) */
    LA_EPILOGUE,
    LA_STRUCT, /* a pointer to a constant struct `type` with fields[k] = vals[k] (geometry of conv, pool) */
    LA_POS,    /* the step function's position (int64_t pos) */
} LArgKind;

typedef struct LArg {
    LArgKind kind;
    bool ints;      /* LA_PTR: the pointer is to int32 values (token ids), whatever its base holds */
    bool f_div_batch;
    bool has_bias, has_preact;
    /* one member a kind: an argument is 72 bytes, not 168 (a deep model's
     * LIR holds millions) */
    union {
        struct {        /* LA_PTR, LA_INT, LA_FLOAT, LA_BOOL, LA_ACT, LA_SEED */
            LPtr ptr;
            int64_t i, i_batch;
            double f;
        };
        struct {        /* LA_EPILOGUE */
            LPtr bias, preact;
            int act;    /* rt_act value */
            double alpha;
        };
        struct {        /* LA_STRUCT */
            const char *type;
            const char *const *fields;
            const int64_t *vals;
            int nvals;
        };
    };
} LArg;

typedef enum LExprKind { LE_LOAD, LE_CONST, LE_ADD, LE_SUB, LE_MUL, LE_ACT } LExprKind;

/* Elementwise expressions of a fused loop over i in [0, n * batch). A load
 * with period > 0 broadcasts: with c > 0 (the loop's values per sample) it
 * reads p[(i / c) * period + i % period] (a row repeated within each
 * sample); with c = 0, p[i % period] (a parameter, one copy for the whole
 * batch). */
typedef struct LExpr {
    LExprKind kind;
    LPtr ptr;
    int64_t period;
    double c;
    int act;
    double alpha;
    struct LExpr *a, *b;
} LExpr;

typedef enum LKind {
    LI_CALL,       /* fn(args) */
    LI_LOSS_CALL,  /* loss += coef * fn(args) */
    LI_LOOP,       /* dst[i] = expr, i < n * batch */
    LI_ZERO,       /* memset dst to 0 for n floats (times batch when per-sample) */
} LKind;

/* The runtime functions the LIR calls: kernels.def's rows. */
typedef enum Kernel {
#define KERNEL(name, ...) K_##name,
#include "kernels.def"
#undef KERNEL
    K_COUNT,
    K_NONE = K_COUNT, /* loops and zeroing call no kernel */
} Kernel;

#define LIR_MAX_ARGS 18 /* rt_recurrent_backward_embed takes 17 */

/* A kernel's row: its name, and its return and parameter types as C text
 * ("const float *"), from which the backends build calls. */
typedef struct KernelInfo {
    const char *name;
    char ret[32];
    char params[LIR_MAX_ARGS][32];
    int nparams;
} KernelInfo;
const KernelInfo *kernel_info(Kernel k);

typedef struct LInstr {
    LKind kind;
    Kernel fn;            /* LI_CALL, LI_LOSS_CALL */
    /* fn's arguments, room for exactly its parameters (kernels.def): held
     * apart, as 16 inline slots made an instruction 2.8 KB and a 4096-layer
     * model's LIR 400 MB */
    LArg *args;
    int nargs, cap_args;
    double coef;
    LPtr dst;
    int64_t n;
    LExpr *expr;
    const char *comment;
    Span span;
    const char *layer, *op; /* the node it computes (for the checked step's messages), or NULL */
} LInstr;

typedef struct LFunc {
    const char *name;
    bool training;
    LInstr *code;
    int n, cap;
    int64_t arena_floats;
    int64_t scratch_floats;
} LFunc;

/* One step block lowered: its function and the parameters it updates. */
typedef struct LStep {
    const StepSpec *spec;
    LFunc fn;
    int64_t begin, end;     /* the step's model's trainable floats in the layout */
} LStep;

/* Everything a backend needs to produce a model's program. */
typedef struct LProgram {
    const char *name;       /* the model */
    const char *source;     /* the .net path */
    const char *base_dir;   /* absolute folder of the .net file */
    const Graph *model;
    const TrainSpec *train; /* NULL if the file has no train block for the model */
    ParamLayout layout;
    LFunc train_step, forward;
    DType x_dtype, y_dtype;
    Shape x_shape, y_shape, out_shape;
    int64_t x_vocab;        /* i32 x read by embed: ids must be below this (the smallest vocab); 0: no bound */
    rt_loss_kind loss_kind;
    /* The incremental forward (step.c): one position of the sequence. */
    LFunc step;
    bool has_step;
    const char *step_refusal; /* why there is none, when !has_step */
    int64_t step_state_floats, step_x_size, step_out_size, step_context;
    LStep *steps;           /* a free-form train block (train != NULL): its steps, */
    int nsteps;             /* and train_step is unused; 0 otherwise */
    bool noise_input;       /* forward's input is the train block's noise source */
    bool reconstructs;      /* an autoencoder: eval compares forward's output with its input */
    DType data_dtype;       /* with steps: a sample of the training data (`real`) */
    Shape data_shape;
    /* netc build / emit flags (emit_infer.c): */
    bool inference;         /* --inference: the forward pass only, no training step */
    const float *weights;   /* --weights FILE: the parameter block, embedded in the C */
    bool link_static, strip;/* --static, --strip: cc's -static and -s */
} LProgram;

/* One unit's LIR (lower.c); compile_unit (compile.c) runs fusion and
 * planning before it. */
bool lower_unit(Compiler *c, Unit *u, const ParamLayout *pl, LFunc *f);
bool compile_unit(Compiler *c, Graph *g, const char *name, const TrainGraph *tg, const ParamLayout *pl, LFunc *out);
/* The model lowered to one position of its sequence (lp->step), for
 * generation; false with lp->step_refusal when it has none. Needs the
 * parameter layout. */
bool step_lower(Compiler *c, const Graph *m, LProgram *lp);
/* Front end to LIR for one model: autodiff, fusion, planning, lowering. */
bool lower_program(Compiler *c, const char *model, LProgram *lp);
void lir_dump(FILE *out, const LProgram *lp);
/* A zeroed instruction appended to f (lower.c); lowering and step.c fill
 * its arguments. */
LInstr *lir_append(Compiler *c, LFunc *f, LKind kind, Kernel fn, Span span);
/* Appends an argument to a call; more than its kernel takes is a compiler
 * bug (lower_unit also checks that none is missing). */
void lir_push(LInstr *in, LArg a);

/* The C backend: the program as C text, with a main() for a standalone
 * binary (emit_main) or as a library with mlp.h's API. */
void emit_c(FILE *out, Compiler *c, const LProgram *lp, bool emit_main);
void emit_c_header(FILE *out, const LProgram *lp);
/* Pieces of emit_c that the inference emitter shares: the opening
 * comment, includes and scalar helpers; `static void NAME_forward(...)`;
 * the parameter block as a constant `NAME_weights.f`. */
void emit_c_preamble(FILE *out, Compiler *c, const LProgram *lp);
void emit_c_forward(FILE *out, Compiler *c, const LProgram *lp);
void emit_c_weights(FILE *out, const char *id, const float *w, int64_t n);
/* netc emit --inference (emit_infer.c): NAME.c with the forward pass and
 * NAME_create / NAME_predict / NAME_destroy, and its NAME.h. */
void emit_infer_c(FILE *out, Compiler *c, const LProgram *lp);
void emit_infer_header(FILE *out, Compiler *c, const LProgram *lp);
/* --weights FILE: reads the model's tensors from a checkpoint into a
 * parameter block that lp->weights then points at. */
bool infer_load_weights(Compiler *c, LProgram *lp, const char *path, FILE *err);
/* Writes a C string literal, escaping everything that could end it. */
void emit_c_string(FILE *out, const char *s);
/* What both headers print: the model's name in capitals for the include
 * guard, and a shape as C array dimensions ([1][28][28]). */
void emit_c_guard(const char *id, char *guard, size_t len);
void emit_c_dims(FILE *out, const Shape *s);

/* netc build / emit: the C file compiled with cc into a binary, or written
 * with its header into a folder. */
bool build_find_runtime(char *inc, char *lib, size_t len);
bool build_binary(Compiler *c, LProgram *lp, const char *output, bool keep_c, FILE *err);
bool build_emit(Compiler *c, LProgram *lp, const char *dir, FILE *err);
/* What both backends share (backend.c). The .net file's absolute folder
 * (LProgram.base_dir). */
const char *backend_source_dir(Compiler *c);
/* The flags gcc gets from both backends (cc for build, libgccjit for the
 * JIT): -O2, -march=<rt_cpu_march()>, -ffp-contract=off. Returns the count. */
#define BACKEND_MAX_FLAGS 8
int backend_codegen_flags(const char *flags[BACKEND_MAX_FLAGS]);
/* The most instructions one generated function holds. gcc -O2's points-to
 * analysis grows faster than linearly with a function's size (a model of
 * 512 repeated dense blocks took 39 s to build as one function), so both
 * backends make a longer LFunc a sequence of parts of at most this many
 * instructions, each a function of its own that is never inlined, which
 * the whole calls in order: compile time grows linearly with the model. */
#define BACKEND_PART_MAX 64
/* How many parts f is printed as (1: the function itself, not split), and
 * the instructions [*begin, *end) of part k. */
int backend_parts(const LFunc *f);
void backend_part_range(const LFunc *f, int k, int *begin, int *end);

/* The runtime's description of a lowered program (netrt.h's rt_program),
 * without its two function pointers; both backends start from it. */
struct rt_program;
void rtprogram_fill(Compiler *c, const LProgram *lp, struct rt_program *p);
/* A step's optimizer as the runtime takes it: derived figures (its state
 * per parameter) come from the runtime's own functions on this. */
rt_optimizer rtprogram_optimizer(const OptSpec *o);

/* ------------------------------------------------------------------ JIT */

/* The LIR compiled in memory by libgccjit. jit_compile returns NULL after
 * writing "netc: error: JIT compilation failed: ..." to err; dump_dir, if
 * not NULL, receives libgccjit's dumps (NAME.jit.c, NAME.reproducer.c,
 * NAME.s). The program's functions live until jit_free. */
typedef struct JitProgram JitProgram;
JitProgram *jit_compile(Compiler *c, LProgram *lp, const char *dump_dir, FILE *err);
const struct rt_program *jit_program(const JitProgram *jp);
void jit_free(JitProgram *jp);
/* netc train / eval / predict: compiles, then runs rt_main with argv
 * {"netc FILE", command, argv...}; returns its exit code (1 if the JIT
 * failed). */
int jit_run(Compiler *c, LProgram *lp, const char *command, int argc, char **argv, const char *dump_dir, FILE *err);

#endif
