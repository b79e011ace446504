build-fuzz/compiler/sema_train.o: compiler/sema_train.c \
  compiler/sema_internal.h compiler/compiler.h compiler/ops.def

compiler/sema_internal.h:

compiler/compiler.h:

compiler/ops.def:
