build-fuzz/compiler/diag.o: compiler/diag.c compiler/compiler.h \
  compiler/ops.def

compiler/compiler.h:

compiler/ops.def:
