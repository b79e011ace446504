/* op_rules.h — the body of a table of per-op functions, one entry per
 * ops.def row: [OP_<name>] = RULE(name), RULE_ACT for every activation
 * (ACT rows), and RULE_BACKWARD(name) for every BACKWARD row (a pass that
 * treats all gradient ops alike defines it, as autodiff's no_grad and
 * step.c's step_none do; it defaults to RULE(name)). A pass includes it
 * inside its table's braces after defining RULE and RULE_ACT, so a row
 * without its function fails to compile:
 *
 *   static LowerRule *const lower_rules[OP_COUNT] = {
 *   #define RULE(name) lower_##name
 *   #define RULE_ACT lower_activation
 *   #include "op_rules.h"
 *   };
 *
 * No include guard: each table includes it anew. */
#ifndef RULE_BACKWARD
#define RULE_BACKWARD(name) RULE(name)
#endif
#define RULE_SURFACE(name) RULE(name)
#define RULE_INTERNAL(name) RULE(name)
#define OP(name, kind, flags, act, sig) [OP_##name] = RULE_##kind(name),
#define ACT(name, flags, act, sig) [OP_##name] = RULE_ACT,
#include "ops.def"
#undef OP
#undef RULE
#undef RULE_ACT
#undef RULE_BACKWARD
#undef RULE_SURFACE
#undef RULE_INTERNAL
