/* emit_jit.c — the JIT backend: LIR built straight into libgccjit and run
 * in this process (netc train / eval / predict).
 * Requires: an LProgram (the one emit_c prints; nothing is lowered twice and
 * no C text is compiled). Produces: a JitProgram, an rt_program from
 * rtprogram_fill whose train_step and forward point into code compiled in
 * memory with the flags `netc build` gives cc (backend_codegen_flags), so both
 * backends compute the same numbers. The kernels are imported functions
 * resolved against libnetrt, linked into this executable (and exported from
 * it with -rdynamic); kernels.c's table keeps every one of them linked.
 * One gcc_jit_context per compilation, released with the result. */
#include "compiler.h"
#include "netrt.h"

#include <errno.h>
#include <libgccjit.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* --------------------------------------------------------- kernel types */

/* The JIT's view of a C type of kernels.def, one letter each:
 *   v void  b bool  i int  a rt_act  l int64_t  u uint64_t  z size_t
 *   f float  d double  p any pointer */
static char type_letter(const char *ctype)
{
    static const struct { const char *type; char letter; } types[] = {
        { "void", 'v' }, { "bool", 'b' }, { "int", 'i' }, { "rt_act", 'a' }, { "int64_t", 'l' },
        { "uint64_t", 'u' }, { "size_t", 'z' }, { "float", 'f' }, { "double", 'd' },
    };
    if (strchr(ctype, '*'))
        return 'p';
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (!strcmp(types[i].type, ctype))
            return types[i].letter;
    die("kernels.def: no JIT type for '%s'", ctype);
}

#ifdef __SANITIZE_ADDRESS__
/* libgccjit 12 itself leaks a few hundred small blocks per compilation
 * (valgrind traces every one into gcc_jit_context_compile; nothing netc
 * allocates is among them). Under make asan, LeakSanitizer would fail every
 * run that JIT-compiles; this hook, read by LeakSanitizer at start-up,
 * leaves libgccjit's own allocations out of its report. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libgccjit.so\n";
}

const char *__lsan_default_options(void);
const char *__lsan_default_options(void)
{
    return "print_suppressions=0";
}
#endif

/* ------------------------------------------------------------ the state */

struct JitProgram {
    gcc_jit_context *ctx;
    gcc_jit_result *result;
    rt_program program;
    /* the checked steps and the step function, each compiled on first
     * use from the LProgram (which must outlive the program, as it does
     * in jit_run): a checked step per step of a train block of steps,
     * else one */
    Compiler *c;
    const LProgram *lp;
    int nchecked;
    gcc_jit_context **checked_ctx;
    gcc_jit_result **checked_result;
    rt_checked_step_fn *checked;
    gcc_jit_context *step_ctx;
    gcc_jit_result *step_result;
    rt_step_fn step;
    /* --dump-jit's folder (the Compiler's arena), or NULL: the functions
     * compiled on first use are dumped there too, under their own names */
    const char *dump_dir;
};

typedef struct Jit {
    Compiler *c;
    gcc_jit_context *ctx;
    gcc_jit_type *t_void, *t_bool, *t_int, *t_i64, *t_u64, *t_size, *t_float, *t_double, *t_voidp, *t_floatp;
    gcc_jit_type *t_epilogue;
    gcc_jit_field *ep_bias, *ep_preact, *ep_act, *ep_alpha;
    gcc_jit_function *imported[K_COUNT];
    char error[256]; /* an internal error found before libgccjit could see it */
    /* the function being built */
    gcc_jit_function *fn;
    gcc_jit_block *block;
    gcc_jit_location *loc;
    gcc_jit_rvalue *base[BASE_OUT + 1];
    gcc_jit_rvalue *batch, *seed, *pos;
    gcc_jit_lvalue *loss;
    gcc_jit_lvalue **loads; /* the current loop's input pointers, in load order */
    int nlocals;
    gcc_jit_type *t_check;                 /* rt_check_fn */
    gcc_jit_rvalue *check, *check_ctx;     /* the checked step's: check after each instruction */
} Jit;

static void jit_fail(Jit *j, const char *fmt, const char *arg)
{
    if (!j->error[0])
        snprintf(j->error, sizeof j->error, fmt, arg);
}

static gcc_jit_lvalue *new_local(Jit *j, gcc_jit_type *t, const char *what)
{
    char name[64];
    snprintf(name, sizeof name, "%s%d", what, j->nlocals++);
    return gcc_jit_function_new_local(j->fn, j->loc, t, name);
}

static gcc_jit_block *new_block(Jit *j, const char *what)
{
    char name[64];
    snprintf(name, sizeof name, "%s%d", what, j->nlocals++);
    return gcc_jit_function_new_block(j->fn, name);
}

static gcc_jit_type *sig_type(Jit *j, char t)
{
    switch (t) {
    case 'v': return j->t_void;
    case 'b': return j->t_bool;
    case 'i': case 'a': return j->t_int;
    case 'l': return j->t_i64;
    case 'u': return j->t_u64;
    case 'z': return j->t_size;
    case 'f': return j->t_float;
    case 'd': return j->t_double;
    case 'p': return j->t_voidp;
    }
    die("bad kernel signature letter '%c'", t);
}

/* The imported declaration of a kernel, made on first use. */
static gcc_jit_function *kernel(Jit *j, Kernel k)
{
    if (j->imported[k])
        return j->imported[k];
    const KernelInfo *ki = kernel_info(k);
    gcc_jit_param *params[LIR_MAX_ARGS];
    for (int i = 0; i < ki->nparams; i++) {
        char name[16];
        snprintf(name, sizeof name, "a%d", i);
        params[i] = gcc_jit_context_new_param(j->ctx, NULL, sig_type(j, type_letter(ki->params[i])), name);
    }
    j->imported[k] = gcc_jit_context_new_function(j->ctx, NULL, GCC_JIT_FUNCTION_IMPORTED,
                                                  sig_type(j, type_letter(ki->ret)), ki->name, ki->nparams, params, 0);
    return j->imported[k];
}

static void make_types(Jit *j)
{
    gcc_jit_context *ctx = j->ctx;
    j->t_void = gcc_jit_context_get_type(ctx, GCC_JIT_TYPE_VOID);
    j->t_bool = gcc_jit_context_get_type(ctx, GCC_JIT_TYPE_BOOL);
    j->t_int = gcc_jit_context_get_type(ctx, GCC_JIT_TYPE_INT);
    j->t_i64 = gcc_jit_context_get_type(ctx, GCC_JIT_TYPE_INT64_T);
    j->t_u64 = gcc_jit_context_get_type(ctx, GCC_JIT_TYPE_UINT64_T);
    j->t_size = gcc_jit_context_get_type(ctx, GCC_JIT_TYPE_SIZE_T);
    j->t_float = gcc_jit_context_get_type(ctx, GCC_JIT_TYPE_FLOAT);
    j->t_double = gcc_jit_context_get_type(ctx, GCC_JIT_TYPE_DOUBLE);
    j->t_voidp = gcc_jit_context_get_type(ctx, GCC_JIT_TYPE_VOID_PTR);
    j->t_floatp = gcc_jit_type_get_pointer(j->t_float);
    /* rt_epilogue, field for field as netrt.h declares it */
    gcc_jit_type *cfloatp = gcc_jit_type_get_pointer(gcc_jit_type_get_const(j->t_float));
    j->ep_bias = gcc_jit_context_new_field(ctx, NULL, cfloatp, "bias");
    j->ep_preact = gcc_jit_context_new_field(ctx, NULL, j->t_floatp, "preact");
    j->ep_act = gcc_jit_context_new_field(ctx, NULL, j->t_int, "act");
    j->ep_alpha = gcc_jit_context_new_field(ctx, NULL, j->t_float, "act_alpha");
    gcc_jit_field *fields[] = { j->ep_bias, j->ep_preact, j->ep_act, j->ep_alpha };
    j->t_epilogue = gcc_jit_struct_as_type(gcc_jit_context_new_struct_type(ctx, NULL, "rt_epilogue", 4, fields));
    gcc_jit_type *check_params[] = { j->t_voidp, j->t_int, j->t_double };
    j->t_check = gcc_jit_context_new_function_ptr_type(ctx, NULL, j->t_void, 3, check_params, 0);
}

/* ------------------------------------------------------------- values */

static gcc_jit_rvalue *int_const(Jit *j, gcc_jit_type *t, int64_t v)
{
    return gcc_jit_context_new_rvalue_from_long(j->ctx, t, (long)v);
}

/* The value emit_c's float literals have: the double printed with %.9g,
 * read back as a float. Going through the same text rounds the same way
 * (a direct (float) cast could differ in the last bit after the decimal
 * rounding), so both backends see the same constants. */
static float c_float_literal(double f)
{
    char buf[48];
    snprintf(buf, sizeof buf, "%.9g", f);
    return strtof(buf, NULL);
}

static gcc_jit_rvalue *float_const(Jit *j, double f)
{
    return gcc_jit_context_new_rvalue_from_double(j->ctx, j->t_float, c_float_literal(f));
}

/* k + k_batch * batch as an int64_t. */
static gcc_jit_rvalue *batch_expr(Jit *j, int64_t k, int64_t k_batch)
{
    if (!k_batch)
        return int_const(j, j->t_i64, k);
    gcc_jit_rvalue *v = k_batch == 1 ? j->batch
                                     : gcc_jit_context_new_binary_op(j->ctx, j->loc, GCC_JIT_BINARY_OP_MULT, j->t_i64,
                                                                     int_const(j, j->t_i64, k_batch), j->batch);
    if (k)
        v = gcc_jit_context_new_binary_op(j->ctx, j->loc, GCC_JIT_BINARY_OP_PLUS, j->t_i64, int_const(j, j->t_i64, k), v);
    return v;
}

/* &base[offset (* batch)] as a float pointer. */
static gcc_jit_rvalue *pointer(Jit *j, LPtr p)
{
    gcc_jit_rvalue *b = p.base <= BASE_OUT ? j->base[p.base] : NULL;
    if (!b) {
        static const char *const names[] = { "none", "arena", "params", "grads", "x", "y", "out" };
        jit_fail(j, "internal error: %s has no such storage in this function", names[p.base]);
        return gcc_jit_context_null(j->ctx, j->t_floatp);
    }
    if (p.offset == 0)
        return b;
    gcc_jit_rvalue *index = p.per_sample ? batch_expr(j, 0, p.offset) : int_const(j, j->t_i64, p.offset);
    return gcc_jit_lvalue_get_address(gcc_jit_context_new_array_access(j->ctx, j->loc, b, index), j->loc);
}

static gcc_jit_rvalue *void_pointer(Jit *j, LPtr p)
{
    return gcc_jit_context_new_cast(j->ctx, j->loc, pointer(j, p), j->t_voidp);
}

/* The rt_epilogue of a GEMM call: a local struct, filled, passed by address. */
static gcc_jit_rvalue *epilogue(Jit *j, const LArg *a)
{
    gcc_jit_lvalue *ep = new_local(j, j->t_epilogue, "ep");
    gcc_jit_type *cfloatp = gcc_jit_type_get_pointer(gcc_jit_type_get_const(j->t_float));
    gcc_jit_rvalue *bias = a->has_bias ? gcc_jit_context_new_cast(j->ctx, j->loc, pointer(j, a->bias), cfloatp)
                                       : gcc_jit_context_null(j->ctx, cfloatp);
    gcc_jit_rvalue *preact = a->has_preact ? pointer(j, a->preact) : gcc_jit_context_null(j->ctx, j->t_floatp);
    gcc_jit_block_add_assignment(j->block, j->loc, gcc_jit_lvalue_access_field(ep, j->loc, j->ep_bias), bias);
    gcc_jit_block_add_assignment(j->block, j->loc, gcc_jit_lvalue_access_field(ep, j->loc, j->ep_preact), preact);
    gcc_jit_block_add_assignment(j->block, j->loc, gcc_jit_lvalue_access_field(ep, j->loc, j->ep_act),
                                 int_const(j, j->t_int, a->act));
    gcc_jit_block_add_assignment(j->block, j->loc, gcc_jit_lvalue_access_field(ep, j->loc, j->ep_alpha),
                                 float_const(j, a->alpha));
    return gcc_jit_context_new_cast(j->ctx, j->loc, gcc_jit_lvalue_get_address(ep, j->loc), j->t_voidp);
}

/* One argument, converted to the kernel's parameter type as C converts it. */
static gcc_jit_rvalue *argument(Jit *j, const LArg *a, char type)
{
    gcc_jit_type *t = sig_type(j, type);
    switch (a->kind) {
    case LA_PTR:
        if (a->i) /* plus i floats, not scaled by the batch */
            return gcc_jit_context_new_cast(
                j->ctx, j->loc,
                gcc_jit_lvalue_get_address(gcc_jit_context_new_array_access(j->ctx, j->loc, pointer(j, a->ptr),
                                                                            int_const(j, j->t_i64, a->i)), j->loc),
                j->t_voidp);
        return void_pointer(j, a->ptr);
    case LA_STRUCT: {
        /* rt_conv2d, rt_pool2d and rt_recurrent are all int64_t fields,
         * laid out as an array of them: a local array, filled, passed by
         * address */
        gcc_jit_type *arr = gcc_jit_context_new_array_type(j->ctx, j->loc, j->t_i64, a->nvals);
        gcc_jit_lvalue *v = new_local(j, arr, a->type);
        for (int k = 0; k < a->nvals; k++)
            gcc_jit_block_add_assignment(
                j->block, j->loc,
                gcc_jit_context_new_array_access(j->ctx, j->loc, gcc_jit_lvalue_as_rvalue(v), int_const(j, j->t_i64, k)),
                int_const(j, j->t_i64, a->vals[k]));
        return gcc_jit_context_new_cast(j->ctx, j->loc, gcc_jit_lvalue_get_address(v, j->loc), j->t_voidp);
    }
    case LA_NULL: return gcc_jit_context_null(j->ctx, j->t_voidp);
    case LA_INT:
        if (!a->i_batch)
            return int_const(j, t, a->i);
        return gcc_jit_context_new_cast(j->ctx, j->loc, batch_expr(j, a->i, a->i_batch), t);
    case LA_FLOAT:
        if (a->f_div_batch) {
            /* (float)(f / (double)batch), as emit_c prints it */
            gcc_jit_rvalue *q = gcc_jit_context_new_binary_op(
                j->ctx, j->loc, GCC_JIT_BINARY_OP_DIVIDE, j->t_double,
                gcc_jit_context_new_rvalue_from_double(j->ctx, j->t_double, a->f),
                gcc_jit_context_new_cast(j->ctx, j->loc, j->batch, j->t_double));
            return gcc_jit_context_new_cast(j->ctx, j->loc, q, j->t_float);
        }
        /* a float where the kernel takes something else is left for
         * gcc_jit_context_new_call to report, naming the argument */
        return t == j->t_double ? gcc_jit_context_new_rvalue_from_double(j->ctx, t, a->f) : float_const(j, a->f);
    case LA_BOOL: return gcc_jit_context_new_rvalue_from_int(j->ctx, t, a->i != 0);
    case LA_ACT: return int_const(j, t, a->i);
    case LA_SEED: {
        if (!j->seed) {
            jit_fail(j, "internal error: %s draws random numbers but has no seed", "forward");
            return int_const(j, t, 0);
        }
        gcc_jit_rvalue *args[] = { j->seed, int_const(j, j->t_u64, a->i) };
        return gcc_jit_context_new_call(j->ctx, j->loc, kernel(j, K_rt_rand_u64), 2, args);
    }
    case LA_EPILOGUE: return epilogue(j, a);
    case LA_POS:
        if (!j->pos) {
            jit_fail(j, "internal error: %s reads a position it does not have", "forward");
            return int_const(j, t, 0);
        }
        return gcc_jit_context_new_cast(j->ctx, j->loc, j->pos, t);
    }
    unreachable();
}

/* ------------------------------------------------------- elementwise */

static gcc_jit_rvalue *binop(Jit *j, enum gcc_jit_binary_op op, gcc_jit_rvalue *a, gcc_jit_rvalue *b)
{
    return gcc_jit_context_new_binary_op(j->ctx, j->loc, op, j->t_float, a, b);
}

/* cond ? a : b, with blocks (libgccjit 12 has no conditional expression);
 * leaves j->block at the join. */
static gcc_jit_rvalue *choose(Jit *j, gcc_jit_rvalue *cond, gcc_jit_rvalue *a, gcc_jit_rvalue *b)
{
    gcc_jit_lvalue *v = new_local(j, j->t_float, "sel");
    gcc_jit_block *yes = new_block(j, "then"), *no = new_block(j, "else"), *join = new_block(j, "join");
    gcc_jit_block_end_with_conditional(j->block, j->loc, cond, yes, no);
    gcc_jit_block_add_assignment(yes, j->loc, v, a);
    gcc_jit_block_end_with_jump(yes, j->loc, join);
    gcc_jit_block_add_assignment(no, j->loc, v, b);
    gcc_jit_block_end_with_jump(no, j->loc, join);
    j->block = join;
    return gcc_jit_lvalue_as_rvalue(v);
}

/* The activations a fused loop computes inline (OPF_EXACT_INLINE), operation
 * for operation as emit_c writes them (nc_relu, nc_leaky), to the bits of
 * the runtime's kernels: relu 0 > x ? 0 : x (NaN and -0 pass; fmaxf(x, 0)
 * turned NaN into 0 and was a libm call per element, 6% of a ResNet
 * training step), leaky_relu x > 0 ? x : alpha x. The other activations run
 * the kernels after the loop. */
static gcc_jit_rvalue *activation(Jit *j, int act, double alpha, gcc_jit_rvalue *in)
{
    gcc_jit_lvalue *xv = new_local(j, j->t_float, "act");
    gcc_jit_block_add_assignment(j->block, j->loc, xv, in);
    gcc_jit_rvalue *x = gcc_jit_lvalue_as_rvalue(xv), *zero = float_const(j, 0);
    if (act == RT_ACT_RELU)
        return choose(j, gcc_jit_context_new_comparison(j->ctx, j->loc, GCC_JIT_COMPARISON_GT, zero, x), zero, x);
    if (act == RT_ACT_LEAKY_RELU)
        return choose(j, gcc_jit_context_new_comparison(j->ctx, j->loc, GCC_JIT_COMPARISON_GT, x, zero), x,
                      binop(j, GCC_JIT_BINARY_OP_MULT, float_const(j, alpha), x));
    jit_fail(j, "internal error: activation %s in a loop", "that is not inline");
    return x;
}

/* The loop's input pointers, one per load, numbered in the order
 * expression() reaches the loads (emit_c numbers them the same way). */
static void declare_loads(Jit *j, const LExpr *e, int *n)
{
    if (e->kind == LE_LOAD) {
        gcc_jit_lvalue *p = new_local(j, j->t_floatp, "in");
        gcc_jit_block_add_assignment(j->block, j->loc, p, pointer(j, e->ptr));
        j->loads[(*n)++] = p;
    }
    if (e->a)
        declare_loads(j, e->a, n);
    if (e->b)
        declare_loads(j, e->b, n);
}

static int count_loads(const LExpr *e)
{
    return (e->kind == LE_LOAD) + (e->a ? count_loads(e->a) : 0) + (e->b ? count_loads(e->b) : 0);
}

static gcc_jit_rvalue *expression(Jit *j, const LExpr *e, gcc_jit_rvalue *i, int *n)
{
    switch (e->kind) {
    case LE_LOAD: {
        gcc_jit_rvalue *index = i;
        if (e->period && e->c == 0) {
            /* i % period: a parameter, the same for every sample */
            index = gcc_jit_context_new_binary_op(j->ctx, j->loc, GCC_JIT_BINARY_OP_MODULO, j->t_i64, i,
                                                  int_const(j, j->t_i64, e->period));
        } else if (e->period) {
            /* (i / c) * period + i % period: a row repeated across samples */
            gcc_jit_rvalue *c = int_const(j, j->t_i64, (int64_t)e->c), *period = int_const(j, j->t_i64, e->period);
            gcc_jit_rvalue *row = gcc_jit_context_new_binary_op(j->ctx, j->loc, GCC_JIT_BINARY_OP_DIVIDE, j->t_i64, i, c);
            index = gcc_jit_context_new_binary_op(
                j->ctx, j->loc, GCC_JIT_BINARY_OP_PLUS, j->t_i64,
                gcc_jit_context_new_binary_op(j->ctx, j->loc, GCC_JIT_BINARY_OP_MULT, j->t_i64, row, period),
                gcc_jit_context_new_binary_op(j->ctx, j->loc, GCC_JIT_BINARY_OP_MODULO, j->t_i64, i, period));
        }
        gcc_jit_rvalue *p = gcc_jit_lvalue_as_rvalue(j->loads[(*n)++]);
        return gcc_jit_lvalue_as_rvalue(gcc_jit_context_new_array_access(j->ctx, j->loc, p, index));
    }
    case LE_CONST: return float_const(j, e->c);
    case LE_ADD: case LE_SUB: case LE_MUL: {
        gcc_jit_rvalue *a = expression(j, e->a, i, n);
        gcc_jit_rvalue *b = expression(j, e->b, i, n);
        return binop(j, e->kind == LE_ADD ? GCC_JIT_BINARY_OP_PLUS : e->kind == LE_SUB ? GCC_JIT_BINARY_OP_MINUS
                                                                                      : GCC_JIT_BINARY_OP_MULT, a, b);
    }
    case LE_ACT: return activation(j, e->act, e->alpha, expression(j, e->a, i, n));
    }
    unreachable();
}

/* for (int64_t i = 0; i < n * batch; i++) dst[i] = expr; */
static void loop(Jit *j, const LInstr *in)
{
    int nloads = count_loads(in->expr), n = 0;
    j->loads = arena_alloc(j->c->arena, sizeof *j->loads * (size_t)(nloads ? nloads : 1));
    gcc_jit_lvalue *dst = new_local(j, j->t_floatp, "dst");
    gcc_jit_block_add_assignment(j->block, j->loc, dst, pointer(j, in->dst));
    declare_loads(j, in->expr, &n);
    gcc_jit_lvalue *i = new_local(j, j->t_i64, "i"), *end = new_local(j, j->t_i64, "end");
    gcc_jit_block_add_assignment(j->block, j->loc, i, int_const(j, j->t_i64, 0));
    gcc_jit_block_add_assignment(j->block, j->loc, end, batch_expr(j, 0, in->n));
    gcc_jit_block *cond = new_block(j, "loop"), *body = new_block(j, "body"), *after = new_block(j, "done");
    gcc_jit_block_end_with_jump(j->block, j->loc, cond);
    gcc_jit_block_end_with_conditional(
        cond, j->loc,
        gcc_jit_context_new_comparison(j->ctx, j->loc, GCC_JIT_COMPARISON_LT, gcc_jit_lvalue_as_rvalue(i),
                                       gcc_jit_lvalue_as_rvalue(end)),
        body, after);
    j->block = body;
    n = 0;
    gcc_jit_rvalue *v = expression(j, in->expr, gcc_jit_lvalue_as_rvalue(i), &n);
    gcc_jit_block_add_assignment(
        j->block, j->loc,
        gcc_jit_context_new_array_access(j->ctx, j->loc, gcc_jit_lvalue_as_rvalue(dst), gcc_jit_lvalue_as_rvalue(i)), v);
    gcc_jit_block_add_assignment_op(j->block, j->loc, i, GCC_JIT_BINARY_OP_PLUS, int_const(j, j->t_i64, 1));
    gcc_jit_block_end_with_jump(j->block, j->loc, cond);
    j->block = after;
}

/* ------------------------------------------------------ instructions */

static void call(Jit *j, const LInstr *in)
{
    if ((unsigned)in->fn >= K_COUNT) {
        jit_fail(j, "internal error: a call of no runtime kernel%s", "");
        return;
    }
    const KernelInfo *ki = kernel_info(in->fn);
    if (in->nargs != ki->nparams) { /* lower.c checks this; a hand-made LIR may not */
        char what[160];
        snprintf(what, sizeof what, "%d arguments for %s, which takes %d", in->nargs, ki->name, ki->nparams);
        jit_fail(j, "internal error: %s", what);
        return;
    }
    gcc_jit_rvalue *args[LIR_MAX_ARGS];
    for (int a = 0; a < in->nargs; a++)
        args[a] = argument(j, &in->args[a], type_letter(ki->params[a]));
    gcc_jit_rvalue *r = gcc_jit_context_new_call(j->ctx, j->loc, kernel(j, in->fn), in->nargs, args);
    if (in->kind == LI_LOSS_CALL) {
        if (!j->loss) {
            jit_fail(j, "internal error: loss call '%s' outside train_step", ki->name);
            return;
        }
        /* loss += coef * fn(...), in double as emit_c's text computes it */
        gcc_jit_rvalue *term = gcc_jit_context_new_binary_op(
            j->ctx, j->loc, GCC_JIT_BINARY_OP_MULT, j->t_double,
            gcc_jit_context_new_rvalue_from_double(j->ctx, j->t_double, in->coef), r);
        gcc_jit_block_add_assignment_op(j->block, j->loc, j->loss, GCC_JIT_BINARY_OP_PLUS, term);
    } else {
        gcc_jit_block_add_eval(j->block, j->loc, r);
    }
}

static void zero(Jit *j, const LInstr *in)
{
    /* memset(dst, 0, n * sizeof(float) (* batch)) */
    gcc_jit_rvalue *bytes = int_const(j, j->t_size, in->n * (int64_t)sizeof(float));
    if (in->dst.per_sample)
        bytes = gcc_jit_context_new_binary_op(j->ctx, j->loc, GCC_JIT_BINARY_OP_MULT, j->t_size, bytes,
                                              gcc_jit_context_new_cast(j->ctx, j->loc, j->batch, j->t_size));
    gcc_jit_rvalue *args[] = { void_pointer(j, in->dst), int_const(j, j->t_int, 0), bytes };
    gcc_jit_block_add_eval(j->block, j->loc, gcc_jit_context_new_call(j->ctx, j->loc, kernel(j, K_memset), 3, args));
}

/* Instructions [begin, end) of f. */
static void body(Jit *j, const LFunc *f, int begin, int end)
{
    for (int i = begin; i < end && !j->error[0]; i++) {
        const LInstr *in = &f->code[i];
        int line, col;
        diag_line_col(&j->c->src, in->span.begin, &line, &col);
        j->loc = gcc_jit_context_new_location(j->ctx, j->c->src.path, line, col);
        if (in->comment)
            gcc_jit_block_add_comment(j->block, j->loc, in->comment);
        switch (in->kind) {
        case LI_CALL: case LI_LOSS_CALL: call(j, in); break;
        case LI_LOOP: loop(j, in); break;
        case LI_ZERO: zero(j, in); break;
        }
        if (j->check) {
            gcc_jit_rvalue *args[] = { j->check_ctx, int_const(j, j->t_int, i), gcc_jit_lvalue_as_rvalue(j->loss) };
            gcc_jit_block_add_eval(j->block, j->loc, gcc_jit_context_new_call_through_ptr(j->ctx, j->loc, j->check, 3, args));
        }
    }
    j->loc = NULL;
}

static gcc_jit_lvalue *float_pointer_local(Jit *j, gcc_jit_param *p, const char *name)
{
    gcc_jit_lvalue *v = gcc_jit_function_new_local(j->fn, NULL, j->t_floatp, name);
    gcc_jit_block_add_assignment(j->block, NULL, v,
                                 gcc_jit_context_new_cast(j->ctx, NULL, gcc_jit_param_as_rvalue(p), j->t_floatp));
    return v;
}

static void begin(Jit *j, gcc_jit_function *fn)
{
    j->fn = fn;
    j->block = gcc_jit_function_new_block(fn, "entry");
    memset(j->base, 0, sizeof j->base);
    j->seed = NULL;
    j->pos = NULL;
    j->loss = NULL;
    j->check = j->check_ctx = NULL;
}

/* A train step's parameters; then, for the checked step, the check and its
 * context; then, for a part, the loss so far. */
static int train_params(Jit *j, gcc_jit_param *p[10], bool part, bool checked)
{
    int n = 0;
    p[n++] = gcc_jit_context_new_param(j->ctx, NULL, j->t_floatp, "params");
    p[n++] = gcc_jit_context_new_param(j->ctx, NULL, j->t_floatp, "grads");
    p[n++] = gcc_jit_context_new_param(j->ctx, NULL, j->t_voidp, "x_in");
    p[n++] = gcc_jit_context_new_param(j->ctx, NULL, j->t_voidp, "y_in");
    p[n++] = gcc_jit_context_new_param(j->ctx, NULL, j->t_i64, "batch");
    p[n++] = gcc_jit_context_new_param(j->ctx, NULL, j->t_floatp, "arena");
    p[n++] = gcc_jit_context_new_param(j->ctx, NULL, j->t_u64, "seed");
    if (checked) {
        p[n++] = gcc_jit_context_new_param(j->ctx, NULL, j->t_check, "check");
        p[n++] = gcc_jit_context_new_param(j->ctx, NULL, j->t_voidp, "ctx");
    }
    if (part)
        p[n++] = gcc_jit_context_new_param(j->ctx, NULL, j->t_double, "loss_in");
    return n;
}

/* Instructions [first, end) of f as the body of a train step (or of one of
 * its parts, which continues the loss it is given), returning the loss. */
static void train_body(Jit *j, gcc_jit_function *fn, gcc_jit_param **p, int np, bool part, bool checked, const LFunc *f,
                       int first, int end)
{
    begin(j, fn);
    j->base[BASE_PARAMS] = gcc_jit_param_as_rvalue(p[0]);
    j->base[BASE_GRADS] = gcc_jit_param_as_rvalue(p[1]);
    /* labels may be int32_t: the same 4-byte stride as float, and the
     * kernels take them as pointers, so one pointer type serves */
    j->base[BASE_X] = gcc_jit_lvalue_as_rvalue(float_pointer_local(j, p[2], "x"));
    j->base[BASE_Y] = gcc_jit_lvalue_as_rvalue(float_pointer_local(j, p[3], "y"));
    j->batch = gcc_jit_param_as_rvalue(p[4]);
    j->base[BASE_ARENA] = gcc_jit_param_as_rvalue(p[5]);
    j->seed = gcc_jit_param_as_rvalue(p[6]);
    if (checked) {
        j->check = gcc_jit_param_as_rvalue(p[7]);
        j->check_ctx = gcc_jit_param_as_rvalue(p[8]);
    }
    j->loss = gcc_jit_function_new_local(j->fn, NULL, j->t_double, "loss");
    gcc_jit_block_add_assignment(j->block, NULL, j->loss,
                                 part ? gcc_jit_param_as_rvalue(p[np - 1]) : gcc_jit_context_zero(j->ctx, j->t_double));
    body(j, f, first, end);
    gcc_jit_block_end_with_return(j->block, NULL, gcc_jit_lvalue_as_rvalue(j->loss));
}

/* double NAME_train_step(float *params, float *grads, const void *x, const void *y,
 *                        int64_t batch, float *arena, uint64_t seed)
 * A step longer than BACKEND_PART_MAX instructions calls its parts in order
 * (emit_c's NAME_partK), passing the loss through them. checked: the
 * checked step (emit_c's NAME_train_step_checked), with check(ctx, k, loss)
 * after each instruction k. */
static void build_train_step(Jit *j, const LFunc *f, const char *name, bool checked)
{
    gcc_jit_param *p[10];
    int parts = backend_parts(f);
    if (parts == 1) {
        int np = train_params(j, p, false, checked);
        train_body(j, gcc_jit_context_new_function(j->ctx, NULL, GCC_JIT_FUNCTION_EXPORTED, j->t_double, name, np, p, 0),
                   p, np, false, checked, f, 0, f->n);
        return;
    }
    gcc_jit_function **part = arena_alloc(j->c->arena, sizeof *part * (size_t)parts);
    for (int k = 0; k < parts && !j->error[0]; k++) {
        int np = train_params(j, p, true, checked);
        part[k] = gcc_jit_context_new_function(j->ctx, NULL, GCC_JIT_FUNCTION_INTERNAL, j->t_double,
                                               arena_printf(j->c->arena, "%s_part%d", name, k), np, p, 0);
        int first, end;
        backend_part_range(f, k, &first, &end);
        train_body(j, part[k], p, np, true, checked, f, first, end);
    }
    int np = train_params(j, p, false, checked);
    begin(j, gcc_jit_context_new_function(j->ctx, NULL, GCC_JIT_FUNCTION_EXPORTED, j->t_double, name, np, p, 0));
    gcc_jit_lvalue *loss = gcc_jit_function_new_local(j->fn, NULL, j->t_double, "loss");
    gcc_jit_block_add_assignment(j->block, NULL, loss, gcc_jit_context_zero(j->ctx, j->t_double));
    for (int k = 0; k < parts && !j->error[0]; k++) {
        gcc_jit_rvalue *args[10];
        for (int a = 0; a < np; a++)
            args[a] = gcc_jit_param_as_rvalue(p[a]);
        args[np] = gcc_jit_lvalue_as_rvalue(loss);
        gcc_jit_block_add_assignment(j->block, NULL, loss, gcc_jit_context_new_call(j->ctx, NULL, part[k], np + 1, args));
    }
    gcc_jit_block_end_with_return(j->block, NULL, gcc_jit_lvalue_as_rvalue(loss));
}

/* The parameters of forward and of the step function (with pos). */
static int inference_params(Jit *j, gcc_jit_param *p[6], bool with_pos)
{
    p[0] = gcc_jit_context_new_param(j->ctx, NULL, j->t_floatp, "params");
    p[1] = gcc_jit_context_new_param(j->ctx, NULL, j->t_voidp, "x_in");
    p[2] = gcc_jit_context_new_param(j->ctx, NULL, j->t_floatp, "out");
    p[3] = gcc_jit_context_new_param(j->ctx, NULL, j->t_i64, "batch");
    p[4] = gcc_jit_context_new_param(j->ctx, NULL, j->t_floatp, "arena");
    p[5] = gcc_jit_context_new_param(j->ctx, NULL, j->t_i64, "pos");
    return with_pos ? 6 : 5;
}

static void inference_body(Jit *j, gcc_jit_function *fn, gcc_jit_param **p, bool with_pos, const LFunc *f, int first,
                           int end)
{
    begin(j, fn);
    j->base[BASE_PARAMS] = gcc_jit_param_as_rvalue(p[0]);
    j->base[BASE_X] = gcc_jit_lvalue_as_rvalue(float_pointer_local(j, p[1], "x"));
    j->base[BASE_OUT] = gcc_jit_param_as_rvalue(p[2]);
    j->batch = gcc_jit_param_as_rvalue(p[3]);
    j->base[BASE_ARENA] = gcc_jit_param_as_rvalue(p[4]);
    j->pos = with_pos ? gcc_jit_param_as_rvalue(p[5]) : NULL;
    body(j, f, first, end);
    gcc_jit_block_end_with_void_return(j->block, NULL);
}

/* void NAME_forward(const float *params, const void *x_in, float *out, int64_t batch, float *arena)
 * and, for the step function (step.c), the same with a last int64_t pos;
 * in parts, as the train step, when longer than BACKEND_PART_MAX. */
static void build_inference(Jit *j, const LFunc *f, const char *name, bool with_pos)
{
    gcc_jit_param *p[6];
    int parts = backend_parts(f);
    if (parts == 1) {
        int np = inference_params(j, p, with_pos);
        inference_body(j, gcc_jit_context_new_function(j->ctx, NULL, GCC_JIT_FUNCTION_EXPORTED, j->t_void, name, np, p, 0),
                       p, with_pos, f, 0, f->n);
        return;
    }
    gcc_jit_function **part = arena_alloc(j->c->arena, sizeof *part * (size_t)parts);
    for (int k = 0; k < parts && !j->error[0]; k++) {
        int np = inference_params(j, p, with_pos);
        part[k] = gcc_jit_context_new_function(j->ctx, NULL, GCC_JIT_FUNCTION_INTERNAL, j->t_void,
                                               arena_printf(j->c->arena, "%s_part%d", name, k), np, p, 0);
        int first, end;
        backend_part_range(f, k, &first, &end);
        inference_body(j, part[k], p, with_pos, f, first, end);
    }
    int np = inference_params(j, p, with_pos);
    begin(j, gcc_jit_context_new_function(j->ctx, NULL, GCC_JIT_FUNCTION_EXPORTED, j->t_void, name, np, p, 0));
    gcc_jit_rvalue *args[6];
    for (int a = 0; a < np; a++)
        args[a] = gcc_jit_param_as_rvalue(p[a]);
    for (int k = 0; k < parts && !j->error[0]; k++)
        gcc_jit_block_add_eval(j->block, NULL, gcc_jit_context_new_call(j->ctx, NULL, part[k], np, args));
    gcc_jit_block_end_with_void_return(j->block, NULL);
}

/* Parts are never inlined back into the whole (emit_c marks them
 * noinline); libgccjit 12 has no function attributes, so the context says
 * it. Nothing else in a context could be inlined: kernels are imported.
 * The step function has a context of its own (compile_step). */
static bool has_parts(const LProgram *lp)
{
    bool any = (lp->train && !lp->nsteps && backend_parts(&lp->train_step) > 1) || backend_parts(&lp->forward) > 1;
    for (int k = 0; k < lp->nsteps; k++)
        any |= backend_parts(&lp->steps[k].fn) > 1;
    return any;
}

/* ----------------------------------------------------------- the driver */

static void set_flags(gcc_jit_context *ctx)
{
    const char *flags[BACKEND_MAX_FLAGS];
    int n = backend_codegen_flags(flags);
    for (int i = 0; i < n; i++) {
        int level;
        if (sscanf(flags[i], "-O%d", &level) == 1)
            gcc_jit_context_set_int_option(ctx, GCC_JIT_INT_OPTION_OPTIMIZATION_LEVEL, level);
        else
            gcc_jit_context_add_command_line_option(ctx, flags[i]);
    }
}

/* --dump-jit DIR: libgccjit's C-like dump of the context, a reproducer
 * (a C program that rebuilds the context through the API) and the
 * assembly, named after the model. */
static bool dump(gcc_jit_context *ctx, const char *dir, const char *name, FILE *err)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        fprintf(err, "netc: error: %s: %s\n", dir, strerror(errno));
        return false;
    }
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s.jit.c", dir, name);
    gcc_jit_context_dump_to_file(ctx, path, 0);
    snprintf(path, sizeof path, "%s/%s.reproducer.c", dir, name);
    gcc_jit_context_dump_reproducer_to_file(ctx, path);
    snprintf(path, sizeof path, "%s/%s.s", dir, name);
    gcc_jit_context_compile_to_file(ctx, GCC_JIT_OUTPUT_KIND_ASSEMBLER, path);
    return true;
}

static JitProgram *fail(JitProgram *jp, FILE *err, const char *msg)
{
    fprintf(err, "netc: error: JIT compilation failed: %s\n", msg ? msg : "no message from libgccjit");
    jit_free(jp);
    return NULL;
}

/* One function compiled alone, in a context of its own (*ctx, *result:
 * the caller's, released by jit_free): a checked step (inference false)
 * or the step function, dumped as NAME.jit.c, NAME.reproducer.c and
 * NAME.s beside the program's when --dump-jit asked for dumps. Its code,
 * or NULL. */
static void *compile_alone(JitProgram *jp, const LFunc *f, const char *name, bool inference,
                           gcc_jit_context **ctx, gcc_jit_result **result)
{
    if (!(*ctx = gcc_jit_context_acquire()))
        return NULL;
    gcc_jit_context_set_bool_print_errors_to_stderr(*ctx, 0);
    set_flags(*ctx);
    if (backend_parts(f) > 1)
        gcc_jit_context_add_command_line_option(*ctx, "-fno-inline");
    Jit j = { .c = jp->c, .ctx = *ctx };
    make_types(&j);
    if (inference)
        build_inference(&j, f, name, true);
    else
        build_train_step(&j, f, name, true);
    if (j.error[0] || gcc_jit_context_get_first_error(*ctx))
        return NULL;
    if (jp->dump_dir && !dump(*ctx, jp->dump_dir, name, stderr))
        return NULL;
    *result = gcc_jit_context_compile(*ctx);
    return *result ? gcc_jit_result_get_code(*result, name) : NULL;
}

/* The checked step of step k (rt_program.compile_checked): train.c asks
 * for it only after a step went non-finite, so it is compiled then, in a
 * context of its own; compiled with the program it added half again to
 * every start. */
static rt_checked_step_fn compile_checked(const rt_program *p, int k)
{
    JitProgram *jp = (JitProgram *)(void *)((char *)p - offsetof(JitProgram, program));
    if (!jp->lp || k < 0 || k >= jp->nchecked)
        return NULL;
    if (jp->checked_result[k] || jp->checked_ctx[k])
        return jp->checked[k];
    const LFunc *f = jp->lp->nsteps ? &jp->lp->steps[k].fn : &jp->lp->train_step;
    const char *name = jp->lp->nsteps ? arena_printf(jp->c->arena, "%s_train_step%d_checked", jp->lp->name, k)
                                      : arena_printf(jp->c->arena, "%s_train_step_checked", jp->lp->name);
    void *code = compile_alone(jp, f, name, false, &jp->checked_ctx[k], &jp->checked_result[k]);
    if (code)
        memcpy(&jp->checked[k], &code, sizeof code); /* object to function pointer */
    return jp->checked[k];
}

/* The step function (rt_program.compile_step), compiled when sample
 * first asks for it, in a context of its own: train, eval and predict never
 * call it, and compiled with the program it made gpt.net's start a fifth
 * longer (bench_jit: JIT 208 -> 260 ms). */
static rt_step_fn compile_step(const rt_program *p)
{
    JitProgram *jp = (JitProgram *)(void *)((char *)p - offsetof(JitProgram, program));
    if (jp->step_ctx)
        return jp->step;
    const char *name = arena_printf(jp->c->arena, "%s_step", jp->lp->name);
    void *code = compile_alone(jp, &jp->lp->step, name, true, &jp->step_ctx, &jp->step_result);
    if (code)
        memcpy(&jp->step, &code, sizeof code); /* object to function pointer */
    return jp->step;
}

/* The checked steps' state, and compile_checked as the program's. */
static void checked_steps(JitProgram *jp, const LProgram *lp)
{
    jp->nchecked = lp->nsteps ? lp->nsteps : 1;
    jp->checked_ctx = calloc((size_t)jp->nchecked, sizeof *jp->checked_ctx);
    jp->checked_result = calloc((size_t)jp->nchecked, sizeof *jp->checked_result);
    jp->checked = calloc((size_t)jp->nchecked, sizeof *jp->checked);
    if (!jp->checked_ctx || !jp->checked_result || !jp->checked)
        die("out of memory");
    jp->program.compile_checked = compile_checked;
}

JitProgram *jit_compile(Compiler *c, LProgram *lp, const char *dump_dir, FILE *err)
{
    if (!lp->base_dir)
        lp->base_dir = backend_source_dir(c);
    JitProgram *jp = calloc(1, sizeof *jp);
    if (!jp)
        die("out of memory");
    rtprogram_fill(c, lp, &jp->program);
    jp->ctx = gcc_jit_context_acquire();
    if (!jp->ctx)
        return fail(jp, err, "cannot create a libgccjit context");
    gcc_jit_context_set_bool_print_errors_to_stderr(jp->ctx, 0);
    set_flags(jp->ctx);
    if (has_parts(lp))
        gcc_jit_context_add_command_line_option(jp->ctx, "-fno-inline");
    Jit j = { .c = c, .ctx = jp->ctx };
    make_types(&j);
    /* model names are identifiers (the grammar's), so they make symbol names */
    const char *train_name = arena_printf(c->arena, "%s_train_step", lp->name);
    const char *forward_name = arena_printf(c->arena, "%s_forward", lp->name);
    jp->c = c;
    jp->lp = lp;
    jp->dump_dir = dump_dir ? arena_printf(c->arena, "%s", dump_dir) : NULL;
    if (lp->train && !lp->inference)
        checked_steps(jp, lp);
    if (lp->has_step)
        jp->program.compile_step = compile_step;
    if (lp->train && !lp->nsteps)
        build_train_step(&j, &lp->train_step, train_name, false);
    const char **step_names = arena_alloc(c->arena, sizeof *step_names * (size_t)(lp->nsteps + 1));
    for (int k = 0; k < lp->nsteps && !j.error[0]; k++) {
        step_names[k] = arena_printf(c->arena, "%s_train_step%d", lp->name, k);
        build_train_step(&j, &lp->steps[k].fn, step_names[k], false);
    }
    if (!j.error[0])
        build_inference(&j, &lp->forward, forward_name, false);
    if (j.error[0])
        return fail(jp, err, j.error);
    if (gcc_jit_context_get_first_error(jp->ctx))
        return fail(jp, err, gcc_jit_context_get_first_error(jp->ctx));
    if (dump_dir && !dump(jp->ctx, dump_dir, lp->name, err)) {
        jit_free(jp);
        return NULL;
    }
    jp->result = gcc_jit_context_compile(jp->ctx);
    if (!jp->result || gcc_jit_context_get_first_error(jp->ctx))
        return fail(jp, err, gcc_jit_context_get_first_error(jp->ctx));
    for (int k = 0; k < lp->nsteps; k++) {
        void *code = gcc_jit_result_get_code(jp->result, step_names[k]);
        if (!code)
            return fail(jp, err, "a train step is missing from the compiled code");
        memcpy((void *)&jp->program.steps[k].train_step, &code, sizeof code); /* the arena's steps, filled here */
    }
    if (lp->train && !lp->nsteps) {
        void *code = gcc_jit_result_get_code(jp->result, train_name);
        if (!code)
            return fail(jp, err, "train_step is missing from the compiled code");
        memcpy(&jp->program.train_step, &code, sizeof code); /* object to function pointer */
    }
    void *code = gcc_jit_result_get_code(jp->result, forward_name);
    if (!code)
        return fail(jp, err, "forward is missing from the compiled code");
    memcpy(&jp->program.forward, &code, sizeof code);
    return jp;
}

const rt_program *jit_program(const JitProgram *jp)
{
    return &jp->program;
}

void jit_free(JitProgram *jp)
{
    if (!jp)
        return;
    for (int k = 0; k < jp->nchecked; k++) {
        if (jp->checked_result[k])
            gcc_jit_result_release(jp->checked_result[k]);
        if (jp->checked_ctx[k])
            gcc_jit_context_release(jp->checked_ctx[k]);
    }
    free(jp->checked_ctx);
    free(jp->checked_result);
    free(jp->checked);
    if (jp->step_result)
        gcc_jit_result_release(jp->step_result);
    if (jp->step_ctx)
        gcc_jit_context_release(jp->step_ctx);
    if (jp->result)
        gcc_jit_result_release(jp->result);
    if (jp->ctx)
        gcc_jit_context_release(jp->ctx);
    free(jp);
}

int jit_run(Compiler *c, LProgram *lp, const char *command, int argc, char **argv, const char *dump_dir, FILE *err)
{
    JitProgram *jp = jit_compile(c, lp, dump_dir, err);
    if (!jp)
        return 1;
    /* rt_main's argv: a program name for its messages, the command, the
     * flags. Its messages name the program by what follows the last '/'
     * and suggest "<name> --help", so the name is "netc train mlp.net",
     * which with --help below is a command that works. */
    const char *slash = strrchr(c->src.path, '/');
    char *name = arena_printf(c->arena, "netc %s %s", command, slash ? slash + 1 : c->src.path);
    char **args = arena_alloc(c->arena, sizeof *args * (size_t)(argc + 3));
    bool help = false;
    for (int i = 0; i < argc; i++)
        help |= !strcmp(argv[i], "--help") || !strcmp(argv[i], "-h");
    int n = 0;
    args[n++] = name;
    args[n++] = help ? (char *)"--help" : (char *)command;
    for (int i = 0; i < argc && !help; i++)
        args[n++] = argv[i];
    args[n] = NULL;
    int rc = rt_main(&jp->program, n, args);
    jit_free(jp);
    return rc;
}
