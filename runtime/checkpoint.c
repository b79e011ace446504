/* checkpoint.c — model weights in the safetensors format, so that they move
 * to and from other tools (PyTorch, JAX, the safetensors library).
 *
 * Layout: an 8-byte little-endian length N, N bytes of JSON padded with
 * spaces to a multiple of 8, then the tensors' bytes, little-endian, each at
 * the [begin, end) the JSON gives relative to the end of the header:
 *   {"__metadata__": {"key": "value", ...},
 *    "fc1.weight": {"dtype": "F32", "shape": [784, 512], "data_offsets": [0, 1605632]}, ...}
 *
 * Loading validates the whole header before writing a single byte into the
 * caller's tensors, so a refused file leaves the model as it was.
 */
#include "netrt.h"
#include "util.h"

#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The safetensors library refuses headers above 100 MB; so do we, so that a
 * corrupt length cannot make us allocate gigabytes. */
#define MAX_HEADER_BYTES (100u * 1000u * 1000u)

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define HOST_BIG_ENDIAN 1
#else
#define HOST_BIG_ENDIAN 0
#endif

static const char *dtype_name(rt_dtype dtype)
{
    switch (dtype) {
    case RT_F32: return "F32";
    case RT_I32: return "I32";
    }
    return "?";
}

/* Element sizes of every dtype the safetensors format defines, so that files
 * holding tensors we do not load (fp16 copies, int64 step counters) still
 * validate and can be accepted with allow_extra. */
static int dtype_size(const char *name)
{
    static const struct { const char *name; int size; } table[] = {
        {"BOOL", 1}, {"U8", 1}, {"I8", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1},
        {"I16", 2}, {"U16", 2}, {"F16", 2}, {"BF16", 2},
        {"I32", 4}, {"U32", 4}, {"F32", 4},
        {"I64", 8}, {"U64", 8}, {"F64", 8},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(table[i].name, name) == 0)
            return table[i].size;
    return 0;
}

/* Two sizes that round to the same text would make a message that says
 * nothing, so those are given in exact bytes. */
static void format_size_pair(uint64_t a, uint64_t b, char *abuf, char *bbuf, size_t len)
{
    rt_format_size((double)a, abuf, len);
    rt_format_size((double)b, bbuf, len);
    if (strcmp(abuf, bbuf) == 0) {
        snprintf(abuf, len, "%llu bytes", (unsigned long long)a);
        snprintf(bbuf, len, "%llu bytes", (unsigned long long)b);
    }
}

static void format_dims(const int64_t *dims, int rank, char *buf, size_t len)
{
    size_t used = 0;
    int n = snprintf(buf, len, "[");
    for (int i = 0; i < rank && n >= 0 && (used += (size_t)n) < len; i++)
        n = snprintf(buf + used, len - used, "%s%lld", i ? ", " : "", (long long)dims[i]);
    if (n >= 0 && (used += (size_t)n) < len)
        snprintf(buf + used, len - used, "]");
}

static void put_u64_le(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_u64_le(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Copies 4-byte elements between host order and the file's little-endian
 * order; the same operation in both directions. */
static void copy_le32(void *dst, const void *src, size_t bytes)
{
#if HOST_BIG_ENDIAN
    const unsigned char *s = src;
    unsigned char *d = dst;
    for (size_t i = 0; i + 4 <= bytes; i += 4) {
        d[i] = s[i + 3]; d[i + 1] = s[i + 2]; d[i + 2] = s[i + 1]; d[i + 3] = s[i];
    }
#else
    memcpy(dst, src, bytes);
#endif
}

/* ------------------------------------------------------------------ save */

/* Bytes of one tensor to save, or -1 with err filled. */
static int64_t tensor_bytes(const char *path, const rt_named_tensor *t, char *err, size_t errlen)
{
    if (t->rank < 0 || t->rank > RT_MAX_RANK) {
        rt_path_error(err, errlen, path, "tensor '%s' has rank %d; ranks go from 0 to %d", t->name,
             t->rank, RT_MAX_RANK);
        return -1;
    }
    int64_t elems = 1;
    for (int d = 0; d < t->rank; d++) {
        if (t->dims[d] < 0) {
            rt_path_error(err, errlen, path, "tensor '%s' has a negative dimension", t->name);
            return -1;
        }
        elems = rt_mul_checked(elems, t->dims[d]);
        if (elems < 0)
            break;
    }
    int64_t bytes = elems < 0 ? -1 : rt_mul_checked(elems, 4);
    if (bytes < 0) {
        rt_path_error(err, errlen, path, "tensor '%s' is too large", t->name);
        return -1;
    }
    if (bytes > 0 && !t->data) {
        rt_path_error(err, errlen, path, "tensor '%s' has no data", t->name);
        return -1;
    }
    return bytes;
}

/* Builds the JSON header; returns NULL with err filled. */
static json_t *build_header(const char *path, const rt_named_tensor *tensors, int ntensors,
                            const rt_meta *meta, int nmeta, int64_t *data_bytes, char *err,
                            size_t errlen)
{
    json_t *root = json_object();
    if (!root)
        goto nomem;
    if (nmeta > 0) {
        json_t *md = json_object();
        if (!md || json_object_set_new(root, "__metadata__", md) != 0)
            goto nomem;
        for (int i = 0; i < nmeta; i++) {
            if (!meta[i].key || !meta[i].value) {
                rt_path_error(err, errlen, path, "metadata entry %d has no %s", i,
                     meta[i].key ? "value" : "key");
                goto failed;
            }
            if (json_object_get(md, meta[i].key)) {
                rt_path_error(err, errlen, path, "duplicate metadata key '%s'", meta[i].key);
                goto failed;
            }
            json_t *value = json_string(meta[i].value);
            if (!value || json_object_set_new(md, meta[i].key, value) != 0) {
                rt_path_error(err, errlen, path, "metadata '%s' is not valid UTF-8", meta[i].key);
                goto failed;
            }
        }
    }

    int64_t offset = 0;
    for (int i = 0; i < ntensors; i++) {
        const rt_named_tensor *t = &tensors[i];
        if (!t->name || !t->name[0]) {
            rt_path_error(err, errlen, path, "tensor %d has no name", i);
            goto failed;
        }
        if (strcmp(t->name, "__metadata__") == 0) {
            rt_path_error(err, errlen, path, "'__metadata__' is reserved and cannot name a tensor");
            goto failed;
        }
        if (json_object_get(root, t->name)) {
            rt_path_error(err, errlen, path, "duplicate tensor name '%s'", t->name);
            goto failed;
        }
        int64_t bytes = tensor_bytes(path, t, err, errlen);
        if (bytes < 0)
            goto failed;
        if (offset > INT64_MAX - bytes) {
            rt_path_error(err, errlen, path, "tensors are too large to save together");
            goto failed;
        }
        json_t *shape = json_array();
        json_t *offsets = json_pack("[II]", (json_int_t)offset, (json_int_t)(offset + bytes));
        json_t *entry = json_object();
        if (!shape || !offsets || !entry) {
            json_decref(shape);
            json_decref(offsets);
            json_decref(entry);
            goto nomem;
        }
        for (int d = 0; d < t->rank; d++)
            json_array_append_new(shape, json_integer(t->dims[d]));
        json_object_set_new(entry, "dtype", json_string(dtype_name(t->dtype)));
        json_object_set_new(entry, "shape", shape);
        json_object_set_new(entry, "data_offsets", offsets);
        if (json_object_set_new(root, t->name, entry) != 0) {
            rt_path_error(err, errlen, path, "tensor name '%s' is not valid UTF-8", t->name);
            goto failed;
        }
        offset += bytes;
    }
    *data_bytes = offset;
    return root;

nomem:
    rt_path_error(err, errlen, path, "%s", strerror(ENOMEM));
failed:
    json_decref(root);
    return NULL;
}

int rt_checkpoint_save(const char *path, const rt_named_tensor *tensors, int ntensors,
                       const rt_meta *meta, int nmeta, char *err, size_t errlen)
{
    for (int i = 0; i < ntensors; i++)
        if ((unsigned)tensors[i].dtype > RT_I32) {
            rt_path_error(err, errlen, path, "tensor '%s' has an unknown dtype %d",
                 tensors[i].name ? tensors[i].name : "?", (int)tensors[i].dtype);
            return -1;
        }

    int64_t data_bytes = 0;
    json_t *root = build_header(path, tensors, ntensors, meta, nmeta, &data_bytes, err, errlen);
    if (!root)
        return -1;
    char *json = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!json) {
        rt_path_error(err, errlen, path, "%s", strerror(ENOMEM));
        return -1;
    }

    /* Padding the header to a multiple of 8 puts the data, and so every
     * 4-byte tensor, at an aligned offset for readers that map the file. */
    size_t json_len = strlen(json);
    size_t header_len = (json_len + 7) & ~(size_t)7;
    if ((uint64_t)data_bytes > SIZE_MAX - 8 - header_len) {
        free(json);
        rt_path_error(err, errlen, path, "tensors are too large to save together");
        return -1;
    }
    size_t total = 8 + header_len + (size_t)data_bytes;
    unsigned char *buf = malloc(total);
    if (!buf) {
        free(json);
        rt_path_error(err, errlen, path, "%s", strerror(ENOMEM));
        return -1;
    }
    put_u64_le(buf, header_len);
    memcpy(buf + 8, json, json_len);
    memset(buf + 8 + json_len, ' ', header_len - json_len);
    free(json);

    unsigned char *p = buf + 8 + header_len;
    for (int i = 0; i < ntensors; i++) {
        int64_t elems = 1;
        for (int d = 0; d < tensors[i].rank; d++)
            elems *= tensors[i].dims[d];
        size_t bytes = (size_t)elems * 4;
        if (bytes)
            copy_le32(p, tensors[i].data, bytes);
        p += bytes;
    }

    int rc = rt_write_file_atomic(path, buf, total, err, errlen);
    free(buf);
    return rc;
}

/* ------------------------------------------------------------------ load */

/* One tensor of the file's header, checked against itself. */
typedef struct entry {
    const char *name;  /* owned by the JSON tree */
    const char *dtype; /* owned by the JSON tree */
    json_t *shape;
    int64_t begin, end;
    bool asked;
} entry;

static void format_json_shape(json_t *shape, char *buf, size_t len)
{
    int64_t dims[64];
    size_t rank = json_array_size(shape);
    if (rank > 64)
        rank = 64;
    for (size_t i = 0; i < rank; i++)
        dims[i] = json_integer_value(json_array_get(shape, i));
    format_dims(dims, (int)rank, buf, len);
}

/* Reads an entry's fields and checks them against each other; returns 0 or
 * fills err. */
static int parse_entry(const char *path, const char *name, json_t *value, entry *e, char *err,
                       size_t errlen)
{
    e->name = name;
    e->asked = false;
    if (!json_is_object(value)) {
        rt_path_error(err, errlen, path, "tensor '%s': entry is not a JSON object", name);
        return -1;
    }
    json_t *dtype = json_object_get(value, "dtype");
    json_t *shape = json_object_get(value, "shape");
    json_t *offsets = json_object_get(value, "data_offsets");
    if (!json_is_string(dtype)) {
        rt_path_error(err, errlen, path, "tensor '%s': missing or non-string \"dtype\"", name);
        return -1;
    }
    e->dtype = json_string_value(dtype);
    int size = dtype_size(e->dtype);
    if (size == 0) {
        rt_path_error(err, errlen, path, "tensor '%s': unknown dtype '%s'", name, e->dtype);
        return -1;
    }

    int64_t elems = 1;
    bool shape_ok = json_is_array(shape);
    for (size_t i = 0; shape_ok && i < json_array_size(shape); i++) {
        json_t *dim = json_array_get(shape, i);
        shape_ok = json_is_integer(dim) && json_integer_value(dim) >= 0;
        if (shape_ok && elems >= 0)
            elems = rt_mul_checked(elems, json_integer_value(dim));
    }
    if (!shape_ok) {
        rt_path_error(err, errlen, path, "tensor '%s': \"shape\" must be an array of non-negative integers",
             name);
        return -1;
    }
    e->shape = shape;
    int64_t bytes = elems < 0 ? -1 : rt_mul_checked(elems, size);
    if (bytes < 0) {
        rt_path_error(err, errlen, path, "tensor '%s': shape is too large", name);
        return -1;
    }

    if (!json_is_array(offsets) || json_array_size(offsets) != 2 ||
        !json_is_integer(json_array_get(offsets, 0)) ||
        !json_is_integer(json_array_get(offsets, 1)) ||
        json_integer_value(json_array_get(offsets, 0)) < 0 ||
        json_integer_value(json_array_get(offsets, 1)) < 0) {
        rt_path_error(err, errlen, path,
             "tensor '%s': \"data_offsets\" must be two non-negative integers [begin, end]", name);
        return -1;
    }
    e->begin = json_integer_value(json_array_get(offsets, 0));
    e->end = json_integer_value(json_array_get(offsets, 1));
    if (e->end < e->begin) {
        rt_path_error(err, errlen, path, "tensor '%s': data_offsets [%lld, %lld] end before they begin",
             name, (long long)e->begin, (long long)e->end);
        return -1;
    }
    if (e->end - e->begin != bytes) {
        char dims[256];
        format_json_shape(shape, dims, sizeof dims);
        rt_path_error(err, errlen, path,
             "tensor '%s': data_offsets [%lld, %lld] hold %lld bytes, but %s %s needs %lld", name,
             (long long)e->begin, (long long)e->end, (long long)(e->end - e->begin), e->dtype,
             dims, (long long)bytes);
        return -1;
    }
    return 0;
}

static int compare_by_offset(const void *a, const void *b)
{
    const entry *x = *(const entry *const *)a, *y = *(const entry *const *)b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return (x->end > y->end) - (x->end < y->end);
}

/* The data must be exactly covered by the tensors, as the safetensors
 * library requires: overlapping tensors would alias and holes could hide
 * another file inside this one. */
static int check_coverage(const char *path, entry *entries, size_t n, int64_t data_bytes,
                          char *err, size_t errlen)
{
    int64_t max_end = 0;
    for (size_t i = 0; i < n; i++)
        if (entries[i].end > max_end)
            max_end = entries[i].end;
    if (max_end > data_bytes) {
        char want[32], have[32];
        format_size_pair((uint64_t)max_end, (uint64_t)data_bytes, want, have, sizeof want);
        rt_path_error(err, errlen, path, "truncated: header says %s of data, file holds %s", want, have);
        return -1;
    }

    entry **order = malloc((n ? n : 1) * sizeof *order);
    if (!order) {
        rt_path_error(err, errlen, path, "%s", strerror(ENOMEM));
        return -1;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (entries[i].end > entries[i].begin) /* empty tensors take no room */
            order[m++] = &entries[i];
    qsort(order, m, sizeof *order, compare_by_offset);
    int rc = 0;
    int64_t covered = 0;
    for (size_t i = 0; i < m && rc == 0; i++) {
        if (order[i]->begin < covered) {
            rt_path_error(err, errlen, path,
                 "tensors '%s' and '%s' overlap (data_offsets [%lld, %lld] and [%lld, %lld])",
                 order[i - 1]->name, order[i]->name, (long long)order[i - 1]->begin,
                 (long long)order[i - 1]->end, (long long)order[i]->begin,
                 (long long)order[i]->end);
            rc = -1;
        } else if (order[i]->begin > covered) {
            rt_path_error(err, errlen, path, "bytes [%lld, %lld) of the data belong to no tensor",
                 (long long)covered, (long long)order[i]->begin);
            rc = -1;
        }
        covered = order[i]->end;
    }
    free(order);
    if (rc == 0 && covered < data_bytes) {
        rt_path_error(err, errlen, path, "%lld bytes after the last tensor belong to no tensor",
             (long long)(data_bytes - covered));
        rc = -1;
    }
    return rc;
}

/* Compares one asked-for tensor with its entry; returns 0 or fills err. */
static int check_match(const char *path, const rt_named_tensor *t, const entry *e, char *err,
                       size_t errlen)
{
    if (strcmp(e->dtype, dtype_name(t->dtype)) != 0) {
        rt_path_error(err, errlen, path, "tensor '%s' has dtype %s, the model expects %s", t->name,
             e->dtype, dtype_name(t->dtype));
        return -1;
    }
    bool same = t->rank >= 0 && t->rank <= RT_MAX_RANK &&
                json_array_size(e->shape) == (size_t)t->rank;
    for (int d = 0; same && d < t->rank; d++)
        same = json_integer_value(json_array_get(e->shape, (size_t)d)) == t->dims[d];
    if (!same) {
        char have[256], want[256];
        format_json_shape(e->shape, have, sizeof have);
        format_dims(t->dims, t->rank < 0 ? 0 : t->rank > RT_MAX_RANK ? RT_MAX_RANK : t->rank,
                    want, sizeof want);
        rt_path_error(err, errlen, path, "tensor '%s' has shape %s, the model expects %s", t->name, have,
             want);
        return -1;
    }
    if (e->end > e->begin && !t->data) {
        rt_path_error(err, errlen, path, "tensor '%s' has nowhere to load into", t->name);
        return -1;
    }
    return 0;
}

/* pread until done; returns 0, or -1 with errno set (0 for end of file). */
static int read_at(int fd, void *buf, size_t len, int64_t offset)
{
    char *p = buf;
    while (len > 0) {
        ssize_t n = pread(fd, p, len, (off_t)offset);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0) {
            errno = 0;
            return -1;
        }
        p += n;
        len -= (size_t)n;
        offset += n;
    }
    return 0;
}

/* Reads tensor data in pieces so that a big-endian host needs no second
 * buffer the size of the tensor. */
static int read_tensor(const char *path, int fd, int64_t offset, const rt_named_tensor *t,
                       size_t bytes, char *err, size_t errlen)
{
#if HOST_BIG_ENDIAN
    unsigned char chunk[1 << 16];
    for (size_t done = 0; done < bytes;) {
        size_t len = bytes - done < sizeof chunk ? bytes - done : sizeof chunk;
        if (read_at(fd, chunk, len, offset + (int64_t)done) != 0)
            goto failed;
        copy_le32((char *)t->data + done, chunk, len);
        done += len;
    }
    return 0;
#else
    if (read_at(fd, t->data, bytes, offset) == 0)
        return 0;
    goto failed;
#endif
failed:
    if (errno == 0)
        rt_path_error(err, errlen, path, "truncated while reading tensor '%s'", t->name);
    else
        rt_path_error(err, errlen, path, "reading tensor '%s': %s", t->name, strerror(errno));
    return -1;
}

/* A NaN or an infinity in a checkpoint would evaluate to "loss nan" and
 * predict class 0 for everything, or train on from garbage: refused at
 * load, naming the tensor and the first bad value. */
static bool all_finite(const char *path, const rt_named_tensor *t, size_t n, char *err, size_t errlen)
{
    const float *v = t->data;
    int64_t i = rt_first_non_finite(v, (int64_t)n);
    if (i < 0)
        return true;
    rt_path_error(err, errlen, path,
         "tensor '%s' holds %s at index %lld; the file is damaged or was saved by a run that "
         "diverged, so it cannot be used", t->name, isnan(v[i]) ? "NaN" : "an infinity", (long long)i);
    return false;
}

/* The header of the safetensors file open at fd: its length checked
 * against the file's size (and the limit), then read into *header
 * (malloc'd). 0, or -1 with err set. */
static int read_header(const char *path, int fd, char **header, uint64_t *header_len, int64_t *file_size,
                       char *err, size_t errlen)
{
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rt_path_error(err, errlen, path, "%s", strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        rt_path_error(err, errlen, path, "%s", strerror(S_ISDIR(st.st_mode) ? EISDIR : EINVAL));
        return -1;
    }
    *file_size = (int64_t)st.st_size;
    unsigned char lenbuf[8];
    if (*file_size < 8 || read_at(fd, lenbuf, 8, 0) != 0) {
        rt_path_error(err, errlen, path,
             "truncated: file holds %lld bytes, a safetensors file starts with an 8-byte "
             "header length",
             (long long)*file_size);
        return -1;
    }
    *header_len = get_u64_le(lenbuf);
    if (*header_len > (uint64_t)(*file_size - 8) || *header_len > MAX_HEADER_BYTES) {
        rt_path_error(err, errlen, path,
             "corrupt header length %llu: the file holds %lld bytes after it%s",
             (unsigned long long)*header_len, (long long)(*file_size - 8),
             *header_len > MAX_HEADER_BYTES ? " and the limit is 100 MB" : "");
        return -1;
    }
    *header = malloc(*header_len ? *header_len : 1);
    if (!*header) {
        rt_path_error(err, errlen, path, "%s", strerror(ENOMEM));
        return -1;
    }
    if (read_at(fd, *header, *header_len, 8) != 0) {
        rt_path_error(err, errlen, path, "reading the header: %s",
             errno ? strerror(errno) : "file shrank while being read");
        return -1;
    }
    return 0;
}

/* The header as JSON: an object whose "__metadata__" (*metadata, or NULL)
 * maps strings to strings and whose every other member is a tensor entry
 * (*entries, malloc'd), the entries covering the data_bytes after the
 * header exactly. 0, or -1 with err set (*root to be freed either way). */
static int parse_header(const char *path, const char *header, uint64_t header_len, int64_t data_bytes,
                        json_t **root, json_t **metadata, entry **entries, size_t *nentries, char *err,
                        size_t errlen)
{
    json_error_t jerr;
    *root = json_loadb(header, header_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!*root) {
        rt_path_error(err, errlen, path, "malformed JSON header: %s (line %d, column %d)", jerr.text,
             jerr.line, jerr.column);
        return -1;
    }
    if (!json_is_object(*root)) {
        rt_path_error(err, errlen, path, "malformed header: the JSON is not an object");
        return -1;
    }
    *metadata = json_object_get(*root, "__metadata__");
    if (*metadata) {
        const char *key;
        json_t *value;
        bool ok = json_is_object(*metadata);
        if (ok)
            json_object_foreach(*metadata, key, value) ok = ok && json_is_string(value);
        if (!ok) {
            rt_path_error(err, errlen, path, "malformed header: \"__metadata__\" must map strings to strings");
            return -1;
        }
    }
    *nentries = json_object_size(*root) - (*metadata ? 1 : 0);
    *entries = malloc((*nentries ? *nentries : 1) * sizeof **entries);
    if (!*entries) {
        rt_path_error(err, errlen, path, "%s", strerror(ENOMEM));
        return -1;
    }
    size_t i = 0;
    const char *key;
    json_t *value;
    json_object_foreach(*root, key, value) {
        if (value == *metadata)
            continue;
        if (parse_entry(path, key, value, &(*entries)[i++], err, errlen) != 0)
            return -1;
    }
    return check_coverage(path, *entries, *nentries, data_bytes, err, errlen);
}

/* found[t] gets the entry of tensors[t], each checked against it (name,
 * dtype, shape); with !allow_extra, an entry no tensor asked for is an
 * error too. Every check before any data moves, so a refused file changes
 * nothing. 0, or -1 with err set. */
static int match_tensors(const char *path, const rt_named_tensor *tensors, int ntensors, entry *entries,
                         size_t nentries, bool allow_extra, int *found, char *err, size_t errlen)
{
    for (int t = 0; t < ntensors; t++) {
        const char *name = tensors[t].name ? tensors[t].name : "";
        found[t] = -1;
        for (size_t i = 0; i < nentries; i++)
            if (strcmp(entries[i].name, name) == 0) {
                found[t] = (int)i;
                break;
            }
        if (found[t] < 0) {
            rt_path_error(err, errlen, path, "missing tensor '%s'", name);
            return -1;
        }
        if (check_match(path, &tensors[t], &entries[found[t]], err, errlen) != 0)
            return -1;
        entries[found[t]].asked = true;
    }
    if (allow_extra)
        return 0;
    size_t extra = 0, first = 0;
    for (size_t i = 0; i < nentries; i++)
        if (!entries[i].asked && extra++ == 0)
            first = i;
    if (extra == 1) {
        rt_path_error(err, errlen, path, "unexpected tensor '%s' is not in the model",
             entries[first].name);
        return -1;
    }
    if (extra > 1) {
        rt_path_error(err, errlen, path, "unexpected tensor '%s' and %zu more are not in the model",
             entries[first].name, extra - 1);
        return -1;
    }
    return 0;
}

/* The values of meta_keys in metadata (NULL where absent), strdup'd; on
 * failure none is left allocated. 0, or -1 with err set. */
static int copy_meta(const char *path, json_t *metadata, const char *const *meta_keys, int nmeta,
                     char **meta_values, char *err, size_t errlen)
{
    for (int i = 0; i < nmeta; i++) {
        json_t *value = metadata && meta_keys[i] ? json_object_get(metadata, meta_keys[i]) : NULL;
        if (!value)
            continue;
        meta_values[i] = strdup(json_string_value(value));
        if (!meta_values[i]) {
            rt_path_error(err, errlen, path, "%s", strerror(ENOMEM));
            for (int j = 0; j < i; j++) {
                free(meta_values[j]);
                meta_values[j] = NULL;
            }
            return -1;
        }
    }
    return 0;
}

int rt_checkpoint_load(const char *path, rt_named_tensor *tensors, int ntensors,
                       bool allow_extra, const char *const *meta_keys, int nmeta,
                       char **meta_values, char *err, size_t errlen)
{
    for (int i = 0; i < nmeta; i++)
        meta_values[i] = NULL;

    int rc = -1;
    char *header = NULL;
    json_t *root = NULL, *metadata = NULL;
    entry *entries = NULL;
    size_t nentries = 0;
    int *found = NULL;
    uint64_t header_len = 0;
    int64_t file_size = 0;
    int fd = rt_open_regular(path, err, errlen);
    if (fd < 0)
        return -1;
    if (read_header(path, fd, &header, &header_len, &file_size, err, errlen) != 0)
        goto done;
    int64_t data_offset = 8 + (int64_t)header_len;
    if (parse_header(path, header, header_len, file_size - data_offset, &root, &metadata, &entries, &nentries,
                     err, errlen) != 0)
        goto done;
    found = malloc((ntensors > 0 ? (size_t)ntensors : 1) * sizeof *found);
    if (!found) {
        rt_path_error(err, errlen, path, "%s", strerror(ENOMEM));
        goto done;
    }
    if (match_tensors(path, tensors, ntensors, entries, nentries, allow_extra, found, err, errlen) != 0)
        goto done;
    for (int t = 0; t < ntensors; t++) {
        const entry *e = &entries[found[t]];
        size_t bytes = (size_t)(e->end - e->begin);
        if (bytes && read_tensor(path, fd, data_offset + e->begin, &tensors[t], bytes, err,
                                 errlen) != 0)
            goto done;
        if (tensors[t].dtype == RT_F32 && !all_finite(path, &tensors[t], bytes / 4, err, errlen))
            goto done;
    }
    if (copy_meta(path, metadata, meta_keys, nmeta, meta_values, err, errlen) != 0)
        goto done;
    rc = 0;

done:
    free(found);
    free(entries);
    json_decref(root);
    free(header);
    if (close(fd) != 0 && rc == 0) {
        rt_path_error(err, errlen, path, "%s", strerror(errno));
        for (int i = 0; i < nmeta; i++) {
            free(meta_values[i]);
            meta_values[i] = NULL;
        }
        rc = -1;
    }
    return rc;
}

/* The header is checked in full by rt_checkpoint_load asking for nothing;
 * then read once more for the names and shapes it holds. */
int rt_checkpoint_list(const char *path, rt_tensor_info **out, int *n, char *err, size_t errlen)
{
    *out = NULL;
    *n = 0;
    if (rt_checkpoint_load(path, NULL, 0, true, NULL, 0, NULL, err, errlen) != 0)
        return -1;
    int fd = rt_open_regular(path, err, errlen);
    if (fd < 0)
        return -1;
    int rc = -1;
    unsigned char lenbuf[8];
    char *header = NULL;
    json_t *root = NULL;
    rt_tensor_info *list = NULL;
    if (read_at(fd, lenbuf, 8, 0) != 0) {
        rt_path_error(err, errlen, path, "file shrank while being read");
        goto done;
    }
    uint64_t header_len = get_u64_le(lenbuf);
    header = malloc(header_len ? header_len : 1);
    if (!header || read_at(fd, header, header_len, 8) != 0) {
        rt_path_error(err, errlen, path, "%s", header ? "file shrank while being read" : strerror(ENOMEM));
        goto done;
    }
    json_error_t jerr;
    root = json_loadb(header, header_len, JSON_REJECT_DUPLICATES, &jerr);
    list = calloc(json_object_size(root) + 1, sizeof *list);
    if (!root || !list) {
        rt_path_error(err, errlen, path, "%s", root ? strerror(ENOMEM) : "file changed while being read");
        goto done;
    }
    const char *key;
    json_t *value;
    json_object_foreach(root, key, value) {
        if (!strcmp(key, "__metadata__"))
            continue;
        json_t *shape = json_object_get(value, "shape");
        size_t rank = json_array_size(shape);
        if (rank > RT_MAX_RANK) {
            rt_path_error(err, errlen, path, "tensor '%s' has rank %zu; netc tensors have at most %d dimensions", key, rank,
                 RT_MAX_RANK);
            goto done;
        }
        rt_tensor_info *t = &list[*n];
        t->name = strdup(key);
        if (!t->name) {
            rt_path_error(err, errlen, path, "%s", strerror(ENOMEM));
            goto done;
        }
        (*n)++;
        snprintf(t->dtype, sizeof t->dtype, "%s", json_string_value(json_object_get(value, "dtype")));
        t->rank = (int)rank;
        for (size_t d = 0; d < rank; d++)
            t->dims[d] = json_integer_value(json_array_get(shape, d));
    }
    rc = 0;
done:
    json_decref(root);
    free(header);
    close(fd);
    if (rc != 0) {
        rt_checkpoint_list_free(list, *n);
        *n = 0;
        return -1;
    }
    *out = list;
    return 0;
}

void rt_checkpoint_list_free(rt_tensor_info *list, int n)
{
    for (int i = 0; list && i < n; i++)
        free(list[i].name);
    free(list);
}
