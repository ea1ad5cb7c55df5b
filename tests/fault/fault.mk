# Programs of the fault-injection suite (tests/fault): every tests/fault/NAME.c is a program
# build/fault/NAME linked against the CUDA test doubles; NAME_lib.c is a shared library
# build/fault/NAME_lib.so (constructors that call CUDA, a second preload, ...).
FAULT_DIR := $(BUILD)/fault
FAULT_LIB_SRC := $(wildcard tests/fault/*_lib.c)
FAULT_PROG_SRC := $(filter-out $(FAULT_LIB_SRC) $(wildcard tests/fault/*_mpi.c),$(wildcard tests/fault/*.c))
FAULT_BIN := $(FAULT_PROG_SRC:tests/fault/%.c=$(FAULT_DIR)/%) $(FAULT_LIB_SRC:tests/fault/%.c=$(FAULT_DIR)/%.so)

.PHONY: fault
fault: $(FAULT_BIN)

$(FAULT_DIR)/%: tests/fault/%.c tests/scenarios/scen.h $(FAKES_OUT)/libcudart.so
	@mkdir -p $(FAULT_DIR)
	$(CC) $(SCEN_CFLAGS) -Itests/scenarios -o $@ $< -L$(SCEN_CUDA_LIB) -lcudart -ldl -lpthread

$(FAULT_DIR)/%_lib.so: tests/fault/%_lib.c $(FAKES_OUT)/libcudart.so
	@mkdir -p $(FAULT_DIR)
	$(CC) $(SCEN_CFLAGS) -Itests/scenarios -shared -o $@ $< -L$(SCEN_CUDA_LIB) -lcudart -ldl -lpthread

# NAME_mpi.c: a program that also links MPI (run under mpirun by the suites).
FAULT_MPI_SRC := $(wildcard tests/fault/*_mpi.c)
FAULT_BIN += $(FAULT_MPI_SRC:tests/fault/%.c=$(FAULT_DIR)/%)
fault: $(FAULT_MPI_SRC:tests/fault/%.c=$(FAULT_DIR)/%)

$(FAULT_DIR)/%_mpi: tests/fault/%_mpi.c $(FAKES_OUT)/libcudart.so
	@mkdir -p $(FAULT_DIR)
	$(CC) $(SCEN_CFLAGS) $(SCEN_MPI_CFLAGS) -Itests/scenarios -o $@ $< -L$(SCEN_CUDA_LIB) -lcudart -lpthread $(SCEN_MPI_LIBS)
