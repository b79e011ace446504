/* test_infer.c — inference artefacts. `netc emit --inference --weights`
 * gives C that compiles with -Wall -Wextra -Werror -pedantic in a test
 * program and computes, bit for bit, what the training program's forward
 * computes with the same checkpoint, also from two threads with their own
 * contexts; `netc build --inference --weights` gives a predictor that
 * prints what `predict --load` prints, and still runs with the checkpoint
 * deleted. The model has a batchnorm folded into its conv at inference, so
 * the scratch region is exercised too. */
#include "front.h"
#include "netrt.h"

#include <stdlib.h>

static char dir[64];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/netc-infer-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void) { test_remove_tree(dir); }

static const char *in_dir(const char *name) { return test_path_in(dir, name); }

static const char *net =
    "model m(x: f32[1, 8, 8]) -> f32[4] {\n"
    "    x -> c: conv2d(4, 3) -> bn: batchnorm -> relu -> flatten -> d: dense(4)\n"
    "}\n"
    "train m {\n"
    "    data csv(\"none.csv\", label_column = 64)\n"
    "    loss cross_entropy\n"
    "}\n";

/* Every tensor of m with values from a fixed generator (variances > 0). */
static void write_checkpoint(const char *path)
{
    static const struct { const char *name; int rank; int64_t dims[4]; } t[] = {
        { "c.weight", 4, { 4, 1, 3, 3 } }, { "c.bias", 1, { 4 } },        { "bn.weight", 1, { 4 } },
        { "bn.bias", 1, { 4 } },           { "bn.running_mean", 1, { 4 } }, { "bn.running_var", 1, { 4 } },
        { "d.weight", 2, { 4, 144 } },     { "d.bias", 1, { 4 } },
    };
    enum { N = sizeof t / sizeof t[0] };
    static float v[N][576];
    rt_named_tensor nt[N];
    uint32_t s = 12345;
    for (int k = 0; k < N; k++) {
        for (int i = 0; i < 576; i++) {
            s = s * 1664525u + 1013904223u;
            v[k][i] = (float)(s >> 8) / (float)(1u << 24) - 0.5f;
            if (!strcmp(t[k].name, "bn.running_var"))
                v[k][i] += 1.0f;
        }
        nt[k] = (rt_named_tensor){ t[k].name, RT_F32, t[k].rank, { 0 }, v[k] };
        memcpy(nt[k].dims, t[k].dims, sizeof t[k].dims);
    }
    char err[512];
    ck_assert_msg(rt_checkpoint_save(path, nt, N, NULL, 0, err, sizeof err) == 0, "%s", err);
}

static void netc_ok(const char *a1, const char *a2, const char *a3, const char *a4, const char *a5, const char *a6,
                    const char *a7)
{
    FeProc p;
    int rc = fe_run(&p, 120, fe_netc(), a1, a2, a3, a4, a5, a6, a7, NULL);
    ck_assert_msg(rc == 0, "netc %s failed:\n%s", a1, p.err);
    fe_proc_free(&p);
}

static const char *app =
    "#include <pthread.h>\n#include <stdio.h>\n#include <string.h>\n"
    "#include \"netrt.h\"\n#include \"m.h\"\n"
    "extern const rt_program m_program;\n"
    "enum { B = 3 };\n"
    "static float x[B * 64];\n"
    "static void *worker(void *arg)\n{\n"
    "    float *out = arg;\n    m_ctx *m = m_create(NULL, B);\n"
    "    if (!m)\n        return arg;\n"
    "    for (int r = 0; r < 200; r++)\n        if (m_predict(m, x, out, B) != 0)\n            return arg;\n"
    "    m_destroy(m);\n    return NULL;\n}\n"
    "int main(int argc, char **argv)\n{\n"
    "    char err[256];\n    float want[B * 4], got[2][B * 4];\n"
    "    (void)argc;\n"
    "    for (int i = 0; i < B * 64; i++)\n        x[i] = (float)((i * 7) % 13) / 13.0f - 0.3f;\n"
    "    rt_model *full = rt_model_new(&m_program, 1, B, err, sizeof err);\n"
    "    if (!full || rt_model_load(full, argv[1], err, sizeof err) || rt_model_forward(full, x, want, B)) {\n"
    "        puts(err);\n        return 1;\n    }\n"
    "    pthread_t th[2];\n"
    "    for (int k = 0; k < 2; k++)\n        pthread_create(&th[k], NULL, worker, got[k]);\n"
    "    for (int k = 0; k < 2; k++) {\n        void *rc;\n        pthread_join(th[k], &rc);\n"
    "        if (rc) {\n            puts(\"create or predict failed\");\n            return 1;\n        }\n"
    "        if (memcmp(got[k], want, sizeof want)) {\n            puts(\"differs from the training program's forward\");\n            return 1;\n        }\n    }\n"
    "    m_ctx *m = m_create(NULL, 2);\n"
    "    if (m_predict(m, x, got[0], 3) != -1) {\n        puts(\"batch over max_batch accepted\");\n        return 1;\n    }\n"
    "    m_destroy(m);\n    rt_model_free(full);\n    puts(\"ok\");\n    return 0;\n}\n";

START_TEST(emit_inference_matches_training_forward)
{
    FILE *f = fopen(in_dir("m.net"), "w");
    fputs(net, f);
    fclose(f);
    write_checkpoint(in_dir("ck.safetensors"));
    netc_ok("emit", "--inference", "--weights", in_dir("ck.safetensors"), in_dir("m.net"), "-o", in_dir("inf"));
    netc_ok("emit", in_dir("m.net"), "-o", in_dir("full"), NULL, NULL, NULL);
    f = fopen(in_dir("app.c"), "w");
    fputs(app, f);
    fclose(f);
    const char *build = getenv("BUILD") && *getenv("BUILD") ? getenv("BUILD") : "build";
    const char *san = getenv("NETC_CFLAGS") ? getenv("NETC_CFLAGS") : "";
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "cc -std=c11 -O2 -Wall -Wextra -Werror -pedantic %s -Iruntime -c %s/full/m.c -o %s/full.o && "
             "cc -std=c11 -O2 -Wall -Wextra -Werror -pedantic -pthread %s -Iruntime -I%s/inf %s/app.c %s/inf/m.c "
             "%s/full.o %s/libnetrt.a -ljansson -lz -lpng -lm -lpthread -o %s/app",
             san, dir, dir, san, dir, dir, dir, dir, build, dir);
    ck_assert_msg(system(cmd) == 0, "%s", cmd);
    FeProc p;
    int rc = fe_run(&p, 60, in_dir("app"), in_dir("ck.safetensors"), NULL);
    ck_assert_msg(rc == 0, "app failed:\n%s%s", p.out, p.err);
    ck_assert_str_eq(p.out, "ok\n");
    fe_proc_free(&p);
}
END_TEST

/* The training program's C is clean too, with every table a program can
 * have: steps and noise (gan.net), tensors loaded by `init from`
 * (finetune.net), augmentations (resnet.net); parsed only, which is cheap. */
START_TEST(emitted_training_c_is_warning_free)
{
    static const char *const models[] = { "gan", "finetune", "resnet" };
    for (int i = 0; i < 3; i++) {
        char src[256], out[256], cmd[1024];
        snprintf(src, sizeof src, "examples/%s.net", models[i]);
        snprintf(out, sizeof out, "%s/%s", dir, models[i]);
        FeProc p;
        int rc = fe_run(&p, 60, fe_netc(), "emit", src, "-o", out, NULL);
        ck_assert_msg(rc == 0, "%s", p.err);
        fe_proc_free(&p);
        snprintf(cmd, sizeof cmd, "cc -std=c11 -Wall -Wextra -Werror -pedantic -fsyntax-only -Iruntime %s/%s.c", out,
                 models[i]);
        ck_assert_msg(system(cmd) == 0, "%s", cmd);
    }
}
END_TEST

START_TEST(single_file_predictor)
{
    FILE *f = fopen(in_dir("m.net"), "w");
    fputs(net, f);
    fclose(f);
    write_checkpoint(in_dir("ck.safetensors"));
    f = fopen(in_dir("in.csv"), "w");
    for (int r = 0; r < 20; r++)
        for (int i = 0; i < 64; i++)
            fprintf(f, "%g%c", (double)((r * 31 + i * 7) % 17) / 17.0 - 0.4, i == 63 ? '\n' : ',');
    fclose(f);
    netc_ok("build", in_dir("m.net"), "-o", in_dir("m"), NULL, NULL, NULL);
    netc_ok("build", "--inference", "--weights", in_dir("ck.safetensors"), in_dir("m.net"), "-o", in_dir("pred"));
    FeProc want, got;
    ck_assert_int_eq(fe_run(&want, 60, in_dir("m"), "predict", "--load", in_dir("ck.safetensors"), in_dir("in.csv"), NULL), 0);
    ck_assert_int_eq(unlink(in_dir("ck.safetensors")), 0);
    int rc = fe_run(&got, 60, in_dir("pred"), in_dir("in.csv"), NULL);
    ck_assert_msg(rc == 0, "%s", got.err);
    ck_assert_int_eq(want.out_len, 40);
    ck_assert_str_eq(got.out, want.out);
    fe_proc_free(&want);
    fe_proc_free(&got);
    /* the training command is not in the predictor, and it says why */
    ck_assert_int_eq(fe_run(&got, 60, in_dir("pred"), "train", NULL), 2);
    char want_err[512];
    snprintf(want_err, sizeof want_err, "pred: this binary was built with --inference (the forward pass alone), "
             "so it predicts, evaluates and samples only; build %s without --inference to train\n", in_dir("m.net"));
    ck_assert_str_eq(got.err, want_err);
    fe_proc_free(&got);
    /* its usage is predict's, --load optional, and no train */
    ck_assert_int_eq(fe_run(&got, 60, in_dir("pred"), "--help", NULL), 0);
    ck_assert_msg(strncmp(got.out, "usage: pred [predict] [--load FILE] [--batch N]", 47) == 0, "%s", got.out);
    ck_assert_ptr_null(strstr(got.out, "--epochs"));
    fe_proc_free(&got);
}
END_TEST

/* docs/embedding.md's complete program, taken from the document itself
 * (the C block after "A complete program that classifies one"), compiles
 * with -Wall -Wextra -Werror -pedantic against examples/lenet.net's
 * inference artefact and classifies one image. The weights are zero but
 * fc2's bias, one-hot at class 9, so whatever the image the scores are
 * that bias and the program must print class 9's name. */
static void write_lenet_checkpoint(const char *path)
{
    static const struct { const char *name; int rank; int64_t dims[4]; int64_t n; } t[] = {
        { "conv1.weight", 4, { 32, 1, 5, 5 }, 800 }, { "conv1.bias", 1, { 32 }, 32 },
        { "conv2.weight", 4, { 64, 32, 5, 5 }, 51200 }, { "conv2.bias", 1, { 64 }, 64 },
        { "fc1.weight", 2, { 128, 1024 }, 131072 }, { "fc1.bias", 1, { 128 }, 128 },
        { "fc2.weight", 2, { 10, 128 }, 1280 }, { "fc2.bias", 1, { 10 }, 10 },
    };
    enum { N = sizeof t / sizeof t[0] };
    static float zeros[131072], bias[10] = { [9] = 1.0f };
    rt_named_tensor nt[N];
    for (int k = 0; k < N; k++) {
        nt[k] = (rt_named_tensor){ t[k].name, RT_F32, t[k].rank, { 0 }, k == N - 1 ? bias : zeros };
        memcpy(nt[k].dims, t[k].dims, sizeof t[k].dims);
    }
    char err[512];
    ck_assert_msg(rt_checkpoint_save(path, nt, N, NULL, 0, err, sizeof err) == 0, "%s", err);
}

START_TEST(embedding_doc_program)
{
    size_t len;
    char *doc = fe_slurp("docs/embedding.md", &len);
    ck_assert_ptr_nonnull(doc);
    char *at = strstr(doc, "A complete program that classifies one");
    ck_assert_ptr_nonnull(at);
    char *code = strstr(at, "```c\n");
    ck_assert_ptr_nonnull(code);
    code += 5;
    char *end = strstr(code, "```");
    ck_assert_ptr_nonnull(end);
    FILE *f = fopen(in_dir("classify.c"), "w");
    fwrite(code, 1, (size_t)(end - code), f);
    fclose(f);
    free(doc);
    write_lenet_checkpoint(in_dir("lenet.safetensors"));
    netc_ok("emit", "--inference", "--weights", in_dir("lenet.safetensors"), "examples/lenet.net", "-o", in_dir("out"));
    const char *build = getenv("BUILD") && *getenv("BUILD") ? getenv("BUILD") : "build";
    const char *san = getenv("NETC_CFLAGS") ? getenv("NETC_CFLAGS") : "";
    char cmd[4096];
    /* the command line the document gives, with -Werror */
    snprintf(cmd, sizeof cmd,
             "cc -std=c11 -O2 -Wall -Wextra -Werror -pedantic %s %s/classify.c %s/out/lenet.c -I%s/out -Iruntime "
             "%s/libnetrt.a -lm -lpthread -o %s/classify",
             san, dir, dir, dir, build, dir);
    ck_assert_msg(system(cmd) == 0, "%s", cmd);
    unsigned char pixels[784];
    for (int i = 0; i < 784; i++)
        pixels[i] = (unsigned char)(i * 37 % 256);
    f = fopen(in_dir("first.raw"), "wb");
    fwrite(pixels, 1, sizeof pixels, f);
    fclose(f);
    FeProc p;
    int rc = fe_run(&p, 60, in_dir("classify"), in_dir("first.raw"), NULL);
    ck_assert_msg(rc == 0, "classify failed:\n%s%s", p.out, p.err);
    ck_assert_str_eq(p.out, "Ankle boot\n");
    fe_proc_free(&p);
}
END_TEST

START_TEST(flags_outside_build_are_refused)
{
    FeProc p;
    int rc = fe_run(&p, 60, fe_netc(), "check", "--inference", "examples/mlp.net", NULL);
    ck_assert_int_eq(rc, 2);
    ck_assert_str_eq(p.err, "netc: --inference, --weights, --static and --strip are flags of build and emit\n"
                            "Try 'netc --help'.\n");
    fe_proc_free(&p);
    /* weights compiled into a training program would go unused */
    rc = fe_run(&p, 60, fe_netc(), "build", "--weights", "w.safetensors", "examples/mlp.net", "-o", in_dir("w"), NULL);
    ck_assert_int_eq(rc, 2);
    ck_assert_str_eq(p.err, "netc: --weights compiles a checkpoint into an inference artefact: add --inference (to "
                            "train from a checkpoint, use an init block or train --resume)\nTry 'netc --help'.\n");
    fe_proc_free(&p);
}
END_TEST

static Suite *infer_suite(void)
{
    Suite *s = suite_create("infer");
    TCase *tc = test_case("inference artefacts");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, emit_inference_matches_training_forward);
    tcase_add_test(tc, single_file_predictor);
    tcase_add_test(tc, emitted_training_c_is_warning_free);
    tcase_add_test(tc, flags_outside_build_are_refused);
    tcase_add_test(tc, embedding_doc_program);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(infer_suite)
