/* test_gan.c — free-form training: train blocks of step blocks (a GAN).
 *  - a step's gradient through a model it does not update: G's step,
 *    whose loss runs D on G's output, against central finite differences
 *    of the loss train_step returns; D's parameters and D's part of the
 *    gradient block are left exactly as they were (and G's by D's step);
 *  - through the driver on a small GAN of 6x6 pictures: `netc train` and
 *    the built binary write the same checkpoint byte for byte; a run
 *    stopped and resumed equals the uninterrupted one byte for byte;
 *    `sample` writes the same PNG through both;
 *  - the diagnostics of step blocks, with their exact text. */
#include "front.h"
#include "netrt.h"
#include "train_internal.h"

#include <math.h>
#include <stdlib.h>

static const char *frozen_net =
    "model G(z: f32[3]) -> f32[5] { z -> dense(5) -> tanh }\n"
    "model D(x: f32[5]) -> f32[1] { x -> dense(4) -> tanh -> dense(1) }\n"
    "train gan {\n"
    "    data raw(\"a.bin\", size = 5)\n"
    "    noise normal(3)\n"
    "    step D { loss bce(D(real), 0.9) + bce(D(G(noise)), 0) optimizer adam(lr = 1e-3) }\n"
    "    step G { loss 0.5 * bce(D(G(noise)), 1) + mse(G(noise), 0.25) optimizer adam(lr = 1e-3) }\n"
    "}\n";

enum { B = 4 };

static double run_step(const rt_program *p, int k, float *params, float *grads, const float *x, float *arena)
{
    return p->steps[k].train_step(params, grads, x, NULL, B, arena, 99);
}

/* Step k's gradient against finite differences of its loss; the other
 * step's parameters and gradients untouched. */
static void check_step(const rt_program *p, int k)
{
    const float sentinel = 12345.0f;
    float *params = aligned_alloc(64, sizeof(float) * (size_t)p->param_floats);
    float *grads = aligned_alloc(64, sizeof(float) * (size_t)p->param_floats);
    float *before = malloc(sizeof(float) * (size_t)p->param_floats);
    float *arena = aligned_alloc(64, sizeof(float) * (size_t)(p->train_arena_floats * B + 16));
    float x[B * 5];
    ck_assert(params && grads && before && arena);
    test_fill(x, B * 5, 7);
    rt_init_params(p, 3, params);
    memcpy(before, params, sizeof(float) * (size_t)p->param_floats);
    for (int64_t i = 0; i < p->param_floats; i++)
        grads[i] = sentinel;
    run_step(p, k, params, grads, x, arena);
    const rt_step *st = &p->steps[k];
    ck_assert_msg(memcmp(before, params, sizeof(float) * (size_t)p->param_floats) == 0, "step %s changed parameters", st->model);
    for (int64_t i = 0; i < p->trainable_floats; i++)
        if (i < st->begin || i >= st->end)
            ck_assert_msg(grads[i] == sentinel, "step %s wrote gradient %lld outside its model", st->model, (long long)i);
    /* train_step returns the sum of per-sample losses; grads hold the
     * gradient of their mean. The noise is the same for the same seed. */
    const float h = 1e-2f;
    for (int64_t i = st->begin; i < st->end; i++) {
        bool padding = true;
        for (int t = 0; t < p->nparams; t++)
            if (i >= p->params[t].offset && i < p->params[t].offset + p->params[t].count)
                padding = false;
        if (padding)
            continue;
        float keep = params[i];
        params[i] = keep + h;
        double up = run_step(p, k, params, grads, x, arena);
        params[i] = keep - h;
        double down = run_step(p, k, params, grads, x, arena);
        params[i] = keep;
        double numeric = (up - down) / (2.0 * h) / B;
        run_step(p, k, params, grads, x, arena);
        double analytic = grads[i];
        ck_assert_msg(fabs(numeric - analytic) <= 2e-3 + 2e-2 * fabs(numeric),
                      "step %s, float %lld: finite differences %.6g, gradient %.6g", st->model, (long long)i,
                      numeric, analytic);
    }
    free(params);
    free(grads);
    free(before);
    free(arena);
}

START_TEST(gradient_through_frozen_model)
{
    FeRun r;
    fe_open(&r, frozen_net);
    ck_assert_msg(r.ok, "%.*s", (int)r.len, r.out);
    LProgram lp;
    bool ok = lower_program(&r.c, NULL, &lp);
    fflush(r.diag);
    ck_assert_msg(ok, "%.*s", (int)r.len, r.out);
    lp.base_dir = "/tmp";
    JitProgram *jp = jit_compile(&r.c, &lp, NULL, r.diag);
    ck_assert_ptr_nonnull(jp);
    const rt_program *p = jit_program(jp);
    ck_assert_int_eq(p->nsteps, 2);
    ck_assert_str_eq(p->steps[0].model, "D");
    ck_assert_str_eq(p->steps[1].model, "G");
    ck_assert(p->noise_input);
    ck_assert_int_eq(p->x_size, 3);
    ck_assert_int_eq(p->data_size, 5);
    check_step(p, 1);
    check_step(p, 0);
    jit_free(jp);
    fe_close(&r);
}
END_TEST

/* ------------------------------------------------------ through the driver */

/* Removes a folder temp_dir made, and frees its name. */
static void remove_dir(char *dir)
{
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    free(dir);
}

static char *temp_dir(void)
{
    char tmpl[] = "/tmp/netc-gan-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(tmpl));
    return strdup(tmpl);
}

static void write_file(const char *dir, const char *name, const void *data, size_t len)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

/* 40 pictures of 6x6 bytes: a bright square at a varying place. */
static void write_pictures(const char *dir)
{
    enum { N = 40, S = 6 };
    unsigned char file[16 + N * S * S] = { 0, 0, 8, 3, 0, 0, 0, N, 0, 0, 0, S, 0, 0, 0, S };
    for (int n = 0; n < N; n++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++)
                file[16 + (n * S + y) * S + x] = (x >= n % 4 && x < n % 4 + 3 && y >= n % 3 && y < n % 3 + 3) ? 250 : 10;
    write_file(dir, "pics-idx3-ubyte", file, sizeof file);
}

static const char *small_gan =
    "model G(z: f32[4]) -> f32[36] { z -> dense(16) -> leaky_relu(0.2) -> dense(36) -> tanh }\n"
    "model D(x: f32[36]) -> f32[1] { x -> dense(16) -> leaky_relu(0.2) -> dense(1) }\n"
    "train gan {\n"
    "    data idx(\"pics-idx3-ubyte\", scale = 1/127.5, shift = -1)\n"
    "    noise uniform(4)\n"
    "    batch 8\n"
    "    seed 5\n"
    "    step D { loss bce(D(real), 0.9) + bce(D(G(noise)), 0) optimizer adam(lr = 2e-3, beta1 = 0.5) }\n"
    "    step G { loss bce(D(G(noise)), 1) optimizer sgd(lr = 0.05, momentum = 0.9) }\n"
    "}\n";

static void run_ok(FeProc *p, const char *const argv[])
{
    fe_spawn(p, (char *const *)argv, 120);
    ck_assert_msg(fe_exit_code(p) == 0, "%s %s failed:\n%.1500s%.1500s", argv[0], argv[1], p->out, p->err);
}

static void same_files(const char *a, const char *b, const char *what)
{
    size_t na, nb;
    char *x = fe_slurp(a, &na), *y = fe_slurp(b, &nb);
    ck_assert_msg(na == nb && memcmp(x, y, na) == 0, "%s differ", what);
    free(x);
    free(y);
}

/* Runs argv, which must succeed; its output is dropped. */
static void run_quiet(const char *const argv[])
{
    FeProc p;
    run_ok(&p, argv);
    fe_proc_free(&p);
}

/* A GAN in a folder of its own: the pictures, gan.net holding `src`, and
 * the binary netc build makes of it (both driver tests train it twice:
 * netc train and the built binary). */
typedef struct GanDir {
    char *dir;
    char net[600], exe[600];
} GanDir;

static void gan_dir(GanDir *g, const char *src)
{
    g->dir = temp_dir();
    write_pictures(g->dir);
    write_file(g->dir, "gan.net", src, strlen(src));
    snprintf(g->net, sizeof g->net, "%s/gan.net", g->dir);
    snprintf(g->exe, sizeof g->exe, "%s/gan", g->dir);
    const char *build[] = { fe_netc(), "build", g->net, "-o", g->exe, NULL };
    run_quiet(build);
}

/* g's folder/name into out (600 bytes). */
static void gan_path(const GanDir *g, char out[600], const char *name)
{
    snprintf(out, 600, "%s/%s", g->dir, name);
}

static void gan_dir_remove(GanDir *g)
{
    remove_dir(g->dir);
}

START_TEST(driver_parity_resume_sample)
{
    GanDir g;
    gan_dir(&g, small_gan);
    const char *net = g.net, *exe = g.exe;
    char jit_ck[600], aot_ck[600], half[600], resumed[600], png1[600], png2[600];
    gan_path(&g, jit_ck, "jit.safetensors");
    gan_path(&g, aot_ck, "aot.safetensors");
    gan_path(&g, half, "half.safetensors");
    gan_path(&g, resumed, "resumed.safetensors");
    gan_path(&g, png1, "a.png");
    gan_path(&g, png2, "b.png");
    const char *netc = fe_netc();
    FeProc p;
    const char *jit_train[] = { netc, "train", net, "--steps", "12", "--save", jit_ck, NULL };
    run_ok(&p, jit_train);
    ck_assert_msg(strstr(p.out, "loss D ") && strstr(p.out, ", G "), "train printed:\n%s", p.out);
    fe_proc_free(&p);
    const char *aot_train[] = { exe, "train", "--steps", "12", "--threads", "2", "--save", aot_ck, NULL };
    run_quiet(aot_train);
    same_files(jit_ck, aot_ck, "checkpoints of netc train and the built binary");

    /* 12 steps is two epochs of 5 and two steps into the third */
    const char *first[] = { exe, "train", "--steps", "7", "--save", half, NULL };
    run_quiet(first);
    const char *second[] = { netc, "train", net, "--steps", "12", "--resume", half, "--save", resumed, NULL };
    run_quiet(second);
    same_files(resumed, aot_ck, "a resumed run's checkpoint and the uninterrupted run's");

    const char *aot_sample[] = { exe, "sample", "--load", aot_ck, "--grid", "2x3", "-o", png1, NULL };
    run_quiet(aot_sample);
    const char *jit_sample[] = { netc, "sample", net, "--load", aot_ck, "--grid", "2x3", "-o", png2, NULL };
    run_quiet(jit_sample);
    same_files(png1, png2, "sample grids of the built binary and netc sample");
    size_t n;
    char *png = fe_slurp(png1, &n);
    ck_assert(n > 8 && memcmp(png, "\x89PNG\r\n\x1a\n", 8) == 0);
    /* 2x3 pictures of 6x6 with 2-pixel gaps: 22 wide, 14 high (IHDR) */
    ck_assert_int_eq(((unsigned char)png[16] << 24 | (unsigned char)png[17] << 16 | (unsigned char)png[18] << 8 | (unsigned char)png[19]), 22);
    ck_assert_int_eq(((unsigned char)png[20] << 24 | (unsigned char)png[21] << 16 | (unsigned char)png[22] << 8 | (unsigned char)png[23]), 14);
    free(png);
    gan_dir_remove(&g);
}
END_TEST

static void read_vector(const char *path, const char *name, int64_t n, float *out)
{
    rt_named_tensor t = { .name = name, .dtype = RT_F32, .rank = 1, .dims = { n }, .data = out };
    char err[512];
    ck_assert_msg(rt_checkpoint_load(path, &t, 1, true, NULL, 0, NULL, err, sizeof err) == 0, "%s", err);
}

static void read_tensor(const char *path, const char *name, int64_t rows, int64_t cols, float *out);

/* predict on a GAN runs its generator on rows of noise: the generator's
 * 4 inputs, not the data's 36, and not scaled as the pictures are; each
 * row against G computed in double from the checkpoint. */
START_TEST(generator_predict)
{
    GanDir g;
    gan_dir(&g, small_gan);
    char ck[600], z[600];
    gan_path(&g, ck, "g.safetensors");
    char pics[600];
    gan_path(&g, pics, "pics-idx3-ubyte");
    const char *train[] = { g.exe, "train", "--steps", "6", "--save", ck, "--test", pics, NULL };
    FeProc t;
    run_ok(&t, train);
    /* a test set it cannot use is said to be unused */
    ck_assert_str_eq(t.err, "gan: warning: --test is not evaluated: model 'gan' trains in step blocks that do not "
                            "reconstruct their data, which have no test figures yet\n");
    fe_proc_free(&t);
    static const float zs[3][4] = { { 0.5f, -0.25f, 0.75f, -1.0f }, { 0, 0, 0, 0 }, { -0.9f, 0.1f, 0.3f, 0.6f } };
    static const char rows[] = "0.5,-0.25,0.75,-1\n0,0,0,0\n-0.9,0.1,0.3,0.6\n";
    write_file(g.dir, "z.csv", rows, strlen(rows));
    gan_path(&g, z, "z.csv");
    FeProc p;
    const char *predict[] = { g.exe, "predict", "--load", ck, z, NULL };
    run_ok(&p, predict);
    float w1[16 * 4], b1[16], w2[36 * 16], b2[36];
    read_tensor(ck, "G.dense1.weight", 16, 4, w1);
    read_vector(ck, "G.dense1.bias", 16, b1);
    read_tensor(ck, "G.dense2.weight", 36, 16, w2);
    read_vector(ck, "G.dense2.bias", 36, b2);
    const char *line = p.out;
    for (int r = 0; r < 3; r++) {
        double h[16];
        for (int j = 0; j < 16; j++) {
            h[j] = b1[j];
            for (int i = 0; i < 4; i++)
                h[j] += (double)w1[j * 4 + i] * zs[r][i];
            h[j] = h[j] > 0 ? h[j] : 0.2 * h[j];
        }
        for (int o = 0; o < 36; o++) {
            double y = b2[o];
            for (int j = 0; j < 16; j++)
                y += (double)w2[o * 16 + j] * h[j];
            y = tanh(y);
            char *end;
            double got = strtod(line, &end);
            ck_assert_msg(end != line && fabs(got - y) < 1e-5, "row %d output %d: %.7g, G gives %.7g", r, o, got, y);
            line = end + 1; /* past ',' or the newline */
        }
    }
    ck_assert_int_eq(*line, '\0');
    fe_proc_free(&p);
    /* info says how it trains; sample refuses a language model's flags */
    const char *info[] = { g.exe, "info", NULL };
    run_ok(&p, info);
    ck_assert_msg(strstr(p.out, "  z: f32[4] -> out: f32[36]   trained in 2 steps: D, G\n"), "%s", p.out);
    fe_proc_free(&p);
    const char *prompt[] = { g.exe, "sample", "--load", ck, "--prompt", "hi", NULL };
    fe_spawn(&p, (char *const *)prompt, 60);
    ck_assert_int_eq(fe_exit_code(&p), 2);
    ck_assert_str_eq(p.err, "gan: --prompt is for language models; 'gan' generates pictures from noise: "
                            "[--grid 8x8] [-o samples.png] [--seed N]\n");
    fe_proc_free(&p);
    gan_dir_remove(&g);
}
END_TEST

/* examples/gan.net itself on Fashion-MNIST: 3 iterations of netc train
 * and of the built binary (two threads) write the same checkpoint. */
START_TEST(example_gan_parity)
{
    char *dir = temp_dir();
    char exe[600], a[600], b[600];
    snprintf(exe, sizeof exe, "%s/gan", dir);
    snprintf(a, sizeof a, "%s/a.safetensors", dir);
    snprintf(b, sizeof b, "%s/b.safetensors", dir);
    FeProc p;
    const char *build[] = { fe_netc(), "build", "examples/gan.net", "-o", exe, NULL };
    run_ok(&p, build);
    fe_proc_free(&p);
    const char *jit[] = { fe_netc(), "train", "examples/gan.net", "--steps", "3", "--save", a, NULL };
    run_ok(&p, jit);
    fe_proc_free(&p);
    const char *aot[] = { exe, "train", "--steps", "3", "--threads", "2", "--save", b, NULL };
    run_ok(&p, aot);
    fe_proc_free(&p);
    same_files(a, b, "examples/gan.net's checkpoints of netc train and the built binary");
    remove_dir(dir);
}
END_TEST

/* The other two examples: regression.net's 40 epochs on its
 * CSV (labels y = 2 x1 - x2^2 / 2 + sin(3 x3) + noise of std 0.1) end
 * with a test MSE well below the labels' variance and report MAE beside
 * it; autoencoder.net reports its test reconstruction MSE. */
START_TEST(example_regression_autoencoder_report_mse)
{
    FeProc p;
    const char *reg[] = { fe_netc(), "train", "examples/regression.net", NULL };
    run_ok(&p, reg);
    const char *at = strstr(p.out, "epoch 40/40");
    ck_assert_msg(at && strstr(at, "test mse ") && strstr(at, "test mae "), "train printed:\n%s", p.out);
    double mse = atof(strstr(at, "test mse ") + strlen("test mse "));
    ck_assert_msg(mse > 0.005 && mse < 0.1, "regression.net's test MSE %g (the noise alone gives 0.01)", mse);
    fe_proc_free(&p);
    const char *ae[] = { fe_netc(), "train", "examples/autoencoder.net", "--steps", "3", NULL };
    run_ok(&p, ae);
    ck_assert_msg(strstr(p.out, "test reconstruction mse "), "train printed:\n%s", p.out);
    fe_proc_free(&p);
}
END_TEST

/* The embedding API runs a step program's iteration as `train` does:
 * rt_model_train_step on the batches train gathers (rt_epoch_order's
 * rows, converted as the IDX loader converts bytes) gives, after 7
 * iterations (one epoch of 5 and two into the next), the parameters of
 * `netc train --steps 7` bit for bit. */
START_TEST(embedded_steps_equal_train)
{
    char *dir = temp_dir();
    write_pictures(dir);
    write_file(dir, "gan.net", small_gan, strlen(small_gan));
    char net[600], ck[600], pics[600];
    snprintf(net, sizeof net, "%s/gan.net", dir);
    snprintf(ck, sizeof ck, "%s/ck.safetensors", dir);
    snprintf(pics, sizeof pics, "%s/pics-idx3-ubyte", dir);
    FeProc proc;
    const char *train[] = { fe_netc(), "train", net, "--steps", "7", "--save", ck, NULL };
    run_ok(&proc, train);
    fe_proc_free(&proc);

    FeRun r;
    fe_open(&r, small_gan);
    ck_assert_msg(r.ok, "%.*s", (int)r.len, r.out);
    LProgram lp;
    bool ok = lower_program(&r.c, NULL, &lp);
    fflush(r.diag);
    ck_assert_msg(ok, "%.*s", (int)r.len, r.out);
    lp.base_dir = dir;
    JitProgram *jp = jit_compile(&r.c, &lp, NULL, r.diag);
    ck_assert_ptr_nonnull(jp);
    const rt_program *p = jit_program(jp);
    enum { N = 40, S = 36, BATCH = 8 };
    size_t len;
    unsigned char *file = (unsigned char *)fe_slurp(pics, &len);
    ck_assert_int_eq(len, 16 + N * S);
    static float data[N * S], x[BATCH * S];
    for (int i = 0; i < N * S; i++)
        data[i] = (float)((double)file[16 + i] * p->config.data.scale + p->config.data.shift);
    free(file);
    char err[512];
    rt_model *m = rt_model_new(p, 5, BATCH, err, sizeof err), *want = rt_model_new(p, 5, BATCH, err, sizeof err);
    ck_assert_msg(m && want, "%s", err);
    ck_assert_msg(rt_model_load(want, ck, err, sizeof err) == 0, "%s", err);
    int64_t order[N];
    for (int it = 0; it < 7; it++) {
        if (it % (N / BATCH) == 0)
            rt_epoch_order(order, N, 5, it / (N / BATCH));
        for (int i = 0; i < BATCH; i++)
            memcpy(x + i * S, data + order[it % (N / BATCH) * BATCH + i] * S, sizeof(float) * S);
        double loss = rt_model_train_step(m, x, NULL, BATCH);
        ck_assert_msg(isfinite(loss), "iteration %d: loss %g", it, loss);
        ck_assert(isfinite(rt_model_step_loss(m, 0)) && isfinite(rt_model_step_loss(m, 1)));
        ck_assert(loss == rt_model_step_loss(m, 0) + rt_model_step_loss(m, 1));
    }
    ck_assert(isnan(rt_model_step_loss(m, 2)));
    for (int t = 0; t < p->nparams; t++)
        ck_assert_msg(memcmp(rt_model_params(m) + p->params[t].offset, rt_model_params(want) + p->params[t].offset,
                             sizeof(float) * (size_t)p->params[t].count) == 0,
                      "%s differs between the embedded loop and netc train", p->params[t].name);
    rt_model_free(m);
    rt_model_free(want);
    jit_free(jp);
    fe_close(&r);
    remove_dir(dir);
}
END_TEST

/* A step's own schedule and clip: D's step(every = 1, gamma = 0) makes
 * its learning rate 0 from the first update, so D's weights after 3 and
 * after 6 iterations are the same (its initial ones) while G's move; G
 * clips its own gradient. The built binary, which carries both in its
 * step table, equals netc train. */
static void read_tensor(const char *path, const char *name, int64_t rows, int64_t cols, float *out)
{
    rt_named_tensor t = { .name = name, .dtype = RT_F32, .rank = 2, .dims = { rows, cols }, .data = out };
    char err[512];
    ck_assert_msg(rt_checkpoint_load(path, &t, 1, true, NULL, 0, NULL, err, sizeof err) == 0, "%s", err);
}

START_TEST(step_schedule_and_clip)
{
    const char *src =
        "model G(z: f32[4]) -> f32[36] { z -> dense(16) -> leaky_relu(0.2) -> dense(36) -> tanh }\n"
        "model D(x: f32[36]) -> f32[1] { x -> dense(16) -> leaky_relu(0.2) -> dense(1) }\n"
        "train gan {\n"
        "    data idx(\"pics-idx3-ubyte\", scale = 1/127.5, shift = -1)\n"
        "    noise uniform(4)\n"
        "    batch 8\n"
        "    seed 5\n"
        "    step D { loss bce(D(real), 1) + bce(D(G(noise)), 0) optimizer adam(lr = 2e-3) schedule step(every = 1, gamma = 0) }\n"
        "    step G { loss bce(D(G(noise)), 1) optimizer sgd(lr = 0.05) clip 0.5 }\n"
        "}\n";
    GanDir g;
    gan_dir(&g, src);
    char a[600], b[600], c[600];
    gan_path(&g, a, "a.safetensors");
    gan_path(&g, b, "b.safetensors");
    gan_path(&g, c, "c.safetensors");
    const char *netc = fe_netc();
    const char *jit3[] = { netc, "train", g.net, "--steps", "3", "--save", a, NULL };
    run_quiet(jit3);
    const char *aot3[] = { g.exe, "train", "--steps", "3", "--save", b, NULL };
    run_quiet(aot3);
    same_files(a, b, "checkpoints of netc train and the built binary with per-step schedule and clip");
    const char *jit6[] = { netc, "train", g.net, "--steps", "6", "--save", c, NULL };
    run_quiet(jit6);
    static float d3[16 * 36], d6[16 * 36], g3[16 * 4], g6[16 * 4];
    read_tensor(a, "D.dense1.weight", 16, 36, d3);
    read_tensor(c, "D.dense1.weight", 16, 36, d6);
    read_tensor(a, "G.dense1.weight", 16, 4, g3);
    read_tensor(c, "G.dense1.weight", 16, 4, g6);
    ck_assert_msg(memcmp(d3, d6, sizeof d3) == 0, "D's weights moved with a learning rate of 0");
    ck_assert_msg(memcmp(g3, g6, sizeof g3) != 0, "G's weights did not move");
    gan_dir_remove(&g);
}
END_TEST

/* ------------------------------------------------------------ diagnostics */

#define GD "model G(z: f32[8]) -> f32[16] { z -> dense(16) -> tanh }\n" \
           "model D(x: f32[16]) -> f32[1] { x -> dense(1) }\n"          \
           "model E(x: f32[12]) -> f32[1] { x -> dense(1) }\n"          \
           "train gan {\n    data raw(\"a.bin\", size = 16)\n    noise normal(8)\n"

static const struct {
    const char *src, *want;
} diag_cases[] = {
    { GD "    step Dx { loss bce(D(real), 1) }\n}\n",
      "t.net:7:10: error: step names no model 'Dx'; did you mean 'D'?\n"
      "    7 |     step Dx { loss bce(D(real), 1) }\n"
      "      |          ^~\n" },
    { GD "    step G { loss bce(D(real), 1) }\n}\n",
      "t.net:7:19: error: this loss does not depend on the parameters of 'G', which step G updates; call G in it, as in bce(D(G(noise)), 1)\n"
      "    7 |     step G { loss bce(D(real), 1) }\n"
      "      |                   ^~~~~~~~~~~~~~~\n" },
    { GD "    step G { loss bce(E(G(noise)), 1) }\n}\n",
      "t.net:7:25: error: model 'G' returns f32[16] but model 'E' takes x: f32[12]; make G's output fit E's input\n"
      "    7 |     step G { loss bce(E(G(noise)), 1) }\n"
      "      |                         ^~~~~~~~\n" },
    { GD "    step G { loss bce(D(G(noise)), real) }\n}\n",
      "t.net:7:19: error: bce(D(G(noise)), real): the prediction is f32[1] but the target is f32[16]; they must have one shape\n"
      "    7 |     step G { loss bce(D(G(noise)), real) }\n"
      "      |                   ^~~~~~~~~~~~~~~~~~~~~~\n" },
    { "model G(z: f32[8]) -> f32[16] { z -> dense(16) -> tanh }\n"
      "model D(x: f32[16]) -> f32[1] { x -> dense(1) }\n"
      "train gan {\n    data idx(\"a-idx3-ubyte\")\n    noise normal(8)\n    step G { loss bce(D(G(noise)), 1) }\n}\n",
      "t.net:4:10: error: no step passes 'real' (a sample of this data) to a model, so its shape is unknown and nothing learns from the data; call a model on it in a loss, as in bce(D(real), 1)\n"
      "    4 |     data idx(\"a-idx3-ubyte\")\n"
      "      |          ^~~~~~~~~~~~~~~~~~~\n" },
    { GD "    step D { loss bce(D(real), 2) }\n}\n",
      "t.net:7:19: error: bce(D(real), 2): the target 2 is not a probability; bce takes targets in [0, 1] (1 for real, 0 for fake)\n"
      "    7 |     step D { loss bce(D(real), 2) }\n"
      "      |                   ^~~~~~~~~~~~~~~\n" },
    { GD "    step G { loss bce(D(G(noise)), 1) }\n    step G { loss mse(G(noise), 0) }\n}\n",
      "t.net:8:10: error: model 'G' already has a step; one step per model (write its losses as one sum)\n"
      "    8 |     step G { loss mse(G(noise), 0) }\n"
      "      |          ^\n"
      "t.net:7:5: note: its first step is here\n"
      "    7 |     step G { loss bce(D(G(noise)), 1) }\n"
      "      |     ^~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~\n" },
};

START_TEST(step_diagnostics)
{
    bool ok;
    char *got = fe_diags(diag_cases[_i].src, &ok);
    ck_assert(!ok);
    ck_assert_str_eq(got, diag_cases[_i].want);
    free(got);
}
END_TEST

/* A constant added to a loss changes no gradient and would vanish from
 * the reported loss: autodiff refuses it, so build and check say it. */
START_TEST(constant_in_loss)
{
    char *dir = temp_dir();
    static const char src[] = GD "    step D { loss bce(D(real), 1) + 100 }\n}\n";
    write_file(dir, "t.net", src, strlen(src));
    char net[600], exe[600];
    snprintf(net, sizeof net, "%s/t.net", dir);
    snprintf(exe, sizeof exe, "%s/t", dir);
    FeProc p;
    const char *build[] = { fe_netc(), "build", net, "-o", exe, NULL };
    fe_spawn(&p, (char *const *)build, 120);
    ck_assert_int_eq(fe_exit_code(&p), 1);
    char want[1024];
    snprintf(want, sizeof want, "%s:7:19: error: a loss must be a sum of losses (cross_entropy, mse, bce), each "
             "possibly times a number; a constant term (+100) changes no gradient and is not reported: drop it\n"
             "    7 |     step D { loss bce(D(real), 1) + 100 }\n"
             "      |                   ^~~~~~~~~~~~~~~~~~~~~\n", net);
    ck_assert_msg(strncmp(p.err, want, strlen(want)) == 0, "%s", p.err);
    fe_proc_free(&p);
    /* and check, which lowers the steps for its memory plan, says so too */
    const char *check[] = { fe_netc(), "check", net, NULL };
    fe_spawn(&p, (char *const *)check, 120);
    ck_assert_int_eq(fe_exit_code(&p), 1);
    ck_assert_msg(strncmp(p.err, want, strlen(want)) == 0, "%s", p.err);
    ck_assert_msg(strstr(p.out, "memory plan: not available (the loss is refused; see the error)"), "%s", p.out);
    fe_proc_free(&p);
    remove_dir(dir);
}
END_TEST

static Suite *gan_suite(void)
{
    Suite *s = suite_create("gan");
    TCase *t = test_case("gan");
    tcase_add_test(t, gradient_through_frozen_model);
    tcase_add_test(t, driver_parity_resume_sample);
    tcase_add_test(t, generator_predict);
    tcase_add_test(t, constant_in_loss);
    tcase_add_test(t, step_schedule_and_clip);
    tcase_add_test(t, embedded_steps_equal_train);
    tcase_add_test(t, example_gan_parity);
    tcase_add_test(t, example_regression_autoencoder_report_mse);
    tcase_add_loop_test(t, step_diagnostics, 0, (int)(sizeof diag_cases / sizeof diag_cases[0]));
    suite_add_tcase(s, t);
    return s;
}

TEST_MAIN(gan_suite)
