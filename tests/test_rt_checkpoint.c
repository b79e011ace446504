/* test_rt_checkpoint.c — safetensors checkpoints and atomic file writes:
 * round trips, the header checked independently with jansson, the exact
 * refusal messages, and what a failed or repeated save leaves on disk. */
#include "netrt.h"
#include "testutil.h"

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir[256];
static char err[1024];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/netc-test-ckpt-XXXXXX");
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

/* Entries of a folder, sorted and joined by spaces, for checking that no
 * temporary file was left behind. */
static const char *listing(const char *path)
{
    static char out[4096];
    char names[64][256];
    int n = 0;
    DIR *dir = opendir(path);
    ck_assert_ptr_nonnull(dir);
    struct dirent *d;
    while ((d = readdir(dir)) != NULL && n < 64)
        if (strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0)
            snprintf(names[n++], 256, "%s", d->d_name);
    closedir(dir);
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (strcmp(names[j], names[i]) < 0) {
                char t[256];
                memcpy(t, names[i], 256);
                memcpy(names[i], names[j], 256);
                memcpy(names[j], t, 256);
            }
    out[0] = 0;
    for (int i = 0; i < n; i++) {
        strcat(out, i ? " " : "");
        strcat(out, names[i]);
    }
    return out;
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

static void write_bytes(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

/* A safetensors file written by hand: the length, `json` padded to 8, then
 * data_len bytes of a counting pattern. */
static void write_safetensors(const char *path, const char *json, size_t data_len)
{
    size_t json_len = strlen(json), header = (json_len + 7) / 8 * 8;
    size_t len = 8 + header + data_len;
    unsigned char *buf = malloc(len);
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)((uint64_t)header >> (8 * i));
    memcpy(buf + 8, json, json_len);
    memset(buf + 8 + json_len, ' ', header - json_len);
    for (size_t i = 0; i < data_len; i++)
        buf[8 + header + i] = (unsigned char)i;
    write_bytes(path, buf, len);
    free(buf);
}

static void expect_error(const char *path, const char *rest)
{
    char want[1024];
    snprintf(want, sizeof want, "%s: %s", path, rest);
    ck_assert_str_eq(err, want);
}

/* The model of most tests: w f32 [3, 4], b f32 [4], step i32 []. */
static float w[12], b[4];
static int32_t step[1];

static rt_named_tensor model_tensor(const char *name, rt_dtype dtype, int rank,
                                    const int64_t *dims, void *data)
{
    rt_named_tensor t = {.name = name, .dtype = dtype, .rank = rank, .data = data};
    for (int d = 0; d < rank; d++)
        t.dims[d] = dims[d];
    return t;
}

static void make_model(rt_named_tensor *t)
{
    test_fill(w, 12, 1);
    test_fill(b, 4, 2);
    step[0] = -123456;
    t[0] = model_tensor("w", RT_F32, 2, (const int64_t[]){3, 4}, w);
    t[1] = model_tensor("b", RT_F32, 1, (const int64_t[]){4}, b);
    t[2] = model_tensor("step", RT_I32, 0, NULL, step);
}

static void save_model(const char *path)
{
    rt_named_tensor t[3];
    make_model(t);
    const rt_meta meta[2] = {{"format", "netc"}, {"epoch", "5"}};
    ck_assert_msg(rt_checkpoint_save(path, t, 3, meta, 2, err, sizeof err) == 0, "%s", err);
}

/* Loads `path` into fresh buffers shaped like the model, with its dims,
 * dtypes and names changed by the caller. */
static int load_into(const char *path, rt_named_tensor *t, int n, bool allow_extra)
{
    err[0] = 0;
    return rt_checkpoint_load(path, t, n, allow_extra, NULL, 0, NULL, err, sizeof err);
}

START_TEST(round_trip)
{
    const char *path = tmp_path("model.safetensors");
    float big[1000];
    test_fill(big, 1000, 3);
    float *empty = NULL;
    rt_named_tensor t[5];
    make_model(t);
    t[3] = model_tensor("big.weight", RT_F32, 3, (const int64_t[]){10, 10, 10}, big);
    t[4] = model_tensor("empty", RT_F32, 2, (const int64_t[]){0, 7}, empty);
    const rt_meta meta[3] = {{"format", "netc"}, {"epoch", "5"}, {"note", "é \"quoted\"\n"}};
    ck_assert_msg(rt_checkpoint_save(path, t, 5, meta, 3, err, sizeof err) == 0, "%s", err);
    ck_assert_str_eq(listing(tmpdir), "model.safetensors");

    float w2[12], b2[4], big2[1000];
    int32_t step2[1];
    memset(w2, 0, sizeof w2);
    rt_named_tensor u[5];
    memcpy(u, t, sizeof u);
    u[0].data = w2;
    u[1].data = b2;
    u[2].data = step2;
    u[3].data = big2;
    const char *keys[4] = {"epoch", "missing", "note", "format"};
    char *values[4];
    ck_assert_msg(rt_checkpoint_load(path, u, 5, false, keys, 4, values, err, sizeof err) == 0,
                  "%s", err);
    ck_assert_mem_eq(w2, w, sizeof w);
    ck_assert_mem_eq(b2, b, sizeof b);
    ck_assert_mem_eq(big2, big, sizeof big);
    ck_assert_int_eq(step2[0], -123456);
    ck_assert_str_eq(values[0], "5");
    ck_assert_ptr_null(values[1]);
    ck_assert_str_eq(values[2], "é \"quoted\"\n");
    ck_assert_str_eq(values[3], "netc");
    for (int i = 0; i < 4; i++)
        free(values[i]);

    /* Load order does not matter; a subset needs allow_extra. */
    rt_named_tensor only_b = u[1];
    memset(b2, 0, sizeof b2);
    ck_assert_msg(load_into(path, &only_b, 1, true) == 0, "%s", err);
    ck_assert_mem_eq(b2, b, sizeof b);
}
END_TEST

/* Reads the file back with jansson alone and checks the safetensors layout
 * byte for byte. */
START_TEST(header_is_valid_safetensors)
{
    const char *path = tmp_path("model.safetensors");
    save_model(path);
    size_t len;
    unsigned char *file = read_bytes(path, &len);
    ck_assert_uint_ge(len, 8);
    uint64_t n = 0;
    for (int i = 0; i < 8; i++)
        n |= (uint64_t)file[i] << (8 * i);
    ck_assert_uint_eq(n % 8, 0);
    ck_assert_uint_le(8 + n, len);
    /* The padding is spaces, and the JSON starts with '{'. */
    ck_assert_int_eq(file[8], '{');
    size_t json_end = 8 + n;
    while (file[json_end - 1] == ' ')
        json_end--;
    ck_assert_int_eq(file[json_end - 1], '}');
    ck_assert_uint_lt(8 + n - json_end, 8);

    json_error_t jerr;
    json_t *root = json_loadb((const char *)file + 8, n, JSON_REJECT_DUPLICATES, &jerr);
    ck_assert_msg(root != NULL, "%s", jerr.text);
    ck_assert_int_eq(json_object_size(root), 4);
    json_t *meta = json_object_get(root, "__metadata__");
    ck_assert_str_eq(json_string_value(json_object_get(meta, "format")), "netc");
    ck_assert_str_eq(json_string_value(json_object_get(meta, "epoch")), "5");

    const struct {
        const char *name, *dtype;
        int rank;
        int64_t dims[2];
        const void *data;
        size_t bytes;
    } want[3] = {
        {"w", "F32", 2, {3, 4}, w, sizeof w},
        {"b", "F32", 1, {4, 0}, b, sizeof b},
        {"step", "I32", 0, {0, 0}, step, sizeof step},
    };
    size_t data_len = len - 8 - n, covered = 0;
    for (int i = 0; i < 3; i++) {
        json_t *e = json_object_get(root, want[i].name);
        ck_assert_ptr_nonnull(e);
        ck_assert_str_eq(json_string_value(json_object_get(e, "dtype")), want[i].dtype);
        json_t *shape = json_object_get(e, "shape");
        ck_assert_int_eq(json_array_size(shape), want[i].rank);
        for (int d = 0; d < want[i].rank; d++)
            ck_assert_int_eq(json_integer_value(json_array_get(shape, d)), want[i].dims[d]);
        json_t *off = json_object_get(e, "data_offsets");
        ck_assert_int_eq(json_array_size(off), 2);
        size_t begin = (size_t)json_integer_value(json_array_get(off, 0));
        size_t end = (size_t)json_integer_value(json_array_get(off, 1));
        ck_assert_uint_eq(end - begin, want[i].bytes);
        ck_assert_uint_le(end, data_len);
        /* Little-endian, as on this host. */
        ck_assert_mem_eq(file + 8 + n + begin, want[i].data, want[i].bytes);
        covered += end - begin;
    }
    ck_assert_uint_eq(covered, data_len);
    json_decref(root);
    free(file);
}
END_TEST

START_TEST(refuse_mismatches)
{
    const char *path = tmp_path("mlp.safetensors");
    save_model(path);
    rt_named_tensor t[3];
    make_model(t);
    float before[12];
    memcpy(before, w, sizeof w);

    t[0].dims[0] = 4;
    t[0].dims[1] = 3;
    ck_assert_int_ne(load_into(path, t, 3, false), 0);
    expect_error(path, "tensor 'w' has shape [3, 4], the model expects [4, 3]");
    t[0].rank = 1;
    t[0].dims[0] = 12;
    ck_assert_int_ne(load_into(path, t, 3, false), 0);
    expect_error(path, "tensor 'w' has shape [3, 4], the model expects [12]");
    make_model(t);

    t[1].dtype = RT_I32;
    ck_assert_int_ne(load_into(path, t, 3, false), 0);
    expect_error(path, "tensor 'b' has dtype F32, the model expects I32");
    make_model(t);

    rt_named_tensor more[4];
    memcpy(more, t, sizeof t);
    float bias[4];
    more[3] = model_tensor("fc2.bias", RT_F32, 1, (const int64_t[]){4}, bias);
    ck_assert_int_ne(load_into(path, more, 4, false), 0);
    expect_error(path, "missing tensor 'fc2.bias'");

    ck_assert_int_ne(load_into(path, t, 2, false), 0);
    expect_error(path, "unexpected tensor 'step' is not in the model");
    ck_assert_int_ne(load_into(path, &t[2], 1, false), 0);
    expect_error(path, "unexpected tensor 'w' and 1 more are not in the model");
    ck_assert_msg(load_into(path, t, 2, true) == 0, "%s", err);

    /* Nothing was written by the refused loads. */
    ck_assert_mem_eq(w, before, sizeof w);

    const char *missing = tmp_path("nope.safetensors");
    ck_assert_int_ne(load_into(missing, t, 3, false), 0);
    expect_error(missing, "No such file or directory");
}
END_TEST

START_TEST(refuse_truncated_and_corrupt)
{
    const char *path = tmp_path("mlp.safetensors");
    save_model(path);
    size_t len;
    unsigned char *file = read_bytes(path, &len);
    rt_named_tensor t[3];
    make_model(t);

    /* 68 bytes of data (48 + 16 + 4); cut 12. */
    write_bytes(path, file, len - 12);
    ck_assert_int_ne(load_into(path, t, 3, false), 0);
    expect_error(path, "truncated: header says 68 bytes of data, file holds 56 bytes");

    write_bytes(path, file, 5);
    ck_assert_int_ne(load_into(path, t, 3, false), 0);
    expect_error(path, "truncated: file holds 5 bytes, a safetensors file starts with an 8-byte "
                       "header length");

    /* Header length beyond the file, and beyond any sane size. */
    unsigned char *copy = malloc(len);
    memcpy(copy, file, len);
    for (int i = 0; i < 8; i++)
        copy[i] = (unsigned char)((uint64_t)(len - 8 + 1) >> (8 * i));
    write_bytes(path, copy, len);
    ck_assert_int_ne(load_into(path, t, 3, false), 0);
    char want[256];
    snprintf(want, sizeof want, "corrupt header length %zu: the file holds %zu bytes after it",
             len - 8 + 1, len - 8);
    expect_error(path, want);
    memset(copy, 0xff, 8);
    write_bytes(path, copy, len);
    ck_assert_int_ne(load_into(path, t, 3, false), 0);
    snprintf(want, sizeof want,
             "corrupt header length 18446744073709551615: the file holds %zu bytes after it "
             "and the limit is 100 MB",
             len - 8);
    expect_error(path, want);
    free(copy);
    free(file);

    /* A bigger model cut in the middle reports sizes for people. */
    static float big[784 * 1000];
    rt_named_tensor bt = model_tensor("fc1.weight", RT_F32, 2, (const int64_t[]){784, 1000}, big);
    ck_assert_msg(rt_checkpoint_save(path, &bt, 1, NULL, 0, err, sizeof err) == 0, "%s", err);
    file = read_bytes(path, &len);
    write_bytes(path, file, 1200000);
    free(file);
    ck_assert_int_ne(load_into(path, &bt, 1, false), 0);
    expect_error(path, "truncated: header says 3.1 MB of data, file holds 1.2 MB");
}
END_TEST

START_TEST(refuse_bad_headers)
{
    const char *path = tmp_path("bad.safetensors");
    rt_named_tensor t = model_tensor("w", RT_F32, 1, (const int64_t[]){4}, b);

    write_safetensors(path, "{\"w\": {\"dtype\": \"F32\", ", 16);
    ck_assert_int_ne(load_into(path, &t, 1, false), 0);
    const char *prefix = "malformed JSON header: ";
    char want[600];
    snprintf(want, sizeof want, "%s: %s", path, prefix);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "got: %s", err);

    write_safetensors(path, "[1, 2]", 16);
    ck_assert_int_ne(load_into(path, &t, 1, false), 0);
    expect_error(path, "malformed header: the JSON is not an object");

    write_safetensors(path,
                      "{\"w\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]},"
                      " \"w\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}",
                      16);
    ck_assert_int_ne(load_into(path, &t, 1, false), 0);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "duplicate keys: %s", err);

    write_safetensors(path, "{\"w\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [16, 0]}}",
                      16);
    ck_assert_int_ne(load_into(path, &t, 1, false), 0);
    expect_error(path, "tensor 'w': data_offsets [16, 0] end before they begin");

    write_safetensors(path, "{\"w\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [-4, 12]}}",
                      16);
    ck_assert_int_ne(load_into(path, &t, 1, false), 0);
    expect_error(path,
                 "tensor 'w': \"data_offsets\" must be two non-negative integers [begin, end]");

    write_safetensors(path, "{\"w\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [8, 24]}}",
                      16);
    ck_assert_int_ne(load_into(path, &t, 1, false), 0);
    expect_error(path, "truncated: header says 24 bytes of data, file holds 16 bytes");

    write_safetensors(path, "{\"w\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 12]}}",
                      16);
    ck_assert_int_ne(load_into(path, &t, 1, false), 0);
    expect_error(path, "tensor 'w': data_offsets [0, 12] hold 12 bytes, but F32 [4] needs 16");

    write_safetensors(path,
                      "{\"w\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]},"
                      " \"v\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 16]}}",
                      16);
    ck_assert_int_ne(load_into(path, &t, 1, true), 0);
    expect_error(path, "tensors 'w' and 'v' overlap (data_offsets [0, 16] and [8, 16])");

    write_safetensors(path, "{\"w\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [8, 24]}}",
                      24);
    ck_assert_int_ne(load_into(path, &t, 1, false), 0);
    expect_error(path, "bytes [0, 8) of the data belong to no tensor");

    write_safetensors(path, "{\"w\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}",
                      24);
    ck_assert_int_ne(load_into(path, &t, 1, false), 0);
    expect_error(path, "8 bytes after the last tensor belong to no tensor");

    write_safetensors(path, "{\"w\": {\"dtype\": \"Q4\", \"shape\": [4], \"data_offsets\": [0, 16]}}",
                      16);
    ck_assert_int_ne(load_into(path, &t, 1, false), 0);
    expect_error(path, "tensor 'w': unknown dtype 'Q4'");

    write_safetensors(path, "{\"w\": {\"dtype\": \"F32\", \"shape\": [4.5], \"data_offsets\": [0, 16]}}",
                      16);
    ck_assert_int_ne(load_into(path, &t, 1, false), 0);
    expect_error(path, "tensor 'w': \"shape\" must be an array of non-negative integers");

    write_safetensors(path, "{\"w\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296, 4294967296],"
                            " \"data_offsets\": [0, 16]}}",
                      16);
    ck_assert_int_ne(load_into(path, &t, 1, false), 0);
    expect_error(path, "tensor 'w': shape is too large");

    write_safetensors(path, "{\"__metadata__\": {\"epoch\": 5}, \"w\": {\"dtype\": \"F32\", "
                            "\"shape\": [4], \"data_offsets\": [0, 16]}}",
                      16);
    ck_assert_int_ne(load_into(path, &t, 1, false), 0);
    expect_error(path, "malformed header: \"__metadata__\" must map strings to strings");

    write_safetensors(path, "{\"w\": [1]}", 16);
    ck_assert_int_ne(load_into(path, &t, 1, false), 0);
    expect_error(path, "tensor 'w': entry is not a JSON object");

    /* Tensors of other dtypes are fine when not asked for, and files from
     * other tools may put them anywhere in the data. */
    write_safetensors(path,
                      "{\"half\": {\"dtype\": \"F16\", \"shape\": [2, 2], \"data_offsets\": [16, 24]},"
                      " \"w\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]},"
                      " \"none\": {\"dtype\": \"I64\", \"shape\": [0], \"data_offsets\": [24, 24]}}",
                      24);
    float got[4];
    t.data = got;
    ck_assert_msg(load_into(path, &t, 1, true) == 0, "%s", err);
    const unsigned char pattern[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    ck_assert_mem_eq(got, pattern, 16);
    ck_assert_int_ne(load_into(path, &t, 1, false), 0);
    expect_error(path, "unexpected tensor 'half' and 1 more are not in the model");
}
END_TEST

START_TEST(refuse_bad_saves)
{
    const char *path = tmp_path("x.safetensors");
    rt_named_tensor t[3];
    make_model(t);
    t[1].name = "w";
    ck_assert_int_ne(rt_checkpoint_save(path, t, 3, NULL, 0, err, sizeof err), 0);
    expect_error(path, "duplicate tensor name 'w'");
    make_model(t);
    t[2].rank = 7;
    ck_assert_int_ne(rt_checkpoint_save(path, t, 3, NULL, 0, err, sizeof err), 0);
    expect_error(path, "tensor 'step' has rank 7; ranks go from 0 to 6");
    make_model(t);
    t[0].name = "__metadata__";
    ck_assert_int_ne(rt_checkpoint_save(path, t, 3, NULL, 0, err, sizeof err), 0);
    expect_error(path, "'__metadata__' is reserved and cannot name a tensor");
    make_model(t);
    const rt_meta meta[2] = {{"a", "1"}, {"a", "2"}};
    ck_assert_int_ne(rt_checkpoint_save(path, t, 3, meta, 2, err, sizeof err), 0);
    expect_error(path, "duplicate metadata key 'a'");
    ck_assert_str_eq(listing(tmpdir), "");
}
END_TEST

/* --------------------------------------------------------- atomic files */

START_TEST(save_fails_cleanly)
{
    rt_named_tensor t[3];
    make_model(t);

    const char *missing = tmp_path("no-such-folder/model.safetensors");
    ck_assert_int_ne(rt_checkpoint_save(missing, t, 3, NULL, 0, err, sizeof err), 0);
    char no_folder[600];
    snprintf(no_folder, sizeof no_folder, "the folder %s/no-such-folder does not exist", tmpdir);
    expect_error(missing, no_folder);
    ck_assert_str_eq(listing(tmpdir), "");

    /* A folder in the way: refused before a temporary file is made. */
    const char *blocked = tmp_path("model.safetensors");
    ck_assert_int_eq(mkdir(blocked, 0755), 0);
    ck_assert_int_ne(rt_checkpoint_save(blocked, t, 3, NULL, 0, err, sizeof err), 0);
    expect_error(blocked, "is a folder; give a file name");
    ck_assert_str_eq(listing(tmpdir), "model.safetensors");
    ck_assert_str_eq(listing(blocked), "");
    rmdir(blocked);

    /* A read-only folder. Root writes anyway, so as root the save runs in
     * a child that has become nobody. */
    const char *ro = tmp_path("ro");
    const char *in_ro = tmp_path("ro/model.safetensors");
    ck_assert_int_eq(mkdir(ro, 0555), 0);
    char want[1024];
    snprintf(want, sizeof want, "%s: Permission denied", in_ro);
    if (geteuid() != 0) {
        ck_assert_int_ne(rt_checkpoint_save(in_ro, t, 3, NULL, 0, err, sizeof err), 0);
        ck_assert_str_eq(err, want);
    } else {
        ck_assert_int_eq(chmod(tmpdir, 0755), 0);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            if (setgid(65534) != 0 || setuid(65534) != 0)
                _exit(2);
            int rc = rt_checkpoint_save(in_ro, t, 3, NULL, 0, err, sizeof err);
            if (rc != 0 && strcmp(err, want) == 0)
                _exit(0);
            fprintf(stderr, "as nobody: rc %d, message: %s\n", rc, err);
            _exit(1);
        }
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "the save as nobody did not fail as expected");
    }
    ck_assert_str_eq(listing(ro), "");

    /* The helper alone. */
    const char *path = tmp_path("no-such-folder/a.txt");
    ck_assert_int_ne(rt_write_file_atomic(path, "x", 1, err, sizeof err), 0);
    expect_error(path, no_folder);
}
END_TEST

START_TEST(overwrite_replaces_whole)
{
    const char *path = tmp_path("model.safetensors");
    static float big[10000];
    test_fill(big, 10000, 9);
    rt_named_tensor bt = model_tensor("big", RT_F32, 1, (const int64_t[]){10000}, big);
    ck_assert_msg(rt_checkpoint_save(path, &bt, 1, NULL, 0, err, sizeof err) == 0, "%s", err);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_gt(st.st_size, 40000);
    ck_assert_int_eq(st.st_mode & 0777, 0666 & ~022);
    ck_assert_int_eq(chmod(path, 0600), 0);

    save_model(path);
    size_t len;
    unsigned char *file = read_bytes(path, &len);
    free(file);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq((size_t)st.st_size, len);
    ck_assert_uint_lt(len, 1000);
    ck_assert_int_eq(st.st_mode & 0777, 0600); /* an overwrite keeps the mode */
    ck_assert_str_eq(listing(tmpdir), "model.safetensors");

    rt_named_tensor t[3];
    make_model(t);
    float w2[12];
    t[0].data = w2;
    ck_assert_msg(load_into(path, t, 3, false) == 0, "%s", err);
    ck_assert_mem_eq(w2, w, sizeof w);

    /* rt_write_file_atomic with nothing to write makes an empty file. */
    const char *empty = tmp_path("empty");
    ck_assert_msg(rt_write_file_atomic(empty, "", 0, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(stat(empty, &st), 0);
    ck_assert_int_eq(st.st_size, 0);
}
END_TEST

static void set_umask(void)
{
    make_tmpdir();
    umask(022);
}

static Suite *checkpoint_suite(void)
{
    Suite *s = suite_create("rt_checkpoint");
    TCase *tc = test_case("checkpoint");
    tcase_add_checked_fixture(tc, set_umask, remove_tmpdir);
    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, header_is_valid_safetensors);
    tcase_add_test(tc, refuse_mismatches);
    tcase_add_test(tc, refuse_truncated_and_corrupt);
    tcase_add_test(tc, refuse_bad_headers);
    tcase_add_test(tc, refuse_bad_saves);
    tcase_add_test(tc, save_fails_cleanly);
    tcase_add_test(tc, overwrite_replaces_whole);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(checkpoint_suite)
