/* dist.c — data-parallel training on Open MPI, opened at run time.
 *
 * Requires: a process that Open MPI's mpirun started (OMPI_COMM_WORLD_SIZE
 * in its environment) to do anything at all. Produces: the rank and size
 * of the job, this rank's share of each batch, gradients summed over every
 * rank by bucketed non-blocking all-reduces, agreement on exit codes, and a
 * check that every rank holds the same parameters.
 *
 * Why libmpi is opened with dlopen and not linked. A model binary and
 * netc must stay what they were for everyone who never runs mpirun: no
 * libmpi (and its dozen libraries: hwloc, libevent, PMIx) loaded at
 * start-up, no MPI_Init, and a binary that still runs on a machine without
 * Open MPI; the C emitted for embedding must not need MPI either. Open MPI
 * sets OMPI_COMM_WORLD_SIZE in every process it launches, so the runtime
 * opens libmpi.so.40 only then (RTLD_GLOBAL: Open MPI's plugins resolve
 * libmpi's symbols through the global scope), and a launch of one rank
 * stays a plain process too. Types and prototypes come from Open MPI's
 * mpi.h; MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM and the other predefined
 * handles are addresses of libmpi's globals (ompi_mpi_comm_world, ...), so
 * they are looked up with dlsym as well. Built without mpi.h, a launch by
 * mpirun is refused with a message.
 *
 * Threads: MPI is called from the main thread only (MPI_THREAD_FUNNELED);
 * the kernels' pool never calls it. Open MPI progresses a non-blocking
 * collective only inside MPI calls, so rt_grad_ready tests the buckets in
 * flight each time it is called, between the backward kernels. */
#include "dist.h"
#include "train_internal.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if NETC_HAVE_MPI
#include <mpi.h>
#endif

static struct {
    bool on;
    int rank, size, local_size;
} dist = { .rank = 0, .size = 1, .local_size = 1 };

bool rt_dist_on(void) { return dist.on; }
int rt_dist_rank(void) { return dist.rank; }
int rt_dist_size(void) { return dist.size; }
int rt_dist_local_size(void) { return dist.local_size; }

void rt_dist_shard(int64_t batch, int64_t *offset, int64_t *count)
{
    int64_t base = batch / dist.size, extra = batch % dist.size, r = dist.rank;
    *offset = r * base + (r < extra ? r : extra);
    *count = base + (r < extra ? 1 : 0);
}

/* A positive whole number from the environment, or 0. */
static int env_count(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return 0;
    char *end;
    long n = strtol(v, &end, 10);
    return *end || n < 1 || n > 1 << 24 ? 0 : (int)n;
}

/* 64-bit FNV-1a over the words of the parameter block: replicas hold the
 * same bits exactly when they agree, so a hash of the bits suffices. */
static uint64_t hash_floats(const float *v, int64_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    const uint32_t *w = (const uint32_t *)(const void *)v;
    for (int64_t i = 0; i < n; i++) {
        h ^= w[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

#if NETC_HAVE_MPI

/* ------------------------------------------------------- libmpi, opened */

#define MPI_FUNCTIONS(X) \
    X(MPI_Init_thread) X(MPI_Initialized) X(MPI_Finalize) X(MPI_Abort) X(MPI_Comm_rank) \
    X(MPI_Comm_size) X(MPI_Comm_set_errhandler) X(MPI_Error_string) X(MPI_Allreduce) \
    X(MPI_Iallreduce) X(MPI_Allgather) X(MPI_Test) X(MPI_Waitall)

static struct {
    void *lib;
#define X(f) __typeof__(f) *f;
    MPI_FUNCTIONS(X)
#undef X
    MPI_Comm world;
    MPI_Datatype f32, f64, u64, two_int;
    MPI_Op sum, maxloc;
    MPI_Errhandler errors_return;
    MPI_Request request_null;
} mpi;

static const char *prog_name = "netc";

/* An MPI call failed: this rank cannot go on, and the others would wait
 * for it forever, so the whole job ends. */
static void mpi_check(int err, const char *what)
{
    if (err == MPI_SUCCESS)
        return;
    char text[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    mpi.MPI_Error_string(err, text, &len);
    rt_report(prog_name, "MPI error in %s: %s; ending the job", what, text);
    mpi.MPI_Abort(mpi.world, RC_INPUT);
    _exit(RC_INPUT);
}

static int open_mpi(const char *prog)
{
    const char *names[] = { "libmpi.so.40", "libmpi.so" };
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !mpi.lib; i++)
        mpi.lib = dlopen(names[i], RTLD_NOW | RTLD_GLOBAL);
    if (!mpi.lib) {
        rt_report(prog, "started by mpirun (OMPI_COMM_WORLD_SIZE=%s) but libmpi.so.40 cannot be "
                  "opened: %s; install Open MPI (apt-get install openmpi-bin)",
                  getenv("OMPI_COMM_WORLD_SIZE"), dlerror());
        return RC_INPUT;
    }
    bool ok = true;
    /* POSIX lets a void * from dlsym become a function pointer; C does not
     * say so, hence the memcpy. */
#define X(f) { void *s = dlsym(mpi.lib, #f); ok = ok && s; memcpy(&mpi.f, &s, sizeof s); }
    MPI_FUNCTIONS(X)
#undef X
    struct { const char *name; void **slot; } globals[] = {
        { "ompi_mpi_comm_world", (void **)&mpi.world },
        { "ompi_mpi_float", (void **)&mpi.f32 },
        { "ompi_mpi_double", (void **)&mpi.f64 },
        { "ompi_mpi_uint64_t", (void **)&mpi.u64 },
        { "ompi_mpi_2int", (void **)&mpi.two_int },
        { "ompi_mpi_op_sum", (void **)&mpi.sum },
        { "ompi_mpi_op_maxloc", (void **)&mpi.maxloc },
        { "ompi_mpi_errors_return", (void **)&mpi.errors_return },
        { "ompi_request_null", (void **)&mpi.request_null },
    };
    for (size_t i = 0; i < sizeof globals / sizeof globals[0]; i++) {
        *globals[i].slot = dlsym(mpi.lib, globals[i].name);
        ok = ok && *globals[i].slot;
    }
    if (!ok) {
        rt_report(prog, "libmpi.so.40 lacks the Open MPI symbols this runtime uses (%s); it "
                  "needs Open MPI 4", dlerror());
        return RC_INPUT;
    }
    return RC_OK;
}

int rt_dist_init(const char *prog)
{
    prog_name = prog;
    int size = env_count("OMPI_COMM_WORLD_SIZE");
    if (size <= 1)
        return RC_OK;
    int rc = open_mpi(prog);
    if (rc != RC_OK)
        return rc;
    int provided = 0;
    if (mpi.MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        rt_report(prog, "MPI_Init_thread failed");
        return RC_INPUT;
    }
    mpi.MPI_Comm_set_errhandler(mpi.world, mpi.errors_return);
    mpi_check(mpi.MPI_Comm_rank(mpi.world, &dist.rank), "MPI_Comm_rank");
    mpi_check(mpi.MPI_Comm_size(mpi.world, &dist.size), "MPI_Comm_size");
    int local = env_count("OMPI_COMM_WORLD_LOCAL_SIZE");
    dist.local_size = local > 0 ? local : 1;
    dist.on = dist.size > 1;
    return RC_OK;
}

void rt_dist_finalize(void)
{
    if (!dist.on)
        return;
    mpi.MPI_Finalize();
    dist.on = false;
}

int rt_dist_agree(int rc, int *worst_rank)
{
    *worst_rank = rc != RC_OK ? dist.rank : -1;
    if (!dist.on)
        return rc;
    /* Exit codes are small and positive except RC_INTERRUPTED; MAXLOC
     * gives the largest and, on ties, the lowest rank that has it. */
    int in[2] = { rc, dist.rank }, out[2];
    mpi_check(mpi.MPI_Allreduce(in, out, 1, mpi.two_int, mpi.maxloc, mpi.world), "MPI_Allreduce");
    *worst_rank = out[0] != RC_OK ? out[1] : -1;
    return out[0];
}

void rt_dist_sum(double *v, int n)
{
    if (dist.on)
        mpi_check(mpi.MPI_Allreduce(MPI_IN_PLACE, v, n, mpi.f64, mpi.sum, mpi.world), "MPI_Allreduce");
}

int rt_dist_check_replicas(const char *prog, const float *params, int64_t n, int64_t step)
{
    if (!dist.on)
        return RC_OK;
    uint64_t mine = hash_floats(params, n);
    uint64_t *all = calloc((size_t)dist.size, sizeof *all);
    if (!all) {
        rt_report(prog, "out of memory");
        mpi.MPI_Abort(mpi.world, RC_INPUT);
        return RC_INPUT;
    }
    mpi_check(mpi.MPI_Allgather(&mine, 1, mpi.u64, all, 1, mpi.u64, mpi.world), "MPI_Allgather");
    int differ = 0;
    char list[256] = "";
    size_t len = 0;
    for (int r = 1; r < dist.size; r++)
        if (all[r] != all[0]) {
            if (differ++ < 8 && len < sizeof list - 16)
                len += (size_t)snprintf(list + len, sizeof list - len, "%s%d", len ? ", " : "", r);
        }
    free(all);
    if (!differ)
        return RC_OK;
    if (dist.rank == 0)
        rt_report(prog, "replicas differ after step %lld: the parameters of rank%s %s%s are not "
                  "rank 0's (a nondeterministic kernel, or ranks built from different programs "
                  "or flags)", (long long)step, differ > 1 ? "s" : "", list,
                  differ > 8 ? ", ..." : "");
    return RC_INPUT;
}

/* ------------------------------------------------------------ gradients */

typedef struct bucket {
    int64_t begin, end;   /* floats of the gradient block */
    int64_t expected;     /* parameter floats in it that rt_grad_ready reports */
    int64_t pending;
    bool started;
} bucket;

/* The gradient all-reduce of a training run: its buckets, and in a step
 * the requests in flight (one per bucket started, then the loss and stop
 * flag). */
static struct {
    bool armed;
    bool rerun;                  /* the checked re-run of a failed step: see rt_dist_rerun */
    const rt_program *p;
    float *params, *grads;
    bucket *b;
    int nb;
    float scale;                 /* local / global samples */
    int64_t offset, local;       /* this rank's samples in the global batch */
    float *stats_before;         /* non-trainable parameters before the step */
    int64_t stats_floats;
    double scalars[2];           /* loss, stop */
    MPI_Request *reqs;
    int nreq;
    double wait_seconds;
} g;

/* Is a parameter starting at `offset` the first of a step block's span? */
static bool starts_span(const step_plan *sp, int64_t offset)
{
    for (int k = 0; k < sp->n; k++)
        if (sp->step[k].begin == offset || sp->step[k].end == offset)
            return true;
    return false;
}

int rt_dist_setup(const char *prog, const rt_program *p, const step_plan *sp, float *params,
                  float *grads)
{
    if (!dist.on)
        return RC_OK;
    memset(&g, 0, sizeof g);
    g.p = p;
    g.params = params;
    g.grads = grads;
    /* About 8 buckets, of 16 Ki to 4 Mi floats (64 KiB to 16 MiB), cut at
     * parameter starts in layout order, so a parameter travels whole:
     * small enough that the last layers' buckets leave while earlier
     * layers still compute, large enough that each message is far above
     * the network's latency. A bucket never straddles two step blocks'
     * spans (GANs). NETC_BUCKET_FLOATS overrides the size (to measure). */
    int64_t target = env_count("NETC_BUCKET_FLOATS");
    if (target <= 0)
        target = p->trainable_floats / 8 < (1 << 14) ? 1 << 14
                 : p->trainable_floats / 8 > (1 << 22) ? 1 << 22 : p->trainable_floats / 8;
    int np = p->nparams;
    g.b = calloc((size_t)(np > 0 ? np : 1), sizeof *g.b);
    int *order = calloc((size_t)(np > 0 ? np : 1), sizeof *order);
    if (!g.b || !order) {
        free(order);
        rt_report(prog, "out of memory");
        return RC_INPUT;
    }
    int n = 0;
    for (int i = 0; i < np; i++)
        if (p->params[i].trainable && p->params[i].count > 0)
            order[n++] = i;
    for (int i = 1; i < n; i++) /* by offset; insertion sort: a few hundred at most */
        for (int k = i; k > 0 && p->params[order[k - 1]].offset > p->params[order[k]].offset; k--) {
            int t = order[k];
            order[k] = order[k - 1];
            order[k - 1] = t;
        }
    for (int i = 0; i < n; i++) {
        const rt_param_desc *d = &p->params[order[i]];
        bucket *last = g.nb ? &g.b[g.nb - 1] : NULL;
        if (!last || last->end - last->begin >= target || starts_span(sp, d->offset)) {
            last = &g.b[g.nb++];
            last->begin = i == 0 ? 0 : d->offset;
        }
        last->expected += d->count;
        last->end = d->offset + d->count;
    }
    free(order);
    if (g.nb > 0)
        g.b[g.nb - 1].end = p->trainable_floats;
    for (int i = 0; i + 1 < g.nb; i++)
        g.b[i].end = g.b[i + 1].begin; /* padding between parameters travels too */
    for (int i = 0; i < g.nb; i++)
        if (g.b[i].end - g.b[i].begin > (1ll << 30)) {
            rt_report(prog, "a parameter of %lld floats is beyond one MPI message",
                      (long long)(g.b[i].end - g.b[i].begin));
            return RC_INPUT;
        }
    g.stats_floats = p->param_floats - p->trainable_floats;
    g.stats_before = malloc((size_t)(g.stats_floats > 0 ? g.stats_floats : 1) * sizeof(float));
    g.reqs = malloc((size_t)(g.nb + 2) * sizeof *g.reqs);
    if (!g.stats_before || !g.reqs) {
        rt_report(prog, "out of memory");
        return RC_INPUT;
    }
    return RC_OK;
}

void rt_dist_teardown(void)
{
    free(g.b);
    free(g.stats_before);
    free(g.reqs);
    memset(&g, 0, sizeof g);
}

void rt_dist_step_begin(int64_t begin, int64_t end, int64_t offset, int64_t local, int64_t global)
{
    if (!dist.on)
        return;
    g.armed = true;
    g.nreq = 0;
    g.offset = offset;
    g.local = local;
    g.scale = (float)((double)local / (double)global);
    for (int i = 0; i < g.nb; i++) {
        g.b[i].pending = g.b[i].expected;
        /* outside this step's span: nothing to reduce */
        g.b[i].started = g.b[i].end <= begin || g.b[i].begin >= end;
    }
    if (g.stats_floats > 0)
        memcpy(g.stats_before, g.params + g.p->trainable_floats, (size_t)g.stats_floats * sizeof(float));
}

int64_t rt_dist_element_offset(int64_t n)
{
    return (g.armed || g.rerun) && g.local > 0 ? n / g.local * g.offset : 0;
}

void rt_dist_rerun(bool on)
{
    g.rerun = on && dist.on;
}

static void start_bucket(bucket *b)
{
    b->started = true;
    float *v = g.grads + b->begin;
    int64_t n = b->end - b->begin;
    /* train_step's gradient is the mean over this rank's samples; the sum
     * over ranks of mean * local / global is the mean over the global
     * batch (with an even split the factor is 1/size, exact for 2, 4 ...). */
    if (g.scale != 1.0f)
        for (int64_t i = 0; i < n; i++)
            v[i] *= g.scale;
    mpi_check(mpi.MPI_Iallreduce(MPI_IN_PLACE, v, (int)n, mpi.f32, mpi.sum, mpi.world,
                                 &g.reqs[g.nreq++]), "MPI_Iallreduce");
}

/* Lets Open MPI move the collectives in flight along. */
static void progress(void)
{
    for (int i = 0; i < g.nreq; i++) {
        int done = 0;
        if (g.reqs[i] != mpi.request_null)
            mpi_check(mpi.MPI_Test(&g.reqs[i], &done, MPI_STATUS_IGNORE), "MPI_Test");
    }
}

void rt_dist_step_end(double *loss, bool *stop)
{
    if (!dist.on)
        return;
    /* Buckets no rt_grad_ready completed (code generated without the
     * hooks): the same order on every rank. */
    for (int i = 0; i < g.nb; i++)
        if (!g.b[i].started)
            start_bucket(&g.b[i]);
    g.armed = false;
    g.scalars[0] = *loss;
    g.scalars[1] = *stop ? 1 : 0;
    mpi_check(mpi.MPI_Iallreduce(MPI_IN_PLACE, g.scalars, 2, mpi.f64, mpi.sum, mpi.world,
                                 &g.reqs[g.nreq++]), "MPI_Iallreduce");
    /* Running statistics: each rank moved them by its own batch; the mean
     * of the moves is applied (a parameter nothing moves stays bitwise). */
    float *stats = g.params + g.p->trainable_floats;
    for (int64_t i = 0; i < g.stats_floats; i++)
        stats[i] -= g.stats_before[i];
    MPI_Request stats_req = mpi.request_null;
    if (g.stats_floats > 0)
        mpi_check(mpi.MPI_Iallreduce(MPI_IN_PLACE, stats, (int)g.stats_floats, mpi.f32, mpi.sum,
                                     mpi.world, &stats_req), "MPI_Iallreduce");
    double t0 = rt_seconds();
    mpi_check(mpi.MPI_Waitall(g.nreq, g.reqs, MPI_STATUSES_IGNORE), "MPI_Waitall");
    mpi_check(mpi.MPI_Waitall(1, &stats_req, MPI_STATUSES_IGNORE), "MPI_Waitall");
    g.wait_seconds += rt_seconds() - t0;
    float inv = 1.0f / (float)dist.size;
    for (int64_t i = 0; i < g.stats_floats; i++)
        stats[i] = g.stats_before[i] + stats[i] * inv;
    *loss = g.scalars[0];
    *stop = g.scalars[1] > 0;
}

void rt_grad_ready(int64_t offset, int64_t count)
{
    if (!g.armed)
        return;
    int64_t end = offset + count;
    for (int i = 0; i < g.nb; i++) {
        bucket *b = &g.b[i];
        int64_t lo = offset > b->begin ? offset : b->begin, hi = end < b->end ? end : b->end;
        if (hi <= lo || b->started)
            continue;
        b->pending -= hi - lo;
        if (b->pending <= 0)
            start_bucket(b);
    }
    progress();
}

#else /* built without Open MPI's mpi.h */

int rt_dist_init(const char *prog)
{
    if (env_count("OMPI_COMM_WORLD_SIZE") <= 1)
        return RC_OK;
    rt_report(prog, "started by mpirun with %s ranks, but this runtime was built without Open MPI "
              "(mpi.h); install libopenmpi-dev and rebuild netc", getenv("OMPI_COMM_WORLD_SIZE"));
    return RC_USAGE;
}

void rt_dist_finalize(void) {}
int rt_dist_agree(int rc, int *worst_rank)
{
    *worst_rank = rc != RC_OK ? 0 : -1;
    return rc;
}
void rt_dist_sum(double *v, int n) { (void)v; (void)n; }
int rt_dist_check_replicas(const char *prog, const float *params, int64_t n, int64_t step)
{
    (void)prog; (void)params; (void)n; (void)step; (void)hash_floats;
    return RC_OK;
}
int rt_dist_setup(const char *prog, const rt_program *p, const struct step_plan *sp, float *params,
                  float *grads)
{
    (void)prog; (void)p; (void)sp; (void)params; (void)grads;
    return RC_OK;
}
void rt_dist_teardown(void) {}
void rt_dist_step_begin(int64_t begin, int64_t end, int64_t offset, int64_t local, int64_t global)
{
    (void)begin; (void)end; (void)offset; (void)local; (void)global;
}
void rt_dist_step_end(double *loss, bool *stop) { (void)loss; (void)stop; }
int64_t rt_dist_element_offset(int64_t n) { (void)n; return 0; }
void rt_dist_rerun(bool on) { (void)on; }
void rt_grad_ready(int64_t offset, int64_t count) { (void)offset; (void)count; }

#endif

/* Under mpirun, every rank learns the worst exit code of all of them at
 * the same point; rank 0 says which rank failed when it was not itself
 * (that rank's own message, with its rank, is above). */
int rt_dist_agree_report(const char *prog, int rc, const char *when)
{
    int worst;
    int all = rt_dist_agree(rc, &worst);
    if (all != RC_OK && rc == RC_OK && rt_dist_rank() == 0)
        rt_report(prog, "stopping every rank: rank %d failed %s", worst, when);
    return all;
}

double rt_dist_wait_seconds(void)
{
#if NETC_HAVE_MPI
    double s = g.wait_seconds;
    g.wait_seconds = 0;
    return s;
#else
    return 0;
#endif
}
