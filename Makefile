# capguard: `make` builds build/libcapguard.so and build/capguard; `make demo` runs the bundled
# capture-violation demo; `make test` runs every test that needs no GPU.
CUDA_HOME ?= /usr/local/cuda
NCCL_HOME ?= $(CUDA_HOME)
PREFIX ?= /usr/local
BUILD := build
VERSION := 0.1.0
WERROR ?=
ARCH := $(shell uname -m)
# Sanitizer flags for compiling and linking everything (make sanitize: tests/sanitize/run.sh),
# e.g. make BUILD=build/asan SAN="-fsanitize=address,undefined -fno-omit-frame-pointer".
SAN ?=

CFLAGS_COMMON := -std=gnu11 -O2 -g -fPIC -Wall -Wextra -Wshadow -Wstrict-prototypes \
                 -Wmissing-prototypes -Wvla $(WERROR) $(SAN)
SHIM_CFLAGS := $(CFLAGS_COMMON) -fvisibility=hidden -ftls-model=initial-exec \
               -DCG_VERSION=\"$(VERSION)\" -D_GNU_SOURCE
# The shim's layers, bottom to top (docs/ARCHITECTURE.md): a file's directory is its layer.
SHIM_LAYERS := base model features pipeline report
SHIM_SRC := $(foreach l,$(SHIM_LAYERS),$(wildcard shim/$(l)/*.c))
SHIM_OBJ := $(SHIM_SRC:shim/%.c=$(BUILD)/shim/%.o)
ifeq ($(ARCH),x86_64)
SHIM_OBJ += $(BUILD)/shim/dlsym_x86_64.o
endif
SHIM_HDR := $(wildcard shim/*.h shim/*.def)

.PHONY: all deps demo test install clean
all: $(BUILD)/libcapguard.so $(BUILD)/capguard $(BUILD)/capguard-report $(BUILD)/gen_docs

$(BUILD)/.deps: scripts/deps.sh
	@scripts/deps.sh build
	@mkdir -p $(BUILD) && touch $@

$(BUILD)/shim/%.o: shim/%.c $(SHIM_HDR) $(BUILD)/.deps
	@mkdir -p $(dir $@)
	$(CC) $(SHIM_CFLAGS) -iquote shim -c $< -o $@

# What the dlsym trampoline and sigaction reach is never instrumented: libasan's and libtsan's
# start-up call dlsym (our trampoline, then cg_dlsym_redirect) and sigaction (ours) before their
# runtime is ready.
$(BUILD)/shim/base/real.o $(BUILD)/shim/pipeline/redirect.o $(BUILD)/shim/pipeline/signals.o: SHIM_CFLAGS += $(if $(SAN),-fno-sanitize=all)

$(BUILD)/shim/%.o: shim/%.S
	@mkdir -p $(dir $@)
	$(CC) -c $< -o $@

$(BUILD)/exports.map: shim/exports.map.in shim/hooks.def
	@mkdir -p $(BUILD)
	$(CC) -E -P -x c -iquote shim $< -o $@

$(BUILD)/libcapguard.so: $(SHIM_OBJ) $(BUILD)/exports.map
	$(CC) -shared -Wl,-soname,libcapguard.so -Wl,--version-script=$(BUILD)/exports.map \
	  -Wl,-z,defs $(SAN) -o $@ $(SHIM_OBJ) -ldl -lpthread

$(BUILD)/capguard: tools/capguard.c tools/doctor.c tools/launcher.h $(SHIM_HDR)
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS_COMMON) -DCG_VERSION=\"$(VERSION)\" -iquote shim -iquote tools -o $@ tools/capguard.c tools/doctor.c -ldl

# capguard report (tools/report_*.c, docs/report.md): merges the ranks' JSONL logs; reads them
# with jansson (libjansson-dev, scripts/deps.sh).
REPORT_SRC := $(wildcard tools/report_*.c)
$(BUILD)/capguard-report: $(REPORT_SRC) tools/report.h | $(BUILD)/.deps
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS_COMMON) -iquote tools -o $@ $(REPORT_SRC) -ljansson -lm

include tests/fakes/fakes.mk
include tests/scenarios/scenarios.mk
include tests/fault/fault.mk
include tests/fuzz/fuzz.mk
include tests/unit/unit.mk
include bench/bench.mk

$(SCEN_BIN): $(BUILD)/.deps | $(FAKES_OUT)/libcudart.so $(FAKES_OUT)/libnccl.so

demo: all fakes scenarios
	@tests/demo.sh

test: all fakes scenarios fault unit $(BUILD)/fakes/selftest $(BUILD)/fakes/nccl_selftest
	@scripts/deps.sh test
	@tests/run.sh

# Everything built with ASan+UBSan (build/asan) and with TSan (build/tsan), the CPU suite run on
# each, the reports counted (tests/sanitize/run.sh); fails on a report or a failed suite.
.PHONY: sanitize
sanitize:
	@MAKE="$(MAKE)" tests/sanitize/run.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BUILD)/libcapguard.so $(DESTDIR)$(PREFIX)/lib/libcapguard.so
	install -m 0755 $(BUILD)/capguard $(DESTDIR)$(PREFIX)/bin/capguard
	install -m 0755 $(BUILD)/capguard-report $(DESTDIR)$(PREFIX)/bin/capguard-report

clean:
	rm -rf $(BUILD)

# The generated docs (docs/hooks.md, the README's tables) from the shim's tables; a test fails
# when they are stale (tests/docs/current.sh).
.PHONY: docs
$(BUILD)/gen_docs: tools/gen_docs.c $(SHIM_HDR)
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS_COMMON) -iquote shim -o $@ $<
docs: $(BUILD)/gen_docs
	scripts/docs.sh $(BUILD)/gen_docs

