build-fuzz/runtime/attention.o: runtime/attention.c \
  runtime/kernels_internal.h runtime/netrt.h

runtime/kernels_internal.h:

runtime/netrt.h:
