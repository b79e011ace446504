/* bench_gan.c — how good examples/gan.net's generator is, measured rather
 * than looked at: a classifier score in the spirit of the Inception score.
 * examples/lenet.net (91% on the Fashion-MNIST test set) classifies 1,000
 * samples of the generator trained by examples/gan.net's train block; the
 * table gives the mean top-class confidence (a sample a good classifier is
 * sure about looks like one class of clothing) and how many of the 10
 * classes the samples fall in (a generator that collapsed on one kind of
 * garment scores few). Targets: mean confidence >= 0.8, >= 8 classes.
 *
 * Both are trained through the JIT exactly as `netc train` would (their
 * train blocks, 2 threads), once: the checkpoints are kept in
 * $BUILD/bench/ and reused by later runs (delete them to train again;
 * gan.net's 20 epochs are 18,740 iterations of about 16.8 ms of one
 * core's CPU time each, about 5.3 minutes, measured as the difference
 * of `./gan train --steps 900` and `--steps 100` in paired runs on a
 * shared machine; longer when other jobs share the cores). Then one
 * iteration of gan.net's two steps is timed: iterations/s, the figure
 * bench/compare_torch.py holds against PyTorch. */
#include "compiler.h"
#include "netrt.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

enum { SAMPLES = 1000, CLASSES = 10 };

typedef struct Compiled {
    Compiler c;
    LProgram lp;
    JitProgram *jp;
    const rt_program *p;
} Compiled;

static void compile(const char *path, Compiled *k)
{
    if (!source_load(&k->c, path, stderr) || !compile_front(&k->c) || !lower_program(&k->c, NULL, &k->lp))
        exit(1);
    k->jp = jit_compile(&k->c, &k->lp, NULL, stderr);
    if (!k->jp)
        exit(1);
    k->p = jit_program(k->jp);
}

static void release(Compiled *k)
{
    jit_free(k->jp);
    compiler_free(&k->c);
}

/* Trains through the program's own command line unless the checkpoint
 * is there from an earlier run. */
static void train_once(const Compiled *k, const char *ck)
{
    struct stat st;
    if (stat(ck, &st) == 0) {
        printf("  %s: reusing %s\n", k->p->name, ck);
        return;
    }
    printf("  %s: training its train block once (checkpoint %s)\n", k->p->name, ck);
    fflush(stdout);
    char name[256], train[] = "train", threads[] = "--threads", two[] = "2", save[] = "--save", path[4096];
    snprintf(name, sizeof name, "%s", k->p->name);
    snprintf(path, sizeof path, "%s", ck);
    char *argv[] = { name, train, threads, two, save, path, NULL };
    if (rt_main(k->p, 6, argv) != 0)
        exit(1);
}

static rt_model *load(const Compiled *k, const char *ck, int64_t batch)
{
    char err[512];
    rt_model *m = rt_model_new(k->p, 1, batch, err, sizeof err);
    if (!m || rt_model_load(m, ck, err, sizeof err) != 0) {
        fprintf(stderr, "bench_gan: %s\n", err);
        exit(1);
    }
    return m;
}

static double seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* One iteration of every step (the training loop's work without data
 * gathering and the optimizer), median of 5 runs of 50 iterations. */
static double iterations_per_s(const rt_program *p)
{
    int64_t batch = p->config.batch;
    float *params = aligned_alloc(64, sizeof(float) * (size_t)p->param_floats);
    float *grads = aligned_alloc(64, sizeof(float) * (size_t)p->param_floats);
    float *arena = aligned_alloc(64, sizeof(float) * (size_t)(p->train_arena_floats * batch + 16));
    float *x = aligned_alloc(64, sizeof(float) * (size_t)(p->data_size * batch + 16));
    if (!params || !grads || !arena || !x)
        exit(1);
    rt_init_params(p, 1, params);
    rt_noise(p->data_size * batch, true, 3, x);
    double best[5];
    for (int r = 0; r < 5; r++) {
        double t0 = seconds();
        for (int it = 0; it < 50; it++)
            for (int k = 0; k < p->nsteps; k++)
                p->steps[k].train_step(params, grads, x, NULL, batch, arena, rt_step_seed_of(1, it, k));
        best[r] = 50 / (seconds() - t0);
    }
    for (int i = 0; i < 5; i++)
        for (int j = i + 1; j < 5; j++)
            if (best[j] < best[i]) {
                double t = best[i];
                best[i] = best[j];
                best[j] = t;
            }
    free(params);
    free(grads);
    free(arena);
    free(x);
    return best[2];
}

/* bench_gan [GAN.net CHECKPOINT]: another generator's score (a variant of
 * gan.net and its trained checkpoint) against the same classifier. */
int main(int argc, char **argv)
{
    const char *build = getenv("BUILD") ? getenv("BUILD") : "build";
    const char *gan_net = argc == 3 ? argv[1] : "examples/gan.net";
    char gan_ck[4096], lenet_ck[4096];
    snprintf(gan_ck, sizeof gan_ck, "%s", argc == 3 ? argv[2] : "");
    if (argc != 3)
        snprintf(gan_ck, sizeof gan_ck, "%s/bench/gan.safetensors", build);
    snprintf(lenet_ck, sizeof lenet_ck, "%s/bench/lenet-classifier.safetensors", build);
    rt_threads_init(2);
    printf("gan.net: a classifier score of its generator (lenet.net classifies %d samples)\n", SAMPLES);
    Compiled gan, lenet;
    memset(&gan, 0, sizeof gan);
    memset(&lenet, 0, sizeof lenet);
    compile(gan_net, &gan);
    compile("examples/lenet.net", &lenet);
    train_once(&gan, gan_ck);
    train_once(&lenet, lenet_ck);

    rt_model *g = load(&gan, gan_ck, SAMPLES), *c = load(&lenet, lenet_ck, SAMPLES);
    const rt_program *gp = gan.p;
    float *z = malloc(sizeof(float) * (size_t)(SAMPLES * gp->x_size));
    float *img = malloc(sizeof(float) * (size_t)(SAMPLES * gp->out_size));
    float *logits = malloc(sizeof(float) * SAMPLES * CLASSES);
    if (!z || !img || !logits)
        return 1;
    rt_noise(SAMPLES * gp->x_size, gp->noise_uniform, 2026, z);
    if (rt_model_forward(g, z, img, SAMPLES) != 0)
        return 1;
    /* the generator's [-1, 1] (data scale 1/127.5, shift -1) as lenet's
     * [0, 1] (scale 1/255): the same bytes */
    float gs = gp->config.data.scale, gshift = gp->config.data.shift, ls = lenet.p->config.data.scale;
    for (int64_t i = 0; i < SAMPLES * gp->out_size; i++) {
        float byte = (img[i] - gshift) / gs;
        byte = byte < 0 ? 0 : byte > 255 ? 255 : byte;
        img[i] = byte * ls;
    }
    if (rt_model_forward(c, img, logits, SAMPLES) != 0)
        return 1;
    static const char *const names[CLASSES] = { "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                 "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot" };
    int count[CLASSES] = { 0 };
    double confidence = 0;
    for (int s = 0; s < SAMPLES; s++) {
        const float *l = logits + s * CLASSES;
        int top = 0;
        double sum = 0;
        for (int k = 1; k < CLASSES; k++)
            top = l[k] > l[top] ? k : top;
        for (int k = 0; k < CLASSES; k++)
            sum += exp((double)l[k] - l[top]);
        confidence += 1.0 / sum;
        count[top]++;
    }
    confidence /= SAMPLES;
    int present = 0;
    printf("\n  %-12s %8s\n", "class", "samples");
    for (int k = 0; k < CLASSES; k++) {
        printf("  %-12s %8d\n", names[k], count[k]);
        present += count[k] > 0;
    }
    printf("\n  %-34s %8s %8s\n", "", "measured", "target");
    printf("  %-34s %8.3f %8s  %s\n", "mean top-class confidence", confidence, ">= 0.8", confidence >= 0.8 ? "met" : "NOT MET");
    printf("  %-34s %8d %8s  %s\n", "classes present (of 10)", present, ">= 8", present >= 8 ? "met" : "NOT MET");
    printf("  %-34s %8.1f\n", "iterations/s (D + G steps, batch 64)", iterations_per_s(gp));
    free(z);
    free(img);
    free(logits);
    rt_model_free(g);
    rt_model_free(c);
    release(&gan);
    release(&lenet);
    return 0;
}
