/* backend.c — what the two backends share and neither owns: the flags gcc
 * gets (cc for netc build, libgccjit for the JIT), so both compute the
 * same numbers, how a long function is split into parts, and the folder
 * the program's data names resolve against.
 * Requires nothing but the compilation. */
#include "compiler.h"
#include "netrt.h"

#include <libgen.h>
#include <limits.h>
#include <stdlib.h>

int backend_codegen_flags(const char *flags[BACKEND_MAX_FLAGS])
{
    static char march[64];
    snprintf(march, sizeof march, "-march=%s", rt_cpu_march());
    int n = 0;
    flags[n++] = "-O2";
    flags[n++] = march;
    flags[n++] = "-ffp-contract=off";
    return n;
}

const char *backend_source_dir(Compiler *c)
{
    char path[PATH_MAX];
    if (!realpath(c->src.path, path))
        return arena_strdup(c->arena, ".");
    return arena_strdup(c->arena, dirname(path));
}

int backend_parts(const LFunc *f)
{
    return f->n <= BACKEND_PART_MAX ? 1 : (f->n + BACKEND_PART_MAX - 1) / BACKEND_PART_MAX;
}

void backend_part_range(const LFunc *f, int k, int *begin, int *end)
{
    *begin = k * BACKEND_PART_MAX;
    *end = (k + 1) * BACKEND_PART_MAX < f->n ? (k + 1) * BACKEND_PART_MAX : f->n;
}
