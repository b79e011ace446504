/* op_rules.h — the body of a table of per-op functions, one entry per
 * ops.def row: [OP_<name>] = RULE(name), and RULE_ACT for every activation
 * (ACT rows). A pass includes it inside its table's braces after defining
 * RULE and RULE_ACT, so a row without its function fails to compile:
 *
 *   static LowerRule *const lower_rules[OP_COUNT] = {
 *   #define RULE(name) lower_##name
 *   #define RULE_ACT lower_activation
 *   #include "op_rules.h"
 *   };
 *
 * No include guard: each table includes it anew. */
#define OP(name, kind, flags, act, sig) [OP_##name] = RULE(name),
#define ACT(name, flags, act, sig) [OP_##name] = RULE_ACT,
#include "ops.def"
#undef OP
#undef RULE
#undef RULE_ACT
