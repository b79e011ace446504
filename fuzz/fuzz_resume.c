/* fuzz_resume.c — the checkpoint-resume path on arbitrary bytes: the input
 * is the file of `train --resume FILE` for a fixed small model (compiled
 * once by the front end, as netc train does), run through rt_main as a
 * built binary runs it, so the metadata checks of train.c (step, epoch,
 * position, batch, seed, optimizer, validation record), the tensor match
 * against the model and its optimizer state, and what training does with
 * a resumed position are all reached. The model's train_step and forward
 * are stubs (zero gradients, zero scores): no kernel runs, and libgccjit,
 * which the fuzz build leaves out, is not needed.
 *
 * The seeds in fuzz/corpus/resume are checkpoints of this model written by
 * `netc train` (model_src in a .net file, --data a CSV as data_file's,
 * --save after 1 to 6 steps, with adam and sgd) and a few damaged copies. */
#include "compiler.h"
#include "fuzz.h"
#include "netrt.h"

#include <string.h>

/* Validation and evaluation every step, so checkpoints carry the early
 * stopping record (netc.validation) too. */
static const char model_src[] =
    "model tiny(x: f32[4]) -> f32[3] {\n"
    "    x -> dense(5) -> relu -> dense(3)\n"
    "}\n"
    "train tiny {\n"
    "    data      csv(\"tiny.csv\", label_column = 4)\n"
    "    loss      cross_entropy\n"
    "    optimizer adam(lr = 1e-3)\n"
    "    batch     4\n"
    "    epochs    3\n"
    "    seed      1\n"
    "    val       = 0.25\n"
    "    eval_every 1\n"
    "}\n";

static const rt_program *the_program;

static double stub_train_step(float *params, float *grads, const void *x, const void *y,
                              int64_t batch, float *arena, uint64_t seed)
{
    (void)params, (void)x, (void)y, (void)arena, (void)seed;
    memset(grads, 0, sizeof *grads * (size_t)the_program->param_floats);
    return 0.5 * (double)batch;
}

static void stub_forward(const float *params, const void *x, float *out, int64_t batch, float *arena)
{
    (void)params, (void)x, (void)arena;
    memset(out, 0, sizeof *out * (size_t)(batch * the_program->out_size));
}

/* Compiled on the first input and kept: the program is the same for all. */
static const rt_program *program(FILE *sink)
{
    static Compiler c;
    static LProgram lp;
    static rt_program p;
    static bool done;
    if (done)
        return &p;
    compiler_init(&c, "resume.net", model_src, sizeof model_src - 1, sink);
    if (!compile_front(&c) || !lower_program(&c, NULL, &lp))
        abort(); /* the fixed model must compile */
    lp.base_dir = ".";
    rtprogram_fill(&c, &lp, &p);
    p.train_step = stub_train_step;
    p.forward = stub_forward;
    p.compile_checked = NULL;
    the_program = &p;
    done = true;
    return &p;
}

/* Twelve rows of four features and a class label in [0, 3). */
static const char *data_file(void)
{
    static char text[1024];
    if (!text[0]) {
        size_t len = 0;
        for (int i = 0; i < 12; i++)
            len += (size_t)snprintf(text + len, sizeof text - len, "0.%d,0.5,-1,%d,%d\n", i, i % 5, i % 3);
    }
    return fuzz_file((const uint8_t *)text, strlen(text), ".data");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *sink;
    if (!sink) {
        if (!(sink = fopen("/dev/null", "w")))
            abort();
        /* the program's messages are the expected outcome; sanitizer
         * reports go to file descriptor 2 directly and are kept.
         * FUZZ_VERBOSE=1 shows the messages, to see what an input does. */
        if (!getenv("FUZZ_VERBOSE")) {
            stdout = sink;
            stderr = sink;
        }
    }
    const rt_program *p = program(sink);
    const char *csv = data_file();
    const char *path = fuzz_file(data, size, ".safetensors");
    const char *args[] = { "resume", "train", "--resume", path, "--data", csv, "--steps", "8", "--threads", "1" };
    char *argv[sizeof args / sizeof args[0] + 1];
    for (size_t i = 0; i < sizeof args / sizeof args[0]; i++)
        argv[i] = (char *)args[i]; /* rt_main takes main's argv; it writes none */
    argv[sizeof args / sizeof args[0]] = NULL;
    (void)rt_main(p, (int)(sizeof args / sizeof args[0]), argv);
    return 0;
}
