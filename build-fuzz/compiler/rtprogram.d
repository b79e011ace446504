build-fuzz/compiler/rtprogram.o: compiler/rtprogram.c compiler/compiler.h \
  compiler/ops.def runtime/netrt.h

compiler/compiler.h:

compiler/ops.def:

runtime/netrt.h:
