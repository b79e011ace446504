/* test_rt_embed.c — the embedding lookup and its scatter-add gradient.
 *
 * Forward against indexing by hand, bit for bit; backward against a naive
 * loop over positions adding in the same order (so the same bits), with
 * ids that repeat within and across samples, rows no id names, and
 * accumulate; 1 vs 2 threads bitwise on a table large enough for many
 * tasks; and what an id outside [0, vocab) does: the forward aborts with a
 * message naming the id, its position and the vocabulary before writing
 * anything, the backward skips it and writes nothing outside the table.
 */
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "netrt.h"
#include "testutil.h"

/* ids in [0, vocab) with many repeats, from a fixed sequence */
static void fill_ids(int32_t *ids, int64_t n, int64_t vocab, uint32_t seed)
{
    uint32_t s = seed * 2654435761u + 7;
    for (int64_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        ids[i] = (int32_t)(s % (uint32_t)vocab);
    }
}

/* dw (vocab,dim) by hand: each position's row added in position order */
static void ref_backward(int64_t n, int64_t vocab, int64_t dim, const int32_t *ids, const float *dy, float *dw,
                         bool accumulate)
{
    if (!accumulate)
        memset(dw, 0, (size_t)(vocab * dim) * sizeof *dw);
    for (int64_t r = 0; r < n; r++)
        if (ids[r] >= 0 && ids[r] < vocab)
            for (int64_t j = 0; j < dim; j++)
                dw[ids[r] * dim + j] += dy[r * dim + j];
}

/* n, vocab, dim: one id; more positions than ids; wide rows; a big table */
static const int64_t cases[][3] = { { 1, 1, 1 }, { 18, 5, 4 }, { 64, 3, 129 }, { 300, 1000, 7 }, { 2048, 256, 128 } };
#define NCASES (int)(sizeof cases / sizeof cases[0])

START_TEST(test_embed_forward)
{
    for (int c = 0; c < NCASES; c++) {
        int64_t n = cases[c][0], vocab = cases[c][1], dim = cases[c][2];
        int32_t *ids = malloc((size_t)n * sizeof *ids);
        float *w = alloc_floats(vocab * dim), *out = alloc_floats(n * dim);
        ck_assert_ptr_nonnull(ids);
        fill_ids(ids, n, vocab, (uint32_t)c);
        ids[0] = (int32_t)(vocab - 1); /* the last row too */
        test_fill(w, vocab * dim, (uint32_t)c + 1);
        rt_embed_forward(n, vocab, dim, ids, w, out);
        for (int64_t r = 0; r < n; r++)
            CHECK_MSG(memcmp(out + r * dim, w + ids[r] * dim, (size_t)dim * sizeof *w) == 0,
                      "case %d: row %lld is not table row %d", c, (long long)r, ids[r]);
        free(ids), free(w), free(out);
    }
}
END_TEST

START_TEST(test_embed_backward)
{
    for (int c = 0; c < NCASES; c++) {
        int64_t n = cases[c][0], vocab = cases[c][1], dim = cases[c][2];
        int32_t *ids = malloc((size_t)n * sizeof *ids);
        float *dy = alloc_floats(n * dim), *dw = alloc_floats(vocab * dim), *want = alloc_floats(vocab * dim);
        ck_assert_ptr_nonnull(ids);
        fill_ids(ids, n, vocab, (uint32_t)c + 10);
        test_fill(dy, n * dim, (uint32_t)c + 20);
        /* garbage first: the kernel overwrites every row, named or not */
        test_fill(dw, vocab * dim, 99);
        rt_embed_backward(n, vocab, dim, ids, dy, dw, false);
        ref_backward(n, vocab, dim, ids, dy, want, false);
        CHECK_MSG(memcmp(dw, want, (size_t)(vocab * dim) * sizeof *dw) == 0, "case %d: dw differs", c);
        /* accumulate adds the same sums on top */
        rt_embed_backward(n, vocab, dim, ids, dy, dw, true);
        ref_backward(n, vocab, dim, ids, dy, want, true);
        CHECK_MSG(memcmp(dw, want, (size_t)(vocab * dim) * sizeof *dw) == 0, "case %d: accumulated dw differs", c);
        free(ids), free(dy), free(dw), free(want);
    }
}
END_TEST

/* The known case spelled out: ids 2, 0, 2 and 2 of a 4-row table. */
START_TEST(test_embed_backward_repeats)
{
    int32_t ids[4] = { 2, 0, 2, 2 };
    float dy[8] = { 1, 2, 10, 20, 100, 200, 1000, 2000 }, dw[8];
    rt_embed_backward(4, 4, 2, ids, dy, dw, false);
    float want[8] = { 10, 20, 0, 0, 1101, 2202, 0, 0 };
    for (int i = 0; i < 8; i++)
        CHECK_MSG(dw[i] == want[i], "dw[%d] = %g, want %g", i, (double)dw[i], (double)want[i]);
}
END_TEST

START_TEST(test_embed_threads_identical)
{
    const int64_t n = 16 * 128 * 4, vocab = 700, dim = 96;
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    float *w = alloc_floats(vocab * dim), *dy = alloc_floats(n * dim);
    float *out[2] = { alloc_floats(n * dim), alloc_floats(n * dim) };
    float *dw[2] = { alloc_floats(vocab * dim), alloc_floats(vocab * dim) };
    ck_assert_ptr_nonnull(ids);
    fill_ids(ids, n, 40, 3); /* 40 of the 700 ids, each hundreds of times */
    test_fill(w, vocab * dim, 4);
    test_fill(dy, n * dim, 5);
    for (int t = 0; t < 2; t++) {
        rt_threads_init(t + 1);
        rt_embed_forward(n, vocab, dim, ids, w, out[t]);
        rt_embed_backward(n, vocab, dim, ids, dy, dw[t], false);
    }
    CHECK(memcmp(out[0], out[1], (size_t)(n * dim) * sizeof(float)) == 0);
    CHECK(memcmp(dw[0], dw[1], (size_t)(vocab * dim) * sizeof(float)) == 0);
    float *want = alloc_floats(vocab * dim);
    ref_backward(n, vocab, dim, ids, dy, want, false);
    CHECK(memcmp(dw[0], want, (size_t)(vocab * dim) * sizeof(float)) == 0);
    free(ids), free(w), free(dy), free(want);
    for (int t = 0; t < 2; t++)
        free(out[t]), free(dw[t]);
    rt_threads_init(0);
}
END_TEST

/* Runs rt_embed_forward with one bad id in a child; returns its stderr and
 * tells whether it died of SIGABRT with the output still untouched (the
 * output lives in shared memory, so the parent sees what the child wrote). */
static char *forward_bad_id(int32_t bad, int at, bool *aborted, bool *untouched)
{
    enum { N = 6, VOCAB = 5, DIM = 3 };
    float *out = mmap(NULL, sizeof(float) * N * DIM, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert(out != MAP_FAILED);
    for (int i = 0; i < N * DIM; i++)
        out[i] = -42.0f;
    char path[] = "/tmp/netc-embed-err-XXXXXX";
    int fd = mkstemp(path);
    ck_assert(fd >= 0);
    fflush(stderr);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        dup2(fd, 2);
        int32_t ids[N] = { 0, 1, 2, 3, 4, 4 };
        ids[at] = bad;
        float w[VOCAB * DIM];
        test_fill(w, VOCAB * DIM, 1);
        rt_embed_forward(N, VOCAB, DIM, ids, w, out);
        _exit(0);
    }
    int status;
    ck_assert(waitpid(pid, &status, 0) == pid);
    *aborted = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
    *untouched = true;
    for (int i = 0; i < N * DIM; i++)
        *untouched &= out[i] == -42.0f;
    munmap(out, sizeof(float) * N * DIM);
    char *msg = calloc(1, 1024);
    ck_assert_ptr_nonnull(msg);
    ck_assert(lseek(fd, 0, SEEK_SET) == 0);
    ck_assert(read(fd, msg, 1023) >= 0);
    close(fd);
    unlink(path);
    return msg;
}

START_TEST(test_embed_forward_bad_id_aborts)
{
    static const int32_t bad[] = { 5, -1, 2147483647, -2147483647 - 1 };
    for (int k = 0; k < 4; k++) {
        bool aborted, untouched;
        char *msg = forward_bad_id(bad[k], 4, &aborted, &untouched);
        CHECK_MSG(aborted, "id %d: no abort (stderr: %s)", bad[k], msg);
        CHECK_MSG(untouched, "id %d: the output was written before the abort", bad[k]);
        char want[128];
        snprintf(want, sizeof want, "token id %d at position 4 is outside [0, 5)", bad[k]);
        CHECK_MSG(strstr(msg, want) != NULL, "message '%s' lacks '%s'", msg, want);
        free(msg);
    }
}
END_TEST

/* Bad ids in the backward add nothing, and nothing around the table moves. */
START_TEST(test_embed_backward_bad_ids_skipped)
{
    enum { VOCAB = 4, DIM = 3, GUARD = 64 };
    int32_t ids[6] = { 1, -1, 4, 1, 2147483647, 3 };
    float dy[6 * DIM];
    test_fill(dy, 6 * DIM, 8);
    float buf[GUARD + VOCAB * DIM + GUARD];
    for (int i = 0; i < (int)(sizeof buf / sizeof buf[0]); i++)
        buf[i] = 7.0f;
    float *dw = buf + GUARD, want[VOCAB * DIM];
    rt_embed_backward(6, VOCAB, DIM, ids, dy, dw, false);
    ref_backward(6, VOCAB, DIM, ids, dy, want, false);
    CHECK(memcmp(dw, want, sizeof want) == 0);
    for (int i = 0; i < GUARD; i++)
        CHECK(buf[i] == 7.0f && buf[GUARD + VOCAB * DIM + i] == 7.0f);
}
END_TEST

static Suite *embed_suite(void)
{
    Suite *s = suite_create("rt_embed");
    TCase *tc = test_case("embed");
    tcase_add_test(tc, test_embed_forward);
    tcase_add_test(tc, test_embed_backward);
    tcase_add_test(tc, test_embed_backward_repeats);
    tcase_add_test(tc, test_embed_threads_identical);
    tcase_add_test(tc, test_embed_forward_bad_id_aborts);
    tcase_add_test(tc, test_embed_backward_bad_ids_skipped);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(embed_suite)
