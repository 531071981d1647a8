/* nvbind audit: read the audit log of isolation grants and denials (lib/isolation/audit.h). */
#include "cli.h"
#include "config/config.h"
#include "isolation/audit.h"
#include "isolation/timefmt.h"
#include "util/cleanup.h"
#include "util/shown.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

/* The event's text under key, escaped for a terminal (util/shown.h): whoever may run
 * nvbind chose the container name the log holds. "-" when absent; NULL when out of memory. */
static char *shown_or_dash(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return nvb_shown(json_is_string(v) && json_string_length(v) ? json_string_value(v) : "-");
}

static int print_event(json_t *o)
{
    _cleanup_free_ char *time = shown_or_dash(o, "time"), *decision = shown_or_dash(o, "decision"),
                        *isolation = shown_or_dash(o, "isolation"), *container = shown_or_dash(o, "container"),
                        *runtime = shown_or_dash(o, "runtime"), *reason = shown_or_dash(o, "reason");
    if (!time || !decision || !isolation || !container || !runtime || !reason)
        return -1;
    printf("%s  %-5s  %-9s  %-24s  %-14s  uid=%lld pid=%lld  ", time, decision, isolation, container, runtime,
           (long long)json_integer_value(json_object_get(o, "uid")), (long long)json_integer_value(json_object_get(o, "pid")));
    json_t *devs = json_object_get(o, "devices");
    size_t n = json_array_size(devs);
    if (n == 0)
        fputs("-", stdout);
    for (size_t i = 0; i < n; i++) {
        json_t *d = json_array_get(devs, i);
        _cleanup_free_ char *dev = nvb_shown(json_is_string(d) ? json_string_value(d) : "?");
        if (!dev)
            return -1;
        printf("%s%s", i ? "," : "", dev);
    }
    printf("  %s\n", reason);
    return 0;
}

/* Events are printed as the log is read, one at a time: a log of any size is shown in
 * bounded memory. --json prints the same bytes as one array printed whole by jansson
 * (JSON_INDENT(2)): "[", each event indented one level more, ",\n" between them, "]". */
struct printer {
    bool json;
    size_t n;  /* events printed */
};

static int print_json_event(json_t *o, size_t index)
{
    _cleanup_free_ char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (!text)
        return -1;
    fputs(index ? ",\n  " : "[\n  ", stdout);
    /* A dumped string holds no raw newline: every newline starts a line to indent. */
    for (const char *p = text, *nl; *p; p = nl + 1) {
        nl = strchrnul(p, '\n');
        fwrite(p, 1, (size_t)(nl - p), stdout);
        if (!*nl)
            break;
        fputs("\n  ", stdout);
    }
    return 0;
}

static int print_one(json_t *o, void *ctx, nvb_err *err)
{
    struct printer *pr = ctx;
    if ((pr->json ? print_json_event(o, pr->n) : print_event(o)) < 0)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    pr->n++;
    /* A closed pipe or a full disk: stop reading a log nobody sees. */
    return ferror(stdout) ? nvb_errf_errno(err, NVB_EXIT_IO, errno, "writing the events") : 0;
}

static int print_end(const struct printer *pr)
{
    if (pr->json)
        fputs(pr->n ? "\n]\n" : "[]\n", stdout);
    return fflush(stdout) || ferror(stdout) ? NVB_EXIT_IO : 0;
}

/* Print one log's matching events; *any set when the file exists. 0, NVB_EXIT_INPUT (lines
 * that are not events) or the failure's exit status. */
static int scan_log(const char *file, const nvb_audit_filter *filter, struct printer *pr, bool *any)
{
    nvb_err err = {0};
    nvb_audit_read r;
    if (nvb_audit_scan_file(file, filter, print_one, pr, &r, &err) < 0) {
        nvb_audit_read_clear(&r);
        if (err.errnum == ENOENT)
            return 0; /* nothing was decided yet: an empty log, not a failure */
        if (err.errnum == EACCES)
            nvb_errf(&err, NVB_EXIT_IO, "cannot read the audit log %s: permission denied (root and members of "
                     "group %s read it)", file, NVB_AUDIT_GROUP);
        return nvb_cli_fail(&err);
    }
    *any = true;
    for (size_t i = 0; i < r.problems.n; i++)
        fprintf(stderr, "nvbind audit: %s\n", r.problems.v[i]);
    if (r.problems_dropped)
        fprintf(stderr, "nvbind audit: %s: %zu more lines that are not events skipped (only the first %d are named)\n",
                file, r.problems_dropped, NVB_AUDIT_PROBLEMS_MAX);
    /* Lines in the middle that are not events mean the file was damaged or written by
     * something else: say so in the status too. A torn last line is a crash, reported only. */
    int rc = r.bad_lines ? NVB_EXIT_INPUT : 0;
    nvb_audit_read_clear(&r);
    return rc;
}

static int cmd_audit(nvb_cli *cli, int argc, char **argv)
{
    nvb_audit_filter filter = {0};
    const char *since = NULL, *file = NULL;
    bool json = false;
    int c;
    nvb_cli_parser p;
    nvb_cli_parser_for(&p, cli);
    while ((c = nvb_cli_next(&p, argc, argv)) >= 0) {
        switch (c) {
        case 's': since = optarg; break;
        case 'c': filter.container = optarg; break;
        case 'j': json = true; break;
        case 'f': file = optarg; break;
        }
    }
    if (nvb_cli_stops(&p, c, argc, argv, 0))
        return p.rc;
    if (since) {
        if (nvb_time_parse_since(since, nvb_time_now_ms(), &filter.since_ms) < 0)
            return nvb_cli_usage("audit",
                                 "--since %s: not a time (expected RFC 3339 like 2024-05-01T12:00:00Z, or 90s, 10m, 2h, 1d)",
                                 since);
        filter.has_since = true;
    }
    if (filter.container && !*filter.container)
        return nvb_cli_usage("audit", "--container: empty container id");
    nvb_config cfg = {0};
    nvb_err err = {0};
    if (!file) {
        if (nvb_config_load(&cfg, cli->config_path, &err) < 0) {
            nvb_config_clear(&cfg);
            return nvb_cli_fail(&err);
        }
        file = cfg.isolation.audit_log && *cfg.isolation.audit_log ? cfg.isolation.audit_log : NVB_AUDIT_DEFAULT_LOG;
    }
    struct printer pr = {.json = json};
    int rc = 0;
    bool any = false;
    rc = scan_log(file, &filter, &pr, &any);
    /* Then each member's own log (docs/isolation.md, "Users who are not root"). */
    nvb_strv paths = {0}, skipped = {0};
    uid_t *uids = NULL;
    if (rc == 0 && nvb_audit_member_logs(file, &paths, &uids, &skipped, &err) < 0)
        rc = nvb_cli_fail(&err);
    for (size_t i = 0; i < skipped.n; i++)
        fprintf(stderr, "nvbind audit: %s\n", skipped.v[i]);
    for (size_t i = 0; rc == 0 && i < paths.n; i++) {
        nvb_audit_filter mf = filter;
        mf.check_uid = true;
        mf.uid = uids[i];
        rc = scan_log(paths.v[i], &mf, &pr, &any);
    }
    if (rc == 0 && !any)
        fprintf(stderr, "nvbind audit: no audit log at %s yet\n", file);
    if (rc == 0 || rc == NVB_EXIT_INPUT) {
        int end = print_end(&pr);
        rc = rc ? rc : end;
    }
    free(uids);
    nvb_strv_free(&paths);
    nvb_strv_free(&skipped);
    nvb_config_clear(&cfg);
    return rc;
}

static const nvb_cli_opt audit_opts[] = {
    {"since", 's', 's', "TIME", 0,
     "only events at or after TIME: RFC 3339 (2024-05-01T12:00:00Z) or a span\n"
     "back from now (90s, 10m, 2h, 1d)",
     0, NULL},
    {"container", 'c', 'c', "ID", 0, "only events of this container", 0, NULL},
    {"json", 'j', 'j', NULL, 0, "a JSON array of the events, as logged", 0, NULL},
    {"file", 'f', 'f', "PATH", 0, "the log to read (default: [isolation] audit_log, /var/log/nvbind/audit.log)",
     NVB_COMPLETE_FILE, NULL},
    {0},
};
const nvb_cli_cmd nvb_cmd_audit = {
    .name = "audit",
    .summary = "the audit log of isolation decisions (grants and denials), oldest first",
    .opts = audit_opts,
    .fn = cmd_audit,
};
