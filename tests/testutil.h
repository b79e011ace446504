/* testutil.h — what every Check suite here shares. */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

/* A test case with a timeout generous enough for -fsanitize builds. */
static inline TCase *test_case(const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, 240);
    return tc;
}

/* Deterministic fill in [-1, 1) for test inputs (not the runtime's RNG, so
 * tests do not depend on what they test). */
static inline void test_fill(float *x, int64_t n, uint32_t seed)
{
    uint32_t s = seed * 2654435761u + 1;
    for (int64_t i = 0; i < n; i++) {
        s ^= s << 13; s ^= s >> 17; s ^= s << 5;
        x[i] = (float)((s >> 8) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
    }
}

/* |a - b| <= atol + rtol * |b| */
static inline int test_close(double a, double b, double atol, double rtol)
{
    return fabs(a - b) <= atol + rtol * fabs(b);
}

/* Check's assertions cost a function call each even when they pass,
 * which shows in loops over millions of elements: test first. */
#define CHECK(cond)              \
    do {                         \
        if (!(cond))             \
            ck_assert(cond);     \
    } while (0)
#define CHECK_MSG(cond, ...)                  \
    do {                                      \
        if (!(cond))                          \
            ck_assert_msg(cond, __VA_ARGS__); \
    } while (0)

static inline float *alloc_floats(int64_t n)
{
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
    ck_assert_ptr_nonnull(p);
    return p;
}

#ifdef NETRT_H
/* Runs the loop body once per instruction-set path this CPU can run,
 * with that path selected. */
static inline bool use_isa(int isa)
{
    if (isa > (int)rt_cpu_best_isa())
        return false;
    CHECK_MSG(rt_isa_set((rt_isa)isa), "cannot set isa %d", isa);
    return true;
}

#define FOR_EACH_ISA(isa) for (int isa = RT_ISA_PORTABLE; use_isa(isa); isa++)
#endif

#define TEST_MAIN(make_suite)                                   \
    int main(void)                                              \
    {                                                           \
        SRunner *runner = srunner_create(make_suite());         \
        srunner_run_all(runner, CK_NORMAL);                     \
        int failed = srunner_ntests_failed(runner);             \
        srunner_free(runner);                                   \
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;            \
    }

#endif
