/* scratch.c — per-thread scratch buffers (the contract is in util.h). */
#include "util.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct thread_scratch {
    void *buf[RT_SCRATCH_SLOTS];
    size_t cap[RT_SCRATCH_SLOTS]; /* bytes */
    bool registered;
} thread_scratch;

static _Thread_local thread_scratch scratch;
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void free_thread_scratch(void *arg)
{
    thread_scratch *s = arg;
    for (int k = 0; k < RT_SCRATCH_SLOTS; k++)
        free(s->buf[k]);
    *s = (thread_scratch){ 0 };
}

static void make_scratch_key(void)
{
    if (pthread_key_create(&scratch_key, free_thread_scratch) != 0) {
        fprintf(stderr, "%s:%d: netrt: pthread_key_create failed\n", __FILE__, __LINE__);
        abort();
    }
}

void *rt_thread_scratch(rt_scratch_slot slot, size_t bytes)
{
    thread_scratch *s = &scratch;
    if (s->cap[slot] >= bytes && s->buf[slot])
        return s->buf[slot];
    if (!s->registered) {
        pthread_once(&scratch_once, make_scratch_key);
        pthread_setspecific(scratch_key, s); /* so the thread's exit frees it */
        s->registered = true;
    }
    free(s->buf[slot]);
    size_t size = (bytes + 63) / 64 * 64;
    s->buf[slot] = aligned_alloc(64, size ? size : 64);
    if (!s->buf[slot]) {
        fprintf(stderr, "%s:%d: netrt: out of memory for a %zu-byte scratch buffer (slot %d)\n", __FILE__,
                __LINE__, size, (int)slot);
        abort();
    }
    s->cap[slot] = size;
    return s->buf[slot];
}
