build-fuzz/runtime/cli.o: runtime/cli.c runtime/netrt.h \
  runtime/train_internal.h

runtime/netrt.h:

runtime/train_internal.h:
