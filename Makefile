# netc — plain Makefile. Objects go to $(BUILD); header dependencies are
# tracked with -MMD. `make check` and `make asan` build with -Werror.
#
#   make            build netc and libnetrt
#   make check      install missing packages, build, run every test
#   make asan       the test suite under -fsanitize=address,undefined
#   make demo       install, build, run the examples
#   make demo-text  train charlstm on the King James Bible a few hundred steps and sample it
#   make bench      benchmarks (tables on stdout)
#   make bench-compare  the same work in PyTorch and OpenBLAS, in the same run
#   make install    PREFIX=/usr/local DESTDIR=

BUILD   ?= build
PREFIX  ?= /usr/local
CC      ?= cc
VERSION := 0.1.0

WARN    := -Wall -Wextra -Wshadow -Wmissing-prototypes -Wstrict-prototypes \
           -Wwrite-strings -Wundef -Werror
OPT     ?= -O2 -g
SAN     ?=
CFLAGS  := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE $(OPT) $(SAN) $(WARN) \
           -DNETC_VERSION='"$(VERSION)"' -Iruntime -Icompiler -I$(BUILD)/grammar
LDLIBS  := -ljansson -lz -lpng -lm -lpthread
# -rdynamic: code the JIT compiles imports the runtime kernels from the
# executable itself, so their symbols must be in its dynamic table.
JITLIBS := -rdynamic -lgccjit
# nettle: the .net file's SHA-256 in a model's reproducibility record (rtprogram.c).
NETCLIBS := $(JITLIBS) -lnettle
# Open MPI's mpi.h, for runtime/dist.c alone: libmpi itself is opened at
# run time, under mpirun only, so nothing links against it.
MPI_CFLAGS := $(shell pkg-config --cflags ompi-c 2>/dev/null)
MPI_DEFS   := $(if $(MPI_CFLAGS),-DNETC_HAVE_MPI=1 $(MPI_CFLAGS),-DNETC_HAVE_MPI=0)
CHECKLIBS := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lrt -lm -pthread)

# Kernel files that hold one instruction-set path each get its flags; the
# dispatcher picks them at run time (runtime/cpu.c).
AVX512FLAGS := -mavx512f -mavx512bw -mavx512dq -mavx512vl -mfma -mavx2
AVX2FLAGS   := -mavx2 -mfma
# The activation kernels (kernels_*.c) also get gcc's scheduling before
# register allocation (off at -O2 on x86), which interleaves the vectors
# they hand it together (four GELUs, say), so one's exp overlaps another's;
# without it they stay one after the other and the chains' latency bounds
# the loop (GELU 1.5-1.9x faster on Zen 3). Not the GEMM, convolution or other
# kernel files: their hand-scheduled micro-kernels ran at 41 GFLOP/s
# instead of 90 with it (docs/performance-history.md, session 10).
SIMDFLAGS   := -fschedule-insns -fsched-pressure

RT_SRC   := $(wildcard runtime/*.c)
RT_OBJ   := $(RT_SRC:%.c=$(BUILD)/%.o)
CC_SRC   := $(filter-out compiler/main.c,$(wildcard compiler/*.c))
CC_OBJ   := $(CC_SRC:%.c=$(BUILD)/%.o) $(BUILD)/grammar/parser.o $(BUILD)/grammar/lexer.o
TEST_SRC := $(wildcard tests/test_*.c)
TESTS    := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
FUZZ_SRC := $(wildcard fuzz/fuzz_*.c)
FUZZ_TARGETS := $(FUZZ_SRC:fuzz/fuzz_%.c=%)
REPLAYS  := $(FUZZ_TARGETS:%=$(BUILD)/fuzz/replay_%)
BENCH_SRC := $(wildcard bench/bench_*.c)
BENCHES  := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

NETC     := $(BUILD)/netc
LIBNETRT := $(BUILD)/libnetrt.a
LIBNETC  := $(BUILD)/libnetc.a

.PHONY: all deps check asan fuzz demo demo-text bench bench-compare install clean finetune
.SUFFIXES:
.DELETE_ON_ERROR:

all: $(NETC) $(LIBNETRT) $(TESTS) $(BENCHES) $(REPLAYS)

# Installs missing Debian packages when run as root; otherwise prints the
# exact apt-get line and fails. A stamp keeps it from running each time.
deps: $(BUILD)/.deps
$(BUILD)/.deps: scripts/deps.sh
	@mkdir -p $(BUILD)
	@BUILD=$(BUILD) sh scripts/deps.sh
	@touch $@

# The runtime searches this build's data folder for data files, after the
# .net file's folder and $$NETC_DATA_PATH: deps.sh writes the text corpus
# there (build/data/kjv.txt).
$(BUILD)/runtime/data.o: CFLAGS += -DNETRT_DATA_DIR='"$(abspath $(BUILD))/data"'


$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(if $(findstring _avx512,$<),$(AVX512FLAGS)) $(if $(findstring _avx2,$<),$(AVX2FLAGS)) $(if $(findstring runtime/kernels_avx,$<),$(SIMDFLAGS)) $(if $(findstring runtime/dist.c,$<),$(MPI_DEFS)) -MMD -MP -c $< -o $@

$(BUILD)/grammar/parser.c $(BUILD)/grammar/parser.h: grammar/netc.y
	@mkdir -p $(dir $@)
	bison -Wall -Werror --defines=$(BUILD)/grammar/parser.h -o $(BUILD)/grammar/parser.c $<

$(BUILD)/grammar/lexer.c $(BUILD)/grammar/lexer.h: grammar/netc.l
	@mkdir -p $(dir $@)
	flex --header-file=$(BUILD)/grammar/lexer.h -o $(BUILD)/grammar/lexer.c $<

# Generated scanner and parser code is not ours to keep warning-clean in
# every respect; only the warnings their skeletons trip are relaxed.
GENFLAGS := -Wno-unused-function -Wno-sign-compare -Wno-missing-prototypes -Wno-unused-parameter
$(BUILD)/grammar/parser.o: $(BUILD)/grammar/parser.c $(BUILD)/grammar/lexer.h
	$(CC) $(CFLAGS) $(GENFLAGS) -MMD -MP -c $< -o $@
$(BUILD)/grammar/lexer.o: $(BUILD)/grammar/lexer.c $(BUILD)/grammar/parser.h
	$(CC) $(CFLAGS) $(GENFLAGS) -MMD -MP -c $< -o $@
$(CC_OBJ) $(BUILD)/compiler/main.o: $(BUILD)/grammar/parser.h $(BUILD)/grammar/lexer.h

$(LIBNETRT): $(RT_OBJ)
	@rm -f $@
	@echo "ar rcs $@ (its $(words $^) objects)"; ar rcs $@ $^

$(LIBNETC): $(CC_OBJ)
	@rm -f $@
	@echo "ar rcs $@ (its $(words $^) objects)"; ar rcs $@ $^

$(NETC): $(BUILD)/compiler/main.o $(LIBNETC) $(LIBNETRT)
	$(CC) $(CFLAGS) -o $@ $^ $(NETCLIBS) $(LDLIBS)

# test_rt_* suites test the runtime alone and link only libnetrt.
$(BUILD)/tests/test_rt_%: tests/test_rt_%.c $(LIBNETRT) tests/testutil.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests -MMD -MP -o $@ $< $(LIBNETRT) $(CHECKLIBS) $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(LIBNETC) $(LIBNETRT) tests/testutil.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests -MMD -MP -o $@ $< $(LIBNETC) $(LIBNETRT) $(CHECKLIBS) $(NETCLIBS) $(LDLIBS)

# Each fuzz target as a plain program over files (gcc, no libFuzzer):
# test_fuzz_replay runs it over fuzz/corpus/NAME in `make check`.
$(BUILD)/fuzz/replay_%: fuzz/fuzz_%.c fuzz/replay_main.c fuzz/fuzz.h $(LIBNETC) $(LIBNETRT)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Ifuzz -o $@ fuzz/fuzz_$*.c fuzz/replay_main.c $(LIBNETC) $(LIBNETRT) $(NETCLIBS) $(LDLIBS)

$(BUILD)/bench/bench_rt_%: bench/bench_rt_%.c $(LIBNETRT)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -o $@ $< $(LIBNETRT) $(LDLIBS)

$(BUILD)/bench/%: bench/%.c $(LIBNETC) $(LIBNETRT)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -o $@ $< $(LIBNETC) $(LIBNETRT) $(NETCLIBS) $(LDLIBS)

# Every test binary runs from the project root (tests find examples/ and
# tests/data/ there); NETC points them at the compiler under test.
check: deps
	@$(MAKE) --no-print-directory all
	@NETC=$(abspath $(NETC)) BUILD=$(BUILD) NETC_CFLAGS="$(SAN)" sh scripts/run-tests.sh $(TESTS)

asan:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory check BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer" \
		SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined"

# Coverage-guided fuzzing with libFuzzer (clang from Debian, installed
# here only): the libraries are rebuilt with clang under ASan and UBSan in
# build-fuzz/, then each target runs FUZZ_SECONDS over a working corpus
# seeded from fuzz/corpus/NAME (FUZZ_TARGETS="front data" runs some). Its
# output goes to build-fuzz/fuzz_NAME.log, and inputs that crash, hang or
# leak to build-fuzz/artifacts/NAME/: fix the cause, then copy each into
# fuzz/corpus/NAME so `make check` replays it. The run ends with a table
# (scripts/fuzz-summary.sh): seconds, CPU seconds, executions, exec/s,
# libFuzzer's cov/ft counters, the corpus, what was found, and line and
# function coverage of the instrumented sources over the final corpus:
# llvm-cov and llvm-profdata (package llvm-14) over a third build,
# build-fuzzcov/, clang -O0 with -fprofile-instr-generate -fcoverage-mapping
# and no sanitizer, each target linked with replay_main.c instead of
# libFuzzer. (libFuzzer's own counters are edges, not lines, and a
# sanitized build cannot also carry the profile runtime's mapping cheaply.)
# Instrumented (clang, coverage, ASan, UBSan): the compiler and the
# runtime's readers (file.c, data.c, checkpoint.c) and the training driver
# the resume target runs (train.c, cli.c). The JIT backend is left out (no
# target reaches it, and libgccjit.h is gcc's), and the SIMD kernels come
# from the gcc build uninstrumented: no target runs them, and clang takes
# many minutes on them under ASan.
FUZZ_SECONDS ?= 60
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_RT_SRC := runtime/file.c runtime/data.c runtime/checkpoint.c runtime/train.c runtime/cli.c
FUZZ_CC_OBJ = $(filter-out $(1)/compiler/emit_jit.o,$(CC_OBJ:$(BUILD)/%=$(1)/%))
FUZZ_RT_OBJ = $(FUZZ_RT_SRC:%.c=$(1)/%.o)
# $(call fuzz_libs,DIR,SAN,OPT): DIR's libnetc-fuzz.a and libnetrt-fuzz.a
# built by clang, the runtime's other objects (FUZZ_GCC_RT) taken from the
# gcc build
define fuzz_libs
	@$(MAKE) --no-print-directory BUILD=$(1) CC=clang-14 OPT="$(3)" SAN="$(2)" \
		FUZZ_GCC_RT="$(filter-out $(FUZZ_RT_SRC:%.c=$(BUILD)/%.o),$(RT_OBJ))" \
		$(1)/libnetc-fuzz.a $(1)/libnetrt-fuzz.a
endef
$(BUILD)/libnetc-fuzz.a: $(call FUZZ_CC_OBJ,$(BUILD))
	@rm -f $@
	@echo "ar rcs $@ (its $(words $^) objects)"; ar rcs $@ $^
$(BUILD)/libnetrt-fuzz.a: $(call FUZZ_RT_OBJ,$(BUILD)) $(FUZZ_GCC_RT)
	@rm -f $@
	@echo "ar rcs $@ (its $(words $^) objects)"; ar rcs $@ $^
FUZZ_CFLAGS = $(subst -I$(BUILD)/grammar,-I$(1)/grammar,$(CFLAGS)) -Ifuzz
FUZZ_LIBS = $(1)/libnetc-fuzz.a $(1)/libnetrt-fuzz.a -lnettle $(LDLIBS)
COV_FLAGS := -fprofile-instr-generate -fcoverage-mapping
fuzz: deps
	@sh scripts/deps.sh clang-14 libclang-rt-14-dev llvm-14
	@$(MAKE) -s --no-print-directory $(RT_OBJ)
	$(call fuzz_libs,build-fuzz,-fsanitize=fuzzer-no-link $(FUZZ_SAN),-O1 -g -fno-omit-frame-pointer)
	$(call fuzz_libs,build-fuzzcov,$(COV_FLAGS),-O0 -g)
	@mkdir -p build-fuzz/cov
	@for t in $(FUZZ_TARGETS); do \
		clang-14 $(call FUZZ_CFLAGS,build-fuzz) -O1 -g -fsanitize=fuzzer $(FUZZ_SAN) \
			-o build-fuzz/fuzz_$$t fuzz/fuzz_$$t.c $(call FUZZ_LIBS,build-fuzz) || exit 1; \
		clang-14 $(call FUZZ_CFLAGS,build-fuzzcov) -O0 -g $(COV_FLAGS) -o build-fuzz/cov/replay_$$t \
			fuzz/fuzz_$$t.c fuzz/replay_main.c $(call FUZZ_LIBS,build-fuzzcov) || exit 1; \
	done
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p build-fuzz/corpus/$$t build-fuzz/artifacts/$$t; \
		echo "== fuzz_$$t for $(FUZZ_SECONDS) s (log: build-fuzz/fuzz_$$t.log)"; \
		(cd build-fuzz && /usr/bin/time -f '%U %S' -o fuzz_$$t.cpu ./fuzz_$$t -max_total_time=$(FUZZ_SECONDS) \
			-timeout=10 -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix=artifacts/$$t/ \
			corpus/$$t ../fuzz/corpus/$$t > fuzz_$$t.log 2>&1) || tail -40 build-fuzz/fuzz_$$t.log; \
		rm -f build-fuzz/cov/$$t.profraw build-fuzz/cov/$$t.txt; \
		LLVM_PROFILE_FILE=build-fuzz/cov/$$t.profraw build-fuzz/cov/replay_$$t build-fuzz/corpus/$$t \
			fuzz/corpus/$$t > /dev/null 2>&1 && \
		llvm-profdata-14 merge -o build-fuzz/cov/$$t.profdata build-fuzz/cov/$$t.profraw && \
		llvm-cov-14 report build-fuzz/cov/replay_$$t -instr-profile=build-fuzz/cov/$$t.profdata \
			> build-fuzz/cov/$$t.txt 2>/dev/null; \
	done; true
	@sh scripts/fuzz-summary.sh $(FUZZ_TARGETS)

demo: deps
	@$(MAKE) --no-print-directory all
	@sh scripts/demo.sh $(NETC)

demo-text: deps
	@$(MAKE) --no-print-directory all
	@sh scripts/demo-text.sh $(NETC)

bench: deps
	@$(MAKE) --no-print-directory all
	@for b in $(BENCHES); do echo "== $$b"; BUILD=$(BUILD) $$b || exit 1; done

# PyTorch and OpenBLAS on the same cores in the same run: GEMM against
# OpenBLAS, then mlp.net and lenet.net training and LeNet's batch-1 latency
# against PyTorch (bench/compare_torch.py). They are benchmark-only
# dependencies, installed here and nowhere else. OpenBLAS's core-type
# overrides are unset for this command alone, so it runs its best kernels.
bench-compare: deps
	@$(MAKE) --no-print-directory all
	@sh scripts/deps.sh python3-torch libopenblas-dev
	$(CC) $(CFLAGS) -o $(BUILD)/bench/openblas_gemm bench/openblas_gemm.c $(LIBNETRT) -lopenblas $(LDLIBS)
	@$(BUILD)/netc build examples/mlp.net -o $(BUILD)/bench/mlp
	@$(BUILD)/netc build examples/lenet.net -o $(BUILD)/bench/lenet
	@$(BUILD)/netc build examples/gan.net -o $(BUILD)/bench/gan
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(BUILD)/bench/openblas_gemm
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/compare_torch.py $(BUILD)
	@$(BUILD)/netc build examples/charlstm.net -o $(BUILD)/bench/charlstm
	@$(BUILD)/netc build examples/gpt.net -o $(BUILD)/bench/gpt
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/compare_lm.py $(BUILD)

# examples/finetune.net: LeNet pretrained on Fashion-MNIST (kept in
# $(BUILD)/lenet.safetensors once trained), then a 4-way task learnt from
# 1,000 samples, fine-tuned against from scratch.
$(BUILD)/fashion4: scripts/fashion4.c $(LIBNETRT)
	$(CC) $(CFLAGS) -o $@ $< $(LIBNETRT) $(LDLIBS)

finetune: deps
	@$(MAKE) --no-print-directory all $(BUILD)/fashion4
	$(BUILD)/fashion4 $(BUILD)
	test -f $(BUILD)/lenet.safetensors || $(NETC) train examples/lenet.net --save $(BUILD)/lenet.safetensors
	NETC_DATA_PATH=$(BUILD) $(NETC) train examples/finetune.net -m finetune
	NETC_DATA_PATH=$(BUILD) $(NETC) train examples/finetune.net -m scratch

install: $(NETC) $(LIBNETRT)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include \
		$(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(NETC) $(DESTDIR)$(PREFIX)/bin/netc
	install -m 644 $(LIBNETRT) $(DESTDIR)$(PREFIX)/lib/libnetrt.a
	install -m 644 runtime/netrt.h $(DESTDIR)$(PREFIX)/include/netrt.h
	install -m 644 docs/netc.1 $(DESTDIR)$(PREFIX)/share/man/man1/netc.1

clean:
	rm -rf build build-asan build-fuzz build-fuzzcov

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
