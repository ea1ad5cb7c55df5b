/* capguard-report [--json] [--perfetto FILE] [--html FILE] DIR-or-FILE...: merges the JSONL
 * logs of every rank (tools/report_read.c), builds the report object section by section, and
 * prints it as text (default) or JSON, and writes the trace and the page when asked. Exit 0
 * when the logs were read (whatever they say), 2 on a usage error or when no log line at all
 * could be read, 1 when an output file could not be written. Must never: write to the logs,
 * or exit 0 having read nothing.
 */
#include <stdlib.h>
#include <string.h>
#include "report.h"

struct opts {
    int json;
    const char *perfetto, *html;
    char **paths;
    int npaths;
};

static void usage(FILE *out)
{
    fputs("Usage: capguard report [--json] [--perfetto FILE] [--html FILE] DIR-or-FILE...\n"
          "  Merges the capguard logs of all ranks (a DIR: every *.jsonl below it) and prints\n"
          "  one screen: what was read, HANG (who is blocked where, and where the others are),\n"
          "  VIOLATIONS, REPEATED INITS AND MEMO, FINGERPRINTS, CAPTURES, WATCHDOG.\n"
          "  --json           the same report as one JSON object instead of the text\n"
          "  --perfetto FILE  a Chrome trace-event JSON file (ui.perfetto.dev: Open trace file)\n"
          "  --html FILE      one self-contained HTML page: the summary and an SVG timeline\n"
          "  Exit 0 when the logs were read, 2 on a usage error or when no line could be read,\n"
          "  1 when an output file could not be written. docs/report.md says more.\n", out);
}

/* "--name FILE" or "--name=FILE"; returns 1 when argv[*i] is it (then *val is set or *err). */
static int opt_value(int argc, char **argv, int *i, const char *name, const char **val, int *err)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return 0;
    if (argv[*i][n] == '=') {
        *val = argv[*i] + n + 1;
    } else if (argv[*i][n] != '\0') {
        return 0;
    } else if (*i + 1 < argc) {
        *val = argv[++*i];
    } else {
        fprintf(stderr, RP_NAME ": missing FILE after %s\n", name);
        *err = 1;
        return 1;
    }
    if (!**val) {
        fprintf(stderr, RP_NAME ": empty FILE after %s\n", name);
        *err = 1;
    }
    return 1;
}

/* Returns -1 to go on, else an exit status. */
static int parse(int argc, char **argv, struct opts *o)
{
    int i, err = 0;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--json") == 0)
            o->json = 1;
        else if (opt_value(argc, argv, &i, "--perfetto", &o->perfetto, &err) ||
                 opt_value(argc, argv, &i, "--html", &o->html, &err)) {
            if (err)
                return RP_EXIT_USAGE;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, RP_NAME ": unknown option %s\n", a);
            usage(stderr);
            return RP_EXIT_USAGE;
        } else
            break;
    }
    o->paths = argv + i;
    o->npaths = argc - i;
    if (o->npaths == 0) {
        fprintf(stderr, RP_NAME ": no log directory or file given\n");
        usage(stderr);
        return RP_EXIT_USAGE;
    }
    return -1;
}

static void add(json_t *report, const char *key, json_t *section)
{
    if (section)
        json_object_set_new(report, key, section);
}

static json_t *build(const struct rp_logs *L)
{
    json_t *r = json_object();
    add(r, "header", rp_header(L));
    add(r, "hang", rp_hang(L));
    add(r, "violations", rp_violations(L));
    add(r, "warnings", rp_warnings(L));
    add(r, "repeats", rp_repeats(L));
    add(r, "memo", rp_memo(L));
    add(r, "fingerprints", rp_fingerprints(L));
    add(r, "captures", rp_captures(L));
    add(r, "watchdog", rp_watchdog(L));
    return r;
}

/* Enough digits for a ts in seconds with microseconds (16 significant). */
#define RP_JSON_FLAGS (JSON_INDENT(1) | JSON_REAL_PRECISION(16))

int main(int argc, char **argv)
{
    struct opts o = { 0 };
    int rc = parse(argc, argv, &o);
    if (rc >= 0)
        return rc;
    struct rp_logs L;
    if ((rc = rp_read(&L, o.paths, o.npaths)) != 0) {
        rp_free(&L);
        return rc;
    }
    rp_scan(&L);
    json_t *report = build(&L);
    if (o.json) {
        json_dumpf(report, stdout, RP_JSON_FLAGS);
        putchar('\n');
    } else {
        rp_text(stdout, report);
    }
    if (o.perfetto && rp_perfetto(&L, o.perfetto) != 0)
        rc = RP_EXIT_WRITE;
    if (o.html && rp_html(&L, report, o.html) != 0)
        rc = RP_EXIT_WRITE;
    json_decref(report);
    rp_free(&L);
    if (fflush(stdout) != 0)
        rc = RP_EXIT_WRITE;
    return rc;
}
