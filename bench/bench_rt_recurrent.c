/* bench_rt_recurrent.c — milliseconds and GFLOP/s of rt_recurrent_forward
 * (training and inference) and rt_recurrent_backward on
 * examples/charlstm.net's two lstm layers at its batch (32 sequences of 64
 * steps, 256 units), and a gru and an rnn of the same size, with 1 and 2
 * threads on the best ISA path.
 *
 * FLOPs are the GEMMs' multiply-adds (2 each): forward 2 B T (D + H) G H,
 * backward twice that (dx and dh, then dW_ih and dW_hh); the elementwise
 * cell work is not counted, so a low figure next to the GEMM's own
 * (bench_rt_gemm) is time spent outside the products. Each figure is the
 * median of 7 samples after 30 ms of warm-up; a sample repeats the call
 * until it lasts at least 5 ms. The machine is shared: a figure far below
 * its neighbours usually means another process took a core.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "benchutil.h"
#include "netrt.h"


typedef struct layer {
    const char *name;
    rt_cell cell;
    int64_t batch, steps, inputs, units;
} layer;

static const layer layers[] = {
    { "charlstm lstm1 (D 64)", RT_CELL_LSTM, 32, 64, 64, 256 },
    { "charlstm lstm2 (D 256)", RT_CELL_LSTM, 32, 64, 256, 256 },
    { "gru, D 256", RT_CELL_GRU, 32, 64, 256, 256 },
    { "rnn, D 256", RT_CELL_RNN, 32, 64, 256, 256 },
};

typedef struct ctx {
    rt_recurrent r;
    int64_t batch;
    float *x, *w_ih, *w_hh, *bias, *y, *state, *work, *dy, *dx, *dw_ih, *dw_hh, *db;
} ctx;

static void run_train_forward(void *arg)
{
    ctx *c = arg;
    rt_recurrent_forward(&c->r, c->batch, true, c->x, c->w_ih, c->w_hh, c->bias, c->state, c->y);
}

static void run_infer(void *arg)
{
    ctx *c = arg;
    rt_recurrent_forward(&c->r, c->batch, false, c->x, c->w_ih, c->w_hh, c->bias, c->state, c->y);
}

static void run_backward(void *arg)
{
    ctx *c = arg;
    rt_recurrent_backward(&c->r, c->batch, c->x, c->w_ih, c->w_hh, c->state, c->y, c->dy, c->work, c->dx, c->dw_ih,
                          c->dw_hh, c->db, false);
}

static void make_ctx(ctx *c, const layer *l)
{
    int64_t g = l->cell == RT_CELL_LSTM ? 4 : l->cell == RT_CELL_GRU ? 3 : 1, gh = g * l->units;
    int64_t nx = l->batch * l->steps * l->inputs, ny = l->batch * l->steps * l->units;
    c->r = (rt_recurrent){ l->cell, l->steps, l->inputs, l->units, 1 };
    c->batch = l->batch;
    c->x = bench_floats(nx, 1, 2.0f), c->dy = bench_floats(ny, 2, 0.02f), c->bias = bench_floats(gh, 3, 0.2f);
    c->w_ih = bench_floats(gh * l->inputs, 4, 0.2f), c->w_hh = bench_floats(gh * l->units, 5, 0.2f);
    c->y = bench_floats(ny, 6, 0), c->dx = bench_floats(nx, 7, 0);
    c->dw_ih = bench_floats(gh * l->inputs, 8, 0), c->dw_hh = bench_floats(gh * l->units, 9, 0);
    c->db = bench_floats(gh, 10, 0);
    c->state = bench_floats(l->batch * rt_recurrent_state_floats(&c->r, true), 11, 0);
    c->work = bench_floats(l->batch * rt_recurrent_work_floats(&c->r), 12, 0);
}

static void free_ctx(ctx *c)
{
    free(c->x), free(c->dy), free(c->bias), free(c->w_ih), free(c->w_hh), free(c->y), free(c->dx);
    free(c->dw_ih), free(c->dw_hh), free(c->db), free(c->state), free(c->work);
}

int main(void)
{
    printf("recurrent layers, %s path: ms per call (GFLOP/s of the GEMM work)\n", rt_isa_name(rt_isa_current()));
    printf("%-24s %7s  %-18s %-18s %-18s\n", "layer (B 32, T 64, H 256)", "threads", "train forward", "backward",
           "inference");
    for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++) {
        const layer *l = &layers[i];
        ctx c;
        make_ctx(&c, l);
        int64_t g = l->cell == RT_CELL_LSTM ? 4 : l->cell == RT_CELL_GRU ? 3 : 1;
        double flops = 2.0 * (double)(l->batch * l->steps * (l->inputs + l->units) * g * l->units);
        for (int threads = 1; threads <= 2; threads++) {
            rt_threads_init(threads);
            double tf = time_it(run_train_forward, &c), tb = time_it(run_backward, &c), ti = time_it(run_infer, &c);
            printf("%-24s %7d  %6.2f (%5.1f)     %6.2f (%5.1f)     %6.2f (%5.1f)\n", l->name, threads, tf * 1e3,
                   flops / tf * 1e-9, tb * 1e3, 2 * flops / tb * 1e-9, ti * 1e3, flops / ti * 1e-9);
        }
        free_ctx(&c);
    }
    rt_threads_shutdown();
    return 0;
}
