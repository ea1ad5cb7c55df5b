/* What a communicator memo must never get wrong, under real MPI, no capture anywhere:
 *   mpirun -np 2 memo_cases CASE
 *   splits    colors 0 and 1 over the same ranks give two communicators that are never one
 *             (same handle, MPI_IDENT, or collectives that match across them)
 *   refcount  the same split twice without a free (a memo in scope `always` may return one
 *             handle): freeing one leaves the other usable
 *   repeat    split, barrier, free, three times (a repeated initialisation for the report)
 * Prints "rank R fact NAME VALUE" lines and "rank R done"; never decides pass/fail. MPI errors
 * return (MPI_ERRORS_RETURN) and are printed on stderr; a fact that could not be computed is -1. */
#include <mpi.h>
#include <stdio.h>
#include <string.h>

static int rank, world;

static void fact(const char *name, int value)
{
    printf("rank %d fact %s %d\n", rank, name, value);
    fflush(stdout);
}

static int diag(const char *what, int code)
{
    if (code != MPI_SUCCESS)
        fprintf(stderr, "rank %d: %s returned %d\n", rank, what, code);
    return code;
}

/* Sum of v over comm, -1 if the collective failed. */
static int sum_over(MPI_Comm comm, int v)
{
    int s = -1;
    if (comm == MPI_COMM_NULL ||
        diag("MPI_Allreduce", MPI_Allreduce(&v, &s, 1, MPI_INT, MPI_SUM, comm)) != MPI_SUCCESS)
        return -1;
    return s;
}

static void case_splits(void)
{
    MPI_Comm a = MPI_COMM_NULL, b = MPI_COMM_NULL, a2 = MPI_COMM_NULL, b2 = MPI_COMM_NULL;
    MPI_Request req[2];
    int cmp = -1, in[2], out[2] = { -1, -1 }, ok;

    diag("MPI_Comm_split a", MPI_Comm_split(MPI_COMM_WORLD, 0, rank, &a));
    diag("MPI_Comm_split b", MPI_Comm_split(MPI_COMM_WORLD, 1, rank, &b));
    fact("same_handle", a == b);
    diag("MPI_Comm_free a", MPI_Comm_free(&a));
    diag("MPI_Comm_free b", MPI_Comm_free(&b));

    diag("MPI_Comm_split a2", MPI_Comm_split(MPI_COMM_WORLD, 0, rank, &a2));
    diag("MPI_Comm_split b2", MPI_Comm_split(MPI_COMM_WORLD, 1, rank, &b2));
    fact("a2_b2_same_handle", a2 == b2);
    if (a2 != MPI_COMM_NULL && b2 != MPI_COMM_NULL)
        diag("MPI_Comm_compare", MPI_Comm_compare(a2, b2, &cmp));
    fact("a2_b2_ident", cmp == -1 ? -1 : cmp == MPI_IDENT);
    /* color*10 + rank summed over each: 0+1 = 1 over color 0, 10+11 = 21 over color 1. The two
     * ranks post the reductions in opposite orders; that is legal only because matching is per
     * communicator, so a conflated pair would pair rank 0's color-0 value with rank 1's color-1
     * value and both sums would be wrong. */
    in[0] = 0 * 10 + rank;
    in[1] = 1 * 10 + rank;
    ok = a2 != MPI_COMM_NULL && b2 != MPI_COMM_NULL;
    for (int i = 0; ok && i < 2; i++) {
        int c = rank % 2 == 0 ? i : 1 - i;
        ok = diag("MPI_Iallreduce", MPI_Iallreduce(&in[c], &out[c], 1, MPI_INT, MPI_SUM,
                                                    c == 0 ? a2 : b2, &req[i])) == MPI_SUCCESS;
    }
    if (ok)
        ok = diag("MPI_Waitall", MPI_Waitall(2, req, MPI_STATUSES_IGNORE)) == MPI_SUCCESS;
    fact("sum_color0", ok ? out[0] : -1);
    fact("sum_color1", ok ? out[1] : -1);
    if (a2 != MPI_COMM_NULL)
        diag("MPI_Comm_free a2", MPI_Comm_free(&a2));
    if (b2 != MPI_COMM_NULL)
        diag("MPI_Comm_free b2", MPI_Comm_free(&b2));
}

static void case_refcount(void)
{
    MPI_Comm c1 = MPI_COMM_NULL, c2 = MPI_COMM_NULL;
    int e1, e2;

    diag("MPI_Comm_split c1", MPI_Comm_split(MPI_COMM_WORLD, 0, rank, &c1));
    diag("MPI_Comm_split c2", MPI_Comm_split(MPI_COMM_WORLD, 0, rank, &c2));
    fact("c2_equals_c1", c1 == c2);
    e1 = diag("MPI_Comm_free c1", MPI_Comm_free(&c1));
    fact("c2_usable_after_one_free", sum_over(c2, 1) == world);
    e2 = diag("MPI_Comm_free c2", MPI_Comm_free(&c2));
    fact("freed_ok", e1 == MPI_SUCCESS && e2 == MPI_SUCCESS && c1 == MPI_COMM_NULL &&
                         c2 == MPI_COMM_NULL);
}

static void case_repeat(void)
{
    int done = 0;

    for (int i = 0; i < 3; i++) {
        MPI_Comm c = MPI_COMM_NULL;
        if (diag("MPI_Comm_split", MPI_Comm_split(MPI_COMM_WORLD, 0, rank, &c)) != MPI_SUCCESS)
            continue;
        if (diag("MPI_Barrier", MPI_Barrier(c)) == MPI_SUCCESS &&
            diag("MPI_Comm_free", MPI_Comm_free(&c)) == MPI_SUCCESS)
            done++;
    }
    fact("repeats_done", done);
}

int main(int argc, char **argv)
{
    const char *c = argc > 1 ? argv[1] : "";
    int rc = 0;

    MPI_Init(&argc, &argv);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    if (strcmp(c, "splits") == 0)
        case_splits();
    else if (strcmp(c, "refcount") == 0)
        case_refcount();
    else if (strcmp(c, "repeat") == 0)
        case_repeat();
    else {
        fprintf(stderr, "usage: mpirun -np 2 memo_cases splits|refcount|repeat\n");
        rc = 2;
    }
    printf("rank %d done\n", rank);
    fflush(stdout);
    MPI_Finalize();
    return rc;
}
