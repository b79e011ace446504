/* test_summary.c — parameter counts and forward FLOPs of every example,
 * against values worked out by hand from the cost model of
 * compiler/summary.c (a multiply-add is 2 FLOPs; dense adds one per output
 * for the bias; conv2d 2 (C/groups) k k per output plus the bias;
 * elementwise ops 1 per value; layernorm 8; softmax 5; batchnorm 2;
 * pooling k*k per output). Also `netc check`, `graph`, `-dS`, --help,
 * --version and the exit codes of the command. */
#include "front.h"

static void open_example(FeRun *r, const char *name)
{
    char path[64];
    snprintf(path, sizeof path, "examples/%s.net", name);
    size_t len;
    char *text = fe_slurp(path, &len);
    fe_open_n(r, text, len, FE_FRONT);
    free(text);
    ck_assert_msg(r->ok, "%s:\n%s", path, r->out);
}

static const Node *node(FeRun *r, int graph, const char *name)
{
    const Node *n = fe_node(&r->c.prog->graphs[graph], name);
    ck_assert_msg(n != NULL, "no node %s", name);
    return n;
}

static void layer_is(FeRun *r, int graph, const char *name, int64_t params, int64_t flops)
{
    const Graph *g = &r->c.prog->graphs[graph];
    const Node *n = node(r, graph, name);
    ck_assert_msg(summary_node_params(r->c.prog, g, n) == params, "%s: params %lld, want %lld", name,
                  (long long)summary_node_params(r->c.prog, g, n), (long long)params);
    ck_assert_msg(summary_node_flops(r->c.prog, g, n) == flops, "%s: flops %lld, want %lld", name,
                  (long long)summary_node_flops(r->c.prog, g, n), (long long)flops);
}

static void totals_are(FeRun *r, int graph, int64_t params, int64_t buffers, int64_t flops)
{
    Summary s = summary_graph(r->c.prog, &r->c.prog->graphs[graph]);
    ck_assert_msg(s.params == params, "params %lld, want %lld", (long long)s.params, (long long)params);
    ck_assert_msg(s.buffers == buffers, "buffers %lld, want %lld", (long long)s.buffers, (long long)buffers);
    ck_assert_msg(s.flops == flops, "flops %lld, want %lld", (long long)s.flops, (long long)flops);
}

START_TEST(test_mlp)
{
    FeRun r;
    open_example(&r, "mlp");
    /* params: 784*512+512 + 512*256+256 + 256*10+10 = 401,920 + 131,328 + 2,570 = 535,818
     * flops:  512*2*784+512 = 803,328; relu 512; dropout 512; 256*2*512+256 = 262,400;
     *         relu 256; 10*2*256+10 = 5,130; total 1,072,138 */
    layer_is(&r, 0, "dense1", 401920, 803328);
    layer_is(&r, 0, "relu1", 0, 512);
    layer_is(&r, 0, "dropout1", 0, 512);
    layer_is(&r, 0, "dense2", 131328, 262400);
    layer_is(&r, 0, "relu2", 0, 256);
    layer_is(&r, 0, "dense3", 2570, 5130);
    totals_are(&r, 0, 535818, 0, 1072138);
    /* activations: (784 + 3*512 + 2*256 + 10) * 4 bytes = 11,368 */
    ck_assert_int_eq(summary_graph(r.c.prog, &r.c.prog->graphs[0]).activation_bytes, 11368);
    fe_close(&r);
}
END_TEST

START_TEST(test_lenet)
{
    FeRun r;
    open_example(&r, "lenet");
    /* conv1 f32[32, 24, 24] = 18,432 outputs: params 32*1*25+32 = 832,
     *   flops 18,432 * 2*1*25 + 18,432 = 940,032
     * maxpool1 f32[32, 12, 12] = 4,608 outputs * 2*2 = 18,432
     * conv2 f32[64, 8, 8] = 4,096 outputs: params 64*32*25+64 = 51,264,
     *   flops 4,096 * 2*32*25 + 4,096 = 6,557,696
     * maxpool2 f32[64, 4, 4] = 1,024 * 4 = 4,096; flatten 0
     * fc1 1024 -> 128: 131,200 params, 128*2*1024+128 = 262,272
     * fc2 128 -> 10: 1,290 params, 10*2*128+10 = 2,570 */
    layer_is(&r, 0, "conv1", 832, 940032);
    layer_is(&r, 0, "relu1", 0, 18432);
    layer_is(&r, 0, "maxpool1", 0, 18432);
    layer_is(&r, 0, "conv2", 51264, 6557696);
    layer_is(&r, 0, "relu2", 0, 4096);
    layer_is(&r, 0, "maxpool2", 0, 4096);
    layer_is(&r, 0, "flatten1", 0, 0);
    layer_is(&r, 0, "fc1", 131200, 262272);
    layer_is(&r, 0, "relu3", 0, 128);
    layer_is(&r, 0, "fc2", 1290, 2570);
    /* 832 + 51,264 + 131,200 + 1,290 = 184,586;
     * 940,032 + 18,432 + 18,432 + 6,557,696 + 4,096 + 4,096 + 262,272 + 128 + 2,570 = 7,807,754 */
    totals_are(&r, 0, 184586, 0, 7807754);
    fe_close(&r);
}
END_TEST

/* Costs of one bias-free convolution and its batchnorm, by hand formula. */
static int64_t conv_cost(int64_t cin, int64_t f, int64_t k, int64_t hw) { return f * hw * hw * 2 * cin * k * k; }

START_TEST(test_resnet)
{
    FeRun r;
    open_example(&r, "resnet");
    /* Widths 16, 32, 64 (WIDTH = 16). Trainable: stem 16*1*9 = 144, its
     * batchnorm 32;
     * residual(16): 2 * 16*16*9 + 2 * 32 = 4,672, twice = 9,344
     * downsample(32): 32*16*9 + 32*32*9 + 32*16*1 + 3 * 64 = 14,528
     * residual(32): 2 * 9,216 + 2 * 64 = 18,560, twice = 37,120
     * downsample(64): 64*32*9 + 64*64*9 + 64*32 + 3 * 128 = 57,728
     * residual(64): 2 * 36,864 + 2 * 128 = 73,984; head 64*10+10 = 650
     * total 193,530. Running statistics 2 per channel of each of the
     * 17 batchnorms: 32 + 4*32 + 3*64 + 4*64 + 3*128 + 2*128 = 1,248. */
    layer_is(&r, 0, "stem", 144, conv_cost(1, 16, 3, 28));
    layer_is(&r, 0, "batchnorm1", 32, 2 * 16 * 28 * 28);
    layer_is(&r, 0, "residual1.1.conv2d2", 2304, conv_cost(16, 16, 3, 28));
    layer_is(&r, 0, "downsample1.conv2d1", 4608, conv_cost(16, 32, 3, 14));
    layer_is(&r, 0, "downsample1.conv2d3", 512, conv_cost(16, 32, 1, 14));
    layer_is(&r, 0, "residual3.conv2d1", 36864, conv_cost(64, 64, 3, 7));
    layer_is(&r, 0, "residual3.add1", 0, 64 * 49);
    layer_is(&r, 0, "global_avgpool1", 0, 64 * 49);
    layer_is(&r, 0, "head", 650, 10 * 2 * 64 + 10);
    /* FLOPs: per 28x28 stage with C channels, a residual is 2 convs,
     * 2 batchnorms (2 per value), 2 relus and an add (1 per value). */
    int64_t v28 = 16 * 28 * 28, v14 = 32 * 14 * 14, v7 = 64 * 7 * 7;
    int64_t stem = conv_cost(1, 16, 3, 28) + 2 * v28 + v28;
    int64_t res28 = 2 * conv_cost(16, 16, 3, 28) + 2 * 2 * v28 + 3 * v28;
    int64_t down14 = conv_cost(16, 32, 3, 14) + conv_cost(32, 32, 3, 14) + conv_cost(16, 32, 1, 14) + 3 * 2 * v14 + 3 * v14;
    int64_t res14 = 2 * conv_cost(32, 32, 3, 14) + 2 * 2 * v14 + 3 * v14;
    int64_t down7 = conv_cost(32, 64, 3, 7) + conv_cost(64, 64, 3, 7) + conv_cost(32, 64, 1, 7) + 3 * 2 * v7 + 3 * v7;
    int64_t res7 = 2 * conv_cost(64, 64, 3, 7) + 2 * 2 * v7 + 3 * v7;
    int64_t flops = stem + 2 * res28 + down14 + 2 * res14 + down7 + res7 + v7 + (10 * 2 * 64 + 10);
    /* By hand: stem 225,792 + 25,088 + 12,544 = 263,424; res28 2 * 3,612,672
     * + 50,176 + 37,632 = 7,313,152 (x2); down14 1,806,336 + 3,612,672 +
     * 200,704 + 37,632 + 18,816 = 5,676,160; res14 7,300,608 (x2); down7
     * 5,660,032; res7 7,294,336; pool 3,136; head 1,290: 48,004,042. */
    ck_assert_int_eq(flops, 48004042);
    totals_are(&r, 0, 193530, 1248, flops);
    fe_close(&r);
}
END_TEST

START_TEST(test_gpt)
{
    FeRun r;
    open_example(&r, "gpt");
    /* T = D = 128, 4 heads, vocab 256.
     * embed 256*128 = 32,768 params, 0 FLOPs; position 128*128 = 16,384, 1 per value = 16,384
     * attention: params 3D*D + 3D + D*D + D = 49,152 + 384 + 16,384 + 128 = 66,048
     *   flops 2*T*D*3D + 3TD + 2TDD + TD = 12,582,912 + 49,152 + 4,194,304 + 16,384 = 16,842,752
     *   + scores 2TTD 4,194,304 + mix 4,194,304 + softmax 5*H*T*T 327,680 = 25,559,040
     * dense(4D): 65,536 + 512 = 66,048 params; 128*512*2*128 + 65,536 = 16,842,752
     * dense(D): 65,536 + 128 = 65,664 params; 128*128*2*512 + 16,384 = 16,793,600
     * block params 256 + 66,048 + 256 + 66,048 + 65,664 = 198,272;
     * block flops 131,072 + 25,559,040 + 16,384 + 131,072 + 16,842,752 + 65,536 + 16,793,600 + 16,384 = 59,555,840
     * head: layernorm 256 params, 131,072; dense 128*256+256 = 33,024, 128*256*2*128 + 32,768 = 8,421,376
     * total params 32,768 + 16,384 + 4*198,272 + 256 + 33,024 = 875,520
     * total flops 16,384 + 4*59,555,840 + 131,072 + 8,421,376 = 246,792,192 */
    layer_is(&r, 0, "embed1", 32768, 0);
    layer_is(&r, 0, "position1", 16384, 16384);
    for (int b = 0; b < 4; b++) {
        char name[64];
        snprintf(name, sizeof name, "block1.%d.attention1", b);
        layer_is(&r, 0, name, 66048, 25559040);
        snprintf(name, sizeof name, "block1.%d.dense1", b);
        layer_is(&r, 0, name, 66048, 16842752);
        snprintf(name, sizeof name, "block1.%d.dense2", b);
        layer_is(&r, 0, name, 65664, 16793600);
        snprintf(name, sizeof name, "block1.%d.layernorm2", b);
        layer_is(&r, 0, name, 256, 131072);
    }
    layer_is(&r, 0, "dense1", 33024, 8421376);
    totals_are(&r, 0, 875520, 0, 246792192);
    fe_close(&r);
}
END_TEST

START_TEST(test_charlstm)
{
    FeRun r;
    open_example(&r, "charlstm");
    /* lstm per step: 2 (d + h) 4h + 4h + 8h; T = 64
     * lstm1 d = 64, h = 256: params 1024*64 + 1024*256 + 1024 = 328,704;
     *   flops 64 * (2*320*1024 + 1024 + 2048) = 64 * 658,432 = 42,139,648
     * lstm2 d = 256: params 1024*256 + 1024*256 + 1024 = 525,312;
     *   flops 64 * (2*512*1024 + 3072) = 64 * 1,051,648 = 67,305,472
     * dropout f32[64, 256]: 16,384; dense 256 -> 256 at 64 positions:
     *   65,792 params, 64*256*2*256 + 64*256 = 8,404,992
     * totals: 16,384 + 328,704 + 525,312 + 65,792 = 936,192 params;
     *   42,139,648 + 16,384 + 67,305,472 + 8,404,992 = 117,866,496 FLOPs */
    layer_is(&r, 0, "embed1", 16384, 0);
    layer_is(&r, 0, "lstm1", 328704, 42139648);
    layer_is(&r, 0, "dropout1", 0, 16384);
    layer_is(&r, 0, "lstm2", 525312, 67305472);
    layer_is(&r, 0, "dense1", 65792, 8404992);
    totals_are(&r, 0, 936192, 0, 117866496);
    fe_close(&r);
}
END_TEST

START_TEST(test_gan)
{
    FeRun r;
    open_example(&r, "gan");
    ck_assert_int_eq(r.c.prog->nmodels, 2);
    /* G: 64*256+256 = 16,640; 256*512+512 = 131,584; 512*1024+1024 = 525,312;
     *   1024*784+784 = 803,600 -> 1,477,136
     *   flops 33,024 + 256 + 262,656 + 512 + 1,049,600 + 1,024 + 1,606,416 + 784 = 2,954,272
     * D: 784*512+512 = 401,920; 512*256+256 = 131,328; 256+1 = 257 -> 533,505
     *   flops 803,328 + 512 + 512 (dropout) + 262,400 + 256 + 256 + 513 = 1,067,777 */
    layer_is(&r, 0, "dense3", 525312, 1049600);
    layer_is(&r, 0, "dense4", 803600, 1606416);
    layer_is(&r, 0, "tanh1", 0, 784);
    totals_are(&r, 0, 1477136, 0, 2954272);
    layer_is(&r, 1, "dense3", 257, 513);
    totals_are(&r, 1, 533505, 0, 1067777);
    fe_close(&r);
}
END_TEST

/* ------------------------------------------------------------------ CLI */

START_TEST(test_check_mlp_text)
{
    FeProc p;
    fe_netc_run(&p, "check", "examples/mlp.net", NULL, NULL);
    ck_assert_int_eq(fe_exit_code(&p), 0);
    ck_assert_str_eq(p.err, "");
    ck_assert_str_eq(p.out,
        "model mlp\n"
        "  layer     op       output           params     FLOPs/sample\n"
        "  x         input    f32[784]              0                0\n"
        "  dense1    dense    f32[512]        401,920          803,328\n"
        "  relu1     relu     f32[512]              0              512\n"
        "  dropout1  dropout  f32[512]              0              512\n"
        "  dense2    dense    f32[256]        131,328          262,400\n"
        "  relu2     relu     f32[256]              0              256\n"
        "  dense3    dense    f32[10]           2,570            5,130\n"
        "  parameters: 535,818 (2.04 MiB as f32)\n"
        "  forward: 1,072,138 per sample (1.07 MFLOP)\n"
        "  activations: 11.10 KiB per sample (every layer output, before memory planning)\n"
        /* the plan (netc -dP build): 1,792 floats per sample to train,
         * 768 to infer (relu1's 512 and relu2's 256; dropout is an alias
         * there and the logits go to the caller's buffer) */
        "  memory plan: parameters 2.04 MiB, gradients 2.04 MiB, optimizer state 4.09 MiB\n"
        "  activation arena: 7168 bytes per sample to train (0.88 MiB at batch 128), 3072 bytes per sample to infer\n");
    fe_proc_free(&p);
}
END_TEST

/* A recurrent layer's state is planned with it: in training what its
 * gradient reads, at inference only working space. Per sample (floats,
 * buffers rounded up to 16), lstm(8) over f32[10, 3] keeping the last step:
 *   infer: h 16 + state (gates 10*32 + one running cell row 8 = 328 -> 336)
 *          live together = 352 floats = 1408 bytes; the logits go out.
 *   train: at the lstm's gradient, h 16 + state (gates 320 + every step's
 *          cell 80, its tanh 80 and hidden 80 = 560) + dense_grad_x 16 +
 *          the gradient's work (dgates 320 + dh, dc 8 each = 336) = 928
 *          floats = 3712 bytes; its dx is not planned (x needs none). */
START_TEST(test_check_lstm_memory)
{
    const char *net = "model m(x: f32[10, 3]) { x -> lstm(8, sequences = false) -> dense(2) }\n"
                      "train m { data idx(\"a.gz\", \"b.gz\") loss cross_entropy batch 32 }\n";
    char *path = fe_temp_file(net, strlen(net));
    FeProc p;
    fe_netc_run(&p, "check", path, NULL, NULL);
    ck_assert_int_eq(fe_exit_code(&p), 0);
    ck_assert_msg(strstr(p.out, "  activation arena: 3712 bytes per sample to train (0.11 MiB at batch 32), "
                                "1408 bytes per sample to infer\n"),
                  "%s", p.out);
    fe_proc_free(&p);
    unlink(path);
    free(path);
}
END_TEST

/* The optimizer state `netc check` reports is what the runtime allocates
 * (rt_optimizer_state_per_param): dense(256) over f32[1024] is 1024*256 +
 * 256 = 262,400 trainable floats (1.00 MiB); per parameter, SGD
 * without momentum keeps 0, with it 1, RMSprop 1 and with momentum 2 (the
 * square average and the momentum buffer), Adam 2. The compiler once
 * counted RMSprop with momentum as 1. */
START_TEST(test_check_optimizer_state)
{
    static const struct { const char *opt; const char *state; } cases[] = {
        { "sgd(lr = 0.1)", "0.00 MiB" },
        { "sgd(lr = 0.1, momentum = 0.9)", "1.00 MiB" },
        { "rmsprop(lr = 0.01)", "1.00 MiB" },
        { "rmsprop(lr = 0.01, momentum = 0.9)", "2.00 MiB" },
        { "adam(lr = 0.01)", "2.00 MiB" },
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char net[512];
        snprintf(net, sizeof net, "model m(x: f32[1024]) { x -> dense(256) }\n"
                                  "train m { data idx(\"a.gz\", \"b.gz\") loss cross_entropy optimizer %s }\n", cases[k].opt);
        char *path = fe_temp_file(net, strlen(net));
        FeProc p;
        fe_netc_run(&p, "check", path, NULL, NULL);
        ck_assert_int_eq(fe_exit_code(&p), 0);
        char want[128];
        snprintf(want, sizeof want, "optimizer state %s\n", cases[k].state);
        ck_assert_msg(strstr(p.out, want), "%s: want '%s' in\n%s", cases[k].opt, want, p.out);
        fe_proc_free(&p);
        unlink(path);
        free(path);
    }
}
END_TEST

/* Every example checks cleanly, and resnet mentions its running statistics. */
START_TEST(test_check_every_example)
{
    static const char *const names[] = { "mlp", "lenet", "resnet", "charlstm", "gpt", "gan" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[64];
        snprintf(path, sizeof path, "examples/%s.net", names[i]);
        FeProc p;
        fe_netc_run(&p, "check", path, NULL, NULL);
        ck_assert_msg(fe_exit_code(&p) == 0, "%s: %s", path, p.err);
        ck_assert_msg(p.err_len == 0, "%s: %s", path, p.err);
        if (!strcmp(names[i], "resnet"))
            ck_assert_ptr_nonnull(strstr(p.out, "  parameters: 193,530 (755.98 KiB as f32), plus 1,248 running statistics\n"));
        if (!strcmp(names[i], "gan"))
            ck_assert_ptr_nonnull(strstr(p.out, "model G\n") && strstr(p.out, "\n\nmodel D\n") ? p.out : NULL);
        fe_proc_free(&p);
    }
}
END_TEST

START_TEST(test_graph_is_dot)
{
    FeProc p;
    fe_netc_run(&p, "graph", "examples/lenet.net", NULL, NULL);
    ck_assert_int_eq(fe_exit_code(&p), 0);
    ck_assert(strncmp(p.out, "digraph netc {\n", 15) == 0);
    ck_assert_ptr_nonnull(strstr(p.out, "[label=\"conv1\\nconv2d\\nf32[32, 24, 24]\\n832 params\"];\n"));
    ck_assert(p.out_len > 2 && strcmp(p.out + p.out_len - 2, "}\n") == 0);
    if (access("/usr/bin/dot", X_OK) != 0) {
        fprintf(stderr, "test_graph_is_dot: /usr/bin/dot not found; not running dot on the output\n");
        fe_proc_free(&p);
        return;
    }
    char *dotfile = fe_temp_file(p.out, p.out_len);
    FeProc d;
    char *argv[] = { (char *)"/usr/bin/dot", (char *)"-Tsvg", dotfile, NULL };
    fe_spawn(&d, argv, 60);
    ck_assert_msg(fe_exit_code(&d) == 0, "dot: %s", d.err);
    ck_assert_ptr_nonnull(strstr(d.out, "<svg"));
    fe_proc_free(&d);
    fe_proc_free(&p);
    unlink(dotfile);
    free(dotfile);
}
END_TEST

START_TEST(test_dump_ir)
{
    FeProc p;
    fe_netc_run(&p, "-dS", "examples/gpt.net", NULL, NULL);
    ck_assert_int_eq(fe_exit_code(&p), 0);
    ck_assert(strncmp(p.out, "graph gpt {\n  %0 = i32[128] input \"tok\"\n", 40) == 0);
    ck_assert_ptr_nonnull(strstr(p.out, "param \"block1.3.attention1.qkv_weight\""));
    ck_assert_ptr_nonnull(strstr(p.out, "attention %7, %8, %9, %10, %11 {heads=4, causal=true}  # block1.0.attention1\n"));
    ck_assert_ptr_nonnull(strstr(p.out, "graph gpt.loss {\n"));
    ck_assert_ptr_null(strstr(p.out, "model gpt\n")); /* no command: dumps only */
    fe_proc_free(&p);
    fe_netc_run(&p, "-dA", "examples/mlp.net", NULL, NULL);
    ck_assert_int_eq(fe_exit_code(&p), 0);
    ck_assert(strncmp(p.out, "model mlp(x: f32[784]) -> f32[10] {\n", 36) == 0);
    fe_proc_free(&p);
}
END_TEST

START_TEST(test_help_version_usage)
{
    FeProc p;
    fe_netc_run(&p, "--help", NULL, NULL, NULL);
    ck_assert_int_eq(fe_exit_code(&p), 0);
    ck_assert(strncmp(p.out, "usage: netc [options] <command> <file.net>\n", 43) == 0);
    fe_proc_free(&p);
    fe_netc_run(&p, "-h", NULL, NULL, NULL);
    ck_assert_int_eq(fe_exit_code(&p), 0);
    fe_proc_free(&p);
    fe_netc_run(&p, "--version", NULL, NULL, NULL);
    ck_assert_int_eq(fe_exit_code(&p), 0);
    ck_assert(strncmp(p.out, "netc ", 5) == 0);
    fe_proc_free(&p);
    /* Wrong usage: 2, with a message on stderr. */
    static const char *const bad[][3] = {
        { NULL, NULL, NULL }, { "check", NULL, NULL }, { "--frobnicate", "examples/mlp.net", NULL },
        { "chekc", "examples/mlp.net", NULL }, { "-dQ", "examples/mlp.net", NULL }, { "-o", NULL, NULL },
        { "check", "examples/mlp.net", "extra" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fe_netc_run(&p, bad[i][0], bad[i][1], bad[i][2], NULL);
        ck_assert_msg(fe_exit_code(&p) == 2, "case %zu exited %d", i, fe_exit_code(&p));
        ck_assert_msg(strncmp(p.err, "netc: ", 6) == 0, "case %zu: %s", i, p.err);
        fe_proc_free(&p);
    }
    fe_netc_run(&p, "chekc", "examples/mlp.net", NULL, NULL);
    ck_assert_str_eq(p.err, "netc: unknown command 'chekc'; did you mean 'check'?\n");
    fe_proc_free(&p);
    /* Input errors: 1. */
    fe_netc_run(&p, "check", "/nonexistent/x.net", NULL, NULL);
    ck_assert_int_eq(fe_exit_code(&p), 1);
    ck_assert_str_eq(p.err, "netc: error: /nonexistent/x.net: No such file or directory\n");
    fe_proc_free(&p);
}
END_TEST

/* -o writes the output to a file. */
START_TEST(test_output_file)
{
    char path[] = "/tmp/netc-test-o-XXXXXX";
    int fd = mkstemp(path);
    ck_assert(fd >= 0);
    close(fd);
    FeProc p;
    fe_netc_run(&p, "-o", path, "check", "examples/mlp.net");
    ck_assert_int_eq(fe_exit_code(&p), 0);
    ck_assert_str_eq(p.out, "");
    size_t len;
    char *text = fe_slurp(path, &len);
    ck_assert(strncmp(text, "model mlp\n", 10) == 0);
    free(text);
    fe_proc_free(&p);
    unlink(path);
}
END_TEST

static Suite *summary_suite(void)
{
    Suite *s = suite_create("summary");
    TCase *tc = test_case("costs");
    tcase_add_test(tc, test_mlp);
    tcase_add_test(tc, test_lenet);
    tcase_add_test(tc, test_resnet);
    tcase_add_test(tc, test_gpt);
    tcase_add_test(tc, test_charlstm);
    tcase_add_test(tc, test_gan);
    suite_add_tcase(s, tc);
    tc = test_case("cli");
    tcase_add_test(tc, test_check_mlp_text);
    tcase_add_test(tc, test_check_lstm_memory);
    tcase_add_test(tc, test_check_optimizer_state);
    tcase_add_test(tc, test_check_every_example);
    tcase_add_test(tc, test_graph_is_dot);
    tcase_add_test(tc, test_dump_ir);
    tcase_add_test(tc, test_help_version_usage);
    tcase_add_test(tc, test_output_file);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(summary_suite)
