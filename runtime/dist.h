/* dist.h — data-parallel training across processes on Open MPI (dist.c);
 * internal to the runtime, used by cli.c and train.c.
 *
 * A process is distributed when Open MPI launched it with more than one
 * rank (OMPI_COMM_WORLD_SIZE > 1); only then is libmpi opened (dlopen)
 * and initialised. Otherwise every function here is a cheap no-op, rank
 * is 0 of 1, and the binary behaves exactly as it always did. */
#ifndef DIST_H
#define DIST_H

#include <stdbool.h>
#include <stdint.h>

#include "netrt.h"

/* Opens and initialises MPI when Open MPI launched this process with
 * several ranks. Returns 0, or an exit code after a message. */
int rt_dist_init(const char *prog);
/* MPI_Finalize when initialised (every rank must reach it). */
void rt_dist_finalize(void);
bool rt_dist_on(void);
int rt_dist_rank(void);
int rt_dist_size(void);
/* Ranks of this job on this machine (1 when not distributed). */
int rt_dist_local_size(void);

/* This rank's part of a global batch: `count` samples starting at
 * `offset`; the first batch % size ranks take one sample more. */
void rt_dist_shard(int64_t batch, int64_t *offset, int64_t *count);

/* The largest exit code of all ranks, on every rank, and the lowest rank
 * that had it (-1 when all are 0). A collective: every rank calls it at the
 * same point. Not distributed: rc itself. */
int rt_dist_agree(int rc, int *worst_rank);
/* rt_dist_agree, and when another rank failed, rank 0 says which and
 * `when` ("to read the checkpoint"); that rank's own message is above. */
int rt_dist_agree_report(const char *prog, int rc, const char *when);

/* Gradient all-reduce around one train_step. step_begin arms the buckets
 * (this rank's `local` samples start at `offset` of `global`), train_step's
 * rt_grad_ready calls start each bucket's non-blocking all-reduce as its
 * gradients become final, and step_end starts the rest, sums `loss` and
 * the stop flag, waits for everything, and averages the change of the
 * non-trainable parameters (batchnorm's running statistics). */
struct step_plan;
int rt_dist_setup(const char *prog, const rt_program *p, const struct step_plan *sp, float *params,
                  float *grads);
/* One step block trains [begin, end) of the parameter block: only the
 * buckets there are reduced. */
void rt_dist_step_begin(int64_t begin, int64_t end, int64_t offset, int64_t local, int64_t global);
void rt_dist_step_end(double *loss, bool *stop);
/* While on, the checked re-run of a failed step (train.c) runs on this
 * rank alone: its rt_grad_ready calls start no all-reduce, and dropout
 * keys its masks on the last step's part of the batch, as that step did. */
void rt_dist_rerun(bool on);
/* Seconds spent waiting for all-reduces to finish since the last call. */
double rt_dist_wait_seconds(void);
void rt_dist_teardown(void);

/* Sums a few doubles over every rank, in place (blocking). */
void rt_dist_sum(double *v, int n);

/* Verifies that every rank holds the same parameters (a 64-bit hash of
 * params, gathered). Returns 0, or RC_INPUT on every rank after rank 0
 * names the ranks that differ. */
int rt_dist_check_replicas(const char *prog, const float *params, int64_t n, int64_t step);

/* Element offset of this rank's batch in the global batch for a tensor of
 * n elements over this rank's samples (dropout keys its masks on it, so
 * ranks draw what one process would). 0 when not distributed or outside a
 * training step. */
int64_t rt_dist_element_offset(int64_t n);

#endif
