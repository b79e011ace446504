/* test_transfer.c — `init from(FILE) { map; freeze; fresh }`: a checkpoint
 * in PyTorch's layout and names (nn.Sequential's features.0.weight, ...),
 * written here by the test itself, loads through a map; loaded tensors
 * equal the file's bit for bit, fresh ones equal the model's own
 * initialisation, frozen ones are bit-identical after training and get no
 * gradient work; a shape mismatch, a missing name, a rule that matches
 * nothing and a parameter left out each give their pinned diagnostic, and
 * tensors of the file nobody loads are reported. */
#include "front.h"
#include "netrt.h"
#include "train_internal.h"

#include <stdlib.h>

static char dir[64];
static char *old_cwd;

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/netc-transfer-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    old_cwd = getcwd(NULL, 0);
    ck_assert_int_eq(chdir(dir), 0);
}

static void teardown(void)
{
    if (old_cwd && chdir(old_cwd) != 0)
        fprintf(stderr, "could not go back to %s\n", old_cwd);
    free(old_cwd);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

/* The tensors of a PyTorch nn.Sequential(Conv2d(1, 2, 3), ReLU, Flatten,
 * Linear(32, 5), ReLU, Linear(5, 3)) split as features/classifier, as
 * safetensors.torch.save_file(model.state_dict()) names and shapes them. */
enum { NT = 6 };
static const struct { const char *name; int rank; int64_t dims[4]; } torch[NT] = {
    { "features.0.weight", 4, { 2, 1, 3, 3 } }, { "features.0.bias", 1, { 2 } },
    { "classifier.0.weight", 2, { 5, 32 } },    { "classifier.0.bias", 1, { 5 } },
    { "classifier.2.weight", 2, { 3, 5 } },     { "classifier.2.bias", 1, { 3 } },
};
static float values[NT][160];

static int64_t count_of(int t)
{
    int64_t n = 1;
    for (int d = 0; d < torch[t].rank; d++)
        n *= torch[t].dims[d];
    return n;
}

static void write_torch_checkpoint(const char *path)
{
    rt_named_tensor nt[NT];
    for (int t = 0; t < NT; t++) {
        for (int64_t i = 0; i < count_of(t); i++)
            values[t][i] = (float)((t * 37 + i * 11) % 23 - 11) / 16.0f;
        nt[t] = (rt_named_tensor){ torch[t].name, RT_F32, torch[t].rank, { 0 }, values[t] };
        memcpy(nt[t].dims, torch[t].dims, sizeof torch[t].dims);
    }
    char err[512];
    ck_assert_msg(rt_checkpoint_save(path, nt, NT, NULL, 0, err, sizeof err) == 0, "%s", err);
}

#define MODEL                                                                                   \
    "model m(x: f32[1, 6, 6]) -> f32[3] {\n"                                                    \
    "    x -> conv1: conv2d(2, 3) -> relu -> flatten -> fc1: dense(5) -> relu -> head: dense(3)\n" \
    "}\n"
#define TRAIN_HEAD                                                                               \
    "train m {\n"                                                                                \
    "    data csv(\"d.csv\", label_column = 36)\n"                                                      \
    "    loss cross_entropy\n"                                                                   \
    "    batch 4\n"
#define INIT_OK                                                                                  \
    "    init from(\"torch.safetensors\") {\n"                                                   \
    "        conv1 <- features.0\n"                                                              \
    "        fc1.* <- classifier.0.*\n"                                                          \
    "        freeze conv1\n"                                                                     \
    "        fresh head\n"                                                                       \
    "    }\n"                                                                                    \
    "}\n"

static const char *ok_net = MODEL TRAIN_HEAD INIT_OK;

static void write_csv(void)
{
    FILE *f = fopen("d.csv", "w");
    ck_assert_ptr_nonnull(f);
    for (int s = 0; s < 16; s++) {
        for (int i = 0; i < 36; i++)
            fprintf(f, "%g,", (double)((s * 7 + i * 3) % 10) / 10.0);
        fprintf(f, "%d\n", s % 3);
    }
    ck_assert_int_eq(fclose(f), 0);
}

static const Param *param_named(const Program *p, const char *name)
{
    const Param *prm = fe_param(p, name);
    ck_assert_msg(prm != NULL, "no parameter %s", name);
    return prm;
}

/* `net` through the front end, lowered and JIT-compiled, its data files
 * found in the test's folder; lp must outlive the program. */
static JitProgram *jit_open(FeRun *r, LProgram *lp, const char *net)
{
    fe_open(r, net);
    ck_assert_msg(r->ok, "%.*s", (int)r->len, r->out);
    ck_assert(lower_program(&r->c, NULL, lp));
    lp->base_dir = dir;
    JitProgram *jp = jit_compile(&r->c, lp, NULL, r->diag);
    ck_assert_ptr_nonnull(jp);
    return jp;
}

START_TEST(map_resolves_pytorch_names)
{
    write_torch_checkpoint("torch.safetensors");
    FeRun r;
    fe_open(&r, ok_net);
    ck_assert_msg(r.ok, "%.*s", (int)r.len, r.out);
    const Program *p = r.c.prog;
    ck_assert_str_eq(param_named(p, "conv1.weight")->init_from, "features.0.weight");
    ck_assert_str_eq(param_named(p, "conv1.bias")->init_from, "features.0.bias");
    ck_assert_str_eq(param_named(p, "fc1.weight")->init_from, "classifier.0.weight");
    ck_assert_ptr_null(param_named(p, "head.weight")->init_from);
    ck_assert(param_named(p, "conv1.weight")->frozen && !param_named(p, "conv1.weight")->trainable);
    ck_assert(!param_named(p, "fc1.weight")->frozen && param_named(p, "fc1.weight")->trainable);

    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    transfer_report(out, &r.c, "m");
    fclose(out);
    /* the FLOP counts are the cost model's: checked for what freezing saves,
     * not pinned */
    char *step = strstr(text, "  training step: ");
    ck_assert_ptr_nonnull(step);
    char digits[256];
    size_t k = 0;
    for (const char *q = step; *q && k + 1 < sizeof digits; q++)
        if (*q != ',' || !(q[1] >= '0' && q[1] <= '9'))
            digits[k++] = *q;
    digits[k] = '\0';
    long long with, without;
    ck_assert_int_eq(sscanf(digits, "  training step: %lld FLOPs per sample with 2 tensors frozen, %lld with none", &with, &without), 2);
    ck_assert_int_lt(with, without);
    *step = '\0';
    ck_assert_str_eq(text,
                     "  init from torch.safetensors: 4 loaded (2 frozen), 2 fresh, 2 in the file unused\n"
                     "    loaded  conv1.weight <- features.0.weight  f32[2, 1, 3, 3]  frozen\n"
                     "    loaded  conv1.bias <- features.0.bias  f32[2]  frozen\n"
                     "    loaded  fc1.weight <- classifier.0.weight  f32[5, 32]\n"
                     "    loaded  fc1.bias <- classifier.0.bias  f32[5]\n"
                     "    fresh   head.weight  f32[3, 5]\n"
                     "    fresh   head.bias  f32[3]\n"
                     "    unused  classifier.2.weight  f32[3, 5]\n"
                     "    unused  classifier.2.bias  f32[3]\n");
    free(text);
    fe_close(&r);
}
END_TEST

/* Loads through the runtime (rt_init_from, what `train` calls), checks
 * every tensor, then trains a few steps and checks that the frozen ones
 * did not move by a bit while the others did. */
START_TEST(load_and_freeze_at_run_time)
{
    write_torch_checkpoint("torch.safetensors");
    write_csv();
    FeRun r;
    LProgram lp;
    JitProgram *jp = jit_open(&r, &lp, ok_net);
    const rt_program *p = jit_program(jp);
    ck_assert_str_eq(p->config.init_path, "torch.safetensors");

    /* Frozen tensors follow the trained span: no gradient, no optimizer state. */
    for (int i = 0; i < p->nparams; i++) {
        const rt_param_desc *d = &p->params[i];
        bool frozen = !strncmp(d->name, "conv1.", 6);
        ck_assert_int_eq(d->frozen, frozen);
        ck_assert_int_eq(d->trainable, !frozen);
        if (frozen)
            ck_assert_int_ge(d->offset, p->trainable_floats);
    }
    /* fc1 and head, each tensor starting on a 16-float boundary */
    ck_assert_int_eq(p->trainable_floats, 5 * 32 + 16 + 16 + 16);

    float *params = calloc((size_t)p->param_floats, sizeof *params);
    float *fresh = calloc((size_t)p->param_floats, sizeof *fresh);
    rt_init_params(p, 7, fresh);
    rt_init_params(p, 7, params);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    ck_assert_int_eq(rt_init_from("t", p, "torch.safetensors", params, out), 0);
    fclose(out);
    ck_assert_str_eq(text, "init from torch.safetensors: 4 tensors loaded (2 frozen), 2 fresh, 2 in the file unused\n"
                           "  loaded  fc1.weight <- classifier.0.weight  f32[5, 32]\n"
                           "  loaded  fc1.bias <- classifier.0.bias  f32[5]\n"
                           "  fresh   head.weight  f32[3, 5]  he_normal\n"
                           "  fresh   head.bias  f32[3]  zeros\n"
                           "  loaded  conv1.weight <- features.0.weight  f32[2, 1, 3, 3]  frozen\n"
                           "  loaded  conv1.bias <- features.0.bias  f32[2]  frozen\n"
                           "  unused  classifier.2.weight  f32[3, 5]\n"
                           "  unused  classifier.2.bias  f32[3]\n");
    free(text);
    for (int i = 0; i < p->nparams; i++) {
        const rt_param_desc *d = &p->params[i];
        const float *want = fresh + d->offset;
        for (int t = 0; t < NT; t++)
            if (d->init_from && !strcmp(d->init_from, torch[t].name))
                want = values[t];
        ck_assert_msg(!memcmp(params + d->offset, want, sizeof(float) * (size_t)d->count), "%s differs", d->name);
    }

    char a0[] = "m", a1[] = "train", a2[] = "--steps", a3[] = "3", a4[] = "--save", a5[] = "out.safetensors";
    char *argv[] = { a0, a1, a2, a3, a4, a5, NULL };
    ck_assert_int_eq(rt_main(p, 6, argv), 0);
    float after[NT][160];
    rt_named_tensor nt[4];
    const char *names[4] = { "conv1.weight", "conv1.bias", "fc1.weight", "fc1.bias" };
    for (int t = 0; t < 4; t++) {
        nt[t] = (rt_named_tensor){ names[t], RT_F32, torch[t].rank, { 0 }, after[t] };
        memcpy(nt[t].dims, torch[t].dims, sizeof torch[t].dims);
    }
    char err[512];
    ck_assert_msg(rt_checkpoint_load("out.safetensors", nt, 4, true, NULL, 0, NULL, err, sizeof err) == 0, "%s", err);
    ck_assert(!memcmp(after[0], values[0], sizeof(float) * (size_t)count_of(0)));
    ck_assert(!memcmp(after[1], values[1], sizeof(float) * (size_t)count_of(1)));
    ck_assert(memcmp(after[2], values[2], sizeof(float) * (size_t)count_of(2)) != 0);
    free(params);
    free(fresh);
    jit_free(jp);
    fe_close(&r);
}
END_TEST

/* A frozen embedding feeding a recurrent layer: fuse.c still fuses them
 * (the lstm's kernels read the ids and the table, -dF's "lstm + embed")
 * and its backward then makes no table gradient (dtable NULL). One SGD
 * step from the same file with and without `freeze emb` must move every
 * other tensor by the same bits (their gradients do not depend on whether
 * the table trains), and the frozen table not at all. */
#define EMB_NET(FREEZE)                                                                         \
    "model m(tok: i32[6]) -> f32[6, 256] {\n"                                                   \
    "    tok -> emb: embed(256, 4) -> enc: lstm(8) -> head: dense(256)\n"                       \
    "}\n"                                                                                       \
    "train m {\n"                                                                               \
    "    data text(\"t.txt\", seq = 6)\n"                                                       \
    "    loss cross_entropy\n"                                                                  \
    "    optimizer sgd(lr = 0.5)\n"                                                             \
    "    batch 4\n"                                                                             \
    "    init from(\"all.safetensors\") {\n"                                                    \
    "        \"*\" <- \"*\"\n" FREEZE                                                             \
    "    }\n"                                                                                   \
    "}\n"

/* A checkpoint's tensors by name, as one_step saved them. */
typedef struct saved {
    int n;
    char *name[16];
    float *values[16];
    int64_t count[16];
} saved;

static const float *saved_tensor(const saved *sv, const char *name, int64_t count)
{
    for (int i = 0; i < sv->n; i++)
        if (!strcmp(sv->name[i], name)) {
            ck_assert_int_eq(sv->count[i], count);
            return sv->values[i];
        }
    ck_abort_msg("no tensor %s", name);
    return NULL;
}

/* Trains `net` one step on one thread, saves to `out` and reads it back. */
static saved one_step(const char *net, const char *out)
{
    FeRun r;
    LProgram lp;
    JitProgram *jp = jit_open(&r, &lp, net);
    const rt_program *p = jit_program(jp);
    char a0[] = "m", a1[] = "train", a2[] = "--steps", a3[] = "1", a4[] = "--threads", a5[] = "1", a6[] = "--save";
    char *argv[] = { a0, a1, a2, a3, a4, a5, a6, (char *)out, NULL };
    ck_assert_int_eq(rt_main(p, 8, argv), 0);
    saved sv = { .n = p->nparams };
    ck_assert_int_le(p->nparams, 16);
    rt_named_tensor nt[16];
    for (int i = 0; i < p->nparams; i++) {
        const rt_param_desc *d = &p->params[i];
        sv.name[i] = strdup(d->name);
        sv.count[i] = d->count;
        sv.values[i] = calloc((size_t)d->count, sizeof(float));
        nt[i] = (rt_named_tensor){ sv.name[i], RT_F32, d->rank, { 0 }, sv.values[i] };
        memcpy(nt[i].dims, d->dims, sizeof d->dims);
    }
    char err[512];
    ck_assert_msg(rt_checkpoint_load(out, nt, p->nparams, true, NULL, 0, NULL, err, sizeof err) == 0, "%s", err);
    jit_free(jp);
    fe_close(&r);
    return sv;
}

START_TEST(frozen_embed_into_recurrent)
{
    /* every tensor from the file: a fresh one's draws would depend on its
     * index in the parameter list, which freezing changes (frozen tensors
     * move after the trained ones) */
    static float table[256 * 4], w_ih[32 * 4], w_hh[32 * 8], bias[32], head_w[256 * 8], head_b[256];
    rt_named_tensor nt[] = {
        { "emb.weight", RT_F32, 2, { 256, 4 }, table },  { "enc.weight_ih", RT_F32, 2, { 32, 4 }, w_ih },
        { "enc.weight_hh", RT_F32, 2, { 32, 8 }, w_hh }, { "enc.bias", RT_F32, 1, { 32 }, bias },
        { "head.weight", RT_F32, 2, { 256, 8 }, head_w }, { "head.bias", RT_F32, 1, { 256 }, head_b },
    };
    for (int t = 0; t < 6; t++) {
        float *v = nt[t].data;
        int64_t n = nt[t].dims[0] * (nt[t].rank == 2 ? nt[t].dims[1] : 1);
        for (int64_t i = 0; i < n; i++)
            v[i] = (float)((i * 7 + t * 5) % 19 - 9) / 16.0f;
    }
    char err[512];
    ck_assert_msg(rt_checkpoint_save("all.safetensors", nt, 6, NULL, 0, err, sizeof err) == 0, "%s", err);
    FILE *f = fopen("t.txt", "w");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 12; i++)
        fputs("In the beginning God created the heaven and the earth. ", f);
    ck_assert_int_eq(fclose(f), 0);

    /* the pair is fused with the table frozen */
    FeRun r;
    fe_open(&r, EMB_NET("        freeze emb\n"));
    ck_assert_msg(r.ok, "%.*s", (int)r.len, r.out);
    char *dump = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&dump, &len);
    r.c.dumps = "F";
    r.c.dump_out = out;
    LProgram lp;
    ck_assert(lower_program(&r.c, NULL, &lp));
    fclose(out);
    /* the training step's group: the lstm reads the frozen table */
    ck_assert_msg(strstr(dump, "lstm + embed"), "%s", dump);
    free(dump);
    fe_close(&r);

    saved frozen = one_step(EMB_NET("        freeze emb\n"), "frozen.safetensors");
    saved trained = one_step(EMB_NET(""), "trained.safetensors");
    ck_assert_int_eq(frozen.n, trained.n);
    for (int i = 0; i < frozen.n; i++) {
        const float *other = saved_tensor(&trained, frozen.name[i], frozen.count[i]);
        size_t bytes = sizeof(float) * (size_t)frozen.count[i];
        if (strcmp(frozen.name[i], "emb.weight") != 0) {
            ck_assert_msg(!memcmp(frozen.values[i], other, bytes), "%s differs", frozen.name[i]);
            continue;
        }
        ck_assert(!memcmp(frozen.values[i], table, sizeof table));
        ck_assert_msg(memcmp(other, table, sizeof table) != 0, "the trained table did not move");
    }
    for (int i = 0; i < frozen.n; i++)
        free(frozen.name[i]), free(frozen.values[i]), free(trained.name[i]), free(trained.values[i]);
}
END_TEST

/* A frozen batchnorm (freeze bn, its four tensors loaded) runs as in eval
 * mode during training: the training step's loss equals the loss of the
 * eval-mode forward on the same batch (the batch's own statistics would
 * give another), its running statistics, weight and bias are bit-identical
 * after training, and the gradient reaching the conv before it (which
 * trains) is dy * gamma / sqrt(var + eps): central differences of the
 * eval-mode loss agree within 1e-3 + 2%. */
#define BN_MODEL                                                                                  \
    "model m(x: f32[1, 6, 6]) -> f32[3] {\n"                                                     \
    "    x -> conv1: conv2d(2, 3) -> bn: batchnorm -> relu -> flatten -> head: dense(3)\n"       \
    "}\n"

static void write_bn_checkpoint(const char *path)
{
    static const struct { const char *name; int rank; int64_t dims[4]; int n; } t[] = {
        { "c.weight", 4, { 2, 1, 3, 3 }, 18 }, { "c.bias", 1, { 2 }, 2 },
        { "n.weight", 1, { 2 }, 2 },           { "n.bias", 1, { 2 }, 2 },
        { "n.running_mean", 1, { 2 }, 2 },     { "n.running_var", 1, { 2 }, 2 },
    };
    static float v[6][18];
    rt_named_tensor nt[6];
    for (int k = 0; k < 6; k++) {
        for (int i = 0; i < t[k].n; i++)
            v[k][i] = (float)((k * 13 + i * 7) % 11 - 5) / 8.0f + (k == 5 ? 1.5f : 0.0f);
        nt[k] = (rt_named_tensor){ t[k].name, RT_F32, t[k].rank, { 0 }, v[k] };
        memcpy(nt[k].dims, t[k].dims, sizeof t[k].dims);
    }
    char err[512];
    ck_assert_msg(rt_checkpoint_save(path, nt, 6, NULL, 0, err, sizeof err) == 0, "%s", err);
}

/* Mean cross-entropy of the eval-mode forward, in double. */
static double eval_loss(const rt_program *p, const float *params, const float *x, const int32_t *y, int batch,
                        float *arena)
{
    float out[4 * 3];
    p->forward(params, x, out, batch, arena);
    double loss = 0;
    for (int b = 0; b < batch; b++) {
        double mx = out[b * 3], sum = 0;
        for (int j = 1; j < 3; j++)
            mx = out[b * 3 + j] > mx ? out[b * 3 + j] : mx;
        for (int j = 0; j < 3; j++)
            sum += exp(out[b * 3 + j] - mx);
        loss += log(sum) + mx - out[b * 3 + y[b]];
    }
    return loss / batch;
}

START_TEST(frozen_batchnorm_runs_in_eval_mode)
{
    write_bn_checkpoint("bn.safetensors");
    write_csv();
    FeRun r;
    LProgram lp;
    JitProgram *jp = jit_open(&r, &lp,
                              BN_MODEL TRAIN_HEAD
                              "    init from(\"bn.safetensors\") {\n"
                              "        conv1 <- c\n"
                              "        bn <- n\n"
                              "        freeze bn\n"
                              "        fresh head\n"
                              "    }\n"
                              "}\n");
    const rt_program *p = jit_program(jp);

    enum { B = 4 };
    float *params = calloc((size_t)p->param_floats, sizeof *params);
    float *grads = calloc((size_t)p->param_floats, sizeof *grads);
    int64_t per = p->train_arena_floats > p->eval_arena_floats ? p->train_arena_floats : p->eval_arena_floats;
    float *arena = calloc((size_t)(per * B + p->eval_scratch_floats + 16), sizeof *arena);
    rt_init_params(p, 7, params);
    FILE *devnull = fopen("/dev/null", "w");
    ck_assert_int_eq(rt_init_from("t", p, "bn.safetensors", params, devnull), 0);
    fclose(devnull);
    float x[B * 36];
    int32_t y[B];
    for (int i = 0; i < B * 36; i++)
        x[i] = (float)((i * 7) % 10) / 10.0f - 0.3f;
    for (int b = 0; b < B; b++)
        y[b] = b % 3;

    double want = eval_loss(p, params, x, y, B, arena);
    double got = p->train_step(params, grads, x, y, B, arena, 1) / B;
    ck_assert_msg(fabs(got - want) <= 1e-5 * (1 + fabs(want)), "training loss %.9g, eval-mode loss %.9g", got, want);
    /* conv1.weight's gradient against central differences */
    const rt_param_desc *cw = NULL;
    for (int i = 0; i < p->nparams; i++)
        if (!strcmp(p->params[i].name, "conv1.weight"))
            cw = &p->params[i];
    ck_assert_ptr_nonnull(cw);
    for (int k = 0; k < 18; k += 5) {
        float *w = params + cw->offset + k, keep = *w;
        *w = keep + 1e-2f;
        double up = eval_loss(p, params, x, y, B, arena);
        *w = keep - 1e-2f;
        double down = eval_loss(p, params, x, y, B, arena);
        *w = keep;
        double fd = (up - down) / 2e-2, g = grads[cw->offset + k];
        ck_assert_msg(fabs(g - fd) <= 1e-3 + 0.02 * fabs(fd), "d loss / d conv1.weight[%d] = %.6g, differences %.6g", k,
                      g, fd);
    }

    char a0[] = "m", a1[] = "train", a2[] = "--steps", a3[] = "3", a4[] = "--save", a5[] = "out.safetensors";
    char *argv[] = { a0, a1, a2, a3, a4, a5, NULL };
    ck_assert_int_eq(rt_main(p, 6, argv), 0);
    for (int i = 0; i < p->nparams; i++) {
        const rt_param_desc *d = &p->params[i];
        float after[128];
        rt_named_tensor nt = { d->name, RT_F32, d->rank, { 0 }, after };
        memcpy(nt.dims, d->dims, sizeof d->dims);
        char err[512];
        ck_assert_msg(rt_checkpoint_load("out.safetensors", &nt, 1, true, NULL, 0, NULL, err, sizeof err) == 0, "%s", err);
        bool same = !memcmp(after, params + d->offset, sizeof(float) * (size_t)d->count);
        if (!strncmp(d->name, "bn.", 3))
            ck_assert_msg(same, "%s changed in training", d->name);
        else if (!strcmp(d->name, "conv1.weight"))
            ck_assert_msg(!same, "conv1.weight did not train");
    }
    free(params);
    free(grads);
    free(arena);
    jit_free(jp);
    fe_close(&r);
}
END_TEST

/* The diagnostics of ok_net with its init block replaced. */
static char *diags_of(const char *init)
{
    write_torch_checkpoint("torch.safetensors");
    char text[2048];
    snprintf(text, sizeof text, "%s%s%s}\n", MODEL, TRAIN_HEAD, init);
    bool ok;
    char *d = fe_diags(text, &ok);
    ck_assert(!ok);
    return d;
}

START_TEST(shape_mismatch)
{
    char *d = diags_of("    init from(\"torch.safetensors\") {\n"
                       "        conv1 <- features.0\n"
                       "        fc1 <- classifier.2\n"
                       "        fresh head\n"
                       "    }\n");
    ck_assert_str_eq(d, "t.net:10:9: error: fc1.weight is f32[5, 32] in model m but classifier.2.weight in torch.safetensors is f32[3, 5]\n"
                        "   10 |         fc1 <- classifier.2\n"
                        "      |         ^~~~~~~~~~~~~~~~~~~\n"
                        "t.net:10:9: error: fc1.bias is f32[5] in model m but classifier.2.bias in torch.safetensors is f32[3]\n"
                        "   10 |         fc1 <- classifier.2\n"
                        "      |         ^~~~~~~~~~~~~~~~~~~\n"
                        );
    free(d);
}
END_TEST

/* Freezing everything leaves nothing to train. */
START_TEST(everything_frozen)
{
    char *d = diags_of("    init from(\"torch.safetensors\") {\n"
                       "        conv1 <- features.0\n"
                       "        fc1 <- classifier.0\n"
                       "        head <- classifier.2\n"
                       "        freeze conv1, fc1, head\n"
                       "    }\n");
    ck_assert_str_eq(d, "t.net:8:5: error: every parameter of model 'm' is frozen, so training would change nothing; "
                        "leave a layer out of 'freeze' to fine-tune it\n"
                        "    8 |     init from(\"torch.safetensors\") {\n"
                        "      |     ^~~~\n");
    free(d);
}
END_TEST

/* Freezing a batchnorm's running statistics without its weight and bias
 * is refused: frozen, it runs in eval mode and is frozen whole. */
START_TEST(frozen_batchnorm_whole)
{
    write_bn_checkpoint("bn.safetensors");
    bool ok;
    char *d = fe_diags(BN_MODEL TRAIN_HEAD
                       "    init from(\"bn.safetensors\") {\n"
                       "        conv1 <- c; bn <- n\n"
                       "        freeze bn.running_*\n"
                       "        fresh head\n"
                       "    }\n"
                       "}\n",
                       &ok);
    ck_assert(!ok);
    ck_assert_str_eq(d, "t.net:10:16: error: 'bn.running_mean' is frozen but 'bn.weight' is not: a frozen batchnorm "
                        "normalises with its running statistics and keeps its weight and bias as loaded; freeze bn whole\n"
                        "   10 |         freeze bn.running_*\n"
                        "      |                ^~~~~~~~~~~~\n"
                        "t.net:10:16: error: 'bn.running_var' is frozen but 'bn.weight' is not: a frozen batchnorm "
                        "normalises with its running statistics and keeps its weight and bias as loaded; freeze bn whole\n"
                        "   10 |         freeze bn.running_*\n"
                        "      |                ^~~~~~~~~~~~\n");
    free(d);
}
END_TEST

START_TEST(missing_name)
{
    char *d = diags_of("    init from(\"torch.safetensors\") {\n"
                       "        conv1.* <- features.1.*\n"
                       "        fc1.* <- classifier.0.*\n"
                       "        fresh head\n"
                       "    }\n");
    ck_assert_str_eq(d, "t.net:9:9: error: torch.safetensors has no tensor 'features.1.weight' (for conv1.weight); did you mean 'features.0.weight'?\n"
                        "    9 |         conv1.* <- features.1.*\n"
                        "      |         ^~~~~~~~~~~~~~~~~~~~~~~\n"
                        "t.net:9:9: error: torch.safetensors has no tensor 'features.1.bias' (for conv1.bias); did you mean 'features.0.bias'?\n"
                        "    9 |         conv1.* <- features.1.*\n"
                        "      |         ^~~~~~~~~~~~~~~~~~~~~~~\n"
                        );
    free(d);
}
END_TEST

START_TEST(unmatched_and_left_out)
{
    char *d = diags_of("    init from(\"torch.safetensors\") {\n"
                       "        conv1 <- features.0\n"
                       "        fc2.* <- classifier.0.*\n"
                       "        freeze fc1\n"
                       "    }\n");
    ck_assert_str_eq(d, "t.net:10:9: error: 'fc2.*' matches no parameter of model m\n"
                        "   10 |         fc2.* <- classifier.0.*\n"
                        "      |         ^~~~~\n"
                        "t.net:11:16: error: 'fc1.weight' is frozen but not loaded: it would stay at its random initial values; map it from the checkpoint\n"
                        "   11 |         freeze fc1\n"
                        "      |                ^~~\n"
                        "t.net:11:16: error: 'fc1.bias' is frozen but not loaded: it would stay at its random initial values; map it from the checkpoint\n"
                        "   11 |         freeze fc1\n"
                        "      |                ^~~\n"
                        "t.net:8:5: error: fc1.weight, fc1.bias, head.weight and head.bias are neither loaded nor declared fresh; map them or add 'fresh fc1'\n"
                        "    8 |     init from(\"torch.safetensors\") {\n"
                        "      |     ^~~~\n"
                        );
    free(d);
}
END_TEST

static Suite *transfer_suite(void)
{
    Suite *s = suite_create("transfer");
    TCase *tc = test_case("init from");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, map_resolves_pytorch_names);
    tcase_add_test(tc, load_and_freeze_at_run_time);
    tcase_add_test(tc, shape_mismatch);
    tcase_add_test(tc, everything_frozen);
    tcase_add_test(tc, missing_name);
    tcase_add_test(tc, unmatched_and_left_out);
    tcase_add_test(tc, frozen_batchnorm_runs_in_eval_mode);
    tcase_add_test(tc, frozen_batchnorm_whole);
    tcase_add_test(tc, frozen_embed_into_recurrent);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(transfer_suite)
