/* compile.c — a compilation's life: load the source, run the passes in
 * order (the front end's, then the back end's over each function), free
 * everything at once. */
#include "compiler.h"
#include "netrt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void compiler_init(Compiler *c, const char *path, const char *text, size_t len, FILE *diag_out)
{
    memset(c, 0, sizeof *c);
    c->arena = arena_new();
    c->src.path = arena_strdup(c->arena, path);
    char *copy = arena_alloc(c->arena, len + 1);
    memcpy(copy, text, len);
    c->src.text = copy;
    c->src.len = len;
    /* Line starts, for diag_line_col: the back ends ask for the line of
     * every instruction, and scanning from the start each time made
     * `netc emit` of a 4,000-layer file quadratic (2.3 s, 66% of it in
     * the scan). */
    uint32_t nlines = 1;
    for (size_t i = 0; i < len; i++)
        nlines += copy[i] == '\n';
    uint32_t *starts = arena_alloc(c->arena, sizeof *starts * nlines);
    starts[0] = 0;
    for (size_t i = 0, l = 1; i < len; i++)
        if (copy[i] == '\n')
            starts[l++] = (uint32_t)(i + 1);
    c->src.line_starts = starts;
    c->src.nlines = nlines;
    diag_init(&c->diag, &c->src, diag_out);
}

void compiler_free(Compiler *c)
{
    arena_free(c->arena);
    memset(c, 0, sizeof *c);
}

/* Reads the whole file, refusing what cannot be a .net file before the
 * lexer sees it: directories, unreadable files and anything over the size
 * limit (a 100 MB line is refused here, in a line). */
bool source_load(Compiler *c, const char *path, FILE *errout)
{
    char err[512];
    int fd = rt_open_regular(path, err, sizeof err);
    FILE *f = fd < 0 ? NULL : fdopen(fd, "rb");
    if (!f) {
        if (fd >= 0)
            close(fd);
        rt_sanitize_text(err);
        fprintf(errout, "netc: error: %s\n", fd < 0 ? err : strerror(errno));
        return false;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        die("out of memory");
    for (;;) {
        if (len == cap) {
            if (cap > SOURCE_MAX_BYTES) {
                fprintf(errout, "netc: error: %s: file is larger than %u MiB; a .net file is a short program, not data\n",
                        path, SOURCE_MAX_BYTES >> 20);
                free(buf);
                fclose(f);
                return false;
            }
            cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb)
                die("out of memory");
            buf = nb;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            if (ferror(f)) {
                fprintf(errout, "netc: error: %s: %s\n", path, strerror(errno ? errno : EIO));
                free(buf);
                fclose(f);
                return false;
            }
            break;
        }
    }
    fclose(f);
    if (len > SOURCE_MAX_BYTES) {
        fprintf(errout, "netc: error: %s: file is larger than %u MiB; a .net file is a short program, not data\n",
                path, SOURCE_MAX_BYTES >> 20);
        free(buf);
        return false;
    }
    /* A UTF-8 byte order mark (some Windows editors write one) is not
     * part of the program; columns count from after it, as gcc's do. */
    size_t skip = len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    /* Old Mac line ends (a lone CR) become LF, byte for byte, so that a
     * comment ends at its line and diagnostics count lines as an editor
     * does; CR LF stays (CR is blank space to the lexer). */
    for (size_t i = 0; i < len; i++)
        if (buf[i] == '\r' && (i + 1 == len || buf[i + 1] != '\n'))
            buf[i] = '\n';
    compiler_init(c, path, buf + skip, len - skip, errout);
    free(buf);
    return true;
}

/* The front end, one pass a line. */
bool compile_front(Compiler *c)
{
    if (!parse_source(c))
        return false;
    if (!sema_run(c))
        return false;
    return shape_verify(c, c->prog);
}

/* The back end's passes over one function (forward, or a train step whose
 * graph autodiff made), one a line, each dump after its pass. */
bool compile_unit(Compiler *c, Graph *g, const char *name, const TrainGraph *tg, const ParamLayout *pl, LFunc *out)
{
    Unit u;
    unit_init(c, &u, g, name, tg);
    fuse_unit(c, &u);
    if (c->dumps && strchr(c->dumps, 'F'))
        fuse_dump(c->dump_out, &u);
    plan_unit(c, &u, pl);
    if (c->dumps && strchr(c->dumps, 'P'))
        plan_dump(c->dump_out, &u);
    return lower_unit(c, &u, pl, out);
}
