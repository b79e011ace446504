build-fuzz/compiler/compile.o: compiler/compile.c compiler/compiler.h \
  compiler/ops.def runtime/netrt.h

compiler/compiler.h:

compiler/ops.def:

runtime/netrt.h:
