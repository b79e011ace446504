/* fuzz.h — what the fuzz targets share: the libFuzzer entry point they
 * define, and a file holding the input for readers that take a path. */
#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fuzz_paths[2][128];

static inline void fuzz_remove_files(void)
{
    for (int i = 0; i < 2; i++)
        if (fuzz_paths[i][0])
            unlink(fuzz_paths[i]);
}

/* Writes data to this process's scratch file (one per process, reused,
 * removed at exit) and returns its path, for the readers that open files
 * by name. */
static inline const char *fuzz_file(const uint8_t *data, size_t size, const char *suffix)
{
    char *path = fuzz_paths[suffix[1] == 's'];
    if (!path[0])
        atexit(fuzz_remove_files);
    /* memory-backed when there is one: thousands of files a second */
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(path, sizeof fuzz_paths[0], "%s/netc-fuzz-%d%s", dir, (int)getpid(), suffix);
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    if (fclose(f) != 0)
        abort();
    return path;
}

#endif
