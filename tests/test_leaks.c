/* test_leaks.c — netc check of every example under valgrind: no definite
 * or indirect leaks and no memory errors. The compiler keeps everything in
 * one arena, so this holds that nothing escapes it. Skipped (with a
 * message) when valgrind is not installed, or when netc was built with
 * -fsanitize, whose runtime valgrind cannot run. */
#include "front.h"

static bool have_valgrind(void)
{
    if (access("/usr/bin/valgrind", X_OK) != 0) {
        fprintf(stderr, "test_leaks: /usr/bin/valgrind not found; skipping\n");
        return false;
    }
    if (strstr(fe_netc(), "build-asan")) {
        fprintf(stderr, "test_leaks: %s is built with -fsanitize; skipping valgrind\n", fe_netc());
        return false;
    }
    return true;
}

static const char *const examples[] = { "mlp", "lenet", "resnet", "charlstm", "gpt", "gan" };

START_TEST(test_examples_leak_free)
{
    if (!have_valgrind())
        return;
    char path[64];
    snprintf(path, sizeof path, "examples/%s.net", examples[_i]);
    char *argv[] = { (char *)"/usr/bin/valgrind", (char *)"-q", (char *)"--leak-check=full",
                     (char *)"--errors-for-leak-kinds=definite,indirect", (char *)"--error-exitcode=99",
                     (char *)fe_netc(), (char *)"check", path, NULL };
    FeProc p;
    fe_spawn(&p, argv, 200);
    int code = fe_exit_code(&p);
    ck_assert_msg(code == 0, "%s: valgrind exit %d\n%.4000s", path, code, p.err);
    fe_proc_free(&p);
}
END_TEST

/* The error path frees as much as the success path. */
START_TEST(test_error_path_leak_free)
{
    if (!have_valgrind())
        return;
    const char *src = "model m(x: f32[784]) -> f32[10] {\n    x -> dense(10) -> relu6\n}\ntrain m { epoch 5 }\n";
    char *path = fe_temp_file(src, strlen(src));
    char *argv[] = { (char *)"/usr/bin/valgrind", (char *)"-q", (char *)"--leak-check=full",
                     (char *)"--errors-for-leak-kinds=definite,indirect", (char *)"--error-exitcode=99",
                     (char *)fe_netc(), (char *)"check", path, NULL };
    FeProc p;
    fe_spawn(&p, argv, 200);
    ck_assert_msg(fe_exit_code(&p) == 1, "valgrind exit %d\n%.4000s", fe_exit_code(&p), p.err);
    fe_proc_free(&p);
    unlink(path);
    free(path);
}
END_TEST

static Suite *leaks_suite(void)
{
    Suite *s = suite_create("leaks");
    TCase *tc = test_case("valgrind");
    tcase_add_loop_test(tc, test_examples_leak_free, 0, (int)(sizeof examples / sizeof examples[0]));
    tcase_add_test(tc, test_error_path_leak_free);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(leaks_suite)
