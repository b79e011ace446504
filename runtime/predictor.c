/* predictor.c — rt_predict_main, the command line of a single-file
 * predictor (netc build --inference --weights FILE): `NAME INPUT` runs
 * predict with the weights the binary holds, so it prints what the
 * training binary's `predict --load FILE INPUT` prints. */
#include "netrt.h"

#include <stdlib.h>
#include <string.h>

int rt_predict_main(const rt_program *p, int argc, char **argv)
{
    static const char *const commands[] = { "predict", "eval", "info", "sample", "train", "help",
                                            "-h", "--help", "--version" };
    bool command = argc < 2;
    for (size_t k = 0; !command && k < sizeof commands / sizeof commands[0]; k++)
        command = !strcmp(argv[1], commands[k]);
    if (command)
        return rt_main(p, argc, argv);
    char **with = malloc(sizeof *with * (size_t)(argc + 2));
    if (!with)
        return 1;
    with[0] = argv[0];
    with[1] = (char *)"predict";
    for (int i = 1; i < argc; i++)
        with[i + 1] = argv[i];
    with[argc + 1] = NULL;
    int rc = rt_main(p, argc + 1, with);
    free(with);
    return rc;
}
