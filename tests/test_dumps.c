/* test_dumps.c — the -dF, -dP and -dL dumps of tests/data/dumps/small.net
 * against the expected files beside it, compared exactly: a change in
 * fusion, planning or lowering shows in review as a change of these files.
 * After an intended change, regenerate them with
 *   netc -dF emit tests/data/dumps/small.net -o /tmp/small > tests/data/dumps/small.F
 * (and -dP > small.P, -dL > small.L) and read the difference. */
#include "front.h"

#include <string.h>
#include <unistd.h>

static void check_dump(const char *flag, const char *expected_path)
{
    char dir[] = "/tmp/netc-dumps-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char out[64];
    snprintf(out, sizeof out, "%s/small", dir);
    char *argv[] = { (char *)fe_netc(), (char *)flag, (char *)"emit", (char *)"tests/data/dumps/small.net", (char *)"-o", out, NULL };
    FeProc p;
    fe_spawn(&p, argv, 60);
    ck_assert_int_eq(fe_exit_code(&p), 0);
    ck_assert_str_eq(p.err, "");
    char *want = fe_slurp(expected_path, NULL);
    /* the first differing line, for the failure message */
    const char *a = p.out, *b = want;
    int line = 1;
    while (*a && *a == *b) {
        line += *a == '\n';
        a++;
        b++;
    }
    ck_assert_msg(strcmp(p.out, want) == 0, "netc %s differs from %s at line %d:\n  got:  %.120s\n  want: %.120s", flag,
                  expected_path, line, a, b);
    free(want);
    fe_proc_free(&p);
    test_remove_tree(dir);
}

START_TEST(fused_groups) { check_dump("-dF", "tests/data/dumps/small.F"); }
END_TEST

START_TEST(memory_plan) { check_dump("-dP", "tests/data/dumps/small.P"); }
END_TEST

START_TEST(lir) { check_dump("-dL", "tests/data/dumps/small.L"); }
END_TEST

static Suite *dumps_suite(void)
{
    Suite *s = suite_create("dumps");
    TCase *tc = test_case("expected dumps");
    tcase_add_test(tc, fused_groups);
    tcase_add_test(tc, memory_plan);
    tcase_add_test(tc, lir);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(dumps_suite)
