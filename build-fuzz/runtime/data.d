build-fuzz/runtime/data.o: runtime/data.c runtime/netrt.h runtime/util.h

runtime/netrt.h:

runtime/util.h:
