/* fakecuda.h - the fake-only interface of the test double libcuda.so.1 (tests/fakes), for tests.
 * Real CUDA has none of this: programs that must also run on a GPU look it up with dlsym and
 * skip what it checks when it is absent. */
#ifndef FAKECUDA_H
#define FAKECUDA_H

#define FAKECUDA_MAX_LOOKUPS 256

/* One cuGetProcAddress request as the fake driver saw it. */
struct fakecuda_lookup {
	char name[48];
	int version;
	unsigned long long flags;
	int abi;   /* 4: cuGetProcAddress (4 arguments), 5: cuGetProcAddress_v2 (symbolStatus) */
	int found; /* 1 if a function was handed out */
};

struct fakecuda_stats {
	unsigned long procaddr_calls_v1; /* calls of the 4-argument cuGetProcAddress */
	unsigned long procaddr_calls_v2; /* calls of the 5-argument cuGetProcAddress_v2 */
	unsigned int nlookups;           /* entries filled in lookups[] (the first ones) */
	struct fakecuda_lookup lookups[FAKECUDA_MAX_LOOKUPS];
};

/* Copies the counters (thread-safe). Exported by the fake libcuda.so.1 only. */
void fakecuda_stats(struct fakecuda_stats *out);

#endif
