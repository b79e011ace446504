/* emit_infer.c — inference artefacts: `netc emit --inference` (the forward
 * pass alone as C with NAME_create / NAME_predict / NAME_destroy) and the
 * weights of a checkpoint embedded in generated C (`--weights FILE`), for
 * emit and for `netc build --inference`.
 *
 * Requires: an LProgram (its forward function and parameter layout).
 * Produces: C text. The forward function is emit_c's, byte for byte, so
 * the inference artefact computes what the training program's forward
 * computes, bit for bit. Nothing here emits gradients, optimizer state or
 * the training arena.
 */
#include "compiler.h"
#include "netrt.h"

#include <stdlib.h>
#include <string.h>

bool infer_load_weights(Compiler *c, LProgram *lp, const char *path, FILE *err)
{
    rt_program rp;
    rtprogram_fill(c, lp, &rp);
    float *block = arena_alloc(c->arena, sizeof *block * (size_t)(rp.param_floats + 1));
    rt_named_tensor *t = arena_alloc(c->arena, sizeof *t * (size_t)(rp.nparams + 1));
    for (int k = 0; k < rp.nparams; k++) {
        const rt_param_desc *d = &rp.params[k];
        t[k] = (rt_named_tensor){ .name = d->name, .dtype = RT_F32, .rank = d->rank, .data = block + d->offset };
        memcpy(t[k].dims, d->dims, sizeof d->dims);
    }
    char msg[1024];
    /* allow_extra: a training checkpoint also holds the optimizer's state */
    if (rt_checkpoint_load(path, t, rp.nparams, true, NULL, 0, NULL, msg, sizeof msg) != 0) {
        fprintf(err, "netc: error: --weights %s\n", msg);
        return false;
    }
    lp->weights = block;
    return true;
}

/* The parameter block as a 64-byte-aligned constant: exact bits, as
 * 32-bit words (shorter than decimal floats and compiled faster). */
void emit_c_weights(FILE *out, const char *id, const float *w, int64_t n)
{
    fprintf(out,
            "/* The weights, embedded: the parameter block, %lld floats as their bits. */\n"
            "static const union { uint32_t bits[%lld]; float f[%lld]; } %s_weights = {{",
            (long long)n, (long long)(n ? n : 1), (long long)(n ? n : 1), id);
    for (int64_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &w[i], 4);
        fprintf(out, "%s0x%08xu", i % 8 ? ", " : i ? ",\n    " : "\n    ", (unsigned)u);
    }
    fputs(n ? "\n}};\n\n" : "0 }};\n\n", out);
}

void emit_infer_c(FILE *out, Compiler *c, const LProgram *lp)
{
    const char *id = lp->name;
    const char *xt = lp->x_dtype == DT_I32 ? "int32_t" : "float";
    rt_program rp;
    rtprogram_fill(c, lp, &rp);
    emit_c_preamble(out, c, lp);
    fprintf(out, "#include <stdlib.h>\n\n#include \"%s.h\"\n\n", id);
    emit_c_forward(out, c, lp);
    if (lp->weights)
        emit_c_weights(out, id, lp->weights, rp.param_floats);
    int64_t arena = rp.eval_arena_floats, scratch = rp.eval_scratch_floats;
    fprintf(out,
            "struct %s_ctx {\n    const float *params;\n    float *arena;\n    int64_t max_batch;\n};\n\n"
            "%s_ctx *%s_create(const float *params, int64_t max_batch)\n{\n",
            id, id, id);
    if (lp->weights)
        fprintf(out, "    if (!params)\n        params = %s_weights.f;\n", id);
    fprintf(out,
            "    if (!params || max_batch < 1 || max_batch > (INT64_MAX / 4 - %lld) / %lld)\n        return NULL;\n"
            "    %s_ctx *m = calloc(1, sizeof *m);\n"
            "    size_t bytes = ((size_t)(max_batch * %lld + %lld) * sizeof(float) + 63) / 64 * 64;\n"
            "    float *x = calloc((size_t)max_batch * %lld, sizeof(%s)), *out = calloc((size_t)max_batch * %lld, sizeof(float));\n"
            "    if (m)\n        m->arena = aligned_alloc(64, bytes ? bytes : 64);\n"
            "    if (!m || !m->arena || !x || !out) {\n"
            "        if (m)\n            free(m->arena);\n        free(m);\n        free(x);\n        free(out);\n        return NULL;\n    }\n"
            "    m->params = params;\n    m->max_batch = max_batch;\n"
            "    /* one pass at the largest batch grows the kernels' scratch now, so\n"
            "     * predict allocates nothing afterwards */\n"
            "    %s_forward(params, x, out, max_batch, m->arena);\n"
            "    free(x);\n    free(out);\n    return m;\n}\n\n",
            (long long)scratch, (long long)(arena ? arena : 1), id, (long long)arena, (long long)scratch,
            (long long)rp.x_size, xt, (long long)rp.out_size, id);
    fprintf(out, "int %s_predict(%s_ctx *m, const %s *x, float *out, int64_t batch)\n{\n"
                 "    if (!m || !x || !out || batch < 1 || batch > m->max_batch)\n        return -1;\n",
            id, id, xt);
    if (rp.x_vocab)
        fprintf(out, "    for (int64_t i = 0; i < batch * %lld; i++)\n        if (x[i] < 0 || x[i] >= %lld)\n            return -1;\n",
                (long long)rp.x_size, (long long)rp.x_vocab);
    fprintf(out, "    %s_forward(m->params, x, out, batch, m->arena);\n    return 0;\n}\n\n", id);
    fprintf(out, "void %s_destroy(%s_ctx *m)\n{\n    if (m) {\n        free(m->arena);\n        free(m);\n    }\n}\n", id, id);
}

void emit_infer_header(FILE *out, Compiler *c, const LProgram *lp)
{
    rt_program rp;
    rtprogram_fill(c, lp, &rp);
    const char *id = lp->name;
    const char *xt = lp->x_dtype == DT_I32 ? "int32_t" : "float";
    char guard[300];
    emit_c_guard(id, guard, sizeof guard);
    fprintf(out,
            "/* %s.h — inference for model '%s', generated by netc %s (netc emit --inference).\n"
            " * The forward pass only: no gradients, no optimizer, no training arena.\n"
            " * Build: cc app.c %s.c -I<netrt.h folder> libnetrt.a -lm -lpthread\n"
            " * (libnetrt.a holds the kernels; -ljansson -lz -lpng are not needed).\n"
            " *\n"
            " * One sample: input %s",
            id, id, NETC_VERSION, id, xt);
    emit_c_dims(out, &lp->x_shape);
    fputs(", output float", out);
    emit_c_dims(out, &lp->out_shape);
    fprintf(out,
            "; a batch is\n"
            " * `batch` samples back to back. */\n"
            "#ifndef %s_INFER_H\n#define %s_INFER_H\n\n#include <stdint.h>\n\n"
            "/* The parameter block: each tensor of a checkpoint (train --save) at its\n"
            " * offset in floats, the gaps zero.\n",
            guard, guard);
    for (int t = 0; t < rp.nparams; t++) {
        const rt_param_desc *d = &rp.params[t];
        fprintf(out, " *   %-8lld ", (long long)d->offset);
        for (const char *p = d->name; *p; p++)
            if (!(p[0] == '*' && p[1] == '/') && (unsigned char)*p >= 0x20)
                fputc(*p, out);
        fputs(" [", out);
        for (int i = 0; i < d->rank; i++)
            fprintf(out, "%s%lld", i ? ", " : "", (long long)d->dims[i]);
        fputs("]\n", out);
    }
    fprintf(out,
            " */\n#define %s_PARAM_FLOATS %lld\n\n"
            "typedef struct %s_ctx %s_ctx;\n\n"
            "/* A context for batches of up to max_batch samples: its own activation\n"
            " * memory, allocated here and nowhere else. params is the parameter block\n"
            " * (read, never written, and kept by the context)%s. NULL if memory is short\n"
            " * or an argument is wrong. Contexts are independent: threads may predict\n"
            " * at once, each with its own. */\n"
            "%s_ctx *%s_create(const float *params, int64_t max_batch);\n\n"
            "/* out receives batch outputs; returns 0, or -1 (out untouched) when batch\n"
            " * is not in [1, max_batch]%s. Allocates nothing. */\n"
            "int %s_predict(%s_ctx *m, const %s *x, float *out, int64_t batch);\n\n"
            "void %s_destroy(%s_ctx *m);\n\n#endif\n",
            guard, (long long)rp.param_floats, id, id,
            lp->weights ? "; NULL for the weights embedded at generation" : "", id, id,
            lp->x_vocab ? " or a token id is out of range" : "", id, id, xt, id, id);
}
