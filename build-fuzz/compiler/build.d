build-fuzz/compiler/build.o: compiler/build.c compiler/compiler.h \
  compiler/ops.def runtime/netrt.h

compiler/compiler.h:

compiler/ops.def:

runtime/netrt.h:
