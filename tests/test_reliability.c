/* test_reliability.c — issue 14's cases, each pinned with its exact
 * message: no crash, no hang (every run has a time bound), no lost file,
 * no silent wrong answer, on hostile files and command lines. */
#include "front.h"
#include "netrt.h"

#include <stdarg.h>

static char dir[64];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/netc-rel-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    test_remove_tree(dir);
}

static const char *in_dir(const char *name)
{
    return test_path_in(dir, name);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(text, 1, strlen(text), f), strlen(text));
    ck_assert_int_eq(fclose(f), 0);
}

/* Runs a command of up to 14 words with a time bound; returns its exit
 * code (a hang or a crash fails the test). */
static int run(FeProc *p, int timeout, const char *w0, ...)
{
    char *argv[16] = { (char *)w0 };
    va_list ap;
    va_start(ap, w0);
    int n = 1;
    for (const char *w; n < 15 && (w = va_arg(ap, const char *));)
        argv[n++] = (char *)w;
    va_end(ap);
    argv[n] = NULL;
    fe_spawn(p, argv, timeout);
    return fe_exit_code(p);
}

/* The run must fail with exit code 1 and exactly this stderr. */
static void expect_fail(FeProc *p, int rc, const char *want)
{
    ck_assert_msg(rc == 1, "exit code %d, stderr:\n%s", rc, p->err);
    ck_assert_str_eq(p->err, want);
    fe_proc_free(p);
}

static const char tiny_net[] = "model m(x: f32[4]) -> f32[2] {\n"
                               "    x -> dense(2)\n"
                               "}\n";

/* ------------------------------------------------------------- crashes */

/* Compiles text in process; its diagnostics must start with want. */
static void expect_diag(const char *text, const char *want)
{
    bool ok;
    char *out = fe_diags(text, &ok);
    ck_assert_msg(!ok, "accepted:\n%s", text);
    ck_assert_msg(strncmp(out, want, strlen(want)) == 0, "got:\n%s\nwant:\n%s", out, want);
    free(out);
}

START_TEST(size_products_refused_at_the_layer)
{
    expect_diag("model m(x: i32[4]) -> f32[4, 4] {\n    x -> embed(4611686018427387904, 4)\n}\n",
                "t.net:2:10: error: embed(4611686018427387904, 4): its weight would be f32[4611686018427387904, 4], "
                "more than 2147483647 values (2^31 - 1, what one kernel call indexes); make the layer smaller\n");
    expect_diag("model m(x: f32[2147483647]) -> f32[10] {\n    x -> dense(2147483647) -> dense(10)\n}\n",
                "t.net:2:10: error: dense(2147483647): its weight would be f32[2147483647, 2147483647], "
                "more than 2147483647 values (2^31 - 1, what one kernel call indexes); make the layer smaller\n");
    expect_diag("model m(x: f32[4]) -> f32[10] {\n    x -> dense(2147483648) -> dense(10)\n}\n",
                "t.net:2:10: error: dense(2147483648) gives f32[2147483648], more than 2147483647 values per "
                "sample (2^31 - 1, what one kernel call indexes); make the layer smaller\n");
    expect_diag("model m(x: f32[4, 8]) -> f32[10] {\n    x -> lstm(2147483647) -> dense(10)\n}\n",
                "t.net:2:10: error: lstm(2147483647) gives f32[4, 2147483647], more than 2147483647 values per "
                "sample (2^31 - 1, what one kernel call indexes); make the layer smaller\n");
    expect_diag("model m(x: f32[65536, 16]) -> f32[65536, 16] {\n    x -> attention(heads = 2)\n}\n",
                "t.net:2:10: error: attention(heads = 2): its scores (heads x T x T) would be more than 2147483647 "
                "values per sample (2^31 - 1, what one kernel call indexes); make the layer smaller\n");
}
END_TEST

START_TEST(dump_jit_into_a_file)
{
    const char *net = in_dir("m.net"), *file = in_dir("afile");
    write_text(net, tiny_net);
    write_text(file, "x");
    FeProc p;
    int rc = run(&p, 60, fe_netc(), "train", net, "--dump-jit", file, NULL);
    char want[600];
    snprintf(want, sizeof want, "netc: error: --dump-jit %s: is not a folder\n", file);
    expect_fail(&p, rc, want);
}
END_TEST

/* --------------------------------------------------------------- hangs */

START_TEST(devices_and_fifos_refused_not_read)
{
    const char *fifo = in_dir("fifo");
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    FeProc p;
    char want[600];
    snprintf(want, sizeof want, "netc: error: %s: is not a regular file (a device, FIFO or socket); give a file\n",
             fifo);
    expect_fail(&p, run(&p, 10, fe_netc(), "check", fifo, NULL), want);
    expect_fail(&p, run(&p, 10, fe_netc(), "check", "/dev/zero", NULL),
                "netc: error: /dev/zero: is not a regular file (a device, FIFO or socket); give a file\n");
    expect_fail(&p, run(&p, 10, fe_netc(), "check", "tests", NULL), "netc: error: tests: is a folder, not a file\n");

    char err[512];
    ck_assert_int_lt(rt_open_regular("/dev/urandom", err, sizeof err), 0);
    ck_assert_str_eq(err, "/dev/urandom: is not a regular file (a device, FIFO or socket); give a file");
}
END_TEST

/* ----------------------------------------------------------- data lost */

START_TEST(outputs_never_replace_inputs)
{
    const char *net = in_dir("m.net");
    write_text(net, tiny_net);
    FeProc p;
    char want[1200];
    snprintf(want, sizeof want,
             "netc: error: -o %s would overwrite the input file %s; choose another output name\n", net, net);
    expect_fail(&p, run(&p, 60, fe_netc(), "build", net, "-o", net, NULL), want);
    expect_fail(&p, run(&p, 60, fe_netc(), "check", net, "-o", net, NULL), want);
    /* another spelling of the same file */
    char other[600];
    snprintf(other, sizeof other, "%s/./m.net", dir);
    snprintf(want, sizeof want,
             "netc: error: -o %s would overwrite the input file %s; choose another output name\n", other, net);
    expect_fail(&p, run(&p, 60, fe_netc(), "check", net, "-o", other, NULL), want);
    ck_assert_str_eq(fe_slurp(net, NULL), tiny_net);

    /* the compiler itself, through a copy so a failure cannot break the
     * build tree */
    const char *copy = in_dir("netc");
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "cp %s %s", fe_netc(), copy);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(want, sizeof want, "netc: error: -o %s would overwrite the netc executable; choose another output name\n",
             copy);
    expect_fail(&p, run(&p, 60, copy, "build", net, "-o", copy, NULL), want);
}
END_TEST

START_TEST(outputs_checked_before_compiling)
{
    const char *net = in_dir("m.net");
    write_text(net, tiny_net);
    FeProc p;
    char want[1200];
    snprintf(want, sizeof want, "netc: error: -o %s/nonexistent/dir/m: the folder %s/nonexistent/dir does not exist\n",
             dir, dir);
    expect_fail(&p, run(&p, 60, fe_netc(), "build", net, "-o", in_dir("nonexistent/dir/m"), NULL), want);
    snprintf(want, sizeof want, "netc: error: -o %s: is a folder; give a file name\n", dir);
    expect_fail(&p, run(&p, 60, fe_netc(), "build", net, "-o", dir, NULL), want);
    expect_fail(&p, run(&p, 60, fe_netc(), "build", net, "-o", "/dev/null", NULL),
                "netc: error: -o /dev/null: is not a regular file (a device, FIFO or socket); refusing to replace it\n");
    const char *fifo = in_dir("fifo");
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    snprintf(want, sizeof want,
             "netc: error: -o %s: is not a regular file (a device, FIFO or socket); refusing to replace it\n", fifo);
    expect_fail(&p, run(&p, 60, fe_netc(), "check", net, "-o", fifo, NULL), want);
    struct stat st;
    ck_assert_int_eq(stat(fifo, &st), 0);
    ck_assert(S_ISFIFO(st.st_mode));
}
END_TEST

/* The atomic writer itself: never over a device node or FIFO, and it
 * removes what a killed writer of the same file left behind. */
START_TEST(atomic_writer_refuses_non_files_and_sweeps_temps)
{
    char err[512];
    const char *fifo = in_dir("fifo");
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    ck_assert_int_ne(rt_write_file_atomic(fifo, "x", 1, err, sizeof err), 0);
    char want[600];
    snprintf(want, sizeof want, "%s: is not a regular file (a device, FIFO or socket); refusing to replace it", fifo);
    ck_assert_str_eq(err, want);
    struct stat st;
    ck_assert_int_eq(stat(fifo, &st), 0);
    ck_assert(S_ISFIFO(st.st_mode));

    write_text(in_dir("w.safetensors.tmp-AbC123"), "left by kill -9");
    write_text(in_dir("w.safetensors.tmp-zz"), "not ours: kept");
    write_text(in_dir("other.tmp-AbC123"), "another file's: kept");
    ck_assert_int_eq(rt_write_file_atomic(in_dir("w.safetensors"), "new", 3, err, sizeof err), 0);
    ck_assert_int_ne(access(in_dir("w.safetensors.tmp-AbC123"), F_OK), 0);
    ck_assert_int_eq(access(in_dir("w.safetensors.tmp-zz"), F_OK), 0);
    ck_assert_int_eq(access(in_dir("other.tmp-AbC123"), F_OK), 0);
}
END_TEST

START_TEST(check_to_a_full_disk_fails)
{
    const char *net = in_dir("m.net");
    write_text(net, tiny_net);
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "timeout 60 %s check %s > /dev/full 2> %s", fe_netc(), net, in_dir("err"));
    int status = system(cmd);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 1);
    ck_assert_str_eq(fe_slurp(in_dir("err"), NULL),
                     "netc: error: writing to standard output: No space left on device\n");
}
END_TEST

/* ------------------------------------------------------------- litter */

/* SIGTERM during `netc build` (cc replaced by a script that sleeps and
 * records its pid): the cc child dies too, the temporary folder and the
 * half-made output are gone. */
START_TEST(build_interrupted_cleans_up)
{
    const char *net = in_dir("m.net"), *slow = in_dir("slowcc"), *pidfile = in_dir("cc.pid");
    write_text(net, tiny_net);
    char script[800];
    snprintf(script, sizeof script, "#!/bin/sh\necho $$ > %s\nexec sleep 60\n", pidfile);
    write_text(slow, script);
    ck_assert_int_eq(chmod(slow, 0755), 0);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        setenv("CC", slow, 1);
        setenv("TMPDIR", dir, 1);
        int null = open("/dev/null", O_RDWR);
        dup2(null, 1);
        dup2(null, 2);
        execl(fe_netc(), fe_netc(), "build", net, "-o", in_dir("m"), (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 2000 && access(pidfile, F_OK) != 0; i++)
        usleep(5000);
    usleep(50000);
    char *text = fe_slurp(pidfile, NULL);
    pid_t cc = (pid_t)atoi(text);
    free(text);
    ck_assert_int_gt(cc, 0);
    ck_assert_int_eq(kill(pid, SIGTERM), 0);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
    ck_assert_msg(kill(cc, 0) != 0, "cc (pid %d) outlived netc", (int)cc);
    /* only the test's own files are left */
    DIR *d = opendir(dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        ck_assert_msg(!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strcmp(e->d_name, "m.net") ||
                          !strcmp(e->d_name, "slowcc") || !strcmp(e->d_name, "cc.pid"),
                      "left behind: %s", e->d_name);
    closedir(d);
}
END_TEST

static Suite *reliability_suite(void)
{
    Suite *s = suite_create("reliability");
    TCase *tc = test_case("reliability");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, size_products_refused_at_the_layer);
    tcase_add_test(tc, dump_jit_into_a_file);
    tcase_add_test(tc, devices_and_fifos_refused_not_read);
    tcase_add_test(tc, outputs_never_replace_inputs);
    tcase_add_test(tc, outputs_checked_before_compiling);
    tcase_add_test(tc, atomic_writer_refuses_non_files_and_sweeps_temps);
    tcase_add_test(tc, check_to_a_full_disk_fails);
    tcase_add_test(tc, build_interrupted_cleans_up);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(reliability_suite)
