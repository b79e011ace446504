build-fuzz/compiler/arena.o: compiler/arena.c compiler/compiler.h \
  compiler/ops.def

compiler/compiler.h:

compiler/ops.def:
