build-fuzz/runtime/data.o: runtime/data.c runtime/netrt.h

runtime/netrt.h:
