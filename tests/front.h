/* front.h — what the front end's suites share: compiling a text in
 * process with its diagnostics captured, dumping the AST, and running the
 * netc command as a subprocess with a timeout. */
#ifndef FRONT_H
#define FRONT_H

#include "compiler.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* One in-process compilation of `text` as "t.net". The compiler stays open
 * so a test can look at its program; fe_close frees everything. */
typedef struct FeRun {
    Compiler c;
    FILE *diag;
    char *out; /* the diagnostics, after fe_text */
    size_t len;
    bool ok;
} FeRun;

typedef enum FeStage { FE_PARSE, FE_SEMA, FE_FRONT } FeStage;

static inline void fe_open_n(FeRun *r, const char *text, size_t len, FeStage stage)
{
    memset(r, 0, sizeof *r);
    r->diag = open_memstream(&r->out, &r->len);
    ck_assert_ptr_nonnull(r->diag);
    compiler_init(&r->c, "t.net", text, len, r->diag);
    switch (stage) {
    case FE_PARSE: r->ok = parse_source(&r->c); break;
    case FE_SEMA: r->ok = parse_source(&r->c) && sema_run(&r->c); break;
    case FE_FRONT: r->ok = compile_front(&r->c); break;
    }
    fflush(r->diag);
}

static inline void fe_open(FeRun *r, const char *text)
{
    fe_open_n(r, text, strlen(text), FE_FRONT);
}

static inline void fe_close(FeRun *r)
{
    compiler_free(&r->c);
    fclose(r->diag);
    free(r->out);
    r->out = NULL;
}

/* The diagnostics of compiling `text`, malloc'd; *ok tells if it passed. */
static inline char *fe_diags(const char *text, bool *ok)
{
    FeRun r;
    fe_open(&r, text);
    if (ok)
        *ok = r.ok;
    compiler_free(&r.c);
    fclose(r.diag);
    return r.out;
}

/* The canonical AST text of a parse (or the diagnostics if it failed). */
static inline char *fe_ast(const char *text)
{
    FeRun r;
    fe_open_n(&r, text, strlen(text), FE_PARSE);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (r.ok)
        ast_dump(f, &r.c.decls);
    else
        fprintf(f, "ERROR\n%s", r.out ? r.out : "");
    fclose(f);
    fe_close(&r);
    return buf;
}

/* Compiles text that must be valid; fails the test with its diagnostics. */
static inline void fe_open_ok(FeRun *r, const char *text)
{
    fe_open(r, text);
    ck_assert_msg(r->ok, "expected no errors, got:\n%s", r->out);
    ck_assert_msg(r->c.diag.warnings == 0 && r->len == 0, "expected no diagnostics, got:\n%s", r->out);
}

/* A graph node by name, or NULL. */
static inline const Node *fe_node(const Graph *g, const char *name)
{
    for (uint32_t i = 0; i < g->nnodes; i++)
        if (g->nodes[i].name && !strcmp(g->nodes[i].name, name) && g->nodes[i].op != OP_param)
            return &g->nodes[i];
    return NULL;
}

static inline const Param *fe_param(const Program *p, const char *name)
{
    for (uint32_t i = 0; i < p->nparams; i++)
        if (!strcmp(p->params[i].name, name))
            return &p->params[i];
    return NULL;
}

static inline const Graph *fe_graph(const Program *p, const char *name)
{
    for (int i = 0; i < p->ngraphs; i++)
        if (!strcmp(p->graphs[i].name, name))
            return &p->graphs[i];
    return NULL;
}

/* "f32[2, 3]" of a node, into a static buffer. */
static inline const char *fe_type(Compiler *c, const Node *n)
{
    return ir_type_str(c, n->dtype, &n->shape);
}

/* ---------------------------------------------------------- subprocess */

static inline const char *fe_netc(void)
{
    const char *p = getenv("NETC");
    return p && *p ? p : "build/netc";
}

typedef struct FeProc {
    char *out, *err; /* malloc'd, NUL-terminated */
    size_t out_len, err_len;
    int status;      /* from wait4 */
    bool timed_out;
    long maxrss_kb;  /* the child's peak resident set (ru_maxrss) */
    double cpu_s;    /* the child's user + system CPU seconds */
} FeProc;

static inline char *fe_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            buf = realloc(buf, cap);
            ck_assert_ptr_nonnull(buf);
        }
        size_t k = fread(buf + n, 1, cap - n - 1, f);
        n += k;
        if (k == 0)
            break;
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

/* Runs argv (argv[0] is looked up as is) with stdin from /dev/null and its
 * output captured; kills it after timeout_s seconds. */
static inline void fe_spawn(FeProc *p, char *const argv[], int timeout_s)
{
    memset(p, 0, sizeof *p);
    char out_path[] = "/tmp/netc-test-out-XXXXXX", err_path[] = "/tmp/netc-test-err-XXXXXX";
    int fo = mkstemp(out_path), fe = mkstemp(err_path);
    ck_assert(fo >= 0 && fe >= 0);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        dup2(in, 0);
        dup2(fo, 1);
        dup2(fe, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    close(fo);
    close(fe);
    struct timespec nap = { 0, 5 * 1000 * 1000 };
    long waited_ms = 0;
    struct rusage ru = { 0 };
    for (;;) {
        pid_t w = wait4(pid, &p->status, WNOHANG, &ru);
        if (w == pid)
            break;
        ck_assert(w == 0);
        if (waited_ms > (long)timeout_s * 1000) {
            kill(pid, SIGKILL);
            wait4(pid, &p->status, 0, &ru);
            p->timed_out = true;
            break;
        }
        nanosleep(&nap, NULL);
        waited_ms += 5;
    }
    p->maxrss_kb = ru.ru_maxrss;
    p->cpu_s = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
               ru.ru_stime.tv_usec * 1e-6;
    p->out = fe_slurp(out_path, &p->out_len);
    p->err = fe_slurp(err_path, &p->err_len);
    unlink(out_path);
    unlink(err_path);
}

/* netc with up to four arguments (NULL-terminated). */
static inline void fe_netc_run(FeProc *p, const char *a1, const char *a2, const char *a3, const char *a4)
{
    char *argv[6] = { (char *)fe_netc(), (char *)a1, (char *)a2, (char *)a3, (char *)a4, NULL };
    fe_spawn(p, argv, 60);
}

static inline void fe_proc_free(FeProc *p)
{
    free(p->out);
    free(p->err);
}

/* The exit code, failing the test if the process died of a signal or hung. */
static inline int fe_exit_code(const FeProc *p)
{
    ck_assert_msg(!p->timed_out, "netc hung (killed after the timeout)");
    ck_assert_msg(WIFEXITED(p->status), "netc died of signal %d; stderr:\n%.2000s",
                  WIFSIGNALED(p->status) ? WTERMSIG(p->status) : -1, p->err);
    return WEXITSTATUS(p->status);
}

/* Writes len bytes to a fresh temporary file; returns its malloc'd path. */
static inline char *fe_temp_file(const char *bytes, size_t len)
{
    char tmpl[] = "/tmp/netc-test-XXXXXX.net";
    int fd = mkstemps(tmpl, 4);
    ck_assert(fd >= 0);
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, bytes + done, len - done);
        ck_assert(w > 0);
        done += (size_t)w;
    }
    close(fd);
    return strdup(tmpl);
}


/* Runs a command line of up to 30 words (NULL-terminated) under a time
 * bound; returns its exit code, its output in p. */
static inline int fe_run(FeProc *p, int timeout, const char *w0, ...)
{
    char *argv[32] = { (char *)w0 };
    va_list ap;
    va_start(ap, w0);
    int n = 1;
    for (const char *w; n < 31 && (w = va_arg(ap, const char *));)
        argv[n++] = (char *)w;
    va_end(ap);
    argv[n] = NULL;
    fe_spawn(p, argv, timeout);
    return fe_exit_code(p);
}

/* The activation ops (ops.def's ACT rows, OPF_ACTIVATION), so a test that
 * loops over fe_activation_count() checks every activation, a new one
 * included: the i-th as a call in a .net file, with a slope where the op
 * takes one ("leaky_relu(0.1)"), and its op. */
static inline Op fe_activation_op(int i)
{
    for (int op = 0; op < OP_COUNT; op++)
        if ((ir_ops[op].flags & OPF_ACTIVATION) && i-- == 0)
            return (Op)op;
    return OP_COUNT;
}

static inline int fe_activation_count(void)
{
    int n = 0;
    while (fe_activation_op(n) != OP_COUNT)
        n++;
    return n;
}

static inline const char *fe_activation_call(int i)
{
    static char buf[64];
    Op op = fe_activation_op(i);
    snprintf(buf, sizeof buf, "%s%s", ir_ops[op].name, strstr(ir_ops[op].signature, "alpha:") ? "(0.1)" : "");
    return buf;
}

#endif
