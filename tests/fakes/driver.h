/* driver.h - internal state shared by the fake libcuda.so.1 (driver_*.c).
 * Includes cuda.h the way the real driver is built (__CUDA_API_VERSION_INTERNAL), so every
 * exported name (v1, _v2, _ptsz, _ptds) is declared with its exact cuda.h signature.
 * Nothing here is exported; only FK_EXPORT functions leave the library.
 * Never hold fk_mu while running user code (host functions) or while blocking outside fk_cv. */
#ifndef FAKECUDA_DRIVER_H
#define FAKECUDA_DRIVER_H

#define __CUDA_API_VERSION_INTERNAL 1
#include <cuda.h>
#include <pthread.h>
#include <stdint.h>
#include <stddef.h>

#define FK_EXPORT __attribute__((visibility("default")))
#define FK_HIDDEN __attribute__((visibility("hidden")))

/* A capture may span at most this many streams (origin + joined): a fake limit, not CUDA's. */
#define FK_MAX_CAP_STREAMS 16

#define FK_MAX_DEVICES 8 /* FAKECUDA_DEVICES at most */

#define FK_STREAM_MAGIC 0x53545245u
#define FK_EVENT_MAGIC  0x45564e54u
#define FK_GRAPH_MAGIC  0x47525048u
#define FK_EXEC_MAGIC   0x47455843u

enum fk_op_kind { FK_OP_NOP, FK_OP_HOST, FK_OP_MEMSET, FK_OP_MEMCPY, FK_OP_WAIT, FK_OP_FREE };

/* One unit of stream work; also a graph node (graphs hold copies with next == NULL). */
struct fk_op {
	enum fk_op_kind kind;
	CUhostFn fn;
	void *ud;
	void *dst;
	const void *src;
	size_t n;
	unsigned char val;
	struct CUstream_st *wait_stream; /* FK_OP_WAIT: wait until wait_stream->done >= wait_ticket */
	uint64_t wait_ticket;
	struct fk_op *next;
};

enum fk_stream_kind { FK_STREAM_USER, FK_STREAM_LEGACY, FK_STREAM_PER_THREAD };

struct fk_capture;

struct CUstream_st {
	uint32_t magic;
	enum fk_stream_kind kind;
	unsigned int flags;          /* CU_STREAM_DEFAULT (blocking) or CU_STREAM_NON_BLOCKING */
	int device;                  /* a user stream's: the current device when it was made */
	struct fk_op *head, *tail;   /* pending work, FIFO */
	uint64_t enq, done;          /* ops enqueued / completed: tickets */
	int worker_running;
	int destroyed;
	struct fk_capture *cap;      /* capture this stream belongs to (origin or joined) */
	int cap_idx;                 /* its index in cap->streams */
	uint64_t vc[FK_MAX_CAP_STREAMS]; /* capture work seen from each capture stream */
	struct CUstream_st *next_all;
};

struct CUevent_st {
	uint32_t magic;
	unsigned int flags;
	struct CUstream_st *stream;  /* last record outside capture, NULL if none */
	uint64_t ticket;
	struct fk_capture *cap;      /* last record inside a capture (NULL if last was outside) */
	int cap_idx;
	uint64_t vc[FK_MAX_CAP_STREAMS];
};

struct CUgraph_st {
	uint32_t magic;
	struct fk_op *nodes;
	size_t n, cap;
};

struct CUgraphExec_st {
	uint32_t magic;
	struct fk_op *nodes;
	size_t n;
};

struct fk_capture {
	uint64_t id;
	CUstreamCaptureMode mode;
	pthread_t owner;
	int invalidated;
	int ended;
	int user_graph;              /* begun with cuStreamBeginCaptureToGraph */
	struct CUgraph_st *graph;
	struct CUstream_st *streams[FK_MAX_CAP_STREAMS]; /* [0] is the origin */
	int nstreams;
	struct fk_capture *next;
};

/* driver_stream.c: the one lock, the one condition variable, streams and their workers */
FK_HIDDEN int fk_device_count(void);   /* FAKECUDA_DEVICES */
FK_HIDDEN int fk_current_device(void); /* the calling thread's current context's (0: none) */
FK_HIDDEN extern pthread_mutex_t fk_mu;
FK_HIDDEN extern pthread_cond_t fk_cv;
FK_HIDDEN CUresult fk_stream_get(CUstream h, int ptds, struct CUstream_st **out);
FK_HIDDEN int fk_is_blocking(const struct CUstream_st *s);
FK_HIDDEN int fk_is_legacy(const struct CUstream_st *s);
FK_HIDDEN CUresult fk_submit(struct CUstream_st *s, const struct fk_op *op);
FK_HIDDEN CUresult fk_submit_on(CUstream h, int ptds, const struct fk_op *op);
FK_HIDDEN void fk_wait_ticket(struct CUstream_st *s, uint64_t ticket);
FK_HIDDEN CUresult fk_sync_legacy_op(const struct fk_op *op, int ptds);
FK_HIDDEN void fk_wait_all(void);
FK_HIDDEN uint64_t fk_stream_fence(struct CUstream_st *s);

/* driver_capture.c: legality rules (all called with fk_mu held) */
FK_HIDDEN extern struct fk_capture *fk_captures;
FK_HIDDEN CUresult fk_rule_unsafe(void);
FK_HIDDEN CUresult fk_rule_legacy(void);
/* The error log (driver_logs.c): a failing entry point's reason, then "Returning N (NAME) from ENTRY". */
FK_HIDDEN void fk_log_error(CUresult code, const char *reason);
FK_HIDDEN int fk_blocking_capture_active(void);
FK_HIDDEN void fk_invalidate(struct fk_capture *c);
FK_HIDDEN CUresult fk_capture_record(struct CUstream_st *s, const struct fk_op *op);
FK_HIDDEN CUresult fk_graph_append(struct CUgraph_st *g, const struct fk_op *op);

/* driver_memory.c */
FK_HIDDEN void fk_mem_free_now(void *p);

#endif
