/* emit_c.c — the C backend: LIR printed as a readable C file.
 * Requires: an LProgram. Produces: C11 with constant shapes and restrict
 * pointers that includes netrt.h and fills an rt_program; with a main()
 * for a standalone binary, or with the documented NAME.h API for embedding.
 * Every string that comes from the .net file goes through emit_c_string. */
#include "compiler.h"
#include "netrt.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* The runtime's enumerators by value, from netrt.h's lists. */
#define NAME(prefix, name) #prefix #name,
#define ACT_NAME(name, lower) NAME(RT_ACT_, name)
#define INIT_NAME(name, text) NAME(RT_INIT_, name)
#define LOSS_NAME(name, text) NAME(RT_LOSS_, name)
#define OPT_NAME(name, text) NAME(RT_OPT_, name)
#define SCHED_NAME(name) NAME(RT_SCHED_, name)
#define SRC_NAME(name) NAME(RT_SRC_, name)
#define AUG_NAME(name) NAME(RT_AUG_, name)
static const char *const act_names[] = { RT_ACT_LIST(ACT_NAME) };
static const char *const init_names[] = { RT_INIT_LIST(INIT_NAME) };
static const char *const loss_names[] = { RT_LOSS_LIST(LOSS_NAME) };
static const char *const opt_names[] = { RT_OPT_LIST(OPT_NAME) };
static const char *const sched_names[] = { RT_SCHED_LIST(SCHED_NAME) };
static const char *const source_names[] = { RT_SRC_LIST(SRC_NAME) };
static const char *const augment_names[] = { RT_AUG_LIST(AUG_NAME) };
#undef NAME
#undef ACT_NAME
#undef INIT_NAME
#undef LOSS_NAME
#undef OPT_NAME
#undef SCHED_NAME
#undef SRC_NAME
#undef AUG_NAME

/* Octal escapes for anything but plain printable ASCII, and '?' escaped
 * too so no trigraph can form: a path cannot end the literal or inject. */
void emit_c_string(FILE *out, const char *s)
{
    if (!s) {
        fputs("NULL", out);
        return;
    }
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\' || *p == '?')
            fprintf(out, "\\%c", *p);
        else if (*p >= 0x20 && *p < 0x7f)
            fputc(*p, out);
        else
            fprintf(out, "\\%03o", *p);
    }
    fputc('"', out);
}

/* A C identifier from a model name (they are identifiers already; this
 * guards the property). */
static const char *c_ident(Compiler *c, const char *name)
{
    char *s = arena_strdup(c->arena, name);
    for (char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_')
            *p = '_';
    return s;
}

/* A base is named in the generated C as in the dumps: the function's
 * parameter or local of that name. */
static const char *base_expr(Base b)
{
    if (b == BASE_NONE)
        die("pointer without storage");
    return ir_base_name(b);
}

static void print_ptr(FILE *out, LPtr p)
{
    if (p.offset == 0)
        fputs(base_expr(p.base), out);
    else if (p.per_sample)
        fprintf(out, "%s + %lld * batch", base_expr(p.base), (long long)p.offset);
    else
        fprintf(out, "%s + %lld", base_expr(p.base), (long long)p.offset);
}

/* An optional pointer of a struct argument (an epilogue's bias, preact). */
static void print_ptr_or_null(FILE *out, bool present, LPtr p)
{
    if (present)
        print_ptr(out, p);
    else
        fputs("NULL", out);
}

/* %.9g round-trips a float; the f suffix keeps arithmetic in float, and a
 * '.' keeps "1" from being read as an int with a bad suffix. */
static const char *cfloat(char buf[48], double f)
{
    snprintf(buf, 40, "%.9g", f);
    strcat(buf, strpbrk(buf, ".eni") ? "f" : ".0f");
    return buf;
}

static void print_float(FILE *out, double f)
{
    char buf[48];
    fputs(cfloat(buf, f), out);
}

static void print_arg(FILE *out, const LArg *a)
{
    switch (a->kind) {
    case LA_PTR:
        if (a->ints)
            fputs("(const int32_t *)(", out);
        print_ptr(out, a->ptr);
        if (a->i)
            fprintf(out, " + %lld", (long long)a->i);
        if (a->ints)
            fputc(')', out);
        break;
    case LA_NULL: fputs("NULL", out); break;
    case LA_INT:
        if (a->i_batch && a->i)
            fprintf(out, "%lld + %lld * batch", (long long)a->i, (long long)a->i_batch);
        else if (a->i_batch == 1)
            fputs("batch", out);
        else if (a->i_batch)
            fprintf(out, "%lld * batch", (long long)a->i_batch);
        else
            fprintf(out, "%lld", (long long)a->i);
        break;
    case LA_FLOAT:
        if (a->f_div_batch) {
            fputs("(float)(", out);
            fprintf(out, "%.17g", a->f);
            fputs(" / (double)batch)", out);
        } else {
            print_float(out, a->f);
        }
        break;
    case LA_BOOL: fputs(a->i ? "true" : "false", out); break;
    case LA_ACT: fputs(act_names[a->i], out); break;
    case LA_SEED: fprintf(out, "rt_rand_u64(seed, %lld)", (long long)a->i); break;
    case LA_POS: fputs("pos", out); break;
    case LA_STRUCT:
        fprintf(out, "&(const %s){ ", a->type);
        for (int k = 0; k < a->nvals; k++)
            fprintf(out, "%s.%s = %lld", k ? ", " : "", a->fields[k], (long long)a->vals[k]);
        fputs(" }", out);
        break;
    case LA_EPILOGUE:
        fputs("&(rt_epilogue){ ", out);
        print_ptr_or_null(out, a->has_bias, a->bias);
        fputs(", ", out);
        print_ptr_or_null(out, a->has_preact, a->preact);
        fprintf(out, ", %s, ", act_names[a->act]);
        print_float(out, a->alpha);
        fputs(" }", out);
        break;
    }
}

/* Parameters that are int in netrt.h (GEMM dimensions) get a cast where
 * the argument involves the batch, an int64_t here. */
static bool int_param(Kernel fn, int k)
{
    return !strcmp(kernel_info(fn)->params[k], "int");
}

static void print_expr(FILE *out, const LExpr *e, int *load_no)
{
    switch (e->kind) {
    case LE_LOAD:
        if (e->period && e->c == 0)
            fprintf(out, "in%d[i %% %lld]", (*load_no)++, (long long)e->period);
        else if (e->period)
            fprintf(out, "in%d[(i / %lld) * %lld + i %% %lld]", (*load_no)++, (long long)e->c, (long long)e->period,
                    (long long)e->period);
        else
            fprintf(out, "in%d[i]", (*load_no)++);
        break;
    case LE_CONST: print_float(out, e->c); break;
    case LE_ADD: case LE_SUB: case LE_MUL:
        fputc('(', out);
        print_expr(out, e->a, load_no);
        fprintf(out, " %c ", e->kind == LE_ADD ? '+' : e->kind == LE_SUB ? '-' : '*');
        print_expr(out, e->b, load_no);
        fputc(')', out);
        break;
    case LE_ACT: /* relu and leaky_relu only (OPF_EXACT_INLINE): the kernels' bits */
        if (e->act != RT_ACT_RELU && e->act != RT_ACT_LEAKY_RELU)
            die("activation %d inside a loop", e->act);
        fputs(e->act == RT_ACT_RELU ? "nc_relu(" : "nc_leaky(", out);
        print_expr(out, e->a, load_no);
        if (e->act == RT_ACT_LEAKY_RELU) {
            fputs(", ", out);
            print_float(out, e->alpha);
        }
        fputc(')', out);
        break;
    }
}

static void declare_loads(FILE *out, const LExpr *e, int *load_no)
{
    if (e->kind == LE_LOAD) {
        fprintf(out, "        const float *restrict in%d = ", (*load_no)++);
        print_ptr(out, e->ptr);
        fputs(";\n", out);
    }
    if (e->a)
        declare_loads(out, e->a, load_no);
    if (e->b)
        declare_loads(out, e->b, load_no);
}

/* Instructions [begin, end) of f; checked: each followed by a call of
 * check with its index and the loss so far (the checked step). */
static void print_range(FILE *out, const LFunc *f, int begin, int end, bool checked)
{
    for (int i = begin; i < end; i++) {
        const LInstr *in = &f->code[i];
        fputs("    /* ", out);
        for (const char *p = in->comment; *p; p++) /* never close the comment early */
            if (!(p[0] == '*' && p[1] == '/'))
                fputc(*p, out);
        fputs(" */\n", out);
        switch (in->kind) {
        case LI_CALL: case LI_LOSS_CALL:
            fputs("    ", out);
            if (in->kind == LI_LOSS_CALL) {
                fputs("loss += ", out);
                fprintf(out, "%.17g * ", in->coef);
            }
            fprintf(out, "%s(", kernel_info(in->fn)->name);
            for (int k = 0; k < in->nargs; k++) {
                if (k)
                    fputs(", ", out);
                bool cast = int_param(in->fn, k) && in->args[k].kind == LA_INT && in->args[k].i_batch;
                if (cast)
                    fputs("(int)(", out);
                print_arg(out, &in->args[k]);
                if (cast)
                    fputc(')', out);
            }
            fputs(");\n", out);
            break;
        case LI_LOOP: {
            int n = 0;
            fputs("    {\n        float *restrict dst = ", out);
            print_ptr(out, in->dst);
            fputs(";\n", out);
            declare_loads(out, in->expr, &n);
            fprintf(out, "        for (int64_t i = 0; i < %lld * batch; i++)\n            dst[i] = ", (long long)in->n);
            n = 0;
            print_expr(out, in->expr, &n);
            fputs(";\n    }\n", out);
            break;
        }
        case LI_ZERO:
            fputs("    memset(", out);
            print_ptr(out, in->dst);
            fprintf(out, ", 0, %lld * sizeof(float)%s);\n", (long long)in->n, in->dst.per_sample ? " * batch" : "");
            break;
        }
        if (checked)
            fprintf(out, "    check(ctx, %d, loss);\n", i);
    }
}

/* How a generated function is declared and called, for its parts. */
typedef struct Signature {
    const char *ret;      /* "double" (a train step: the loss runs through the parts) or "void" */
    const char *params;   /* the parameter list */
    const char *args;     /* the parameters' names, to pass them on */
    const char *locals;   /* the typed views of the parameters every part declares */
    bool checked;         /* the checked step: calls check after each instruction */
} Signature;

/* The parts of a function longer than BACKEND_PART_MAX (compiler.h), as
 * NAME_partK; a train step's part takes the loss so far and returns it, so
 * it sums in the order of a single function. */
static void print_parts(FILE *out, const char *name, const LFunc *f, const Signature *sig)
{
    bool loss = !strcmp(sig->ret, "double");
    fputs("#ifndef NC_PART\n#ifdef __GNUC__\n#define NC_PART static __attribute__((noinline))\n#else\n"
          "#define NC_PART static\n#endif\n#endif\n\n", out);
    for (int k = 0; k < backend_parts(f); k++) {
        fprintf(out, "%s %s %s_part%d(%s%s)\n{\n%s", sig->checked ? "NC_CHECKED" : "NC_PART", sig->ret, name, k,
                sig->params, loss ? ", double loss" : "", sig->locals);
        int begin, end;
        backend_part_range(f, k, &begin, &end);
        print_range(out, f, begin, end, sig->checked);
        fputs(loss ? "    return loss;\n}\n\n" : "}\n\n", out);
    }
}

/* The body of a function: its instructions, or calls of its parts. */
static void print_body_of(FILE *out, const char *name, const LFunc *f, const Signature *sig)
{
    if (backend_parts(f) == 1) {
        print_range(out, f, 0, f->n, sig->checked);
        return;
    }
    bool loss = !strcmp(sig->ret, "double");
    for (int k = 0; k < backend_parts(f); k++)
        fprintf(out, "    %s%s_part%d(%s%s);\n", loss ? "loss = " : "", name, k, sig->args, loss ? ", loss" : "");
}

static void print_train_step(FILE *out, Compiler *c, const char *name, const LFunc *f, const char *xt, const char *yt)
{
    Signature sig = {
        "double",
        "float *restrict params, float *restrict grads, const void *x_in, const void *y_in, int64_t batch,\n"
        "    float *restrict arena, uint64_t seed",
        "params, grads, x_in, y_in, batch, arena, seed",
        arena_printf(c->arena, "    const %s *restrict x = x_in;\n    const %s *restrict y = y_in;\n"
                               "    (void)params;\n    (void)grads;\n    (void)batch;\n    (void)arena;\n"
                               "    (void)seed;\n    (void)x;\n    (void)y;\n", xt, yt),
        false,
    };
    if (backend_parts(f) > 1)
        print_parts(out, name, f, &sig);
    fprintf(out, "static double %s(float *restrict params, float *restrict grads, const void *x_in,\n"
                 "                            const void *y_in, int64_t batch, float *restrict arena, uint64_t seed)\n{\n"
                 "    const %s *restrict x = x_in;\n    const %s *restrict y = y_in;\n    double loss = 0;\n"
                 "    (void)seed;\n    (void)x;\n    (void)y;\n",
            name, xt, yt);
    print_body_of(out, name, f, &sig);
    fputs("    return loss;\n}\n\n", out);
}

/* NAME_train_step_checked: the train step with check(ctx, k, loss) after
 * each instruction k, for naming the first operation that produced a NaN
 * or an infinity (train.c reruns a failed step with it). It runs only
 * then, so it is cold: optimized for size, out of the hot code. */
static void print_checked_step(FILE *out, Compiler *c, const char *name, const LFunc *f, const char *xt, const char *yt,
                               bool first)
{
    if (first)
        fputs("#ifndef NC_CHECKED\n#ifdef __GNUC__\n#define NC_CHECKED static __attribute__((noinline, cold))\n#else\n"
              "#define NC_CHECKED static\n#endif\n#endif\n\n", out);
    const char *params = "float *restrict params, float *restrict grads, const void *x_in, const void *y_in, int64_t batch,\n"
                         "    float *restrict arena, uint64_t seed, rt_check_fn check, void *ctx";
    const char *locals = arena_printf(c->arena, "    const %s *restrict x = x_in;\n    const %s *restrict y = y_in;\n"
                                                "    (void)params;\n    (void)grads;\n    (void)batch;\n    (void)arena;\n"
                                                "    (void)seed;\n    (void)x;\n    (void)y;\n", xt, yt);
    Signature sig = { "double", params, "params, grads, x_in, y_in, batch, arena, seed, check, ctx", locals, true };
    if (backend_parts(f) > 1)
        print_parts(out, name, f, &sig);
    fprintf(out, "NC_CHECKED double %s(%s)\n{\n%s    double loss = 0;\n", name, params, locals);
    print_body_of(out, name, f, &sig);
    fputs("    return loss;\n}\n\n", out);
}

/* The rt_program initializer is printed from the struct rtprogram_fill
 * makes, the one the JIT runs, so the two backends describe a program
 * alike by construction. */

/* A float field: the shortest text that reads back as the same float. */
static const char *float_field(char buf[48], float f)
{
    for (int digits = 6; digits <= 9; digits++) {
        snprintf(buf, 40, "%.*g", digits, (double)f);
        if (strtof(buf, NULL) == f)
            break;
    }
    strcat(buf, strpbrk(buf, ".eni") ? "f" : ".0f");
    return buf;
}

static void print_dims(FILE *out, const char *prefix, int rank, const int64_t *dims, int64_t size)
{
    /* rank 0 (one label per sample) leaves dims zero: `{}` is not C11 */
    fprintf(out, "    .%s_rank = %d,\n", prefix, rank);
    if (rank) {
        fprintf(out, "    .%s_dims = {", prefix);
        for (int i = 0; i < rank; i++)
            fprintf(out, "%s%lld", i ? ", " : " ", (long long)dims[i]);
        fputs(" },\n", out);
    }
    fprintf(out, "    .%s_size = %lld,\n", prefix, (long long)size);
}

static void print_source(FILE *out, const char *field, const rt_source *d)
{
    fprintf(out, "        .%s = { .kind = %s, .path = ", field, source_names[d->kind]);
    emit_c_string(out, d->path);
    fputs(", .labels_path = ", out);
    emit_c_string(out, d->labels_path);
    char b1[48], b2[48];
    fprintf(out, ", .scale = %s, .shift = %s, .label_column = %d, .header = %s, .seq = %lld%s },\n",
            float_field(b1, d->scale), float_field(b2, d->shift), d->label_column, d->header ? "true" : "false",
            (long long)d->seq, d->real_labels ? ", .real_labels = true" : "");
}

static void print_optimizer(FILE *out, const rt_optimizer *o)
{
    char b[8][48];
    fprintf(out, "{ .kind = %s, .lr = %s, .momentum = %s, .nesterov = %s, .beta1 = %s, "
                 ".beta2 = %s, .eps = %s, .alpha = %s, .weight_decay = %s }",
            opt_names[o->kind], float_field(b[0], o->lr), float_field(b[1], o->momentum), o->nesterov ? "true" : "false",
            float_field(b[2], o->beta1), float_field(b[3], o->beta2), float_field(b[4], o->eps), float_field(b[5], o->alpha),
            float_field(b[6], o->weight_decay));
}

static void print_config(FILE *out, const rt_train_config *t, const char *id)
{
    fputs("    .config = {\n        .base_dir = ", out);
    emit_c_string(out, t->base_dir);
    fputs(",\n", out);
    const rt_optimizer *o = &t->opt;
    print_source(out, "data", &t->data);
    print_source(out, "test", &t->test);
    char b[8][48];
    fputs("        .opt = ", out);
    print_optimizer(out, o);
    fputs(",\n", out);
    fprintf(out, "        .sched = { .kind = %s, .warmup = %lld, .every = %lld, .gamma = %s, .min_lr = %s },\n",
            sched_names[t->sched.kind], (long long)t->sched.warmup, (long long)t->sched.every, float_field(b[0], t->sched.gamma),
            float_field(b[1], t->sched.min_lr));
    fprintf(out, "        .batch = %lld, .epochs = %lld, .steps = %lld, .seed = %lluu, .clip = %s,\n",
            (long long)t->batch, (long long)t->epochs, (long long)t->steps, (unsigned long long)t->seed,
            float_field(b[2], t->clip));
    if (t->naugment)
        fprintf(out, "        .augment = %s_augment,\n        .naugment = %d,\n", id, t->naugment);
    print_source(out, "val", &t->val);
    fprintf(out, "        .val_fraction = %s, .eval_every = %lld, .stop_after = %lld, .monitor = %s,\n",
            float_field(b[0], t->val_fraction), (long long)t->eval_every, (long long)t->stop_after,
            t->monitor == RT_MONITOR_VAL_ACCURACY ? "RT_MONITOR_VAL_ACCURACY" : "RT_MONITOR_VAL_LOSS");
    if (t->init_path) {
        fputs("        .init_path = ", out);
        emit_c_string(out, t->init_path);
        fputs(",\n", out);
    }
    fputs("    },\n", out);
}

/* The file's opening comment, includes and the scalar helpers of fused loops. */
void emit_c_preamble(FILE *out, Compiler *c, const LProgram *lp)
{
    const char *id = c_ident(c, lp->name);
    fprintf(out, "/* %s.c — generated by netc %s from ", id, NETC_VERSION);
    for (const char *p = lp->source; *p; p++)
        if (!(p[0] == '*' && p[1] == '/') && (unsigned char)*p >= 0x20)
            fputc(*p, out);
    fputs(". Do not edit: change the .net file and run netc again.\n"
          " * Shapes are constants; the batch size is the only run-time dimension. */\n"
          "#include <math.h>\n#include <stdbool.h>\n#include <stdint.h>\n#include <string.h>\n\n#include \"netrt.h\"\n\n"
          "/* Activations inside fused loops, to the bits of the runtime's kernels\n"
          " * (relu keeps NaN and -0); other activations run the kernels. */\n"
          "static inline float nc_relu(float x) { return 0.0f > x ? 0.0f : x; }\n"
          "static inline float nc_leaky(float x, float a) { return x > 0.0f ? x : a * x; }\n\n", out);
}

/* An inference function over x_in: NAME_forward(params, x, out, batch,
 * arena), and NAME_step with the position `pos` after the arena. `head`
 * is printed before it (a comment, or ""). */
static void print_inference(FILE *out, Compiler *c, const char *name, const LFunc *f, const char *xt, bool pos,
                            const char *head)
{
    const char *params = arena_printf(c->arena, "const float *restrict params, const void *x_in, float *restrict out,"
                                                " int64_t batch,\n    float *restrict arena%s", pos ? ", int64_t pos" : "");
    const char *unused_pos = pos ? "    (void)pos;\n" : "";
    Signature sig = {
        "void",
        params,
        pos ? "params, x_in, out, batch, arena, pos" : "params, x_in, out, batch, arena",
        arena_printf(c->arena, "    const %s *restrict x = x_in;\n    (void)params;\n    (void)x;\n    (void)out;\n"
                               "    (void)batch;\n    (void)arena;\n%s", xt, unused_pos),
        false,
    };
    if (backend_parts(f) > 1)
        print_parts(out, name, f, &sig);
    fprintf(out, "%sstatic void %s(%s)\n{\n    const %s *restrict x = x_in;\n    (void)arena;\n%s", head, name, params, xt,
            unused_pos);
    if (backend_parts(f) > 1)
        fputs("    (void)x;\n", out);
    print_body_of(out, name, f, &sig);
    fputs("}\n\n", out);
}

void emit_c_forward(FILE *out, Compiler *c, const LProgram *lp)
{
    const char *id = c_ident(c, lp->name);
    print_inference(out, c, arena_printf(c->arena, "%s_forward", id), &lp->forward,
                    lp->x_dtype == DT_I32 ? "int32_t" : "float", false, "");
}
/* What each instruction of a checked step is (rt_op_desc), when it has any. */
static void print_ops(FILE *out, const char *name, int nops, const rt_op_desc *ops)
{
    if (!nops)
        return;
    fprintf(out, "static const rt_op_desc %s[] = {\n", name);
    for (int k = 0; k < nops; k++) {
        fputs("    { ", out);
        emit_c_string(out, ops[k].layer);
        fputs(", ", out);
        emit_c_string(out, ops[k].op);
        fprintf(out, ", %d, %s },\n", ops[k].line, ops[k].backward ? "true" : "false");
    }
    fputs("};\n\n", out);
}

/* The constant tables rt_program points to: the parameters, the checked
 * steps' instructions, the augmentations, the steps of a train block of
 * steps. */
static void print_tables(FILE *out, Compiler *c, const char *id, const rt_program *rp)
{
    fprintf(out, "static const rt_param_desc %s_params[] = {\n", id);
    for (int k = 0; k < rp->nparams; k++) {
        const rt_param_desc *d = &rp->params[k];
        fputs("    { ", out);
        emit_c_string(out, d->name);
        fprintf(out, ", %d, {", d->rank);
        for (int i = 0; i < d->rank; i++)
            fprintf(out, "%s%lld", i ? ", " : " ", (long long)d->dims[i]);
        fprintf(out, " }, %lld, %lld, %s, %lld, %lld, %s", (long long)d->offset, (long long)d->count,
                init_names[d->init], (long long)d->fan_in, (long long)d->fan_out, d->trainable ? "true" : "false");
        /* every field, even the NULL: the generated C is clean under -Wextra */
        fputs(", ", out);
        emit_c_string(out, d->init_from);
        fprintf(out, ", %s", d->frozen ? "true" : "false");
        fputs(" },\n", out);
    }
    fputs("};\n\n", out);
    print_ops(out, arena_printf(c->arena, "%s_ops", id), rp->nops, rp->ops);
    for (int k = 0; k < rp->nsteps; k++)
        print_ops(out, arena_printf(c->arena, "%s_ops%d", id, k), rp->steps[k].nops, rp->steps[k].ops);
    if (rp->config.naugment) {
        char b1[48], b2[48];
        fprintf(out, "static const rt_augment %s_augment[] = {\n", id);
        for (int k = 0; k < rp->config.naugment; k++) {
            const rt_augment *a = &rp->config.augment[k];
            fprintf(out, "    { %s, %s, %s },\n", augment_names[a->kind], float_field(b1, a->a), float_field(b2, a->b));
        }
        fputs("};\n\n", out);
    }
    if (rp->nsteps) {
        fprintf(out, "static const rt_step %s_steps[] = {\n", id);
        for (int k = 0; k < rp->nsteps; k++) {
            const rt_step *st = &rp->steps[k];
            fputs("    { .model = ", out);
            emit_c_string(out, st->model);
            fprintf(out, ", .begin = %lld, .end = %lld, .arena_floats = %lld, .train_step = %s_train_step%d,\n"
                         "      .checked_step = %s_train_step%d_checked, .nops = %d, .ops = %s_ops%d,\n      .opt = ",
                    (long long)st->begin, (long long)st->end, (long long)st->arena_floats, id, k, id, k, st->nops, id, k);
            print_optimizer(out, &st->opt);
            if (st->has_sched || st->clip > 0) {
                char b[3][48];
                fprintf(out, ",\n      .has_sched = %s, .sched = { .kind = %s, .warmup = %lld, .every = %lld, .gamma = %s, "
                        ".min_lr = %s }, .clip = %s", st->has_sched ? "true" : "false", sched_names[st->sched.kind],
                        (long long)st->sched.warmup, (long long)st->sched.every, float_field(b[0], st->sched.gamma),
                        float_field(b[1], st->sched.min_lr), float_field(b[2], st->clip));
            }
            fputs(" },\n", out);
        }
        fputs("};\n\n", out);
    }
}

void emit_c(FILE *out, Compiler *c, const LProgram *lp, bool emit_main)
{
    const char *id = c_ident(c, lp->name);
    emit_c_preamble(out, c, lp);
    const char *xt = lp->x_dtype == DT_I32 ? "int32_t" : "float";
    const char *yt = lp->y_dtype == DT_I32 ? "int32_t" : "float";
    bool train = lp->train && !lp->inference;
    if (train && !lp->nsteps) {
        print_train_step(out, c, arena_printf(c->arena, "%s_train_step", id), &lp->train_step, xt, yt);
        print_checked_step(out, c, arena_printf(c->arena, "%s_train_step_checked", id), &lp->train_step, xt, yt, true);
    }
    for (int k = 0; train && k < lp->nsteps; k++) {
        print_train_step(out, c, arena_printf(c->arena, "%s_train_step%d", id, k), &lp->steps[k].fn, xt, yt);
        print_checked_step(out, c, arena_printf(c->arena, "%s_train_step%d_checked", id, k), &lp->steps[k].fn, xt, yt,
                           k == 0);
    }
    emit_c_forward(out, c, lp);
    if (lp->has_step)
        print_inference(out, c, arena_printf(c->arena, "%s_step", id), &lp->step, xt, true,
                        arena_printf(c->arena,
                                     "/* One position of the sequence (compiler/step.c): the arena's first\n"
                                     " * %lld floats per sample carry the layers' state to the next call. */\n",
                                     (long long)lp->step_state_floats));

    rt_program rp;
    rtprogram_fill(c, lp, &rp);
    if (lp->inference)
        rp.nsteps = 0;
    if (lp->weights)
        emit_c_weights(out, id, lp->weights, rp.param_floats);
    print_tables(out, c, id, &rp);
    fprintf(out, "const rt_program %s_program = {\n    .name = ", id);
    emit_c_string(out, rp.name);
    fputs(",\n    .source = ", out);
    emit_c_string(out, rp.source);
    fprintf(out, ",\n    .param_floats = %lld,\n    .trainable_floats = %lld,\n    .nparams = %d,\n    .params = %s_params,\n",
            (long long)rp.param_floats, (long long)rp.trainable_floats, rp.nparams, id);
    print_dims(out, "x", rp.x_rank, rp.x_dims, rp.x_size);
    fprintf(out, "    .x_dtype = %s,\n", rp.x_dtype == RT_I32 ? "RT_I32" : "RT_F32");
    if (rp.x_name) {
        fputs("    .x_name = ", out);
        emit_c_string(out, rp.x_name);
        fputs(",\n", out);
    }
    if (rp.x_vocab)
        fprintf(out, "    .x_vocab = %lld,\n", (long long)rp.x_vocab);
    if (lp->train) {
        print_dims(out, "y", rp.y_rank, rp.y_dims, rp.y_size);
        fprintf(out, "    .y_dtype = %s,\n", rp.y_dtype == RT_I32 ? "RT_I32" : "RT_F32");
    }
    print_dims(out, "out", rp.out_rank, rp.out_dims, rp.out_size);
    fprintf(out, "    .loss = %s,\n    .train_arena_floats = %lld,\n    .eval_arena_floats = %lld,\n",
            loss_names[rp.loss], (long long)rp.train_arena_floats, (long long)rp.eval_arena_floats);
    if (rp.eval_scratch_floats)
        fprintf(out, "    .eval_scratch_floats = %lld,\n", (long long)rp.eval_scratch_floats);
    if (rp.max_batch) {
        fprintf(out, "    .max_batch = %lld,\n    .max_batch_layer = ", (long long)rp.max_batch);
        emit_c_string(out, rp.max_batch_layer);
        fputs(",\n", out);
    }
    if (train && !lp->nsteps)
        fprintf(out, "    .train_step = %s_train_step,\n    .checked_step = %s_train_step_checked,\n"
                     "    .nops = %d,\n    .ops = %s_ops,\n", id, id, rp.nops, id);
    fprintf(out, "    .forward = %s_forward,\n", id);
    if (lp->has_step)
        fprintf(out, "    .step = %s_step,\n    .step_arena_floats = %lld,\n    .step_state_floats = %lld,\n"
                     "    .step_x_size = %lld,\n    .step_out_size = %lld,\n    .step_context = %lld,\n",
                id, (long long)rp.step_arena_floats, (long long)rp.step_state_floats, (long long)rp.step_x_size,
                (long long)rp.step_out_size, (long long)rp.step_context);
    else if (rp.step_missing) {
        fputs("    .step_missing = ", out);
        emit_c_string(out, rp.step_missing);
        fputs(",\n", out);
    }
    print_config(out, &rp.config, id);
    if (rp.nsteps)
        fprintf(out, "    .nsteps = %d,\n    .steps = %s_steps,\n", rp.nsteps, id);
    if (rp.nsteps) {
        print_dims(out, "data", rp.data_rank, rp.data_dims, rp.data_size);
        fprintf(out, "    .data_dtype = %s,\n", rp.data_dtype == RT_I32 ? "RT_I32" : "RT_F32");
    }
    if (rp.reconstructs)
        fputs("    .reconstructs = true,\n", out);
    if (lp->inference)
        fputs("    .inference = true,\n", out);
    if (rp.noise_input)
        fprintf(out, "    .noise_input = true,\n    .noise_uniform = %s,\n", rp.noise_uniform ? "true" : "false");
    if (lp->weights)
        fprintf(out, "    .weights = %s_weights.f,\n", id);
    fputs("    .source_sha256 = ", out);
    emit_c_string(out, rp.source_sha256);
    fputs(",\n};\n", out);
    if (emit_main && lp->weights)
        fprintf(out, "\nint main(int argc, char **argv)\n{\n    return rt_predict_main(&%s_program, argc, argv);\n}\n", id);
    else if (emit_main)
        fprintf(out, "\nint main(int argc, char **argv)\n{\n    return rt_main(&%s_program, argc, argv);\n}\n", id);
}

/* NAME in capitals, for a header's include guard. */
void emit_c_guard(const char *id, char *guard, size_t len)
{
    size_t k = 0;
    for (const char *p = id; *p && k + 3 < len; p++)
        guard[k++] = (char)((*p >= 'a' && *p <= 'z') ? *p - 32 : *p);
    guard[k] = '\0';
}

/* A shape as C array dimensions in a header's comment: [1][28][28]. */
void emit_c_dims(FILE *out, const Shape *s)
{
    fputc('[', out);
    for (int i = 0; i < s->rank; i++)
        fprintf(out, "%s%lld", i ? "][" : "", (long long)s->dim[i]);
    fputc(']', out);
}

/* The header's sentence on a bounded context. */
static const char *context_sentence(const LProgram *lp)
{
    static char buf[200];
    snprintf(buf, sizeof buf, "After %lld positions\n * (the context) it slides: the newest %lld tokens are fed again.",
             (long long)lp->step_context, (long long)lp->step_context / 2);
    return buf;
}

/* NAME.h: the embedding API, thin names over libnetrt's rt_model. */
void emit_c_header(FILE *out, const LProgram *lp)
{
    const char *id = lp->name; /* model names are identifiers (the grammar's) */
    char guard[300];
    emit_c_guard(id, guard, sizeof guard);
    fprintf(out,
            "/* %s.h — the C API of model '%s', generated by netc %s. Link %s.c with libnetrt.a\n"
            " * (cc app.c %s.c -I<netrt.h folder> libnetrt.a -ljansson -lz -lpng -lm -lpthread).\n"
            " *\n"
            " * Shapes, one sample each (a batch is `batch` samples back to back):\n",
            id, id, NETC_VERSION, id, id);
    fprintf(out, " *   input  %s", lp->x_dtype == DT_I32 ? "int32_t" : "float");
    emit_c_dims(out, &lp->x_shape);
    fputs("\n *   output float", out);
    emit_c_dims(out, &lp->out_shape);
    fputs("\n", out);
    if (lp->train && !lp->nsteps) {
        fprintf(out, " *   labels %s", lp->y_dtype == DT_I32 ? "int32_t" : "float");
        emit_c_dims(out, &lp->y_shape);
        fputs("\n", out);
    }
    fprintf(out,
            " *\n"
            " * Functions that can fail return 0 on success or write a message into err. */\n"
            "#ifndef %s_H\n#define %s_H\n\n#include \"netrt.h\"\n\n"
            "extern const rt_program %s_program;\n\n"
            "typedef rt_model %s_model;\n\n"
            "/* A model with parameters initialised from seed, able to run batches of up\n"
            " * to max_batch samples. NULL (and a message in err) if memory is short. */\n"
            "static inline %s_model *%s_init(uint64_t seed, int64_t max_batch, char *err, size_t errlen)\n"
            "{\n    return rt_model_new(&%s_program, seed, max_batch, err, errlen);\n}\n\n"
            "/* Inference: out receives batch * output values. */\n"
            "static inline int %s_forward(%s_model *m, const %s *x, float *out, int64_t batch)\n"
            "{\n    return rt_model_forward(m, x, out, batch);\n}\n\n",
            guard, guard, id, id, id, id, id, id, id, lp->x_dtype == DT_I32 ? "int32_t" : "float");
    if (lp->train && !lp->nsteps)
        fprintf(out,
                "/* One optimizer step on a batch with the train block's optimizer and\n"
                " * schedule; returns the batch's mean loss (NaN on a bad batch size). */\n"
                "static inline double %s_train_step(%s_model *m, const %s *x, const %s *labels, int64_t batch)\n"
                "{\n    return rt_model_train_step(m, x, labels, batch);\n}\n\n",
                id, id, lp->x_dtype == DT_I32 ? "int32_t" : "float", lp->y_dtype == DT_I32 ? "int32_t" : "float");
    if (lp->train && lp->nsteps)
        fprintf(out,
                "/* One training iteration: every step block in order on a batch of real data\n"
                " * (scaled as the data line says), each step drawing its own noise as `train`\n"
                " * does; returns the sum of the steps' mean losses (NaN on a bad batch size).\n"
                " * %s_step_loss(m, k): step k's mean loss in that iteration. */\n"
                "static inline double %s_train_step(%s_model *m, const %s *real, int64_t batch)\n"
                "{\n    return rt_model_train_step(m, real, NULL, batch);\n}\n\n"
                "static inline double %s_step_loss(const %s_model *m, int k)\n"
                "{\n    return rt_model_step_loss(m, k);\n}\n\n",
                id, id, id, lp->data_dtype == DT_I32 ? "int32_t" : "float", id, id);
    if (lp->has_step)
        fprintf(out,
                "/* Generation, one token at a time (docs/embedding.md): a generator holds the\n"
                " * step function's state for one sequence (recurrent layers' h and c, attention's\n"
                " * key/value cache) and reads m's parameters, so m must outlive it. %s_step feeds\n"
                " * a token and returns the scores of the next (%lld floats, valid until the next\n"
                " * call), or NULL for a token outside the vocabulary; it allocates nothing. %s\n"
                " * %s_reset starts a new sequence. */\n"
                "typedef rt_generator %s_generator;\n\n"
                "static inline %s_generator *%s_generator_new(%s_model *m, char *err, size_t errlen)\n"
                "{\n    return rt_generator_new(&%s_program, rt_model_params(m), err, errlen);\n}\n\n"
                "static inline const float *%s_step(%s_generator *g, int32_t token)\n"
                "{\n    return rt_generator_feed(g, token);\n}\n\n"
                "static inline void %s_reset(%s_generator *g)\n{\n    rt_generator_reset(g);\n}\n\n"
                "static inline void %s_generator_free(%s_generator *g)\n{\n    rt_generator_free(g);\n}\n\n",
                id, (long long)lp->step_out_size,
                lp->step_context ? context_sentence(lp) : "Recurrent state carries on without bound.",
                id, id, id, id, id, id, id, id, id, id, id, id);
    fprintf(out,
            "/* Weights from / to a safetensors checkpoint (the files `train --save` writes). */\n"
            "static inline int %s_load(%s_model *m, const char *path, char *err, size_t errlen)\n"
            "{\n    return rt_model_load(m, path, err, errlen);\n}\n\n"
            "static inline int %s_save(%s_model *m, const char *path, char *err, size_t errlen)\n"
            "{\n    return rt_model_save(m, path, err, errlen);\n}\n\n"
            "static inline void %s_free(%s_model *m)\n{\n    rt_model_free(m);\n}\n\n#endif\n",
            id, id, id, id, id, id);
}
