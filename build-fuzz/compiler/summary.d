build-fuzz/compiler/summary.o: compiler/summary.c compiler/compiler.h \
  compiler/ops.def

compiler/compiler.h:

compiler/ops.def:
