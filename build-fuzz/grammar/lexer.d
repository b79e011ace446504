build-fuzz/grammar/lexer.o: build-fuzz/grammar/lexer.c \
  compiler/compiler.h compiler/ops.def build-fuzz/grammar/parser.h

compiler/compiler.h:

compiler/ops.def:

build-fuzz/grammar/parser.h:
