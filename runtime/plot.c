/* plot.c — training curves as a PNG, drawn by gnuplot from a CSV log
 * (`--log`): loss against steps (training, validation, test together) and,
 * when the log has accuracies, accuracy against steps beside it.
 *
 * Requires: gnuplot on the PATH (Debian's gnuplot-nox) and a log written by
 * train (its header names the columns; a value may be empty). Produces the
 * PNG atomically: gnuplot writes a temporary file in the same folder, which
 * is renamed into place once it holds a PNG. The points go to gnuplot as
 * inline data blocks, one per curve holding only the rows where that curve
 * has a value, so a curve evaluated every few rows is one unbroken line and
 * no file name ever appears in the script except the output's. A dashed
 * line marks the best validation evaluation (the log's last `best` row). */
#include "netrt.h"
#include "train_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

enum { MAX_COLUMNS = 32, MAX_LOG_BYTES = 64 << 20 };

/* The curves: a CSV column, its title, its panel (0 loss, 1 accuracy). */
static const struct curve {
    const char *column, *title;
    int panel;
    double scale;
} curves[] = {
    { "train_loss", "train", 0, 1.0 },
    { "val_loss", "validation", 0, 1.0 },
    { "test_loss", "test", 0, 1.0 },
    { "val_accuracy", "validation", 1, 100.0 },
    { "test_accuracy", "test", 1, 100.0 },
};
enum { NCURVES = sizeof curves / sizeof curves[0] };

static int fail(char *err, size_t errlen, const char *fmt, const char *a, const char *b)
{
    snprintf(err, errlen, fmt, a, b);
    return -1;
}

/* The field of `line` (up to its end) at index col, into buf; false when
 * empty or absent. */
static bool field(const char *line, const char *end, int col, char *buf, size_t len)
{
    for (int c = 0; c < col; c++) {
        const char *comma = memchr(line, ',', (size_t)(end - line));
        if (!comma)
            return false;
        line = comma + 1;
    }
    const char *stop = memchr(line, ',', (size_t)(end - line));
    size_t n = (size_t)((stop ? stop : end) - line);
    if (n > 0 && line[n - 1] == '\r')
        n--;
    if (n == 0 || n >= len)
        return false;
    memcpy(buf, line, n);
    buf[n] = '\0';
    return true;
}

static int column_of(const char *line, const char *end, const char *name)
{
    size_t n = strlen(name);
    for (int c = 0; c < MAX_COLUMNS; c++) {
        const char *stop = memchr(line, ',', (size_t)(end - line));
        const char *e = stop ? stop : end;
        if (e > line && e[-1] == '\r')
            e--;
        if ((size_t)(e - line) == n && memcmp(line, name, n) == 0)
            return c;
        if (!stop)
            return -1;
        line = stop + 1;
    }
    return -1;
}

/* An executable `gnuplot` is in a folder of PATH. */
static bool have_gnuplot(void)
{
    const char *path = getenv("PATH");
    if (!path || !path[0])
        path = "/usr/bin:/bin";
    while (*path) {
        const char *colon = strchr(path, ':');
        size_t n = colon ? (size_t)(colon - path) : strlen(path);
        char exe[PATHLEN];
        snprintf(exe, sizeof exe, "%.*s/gnuplot", (int)n, n ? path : ".");
        if (access(exe, X_OK) == 0)
            return true;
        path += n + (colon ? 1 : 0);
    }
    return false;
}

/* A gnuplot single-quoted string: a quote inside is written twice. */
static void put_quoted(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'')
            fputc('\'', f);
        fputc(*s, f);
    }
    fputc('\'', f);
}

/* Writes the script: one data block per curve with points, then the plots. */
static int write_script(FILE *f, const char *text, size_t len, const char *title, const char *out,
                        char *err, size_t errlen, const char *csv)
{
    const char *end = text + len, *nl = memchr(text, '\n', len);
    if (!nl)
        return fail(err, errlen, "%s: no header line; is this a log written by train --log?%s", csv, "");
    int step_col = column_of(text, nl, "step");
    if (step_col < 0)
        return fail(err, errlen, "%s: the header has no 'step' column; is this a log written by train "
                    "--log?%s", csv, "");
    int col[NCURVES], points[NCURVES] = { 0 };
    bool panel[2] = { false, false };
    for (int k = 0; k < NCURVES; k++) {
        col[k] = column_of(text, nl, curves[k].column);
        if (col[k] < 0)
            continue;
        fprintf(f, "$c%d << EOD\n", k);
        for (const char *line = nl + 1; line < end;) {
            const char *le = memchr(line, '\n', (size_t)(end - line));
            if (!le)
                le = end;
            char xs[64], ys[64];
            if (field(line, le, step_col, xs, sizeof xs) && field(line, le, col[k], ys, sizeof ys)) {
                char *xe, *ye;
                double x = strtod(xs, &xe), y = strtod(ys, &ye);
                if (!*xe && !*ye) {
                    fprintf(f, "%.10g %.10g\n", x, y * curves[k].scale);
                    points[k]++;
                }
            }
            line = le + 1;
        }
        fputs("EOD\n", f);
        panel[curves[k].panel] |= points[k] > 0;
    }
    if (!panel[0])
        return fail(err, errlen, "%s: no rows with a loss to draw (the run wrote no row yet)%s", csv, "");
    /* the best validation evaluation: the last row marked best */
    int best_col = column_of(text, nl, "best");
    char best_step[64] = "";
    for (const char *line = nl + 1; best_col >= 0 && line < end;) {
        const char *le = memchr(line, '\n', (size_t)(end - line));
        if (!le)
            le = end;
        char mark[8], xs[64];
        if (field(line, le, best_col, mark, sizeof mark) && strcmp(mark, "1") == 0 &&
            field(line, le, step_col, xs, sizeof xs) && strspn(xs, "0123456789") == strlen(xs))
            snprintf(best_step, sizeof best_step, "%s", xs);
        line = le + 1;
    }
    int panels = panel[1] ? 2 : 1;
    fprintf(f, "set terminal pngcairo size %d,400 font ',10'\nset output ", panels == 2 ? 960 : 640);
    put_quoted(f, out);
    fputs("\nset grid\nset xlabel 'step'\nset border 3\nset tics nomirror\n"
          "set style line 1 lw 2 lc rgb '#1f77b4'\nset style line 2 lw 2 pt 7 ps 0.6 lc rgb '#d62728'\n"
          "set style line 3 lw 2 pt 5 ps 0.6 lc rgb '#2ca02c'\n", f);
    fputs("set multiplot layout 1,", f);
    fprintf(f, "%d title ", panels);
    put_quoted(f, title);
    fputc('\n', f);
    for (int pnl = 0; pnl < panels; pnl++) {
        fprintf(f, "set ylabel '%s'\n", pnl == 0 ? "loss" : "accuracy (%)");
        /* loss falls and accuracy rises: the key goes where the curve is
         * not, the best mark's label opposite it */
        fputs(pnl == 0 ? "set key top right\n" : "set key bottom right\n", f);
        if (best_step[0])
            fprintf(f, "set arrow 1 from %s, graph 0 to %s, graph 1 nohead dt 2 lc rgb '#888888'\n"
                    "set label 1 'best' at %s, graph %s offset 0.5,0 tc rgb '#666666'\n",
                    best_step, best_step, best_step, pnl == 0 ? "0.04" : "0.96");
        const char *sep = "plot ";
        for (int k = 0; k < NCURVES; k++) {
            if (curves[k].panel != pnl || points[k] == 0)
                continue;
            int style = strncmp(curves[k].column, "train", 5) == 0 ? 1
                        : strncmp(curves[k].column, "val", 3) == 0 ? 2 : 3;
            fprintf(f, "%s$c%d using 1:2 with %s ls %d title '%s'", sep, k,
                    style == 1 || points[k] > 60 ? "lines" : "linespoints", style, curves[k].title);
            sep = ", ";
        }
        fputc('\n', f);
    }
    fputs("unset multiplot\n", f);
    return 0;
}

int rt_plot_log(const char *csv, const char *png, char *err, size_t errlen)
{
    /* the picture replaces png by rename: never a device or a FIFO, nor
     * the log it is drawn from */
    if (rt_check_output(png, err, errlen) != 0)
        return -1;
    if (rt_same_file(csv, png))
        return fail(err, errlen, "%s: -o names the log being drawn; give the picture another name, as in -o %s.png",
                    png, csv);
    FILE *in = fopen(csv, "rb");
    if (!in)
        return fail(err, errlen, "%s: %s", csv, strerror(errno));
    char *text = malloc(MAX_LOG_BYTES + 1);
    size_t len = text ? fread(text, 1, MAX_LOG_BYTES + 1, in) : 0;
    bool bad = !text || ferror(in);
    fclose(in);
    if (bad || len > MAX_LOG_BYTES) {
        free(text);
        return fail(err, errlen, "%s: %s", csv, !text ? strerror(ENOMEM) : bad ? "cannot be read"
                    : "larger than 64 MiB; not a log written by train --log");
    }
    if (!have_gnuplot()) {
        free(text);
        return fail(err, errlen, "%s: cannot draw it: gnuplot is not installed (on Debian: apt-get "
                    "install gnuplot-nox)%s", csv, "");
    }
    char tmp[PATHLEN];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", png) >= sizeof tmp) {
        free(text);
        return fail(err, errlen, "%s: the path is too long%s", png, "");
    }
    int fd = mkstemp(tmp);
    if (fd < 0) {
        free(text);
        return fail(err, errlen, "%s: %s", png, strerror(errno));
    }
    close(fd);
    const char *slash = strrchr(csv, '/');
    /* gnuplot's messages go to a file, shown only when it fails: its
     * warnings about a one-point curve's empty range are noise. */
    char errfile[] = "/tmp/netc-gnuplot-XXXXXX";
    int efd = mkstemp(errfile);
    if (efd < 0) {
        free(text);
        unlink(tmp);
        return fail(err, errlen, "cannot make a temporary file: %s%s", strerror(errno), "");
    }
    close(efd);
    char shell[64];
    snprintf(shell, sizeof shell, "gnuplot 2>%s", errfile);
    fflush(stdout);
    fflush(stderr);
    FILE *gp = popen(shell, "w");
    if (!gp) {
        free(text);
        unlink(tmp);
        unlink(errfile);
        return fail(err, errlen, "cannot run gnuplot: %s%s", strerror(errno), "");
    }
    int rc = write_script(gp, text, len, slash ? slash + 1 : csv, tmp, err, errlen, csv);
    free(text);
    if (rc != 0) {
        /* gnuplot gets a script that does nothing */
        pclose(gp);
        unlink(tmp);
        unlink(errfile);
        return -1;
    }
    int status = pclose(gp);
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char said[512] = "";
        FILE *ef = fopen(errfile, "r");
        size_t n = ef ? fread(said, 1, sizeof said - 1, ef) : 0;
        if (ef)
            fclose(ef);
        said[n] = '\0';
        for (char *c = said; *c; c++)
            if (*c == '\n')
                *c = ' ';
        unlink(tmp);
        unlink(errfile);
        return fail(err, errlen, "%s: gnuplot failed drawing it: %s", csv, said[0] ? said : "(no message)");
    }
    unlink(errfile);
    unsigned char magic[8] = { 0 };
    FILE *check = fopen(tmp, "rb");
    size_t got = check ? fread(magic, 1, sizeof magic, check) : 0;
    if (check)
        fclose(check);
    if (got != 8 || memcmp(magic, "\x89PNG\r\n\x1a\n", 8) != 0) {
        unlink(tmp);
        return fail(err, errlen, "%s: gnuplot wrote no PNG (is its pngcairo terminal there? "
                    "gnuplot-nox has it)%s", png, "");
    }
    chmod(tmp, 0644);
    if (rename(tmp, png) != 0) {
        int e = errno;
        unlink(tmp);
        return fail(err, errlen, "%s: %s", png, strerror(e));
    }
    return 0;
}

/* `plot LOG.csv -o FILE.png` (`-o` first or last). */
int rt_cmd_plot(const char *prog, int argc, char **argv)
{
    const char *csv = NULL, *png = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "-o") == 0 && i + 1 < argc && !png)
            png = argv[++i];
        else if (argv[i][0] != '-' && !csv)
            csv = argv[i];
        else {
            rt_report(prog, "plot takes a log and an output: plot LOG.csv -o FILE.png");
            return RC_USAGE;
        }
    }
    if (!csv || !png) {
        rt_report(prog, "plot takes a log and an output: plot LOG.csv -o FILE.png");
        return RC_USAGE;
    }
    char err[ERRLEN];
    if (rt_plot_log(csv, png, err, sizeof err) != 0) {
        rt_report(prog, "%s", err);
        return RC_INPUT;
    }
    return RC_OK;
}
