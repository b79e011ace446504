build-fuzz/runtime/checkpoint.o: runtime/checkpoint.c runtime/netrt.h

runtime/netrt.h:
