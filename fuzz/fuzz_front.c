/* fuzz_front.c — the .net front end on arbitrary bytes: parse, sema, shape
 * checking and lowering of the first model. A crash, an abort from die()
 * or a sanitizer report is a bug; diagnostics are the expected outcome. */
#include "compiler.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *sink;
    if (!sink && !(sink = fopen("/dev/null", "w")))
        abort();
    if (size > SOURCE_MAX_BYTES)
        return 0; /* source_load refuses these before the lexer */
    Compiler c;
    compiler_init(&c, "fuzz.net", (const char *)data, size, sink);
    if (compile_front(&c) && c.prog->nmodels > 0) {
        LProgram lp;
        (void)lower_program(&c, NULL, &lp);
    }
    compiler_free(&c);
    return 0;
}
