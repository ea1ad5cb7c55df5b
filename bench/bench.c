/* capguard's benchmark program: `bench CASE N` runs one case N times and prints
 *   CASE <ns per call>
 * (for the thread cases: wall time over all threads' calls). bench/run.sh runs it in every column
 * (bare, pass-through, capguard off, capguard on), interleaved and repeated, and under callgrind
 * for instructions; the loop measured is bench_loop, which callgrind collects alone.
 * It calls the null driver and NCCL (null_libs.c) and, for the MPI cases, the real MPI. It never
 * decides pass or fail. */
#include <mpi.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int cuStreamQuery(void *s);
int cuStreamSynchronize(void *s);
int cuStreamBeginCapture_v2(void *s, int mode);
int cuStreamEndCapture(void *s, void **g);
int cuEventRecord(void *e, void *s);
int cuGraphLaunch(void *e, void *s);
int cuMemAlloc_v2(unsigned long long *p, size_t n);
int ncclCommRegister(void *comm, void *buff, size_t size, void **handle);
int ncclCommDeregister(void *comm, void *handle);
int ncclAllReduce(const void *sb, void *rb, size_t n, int dt, int op, void *comm, void *s);

#define MODE_THREAD_LOCAL 1
#define STREAM ((void *)0x5000)
#define CAPTURED ((void *)0x6000)
#define EVENT ((void *)0x7000)
#define COMM ((void *)0x8000)
#define REG_SIZE 4096

static char *bufs;  /* registered buffers (memo cases), REG_SIZE bytes apart */
static double *mpi_in, *mpi_out;
static int mpi_n;
static void *reg_handle;

static void body_hot(void) { cuStreamQuery(STREAM); }
static void body_hot_watched(void) { cuStreamSynchronize(STREAM); }
static void body_legal(void) { cuEventRecord(EVENT, CAPTURED); }
static void body_launch(void) { cuGraphLaunch((void *)0x9000, STREAM); }
static void body_violation(void) { cuStreamSynchronize(CAPTURED); }
static void body_mpi(void) { MPI_Allreduce(mpi_in, mpi_out, mpi_n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD); }
static void body_alloc(void)
{
    unsigned long long p;
    cuMemAlloc_v2(&p, 4096);
}
static void body_nccl(void) { ncclAllReduce(bufs, bufs, 1, 7, 0, COMM, STREAM); }
static void body_memo_hit(void)
{
    void *h = NULL;
    ncclCommRegister(COMM, bufs, REG_SIZE, &h);
    ncclCommDeregister(COMM, h);
}
static void body_memo_miss(void)
{
    void *h = NULL;
    ncclCommRegister(COMM, bufs + REG_SIZE / 2, REG_SIZE, &h); /* a buffer the store does not hold */
    ncclCommDeregister(COMM, h);
}

static void begin_capture(void) { cuStreamBeginCapture_v2(CAPTURED, MODE_THREAD_LOCAL); }
static void end_capture(void)
{
    void *g;
    cuStreamEndCapture(CAPTURED, &g);
}

static void mpi_setup(int n)
{
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited)
        MPI_Init(NULL, NULL);
    mpi_n = n;
    mpi_in = calloc((size_t)n, sizeof *mpi_in);
    mpi_out = calloc((size_t)n, sizeof *mpi_out);
}

/* N registrations already in the store, then the case's own calls beside them. */
static void memo_fill(long n)
{
    bufs = calloc((size_t)n + 1, REG_SIZE);
    for (long i = 1; i <= n; i++) {
        void *h;
        ncclCommRegister(COMM, bufs + (size_t)i * REG_SIZE, REG_SIZE, &h);
    }
}

struct bcase {
    const char *name;
    void (*body)(void);
    int threads; /* > 0: the body runs on this many threads while the main thread captures */
    long fill;   /* memo cases: registrations made first */
    int mpi;     /* doubles per MPI_Allreduce */
    int capture; /* the body runs inside a capture begun on this thread */
    int devices; /* > 0: the null driver shows this many devices (NULL_DEVICES; else one) */
};

static const struct bcase cases[] = {
    {"hot", body_hot, 0, 0, 0, 0, 0},
    {"hot_watched", body_hot_watched, 0, 0, 0, 0, 0},
    {"legal_in_capture", body_legal, 0, 0, 0, 1, 0},
    {"graph_launch", body_launch, 0, 0, 0, 0, 0},
    {"violation_seen_site", body_violation, 0, 0, 0, 1, 0},
    {"mpi_allreduce_8B", body_mpi, 0, 0, 1, 0, 0},
    {"mpi_allreduce_1MiB", body_mpi, 0, 0, 131072, 0, 0},
    {"nccl_allreduce", body_nccl, 0, 0, 0, 0, 0},
    {"alloc_1dev", body_alloc, 0, 0, 0, 0, 0},
    {"alloc_2dev", body_alloc, 0, 0, 0, 0, 2},
    {"memo_hit", body_memo_hit, 0, 0, 0, 1, 0},
    {"memo_miss_10", body_memo_miss, 0, 10, 0, 0, 0},
    {"memo_miss_1000", body_memo_miss, 0, 1000, 0, 0, 0},
    {"memo_miss_100000", body_memo_miss, 0, 100000, 0, 0, 0},
    {"threads_1", body_hot, 1, 0, 0, 0, 0},
    {"threads_8", body_hot, 8, 0, 0, 0, 0},
    {"threads_64", body_hot, 64, 0, 0, 0, 0},
};

/* The measured loop (callgrind: --toggle-collect=bench_loop), and the same loop for warming up,
 * which callgrind does not collect. */
__attribute__((noinline)) static void warm_loop(void (*body)(void), long n)
{
    for (long i = 0; i < n; i++)
        body();
    __asm__ volatile("" ::: "memory"); /* not merged with bench_loop */
}

__attribute__((noinline)) void bench_loop(void (*body)(void), long n);
__attribute__((noinline)) void bench_loop(void (*body)(void), long n)
{
    for (long i = 0; i < n; i++)
        body();
}

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

struct worker {
    const struct bcase *c;
    long n;
    pthread_barrier_t *go;
};

static void *worker_main(void *p)
{
    struct worker *w = p;
    w->c->body(); /* warm: this thread's first call */
    pthread_barrier_wait(w->go);
    bench_loop(w->c->body, w->n);
    return NULL;
}

/* Every thread runs the body n times while the main thread holds a capture; returns wall ns per call. */
static double run_threads(const struct bcase *c, long n)
{
    pthread_t tid[64];
    struct worker w[64];
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, (unsigned)c->threads + 1);
    begin_capture();
    for (int i = 0; i < c->threads; i++) {
        w[i] = (struct worker){c, n, &go};
        pthread_create(&tid[i], NULL, worker_main, &w[i]);
    }
    pthread_barrier_wait(&go);
    double t0 = now_ns();
    for (int i = 0; i < c->threads; i++)
        pthread_join(tid[i], NULL);
    double t = now_ns() - t0;
    end_capture();
    return t / ((double)n * c->threads);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: bench CASE N\n");
        return 2;
    }
    const struct bcase *c = NULL;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (strcmp(argv[1], cases[i].name) == 0)
            c = &cases[i];
    long n = strtol(argv[2], NULL, 10);
    if (!c || n <= 0) {
        fprintf(stderr, "bench: unknown case or count\n");
        return 2;
    }
    if (c->devices)
        setenv("NULL_DEVICES", c->devices == 2 ? "2" : "1", 1);
    if (c->mpi)
        mpi_setup(c->mpi);
    memo_fill(c->fill);
    double ns;
    if (c->threads) {
        ns = run_threads(c, n);
    } else {
        if (c->capture)
            begin_capture();
        warm_loop(c->body, n / 10 + 1); /* first sites, first records */
        double t0 = now_ns();
        bench_loop(c->body, n);
        ns = (now_ns() - t0) / (double)n;
        if (c->capture)
            end_capture();
    }
    printf("%s %.1f\n", c->name, ns);
    if (c->mpi)
        MPI_Finalize();
    (void)reg_handle;
    return 0;
}
