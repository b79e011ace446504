/* test_rt_augment.c — rt_augment_sample.
 *
 * Determinism (same seed and counter: same bits; another counter or seed:
 * different), the exact effect of the geometric transforms where it is
 * known (flip twice, integer shift, rotation by 0, scale 1), the value
 * range of geometric transforms ([min(in, fill), max(in, fill)]), no NaN,
 * and that the input is never written.
 */
#include <string.h>

#include "netrt.h"
#include "testutil.h"

#define C 2
#define H 9
#define W 7
#define N (C * H * W)

static void fill_image(float *x)
{
    test_fill(x, N, 77);
}

static void apply(const rt_augment *list, int n, float fill, uint64_t seed, uint64_t counter,
                  const float *in, float *out)
{
    rt_augment_sample(list, n, C, H, W, fill, seed, counter, in, out);
}

START_TEST(test_deterministic)
{
    const rt_augment list[] = {
        { RT_AUG_FLIP_H, 0, 0 }, { RT_AUG_SHIFT, 2, 0 }, { RT_AUG_ROTATE, 15, 0 },
        { RT_AUG_SCALE, 0.9f, 1.1f }, { RT_AUG_NOISE, 0.1f, 0 },
    };
    float in[N], copy[N], a[N], b[N], c[N], d[N];
    fill_image(in);
    memcpy(copy, in, sizeof in);
    apply(list, 5, 0.0f, 1, 42, in, a);
    apply(list, 5, 0.0f, 1, 42, in, b);
    ck_assert(memcmp(a, b, sizeof a) == 0);
    apply(list, 5, 0.0f, 1, 43, in, c);
    ck_assert(memcmp(a, c, sizeof a) != 0);
    apply(list, 5, 0.0f, 2, 42, in, d);
    ck_assert(memcmp(a, d, sizeof a) != 0);
    ck_assert(memcmp(in, copy, sizeof in) == 0); /* input untouched */
    for (int i = 0; i < N; i++)
        ck_assert(!isnan(a[i]) && !isnan(c[i]));
}
END_TEST

START_TEST(test_flip_twice_is_identity)
{
    float in[N], once[N], twice[N];
    fill_image(in);
    for (int kind = RT_AUG_FLIP_H; kind <= RT_AUG_FLIP_V; kind++) {
        rt_augment flip[2] = { { (rt_aug_kind)kind, 0, 0 }, { (rt_aug_kind)kind, 0, 0 } };
        int flipped = 0;
        for (uint64_t counter = 0; counter < 64; counter++) {
            apply(flip, 1, 0.0f, 5, counter, in, once);
            bool same = memcmp(once, in, sizeof in) == 0;
            flipped += !same;
            if (!same) {
                /* mirrored exactly */
                for (int ch = 0; ch < C; ch++)
                    for (int y = 0; y < H; y++)
                        for (int x = 0; x < W; x++) {
                            int sy = kind == RT_AUG_FLIP_V ? H - 1 - y : y;
                            int sx = kind == RT_AUG_FLIP_H ? W - 1 - x : x;
                            ck_assert_float_eq(once[(ch * H + y) * W + x], in[(ch * H + sy) * W + sx]);
                        }
                /* the same flip applied to the flipped image undoes it */
                apply(flip, 1, 0.0f, 5, counter, once, twice);
                ck_assert(memcmp(twice, in, sizeof in) == 0);
            }
        }
        /* probability 1/2: 64 draws land well inside (10, 54) */
        ck_assert_int_gt(flipped, 10);
        ck_assert_int_lt(flipped, 54);
    }
}
END_TEST

START_TEST(test_shift_moves_pixels_exactly)
{
    const rt_augment shift = { RT_AUG_SHIFT, 3, 0 };
    const float fill = -2.0f;
    float in[N], out[N];
    fill_image(in);
    int seen_nonzero = 0;
    for (uint64_t counter = 0; counter < 20; counter++) {
        apply(&shift, 1, fill, 9, counter, in, out);
        /* Find the shift (dy, dx) in [-3, 3]^2 that explains the output. */
        int matches = 0;
        for (int dy = -3; dy <= 3; dy++)
            for (int dx = -3; dx <= 3; dx++) {
                bool ok = true;
                for (int ch = 0; ch < C && ok; ch++)
                    for (int y = 0; y < H && ok; y++)
                        for (int x = 0; x < W && ok; x++) {
                            int sy = y - dy, sx = x - dx;
                            float want = sy >= 0 && sy < H && sx >= 0 && sx < W
                                             ? in[(ch * H + sy) * W + sx] : fill;
                            ok = out[(ch * H + y) * W + x] == want;
                        }
                if (ok) {
                    matches++;
                    seen_nonzero += dy != 0 || dx != 0;
                }
            }
        ck_assert_int_eq(matches, 1);
    }
    ck_assert_int_gt(seen_nonzero, 10);
}
END_TEST

START_TEST(test_rotate_zero_and_scale_one_are_identity)
{
    const rt_augment rotate0 = { RT_AUG_ROTATE, 0, 0 };
    const rt_augment scale1 = { RT_AUG_SCALE, 1, 1 };
    const rt_augment none[2] = { { RT_AUG_ROTATE, 0, 0 }, { RT_AUG_SCALE, 1, 1 } };
    float in[N], out[N];
    fill_image(in);
    for (uint64_t counter = 0; counter < 5; counter++) {
        apply(&rotate0, 1, 0.5f, 3, counter, in, out);
        ck_assert(memcmp(in, out, sizeof in) == 0);
        apply(&scale1, 1, 0.5f, 3, counter, in, out);
        ck_assert(memcmp(in, out, sizeof in) == 0);
        apply(none, 2, 0.5f, 3, counter, in, out);
        ck_assert(memcmp(in, out, sizeof in) == 0);
    }
    /* an empty list copies */
    apply(none, 0, 0.5f, 3, 0, in, out);
    ck_assert(memcmp(in, out, sizeof in) == 0);
}
END_TEST

/* Geometric transforms sample the image and the fill only: outputs stay in
 * [min(in, fill), max(in, fill)], with fill both inside and outside the
 * image's range. */
START_TEST(test_geometric_range)
{
    const rt_augment lists[][3] = {
        { { RT_AUG_ROTATE, 45, 0 } },
        { { RT_AUG_SCALE, 0.5f, 1.7f } },
        { { RT_AUG_SHIFT, 4, 0 } },
        { { RT_AUG_ROTATE, 180, 0 }, { RT_AUG_SCALE, 0.7f, 1.3f }, { RT_AUG_FLIP_V, 0, 0 } },
    };
    static const float fills[] = { 0.0f, -3.0f, 5.0f };
    float in[N], out[N];
    fill_image(in);
    float lo = in[0], hi = in[0];
    for (int i = 0; i < N; i++)
        lo = fminf(lo, in[i]), hi = fmaxf(hi, in[i]);
    for (int l = 0; l < 4; l++)
        for (int f = 0; f < 3; f++)
            for (uint64_t counter = 0; counter < 30; counter++) {
                int n = l == 3 ? 3 : 1;
                apply(lists[l], n, fills[f], 11, counter, in, out);
                float a = fminf(lo, fills[f]), b = fmaxf(hi, fills[f]);
                for (int i = 0; i < N; i++)
                    ck_assert_msg(!isnan(out[i]) && out[i] >= a && out[i] <= b,
                                  "list %d fill %g out[%d] = %g", l, (double)fills[f], i,
                                  (double)out[i]);
            }
}
END_TEST

/* Rotation and scale are about the centre: on an odd-sized image the
 * centre pixel maps to itself, whatever the angle or factor. */
START_TEST(test_centre_is_fixed)
{
    const rt_augment lists[2] = { { RT_AUG_ROTATE, 180, 0 }, { RT_AUG_SCALE, 0.5f, 2.0f } };
    float in[N], out[N];
    fill_image(in);
    for (int l = 0; l < 2; l++)
        for (uint64_t counter = 0; counter < 20; counter++) {
            apply(&lists[l], 1, 0.0f, 8, counter, in, out);
            for (int ch = 0; ch < C; ch++) {
                int centre = (ch * H + H / 2) * W + W / 2;
                ck_assert_float_eq_tol(out[centre], in[centre], 1e-6f);
            }
        }
}
END_TEST

START_TEST(test_noise)
{
    enum { BIG = 1 << 14 };
    const rt_augment noise = { RT_AUG_NOISE, 0.5f, 0 };
    float *in = calloc(BIG, sizeof *in), *out = malloc(BIG * sizeof *out);
    rt_augment_sample(&noise, 1, 1, 128, 128, 0.0f, 4, 0, in, out);
    double sum = 0, sq = 0;
    for (int i = 0; i < BIG; i++) {
        ck_assert(!isnan(out[i]));
        sum += out[i];
        sq += (double)out[i] * out[i];
    }
    double mean = sum / BIG, std = sqrt(sq / BIG - mean * mean);
    ck_assert_msg(fabs(mean) < 0.02 && fabs(std - 0.5) < 0.02, "mean %g std %g", mean, std);
    free(in), free(out);
}
END_TEST

static Suite *augment_suite(void)
{
    Suite *s = suite_create("rt_augment");
    TCase *tc = test_case("augment");
    tcase_add_test(tc, test_deterministic);
    tcase_add_test(tc, test_flip_twice_is_identity);
    tcase_add_test(tc, test_shift_moves_pixels_exactly);
    tcase_add_test(tc, test_rotate_zero_and_scale_one_are_identity);
    tcase_add_test(tc, test_geometric_range);
    tcase_add_test(tc, test_centre_is_fixed);
    tcase_add_test(tc, test_noise);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(augment_suite)
