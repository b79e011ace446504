/* bench_mlp.c — training throughput of examples/mlp.net as a user gets it:
 * `netc build` the example, run `./mlp train --steps N` on Fashion-MNIST
 * with 1 and 2 threads, and read the samples/s the binary reports (batch
 * gathering, forward, backward and the optimizer; data loading and the
 * test pass excluded). FLOPs per training sample come from the compiler's
 * cost model over the training graph, so GFLOP/s and the fraction of the
 * machine's FMA peak follow.
 *
 * Reference: PyTorch 1.13 on these two cores, best configuration, measured
 * about 42,000 samples/s (the figure; `make bench-compare` measures
 * it again in the same run). Peak: about 116 GFLOP/s FP32 FMA per core. */
#include "compiler.h"
#include "netrt.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PEAK_PER_CORE 116.0
#define TORCH_SAMPLES_PER_S 42000.0

static int64_t train_flops_per_sample(void)
{
    Compiler c;
    if (!source_load(&c, "examples/mlp.net", stderr) || !compile_front(&c))
        exit(1);
    TrainGraph tg;
    if (!autodiff_build(&c, &c.prog->trains[0], 0, &tg))
        exit(1);
    int64_t flops = 0;
    for (uint32_t i = 0; i < tg.g->nnodes; i++)
        flops += summary_node_flops(c.prog, tg.g, &tg.g->nodes[i]);
    compiler_free(&c);
    return flops;
}

/* The best of three runs' reported samples/s. */
static double measure(const char *exe, int threads, int steps)
{
    double best = 0;
    for (int r = 0; r < 3; r++) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "%s train --steps %d --threads %d 2>&1", exe, steps, threads);
        FILE *p = popen(cmd, "r");
        if (!p)
            exit(1);
        char line[512];
        double rate = 0;
        while (fgets(line, sizeof line, p)) {
            char *at = strstr(line, " samples/s");
            if (!at)
                continue;
            char *start = at;
            while (start > line && start[-1] != ' ')
                start--;
            char digits[64];
            size_t k = 0;
            for (char *q = start; q < at && k + 1 < sizeof digits; q++)
                if (*q != ',')
                    digits[k++] = *q;
            digits[k] = '\0';
            rate = strtod(digits, NULL);
        }
        if (pclose(p) != 0 || rate <= 0) {
            fprintf(stderr, "bench_mlp: '%s' failed\n", cmd);
            exit(1);
        }
        if (rate > best)
            best = rate;
    }
    return best;
}

int main(void)
{
    const char *build = getenv("BUILD") && *getenv("BUILD") ? getenv("BUILD") : "build";
    char exe[256], cmd[512];
    snprintf(exe, sizeof exe, "%s/bench/mlp", build);
    snprintf(cmd, sizeof cmd, "%s/netc build examples/mlp.net -o %s", build, exe);
    if (system(cmd) != 0) {
        fprintf(stderr, "bench_mlp: %s failed\n", cmd);
        return 1;
    }
    int64_t flops = train_flops_per_sample();
    int cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
    printf("MLP 784-512-256-10 (examples/mlp.net), batch 128, AdamW, Fashion-MNIST; %s kernels\n",
           rt_isa_name(rt_cpu_best_isa()));
    printf("training FLOPs per sample (forward + backward, cost model): %.3f MFLOP\n\n", (double)flops / 1e6);
    printf("%-8s %14s %10s %12s %14s\n", "threads", "samples/s", "GFLOP/s", "% of peak", "vs PyTorch");
    for (int t = 1; t <= cores && t <= 2; t++) {
        double rate = measure(exe, t, 1200);
        double gflops = rate * (double)flops / 1e9;
        printf("%-8d %14.0f %10.1f %11.1f%% %13.2fx\n", t, rate, gflops, 100.0 * gflops / (PEAK_PER_CORE * t),
               rate / TORCH_SAMPLES_PER_S);
    }
    printf("\npeak: %.0f GFLOP/s per core (FP32 FMA); PyTorch reference: %.0f samples/s on 2 cores (issue figure;\n"
           "make bench-compare measures it in the same run)\n", PEAK_PER_CORE, TORCH_SAMPLES_PER_S);
    return 0;
}
