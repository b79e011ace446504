/* test_parser.c — every construct of the language, checked through the
 * canonical text of ast_dump: binary operators and chains are shown fully
 * parenthesised, so precedence and grouping are visible. */
#include "front.h"

/* The dump of a model whose body is `body`. */
static void body_is(const char *body, const char *want_body)
{
    char src[2048], want[2048];
    snprintf(src, sizeof src, "model m(x: f32[4]) {\n%s\n}\n", body);
    snprintf(want, sizeof want, "model m(x: f32[4]) {\n%s}\n", want_body);
    char *out = fe_ast(src);
    ck_assert_msg(strcmp(out, want) == 0, "source:\n%s\nwant:\n%s\ngot:\n%s", src, want, out);
    free(out);
}

static void dump_is(const char *src, const char *want)
{
    char *out = fe_ast(src);
    ck_assert_msg(strcmp(out, want) == 0, "source:\n%s\nwant:\n%s\ngot:\n%s", src, want, out);
    free(out);
}

START_TEST(test_precedence)
{
    body_is("a + b -> relu", "    ((a + b) -> relu)\n");
    body_is("a -> relu + b", "    ((a -> relu) + b)\n");
    body_is("a + b * c", "    (a + (b * c))\n");
    body_is("a * b + c", "    ((a * b) + c)\n");
    body_is("a - b - c", "    ((a - b) - c)\n");
    body_is("a / b / c", "    ((a / b) / c)\n");
    body_is("(a + b) * c", "    ((a + b) * c)\n");
    body_is("-a * b", "    (-a * b)\n");
    body_is("- -a", "    --a\n");
    body_is("-a -> relu", "    (-a -> relu)\n");
    body_is("a * -b", "    (a * -b)\n");
    body_is("a + (b -> relu) * 2", "    (a + ((b -> relu) * 2))\n");
}
END_TEST

/* Newlines are white space: `x = a - b` is one statement whether or not
 * the `- b` is on the same line, and so is a chain over several lines. */
START_TEST(test_statements)
{
    body_is("x = a - b", "    x = (a - b)\n");
    body_is("x = a\n    - b", "    x = (a - b)\n");
    body_is("x = a\ny = b\ny", "    x = a\n    y = b\n    y\n");
    body_is("x = a; y = b; return y", "    x = a\n    y = b\n    return y\n");
    body_is(";;x;", "    x\n");
    body_is("x = x + 1\nx = x * 2\nx", "    x = (x + 1)\n    x = (x * 2)\n    x\n");
    body_is("x -> dense(8)\n  -> relu\n  -> dense(4)", "    (x -> dense(8) -> relu -> dense(4))\n");
    body_is("f (x)", "    f(x)\n");
    body_is("return x -> relu", "    return (x -> relu)\n");
}
END_TEST

START_TEST(test_calls_and_stages)
{
    body_is("x -> dense(10, bias = false)", "    (x -> dense(10, bias = false))\n");
    body_is("x -> fc1: dense(10)", "    (x -> fc1: dense(10))\n");
    body_is("x -> act: relu", "    (x -> act: relu())\n");
    body_is("x -> repeat 3 blk(heads = 4)", "    (x -> repeat 3 blk(heads = 4))\n");
    body_is("x -> repeat 2 relu", "    (x -> repeat 2 relu)\n");
    body_is("x -> repeat N b: blk()", "    (x -> repeat N b: blk())\n");
    body_is("x -> repeat (2 * L) blk", "    (x -> repeat (2 * L) blk)\n");
    body_is("x -> reshape([2, 2]) -> reshape(4)", "    (x -> reshape([2, 2]) -> reshape(4))\n");
    body_is("concat(a, b, axis = -1)", "    concat(a, b, axis = -1)\n");
    body_is("y = head: dense(x, 4)", "    y = head: dense(x, 4)\n");
    body_is("attention(x, 4, causal)", "    attention(x, 4, causal)\n");
    body_is("f()", "    f()\n");
    body_is("f(a, b,)", "    f(a, b)\n");
    body_is("[]", "    []\n");
    body_is("[1, 2.5, \"s\", true, false,]", "    [1, 2.5, \"s\", true, false]\n");
}
END_TEST

START_TEST(test_declarations)
{
    dump_is("const N = 4\nconst R = 1/255\nconst S = \"x\"\nconst B = true\n",
            "const N = 4\nconst R = (1 / 255)\nconst S = \"x\"\nconst B = true\n");
    dump_is("layer blk(x: f32[T, D], heads: int, rate: float = 0.1, on: bool = true, pad: string = \"same\",) -> f32[T, D] {\n"
            "    return x\n}\n",
            "layer blk(x: f32[T, D], heads: int, rate: float = 0.1, on: bool = true, pad: string = \"same\") -> f32[T, D] {\n"
            "    return x\n}\n");
    dump_is("model m(tok: i32[8], z: f32[4, 2,]) -> f32[8, 16] { z }\n",
            "model m(tok: i32[8], z: f32[4, 2]) -> f32[8, 16] {\n    z\n}\n");
    dump_is("model m(x: f32[4]) { }\n", "model m(x: f32[4]) {\n}\n");
    dump_is("model m(x: f32[2 * N, N / 2]) { x }\n", "model m(x: f32[(2 * N), (N / 2)]) {\n    x\n}\n");
    dump_is("", "");
}
END_TEST

START_TEST(test_train_block)
{
    dump_is("train m {\n"
            "    data idx(\"a\", \"b\", scale = 1/255, shift = -1); test csv(\"t.csv\", label_column = 0, header = true)\n"
            "    loss cross_entropy\n"
            "    optimizer sgd(lr = 0.1, momentum = 0.9, nesterov = true)\n"
            "    schedule step(every = 10, gamma = 0.5)\n"
            "    batch 4 epochs 2 steps 10 seed 3 clip 1.5\n"
            "    noise uniform(8)\n"
            "    augment { flip_horizontal; shift(2)\n"
            "              rotate(10) scale(0.9, 1.1) }\n"
            "    augment { }\n"
            "    step D { loss bce(D(real), 1) + bce(D(G(noise)), 0)  optimizer adam(lr = 2e-4, beta1 = 0.5) }\n"
            "    step G { loss bce(D(G(noise)), 1); optimizer adam }\n"
            "}\n",
            "train m {\n"
            "    data idx(\"a\", \"b\", scale = (1 / 255), shift = -1)\n"
            "    test csv(\"t.csv\", label_column = 0, header = true)\n"
            "    loss cross_entropy\n"
            "    optimizer sgd(lr = 0.1, momentum = 0.9, nesterov = true)\n"
            "    schedule step(every = 10, gamma = 0.5)\n"
            "    batch 4\n"
            "    epochs 2\n"
            "    steps 10\n"
            "    seed 3\n"
            "    clip 1.5\n"
            "    noise uniform(8)\n"
            "    augment {\n"
            "        flip_horizontal\n"
            "        shift(2)\n"
            "        rotate(10)\n"
            "        scale(0.9, 1.1)\n"
            "    }\n"
            "    augment {\n"
            "    }\n"
            "    step D {\n"
            "        loss (bce(D(real), 1) + bce(D(G(noise)), 0))\n"
            "        optimizer adam(lr = 0.0002, beta1 = 0.5)\n"
            "    }\n"
            "    step G {\n"
            "        loss bce(D(G(noise)), 1)\n"
            "        optimizer adam\n"
            "    }\n"
            "}\n");
}
END_TEST

/* Every example parses, and its dump parses again to the same dump. */
START_TEST(test_examples_round_trip)
{
    static const char *const names[] = { "mlp", "lenet", "resnet", "charlstm", "gpt", "gan" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[64];
        snprintf(path, sizeof path, "examples/%s.net", names[i]);
        size_t len;
        char *text = fe_slurp(path, &len);
        char *once = fe_ast(text);
        ck_assert_msg(strncmp(once, "ERROR", 5) != 0, "%s: %s", path, once);
        char *twice = fe_ast(once);
        ck_assert_msg(strcmp(once, twice) == 0, "%s: dump does not round-trip:\n%s\n---\n%s", path, once, twice);
        free(text);
        free(once);
        free(twice);
    }
}
END_TEST

START_TEST(test_gpt_block)
{
    size_t len;
    char *text = fe_slurp("examples/gpt.net", &len);
    char *out = fe_ast(text);
    ck_assert_ptr_nonnull(strstr(out,
        "layer block(x: f32[T, D], heads: int) {\n"
        "    x = (x + (x -> layernorm -> attention(heads, causal)))\n"
        "    return (x + (x -> layernorm -> dense((4 * D)) -> gelu -> dense(D)))\n"
        "}\n"));
    ck_assert_ptr_nonnull(strstr(out, "    (h -> repeat 4 block(heads = 4) -> layernorm -> dense(VOCAB))\n"));
    free(text);
    free(out);
}
END_TEST

/* After a syntax error the parser skips to the next '}' and goes on, so a
 * later declaration's error is reported too. */
START_TEST(test_error_recovery)
{
    bool ok;
    char *out = fe_diags("model a(x: f32[4]) { x -> dense(4 }\n"
                         "model b(x: f32[4]) { x -> ) }\n"
                         "const C = 1\n", &ok);
    ck_assert(!ok);
    ck_assert_str_eq(out,
        "t.net:1:35: error: expected ')' before '}'\n"
        "    1 | model a(x: f32[4]) { x -> dense(4 }\n"
        "      |                                   ^\n"
        "t.net:2:27: error: expected identifier or 'repeat' before ')'\n"
        "    2 | model b(x: f32[4]) { x -> ) }\n"
        "      |                           ^\n");
    free(out);
}
END_TEST

START_TEST(test_syntax_errors)
{
    static const struct { const char *src, *want; } cases[] = {
        { "model m(x: f32[4]) { x -> }\n", "t.net:1:27: error: expected identifier or 'repeat' before '}'\n" },
        { "model m(x: f32[4] { x }\n", "t.net:1:19: error: expected ')' before '{'\n" },
        { "model m(x: f32[4]) -> { x }\n", "t.net:1:23: error: expected identifier before '{'\n" },
        { "train m { data }\n", "t.net:1:16: error: unexpected token '}'\n" },
        { "const = 4\n", "t.net:1:7: error: expected identifier before '='\n" },
        { "x -> relu\n", "t.net:1:1: error: expected end of file, 'model', 'layer', 'train' or 'const' before 'x'\n" },
        { "model m(x: f32[4]) { x = }\n", "t.net:1:26: error: unexpected token '}'\n" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool ok;
        char *out = fe_diags(cases[i].src, &ok);
        ck_assert(!ok);
        ck_assert_msg(strncmp(out, cases[i].want, strlen(cases[i].want)) == 0, "%s\nwant: %sgot: %s",
                      cases[i].src, cases[i].want, out);
        free(out);
    }
}
END_TEST

/* Spans: a chain's span covers all its stages; a call's covers its label. */
START_TEST(test_spans)
{
    const char *src = "model m(x: f32[4]) { x -> fc: dense(4) -> relu }\n";
    FeRun r;
    fe_open_n(&r, src, strlen(src), FE_PARSE);
    ck_assert(r.ok);
    const Ast *chain = r.c.decls.items[0]->body.items[0]->lhs;
    ck_assert_int_eq(chain->kind, AST_CHAIN);
    ck_assert_int_eq(chain->list.count, 3);
    ck_assert_int_eq(chain->span.begin, 21);
    ck_assert_int_eq(chain->span.end, 46);
    const Ast *fc = chain->list.items[1];
    ck_assert_str_eq(fc->label, "fc");
    ck_assert_int_eq(fc->span.begin, 26);
    ck_assert_int_eq(fc->span.end, 38);
    ck_assert_int_eq(fc->name_span.begin, 30);
    ck_assert_int_eq(fc->label_span.begin, 26);
    fe_close(&r);
}
END_TEST

static Suite *parser_suite(void)
{
    Suite *s = suite_create("parser");
    TCase *tc = test_case("grammar");
    tcase_add_test(tc, test_precedence);
    tcase_add_test(tc, test_statements);
    tcase_add_test(tc, test_calls_and_stages);
    tcase_add_test(tc, test_declarations);
    tcase_add_test(tc, test_train_block);
    tcase_add_test(tc, test_examples_round_trip);
    tcase_add_test(tc, test_gpt_block);
    tcase_add_test(tc, test_error_recovery);
    tcase_add_test(tc, test_syntax_errors);
    tcase_add_test(tc, test_spans);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(parser_suite)
