/* kernels.c — the table of runtime functions the LIR calls, from
 * kernels.def: names, argument counts and parameter types, each row held
 * against the runtime's own prototype at compile time.
 * Requires nothing; read by lower.c (argument counts), emit_jit.c (imported
 * declarations) and emit_c.c (casts). */
#include "compiler.h"
#include "netrt.h"

#include <string.h>

/* A row that disagrees with its prototype in netrt.h fails here. */
#define KERNEL(name, ret, ...) \
    _Static_assert(_Generic(&name, ret (*)(__VA_ARGS__): 1, default: 0), \
                   "kernels.def: the row of " #name " differs from its prototype");
#include "kernels.def"
#undef KERNEL

/* Each row's types as text ("bool, bool, int, ..."), split at start-up. */
static const struct {
    const char *name, *ret, *params;
    void (*addr)(void); /* unused at run time: keeps the kernel linked into netc for the JIT */
} rows[K_COUNT] = {
#define KERNEL(name, ret, ...) [K_##name] = { #name, #ret, #__VA_ARGS__, (void (*)(void))name },
#include "kernels.def"
#undef KERNEL
};

static KernelInfo table[K_COUNT];

static const char *trim(char *s)
{
    while (*s == ' ')
        s++;
    size_t n = strlen(s);
    while (n && s[n - 1] == ' ')
        s[--n] = '\0';
    return s;
}

static void init_row(KernelInfo *k, int i)
{
    k->name = rows[i].name;
    snprintf(k->ret, sizeof k->ret, "%s", rows[i].ret);
    char text[512];
    snprintf(text, sizeof text, "%s", rows[i].params);
    k->nparams = 0;
    for (char *p = text, *comma; p; p = comma ? comma + 1 : NULL) {
        comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        if (k->nparams == LIR_MAX_ARGS)
            die("kernels.def: %s has more than %d parameters", k->name, LIR_MAX_ARGS);
        const char *type = trim(p);
        size_t len = strlen(type);
        if (len >= sizeof k->params[0])
            die("kernels.def: %s: parameter type '%s' is longer than %zu characters", k->name, type,
                sizeof k->params[0] - 1);
        memcpy(k->params[k->nparams++], type, len + 1);
    }
}

const KernelInfo *kernel_info(Kernel k)
{
    if (!table[0].name)
        for (int i = 0; i < K_COUNT; i++)
            init_row(&table[i], i);
    return &table[k];
}
