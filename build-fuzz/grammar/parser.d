build-fuzz/grammar/parser.o: build-fuzz/grammar/parser.c \
  build-fuzz/grammar/parser.h compiler/compiler.h compiler/ops.def

build-fuzz/grammar/parser.h:

compiler/compiler.h:

compiler/ops.def:
