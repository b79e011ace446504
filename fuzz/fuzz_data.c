/* fuzz_data.c — the data readers on arbitrary bytes: IDX (images and
 * labels), CSV (with and without a label column and header) and text. The
 * first byte chooses the reader and its options; the rest is the file. */
#include "fuzz.h"
#include "netrt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    const char *path = fuzz_file(data + 1, size - 1, ".data");
    rt_source src = { .scale = 1, .label_column = -1 };
    switch (mode % 4) {
    case 0: src.kind = RT_SRC_IDX; break;
    case 1: src.kind = RT_SRC_IDX; src.labels_path = path; break; /* a file as its own labels */
    case 2: src.kind = RT_SRC_CSV; src.label_column = (mode >> 2) % 4 - 1; src.header = mode & 0x40; break;
    case 3: src.kind = RT_SRC_TEXT; src.seq = 1 + (mode >> 2) % 16; break;
    }
    src.path = path;
    rt_dataset d;
    char err[1024];
    if (rt_dataset_load(&src, &d, err, sizeof err) == 0)
        rt_dataset_free(&d);
    return 0;
}
