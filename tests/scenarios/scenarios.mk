# Scenario programs, built against the test doubles (tests/fakes). tests/gpu/run.sh builds the
# same sources against real CUDA. SCEN_CUDA_LIB selects the CUDA library directory to link.
SCEN_CUDA_LIB ?= $(BUILD)/fakes
SCEN_DIR ?= $(BUILD)/scenarios
SCEN_CFLAGS := $(CFLAGS_COMMON) -I$(CUDA_HOME)/include
SCEN_RT := matrix sync_inside alloc_inside threads dlsym_cases lifecycle
SCEN_BIN := $(SCEN_RT:%=$(SCEN_DIR)/%) $(SCEN_DIR)/driver_only $(SCEN_DIR)/nextlib.so $(SCEN_DIR)/early.so

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
