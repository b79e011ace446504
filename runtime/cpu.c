/* cpu.c — which instruction-set path the kernels take.
 *
 * The CPU is probed once, on first use. The path in force starts as the
 * best one the CPU can run, unless the environment variable NETRT_ISA
 * (portable | avx2 | avx512) asks for a slower one; a request above what
 * the CPU can run is clamped to the best it can, with a note on stderr,
 * because a benchmark silently measuring the wrong path is worse than noise.
 * rt_isa_set() overrides both afterwards.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netrt.h"
#include "util.h"

/* What the CPU (and the OS, which must save the wide registers) supports. */
typedef struct cpu_features {
    bool avx512; /* F + BW + DQ + VL: the AVX-512 kernels use all four */
    bool avx2;   /* AVX2 + FMA */
    bool v2, v3, v4; /* the x86-64 micro-architecture levels, for -march */
} cpu_features;

static cpu_features features;
static rt_isa best_isa = RT_ISA_PORTABLE;
static _Atomic int current_isa = RT_ISA_PORTABLE;
static pthread_once_t probe_once = PTHREAD_ONCE_INIT;

static void probe_features(void)
{
#if defined(__x86_64__) || defined(__i386__)
    /* __builtin_cpu_supports consults cpuid and, for the AVX families,
     * XGETBV, so a kernel that has not enabled the wide registers reports
     * them absent. */
    __builtin_cpu_init();
    features.avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    features.avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
    /* The ISA levels as gcc defines them, so that rt_cpu_march never names
     * a level whose every feature (CX16, LAHF, LZCNT, XSAVE, ...) is not
     * present. */
#if defined(__clang__)
    /* clang 14 (make fuzz) knows no level names: its closest features. Only
     * rt_cpu_march reads these, for code generation, which fuzzing never
     * reaches. */
    features.v2 = __builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("popcnt");
    features.v3 = features.v2 && features.avx2 && __builtin_cpu_supports("bmi2");
    features.v4 = features.v3 && features.avx512;
#else
    features.v2 = __builtin_cpu_supports("x86-64-v2");
    features.v3 = __builtin_cpu_supports("x86-64-v3");
    features.v4 = __builtin_cpu_supports("x86-64-v4");
#endif
#endif
    best_isa = features.avx512 ? RT_ISA_AVX512 : features.avx2 ? RT_ISA_AVX2 : RT_ISA_PORTABLE;

    rt_isa start = best_isa;
    const char *env = getenv("NETRT_ISA");
    if (env && *env) {
        rt_isa want;
        if (strcmp(env, "portable") == 0)
            want = RT_ISA_PORTABLE;
        else if (strcmp(env, "avx2") == 0)
            want = RT_ISA_AVX2;
        else if (strcmp(env, "avx512") == 0)
            want = RT_ISA_AVX512;
        else {
            fprintf(stderr, "netrt: NETRT_ISA=%s: expected portable, avx2 or avx512; using %s\n",
                    env, rt_isa_name(best_isa));
            want = best_isa;
        }
        if (want > best_isa)
            fprintf(stderr, "netrt: NETRT_ISA=%s: this CPU cannot run it; using %s\n", env,
                    rt_isa_name(best_isa));
        start = want > best_isa ? best_isa : want;
    }
    atomic_store(&current_isa, (int)start);
}

static void probe(void)
{
    pthread_once(&probe_once, probe_features);
}

rt_isa rt_cpu_best_isa(void)
{
    probe();
    return best_isa;
}

rt_isa rt_isa_current(void)
{
    probe();
    return (rt_isa)atomic_load_explicit(&current_isa, memory_order_relaxed);
}

bool rt_isa_set(rt_isa isa)
{
    probe();
    if (isa < RT_ISA_PORTABLE || isa > best_isa)
        return false;
    atomic_store(&current_isa, (int)isa);
    return true;
}

const char *rt_isa_name(rt_isa isa)
{
    static const char *const names[] = { RT_ISA_LIST(RT_ENUM_TEXT) };
    return rt_enum_name(names, RT_COUNT(names), (int)isa);
}

const char *rt_cpu_march(void)
{
    probe();
    if (features.v4)
        return "x86-64-v4";
    if (features.v3)
        return "x86-64-v3";
    if (features.v2)
        return "x86-64-v2";
    return "x86-64";
}
