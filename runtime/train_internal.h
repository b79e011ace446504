/* train_internal.h — what the command line (cli.c), the training loop
 * (train.c), predict.c and progress.c share; not part of the runtime's
 * public interface (netrt.h). */
#ifndef TRAIN_INTERNAL_H
#define TRAIN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "netrt.h"
#include "util.h" /* rt_mul_checked, rt_format_size, rt_seconds */

/* 52000.4 -> "52,000": counts people read at a glance. */
void rt_format_thousands(double value, char *buf, size_t len);
/* 75.2 -> "1:15", 3725 -> "1:02:05". */
void rt_format_duration(double seconds, char *buf, size_t len);

/* The progress of `train`. On a terminal (live) a line redrawn in place on
 * stderr at most ten times a second, so drawing never costs the training
 * loop more than a few microseconds a step. Elsewhere (plain: a pipe, a
 * file, nohup, CI) a plain line on stderr every few seconds
 * ($NETRT_PROGRESS seconds, default 5; "off" for none), so a log shows
 * life before an epoch ends. */
typedef struct rt_progress {
    bool live;
    bool plain;
    double interval;  /* seconds between plain lines */
    bool drawn;       /* a line is on screen and must be cleared before other output */
    double last_draw; /* rt_seconds() of the last redraw or plain line */
} rt_progress;

typedef struct rt_progress_state {
    int64_t epoch, epochs;          /* 1-based epoch, of epochs */
    int64_t step, steps;            /* steps done in this epoch, of steps in it */
    int64_t run_step, run_steps;    /* steps done in the whole run, of its steps */
    bool by_steps;                  /* the run counts --steps: the bar counts to run_steps */
    int64_t run_steps_left;         /* optimizer steps left in the whole run, for the ETA */
    double mean_loss;               /* running mean over this epoch's samples */
    double samples_per_s;
    double steps_per_s;
} rt_progress_state;

/* live: stderr is a terminal; otherwise plain lines (unless NETRT_PROGRESS
 * says off). */
void rt_progress_init(rt_progress *pg, bool live);
/* Redraws if 0.1 s passed since the last redraw (a plain line: the
 * interval), or always when force. */
void rt_progress_update(rt_progress *pg, const rt_progress_state *s, bool force);
/* Erases the line, so what is printed next starts on a clean line. */
void rt_progress_clear(rt_progress *pg);

/* ----------------------------------------------- validation (validate.c) */

/* Rows of n that `val = fraction` holds out: round(n * fraction), at least
 * 1 and at most n - 1; 0 when n < 2 or the fraction is not in (0, 1). */
int64_t rt_split_count(int64_t n, double fraction);
/* Splits rows [0, n) into n - nval training rows and nval validation rows,
 * each list in increasing order: the last nval rows when tail (text), else
 * a subset fixed by the seed. Returns 0, or -1 when out of memory. */
int rt_split_rows(int64_t n, int64_t nval, bool tail, uint64_t seed, int64_t *train_rows,
                  int64_t *val_rows);

/* The best evaluation so far and how long ago it was. */
typedef struct rt_early_stop {
    bool maximize;         /* accuracy: higher is better */
    int64_t patience;      /* stop after this many evaluations without improvement; 0: never */
    double best;           /* NaN before the first evaluation */
    int64_t evals;         /* evaluations recorded */
    int64_t best_eval;     /* 1-based evaluation of the best, 0: none yet */
    int64_t best_step, best_epoch;
    int64_t since_best;    /* evaluations since the best */
} rt_early_stop;

void rt_early_stop_init(rt_early_stop *e, bool maximize, int64_t patience);
/* Records one evaluation; returns true when it is the best so far. */
bool rt_early_stop_record(rt_early_stop *e, double value, int64_t step, int64_t epoch);
/* patience evaluations in a row did not improve. */
bool rt_early_stop_done(const rt_early_stop *e);
/* The checkpoint's netc.validation record: "none" before the first
 * evaluation, else the counts and the best (written with %.17g, so the
 * best reads back bit for bit; "nan" when every evaluation was NaN).
 * rt_early_stop_parse keeps e's maximize and patience and returns false
 * on a record no run writes (counts out of order, a best without its
 * evaluation or an evaluation without its best). */
void rt_early_stop_format(const rt_early_stop *e, char *buf, size_t len);
bool rt_early_stop_parse(const char *v, rt_early_stop *e);

/* The reproducibility record of a run (record.c): LOG.json beside the
 * CSV log, written atomically. */
typedef struct rt_run_record {
    const rt_program *p;
    int argc;
    char **argv;
    uint64_t seed;
    int64_t batch, epochs, steps;     /* epochs or steps is 0 */
    const char *data, *test, *val;    /* files as found, or NULL */
    double val_fraction;
    int64_t train_samples, val_samples;
    long long started;                /* time(), seconds since 1970 */
    const char *status;               /* "running", "finished", "stopped early", ... */
    int64_t step;                     /* steps done */
    const rt_early_stop *best;        /* with validation, else NULL */
    const char *monitor;              /* "val_loss" or "val_accuracy" */
    const char *save_best;            /* --save-best FILE, or NULL */
} rt_run_record;

int rt_run_record_write(const char *log_path, const rt_run_record *rec, char *err, size_t errlen);

/* ---------------------------------------------- shared by the commands */

/* Exit codes, as netrt.h promises them; RC_NOTHING_TO_DO (internal) is a
 * resumed run that already reached its end, which exits 0. */
enum { RC_NOTHING_TO_DO = -1, RC_OK = 0, RC_INPUT = 1, RC_USAGE = 2, RC_INTERRUPTED = 130 };

enum { ERRLEN = 1024, PATHLEN = 4096, FLOAT_ALIGN = 16 /* floats in 64 bytes */ };

/* One line on stderr, prefixed by the program's name like any Unix tool. */
void rt_report(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

const char *rt_dtype_name(rt_dtype t);
/* "f32[1, 28, 28]", or "i32" for one value per sample. */
void rt_format_type(rt_dtype t, const int64_t *dims, int rank, char *buf, size_t len);
/* "32x32", as people say image sizes. */
void rt_format_dims_x(const int64_t *dims, int rank, char *buf, size_t len);
const char *rt_optimizer_name(rt_opt_kind k);
const char *rt_loss_name(rt_loss_kind k);
const char *rt_init_name(rt_init k);

/* The parsed command line (cli.c). */
typedef enum command {
    CMD_TRAIN = 1,
    CMD_EVAL = 2,
    CMD_PREDICT = 4,
    CMD_SAMPLE = 8,
} command;

typedef enum flag_id {
    FLAG_EPOCHS, FLAG_STEPS, FLAG_BATCH, FLAG_LR, FLAG_SEED, FLAG_THREADS,
    FLAG_DATA, FLAG_TEST, FLAG_SAVE, FLAG_RESUME, FLAG_LOG, FLAG_LOAD,
    FLAG_PROMPT, FLAG_TOKENS, FLAG_TEMPERATURE, FLAG_TOP_K, /* sample */
    FLAG_PROBS, FLAG_TOP,                                   /* predict */
    FLAG_GRID, FLAG_OUTPUT, FLAG_SAMPLES,
    FLAG_VAL, FLAG_SAVE_BEST, FLAG_JSON, FLAG_CONFUSION, FLAG_PER_CLASS,
    FLAG_CHECK_REPLICAS,
    NFLAG
} flag_id;

/* "--prompt" for FLAG_PROMPT: the name the command line spells. */
const char *rt_flag_name(flag_id id);


typedef struct options {
    const char *prog;
    command cmd;
    const char *cmd_name;
    bool given[NFLAG];
    int64_t count[NFLAG]; /* V_COUNT flags */
    float lr;
    uint64_t seed;
    int threads;
    const char *path[NFLAG]; /* V_PATH flags */
    const char *input;        /* predict's INPUT */
    bool embedded;            /* the program holds its weights: --load is optional */
    float temperature;        /* sample */
    int argc;                 /* the whole command line, for the run's record */
    char **argv;
} options;

typedef struct source_files {
    rt_source src; /* with the paths below */
    char path[PATHLEN];
    char labels[PATHLEN];
    const char *shown; /* the name the user wrote, for messages */
} source_files;

/* Every buffer of a run in one 64-byte-aligned block, allocated once. */
typedef struct buffers {
    void *block;
    float *params, *grads, *state, *arena, *out, *probs;
    void *x, *y; /* one batch, 4-byte elements (f32 or i32) */
} buffers;

/* The loss of step k (of the train step when the program has no steps)
 * at `step` came out NaN or infinite (nonfinite.c): reports why, naming
 * the weight an update made non-finite or the first instruction that made
 * a NaN or an infinity (rerunning the step checked, on the same batch and
 * seed). Under mpirun every rank calls it and rank 0 reports. */
void rt_report_non_finite(const char *prog, const rt_program *p, const buffers *b, int64_t batch, double loss, int k,
                          int64_t step, int64_t epoch, uint64_t seed);
/* `init from(FILE)` (transfer.c): loads every parameter with init_from
 * from the checkpoint at path (resolved) into params, checking each name
 * and shape first; then prints to report (unless NULL) what was loaded,
 * frozen, left fresh, and what in the file went unused. RC_OK or
 * RC_INPUT after a message. */
int rt_init_from(const char *prog, const rt_program *p, const char *path, float *params, FILE *report);
/* The steps of one training iteration (rt_plan_steps, train.c): a program
 * without step blocks is one step over all its trainable floats; each
 * step's optimizer state is `blocks` blocks of (end - begin) floats at
 * state_offset. */
enum { RT_MAX_STEPS = 16 };
typedef struct step_plan {
    int n;
    rt_step step[RT_MAX_STEPS];
    int blocks[RT_MAX_STEPS];
    int64_t state_offset[RT_MAX_STEPS];
    int64_t state_floats;
} step_plan;
void rt_plan_steps(const rt_program *p, step_plan *sp);
/* The order of an epoch's n training rows under seed: what train.c
 * gathers its batches in (test_gan replays a run through the embedding
 * API with it). */
void rt_epoch_order(int64_t *order, int64_t n, uint64_t seed, int64_t epoch);

/* Classes of a cross-entropy model: the output's last dimension. */
int64_t rt_class_count(const rt_program *p);
/* The index of the first of n class labels outside [0, classes), or -1:
 * the softmax kernel aborts on one, so data and the embedding API check. */
int64_t rt_first_bad_label(const rt_program *p, const int32_t *y, int64_t n);
/* Loads a resolved source and checks it against the model (labels only
 * when with_labels). Returns RC_OK, or a code after a message. */
int rt_load_source(const char *prog, const rt_program *p, const source_files *f, bool with_labels,
                   rt_dataset *d);
/* The same for samples of forward's input (predict's INPUT), which for a
 * program of steps is not the training data's `real` (a GAN's generator
 * takes noise). */
int rt_load_forward_input(const char *prog, const rt_program *p, const source_files *f, rt_dataset *d);
/* Reports a command-line data file that rt_data_resolve did not find as a
 * file (missing, a folder, a device); flag may be NULL. Returns RC_INPUT. */
int rt_report_unresolved(const char *prog, const char *path, const char *flag);
int rt_alloc_buffers(const char *prog, const rt_program *p, int64_t batch, int64_t state_floats,
                     bool training, buffers *b);
/* Weights only, from a checkpoint, into params. */
int rt_load_weights(const char *prog, const char *path, const rt_program *p, float *params);

/* ------------------------------------------------ data (train_data.c) */

/* Fills f from the train block's source `config` or, when flag_path is
 * given, from that file with config's kind and scale (or `fallback`'s when
 * config has no source). Returns RC_OK, or a code after a message. */
int rt_resolve_source(const char *prog, const rt_program *p, const rt_source *config,
                      const rt_source *fallback, const char *flag, const char *flag_path,
                      source_files *f);

/* ---------------------------------- a run's checkpoints (train_checkpoint.c) */

/* The tensors a checkpoint holds, named: parameters, then optimizer state. */
typedef struct tensor_list {
    rt_named_tensor *t;
    int n;
    char *names; /* storage for the optimizer tensors' names */
} tensor_list;
void rt_run_tensors_free(tensor_list *l);
/* Parameters by their names, then (with a step plan) the optimizer state
 * of each trainable one its step updates as `optimizer.<name>.<block>`. */
int rt_run_tensors_build(const char *prog, const rt_program *p, float *params, float *state,
                         const step_plan *sp, tensor_list *l);

/* Where a run stands: enough to continue it exactly. */
typedef struct position {
    int64_t step;     /* optimizer steps done */
    int64_t epoch;    /* epochs finished (0-based index of the current one) */
    int64_t in_epoch; /* steps done in the current epoch */
    int64_t batch;
    uint64_t seed;
    rt_early_stop es; /* the best validation evaluation so far, and since when */
} position;
int rt_run_checkpoint_save(const char *prog, const char *path, const rt_program *p,
                           const tensor_list *l, const step_plan *sp, const position *at);
/* --resume: weights, optimizer state (when the optimizer is the same: the
 * file then must hold exactly the model and its state) and the position. */
int rt_run_resume(const char *prog, const char *path, const rt_program *p, const step_plan *sp,
                  const tensor_list *with_state, const tensor_list *weights_only, position *at);

/* ----------------------------------------------- evaluation (evaluate.c) */

typedef struct rt_metrics rt_metrics;
/* Forward over the rows of d (every row when rows is NULL), in batches,
 * the last one smaller; m is reset and gets the figures. Under mpirun each
 * rank runs a contiguous share of the rows and the counts are all-reduced,
 * so every rank gets the figures of the whole set. */
void rt_evaluate(const rt_program *p, const rt_dataset *d, const int64_t *rows, int64_t n,
                 int64_t batch, const float *params, const buffers *b, rt_metrics *m);
/* The figures the model's loss has (an autoencoder's: mse's). */
int rt_eval_metrics_init(const char *prog, const rt_program *p, rt_metrics *m);
/* "test loss 0.3710  test accuracy 86.41%" (prefix "test "), and an
 * autoencoder's "test reconstruction mse 0.0123". */
void rt_eval_summary(const rt_program *p, const rt_metrics *m, const char *prefix, char *buf, size_t len);

/* ------------------------------------------------- the CSV log (trainlog.c) */

/* The CSV log lives in memory and is rewritten whole, atomically, after
 * every epoch, so a reader never sees half a row. */
typedef struct csv_log {
    const char *path;
    char *text;
    size_t len, cap;
} csv_log;
/* Opens the log of `rows` rows to come; resuming, it keeps the previous
 * run's rows up to step `upto`. */
int rt_log_open(const char *prog, csv_log *log, const char *path, int64_t rows, bool resuming, int64_t upto);
/* One row: an evaluation, or the end of an epoch, or both. test and val
 * are NULL when not evaluated at this row; best marks the best validation
 * evaluation so far. */
int rt_log_row(const char *prog, csv_log *log, int64_t epoch, int64_t step, float lr, double train_loss,
               const rt_metrics *test, const rt_metrics *val, bool best, double samples_per_s, double seconds);

/* The commands (train.c, evaluate.c, predict.c); each returns an exit code. */
int rt_cmd_train(const options *o, const rt_program *p);
int rt_cmd_eval(const options *o, const rt_program *p);
int rt_cmd_predict(const options *o, const rt_program *p);
int rt_cmd_sample(const options *o, const rt_program *p);
/* sample.c: RC_OK when the program's forward is a generator of pictures,
 * else a message and RC_USAGE; and one grid of rows x cols of its outputs
 * from noise drawn from seed, written to path as a PNG. */
int rt_sample_check(const char *prog, const rt_program *p);
/* textgen.c: `sample` for a model that is not a generator of pictures:
 * text from a prompt through the step function. */
int rt_cmd_generate(const options *o, const rt_program *p);
int rt_sample_grid(const char *prog, const rt_program *p, const float *params, int rows, int cols,
                   uint64_t seed, const char *path);
/* `plot LOG.csv -o FILE.png` (plot.c), argv holding what follows `plot`. */
int rt_cmd_plot(const char *prog, int argc, char **argv);

#endif
