# make bench: the benchmark table (bench/run.sh). Builds the null driver and NCCL, the
# pass-through wrapper and the benchmark program into $(BUILD)/bench.
BENCH_OUT := $(BUILD)/bench
BENCH_CFLAGS := $(CFLAGS_COMMON) -Wno-missing-prototypes
BENCH_MPI_CFLAGS ?= $(shell $(MPICC) --showme:compile)
BENCH_MPI_LIBS ?= $(shell $(MPICC) --showme:link)

$(BENCH_OUT)/null/libcuda.so.1: bench/null_libs.c
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -DNULL_CUDA -fvisibility=hidden -shared -Wl,-soname,libcuda.so.1 -o $@ $<
	ln -sf libcuda.so.1 $(dir $@)libcuda.so

$(BENCH_OUT)/null/libnccl.so.2: bench/null_libs.c
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -DNULL_NCCL -fvisibility=hidden -shared -Wl,-soname,libnccl.so.2 -o $@ $<
	ln -sf libnccl.so.2 $(dir $@)libnccl.so

$(BENCH_OUT)/libpassthrough.so: bench/passthrough.c
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -fvisibility=hidden -shared -o $@ $< -ldl

$(BENCH_OUT)/bench: bench/bench.c $(BENCH_OUT)/null/libcuda.so.1 $(BENCH_OUT)/null/libnccl.so.2
	$(CC) $(BENCH_CFLAGS) $(BENCH_MPI_CFLAGS) -o $@ $< -L$(BENCH_OUT)/null -lcuda -lnccl \
	  -Wl,-rpath,'$$ORIGIN/null' -lpthread $(BENCH_MPI_LIBS)

.PHONY: bench
bench: all $(BENCH_OUT)/bench $(BENCH_OUT)/libpassthrough.so
	@scripts/deps.sh bench
	@BUILD=$(BUILD) bench/run.sh
