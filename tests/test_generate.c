/* test_generate.c — the incremental forward (NAME_step, compiler/step.c
 * and runtime/generate.c) against the full-window forward, and the
 * generator that drives it.
 *
 * The reference is the model's own forward over whole windows: position t
 * of step's output, after feeding positions 0..t one at a time, must be
 * row t of forward's output within 1e-5 (the GEMMs see one row instead of
 * T and may sum in another order). Each model runs through the JIT; the
 * built binary's step is held equal to the JIT's in test_e2e-style runs
 * of `sample` below.
 */
#include "front.h"
#include "netrt.h"

#include <stdlib.h>

static void lower_ok(FeRun *r, const char *net, LProgram *lp)
{
    fe_open(r, net);
    ck_assert_msg(r->ok, "front end failed:\n%.*s", (int)r->len, r->out);
    bool ok = lower_program(&r->c, NULL, lp);
    fflush(r->diag);
    ck_assert_msg(ok, "lowering failed:\n%.*s", (int)r->len, r->out);
}

enum { B = 2 };

/* Every position of B sequences through step, each compared with the
 * full forward's row. */
static void check_step_equals_forward(const char *net, int64_t T, int64_t V)
{
    FeRun r;
    LProgram lp;
    lower_ok(&r, net, &lp);
    lp.base_dir = "/tmp";
    ck_assert_msg(lp.has_step, "no step function: %s", lp.step_refusal ? lp.step_refusal : "?");
    JitProgram *jp = jit_compile(&r.c, &lp, NULL, r.diag);
    fflush(r.diag);
    ck_assert_msg(jp, "JIT failed:\n%.*s", (int)r.len, r.out);
    const rt_program *p = jit_program(jp);
    /* the JIT compiles the step function when first asked for it */
    ck_assert_ptr_null(p->step);
    ck_assert(rt_program_has_step(p));
    rt_step_fn step = rt_program_step(p);
    ck_assert_ptr_nonnull(step);
    ck_assert(rt_program_step(p) == step);
    ck_assert_int_eq(p->step_x_size, 1);
    ck_assert_int_eq(p->step_out_size, V);
    char err[256];
    rt_model *m = rt_model_new(p, 7, B, err, sizeof err);
    ck_assert_msg(m, "%s", err);
    int32_t *tok = malloc(sizeof *tok * (size_t)(B * T));
    for (int64_t i = 0; i < B * T; i++)
        tok[i] = (int32_t)((i * 5 + i / 3) % p->x_vocab);
    float *full = alloc_floats(B * T * V), *row = alloc_floats(B * V);
    ck_assert_int_eq(rt_model_forward(m, tok, full, B), 0);
    float *arena = aligned_alloc(64, (size_t)((B * p->step_arena_floats * 4 + 63) / 64 * 64));
    ck_assert_ptr_nonnull(arena);
    /* garbage in the state: position 0 must not read it */
    for (int64_t i = 0; i < B * p->step_arena_floats; i++)
        arena[i] = 1e30f;
    double worst = 0;
    for (int64_t t = 0; t < T; t++) {
        int32_t x[B];
        for (int b = 0; b < B; b++)
            x[b] = tok[b * T + t];
        step(rt_model_params(m), x, row, B, arena, t);
        for (int b = 0; b < B; b++)
            for (int64_t v = 0; v < V; v++) {
                double got = row[b * V + v], want = full[(b * T + t) * V + v];
                worst = fmax(worst, fabs(got - want));
                ck_assert_msg(test_close(got, want, 1e-5, 1e-5), "sequence %d position %lld logit %lld: step %.9g, "
                              "forward %.9g", b, (long long)t, (long long)v, got, want);
            }
    }
    ck_assert(worst < 1e-5);
    free(arena);
    free(full);
    free(row);
    free(tok);
    rt_model_free(m);
    jit_free(jp);
    fe_close(&r);
}

START_TEST(step_rnn)
{
    check_step_equals_forward("model m(tok: i32[12]) -> f32[12, 7] { tok -> embed(7, 8) -> rnn(16) -> dense(7) }\n",
                              12, 7);
}
END_TEST

START_TEST(step_lstm)
{
    check_step_equals_forward("model m(tok: i32[12]) -> f32[12, 9] {\n"
                              "    tok -> embed(9, 8) -> lstm(16) -> dropout(0.1) -> lstm(12) -> dense(9)\n}\n",
                              12, 9);
}
END_TEST

/* gru, and a concat of its output with its input along the features */
START_TEST(step_gru)
{
    check_step_equals_forward("model m(tok: i32[12]) -> f32[12, 5] {\n"
                              "    h = tok -> embed(5, 6)\n"
                              "    h -> gru(10) -> concat(h, axis = 1) -> tanh -> dense(5)\n}\n",
                              12, 5);
}
END_TEST

/* a small GPT: embed, learned positions, pre-norm blocks of causal
 * attention and a GELU MLP on residual paths */
START_TEST(step_attention)
{
    check_step_equals_forward("layer block(x: f32[T, D], heads: int) {\n"
                              "    x = x + (x -> layernorm -> attention(heads, causal))\n"
                              "    return x + (x -> layernorm -> dense(2*D) -> gelu -> dense(D))\n}\n"
                              "model m(tok: i32[10]) -> f32[10, 11] {\n"
                              "    h = tok -> embed(11, 16) -> position\n"
                              "    h -> repeat 2 block(heads = 2) -> layernorm -> dense(11)\n}\n",
                              10, 11);
}
END_TEST

/* Models with no meaning one position at a time have no step function,
 * and say why. */
START_TEST(step_refused)
{
    static const struct { const char *net, *why; } cases[] = {
        { "model m(tok: i32[8]) -> f32[8, 4] { tok -> embed(4, 8) -> attention(2) -> dense(4) }\n",
          "attention1 (attention) is not causal: every position reads the later ones" },
        { "model m(tok: i32[8]) -> f32[4] { tok -> embed(4, 8) -> lstm(6, sequences = false) -> dense(4) }\n",
          "its input i32[8] and output f32[4] are not sequences of one length" },
        { "model m(x: f32[784]) -> f32[10] { x -> dense(10) }\n",
          "its input f32[784] and output f32[10] are not sequences of one length" },
        { "model m(tok: i32[8]) -> f32[8, 4] { tok -> embed(4, 8) -> flatten -> dense(32) -> reshape([8, 4]) }\n",
          "flatten1 (flatten) is f32[64], not a sequence of the input's 8 positions" },
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        FeRun r;
        LProgram lp;
        lower_ok(&r, cases[k].net, &lp);
        ck_assert(!lp.has_step);
        ck_assert_str_eq(lp.step_refusal, cases[k].why);
        fe_close(&r);
    }
}
END_TEST

/* The sampler: greedy takes the first maximum; top-k never draws outside
 * the k highest; the same (seed, counter) draws the same token, and the
 * draws follow the distribution. */
START_TEST(sample_logits)
{
    float logits[6] = { 0.5f, 2.0f, -1.0f, 2.0f, 1.0f, 0.0f }, work[6];
    ck_assert_int_eq(rt_sample_logits(6, logits, 0.0f, 0, 1, 0, work), 1);
    int counts[6] = { 0 };
    for (uint64_t i = 0; i < 20000; i++) {
        int32_t t = rt_sample_logits(6, logits, 1.0f, 3, 5, i, work);
        ck_assert(t == 1 || t == 3 || t == 4);
        counts[t]++;
        ck_assert_int_eq(t, rt_sample_logits(6, logits, 1.0f, 3, 5, i, work));
    }
    /* p(1) = p(3) = e^2 / (2 e^2 + e) = 0.4223, p(4) = 0.1554 */
    ck_assert_msg(abs(counts[1] - 8446) < 300 && abs(counts[3] - 8446) < 300 && abs(counts[4] - 3108) < 300,
                  "counts %d %d %d", counts[1], counts[3], counts[4]);
}
END_TEST

/* The generator slides when the context fills: after feeding T + 1
 * tokens, the last logits are those of a fresh run over the newest T/2
 * tokens and the new one. */
START_TEST(generator_slides)
{
    enum { T = 8, V = 5 };
    const char *net = "model m(tok: i32[8]) -> f32[8, 5] {\n"
                      "    tok -> embed(5, 8) -> position -> attention(2, causal) -> dense(5)\n}\n";
    FeRun r;
    LProgram lp;
    lower_ok(&r, net, &lp);
    lp.base_dir = "/tmp";
    JitProgram *jp = jit_compile(&r.c, &lp, NULL, r.diag);
    ck_assert_ptr_nonnull(jp);
    const rt_program *p = jit_program(jp);
    ck_assert_int_eq(p->step_context, T);
    char err[256];
    rt_model *m = rt_model_new(p, 3, 1, err, sizeof err);
    rt_generator *g = rt_generator_new(p, rt_model_params(m), err, sizeof err), *fresh = rt_generator_new(p, rt_model_params(m), err, sizeof err);
    ck_assert_msg(g && fresh, "%s", err);
    int32_t tok[T + 1];
    const float *a = NULL, *b = NULL;
    for (int i = 0; i <= T; i++) {
        tok[i] = (int32_t)((i * 3 + 1) % V);
        a = rt_generator_feed(g, tok[i]);
    }
    ck_assert_int_eq(rt_generator_position(g), T / 2 + 1);
    for (int i = T + 1 - (T / 2 + 1); i <= T; i++)
        b = rt_generator_feed(fresh, tok[i]);
    ck_assert(memcmp(a, b, sizeof(float) * V) == 0);
    rt_generator_reset(g);
    ck_assert_int_eq(rt_generator_position(g), 0);
    rt_generator_free(g);
    rt_generator_free(fresh);
    rt_model_free(m);
    jit_free(jp);
    fe_close(&r);
}
END_TEST

/* ------------------------------------------------ the sample command */

/* A model with attention (a context of 16) and an lstm, vocabulary 100
 * (bytes 0-99), trained 3 steps on a small text through the JIT; then
 * `sample` through the JIT and the built binary. */
static const char sample_net[] =
    "model m(tok: i32[16]) -> f32[16, 100] {\n"
    "    tok -> embed(100, 16) -> position -> attention(2, causal) -> lstm(24) -> dense(100)\n}\n"
    "train m { data text(\"c.txt\", seq = 16) loss cross_entropy optimizer adam(lr = 1e-2) batch 4 steps 3 seed 1 }\n";

typedef struct SampleDir {
    char dir[64], net[128], ck[128], bin[128];
} SampleDir;

static void run(FeProc *p, const char *const *args)
{
    char *argv[24];
    int n = 0;
    for (; args[n]; n++)
        argv[n] = (char *)args[n];
    argv[n] = NULL;
    fe_spawn(p, argv, 120);
}

static void sample_setup(SampleDir *d)
{
    snprintf(d->dir, sizeof d->dir, "/tmp/netc-sample-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(d->dir));
    snprintf(d->net, sizeof d->net, "%s/m.net", d->dir);
    snprintf(d->ck, sizeof d->ck, "%s/m.safetensors", d->dir);
    snprintf(d->bin, sizeof d->bin, "%s/m", d->dir);
    FILE *f = fopen(d->net, "w");
    ck_assert_ptr_nonnull(f);
    fputs(sample_net, f);
    fclose(f);
    char path[160];
    snprintf(path, sizeof path, "%s/c.txt", d->dir);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 40; i++)
        fputs("AND GOD SAID, LET THERE BE LIGHT: AND THERE WAS LIGHT.\n", f);
    fclose(f);
    FeProc p;
    run(&p, (const char *[]){ fe_netc(), "train", d->net, "--save", d->ck, "--threads", "1", NULL });
    ck_assert_msg(fe_exit_code(&p) == 0, "train failed:\n%s", p.err);
    fe_proc_free(&p);
    run(&p, (const char *[]){ fe_netc(), "build", d->net, "-o", d->bin, NULL });
    ck_assert_msg(fe_exit_code(&p) == 0, "build failed:\n%s", p.err);
    fe_proc_free(&p);
}

static void sample_teardown(SampleDir *d)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d->dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* JIT and binary print the same text for a seed, run after run; the
 * prompt comes first; the context (16) fills and slides twice in 40
 * tokens; another seed draws another text. */
START_TEST(sample_jit_equals_binary)
{
    SampleDir d;
    sample_setup(&d);
    FeProc jit, bin, again, other;
    const char *flags[] = { "--load", d.ck, "--prompt", "AND GOD", "--tokens", "40", "--temperature", "0.8",
                            "--top-k", "20", "--seed", "1", NULL };
    const char *args[24] = { fe_netc(), "sample", d.net };
    memcpy(args + 3, flags, sizeof flags);
    run(&jit, args);
    ck_assert_msg(fe_exit_code(&jit) == 0, "%s", jit.err);
    run(&again, args);
    args[0] = d.bin;
    args[1] = "sample";
    memcpy(args + 2, flags, sizeof flags);
    run(&bin, args);
    ck_assert_msg(fe_exit_code(&bin) == 0, "%s", bin.err);
    args[13] = "2";
    run(&other, args);
    ck_assert_int_eq(jit.out_len, 7 + 40 + (jit.out[jit.out_len - 2] != '\n'));
    ck_assert(!strncmp(jit.out, "AND GOD", 7));
    ck_assert_str_eq(jit.out, bin.out);
    ck_assert_str_eq(jit.out, again.out);
    ck_assert_str_ne(jit.out, other.out);
    fe_proc_free(&jit);
    fe_proc_free(&bin);
    fe_proc_free(&again);
    fe_proc_free(&other);
    sample_teardown(&d);
}
END_TEST

/* Prompts that cannot start a text: exact messages, exit status 2. */
START_TEST(sample_bad_prompts)
{
    SampleDir d;
    sample_setup(&d);
    static const struct { const char *prompt, *err; } cases[] = {
        { "", "m: sample needs a prompt of at least one byte to start from: --prompt 'In the beginning'\n" },
        { "AND god", "m: --prompt: byte 103 (0x67) at offset 4 is outside the vocabulary of model 'm', which "
                     "reads bytes 0 to 99; use only those\n" },
        { "AND GOD SAID, LET THERE", "m: --prompt is 23 bytes, longer than the context of model 'm' (16 tokens); "
                                    "give at most its last 16 bytes\n" },
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        FeProc p;
        run(&p, (const char *[]){ d.bin, "sample", "--load", d.ck, "--prompt", cases[k].prompt, NULL });
        ck_assert_int_eq(fe_exit_code(&p), 2);
        ck_assert_str_eq(p.err, cases[k].err);
        ck_assert_int_eq(p.out_len, 0);
        fe_proc_free(&p);
    }
    sample_teardown(&d);
}
END_TEST

/* ------------------------------------------------ token inputs */

static void write_text(const char *dir, const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* predict and eval of a sequence classifier whose input goes through
 * embed, from a CSV of whole numbers; --probs and --top K; a value that is
 * not a token id is refused naming the input by its name. */
/* netc predict NET --load CK INPUT exits 1 with exactly `want` on stderr. */
static void predict_fails(const char *net, const char *ck, const char *input, const char *want)
{
    FeProc p;
    run(&p, (const char *[]){ fe_netc(), "predict", net, "--load", ck, input, NULL });
    ck_assert_int_eq(fe_exit_code(&p), 1);
    ck_assert_str_eq(p.err, want);
    fe_proc_free(&p);
}

START_TEST(token_csv_predict_eval)
{
    char dir[] = "/tmp/netc-tokens-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    write_text(dir, "m.net", "model m(tok: i32[4]) -> f32[3] { tok -> embed(10, 4) -> flatten -> dense(3) }\n"
                             "train m { data csv(\"d.csv\", label_column = 0) loss cross_entropy batch 2 steps 4 }\n");
    write_text(dir, "d.csv", "0,1,2,3,4\n1,5,6,7,8\n2,9,0,1,2\n0,3,4,5,6\n");
    write_text(dir, "p.csv", "1,2,3,4\n9,9,9,9\n");
    write_text(dir, "bad.csv", "1,2,3.5,4\n");
    write_text(dir, "far.csv", "1,2,3,10\n");
    char net[128], ck[128], in[128], bad[128], far[128], data[128];
    snprintf(net, sizeof net, "%s/m.net", dir);
    snprintf(ck, sizeof ck, "%s/m.safetensors", dir);
    snprintf(in, sizeof in, "%s/p.csv", dir);
    snprintf(bad, sizeof bad, "%s/bad.csv", dir);
    snprintf(far, sizeof far, "%s/far.csv", dir);
    snprintf(data, sizeof data, "%s/d.csv", dir);
    FeProc p;
    run(&p, (const char *[]){ fe_netc(), "train", net, "--save", ck, "--threads", "1", NULL });
    ck_assert_msg(fe_exit_code(&p) == 0, "%s", p.err);
    fe_proc_free(&p);
    /* classes: two lines of one id each */
    run(&p, (const char *[]){ fe_netc(), "predict", net, "--load", ck, in, NULL });
    ck_assert_msg(fe_exit_code(&p) == 0, "%s", p.err);
    int a, b;
    ck_assert_int_eq(sscanf(p.out, "%d\n%d\n", &a, &b), 2);
    ck_assert(a >= 0 && a < 3 && b >= 0 && b < 3);
    fe_proc_free(&p);
    /* --probs: three probabilities per line that sum to 1 */
    run(&p, (const char *[]){ fe_netc(), "predict", net, "--load", ck, "--probs", in, NULL });
    ck_assert_msg(fe_exit_code(&p) == 0, "%s", p.err);
    double q[3];
    ck_assert_int_eq(sscanf(p.out, "%lf,%lf,%lf\n", &q[0], &q[1], &q[2]), 3);
    ck_assert(fabs(q[0] + q[1] + q[2] - 1) < 1e-5);
    int best = q[1] > q[0] ? (q[2] > q[1] ? 2 : 1) : (q[2] > q[0] ? 2 : 0);
    ck_assert_int_eq(best, a);
    fe_proc_free(&p);
    /* --top 2: class:probability, likeliest first, the same numbers */
    run(&p, (const char *[]){ fe_netc(), "predict", net, "--load", ck, "--top", "2", in, NULL });
    ck_assert_msg(fe_exit_code(&p) == 0, "%s", p.err);
    int c1, c2;
    double p1, p2;
    ck_assert_int_eq(sscanf(p.out, "%d:%lf %d:%lf\n", &c1, &p1, &c2, &p2), 4);
    ck_assert_int_eq(c1, a);
    ck_assert(p1 >= p2 && fabs(p1 - q[c1]) < 1e-5 && fabs(p2 - q[c2]) < 1e-5);
    fe_proc_free(&p);
    /* eval reads the same kind of file */
    run(&p, (const char *[]){ fe_netc(), "eval", net, "--load", ck, "--test", data, NULL });
    ck_assert_msg(fe_exit_code(&p) == 0, "%s", p.err);
    ck_assert_msg(strstr(p.out, "test loss ") && strstr(p.out, "(4 samples)"), "%s", p.out);
    fe_proc_free(&p);
    /* not whole numbers; an id outside the embedding */
    char want[512];
    snprintf(want, sizeof want, "netc predict m.net: %s: value 3.5 of sample 0 is not a token id: model 'm' takes "
             "tok: i32 (whole numbers, ids of its embedding)\n", bad);
    predict_fails(net, ck, bad, want);
    run(&p, (const char *[]){ fe_netc(), "predict", net, "--load", ck, far, NULL });
    ck_assert_int_eq(fe_exit_code(&p), 1);
    ck_assert_msg(strstr(p.err, "token id 10 of sample 0 is outside [0, 10)"), "%s", p.err);
    fe_proc_free(&p);
    /* a whole number beyond any id: said so, and printed whole */
    write_text(dir, "far.csv", "1,2,3,2147483648\n");
    snprintf(want, sizeof want, "netc predict m.net: %s: token id 2147483648 of sample 0 is outside [0, 10): model "
             "'m' embeds 10 token ids; make the embed's vocab larger or map the data's ids into it\n", far);
    predict_fails(net, ck, far, want);
    test_remove_tree(dir);
}
END_TEST

/* Every float of a predict --probs output, in order. */
static int64_t floats_of(const char *s, float *out, int64_t max)
{
    int64_t n = 0;
    while (*s && n < max) {
        char *end;
        float v = strtof(s, &end);
        if (end == s) {
            s++;
            continue;
        }
        out[n++] = v;
        s = end;
    }
    return n;
}

static void predict_text(const SampleDir *d, const char *name, const char *text, const char *flag, FeProc *p)
{
    char path[160];
    write_text(d->dir, name, text);
    snprintf(path, sizeof path, "%s/%s", d->dir, name);
    run(p, (const char *[]){ d->bin, "predict", "--load", d->ck, flag ? flag : path, flag ? path : NULL, NULL });
    ck_assert_msg(fe_exit_code(p) == 0, "%s", p->err);
}

static void assert_rows_equal(const float *a, const float *b, int64_t n, const char *what)
{
    for (int64_t i = 0; i < n; i++)
        ck_assert_msg(fabs(a[i] - b[i]) < 1e-5, "%s: value %lld: %.9g against %.9g", what, (long long)i,
                      (double)a[i], (double)b[i]);
}

/* A byte model predicts plain text, a prediction for every byte: windows
 * of its T bytes, and for bytes left after the last full window, the rows
 * of the window of the text's last T bytes that are new; a text shorter
 * than T, padded after its end, gives the rows a full window starting with
 * it gives (the model is causal). A model that is not causal refuses a
 * short text. --probs on a model that is not a classifier is refused. */
START_TEST(token_text_predict)
{
    enum { T = 16, V = 100 };
    static const char text[] = "AND GOD SAID, LET THERE BE LIGHT: AND\n"; /* 38 bytes: 16 + 16 + 6 */
    SampleDir d;
    sample_setup(&d);
    FeProc p;
    predict_text(&d, "q.txt", text, NULL, &p);
    int lines = 0, ids = 0, last = 0;
    for (char *c = p.out; *c; c++) {
        lines += *c == '\n';
        bool id = (*c >= '0' && *c <= '9') && (c == p.out || c[-1] == ' ' || c[-1] == '\n');
        ids += id;
        last = lines == 2 ? last + id : last;
    }
    ck_assert_int_eq(lines, 3);
    ck_assert_int_eq(ids, 38);
    ck_assert_int_eq(last, 6);
    fe_proc_free(&p);
    float *all = alloc_floats(3 * T * V), *tail = alloc_floats(T * V), *shrt = alloc_floats(T * V),
          *head = alloc_floats(T * V);
    /* the 6 bytes past the full windows: the last 6 rows of the window of the last 16 bytes */
    predict_text(&d, "q.txt", text, "--probs", &p);
    ck_assert_int_eq(floats_of(p.out, all, 3 * T * V), 38 * V);
    fe_proc_free(&p);
    predict_text(&d, "tail.txt", text + 38 - T, "--probs", &p);
    ck_assert_int_eq(floats_of(p.out, tail, T * V), T * V);
    fe_proc_free(&p);
    assert_rows_equal(all + 32 * V, tail + 10 * V, 6 * V, "the last 6 bytes");
    /* 5 bytes, shorter than the window: the first 5 rows of a window that starts with them */
    char five[6];
    memcpy(five, text, 5);
    five[5] = '\0';
    predict_text(&d, "short.txt", five, "--probs", &p);
    ck_assert_int_eq(floats_of(p.out, shrt, T * V), 5 * V);
    ck_assert_int_eq(p.out_len > 0 ? p.out[p.out_len - 1] : 0, '\n');
    fe_proc_free(&p);
    char sixteen[T + 1];
    memcpy(sixteen, text, T);
    sixteen[T] = '\0';
    predict_text(&d, "head.txt", sixteen, "--probs", &p);
    ck_assert_int_eq(floats_of(p.out, head, T * V), T * V);
    fe_proc_free(&p);
    assert_rows_equal(shrt, head, 5 * V, "5 bytes");
    assert_rows_equal(all, head, T * V, "the first window");
    free(all);
    free(tail);
    free(shrt);
    free(head);
    /* a model whose attention is not causal cannot read a padded text */
    write_text(d.dir, "u.net", "model u(tok: i32[16]) -> f32[16, 100] { tok -> embed(100, 16) -> attention(2) -> "
                               "dense(100) }\ntrain u { data text(\"c.txt\", seq = 16) loss cross_entropy batch 4 "
                               "steps 1 }\n");
    char unet[160], uck[160], shortp[160], want[1024];
    snprintf(unet, sizeof unet, "%s/u.net", d.dir);
    snprintf(uck, sizeof uck, "%s/u.safetensors", d.dir);
    snprintf(shortp, sizeof shortp, "%s/short.txt", d.dir);
    run(&p, (const char *[]){ fe_netc(), "train", unet, "--save", uck, "--threads", "1", NULL });
    ck_assert_msg(fe_exit_code(&p) == 0, "%s", p.err);
    fe_proc_free(&p);
    run(&p, (const char *[]){ fe_netc(), "predict", unet, "--load", uck, shortp, NULL });
    ck_assert_int_eq(fe_exit_code(&p), 1);
    snprintf(want, sizeof want, "netc predict u.net: %s: holds 5 bytes, fewer than the window of 16 that model 'u' "
             "reads, and the text cannot be padded (the model has no step function, so it is not known to be "
             "causal: attention1 (attention) is not causal: every position reads the later ones); give at least "
             "16 bytes\n", shortp);
    ck_assert_str_eq(p.err, want);
    ck_assert_int_eq(p.out_len, 0);
    fe_proc_free(&p);
    /* a byte outside the vocabulary (0-99) */
    write_text(d.dir, "bad.txt", "AND god");
    snprintf(shortp, sizeof shortp, "%s/bad.txt", d.dir);
    run(&p, (const char *[]){ d.bin, "predict", "--load", d.ck, shortp, NULL });
    ck_assert_int_eq(fe_exit_code(&p), 1);
    snprintf(want, sizeof want, "m: %s: byte 103 (0x67) at offset 4 is outside the model's vocabulary, bytes 0 to "
             "99\n", shortp);
    ck_assert_str_eq(p.err, want);
    fe_proc_free(&p);
    write_text(d.dir, "r.net", "model r(x: f32[3]) -> f32[1] { x -> dense(1) }\n"
                               "train r { data csv(\"r.csv\", label_column = 0) loss mse }\n");
    char rnet[160], rck[160], rin[160];
    snprintf(rnet, sizeof rnet, "%s/r.net", d.dir);
    snprintf(rck, sizeof rck, "%s/r.safetensors", d.dir);
    snprintf(rin, sizeof rin, "%s/r.csv", d.dir);
    run(&p, (const char *[]){ fe_netc(), "predict", rnet, "--load", rck, "--probs", rin, NULL });
    ck_assert_int_eq(fe_exit_code(&p), 2);
    ck_assert_str_eq(p.err, "netc predict r.net: --probs is for classifiers (cross_entropy); model 'r' trains with "
                            "mse, and predict prints its outputs as they are (values)\n");
    fe_proc_free(&p);
    sample_teardown(&d);
}
END_TEST

/* Token ids predict prints, one a byte for a byte model's text. */
static int count_ids(const char *out)
{
    int ids = 0;
    for (const char *c = out; *c; c++)
        ids += (*c >= '0' && *c <= '9') && (c == out || c[-1] == ' ' || c[-1] == '\n');
    return ids;
}

/* Text or CSV: blank lines are no rows of numbers, so a text ending in
 * "\n " or holding blanks alone is text; a file a byte model reads as CSV
 * and cannot parse says why it was not read as text; a vocabulary above
 * 256 reads text as training's text() does. */
START_TEST(text_or_csv)
{
    SampleDir d;
    sample_setup(&d);
    FeProc p;
    predict_text(&d, "b.txt", "HELLO WORLD\n ", NULL, &p);
    ck_assert_int_eq(count_ids(p.out), 13);
    fe_proc_free(&p);
    predict_text(&d, "blank.txt", "        ", NULL, &p);
    ck_assert_int_eq(count_ids(p.out), 8);
    fe_proc_free(&p);
    char path[160], want[1024];
    write_text(d.dir, "psalm.txt", "PSALM\n23\nTHE LORD\n");
    snprintf(path, sizeof path, "%s/psalm.txt", d.dir);
    run(&p, (const char *[]){ d.bin, "predict", "--load", d.ck, path, NULL });
    ck_assert_int_eq(fe_exit_code(&p), 1);
    snprintf(want, sizeof want, "m: %s: 3: column 1: 'THE LORD' is not a number\n"
             "m: %s was read as CSV token ids because one of its first two lines that are not blank is a row "
             "of numbers; model 'm' reads a file as text when neither is\n", path, path);
    ck_assert_str_eq(p.err, want);
    fe_proc_free(&p);
    write_text(d.dir, "v.net", "model v(tok: i32[16]) -> f32[16, 300] { tok -> embed(300, 8) -> gru(8) -> "
                               "dense(300) }\ntrain v { data text(\"c.txt\", seq = 16) loss cross_entropy batch 4 "
                               "steps 1 }\n");
    char vnet[160], vck[160];
    snprintf(vnet, sizeof vnet, "%s/v.net", d.dir);
    snprintf(vck, sizeof vck, "%s/v.safetensors", d.dir);
    run(&p, (const char *[]){ fe_netc(), "train", vnet, "--save", vck, "--threads", "1", NULL });
    ck_assert_msg(fe_exit_code(&p) == 0, "%s", p.err);
    fe_proc_free(&p);
    write_text(d.dir, "in.txt", "IN THE BEGINNING");
    snprintf(path, sizeof path, "%s/in.txt", d.dir);
    run(&p, (const char *[]){ fe_netc(), "predict", vnet, "--load", vck, path, NULL });
    ck_assert_msg(fe_exit_code(&p) == 0, "%s", p.err);
    ck_assert_int_eq(count_ids(p.out), 16);
    fe_proc_free(&p);
    sample_teardown(&d);
}
END_TEST

/* eval of a text model: no table of its 100 classes unless --per-class,
 * which shows the classes that occur or are predicted and counts the rest. */
START_TEST(text_eval_per_class)
{
    SampleDir d;
    sample_setup(&d);
    char data[160];
    snprintf(data, sizeof data, "%s/c.txt", d.dir);
    FeProc p;
    run(&p, (const char *[]){ d.bin, "eval", "--load", d.ck, "--test", data, NULL });
    ck_assert_msg(fe_exit_code(&p) == 0, "%s", p.err);
    const char *note = strstr(p.out, "\n(per-class figures of the 100 classes: eval --per-class, or --json)\n");
    ck_assert_msg(note && !strstr(p.out, "precision"), "%s", p.out);
    fe_proc_free(&p);
    run(&p, (const char *[]){ d.bin, "eval", "--load", d.ck, "--test", data, "--per-class", NULL });
    ck_assert_msg(fe_exit_code(&p) == 0, "%s", p.err);
    /* c.txt holds 19 distinct bytes ("AND GOD SAID, LET THERE BE LIGHT: AND THERE WAS LIGHT.\n") */
    const char *table = strstr(p.out, "class  precision   recall   support\n");
    ck_assert_msg(table, "%s", p.out);
    int rows = 0, left = -1;
    for (const char *c = strchr(table, '\n') + 1; *c; c = strchr(c, '\n') + 1) {
        if (sscanf(c, "(%d classes neither in the test set nor predicted, not shown)", &left) == 1)
            break;
        rows++;
    }
    ck_assert_int_ge(rows, 19);
    ck_assert_int_eq(rows + left, 100);
    fe_proc_free(&p);
    sample_teardown(&d);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("generate");
    TCase *tc = test_case("step");
    tcase_add_test(tc, step_rnn);
    tcase_add_test(tc, step_lstm);
    tcase_add_test(tc, step_gru);
    tcase_add_test(tc, step_attention);
    tcase_add_test(tc, step_refused);
    tcase_add_test(tc, sample_logits);
    tcase_add_test(tc, generator_slides);
    suite_add_tcase(s, tc);
    tc = test_case("sample command");
    tcase_add_test(tc, sample_jit_equals_binary);
    tcase_add_test(tc, sample_bad_prompts);
    suite_add_tcase(s, tc);
    tc = test_case("token inputs");
    tcase_add_test(tc, token_csv_predict_eval);
    tcase_add_test(tc, token_text_predict);
    tcase_add_test(tc, text_or_csv);
    tcase_add_test(tc, text_eval_per_class);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(suite)
