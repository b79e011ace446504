build-fuzz/compiler/emit_c.o: compiler/emit_c.c compiler/compiler.h \
  compiler/ops.def runtime/netrt.h

compiler/compiler.h:

compiler/ops.def:

runtime/netrt.h:
