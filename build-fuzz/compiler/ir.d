build-fuzz/compiler/ir.o: compiler/ir.c compiler/compiler.h \
  compiler/ops.def

compiler/compiler.h:

compiler/ops.def:
