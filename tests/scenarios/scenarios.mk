# Scenario programs, built against the test doubles (tests/fakes). tests/gpu/run.sh builds the
# same sources against real CUDA. SCEN_CUDA_LIB selects the CUDA library directory to link.
SCEN_CUDA_LIB ?= $(BUILD)/fakes
SCEN_DIR ?= $(BUILD)/scenarios
SCEN_CFLAGS := $(CFLAGS_COMMON) -I$(CUDA_HOME)/include
SCEN_RT := matrix sync_inside alloc_inside threads dlsym_cases lifecycle recorder unhooked exit_after devices
SCEN_BIN := $(SCEN_RT:%=$(SCEN_DIR)/%) $(SCEN_DIR)/driver_only $(SCEN_DIR)/nextlib.so $(SCEN_DIR)/early.so \
  $(SCEN_DIR)/logs_probe

.PHONY: scenarios
scenarios: $(SCEN_BIN)

$(SCEN_RT:%=$(SCEN_DIR)/%): $(SCEN_DIR)/%: tests/scenarios/%.c tests/scenarios/scen.h
	@mkdir -p $(SCEN_DIR)
	$(CC) $(SCEN_CFLAGS) -o $@ $< -L$(SCEN_CUDA_LIB) -lcudart -ldl -lpthread

$(SCEN_DIR)/driver_only: tests/scenarios/driver_only.c
	@mkdir -p $(SCEN_DIR)
	$(CC) $(SCEN_CFLAGS) -o $@ $< -ldl

$(SCEN_DIR)/nextlib.so: tests/scenarios/nextlib.c
	@mkdir -p $(SCEN_DIR)
	$(CC) $(SCEN_CFLAGS) -shared -o $@ $< -ldl

$(SCEN_DIR)/early.so: tests/scenarios/early.c
	@mkdir -p $(SCEN_DIR)
	$(CC) $(SCEN_CFLAGS) -shared -o $@ $< -L$(SCEN_CUDA_LIB) -lcudart

# Two-rank scenarios under real Open MPI: the seed (per-call allreduce wrapper, IPC or NCCL path)
# and the memo's must-never-break cases. MPI flags come from the MPI compiler wrapper; seed also
# needs libnccl from SCEN_CUDA_LIB (the fake one in build/fakes, the real one on a GPU machine).
MPICC ?= mpicc
SCEN_MPI_CFLAGS ?= $(shell $(MPICC) --showme:compile)
SCEN_MPI_LIBS ?= $(shell $(MPICC) --showme:link)
SCEN_BIN += $(SCEN_DIR)/seed $(SCEN_DIR)/allreduce_graph $(SCEN_DIR)/lazy_init $(SCEN_DIR)/p2p $(SCEN_DIR)/mnnvl $(SCEN_DIR)/memo_cases $(SCEN_DIR)/nccl_window $(SCEN_DIR)/unknown_mpi
scenarios: $(SCEN_DIR)/seed $(SCEN_DIR)/allreduce_graph $(SCEN_DIR)/lazy_init $(SCEN_DIR)/p2p $(SCEN_DIR)/mnnvl $(SCEN_DIR)/memo_cases $(SCEN_DIR)/nccl_window $(SCEN_DIR)/unknown_mpi

$(SCEN_DIR)/seed: tests/scenarios/seed.c tests/scenarios/scen.h $(SCEN_CUDA_LIB)/libnccl.so
	@mkdir -p $(SCEN_DIR)
	$(CC) $(SCEN_CFLAGS) $(SCEN_MPI_CFLAGS) -o $@ $< -L$(SCEN_CUDA_LIB) -lnccl -lcudart \
	  -lpthread $(SCEN_MPI_LIBS)

$(SCEN_DIR)/allreduce_graph: tests/scenarios/allreduce_graph.c tests/scenarios/scen.h $(SCEN_CUDA_LIB)/libnccl.so
	@mkdir -p $(SCEN_DIR)
	$(CC) $(SCEN_CFLAGS) $(SCEN_MPI_CFLAGS) -o $@ $< -L$(SCEN_CUDA_LIB) -lnccl -lcudart $(SCEN_MPI_LIBS)

$(SCEN_DIR)/lazy_init: tests/scenarios/lazy_init.c tests/scenarios/scen.h $(SCEN_CUDA_LIB)/libnccl.so
	@mkdir -p $(SCEN_DIR)
	$(CC) $(SCEN_CFLAGS) $(SCEN_MPI_CFLAGS) -o $@ $< -L$(SCEN_CUDA_LIB) -lnccl -lcudart $(SCEN_MPI_LIBS)

$(SCEN_DIR)/p2p: tests/scenarios/p2p.c tests/scenarios/scen.h
	@mkdir -p $(SCEN_DIR)
	$(CC) $(SCEN_CFLAGS) $(SCEN_MPI_CFLAGS) -o $@ $< -L$(SCEN_CUDA_LIB) -lcudart $(SCEN_MPI_LIBS)

$(SCEN_DIR)/mnnvl: tests/scenarios/mnnvl.c tests/scenarios/scen.h
	@mkdir -p $(SCEN_DIR)
	$(CC) $(SCEN_CFLAGS) $(SCEN_MPI_CFLAGS) -o $@ $< -L$(SCEN_CUDA_LIB) -lcuda -lcudart $(SCEN_MPI_LIBS)

$(SCEN_DIR)/memo_cases: tests/scenarios/memo_cases.c
	@mkdir -p $(SCEN_DIR)
	$(CC) $(SCEN_CFLAGS) $(SCEN_MPI_CFLAGS) -o $@ $< $(SCEN_MPI_LIBS)

$(SCEN_DIR)/nccl_window: tests/scenarios/nccl_window.c tests/scenarios/scen.h $(SCEN_CUDA_LIB)/libnccl.so
	@mkdir -p $(SCEN_DIR)
	$(CC) $(SCEN_CFLAGS) -o $@ $< -L$(SCEN_CUDA_LIB) -lnccl -lcudart

# An MPI of an ABI capguard does not know (int handles, no known symbols).
$(BUILD)/fakes/unknown-mpi/libmpi.so.12: tests/fakes/mpi_unknown.c
	@mkdir -p $(dir $@)
	$(CC) $(SCEN_CFLAGS) -fvisibility=hidden -shared -Wl,-soname,libmpi.so.12 -o $@ $<

$(SCEN_DIR)/unknown_mpi: tests/scenarios/unknown_mpi.c tests/scenarios/scen.h $(BUILD)/fakes/unknown-mpi/libmpi.so.12
	@mkdir -p $(SCEN_DIR)
	$(CC) $(SCEN_CFLAGS) -Wno-missing-prototypes -o $@ $< -L$(SCEN_CUDA_LIB) -lcudart $(BUILD)/fakes/unknown-mpi/libmpi.so.12 \
	  -Wl,-rpath,$(abspath $(BUILD))/fakes/unknown-mpi

# The driver's error log, as a program sees it (cuLogsRegisterCallback): driver and runtime.
$(SCEN_DIR)/logs_probe: tests/scenarios/logs_probe.c
	@mkdir -p $(SCEN_DIR)
	$(CC) $(SCEN_CFLAGS) -Wno-missing-prototypes -o $@ $< -L$(SCEN_CUDA_LIB) -lcudart -lcuda -lpthread
