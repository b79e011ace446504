build-fuzz/runtime/cpu.o: runtime/cpu.c runtime/netrt.h

runtime/netrt.h:
