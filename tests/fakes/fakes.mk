# tests/fakes/fakes.mk - make fragment (included by the top-level Makefile, run at the repo root)
# that builds the test doubles of the CUDA driver (libcuda.so.1) and runtime (libcudart.so.13)
# into $(BUILD)/fakes, and their self-test. Expects CUDA_HOME, BUILD and CC from the includer.

FAKES_DIR := tests/fakes
FAKES_OUT := $(BUILD)/fakes
FAKE_CFLAGS ?= -std=gnu11 -O2 -g -fPIC -fvisibility=hidden -pthread \
	-Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla -Werror
FAKE_CFLAGS += $(SAN)
FAKE_CPPFLAGS := -I$(CUDA_HOME)/include -I$(FAKES_DIR)

FAKE_DRIVER_SRCS := $(wildcard $(FAKES_DIR)/driver_*.c)
FAKE_RUNTIME_SRCS := $(wildcard $(FAKES_DIR)/runtime_*.c)
FAKE_DRIVER_OBJS := $(patsubst $(FAKES_DIR)/%.c,$(FAKES_OUT)/obj/%.o,$(FAKE_DRIVER_SRCS))
FAKE_RUNTIME_OBJS := $(patsubst $(FAKES_DIR)/%.c,$(FAKES_OUT)/obj/%.o,$(FAKE_RUNTIME_SRCS))

.PHONY: fakes fakes-selftest
fakes: $(FAKES_OUT)/libcuda.so $(FAKES_OUT)/libcudart.so $(FAKES_OUT)/libnccl.so

$(FAKES_OUT)/obj/%.o: $(FAKES_DIR)/%.c
	@mkdir -p $(dir $@)
	$(CC) $(FAKE_CPPFLAGS) $(FAKE_CFLAGS) -MMD -MP -c -o $@ $<

# The error log names the failing entry point from the stack (driver_logs.c): every exported
# function keeps its frame, in one piece.
$(FAKE_DRIVER_OBJS): FAKE_CFLAGS += -fno-optimize-sibling-calls -fno-reorder-blocks-and-partition

# -z defs: the fake runtime cannot reference a driver symbol directly (it has no libcuda to
# link against); it reaches the driver only through dlopen + cuGetProcAddress.
$(FAKES_OUT)/libcuda.so.1: $(FAKE_DRIVER_OBJS)
	$(CC) -shared -Wl,-soname,libcuda.so.1 -Wl,-z,defs $(SAN) -o $@ $^ -lpthread -ldl

$(FAKES_OUT)/libcudart.so.13: $(FAKE_RUNTIME_OBJS) $(FAKES_DIR)/libcudart.map
	$(CC) -shared -Wl,-soname,libcudart.so.13 -Wl,-z,defs $(SAN) \
		-Wl,--version-script=$(FAKES_DIR)/libcudart.map -Wl,-rpath,'$$ORIGIN' \
		-o $@ $(FAKE_RUNTIME_OBJS) -lpthread -ldl

$(FAKES_OUT)/libcuda.so: $(FAKES_OUT)/libcuda.so.1
	ln -sf libcuda.so.1 $@

$(FAKES_OUT)/libcudart.so: $(FAKES_OUT)/libcudart.so.13
	ln -sf libcudart.so.13 $@

$(FAKES_OUT)/selftest: $(FAKES_DIR)/selftest.c $(FAKES_DIR)/fakecuda.h fakes
	$(CC) $(FAKE_CPPFLAGS) $(filter-out -fvisibility=hidden,$(FAKE_CFLAGS)) -o $@ $< \
		-L$(FAKES_OUT) -lcudart -ldl -lpthread -Wl,-rpath,'$$ORIGIN'

fakes-selftest: $(FAKES_OUT)/selftest
	$(FAKES_OUT)/selftest

-include $(wildcard $(FAKES_OUT)/obj/*.d)

# ---- fake NCCL: $(BUILD)/fakes/libnccl.so.2 (+ libnccl.so) and its self-test ----
# Like pip NCCL it links no libcudart and no libcuda: it reaches the driver only through
# dlopen("libcuda.so.1") + cuGetProcAddress_v2 (-z defs proves it). ncclX are weak aliases
# of pncclX; nccl.map exports both and nothing else.
FAKE_NCCL_SRCS := $(filter-out $(FAKES_DIR)/nccl_selftest.c,$(wildcard $(FAKES_DIR)/nccl_*.c))
FAKE_NCCL_OBJS := $(patsubst $(FAKES_DIR)/%.c,$(FAKES_OUT)/obj/%.o,$(FAKE_NCCL_SRCS))

$(FAKES_OUT)/libnccl.so.2: $(FAKE_NCCL_OBJS) $(FAKES_DIR)/nccl.map
	$(CC) -shared -Wl,-soname,libnccl.so.2 -Wl,-z,defs $(SAN) \
		-Wl,--version-script=$(FAKES_DIR)/nccl.map -Wl,-rpath,'$$ORIGIN' \
		-o $@ $(FAKE_NCCL_OBJS) -lpthread -ldl

$(FAKES_OUT)/libnccl.so: $(FAKES_OUT)/libnccl.so.2
	ln -sf libnccl.so.2 $@

$(FAKES_OUT)/nccl_selftest: $(FAKES_DIR)/nccl_selftest.c fakes
	$(CC) $(FAKE_CPPFLAGS) $(filter-out -fvisibility=hidden,$(FAKE_CFLAGS)) -o $@ $< \
		-L$(FAKES_OUT) -lnccl -lcudart -lpthread -ldl -Wl,-rpath,'$$ORIGIN'
