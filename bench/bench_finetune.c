/* bench_finetune.c — what freezing saves: LeNet (examples/lenet.net's
 * network) starting from a checkpoint through `init from`, once with the
 * convolutional trunk frozen and once with everything trained, built with
 * `netc build` and timed as `./NAME train --steps N` reports it on
 * Fashion-MNIST, with 1 and 2 threads. FLOPs per training sample come from
 * the compiler's cost model over each training graph. The checkpoint holds
 * LeNet's initial weights (the values do not change the time). */
#include "compiler.h"
#include "netrt.h"

#include "benchutil.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <limits.h>

static const char *const lenet =
    "model lenet(x: f32[1, 28, 28]) -> f32[10] {\n"
    "    x -> conv1: conv2d(32, 5) -> relu -> maxpool(2)\n"
    "      -> conv2: conv2d(64, 5) -> relu -> maxpool(2)\n"
    "      -> flatten -> fc1: dense(128) -> relu -> fc2: dense(10)\n"
    "}\n"
    "train lenet {\n"
    "    data idx(\"train-images-idx3-ubyte.gz\", \"train-labels-idx1-ubyte.gz\", scale = 1/255)\n"
    "    loss cross_entropy\n"
    "    optimizer adam(lr = 1e-3)\n"
    "    batch 64\n"
    "    init from(\"%s\") {\n"
    "        conv1 <- conv1; conv2 <- conv2; fc1 <- fc1\n"
    "        %s\n"
    "        fresh fc2\n"
    "    }\n"
    "}\n";

int main(void)
{
    const char *build = getenv("BUILD") && *getenv("BUILD") ? getenv("BUILD") : "build";
    char dir[512], ck[600];
    snprintf(dir, sizeof dir, "%s/bench/finetune", build);
    snprintf(ck, sizeof ck, "%s/lenet-init.safetensors", dir);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    if (system(cmd) != 0)
        return 1;

    /* the checkpoint: LeNet's parameters as a training run starts them */
    const char *full = "model lenet(x: f32[1, 28, 28]) -> f32[10] {\n"
                       "    x -> conv1: conv2d(32, 5) -> relu -> maxpool(2)\n"
                       "      -> conv2: conv2d(64, 5) -> relu -> maxpool(2)\n"
                       "      -> flatten -> fc1: dense(128) -> relu -> fc2: dense(10)\n"
                       "}\n";
    Compiler c;
    compiler_init(&c, "lenet.net", full, strlen(full), stderr);
    LProgram lp;
    if (!compile_front(&c) || !lower_program(&c, NULL, &lp))
        return 1;
    rt_program rp;
    rtprogram_fill(&c, &lp, &rp);
    float *params = calloc((size_t)rp.param_floats, sizeof *params);
    rt_named_tensor *t = calloc((size_t)rp.nparams, sizeof *t);
    rt_init_params(&rp, 1, params);
    for (int k = 0; k < rp.nparams; k++) {
        const rt_param_desc *d = &rp.params[k];
        t[k] = (rt_named_tensor){ d->name, RT_F32, d->rank, { 0 }, params + d->offset };
        memcpy(t[k].dims, d->dims, sizeof d->dims);
    }
    char err[512];
    if (rt_checkpoint_save(ck, t, rp.nparams, NULL, 0, err, sizeof err) != 0) {
        fprintf(stderr, "bench_finetune: %s\n", err);
        return 1;
    }
    compiler_free(&c);
    free(t);
    free(params);

    static const char *const kinds[2] = { "frozen", "unfrozen" };
    static const char *const items[2] = { "freeze conv1, conv2", "" };
    char exe[2][700];
    int64_t flops[2];
    for (int k = 0; k < 2; k++) {
        char net[700], text[8192];
        snprintf(net, sizeof net, "%s/%s.net", dir, kinds[k]);
        snprintf(exe[k], sizeof exe[k], "%s/%s", dir, kinds[k]);
        char abs_ck[PATH_MAX];
        if (!realpath(ck, abs_ck))
            return 1;
        snprintf(text, sizeof text, lenet, abs_ck, items[k]);
        FILE *f = fopen(net, "w");
        if (!f || fputs(text, f) < 0 || fclose(f) != 0)
            return 1;
        snprintf(cmd, sizeof cmd, "%s/netc build %s -o %s", build, net, exe[k]);
        if (system(cmd) != 0) {
            fprintf(stderr, "bench_finetune: %s failed\n", cmd);
            return 1;
        }
        flops[k] = bench_train_flops(net);
    }
    printf("LeNet fine-tuning from a checkpoint, batch 64: conv1 and conv2 frozen, or everything trained\n\n");
    printf("%-9s %-8s %12s %12s %12s\n", "trunk", "threads", "samples/s", "MFLOP/smp", "step (ms)");
    int cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
    for (int th = 1; th <= cores && th <= 2; th++) {
        double rate[2];
        for (int k = 0; k < 2; k++) {
            rate[k] = bench_train_rate("bench_finetune", exe[k], th, 150);
            printf("%-9s %-8d %12.0f %12.2f %12.2f\n", kinds[k], th, rate[k], (double)flops[k] / 1e6,
                   64e3 / rate[k]);
        }
        printf("%-9s %-8d %11.2fx %11.2fx\n", "frozen is", th, rate[0] / rate[1], (double)flops[1] / (double)flops[0]);
    }
    return 0;
}
