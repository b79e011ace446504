/* test_malformed.c — a malformed file never crashes or hangs the
 * compiler: it exits 1 (not a signal) with a diagnostic naming the file.
 * Large inputs run netc as a subprocess with a timeout; the many small
 * ones (every prefix of an example) run in process. */
#include "front.h"

/* netc check on `bytes`: exit 1, a diagnostic that names the file. */
static void rejects(const char *what, const char *bytes, size_t len)
{
    char *path = fe_temp_file(bytes, len);
    FeProc p;
    fe_netc_run(&p, "check", path, NULL, NULL);
    int code = fe_exit_code(&p);
    ck_assert_msg(code == 1, "%s: exit %d\n%.2000s", what, code, p.err);
    ck_assert_msg(strstr(p.err, path) != NULL, "%s: stderr does not name the file:\n%.2000s", what, p.err);
    ck_assert_msg(strstr(p.err, "error") != NULL, "%s: no error on stderr", what);
    fe_proc_free(&p);
    unlink(path);
    free(path);
}

static char *random_bytes(size_t n, uint32_t seed)
{
    char *b = malloc(n);
    ck_assert_ptr_nonnull(b);
    uint32_t s = seed;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        b[i] = (char)(s >> 24);
    }
    return b;
}

START_TEST(test_binary_garbage)
{
    size_t n = 1 << 20;
    char *b = random_bytes(n, 12345);
    rejects("1 MB of random bytes", b, n);
    /* Printable garbage reaches the parser rather than the lexer. */
    for (size_t i = 0; i < n; i++)
        b[i] = "(){}[]->:=,;+*/ x1.e\"#\n"[(unsigned char)b[i] % 23];
    rejects("1 MB of punctuation", b, n);
    free(b);
}
END_TEST

/* Every prefix of an example, in process: errors or a clean program, never
 * a crash; a prefix that fails has at least one error counted. */
START_TEST(test_truncated_examples)
{
    static const char *const names[] = { "examples/mlp.net", "examples/gan.net" };
    for (size_t e = 0; e < sizeof names / sizeof names[0]; e++) {
        size_t len;
        char *text = fe_slurp(names[e], &len);
        for (size_t n = 0; n <= len; n++) {
            FILE *sink = fopen("/dev/null", "w");
            Compiler c;
            compiler_init(&c, "t.net", text, n, sink);
            bool ok = compile_front(&c);
            ck_assert_msg(ok || c.diag.errors > 0, "%s: prefix %zu failed without an error", names[e], n);
            compiler_free(&c);
            fclose(sink);
        }
        free(text);
    }
}
END_TEST

START_TEST(test_huge_line_refused)
{
    size_t n = 100u << 20;
    char *b = malloc(n);
    ck_assert_ptr_nonnull(b);
    memset(b, 'x', n);
    char *path = fe_temp_file(b, n);
    free(b);
    FeProc p;
    fe_netc_run(&p, "check", path, NULL, NULL);
    ck_assert_int_eq(fe_exit_code(&p), 1);
    char want[512];
    snprintf(want, sizeof want, "netc: error: %s: file is larger than 16 MiB; a .net file is a short program, not data\n", path);
    ck_assert_str_eq(p.err, want);
    fe_proc_free(&p);
    unlink(path);
    free(path);
}
END_TEST

/* A 1 MB comment is only a long comment. */
START_TEST(test_long_comment_is_fine)
{
    const char *model = "\nmodel m(x: f32[4]) -> f32[2] { x -> dense(2) }\n";
    size_t n = 1 << 20, ml = strlen(model);
    char *b = malloc(n + ml);
    ck_assert_ptr_nonnull(b);
    b[0] = '#';
    memset(b + 1, 'c', n - 1);
    memcpy(b + n, model, ml);
    char *path = fe_temp_file(b, n + ml);
    free(b);
    FeProc p;
    fe_netc_run(&p, "check", path, NULL, NULL);
    ck_assert_msg(fe_exit_code(&p) == 0, "%s", p.err);
    ck_assert_ptr_nonnull(strstr(p.out, "  parameters: 10 (40 B as f32)\n"));
    fe_proc_free(&p);
    unlink(path);
    free(path);
}
END_TEST

/* `prefix` + `unit` * count + `suffix` as a file's bytes. */
static char *repeated(const char *prefix, const char *unit, size_t count, const char *mid, const char *unit2,
                      const char *suffix, size_t *len)
{
    size_t pl = strlen(prefix), ul = strlen(unit), ml = strlen(mid), u2 = strlen(unit2), sl = strlen(suffix);
    size_t n = pl + ul * count + ml + u2 * count + sl;
    char *b = malloc(n + 1), *o = b;
    ck_assert_ptr_nonnull(b);
    memcpy(o, prefix, pl), o += pl;
    for (size_t i = 0; i < count; i++)
        memcpy(o, unit, ul), o += ul;
    memcpy(o, mid, ml), o += ml;
    for (size_t i = 0; i < count; i++)
        memcpy(o, unit2, u2), o += u2;
    memcpy(o, suffix, sl), o += sl;
    *o = '\0';
    *len = n;
    return b;
}

START_TEST(test_deep_nesting)
{
    size_t len;
    char *b = repeated("model m(x: f32[4]) { ", "(", 100000, "x", ")", " }\n", &len);
    rejects("100k nested parentheses", b, len);
    free(b);
    b = repeated("model m(x: f32[4]) { ", "relu(", 100000, "x", ")", " }\n", &len);
    rejects("100k nested calls", b, len);
    free(b);
    b = repeated("model m(x: f32[4]) { ", "-", 100000, "x", "", " }\n", &len);
    rejects("100k unary minus", b, len);
    free(b);
    b = repeated("model m(x: f32[4]) { ", "x + ", 100000, "x", "", " }\n", &len);
    rejects("a sum of 100k terms", b, len);
    free(b);
    b = repeated("const A = ", "[", 100000, "1", "]", "\n", &len);
    rejects("100k nested lists", b, len);
    free(b);
}
END_TEST

/* A chain of 100k stages is flat and valid: it compiles, quickly. */
START_TEST(test_long_chain)
{
    size_t len;
    char *b = repeated("model m(x: f32[4]) { x", " -> relu", 100000, "", "", " }\n", &len);
    char *path = fe_temp_file(b, len);
    free(b);
    FeProc p;
    fe_netc_run(&p, "check", path, NULL, NULL);
    ck_assert_msg(fe_exit_code(&p) == 0, "%.2000s", p.err);
    ck_assert_ptr_nonnull(strstr(p.out, "\n  relu100000  relu   f32[4]  "));
    fe_proc_free(&p);
    unlink(path);
    free(path);
    /* And with an error at the end, exits 1. */
    b = repeated("model m(x: f32[4]) { x", " -> relu", 100000, " -> relu6", "", " }\n", &len);
    rejects("100k stages then an unknown layer", b, len);
    free(b);
}
END_TEST

START_TEST(test_bad_bytes)
{
#define B(literal) literal, sizeof(literal) - 1
    static const struct { const char *what; const char *bytes; size_t len; } cases[] = {
        { "invalid UTF-8 in code", B("model m(x: f32[4]) { x \xc3\x28 }\n") },
        { "invalid UTF-8 in a comment", B("# \xff\xfe\nmodel m(x: f32[4]) { x }\n") },
        { "invalid UTF-8 in a string", B("model m(x: f32[4]) { x }\ntrain m { data idx(\"\xe2\x82\") }\n") },
        { "an overlong encoding", B("# \xc0\xaf\nmodel m(x: f32[4]) { x }\n") },
        { "a surrogate", B("# \xed\xa0\x80\nmodel m(x: f32[4]) { x }\n") },
        { "NUL bytes", B("model m(x: f32[4]) {\0\0 x }\n") },
        { "a NUL in a string", B("model m(x: f32[4]) { x }\ntrain m { data idx(\"a\0b\") }\n") },
        { "an empty file", B("") },
        { "only white space and comments", B("  \n\t# nothing\n\n") },
        { "a lone quote", B("\"") },
    };
#undef B
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        rejects(cases[i].what, cases[i].bytes, cases[i].len);
}
END_TEST

START_TEST(test_empty_file_message)
{
    char *path = fe_temp_file("", 0);
    FeProc p;
    fe_netc_run(&p, "check", path, NULL, NULL);
    ck_assert_int_eq(fe_exit_code(&p), 1);
    char want[512];
    snprintf(want, sizeof want,
             "%s: error: no model is declared; a .net file needs at least one 'model NAME(x: f32[N]) { ... }'\n"
             "1 error generated.\n", path);
    ck_assert_str_eq(p.err, want);
    fe_proc_free(&p);
    unlink(path);
    free(path);
}
END_TEST

START_TEST(test_not_a_file)
{
    FeProc p;
    fe_netc_run(&p, "check", "tests/", NULL, NULL);
    ck_assert_int_eq(fe_exit_code(&p), 1);
    ck_assert_str_eq(p.err, "netc: error: tests/: is a folder, not a file\n");
    fe_proc_free(&p);
    fe_netc_run(&p, "check", "no-such-file.net", NULL, NULL);
    ck_assert_int_eq(fe_exit_code(&p), 1);
    ck_assert_str_eq(p.err, "netc: error: no-such-file.net: No such file or directory\n");
    fe_proc_free(&p);
}
END_TEST

static Suite *malformed_suite(void)
{
    Suite *s = suite_create("malformed");
    TCase *tc = test_case("inputs");
    tcase_add_test(tc, test_binary_garbage);
    tcase_add_test(tc, test_truncated_examples);
    tcase_add_test(tc, test_huge_line_refused);
    tcase_add_test(tc, test_long_comment_is_fine);
    tcase_add_test(tc, test_deep_nesting);
    tcase_add_test(tc, test_long_chain);
    tcase_add_test(tc, test_bad_bytes);
    tcase_add_test(tc, test_empty_file_message);
    tcase_add_test(tc, test_not_a_file);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(malformed_suite)
