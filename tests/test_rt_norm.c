/* test_rt_norm.c — batch normalisation.
 *
 * Training forward against a double reference (batch mean, biased
 * variance, running statistics moved by momentum with the unbiased
 * variance, as PyTorch's BatchNorm2d); evaluation uses the running
 * statistics and ignores the batch's; the backward pass against central
 * finite differences (step 1e-3) of the double reference of the training
 * forward, through the batch statistics; 1 vs 2 threads bitwise.
 */
#include <string.h>

#include "netrt.h"
#include "testutil.h"



/* batch, c, hw */
static const int64_t shapes[][3] = { { 4, 3, 25 }, { 7, 5, 1 }, { 2, 2, 9 }, { 1, 3, 6 } };
#define NSHAPES (int)(sizeof shapes / sizeof shapes[0])

/* Training-mode forward in double; returns sum(y * r) for a loss with
 * fixed random weights r, and fills y, mean and biased var if given. */
static double ref_train(int64_t batch, int64_t c, int64_t hw, const double *x,
                        const double *gamma, const double *beta, double eps, const double *r,
                        double *y, double *mean_out, double *var_out)
{
    double loss = 0;
    for (int64_t ch = 0; ch < c; ch++) {
        double mean = 0, var = 0, n = (double)(batch * hw);
        for (int64_t b = 0; b < batch; b++)
            for (int64_t i = 0; i < hw; i++)
                mean += x[(b * c + ch) * hw + i];
        mean /= n;
        for (int64_t b = 0; b < batch; b++)
            for (int64_t i = 0; i < hw; i++) {
                double d = x[(b * c + ch) * hw + i] - mean;
                var += d * d;
            }
        var /= n;
        if (mean_out)
            mean_out[ch] = mean, var_out[ch] = var;
        for (int64_t b = 0; b < batch; b++)
            for (int64_t i = 0; i < hw; i++) {
                int64_t k = (b * c + ch) * hw + i;
                double v = gamma[ch] * (x[k] - mean) / sqrt(var + eps) + beta[ch];
                if (y)
                    y[k] = v;
                if (r)
                    loss += v * r[k];
            }
    }
    return loss;
}

START_TEST(test_train_forward_and_running_stats)
{
    const float eps = 1e-5f, momentum = 0.1f;
    for (int si = 0; si < NSHAPES; si++) {
        int64_t batch = shapes[si][0], c = shapes[si][1], hw = shapes[si][2], n = batch * c * hw;
        float *x = alloc_floats(n), *y = alloc_floats(n), *gamma = alloc_floats(c),
              *beta = alloc_floats(c), *rm = alloc_floats(c), *rv = alloc_floats(c),
              *sm = alloc_floats(c), *si_ = alloc_floats(c);
        test_fill(x, n, (uint32_t)si + 1);
        for (int64_t i = 0; i < n; i++)
            x[i] = 3.0f + 2.0f * x[i]; /* a mean far from 0 */
        test_fill(gamma, c, 2);
        test_fill(beta, c, 3);
        for (int64_t ch = 0; ch < c; ch++)
            rm[ch] = 0.5f, rv[ch] = 2.0f;
        rt_batchnorm_forward_train(batch, c, hw, x, gamma, beta, rm, rv, momentum, eps, sm, si_, y);
        double *xd = malloc((size_t)n * sizeof *xd), *yd = malloc((size_t)n * sizeof *yd);
        double gd[8], bd[8], mean[8], var[8];
        for (int64_t i = 0; i < n; i++)
            xd[i] = x[i];
        for (int64_t ch = 0; ch < c; ch++)
            gd[ch] = gamma[ch], bd[ch] = beta[ch];
        ref_train(batch, c, hw, xd, gd, bd, eps, NULL, yd, mean, var);
        for (int64_t i = 0; i < n; i++)
            CHECK_MSG(test_close(y[i], yd[i], 2e-6, 2e-6), "shape %d y[%lld] %g want %g", si,
                      (long long)i, (double)y[i], yd[i]);
        double cnt = (double)(batch * hw);
        for (int64_t ch = 0; ch < c; ch++) {
            CHECK(test_close(sm[ch], mean[ch], 1e-7, 1e-6));
            CHECK(test_close(si_[ch], 1 / sqrt(var[ch] + eps), 1e-7, 1e-6));
            CHECK(test_close(rm[ch], 0.9 * 0.5 + 0.1 * mean[ch], 1e-7, 1e-6));
            double unbiased = cnt > 1 ? var[ch] * cnt / (cnt - 1) : var[ch];
            CHECK_MSG(test_close(rv[ch], 0.9 * 2.0 + 0.1 * unbiased, 1e-7, 1e-6),
                      "running var %g want %g", (double)rv[ch], 0.9 * 2.0 + 0.1 * unbiased);
        }
        free(x), free(y), free(gamma), free(beta), free(rm), free(rv), free(sm), free(si_);
        free(xd), free(yd);
    }
}
END_TEST

START_TEST(test_eval_uses_running_stats)
{
    const int64_t batch = 3, c = 2, hw = 4, n = batch * c * hw;
    float x[24], y[24], y2[24];
    float gamma[2] = { 1.5f, -0.5f }, beta[2] = { 0.25f, 1.0f };
    float rm[2] = { 0.3f, -1.0f }, rv[2] = { 4.0f, 0.25f };
    test_fill(x, n, 5);
    rt_batchnorm_forward_eval(batch, c, hw, x, gamma, beta, rm, rv, 1e-5f, y);
    for (int64_t b = 0; b < batch; b++)
        for (int64_t ch = 0; ch < c; ch++)
            for (int64_t i = 0; i < hw; i++) {
                int64_t k = (b * c + ch) * hw + i;
                double want = gamma[ch] * (x[k] - rm[ch]) / sqrt(rv[ch] + 1e-5) + beta[ch];
                CHECK(test_close(y[k], want, 1e-6, 1e-6));
            }
    /* One sample alone gives the same outputs: no batch statistics. */
    rt_batchnorm_forward_eval(1, c, hw, x + c * hw, gamma, beta, rm, rv, 1e-5f, y2);
    CHECK(memcmp(y + c * hw, y2, (size_t)(c * hw) * sizeof(float)) == 0);
    /* Eval leaves the running statistics alone (they are const); training
     * normalises with the batch's and so differs. */
    float rm2[2] = { 0.3f, -1.0f }, rv2[2] = { 4.0f, 0.25f }, sm[2], si[2];
    rt_batchnorm_forward_train(batch, c, hw, x, gamma, beta, rm2, rv2, 0.1f, 1e-5f, sm, si, y2);
    CHECK(memcmp(y, y2, (size_t)n * sizeof(float)) != 0);
    CHECK(rm2[0] != 0.3f && rv2[0] != 4.0f);
}
END_TEST

START_TEST(test_backward_finite_differences)
{
    const float eps = 1e-5f;
    const double h = 1e-3;
    for (int si = 0; si < NSHAPES; si++) {
        int64_t batch = shapes[si][0], c = shapes[si][1], hw = shapes[si][2], n = batch * c * hw;
        if (batch * hw < 2)
            continue;
        float *x = alloc_floats(n), *dy = alloc_floats(n), *y = alloc_floats(n),
              *dx = alloc_floats(n), *gamma = alloc_floats(c), *beta = alloc_floats(c),
              *sm = alloc_floats(c), *sinv = alloc_floats(c), *dg = alloc_floats(c),
              *dbt = alloc_floats(c);
        test_fill(x, n, (uint32_t)si + 7);
        test_fill(dy, n, (uint32_t)si + 8);
        test_fill(gamma, c, 9);
        test_fill(beta, c, 10);
        rt_batchnorm_forward_train(batch, c, hw, x, gamma, beta, NULL, NULL, 0.1f, eps, sm, sinv, y);
        rt_batchnorm_backward(batch, c, hw, x, dy, gamma, sm, sinv, dx, dg, dbt, false);
        double *xd = malloc((size_t)n * sizeof *xd), *r = malloc((size_t)n * sizeof *r);
        double gd[8], bd[8];
        for (int64_t i = 0; i < n; i++)
            xd[i] = x[i], r[i] = dy[i];
        for (int64_t ch = 0; ch < c; ch++)
            gd[ch] = gamma[ch], bd[ch] = beta[ch];
        for (int64_t i = 0; i < n; i++) {
            double keep = xd[i];
            xd[i] = keep + h;
            double up = ref_train(batch, c, hw, xd, gd, bd, eps, r, NULL, NULL, NULL);
            xd[i] = keep - h;
            double down = ref_train(batch, c, hw, xd, gd, bd, eps, r, NULL, NULL, NULL);
            xd[i] = keep;
            double fd = (up - down) / (2 * h);
            CHECK_MSG(test_close(dx[i], fd, 2e-4, 2e-3), "shape %d dx[%lld] %g fd %g", si,
                      (long long)i, (double)dx[i], fd);
        }
        for (int64_t ch = 0; ch < c; ch++) {
            double keep = gd[ch];
            gd[ch] = keep + h;
            double up = ref_train(batch, c, hw, xd, gd, bd, eps, r, NULL, NULL, NULL);
            gd[ch] = keep - h;
            double down = ref_train(batch, c, hw, xd, gd, bd, eps, r, NULL, NULL, NULL);
            gd[ch] = keep;
            CHECK(test_close(dg[ch], (up - down) / (2 * h), 1e-4, 1e-4));
            keep = bd[ch];
            bd[ch] = keep + h;
            up = ref_train(batch, c, hw, xd, gd, bd, eps, r, NULL, NULL, NULL);
            bd[ch] = keep - h;
            down = ref_train(batch, c, hw, xd, gd, bd, eps, r, NULL, NULL, NULL);
            bd[ch] = keep;
            CHECK(test_close(dbt[ch], (up - down) / (2 * h), 1e-4, 1e-4));
        }
        /* accumulate adds to dgamma/dbeta */
        float dg2[8], db2[8];
        for (int64_t ch = 0; ch < c; ch++)
            dg2[ch] = 1.0f, db2[ch] = -1.0f;
        rt_batchnorm_backward(batch, c, hw, x, dy, gamma, sm, sinv, dx, dg2, db2, true);
        for (int64_t ch = 0; ch < c; ch++) {
            CHECK(test_close(dg2[ch], dg[ch] + 1.0, 1e-6, 1e-6));
            CHECK(test_close(db2[ch], dbt[ch] - 1.0, 1e-6, 1e-6));
        }
        free(x), free(dy), free(y), free(dx), free(gamma), free(beta), free(sm), free(sinv);
        free(dg), free(dbt), free(xd), free(r);
    }
}
END_TEST

START_TEST(test_threads_identical)
{
    const int64_t batch = 64, c = 16, hw = 144, n = batch * c * hw;
    float *x = alloc_floats(n), *dy = alloc_floats(n), *gamma = alloc_floats(c),
          *beta = alloc_floats(c);
    test_fill(x, n, 1);
    test_fill(dy, n, 2);
    test_fill(gamma, c, 3);
    test_fill(beta, c, 4);
    float *y[2], *dx[2], rm[2][16], rv[2][16], sm[2][16], si[2][16], dg[2][16], db[2][16];
    for (int t = 0; t < 2; t++) {
        y[t] = alloc_floats(n), dx[t] = alloc_floats(n);
        for (int ch = 0; ch < c; ch++)
            rm[t][ch] = 0, rv[t][ch] = 1;
        rt_threads_init(t + 1);
        rt_batchnorm_forward_train(batch, c, hw, x, gamma, beta, rm[t], rv[t], 0.1f, 1e-5f,
                                   sm[t], si[t], y[t]);
        rt_batchnorm_backward(batch, c, hw, x, dy, gamma, sm[t], si[t], dx[t], dg[t], db[t], false);
    }
    CHECK(memcmp(y[0], y[1], (size_t)n * sizeof(float)) == 0);
    CHECK(memcmp(dx[0], dx[1], (size_t)n * sizeof(float)) == 0);
    CHECK(memcmp(rm[0], rm[1], sizeof rm[0]) == 0 && memcmp(rv[0], rv[1], sizeof rv[0]) == 0);
    CHECK(memcmp(dg[0], dg[1], sizeof dg[0]) == 0 && memcmp(db[0], db[1], sizeof db[0]) == 0);
    for (int t = 0; t < 2; t++)
        free(y[t]), free(dx[t]);
    free(x), free(dy), free(gamma), free(beta);
    rt_threads_init(0);
}
END_TEST

static Suite *norm_suite(void)
{
    Suite *s = suite_create("rt_norm");
    TCase *tc = test_case("batchnorm");
    tcase_add_test(tc, test_train_forward_and_running_stats);
    tcase_add_test(tc, test_eval_uses_running_stats);
    tcase_add_test(tc, test_backward_finite_differences);
    tcase_add_test(tc, test_threads_identical);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(norm_suite)
