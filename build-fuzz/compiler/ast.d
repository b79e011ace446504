build-fuzz/compiler/ast.o: compiler/ast.c compiler/compiler.h \
  compiler/ops.def

compiler/compiler.h:

compiler/ops.def:
