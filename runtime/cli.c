/* cli.c — rt_main, the command line every model binary shares: `train`,
 * `eval`, `predict`, `info`, `--help` and `--version`.
 *
 * Requires an rt_program from netc; parses and checks the flags, checks
 * the program, and hands the command to train.c or predict.c. Flags
 * override the train block; see docs/binary.md.
 */
#include "netrt.h"
#include "dist.h"
#include "train_internal.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#ifndef NETC_VERSION
#define NETC_VERSION "unknown"
#endif

const char *rt_dtype_name(rt_dtype t)
{
    return t == RT_I32 ? "i32" : "f32";
}

/* "f32[1, 28, 28]", or "i32" for one value per sample. */
void rt_format_type(rt_dtype t, const int64_t *dims, int rank, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s", rt_dtype_name(t));
    for (int d = 0; d < rank && n >= 0 && (size_t)n < len; d++)
        n += snprintf(buf + n, len - (size_t)n, "%s%lld%s", d ? ", " : "[", (long long)dims[d],
                      d == rank - 1 ? "]" : "");
}

/* "32x32", as people say image sizes. */
void rt_format_dims_x(const int64_t *dims, int rank, char *buf, size_t len)
{
    int n = 0;
    buf[0] = '\0';
    for (int d = 0; d < rank && n >= 0 && (size_t)n < len; d++)
        n += snprintf(buf + n, len - (size_t)n, "%s%lld", d ? "x" : "", (long long)dims[d]);
}

const char *rt_optimizer_name(rt_opt_kind k)
{
    static const char *const names[] = { RT_OPT_LIST(RT_ENUM_TEXT) };
    return rt_enum_name(names, RT_COUNT(names), (int)k);
}

const char *rt_loss_name(rt_loss_kind k)
{
    static const char *const names[] = { RT_LOSS_LIST(RT_ENUM_TEXT) };
    return rt_enum_name(names, RT_COUNT(names), (int)k);
}

const char *rt_init_name(rt_init k)
{
    static const char *const names[] = { RT_INIT_LIST(RT_ENUM_TEXT) };
    return rt_enum_name(names, RT_COUNT(names), (int)k);
}


/* -------------------------------------------------------------- options */

typedef enum value_kind {
    V_COUNT,   /* a whole number >= 1 */
    V_RATE,    /* a finite number > 0 */
    V_SEED,    /* a whole number >= 0, up to 2^64 - 1 */
    V_THREADS, /* 0 (every core) to MAX_THREADS */
    V_PATH,
    V_TEXT,    /* any text, kept in path[] (sample's --prompt) */
    V_SCALE,   /* a finite number >= 0 (sample's --temperature) */
    V_SWITCH,  /* no value (predict's --probs) */
} value_kind;

enum { MAX_THREADS = 4096 };

typedef struct flag_spec {
    const char *name;
    unsigned commands; /* the commands that take it */
    value_kind kind;
    const char *example; /* a value shown in messages */
} flag_spec;

static const flag_spec flag_specs[NFLAG] = {
    [FLAG_EPOCHS] = { "--epochs", CMD_TRAIN, V_COUNT, "5" },
    [FLAG_STEPS] = { "--steps", CMD_TRAIN, V_COUNT, "1000" },
    [FLAG_BATCH] = { "--batch", CMD_TRAIN | CMD_EVAL | CMD_PREDICT, V_COUNT, "128" },
    [FLAG_LR] = { "--lr", CMD_TRAIN, V_RATE, "0.001" },
    [FLAG_SEED] = { "--seed", CMD_TRAIN | CMD_SAMPLE, V_SEED, "42" },
    [FLAG_THREADS] = { "--threads", CMD_TRAIN | CMD_EVAL | CMD_PREDICT | CMD_SAMPLE, V_THREADS, "4" },
    [FLAG_DATA] = { "--data", CMD_TRAIN, V_PATH, "train-images-idx3-ubyte.gz" },
    [FLAG_TEST] = { "--test", CMD_TRAIN | CMD_EVAL, V_PATH, "t10k-images-idx3-ubyte.gz" },
    [FLAG_SAVE] = { "--save", CMD_TRAIN, V_PATH, "model.safetensors" },
    [FLAG_RESUME] = { "--resume", CMD_TRAIN, V_PATH, "model.safetensors" },
    [FLAG_LOG] = { "--log", CMD_TRAIN, V_PATH, "train.csv" },
    [FLAG_LOAD] = { "--load", CMD_EVAL | CMD_PREDICT | CMD_SAMPLE, V_PATH, "model.safetensors" },
    [FLAG_PROMPT] = { "--prompt", CMD_SAMPLE, V_TEXT, "'In the beginning'" },
    [FLAG_TOKENS] = { "--tokens", CMD_SAMPLE, V_COUNT, "400" },
    [FLAG_TEMPERATURE] = { "--temperature", CMD_SAMPLE, V_SCALE, "0.8" },
    [FLAG_TOP_K] = { "--top-k", CMD_SAMPLE, V_COUNT, "40" },
    [FLAG_PROBS] = { "--probs", CMD_PREDICT, V_SWITCH, "" },
    [FLAG_TOP] = { "--top", CMD_PREDICT, V_COUNT, "5" },
    [FLAG_GRID] = { "--grid", CMD_SAMPLE, V_PATH, "8x8" },
    [FLAG_OUTPUT] = { "-o", CMD_SAMPLE, V_PATH, "samples.png" },
    [FLAG_SAMPLES] = { "--samples", CMD_TRAIN, V_PATH, "samples" },
    [FLAG_VAL] = { "--val", CMD_TRAIN, V_PATH, "val-images-idx3-ubyte.gz" },
    [FLAG_SAVE_BEST] = { "--save-best", CMD_TRAIN, V_PATH, "best.safetensors" },
    [FLAG_JSON] = { "--json", CMD_EVAL, V_SWITCH, "" },
    [FLAG_CONFUSION] = { "--confusion", CMD_EVAL, V_SWITCH, "" },
    [FLAG_PER_CLASS] = { "--per-class", CMD_EVAL, V_SWITCH, "" },
    [FLAG_CHECK_REPLICAS] = { "--check-replicas", CMD_TRAIN, V_SWITCH, "" },
};

const char *rt_flag_name(flag_id id)
{
    return flag_specs[id].name;
}

static int parse_value(options *o, flag_id id, const char *text)
{
    const flag_spec *f = &flag_specs[id];
    char *end;
    errno = 0;
    switch (f->kind) {
    case V_PATH:
        if (!text[0]) {
            rt_report(o->prog, "%s needs a file name, as in %s %s", f->name, f->name, f->example);
            return RC_USAGE;
        }
        o->path[id] = text;
        return RC_OK;
    case V_TEXT:
        o->path[id] = text;
        return RC_OK;
    case V_SWITCH:
        return RC_OK;
    case V_SCALE: {
        float v = strtof(text, &end);
        if (end == text || *end || errno == ERANGE || !isfinite(v) || v < 0) {
            rt_report(o->prog, "%s: '%s' is not a number of at least 0, as in %s %s", f->name, text,
                   f->name, f->example);
            return RC_USAGE;
        }
        o->temperature = v;
        return RC_OK;
    }
    case V_RATE: {
        float v = strtof(text, &end);
        if (end != text && !*end && (errno == ERANGE || isinf(v)) && text[0] != '-') {
            /* a positive number all the same, outside float's range */
            rt_report(o->prog, "%s: '%s' is outside the range of a 32-bit float (about 1.2e-38 to 3.4e38), "
                      "as in %s %s", f->name, text, f->name, f->example);
            return RC_USAGE;
        }
        if (end == text || *end || errno == ERANGE || !isfinite(v) || v <= 0) {
            rt_report(o->prog, "%s: '%s' is not a positive number, as in %s %s", f->name, text,
                   f->name, f->example);
            return RC_USAGE;
        }
        o->lr = v;
        return RC_OK;
    }
    case V_COUNT:
    case V_SEED:
    case V_THREADS: {
        /* strtoull accepts a sign and wraps negatives around; only digits
         * are a count. */
        bool digits = text[0] != '\0';
        for (const char *c = text; *c; c++)
            digits = digits && *c >= '0' && *c <= '9';
        unsigned long long v = digits ? strtoull(text, &end, 10) : 0;
        const char *what = f->kind == V_COUNT ? "a whole number of at least 1"
                           : f->kind == V_SEED ? "a whole number of at least 0"
                                               : "a number of threads (0 for every core)";
        unsigned long long most = f->kind == V_COUNT ? (unsigned long long)1 << 40
                                  : f->kind == V_SEED ? ULLONG_MAX : (unsigned long long)MAX_THREADS;
        if (digits && (errno == ERANGE || v > most)) {
            /* a whole number all the same: say what bounds it */
            rt_report(o->prog, "%s: '%s' is too large; at most %llu", f->name, text, most);
            return RC_USAGE;
        }
        bool ok = digits && !(f->kind == V_COUNT && v < 1);
        if (!ok) {
            rt_report(o->prog, "%s: '%s' is not %s, as in %s %s", f->name, text, what, f->name,
                   f->example);
            return RC_USAGE;
        }
        if (f->kind == V_COUNT)
            o->count[id] = (int64_t)v;
        else if (f->kind == V_SEED)
            o->seed = (uint64_t)v;
        else
            o->threads = (int)v;
        return RC_OK;
    }
    }
    return RC_USAGE;
}

/* Flags take their value as the next argument or after '=':
 * `--epochs 5` and `--epochs=5` are the same. */
static int parse_flags(options *o, int argc, char **argv)
{
    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i];
        if (arg[0] != '-' || arg[1] == '\0') {
            if (o->cmd == CMD_PREDICT && !o->input) {
                o->input = arg;
                continue;
            }
            rt_report(o->prog, "unexpected argument '%s' for %s; '%s --help' lists the arguments",
                   arg, o->cmd_name, o->prog);
            return RC_USAGE;
        }
        const char *eq = strchr(arg, '=');
        size_t namelen = eq ? (size_t)(eq - arg) : strlen(arg);
        int id = -1;
        for (int f = 0; f < NFLAG; f++)
            if (strlen(flag_specs[f].name) == namelen &&
                strncmp(flag_specs[f].name, arg, namelen) == 0)
                id = f;
        if (id < 0 || !(flag_specs[id].commands & o->cmd)) {
            rt_report(o->prog, "unknown flag '%.*s' for %s; '%s --help' lists the flags of each command",
                   (int)namelen, arg, o->cmd_name, o->prog);
            return RC_USAGE;
        }
        const char *value = eq ? eq + 1 : NULL;
        if (flag_specs[id].kind == V_SWITCH && value) {
            rt_report(o->prog, "%s takes no value", flag_specs[id].name);
            return RC_USAGE;
        }
        /* a prompt may start with "--" or be empty: it is the next argument, whatever it is */
        if (!value && flag_specs[id].kind == V_TEXT && i + 1 < argc)
            value = argv[++i];
        if (!value && flag_specs[id].kind != V_SWITCH) {
            /* `--save --epochs 3` forgot the file; taking "--epochs" as its
             * name would hide that. */
            if (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0) {
                rt_report(o->prog, "%s needs a value, as in %s %s", flag_specs[id].name,
                       flag_specs[id].name, flag_specs[id].example);
                return RC_USAGE;
            }
            value = argv[++i];
        }
        int rc = parse_value(o, (flag_id)id, value);
        if (rc != RC_OK)
            return rc;
        o->given[id] = true;
    }
    if (o->cmd == CMD_PREDICT && !o->input) {
        /* under `netc predict m.net` the program's name already holds the command */
        rt_report(o->prog, "predict needs an INPUT file (IDX, CSV, or text for a model that reads "
               "tokens), as in %s%s --load model.safetensors images.idx", o->prog, strstr(o->prog, " predict") ? "" : " predict");
        return RC_USAGE;
    }
    if ((o->cmd == CMD_EVAL || o->cmd == CMD_PREDICT || o->cmd == CMD_SAMPLE) && !o->given[FLAG_LOAD] &&
        !o->embedded) {
        rt_report(o->prog, "%s needs the trained weights: --load FILE (a checkpoint saved by "
               "train --save)", o->cmd_name);
        return RC_USAGE;
    }
    if (o->given[FLAG_SAVE_BEST] && o->given[FLAG_SAVE] &&
        rt_same_file(o->path[FLAG_SAVE_BEST], o->path[FLAG_SAVE])) {
        rt_report(o->prog, "--save and --save-best name the same file; the best checkpoint goes "
                  "beside the last, as in --save model.safetensors --save-best best.safetensors");
        return RC_USAGE;
    }
    if (o->given[FLAG_EPOCHS] && o->given[FLAG_STEPS]) {
        rt_report(o->prog, "--epochs and --steps both given; use one of them");
        return RC_USAGE;
    }
    return RC_OK;
}

static void print_usage(FILE *f, const char *prog)
{
    fprintf(f,
            "usage: %s COMMAND [flags]\n"
            "\n"
            "  train    [--epochs N] [--steps N] [--batch N] [--lr X] [--seed N] [--threads N]\n"
            "           [--data FILE] [--test FILE] [--val FILE] [--save FILE] [--save-best FILE]\n"
            "           [--resume FILE] [--log FILE.csv]\n"
            "           [--samples DIR]   (generators: a PNG grid of samples after each epoch)\n"
            "           [--check-replicas]\n"
            "  eval     --load FILE [--test FILE] [--batch N] [--threads N] [--confusion] [--per-class]\n"
            "           [--json]\n"
            "  predict  --load FILE [--batch N] [--threads N] [--probs | --top K] INPUT\n"
            "  sample   --load FILE --prompt TEXT [--tokens N] [--temperature X] [--top-k K]\n"
            "           [--seed N] [--threads N]   (language models)\n"
            "  sample   --load FILE [--grid 8x8] [-o samples.png] [--seed N]   (generators)\n"
            "  plot     LOG.csv -o FILE.png   training curves from a --log file (gnuplot)\n"
            "  info     the model's parameters, shapes and train block\n"
            "  --help   this text;  --version  the model's and netc's version\n"
            "\n"
            "Flags override the train block. --epochs counts the whole run, so with\n"
            "--resume it is the epoch to stop after. --data/--test FILE replace the train\n"
            "block's files (--val its validation file) and keep its kind and scale; for\n"
            "IDX files the labels file is FILE with 'images-idx3' replaced by\n"
            "'labels-idx1'. --save-best FILE keeps the best validation evaluation's\n"
            "weights beside --save's last. INPUT is an IDX file\n"
            "(gzip'd or not), a CSV of samples, one per row, or, for a model that reads\n"
            "tokens, plain text (its bytes); predict prints one line per sample, or window\n"
            "of text (--probs: the softmax probabilities; --top K: the K likeliest classes).\n"
            "sample prints the prompt and N generated bytes (default 400; temperature 1,\n"
            "every token; --temperature 0 takes the likeliest). Exit status: 0 done,\n"
            "1 bad data or checkpoint, 2 bad command line.\n"
            "\n"
            "Under mpirun -np N, train and eval run data-parallel over N processes: each\n"
            "takes its share of every batch, gradients are summed, rank 0 prints and\n"
            "writes files; --check-replicas compares the ranks' weights after every step.\n",
            prog);
}

/* netc build --inference: no train; with weights built in, predict is the
 * default command and --load optional (rt_predict_main). */
static void print_inference_usage(FILE *f, const char *prog, bool embedded)
{
    const char *load = embedded ? "[--load FILE] " : "--load FILE ";
    fprintf(f,
            "usage: %s %s%s[--batch N] [--threads N] [--probs | --top K] INPUT\n"
            "       %s eval %s[--test FILE] [--batch N] [--threads N] [--confusion] [--per-class]\n"
            "            [--json]\n"
            "       %s sample %s--prompt TEXT [--tokens N] [--temperature X] [--top-k K]\n"
            "            [--seed N] [--threads N]   (language models)\n"
            "       %s sample %s[--grid 8x8] [-o samples.png] [--seed N]   (generators)\n"
            "       %s info | --help | --version\n"
            "\n"
            "Built with --inference: the forward pass alone, so there is no train.%s\n"
            "INPUT is an IDX file (gzip'd or not), a CSV of samples, one per row, or, for a\n"
            "model that reads tokens, plain text (its bytes); predict prints one line per\n"
            "sample, or window of text. Exit status: 0 done, 1 bad data or checkpoint,\n"
            "2 bad command line.\n",
            prog, embedded ? "[predict] " : "predict ", load, prog, load, prog, load, prog, load, prog,
            embedded ? "\nThe weights are built in; --load FILE reads others of the same model." : "");
}

/* The command line this program has. */
static void print_help(FILE *f, const char *prog, const rt_program *p)
{
    if (p->inference)
        print_inference_usage(f, prog, p->weights != NULL);
    else
        print_usage(f, prog);
}

/* --------------------------------------------------------- the program */

/* The program comes from netc, so anything wrong here is a compiler bug,
 * but a clear message beats a crash in generated code. */
static int check_program(const char *prog, const rt_program *p)
{
    const char *name = p->name ? p->name : "?";
    if (!p->forward || p->x_size <= 0 || p->out_size <= 0 || p->nparams < 0 ||
        (p->nparams > 0 && !p->params) || p->trainable_floats < 0 ||
        p->trainable_floats > p->param_floats || p->train_arena_floats < 0 ||
        p->eval_arena_floats < 0 || p->out_rank < 0 || p->out_rank > RT_MAX_RANK ||
        p->x_rank < 0 || p->x_rank > RT_MAX_RANK || p->y_rank < 0 || p->y_rank > RT_MAX_RANK) {
        rt_report(prog, "internal error: program '%s' is malformed (sizes or functions missing)",
               name);
        return RC_INPUT;
    }
    for (int i = 0; i < p->nparams; i++) {
        const rt_param_desc *d = &p->params[i];
        int64_t end = d->offset + d->count;
        if (!d->name || d->offset < 0 || d->count < 0 || end > p->param_floats ||
            d->rank < 0 || d->rank > RT_MAX_RANK ||
            (d->trainable && end > p->trainable_floats)) {
            rt_report(prog, "internal error: program '%s': parameter %d (%s) lies outside the "
                   "parameter block", name, i, d->name ? d->name : "unnamed");
            return RC_INPUT;
        }
    }
    if (p->nsteps < 0 || p->nsteps > RT_MAX_STEPS || (p->nsteps > 0 && !p->steps)) {
        rt_report(prog, "internal error: program '%s' has %d steps (at most %d)", name, p->nsteps, RT_MAX_STEPS);
        return RC_INPUT;
    }
    for (int k = 0; k < p->nsteps; k++) {
        const rt_step *st = &p->steps[k];
        if (!st->train_step || st->begin < 0 || st->begin > st->end || st->end > p->trainable_floats ||
            st->arena_floats > p->train_arena_floats) {
            rt_report(prog, "internal error: program '%s': step %d is malformed", name, k);
            return RC_INPUT;
        }
    }
    /* A model without a train block has no loss and no labels: it can
     * still predict and describe itself. A train block of steps has its
     * losses inside its steps. */
    if (!p->train_step)
        return RC_OK;
    if (p->loss == RT_LOSS_CROSS_ENTROPY) {
        int64_t classes = p->out_rank > 0 ? p->out_dims[p->out_rank - 1] : p->out_size;
        if (classes <= 0 || p->out_size % classes != 0 || p->y_size != p->out_size / classes ||
            p->y_dtype != RT_I32) {
            rt_report(prog, "internal error: program '%s': cross_entropy needs one i32 label per "
                   "row of the output", name);
            return RC_INPUT;
        }
    } else if (p->y_size != p->out_size || p->y_dtype != RT_F32) {
        rt_report(prog, "internal error: program '%s': %s needs f32 targets shaped like the output",
               name, rt_loss_name(p->loss));
        return RC_INPUT;
    }
    return RC_OK;
}

/* ----------------------------------------------------------------- info */

static void print_source(const char *what, const rt_source *s)
{
    static const char *const kinds[] = { "none", "idx", "csv", "raw", "text" };
    if (s->kind == RT_SRC_NONE)
        return;
    printf("  %-9s %s(\"%s\"", what, (unsigned)s->kind < 5 ? kinds[s->kind] : "?",
           s->path ? s->path : "");
    if (s->labels_path)
        printf(", \"%s\"", s->labels_path);
    if (s->kind != RT_SRC_TEXT && (s->scale != 1.0f || s->shift != 0.0f))
        printf(", scale = %g, shift = %g", (double)s->scale, (double)s->shift);
    if (s->kind == RT_SRC_CSV && s->label_column >= 0)
        printf(", label_column = %d", s->label_column);
    if (s->kind == RT_SRC_RAW || s->kind == RT_SRC_TEXT)
        printf(", seq = %lld", (long long)s->seq);
    printf(")\n");
}

static int cmd_info(const rt_program *p)
{
    char x[128], y[128], out[128], size[32], count[48];
    rt_format_type(p->x_dtype, p->x_dims, p->x_rank, x, sizeof x);
    rt_format_type(p->y_dtype, p->y_dims, p->y_rank, y, sizeof y);
    rt_format_type(RT_F32, p->out_dims, p->out_rank, out, sizeof out);
    printf("model %s", p->name);
    if (p->source)
        printf(" (%s)", p->source);
    const char *xn = p->x_name ? p->x_name : "x";
    if (p->train_step) {
        printf("\n  %s: %s -> out: %s   y: %s   loss %s\n\nparameters\n", xn, x, out, y, rt_loss_name(p->loss));
    } else if (p->nsteps > 0 && p->steps[0].train_step) {
        /* a train block of step blocks (a GAN, a written loss) */
        printf("\n  %s: %s -> out: %s   trained in %d step%s:", xn, x, out, p->nsteps, p->nsteps == 1 ? "" : "s");
        for (int k = 0; k < p->nsteps; k++)
            printf(" %s%s", p->steps[k].model ? p->steps[k].model : "?", k + 1 < p->nsteps ? "," : "");
        printf("\n\nparameters\n");
    } else {
        printf("\n  %s: %s -> out: %s   (%s: predict only)\n\nparameters\n", xn, x, out,
               p->inference ? "built with --inference" : "no train block");
    }
    for (int i = 0; i < p->nparams; i++) {
        const rt_param_desc *d = &p->params[i];
        char shape[128];
        rt_format_type(RT_F32, d->dims, d->rank, shape, sizeof shape);
        rt_format_thousands((double)d->count, count, sizeof count);
        printf("  %-28s %-20s %12s  %s%s\n", d->name, shape, count, rt_init_name(d->init),
               d->trainable ? "" : "  (not trained)");
    }
    /* counts of the tensors themselves; the block pads each to 64 bytes */
    int64_t total = 0, trainable = 0;
    for (int i = 0; i < p->nparams; i++) {
        total += p->params[i].count;
        trainable += p->params[i].trainable ? p->params[i].count : 0;
    }
    rt_format_thousands((double)total, count, sizeof count);
    rt_format_size(4.0 * (double)p->param_floats, size, sizeof size);
    printf("  total %s parameters (a %s block)", count, size);
    rt_format_thousands((double)trainable, count, sizeof count);
    printf(", %s trainable\n", count);
    char tr[48], ev[48];
    rt_format_thousands((double)p->train_arena_floats, tr, sizeof tr);
    rt_format_thousands((double)p->eval_arena_floats, ev, sizeof ev);
    printf("  activations: %s floats per sample to train, %s to infer\n", tr, ev);
    if (rt_program_has_step(p)) {
        char st[32], ar[32];
        rt_format_thousands((double)p->step_state_floats, st, sizeof st);
        rt_format_thousands((double)p->step_arena_floats, ar, sizeof ar);
        if (p->step_context > 0)
            printf("  generation: one token at a time (sample): %s floats of state in a %s-float arena, "
                   "context %lld tokens\n", st, ar, (long long)p->step_context);
        else
            printf("  generation: one token at a time (sample): %s floats of state in a %s-float arena, "
                   "no bound on the context\n", st, ar);
    }
    if (!p->train_step)
        return fflush(stdout) != 0 ? RC_INPUT : RC_OK;
    printf("\ntrain\n");

    const rt_train_config *c = &p->config;
    print_source("data", &c->data);
    print_source("test", &c->test);
    print_source("val", &c->val);
    if (c->val_fraction > 0)
        printf("  val       %g (held out of data)\n", (double)c->val_fraction);
    const rt_optimizer *opt = &c->opt;
    printf("  optimizer %s(lr = %g", rt_optimizer_name(opt->kind), (double)opt->lr);
    switch (opt->kind) {
    case RT_OPT_SGD:
        if (opt->momentum != 0)
            printf(", momentum = %g%s", (double)opt->momentum, opt->nesterov ? ", nesterov" : "");
        break;
    case RT_OPT_ADAM:
    case RT_OPT_ADAMW:
        printf(", beta1 = %g, beta2 = %g, eps = %g", (double)opt->beta1, (double)opt->beta2,
               (double)opt->eps);
        break;
    case RT_OPT_RMSPROP:
        printf(", alpha = %g, eps = %g, momentum = %g", (double)opt->alpha, (double)opt->eps,
               (double)opt->momentum);
        break;
    }
    if (opt->weight_decay != 0)
        printf(", weight_decay = %g", (double)opt->weight_decay);
    printf(")\n");
    const rt_schedule *s = &c->sched;
    static const char *const scheds[] = { "constant", "step", "cosine" };
    printf("  schedule  %s(", (unsigned)s->kind < 3 ? scheds[s->kind] : "?");
    if (s->kind == RT_SCHED_STEP)
        printf("every = %lld, gamma = %g%s", (long long)s->every, (double)s->gamma,
               s->warmup ? ", " : "");
    if (s->kind == RT_SCHED_COSINE)
        printf("min_lr = %g%s", (double)s->min_lr, s->warmup ? ", " : "");
    if (s->warmup)
        printf("warmup = %lld", (long long)s->warmup);
    printf(")\n  batch     %lld\n", (long long)c->batch);
    if (c->steps > 0)
        printf("  steps     %lld\n", (long long)c->steps);
    else
        printf("  epochs    %lld\n", (long long)c->epochs);
    printf("  seed      %llu\n", (unsigned long long)c->seed);
    if (c->clip > 0)
        printf("  clip      %g\n", (double)c->clip);
    if (c->eval_every > 0)
        printf("  eval_every %lld\n", (long long)c->eval_every);
    if (c->stop_after > 0)
        printf("  stop_after %lld\n", (long long)c->stop_after);
    if (c->stop_after > 0 || c->monitor != RT_MONITOR_VAL_LOSS)
        printf("  monitor   %s\n", c->monitor == RT_MONITOR_VAL_ACCURACY ? "val_accuracy" : "val_loss");
    if (fflush(stdout) != 0)
        return RC_INPUT;
    return RC_OK;
}

/* ----------------------------------------------------------------- main */

static int invocation_argc;
static char **invocation_argv;

void rt_set_invocation(int argc, char **argv)
{
    invocation_argc = argv ? argc : 0;
    invocation_argv = argv;
}

int rt_main(const rt_program *p, int argc, char **argv)
{
    options o;
    memset(&o, 0, sizeof o);
    const char *slash = argc > 0 && argv[0] ? strrchr(argv[0], '/') : NULL;
    o.prog = argc > 0 && argv[0] && argv[0][0] ? (slash ? slash + 1 : argv[0])
             : p && p->name ? p->name : "model";
    if (!p || !p->name) {
        rt_report(o.prog, "internal error: no program");
        return RC_INPUT;
    }
    if (argc < 2) {
        print_help(stderr, o.prog, p);
        return RC_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        print_help(stdout, o.prog, p);
        return fflush(stdout) == 0 ? RC_OK : RC_INPUT;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("%s (model '%s' from %s), netc " NETC_VERSION "\n", o.prog, p->name,
               p->source ? p->source : "?");
        return fflush(stdout) == 0 ? RC_OK : RC_INPUT;
    }
    int rc = check_program(o.prog, p);
    if (rc != RC_OK)
        return rc;
    if (strcmp(cmd, "info") == 0) {
        if (argc > 2) {
            rt_report(o.prog, "info takes no arguments");
            return RC_USAGE;
        }
        return cmd_info(p);
    }
    if (strcmp(cmd, "plot") == 0)
        return rt_cmd_plot(o.prog, argc - 2, argv + 2);
    o.cmd_name = cmd;
    o.argc = invocation_argv ? invocation_argc : argc;
    o.argv = invocation_argv ? invocation_argv : argv;
    if (strcmp(cmd, "train") == 0)
        o.cmd = CMD_TRAIN;
    else if (strcmp(cmd, "eval") == 0)
        o.cmd = CMD_EVAL;
    else if (strcmp(cmd, "predict") == 0)
        o.cmd = CMD_PREDICT;
    else if (strcmp(cmd, "sample") == 0)
        o.cmd = CMD_SAMPLE;
    else {
        rt_report(o.prog, "unknown command '%s'; the commands are %seval, predict, sample, plot and info "
               "('%s --help' for more)", cmd, p->inference ? "" : "train, ", o.prog);
        return RC_USAGE;
    }
    o.embedded = p->weights != NULL;
    rc = parse_flags(&o, argc, argv);
    if (rc != RC_OK)
        return rc;

    if (o.cmd == CMD_PREDICT || o.cmd == CMD_SAMPLE) {
        if (getenv("OMPI_COMM_WORLD_SIZE") && strcmp(getenv("OMPI_COMM_WORLD_SIZE"), "1") != 0) {
            rt_report(o.prog, "%s runs in one process; run it without mpirun", o.cmd_name);
            return RC_USAGE;
        }
    } else {
        rc = rt_dist_init(o.prog);
        if (rc != RC_OK)
            return rc;
    }
    /* Ranks sharing a machine share its cores, unless told otherwise. */
    int threads = o.given[FLAG_THREADS] ? o.threads : 0;
    if (threads == 0 && rt_dist_local_size() > 1) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        threads = cores > rt_dist_local_size() ? (int)(cores / rt_dist_local_size()) : 1;
    }
    rt_threads_init(threads);
    /* Rank 0 alone prints; the others' errors still reach stderr. */
    if (rt_dist_rank() != 0 && !freopen("/dev/null", "w", stdout))
        rt_report(o.prog, "/dev/null: %s (this rank's output is lost)", strerror(errno));
    switch (o.cmd) {
    case CMD_TRAIN: rc = rt_cmd_train(&o, p); break;
    case CMD_EVAL: rc = rt_cmd_eval(&o, p); break;
    case CMD_PREDICT: return rt_cmd_predict(&o, p);
    case CMD_SAMPLE: return p->noise_input ? rt_cmd_sample(&o, p) : rt_cmd_generate(&o, p);
    }
    rt_dist_finalize();
    return rc;
}

