/* fashion4.c — the data of examples/finetune.net: a second task over the
 * Fashion-MNIST images, with four classes instead of ten, and only a small
 * labelled training set.
 *
 *   fashion4 OUTDIR [N]
 *
 * writes into OUTDIR, as uncompressed IDX files:
 *   fashion4-train-images-idx3-ubyte, fashion4-train-labels-idx1-ubyte:
 *       N (default 1000) training images, every 60000/N-th of the
 *       training set, with their group labels;
 *   fashion4-t10k-labels-idx1-ubyte: the group of each of the 10,000 test
 *       images (the images are Fashion-MNIST's own t10k file).
 * The groups: 0 tops (T-shirt/top, pullover, coat, shirt), 1 bottoms and
 * dresses (trouser, dress), 2 footwear (sandal, sneaker, ankle boot),
 * 3 bags. The dataset is found as the runtime finds data files
 * (rt_data_resolve: $NETC_DATA_PATH, /usr/share/datasets, ...).
 */
#include "netrt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char group_of[10] = { 0, 1, 0, 1, 0, 2, 0, 2, 3, 2 };

static void put_be32(FILE *f, uint32_t v)
{
    unsigned char b[4] = { (unsigned char)(v >> 24), (unsigned char)(v >> 16), (unsigned char)(v >> 8),
                           (unsigned char)v };
    fwrite(b, 1, 4, f);
}

static int load(const char *images, const char *labels, rt_dataset *d)
{
    char ipath[4096], lpath[4096], err[1024];
    if (rt_data_resolve(images, NULL, ipath, sizeof ipath) != 0 ||
        rt_data_resolve(labels, NULL, lpath, sizeof lpath) != 0) {
        fprintf(stderr, "fashion4: %s or %s not found (install dataset-fashion-mnist)\n", images, labels);
        return -1;
    }
    rt_source src = { .kind = RT_SRC_IDX, .path = ipath, .labels_path = lpath, .scale = 1, .label_column = -1 };
    if (rt_dataset_load(&src, d, err, sizeof err) != 0) {
        fprintf(stderr, "fashion4: %s\n", err);
        return -1;
    }
    return 0;
}

/* Writes path atomically: the bytes in memory first, then one rename. */
static int write_idx(const char *dir, const char *name, const rt_dataset *d, const int64_t *pick, int64_t n,
                     bool images)
{
    char path[4096], err[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return -1;
    put_be32(f, images ? 0x803 : 0x801);
    put_be32(f, (uint32_t)n);
    if (images) {
        put_be32(f, (uint32_t)d->x_dims[d->x_rank - 2]);
        put_be32(f, (uint32_t)d->x_dims[d->x_rank - 1]);
    }
    const float *x = d->x;
    const int32_t *y = d->y;
    for (int64_t i = 0; i < n; i++) {
        if (images)
            for (int64_t k = 0; k < d->x_size; k++)
                fputc((int)x[pick[i] * d->x_size + k], f);
        else
            fputc(group_of[y[pick[i]]], f);
    }
    fclose(f);
    int rc = rt_write_file_atomic(path, buf, len, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "fashion4: %s\n", err);
    free(buf);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: fashion4 OUTDIR [N]\n");
        return 2;
    }
    int64_t n = argc == 3 ? atoll(argv[2]) : 1000;
    rt_dataset train, test;
    if (load("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", &train) != 0 ||
        load("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", &test) != 0)
        return 1;
    if (n < 1 || n > train.n) {
        fprintf(stderr, "fashion4: N must be in [1, %lld]\n", (long long)train.n);
        return 2;
    }
    int64_t *pick = malloc(sizeof *pick * (size_t)(test.n > n ? test.n : n));
    if (!pick)
        return 1;
    for (int64_t i = 0; i < n; i++)
        pick[i] = i * (train.n / n);
    int rc = write_idx(argv[1], "fashion4-train-images-idx3-ubyte", &train, pick, n, true) ||
             write_idx(argv[1], "fashion4-train-labels-idx1-ubyte", &train, pick, n, false);
    for (int64_t i = 0; i < test.n; i++)
        pick[i] = i;
    rc = rc || write_idx(argv[1], "fashion4-t10k-labels-idx1-ubyte", &test, pick, test.n, false);
    int counts[4] = { 0 };
    for (int64_t i = 0; i < n; i++)
        counts[group_of[((const int32_t *)train.y)[i * (train.n / n)]]]++;
    if (!rc)
        printf("fashion4: %lld training images (tops %d, bottoms %d, footwear %d, bags %d) and 10,000 test labels in %s\n",
               (long long)n, counts[0], counts[1], counts[2], counts[3], argv[1]);
    free(pick);
    rt_dataset_free(&train);
    rt_dataset_free(&test);
    return rc ? 1 : 0;
}
