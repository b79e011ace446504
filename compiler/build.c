/* build.c — `netc build` and `netc emit`: LIR to C, and C to a binary.
 * Requires: a lowered program. Produces: NAME.c (+ NAME.h) in a folder,
 * or a standalone binary linked against libnetrt. Files are written to a
 * temporary name and renamed, so a failed run leaves nothing half-written. */
#include "compiler.h"
#include "netrt.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* The runtime's header and library: $NETC_RUNTIME, else next to this
 * executable in the build tree (build/netc, runtime/netrt.h,
 * build/libnetrt.a), else an installed prefix (bin/, include/, lib/). */
bool build_find_runtime(char *inc, char *lib, size_t len)
{
    const char *env = getenv("NETC_RUNTIME");
    char self[PATH_MAX];
    if (env && *env) {
        snprintf(inc, len, "%s", env);
        snprintf(lib, len, "%s/libnetrt.a", env);
        char h[PATH_MAX];
        snprintf(h, sizeof h, "%s/netrt.h", env);
        return access(h, R_OK) == 0 && access(lib, R_OK) == 0;
    }
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return false;
    self[n] = '\0';
    char *dir = dirname(self);
    const char *layouts[][2] = { { "%s/../runtime", "%s/libnetrt.a" }, { "%s/../include", "%s/../lib/libnetrt.a" } };
    for (size_t i = 0; i < sizeof layouts / sizeof layouts[0]; i++) {
        char h[PATH_MAX + 16];
        snprintf(inc, len, layouts[i][0], dir);
        snprintf(lib, len, layouts[i][1], dir);
        snprintf(h, sizeof h, "%s/netrt.h", inc);
        if (access(h, R_OK) == 0 && access(lib, R_OK) == 0)
            return true;
    }
    return false;
}

/* What a Ctrl-C or kill during `netc build` must clean up: the cc child
 * (and the cc1, as, ld it starts, all in the child's process group), the
 * generated C, the half-written binary and the temporary folder. The
 * handler uses only async-signal-safe calls, then dies of the signal as
 * the shell expects. */
static volatile sig_atomic_t build_child;
static char build_tmpdir[PATH_MAX], build_cfile[PATH_MAX + 8], build_tmpout[PATH_MAX + 16];

static void build_on_signal(int sig)
{
    pid_t child = (pid_t)build_child;
    if (child > 0) {
        kill(-child, SIGKILL);
        while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    if (build_tmpout[0])
        unlink(build_tmpout);
    if (build_cfile[0])
        unlink(build_cfile);
    if (build_tmpdir[0])
        rmdir(build_tmpdir);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void build_signals(bool on)
{
    struct sigaction sa = { 0 };
    sa.sa_handler = on ? build_on_signal : SIG_DFL;
    sigemptyset(&sa.sa_mask);
    int sigs[] = { SIGINT, SIGTERM, SIGHUP };
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaction(sigs[i], &sa, NULL);
}

/* Runs argv, waits, and reports how it failed. */
static bool run(char *const argv[], FILE *err)
{
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(err, "netc: error: cannot start %s: %s\n", argv[0], strerror(errno));
        return false;
    }
    if (pid == 0) {
        setpgid(0, 0); /* one group for cc and its children, killed together */
        execvp(argv[0], argv);
        fprintf(stderr, "netc: error: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid);
    build_child = pid;
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            build_child = 0;
            return false;
        }
    build_child = 0;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return true;
    fprintf(err, "netc: error: %s failed (%s %d)\n", argv[0], WIFEXITED(status) ? "exit status" : "signal",
            WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    return false;
}

static bool write_c(Compiler *c, LProgram *lp, const char *path, bool with_main, FILE *err)
{
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    if (!mem)
        die("open_memstream");
    if (lp->inference && !with_main)
        emit_infer_c(mem, c, lp);
    else
        emit_c(mem, c, lp, with_main);
    fclose(mem);
    char msg[512];
    int rc = rt_write_file_atomic(path, text, len, msg, sizeof msg);
    free(text);
    if (rc) {
        fprintf(err, "netc: error: %s\n", msg);
        return false;
    }
    return true;
}

bool build_binary(Compiler *c, LProgram *lp, const char *output, bool keep_c, FILE *err)
{
    char inc[PATH_MAX], lib[PATH_MAX];
    if (!build_find_runtime(inc, lib, sizeof inc)) {
        fprintf(err, "netc: error: cannot find the runtime (netrt.h and libnetrt.a); set NETC_RUNTIME to their folder\n");
        return false;
    }
    lp->base_dir = backend_source_dir(c);
    /* The signal handler needs the names in static storage before the
     * files exist. The generated C is model.c whatever the model's name:
     * a legal 255-character name would not fit a file name with ".c". */
    char *tmpdir = build_tmpdir, *cfile = build_cfile, *tmpout = build_tmpout;
    build_tmpout[0] = build_cfile[0] = '\0';
    const char *tmp = getenv("TMPDIR");
    snprintf(build_tmpdir, sizeof build_tmpdir, "%s/netc-build-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    build_signals(true);
    if (!mkdtemp(tmpdir)) {
        fprintf(err, "netc: error: cannot create a temporary folder: %s\n", strerror(errno));
        build_tmpdir[0] = '\0';
        build_signals(false);
        return false;
    }
    char incflag[PATH_MAX + 2];
    snprintf(cfile, sizeof build_cfile, "%s/model.c", tmpdir);
    /* named like rt_write_file_atomic's temporaries, so a build killed
     * with SIGKILL leaves one the next write of this output removes */
    snprintf(tmpout, sizeof build_tmpout, "%s.tmp-XXXXXX", output);
    int tmpfd = mkstemp(tmpout);
    if (tmpfd < 0) {
        fprintf(err, "netc: error: %s: %s\n", output, strerror(errno));
        tmpout[0] = '\0';
        rmdir(tmpdir);
        build_tmpdir[0] = '\0';
        build_signals(false);
        return false;
    }
    /* the linker keeps the mode of the file it overwrites: give it what
     * cc -o would have created (netc is single-threaded here, so reading
     * the umask by setting it is safe) */
    mode_t mask = umask(0);
    umask(mask);
    (void)fchmod(tmpfd, 0777 & ~mask);
    close(tmpfd);
    snprintf(incflag, sizeof incflag, "-I%s", inc);
    bool ok = write_c(c, lp, cfile, true, err);
    const char *cc = getenv("CC") && *getenv("CC") ? getenv("CC") : "cc";
    /* $NETC_CFLAGS: extra words for cc, e.g. the sanitizers the runtime
     * was built with (make asan), or -g to debug the generated code. */
    char *argv[64] = { (char *)cc, (char *)"-std=c11" };
    int argc = 2;
    const char *flags[BACKEND_MAX_FLAGS];
    for (int i = 0, n = backend_codegen_flags(flags); i < n; i++)
        argv[argc++] = (char *)flags[i];
    argv[argc++] = incflag;
    char *extra = getenv("NETC_CFLAGS") ? arena_strdup(c->arena, getenv("NETC_CFLAGS")) : NULL;
    for (char *save = NULL, *w = extra ? strtok_r(extra, " \t", &save) : NULL; w && argc < 48;
         w = strtok_r(NULL, " \t", &save))
        argv[argc++] = w;
    if (lp->link_static)
        argv[argc++] = (char *)"-static";
    if (lp->strip)
        argv[argc++] = (char *)"-s";
    const char *tail[] = { cfile, lib, "-ljansson", "-lz", "-lpng", "-lm", "-lpthread", "-o", tmpout };
    for (size_t i = 0; i < sizeof tail / sizeof tail[0]; i++)
        argv[argc++] = (char *)tail[i];
    argv[argc] = NULL;
    ok = ok && run(argv, err);
    if (ok && rename(tmpout, output) != 0) {
        fprintf(err, "netc: error: %s: %s\n", output, strerror(errno));
        ok = false;
    }
    if (!ok)
        unlink(tmpout);
    else
        rt_remove_stale_temps(output);
    if (keep_c && ok) {
        char kept[PATH_MAX + 4];
        snprintf(kept, sizeof kept, "%s.c", output);
        ok = write_c(c, lp, kept, true, err);
    }
    unlink(cfile);
    rmdir(tmpdir);
    build_signals(false);
    build_tmpout[0] = build_cfile[0] = build_tmpdir[0] = '\0';
    return ok;
}

static bool write_header(Compiler *c, const LProgram *lp, const char *path, FILE *err)
{
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    if (!mem)
        die("open_memstream");
    if (lp->inference)
        emit_infer_header(mem, c, lp);
    else
        emit_c_header(mem, lp);
    fclose(mem);
    char msg[512];
    int rc = rt_write_file_atomic(path, text, len, msg, sizeof msg);
    free(text);
    if (rc)
        fprintf(err, "netc: error: %s\n", msg);
    return rc == 0;
}

bool build_emit(Compiler *c, LProgram *lp, const char *dir, FILE *err)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        fprintf(err, "netc: error: %s: %s\n", dir, strerror(errno));
        return false;
    }
    lp->base_dir = backend_source_dir(c);
    char cpath[PATH_MAX], hpath[PATH_MAX];
    snprintf(cpath, sizeof cpath, "%s/%s.c", dir, lp->name);
    snprintf(hpath, sizeof hpath, "%s/%s.h", dir, lp->name);
    return write_c(c, lp, cpath, false, err) && write_header(c, lp, hpath, err);
}
