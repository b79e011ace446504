/* util.h — private to libnetrt: the small helpers every runtime file may
 * use (integer arithmetic on sizes, sizes for people, per-thread scratch).
 * Not installed, not for generated code. Each is defined here once; a file
 * that needs one includes this header rather than keeping a copy.
 */
#ifndef RT_UTIL_H
#define RT_UTIL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An enumerator's text from its netrt.h list, X(NAME, "text"):
 *   static const char *const names[] = { RT_LIST(RT_ENUM_TEXT) };
 *   return rt_enum_name(names, RT_COUNT(names), k);
 * "unknown" for a value outside the list. */
#define RT_ENUM_TEXT(name, text) text,
#define RT_COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))
static inline const char *rt_enum_name(const char *const *names, int n, int k)
{
    return k >= 0 && k < n ? names[k] : "unknown";
}

static inline int64_t min_i64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static inline int64_t max_i64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

/* How many items of `item_elements` elements each make a task of about
 * `task_elements` (at least one item): the split of norm.c and pool.c. */
static inline int64_t rt_items_per_task(int64_t task_elements, int64_t item_elements)
{
    int64_t per = task_elements / (item_elements > 0 ? item_elements : 1);
    return per < 1 ? 1 : per;
}

/* a / b rounded up; a >= 0, b > 0. */
static inline int64_t ceil_div(int64_t a, int64_t b)
{
    return (a + b - 1) / b;
}

/* a rounded up to a multiple of b; a >= 0, b > 0. */
static inline int64_t round_up(int64_t a, int64_t b)
{
    return ceil_div(a, b) * b;
}

/* a * b, or -1 if it does not fit in int64_t or either is negative (so a
 * -1 from an earlier overflow stays -1 through a chain of products). */
static inline int64_t rt_mul_checked(int64_t a, int64_t b)
{
    if (a < 0 || b < 0 || (a != 0 && b > INT64_MAX / a))
        return -1;
    return a * b;
}

/* The index of v's first NaN or infinity, or -1: the one scan behind
 * every "holds NaN" check (a loaded checkpoint, one about to be saved,
 * data once read). */
static inline int64_t rt_first_non_finite(const float *v, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return i;
    return -1;
}

/* "812 bytes", "3.1 kB", "3.1 MB", "3.1 GB" (powers of 1000): sizes in
 * messages are for people. bytes is a whole number (a double so that
 * computed totals fit); buf gets at most len bytes, NUL included. */
static inline void rt_format_size(double bytes, char *buf, size_t len)
{
    if (bytes < 1e3)
        snprintf(buf, len, "%.0f bytes", bytes);
    else if (bytes < 1e6)
        snprintf(buf, len, "%.1f kB", bytes / 1e3);
    else if (bytes < 1e9)
        snprintf(buf, len, "%.1f MB", bytes / 1e6);
    else
        snprintf(buf, len, "%.1f GB", bytes / 1e9);
}

/* n floats (at least one), zeroed, 64-byte aligned and rounded up to
 * whole cache lines; NULL when out of memory. Freed with free(). */
static inline float *rt_alloc_floats(int64_t n)
{
    size_t bytes = ((size_t)(n > 0 ? n : 1) * sizeof(float) + 63) / 64 * 64;
    float *p = aligned_alloc(64, bytes);
    if (p)
        memset(p, 0, bytes);
    return p;
}

/* ------------------------------------------------------------ scratch */

/* rt_thread_scratch(slot, bytes): a buffer of at least `bytes` bytes,
 * private to the calling thread (scratch.c).
 *  - alignment: 64 bytes (a cache line, a whole AVX-512 vector);
 *  - growth: a slot keeps its buffer between calls and reallocates it only
 *    when a larger size is asked for; its contents are then lost (never
 *    copied), so a caller treats a buffer as uninitialised on every call;
 *  - lifetime: valid until the same thread asks the same slot again for
 *    more bytes, freed when the thread exits (a pthread key's destructor);
 *  - thread safety: none needed, nothing is shared between threads. A
 *    kernel that hands a buffer to its pool tasks takes it on the calling
 *    thread first; a task takes its own on the worker that runs it.
 * Each slot has one owner, so the buffers of a kernel that calls another
 * (conv calling the GEMM micro-kernels, attention calling softmax) never
 * alias. Out of memory aborts with a message. The steady
 * state allocates nothing. */
typedef enum rt_scratch_slot {
    RT_SCRATCH_EMBED,          /* embed backward: the ids' counting sort */
    RT_SCRATCH_LAYERNORM,      /* layernorm backward: per-chunk gamma/beta sums */
    RT_SCRATCH_ATTENTION,      /* a head's T x T scores or their gradient */
    RT_SCRATCH_ATTENTION_BT,   /* a head's K or V, packed transposed once for its blocks */
    RT_SCRATCH_AUGMENT,        /* the middle image of an augmentation chain */
    RT_SCRATCH_GEMM_A,         /* GEMM: packed A panel */
    RT_SCRATCH_GEMM_B,         /* GEMM: packed B block */
    RT_SCRATCH_GEMM_T,         /* GEMM: C^T of a narrow product */
    RT_SCRATCH_GEMM_S,         /* GEMM: y^T of a swapped dense forward */
    RT_SCRATCH_CONV_COL,       /* conv: im2col columns, depthwise scratch */
    RT_SCRATCH_CONV_GATHER,    /* conv: gathered dy / output tiles */
    RT_SCRATCH_CONV_WPACK,     /* conv: packed filters, shared with the tasks */
    RT_SCRATCH_CONV_Y,         /* conv + pool: the conv's output nobody wants, shared with the tasks */
    RT_SCRATCH_CONV_PARTIAL,   /* conv: per-chunk filter gradients */
    RT_SCRATCH_CONV_PARTIAL_DB, /* conv: per-chunk bias gradients (double) */
    RT_SCRATCH_RNN_WHH,        /* recurrent: W_hh packed once for every step's product */
    RT_SCRATCH_RNN_TABLE,      /* recurrent over token ids: the V x G*H input table or its gradient */
    RT_SCRATCH_SLOTS
} rt_scratch_slot;

void *rt_thread_scratch(rt_scratch_slot slot, size_t bytes);

/* err = "PATH: " and the message, cut to errlen bytes: the readers' one
 * way of saying what was wrong with which file (file.c). */
void rt_path_error(char *err, size_t errlen, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Seconds on a monotonic clock, for rates and durations only (progress.c). */
double rt_seconds(void);
/* CPU seconds of the whole process (every thread, user and system): on a
 * shared machine the wall clock counts the time other jobs held the cores,
 * the CPU time does not, so the epoch line prints both. */
double rt_cpu_seconds(void);

#endif
