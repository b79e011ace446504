build-fuzz/compiler/plan.o: compiler/plan.c compiler/compiler.h \
  compiler/ops.def runtime/netrt.h

compiler/compiler.h:

compiler/ops.def:

runtime/netrt.h:
