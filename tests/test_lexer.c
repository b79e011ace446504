/* test_lexer.c — tokens of .net files, seen through the parser's AST:
 * numbers, strings and their escapes, comments, keywords, identifiers,
 * white space and line endings, and the lexer's own errors. */
#include "front.h"

/* The value of `const K = <text>` as the parser made it. */
static const Ast *const_value(FeRun *r, const char *text)
{
    char src[512];
    snprintf(src, sizeof src, "const K = %s\n", text);
    fe_open_n(r, src, strlen(src), FE_PARSE);
    ck_assert_msg(r->ok, "%s: %s", text, r->out);
    ck_assert_int_eq(r->c.decls.count, 1);
    return r->c.decls.items[0]->lhs;
}

START_TEST(test_integers)
{
    FeRun r;
    const Ast *v = const_value(&r, "42");
    ck_assert_int_eq(v->kind, AST_INT);
    ck_assert_int_eq(v->ival, 42);
    fe_close(&r);
    v = const_value(&r, "9223372036854775807");
    ck_assert_int_eq(v->kind, AST_INT);
    ck_assert(v->ival == INT64_MAX);
    fe_close(&r);
    v = const_value(&r, "007");
    ck_assert_int_eq(v->kind, AST_INT);
    ck_assert_int_eq(v->ival, 7); /* decimal, not octal */
    fe_close(&r);
}
END_TEST

START_TEST(test_floats)
{
    static const struct { const char *text; double want; } cases[] = {
        { "1e-3", 1e-3 }, { "1E+2", 100 }, { "2e5", 2e5 }, { ".5", 0.5 }, { "3.", 3.0 },
        { "3.25", 3.25 }, { "0.0", 0 }, { ".5e1", 5 }, { "1.5e-2", 0.015 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        FeRun r;
        const Ast *v = const_value(&r, cases[i].text);
        ck_assert_msg(v->kind == AST_FLOAT, "%s is not a float literal", cases[i].text);
        ck_assert_msg(v->fval == cases[i].want, "%s gave %g", cases[i].text, v->fval);
        fe_close(&r);
    }
}
END_TEST

/* 1/255 is not a literal: it is a division of two integers, folded later. */
START_TEST(test_fraction_is_expression)
{
    FeRun r;
    const Ast *v = const_value(&r, "1/255");
    ck_assert_int_eq(v->kind, AST_BINARY);
    ck_assert_int_eq(v->op, '/');
    ck_assert_int_eq(v->lhs->kind, AST_INT);
    ck_assert_int_eq(v->rhs->kind, AST_INT);
    ck_assert_int_eq(v->rhs->ival, 255);
    fe_close(&r);
    /* A negative number is unary minus on a literal. */
    v = const_value(&r, "-1");
    ck_assert_int_eq(v->kind, AST_NEG);
    ck_assert_int_eq(v->lhs->ival, 1);
    fe_close(&r);
}
END_TEST

START_TEST(test_string_escapes)
{
    FeRun r;
    const Ast *v = const_value(&r, "\"a\\\"b\\\\c\\nd\\te\"");
    ck_assert_int_eq(v->kind, AST_STRING);
    ck_assert_str_eq(v->str, "a\"b\\c\nd\te");
    fe_close(&r);
    v = const_value(&r, "\"\"");
    ck_assert_str_eq(v->str, "");
    fe_close(&r);
    /* UTF-8 in strings is kept as is; '#' inside a string is no comment. */
    v = const_value(&r, "\"caf\xc3\xa9 # not a comment\"");
    ck_assert_str_eq(v->str, "caf\xc3\xa9 # not a comment");
    fe_close(&r);
}
END_TEST

START_TEST(test_bad_escape_and_unterminated)
{
    char *out = fe_ast("const K = \"a\\zb\"\n");
    ck_assert_str_eq(out,
        "ERROR\n"
        "t.net:1:13: error: unknown escape sequence '\\z'; use \\\\ for a backslash\n"
        "    1 | const K = \"a\\zb\"\n"
        "      |             ^~\n");
    free(out);
    out = fe_ast("const K = \"abc\n");
    ck_assert_ptr_nonnull(strstr(out, "t.net:1:11: error: missing terminating '\"' character\n"));
    free(out);
}
END_TEST

START_TEST(test_comments)
{
    char *out = fe_ast("# model in a comment is not a keyword\n"
                       "const A = 1 # trailing\n"
                       "#\n"
                       "const B = 2#no space\n"
                       "# last line without a newline");
    ck_assert_str_eq(out, "const A = 1\nconst B = 2\n");
    free(out);
}
END_TEST

/* Keywords are reserved; identifiers that merely start with one are not. */
START_TEST(test_keywords)
{
    static const char *const kws[] = { "model", "layer", "train", "return", "repeat", "const", "true", "false" };
    for (size_t i = 0; i < sizeof kws / sizeof kws[0]; i++) {
        char src[64];
        snprintf(src, sizeof src, "const %s = 1\n", kws[i]);
        bool ok;
        char *out = fe_diags(src, &ok);
        ck_assert_msg(!ok && strstr(out, "t.net:1:7: error: expected identifier before"), "%s: %s", kws[i], out);
        free(out);
    }
    char *out = fe_ast("const models = 1\nconst layer_2 = 2\nconst _train = 3\nconst Truth = true\nconst F = false\n");
    ck_assert_str_eq(out, "const models = 1\nconst layer_2 = 2\nconst _train = 3\nconst Truth = true\nconst F = false\n");
    free(out);
}
END_TEST

START_TEST(test_punctuation_and_arrow)
{
    /* "->" is one token; "- >" is not an arrow. */
    char *out = fe_ast("model m(x: f32[2]) { x->relu }\n");
    ck_assert_str_eq(out, "model m(x: f32[2]) {\n    (x -> relu)\n}\n");
    free(out);
    bool ok;
    out = fe_diags("model m(x: f32[2]) { x - > relu }\n", &ok);
    ck_assert(!ok);
    ck_assert_ptr_nonnull(strstr(out, "unexpected character '>'"));
    free(out);
}
END_TEST

/* CRLF and tabs are white space; lines and columns still come out right. */
START_TEST(test_line_endings)
{
    bool ok;
    char *out = fe_diags("model m(x: f32[4]) -> f32[4] {\r\n\tx -> relu6\r\n}\r\n", &ok);
    ck_assert(!ok);
    ck_assert_str_eq(out,
        "t.net:2:7: error: unknown layer 'relu6'; did you mean 'relu'?\n"
        "    2 | \tx -> relu6 \n"
        "      | \t     ^~~~~\n");
    free(out);
}
END_TEST

START_TEST(test_identifier_length)
{
    char src[600], name[300];
    memset(name, 'a', 255);
    name[255] = '\0';
    snprintf(src, sizeof src, "const %s = 1\n", name);
    FeRun r;
    fe_open_n(&r, src, strlen(src), FE_PARSE);
    ck_assert(r.ok);
    ck_assert_int_eq((int)strlen(r.c.decls.items[0]->name), 255);
    fe_close(&r);
    name[255] = 'b';
    name[256] = '\0';
    snprintf(src, sizeof src, "const %s = 1\n", name);
    bool ok;
    char *out = fe_diags(src, &ok);
    ck_assert(!ok);
    ck_assert_ptr_nonnull(strstr(out, "t.net:1:7: error: identifier is 256 characters long; names are limited to 255\n"));
    free(out);
}
END_TEST

START_TEST(test_bad_characters)
{
    bool ok;
    char *out = fe_diags("const A = 1 @\n", &ok);
    ck_assert_str_eq(out,
        "t.net:1:13: error: unexpected character '@'\n"
        "    1 | const A = 1 @\n"
        "      |             ^\n");
    free(out);
    /* A lexer error does not hide a later one. */
    out = fe_diags("const A = 1 ?\nconst B = 2 !\n", &ok);
    ck_assert(!ok);
    ck_assert_ptr_nonnull(strstr(out, "t.net:1:13: error: unexpected character '?'"));
    ck_assert_ptr_nonnull(strstr(out, "t.net:2:13: error: unexpected character '!'"));
    free(out);
    /* UTF-8 in comments is fine; outside comments and strings it is not. */
    out = fe_ast("# \xce\xbb and \xe2\x86\x92 are fine here\nconst A = 1\n");
    ck_assert_str_eq(out, "const A = 1\n");
    free(out);
    out = fe_diags("const \xce\xbb = 1\n", &ok);
    ck_assert(!ok);
    ck_assert_ptr_nonnull(strstr(out, "t.net:1:7: error: unexpected character '\xce\xbb' in program text\n"));
    free(out);
}
END_TEST

static Suite *lexer_suite(void)
{
    Suite *s = suite_create("lexer");
    TCase *tc = test_case("tokens");
    tcase_add_test(tc, test_integers);
    tcase_add_test(tc, test_floats);
    tcase_add_test(tc, test_fraction_is_expression);
    tcase_add_test(tc, test_string_escapes);
    tcase_add_test(tc, test_bad_escape_and_unterminated);
    tcase_add_test(tc, test_comments);
    tcase_add_test(tc, test_keywords);
    tcase_add_test(tc, test_punctuation_and_arrow);
    tcase_add_test(tc, test_line_endings);
    tcase_add_test(tc, test_identifier_length);
    tcase_add_test(tc, test_bad_characters);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(lexer_suite)
