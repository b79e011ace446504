/* main.c — the `netc` command. The pipeline reads as a list: parse, sema,
 * verify; each later command adds its passes in order.
 * Exit codes: 0 fine, 1 errors in the input, 2 wrong usage. */
#include "compiler.h"
#include "netrt.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char usage[] =
    "usage: netc [options] <command> <file.net>\n"
    "\n"
    "commands:\n"
    "  check      parse, resolve and shape-check; print a summary of every model\n"
    "  graph      print every model as a Graphviz graph (netc graph m.net | dot -Tsvg > m.svg)\n"
    "  build      compile a model and its training into a standalone binary (-o FILE)\n"
    "  emit       write the model as C for embedding: NAME.c and NAME.h in a folder (-o DIR)\n"
    "  train      compile a model in memory (libgccjit) and train it at once: no cc, no files\n"
    "  eval       the same, then evaluate a checkpoint on the test set (--load FILE)\n"
    "  predict    the same, then predict INPUT with a checkpoint (--load FILE INPUT)\n"
    "  sample     the same, then generate from a checkpoint: text from a language model\n"
    "             (--load FILE --prompt TEXT), or a PNG grid of a generator's samples\n"
    "             (--load FILE --grid 8x8 -o F.png)\n"
    "  plot       draw a training log's curves: netc plot LOG.csv -o FILE.png (gnuplot)\n"
    "\n"
    "options:\n"
    "  -dA        dump the AST after parsing\n"
    "  -dS        dump the graph IR after shape checking\n"
    "  -dD        dump the training graph after autodiff (build, emit, train, eval, predict)\n"
    "  -dF        dump the fused groups (build, emit, train, eval, predict)\n"
    "  -dP        dump the memory plan (build, emit, train, eval, predict)\n"
    "  -dL        dump the LIR (build, emit, train, eval, predict)\n"
    "  -o FILE    check, graph: write to FILE; build: the binary; emit: the folder\n"
    "  -m NAME    build, emit, train, eval, predict: the model to compile (default: the first)\n"
    "  --dump-jit DIR  train, eval, predict, sample: write libgccjit's dumps of the program into DIR\n"
    "  --keep-c   build: keep the generated C next to the binary (FILE.c)\n"
    "  --inference     build, emit: the forward pass only (emit: NAME_create/_predict/_destroy)\n"
    "  --weights FILE  build, emit (with --inference): embed FILE's weights; build: a single-file predictor (./m INPUT)\n"
    "  --static   build: link statically (the binary needs no shared library)\n"
    "  -s, --strip     build: strip the binary's symbols and debugging sections\n"
    "  -h, --help     print this help\n"
    "  --version      print the version\n"
    "\n"
    "`netc -dS m.net` (no command) runs the front end and prints the dumps only.\n"
    "train, eval and predict pass every other flag after the file to the model's\n"
    "command line, the one a built binary has (`netc train m.net --help` lists it):\n"
    "`netc train m.net --epochs 2 --save m.safetensors` trains as `./m train --epochs 2\n"
    "--save m.safetensors` would, without building.\n"
    "See docs/cli.md and docs/language.md, or `man netc`.\n";

enum { EXIT_INPUT = 1, EXIT_USAGE = 2 };

typedef struct Options {
    const char *command;
    const char *file;
    const char *output;
    const char *model;
    char dumps[16];
    bool keep_c;
    const char *dump_jit;
    char **pass; /* train, eval, predict: the flags for the model's command line */
    int npass;
    bool inference, link_static, strip; /* build, emit: --inference, --static, --strip */
    const char *weights;                /* build, emit: --weights FILE */
} Options;

static int usage_error(const char *fmt, const char *arg)
{
    fputs("netc: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\nTry 'netc --help'.\n", stderr);
    return EXIT_USAGE;
}

static bool is_command(const char *const *commands, size_t n, const char *a)
{
    for (size_t k = 0; k < n; k++)
        if (!strcmp(a, commands[k]))
            return true;
    return false;
}

static int parse_args(int argc, char **argv, Options *o)
{
    static const char *const commands[] = { "check", "graph", "build", "emit", "train", "eval", "predict", "sample" };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool running = o->command && (!strcmp(o->command, "train") || !strcmp(o->command, "eval") || !strcmp(o->command, "sample") ||
                                      !strcmp(o->command, "predict"));
        if (!strcmp(a, "--dump-jit")) {
            if (++i == argc)
                return usage_error("%s needs a folder name", a);
            o->dump_jit = argv[i];
        } else if (running && o->file && strcmp(a, "-m") && !(a[0] == '-' && a[1] == 'd' && a[2])) {
            o->pass[o->npass++] = argv[i]; /* the model's command line: --help too */
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            exit(0);
        } else if (!strcmp(a, "--version")) {
            printf("netc %s\n", NETC_VERSION);
            exit(0);
        } else if (!strncmp(a, "-d", 2) && a[2]) {
            for (const char *p = a + 2; *p; p++) {
                if (!strchr("ASDFPL", *p))
                    return usage_error("unknown dump letter in '%s' (A, S, D, F, P or L; see --help)", a);
                size_t n = strlen(o->dumps);
                if (!strchr(o->dumps, *p) && n + 1 < sizeof o->dumps) {
                    o->dumps[n] = *p;
                    o->dumps[n + 1] = '\0';
                }
            }
        } else if (!strcmp(a, "--keep-c")) {
            o->keep_c = true;
        } else if (!strcmp(a, "--inference")) {
            o->inference = true;
        } else if (!strcmp(a, "--static")) {
            o->link_static = true;
        } else if (!strcmp(a, "--strip") || !strcmp(a, "-s")) {
            o->strip = true;
        } else if (!strcmp(a, "--weights")) {
            if (++i == argc)
                return usage_error("%s needs a checkpoint, as in --weights m.safetensors", a);
            o->weights = argv[i];
        } else if (!strcmp(a, "-m")) {
            if (++i == argc)
                return usage_error("%s needs a model name", a);
            o->model = argv[i];
        } else if (!strcmp(a, "-o")) {
            if (++i == argc)
                return usage_error("%s needs a file name", a);
            o->output = argv[i];
        } else if (a[0] == '-' && a[1]) {
            return usage_error("unknown option '%s'", a);
        } else if (!o->command && !o->file) {
            bool known = is_command(commands, sizeof commands / sizeof commands[0], a);
            /* a command by name; otherwise a file if it exists or looks
             * like one; otherwise a mistyped command */
            if (known) {
                o->command = a;
            } else if (strstr(a, ".net") || strchr(a, '/') || access(a, F_OK) == 0) {
                o->file = a;
            } else {
                const char *hint = diag_suggest(a, commands, (int)(sizeof commands / sizeof commands[0]));
                if (hint) {
                    fprintf(stderr, "netc: unknown command '%s'; did you mean '%s'?\n", a, hint);
                    return EXIT_USAGE;
                }
                return usage_error("unknown command '%s'", a);
            }
        } else if (!o->file) {
            o->file = a;
        } else if (!o->command && o->dumps[0] == '\0' && is_command(commands, sizeof commands / sizeof commands[0], a)) {
            o->command = a; /* `netc m.net check` reads as well as `netc check m.net` */
        } else {
            return usage_error("unexpected argument '%s'", a);
        }
    }
    if (!o->file)
        return usage_error("%s", o->command ? "no input file" : "no command and no input file");
    if (!o->command && !o->dumps[0])
        o->command = "check";
    if (o->command && !strcmp(o->command, "build") && !o->output)
        return usage_error("%s", "build needs -o FILE, the binary to write");
    if (o->command && !strcmp(o->command, "emit") && !o->output)
        return usage_error("%s", "emit needs -o DIR, the folder to write NAME.c and NAME.h into");
    bool building = o->command && (!strcmp(o->command, "build") || !strcmp(o->command, "emit"));
    if (!building && (o->inference || o->weights || o->link_static || o->strip))
        return usage_error("%s", "--inference, --weights, --static and --strip are flags of build and emit");
    if (o->weights && !o->inference)
        /* a training program starts from its init; the weights would
         * ride along unused by train and by NAME_init */
        return usage_error("%s", "--weights compiles a checkpoint into an inference artefact: add --inference "
                           "(to train from a checkpoint, use an init block or train --resume)");
    if ((o->link_static || o->strip) && strcmp(o->command, "build"))
        return usage_error("%s", "--static and --strip are flags of build (emit writes C, not a binary)");
    return 0;
}

/* "netc: error: ..." with control characters in the names it quotes
 * replaced, so a file name cannot drive the terminal. */
static void driver_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void driver_error(const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rt_sanitize_text(msg);
    fprintf(stderr, "netc: error: %s\n", msg);
}

/* --dump-jit DIR: made now, before any compiling, and refused when it is
 * a file or cannot be written (libgccjit would write through a NULL FILE). */
static bool dump_folder_ok(const char *dir)
{
    struct stat st;
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        driver_error("--dump-jit %s: %s", dir, strerror(errno));
        return false;
    }
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        driver_error("--dump-jit %s: is not a folder", dir);
        return false;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        driver_error("--dump-jit %s: cannot write into this folder: %s", dir, strerror(errno));
        return false;
    }
    return true;
}

/* -o is checked before the work that fills it: it must be a place a file
 * can go (not a folder, device or FIFO; its folder exists), and never one
 * of this run's inputs, the .net source or the netc executable itself. */
static bool output_ok(const Options *o)
{
    char err[512];
    if (o->command && !strcmp(o->command, "emit")) {
        struct stat st;
        if (stat(o->output, &st) == 0 && !S_ISDIR(st.st_mode)) {
            driver_error("-o %s: is a file; emit writes NAME.c and NAME.h into a folder", o->output);
            return false;
        }
        if (stat(o->output, &st) != 0 && rt_check_output(o->output, err, sizeof err) != 0) {
            driver_error("-o %s", err); /* the folder to create it in is missing */
            return false;
        }
        return true;
    }
    if (rt_check_output(o->output, err, sizeof err) != 0) {
        driver_error("-o %s", err);
        return false;
    }
    if (rt_same_file(o->output, o->file)) {
        driver_error("-o %s would overwrite the input file %s; choose another output name",
                o->output, o->file);
        return false;
    }
    if (rt_same_file(o->output, "/proc/self/exe")) {
        driver_error("-o %s would overwrite the netc executable; choose another output name",
                o->output);
        return false;
    }
    return true;
}

/* `netc plot LOG.csv -o FILE.png`: a training log's curves, drawn by
 * gnuplot through the runtime (the same as a built model's `plot`). */
static int plot_command(int argc, char **argv)
{
    const char *csv = NULL, *png = NULL;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "-o") && i + 1 < argc && !png)
            png = argv[++i];
        else if (argv[i][0] != '-' && !csv)
            csv = argv[i];
        else
            return usage_error("%s", "plot takes a CSV log and an output: netc plot LOG.csv -o FILE.png");
    }
    if (!csv || !png)
        return usage_error("%s", "plot takes a CSV log and an output: netc plot LOG.csv -o FILE.png");
    char err[4096];
    if (rt_plot_log(csv, png, err, sizeof err) != 0) {
        fprintf(stderr, "netc: error: %s\n", err);
        return EXIT_INPUT;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "plot"))
        return plot_command(argc - 2, argv + 2);
    Options o = { 0 };
    o.pass = calloc((size_t)argc, sizeof *o.pass);
    int rc = o.pass ? parse_args(argc, argv, &o) : EXIT_INPUT;
    if (rc) {
        free(o.pass);
        return rc;
    }
    /* -o FILE for check, graph and dumps: the output is gathered in memory
     * and written atomically at the end, only if the run succeeds, so a
     * failed run never truncates what was there. */
    FILE *out = stdout;
    char *text = NULL;
    size_t text_len = 0;
    bool running = o.command && (!strcmp(o.command, "train") || !strcmp(o.command, "eval") || !strcmp(o.command, "sample") ||
                                 !strcmp(o.command, "predict"));
    bool generating = running || (o.command && (!strcmp(o.command, "build") || !strcmp(o.command, "emit")));
    if ((o.dump_jit && running && !dump_folder_ok(o.dump_jit)) || (o.output && !output_ok(&o))) {
        free(o.pass);
        return EXIT_INPUT;
    }
    Compiler c;
    if (!source_load(&c, o.file, stderr)) {
        free(o.pass);
        return EXIT_INPUT;
    }
    if (o.output && !generating && !(out = open_memstream(&text, &text_len)))
        die("open_memstream");
    c.dumps = o.dumps;
    c.dump_out = out;
    bool ok = parse_source(&c);
    if (ok && strchr(o.dumps, 'A'))
        ast_dump(out, &c.decls);
    ok = ok && sema_run(&c) && shape_verify(&c, c.prog);
    if (ok && strchr(o.dumps, 'S'))
        ir_dump(out, c.prog);
    if (ok && generating) {
        LProgram lp;
        ok = lower_program(&c, o.model, &lp);
        lp.inference = o.inference;
        lp.link_static = o.link_static;
        lp.strip = o.strip;
        if (ok && o.weights)
            ok = infer_load_weights(&c, &lp, o.weights, stderr);
        if (ok && strchr(o.dumps, 'L'))
            lir_dump(out, &lp);
        if (ok && running)
            rt_set_invocation(argc, argv);
        if (ok && running)
            rc = jit_run(&c, &lp, o.command, o.npass, o.pass, o.dump_jit, stderr);
        else if (ok && !strcmp(o.command, "build"))
            ok = build_binary(&c, &lp, o.output, o.keep_c, stderr);
        else if (ok)
            ok = build_emit(&c, &lp, o.output, stderr);
    }
    if (ok && o.command && !strcmp(o.command, "check")) {
        for (int i = 0; i < c.prog->nmodels; i++) {
            if (i)
                fputc('\n', out);
            summary_print(out, &c, &c.prog->graphs[i]);
            summary_memory_report(out, &c, c.prog->graphs[i].name);
            transfer_report(out, &c, c.prog->graphs[i].name);
        }
        for (int t = 0; t < c.prog->ntrains; t++)
            if (c.prog->trains[t].free_form) {
                fputc('\n', out);
                summary_train_report(out, &c, &c.prog->trains[t]);
            }
        /* a loss the code generator's autodiff refuses (summary.c) */
        ok = c.diag.errors == 0;
    } else if (ok && o.command && !strcmp(o.command, "graph")) {
        graph_dot(out, &c);
    }
    if (c.diag.errors > c.diag.max_errors)
        fprintf(stderr, "%d errors generated (the first %d shown).\n", c.diag.errors, c.diag.max_errors);
    else if (c.diag.errors)
        fprintf(stderr, "%d error%s generated.\n", c.diag.errors, c.diag.errors == 1 ? "" : "s");
    compiler_free(&c);
    free(o.pass);
    if (out != stdout) {
        fclose(out);
        char err[512];
        if (ok && !rc && rt_write_file_atomic(o.output, text, text_len, err, sizeof err) != 0) {
            fprintf(stderr, "netc: error: %s\n", err);
            ok = false;
        }
        free(text);
    }
    /* `netc check m.net > /dev/full`: output that never arrived is an
     * error, not a success. */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        driver_error("writing to standard output: %s", strerror(errno ? errno : EIO));
        return EXIT_INPUT;
    }
    if (rc)
        return rc; /* the model's command line decided: 1 or 2 */
    return ok ? 0 : EXIT_INPUT;
}
