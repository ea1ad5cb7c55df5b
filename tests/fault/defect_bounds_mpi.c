/* Defect 8: capguard's memory stays bounded whatever the program does. One MPI rank makes
 * SPLITS communicator splits of distinct colors (each a distinct initialisation key), then
 * MPI_Allreduce over 256 distinct sizes up to 1 MiB (each a distinct collective record), as a
 * server broadcasting requests of every size does. Prints the resident-set growth of each phase
 * in KiB: "rss_splits_kib N rss_coll_kib N". */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kib = atol(line + 6);
    if (f)
        fclose(f);
    return kib;
}

int main(int argc, char **argv)
{
    int splits = argc > 1 ? atoi(argv[1]) : 20000;
    MPI_Init(&argc, &argv);
    MPI_Comm c;
    for (int i = 0; i < 200; i++) { /* warm MPI's own allocations up */
        MPI_Comm_split(MPI_COMM_WORLD, i, 0, &c);
        MPI_Comm_free(&c);
    }
    long r0 = rss_kib();
    for (int i = 200; i < splits; i++) {
        MPI_Comm_split(MPI_COMM_WORLD, i, 0, &c);
        MPI_Comm_free(&c);
    }
    long r1 = rss_kib();
    char *in = calloc(1, 1 << 20), *out = calloc(1, 1 << 20);
    MPI_Allreduce(in, out, 1 << 20, MPI_CHAR, MPI_MAX, MPI_COMM_WORLD); /* touch both */
    long r2 = rss_kib();
    for (int k = 1; k <= 256; k++)
        MPI_Allreduce(in, out, 4096 * k, MPI_CHAR, MPI_MAX, MPI_COMM_WORLD);
    long r3 = rss_kib();
    printf("rss_splits_kib %ld rss_coll_kib %ld\n", r1 - r0, r3 - r2);
    free(in);
    free(out);
    MPI_Finalize();
    return 0;
}
