/* diag.c — diagnostics in gcc's form:
 *   mlp.net:3:10: error: unknown layer 'relu6'; did you mean 'relu'?
 *       3 |     x -> relu6 -> dense(10)
 *         |          ^~~~~
 * Requires the whole source in memory. Counts errors so a run can report
 * several and still fail; after max_errors it stays quiet. */
#include "compiler.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A very long line is shown as a window around the span, so a 100 MB line
 * still gives a readable report. */
enum { SHOW_BEFORE = 60, SHOW_MAX = 160 };

void diag_init(Diag *d, const Source *src, FILE *out)
{
    memset(d, 0, sizeof *d);
    d->src = src;
    d->out = out;
    d->max_errors = 20;
    d->color = out == stderr && isatty(STDERR_FILENO) && !getenv("NO_COLOR");
}

Span span_join(Span a, Span b)
{
    Span s = { a.begin < b.begin ? a.begin : b.begin, a.end > b.end ? a.end : b.end };
    return s;
}

void diag_line_col(const Source *src, uint32_t offset, int *line, int *col)
{
    int l = 1, c = 1;
    if (offset > src->len)
        offset = (uint32_t)src->len;
    uint32_t i = 0;
    if (src->line_starts) {
        /* the last line starting at or before offset */
        uint32_t lo = 0, hi = src->nlines;
        while (hi - lo > 1) {
            uint32_t mid = lo + (hi - lo) / 2;
            if (src->line_starts[mid] <= offset)
                lo = mid;
            else
                hi = mid;
        }
        l = (int)lo + 1;
        i = src->line_starts[lo];
    }
    for (; i < offset; i++) {
        if (src->text[i] == '\n') {
            l++;
            c = 1;
        } else if (((unsigned char)src->text[i] & 0xc0) != 0x80) {
            c++; /* columns count characters, not UTF-8 continuation bytes */
        }
    }
    *line = l;
    *col = c;
}

static void show_source(Diag *d, Span at, int line)
{
    const Source *src = d->src;
    uint32_t begin = at.begin > src->len ? (uint32_t)src->len : at.begin;
    uint32_t end = at.end > src->len ? (uint32_t)src->len : at.end;
    uint32_t ls = begin, le = begin;
    while (ls > 0 && src->text[ls - 1] != '\n')
        ls--;
    while (le < src->len && src->text[le] != '\n')
        le++;
    if (end > le)
        end = le; /* a span over several lines is marked on its first */
    uint32_t from = ls, to = le;
    bool cut_left = false, cut_right = false;
    if (begin - ls > SHOW_BEFORE) {
        from = begin - SHOW_BEFORE;
        cut_left = true;
    }
    if (to - from > SHOW_MAX) {
        to = from + SHOW_MAX;
        cut_right = true;
    }
    if (end > to)
        end = to;
    char gutter[16];
    int gw = snprintf(gutter, sizeof gutter, "%5d", line);
    fprintf(d->out, "%s | %s", gutter, cut_left ? "..." : "");
    for (uint32_t i = from; i < to; i++) {
        unsigned char ch = (unsigned char)src->text[i];
        fputc(ch == '\0' || (ch < 0x20 && ch != '\t') ? ' ' : ch, d->out);
    }
    fprintf(d->out, "%s\n%*s | %s", cut_right ? "..." : "", gw, "", cut_left ? "   " : "");
    for (uint32_t i = from; i < begin; i++) {
        unsigned char ch = (unsigned char)src->text[i];
        if ((ch & 0xc0) != 0x80)
            fputc(ch == '\t' ? '\t' : ' ', d->out);
    }
    if (d->color)
        fputs("\033[1;32m", d->out);
    fputc('^', d->out);
    for (uint32_t i = begin + 1; i < end; i++)
        if (((unsigned char)src->text[i] & 0xc0) != 0x80)
            fputc('~', d->out);
    if (d->color)
        fputs("\033[0m", d->out);
    fputc('\n', d->out);
}

static void report(Diag *d, const char *kind, const char *color, Span at, const char *fmt, va_list ap)
{
    int line, col;
    diag_line_col(d->src, at.begin, &line, &col);
    if (d->color)
        fprintf(d->out, "\033[1m%s:%d:%d: %s%s:\033[0m ", d->src->path, line, col, color, kind);
    else
        fprintf(d->out, "%s:%d:%d: %s: ", d->src->path, line, col, kind);
    vfprintf(d->out, fmt, ap);
    fputc('\n', d->out);
    show_source(d, at, line);
}

void diag_error(Diag *d, Span at, const char *fmt, ...)
{
    d->errors++;
    if (d->errors > d->max_errors)
        return;
    va_list ap;
    va_start(ap, fmt);
    report(d, "error", "\033[1;31m", at, fmt, ap);
    va_end(ap);
    if (d->errors == d->max_errors)
        fprintf(d->out, "%s: too many errors; stopping after %d\n", d->src->path, d->max_errors);
}

void diag_warning(Diag *d, Span at, const char *fmt, ...)
{
    d->warnings++;
    if (d->errors >= d->max_errors)
        return;
    va_list ap;
    va_start(ap, fmt);
    report(d, "warning", "\033[1;35m", at, fmt, ap);
    va_end(ap);
}

/* Notes belong to the error or warning just reported; they are dropped
 * with it once the error limit is reached. */
void diag_note(Diag *d, Span at, const char *fmt, ...)
{
    if (d->errors > d->max_errors || d->errors == d->max_errors)
        return;
    va_list ap;
    va_start(ap, fmt);
    report(d, "note", "\033[1;36m", at, fmt, ap);
    va_end(ap);
}

void diag_file_error(Diag *d, const char *fmt, ...)
{
    d->errors++;
    va_list ap;
    va_start(ap, fmt);
    fprintf(d->out, "%s: error: ", d->src->path);
    vfprintf(d->out, fmt, ap);
    fputc('\n', d->out);
    va_end(ap);
}

/* Damerau-free Levenshtein distance, bounded: names are short. */
static int edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return 99;
    int row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int up = row[j];
            int cost = a[i - 1] == b[j - 1] ? 0 : 1;
            int best = diag + cost;
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

const char *diag_suggest(const char *name, const char *const *candidates, int n)
{
    const char *best = NULL;
    int best_d = 99;
    /* one or two letters are little evidence of a typo: 'y' is not 'x',
     * but 'mm' may well be 'm' */
    bool short_name = strlen(name) < 3;
    int limit = (int)strlen(name) / 3 + 1; /* about one typo in three letters */
    if (limit > 3)
        limit = 3;
    for (int i = 0; i < n; i++) {
        if (!candidates[i] || strcmp(candidates[i], name) == 0)
            continue;
        if (short_name && candidates[i][0] != name[0])
            continue;
        int dist = edit_distance(name, candidates[i]);
        if (dist < best_d) {
            best_d = dist;
            best = candidates[i];
        }
    }
    return best_d <= limit ? best : NULL;
}
