/* test_dist.c — data-parallel training under Open MPI's mpirun, as a user
 * runs it: 2 ranks of one thread each train examples/mlp.net and
 * examples/lenet.net and end with the weights of one process training the
 * same global batch; a rank killed mid-run ends the job with mpirun's
 * message naming it, and leaves the last checkpoint intact, from which 2
 * ranks resume to the uninterrupted run's exact bits; a rank whose data
 * file is missing stops every rank with a message naming it.
 *
 * Skipped, with a message, when mpirun is not installed (the dependency
 * step installs openmpi-bin). Data: subsets of Fashion-MNIST written as
 * plain IDX files, so an epoch is a few dozen steps. */
#include "front.h"
#include "netrt.h"

#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <unistd.h>
#include <stdlib.h>
#include <zlib.h>

static char dir[64];

static const char *path_in(const char *name) { return test_path_in(dir, name); }

/* mpirun as CI runs it: as root, more ranks than free cores allowed, no
 * binding, shared memory between the ranks of this machine and no network
 * transport (OMPI_MCA_* set in setup). Under make asan the ranks run
 * without LeakSanitizer: Open MPI keeps allocations to the end of the
 * process in plugins it unloads at MPI_Finalize, which LeakSanitizer can
 * neither attribute nor suppress by name (one-process runs keep it). */
static char mpirun[4096]; /* found on $PATH in main */
#define MPIRUN mpirun, "--oversubscribe", "--allow-run-as-root", "--bind-to", "none", "-x", \
               "ASAN_OPTIONS=detect_leaks=0", "-np", "2"

/* The first n samples of a Fashion-MNIST file pair, as plain IDX. */
static void write_subset(const char *kind, int n, const char *name)
{
    char in[256], out[256];
    const char *what[2] = { "images-idx3", "labels-idx1" };
    for (int f = 0; f < 2; f++) {
        snprintf(in, sizeof in, "/usr/share/datasets/fashion-mnist/%s-%s-ubyte.gz", kind, what[f]);
        gzFile g = gzopen(in, "rb");
        ck_assert_msg(g != NULL, "%s: missing (dataset-fashion-mnist)", in);
        size_t header = f == 0 ? 16 : 8, each = f == 0 ? 784 : 1;
        size_t bytes = header + (size_t)n * each;
        unsigned char *buf = malloc(bytes);
        ck_assert_int_eq(gzread(g, buf, (unsigned)bytes), (int)bytes);
        gzclose(g);
        buf[4] = (unsigned char)(n >> 24); /* the count, big-endian */
        buf[5] = (unsigned char)(n >> 16);
        buf[6] = (unsigned char)(n >> 8);
        buf[7] = (unsigned char)n;
        snprintf(out, sizeof out, "%s/%s-%s-ubyte", dir, name, what[f]);
        FILE *o = fopen(out, "wb");
        ck_assert_ptr_nonnull(o);
        ck_assert_uint_eq(fwrite(buf, 1, bytes, o), bytes);
        ck_assert_int_eq(fclose(o), 0);
        free(buf);
    }
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/netc-dist-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    setenv("OMPI_MCA_btl", "self,vader", 1);
    /* containers often forbid the cross-memory attach vader would use */
    setenv("OMPI_MCA_btl_vader_single_copy_mechanism", "none", 1);
    setenv("OMPI_MCA_rmaps_base_oversubscribe", "1", 1);
    write_subset("train", 2048, "sub");
    write_subset("t10k", 256, "subt");
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

static void build(const char *example, const char *out)
{
    FeProc p;
    int rc = fe_run(&p, 120, fe_netc(), "build", example, "-o", path_in(out), NULL);
    ck_assert_msg(rc == 0, "netc build %s failed:\n%s", example, p.err);
    fe_proc_free(&p);
}

/* ------------------------------------------------------ checkpoint files */

typedef struct tensors {
    json_t *header;
    char *data; /* the file */
    size_t base;
} tensors;

static void read_tensors(const char *path, tensors *t)
{
    size_t len;
    t->data = fe_slurp(path, &len);
    ck_assert(len >= 8);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | (unsigned char)t->data[i];
    json_error_t err;
    t->header = json_loadb(t->data + 8, (size_t)n, 0, &err);
    ck_assert_msg(t->header != NULL, "%s: %s", path, err.text);
    t->base = 8 + (size_t)n;
}

static const float *tensor_data(const tensors *t, const char *name, int64_t *count)
{
    json_t *e = json_object_get(t->header, name);
    ck_assert_msg(e != NULL, "no tensor %s", name);
    json_t *off = json_object_get(e, "data_offsets");
    int64_t a = json_integer_value(json_array_get(off, 0)), b = json_integer_value(json_array_get(off, 1));
    *count = (b - a) / 4;
    return (const float *)(const void *)(t->data + t->base + a);
}

static const char *meta(const tensors *t, const char *key)
{
    return json_string_value(json_object_get(json_object_get(t->header, "__metadata__"), key));
}

static void free_tensors(tensors *t)
{
    json_decref(t->header);
    free(t->data);
}

/* Every tensor of a and b (weights and optimizer state) within `rel`:
 * |a - b| / |b| over the tensor (2-norms), or bitwise when rel is 0.
 * Returns the largest ratio seen. */
static double compare(const char *pa, const char *pb, double rel)
{
    tensors a, b;
    read_tensors(pa, &a);
    read_tensors(pb, &b);
    ck_assert_int_eq((int)json_object_size(a.header), (int)json_object_size(b.header));
    double worst = 0;
    const char *name;
    json_t *v;
    json_object_foreach(a.header, name, v) {
        if (!strcmp(name, "__metadata__"))
            continue;
        int64_t na, nb;
        const float *x = tensor_data(&a, name, &na), *y = tensor_data(&b, name, &nb);
        ck_assert_int_eq(na, nb);
        if (rel == 0) {
            ck_assert_msg(memcmp(x, y, (size_t)na * 4) == 0, "%s differs from %s in %s", pa, pb, name);
            continue;
        }
        double diff = 0, norm = 0;
        for (int64_t i = 0; i < na; i++) {
            diff += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
            norm += (double)y[i] * y[i];
        }
        double r = norm > 0 ? sqrt(diff / norm) : sqrt(diff);
        ck_assert_msg(r <= rel, "%s: %s and %s differ by %.3g relative (allowed %.1g)", name, pa, pb, r, rel);
        worst = r > worst ? r : worst;
    }
    free_tensors(&a);
    free_tensors(&b);
    return worst;
}

/* ----------------------------------------------------------------- tests */

/* One process of one thread and 2 ranks of one thread each, the same global
 * batch and steps: the same weights within 1e-6 (norm-relative per
 * tensor). Not bitwise: the batch's gradient is summed in a different
 * order (two half-batch GEMM reductions, then their sum). */
static void same_as_one_process(const char *example, const char *bin, const char *steps, const char *batch)
{
    build(example, bin);
    FeProc p;
    const char *data[] = { "--data", path_in("sub-images-idx3-ubyte"), "--test", path_in("subt-images-idx3-ubyte") };
    int rc = fe_run(&p, 120, path_in(bin), "train", "--steps", steps, "--batch", batch, "--threads", "1", data[0],
                 data[1], data[2], data[3], "--save", path_in("one.st"), NULL);
    ck_assert_msg(rc == 0, "one process failed:\n%s", p.err);
    fe_proc_free(&p);
    rc = fe_run(&p, 120, MPIRUN, path_in(bin), "train", "--steps", steps, "--batch", batch, "--threads", "1",
             data[0], data[1], data[2], data[3], "--save", path_in("two.st"), "--check-replicas", NULL);
    ck_assert_msg(rc == 0, "2 ranks failed (%d):\n%s\n%s", rc, p.out, p.err);
    /* rank 0 alone prints: one line for the epoch */
    const char *line = strstr(p.out, "epoch 1/");
    ck_assert_msg(line && !strstr(line + 1, "epoch 1/"), "expected one line for epoch 1:\n%s", p.out);
    ck_assert_msg(strstr(p.out, "(2 ranks,"), "no rank count in:\n%s", p.out);
    fe_proc_free(&p);
    double r = compare(path_in("one.st"), path_in("two.st"), 1e-6);
    fprintf(stderr, "%s: 2 ranks vs 1 process after %s steps: %.2g relative\n", example, steps, r);
}

/* mlp.net has dropout: the ranks draw the masks of their samples' places in
 * the global batch. netc train under mpirun (the JIT) gives the built
 * binary's bits. */
START_TEST(mlp_two_ranks_equal_one_process)
{
    same_as_one_process("examples/mlp.net", "mlp", "16", "128");
    FeProc p;
    int rc = fe_run(&p, 120, MPIRUN, fe_netc(), "train", "examples/mlp.net", "--steps", "16", "--threads", "1",
                 "--data", path_in("sub-images-idx3-ubyte"), "--test", path_in("subt-images-idx3-ubyte"), "--save",
                 path_in("jit.st"), NULL);
    ck_assert_msg(rc == 0, "netc train under 2 ranks failed:\n%s", p.err);
    fe_proc_free(&p);
    compare(path_in("two.st"), path_in("jit.st"), 0);
}
END_TEST

/* A batch of 63 over 2 ranks: 32 and 31 samples, each rank's mean
 * gradient weighted by its share. */
START_TEST(lenet_two_ranks_equal_one_process)
{
    same_as_one_process("examples/lenet.net", "lenet", "10", "63");
}
END_TEST

/* The pid of rank `rank` of a job mpirun (pid `launcher`) started. */
static pid_t rank_pid(pid_t launcher, int rank)
{
    char want[64];
    int len = snprintf(want, sizeof want, "OMPI_COMM_WORLD_RANK=%d", rank);
    DIR *d = opendir("/proc");
    ck_assert_ptr_nonnull(d);
    pid_t found = 0;
    for (struct dirent *e; !found && (e = readdir(d));) {
        pid_t pid = (pid_t)atoi(e->d_name);
        if (pid <= 0)
            continue;
        char path[64], stat[512] = "";
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t n = fread(stat, 1, sizeof stat - 1, f);
        fclose(f);
        stat[n] = '\0';
        const char *paren = strrchr(stat, ')');
        int ppid = 0;
        if (!paren || sscanf(paren + 2, "%*c %d", &ppid) != 1 || ppid != launcher)
            continue;
        snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
        f = fopen(path, "r");
        if (!f)
            continue;
        char env[65536];
        n = fread(env, 1, sizeof env, f);
        fclose(f);
        for (size_t i = 0; i < n; i += strlen(env + i) + 1)
            if (n - i > (size_t)len && !memcmp(env + i, want, (size_t)len) && env[i + len] == '\0')
                found = pid;
    }
    closedir(d);
    return found;
}

/* Rank 1 killed once epoch 1's checkpoint is on disk: the job ends
 * non-zero, mpirun names rank 1 and the signal, the checkpoint is the
 * intact epoch-1 file, and 2 ranks resuming from it end with the bits of
 * the uninterrupted 2-rank run (weights and optimizer state). A 2-rank
 * checkpoint resumes in one process too (no rank-specific state). */
START_TEST(killed_rank_then_exact_resume)
{
    build("examples/mlp.net", "mlp");
    const char *mlp = path_in("mlp");
    FeProc p;
    int rc = fe_run(&p, 180, MPIRUN, mlp, "train", "--epochs", "3", "--data", path_in("sub-images-idx3-ubyte"),
                 "--test", path_in("subt-images-idx3-ubyte"), "--save", path_in("full.st"), NULL);
    ck_assert_msg(rc == 0, "uninterrupted run failed:\n%s", p.err);
    fe_proc_free(&p);

    int out[2];
    ck_assert_int_eq(pipe(out), 0);
    char part[256];
    snprintf(part, sizeof part, "%s", path_in("part.st"));
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        dup2(out[1], 1);
        dup2(out[1], 2);
        close(out[0]);
        execl(mpirun, MPIRUN, mlp, "train", "--epochs", "3", "--data", path_in("sub-images-idx3-ubyte"),
               "--test", path_in("subt-images-idx3-ubyte"), "--save", part, (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    char text[16384] = "";
    size_t len = 0;
    bool killed = false;
    for (ssize_t n; (n = read(out[0], text + len, sizeof text - 1 - len)) > 0;) {
        len += (size_t)n;
        text[len] = '\0';
        if (!killed && strstr(text, "epoch 1/3  loss")) { /* the end of epoch 1, not a progress line */
            /* the checkpoint is renamed into place just after the line */
            for (int i = 0; i < 2000 && access(part, F_OK) != 0; i++)
                usleep(1000);
            pid_t victim = rank_pid(pid, 1);
            ck_assert_msg(victim > 0, "rank 1 not found among mpirun's children");
            kill(victim, SIGKILL);
            killed = true;
        }
    }
    close(out[0]);
    int status;
    waitpid(pid, &status, 0);
    ck_assert_msg(killed, "the run never finished epoch 1:\n%s", text);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) != 0, "killed job: status %d\n%s", status, text);
    ck_assert_msg(strstr(text, "rank 1") && strstr(text, "signal 9"), "no message naming rank 1 and its signal:\n%s",
                  text);

    tensors t;
    read_tensors(part, &t);
    ck_assert_msg(meta(&t, "netc.epoch") && atoi(meta(&t, "netc.epoch")) >= 1, "checkpoint not at an epoch's end");
    free_tensors(&t);

    rc = fe_run(&p, 180, MPIRUN, mlp, "train", "--epochs", "3", "--data", path_in("sub-images-idx3-ubyte"), "--test",
             path_in("subt-images-idx3-ubyte"), "--resume", part, "--save", path_in("resumed.st"), NULL);
    ck_assert_msg(rc == 0, "resume under 2 ranks failed:\n%s", p.err);
    fe_proc_free(&p);
    compare(path_in("full.st"), path_in("resumed.st"), 0);

    /* eval, sharded over 2 ranks and reduced, says what one process says */
    rc = fe_run(&p, 120, mlp, "eval", "--load", path_in("full.st"), "--test", path_in("subt-images-idx3-ubyte"),
             "--threads", "1", NULL);
    ck_assert_msg(rc == 0, "eval failed:\n%s", p.err);
    /* the first line (loss and accuracy); per-class figures follow it */
    char one[256];
    snprintf(one, sizeof one, "%.*s", (int)strcspn(p.out, "\n"), p.out);
    fe_proc_free(&p);
    rc = fe_run(&p, 120, MPIRUN, mlp, "eval", "--load", path_in("full.st"), "--test",
             path_in("subt-images-idx3-ubyte"), NULL);
    ck_assert_msg(rc == 0, "eval under 2 ranks failed:\n%s", p.err);
    ck_assert_msg(strstr(one, "test loss ") && strstr(p.out, "test loss ") && strstr(one, "test accuracy") &&
                  strstr(p.out, "test accuracy"), "one process: %s2 ranks: %s", one, p.out);
    double loss1 = strtod(strstr(one, "test loss ") + 10, NULL), loss2 = strtod(strstr(p.out, "test loss ") + 10, NULL);
    const char *acc2 = strstr(p.out, "test accuracy");
    ck_assert_msg(fabs(loss1 - loss2) <= 1e-4 && !strncmp(strstr(one, "test accuracy"), acc2, strcspn(acc2, "\n")),
                  "one process: %s2 ranks: %s", one, p.out);
    fe_proc_free(&p);

    rc = fe_run(&p, 180, mlp, "train", "--epochs", "2", "--threads", "1", "--data", path_in("sub-images-idx3-ubyte"),
             "--test", path_in("subt-images-idx3-ubyte"), "--resume", part, NULL);
    ck_assert_msg(rc == 0, "resume of a 2-rank checkpoint in one process failed:\n%s", p.err);
    fe_proc_free(&p);
}
END_TEST

/* A step whose loss overflows under mpirun is rerun checked on every rank,
 * each on its own part of the batch, and rank 0 names the first operation
 * any rank found: here only rank 1's samples overflow. */
START_TEST(overflow_located_across_ranks)
{
    FILE *f = fopen(path_in("big.csv"), "w");
    ck_assert_ptr_nonnull(f);
    fputs("1,2,3,4,0\n2,3,4,5,1\n3e10,4,5,6,2\n4,5,6,7,1\n", f);
    ck_assert_int_eq(fclose(f), 0);
    f = fopen(path_in("mul.net"), "w");
    ck_assert_ptr_nonnull(f);
    fputs("model m(x: f32[4]) -> f32[3] {\n    h = x -> dense(4)\n    p = h * h\n    p * p -> dense(3)\n}\n"
          "train m {\n    data csv(\"big.csv\", label_column = 4)\n    loss cross_entropy\n"
          "    optimizer sgd(lr = 1e-2)\n    batch 4\n}\n", f);
    ck_assert_int_eq(fclose(f), 0);
    char net[512];
    snprintf(net, sizeof net, "%s", path_in("mul.net"));
    build(net, "mul");
    FeProc p;
    int rc = fe_run(&p, 60, MPIRUN, path_in("mul"), "train", "--threads", "1", NULL);
    ck_assert_msg(rc != 0, "an overflowing step did not fail the job");
    const char *want = "mul: rank 0 of 2: the loss became NaN at step 1 (epoch 1) with finite weights and inputs: "
                       "mul.net:4: mul 'mul2' (forward) produced an infinity from finite inputs; no update has run "
                       "yet, so the learning rate is not the cause: scale the inputs (the largest is 3e+10) or change "
                       "the model\n";
    ck_assert_msg(!strncmp(p.err, want, strlen(want)), "expected '%s' first in:\n%s", want, p.err);
    fe_proc_free(&p);
}
END_TEST

/* Rank 1's data file is missing (MPMD launch: each rank its own flags):
 * rank 1 names the file and itself, rank 0 stops too and says why. */
START_TEST(missing_data_on_one_rank)
{
    build("examples/mlp.net", "mlp");
    const char *mlp = path_in("mlp");
    FeProc p;
    int rc = fe_run(&p, 60, mpirun, "--oversubscribe", "--allow-run-as-root", "--bind-to", "none", "-x",
                 "ASAN_OPTIONS=detect_leaks=0", "-np", "1", mlp, "train", "--steps", "5", "--data",
                 path_in("sub-images-idx3-ubyte"), ":", "-np", "1", mlp,
                 "train", "--steps", "5", "--data", path_in("gone-images-idx3-ubyte"), NULL);
    ck_assert_msg(rc != 0, "a missing data file on rank 1 did not fail the job");
    char want[512];
    snprintf(want, sizeof want, "mlp: rank 1 of 2: %s: no such file (given with --data)", path_in("gone-images-idx3-ubyte"));
    ck_assert_msg(strstr(p.err, want), "expected '%s' in:\n%s", want, p.err);
    ck_assert_msg(strstr(p.err, "mlp: rank 0 of 2: stopping every rank: rank 1 failed to start"), "stderr:\n%s",
                  p.err);
    fe_proc_free(&p);
}
END_TEST

static Suite *dist_suite(void)
{
    Suite *s = suite_create("dist");
    TCase *tc = test_case("mpirun -np 2");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, mlp_two_ranks_equal_one_process);
    tcase_add_test(tc, lenet_two_ranks_equal_one_process);
    tcase_add_test(tc, killed_rank_then_exact_resume);
    tcase_add_test(tc, missing_data_on_one_rank);
    tcase_add_test(tc, overflow_located_across_ranks);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    const char *path = getenv("PATH");
    for (const char *at = path ? path : ""; *at && !mpirun[0];) {
        size_t n = strcspn(at, ":");
        snprintf(mpirun, sizeof mpirun, "%.*s/mpirun", (int)n, at);
        if (access(mpirun, X_OK) != 0)
            mpirun[0] = '\0';
        at += n + (at[n] == ':');
    }
    if (!mpirun[0]) {
        printf("test_dist: skipped: Open MPI's mpirun is not installed (apt-get install openmpi-bin "
               "libopenmpi-dev, or make deps)\n");
        return EXIT_SUCCESS;
    }
    SRunner *runner = srunner_create(dist_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
