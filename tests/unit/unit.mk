# Unit programs linked against the shim's objects (not preloaded), so that they can call its
# internal functions: tests/unit/*.c, each with the test doubles it names.
UNIT_DIR := $(BUILD)/unit
.PHONY: unit
unit: $(UNIT_DIR)/observer $(UNIT_DIR)/watchdog $(UNIT_DIR)/fingerprint_mpi $(UNIT_DIR)/init_in_capture

$(UNIT_DIR)/block/libcuda.so.1: tests/unit/block_driver.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) -fvisibility=hidden -shared -Wl,-soname,libcuda.so.1 -o $@ $< -lpthread

$(UNIT_DIR)/observer: tests/unit/observer.c $(SHIM_OBJ) $(UNIT_DIR)/block/libcuda.so.1
	$(CC) $(CFLAGS_COMMON) -D_GNU_SOURCE -iquote shim -o $@ $< $(SHIM_OBJ) $(UNIT_DIR)/block/libcuda.so.1 \
	  -Wl,-rpath,'$$ORIGIN/block' -ldl -lpthread

$(UNIT_DIR)/watchdog: tests/unit/watchdog.c tests/scenarios/logscan.h $(UNIT_DIR)/block/libcuda.so.1
	$(CC) $(CFLAGS_COMMON) -Itests/scenarios -o $@ $< $(UNIT_DIR)/block/libcuda.so.1 -Wl,-rpath,'$$ORIGIN/block' -lpthread

$(UNIT_DIR)/fingerprint_mpi: tests/unit/fingerprint_mpi.c $(SCEN_CUDA_LIB)/libnccl.so | $(FAKES_OUT)/libcudart.so
	@mkdir -p $(UNIT_DIR)
	$(CC) $(SCEN_CFLAGS) -Wno-strict-prototypes $(SCEN_MPI_CFLAGS) -o $@ $< -L$(SCEN_CUDA_LIB) -lnccl -lcudart -lpthread $(SCEN_MPI_LIBS)

$(UNIT_DIR)/init_in_capture: tests/unit/init_in_capture.c $(SCEN_CUDA_LIB)/libnccl.so | $(FAKES_OUT)/libcudart.so
	@mkdir -p $(UNIT_DIR)
	$(CC) $(SCEN_CFLAGS) -o $@ $< -L$(SCEN_CUDA_LIB) -lnccl -lcudart
