/* libFuzzer target: the audit log reader (nvbind audit) and the times it filters by. The
 * log is appended by many writers and may be cut short or damaged: any bytes must be read
 * without a crash or leak, every line counted either as an event or as a problem, and a
 * problem named by line. Times: what nvbind formats, it parses back. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "isolation/audit.h"
#include "isolation/timefmt.h"
#include "fuzz_text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void read_log(const char *text, size_t size, const nvb_audit_filter *f)
{
    nvb_audit_read r;
    nvb_err err = {0};
    if (nvb_audit_read_text(text, size, "fuzz.log", f, &r, &err) < 0)
        return;
    if (!json_is_array(r.events) || json_array_size(r.events) != r.matched || r.matched > r.lines ||
        r.problems.n > r.lines || r.problems.n > NVB_AUDIT_PROBLEMS_MAX ||
        r.bad_lines > r.problems.n + r.problems_dropped)
        abort();
    for (size_t i = 0; i < r.problems.n; i++)
        if (strncmp(r.problems.v[i], "fuzz.log:", 9) != 0)
            abort();
    for (size_t i = 0; i < json_array_size(r.events); i++)
        if (!json_is_object(json_array_get(r.events, i)))
            abort();
    nvb_audit_read_clear(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    read_log((const char *)data, size, NULL);
    nvb_audit_filter f = {.has_since = true, .since_ms = 1714564800000, .container = "a"};
    read_log((const char *)data, size, &f);

    /* The input as a time, as --since takes it. */
    char *s = fuzz_text(data, size);
    if (!s)
        return 0;
    int64_t ms;
    if (nvb_time_parse_rfc3339(s, &ms) == 0 && ms >= 0 && ms < 253402300800000) { /* years 1970-9999 */
        char buf[64];
        int64_t back;
        nvb_time_format(buf, sizeof buf, ms, true);
        if (nvb_time_parse_rfc3339(buf, &back) < 0 || back != ms)
            abort();
    }
    nvb_time_parse_since(s, 1714564800000, &ms);
    free(s);
    return 0;
}
