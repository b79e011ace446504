/* test_fuzz_replay.c — every fuzz target (fuzz/fuzz_*.c, built as a plain
 * program by gcc) over its corpus in fuzz/corpus/NAME: the seeds and every
 * input that once crashed, each under a time bound. */
#include "front.h"

static void replay(const char *target)
{
    const char *build = getenv("BUILD") && *getenv("BUILD") ? getenv("BUILD") : "build";
    char prog[512], corpus[512];
    snprintf(prog, sizeof prog, "%s/fuzz/replay_%s", build, target);
    snprintf(corpus, sizeof corpus, "fuzz/corpus/%s", target);
    char *argv[] = { prog, corpus, NULL };
    FeProc p;
    fe_spawn(&p, argv, 120);
    ck_assert_msg(!p.timed_out, "%s hung on %s", prog, corpus);
    ck_assert_msg(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0, "%s over %s failed (status %d):\n%.3000s", prog,
                  corpus, p.status, p.err);
    fe_proc_free(&p);
}

START_TEST(front) { replay("front"); }
END_TEST
START_TEST(safetensors) { replay("safetensors"); }
END_TEST
START_TEST(data) { replay("data"); }
END_TEST
START_TEST(resume) { replay("resume"); }
END_TEST

static Suite *fuzz_replay_suite(void)
{
    Suite *s = suite_create("fuzz_replay");
    TCase *tc = test_case("corpus");
    tcase_add_test(tc, front);
    tcase_add_test(tc, safetensors);
    tcase_add_test(tc, data);
    tcase_add_test(tc, resume);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(fuzz_replay_suite)
