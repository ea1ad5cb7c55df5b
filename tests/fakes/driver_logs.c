/* driver_logs.c - fake libcuda: the error log (cuda.h "Error Log Management", CUDA 12.9+), as
 * measured on an H200 (driver 580, docs/gpu-runs/2026-12-02-h200-issue14.md):
 *   - a failing entry point logs two messages, both at CU_LOG_LEVEL_ERROR: the reason ("API call
 *     conflicts with a stream capture sequence initiated from the calling thread"), then
 *     "Returning 900 (CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED) from cuCtxSetLimit";
 *   - each registered callback gets each message, synchronously, in the failing thread, the
 *     message without the "[time][tid][CUDA][E] " prefix the buffer and CUDA_LOG_FILE have;
 *   - the buffer (cuLogsDumpToMemory) keeps the prefixed lines, newline-separated.
 * The entry point named is the outermost frame of this library on the failing thread's stack
 * (this library is built without sibling calls or split functions so that the frame is there).
 * FAKECUDA_NO_LOGS=1 makes cuLogsRegisterCallback fail (CUDA_ERROR_NOT_SUPPORTED), as a driver
 * without the feature would. */
#define _GNU_SOURCE
#include "driver.h"

#include <dlfcn.h>
#include <execinfo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define FK_LOG_CALLBACKS 8
#define FK_LOG_BYTES 25600 /* the real buffer's maximum (cuda.h, cuLogsDumpToMemory) */

struct CUlogsCallbackEntry_st {
	CUlogsCallback fn;
	void *data;
	int used;
};

static pthread_mutex_t fk_log_mu = PTHREAD_MUTEX_INITIALIZER;
static struct CUlogsCallbackEntry_st fk_log_cbs[FK_LOG_CALLBACKS];
static char fk_log_buf[FK_LOG_BYTES];
static size_t fk_log_len;   /* bytes in fk_log_buf */
static unsigned fk_log_seq; /* lines ever logged: a CUlogIterator */

/* The exported entry point the failing thread called: the outermost frame in this library. */
static const char *fk_log_entry(void)
{
	void *pcs[64];
	int n = backtrace(pcs, 64);
	Dl_info self, at;
	const char *entry = "unknown";

	if (!dladdr((void *)fk_log_entry, &self))
		return entry;
	for (int i = 0; i < n; i++)
		if (dladdr(pcs[i], &at) && at.dli_fbase == self.dli_fbase && at.dli_sname)
			entry = at.dli_sname;
	return entry;
}

static const char *fk_log_code_name(CUresult code)
{
	const char *name = NULL;

	return cuGetErrorName(code, &name) == CUDA_SUCCESS && name ? name : "CUDA_ERROR_UNKNOWN";
}

/* Append one prefixed line to the buffer (the oldest lines dropped when full). */
static void fk_log_keep(const char *msg)
{
	char line[512];
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	int n = snprintf(line, sizeof(line), "[%02d:%02d:%02d.%03ld][%lu][CUDA][E] %s\n", tm.tm_hour, tm.tm_min,
			 tm.tm_sec, ts.tv_nsec / 1000000, (unsigned long)pthread_self(), msg);
	if (n <= 0 || (size_t)n >= sizeof(line))
		return;
	while (fk_log_len + (size_t)n > FK_LOG_BYTES) {
		char *nl = memchr(fk_log_buf, '\n', fk_log_len);
		size_t drop = nl ? (size_t)(nl - fk_log_buf) + 1 : fk_log_len;
		memmove(fk_log_buf, fk_log_buf + drop, fk_log_len - drop);
		fk_log_len -= drop;
	}
	memcpy(fk_log_buf + fk_log_len, line, (size_t)n);
	fk_log_len += (size_t)n;
	fk_log_seq++;
}

static void fk_log_one(const char *msg)
{
	struct CUlogsCallbackEntry_st cbs[FK_LOG_CALLBACKS];
	char copy[512];

	pthread_mutex_lock(&fk_log_mu);
	fk_log_keep(msg);
	memcpy(cbs, fk_log_cbs, sizeof(cbs));
	pthread_mutex_unlock(&fk_log_mu);
	for (int i = 0; i < FK_LOG_CALLBACKS; i++)
		if (cbs[i].used) {
			snprintf(copy, sizeof(copy), "%s", msg); /* the callback may write into it */
			cbs[i].fn(cbs[i].data, CU_LOG_LEVEL_ERROR, copy, strlen(copy));
		}
}

void fk_log_error(CUresult code, const char *reason)
{
	char ret[256];

	if (code == CUDA_SUCCESS)
		return;
	snprintf(ret, sizeof(ret), "Returning %d (%s) from %s", (int)code, fk_log_code_name(code), fk_log_entry());
	fk_log_one(reason);
	fk_log_one(ret);
}

FK_EXPORT CUresult cuLogsRegisterCallback(CUlogsCallback fn, void *data, CUlogsCallbackHandle *out)
{
	const char *off = getenv("FAKECUDA_NO_LOGS");
	CUresult r = CUDA_ERROR_INVALID_VALUE;

	if (off && strcmp(off, "1") == 0)
		return CUDA_ERROR_NOT_SUPPORTED;
	if (!fn)
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&fk_log_mu);
	for (int i = 0; i < FK_LOG_CALLBACKS; i++)
		if (!fk_log_cbs[i].used) {
			fk_log_cbs[i] = (struct CUlogsCallbackEntry_st){fn, data, 1};
			if (out)
				*out = &fk_log_cbs[i];
			r = CUDA_SUCCESS;
			break;
		}
	pthread_mutex_unlock(&fk_log_mu);
	return r;
}

FK_EXPORT CUresult cuLogsUnregisterCallback(CUlogsCallbackHandle h)
{
	CUresult r = CUDA_ERROR_INVALID_VALUE;

	pthread_mutex_lock(&fk_log_mu);
	if (h && h >= fk_log_cbs && h < fk_log_cbs + FK_LOG_CALLBACKS && h->used) {
		h->used = 0;
		r = CUDA_SUCCESS;
	}
	pthread_mutex_unlock(&fk_log_mu);
	return r;
}

FK_EXPORT CUresult cuLogsCurrent(CUlogIterator *it, unsigned int flags)
{
	if (!it || flags)
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&fk_log_mu);
	*it = fk_log_seq;
	pthread_mutex_unlock(&fk_log_mu);
	return CUDA_SUCCESS;
}

/* The lines from *it on (all with it NULL), the most recent kept when they do not fit. */
FK_EXPORT CUresult cuLogsDumpToMemory(CUlogIterator *it, char *buf, size_t *size, unsigned int flags)
{
	if (!buf || !size || flags)
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&fk_log_mu);
	unsigned lines = 0, want, k = 0;
	for (size_t i = 0; i < fk_log_len; i++)
		lines += fk_log_buf[i] == '\n';
	want = it && fk_log_seq - *it < lines ? fk_log_seq - *it : lines;
	size_t start = fk_log_len;
	for (; start > 0 && k < want; k++) { /* back to the start of the line before */
		start--;
		while (start > 0 && fk_log_buf[start - 1] != '\n')
			start--;
	}
	const char *from = fk_log_buf + start;
	size_t n = fk_log_len - start;
	while (n && n + 1 > *size) { /* drop the oldest lines that do not fit */
		const char *nl = memchr(from, '\n', n);
		size_t drop = nl ? (size_t)(nl - from) + 1 : n;
		from += drop;
		n -= drop;
	}
	if (n == 0 && want) { /* not even the newest line fits */
		pthread_mutex_unlock(&fk_log_mu);
		*size = 0;
		return CUDA_ERROR_INVALID_VALUE;
	}
	if (*size == 0) {
		pthread_mutex_unlock(&fk_log_mu);
		return CUDA_ERROR_INVALID_VALUE;
	}
	memcpy(buf, from, n);
	buf[n] = 0;
	*size = n;
	if (it)
		*it = fk_log_seq;
	pthread_mutex_unlock(&fk_log_mu);
	return CUDA_SUCCESS;
}
