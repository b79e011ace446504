build-fuzz/runtime/augment.o: runtime/augment.c runtime/netrt.h

runtime/netrt.h:
