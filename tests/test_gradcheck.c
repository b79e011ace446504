/* test_gradcheck.c — the generated training step's gradients against
 * finite differences, one small model per op and per fused group, through
 * the C backend, on every instruction-set path this CPU runs.
 * Each case: compile the .net text in process, emit C, cc it with
 * tests/gradcheck_main.c and libnetrt, run it under NETRT_ISA=each path. */
#include "front.h"
#include "netrt.h"

#include <stdlib.h>

static const char *build_dir(void)
{
    const char *b = getenv("BUILD");
    return b && *b ? b : "build";
}

/* Compiles `net` into a checker binary in dir; returns its path. */
static void make_checker(const char *net, const char *dir, char *exe, size_t len)
{
    FeRun r;
    fe_open(&r, net);
    if (!r.ok)
        ck_abort_msg("front end failed:\n%.*s", (int)r.len, r.out);
    LProgram lp;
    bool ok = lower_program(&r.c, "m", &lp);
    fflush(r.diag);
    if (!ok)
        ck_abort_msg("lowering failed:\n%.*s", (int)r.len, r.out);
    lp.base_dir = dir;
    char cpath[512];
    snprintf(cpath, sizeof cpath, "%s/m.c", dir);
    FILE *f = fopen(cpath, "w");
    ck_assert_ptr_nonnull(f);
    emit_c(f, &r.c, &lp, false);
    fclose(f);
    fe_close(&r);
    snprintf(exe, len, "%s/check", dir);
    char cmd[4096];
    const char *extra = getenv("NETC_CFLAGS") ? getenv("NETC_CFLAGS") : "";
    snprintf(cmd, sizeof cmd,
             "cc -std=c11 -O2 -march=%s -ffp-contract=off %s -Iruntime %s tests/gradcheck_main.c %s/libnetrt.a "
             "-ljansson -lz -lpng -lm -lpthread -o %s",
             rt_cpu_march(), extra, cpath, build_dir(), exe);
    ck_assert_msg(system(cmd) == 0, "cc failed: %s", cmd);
}

/* env: assignments put before the checker's command ("GRADCHECK_ALL=1"
 * checks every entry of every parameter instead of eight). */
static void check_net_env(const char *net, const char *env)
{
    char dir[] = "/tmp/netc-gradcheck-XXXXXX", exe[600], cmd[800];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    make_checker(net, dir, exe, sizeof exe);
    static const char *const isa[] = { "portable", "avx2", "avx512" };
    for (int i = 0; i <= (int)rt_cpu_best_isa(); i++) {
        snprintf(cmd, sizeof cmd, "%s NETRT_ISA=%s NETRT_THREADS=2 %s", env, isa[i], exe);
        int rc = system(cmd);
        ck_assert_msg(rc == 0, "gradient check failed on the %s path for:\n%s", isa[i], net);
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static void check_net(const char *net)
{
    check_net_env(net, "");
}

#define TRAIN_XENT "train m { data idx(\"a.gz\", \"b.gz\") loss cross_entropy }\n"
#define TRAIN_MSE "train m { data csv(\"a.csv\", label_column = 0) loss mse }\n"
#define TRAIN_BCE "train m { data csv(\"a.csv\", label_column = 0) loss bce }\n"
/* token ids in, the next token's scores at each of 6 positions out */
#define TRAIN_TEXT "train m { data text(\"a.txt\", seq = 6) loss cross_entropy }\n"

/* dense + bias + relu in the epilogue, backward through both */
START_TEST(dense_relu)
{
    check_net("model m(x: f32[12]) { x -> dense(9) -> relu -> dense(4) }\n" TRAIN_XENT);
}
END_TEST

/* every activation in a GEMM epilogue (gelu keeps its pre-activation) */
START_TEST(epilogue_activations)
{
    char net[512];
    snprintf(net, sizeof net, "model m(x: f32[10]) { x -> dense(7) -> %s -> dense(3) }\n" TRAIN_XENT,
             fe_activation_call(_i));
    check_net(net);
}
END_TEST

/* activations inside a fused loop (after an add, not after a dense) */
START_TEST(loop_activations)
{
    char net[512];
    snprintf(net, sizeof net,
             "model m(x: f32[8]) { a = x -> dense(6)\n b = x -> dense(6)\n (a * 0.5 + b) -> %s -> dense(3) }\n" TRAIN_XENT,
             fe_activation_call(_i));
    check_net(net);
}
END_TEST

/* add, sub, mul of tensors, numbers on both sides, a value used twice */
START_TEST(elementwise)
{
    check_net("model m(x: f32[8]) {\n"
              "  a = x -> dense(6) -> tanh\n  b = x -> dense(6)\n"
              "  c = a * b - (b * 2 + 1) + (1 - a)\n"
              "  c -> dense(3)\n}\n" TRAIN_XENT);
}
END_TEST

/* residual blocks through a user layer and repeat */
START_TEST(residual_repeat)
{
    check_net("layer blk(x: f32[N]) { return x + (x -> dense(N) -> tanh) }\n"
              "model m(x: f32[6]) { x -> dense(5) -> repeat 2 blk -> dense(3) }\n" TRAIN_XENT);
}
END_TEST

START_TEST(dropout_softmax_reshape)
{
    check_net("model m(x: f32[2, 6]) { x -> flatten -> dense(8) -> dropout(0.3) -> softmax -> reshape(2, 4) -> flatten -> dense(3) }\n"
              TRAIN_XENT);
}
END_TEST

/* sequences: dense over the last axis of f32[T, D] */
START_TEST(sequence_dense)
{
    check_net("model m(x: f32[3, 5]) { x -> dense(4) -> gelu -> dense(2) -> flatten -> dense(3) }\n" TRAIN_XENT);
}
END_TEST

START_TEST(mse_and_bce)
{
    check_net("model m(x: f32[7]) { x -> dense(5) -> sigmoid -> dense(1) }\n" TRAIN_MSE);
    check_net("model m(x: f32[7]) { x -> dense(5) -> relu -> dense(1) }\n" TRAIN_BCE);
}
END_TEST

/* convolutions: stride, "same" padding (asymmetric at stride 2), dilation,
 * groups, a fused activation; then max pooling and flatten */
START_TEST(conv_pool)
{
    check_net("model m(x: f32[2, 9, 9]) { x -> conv2d(4, 3, stride = 2, padding = \"same\") -> tanh\n"
              "  -> conv2d(4, 3, padding = 1, dilation = 2, groups = 2) -> relu -> maxpool(2) -> flatten -> dense(3) }\n"
              TRAIN_XENT);
    /* pooled in the conv's kernel with no activation between (3x3 windows
     * over a 6x6 output); then an overlapping pool, which stays a kernel
     * of its own */
    check_net("model m(x: f32[2, 8, 8]) { x -> conv2d(3, 3) -> maxpool(3) -> conv2d(4, 1) -> tanh\n"
              "  -> maxpool(2, stride = 1) -> flatten -> dense(3) }\n"
              TRAIN_XENT);
}
END_TEST

/* depthwise convolutions (groups = channels), as in MobileNet: 3x3 on
 * rows wider than a 16-float vector and not a multiple of it, then at
 * stride 2 with "same" padding at the bottom and right only and a channel
 * multiplier of 2, then dilated. Smooth activations: a ReLU after the
 * second layer put some of its 120 values per channel within h of the
 * kink, and the finite difference of that channel's bias was off by 25%
 * on every path. */
START_TEST(depthwise)
{
    check_net("model m(x: f32[3, 8, 20]) { x -> conv2d(3, 3, padding = 1, groups = 3) -> tanh\n"
              "  -> conv2d(6, 3, stride = 2, padding = \"same\", groups = 3) -> sigmoid\n"
              "  -> conv2d(6, 3, padding = 2, dilation = 2, groups = 6) -> flatten -> dense(3) }\n"
              TRAIN_XENT);
}
END_TEST

/* batchnorm on images and on vectors, average and global pooling, a
 * residual add over convolutions. A smooth activation follows the first
 * batchnorm: its gamma moves every value of a channel at once, so with a
 * ReLU some of 192 values would cross the kink inside +-h and the finite
 * difference would be wrong, not the gradient. */
START_TEST(batchnorm_avgpool_residual)
{
    check_net("model m(x: f32[3, 8, 8]) {\n"
              "  h = x -> conv2d(4, 3, padding = \"same\", bias = false) -> batchnorm -> tanh\n"
              "  h = h + (h -> conv2d(4, 1) -> batchnorm)\n"
              "  a = h -> avgpool(2, padding = 1) -> global_avgpool\n"
              "  a -> dense(5) -> batchnorm -> sigmoid -> dense(3) }\n" TRAIN_XENT);
}
END_TEST

/* a graph longer than autodiff's first table size (256 nodes, which once
 * overran with a long forward graph): 60 residual blocks of 6 nodes */
START_TEST(deep_graph)
{
    check_net("layer blk(x: f32[N]) { return x + (x -> dense(N) -> tanh) * 0.25 }\n"
              "model m(x: f32[6]) { x -> dense(4) -> repeat 60 blk -> dense(3) }\n" TRAIN_XENT);
}
END_TEST

/* concat along the channels of an image: two conv branches (one with its
 * activation in the conv's epilogue), then a value beside its own tanh,
 * whose gradient sums the slice and the path through tanh */
START_TEST(concat_channels)
{
    check_net("model m(x: f32[2, 6, 6]) {\n"
              "  a = x -> conv2d(3, 3, padding = 1) -> tanh\n  b = x -> conv2d(2, 1)\n"
              "  h = concat(a, b) -> conv2d(3, 3, stride = 2)\n"
              "  concat(h, tanh(h)) -> flatten -> dense(3) }\n" TRAIN_XENT);
}
END_TEST

/* along the last axis of a sequence, strided rows on both sides; the input
 * x is a part that needs no gradient, so the slices after it start late */
START_TEST(concat_last_axis)
{
    check_net("model m(x: f32[3, 5]) {\n"
              "  a = x -> dense(4)\n  b = x -> dense(2) -> tanh\n"
              "  concat(x, a, b, axis = -1) -> dense(3) -> flatten -> dense(3) }\n" TRAIN_XENT);
}
END_TEST

/* a value concatenated with itself: both slices of the gradient add up;
 * along axis 0 of a vector, along the time axis of a sequence, and as the
 * logits themselves */
START_TEST(concat_self)
{
    check_net("model m(x: f32[6]) { h = x -> dense(5) -> tanh\n concat(h, h) -> dense(3) }\n" TRAIN_XENT);
    check_net("model m(x: f32[3, 4]) { h = x -> dense(2) -> sigmoid\n concat(h, h, h, axis = 0) -> flatten -> dense(3) }\n"
              TRAIN_XENT);
    check_net("model m(x: f32[6]) { h = x -> dense(2)\n concat(h, h -> dense(1)) }\n" TRAIN_XENT);
}
END_TEST

/* three inputs along a middle axis (the height of an image): outer and
 * inner extents both above one */
START_TEST(concat_three_middle_axis)
{
    check_net("model m(x: f32[2, 4, 5]) {\n"
              "  a = x -> conv2d(2, 3, padding = 1) -> tanh\n  b = x -> conv2d(2, 1)\n"
              "  c = x -> conv2d(2, 3, padding = \"same\") -> sigmoid\n"
              "  concat(a, b, c, axis = 1) -> conv2d(2, 3) -> flatten -> dense(3) }\n" TRAIN_XENT);
}
END_TEST

/* rnn, lstm and gru, with every step's hidden state (a dense over the
 * sequence, then one over all of it) or the last (a dense), then the loss.
 * The layer reads the model's input, which needs no gradient: its kernel
 * skips dx. */
START_TEST(recurrent_layers)
{
    static const char *const layers[] = { "rnn", "lstm", "gru" };
    char net[512];
    snprintf(net, sizeof net, "model m(x: f32[4, 3]) { x -> %s(5%s) -> dense(3)%s }\n" TRAIN_XENT, layers[_i / 2],
             _i % 2 ? ", sequences = false" : "", _i % 2 ? "" : " -> flatten -> dense(3)");
    check_net(net);
}
END_TEST

/* stacked layers: dx of the upper layer flows into the lower one's
 * gradient, through dropout, and a sequence read twice sums two gradients */
START_TEST(recurrent_stacked)
{
    check_net("model m(x: f32[4, 3]) { x -> lstm(5) -> lstm(4) -> dense(3) -> flatten -> dense(3) }\n" TRAIN_XENT);
    check_net("model m(x: f32[5, 3]) { x -> gru(4) -> dropout(0.2) -> lstm(5, sequences = false) -> dense(3) }\n"
              TRAIN_XENT);
    check_net("model m(x: f32[4, 2]) { h = x -> dense(3) -> rnn(4)\n (h + tanh(h)) -> gru(3) -> flatten -> dense(1) }\n"
              TRAIN_MSE);
    /* the layer's output is the loss's input */
    check_net("model m(x: f32[3, 2]) { x -> lstm(3) -> gru(1, sequences = false) }\n" TRAIN_BCE);
}
END_TEST

/* attention on a model input (its dx is not computed) with one head,
 * then one with two causal heads inside a residual over a dense, so its
 * dx and the residual's add up; dense on the sequence before the loss */
START_TEST(attention_heads_residual)
{
    check_net("model m(x: f32[5, 4]) { x -> attention(1) -> dense(3) -> flatten -> dense(3) }\n" TRAIN_XENT);
    check_net("model m(x: f32[6, 6]) {\n"
              "  h = x -> dense(8)\n  h = h + attention(h, 2, causal)\n"
              "  h -> dense(3) -> tanh -> flatten -> dense(3) }\n" TRAIN_XENT);
}
END_TEST

/* two attention layers on residual paths through a user layer (causal,
 * then not; 2 and 4 heads), T = 19, not a multiple of 16; per-position
 * labels need token inputs, so the positions are flattened before the
 * loss */
START_TEST(attention_stack)
{
    check_net("layer blk(x: f32[T, D], heads: int, causal: bool) { return x + attention(x, heads, causal) }\n"
              "model m(x: f32[19, 8]) {\n"
              "  x -> blk(2, true) -> blk(4, false) -> dense(2) -> flatten -> dense(3) }\n" TRAIN_XENT);
}
END_TEST

/* a causal sequence of 35 rows spans two 32-row blocks of the kernel's
 * heads; an mse loss */
START_TEST(attention_causal_blocks)
{
    check_net("model m(x: f32[35, 4]) { x -> dense(4) -> attention(2, causal) -> dense(1) -> flatten -> dense(1) }\n"
              TRAIN_MSE);
}
END_TEST

/* layernorm on vectors: after a dense (x's gradient flows on to it), on
 * the model's input (no gradient to x is needed), with a settable eps;
 * 37 values make two full vectors and a tail on the AVX-512 and AVX2
 * paths, the widths under 16 only their scalar tails */
START_TEST(layernorm_vector)
{
    check_net("model m(x: f32[8]) { x -> dense(6) -> layernorm -> tanh -> dense(3) }\n" TRAIN_XENT);
    check_net("model m(x: f32[8]) { x -> dense(37) -> layernorm -> tanh -> dense(3) }\n" TRAIN_XENT);
    check_net("model m(x: f32[7]) { x -> layernorm(eps = 0.5) -> dense(5) -> layernorm(eps = 1e-2) -> dense(3) }\n"
              TRAIN_XENT);
}
END_TEST

/* layernorm over the last axis of a sequence and of a rank-3 tensor: every
 * row its own statistics, gamma and beta summed over rows and batch; a
 * pre-norm residual block as a transformer has them */
START_TEST(layernorm_sequence)
{
    check_net("model m(x: f32[3, 5]) {\n"
              "  h = x -> dense(4)\n"
              "  h = h + (h -> layernorm(eps = 1e-3) -> dense(4) -> gelu)\n"
              "  h -> layernorm -> dense(3) -> flatten -> dense(3) }\n" TRAIN_XENT);
    check_net("model m(x: f32[2, 3]) { x -> dense(40) -> layernorm(eps = 1e-3) -> gelu -> dense(2) -> flatten -> dense(3) }\n"
              TRAIN_XENT);
    check_net("model m(x: f32[2, 3, 4]) { x -> layernorm(eps = 0.1) -> flatten -> dense(5) -> tanh -> dense(1) }\n"
              TRAIN_MSE);
}
END_TEST

/* broadcasting add, sub and mul: the repeated operand's gradient sums what
 * it was repeated into (a gate f32[1] over f32[8], a row f32[4] over
 * f32[3, 4], a column f32[3, 1], and both sides broadcast) */
START_TEST(broadcast_gradients)
{
    check_net("model m(x: f32[8]) { x * (x -> dense(1) -> sigmoid) -> dense(3) }\n" TRAIN_XENT);
    check_net("model m(x: f32[3, 4]) { h = x -> dense(4) -> tanh\n"
              "  r = x -> flatten -> dense(4)\n"
              "  y = h - r\n  y -> flatten -> dense(3) }\n" TRAIN_XENT);
    check_net("model m(x: f32[3, 4]) { c = x -> dense(1)\n"
              "  y = x * c + c\n  y -> flatten -> dense(3) }\n" TRAIN_XENT);
    check_net("model m(x: f32[3, 4]) { c = x -> dense(1) -> tanh\n"
              "  r = x -> flatten -> dense(4) -> tanh\n"
              "  y = c * r - r\n  y -> flatten -> dense(3) }\n" TRAIN_XENT);
}
END_TEST

/* token ids through embed: 18 ids of 5 in a batch of 3, so ids repeat
 * within each sample and across samples and their rows' gradients are
 * sums; rows no id names get zero. Every entry of every table is checked. */
START_TEST(embed_repeated_ids)
{
    check_net_env("model m(tok: i32[6]) { tok -> embed(5, 4) -> dense(3) }\n" TRAIN_TEXT, "GRADCHECK_ALL=1");
    /* two tables over the same ids, and a value used twice */
    check_net_env("model m(tok: i32[6]) {\n"
                  "  a = tok -> embed(5, 3)\n  b = tok -> embed(7, 3)\n"
                  "  (a * b + a) -> dense(4) }\n" TRAIN_TEXT, "GRADCHECK_ALL=1");
}
END_TEST

/* embed -> rnn, lstm, gru: the layer's kernels read the ids and the table
 * (fuse.c's fuse_embeds), the table's gradient from the per-id sums of the
 * gate gradients; 18 ids of a vocabulary of 5 (the vocab-row table) and of
 * 40 (the ids' rows gathered). Then an embedding read twice, not fused. */
START_TEST(embed_into_recurrent)
{
    static const char *const layers[] = { "rnn", "lstm", "gru" };
    char net[512];
    for (int k = 0; k < 3; k++)
        for (int vocab = 5; vocab <= 40; vocab += 35) {
            snprintf(net, sizeof net, "model m(tok: i32[6]) { tok -> embed(%d, 4) -> %s(5) -> dense(3) }\n"
                     TRAIN_TEXT, vocab, layers[k]);
            check_net_env(net, "GRADCHECK_ALL=1");
        }
    check_net_env("model m(tok: i32[6]) { e = tok -> embed(5, 4)\n  (e -> lstm(4)) + e -> dense(3) }\n"
                  TRAIN_TEXT, "GRADCHECK_ALL=1");
}
END_TEST

/* learned positions: the table's gradient is dy summed over the batch, x's
 * is dy; then the transformer's skeleton without attention: embed ->
 * position -> pre-norm residual blocks -> layernorm -> dense, with
 * cross_entropy over f32[T, V] against i32[T] labels */
START_TEST(embed_position_layernorm)
{
    check_net_env("model m(tok: i32[6]) { tok -> embed(5, 4) -> position -> tanh -> dense(3) }\n" TRAIN_TEXT,
                  "GRADCHECK_ALL=1");
    check_net("model m(x: f32[4, 3]) { x -> dense(5) -> position -> layernorm -> dense(3) -> flatten -> dense(2) }\n"
              TRAIN_XENT);
    check_net("layer blk(x: f32[T, D]) {\n"
              "  x = x + (x -> layernorm -> dense(D))\n"
              "  return x + (x -> layernorm -> dense(2 * D) -> gelu -> dense(D))\n}\n"
              "model m(tok: i32[6]) { tok -> embed(5, 4) -> position -> repeat 2 blk -> layernorm -> dense(5) }\n"
              TRAIN_TEXT);
}
END_TEST

static Suite *gradcheck_suite(void)
{
    Suite *s = suite_create("gradcheck");
    TCase *tc = test_case("generated train_step vs finite differences");
    tcase_add_test(tc, dense_relu);
    tcase_add_loop_test(tc, epilogue_activations, 0, fe_activation_count());
    tcase_add_loop_test(tc, loop_activations, 0, fe_activation_count());
    tcase_add_test(tc, elementwise);
    tcase_add_test(tc, residual_repeat);
    tcase_add_test(tc, dropout_softmax_reshape);
    tcase_add_test(tc, sequence_dense);
    tcase_add_test(tc, mse_and_bce);
    tcase_add_test(tc, conv_pool);
    tcase_add_test(tc, depthwise);
    tcase_add_test(tc, batchnorm_avgpool_residual);
    tcase_add_test(tc, deep_graph);
    tcase_add_test(tc, concat_channels);
    tcase_add_test(tc, concat_last_axis);
    tcase_add_test(tc, concat_self);
    tcase_add_test(tc, concat_three_middle_axis);
    tcase_add_loop_test(tc, recurrent_layers, 0, 6);
    tcase_add_test(tc, recurrent_stacked);
    tcase_add_test(tc, attention_heads_residual);
    tcase_add_test(tc, attention_stack);
    tcase_add_test(tc, attention_causal_blocks);
    tcase_add_test(tc, layernorm_vector);
    tcase_add_test(tc, layernorm_sequence);
    tcase_add_test(tc, embed_repeated_ids);
    tcase_add_test(tc, embed_into_recurrent);
    tcase_add_test(tc, broadcast_gradients);
    tcase_add_test(tc, embed_position_layernorm);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(gradcheck_suite)
