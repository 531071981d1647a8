/* Incremental grant/deny counts of the audit log (audit_count.h). */
#include "metrics/audit_count.h"
#include "isolation/audit.h"
#include "util/cleanup.h"
#include "util/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#define READ_MAX (8u << 20)

static void count_events(nvb_audit_counts *c, const char *text, size_t len, const char *path)
{
    nvb_audit_read r = {0};
    nvb_err err = {0};
    if (nvb_audit_read_text(text, len, path, NULL, &r, &err) < 0)
        return;
    size_t i;
    json_t *ev;
    json_array_foreach(r.events, i, ev) {
        const char *d = json_string_value(json_object_get(ev, "decision"));
        if (d && strcmp(d, "grant") == 0)
            c->grants++;
        else if (d && strcmp(d, "deny") == 0)
            c->denials++;
    }
    c->bad_lines += r.bad_lines;
    nvb_audit_read_clear(&r);
}

/* The bytes before offset are still the ones counted. */
static bool same_tail(const nvb_audit_counts *c, int fd)
{
    char now[sizeof c->tail];
    if (!c->tail_len)
        return true;
    ssize_t got = pread(fd, now, c->tail_len, c->offset - (off_t)c->tail_len);
    return got == (ssize_t)c->tail_len && memcmp(now, c->tail, c->tail_len) == 0;
}

int nvb_audit_counts_update(nvb_audit_counts *c, const char *path, nvb_err *err)
{
    struct stat st;
    _cleanup_close_ int fd = nvb_open_regular_at(AT_FDCWD, path, &st);
    if (fd < 0 && errno == ENOENT) {
        *c = (nvb_audit_counts){0};
        return 0;
    }
    if (fd < 0)
        return nvb_errf_errno(err, NVB_EXIT_IO, errno == EINVAL || errno == ELOOP ? NVB_ENOTREG : errno, "audit log %s",
                              path);
    /* Root's log (or the exporter's own user's) only: a member of the group may make the name
     * while root's is missing. */
    if ((st.st_uid != 0 && st.st_uid != geteuid()) || st.st_nlink != 1 || (st.st_mode & 022))
        return nvb_errf(err, NVB_EXIT_IO, "audit log %s is not root's own (owner uid %u, %lu links, mode %04o): not "
                        "counted", path, (unsigned)st.st_uid, (unsigned long)st.st_nlink, (unsigned)(st.st_mode & 07777));
    if (!c->present || st.st_dev != c->dev || st.st_ino != c->ino || st.st_size < c->offset || !same_tail(c, fd))
        *c = (nvb_audit_counts){.dev = st.st_dev, .ino = st.st_ino, .present = true};
    size_t want = (size_t)(st.st_size - c->offset);
    if (want > READ_MAX)
        want = READ_MAX;
    if (!want)
        return 0;
    _cleanup_free_ char *buf = malloc(want + 1);
    if (!buf)
        return nvb_errf(err, NVB_EXIT_IO, "audit log %s: out of memory", path);
    ssize_t got = pread(fd, buf, want, c->offset);
    if (got < 0)
        return nvb_errf_errno(err, NVB_EXIT_IO, errno, "reading audit log %s", path);
    /* Whole lines only: a line being appended now is counted next time. */
    char *end = memrchr(buf, '\n', (size_t)got);
    if (!end)
        return 0;
    size_t len = (size_t)(end - buf) + 1;
    buf[len] = '\0';
    count_events(c, buf, len, path);
    c->offset += (off_t)len;
    c->tail_len = len < sizeof c->tail ? len : sizeof c->tail;
    memcpy(c->tail, buf + len - c->tail_len, c->tail_len);
    return 0;
}
