/* progress.c — the progress of `train` and the number formats the command
 * line prints (thousands separators, durations).
 *
 * On a terminal the line is redrawn with a carriage return and an
 * erase-to-end-of-line escape, which every terminal emulator in use
 * understands. Elsewhere (pipes, files, nohup, CI) no escapes are written:
 * a plain line every NETRT_PROGRESS seconds instead. */
#include "train_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { BAR_WIDTH = 24 };
#define REDRAW_SECONDS 0.1
#define PLAIN_SECONDS 5.0

double rt_seconds(void)
{
    struct timespec ts;
    /* CLOCK_MONOTONIC cannot fail on Linux with a valid pointer; 0 keeps the
     * rates finite should it ever. */
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0.0;
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double rt_cpu_seconds(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0)
        return 0.0;
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void rt_format_thousands(double value, char *buf, size_t len)
{
    if (!isfinite(value) || value < 0 || value >= 9e18) {
        snprintf(buf, len, "%.3g", value);
        return;
    }
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%llu", (unsigned long long)llround(value));
    char out[48];
    int o = 0;
    for (int i = 0; i < n; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = '\0';
    snprintf(buf, len, "%s", out);
}

void rt_format_duration(double seconds, char *buf, size_t len)
{
    if (!isfinite(seconds) || seconds < 0) {
        snprintf(buf, len, "?");
        return;
    }
    long long s = llround(seconds);
    if (s >= 3600)
        snprintf(buf, len, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(buf, len, "%lld:%02lld", s / 60, s % 60);
}

void rt_progress_init(rt_progress *pg, bool live)
{
    pg->live = live;
    pg->plain = false;
    pg->interval = PLAIN_SECONDS;
    pg->drawn = false;
    pg->last_draw = rt_seconds();
    if (live)
        return;
    const char *env = getenv("NETRT_PROGRESS");
    pg->plain = true;
    if (env && env[0]) {
        char *end;
        double v = strtod(env, &end);
        if (strcmp(env, "off") == 0)
            pg->plain = false;
        else if (*end == '\0' && isfinite(v) && v >= 0)
            pg->interval = v;
        else
            fprintf(stderr, "netrt: NETRT_PROGRESS=%s is not a number of seconds or 'off'; "
                    "using %g\n", env, PLAIN_SECONDS);
    }
}

/* "epoch 2/5 [=====>    ] 120/468" or, counting --steps, "step 120/300 [==>  ]". */
static void progress_text(const rt_progress_state *s, bool bar_wanted, char *buf, size_t len)
{
    char bar[BAR_WIDTH + 4] = "";
    int64_t done = s->by_steps ? s->run_step : s->step, all = s->by_steps ? s->run_steps : s->steps;
    if (bar_wanted) {
        int filled = all > 0 ? (int)(BAR_WIDTH * done / all) : 0;
        bar[0] = ' ';
        bar[1] = '[';
        for (int i = 0; i < BAR_WIDTH; i++)
            bar[2 + i] = i < filled ? '=' : i == filled ? '>' : ' ';
        bar[BAR_WIDTH + 2] = ']';
        bar[BAR_WIDTH + 3] = '\0';
    }
    char rate[48], eta[32];
    rt_format_thousands(s->samples_per_s, rate, sizeof rate);
    if (s->steps_per_s > 0)
        rt_format_duration((double)s->run_steps_left / s->steps_per_s, eta, sizeof eta);
    else
        snprintf(eta, sizeof eta, "?");
    if (s->by_steps)
        snprintf(buf, len, "step %lld/%lld%s  epoch %lld  loss %.4f  %s samples/s  ETA %s",
                 (long long)s->run_step, (long long)s->run_steps, bar, (long long)s->epoch,
                 s->mean_loss, rate, eta);
    else if (bar_wanted)
        snprintf(buf, len, "epoch %lld/%lld%s %lld/%lld  loss %.4f  %s samples/s  ETA %s",
                 (long long)s->epoch, (long long)s->epochs, bar, (long long)s->step,
                 (long long)s->steps, s->mean_loss, rate, eta);
    else
        snprintf(buf, len, "epoch %lld/%lld  step %lld/%lld (%lld of the run's %lld)  loss %.4f  "
                 "%s samples/s  ETA %s", (long long)s->epoch, (long long)s->epochs,
                 (long long)s->step, (long long)s->steps, (long long)s->run_step,
                 (long long)s->run_steps, s->mean_loss, rate, eta);
}

void rt_progress_update(rt_progress *pg, const rt_progress_state *s, bool force)
{
    if (!pg->live && !pg->plain)
        return;
    double now = rt_seconds();
    /* plain lines every interval; the live bar redrawn at most every
     * REDRAW_SECONDS once it is drawn */
    double wait = pg->plain ? pg->interval : REDRAW_SECONDS;
    if (!force && (pg->plain || pg->drawn) && now - pg->last_draw < wait)
        return;
    pg->last_draw = now;
    char text[256];
    progress_text(s, !pg->plain, text, sizeof text);
    /* \r returns to the start; \033[K erases what a longer previous line
     * left behind. */
    fprintf(stderr, pg->plain ? "%s\n" : "\r\033[K%s", text);
    fflush(stderr);
    pg->drawn = !pg->plain;
}

void rt_progress_clear(rt_progress *pg)
{
    if (!pg->live || !pg->drawn)
        return;
    fputs("\r\033[K", stderr);
    fflush(stderr);
    pg->drawn = false;
}
