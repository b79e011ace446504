/* bench_generate.c — text generation speed of the language-model examples
 * on one thread: tokens per second through the step function (what
 * `sample` does per token: one position with the carried state or the
 * key/value cache, then drawing the next byte), against recomputing the
 * whole window for every token with `forward` (batch 1), which is what a
 * sampling loop over the plain forward pass costs.
 *
 * Weights are the seed's initialisation (the speed does not depend on
 * them). FLOPs per token are the compiler's cost model for the forward
 * pass over a window divided by its length: for attention, the average
 * position's share of the T x T products, which is what a step at
 * position t in [0, T) costs on average. Peak: one core's FP32 FMA rate,
 * measured in the same run (benchutil.h); floors: the 5,000 tokens/s for charlstm and 2,000 for
 * gpt.
 *
 * Where the time goes (1 thread, CPU time, on the shared machine at a load
 * of 15 on 2 cores, so a quiet machine does better):
 *  - charlstm: 6,600 tokens/s (152 us), 1.84 MFLOP per token, 12 GFLOP/s,
 *    10% of the FMA peak; 34x the window recompute. Nearly all of it is
 *    matrix-vector products (the LSTMs' 1024 x 64, 1024 x 256 and 2 x
 *    1024 x 256, the output layer's 256 x 256): each weight is read once
 *    per token for one FMA, so a token streams the 3.7 MB of weights from
 *    L2/L3 (24 GB/s at this rate), and that, not the FMA units, is the
 *    bound: the FLOP limit would be 63,000 tokens/s, 9.6x away, reachable
 *    only by generating several sequences at once (batch > 1 reuses each
 *    weight).
 *  - gpt: 3,400 tokens/s (297 us), 1.93 MFLOP per token (the average
 *    position's share of attention included), 6.5 GFLOP/s, 5.6% of peak,
 *    17x from the FLOP limit of 60,000 tokens/s; 12x the window
 *    recompute. The same weight streaming (3.4 MB), plus about 60 small
 *    calls per token (layernorms, the residual adds, 8 attention products
 *    per layer) whose fixed costs matter at this size. Fusing each dense
 *    layer's GELU into its GEMM epilogue took it from 2,000 to 3,400
 *    tokens/s (the generated loop called libm's tanhf per element).
 */
#include "benchutil.h" /* now, the measured peak */
#include "compiler.h"
#include "netrt.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PEAK_PER_CORE PEAK_GFLOPS_PER_CORE /* measured: benchutil.h */

typedef struct Example {
    const char *name;
    double floor; /* tokens/s, the issue's */
} Example;

static const Example examples[] = {
    { "charlstm", 5000 },
    { "gpt", 2000 },
};

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void bench(const Example *e)
{
    char path[256];
    snprintf(path, sizeof path, "examples/%s.net", e->name);
    Compiler c;
    LProgram lp;
    if (!source_load(&c, path, stderr) || !compile_front(&c) || !lower_program(&c, NULL, &lp))
        exit(1);
    const Graph *m = lp.model;
    int64_t flops = 0;
    for (uint32_t i = 0; i < m->nnodes; i++)
        flops += summary_node_flops(c.prog, m, &m->nodes[i]);
    int64_t T = lp.x_shape.dim[0];
    double per_token = (double)flops / (double)T;
    JitProgram *jp = jit_compile(&c, &lp, NULL, stderr);
    if (!jp)
        exit(1);
    const rt_program *p = jit_program(jp);
    char err[256];
    rt_model *model = rt_model_new(p, 1, 1, err, sizeof err);
    rt_generator *g = model ? rt_generator_new(p, rt_model_params(model), err, sizeof err) : NULL;
    if (!g) {
        fprintf(stderr, "bench_generate: %s\n", err);
        exit(1);
    }
    int64_t vocab = p->step_out_size;
    float *work = malloc(sizeof(float) * (size_t)vocab);
    /* step: a whole context's worth of tokens, each sampled from the last
     * logits; the best of three runs */
    int64_t n = T * 8;
    double best = 1e30, cpu_best = 1e30;
    for (int r = 0; r < 3; r++) {
        rt_generator_reset(g);
        const float *logits = rt_generator_feed(g, 'I');
        double t0 = now(), c0 = cpu_now();
        for (int64_t i = 0; i < n; i++)
            logits = rt_generator_feed(g, rt_sample_logits(vocab, logits, 0.8f, 40, 1, (uint64_t)i, work));
        double s = now() - t0, cs = cpu_now() - c0;
        best = s < best ? s : best;
        cpu_best = cs < cpu_best ? cs : cpu_best;
    }
    double step_rate = (double)n / best, cpu_rate = (double)n / cpu_best;
    /* window recompute: forward over T tokens (batch 1) per token */
    int32_t *window = calloc((size_t)T, sizeof *window);
    float *out = malloc(sizeof(float) * (size_t)p->out_size);
    for (int64_t i = 0; i < T; i++)
        window[i] = 'a' + (int32_t)(i % 26);
    int64_t reps = 40;
    double wbest = 1e30;
    for (int r = 0; r < 3; r++) {
        double c0 = cpu_now();
        for (int64_t i = 0; i < reps; i++)
            rt_model_forward(model, window, out, 1);
        double s = cpu_now() - c0;
        wbest = s < wbest ? s : wbest;
    }
    double window_rate = (double)reps / wbest;
    double gflops = cpu_rate * per_token / 1e9;
    printf("%-9s %9.0f %9.0f %8.1f %7.2f %6.1f%% %12.0f %7.1fx %7.0f %s\n", e->name, step_rate, cpu_rate,
           1e6 / cpu_rate, gflops, 100 * gflops / PEAK_PER_CORE, window_rate, cpu_rate / window_rate, e->floor,
           cpu_rate >= e->floor ? "ok" : "BELOW FLOOR");
    free(out);
    free(window);
    free(work);
    rt_generator_free(g);
    rt_model_free(model);
    jit_free(jp);
    compiler_free(&c);
}

int main(void)
{
    rt_threads_init(1);
    printf("Generation, one thread, batch 1 (step: carried state and key/value cache; window: forward\n"
           "over the whole context for every token). tokens/s by the wall clock, then per second of\n"
           "this process's CPU time (what a quiet machine gives; the shared machine's load moves the\n"
           "wall-clock figure); the rest is per CPU second. %% of peak: of %.0f GFLOP/s.\n\n",
           PEAK_PER_CORE);
    printf("%-9s %9s %9s %8s %7s %7s %12s %8s %7s\n", "model", "wall t/s", "cpu t/s", "us/tok", "GFLOP/s", "peak",
           "window tok/s", "speedup", "floor");
    for (size_t i = 0; i < sizeof examples / sizeof examples[0]; i++)
        bench(&examples[i]);
    rt_threads_shutdown();
    return 0;
}
