/* testutil.h — what every Check suite here shares. */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* Removes a folder and all it holds; read-only folders (tests make them)
 * are made writable first. */
static inline void test_remove_tree(const char *path)
{
    DIR *dir = opendir(path);
    if (!dir)
        return;
    chmod(path, 0755);
    struct dirent *d;
    while ((d = readdir(dir)) != NULL) {
        if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
            continue;
        char child[4096];
        struct stat st;
        if (snprintf(child, sizeof child, "%s/%s", path, d->d_name) >= (int)sizeof child)
            continue;
        if (lstat(child, &st) == 0 && S_ISDIR(st.st_mode))
            test_remove_tree(child);
        else
            unlink(child);
    }
    closedir(dir);
    rmdir(path);
}

/* dir/name in one of 16 rotating buffers, so several can be alive in one
 * expression. */
static inline const char *test_path_in(const char *dir, const char *name)
{
    static char bufs[16][512];
    static int next;
    char *buf = bufs[next++ % 16];
    snprintf(buf, 512, "%s/%s", dir, name);
    return buf;
}

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
