/* test_rt_data.c — data file search and loading: IDX (gzip'd and plain),
 * CSV, RAW and TEXT sources, and the exact messages for broken files. */
#include "netrt.h"
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define FASHION "/usr/share/datasets/fashion-mnist"

static char tmpdir[256];
static char err[1024];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/netc-test-data-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}


static void remove_tmpdir(void)
{
    test_remove_tree(tmpdir);
}

static const char *tmp_path(const char *name)
{
    return test_path_in(tmpdir, name);
}

static void write_bytes(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

static void write_gz(const char *path, const void *data, size_t len)
{
    gzFile f = gzopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    if (len)
        ck_assert_int_eq(gzwrite(f, data, (unsigned)len), (int)len);
    ck_assert_int_eq(gzclose(f), Z_OK);
}

static unsigned char *read_bytes(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)size + 1);
    ck_assert_uint_eq(fread(buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    *len = (size_t)size;
    return buf;
}

/* An IDX file: header (type, dims big-endian) then payload_len bytes. */
static void write_idx(const char *path, bool gz, int type, int ndims, const uint32_t *dims,
                      const void *payload, size_t payload_len)
{
    size_t len = 4 + 4 * (size_t)ndims + payload_len;
    unsigned char *buf = malloc(len);
    buf[0] = 0;
    buf[1] = 0;
    buf[2] = (unsigned char)type;
    buf[3] = (unsigned char)ndims;
    for (int d = 0; d < ndims; d++)
        for (int b = 0; b < 4; b++)
            buf[4 + 4 * d + b] = (unsigned char)(dims[d] >> (24 - 8 * b));
    if (payload_len)
        memcpy(buf + 4 + 4 * ndims, payload, payload_len);
    if (gz)
        write_gz(path, buf, len);
    else
        write_bytes(path, buf, len);
    free(buf);
}

static int load(rt_source src, rt_dataset *d)
{
    err[0] = 0;
    return rt_dataset_load(&src, d, err, sizeof err);
}

/* The message must be exactly "<path>: <rest>". */
static void expect_error(const char *path, const char *rest)
{
    char want[1024];
    snprintf(want, sizeof want, "%s: %s", path, rest);
    ck_assert_str_eq(err, want);
}

/* ------------------------------------------------------------------ IDX */

/* 5 images of 3x4 bytes whose pixel j of image i is 10*i + j, and their
 * labels 4, 3, 2, 1, 0. */
static void write_small_idx(const char *images, bool images_gz, const char *labels,
                            bool labels_gz)
{
    unsigned char pixels[5 * 12], classes[5];
    for (int i = 0; i < 5; i++) {
        for (int j = 0; j < 12; j++)
            pixels[i * 12 + j] = (unsigned char)(10 * i + j);
        classes[i] = (unsigned char)(4 - i);
    }
    write_idx(images, images_gz, 0x08, 3, (const uint32_t[]){5, 3, 4}, pixels, sizeof pixels);
    write_idx(labels, labels_gz, 0x08, 1, (const uint32_t[]){5}, classes, sizeof classes);
}

static void check_small_idx(const rt_dataset *d, float scale, float shift)
{
    ck_assert_int_eq(d->n, 5);
    ck_assert_int_eq(d->x_dtype, RT_F32);
    ck_assert_int_eq(d->x_rank, 2);
    ck_assert_int_eq(d->x_dims[0], 3);
    ck_assert_int_eq(d->x_dims[1], 4);
    ck_assert_int_eq(d->x_size, 12);
    const float *x = d->x;
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 12; j++)
            ck_assert_float_eq(x[i * 12 + j], (float)((10 * i + j) * (double)scale + shift));
    ck_assert_int_eq(d->y_dtype, RT_I32);
    ck_assert_int_eq(d->y_rank, 0);
    ck_assert_int_eq(d->y_size, 1);
    const int32_t *y = d->y;
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(y[i], 4 - i);
}

START_TEST(idx_gz_and_plain)
{
    const char *img = tmp_path("img.gz"), *lbl = tmp_path("lbl"), *img2 = tmp_path("img"),
               *lbl2 = tmp_path("lbl.gz");
    write_small_idx(img, true, lbl, false);
    write_small_idx(img2, false, lbl2, true);
    rt_dataset d;
    ck_assert_msg(load((rt_source){.kind = RT_SRC_IDX, .path = img, .labels_path = lbl,
                                   .scale = 0.5f, .shift = -1.0f},
                       &d) == 0, "%s", err);
    check_small_idx(&d, 0.5f, -1.0f);
    rt_dataset_free(&d);
    ck_assert_ptr_null(d.x);
    ck_assert_msg(load((rt_source){.kind = RT_SRC_IDX, .path = img2, .labels_path = lbl2,
                                   .scale = 1.0f / 255},
                       &d) == 0, "%s", err);
    check_small_idx(&d, 1.0f / 255, 0);
    rt_dataset_free(&d);

    /* Images alone: no labels. */
    ck_assert_msg(load((rt_source){.kind = RT_SRC_IDX, .path = img, .scale = 1}, &d) == 0, "%s",
                  err);
    ck_assert_int_eq(d.n, 5);
    ck_assert_ptr_null(d.y);
    ck_assert_int_eq(d.y_size, 0);
    rt_dataset_free(&d);
}
END_TEST

START_TEST(idx_other_element_types)
{
    /* 2 samples of 3 values in each of int16, int32, float, double, sbyte;
     * the payloads are big-endian as IDX wants. */
    const int16_t v16[6] = {-300, 0, 1, 2, 32767, -32768};
    unsigned char b16[12];
    for (int i = 0; i < 6; i++) {
        b16[2 * i] = (unsigned char)((uint16_t)v16[i] >> 8);
        b16[2 * i + 1] = (unsigned char)v16[i];
    }
    write_idx(tmp_path("i16"), false, 0x0B, 2, (const uint32_t[]){2, 3}, b16, sizeof b16);

    const float vf[6] = {1.5f, -2.25f, 0, 1e6f, -1e-3f, 3};
    unsigned char bf[24];
    for (int i = 0; i < 6; i++) {
        uint32_t bits;
        memcpy(&bits, &vf[i], 4);
        for (int b = 0; b < 4; b++)
            bf[4 * i + b] = (unsigned char)(bits >> (24 - 8 * b));
    }
    write_idx(tmp_path("f32"), true, 0x0D, 2, (const uint32_t[]){2, 3}, bf, sizeof bf);

    const double vd[6] = {0.125, -7, 1e10, 2, 3, 4};
    unsigned char bd[48];
    for (int i = 0; i < 6; i++) {
        uint64_t bits;
        memcpy(&bits, &vd[i], 8);
        for (int b = 0; b < 8; b++)
            bd[8 * i + b] = (unsigned char)(bits >> (56 - 8 * b));
    }
    write_idx(tmp_path("f64"), false, 0x0E, 2, (const uint32_t[]){2, 3}, bd, sizeof bd);

    const unsigned char bs[6] = {0x80, 0xff, 0, 1, 0x7f, 0xfe};
    const int vs[6] = {-128, -1, 0, 1, 127, -2};
    write_idx(tmp_path("i8"), false, 0x09, 2, (const uint32_t[]){2, 3}, bs, sizeof bs);

    /* int32 labels: 70000, -5 */
    const unsigned char bl[8] = {0, 1, 0x11, 0x70, 0xff, 0xff, 0xff, 0xfb};
    write_idx(tmp_path("l32"), false, 0x0C, 1, (const uint32_t[]){2}, bl, sizeof bl);

    rt_dataset d;
    ck_assert_msg(load((rt_source){.kind = RT_SRC_IDX, .path = tmp_path("i16"),
                                   .labels_path = tmp_path("l32"), .scale = 2, .shift = 1},
                       &d) == 0, "%s", err);
    ck_assert_int_eq(d.x_rank, 1);
    ck_assert_int_eq(d.x_dims[0], 3);
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq(((float *)d.x)[i], (float)(v16[i] * 2.0 + 1));
    ck_assert_int_eq(((int32_t *)d.y)[0], 70000);
    ck_assert_int_eq(((int32_t *)d.y)[1], -5);
    rt_dataset_free(&d);

    ck_assert_msg(load((rt_source){.kind = RT_SRC_IDX, .path = tmp_path("f32"), .scale = 1},
                       &d) == 0, "%s", err);
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq(((float *)d.x)[i], vf[i]);
    rt_dataset_free(&d);

    ck_assert_msg(load((rt_source){.kind = RT_SRC_IDX, .path = tmp_path("f64"), .scale = 1},
                       &d) == 0, "%s", err);
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq(((float *)d.x)[i], (float)vd[i]);
    rt_dataset_free(&d);

    ck_assert_msg(load((rt_source){.kind = RT_SRC_IDX, .path = tmp_path("i8"), .scale = 1},
                       &d) == 0, "%s", err);
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq(((float *)d.x)[i], (float)vs[i]);
    rt_dataset_free(&d);
}
END_TEST

START_TEST(idx_truncated)
{
    unsigned char labels[7] = {1, 2, 3, 4, 5, 6, 7};
    const char *plain = tmp_path("train-labels-idx1-ubyte");
    const char *gz = tmp_path("train-labels-idx1-ubyte.gz");
    write_idx(plain, false, 0x08, 1, (const uint32_t[]){10}, labels, sizeof labels);
    write_idx(gz, true, 0x08, 1, (const uint32_t[]){10}, labels, sizeof labels);
    write_small_idx(tmp_path("img"), false, tmp_path("unused"), false);

    rt_dataset d;
    ck_assert_int_ne(load((rt_source){.kind = RT_SRC_IDX, .path = plain, .scale = 1}, &d), 0);
    expect_error(plain, "truncated: expected 10 samples, file holds 7");
    ck_assert_ptr_null(d.x);

    /* As a labels file it counts labels. Its count (10) differs from the
     * images' (5), which is caught first, so use 5 images worth of
     * header: rewrite the labels to claim 5 and hold 3. */
    write_idx(gz, true, 0x08, 1, (const uint32_t[]){5}, labels, 3);
    ck_assert_int_ne(load((rt_source){.kind = RT_SRC_IDX, .path = tmp_path("img"),
                                      .labels_path = gz, .scale = 1},
                          &d), 0);
    expect_error(gz, "truncated: expected 5 labels, file holds 3");
    ck_assert_ptr_null(d.x);
    ck_assert_ptr_null(d.y);

    /* Images: 4 of 2x2 declared, 2.5 present. */
    const char *img = tmp_path("t10k-images-idx3-ubyte.gz");
    unsigned char pixels[10] = {0};
    write_idx(img, true, 0x08, 3, (const uint32_t[]){4, 2, 2}, pixels, sizeof pixels);
    ck_assert_int_ne(load((rt_source){.kind = RT_SRC_IDX, .path = img, .scale = 1}, &d), 0);
    expect_error(img, "truncated: expected 4 images, file holds 2");

    /* A gzip stream cut in the middle reads as a short file. */
    unsigned char many[4000];
    for (int i = 0; i < 4000; i++)
        many[i] = (unsigned char)(i * 7919 >> 3);
    write_idx(gz, true, 0x08, 3, (const uint32_t[]){40, 10, 10}, many, sizeof many);
    size_t len;
    unsigned char *bytes = read_bytes(gz, &len);
    write_bytes(gz, bytes, len / 2);
    free(bytes);
    ck_assert_int_ne(load((rt_source){.kind = RT_SRC_IDX, .path = gz, .scale = 1}, &d), 0);
    char prefix[600];
    snprintf(prefix, sizeof prefix, "%s: truncated: expected 40 images, file holds ", gz);
    ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0, "got: %s", err);

    /* A header cut short. */
    const unsigned char head[6] = {0, 0, 8, 3, 0, 0};
    write_bytes(img, head, sizeof head);
    ck_assert_int_ne(load((rt_source){.kind = RT_SRC_IDX, .path = img, .scale = 1}, &d), 0);
    expect_error(img, "truncated: the IDX header needs 16 bytes, file holds 6");
    write_bytes(img, head, 3);
    ck_assert_int_ne(load((rt_source){.kind = RT_SRC_IDX, .path = img, .scale = 1}, &d), 0);
    expect_error(img, "truncated: an IDX header needs at least 4 bytes, file holds 3");
    write_bytes(img, head, 0);
    ck_assert_int_ne(load((rt_source){.kind = RT_SRC_IDX, .path = img, .scale = 1}, &d), 0);
    expect_error(img, "is empty");
}
END_TEST

START_TEST(idx_count_mismatch)
{
    const char *img = tmp_path("train-images-idx3-ubyte.gz");
    const char *lbl = tmp_path("t10k-labels-idx1-ubyte.gz");
    write_small_idx(img, true, tmp_path("unused"), false);
    unsigned char labels[4] = {0};
    write_idx(lbl, true, 0x08, 1, (const uint32_t[]){4}, labels, sizeof labels);
    rt_dataset d;
    ck_assert_int_ne(load((rt_source){.kind = RT_SRC_IDX, .path = img, .labels_path = lbl,
                                      .scale = 1},
                          &d), 0);
    char want[1024];
    snprintf(want, sizeof want, "%s holds 5 images but %s holds 4 labels", img, lbl);
    ck_assert_str_eq(err, want);
}
END_TEST

START_TEST(idx_bad_files)
{
    rt_dataset d;
    const char *p = tmp_path("t10k-images-idx3-ubyte.gz");

    const unsigned char magic[16] = {0x12, 0x34, 0x56, 0x78};
    write_bytes(p, magic, sizeof magic);
    ck_assert_int_ne(load((rt_source){.kind = RT_SRC_IDX, .path = p, .scale = 1}, &d), 0);
    expect_error(p, "not an IDX file (magic 0x12345678)");

    /* Unknown element type 0x0A. */
    const unsigned char type[16] = {0, 0, 0x0A, 1, 0, 0, 0, 1, 7};
    write_bytes(p, type, sizeof type);
    ck_assert_int_ne(load((rt_source){.kind = RT_SRC_IDX, .path = p, .scale = 1}, &d), 0);
    expect_error(p, "not an IDX file (magic 0x00000a01)");

    /* Gzip'd twice: what is left after one inflate is gzip's own magic. */
    const char *inner = tmp_path("inner.gz");
    write_small_idx(inner, true, tmp_path("unused"), false);
    size_t len;
    unsigned char *bytes = read_bytes(inner, &len);
    write_gz(p, bytes, len);
    free(bytes);
    ck_assert_int_ne(load((rt_source){.kind = RT_SRC_IDX, .path = p, .scale = 1}, &d), 0);
    expect_error(p, "not an IDX file (magic 0x1f8b0800)");

    /* Gzip magic followed by garbage. */
    unsigned char garbage[200] = {0x1f, 0x8b, 0x08, 0x00};
    for (int i = 10; i < 200; i++)
        garbage[i] = (unsigned char)(i * 37 + 11);
    write_bytes(p, garbage, sizeof garbage);
    ck_assert_int_ne(load((rt_source){.kind = RT_SRC_IDX, .path = p, .scale = 1}, &d), 0);
    char prefix[600];
    snprintf(prefix, sizeof prefix, "%s: bad gzip data (", p);
    ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0, "got: %s", err);

    /* A flipped byte in the deflate stream or its CRC. */
    write_small_idx(inner, true, tmp_path("unused"), false);
    bytes = read_bytes(inner, &len);
    bytes[len - 6] ^= 0x55; /* in the CRC-32 trailer */
    write_bytes(p, bytes, len);
    free(bytes);
    ck_assert_int_ne(load((rt_source){.kind = RT_SRC_IDX, .path = p, .scale = 1}, &d), 0);
    ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0, "got: %s", err);

    /* Pure noise of many sizes never crashes. */
    for (int size = 0; size < 64; size++) {
        unsigned char noise[64];
        uint32_t s = (uint32_t)size * 2654435761u + 1;
        for (int i = 0; i < size; i++) {
            s ^= s << 13; s ^= s >> 17; s ^= s << 5;
            noise[i] = (unsigned char)s;
        }
        if (size >= 4) { /* sometimes a valid magic with noise after */
            noise[0] = noise[1] = 0;
            noise[2] = (size & 1) ? 0x08 : 0x0D;
            noise[3] = (unsigned char)(1 + size % 4);
        }
        write_bytes(p, noise, (size_t)size);
        if (load((rt_source){.kind = RT_SRC_IDX, .path = p, .labels_path = p, .scale = 1},
                 &d) == 0)
            rt_dataset_free(&d);
        else
            ck_assert_msg(strncmp(err, p, strlen(p)) == 0, "message names no file: %s", err);
    }

    /* Absurd dimensions are refused before any allocation. */
    write_idx(p, false, 0x08, 3, (const uint32_t[]){0xffffffffu, 0xffffffffu, 0xffffffffu}, NULL,
              0);
    ck_assert_int_ne(load((rt_source){.kind = RT_SRC_IDX, .path = p, .scale = 1}, &d), 0);
    expect_error(p, "data too large: its size overflows 64 bits");
    write_idx(p, false, 0x08, 3, (const uint32_t[]){1000000, 1000, 1000}, NULL, 0);
    ck_assert_int_ne(load((rt_source){.kind = RT_SRC_IDX, .path = p, .scale = 1}, &d), 0);
    expect_error(p, "data too large: 4000.0 GB, the limit is 64.0 GB");
    /* Large but allowed: memory grows with the bytes present. */
    write_idx(p, true, 0x08, 3, (const uint32_t[]){1000000, 100, 100}, "abc", 3);
    ck_assert_int_ne(load((rt_source){.kind = RT_SRC_IDX, .path = p, .scale = 1}, &d), 0);
    expect_error(p, "truncated: expected 1000000 images, file holds 0");

    write_idx(p, false, 0x08, 3, (const uint32_t[]){2, 0, 3}, NULL, 0);
    ck_assert_int_ne(load((rt_source){.kind = RT_SRC_IDX, .path = p, .scale = 1}, &d), 0);
    expect_error(p, "IDX dimension 2 of 3 is 0");
    write_idx(p, false, 0x08, 3, (const uint32_t[]){0, 2, 3}, NULL, 0);
    ck_assert_int_ne(load((rt_source){.kind = RT_SRC_IDX, .path = p, .scale = 1}, &d), 0);
    expect_error(p, "holds no images (its header gives a count of 0)");
    const unsigned char rank9[4] = {0, 0, 8, 9};
    write_bytes(p, rank9, 4);
    ck_assert_int_ne(load((rt_source){.kind = RT_SRC_IDX, .path = p, .scale = 1}, &d), 0);
    expect_error(p, "IDX header gives 9 dimensions; 1 to 7 are supported");

    /* More bytes than the header declares. */
    write_idx(p, true, 0x08, 2, (const uint32_t[]){2, 2}, "abcde", 5);
    ck_assert_int_ne(load((rt_source){.kind = RT_SRC_IDX, .path = p, .scale = 1}, &d), 0);
    expect_error(p, "extra data after the 2 samples its header declares");

    /* Labels must be integers. */
    const char *lbl = tmp_path("lbl");
    write_idx(lbl, false, 0x0D, 1, (const uint32_t[]){2}, "abcdefgh", 8);
    write_idx(p, false, 0x08, 2, (const uint32_t[]){2, 2}, "abcd", 4);
    ck_assert_int_ne(load((rt_source){.kind = RT_SRC_IDX, .path = p, .labels_path = lbl,
                                      .scale = 1},
                          &d), 0);
    expect_error(lbl, "labels must be integers, the file holds float values");

    /* Missing files and folders. */
    const char *missing = tmp_path("nope-images-idx3-ubyte.gz");
    ck_assert_int_ne(load((rt_source){.kind = RT_SRC_IDX, .path = missing, .scale = 1}, &d), 0);
    expect_error(missing, "No such file or directory");
    ck_assert_int_ne(load((rt_source){.kind = RT_SRC_IDX, .path = p, .labels_path = missing,
                                      .scale = 1},
                          &d), 0);
    expect_error(missing, "No such file or directory");
    ck_assert_int_ne(load((rt_source){.kind = RT_SRC_IDX, .path = tmpdir, .scale = 1}, &d), 0);
    expect_error(tmpdir, "is a folder, not a file");
    ck_assert_ptr_null(d.x);
}
END_TEST

/* ------------------------------------------------------------------ CSV */

static void write_text(const char *path, const char *text)
{
    write_bytes(path, text, strlen(text));
}

START_TEST(csv_header_and_label)
{
    const char *p = tmp_path("iris.csv");
    write_text(p, "label,a,b\r\n3, 1.5,2\r\n\r\n0,-4,1e2\r\n7,0,0.25");
    rt_dataset d;
    ck_assert_msg(load((rt_source){.kind = RT_SRC_CSV, .path = p, .header = true,
                                   .label_column = 0, .scale = 2, .shift = 1},
                       &d) == 0, "%s", err);
    ck_assert_int_eq(d.n, 3);
    ck_assert_int_eq(d.x_dtype, RT_F32);
    ck_assert_int_eq(d.x_rank, 1);
    ck_assert_int_eq(d.x_dims[0], 2);
    ck_assert_int_eq(d.x_size, 2);
    const float want_x[6] = {4, 5, -7, 201, 1, 1.5f};
    const int32_t want_y[3] = {3, 0, 7};
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq(((float *)d.x)[i], want_x[i]);
    ck_assert_int_eq(d.y_rank, 0);
    ck_assert_int_eq(d.y_size, 1);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(((int32_t *)d.y)[i], want_y[i]);
    rt_dataset_free(&d);

    /* Label last, gzip'd. */
    const char *gz = tmp_path("data.csv.gz");
    const char *text = "1,2,5\n3,4,6\n";
    write_gz(gz, text, strlen(text));
    ck_assert_msg(load((rt_source){.kind = RT_SRC_CSV, .path = gz, .label_column = 2,
                                   .scale = 1},
                       &d) == 0, "%s", err);
    ck_assert_int_eq(d.n, 2);
    ck_assert_int_eq(d.x_size, 2);
    ck_assert_float_eq(((float *)d.x)[3], 4);
    ck_assert_int_eq(((int32_t *)d.y)[1], 6);
    rt_dataset_free(&d);
}
END_TEST

START_TEST(csv_no_header_no_label)
{
    const char *p = tmp_path("points.csv");
    write_text(p, "1,2,3\n4,5,6\n");
    rt_dataset d;
    ck_assert_msg(load((rt_source){.kind = RT_SRC_CSV, .path = p, .label_column = -1,
                                   .scale = 1},
                       &d) == 0, "%s", err);
    ck_assert_int_eq(d.n, 2);
    ck_assert_int_eq(d.x_size, 3);
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq(((float *)d.x)[i], (float)(i + 1));
    ck_assert_ptr_null(d.y);
    ck_assert_int_eq(d.y_size, 0);
    rt_dataset_free(&d);
}
END_TEST

START_TEST(csv_errors)
{
    const char *p = tmp_path("bad.csv");
    rt_dataset d;
    rt_source src = {.kind = RT_SRC_CSV, .path = p, .header = true, .label_column = 2,
                     .scale = 1};

    write_text(p, "a,b,c\n1,2,3\n4,5,6\n7,8\n");
    ck_assert_int_ne(load(src, &d), 0);
    expect_error(p, "4: row has 2 columns, expected 3 like line 2");
    ck_assert_ptr_null(d.x);

    write_text(p, "a,b,c\n1,abc,3\n");
    ck_assert_int_ne(load(src, &d), 0);
    expect_error(p, "2: column 2: 'abc' is not a number");

    write_text(p, "a,b,c\n1,2,3\n1,,3\n");
    ck_assert_int_ne(load(src, &d), 0);
    expect_error(p, "3: column 2 is empty");

    write_text(p, "a,b,c\n1,2,3\n1,nan,3\n");
    ck_assert_int_ne(load(src, &d), 0);
    expect_error(p, "3: column 2: 'nan' is not a finite number");

    write_text(p, "a,b,c\n1,2,3.5\n");
    ck_assert_int_ne(load(src, &d), 0);
    expect_error(p, "2: label 3.5 in column 3 is not an integer");

    write_text(p, "a,b,c\n1,2,3\n");
    src.label_column = 3;
    ck_assert_int_ne(load(src, &d), 0);
    expect_error(p, "label_column 3 is out of range: rows have 3 columns (0 to 2)");

    write_text(p, "a,b,c\n\n");
    ck_assert_int_ne(load(src, &d), 0);
    expect_error(p, "no data rows");

    /* A number must not run on into the next line. */
    src.header = false;
    src.label_column = -1;
    write_text(p, "1,2,\n3,4,5\n");
    ck_assert_int_ne(load(src, &d), 0);
    expect_error(p, "1: column 3 is empty");
}
END_TEST

/* ------------------------------------------------------------ RAW, TEXT */

START_TEST(raw_floats)
{
    const char *p = tmp_path("x.f32");
    float values[12];
    for (int i = 0; i < 12; i++)
        values[i] = (float)i * 0.5f - 1;
    write_bytes(p, values, sizeof values); /* the test host is little-endian */
    rt_dataset d;
    ck_assert_msg(load((rt_source){.kind = RT_SRC_RAW, .path = p, .seq = 4, .scale = 2,
                                   .shift = 1},
                       &d) == 0, "%s", err);
    ck_assert_int_eq(d.n, 3);
    ck_assert_int_eq(d.x_rank, 1);
    ck_assert_int_eq(d.x_dims[0], 4);
    ck_assert_int_eq(d.x_size, 4);
    for (int i = 0; i < 12; i++)
        ck_assert_float_eq(((float *)d.x)[i], values[i] * 2 + 1);
    ck_assert_ptr_null(d.y);
    rt_dataset_free(&d);

    /* With IDX labels. */
    const char *lbl = tmp_path("y.idx");
    write_idx(lbl, false, 0x08, 1, (const uint32_t[]){3}, "\x01\x02\x03", 3);
    ck_assert_msg(load((rt_source){.kind = RT_SRC_RAW, .path = p, .labels_path = lbl, .seq = 4,
                                   .scale = 1},
                       &d) == 0, "%s", err);
    ck_assert_int_eq(((int32_t *)d.y)[2], 3);
    rt_dataset_free(&d);
    ck_assert_int_ne(load((rt_source){.kind = RT_SRC_RAW, .path = p, .labels_path = lbl,
                                      .seq = 2, .scale = 1},
                          &d), 0);
    char want[1024];
    snprintf(want, sizeof want, "%s holds 6 samples but %s holds 3 labels", p, lbl);
    ck_assert_str_eq(err, want);

    ck_assert_int_ne(load((rt_source){.kind = RT_SRC_RAW, .path = p, .seq = 5, .scale = 1}, &d),
                     0);
    expect_error(p, "holds 48 bytes, not a whole number of 20-byte samples (5 floats each)");
    ck_assert_int_ne(load((rt_source){.kind = RT_SRC_RAW, .path = p, .scale = 1}, &d), 0);
    expect_error(p, "a RAW source needs the floats per sample (seq), got 0");
}
END_TEST

START_TEST(text_windows)
{
    const char *p = tmp_path("corpus.txt");
    write_text(p, "hello world!");
    rt_dataset d;
    ck_assert_msg(load((rt_source){.kind = RT_SRC_TEXT, .path = p, .seq = 4}, &d) == 0, "%s",
                  err);
    /* 12 bytes: windows at 0 and 4; one at 8 would need byte 12 as label. */
    ck_assert_int_eq(d.n, 2);
    ck_assert_int_eq(d.x_dtype, RT_I32);
    ck_assert_int_eq(d.x_rank, 1);
    ck_assert_int_eq(d.x_dims[0], 4);
    ck_assert_int_eq(d.y_dtype, RT_I32);
    ck_assert_int_eq(d.y_rank, 1);
    ck_assert_int_eq(d.y_dims[0], 4);
    ck_assert_int_eq(d.y_size, 4);
    const char *xs = "hello wo", *ys = "ello wor";
    for (int i = 0; i < 8; i++) {
        ck_assert_int_eq(((int32_t *)d.x)[i], xs[i]);
        ck_assert_int_eq(((int32_t *)d.y)[i], ys[i]);
    }
    rt_dataset_free(&d);

    /* 13 bytes: now the third window fits. */
    write_text(p, "hello world!\n");
    ck_assert_msg(load((rt_source){.kind = RT_SRC_TEXT, .path = p, .seq = 4}, &d) == 0, "%s",
                  err);
    ck_assert_int_eq(d.n, 3);
    ck_assert_int_eq(((int32_t *)d.y)[11], '\n');
    rt_dataset_free(&d);

    /* Bytes above 127 stay 128..255. */
    write_bytes(p, "\xff\x80\x00", 3);
    ck_assert_msg(load((rt_source){.kind = RT_SRC_TEXT, .path = p, .seq = 2}, &d) == 0, "%s",
                  err);
    ck_assert_int_eq(((int32_t *)d.x)[0], 255);
    ck_assert_int_eq(((int32_t *)d.x)[1], 128);
    ck_assert_int_eq(((int32_t *)d.y)[1], 0);
    rt_dataset_free(&d);

    ck_assert_int_ne(load((rt_source){.kind = RT_SRC_TEXT, .path = p, .seq = 8}, &d), 0);
    expect_error(p, "holds 3 bytes, too few for one window of 8 tokens and its next-token labels");
    ck_assert_int_ne(load((rt_source){.kind = RT_SRC_TEXT, .path = p}, &d), 0);
    expect_error(p, "a TEXT source needs the tokens per sample (seq), got 0");
}
END_TEST

/* predict's windows of a text: every byte in one, the last window ending
 * at the text's end; a short text padded after it; bytes past the
 * vocabulary refused with their offset. */
START_TEST(text_windows_for_predict)
{
    const char *p = tmp_path("predict.txt");
    write_text(p, "hello world!");
    rt_dataset d;
    int64_t first = -1, rows = -1;
    /* 12 bytes, windows of 5: at 0, 5, and 7 (its last 2 rows new) */
    ck_assert_msg(rt_text_windows(p, 5, 256, 0, &d, &first, &rows, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(d.n, 3);
    ck_assert_int_eq(d.x_size, 5);
    ck_assert_ptr_null(d.y);
    const char *xs = "hello world" "orld!";
    for (int i = 0; i < 15; i++)
        ck_assert_int_eq(((int32_t *)d.x)[i], i < 10 ? xs[i] : "orld!"[i - 10]);
    ck_assert_int_eq(first, 3);
    ck_assert_int_eq(rows, 2);
    rt_dataset_free(&d);
    /* 12 bytes, windows of 4: no extra window, all 4 rows of the last new */
    ck_assert_msg(rt_text_windows(p, 4, 256, 0, &d, &first, &rows, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(d.n, 3);
    ck_assert_int_eq(first, 0);
    ck_assert_int_eq(rows, 4);
    rt_dataset_free(&d);
    /* shorter than the window: one window, the pad after the 12 bytes */
    ck_assert_msg(rt_text_windows(p, 16, 256, 7, &d, &first, &rows, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(d.n, 1);
    ck_assert_int_eq(((int32_t *)d.x)[11], '!');
    ck_assert_int_eq(((int32_t *)d.x)[12], 7);
    ck_assert_int_eq(((int32_t *)d.x)[15], 7);
    ck_assert_int_eq(first, 0);
    ck_assert_int_eq(rows, 12);
    rt_dataset_free(&d);
    ck_assert_int_ne(rt_text_windows(p, 4, 100, 0, &d, &first, &rows, err, sizeof err), 0);
    expect_error(p, "byte 104 (0x68) at offset 0 is outside the model's vocabulary, bytes 0 to 99");
    write_bytes(p, "", 0);
    ck_assert_int_ne(rt_text_windows(p, 4, 256, 0, &d, &first, &rows, err, sizeof err), 0);
    expect_error(p, "is empty: there is no text to predict on");
}
END_TEST

/* -------------------------------------------------------------- resolve */

START_TEST(resolve_search_order)
{
    char base[600], a[600], b[600], out[1024];
    snprintf(base, sizeof base, "%s/base", tmpdir);
    snprintf(a, sizeof a, "%s/a", tmpdir);
    snprintf(b, sizeof b, "%s/b/", tmpdir); /* a trailing slash is fine */
    ck_assert_int_eq(mkdir(base, 0755), 0);
    ck_assert_int_eq(mkdir(a, 0755), 0);
    ck_assert_int_eq(mkdir(b, 0755), 0);
    write_text(tmp_path("b/only-in-b.csv"), "1\n");
    write_text(tmp_path("a/in-a-and-b.csv"), "1\n");
    write_text(tmp_path("b/in-a-and-b.csv"), "1\n");
    write_text(tmp_path("base/everywhere.csv"), "1\n");
    write_text(tmp_path("a/everywhere.csv"), "1\n");
    ck_assert_int_eq(mkdir(tmp_path("a/sub"), 0755), 0);
    write_text(tmp_path("a/sub/nested.csv"), "1\n");
    ck_assert_int_eq(mkdir(tmp_path("base/folder.csv"), 0755), 0);

    char path[1300];
    snprintf(path, sizeof path, "%s::%s", a, b);
    ck_assert_int_eq(setenv("NETC_DATA_PATH", path, 1), 0);

    ck_assert_int_eq(rt_data_resolve("everywhere.csv", base, out, sizeof out), 0);
    ck_assert_str_eq(out, tmp_path("base/everywhere.csv"));
    ck_assert_int_eq(rt_data_resolve("in-a-and-b.csv", base, out, sizeof out), 0);
    ck_assert_str_eq(out, tmp_path("a/in-a-and-b.csv"));
    ck_assert_int_eq(rt_data_resolve("only-in-b.csv", base, out, sizeof out), 0);
    ck_assert_str_eq(out, tmp_path("b/only-in-b.csv"));
    ck_assert_int_eq(rt_data_resolve("sub/nested.csv", base, out, sizeof out), 0);
    ck_assert_str_eq(out, tmp_path("a/sub/nested.csv"));

    /* Absolute names are taken as they are. */
    ck_assert_int_eq(rt_data_resolve(tmp_path("b/only-in-b.csv"), base, out, sizeof out), 0);
    ck_assert_str_eq(out, tmp_path("b/only-in-b.csv"));
    ck_assert_int_ne(rt_data_resolve(tmp_path("base/in-a-and-b.csv"), base, out, sizeof out), 0);
    ck_assert_str_eq(out, tmp_path("base/in-a-and-b.csv"));

    /* Not found: out holds the name as given; folders are not data. */
    ck_assert_int_ne(rt_data_resolve("nowhere.csv", base, out, sizeof out), 0);
    ck_assert_str_eq(out, "nowhere.csv");
    ck_assert_int_ne(rt_data_resolve("folder.csv", base, out, sizeof out), 0);
    /* Too small an output buffer is not found either, and never overrun. */
    char tiny[8];
    ck_assert_int_ne(rt_data_resolve("everywhere.csv", base, tiny, sizeof tiny), 0);
    ck_assert_str_eq(tiny, "everyw" "h");

    /* Without NETC_DATA_PATH, only the base folder (and the system's data
     * sets) remain. */
    unsetenv("NETC_DATA_PATH");
    ck_assert_int_ne(rt_data_resolve("only-in-b.csv", base, out, sizeof out), 0);

    /* No base folder: relative to the working directory. */
    char cwd[1024];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    ck_assert_int_eq(chdir(b), 0);
    ck_assert_int_eq(rt_data_resolve("only-in-b.csv", NULL, out, sizeof out), 0);
    ck_assert_str_eq(out, "only-in-b.csv");
    ck_assert_int_eq(chdir(cwd), 0);
}
END_TEST

START_TEST(resolve_system_datasets)
{
    struct stat st;
    if (stat(FASHION "/train-labels-idx1-ubyte.gz", &st) != 0) {
        printf("resolve_system_datasets: skipped, %s is absent (apt-get install "
               "dataset-fashion-mnist)\n", FASHION);
        return;
    }
    char out[1024];
    unsetenv("NETC_DATA_PATH");
    ck_assert_int_eq(rt_data_resolve("train-labels-idx1-ubyte.gz", tmpdir, out, sizeof out), 0);
    ck_assert_str_eq(out, FASHION "/train-labels-idx1-ubyte.gz");
    ck_assert_int_eq(rt_data_resolve("fashion-mnist/t10k-labels-idx1-ubyte.gz", tmpdir, out,
                                     sizeof out), 0);
    ck_assert_str_eq(out, FASHION "/t10k-labels-idx1-ubyte.gz");
    /* A copy in the base folder wins over the system's. */
    write_text(tmp_path("train-labels-idx1-ubyte.gz"), "x");
    ck_assert_int_eq(rt_data_resolve("train-labels-idx1-ubyte.gz", tmpdir, out, sizeof out), 0);
    ck_assert_str_eq(out, tmp_path("train-labels-idx1-ubyte.gz"));
}
END_TEST

/* -------------------------------------------------------- Fashion-MNIST */

static void check_fashion(const char *images, const char *labels, int64_t count)
{
    char img[1024], lbl[1024];
    ck_assert_int_eq(rt_data_resolve(images, NULL, img, sizeof img), 0);
    ck_assert_int_eq(rt_data_resolve(labels, NULL, lbl, sizeof lbl), 0);
    rt_dataset d;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_msg(load((rt_source){.kind = RT_SRC_IDX, .path = img, .labels_path = lbl,
                                   .scale = 1.0f / 255},
                       &d) == 0, "%s", err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("fashion-mnist: %lld samples from %s in %.3f s\n", (long long)d.n, images,
           (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9);
    ck_assert_int_eq(d.n, count);
    ck_assert_int_eq(d.x_rank, 2);
    ck_assert_int_eq(d.x_dims[0], 28);
    ck_assert_int_eq(d.x_dims[1], 28);
    ck_assert_int_eq(d.x_size, 784);
    ck_assert_int_eq(d.y_rank, 0);
    ck_assert_int_eq(d.y_size, 1);
    const float *x = d.x;
    float lo = x[0], hi = x[0];
    for (int64_t i = 0; i < count * 784; i++) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    ck_assert_float_eq(lo, 0.0f);
    ck_assert_float_eq(hi, 1.0f);
    /* Fashion-MNIST is balanced: each of the 10 classes has a tenth. */
    int64_t per_class[10] = {0};
    const int32_t *y = d.y;
    for (int64_t i = 0; i < count; i++) {
        ck_assert_int_ge(y[i], 0);
        ck_assert_int_le(y[i], 9);
        per_class[y[i]]++;
    }
    for (int c = 0; c < 10; c++)
        ck_assert_int_eq(per_class[c], count / 10);
    rt_dataset_free(&d);
}

START_TEST(fashion_mnist)
{
    struct stat st;
    if (stat(FASHION, &st) != 0) {
        printf("fashion_mnist: skipped, %s is absent (apt-get install dataset-fashion-mnist)\n",
               FASHION);
        return;
    }
    unsetenv("NETC_DATA_PATH");
    check_fashion("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", 60000);
    check_fashion("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", 10000);
}
END_TEST

static Suite *data_suite(void)
{
    Suite *s = suite_create("rt_data");
    TCase *tc = test_case("data");
    tcase_add_checked_fixture(tc, make_tmpdir, remove_tmpdir);
    tcase_add_test(tc, idx_gz_and_plain);
    tcase_add_test(tc, idx_other_element_types);
    tcase_add_test(tc, idx_truncated);
    tcase_add_test(tc, idx_count_mismatch);
    tcase_add_test(tc, idx_bad_files);
    tcase_add_test(tc, csv_header_and_label);
    tcase_add_test(tc, csv_no_header_no_label);
    tcase_add_test(tc, csv_errors);
    tcase_add_test(tc, raw_floats);
    tcase_add_test(tc, text_windows);
    tcase_add_test(tc, text_windows_for_predict);
    tcase_add_test(tc, resolve_search_order);
    tcase_add_test(tc, resolve_system_datasets);
    tcase_add_test(tc, fashion_mnist);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(data_suite)
