/* test_e2e.c — the product as a user runs it: `netc build` an example, train
 * the binary on Fashion-MNIST, resume, evaluate, break its files on
 * purpose; `netc emit` and embed the model through NAME.h; a recurrent
 * model learning a sequence task from CSV.
 * Needs the dataset-fashion-mnist package (the dependency step installs it). */
#include "front.h"
#include "netrt.h"

#include <stdlib.h>

static char dir[64];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/netc-e2e-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

static const char *path_in(const char *name)
{
    static char buf[16][256];
    static int k;
    k = (k + 1) % 16;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static void build_mlp(void)
{
    FeProc p;
    int rc = fe_run(&p, 120, fe_netc(), "build", "examples/mlp.net", "-o", path_in("mlp"), NULL);
    ck_assert_msg(rc == 0, "netc build failed:\n%s", p.err);
    fe_proc_free(&p);
}

/* Reads every parameter of the mlp from a checkpoint into one buffer. */
static float *load_weights(const char *path, int64_t *n)
{
    static const struct { const char *name; int rank; int64_t d0, d1; } t[] = {
        { "dense1.weight", 2, 512, 784 }, { "dense1.bias", 1, 512, 0 }, { "dense2.weight", 2, 256, 512 },
        { "dense2.bias", 1, 256, 0 }, { "dense3.weight", 2, 10, 256 }, { "dense3.bias", 1, 10, 0 },
    };
    *n = 535818;
    float *w = malloc(sizeof *w * (size_t)*n);
    rt_named_tensor nt[6];
    int64_t off = 0;
    for (int i = 0; i < 6; i++) {
        nt[i] = (rt_named_tensor){ t[i].name, RT_F32, t[i].rank, { t[i].d0, t[i].d1 }, w + off };
        off += t[i].d0 * (t[i].rank == 2 ? t[i].d1 : 1);
    }
    char err[512];
    int rc = rt_checkpoint_load(path, nt, 6, true, NULL, 0, NULL, err, sizeof err);
    ck_assert_msg(rc == 0, "%s", err);
    return w;
}

static double accuracy_of(const char *out)
{
    const char *at = strstr(out, "test accuracy ");
    ck_assert_msg(at != NULL, "no test accuracy in:\n%s", out);
    return strtod(at + strlen("test accuracy "), NULL);
}

/* The floor: one epoch of examples/mlp.net reaches 84% on the test
 * set (training reports its held-out tenth, eval the test set). */
START_TEST(mlp_one_epoch)
{
    build_mlp();
    FeProc p;
    int rc = fe_run(&p, 240, path_in("mlp"), "train", "--epochs", "1", "--save", path_in("w.safetensors"), "--log",
                 path_in("log.csv"), NULL);
    ck_assert_msg(rc == 0, "train failed:\n%s", p.err);
    ck_assert_msg(strstr(p.out, "  val accuracy ") && !strstr(p.out, "test accuracy"), "%s", p.out);
    fe_proc_free(&p);
    rc = fe_run(&p, 120, path_in("mlp"), "eval", "--load", path_in("w.safetensors"), NULL);
    ck_assert_msg(rc == 0, "eval failed:\n%s", p.err);
    double acc = accuracy_of(p.out[0] ? p.out : p.err);
    ck_assert_msg(acc >= 84.0, "test accuracy %.2f%% after one epoch, expected >= 84%%", acc);
    fe_proc_free(&p);
}
END_TEST

/* Ctrl-C in the middle of a run saves where it stopped; resuming gives the
 * weights of the uninterrupted run, bitwise (the cosine schedule included:
 * the resumed run continues the same curve). */
START_TEST(resume_is_exact)
{
    build_mlp();
    FeProc p;
    char mlp[256];
    snprintf(mlp, sizeof mlp, "%s", path_in("mlp"));
    ck_assert_int_eq(fe_run(&p, 240, mlp, "train", "--epochs", "2", "--save", path_in("full.safetensors"), NULL), 0);
    fe_proc_free(&p);

    /* the same run, interrupted once epoch 2 has begun */
    int out[2];
    ck_assert_int_eq(pipe(out), 0);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        dup2(out[1], 1);
        close(out[0]);
        execl(mlp, mlp, "train", "--epochs", "2", "--save", path_in("part.safetensors"), (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    char text[4096] = "";
    size_t len = 0;
    bool sent = false;
    for (ssize_t n; (n = read(out[0], text + len, sizeof text - 1 - len)) > 0;) {
        len += (size_t)n;
        text[len] = '\0';
        if (!sent && strstr(text, "epoch 1/2")) {
            struct timespec nap = { 0, 200 * 1000 * 1000 };
            nanosleep(&nap, NULL);
            kill(pid, SIGINT);
            sent = true;
        }
    }
    close(out[0]);
    int status;
    waitpid(pid, &status, 0);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 130, "interrupted run: status %d, output:\n%s", status, text);
    ck_assert_msg(strstr(text, "stopped at step") && strstr(text, "continue with --resume"), "output:\n%s", text);

    int rc = fe_run(&p, 240, mlp, "train", "--epochs", "2", "--resume", path_in("part.safetensors"), "--save",
                 path_in("resumed.safetensors"), NULL);
    ck_assert_msg(rc == 0, "resume failed:\n%s", p.err);
    fe_proc_free(&p);
    int64_t n;
    float *a = load_weights(path_in("full.safetensors"), &n), *b = load_weights(path_in("resumed.safetensors"), &n);
    ck_assert_msg(memcmp(a, b, sizeof *a * (size_t)n) == 0, "resumed weights differ from the uninterrupted run");
    free(a);
    free(b);
}
END_TEST

/* A damaged checkpoint or data file: the documented message, exit 1. */
START_TEST(damaged_files)
{
    build_mlp();
    FeProc p;
    char mlp[256];
    snprintf(mlp, sizeof mlp, "%s", path_in("mlp"));
    ck_assert_int_eq(fe_run(&p, 240, mlp, "train", "--steps", "5", "--save", path_in("w.safetensors"), NULL), 0);
    fe_proc_free(&p);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "head -c 100000 %s > %s", path_in("w.safetensors"), path_in("cut.safetensors"));
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(fe_run(&p, 60, mlp, "eval", "--load", path_in("cut.safetensors"), NULL), 1);
    ck_assert_msg(strstr(p.err, "cut.safetensors: truncated") != NULL, "message was:\n%s", p.err);
    fe_proc_free(&p);
    /* labels cut short: the message names the file and both counts */
    snprintf(cmd, sizeof cmd,
             "cp /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz %s && "
             "zcat /usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz | head -c 41221 | gzip > %s",
             path_in("train-images-idx3-ubyte.gz"), path_in("train-labels-idx1-ubyte.gz"));
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(fe_run(&p, 60, mlp, "train", "--steps", "1", "--data", path_in("train-images-idx3-ubyte.gz"), NULL), 1);
    ck_assert_msg(strstr(p.err, "train-labels-idx1-ubyte.gz: truncated: expected 60000 labels, file holds 41213") != NULL,
                  "message was:\n%s", p.err);
    fe_proc_free(&p);
}
END_TEST

/* Strings from the .net file reach the generated C escaped: a path made to
 * end the literal compiles into exactly that path. */
START_TEST(paths_cannot_inject)
{
    const char *net = "model m(x: f32[4]) { x -> dense(2) }\n"
                      "train m { data csv(\"a\\\"); int injected = 1; /* \\\\ ?\?/\", label_column = 0) loss cross_entropy }\n";
    FILE *f = fopen(path_in("inj.net"), "w");
    fputs(net, f);
    fclose(f);
    FeProc p;
    int rc = fe_run(&p, 120, fe_netc(), "build", path_in("inj.net"), "-o", path_in("inj"), NULL);
    ck_assert_msg(rc == 0, "build failed:\n%s", p.err);
    fe_proc_free(&p);
    ck_assert_int_eq(fe_run(&p, 60, path_in("inj"), "info", NULL), 0);
    ck_assert_msg(strstr(p.out, "a\"); int injected = 1; /* \\ ?\?/") != NULL, "info shows:\n%s", p.out);
    fe_proc_free(&p);
}
END_TEST

/* A model without a train block builds a binary that says, on train,
 * which block to add (usage error), and still describes itself. */
START_TEST(no_train_block)
{
    FILE *f = fopen(path_in("nt.net"), "w");
    fputs("model m(x: f32[4]) -> f32[2] { x -> dense(2) }\n", f);
    fclose(f);
    FeProc p;
    int rc = fe_run(&p, 120, fe_netc(), "build", path_in("nt.net"), "-o", path_in("nt"), NULL);
    ck_assert_msg(rc == 0, "build failed:\n%s", p.err);
    fe_proc_free(&p);
    ck_assert_int_eq(fe_run(&p, 60, path_in("nt"), "info", NULL), 0);
    ck_assert_ptr_nonnull(strstr(p.out, "(no train block: predict only)"));
    fe_proc_free(&p);
    ck_assert_int_eq(fe_run(&p, 60, path_in("nt"), "train", NULL), 2);
    char want[512];
    snprintf(want, sizeof want,
             "nt: model 'm' has no train block, so this binary predicts and evaluates only; "
             "add 'train m { ... }' to %s to train it\n", path_in("nt.net"));
    ck_assert_str_eq(p.err, want);
    fe_proc_free(&p);
}
END_TEST

/* netc emit: NAME.c and NAME.h build into someone else's program. */
START_TEST(emit_embeds)
{
    FeProc p;
    int rc = fe_run(&p, 120, fe_netc(), "emit", "examples/mlp.net", "-o", path_in("out"), NULL);
    ck_assert_msg(rc == 0, "emit failed:\n%s", p.err);
    fe_proc_free(&p);
    FILE *f = fopen(path_in("app.c"), "w");
    fputs("#include \"mlp.h\"\n#include <stdio.h>\n#include <string.h>\n#include <math.h>\n"
          "int main(int argc, char **argv) {\n"
          "  (void)argc; char err[256]; static float x[4 * 784], out[4 * 10]; int32_t y[4] = { 1, 2, 3, 4 };\n"
          "  for (int i = 0; i < 4 * 784; i++) x[i] = (float)(i % 17) / 17.0f;\n"
          "  mlp_model *m = mlp_init(7, 4, err, sizeof err); if (!m) { puts(err); return 1; }\n"
          "  double first = mlp_train_step(m, x, y, 4), last = first;\n"
          "  for (int s = 0; s < 30; s++) last = mlp_train_step(m, x, y, 4);\n"
          "  if (!(last < first)) { printf(\"loss did not fall: %g -> %g\\n\", first, last); return 1; }\n"
          "  if (mlp_forward(m, x, out, 4) || mlp_save(m, argv[1], err, sizeof err)) { puts(err); return 1; }\n"
          "  mlp_model *n = mlp_init(8, 4, err, sizeof err); static float out2[4 * 10];\n"
          "  if (mlp_load(n, argv[1], err, sizeof err) || mlp_forward(n, x, out2, 4)) { puts(err); return 1; }\n"
          "  for (int i = 0; i < 40; i++) if (out[i] != out2[i]) { puts(\"reloaded model differs\"); return 1; }\n"
          "  /* a file refused halfway (NaN in its last float) leaves the model as it was */\n"
          "  FILE *f = fopen(argv[1], \"rb\"); static unsigned char buf[1 << 23]; size_t len = fread(buf, 1, sizeof buf, f);\n"
          "  fclose(f); memset(buf + len - 4, 0, 4); buf[len - 2] = 0xc0; buf[len - 1] = 0x7f;\n"
          "  char bad[600]; snprintf(bad, sizeof bad, \"%s.bad\", argv[1]); f = fopen(bad, \"wb\"); fwrite(buf, 1, len, f); fclose(f);\n"
          "  if (mlp_load(n, bad, err, sizeof err) == 0) { puts(\"a NaN checkpoint loaded\"); return 1; }\n"
          "  if (mlp_forward(n, x, out2, 4)) { puts(err); return 1; }\n"
          "  for (int i = 0; i < 40; i++) if (out[i] != out2[i]) { puts(\"a refused load changed the model\"); return 1; }\n"
          "  if (mlp_forward(m, x, out, 5) != -1) { puts(\"batch over the limit accepted\"); return 1; }\n"
          "  y[3] = 10; if (!isnan(mlp_train_step(m, x, y, 4))) { puts(\"label 10 of 10 classes trained\"); return 1; }\n"
          "  mlp_free(m); mlp_free(n); puts(\"ok\"); return 0; }\n", f);
    fclose(f);
    char cmd[2048];
    const char *build = getenv("BUILD") && *getenv("BUILD") ? getenv("BUILD") : "build";
    snprintf(cmd, sizeof cmd, "cc -std=c11 -O2 %s -Iruntime -I%s %s %s/mlp.c %s/libnetrt.a -ljansson -lz -lpng -lm -lpthread -o %s",
             getenv("NETC_CFLAGS") ? getenv("NETC_CFLAGS") : "", path_in("out"), path_in("app.c"), path_in("out"), build,
             path_in("app"));
    ck_assert_msg(system(cmd) == 0, "%s", cmd);
    rc = fe_run(&p, 60, path_in("app"), path_in("emb.safetensors"), NULL);
    ck_assert_msg(rc == 0, "app failed:\n%s%s", p.out, p.err);
    fe_proc_free(&p);
}
END_TEST

/* A task only memory solves: a sequence of 8 numbers in [-1, 1) is class 1
 * when its running sum ever passes 1 (44% of them), which its last values
 * alone do not tell. Rows "label,x0,...,x7" from a fixed generator. */
static void write_sequences(const char *path, int rows, uint32_t seed)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    float x[8];
    for (int r = 0; r < rows; r++) {
        test_fill(x, 8, seed + (uint32_t)r);
        double sum = 0;
        int label = 0;
        for (int t = 0; t < 8; t++) {
            sum += x[t];
            label |= sum > 1.0;
        }
        fprintf(f, "%d", label);
        for (int t = 0; t < 8; t++)
            fprintf(f, ",%.6f", (double)x[t]);
        fputc('\n', f);
    }
    ck_assert_int_eq(fclose(f), 0);
}

/* A recurrent model learns it: an lstm under a gru, built, trained from
 * CSV rows, evaluated from its checkpoint by the JIT to the same numbers. */
START_TEST(recurrent_learns_sequences)
{
    write_sequences(path_in("train.csv"), 4000, 1);
    write_sequences(path_in("test.csv"), 1000, 90001);
    char net[1024];
    snprintf(net, sizeof net,
             "model seq(x: f32[8, 1]) -> f32[2] { x -> lstm(16) -> gru(16, sequences = false) -> dense(2) }\n"
             "train seq { data csv(\"%s\", label_column = 0) test csv(\"%s\", label_column = 0)\n"
             "  loss cross_entropy optimizer adam(lr = 1e-2) batch 32 epochs 4 seed 1 }\n",
             path_in("train.csv"), path_in("test.csv"));
    FILE *f = fopen(path_in("seq.net"), "w");
    ck_assert_ptr_nonnull(f);
    fputs(net, f);
    ck_assert_int_eq(fclose(f), 0);
    FeProc p;
    int rc = fe_run(&p, 120, fe_netc(), "build", path_in("seq.net"), "-o", path_in("seq"), NULL);
    ck_assert_msg(rc == 0, "netc build failed:\n%s", p.err);
    fe_proc_free(&p);
    rc = fe_run(&p, 120, path_in("seq"), "train", "--save", path_in("seq.safetensors"), NULL);
    ck_assert_msg(rc == 0, "train failed:\n%s", p.err);
    const char *last = strstr(p.out, "epoch 4/4");
    ck_assert_msg(last, "no last epoch in:\n%s", p.out);
    double acc = accuracy_of(last);
    ck_assert_msg(acc >= 90.0, "test accuracy %.2f%% after 4 epochs, expected >= 90%%:\n%s", acc, p.out);
    fe_proc_free(&p);
    FeProc e;
    rc = fe_run(&p, 120, path_in("seq"), "eval", "--load", path_in("seq.safetensors"), NULL);
    ck_assert_msg(rc == 0, "eval failed:\n%s", p.err);
    rc = fe_run(&e, 120, fe_netc(), "eval", path_in("seq.net"), "--load", path_in("seq.safetensors"), NULL);
    ck_assert_msg(rc == 0, "netc eval failed:\n%s", e.err);
    ck_assert_msg(fabs(accuracy_of(p.out) - acc) < 1e-9, "eval: %s", p.out);
    ck_assert_str_eq(p.out, e.out);
    fe_proc_free(&p);
    fe_proc_free(&e);
}
END_TEST

static Suite *e2e_suite(void)
{
    Suite *s = suite_create("e2e");
    TCase *tc = test_case("build, train, resume, damage, embed");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, mlp_one_epoch);
    tcase_add_test(tc, resume_is_exact);
    tcase_add_test(tc, damaged_files);
    tcase_add_test(tc, paths_cannot_inject);
    tcase_add_test(tc, emit_embeds);
    tcase_add_test(tc, no_train_block);
    tcase_add_test(tc, recurrent_learns_sequences);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(e2e_suite)
