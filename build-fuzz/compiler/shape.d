build-fuzz/compiler/shape.o: compiler/shape.c compiler/compiler.h \
  compiler/ops.def

compiler/compiler.h:

compiler/ops.def:
