/* fuzz_safetensors.c — the checkpoint reader on arbitrary bytes, as
 * --load and --resume call it: a fixed model's tensors (weights and one
 * optimizer tensor) and the metadata keys of a resume. */
#include "fuzz.h"
#include "netrt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size, ".safetensors");
    static float w[12], b[3], m[12];
    int32_t step[1];
    rt_named_tensor t[4] = {
        { "dense1.weight", RT_F32, 2, { 3, 4 }, w },
        { "dense1.bias", RT_F32, 1, { 3 }, b },
        { "optimizer.dense1.weight.m", RT_F32, 2, { 3, 4 }, m },
        { "step", RT_I32, 0, { 0 }, step },
    };
    static const char *const keys[] = { "netc.format", "netc.model", "netc.step", "netc.epoch",
                                         "netc.position", "netc.batch", "netc.seed", "netc.optimizer" };
    char *values[8];
    char err[1024];
    for (int allow = 0; allow < 2; allow++) {
        if (rt_checkpoint_load(path, t, allow ? 2 : 4, allow, keys, 8, values, err, sizeof err) == 0)
            for (int i = 0; i < 8; i++)
                free(values[i]);
    }
    /* metadata alone, as the resume path reads it first */
    if (rt_checkpoint_load(path, NULL, 0, true, keys, 8, values, err, sizeof err) == 0)
        for (int i = 0; i < 8; i++)
            free(values[i]);
    return 0;
}
