/* train_internal.h — what train.c and progress.c share; not part of the
 * runtime's public interface (netrt.h). */
#ifndef TRAIN_INTERNAL_H
#define TRAIN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Seconds on a monotonic clock, for rates and durations only. */
double rt_seconds(void);

/* 52000.4 -> "52,000": counts people read at a glance. */
void rt_format_thousands(double value, char *buf, size_t len);
/* 75.2 -> "1:15", 3725 -> "1:02:05". */
void rt_format_duration(double seconds, char *buf, size_t len);

/* The live progress line of `train` on a terminal. Redrawn in place on
 * stderr at most ten times a second, so drawing never costs the training
 * loop more than a few microseconds a step. With live false every call is
 * a no-op and the caller prints one plain line per epoch instead. */
typedef struct rt_progress {
    bool live;
    bool drawn;       /* a line is on screen and must be cleared before other output */
    double last_draw; /* rt_seconds() of the last redraw */
} rt_progress;

typedef struct rt_progress_state {
    int64_t epoch, epochs;          /* 1-based epoch, of epochs */
    int64_t step, steps;            /* steps done in this epoch, of steps in it */
    int64_t run_steps_left;         /* optimizer steps left in the whole run, for the ETA */
    double mean_loss;               /* running mean over this epoch's samples */
    double samples_per_s;
    double steps_per_s;
} rt_progress_state;

void rt_progress_init(rt_progress *pg, bool live);
/* Redraws if 0.1 s passed since the last redraw, or always when force. */
void rt_progress_update(rt_progress *pg, const rt_progress_state *s, bool force);
/* Erases the line, so what is printed next starts on a clean line. */
void rt_progress_clear(rt_progress *pg);

#endif
