/* threads.c — the runtime's thread pool.
 *
 * One job at a time: rt_parallel_for publishes (fn, ctx, ntasks), the
 * calling thread and nthreads-1 workers claim task indices from one atomic
 * counter, and the caller returns once every worker has checked in for
 * that job. Concurrent callers are serialized by `submit_lock`; a call made
 * from inside a task (on a worker or on the caller) runs serially, so
 * kernels may call kernels.
 *
 * Idle workers spin for a short while and then sleep on a condition
 * variable. The spin covers the gap between the kernels of one training
 * step (tens of microseconds), where a futex wake-up would cost more than
 * the work of a small kernel; the sleep keeps a pool that has nothing to do
 * from eating a core, which is where PyTorch's OpenMP pools lose
 * throughput to other work on the machine.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "netrt.h"

/* Pause iterations before a worker (or a waiting caller) goes to sleep.
 * On Zen 4 PAUSE takes tens of cycles, so this is some 50-100 us. */
#define SPIN_ITERATIONS 20000

typedef struct pool {
    pthread_mutex_t lock;
    pthread_cond_t wake;    /* workers sleep here waiting for a new generation */
    pthread_cond_t done;    /* the caller sleeps here waiting for `pending` == 0 */
    pthread_t *workers;
    int nthreads;           /* workers + the calling thread; 0 = not started */
    int sleepers;           /* workers waiting on `wake`, under `lock` */
    bool caller_sleeping;   /* under `lock` */
    bool stop;              /* under `lock`, and read by spinning workers */

    /* The job. Written by the caller before `generation` moves on,
     * read by workers after they see it move (release/acquire). */
    rt_task_fn fn;
    void *ctx;
    int64_t ntasks;
    _Atomic int64_t next;      /* next task index to claim */
    _Atomic int pending;       /* workers that have not finished this job */
    _Atomic uint64_t generation;
    _Atomic bool stopping;
} pool;

static pool the_pool = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .wake = PTHREAD_COND_INITIALIZER,
    .done = PTHREAD_COND_INITIALIZER,
};
/* Held for a whole parallel_for, init or shutdown. */
static pthread_mutex_t submit_lock = PTHREAD_MUTEX_INITIALIZER;
/* True while this thread runs a task, so nested calls go serial. */
static _Thread_local bool in_task;

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void run_tasks(pool *p)
{
    in_task = true;
    for (;;) {
        int64_t i = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
        if (i >= p->ntasks)
            break;
        p->fn(p->ctx, i);
    }
    in_task = false;
}

static void *worker_main(void *arg)
{
    pool *p = arg;
    uint64_t seen = 0;
    for (;;) {
        uint64_t gen = atomic_load_explicit(&p->generation, memory_order_acquire);
        for (int spin = 0; gen == seen && spin < SPIN_ITERATIONS; spin++) {
            if (atomic_load_explicit(&p->stopping, memory_order_relaxed))
                break;
            cpu_relax();
            gen = atomic_load_explicit(&p->generation, memory_order_acquire);
        }
        if (gen == seen) {
            pthread_mutex_lock(&p->lock);
            p->sleepers++;
            while ((gen = atomic_load(&p->generation)) == seen && !p->stop)
                pthread_cond_wait(&p->wake, &p->lock);
            p->sleepers--;
            bool stop = p->stop;
            pthread_mutex_unlock(&p->lock);
            if (stop && gen == seen)
                return NULL;
        }
        seen = gen;
        run_tasks(p);
        if (atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&p->lock);
            if (p->caller_sleeping)
                pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->lock);
        }
    }
}

static int default_threads(void)
{
    const char *env = getenv("NETRT_THREADS");
    if (env && *env) {
        char *end;
        long n = strtol(env, &end, 10);
        if (*end == '\0' && n >= 1 && n <= 1024)
            return (int)n;
        fprintf(stderr, "netrt: NETRT_THREADS=%s: expected a count from 1 to 1024; ignored\n", env);
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n >= 1 ? (int)(n > 1024 ? 1024 : n) : 1;
}

/* Both need submit_lock held. */
static void pool_stop(pool *p)
{
    if (p->nthreads == 0)
        return;
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    atomic_store(&p->stopping, true);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->nthreads - 1; i++)
        pthread_join(p->workers[i], NULL);
    free(p->workers);
    p->workers = NULL;
    p->nthreads = 0;
    p->stop = false;
    atomic_store(&p->stopping, false);
}

static void pool_start(pool *p, int nthreads)
{
    p->nthreads = 1;
    if (nthreads <= 1)
        return;
    p->workers = calloc((size_t)nthreads - 1, sizeof *p->workers);
    if (!p->workers) {
        fprintf(stderr, "netrt: out of memory starting %d threads; running on one\n", nthreads);
        return;
    }
    for (int i = 0; i < nthreads - 1; i++) {
        if (pthread_create(&p->workers[i], NULL, worker_main, p) != 0) {
            /* A pool with fewer threads still computes the same results. */
            fprintf(stderr, "netrt: could not start thread %d of %d; using %d\n", i + 2, nthreads,
                    i + 1);
            break;
        }
        p->nthreads++;
    }
}

void rt_threads_init(int nthreads)
{
    pthread_mutex_lock(&submit_lock);
    pool_stop(&the_pool);
    pool_start(&the_pool, nthreads > 0 ? nthreads : default_threads());
    pthread_mutex_unlock(&submit_lock);
}

int rt_threads_count(void)
{
    pthread_mutex_lock(&submit_lock);
    int n = the_pool.nthreads ? the_pool.nthreads : default_threads();
    pthread_mutex_unlock(&submit_lock);
    return n;
}

void rt_threads_shutdown(void)
{
    pthread_mutex_lock(&submit_lock);
    pool_stop(&the_pool);
    pthread_mutex_unlock(&submit_lock);
}

static void run_serially(int64_t ntasks, rt_task_fn fn, void *ctx)
{
    bool outer = in_task;
    in_task = true;
    for (int64_t i = 0; i < ntasks; i++)
        fn(ctx, i);
    in_task = outer;
}

void rt_parallel_for(int64_t ntasks, rt_task_fn fn, void *ctx)
{
    if (ntasks <= 0)
        return;
    if (in_task || ntasks == 1) {
        run_serially(ntasks, fn, ctx);
        return;
    }
    pool *p = &the_pool;
    pthread_mutex_lock(&submit_lock);
    if (p->nthreads == 0)
        pool_start(p, default_threads());
    if (p->nthreads == 1) {
        pthread_mutex_unlock(&submit_lock);
        run_serially(ntasks, fn, ctx);
        return;
    }

    p->fn = fn;
    p->ctx = ctx;
    p->ntasks = ntasks;
    atomic_store_explicit(&p->next, 0, memory_order_relaxed);
    atomic_store_explicit(&p->pending, p->nthreads - 1, memory_order_relaxed);
    /* Bumped under the lock so a worker between its check and its
     * cond_wait cannot miss the wake-up. */
    pthread_mutex_lock(&p->lock);
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
    if (p->sleepers)
        pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);

    run_tasks(p);

    for (int spin = 0; spin < SPIN_ITERATIONS; spin++) {
        if (atomic_load_explicit(&p->pending, memory_order_acquire) == 0)
            break;
        cpu_relax();
    }
    if (atomic_load_explicit(&p->pending, memory_order_acquire) != 0) {
        pthread_mutex_lock(&p->lock);
        p->caller_sleeping = true;
        while (atomic_load(&p->pending) != 0)
            pthread_cond_wait(&p->done, &p->lock);
        p->caller_sleeping = false;
        pthread_mutex_unlock(&p->lock);
    }
    pthread_mutex_unlock(&submit_lock);
}
