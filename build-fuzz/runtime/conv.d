build-fuzz/runtime/conv.o: runtime/conv.c runtime/conv_internal.h \
  runtime/gemm_internal.h runtime/netrt.h runtime/pool_internal.h

runtime/conv_internal.h:

runtime/gemm_internal.h:

runtime/netrt.h:

runtime/pool_internal.h:
