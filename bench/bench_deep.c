/* bench_deep.c — compile time of deep models: `netc build` (front end,
 * emit_c, cc -O2, link) and the JIT's compile (libgccjit, in process) of
 * a model of `repeat N` dense blocks, N = 64 .. 4096. Both backends print
 * a long function as parts of at most BACKEND_PART_MAX instructions, so the
 * time per block should stay about constant; as one function, gcc's
 * points-to analysis made it grow with N (repeat 512 took 39 s to build,
 * repeat 4096 more than 15 minutes).
 *
 * A size is skipped, and said so, when the previous one's time doubled
 * would pass BUDGET seconds. Wall time is what a user waits; CPU time
 * (this process and its children: cc, as, ld) is less disturbed by a busy
 * machine. */
#include "compiler.h"
#include "netrt.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define BUDGET 100.0

static double wall(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* CPU seconds of this process and its waited-for children so far. */
static double cpu(void)
{
    struct rusage self, kids;
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &kids);
    double t = 0;
    const struct rusage *r[] = { &self, &kids };
    for (int i = 0; i < 2; i++)
        t += (double)r[i]->ru_utime.tv_sec + 1e-6 * (double)r[i]->ru_utime.tv_usec + (double)r[i]->ru_stime.tv_sec +
             1e-6 * (double)r[i]->ru_stime.tv_usec;
    return t;
}

static void write_model(const char *path, int depth)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(1);
    }
    fprintf(f,
            "layer block(x: f32[N]) {\n    return x -> dense(N) -> relu\n}\n\n"
            "model deep(x: f32[32]) -> f32[10] {\n    x -> repeat %d block -> dense(10)\n}\n\n"
            "train deep {\n    data csv(\"d.csv\", label_column = 0)\n    loss cross_entropy\n"
            "    optimizer sgd(lr = 0.01)\n    batch 8\n}\n",
            depth);
    if (fclose(f) != 0)
        exit(1);
}

/* netc build of path: wall and CPU seconds, false if it failed. */
static bool time_build(const char *netc, const char *path, const char *exe, double *w, double *c)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s build %s -o %s > /dev/null", netc, path, exe);
    double w0 = wall(), c0 = cpu();
    int rc = system(cmd);
    *w = wall() - w0;
    *c = cpu() - c0;
    return rc == 0;
}

/* Front end and lowering, then jit_compile: the JIT's part in seconds, and
 * the train step's instruction count. */
static bool time_jit(const char *path, double *w, double *c, int *ninstr)
{
    Compiler comp;
    LProgram lp;
    if (!source_load(&comp, path, stderr) || !compile_front(&comp) || !lower_program(&comp, NULL, &lp))
        return false;
    *ninstr = lp.train_step.n;
    double w0 = wall(), c0 = cpu();
    JitProgram *jp = jit_compile(&comp, &lp, NULL, stderr);
    *w = wall() - w0;
    *c = cpu() - c0;
    jit_free(jp);
    compiler_free(&comp);
    return jp != NULL;
}

int main(void)
{
    const char *build = getenv("BUILD") && *getenv("BUILD") ? getenv("BUILD") : "build";
    char netc[600], dir[] = "/tmp/netc-bench-deep-XXXXXX";
    snprintf(netc, sizeof netc, "%s/netc", build);
    if (access(netc, X_OK) != 0 || !mkdtemp(dir)) {
        fprintf(stderr, "bench_deep: no %s (run make first) or no temporary folder\n", netc);
        return 1;
    }
    static const int depths[] = { 64, 128, 256, 512, 1024, 2048, 4096 };
    printf("Compile time of `repeat N` dense blocks (32 wide): netc build (cc -O2) and the JIT (libgccjit -O2);\n"
           "functions are split into parts of at most %d LIR instructions. A size is skipped when the\n"
           "previous one's time doubled would pass %.0f s.\n",
           BACKEND_PART_MAX, BUDGET);
    printf("  %6s %8s | %9s %9s %12s | %9s %9s %12s\n", "N", "instrs", "build s", "cpu s", "cpu ms/block", "JIT s",
           "cpu s", "cpu ms/block");
    double last_build = 0, last_jit = 0;
    for (size_t i = 0; i < sizeof depths / sizeof depths[0]; i++) {
        int n = depths[i];
        char path[700], exe[700];
        snprintf(path, sizeof path, "%s/deep%d.net", dir, n);
        snprintf(exe, sizeof exe, "%s/deep%d", dir, n);
        write_model(path, n);
        int ninstr = 0;
        double jw = 0, jc = 0, bw = 0, bc = 0;
        bool jit = 2 * last_jit <= BUDGET, built = 2 * last_build <= BUDGET;
        if (jit && !time_jit(path, &jw, &jc, &ninstr)) {
            fprintf(stderr, "bench_deep: the JIT failed on repeat %d\n", n);
            return 1;
        }
        if (built && !time_build(netc, path, exe, &bw, &bc)) {
            fprintf(stderr, "bench_deep: netc build failed on repeat %d\n", n);
            return 1;
        }
        unlink(exe);
        unlink(path);
        printf("  %6d %8d |", n, ninstr);
        if (built)
            printf(" %9.2f %9.2f %12.2f |", bw, bc, 1e3 * bc / n);
        else
            printf(" %34s |", "skipped (over the budget)");
        if (jit)
            printf(" %9.2f %9.2f %12.2f\n", jw, jc, 1e3 * jc / n);
        else
            printf(" %34s\n", "skipped (over the budget)");
        fflush(stdout);
        last_build = built ? bw : 1e9;
        last_jit = jit ? jw : 1e9;
    }
    rmdir(dir);
    return 0;
}
