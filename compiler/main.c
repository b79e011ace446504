/* main.c — the `netc` command. The pipeline reads as a list: parse, sema,
 * verify; each later command adds its passes in order.
 * Exit codes: 0 fine, 1 errors in the input, 2 wrong usage. */
#include "compiler.h"

#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: netc [options] <command> <file.net>\n"
    "\n"
    "commands:\n"
    "  check      parse, resolve and shape-check; print a summary of every model\n"
    "  graph      print every model as a Graphviz graph (netc graph m.net | dot -Tsvg > m.svg)\n"
    "\n"
    "options:\n"
    "  -dA        dump the AST after parsing\n"
    "  -dS        dump the graph IR after shape checking\n"
    "  -o FILE    write the output to FILE instead of standard output\n"
    "  -h, --help     print this help\n"
    "  --version      print the version\n"
    "\n"
    "`netc -dS m.net` (no command) runs the front end and prints the dumps only.\n"
    "See docs/cli.md and docs/language.md, or `man netc`.\n";

enum { EXIT_INPUT = 1, EXIT_USAGE = 2 };

typedef struct Options {
    const char *command;
    const char *file;
    const char *output;
    bool dump_ast, dump_ir;
} Options;

static int usage_error(const char *fmt, const char *arg)
{
    fputs("netc: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\nTry 'netc --help'.\n", stderr);
    return EXIT_USAGE;
}

static int parse_args(int argc, char **argv, Options *o)
{
    static const char *const commands[] = { "check", "graph" };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            exit(0);
        } else if (!strcmp(a, "--version")) {
            printf("netc %s\n", NETC_VERSION);
            exit(0);
        } else if (!strncmp(a, "-d", 2) && a[2]) {
            for (const char *p = a + 2; *p; p++) {
                if (*p == 'A')
                    o->dump_ast = true;
                else if (*p == 'S')
                    o->dump_ir = true;
                else
                    return usage_error("unknown dump letter in '%s' (A: AST, S: IR after shape checking)", a);
            }
        } else if (!strcmp(a, "-o")) {
            if (++i == argc)
                return usage_error("%s needs a file name", a);
            o->output = argv[i];
        } else if (a[0] == '-' && a[1]) {
            return usage_error("unknown option '%s'", a);
        } else if (!o->command && !o->file) {
            bool known = false;
            for (size_t k = 0; k < sizeof commands / sizeof commands[0]; k++)
                known |= !strcmp(a, commands[k]);
            if (known) {
                o->command = a;
            } else if (strstr(a, ".net") || strchr(a, '/')) {
                o->file = a;
            } else {
                const char *hint = diag_suggest(a, commands, 2);
                if (hint) {
                    fprintf(stderr, "netc: unknown command '%s'; did you mean '%s'?\n", a, hint);
                    return EXIT_USAGE;
                }
                return usage_error("unknown command '%s'", a);
            }
        } else if (!o->file) {
            o->file = a;
        } else {
            return usage_error("unexpected argument '%s'", a);
        }
    }
    if (!o->file)
        return usage_error("%s", o->command ? "no input file" : "no command and no input file");
    if (!o->command && !o->dump_ast && !o->dump_ir)
        o->command = "check";
    return 0;
}

int main(int argc, char **argv)
{
    Options o = { 0 };
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc;
    FILE *out = stdout;
    if (o.output && !(out = fopen(o.output, "w"))) {
        perror(o.output);
        return EXIT_INPUT;
    }
    Compiler c;
    if (!source_load(&c, o.file, stderr))
        return EXIT_INPUT;
    bool ok = parse_source(&c);
    if (ok && o.dump_ast)
        ast_dump(out, &c.decls);
    ok = ok && sema_run(&c) && shape_verify(&c, c.prog);
    if (ok && o.dump_ir)
        ir_dump(out, c.prog);
    if (ok && o.command && !strcmp(o.command, "check")) {
        for (int i = 0; i < c.prog->nmodels; i++) {
            if (i)
                fputc('\n', out);
            summary_print(out, &c, &c.prog->graphs[i]);
        }
    } else if (ok && o.command && !strcmp(o.command, "graph")) {
        graph_dot(out, &c);
    }
    if (c.diag.errors)
        fprintf(stderr, "%d error%s generated.\n", c.diag.errors, c.diag.errors == 1 ? "" : "s");
    compiler_free(&c);
    if (out != stdout && fclose(out) != 0) {
        perror(o.output);
        return EXIT_INPUT;
    }
    return ok ? 0 : EXIT_INPUT;
}
