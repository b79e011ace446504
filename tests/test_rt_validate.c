/* test_rt_validate.c — the pure parts of validation: the held-out split's
 * boundaries and determinism, early stopping on a constructed curve, and
 * the metrics against figures worked out by hand on small fixed
 * prediction sets. (rt_main's use of them is in test_rt_train.c.) */
#include "netrt.h"
#include "metrics.h"
#include "testutil.h"
#include "train_internal.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- split */

START_TEST(split_counts_at_the_boundaries)
{
    ck_assert_int_eq(rt_split_count(0, 0.5), 0);
    ck_assert_int_eq(rt_split_count(1, 0.5), 0);   /* nothing would be left to train on */
    ck_assert_int_eq(rt_split_count(2, 0.01), 1);  /* at least one row */
    ck_assert_int_eq(rt_split_count(2, 0.99), 1);  /* at most n - 1 */
    ck_assert_int_eq(rt_split_count(10, 0.25), 3); /* 2.5 rounds away from zero */
    ck_assert_int_eq(rt_split_count(10, 0.999), 9);
    ck_assert_int_eq(rt_split_count(60000, 0.1), 6000);
    ck_assert_int_eq(rt_split_count(100, 0), 0);
    ck_assert_int_eq(rt_split_count(100, 1), 0);
}
END_TEST

START_TEST(text_holds_out_the_last_rows)
{
    int64_t train[7], val[3];
    ck_assert_int_eq(rt_split_rows(10, 3, true, 42, train, val), 0);
    for (int i = 0; i < 7; i++)
        ck_assert_int_eq(train[i], i);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(val[i], 7 + i);
}
END_TEST

/* Both lists sorted, disjoint and together every row once. */
static void assert_partition(int64_t n, const int64_t *train, int64_t ntrain, const int64_t *val,
                             int64_t nval)
{
    char *seen = calloc((size_t)n, 1);
    for (int64_t i = 0; i < ntrain; i++) {
        ck_assert(i == 0 || train[i] > train[i - 1]);
        seen[train[i]]++;
    }
    for (int64_t i = 0; i < nval; i++) {
        ck_assert(i == 0 || val[i] > val[i - 1]);
        seen[val[i]]++;
    }
    for (int64_t i = 0; i < n; i++)
        ck_assert_int_eq(seen[i], 1);
    free(seen);
}

START_TEST(random_split_is_fixed_by_the_seed)
{
    enum { N = 1000, NVAL = 100 };
    static int64_t a_train[N], a_val[NVAL], b_train[N], b_val[NVAL], c_train[N], c_val[NVAL];
    ck_assert_int_eq(rt_split_rows(N, NVAL, false, 7, a_train, a_val), 0);
    ck_assert_int_eq(rt_split_rows(N, NVAL, false, 7, b_train, b_val), 0);
    ck_assert_int_eq(rt_split_rows(N, NVAL, false, 8, c_train, c_val), 0);
    assert_partition(N, a_train, N - NVAL, a_val, NVAL);
    assert_partition(N, c_train, N - NVAL, c_val, NVAL);
    ck_assert(memcmp(a_val, b_val, sizeof a_val) == 0);
    ck_assert(memcmp(a_train, b_train, sizeof(int64_t) * (N - NVAL)) == 0);
    ck_assert(memcmp(a_val, c_val, sizeof a_val) != 0); /* the seed matters */
    /* a random subset, not a block: rows from each tenth of the data */
    int tenths[10] = { 0 };
    for (int i = 0; i < NVAL; i++)
        tenths[a_val[i] / (N / 10)]++;
    for (int t = 0; t < 10; t++)
        ck_assert_int_gt(tenths[t], 0);
}
END_TEST

/* ------------------------------------------------------- early stopping */

START_TEST(early_stopping_on_a_constructed_curve)
{
    /* validation losses: best at the 3rd evaluation, then 3 without
     * improvement (0.70 again is not an improvement) */
    static const double loss[] = { 1.0, 0.8, 0.7, 0.75, 0.70, 0.71, 0.5 };
    rt_early_stop e;
    rt_early_stop_init(&e, false, 3);
    int stopped_at = 0;
    for (int i = 0; i < 7 && !stopped_at; i++) {
        bool best = rt_early_stop_record(&e, loss[i], 100 * (i + 1), i / 2 + 1);
        ck_assert(best == (i < 3));
        if (rt_early_stop_done(&e))
            stopped_at = i + 1;
    }
    ck_assert_int_eq(stopped_at, 6);
    ck_assert_int_eq(e.best_eval, 3);
    ck_assert_int_eq(e.best_step, 300);
    ck_assert_int_eq(e.best_epoch, 2);
    ck_assert(e.best == 0.7);

    /* accuracy: higher is better; NaN never improves; patience 0 never stops */
    rt_early_stop_init(&e, true, 0);
    ck_assert(rt_early_stop_record(&e, 0.5, 1, 1));
    ck_assert(!rt_early_stop_record(&e, NAN, 2, 1));
    ck_assert(!rt_early_stop_record(&e, 0.4, 3, 1));
    ck_assert(rt_early_stop_record(&e, 0.6, 4, 1));
    for (int i = 0; i < 50; i++)
        rt_early_stop_record(&e, 0.1, 5 + i, 1);
    ck_assert(!rt_early_stop_done(&e));
    ck_assert_int_eq(e.best_eval, 4);
}
END_TEST

/* -------------------------------------------------------------- metrics */

#define CLOSE(a, b) ck_assert_msg(fabs((a) - (b)) < 1e-12, "%.15g != %.15g", (double)(a), (double)(b))

/* Five rows of six classes, worked by hand:
 *   row  scores              label  predicted  label in top 5
 *   0    5 1 0 0 0 0          0      0          yes
 *   1    0 3 1 0 0 0          2      1          yes (one higher)
 *   2    0 0 0 0 0 9          0      5          yes (one higher)
 *   3    1 2 3 4 5 6          0      5          no (five higher)
 *   4    0 0 2 0 0 0          2      2          yes
 * accuracy 2/5, top-5 4/5; class 0: precision 1/1, recall 1/3; class 2:
 * precision 1/1, recall 1/2; class 1: precision 0/1, recall undefined;
 * class 3: precision undefined (never predicted); class 5: precision 0/2. */
/* A row with a NaN score is no prediction: every comparison with NaN is
 * false, which counted a NaN label score as the top one and its label as
 * in the top 5 (a diverged model had "top-5 accuracy 100%"). */
START_TEST(nan_scores_are_no_prediction)
{
    static const float scores[3][6] = {
        { NAN, NAN, NAN, NAN, NAN, NAN }, { 0, 1, NAN, 0, 0, 0 }, { 0, 0, 2, 0, 0, 0 },
    };
    static const int32_t labels[3] = { 0, 2, 2 };
    rt_metrics m;
    ck_assert_int_eq(rt_metrics_init(&m, RT_LOSS_CROSS_ENTROPY, 6), 0);
    rt_metrics_add(&m, 3, 3, &scores[0][0], labels, 1.0);
    CLOSE(rt_metrics_accuracy(&m), 1.0 / 3);
    CLOSE(rt_metrics_top5(&m), 1.0 / 3);
    rt_metrics_free(&m);
}
END_TEST

START_TEST(cross_entropy_metrics_by_hand)
{
    static const float scores[5][6] = {
        { 5, 1, 0, 0, 0, 0 }, { 0, 3, 1, 0, 0, 0 }, { 0, 0, 0, 0, 0, 9 },
        { 1, 2, 3, 4, 5, 6 }, { 0, 0, 2, 0, 0, 0 },
    };
    static const int32_t labels[5] = { 0, 2, 0, 0, 2 };
    rt_metrics m;
    ck_assert_int_eq(rt_metrics_init(&m, RT_LOSS_CROSS_ENTROPY, 6), 0);
    /* in two parts, as evaluation adds batches */
    rt_metrics_add(&m, 2, 2, &scores[0][0], labels, 1.5);
    rt_metrics_add(&m, 3, 3, &scores[2][0], labels + 2, 2.5);
    CLOSE(rt_metrics_loss(&m), 4.0 / 5);
    CLOSE(rt_metrics_accuracy(&m), 0.4);
    CLOSE(rt_metrics_top5(&m), 0.8);
    CLOSE(rt_metrics_precision(&m, 0), 1.0);
    CLOSE(rt_metrics_recall(&m, 0), 1.0 / 3);
    CLOSE(rt_metrics_precision(&m, 2), 1.0);
    CLOSE(rt_metrics_recall(&m, 2), 0.5);
    CLOSE(rt_metrics_precision(&m, 1), 0.0);
    ck_assert(isnan(rt_metrics_recall(&m, 1)));
    ck_assert(isnan(rt_metrics_precision(&m, 3)));
    CLOSE(rt_metrics_precision(&m, 5), 0.0);
    ck_assert_int_eq(m.confusion[0 * 6 + 5], 2);
    ck_assert_int_eq(m.confusion[2 * 6 + 1], 1);
    ck_assert(isnan(rt_metrics_mse(&m)));

    /* the JSON report holds the same figures, null where undefined */
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(rt_metrics_print_json(f, &m, "test"), 0);
    rewind(f);
    json_error_t jerr;
    json_t *o = json_loadf(f, 0, &jerr);
    fclose(f);
    ck_assert_msg(o != NULL, "%s", jerr.text);
    CLOSE(json_real_value(json_object_get(o, "accuracy")), 0.4);
    CLOSE(json_real_value(json_object_get(o, "top5_accuracy")), 0.8);
    json_t *c1 = json_array_get(json_object_get(o, "per_class"), 1);
    ck_assert(json_is_null(json_object_get(c1, "recall")));
    json_t *c0 = json_array_get(json_object_get(o, "per_class"), 0);
    /* JSON carries 9 significant digits */
    ck_assert(fabs(json_real_value(json_object_get(c0, "recall")) - 1.0 / 3) < 1e-8);
    ck_assert_int_eq(json_integer_value(json_object_get(c0, "support")), 3);
    ck_assert_int_eq(json_integer_value(json_array_get(json_array_get(json_object_get(o, "confusion"), 0), 5)), 2);
    json_decref(o);

    /* reset keeps the matrix, cleared */
    rt_metrics_reset(&m);
    ck_assert_int_eq(m.rows, 0);
    ck_assert_int_eq(m.confusion[0 * 6 + 5], 0);
    rt_metrics_free(&m);
}
END_TEST

/* logits 2, -1, 0, -3, 0.5 against targets 1, 1, 0, 0, 0: decisions (logit
 * > 0, probability above 0.5) 1, 0, 0, 0, 1; tp 1, fn 1, fp 1, tn 2:
 * accuracy 3/5, precision 1/2, recall 1/2. */
START_TEST(bce_metrics_by_hand)
{
    static const float logits[5] = { 2, -1, 0, -3, 0.5f };
    static const float targets[5] = { 1, 1, 0, 0, 0 };
    rt_metrics m;
    ck_assert_int_eq(rt_metrics_init(&m, RT_LOSS_BCE, 1), 0);
    rt_metrics_add(&m, 5, 5, logits, targets, 3.0);
    CLOSE(rt_metrics_accuracy(&m), 0.6);
    CLOSE(rt_metrics_precision(&m, 0), 0.5);
    CLOSE(rt_metrics_recall(&m, 0), 0.5);
    CLOSE(rt_metrics_loss(&m), 0.6);
    ck_assert(isnan(rt_metrics_top5(&m)));
    char text[128];
    rt_metrics_summary(&m, "val ", text, sizeof text);
    ck_assert_str_eq(text, "val loss 0.6000  val accuracy 60.00%");
    rt_metrics_free(&m);
}
END_TEST

/* predictions 1, 2, 3 against 1.5, 2, 1: errors -0.5, 0, 2; MSE 4.25/3,
 * MAE 2.5/3. */
START_TEST(mse_metrics_by_hand)
{
    static const float pred[3] = { 1, 2, 3 }, target[3] = { 1.5f, 2, 1 };
    rt_metrics m;
    ck_assert_int_eq(rt_metrics_init(&m, RT_LOSS_MSE, 1), 0);
    rt_metrics_add(&m, 3, 3, pred, target, 4.25);
    CLOSE(rt_metrics_mse(&m), 4.25 / 3);
    CLOSE(rt_metrics_mae(&m), 2.5 / 3);
    ck_assert(isnan(rt_metrics_accuracy(&m)));
    char text[128];
    rt_metrics_summary(&m, "test ", text, sizeof text);
    ck_assert_str_eq(text, "test mse 1.4167  test mae 0.8333");
    rt_metrics_free(&m);
}
END_TEST

/* The checkpoint's record of early stopping reads back what was written,
 * including a run whose every evaluation was NaN (no best yet: it must
 * resume, not be called damaged), and refuses records no run writes. */
START_TEST(early_stop_record_round_trips)
{
    rt_early_stop e, back;
    char buf[256];
    rt_early_stop_init(&e, false, 3);
    rt_early_stop_format(&e, buf, sizeof buf);
    ck_assert_str_eq(buf, "none");
    rt_early_stop_init(&back, false, 3);
    ck_assert(rt_early_stop_parse(buf, &back));
    ck_assert_int_eq(back.evals, 0);

    rt_early_stop_record(&e, NAN, 10, 0);
    rt_early_stop_record(&e, NAN, 20, 1);
    rt_early_stop_format(&e, buf, sizeof buf);
    ck_assert(rt_early_stop_parse(buf, &back));
    ck_assert_int_eq(back.evals, 2);
    ck_assert_int_eq(back.best_eval, 0);
    ck_assert_int_eq(back.since_best, 2);
    ck_assert(isnan(back.best));
    /* the first number after a NaN run is the best */
    ck_assert(rt_early_stop_record(&back, 1.5, 30, 2));

    rt_early_stop_record(&e, 0.1 + 0.2, 30, 2);   /* not exact in binary: %.17g must keep every bit */
    rt_early_stop_record(&e, 0.5, 40, 3);
    rt_early_stop_format(&e, buf, sizeof buf);
    ck_assert(rt_early_stop_parse(buf, &back));
    ck_assert(back.best == 0.1 + 0.2);
    ck_assert_int_eq(back.best_eval, 3);
    ck_assert_int_eq(back.since_best, 1);
    ck_assert_int_eq(back.best_step, 30);
    ck_assert_int_eq(back.best_epoch, 2);

    static const char *const bad[] = {
        "",
        "evals=0,since=0,best_eval=0,best_step=0,best_epoch=0,maximize=0,best=nan",
        "evals=2,since=1,best_eval=0,best_step=0,best_epoch=0,maximize=0,best=nan",   /* since != evals */
        "evals=2,since=2,best_eval=0,best_step=0,best_epoch=0,maximize=0,best=0.5",   /* a best without its eval */
        "evals=2,since=0,best_eval=2,best_step=5,best_epoch=0,maximize=0,best=nan",   /* an eval without its best */
        "evals=2,since=1,best_eval=3,best_step=5,best_epoch=0,maximize=0,best=0.5",
        "evals=3,since=0,best_eval=2,best_step=5,best_epoch=0,maximize=0,best=0.5",   /* since != evals - best_eval */
        "evals=2,since=1,best_eval=1,best_step=5,best_epoch=0,maximize=2,best=0.5",
        "evals=2,since=1,best_eval=1,best_step=5,best_epoch=0,maximize=0,best=0.5x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        ck_assert_msg(!rt_early_stop_parse(bad[i], &back), "accepted '%s'", bad[i]);
}
END_TEST

static Suite *validate_suite(void)
{
    Suite *s = suite_create("validate");
    TCase *tc = test_case("validate");
    tcase_add_test(tc, split_counts_at_the_boundaries);
    tcase_add_test(tc, text_holds_out_the_last_rows);
    tcase_add_test(tc, random_split_is_fixed_by_the_seed);
    tcase_add_test(tc, early_stopping_on_a_constructed_curve);
    tcase_add_test(tc, early_stop_record_round_trips);
    tcase_add_test(tc, cross_entropy_metrics_by_hand);
    tcase_add_test(tc, nan_scores_are_no_prediction);
    tcase_add_test(tc, bce_metrics_by_hand);
    tcase_add_test(tc, mse_metrics_by_hand);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(validate_suite)
