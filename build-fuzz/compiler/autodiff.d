build-fuzz/compiler/autodiff.o: compiler/autodiff.c compiler/compiler.h \
  compiler/ops.def

compiler/compiler.h:

compiler/ops.def:
