build-fuzz/compiler/graph.o: compiler/graph.c compiler/compiler.h \
  compiler/ops.def

compiler/compiler.h:

compiler/ops.def:
