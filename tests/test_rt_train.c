/* test_rt_train.c — rt_main, the command line of model binaries, driven
 * with a hand-written program (softmax regression, no compiler involved) on
 * a small synthetic IDX data set: accuracy, determinism, resume
 * equivalence, the exact refusal messages and exit codes, predict.
 *
 * rt_main runs in a forked child with stdout and stderr sent to files, so
 * exit paths and the thread pool never touch the test process. */
#include "netrt.h"
#include "testutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ------------------------------------------------------- the program */

enum { SIDE = 8, FEATURES = SIDE * SIDE, CLASSES = 4, NTRAIN = 512, NTEST = 256, BATCH = 32 };

/* x (B,F) -> logits (B,C) = x W^T + b; W (C,F), b (C). */
static void logits_of(const float *params, const float *x, float *logits, int64_t batch)
{
    const float *w = params, *b = params + CLASSES * FEATURES;
    rt_epilogue ep = { .bias = b, .act = RT_ACT_NONE };
    rt_sgemm_ex(false, true, (int)batch, CLASSES, FEATURES, 1.0f, x, FEATURES, w, FEATURES, 0.0f,
                logits, CLASSES, &ep);
}

/* A test sets this to make the child stop dead after that many steps, as
 * a killed run would: whatever was saved by then is all that is left. */
static int64_t stop_after_steps = -1;

/* arena per sample: logits (C), probs (C). */
static double softmax_train_step(float *params, float *grads, const void *xv, const void *yv,
                                 int64_t batch, float *arena, uint64_t seed)
{
    (void)seed; /* no dropout */
    if (stop_after_steps >= 0 && stop_after_steps-- == 0)
        _exit(3);
    const float *x = xv;
    const int32_t *y = yv;
    float *logits = arena, *probs = arena + batch * CLASSES;
    logits_of(params, x, logits, batch);
    double loss = rt_softmax_xent_forward(batch, CLASSES, logits, y, probs);
    /* dlogits = (probs - onehot) / B, the gradient of the mean loss */
    rt_softmax_xent_backward(batch, CLASSES, probs, y, 1.0f / (float)batch, probs);
    /* dW (C,F) = dlogits^T (C,B) x (B,F); db (C) = column sums of dlogits */
    rt_sgemm(true, false, CLASSES, FEATURES, (int)batch, 1.0f, probs, CLASSES, x, FEATURES, 0.0f,
             grads, FEATURES);
    rt_sum_rows(batch, CLASSES, probs, grads + CLASSES * FEATURES, false);
    return loss;
}

static void softmax_forward(const float *params, const void *x, float *out, int64_t batch,
                            float *arena)
{
    (void)arena;
    logits_of(params, x, out, batch);
}

static const rt_param_desc softmax_params[] = {
    { .name = "fc.weight", .rank = 2, .dims = { CLASSES, FEATURES }, .offset = 0,
      .count = CLASSES * FEATURES, .init = RT_INIT_GLOROT_UNIFORM, .fan_in = FEATURES,
      .fan_out = CLASSES, .trainable = true },
    { .name = "fc.bias", .rank = 1, .dims = { CLASSES }, .offset = CLASSES * FEATURES,
      .count = CLASSES, .init = RT_INIT_ZEROS, .fan_in = FEATURES, .fan_out = CLASSES,
      .trainable = true },
};

/* A second program: one logit, binary cross-entropy (is the right half
 * of the image the bright one?). x (B,F) -> z (B,1); w (1,F), b (1). */
static double bce_train_step(float *params, float *grads, const void *xv, const void *yv,
                             int64_t batch, float *arena, uint64_t seed)
{
    (void)seed;
    const float *x = xv, *y = yv;
    float *z = arena, *dz = arena + batch;
    rt_epilogue ep = { .bias = params + FEATURES, .act = RT_ACT_NONE };
    rt_sgemm_ex(false, true, (int)batch, 1, FEATURES, 1.0f, x, FEATURES, params, FEATURES, 0.0f,
                z, 1, &ep);
    double loss = rt_bce_forward(batch, z, y);
    rt_bce_backward(batch, z, y, 1.0f / (float)batch, dz);
    rt_sgemm(true, false, 1, FEATURES, (int)batch, 1.0f, dz, 1, x, FEATURES, 0.0f, grads,
             FEATURES);
    rt_sum_rows(batch, 1, dz, grads + FEATURES, false);
    return loss;
}

static void bce_forward(const float *params, const void *x, float *out, int64_t batch,
                        float *arena)
{
    (void)arena;
    rt_epilogue ep = { .bias = params + FEATURES, .act = RT_ACT_NONE };
    rt_sgemm_ex(false, true, (int)batch, 1, FEATURES, 1.0f, x, FEATURES, params, FEATURES, 0.0f,
                out, 1, &ep);
}

static const rt_param_desc bce_params[] = {
    { .name = "out.weight", .rank = 2, .dims = { 1, FEATURES }, .offset = 0, .count = FEATURES,
      .init = RT_INIT_GLOROT_UNIFORM, .fan_in = FEATURES, .fan_out = 1, .trainable = true },
    { .name = "out.bias", .rank = 1, .dims = { 1 }, .offset = FEATURES, .count = 1,
      .init = RT_INIT_ZEROS, .fan_in = FEATURES, .fan_out = 1, .trainable = true },
};

static char tmpdir[256];
static rt_program program;

static void make_program(void)
{
    memset(&program, 0, sizeof program);
    program.name = "softmax";
    program.source = "softmax.net";
    program.param_floats = CLASSES * FEATURES + CLASSES;
    program.trainable_floats = program.param_floats;
    program.nparams = 2;
    program.params = softmax_params;
    program.x_dtype = RT_F32;
    program.x_rank = 1;
    program.x_dims[0] = FEATURES;
    program.x_size = FEATURES;
    program.y_dtype = RT_I32;
    program.y_rank = 0;
    program.y_size = 1;
    program.out_rank = 1;
    program.out_dims[0] = CLASSES;
    program.out_size = CLASSES;
    program.loss = RT_LOSS_CROSS_ENTROPY;
    program.train_arena_floats = 2 * CLASSES;
    program.eval_arena_floats = 0;
    program.train_step = softmax_train_step;
    program.forward = softmax_forward;

    rt_train_config *c = &program.config;
    c->base_dir = tmpdir;
    c->data = (rt_source){ .kind = RT_SRC_IDX, .path = "train-images-idx3-ubyte",
                           .labels_path = "train-labels-idx1-ubyte", .scale = 1.0f / 255,
                           .label_column = -1 };
    c->test = (rt_source){ .kind = RT_SRC_IDX, .path = "t10k-images-idx3-ubyte.gz",
                           .labels_path = "t10k-labels-idx1-ubyte.gz", .scale = 1.0f / 255,
                           .label_column = -1 };
    c->opt = (rt_optimizer){ .kind = RT_OPT_ADAMW, .lr = 0.01f, .beta1 = 0.9f, .beta2 = 0.999f,
                             .eps = 1e-8f, .weight_decay = 1e-4f };
    c->sched = (rt_schedule){ .kind = RT_SCHED_COSINE, .warmup = 4 };
    c->batch = BATCH;
    c->epochs = 3;
    c->seed = 1;
}

/* ------------------------------------------------------------ files */


static const char *tmp_path(const char *name)
{
    return test_path_in(tmpdir, name);
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap)
            buf = realloc(buf, (cap *= 2) + 1);
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

static void put_u32_be(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* An IDX file of unsigned bytes: count samples of dims. */
static void write_idx(const char *path, int ndims_sample, const uint32_t *dims, uint32_t count,
                      const unsigned char *values, size_t nvalues)
{
    size_t head = 4 + 4 * (size_t)(ndims_sample + 1);
    unsigned char *buf = malloc(head + nvalues);
    buf[0] = buf[1] = 0;
    buf[2] = 0x08;
    buf[3] = (unsigned char)(ndims_sample + 1);
    put_u32_be(buf + 4, count);
    for (int d = 0; d < ndims_sample; d++)
        put_u32_be(buf + 8 + 4 * d, dims[d]);
    memcpy(buf + head, values, nvalues);
    write_file(path, buf, head + nvalues);
    free(buf);
}

/* Class c lights quadrant c of an side x side image over dim noise, so the
 * classes are linearly separable. labels_max lets a test plant a bad label. */
static void write_labeled(const char *images, const char *labels, int n, int side,
                          uint32_t seed, int bad_label, int label_mod)
{
    unsigned char *x = malloc((size_t)n * side * side), *y = malloc((size_t)n);
    uint32_t s = seed * 2654435761u + 7;
    for (int i = 0; i < n; i++) {
        int c = i % CLASSES;
        y[i] = (unsigned char)(c % label_mod);
        for (int r = 0; r < side; r++)
            for (int col = 0; col < side; col++) {
                s ^= s << 13; s ^= s >> 17; s ^= s << 5;
                int quadrant = (r >= side / 2) * 2 + (col >= side / 2);
                int v = (int)(s % 90) + (quadrant == c ? 140 : 0);
                x[(size_t)i * side * side + (size_t)r * side + (size_t)col] = (unsigned char)v;
            }
    }
    if (bad_label >= 0)
        y[n / 2] = (unsigned char)bad_label;
    uint32_t dims[2] = { (uint32_t)side, (uint32_t)side };
    write_idx(images, 2, dims, (uint32_t)n, x, (size_t)n * side * side);
    write_idx(labels, 0, NULL, (uint32_t)n, y, (size_t)n);
    free(x);
    free(y);
}

static void write_synthetic(const char *images, const char *labels, int n, int side,
                            uint32_t seed, int bad_label)
{
    write_labeled(images, labels, n, side, seed, bad_label, CLASSES);
}

/* The test set gzip'd, as real data sets come. */
static void gzip_file(const char *path)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "gzip -f '%s'", path);
    ck_assert_int_eq(system(cmd), 0);
}

static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/netc-test-train-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    make_program();
    /* Plain progress lines would depend on how long a run takes; the test
     * that wants them turns them on. */
    setenv("NETRT_PROGRESS", "off", 1);
    write_synthetic(tmp_path("train-images-idx3-ubyte"), tmp_path("train-labels-idx1-ubyte"),
                    NTRAIN, SIDE, 1, -1);
    write_synthetic(tmp_path("t10k-images-idx3-ubyte"), tmp_path("t10k-labels-idx1-ubyte"),
                    NTEST, SIDE, 2, -1);
    gzip_file(tmp_path("t10k-images-idx3-ubyte"));
    gzip_file(tmp_path("t10k-labels-idx1-ubyte"));
}

static void teardown(void)
{
    test_remove_tree(tmpdir);
}

/* ------------------------------------------------------- running it */

static char *out_text, *err_text;

/* Runs rt_main(&program, "softmax", args...) in a child; returns its exit
 * code and leaves its stdout and stderr in out_text and err_text. */
static int run(const char *first, ...)
{
    char *argv[64];
    int argc = 0;
    argv[argc++] = (char *)"softmax";
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a && argc < 63; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;

    const char *out_path = tmp_path("stdout.txt"), *err_path = tmp_path("stderr.txt");
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (out < 0 || err < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
            _exit(99);
        int rc = rt_main(&program, argc, argv);
        exit(rc); /* flushes what rt_main printed */
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    free(out_text);
    free(err_text);
    out_text = read_file(out_path, NULL);
    err_text = read_file(err_path, NULL);
    ck_assert_msg(WIFEXITED(status), "rt_main died from signal %d; stderr:\n%s",
                  WIFSIGNALED(status) ? WTERMSIG(status) : 0, err_text);
    return WEXITSTATUS(status);
}

/* The accuracy on the last "test accuracy X%" of stdout. */
static double last_accuracy(void)
{
    const char *p = out_text, *last = NULL;
    while ((p = strstr(p, "test accuracy ")) != NULL)
        last = p++;
    ck_assert_msg(last != NULL, "no accuracy in:\n%s", out_text);
    return strtod(last + strlen("test accuracy "), NULL);
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

#define ASSERT_RUN(expected_rc, ...)                                                       \
    do {                                                                                   \
        int rc_ = run(__VA_ARGS__, (const char *)NULL);                                    \
        ck_assert_msg(rc_ == (expected_rc), "exit %d, expected %d\nstdout:\n%s\nstderr:\n%s", \
                      rc_, (expected_rc), out_text, err_text);                             \
    } while (0)

#define ASSERT_ERR(text)                                                                   \
    ck_assert_msg(strcmp(err_text, text) == 0, "stderr:\n%s\nexpected:\n%s", err_text, text)

/* ------------------------------------------------------------ tests */

START_TEST(train_reaches_accuracy)
{
    ASSERT_RUN(0, "train", "--threads", "2");
    ck_assert_int_eq(count_lines(out_text), 3);
    ck_assert_msg(strncmp(out_text, "epoch 1/3  loss ", 16) == 0, "%s", out_text);
    ck_assert_ptr_nonnull(strstr(out_text, " samples/s  test loss "));
    ck_assert_msg(last_accuracy() > 90.0, "accuracy %.2f%%:\n%s", last_accuracy(), out_text);
    ck_assert_str_eq(err_text, "");
}
END_TEST

/* Columns 4 and 5 (train_loss, test_loss) of every row. */
static void loss_columns(const char *csv, char *out, size_t len)
{
    size_t n = 0;
    const char *line = strchr(csv, '\n');
    while (line && line[1]) {
        line++;
        const char *field = line;
        for (int i = 0; i < 3; i++)
            field = strchr(field, ',') + 1;
        const char *end = strchr(field, ',');
        end = strchr(end + 1, ',');
        n += (size_t)snprintf(out + n, len - n, "%.*s\n", (int)(end - field), field);
        line = strchr(line, '\n');
    }
}

START_TEST(same_seed_same_loss_trace)
{
    ASSERT_RUN(0, "train", "--seed", "5", "--threads", "2", "--log", tmp_path("a.csv"));
    ASSERT_RUN(0, "train", "--seed", "5", "--threads", "2", "--log", tmp_path("b.csv"));
    ASSERT_RUN(0, "train", "--seed", "6", "--threads", "2", "--log", tmp_path("c.csv"));
    char *a = read_file(tmp_path("a.csv"), NULL), *b = read_file(tmp_path("b.csv"), NULL);
    char *c = read_file(tmp_path("c.csv"), NULL);
    static const char header[] =
        "epoch,step,lr,train_loss,test_loss,test_accuracy,samples_per_s,seconds,val_loss,val_accuracy,best\n1,16,";
    ck_assert_msg(strncmp(a, header, strlen(header)) == 0, "%s", a);
    ck_assert_int_eq(count_lines(a), 4);
    char la[1024], lb[1024], lc[1024];
    loss_columns(a, la, sizeof la);
    loss_columns(b, lb, sizeof lb);
    loss_columns(c, lc, sizeof lc);
    ck_assert_str_eq(la, lb);
    ck_assert_str_ne(la, lc); /* the seed matters */
    free(a);
    free(b);
    free(c);
}
END_TEST

static void load_params(const char *path, float *params)
{
    rt_named_tensor t[2] = {
        { .name = "fc.weight", .dtype = RT_F32, .rank = 2, .dims = { CLASSES, FEATURES },
          .data = params },
        { .name = "fc.bias", .dtype = RT_F32, .rank = 1, .dims = { CLASSES },
          .data = params + CLASSES * FEATURES },
    };
    char err[1024];
    ck_assert_msg(rt_checkpoint_load(path, t, 2, true, NULL, 0, NULL, err, sizeof err) == 0, "%s",
                  err);
}

/* The parameters bit for bit, then the whole files (optimizer state and
 * metadata too). */
static void assert_same_checkpoints(const char *a_path, const char *b_path)
{
    float a_params[CLASSES * FEATURES + CLASSES], b_params[CLASSES * FEATURES + CLASSES];
    load_params(a_path, a_params);
    load_params(b_path, b_params);
    ck_assert_int_eq(memcmp(a_params, b_params, sizeof a_params), 0);
    size_t la, lb;
    char *a = read_file(a_path, &la), *b = read_file(b_path, &lb);
    ck_assert_uint_eq(la, lb);
    ck_assert_int_eq(memcmp(a, b, la), 0);
    free(a);
    free(b);
}

/* A run killed in its second epoch resumes from the checkpoint of its
 * first and ends where the uninterrupted run ends, under a cosine schedule
 * that spans the whole run. */
START_TEST(resume_after_a_kill_is_exact)
{
    ASSERT_RUN(0, "train", "--epochs", "2", "--threads", "2", "--save", tmp_path("straight.st"),
               "--log", tmp_path("straight.csv"));
    ck_assert_ptr_nonnull(strstr(out_text, "saved "));
    stop_after_steps = 16 + 5;
    int rc = run("train", "--epochs", "2", "--threads", "2", "--save", tmp_path("killed.st"),
                 "--log", tmp_path("killed.csv"), (const char *)NULL);
    stop_after_steps = -1;
    ck_assert_int_eq(rc, 3);
    ASSERT_RUN(0, "train", "--epochs", "2", "--threads", "2", "--resume", tmp_path("killed.st"),
               "--save", tmp_path("killed.st"), "--log", tmp_path("killed.csv"));
    ck_assert_msg(strncmp(out_text, "epoch 2/2  loss ", 16) == 0, "%s", out_text);
    assert_same_checkpoints(tmp_path("straight.st"), tmp_path("killed.st"));

    /* the log of the resumed run continues the killed one's */
    char straight[1024], resumed[1024];
    char *a = read_file(tmp_path("straight.csv"), NULL), *b = read_file(tmp_path("killed.csv"), NULL);
    ck_assert_int_eq(count_lines(b), 3);
    loss_columns(a, straight, sizeof straight);
    loss_columns(b, resumed, sizeof resumed);
    ck_assert_str_eq(straight, resumed);
    free(a);
    free(b);

    size_t len;
    char *bytes = read_file(tmp_path("straight.st"), &len);
    ck_assert_ptr_nonnull(strstr(bytes + 8, "\"optimizer.fc.weight.m\""));
    ck_assert_ptr_nonnull(strstr(bytes + 8, "\"optimizer.fc.bias.v\""));
    ck_assert(strstr(bytes + 8, "\"netc.format\":\"1\"") || strstr(bytes + 8, "\"netc.format\": \"1\""));
    free(bytes);

    /* nothing left to do */
    ASSERT_RUN(0, "train", "--epochs", "2", "--resume", tmp_path("straight.st"));
    ck_assert_ptr_nonnull(strstr(out_text, "already finished epoch 2 of 2"));
}
END_TEST

/* 2 epochs == 1 epoch, save, resume for 1 more, when the schedule does not
 * depend on the run's length (a cosine spans the run each command asks for). */
START_TEST(resume_is_exact)
{
    program.config.sched = (rt_schedule){ .kind = RT_SCHED_CONSTANT, .warmup = 4 };
    ASSERT_RUN(0, "train", "--epochs", "2", "--threads", "2", "--save", tmp_path("straight.st"));
    ASSERT_RUN(0, "train", "--epochs", "1", "--threads", "2", "--save", tmp_path("half.st"));
    ASSERT_RUN(0, "train", "--epochs", "2", "--threads", "2", "--resume", tmp_path("half.st"),
               "--save", tmp_path("resumed.st"));
    assert_same_checkpoints(tmp_path("straight.st"), tmp_path("resumed.st"));
    /* SGD with momentum: its one state block is saved and restored too */
    program.config.opt = (rt_optimizer){ .kind = RT_OPT_SGD, .lr = 0.05f, .momentum = 0.9f };
    ASSERT_RUN(0, "train", "--epochs", "2", "--threads", "2", "--save", tmp_path("straight.st"));
    ASSERT_RUN(0, "train", "--epochs", "1", "--threads", "2", "--save", tmp_path("half.st"));
    ASSERT_RUN(0, "train", "--epochs", "2", "--threads", "2", "--resume", tmp_path("half.st"),
               "--save", tmp_path("resumed.st"));
    assert_same_checkpoints(tmp_path("straight.st"), tmp_path("resumed.st"));
    size_t len;
    char *bytes = read_file(tmp_path("resumed.st"), &len);
    ck_assert_ptr_nonnull(strstr(bytes + 8, "\"optimizer.fc.weight.momentum\""));
    free(bytes);
    /* a checkpoint of another optimizer gives its weights; the state
     * starts from zero, with a note */
    program.config.opt = (rt_optimizer){ .kind = RT_OPT_ADAMW, .lr = 0.01f, .beta1 = 0.9f,
                                         .beta2 = 0.999f, .eps = 1e-8f };
    ASSERT_RUN(0, "train", "--epochs", "2", "--resume", tmp_path("half.st"));
    char expected[1024];
    snprintf(expected, sizeof expected,
             "softmax: note: %s holds no adamw state (optimizer: sgd); it starts from zero\n",
             tmp_path("half.st"));
    ASSERT_ERR(expected);
}
END_TEST

START_TEST(eval_matches_training)
{
    ASSERT_RUN(0, "train", "--threads", "2", "--save", tmp_path("m.st"));
    const char *last = strstr(out_text, "epoch 3/3");
    ck_assert_ptr_nonnull(last);
    char expected[128];
    snprintf(expected, sizeof expected, "%.*s", (int)(strchr(last, '\n') - strstr(last, "test loss")),
             strstr(last, "test loss"));
    ASSERT_RUN(0, "eval", "--load", tmp_path("m.st"), "--threads", "2");
    ck_assert_msg(strncmp(out_text, expected, strlen(expected)) == 0, "%s vs %s", out_text,
                  expected);
    ck_assert_ptr_nonnull(strstr(out_text, "  (256 samples)\n"));
    /* a different batch, the last one partial, evaluates the same samples */
    ASSERT_RUN(0, "eval", "--load", tmp_path("m.st"), "--batch", "100");
    ck_assert_ptr_nonnull(strstr(out_text, "(256 samples)"));
}
END_TEST

START_TEST(bad_checkpoints_are_refused)
{
    ASSERT_RUN(0, "train", "--epochs", "1", "--save", tmp_path("good.st"));
    size_t len;
    char *bytes = read_file(tmp_path("good.st"), &len);
    write_file(tmp_path("short.st"), bytes, len - 100);
    free(bytes);
    ASSERT_RUN(1, "eval", "--load", tmp_path("short.st"));
    ck_assert_msg(strstr(err_text, "short.st: truncated: header says ") != NULL, "%s", err_text);
    ASSERT_RUN(1, "train", "--resume", tmp_path("short.st"));
    ck_assert_ptr_nonnull(strstr(err_text, "short.st: truncated"));

    /* the right names with a wrong shape */
    float w[CLASSES * 63] = { 0 }, b[CLASSES] = { 0 };
    rt_named_tensor t[2] = {
        { .name = "fc.weight", .dtype = RT_F32, .rank = 2, .dims = { CLASSES, 63 }, .data = w },
        { .name = "fc.bias", .dtype = RT_F32, .rank = 1, .dims = { CLASSES }, .data = b },
    };
    rt_meta meta[1] = { { "netc.model", "softmax" } };
    char err[1024];
    ck_assert_int_eq(rt_checkpoint_save(tmp_path("shape.st"), t, 2, meta, 1, err, sizeof err), 0);
    ASSERT_RUN(1, "eval", "--load", tmp_path("shape.st"));
    char expected[1024];
    snprintf(expected, sizeof expected,
             "softmax: %s: tensor 'fc.weight' has shape [4, 63], the model expects [4, 64]\n",
             tmp_path("shape.st"));
    ASSERT_ERR(expected);

    /* another model's checkpoint says so */
    meta[0].value = "mlp";
    t[0].name = "dense1.weight";
    ck_assert_int_eq(rt_checkpoint_save(tmp_path("mlp.st"), t, 2, meta, 1, err, sizeof err), 0);
    ASSERT_RUN(1, "predict", "--load", tmp_path("mlp.st"), tmp_path("t10k-images-idx3-ubyte.gz"));
    snprintf(expected, sizeof expected,
             "softmax: %s: missing tensor 'fc.weight' (the checkpoint holds model 'mlp', this is "
             "'softmax')\n", tmp_path("mlp.st"));
    ASSERT_ERR(expected);

    /* without netc.optimizer, resume asks for the weights only, and the
     * shape is still refused */
    ASSERT_RUN(1, "train", "--resume", tmp_path("shape.st"));
    ck_assert_ptr_nonnull(strstr(err_text, "has shape [4, 63]"));

    ASSERT_RUN(1, "eval", "--load", tmp_path("nothing.st"));
    snprintf(expected, sizeof expected, "softmax: %s: No such file or directory\n",
             tmp_path("nothing.st"));
    ASSERT_ERR(expected);
}
END_TEST

START_TEST(bad_data_is_refused)
{
    char expected[2048];
    ASSERT_RUN(1, "train", "--data", "/nonexistent/train-images-idx3-ubyte.gz");
    ASSERT_ERR("softmax: /nonexistent/train-images-idx3-ubyte.gz: no such file (given with "
               "--data)\n");

    /* a name in the train block that is nowhere */
    program.config.data.path = "missing-images-idx3-ubyte.gz";
    ASSERT_RUN(1, "train");
    snprintf(expected, sizeof expected,
             "softmax: missing-images-idx3-ubyte.gz: not found in %s, $NETC_DATA_PATH or "
             "/usr/share/datasets; give its path with --data FILE\n", tmpdir);
    ASSERT_ERR(expected);
    make_program();

    /* 10x10 images for a model of 64 inputs */
    write_synthetic(tmp_path("wide-images-idx3-ubyte"), tmp_path("wide-labels-idx1-ubyte"), 64,
                    10, 3, -1);
    ASSERT_RUN(1, "train", "--data", tmp_path("wide-images-idx3-ubyte"));
    snprintf(expected, sizeof expected,
             "softmax: %s: samples hold 100 values (10x10) but model 'softmax' takes x: f32[64]\n",
             tmp_path("wide-images-idx3-ubyte"));
    ASSERT_ERR(expected);

    /* a label beyond the 4 classes */
    write_synthetic(tmp_path("bad-images-idx3-ubyte"), tmp_path("bad-labels-idx1-ubyte"), 64,
                    SIDE, 3, 7);
    ASSERT_RUN(1, "train", "--data", tmp_path("bad-images-idx3-ubyte"));
    snprintf(expected, sizeof expected,
             "softmax: %s: label 7 of sample 32 is outside [0, 4): model 'softmax' has 4 classes\n",
             tmp_path("bad-labels-idx1-ubyte"));
    ASSERT_ERR(expected);

    /* --data without a labels file next to it */
    write_synthetic(tmp_path("lone-images-idx3-ubyte"), tmp_path("other-labels"), 64, SIDE, 3, -1);
    ASSERT_RUN(1, "train", "--data", tmp_path("lone-images-idx3-ubyte"));
    snprintf(expected, sizeof expected,
             "softmax: %s: no such file (the labels for --data %s: its name with 'images-idx3' "
             "replaced by 'labels-idx1')\n", tmp_path("lone-labels-idx1-ubyte"),
             tmp_path("lone-images-idx3-ubyte"));
    ASSERT_ERR(expected);

    /* fewer samples than a batch */
    write_synthetic(tmp_path("small-images-idx3-ubyte"), tmp_path("small-labels-idx1-ubyte"), 64,
                    SIDE, 3, -1);
    ASSERT_RUN(1, "train", "--data", tmp_path("small-images-idx3-ubyte"), "--batch", "100");
    ck_assert_msg(strstr(err_text, "holds 64 samples, fewer than one batch of 100; lower --batch") !=
                  NULL, "%s", err_text);

    /* an output folder that is not there is reported before any training */
    ASSERT_RUN(1, "train", "--log", "/nonexistent/log.csv");
    ASSERT_ERR("softmax: /nonexistent/log.csv: the folder /nonexistent does not exist (--log)\n");
    ck_assert_str_eq(out_text, "");

    /* a corrupt IDX file: the loader's message comes through */
    write_file(tmp_path("junk-images-idx3-ubyte"), "hello world", 11);
    write_file(tmp_path("junk-labels-idx1-ubyte"), "hello world", 11);
    ASSERT_RUN(1, "train", "--data", tmp_path("junk-images-idx3-ubyte"));
    ck_assert_msg(strstr(err_text, "junk-images-idx3-ubyte: not an IDX file") != NULL, "%s",
                  err_text);
}
END_TEST

START_TEST(bad_flags_exit_2)
{
    ASSERT_RUN(2, "train", "--epochs", "abc");
    ASSERT_ERR("softmax: --epochs: 'abc' is not a whole number of at least 1, as in --epochs 5\n");
    ASSERT_RUN(2, "train", "--epochs=0");
    ASSERT_ERR("softmax: --epochs: '0' is not a whole number of at least 1, as in --epochs 5\n");
    ASSERT_RUN(2, "train", "--batch", "-3");
    ASSERT_ERR("softmax: --batch: '-3' is not a whole number of at least 1, as in --batch 128\n");
    ASSERT_RUN(2, "train", "--seed", "18446744073709551616");
    ASSERT_ERR("softmax: --seed: '18446744073709551616' is too large; at most 18446744073709551615\n");
    ASSERT_RUN(2, "train", "--steps", "1099511627777");
    ASSERT_ERR("softmax: --steps: '1099511627777' is too large; at most 1099511627776\n");
    ASSERT_RUN(2, "train", "--lr", "fast");
    ASSERT_ERR("softmax: --lr: 'fast' is not a positive number, as in --lr 0.001\n");
    ASSERT_RUN(2, "train", "--lr", "1e-50");
    ASSERT_ERR("softmax: --lr: '1e-50' is outside the range of a 32-bit float (about 1.2e-38 to 3.4e38), as in "
               "--lr 0.001\n");
    ASSERT_RUN(2, "train", "--save");
    ASSERT_ERR("softmax: --save needs a value, as in --save model.safetensors\n");
    ASSERT_RUN(2, "train", "--save", "--epochs", "2");
    ASSERT_ERR("softmax: --save needs a value, as in --save model.safetensors\n");
    ASSERT_RUN(2, "train", "--bogus");
    ASSERT_ERR("softmax: unknown flag '--bogus' for train; 'softmax --help' lists the flags of "
               "each command\n");
    ASSERT_RUN(2, "eval", "--epochs", "3", "--load", "x");
    ASSERT_ERR("softmax: unknown flag '--epochs' for eval; 'softmax --help' lists the flags of "
               "each command\n");
    ASSERT_RUN(2, "train", "--epochs", "2", "--steps", "10");
    ASSERT_ERR("softmax: --epochs and --steps both given; use one of them\n");
    ASSERT_RUN(2, "eval");
    ASSERT_ERR("softmax: eval needs the trained weights: --load FILE (a checkpoint saved by "
               "train --save)\n");
    ASSERT_RUN(2, "predict", "--load", "m.st");
    ASSERT_ERR("softmax: predict needs an INPUT file (IDX, CSV, or text for a model that reads "
               "tokens), as in softmax predict --load model.safetensors images.idx\n");
    ASSERT_RUN(2, "train", "extra");
    ASSERT_ERR("softmax: unexpected argument 'extra' for train; 'softmax --help' lists the "
               "arguments\n");
    ASSERT_RUN(2, "fit");
    ASSERT_ERR("softmax: unknown command 'fit'; the commands are train, eval, predict, sample, plot and info "
               "('softmax --help' for more)\n");
    ASSERT_RUN(2, "train", "--threads", "many");
    ASSERT_ERR("softmax: --threads: 'many' is not a number of threads (0 for every core), as in "
               "--threads 4\n");
    int rc = run(NULL);
    ck_assert_int_eq(rc, 2);
    ck_assert_ptr_nonnull(strstr(err_text, "usage: softmax COMMAND"));

    ASSERT_RUN(0, "--help");
    ck_assert_ptr_nonnull(strstr(out_text, "usage: softmax COMMAND"));
    ASSERT_RUN(0, "info");
    ck_assert_ptr_nonnull(strstr(out_text, "model softmax (softmax.net)"));
    ck_assert_ptr_nonnull(strstr(out_text, "fc.weight"));
    ck_assert_ptr_nonnull(strstr(out_text, "f32[4, 64]"));
    ck_assert_ptr_nonnull(strstr(out_text, "optimizer adamw(lr = 0.01"));
}
END_TEST

START_TEST(steps_and_flags_override_config)
{
    ASSERT_RUN(0, "train", "--steps", "20", "--batch", "64", "--lr", "0.02", "--log",
               tmp_path("s.csv"), "--save", tmp_path("s.st"));
    /* 512 / 64 = 8 steps an epoch: 20 steps end in the third */
    ck_assert_int_eq(count_lines(out_text), 4);
    ck_assert_ptr_nonnull(strstr(out_text, "epoch 3/3"));
    char *log = read_file(tmp_path("s.csv"), NULL);
    ck_assert_ptr_nonnull(strstr(log, "\n3,20,"));
    free(log);
    /* continuing mid-epoch with another batch would skip or repeat samples */
    ASSERT_RUN(2, "train", "--steps", "30", "--resume", tmp_path("s.st"));
    char expected[1024];
    snprintf(expected, sizeof expected,
             "softmax: %s stopped in the middle of epoch 3 with batch 64; resume with --batch 64\n",
             tmp_path("s.st"));
    ASSERT_ERR(expected);
    ASSERT_RUN(0, "train", "--steps", "30", "--batch", "64", "--resume", tmp_path("s.st"));
    ck_assert_msg(strncmp(out_text, "epoch 3/4", 9) == 0, "%s", out_text);
}
END_TEST

START_TEST(predict_prints_one_line_per_sample)
{
    ASSERT_RUN(0, "train", "--save", tmp_path("p.st"));
    ASSERT_RUN(0, "predict", "--load", tmp_path("p.st"), tmp_path("t10k-images-idx3-ubyte.gz"));
    ck_assert_int_eq(count_lines(out_text), NTEST);
    /* the synthetic labels cycle 0,1,2,3 */
    int right = 0;
    const char *p = out_text;
    for (int i = 0; i < NTEST; i++) {
        ck_assert(*p >= '0' && *p <= '3' && p[1] == '\n');
        right += *p - '0' == i % CLASSES;
        p += 2;
    }
    ck_assert_int_gt(right, NTEST * 9 / 10);

    /* CSV, with a header and without: raw pixels, scaled like the test set */
    char csv[4096];
    size_t n = 0;
    for (int i = 0; i < 3; i++) {
        for (int j = 0; j < FEATURES; j++) {
            int quadrant = (j / SIDE >= SIDE / 2) * 2 + (j % SIDE >= SIDE / 2);
            n += (size_t)snprintf(csv + n, sizeof csv - n, "%s%d", j ? "," : "",
                                  quadrant == i ? 200 : 20);
        }
        n += (size_t)snprintf(csv + n, sizeof csv - n, "\n");
    }
    write_file(tmp_path("three.csv"), csv, n);
    ASSERT_RUN(0, "predict", "--load", tmp_path("p.st"), tmp_path("three.csv"));
    ck_assert_str_eq(out_text, "0\n1\n2\n");
    char with_header[4200];
    int hn = snprintf(with_header, sizeof with_header, "p0,p1,p2\n%s", csv);
    write_file(tmp_path("header.csv"), with_header, (size_t)hn);
    ASSERT_RUN(0, "predict", "--load", tmp_path("p.st"), tmp_path("header.csv"));
    ck_assert_str_eq(out_text, "0\n1\n2\n");

    /* a CSV of the wrong width */
    write_file(tmp_path("narrow.csv"), "1,2,3\n4,5,6\n", 12);
    ASSERT_RUN(1, "predict", "--load", tmp_path("p.st"), tmp_path("narrow.csv"));
    char expected[1024];
    snprintf(expected, sizeof expected,
             "softmax: %s: samples hold 3 values but model 'softmax' takes x: f32[64]\n",
             tmp_path("narrow.csv"));
    ASSERT_ERR(expected);
}
END_TEST

/* BCE: integer labels become f32 targets; no test set in the train block. */
START_TEST(bce_without_test_set)
{
    rt_program *p = &program;
    p->name = "halves";
    p->param_floats = p->trainable_floats = FEATURES + 1;
    p->params = bce_params;
    p->y_dtype = RT_F32;
    p->out_dims[0] = 1;
    p->out_size = 1;
    p->loss = RT_LOSS_BCE;
    p->train_arena_floats = 2;
    p->train_step = bce_train_step;
    p->forward = bce_forward;
    p->config.data.path = "bin-images-idx3-ubyte";
    p->config.data.labels_path = "bin-labels-idx1-ubyte";
    p->config.test.kind = RT_SRC_NONE;
    write_labeled(tmp_path("bin-images-idx3-ubyte"), tmp_path("bin-labels-idx1-ubyte"), NTRAIN,
                  SIDE, 4, -1, 2);

    ASSERT_RUN(0, "train", "--save", tmp_path("bce.st"));
    ck_assert_int_eq(count_lines(out_text), 4);
    ck_assert_msg(strstr(out_text, "test loss") == NULL, "%s", out_text);
    ASSERT_RUN(0, "predict", "--load", tmp_path("bce.st"), tmp_path("t10k-images-idx3-ubyte.gz"));
    ck_assert_int_eq(count_lines(out_text), NTEST);
    int right = 0;
    char *line = out_text;
    for (int i = 0; i < NTEST; i++) {
        char *end;
        double z = strtod(line, &end);
        ck_assert(end != line && *end == '\n');
        right += (z > 0) == (i % 2 == 1);
        line = end + 1;
    }
    ck_assert_int_gt(right, NTEST * 9 / 10);

    ASSERT_RUN(2, "eval", "--load", tmp_path("bce.st"));
    ASSERT_ERR("softmax: model 'halves' has no test set in its train block; give one with --test "
               "FILE\n");
    ASSERT_RUN(0, "eval", "--load", tmp_path("bce.st"), "--test",
               tmp_path("bin-images-idx3-ubyte"));
    /* bce's figures: accuracy, precision and recall at probability 0.5 */
    ck_assert_msg(strncmp(out_text, "test loss ", 10) == 0 && strstr(out_text, "  test accuracy ") &&
                  strstr(out_text, "\nprecision ") && strstr(out_text, "  recall "), "%s", out_text);
    ck_assert_msg(last_accuracy() > 90.0, "%s", out_text);

    /* class ids 0..3 are no probabilities */
    ASSERT_RUN(1, "train", "--data", tmp_path("train-images-idx3-ubyte"));
    char expected[1024];
    snprintf(expected, sizeof expected,
             "softmax: %s: target 2 of sample 2 is outside [0, 1], which bce needs\n",
             tmp_path("train-labels-idx1-ubyte"));
    ASSERT_ERR(expected);
}
END_TEST

/* ------------------------------------------------- non-finite steps */

/* A step whose loss is NaN while its forward values are finite: what the
 * checked re-run meets when the gradient is the first thing to overflow.
 * Instruction 0 (forward) writes finite values, instruction 1 (backward)
 * an infinity into the gradient block. */
static double nan_train_step(float *params, float *grads, const void *x, const void *y, int64_t batch, float *arena,
                             uint64_t seed)
{
    (void)params; (void)grads; (void)x; (void)y; (void)batch; (void)arena; (void)seed;
    return NAN;
}

static double nan_checked_step(float *params, float *grads, const void *x, const void *y, int64_t batch, float *arena,
                               uint64_t seed, rt_check_fn check, void *ctx)
{
    (void)params; (void)x; (void)y; (void)seed;
    for (int64_t i = 0; i < batch * 2 * CLASSES; i++)
        arena[i] = 1.0f;
    check(ctx, 0, 1.0);
    grads[3] = INFINITY;
    check(ctx, 1, 1.0);
    return NAN;
}

static const rt_op_desc nan_ops[] = {
    { "fc", "dense", 3, false },
    { "fc", "dense_grad_w", 3, true },
};

/* The checked re-run names the first instruction whose output is not
 * finite, a backward one here, with its label; at the run's first step
 * no update has run, so the learning rate is not blamed. */
START_TEST(backward_op_named_as_backward)
{
    program.train_step = nan_train_step;
    program.checked_step = nan_checked_step;
    program.nops = 2;
    program.ops = nan_ops;
    ASSERT_RUN(1, "train", "--steps", "3");
    ASSERT_ERR("softmax: the loss became NaN at step 1 (epoch 1) with finite weights and inputs: softmax.net:3: "
               "dense_grad_w 'fc' (backward) produced an infinity from finite inputs; no update has run yet, so the "
               "learning rate is not the cause, nor the inputs (the largest is 0.898039): change the model\n");
}
END_TEST

/* ------------------------------------------------------- validation */

/* The text from `from` up to the end of its line. */
static void line_part(const char *from, char *out, size_t len)
{
    ck_assert_ptr_nonnull(from);
    const char *nl = strchr(from, '\n');
    snprintf(out, len, "%.*s", (int)(nl ? nl - from : (long)strlen(from)), from);
}

/* The validation set is the test files: then `eval` on the best checkpoint
 * must print exactly what training printed for its best evaluation. */
START_TEST(save_best_holds_the_best_evaluation)
{
    program.config.eval_every = 5;
    program.config.opt.lr = 0.05f; /* a noisy climb, so the best is rarely the last */
    ASSERT_RUN(0, "train", "--threads", "2", "--val", tmp_path("t10k-images-idx3-ubyte.gz"),
               "--save", tmp_path("last.st"), "--save-best", tmp_path("best.st"), "--log",
               tmp_path("v.csv"));
    /* 16 steps an epoch: evaluations at steps 5, 10, ..., 45 and at the
     * run's end (48); rows for those and for the ends of epochs 1 and 2 */
    const char *best_line = NULL;
    for (const char *p = out_text; (p = strstr(p, "  best\n")) != NULL; p++)
        best_line = p;
    ck_assert_msg(best_line != NULL, "%s", out_text);
    while (best_line > out_text && best_line[-1] != '\n')
        best_line--;
    char trained[256], evaluated[256];
    line_part(strstr(best_line, "val loss "), trained, sizeof trained);
    trained[strlen(trained) - strlen("  best")] = '\0';
    const char *summary = strstr(out_text, "best: evaluation ");
    ck_assert_msg(summary != NULL, "%s", out_text);
    long long n_best, n_evals;
    ck_assert_int_eq(sscanf(summary, "best: evaluation %lld of %lld", &n_best, &n_evals), 2);
    ck_assert_int_eq(n_evals, 10); /* steps 5, 10, ..., 45 and the run's end, 48 */

    ASSERT_RUN(0, "eval", "--load", tmp_path("best.st"), "--threads", "2");
    line_part(out_text, evaluated, sizeof evaluated);
    /* "test loss X  test accuracy Y%  (256 samples)" against "val loss X  val accuracy Y%" */
    char loss[32], acc[32], expected[300];
    ck_assert_int_eq(sscanf(trained, "val loss %31s  val accuracy %31s", loss, acc), 2);
    snprintf(expected, sizeof expected, "test loss %s  test accuracy %s  (256 samples)", loss, acc);
    ck_assert_str_eq(evaluated, expected);

    /* the log: one row per evaluation and per epoch end, the best marked */
    char *csv = read_file(tmp_path("v.csv"), NULL);
    ck_assert_int_eq(count_lines(csv), 1 + 12);
    int marked = 0;
    for (const char *p = csv; (p = strstr(p, ",1\n")) != NULL; p++)
        marked++;
    ck_assert_int_ge(marked, 1);
    free(csv);
    /* and the record beside it */
    char *rec = read_file(tmp_path("v.csv.json"), NULL);
    ck_assert_ptr_nonnull(strstr(rec, "\"status\": \"finished\""));
    ck_assert_ptr_nonnull(strstr(rec, "\"seed\": \"1\""));
    ck_assert_ptr_nonnull(strstr(rec, "\"command\": ["));
    ck_assert_ptr_nonnull(strstr(rec, "\"isa\": \""));
    ck_assert_ptr_nonnull(strstr(rec, "\"best\": {"));
    free(rec);

    /* eval --json and --confusion report the same run */
    ASSERT_RUN(0, "eval", "--load", tmp_path("best.st"), "--json");
    ck_assert_msg(strncmp(out_text, "{\"set\":\"test\",\"loss_kind\":\"cross_entropy\",\"samples\":256,", 56) == 0,
                  "%s", out_text);
    ck_assert_ptr_nonnull(strstr(out_text, "\"confusion\":[["));
    ASSERT_RUN(0, "eval", "--load", tmp_path("best.st"), "--confusion");
    ck_assert_ptr_nonnull(strstr(out_text, "class  precision   recall   support\n"));
    ck_assert_ptr_nonnull(strstr(out_text, "confusion matrix (rows: true class, columns: predicted class)\n"));

    /* --save-best needs validation */
    program.config.eval_every = 0;
    ASSERT_RUN(2, "train", "--save-best", tmp_path("b2.st"));
    ASSERT_ERR("softmax: --save-best keeps the best validation evaluation, but model 'softmax' has no "
               "validation data; add val = 0.1 to its train block or give --val FILE\n");

    /* eval_every with nothing to evaluate says so, and trains */
    program.config.eval_every = 5;
    program.config.test.kind = RT_SRC_NONE;
    ASSERT_RUN(0, "train", "--steps", "6");
    ASSERT_ERR("softmax: warning: eval_every 5 has nothing to evaluate: model 'softmax' has no validation "
               "or test data; add val = 0.1 to its train block or give --val FILE\n");
    ck_assert_ptr_null(strstr(out_text, "val loss"));
}
END_TEST

/* val = 0.25 holds out 128 of the 512 rows: 384 train in 12 steps an epoch. */
START_TEST(held_out_fraction_trains_on_the_rest)
{
    program.config.val_fraction = 0.25f;
    ASSERT_RUN(0, "train", "--threads", "2", "--log", tmp_path("f.csv"));
    ck_assert_msg(strstr(out_text, "epoch 3/3  loss ") && strstr(out_text, "  val loss "), "%s", out_text);
    ck_assert_ptr_null(strstr(out_text, "test loss")); /* the test set stays for eval */
    char *csv = read_file(tmp_path("f.csv"), NULL);
    ck_assert_ptr_nonnull(strstr(csv, "\n1,12,"));
    ck_assert_ptr_nonnull(strstr(csv, "\n3,36,"));
    free(csv);
    char *rec = read_file(tmp_path("f.csv.json"), NULL);
    ck_assert_ptr_nonnull(strstr(rec, "\"train_samples\": 384"));
    ck_assert_ptr_nonnull(strstr(rec, "\"val_samples\": 128"));
    free(rec);
    /* the same seed, the same held-out rows: the same run */
    ASSERT_RUN(0, "train", "--threads", "2", "--log", tmp_path("g.csv"));
    char a[1024], b[1024];
    char *ca = read_file(tmp_path("f.csv"), NULL), *cb = read_file(tmp_path("g.csv"), NULL);
    loss_columns(ca, a, sizeof a);
    loss_columns(cb, b, sizeof b);
    ck_assert_str_eq(a, b);
    free(ca);
    free(cb);
}
END_TEST

/* A program whose every evaluation outputs the next value of a fixed
 * curve: with zero targets its validation loss is the curve's square. */
static const double curve_loss[] = { 1.0, 0.8, 0.7, 0.75, 0.70, 0.71, 0.5, 0.4 };
static int curve_evals;

static double curve_train_step(float *params, float *grads, const void *x, const void *y,
                               int64_t batch, float *arena, uint64_t seed)
{
    (void)params; (void)x; (void)y; (void)arena; (void)seed;
    grads[0] = 0;
    return 0.1 * (double)batch;
}

static void curve_forward(const float *params, const void *x, float *out, int64_t batch,
                          float *arena)
{
    (void)params; (void)x; (void)arena;
    float v = (float)sqrt(curve_loss[curve_evals++ % 8]);
    for (int64_t i = 0; i < batch; i++)
        out[i] = v;
}

static const rt_param_desc curve_params[] = {
    { .name = "c", .rank = 1, .dims = { 1 }, .offset = 0, .count = 1, .init = RT_INIT_ZEROS,
      .fan_in = 1, .fan_out = 1, .trainable = true },
};

START_TEST(early_stopping_stops_at_the_right_evaluation)
{
    /* 64 rows of "x,y" = "0,0" to train on, BATCH to validate (one forward
     * call per evaluation) */
    char rows[64 * 4 + 1] = "";
    for (int i = 0; i < 64; i++)
        strcat(rows, "0,0\n");
    write_file(tmp_path("zeros.csv"), rows, 64 * 4);
    write_file(tmp_path("val.csv"), rows, BATCH * 4);
    rt_program *p = &program;
    p->name = "curve";
    p->param_floats = p->trainable_floats = 1;
    p->params = curve_params;
    p->nparams = 1;
    p->x_dims[0] = p->x_size = 1;
    p->y_dtype = RT_F32;
    p->out_dims[0] = p->out_size = 1;
    p->loss = RT_LOSS_MSE;
    p->train_arena_floats = 0;
    p->train_step = curve_train_step;
    p->forward = curve_forward;
    p->config.data = (rt_source){ .kind = RT_SRC_CSV, .path = "zeros.csv", .scale = 1, .label_column = 1 };
    p->config.val = (rt_source){ .kind = RT_SRC_CSV, .path = "val.csv", .scale = 1, .label_column = 1 };
    p->config.test.kind = RT_SRC_NONE;
    p->config.epochs = 20;
    p->config.eval_every = 1;
    p->config.stop_after = 3;
    curve_evals = 0;
    ASSERT_RUN(0, "train", "--log", tmp_path("c.csv"));
    /* best at the 3rd (0.70); the 4th, 5th (0.70 is no improvement) and 6th do not improve */
    ck_assert_msg(strstr(out_text, "stopped early: val_loss did not improve for 3 evaluations\n"
                               "best: evaluation 3 of 6 (step 3, epoch 2), val_loss 0.7000\n"),
                  "%s", out_text);
    ck_assert_ptr_null(strstr(out_text, "step 7/"));
    char *csv = read_file(tmp_path("c.csv"), NULL);
    ck_assert_int_eq(count_lines(csv), 1 + 6);
    free(csv);
    char *rec = read_file(tmp_path("c.csv.json"), NULL);
    ck_assert_ptr_nonnull(strstr(rec, "\"status\": \"stopped early\""));
    free(rec);

    /* stopped after 4 evaluations and resumed, the count goes on: the
     * checkpoint keeps the best (the 3rd) and one evaluation since */
    curve_evals = 0;
    ASSERT_RUN(0, "train", "--steps", "4", "--save", tmp_path("c.st"));
    ck_assert_ptr_null(strstr(out_text, "stopped early"));
    curve_evals = 4;
    ASSERT_RUN(0, "train", "--resume", tmp_path("c.st"));
    ck_assert_msg(strstr(out_text, "stopped early: val_loss did not improve for 3 evaluations\n"
                               "best: evaluation 3 of 6 (step 3, epoch 2), val_loss 0.7000\n"),
                  "%s", out_text);
}
END_TEST

/* Output that is no terminal (here stdout a pipe, stderr a file) gets plain
 * progress lines on stderr, every NETRT_PROGRESS seconds (0: each step). */
START_TEST(plain_progress_when_output_is_a_pipe)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    const char *err_path = tmp_path("progress.txt");
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (err < 0 || dup2(fds[1], 1) < 0 || dup2(err, 2) < 0)
            _exit(99);
        close(fds[0]);
        setenv("NETRT_PROGRESS", "0", 1);
        char *argv[] = { (char *)"softmax", (char *)"train", (char *)"--steps", (char *)"20", NULL };
        exit(rt_main(&program, 4, argv));
    }
    close(fds[1]);
    char out[8192];
    size_t n = 0;
    ssize_t got;
    while ((got = read(fds[0], out + n, sizeof out - 1 - n)) > 0)
        n += (size_t)got;
    out[n] = '\0';
    close(fds[0]);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char *err = read_file(err_path, NULL);
    ck_assert_msg(strstr(err, "step 1/20  epoch 1  loss ") && strstr(err, "step 20/20  epoch 2  loss ") &&
                  strstr(err, " samples/s  ETA "), "%s", err);
    ck_assert_ptr_null(strchr(err, '\r')); /* no terminal escapes */
    ck_assert_ptr_null(strchr(err, '\033'));
    ck_assert_ptr_nonnull(strstr(out, "epoch 2/2  loss "));
    free(err);
}
END_TEST

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* `plot` draws a real run's log: a PNG, two panels (loss, accuracy) wide. */
START_TEST(plot_writes_a_png_of_a_real_log)
{
    program.config.eval_every = 4;
    ASSERT_RUN(0, "train", "--threads", "2", "--val", tmp_path("t10k-images-idx3-ubyte.gz"),
               "--log", tmp_path("p.csv"));
    ASSERT_RUN(0, "plot", tmp_path("p.csv"), "-o", tmp_path("curves.png"));
    ck_assert_str_eq(err_text, "");
    size_t len;
    unsigned char *png = (unsigned char *)read_file(tmp_path("curves.png"), &len);
    ck_assert_uint_gt(len, 2000);
    ck_assert(memcmp(png, "\x89PNG\r\n\x1a\n", 8) == 0);
    ck_assert(memcmp(png + 12, "IHDR", 4) == 0);
    ck_assert_uint_eq(be32(png + 16), 960);
    ck_assert_uint_eq(be32(png + 20), 400);
    free(png);
    ASSERT_RUN(2, "plot", tmp_path("p.csv"));
    ASSERT_ERR("softmax: plot takes a log and an output: plot LOG.csv -o FILE.png\n");
    ASSERT_RUN(1, "plot", tmp_path("missing.csv"), "-o", tmp_path("x.png"));
    ck_assert_ptr_nonnull(strstr(err_text, "missing.csv: No such file or directory"));
}
END_TEST

static Suite *train_suite(void)
{
    Suite *s = suite_create("rt_train");
    TCase *tc = test_case("rt_main");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, train_reaches_accuracy);
    tcase_add_test(tc, same_seed_same_loss_trace);
    tcase_add_test(tc, resume_is_exact);
    tcase_add_test(tc, resume_after_a_kill_is_exact);
    tcase_add_test(tc, eval_matches_training);
    tcase_add_test(tc, bad_checkpoints_are_refused);
    tcase_add_test(tc, bad_data_is_refused);
    tcase_add_test(tc, bad_flags_exit_2);
    tcase_add_test(tc, steps_and_flags_override_config);
    tcase_add_test(tc, predict_prints_one_line_per_sample);
    tcase_add_test(tc, bce_without_test_set);
    tcase_add_test(tc, backward_op_named_as_backward);
    tcase_add_test(tc, save_best_holds_the_best_evaluation);
    tcase_add_test(tc, held_out_fraction_trains_on_the_rest);
    tcase_add_test(tc, early_stopping_stops_at_the_right_evaluation);
    tcase_add_test(tc, plain_progress_when_output_is_a_pipe);
    tcase_add_test(tc, plot_writes_a_png_of_a_real_log);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(train_suite)
