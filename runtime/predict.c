/* predict.c — the `predict` command of rt_main (cli.c): reads samples
 * from an IDX or CSV file, runs the forward pass in batches and prints one
 * line per sample (a class per row for classifiers, the outputs otherwise).
 */
#include "netrt.h"
#include "train_internal.h"

#include <errno.h>
#include <signal.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

/* -------------------------------------------------------------- predict */

static bool is_idx_magic(const unsigned char *h, size_t n)
{
    /* IDX: two zero bytes, a type code, then the number of dimensions. */
    return n >= 4 && h[0] == 0 && h[1] == 0 &&
           (h[2] == 0x08 || h[2] == 0x09 || (h[2] >= 0x0B && h[2] <= 0x0E)) && h[3] >= 1 &&
           h[3] <= RT_MAX_RANK + 1;
}

/* Whether the field [p, end) holds a number (spaces around allowed). */
static bool number_field(const char *p, const char *end)
{
    char field[64];
    size_t len = (size_t)(end - p);
    if (len >= sizeof field)
        return false;
    memcpy(field, p, len);
    field[len] = '\0';
    char *after;
    strtod(field, &after);
    if (after == field)
        return false;
    while (*after == ' ' || *after == '\t' || *after == '\r')
        after++;
    return *after == '\0';
}

/* A header names every column: no field of the line is a number or
 * empty. A row that mixes numbers with something else (1,2,x,4 or 1,2,,4)
 * is a malformed data row, left for the CSV reader to refuse with its
 * line and column, never silently dropped as a header. */
/* The field of the line [p, end) that starts at p, blanks trimmed, in
 * [*a, *b); returns where the next one starts. */
static const char *next_field(const char *p, const char *end, const char **a, const char **b)
{
    const char *comma = memchr(p, ',', (size_t)(end - p));
    *a = p;
    *b = comma ? comma : end;
    while (*a < *b && (**a == ' ' || **a == '\t'))
        (*a)++;
    while (*b > *a && ((*b)[-1] == ' ' || (*b)[-1] == '\t' || (*b)[-1] == '\r'))
        (*b)--;
    return comma ? comma + 1 : end;
}

static bool header_row(const char *p, const char *end)
{
    const char *a, *b;
    while (p < end) {
        p = next_field(p, end, &a, &b);
        if (a == b || number_field(a, b))
            return false;
    }
    return true;
}

/* The first line from p that holds more than blanks, or the end of p. */
static const char *filled_line(const char *p)
{
    for (;;) {
        const char *q = p + strspn(p, " \t\r");
        if (*q != '\n')
            return *q ? p : q;
        p = q + 1;
    }
}

/* Whether the line [p, end) has a field that is not a number. */
static bool has_words(const char *p, const char *end)
{
    const char *a, *b;
    while (p < end) {
        p = next_field(p, end, &a, &b);
        if (a < b && !number_field(a, b))
            return true;
    }
    return false;
}

/* Whether a line after the first that is not blank has words in it: a
 * file read as CSV that looks like text after all. */
static bool words_after_first(const char *head)
{
    const char *line = filled_line(head);
    while (*line) {
        line += strcspn(line, "\r\n");
        line = filled_line(line);
        const char *end = line + strcspn(line, "\r\n");
        if (*line && has_words(line, end))
            return true;
    }
    return false;
}

/* With text_ok: a file whose first two lines that are not blank are not
 * rows of numbers (or whose only such line is not, or that has none) is
 * text. A blank line is no row of numbers: a text ending in "\n " is
 * text. */
static bool looks_like_text(const char *head)
{
    const char *first = filled_line(head);
    if (!*first)
        return true;
    const char *end = first + strcspn(first, "\r\n");
    if (!header_row(first, end))
        return false;
    const char *second = filled_line(end);
    return !*second || header_row(second, second + strcspn(second, "\r\n"));
}

/* Tells an IDX file from a CSV (zlib reads gzip'd and plain alike) and
 * whether a CSV starts with a header: a first row that is not all numbers.
 * With `text_ok` (a model that reads tokens through an embedding), text
 * as looks_like_text says, and `wordy` when a CSV has words after its
 * first line (then its errors say why it was not read as text). */
static int sniff_input(const char *prog, const char *path, bool text_ok, rt_source_kind *kind, bool *header,
                       bool *wordy)
{
    *wordy = false;
    char err[ERRLEN];
    int fd = rt_open_regular(path, err, sizeof err);
    if (fd < 0) {
        rt_report(prog, "%s", err);
        return RC_INPUT;
    }
    gzFile f = gzdopen(fd, "rb");
    if (!f) {
        close(fd);
        rt_report(prog, "%s: %s", path, errno ? strerror(errno) : "cannot open");
        return RC_INPUT;
    }
    char head[4096];
    int n = gzread(f, head, sizeof head - 1);
    int errnum = 0;
    const char *msg = n < 0 ? gzerror(f, &errnum) : NULL;
    char text[256];
    snprintf(text, sizeof text, "%s", msg ? msg : "");
    gzclose(f);
    if (n < 0) {
        rt_report(prog, "%s: %s", path, errnum == Z_ERRNO ? strerror(errno) : text);
        return RC_INPUT;
    }
    if (n == 0) {
        rt_report(prog, "%s: is empty", path);
        return RC_INPUT;
    }
    if (is_idx_magic((const unsigned char *)head, (size_t)n)) {
        *kind = RT_SRC_IDX;
        *header = false;
        return RC_OK;
    }
    head[n] = '\0';
    *kind = RT_SRC_CSV;
    const char *line = head;
    if (n >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0)
        line += 3; /* a UTF-8 byte order mark: the CSV reader skips it too */
    while (*line == '\n' || *line == '\r')
        line++;
    *header = header_row(line, line + strcspn(line, "\r\n"));
    if (text_ok && looks_like_text(line))
        *kind = RT_SRC_TEXT;
    else if (text_ok)
        *wordy = words_after_first(line);
    return RC_OK;
}

/* --probs: every class's softmax probability; --top K: the K likeliest
 * classes as class:probability, likeliest first. Rows of an f32[T, C]
 * output are separated by "; ". */
static void print_probabilities(const rt_program *p, const float *out, int64_t top, float *probs, int64_t first,
                                int64_t rows)
{
    int64_t classes = rt_class_count(p);
    if (rows < 0)
        rows = p->out_size / classes - first;
    for (int64_t r = first; r < first + rows; r++) {
        if (r > first)
            fputs("; ", stdout);
        rt_softmax_forward(1, classes, out + r * classes, probs);
        if (top == 0) {
            for (int64_t c = 0; c < classes; c++)
                printf(c ? ",%.6g" : "%.6g", (double)probs[c]);
            continue;
        }
        for (int64_t k = 0; k < top && k < classes; k++) {
            int64_t best = -1;
            for (int64_t c = 0; c < classes; c++)
                if (probs[c] >= 0 && (best < 0 || probs[c] > probs[best]))
                    best = c;
            printf(k ? " %lld:%.6g" : "%lld:%.6g", (long long)best, (double)probs[best]);
            probs[best] = -1; /* taken */
        }
    }
    putchar('\n');
}

static void print_prediction(const rt_program *p, const float *out, int64_t first, int64_t rows)
{
    if (p->loss == RT_LOSS_CROSS_ENTROPY) {
        int64_t classes = rt_class_count(p);
        if (rows < 0)
            rows = p->out_size / classes - first;
        for (int64_t r = first; r < first + rows; r++) {
            const float *row = out + r * classes;
            int64_t best = 0;
            for (int64_t c = 1; c < classes; c++)
                if (row[c] > row[best])
                    best = c;
            printf(r > first ? " %lld" : "%lld", (long long)best);
        }
    } else {
        for (int64_t i = 0; i < p->out_size; i++)
            printf(i ? ",%.6g" : "%.6g", (double)out[i]);
    }
    putchar('\n');
}

/* Plain text for a byte model: windows of its T bytes that cover every
 * byte (rt_text_windows). A model with a prediction per position (an
 * output of T rows) prints, for the last window when T does not divide
 * the text, only the rows of the bytes the full windows left (that window
 * holds the text's last T bytes); a text shorter than T is padded after
 * its end, which only a causal model (one with a step function: its
 * position t never reads a later one) may be, and its L rows are printed.
 * A model with one output per window prints every window whole, the last
 * being the text's last T bytes. */
static int text_windows(const char *prog, const rt_program *p, const char *path, rt_dataset *in,
                        int64_t *first_new, int64_t *rows_new)
{
    char err[ERRLEN];
    int64_t T = p->x_size;
    bool per_position = p->loss == RT_LOSS_CROSS_ENTROPY && p->out_size / rt_class_count(p) == T;
    if (rt_text_windows(path, T, p->x_vocab, 0, in, first_new, rows_new, err, sizeof err) != 0) {
        rt_report(prog, "%s", err);
        return RC_INPUT;
    }
    if (in->n == 1 && *rows_new < T && (!per_position || !rt_program_has_step(p))) {
        rt_report(prog, "%s: holds %lld byte%s, fewer than the window of %lld that model '%s' reads, and the "
                  "text cannot be padded (%s%s); give at least %lld bytes", path, (long long)*rows_new,
                  *rows_new == 1 ? "" : "s", (long long)T, p->name,
                  !per_position ? "the model gives one output per window" : "the model has no step function, "
                  "so it is not known to be causal: ", !per_position ? "" : p->step_missing ? p->step_missing : "?",
                  (long long)T);
        rt_dataset_free(in);
        return RC_INPUT;
    }
    if (!per_position) {
        *first_new = 0;
        *rows_new = -1;
    }
    return RC_OK;
}

int rt_cmd_predict(const options *o, const rt_program *p)
{
    int64_t batch = o->given[FLAG_BATCH] ? o->count[FLAG_BATCH]
                    : p->config.batch > 0 ? p->config.batch : 128;
    bool probs = o->given[FLAG_PROBS] || o->given[FLAG_TOP];
    if (probs && p->loss != RT_LOSS_CROSS_ENTROPY) {
        rt_report(o->prog, "%s is for classifiers (cross_entropy); model '%s' trains with %s, and predict "
                  "prints its outputs as they are (%s)", o->given[FLAG_PROBS] ? "--probs" : "--top", p->name,
                  rt_loss_name(p->loss), p->loss == RT_LOSS_BCE ? "logits" : "values");
        return RC_USAGE;
    }
    if (o->given[FLAG_PROBS] && o->given[FLAG_TOP]) {
        rt_report(o->prog, "--probs and --top both given; use one of them");
        return RC_USAGE;
    }
    /* Inputs get the preprocessing the model was tested (or trained) with. */
    const rt_source *like = p->config.test.kind != RT_SRC_NONE ? &p->config.test
                            : p->config.data.kind != RT_SRC_NONE ? &p->config.data : NULL;
    source_files files;
    memset(&files, 0, sizeof files);
    /* token ids are never scaled, nor a generator's noise (the data's
     * scale is for `real`, not for forward's input) */
    bool scaled = like && p->x_dtype != RT_I32 && !p->noise_input;
    files.src.scale = scaled ? like->scale : 1.0f;
    files.src.shift = scaled ? like->shift : 0.0f;
    files.src.label_column = -1;
    files.shown = o->input;
    if (rt_data_resolve(o->input, NULL, files.path, sizeof files.path) != 0)
        return rt_report_unresolved(o->prog, o->input, NULL);
    files.src.path = files.path;
    /* a model that reads tokens through an embedding also takes plain
     * text, its bytes the ids: windows of its T bytes, as text() makes
     * them for training (a vocabulary below 256 refuses the bytes above
     * it, naming their offset) */
    bool bytes = p->x_dtype == RT_I32 && p->x_vocab > 0;
    bool wordy;
    int rc = sniff_input(o->prog, files.path, bytes, &files.src.kind, &files.src.header, &wordy);
    if (files.src.kind == RT_SRC_TEXT)
        files.src.seq = p->x_size;
    rt_dataset in = { 0 };
    buffers buf = { 0 };
    /* Text: a prediction for every byte (text_windows). The last window's
     * rows from first_new on, rows_new of them, are the only ones printed
     * for it (-1: all). */
    int64_t first_new = 0, rows_new = -1;
    if (rc == RC_OK && files.src.kind == RT_SRC_TEXT)
        rc = text_windows(o->prog, p, files.path, &in, &first_new, &rows_new);
    else if (rc == RC_OK) {
        rc = rt_load_forward_input(o->prog, p, &files, &in);
        if (rc != RC_OK && wordy)
            rt_report(o->prog, "%s was read as CSV token ids because one of its first two lines "
                      "that are not blank is a row of numbers; model '%s' reads a file as text "
                      "when neither is", files.shown, p->name);
    }
    if (rc == RC_OK && batch > in.n)
        batch = in.n;
    if (rc == RC_OK)
        rc = rt_alloc_buffers(o->prog, p, batch, 0, false, &buf);
    if (rc == RC_OK)
        rc = rt_load_weights(o->prog, o->path[FLAG_LOAD], p, buf.params);
    if (rc == RC_OK) {
        size_t xbytes = (size_t)p->x_size * 4;
        for (int64_t i = 0; i < in.n; i += batch) {
            int64_t bn = in.n - i < batch ? in.n - i : batch;
            memcpy(buf.x, (const char *)in.x + (size_t)i * xbytes, (size_t)bn * xbytes);
            p->forward(buf.params, buf.x, buf.out, bn, buf.arena);
            for (int64_t s = 0; s < bn; s++) {
                bool last = i + s == in.n - 1;
                int64_t first = last ? first_new : 0, rows = last ? rows_new : -1;
                if (probs)
                    print_probabilities(p, buf.out + s * p->out_size, o->given[FLAG_TOP] ? o->count[FLAG_TOP] : 0,
                                        buf.probs, first, rows);
                else
                    print_prediction(p, buf.out + s * p->out_size, first, rows);
            }
        }
        if (fflush(stdout) != 0 || ferror(stdout)) {
            rt_report(o->prog, "writing to stdout: %s", strerror(errno));
            rc = RC_INPUT;
        }
    }
    free(buf.block);
    rt_dataset_free(&in);
    return rc;
}

