/* threads.c — the runtime's thread pool.
 *
 * One job at a time: rt_parallel_for publishes (fn, ctx, ntasks), and the
 * calling thread and nthreads-1 workers claim tasks until none are left,
 * each first from its own home range of them (HOME_TASKS below); the call
 * returns when every task has run. Concurrent callers are
 * serialized by `submit_lock`; a call made from inside a task (on a worker
 * or on the caller) runs serially, so kernels may call kernels.
 *
 * The caller waits for tasks, not for workers: a worker that has not been
 * scheduled yet (the other core busy with another process) must not hold
 * the job up. The first version waited for every worker to check in, and
 * with a test hogging the second core each 2-thread GEMM took a whole
 * scheduler tick (~1 ms) longer while the caller had done all the work.
 * So a late worker must never run a task of a job that is over, nor mix
 * the fields of two jobs: the job is published seqlock-style, and a task
 * is claimed by a compare-and-swap that fails once the job is over: on the
 * task's flag, which holds the number of the last job that ran it (jobs of
 * up to HOME_TASKS tasks), or on a word holding (generation, next index).
 *
 * Idle workers spin for a short while and then sleep on a condition
 * variable. The spin covers the gap between the kernels of one training
 * step (tens of microseconds), where a futex wake-up would cost more than
 * the work of a small kernel; the sleep keeps a pool that has nothing to do
 * from eating a core, which is where PyTorch's OpenMP pools lose
 * throughput to other work on the machine.
 *
 * A worker woken from that sleep often lands on the caller's core (seen on
 * this 2-vCPU KVM guest: the wake-up puts it there although the other core
 * is idle), and then the two take turns on one core until the load
 * balancer separates them, 5-10 ms later: 2-thread GEMMs of 256x512x128
 * ran at 60-110 GFLOP/s (1 thread: 105) for the first 10 ms after any
 * pause longer than the spin, against 200 once apart. So a worker that
 * finds itself on the core of the thread that published the job moves off
 * it (see leave_callers_cpu); it is not pinned anywhere.
 */
#if defined(__linux__)
#define _GNU_SOURCE /* sched_getcpu, sched_setaffinity */
#include <sched.h>
#endif
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "netrt.h"

/* Pause iterations before a worker (or a waiting caller) goes to sleep.
 * A PAUSE measured 30 ns on this Zen 4 (20000 took 593 us), so this is
 * about 150 us: longer than the gaps between kernels of a training step,
 * short enough that an idle pool costs nothing (0.6 ms of CPU over a 1 s
 * pause with the old 20000, 0.2 ms now). */
#define SPIN_ITERATIONS 5000

/* Jobs of up to this many tasks give each thread a home range of them
 * (run_home): with tasks handed out in the order threads came for them,
 * which core's cache held a kernel's output was chance, and about half of
 * every tensor moved between the two cores' caches on its way to the next
 * kernel. gpt.net's attention forward on two threads (mean per call): the
 * heads' tasks after the Q/K/V GEMM took 0.66 ms against 1.00 ms on one
 * thread, and the Q/K/V GEMM of the next call 0.78 ms against 0.54 ms
 * without the heads between; with home ranges, 0.46 and 0.61 ms. Now
 * the rows of every row-split kernel (GEMM parts, layernorm and
 * elementwise chunks, attention's samples) stay on one core from kernel
 * to kernel, unless a thread steals them because it ran out of its own. */
#define HOME_TASKS 4096

typedef struct pool {
    pthread_mutex_t lock;
    pthread_cond_t wake;    /* workers sleep here waiting for a new generation */
    pthread_cond_t done;    /* the caller sleeps here waiting for the last task */
    pthread_t *workers;
    int nthreads;           /* workers + the calling thread; 0 = not started */
    /* nthreads for rt_threads_count, which must not take submit_lock: a
     * GEMM inside a task asks for it while the task's caller holds it. */
    _Atomic int count;
    int sleepers;           /* workers waiting on `wake`, under `lock` */
    bool caller_sleeping;   /* under `lock` */
    bool stop;              /* under `lock` */
    _Atomic bool stopping;  /* `stop`, for spinning workers */

    /* (generation << 32) | next task index. An odd generation means the
     * caller is writing the job fields below; an even one names a job. */
    _Atomic uint64_t claim;
    _Atomic(rt_task_fn) fn;
    _Atomic(void *) ctx;
    _Atomic int64_t ntasks;
    _Atomic int64_t finished; /* tasks of the current job that have run */
    _Atomic int caller_cpu;   /* where the job was published; -1 unknown */
    _Atomic uint64_t seq;     /* the job's number, counting from 1; never wraps */
    /* Per task of a job of at most HOME_TASKS: the seq of the last job that
     * claimed it. */
    _Alignas(64) _Atomic uint64_t task_seq[HOME_TASKS]; /* off the line of `finished` */
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

static inline uint32_t generation_of(uint64_t claim)
{
    return (uint32_t)(claim >> 32);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* After fn ran task `index`: the caller is woken if it was the last. */
static void task_done(pool *p, int64_t ntasks)
{
    if (atomic_fetch_add_explicit(&p->finished, 1, memory_order_acq_rel) + 1 == ntasks) {
        pthread_mutex_lock(&p->lock);
        if (p->caller_sleeping)
            pthread_cond_signal(&p->done);
        pthread_mutex_unlock(&p->lock);
    }
}

/* Claims task k of job number `seq` by its flag: false if the job already ran it,
 * or if a newer job has taken the flag (this job is over). A late worker
 * can claim nothing of a job that is over: every task of a finished job
 * holds its number or a newer one. */
static bool claim_home(pool *p, int64_t k, uint64_t seq, bool *over)
{
    uint64_t seen = atomic_load_explicit(&p->task_seq[k], memory_order_relaxed);
    if (seen >= seq) {
        *over = seen != seq;
        return false;
    }
    return atomic_compare_exchange_strong_explicit(&p->task_seq[k], &seen, seq, memory_order_acq_rel,
                                                   memory_order_relaxed);
}

/* Jobs of at most HOME_TASKS tasks: thread `slot` of n runs its home
 * range of the tasks, [slot * ntasks / n, (slot + 1) * ntasks / n), first
 * to last, then takes what is left of the others' ranges from their ends.
 * So a kernel's rows land on the same core as the previous kernel's same
 * rows (see HOME_TASKS). */
static void run_home(pool *p, uint64_t seq, int slot, rt_task_fn fn, void *ctx, int64_t ntasks)
{
    int n = p->nthreads;
    bool over = false;
    for (int r = 0; r < n && !over; r++) {
        /* every task claimed and run: nothing left to steal (for a late
         * worker, a newer job's count can only stop it early, harmlessly) */
        if (r > 0 && atomic_load_explicit(&p->finished, memory_order_relaxed) == ntasks)
            break;
        int s = (slot + r) % n;
        int64_t lo = s * ntasks / n, hi = (s + 1) * ntasks / n;
        for (int64_t i = 0; i < hi - lo && !over; i++) {
            int64_t k = r == 0 ? lo + i : hi - 1 - i;
            if (claim_home(p, k, seq, &over)) {
                fn(ctx, k);
                task_done(p, ntasks);
            }
        }
    }
}

/* Jobs of more than HOME_TASKS tasks: indices handed out in order from
 * the claim word's counter, by a compare-and-swap that fails once the job
 * has been replaced. */
static void run_counted(pool *p, uint32_t gen, rt_task_fn fn, void *ctx, int64_t ntasks)
{
    for (;;) {
        uint64_t claim = atomic_load_explicit(&p->claim, memory_order_acquire);
        if (generation_of(claim) != gen)
            return;
        int64_t index = (int64_t)(claim & 0xFFFFFFFFu);
        if (index >= ntasks)
            return;
        if (!atomic_compare_exchange_weak_explicit(&p->claim, &claim, claim + 1,
                                                   memory_order_acq_rel, memory_order_relaxed))
            continue;
        fn(ctx, index);
        task_done(p, ntasks);
    }
}

/* Runs tasks of job `gen` until none is left or the job is no longer
 * current. The job's fields are read seqlock-style: the caller makes the
 * generation odd before it writes a field and even after, so fields read
 * between two loads of the same even generation are that job's. */
static void run_tasks(pool *p, uint32_t gen, int slot)
{
    in_task = true;
    rt_task_fn fn = atomic_load_explicit(&p->fn, memory_order_relaxed);
    void *ctx = atomic_load_explicit(&p->ctx, memory_order_relaxed);
    int64_t ntasks = atomic_load_explicit(&p->ntasks, memory_order_relaxed);
    uint64_t seq = atomic_load_explicit(&p->seq, memory_order_relaxed);
    atomic_thread_fence(memory_order_acquire);
    if (generation_of(atomic_load_explicit(&p->claim, memory_order_relaxed)) == gen) {
        if (ntasks <= HOME_TASKS)
            run_home(p, seq, slot, fn, ctx, ntasks);
        else
            run_counted(p, gen, fn, ctx, ntasks);
    }
    in_task = false;
}

static int current_cpu(void)
{
#if defined(__linux__)
    return sched_getcpu();
#else
    return -1;
#endif
}

/* Moves the calling worker off the CPU it shares with the job's caller:
 * allowing every CPU but this one makes the kernel migrate the thread at
 * once, and restoring the mask leaves it where it went. Costs two system
 * calls, and only when the two threads share a core. */
static void leave_callers_cpu(pool *p)
{
#if defined(__linux__)
    int cpu = sched_getcpu();
    if (cpu < 0 || cpu != atomic_load_explicit(&p->caller_cpu, memory_order_relaxed))
        return;
    cpu_set_t allowed, others;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0 || !CPU_ISSET(cpu, &allowed))
        return;
    others = allowed;
    CPU_CLR(cpu, &others);
    if (CPU_COUNT(&others) == 0)
        return;
    if (sched_setaffinity(0, sizeof others, &others) == 0)
        sched_setaffinity(0, sizeof allowed, &allowed);
#else
    (void)p;
#endif
}

/* arg: the worker's slot, 1 to nthreads - 1 (the caller's is 0). */
static void *worker_main(void *arg)
{
    pool *p = &the_pool;
    int slot = (int)(intptr_t)arg;
    uint32_t seen = generation_of(atomic_load(&p->claim));
    for (;;) {
        uint32_t gen = generation_of(atomic_load_explicit(&p->claim, memory_order_acquire));
        for (int spin = 0; (gen == seen || gen % 2) && spin < SPIN_ITERATIONS; spin++) {
            if (atomic_load_explicit(&p->stopping, memory_order_relaxed))
                break;
            cpu_relax();
            gen = generation_of(atomic_load_explicit(&p->claim, memory_order_acquire));
        }
        if (gen == seen || gen % 2) {
            pthread_mutex_lock(&p->lock);
            p->sleepers++;
            /* Jobs are published under the lock, so an odd generation is
             * never seen here. */
            while ((gen = generation_of(atomic_load(&p->claim))) == seen && !p->stop)
                pthread_cond_wait(&p->wake, &p->lock);
            p->sleepers--;
            bool stop = p->stop;
            pthread_mutex_unlock(&p->lock);
            if (stop)
                return NULL;
        }
        seen = gen;
        leave_callers_cpu(p);
        run_tasks(p, gen, slot);
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
    atomic_store(&p->count, 0);
    p->stop = false;
    atomic_store(&p->stopping, false);
}

static void pool_start(pool *p, int nthreads)
{
    p->nthreads = 1;
    atomic_store(&p->count, 1);
    if (nthreads <= 1)
        return;
    p->workers = calloc((size_t)nthreads - 1, sizeof *p->workers);
    if (!p->workers) {
        fprintf(stderr, "netrt: out of memory starting %d threads; running on one\n", nthreads);
        return;
    }
    for (int i = 0; i < nthreads - 1; i++) {
        if (pthread_create(&p->workers[i], NULL, worker_main, (void *)(intptr_t)(i + 1)) != 0) {
            /* A pool with fewer threads still computes the same results. */
            fprintf(stderr, "netrt: could not start thread %d of %d; using %d\n", i + 2, nthreads,
                    i + 1);
            break;
        }
        p->nthreads++;
    }
    atomic_store(&p->count, p->nthreads);
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
    int n = atomic_load_explicit(&the_pool.count, memory_order_relaxed);
    return n ? n : default_threads();
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

/* Runs fn over [0, ntasks) on the pool; submit_lock held. */
static void run_on_pool(pool *p, int64_t ntasks, rt_task_fn fn, void *ctx)
{
    uint32_t gen = generation_of(atomic_load_explicit(&p->claim, memory_order_relaxed));
    pthread_mutex_lock(&p->lock);
    /* Odd: late workers of the last job stop claiming before fields change. */
    atomic_store_explicit(&p->claim, (uint64_t)(gen + 1) << 32, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&p->fn, fn, memory_order_relaxed);
    atomic_store_explicit(&p->ctx, ctx, memory_order_relaxed);
    atomic_store_explicit(&p->ntasks, ntasks, memory_order_relaxed);
    atomic_store_explicit(&p->finished, 0, memory_order_relaxed);
    atomic_store_explicit(&p->caller_cpu, current_cpu(), memory_order_relaxed);
    atomic_store_explicit(&p->seq, atomic_load_explicit(&p->seq, memory_order_relaxed) + 1, memory_order_relaxed);
    gen += 2;
    atomic_store_explicit(&p->claim, (uint64_t)gen << 32, memory_order_release);
    if (p->sleepers)
        pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);

    run_tasks(p, gen, 0);

    for (int spin = 0; spin < SPIN_ITERATIONS; spin++) {
        if (atomic_load_explicit(&p->finished, memory_order_acquire) == ntasks)
            return;
        cpu_relax();
    }
    pthread_mutex_lock(&p->lock);
    p->caller_sleeping = true;
    while (atomic_load(&p->finished) != ntasks)
        pthread_cond_wait(&p->done, &p->lock);
    p->caller_sleeping = false;
    pthread_mutex_unlock(&p->lock);
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
    if (p->nthreads == 1 || ntasks > INT32_MAX) {
        /* Task indices are claimed in 32 bits; nobody needs 2^31 tasks. */
        pthread_mutex_unlock(&submit_lock);
        run_serially(ntasks, fn, ctx);
        return;
    }
    run_on_pool(p, ntasks, fn, ctx);
    pthread_mutex_unlock(&submit_lock);
}

void rt_run_tasks(int64_t ntasks, rt_task_fn fn, void *ctx)
{
    if (ntasks == 1)
        fn(ctx, 0);
    else if (ntasks > 1)
        rt_parallel_for(ntasks, fn, ctx);
}
