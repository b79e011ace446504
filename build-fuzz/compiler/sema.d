build-fuzz/compiler/sema.o: compiler/sema.c compiler/sema_internal.h \
  compiler/compiler.h compiler/ops.def

compiler/sema_internal.h:

compiler/compiler.h:

compiler/ops.def:
