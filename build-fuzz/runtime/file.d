build-fuzz/runtime/file.o: runtime/file.c runtime/netrt.h

runtime/netrt.h:
