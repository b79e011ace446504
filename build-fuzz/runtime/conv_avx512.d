build-fuzz/runtime/conv_avx512.o: runtime/conv_avx512.c \
  runtime/conv_internal.h

runtime/conv_internal.h:
