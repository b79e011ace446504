build-fuzz/compiler/fuse.o: compiler/fuse.c compiler/compiler.h \
  compiler/ops.def

compiler/compiler.h:

compiler/ops.def:
