build-fuzz/runtime/checkpoint.o: runtime/checkpoint.c runtime/netrt.h \
  runtime/util.h

runtime/netrt.h:

runtime/util.h:
