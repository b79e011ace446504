/* test_rt_optim.c — optimizers, learning-rate schedules and gradient
 * clipping of libnetrt.
 *
 * The expected parameters below were computed outside this code, by a
 * separate plain-Python (double precision) transcription of torch.optim's
 * update rules, written out in the comment above each table; they were not
 * produced by the code under test. Every case runs 3 steps on the same
 * 3-element vector and gradients:
 *
 *   p0 = { 1.0, -2.0, 0.5 }
 *   g1 = { 0.1, -0.2, 0.3 }, g2 = { -0.05, 0.4, 0.1 }, g3 = { 0.2, 0.1, -0.3 }
 *
 * The kernels compute in float with float hyper-parameters, so the
 * tolerance is 2e-6 absolute + 2e-6 relative (a few float roundings per
 * step on values near 1, and e.g. 0.999f differing from 0.999 by 1.3e-8).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "netrt.h"
#include "testutil.h"

static const float p0[3] = { 1.0f, -2.0f, 0.5f };
static const float grads[3][3] = {
    { 0.1f, -0.2f, 0.3f },
    { -0.05f, 0.4f, 0.1f },
    { 0.2f, 0.1f, -0.3f },
};


/* Runs 3 steps of opt at constant lr on every path and compares each
 * step's parameters. */
static void check_three_steps(const char *name, const rt_optimizer *opt, const double want[3][3])
{
    ck_assert_int_le(rt_optimizer_state_per_param(opt), 2);
    FOR_EACH_ISA(isa) {
        float p[3], state[3 * 2];
        memcpy(p, p0, sizeof p);
        memset(state, 0, sizeof state);
        for (int step = 1; step <= 3; step++) {
            rt_optimizer_step(opt, opt->lr, step, 3, p, grads[step - 1], state);
            for (int i = 0; i < 3; i++)
                ck_assert_msg(test_close(p[i], want[step - 1][i], 2e-6, 2e-6),
                              "%s %s step %d p[%d] = %.9g, want %.9g", rt_isa_name((rt_isa)isa),
                              name, step, i, p[i], want[step - 1][i]);
        }
    }
}

/* SGD, lr 0.1, no momentum:  p -= lr g */
START_TEST(test_sgd_plain)
{
    static const double want[3][3] = {
        { 0.99, -1.98, 0.47 },
        { 0.995, -2.02, 0.46 },
        { 0.975, -2.03, 0.49 },
    };
    rt_optimizer opt = { .kind = RT_OPT_SGD, .lr = 0.1f };
    ck_assert_int_eq(rt_optimizer_state_per_param(&opt), 0);
    check_three_steps("sgd", &opt, want);
}
END_TEST

/* SGD, lr 0.1, momentum 0.9, dampening 0:
 *   buf = g (step 1), buf = 0.9 buf + g (later); p -= lr buf */
START_TEST(test_sgd_momentum)
{
    static const double want[3][3] = {
        { 0.99, -1.98, 0.47 },
        { 0.986, -2.002, 0.433 },
        { 0.9624, -2.0318, 0.4297 },
    };
    rt_optimizer opt = { .kind = RT_OPT_SGD, .lr = 0.1f, .momentum = 0.9f };
    ck_assert_int_eq(rt_optimizer_state_per_param(&opt), 1);
    check_three_steps("sgd momentum", &opt, want);
}
END_TEST

/* SGD, lr 0.1, momentum 0.9, Nesterov, weight_decay 0.01:
 *   g = grad + 0.01 p; buf as above; p -= lr (g + 0.9 buf) */
START_TEST(test_sgd_nesterov_weight_decay)
{
    static const double want[3][3] = {
        { 0.9791, -1.9582, 0.44205 },
        { 0.97782971, -2.01265942, 0.397505105 },
        { 0.933209763, -2.04261123, 0.423057285 },
    };
    rt_optimizer opt = { .kind = RT_OPT_SGD, .lr = 0.1f, .momentum = 0.9f, .nesterov = true,
                         .weight_decay = 0.01f };
    check_three_steps("sgd nesterov", &opt, want);
}
END_TEST

/* Adam, lr 0.01, betas (0.9, 0.999), eps 1e-8:
 *   m = 0.9 m + 0.1 g;  v = 0.999 v + 0.001 g^2
 *   p -= lr / (1 - 0.9^t) * m / (sqrt(v) / sqrt(1 - 0.999^t) + eps) */
START_TEST(test_adam)
{
    static const double want[3][3] = {
        { 0.990000001, -1.99, 0.49 },
        { 0.987336631, -1.99366104, 0.481289361 },
        { 0.980755515, -1.99781755, 0.480805492 },
    };
    rt_optimizer opt = { .kind = RT_OPT_ADAM, .lr = 0.01f, .beta1 = 0.9f, .beta2 = 0.999f,
                         .eps = 1e-8f };
    ck_assert_int_eq(rt_optimizer_state_per_param(&opt), 2);
    check_three_steps("adam", &opt, want);
}
END_TEST

/* Adam as above with weight_decay 0.1 as L2: g = grad + 0.1 p first. */
START_TEST(test_adam_l2)
{
    static const double want[3][3] = {
        { 0.990000001, -1.99, 0.49 },
        { 0.981720481, -1.98735593, 0.480919309 },
        { 0.972827847, -1.98398303, 0.478597871 },
    };
    rt_optimizer opt = { .kind = RT_OPT_ADAM, .lr = 0.01f, .beta1 = 0.9f, .beta2 = 0.999f,
                         .eps = 1e-8f, .weight_decay = 0.1f };
    check_three_steps("adam l2", &opt, want);
}
END_TEST

/* AdamW as Adam above, weight_decay 0.1 decoupled: p *= 1 - lr * 0.1 before
 * the Adam update with the raw gradient. */
START_TEST(test_adamw)
{
    static const double want[3][3] = {
        { 0.989000001, -1.988, 0.4895 },
        { 0.985347631, -1.98967304, 0.480299861 },
        { 0.977781168, -1.99183987, 0.479335692 },
    };
    rt_optimizer opt = { .kind = RT_OPT_ADAMW, .lr = 0.01f, .beta1 = 0.9f, .beta2 = 0.999f,
                         .eps = 1e-8f, .weight_decay = 0.1f };
    ck_assert_int_eq(rt_optimizer_state_per_param(&opt), 2);
    check_three_steps("adamw", &opt, want);
}
END_TEST

/* Adam and AdamW are the same update without weight decay and differ with
 * it (L2 goes through the moments, decoupled decay does not). */
START_TEST(test_adam_vs_adamw)
{
    rt_optimizer adam = { .kind = RT_OPT_ADAM, .lr = 0.01f, .beta1 = 0.9f, .beta2 = 0.999f,
                          .eps = 1e-8f };
    rt_optimizer adamw = adam;
    adamw.kind = RT_OPT_ADAMW;
    float pa[3], pw[3], sa[6] = { 0 }, sw[6] = { 0 };
    memcpy(pa, p0, sizeof pa);
    memcpy(pw, p0, sizeof pw);
    for (int step = 1; step <= 3; step++) {
        rt_optimizer_step(&adam, 0.01f, step, 3, pa, grads[step - 1], sa);
        rt_optimizer_step(&adamw, 0.01f, step, 3, pw, grads[step - 1], sw);
    }
    ck_assert(memcmp(pa, pw, sizeof pa) == 0);
    adam.weight_decay = adamw.weight_decay = 0.1f;
    memcpy(pa, p0, sizeof pa);
    memcpy(pw, p0, sizeof pw);
    memset(sa, 0, sizeof sa);
    memset(sw, 0, sizeof sw);
    rt_optimizer_step(&adam, 0.01f, 1, 3, pa, grads[0], sa);
    rt_optimizer_step(&adamw, 0.01f, 1, 3, pw, grads[0], sw);
    for (int i = 0; i < 3; i++)
        ck_assert(fabsf(pa[i] - pw[i]) > 1e-4f);
}
END_TEST

/* RMSprop, lr 0.01, alpha 0.99, eps 1e-8:
 *   sq = 0.99 sq + 0.01 g^2;  p -= lr g / (sqrt(sq) + eps) */
START_TEST(test_rmsprop)
{
    static const double want[3][3] = {
        { 0.9000001, -1.90000005, 0.400000033 },
        { 0.944901385, -1.98953233, 0.368233997 },
        { 0.857427457, -2.01147967, 0.437403772 },
    };
    rt_optimizer opt = { .kind = RT_OPT_RMSPROP, .lr = 0.01f, .alpha = 0.99f, .eps = 1e-8f };
    ck_assert_int_eq(rt_optimizer_state_per_param(&opt), 1);
    check_three_steps("rmsprop", &opt, want);
}
END_TEST

/* RMSprop as above with momentum 0.9 and weight_decay 0.01:
 *   g = grad + 0.01 p;  sq as above;  buf = 0.9 buf + g / (sqrt(sq) + eps),
 *   buf starting at 0;  p -= lr buf */
START_TEST(test_rmsprop_momentum_weight_decay)
{
    static const double want[3][3] = {
        { 0.900000091, -1.90000005, 0.400000033 },
        { 0.845080055, -1.89670817, 0.277580822 },
        { 0.708322578, -1.91196951, 0.235551288 },
    };
    rt_optimizer opt = { .kind = RT_OPT_RMSPROP, .lr = 0.01f, .alpha = 0.99f, .eps = 1e-8f,
                         .momentum = 0.9f, .weight_decay = 0.01f };
    ck_assert_int_eq(rt_optimizer_state_per_param(&opt), 2);
    check_three_steps("rmsprop momentum", &opt, want);
}
END_TEST

/* Large tensors are split over threads; each element's update does not
 * depend on the split, so 1 and 2 threads agree bit for bit, and chunk
 * borders hold no surprise: every element equals a 1-element update. */
START_TEST(test_step_threads_identical)
{
    const int64_t n = 300007, probe = 70000; /* probe lies in the second chunk */
    static const rt_opt_kind kinds[] = { RT_OPT_SGD, RT_OPT_ADAM, RT_OPT_ADAMW, RT_OPT_RMSPROP };
    float *p1 = malloc((size_t)n * sizeof *p1), *p2 = malloc((size_t)n * sizeof *p2);
    float *g = malloc((size_t)n * 3 * sizeof *g);
    float *s1 = calloc((size_t)n * 2, sizeof *s1), *s2 = calloc((size_t)n * 2, sizeof *s2);
    for (int step = 1; step <= 3; step++)
        test_fill(g + (step - 1) * n, n, (uint32_t)(step + 10));
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        rt_optimizer opt = { .kind = kinds[k], .lr = 0.01f, .momentum = 0.9f, .beta1 = 0.9f,
                             .beta2 = 0.999f, .eps = 1e-8f, .alpha = 0.99f, .weight_decay = 0.01f };
        test_fill(p1, n, 1);
        memcpy(p2, p1, (size_t)n * sizeof *p1);
        float alone = p1[probe], alone_state[2] = { 0, 0 };
        memset(s1, 0, (size_t)n * 2 * sizeof *s1);
        memset(s2, 0, (size_t)n * 2 * sizeof *s2);
        for (int step = 1; step <= 3; step++) {
            const float *gs = g + (step - 1) * n;
            rt_threads_init(1);
            rt_optimizer_step(&opt, 0.01f, step, n, p1, gs, s1);
            rt_threads_init(2);
            rt_optimizer_step(&opt, 0.01f, step, n, p2, gs, s2);
            rt_optimizer_step(&opt, 0.01f, step, 1, &alone, gs + probe, alone_state);
        }
        ck_assert(memcmp(p1, p2, (size_t)n * sizeof *p1) == 0);
        ck_assert(memcmp(s1, s2, (size_t)n * 2 * sizeof *s1) == 0);
        ck_assert_msg(alone == p1[probe], "kind %d: alone %.9g, in bulk %.9g", (int)kinds[k],
                      alone, p1[probe]);
    }
    free(p1), free(p2), free(g), free(s1), free(s2);
}
END_TEST

/* The SIMD paths do the portable loop's float operations in the same order,
 * so every path gives the same bits, at sizes with every kind of tail. */
START_TEST(test_step_paths_identical)
{
    static const int64_t sizes[] = { 1, 7, 17, 1000, 4099 };
    static const rt_optimizer opts[] = {
        { .kind = RT_OPT_SGD, .lr = 0.1f, .weight_decay = 0.01f },
        { .kind = RT_OPT_SGD, .lr = 0.1f, .momentum = 0.9f },
        { .kind = RT_OPT_SGD, .lr = 0.1f, .momentum = 0.9f, .nesterov = true, .weight_decay = 0.01f },
        { .kind = RT_OPT_ADAM, .lr = 0.01f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
          .weight_decay = 0.1f },
        { .kind = RT_OPT_ADAMW, .lr = 0.01f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
          .weight_decay = 0.1f },
        { .kind = RT_OPT_RMSPROP, .lr = 0.01f, .alpha = 0.99f, .eps = 1e-8f },
        { .kind = RT_OPT_RMSPROP, .lr = 0.01f, .alpha = 0.99f, .eps = 1e-8f, .momentum = 0.9f,
          .weight_decay = 0.01f },
    };
    for (size_t k = 0; k < sizeof opts / sizeof opts[0]; k++) {
        for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++) {
            int64_t n = sizes[z];
            float *ref = malloc((size_t)n * sizeof *ref), *p = malloc((size_t)n * sizeof *p);
            float *ref_state = calloc((size_t)n * 2, sizeof *ref_state);
            float *state = calloc((size_t)n * 2, sizeof *state);
            float *g = malloc((size_t)n * 3 * sizeof *g);
            for (int step = 1; step <= 3; step++)
                test_fill(g + (step - 1) * n, n, (uint32_t)(100 * step + z));
            FOR_EACH_ISA(isa) {
                float *out = isa == RT_ISA_PORTABLE ? ref : p;
                float *st = isa == RT_ISA_PORTABLE ? ref_state : state;
                test_fill(out, n, (uint32_t)(7 + z));
                memset(st, 0, (size_t)n * 2 * sizeof *st);
                for (int step = 1; step <= 3; step++)
                    rt_optimizer_step(&opts[k], opts[k].lr, step, n, out, g + (step - 1) * n, st);
                if (isa != RT_ISA_PORTABLE) {
                    ck_assert_msg(memcmp(ref, p, (size_t)n * sizeof *p) == 0,
                                  "optimizer %zu n=%lld: %s differs from portable", k,
                                  (long long)n, rt_isa_name((rt_isa)isa));
                    ck_assert(memcmp(ref_state, state, (size_t)n * 2 * sizeof *state) == 0);
                }
            }
            free(ref), free(p), free(ref_state), free(state), free(g);
        }
    }
}
END_TEST

/* SGD without momentum keeps no state: NULL is fine. */
START_TEST(test_sgd_null_state)
{
    FOR_EACH_ISA(isa) {
        rt_optimizer opt = { .kind = RT_OPT_SGD, .lr = 0.1f };
        float p[3];
        memcpy(p, p0, sizeof p);
        rt_optimizer_step(&opt, 0.1f, 1, 3, p, grads[0], NULL);
        ck_assert(test_close(p[0], 0.99, 1e-7, 1e-7) && test_close(p[2], 0.47, 1e-7, 1e-7));
    }
}
END_TEST

/* ------------------------------------------------------------- schedules */

START_TEST(test_schedule_constant_warmup)
{
    rt_schedule s = { .kind = RT_SCHED_CONSTANT, .warmup = 10 };
    /* warm-up: base * step / warmup, reaching base at step == warmup */
    ck_assert(test_close(rt_schedule_lr(&s, 0.5f, 1, 100), 0.05, 1e-9, 1e-6));
    ck_assert(test_close(rt_schedule_lr(&s, 0.5f, 5, 100), 0.25, 1e-9, 1e-6));
    ck_assert(rt_schedule_lr(&s, 0.5f, 10, 100) == 0.5f);
    ck_assert(rt_schedule_lr(&s, 0.5f, 11, 100) == 0.5f);
    ck_assert(rt_schedule_lr(&s, 0.5f, 100, 100) == 0.5f);
    s.warmup = 0;
    ck_assert(rt_schedule_lr(&s, 0.5f, 1, 100) == 0.5f);
}
END_TEST

/* step: base * gamma^floor(s / every), s = step - warmup - 1, so steps
 * 1..100 run at base, 101..200 at base * gamma, ... */
START_TEST(test_schedule_step)
{
    rt_schedule s = { .kind = RT_SCHED_STEP, .every = 100, .gamma = 0.1f };
    ck_assert(rt_schedule_lr(&s, 1.0f, 1, 1000) == 1.0f);
    ck_assert(rt_schedule_lr(&s, 1.0f, 100, 1000) == 1.0f);
    ck_assert(test_close(rt_schedule_lr(&s, 1.0f, 101, 1000), 0.1, 0, 1e-6));
    ck_assert(test_close(rt_schedule_lr(&s, 1.0f, 200, 1000), 0.1, 0, 1e-6));
    ck_assert(test_close(rt_schedule_lr(&s, 1.0f, 201, 1000), 0.01, 0, 1e-6));
    /* with warm-up the staircase starts after it */
    s.warmup = 5;
    ck_assert(test_close(rt_schedule_lr(&s, 1.0f, 1, 1000), 0.2, 0, 1e-6));
    ck_assert(rt_schedule_lr(&s, 1.0f, 5, 1000) == 1.0f);
    ck_assert(rt_schedule_lr(&s, 1.0f, 105, 1000) == 1.0f);
    ck_assert(test_close(rt_schedule_lr(&s, 1.0f, 106, 1000), 0.1, 0, 1e-6));
}
END_TEST

/* cosine, base 1e-3, min 1e-5, warm-up 100 of 1101 steps: span 1001,
 *   lr = min + (base - min) (1 + cos(pi s / 1000)) / 2, s = step - 101.
 * Values from the separate Python calculation:
 *   s = 250: 0.000855017857;  s = 500: 0.000505 */
START_TEST(test_schedule_cosine)
{
    rt_schedule s = { .kind = RT_SCHED_COSINE, .warmup = 100, .min_lr = 1e-5f };
    const float base = 1e-3f;
    ck_assert(test_close(rt_schedule_lr(&s, base, 1, 1101), 1e-5, 1e-12, 1e-6));
    ck_assert(test_close(rt_schedule_lr(&s, base, 50, 1101), 5e-4, 1e-12, 1e-6));
    ck_assert(rt_schedule_lr(&s, base, 100, 1101) == base);
    ck_assert(rt_schedule_lr(&s, base, 101, 1101) == base);
    ck_assert(test_close(rt_schedule_lr(&s, base, 351, 1101), 0.000855017857, 1e-12, 1e-6));
    ck_assert(test_close(rt_schedule_lr(&s, base, 601, 1101), 0.000505, 1e-12, 1e-6));
    ck_assert(test_close(rt_schedule_lr(&s, base, 1101, 1101), 1e-5, 1e-13, 1e-6));
    ck_assert(rt_schedule_lr(&s, base, 1101, 1101) == s.min_lr);
    ck_assert(rt_schedule_lr(&s, base, 5000, 1101) == s.min_lr);
    /* decreasing after warm-up */
    float prev = rt_schedule_lr(&s, base, 101, 1101);
    for (int64_t step = 102; step <= 1101; step++) {
        float lr = rt_schedule_lr(&s, base, step, 1101);
        ck_assert(lr <= prev);
        prev = lr;
    }
    /* no warm-up: step 1 at base, the last at min */
    s.warmup = 0;
    ck_assert(rt_schedule_lr(&s, base, 1, 10) == base);
    ck_assert(rt_schedule_lr(&s, base, 10, 10) == s.min_lr);
}
END_TEST

/* -------------------------------------------------------------- clipping */

START_TEST(test_clip_grad_norm)
{
    /* norm 5 > 1: scaled by 1 / (5 + 1e-6), PyTorch's coefficient:
     * 3 / 5.000001 = 0.59999988, 4 / 5.000001 = 0.79999984 */
    float g[2] = { 3.0f, 4.0f };
    ck_assert(test_close(rt_clip_grad_norm(2, g, 1.0f), 5.0, 0, 1e-12));
    ck_assert(test_close(g[0], 0.59999988, 1e-8, 1e-7));
    ck_assert(test_close(g[1], 0.79999984, 1e-8, 1e-7));
    /* below the limit, or no limit: untouched, norm still returned */
    float h[2] = { 3.0f, 4.0f };
    ck_assert(test_close(rt_clip_grad_norm(2, h, 10.0f), 5.0, 0, 1e-12));
    ck_assert(h[0] == 3.0f && h[1] == 4.0f);
    ck_assert(test_close(rt_clip_grad_norm(2, h, 0.0f), 5.0, 0, 1e-12));
    ck_assert(h[0] == 3.0f && h[1] == 4.0f);
    ck_assert(rt_clip_grad_norm(0, h, 1.0f) == 0.0);

    /* a large vector: norm in double (1e-12 relative of a double reference),
     * the same bits for 1 and 2 threads, and the clipped norm at max_norm */
    const int64_t n = 1000003;
    float *a = malloc((size_t)n * sizeof *a), *b = malloc((size_t)n * sizeof *b);
    test_fill(a, n, 4);
    memcpy(b, a, (size_t)n * sizeof *a);
    double ref = 0;
    for (int64_t i = 0; i < n; i++)
        ref += (double)a[i] * a[i];
    ref = sqrt(ref);
    rt_threads_init(1);
    double n1 = rt_clip_grad_norm(n, a, 2.0f);
    rt_threads_init(2);
    double n2 = rt_clip_grad_norm(n, b, 2.0f);
    ck_assert(test_close(n1, ref, 0, 1e-12));
    ck_assert(memcmp(&n1, &n2, sizeof n1) == 0);
    ck_assert(memcmp(a, b, (size_t)n * sizeof *a) == 0);
    ck_assert(test_close(rt_clip_grad_norm(n, a, 0.0f), 2.0, 0, 1e-5));
    free(a), free(b);
}
END_TEST

static Suite *optim_suite(void)
{
    Suite *s = suite_create("rt_optim");
    TCase *tc = test_case("optimizers");
    tcase_add_test(tc, test_sgd_plain);
    tcase_add_test(tc, test_sgd_momentum);
    tcase_add_test(tc, test_sgd_nesterov_weight_decay);
    tcase_add_test(tc, test_adam);
    tcase_add_test(tc, test_adam_l2);
    tcase_add_test(tc, test_adamw);
    tcase_add_test(tc, test_adam_vs_adamw);
    tcase_add_test(tc, test_rmsprop);
    tcase_add_test(tc, test_rmsprop_momentum_weight_decay);
    tcase_add_test(tc, test_step_threads_identical);
    tcase_add_test(tc, test_step_paths_identical);
    tcase_add_test(tc, test_sgd_null_state);
    suite_add_tcase(s, tc);

    tc = test_case("schedules");
    tcase_add_test(tc, test_schedule_constant_warmup);
    tcase_add_test(tc, test_schedule_step);
    tcase_add_test(tc, test_schedule_cosine);
    suite_add_tcase(s, tc);

    tc = test_case("clipping");
    tcase_add_test(tc, test_clip_grad_norm);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(optim_suite)
