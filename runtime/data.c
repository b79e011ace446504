/* data.c — finding data files and loading a whole data source into memory.
 *
 * Every reader goes through zlib's gz* calls, which read gzip'd and plain
 * files alike (zlib looks at the magic bytes), so `.gz` works for every
 * kind of source. Files are untrusted input: every count in a header is
 * bounds-checked, products are overflow-checked, and memory grows with the
 * bytes actually present rather than with what a header claims, so a
 * corrupt file gets a one-line message naming it, never a crash or a
 * gigabyte allocation.
 */
#include "netrt.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* No data set in memory may exceed this; a header claiming more is corrupt
 * or meant for another machine. */
#define MAX_DATA_BYTES ((int64_t)64 * 1000 * 1000 * 1000)
/* IDX values go into a buffer that starts with room for this many and
 * doubles as values arrive. Small, because the header's count is not
 * trusted: a 20-byte file claiming 64M values made a 256 MB allocation,
 * which under ASan costs 32 MB of shadow writes per input (the data fuzzer
 * ran at ~45 exec/s on it). Growing is cheap: glibc moves blocks this
 * large with mremap, not a copy (Fashion-MNIST's 47 million training
 * pixels load in the same CPU time as with one 64M-value buffer). */
#define FIRST_VALUES ((size_t)1 << 20)

#define DATASETS_ROOT "/usr/share/datasets"

static int too_large(const char *path, int64_t bytes, char *err, size_t errlen)
{
    char have[32], limit[32];
    rt_format_size((double)bytes, have, sizeof have);
    rt_format_size((double)MAX_DATA_BYTES, limit, sizeof limit);
    if (bytes < 0)
        rt_path_error(err, errlen, path, "data too large: its size overflows 64 bits");
    else
        rt_path_error(err, errlen, path, "data too large: %s, the limit is %s", have, limit);
    return -1;
}

/* ------------------------------------------------------------- resolve */

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && !S_ISDIR(st.st_mode);
}

/* Tries dir/name (dir of length dirlen); leaves the candidate in out. */
static bool try_in(const char *dir, size_t dirlen, const char *name, char *out, size_t outlen)
{
    while (dirlen > 1 && dir[dirlen - 1] == '/')
        dirlen--;
    int n = snprintf(out, outlen, "%.*s/%s", (int)dirlen, dir, name);
    return n >= 0 && (size_t)n < outlen && is_file(out);
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Each immediate subfolder of the datasets root, in name order so that
 * which file wins never depends on the order of readdir. */
static bool try_dataset_subfolders(const char *name, char *out, size_t outlen)
{
    DIR *dir = opendir(DATASETS_ROOT);
    if (!dir)
        return false;
    char **names = NULL;
    size_t count = 0, cap = 0;
    struct dirent *d;
    while ((d = readdir(dir)) != NULL) {
        if (d->d_name[0] == '.')
            continue;
        if (count == cap) {
            size_t ncap = cap ? 2 * cap : 16;
            char **grown = realloc(names, ncap * sizeof *grown);
            if (!grown)
                break;
            names = grown;
            cap = ncap;
        }
        if ((names[count] = strdup(d->d_name)) != NULL)
            count++;
    }
    closedir(dir);
    qsort(names, count, sizeof *names, compare_strings);

    bool found = false;
    for (size_t i = 0; i < count; i++) {
        char sub[4096];
        struct stat st;
        int n = snprintf(sub, sizeof sub, "%s/%s", DATASETS_ROOT, names[i]);
        if (!found && n > 0 && (size_t)n < sizeof sub && stat(sub, &st) == 0 &&
            S_ISDIR(st.st_mode))
            found = try_in(sub, (size_t)n, name, out, outlen);
        free(names[i]);
    }
    free(names);
    return found;
}

/* When nothing is found, out holds `name` as given, so that loading it
 * reports the missing file by the name the user wrote. */
int rt_data_resolve(const char *name, const char *base_dir, char *out, size_t outlen)
{
    if (!name || !name[0] || outlen == 0)
        return -1;
    if (name[0] == '/') {
        if (strlen(name) < outlen && is_file(name)) {
            memcpy(out, name, strlen(name) + 1);
            return 0;
        }
        goto not_found;
    }

    if (base_dir && base_dir[0]) {
        if (try_in(base_dir, strlen(base_dir), name, out, outlen))
            return 0;
    } else if (strlen(name) < outlen && is_file(name)) {
        memcpy(out, name, strlen(name) + 1);
        return 0;
    }

    /* Colon-separated like PATH; empty entries are skipped. */
    const char *path = getenv("NETC_DATA_PATH");
    while (path && *path) {
        const char *colon = strchr(path, ':');
        size_t len = colon ? (size_t)(colon - path) : strlen(path);
        if (len > 0 && try_in(path, len, name, out, outlen))
            return 0;
        path = colon ? colon + 1 : NULL;
    }

#ifdef NETRT_DATA_DIR
    /* The data folder of the build this runtime came from (the Makefile
     * sets it): where scripts/deps.sh writes the text corpus. */
    if (try_in(NETRT_DATA_DIR, strlen(NETRT_DATA_DIR), name, out, outlen))
        return 0;
#endif
    if (try_in(DATASETS_ROOT, strlen(DATASETS_ROOT), name, out, outlen))
        return 0;
    if (try_dataset_subfolders(name, out, outlen))
        return 0;

not_found:
    snprintf(out, outlen, "%s", name);
    return -1;
}

/* ------------------------------------------------------------- reading */

static gzFile open_input(const char *path, char *err, size_t errlen)
{
    int fd = rt_open_regular(path, err, errlen);
    if (fd < 0)
        return NULL;
    errno = 0;
    gzFile f = gzdopen(fd, "rb");
    if (!f) {
        rt_path_error(err, errlen, path, "%s", errno ? strerror(errno) : strerror(ENOMEM));
        close(fd);
        return NULL;
    }
    /* Large reads keep the system calls few on a 26 MB gzip file; a small
     * file gets a small buffer. */
    struct stat st;
    unsigned buffer = 1u << 18;
    if (fstat(fd, &st) == 0 && st.st_size < (off_t)buffer)
        buffer = st.st_size < 8192 ? 8192 : (unsigned)st.st_size;
    gzbuffer(f, buffer);
    return f;
}

/* zlib prefixes its messages with the path it was given; ours already
 * start with it. */
static void gz_fail(gzFile f, const char *path, char *err, size_t errlen)
{
    int errnum = Z_OK;
    const char *msg = gzerror(f, &errnum);
    size_t plen = strlen(path);
    if (msg && strncmp(msg, path, plen) == 0 && strncmp(msg + plen, ": ", 2) == 0)
        msg += plen + 2;
    if (!msg || !msg[0])
        msg = "unknown error";
    if (errnum == Z_ERRNO || errnum == Z_MEM_ERROR)
        rt_path_error(err, errlen, path, "%s", msg);
    else
        rt_path_error(err, errlen, path, "bad gzip data (%s)", msg);
}

/* Reads up to len bytes; *got < len means the file ended. */
static int read_upto(gzFile f, const char *path, void *buf, size_t len, size_t *got, char *err,
                     size_t errlen)
{
    size_t done = 0;
    while (done < len) {
        size_t want = len - done;
        unsigned chunk = want > (1u << 30) ? (1u << 30) : (unsigned)want;
        int n = gzread(f, (char *)buf + done, chunk);
        if (n < 0) {
            gz_fail(f, path, err, errlen);
            return -1;
        }
        if (n == 0)
            break;
        done += (size_t)n;
    }
    *got = done;
    return 0;
}

/* Reads up to `limit` bytes, growing the buffer with what arrives. The
 * result has one spare byte so text parsers can rely on a terminating NUL. */
static int read_growing(gzFile f, const char *path, size_t first, size_t limit,
                        unsigned char **data, size_t *len, char *err, size_t errlen)
{
    size_t cap = first < limit ? first : limit;
    unsigned char *buf = malloc(cap + 1);
    size_t have = 0;
    for (;;) {
        if (!buf) {
            rt_path_error(err, errlen, path, "%s", strerror(ENOMEM));
            return -1;
        }
        size_t got;
        if (read_upto(f, path, buf + have, cap - have, &got, err, errlen) != 0) {
            free(buf);
            return -1;
        }
        have += got;
        if (have < cap || cap == limit)
            break;
        size_t ncap = cap > limit / 2 ? limit : cap * 2;
        unsigned char *grown = realloc(buf, ncap + 1);
        if (!grown)
            free(buf);
        buf = grown;
        cap = ncap;
    }
    buf[have] = 0;
    *data = buf;
    *len = have;
    return 0;
}

static int close_input(gzFile f, const char *path, char *err, size_t errlen)
{
    int rc = gzclose(f);
    if (rc == Z_ERRNO) {
        rt_path_error(err, errlen, path, "%s", strerror(errno));
        return -1;
    }
    return 0;
}

/* A whole (possibly gzip'd) file, NUL-terminated. */
static int read_whole_file(const char *path, unsigned char **data, size_t *len, char *err,
                           size_t errlen)
{
    gzFile f = open_input(path, err, errlen);
    if (!f)
        return -1;
    struct stat st;
    size_t first = stat(path, &st) == 0 && st.st_size > 0 ? (size_t)st.st_size + 1 : 1u << 16;
    if (read_growing(f, path, first, (size_t)MAX_DATA_BYTES, data, len, err, errlen) != 0) {
        gzclose(f);
        return -1;
    }
    if (*len == (size_t)MAX_DATA_BYTES) {
        unsigned char probe;
        size_t got = 0;
        if (read_upto(f, path, &probe, 1, &got, err, errlen) != 0 || got > 0) {
            if (got > 0)
                too_large(path, MAX_DATA_BYTES + 1, err, errlen);
            free(*data);
            gzclose(f);
            return -1;
        }
    }
    if (close_input(f, path, err, errlen) != 0) {
        free(*data);
        return -1;
    }
    return 0;
}

/* A data set of n samples of `size` elements each, one axis: what the
 * CSV, RAW and text loaders make. */
static void set_rows(rt_dataset *out, int64_t n, rt_dtype dtype, int64_t size, void *x)
{
    out->n = n;
    out->x_dtype = dtype;
    out->x_rank = 1;
    out->x_dims[0] = size;
    out->x_size = size;
    out->x = x;
}

/* ----------------------------------------------------------------- IDX */

enum {
    IDX_U8 = 0x08,
    IDX_I8 = 0x09,
    IDX_I16 = 0x0B,
    IDX_I32 = 0x0C,
    IDX_F32 = 0x0D,
    IDX_F64 = 0x0E,
};

/* An open IDX file whose header has been read and checked. */
typedef struct idx_file {
    const char *path;
    gzFile f;
    int type;          /* IDX_* */
    int elem_bytes;
    int rank;          /* of one sample: dimensions after the count */
    int64_t count;     /* samples */
    int64_t dims[RT_MAX_RANK];
    int64_t sample_elems;
    const char *noun;  /* "images", "labels", "samples": for messages */
} idx_file;

static uint32_t get_u32_be(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int idx_elem_bytes(int type)
{
    switch (type) {
    case IDX_U8: case IDX_I8: return 1;
    case IDX_I16: return 2;
    case IDX_I32: case IDX_F32: return 4;
    case IDX_F64: return 8;
    default: return 0;
    }
}

/* Opens an IDX file and reads its header. */
static int idx_open(const char *path, bool labels, idx_file *idx, char *err, size_t errlen)
{
    memset(idx, 0, sizeof *idx);
    idx->path = path;
    idx->f = open_input(path, err, errlen);
    if (!idx->f)
        return -1;

    unsigned char head[4 + 4 * (RT_MAX_RANK + 1)];
    size_t got;
    if (read_upto(idx->f, path, head, 4, &got, err, errlen) != 0)
        goto failed;
    if (got == 0) {
        rt_path_error(err, errlen, path, "is empty");
        goto failed;
    }
    if (got < 4) {
        rt_path_error(err, errlen, path, "truncated: an IDX header needs at least 4 bytes, file holds %zu",
             got);
        goto failed;
    }
    uint32_t magic = get_u32_be(head);
    if (head[0] != 0 || head[1] != 0 || idx_elem_bytes(head[2]) == 0) {
        rt_path_error(err, errlen, path, "not an IDX file (magic 0x%08x)", (unsigned)magic);
        goto failed;
    }
    int ndims = head[3];
    if (ndims < 1 || ndims > RT_MAX_RANK + 1) {
        rt_path_error(err, errlen, path, "IDX header gives %d dimensions; 1 to %d are supported", ndims,
             RT_MAX_RANK + 1);
        goto failed;
    }
    size_t need = 4 + 4 * (size_t)ndims;
    if (read_upto(idx->f, path, head + 4, need - 4, &got, err, errlen) != 0)
        goto failed;
    if (got < need - 4) {
        rt_path_error(err, errlen, path, "truncated: the IDX header needs %zu bytes, file holds %zu", need,
             got + 4);
        goto failed;
    }

    idx->type = head[2];
    idx->elem_bytes = idx_elem_bytes(idx->type);
    idx->count = get_u32_be(head + 4);
    idx->rank = ndims - 1;
    idx->sample_elems = 1;
    for (int d = 0; d < idx->rank; d++) {
        idx->dims[d] = get_u32_be(head + 8 + 4 * d);
        if (idx->dims[d] == 0) {
            rt_path_error(err, errlen, path, "IDX dimension %d of %d is 0", d + 2, ndims);
            goto failed;
        }
        idx->sample_elems = rt_mul_checked(idx->sample_elems, idx->dims[d]);
    }
    idx->noun = labels ? "labels" : idx->rank >= 2 ? "images" : "samples";
    if (idx->count == 0) {
        rt_path_error(err, errlen, path, "holds no %s (its header gives a count of 0)", idx->noun);
        goto failed;
    }
    /* Both the file's bytes and the 4-byte values they become must fit. */
    int out_bytes = idx->elem_bytes > 4 ? idx->elem_bytes : 4;
    int64_t total = rt_mul_checked(rt_mul_checked(idx->count, idx->sample_elems), out_bytes);
    if (total < 0 || total > MAX_DATA_BYTES) {
        too_large(path, total, err, errlen);
        goto failed;
    }
    if (labels && (idx->type == IDX_F32 || idx->type == IDX_F64)) {
        rt_path_error(err, errlen, path, "labels must be integers, the file holds %s values",
             idx->type == IDX_F32 ? "float" : "double");
        goto failed;
    }
    return 0;

failed:
    gzclose(idx->f);
    idx->f = NULL;
    return -1;
}

/* Element i of a big-endian IDX payload, as a double. */
static double idx_value(const unsigned char *raw, int type, size_t i)
{
    switch (type) {
    case IDX_U8: return raw[i];
    case IDX_I8: return (int8_t)raw[i];
    case IDX_I16: return (int16_t)(uint16_t)(raw[2 * i] << 8 | raw[2 * i + 1]);
    case IDX_I32: return (int32_t)get_u32_be(raw + 4 * i);
    case IDX_F32: {
        uint32_t bits = get_u32_be(raw + 4 * i);
        float v;
        memcpy(&v, &bits, 4);
        return v;
    }
    case IDX_F64: {
        uint64_t bits = (uint64_t)get_u32_be(raw + 8 * i) << 32 | get_u32_be(raw + 8 * i + 4);
        double v;
        memcpy(&v, &bits, 8);
        return v;
    }
    default: return 0;
    }
}

/* How IDX values become the dataset's 4-byte values: floats as
 * x = raw * scale + shift, computed in double and rounded once, or int32
 * labels. Bytes, the common case, go through a 256-entry table. */
typedef struct converter {
    int type;
    bool labels;
    float scale, shift;
    float table[256];
} converter;

static void converter_init(converter *c, int type, bool labels, float scale, float shift)
{
    c->type = type;
    c->labels = labels;
    c->scale = scale;
    c->shift = shift;
    for (int v = 0; v < 256; v++) {
        double value = type == IDX_I8 ? (int8_t)(uint8_t)v : v;
        c->table[v] = (float)(value * scale + shift);
    }
}

static void convert(const converter *c, const unsigned char *raw, size_t n, void *out)
{
    if (c->labels) {
        int32_t *y = out;
        if (c->type == IDX_U8)
            for (size_t i = 0; i < n; i++)
                y[i] = raw[i];
        else
            for (size_t i = 0; i < n; i++)
                y[i] = (int32_t)idx_value(raw, c->type, i);
    } else {
        float *x = out;
        if (c->type == IDX_U8 || c->type == IDX_I8)
            for (size_t i = 0; i < n; i++)
                x[i] = c->table[raw[i]];
        else
            for (size_t i = 0; i < n; i++)
                x[i] = (float)(idx_value(raw, c->type, i) * c->scale + c->shift);
    }
}

/* Floating-point IDX payloads may hold NaN or infinity, which would train
 * to NaN (or index labels with garbage): refused like CSV refuses them,
 * naming the sample. Values are numbered from `first` in the file. */
static int check_finite(const idx_file *idx, const unsigned char *raw, size_t n, size_t first, char *err,
                        size_t errlen)
{
    if (idx->type != IDX_F32 && idx->type != IDX_F64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        double v = idx_value(raw, idx->type, i);
        if (!isfinite(v) || (idx->noun[0] == 'l' && (v != floor(v) || v < INT32_MIN || v > INT32_MAX))) {
            int64_t at = (int64_t)(first + i);
            rt_path_error(err, errlen, idx->path, "value %lld (in sample %lld) is %g, not a %s", (long long)at + 1,
                 (long long)(at / idx->sample_elems) + 1, v,
                 idx->noun[0] == 'l' ? "whole number (a class label)" : "finite number");
            return -1;
        }
    }
    return 0;
}

/* Reads the payload the header announced into 4-byte values, refusing
 * short and long files; closes the file either way. The payload is
 * inflated a cache-sized chunk at a time and converted at once, so the raw
 * bytes are never held whole; the output grows with the bytes that
 * actually arrive, so a header that lies costs no memory. */
static int idx_read_values(idx_file *idx, const converter *conv, void **values, char *err,
                           size_t errlen)
{
    size_t total = (size_t)(idx->count * idx->sample_elems);
    /* 1 MiB (a multiple of every element size), or the whole payload
     * when it is smaller: a 20-byte file needs no megabyte */
    size_t chunk_bytes = (size_t)1 << 20;
    if (total * (size_t)idx->elem_bytes < chunk_bytes)
        chunk_bytes = total * (size_t)idx->elem_bytes;
    size_t cap = total < FIRST_VALUES ? total : FIRST_VALUES;
    unsigned char *chunk = malloc(chunk_bytes);
    char *out = malloc(cap * 4);
    size_t done = 0, got = 0;
    if (!chunk || !out)
        goto nomem;
    while (done < total) {
        if (done == cap) {
            size_t ncap = cap > total / 2 ? total : cap * 2;
            char *grown = realloc(out, ncap * 4);
            if (!grown)
                goto nomem;
            out = grown;
            cap = ncap;
        }
        size_t want = (cap - done) * (size_t)idx->elem_bytes;
        want = want < chunk_bytes ? want : chunk_bytes;
        if (read_upto(idx->f, idx->path, chunk, want, &got, err, errlen) != 0)
            goto failed;
        size_t n = got / (size_t)idx->elem_bytes;
        if (check_finite(idx, chunk, n, done, err, errlen) != 0)
            goto failed;
        convert(conv, chunk, n, out + done * 4);
        done += n;
        if (got < want) {
            int64_t bytes = (int64_t)done * idx->elem_bytes + (int64_t)(got % (size_t)idx->elem_bytes);
            rt_path_error(err, errlen, idx->path, "truncated: expected %lld %s, file holds %lld",
                 (long long)idx->count, idx->noun,
                 (long long)(bytes / (idx->sample_elems * idx->elem_bytes)));
            goto failed;
        }
    }
    if (read_upto(idx->f, idx->path, chunk, 1, &got, err, errlen) != 0)
        goto failed;
    if (got > 0) {
        rt_path_error(err, errlen, idx->path, "extra data after the %lld %s its header declares",
             (long long)idx->count, idx->noun);
        goto failed;
    }
    gzFile f = idx->f;
    idx->f = NULL;
    if (close_input(f, idx->path, err, errlen) != 0)
        goto failed;
    free(chunk);
    *values = out;
    return 0;

nomem:
    rt_path_error(err, errlen, idx->path, "%s", strerror(ENOMEM));
failed:
    if (idx->f)
        gzclose(idx->f);
    idx->f = NULL;
    free(chunk);
    free(out);
    return -1;
}

static int count_mismatch(const char *data_path, int64_t count, const char *noun,
                          const idx_file *labels, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s holds %lld %s but %s holds %lld labels", data_path,
             (long long)count, noun, labels->path, (long long)labels->count);
    return -1;
}

/* Reads an already opened labels file into out->y. */
static int load_labels(idx_file *labels, rt_dataset *out, char *err, size_t errlen)
{
    converter conv;
    converter_init(&conv, labels->type, true, 1, 0);
    if (idx_read_values(labels, &conv, &out->y, err, errlen) != 0)
        return -1;
    out->y_dtype = RT_I32;
    out->y_rank = labels->rank;
    memcpy(out->y_dims, labels->dims, sizeof out->y_dims);
    out->y_size = labels->sample_elems;
    return 0;
}

static int load_idx(const rt_source *src, rt_dataset *out, char *err, size_t errlen)
{
    idx_file images, labels = {.f = NULL};
    if (idx_open(src->path, false, &images, err, errlen) != 0)
        return -1;
    /* Both headers first, so a count mismatch is found before 47 MB of
     * images are inflated. */
    if (src->labels_path) {
        if (idx_open(src->labels_path, true, &labels, err, errlen) != 0) {
            gzclose(images.f);
            return -1;
        }
        if (labels.count != images.count) {
            gzclose(images.f);
            gzclose(labels.f);
            return count_mismatch(images.path, images.count, images.noun, &labels, err, errlen);
        }
    }

    converter conv;
    converter_init(&conv, images.type, false, src->scale, src->shift);
    if (idx_read_values(&images, &conv, &out->x, err, errlen) != 0)
        goto failed;
    out->n = images.count;
    out->x_dtype = RT_F32;
    out->x_rank = images.rank;
    memcpy(out->x_dims, images.dims, sizeof out->x_dims);
    out->x_size = images.sample_elems;

    if (src->labels_path)
        return load_labels(&labels, out, err, errlen);
    return 0;

failed:
    if (src->labels_path)
        gzclose(labels.f);
    return -1;
}

/* ----------------------------------------------------------------- CSV */

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* Lines end in LF, CR LF or a lone CR (old Mac files, which would
 * otherwise read as one line of many columns). */
static const char *line_end(const char *p)
{
    return p + strcspn(p, "\r\n");
}

static const char *next_line(const char *end)
{
    if (end[0] == '\r' && end[1] == '\n')
        return end + 2;
    return *end ? end + 1 : end;
}

static bool blank_line(const char *p, const char *end)
{
    while (p < end && is_blank(*p))
        p++;
    return p == end;
}

static int64_t count_columns(const char *p, const char *end)
{
    int64_t cols = 1;
    for (; p < end; p++)
        cols += *p == ',';
    return cols;
}

/* Parses the field [p, end) (a number, spaces around allowed). */
static int parse_field(const char *path, int64_t line, int64_t column, const char *p,
                       const char *end, double *value, char *err, size_t errlen)
{
    while (p < end && is_blank(*p))
        p++;
    while (end > p && is_blank(end[-1]))
        end--;
    if (p == end) {
        rt_path_error(err, errlen, path, "%lld: column %lld is empty", (long long)line,
             (long long)column);
        return -1;
    }
    char *stop;
    errno = 0;
    double v = strtod(p, &stop);
    int shown = end - p > 40 ? 40 : (int)(end - p);
    if (stop != end) {
        rt_path_error(err, errlen, path, "%lld: column %lld: '%.*s' is not a number", (long long)line,
             (long long)column, shown, p);
        return -1;
    }
    if (!isfinite(v)) {
        rt_path_error(err, errlen, path, "%lld: column %lld: '%.*s' is not a finite number",
             (long long)line, (long long)column, shown, p);
        return -1;
    }
    *value = v;
    return 0;
}

/* The first pass over the rows from `first` (line first_line): how many
 * rows and columns, so the second pass writes into buffers of the right
 * size; every row must have the first one's columns. 0, or -1 with err. */
static int csv_shape(const char *path, const char *first, int64_t first_line, int64_t *rows, int64_t *cols,
                     char *err, size_t errlen)
{
    int64_t cols_line = 0, line = first_line;
    *rows = *cols = 0;
    for (const char *p = first; *p; line++) {
        const char *end = line_end(p);
        if (!blank_line(p, end)) {
            int64_t c = count_columns(p, end);
            if (*rows == 0) {
                *cols = c;
                cols_line = line;
            } else if (c != *cols) {
                rt_path_error(err, errlen, path, "%lld: row has %lld columns, expected %lld like line %lld",
                     (long long)line, (long long)c, (long long)*cols, (long long)cols_line);
                return -1;
            }
            (*rows)++;
        }
        p = next_line(end);
    }
    if (*rows == 0) {
        rt_path_error(err, errlen, path, "no data rows");
        return -1;
    }
    return 0;
}

/* One row [p, end) of line `line`: its features, scaled and shifted, into
 * xr, and the label column (if label >= 0) into *y, a class id or (with
 * real_labels) an f32 in the same 4 bytes. 0, or -1 with err. */
static int csv_row(const rt_source *src, int64_t line, const char *p, const char *end, int64_t cols, int label,
                   float *xr, int32_t *y, char *err, size_t errlen)
{
    const char *path = src->path, *field = p;
    for (int64_t c = 0; c < cols; c++) {
        const char *stop = memchr(field, ',', (size_t)(end - field));
        if (!stop)
            stop = end;
        double v;
        if (parse_field(path, line, c + 1, field, stop, &v, err, errlen) != 0)
            return -1;
        if (c == label && src->real_labels) {
            float f = (float)v;
            memcpy(y, &f, sizeof f); /* f32 labels in the same 4 bytes */
        } else if (c == label) {
            if (v != floor(v) || v < INT32_MIN || v > INT32_MAX) {
                rt_path_error(err, errlen, path, "%lld: label %g in column %lld %s", (long long)line, v,
                     (long long)c + 1,
                     v != floor(v) ? "is not an integer" : "is out of range for a class label");
                return -1;
            }
            *y = (int32_t)v;
        } else {
            *xr++ = (float)(v * src->scale + src->shift);
        }
        field = stop + 1;
    }
    return 0;
}

/* CSV rows: numbers separated by commas, one sample per line. Blank lines
 * are skipped; quoting is not supported (it is for text, not numbers).
 * Messages number lines and columns from 1, as editors do. */
static int load_csv(const rt_source *src, rt_dataset *out, char *err, size_t errlen)
{
    const char *path = src->path;
    unsigned char *data;
    size_t len;
    if (read_whole_file(path, &data, &len, err, errlen) != 0)
        return -1;
    if (memchr(data, 0, len)) {
        if (len >= 4 && data[0] == 0 && data[1] == 0) /* starts as an IDX file does */
            rt_path_error(err, errlen, path, "neither a CSV file nor an IDX file: its magic 0x%08x is not an IDX type",
                 (unsigned)get_u32_be(data));
        else
            rt_path_error(err, errlen, path, "not a CSV file (it contains NUL bytes)");
        goto failed;
    }
    const char *text = (const char *)data;
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        text += 3; /* a UTF-8 byte order mark, as spreadsheets write */
    const char *first = text;
    int64_t first_line = 1;
    if (src->header && *first) {
        first = next_line(line_end(first));
        first_line++;
    }
    int64_t rows, cols;
    if (csv_shape(path, first, first_line, &rows, &cols, err, errlen) != 0)
        goto failed;
    int label = src->label_column;
    if (label < -1 || label >= cols) {
        rt_path_error(err, errlen, path, "label_column %d is out of range: rows have %lld columns (0 to %lld)",
             label, (long long)cols, (long long)cols - 1);
        goto failed;
    }
    int64_t features = cols - (label >= 0);
    if (features == 0) {
        rt_path_error(err, errlen, path, "rows hold only the label, no features");
        goto failed;
    }

    float *x = malloc((size_t)(rows * features) * sizeof *x);
    int32_t *y = label >= 0 ? malloc((size_t)rows * sizeof *y) : NULL;
    if (!x || (label >= 0 && !y)) {
        free(x);
        free(y);
        rt_path_error(err, errlen, path, "%s", strerror(ENOMEM));
        goto failed;
    }
    int64_t row = 0, line = first_line;
    for (const char *p = first; *p; line++) {
        const char *end = line_end(p);
        if (!blank_line(p, end)) {
            if (csv_row(src, line, p, end, cols, label, x + row * features, y ? &y[row] : NULL, err, errlen) != 0)
                goto failed_xy;
            row++;
        }
        p = next_line(end);
    }
    free(data);

    set_rows(out, rows, RT_F32, features, x);
    if (y) {
        out->y_dtype = src->real_labels ? RT_F32 : RT_I32;
        out->y_rank = 0;
        out->y_size = 1;
        out->y = y;
    }
    return 0;

failed_xy:
    free(x);
    free(y);
failed:
    free(data);
    return -1;
}

/* RAW and TEXT files carry no shape: the sample size is the source's seq,
 * which must be positive. */
static bool has_seq(const rt_source *src, const char *format, const char *unit, char *err, size_t errlen)
{
    if (src->seq > 0)
        return true;
    rt_path_error(err, errlen, src->path, "a %s source needs the %s per sample (seq), got %lld", format, unit,
                  (long long)src->seq);
    return false;
}

/* ----------------------------------------------------------------- RAW */

/* RAW files carry no shape, so the sample size comes from the source: for
 * RT_SRC_RAW, src->seq is the number of floats per sample. Labels, if
 * any, come from an IDX labels file. */
static int load_raw(const rt_source *src, rt_dataset *out, char *err, size_t errlen)
{
    const char *path = src->path;
    if (!has_seq(src, "RAW", "floats", err, errlen))
        return -1;
    int64_t sample_bytes = rt_mul_checked(src->seq, 4);
    if (sample_bytes < 0 || sample_bytes > MAX_DATA_BYTES)
        return too_large(path, sample_bytes, err, errlen);

    idx_file labels = {.f = NULL};
    if (src->labels_path && idx_open(src->labels_path, true, &labels, err, errlen) != 0)
        return -1;
    unsigned char *data;
    size_t len;
    if (read_whole_file(path, &data, &len, err, errlen) != 0)
        goto failed;
    if (len == 0) {
        rt_path_error(err, errlen, path, "is empty");
        goto failed_data;
    }
    if (len % (size_t)sample_bytes != 0) {
        rt_path_error(err, errlen, path,
             "holds %zu bytes, not a whole number of %lld-byte samples (%lld floats each)", len,
             (long long)sample_bytes, (long long)src->seq);
        goto failed_data;
    }
    int64_t n = (int64_t)(len / (size_t)sample_bytes);
    if (src->labels_path && labels.count != n) {
        count_mismatch(path, n, "samples", &labels, err, errlen);
        goto failed_data;
    }

    /* The file is little-endian like the machines this runs on; data is
     * already 4-byte aligned, as malloc returns, so convert in place. */
    float *x = (float *)data;
    for (size_t i = 0; i < len / 4; i++) {
        const unsigned char *b = data + 4 * i;
        uint32_t bits = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                        (uint32_t)b[3] << 24;
        float v;
        memcpy(&v, &bits, 4);
        x[i] = (float)((double)v * src->scale + src->shift);
    }
    set_rows(out, n, RT_F32, src->seq, x);
    if (src->labels_path)
        return load_labels(&labels, out, err, errlen);
    return 0;

failed_data:
    free(data);
failed:
    if (src->labels_path)
        gzclose(labels.f);
    return -1;
}

/* ---------------------------------------------------------------- TEXT */

/* Bytes are tokens 0..255. Sample i is the window of seq tokens starting at
 * i*seq, its labels the window one token later, for next-token prediction. */
static int load_text(const rt_source *src, rt_dataset *out, char *err, size_t errlen)
{
    const char *path = src->path;
    if (!has_seq(src, "TEXT", "tokens", err, errlen))
        return -1;
    unsigned char *data;
    size_t len;
    if (read_whole_file(path, &data, &len, err, errlen) != 0)
        return -1;
    int64_t n = len > 0 ? (int64_t)(len - 1) / src->seq : 0;
    if (n == 0) {
        rt_path_error(err, errlen, path,
             "holds %zu bytes, too few for one window of %lld tokens and its next-token labels",
             len, (long long)src->seq);
        free(data);
        return -1;
    }
    int64_t total = rt_mul_checked(rt_mul_checked(n, src->seq), 8);
    if (total < 0 || total > MAX_DATA_BYTES) {
        free(data);
        return too_large(path, total, err, errlen);
    }
    size_t tokens = (size_t)(n * src->seq);
    int32_t *x = malloc(tokens * sizeof *x);
    int32_t *y = malloc(tokens * sizeof *y);
    if (!x || !y) {
        free(x);
        free(y);
        free(data);
        rt_path_error(err, errlen, path, "%s", strerror(ENOMEM));
        return -1;
    }
    for (size_t i = 0; i < tokens; i++) {
        x[i] = data[i];
        y[i] = data[i + 1];
    }
    free(data);
    set_rows(out, n, RT_I32, src->seq, x);
    out->y_dtype = RT_I32; /* the next token of each position */
    out->y_rank = 1;
    out->y_dims[0] = src->seq;
    out->y_size = src->seq;
    out->y = y;
    return 0;
}

/* Text to predict on: windows of seq bytes that cover every byte, so each
 * position gets its next-byte prediction. Window i < L/seq starts at i*seq;
 * when seq does not divide L, one more window holds the text's last seq
 * bytes, of which only the last L % seq positions are new (*first_new is
 * then seq - L % seq). A text shorter than one window is one window with
 * its L bytes first and pad after them (*first_new 0, *rows_new L), which
 * only a causal model may read. No labels: predict needs none. Bytes at or
 * above vocab are refused with their offset. */
int rt_text_windows(const char *path, int64_t seq, int64_t vocab, int32_t pad, rt_dataset *out,
                    int64_t *first_new, int64_t *rows_new, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    unsigned char *data;
    size_t len;
    if (seq <= 0) {
        rt_path_error(err, errlen, path, "text windows need a length, got %lld", (long long)seq);
        return -1;
    }
    if (read_whole_file(path, &data, &len, err, errlen) != 0)
        return -1;
    for (size_t i = 0; i < len; i++)
        if (vocab > 0 && data[i] >= vocab) {
            rt_path_error(err, errlen, path, "byte %d (0x%02x) at offset %zu is outside the model's "
                          "vocabulary, bytes 0 to %lld", data[i], data[i], i, (long long)vocab - 1);
            free(data);
            return -1;
        }
    int64_t L = (int64_t)len, full = L / seq, rem = L % seq;
    int64_t n = L < seq ? 1 : full + (rem > 0);
    if (L == 0 || rt_mul_checked(rt_mul_checked(n, seq), 4) > MAX_DATA_BYTES) {
        if (L == 0)
            rt_path_error(err, errlen, path, "is empty: there is no text to predict on");
        else
            too_large(path, rt_mul_checked(n, seq), err, errlen);
        free(data);
        return -1;
    }
    int32_t *x = malloc((size_t)(n * seq) * sizeof *x);
    if (!x) {
        free(data);
        rt_path_error(err, errlen, path, "%s", strerror(ENOMEM));
        return -1;
    }
    for (int64_t w = 0; w < n; w++) {
        int64_t start = w < full ? w * seq : L < seq ? 0 : L - seq;
        for (int64_t t = 0; t < seq; t++)
            x[w * seq + t] = start + t < L ? data[start + t] : pad;
    }
    free(data);
    *first_new = L < seq ? 0 : rem > 0 ? seq - rem : 0;
    *rows_new = L < seq ? L : rem > 0 ? rem : seq;
    set_rows(out, n, RT_I32, seq, x);
    return 0;
}

/* ------------------------------------------------------------- dataset */

int rt_dataset_load(const rt_source *src, rt_dataset *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (src->kind != RT_SRC_NONE && (!src->path || !src->path[0])) {
        snprintf(err, errlen, "data source without a file name");
        return -1;
    }
    if ((src->kind == RT_SRC_CSV || src->kind == RT_SRC_TEXT) && src->labels_path) {
        rt_path_error(err, errlen, src->path, "a %s source takes no separate labels file (%s)",
             src->kind == RT_SRC_CSV ? "CSV" : "TEXT", src->labels_path);
        return -1;
    }
    int rc = -1;
    switch (src->kind) {
    case RT_SRC_NONE:
        snprintf(err, errlen, "no data source given");
        break;
    case RT_SRC_IDX: rc = load_idx(src, out, err, errlen); break;
    case RT_SRC_CSV: rc = load_csv(src, out, err, errlen); break;
    case RT_SRC_RAW: rc = load_raw(src, out, err, errlen); break;
    case RT_SRC_TEXT: rc = load_text(src, out, err, errlen); break;
    }
    if (rc == -1 && src->kind > RT_SRC_TEXT)
        snprintf(err, errlen, "unknown data source kind %d", (int)src->kind);
    if (rc != 0)
        rt_dataset_free(out);
    return rc;
}

void rt_dataset_free(rt_dataset *d)
{
    free(d->x);
    free(d->y);
    memset(d, 0, sizeof *d);
}
