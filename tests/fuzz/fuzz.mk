# tests/fuzz/fuzz.mk - make fragment (included by the top-level Makefile, run at the repo root):
# the libFuzzer target of the configuration parser, build/fuzz/config_fuzz.
#   make fuzz                     bounded run (FUZZ_SECONDS, default 30) seeded by tests/fuzz/corpus
#   make fuzz FUZZ_SECONDS=600    a longer run; FUZZ_ARGS adds libFuzzer flags (e.g. -fork=2)
#   make fuzz FUZZ_OUT=DIR        keep new inputs and crashes in DIR (default: a fresh /tmp dir)
# New inputs never go into the repository: the checked-in corpus is only read.
# Every shim/*.c is compiled with clang, SHIM_CFLAGS' defines and the fuzzer's
# instrumentation into build/fuzz/shim; shim/dlsym_x86_64.S is left out (it would replace
# dlsym in the fuzzer's own process). The harness itself has no coverage instrumentation: the
# coverage counted is the parser's.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 30
FUZZ_OUT ?=
FUZZ_ARGS ?=
FUZZ_DIR := $(BUILD)/fuzz
FUZZ_BIN := $(FUZZ_DIR)/config_fuzz
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS := -std=gnu11 -g -O1 -fno-omit-frame-pointer $(filter -D%,$(SHIM_CFLAGS)) -iquote shim $(FUZZ_SAN)
FUZZ_SHIM_OBJ := $(patsubst shim/%.c,$(FUZZ_DIR)/shim/%.o,$(SHIM_SRC))

.PHONY: fuzz fuzz-build
fuzz-build: $(FUZZ_BIN)

$(FUZZ_DIR)/shim/%.o: shim/%.c $(wildcard shim/*.h shim/*.def) $(BUILD)/.deps
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_DIR)/config_fuzz.o: tests/fuzz/config_fuzz.c $(wildcard shim/*.h shim/*.def)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Wall -Wextra -c $< -o $@

$(FUZZ_BIN): $(FUZZ_DIR)/config_fuzz.o $(FUZZ_SHIM_OBJ)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ -ldl -lpthread

fuzz: $(FUZZ_BIN)
	@tests/fuzz/run.sh $(FUZZ_BIN) $(FUZZ_SECONDS) "$(FUZZ_OUT)" $(FUZZ_ARGS)
