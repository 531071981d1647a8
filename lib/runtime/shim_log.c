/* The runtime's logging contract, shim side: engines (containerd's runc shim, hence docker)
 * pass `--log FILE --log-format json` and read the runtime's last error from FILE, not from its
 * stderr. The shim writes its own refusals there in the shape runc does. See shim.h. */
#include "runtime/shim.h"
#include "isolation/timefmt.h"
#include "util/cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A JSON line: {"level":...,"msg":...,"time":...}; jansson escapes msg. */
static char *json_line(const char *level, const char *msg, const char *when)
{
    json_t *j = json_pack("{s:s, s:s, s:s}", "level", level, "msg", msg, "time", when);
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(j);
    char *line = NULL;
    if (s && asprintf(&line, "%s\n", s) < 0)
        line = NULL;
    free(s);
    return line;
}

/* A logrus-style text line: time="..." level=L msg="..." with msg's quotes, backslashes and
 * control characters escaped, so one error stays one line. */
static char *text_line(const char *level, const char *msg, const char *when)
{
    size_t n = strlen(msg);
    _cleanup_free_ char *q = malloc(n * 4 + 1);
    if (!q)
        return NULL;
    char *o = q;
    for (const unsigned char *p = (const unsigned char *)msg; *p; p++) {
        if (*p == '"' || *p == '\\') {
            *o++ = '\\';
            *o++ = (char)*p;
        } else if (*p == '\n') {
            *o++ = '\\';
            *o++ = 'n';
        } else if (*p < 0x20 || *p == 0x7f) {
            o += sprintf(o, "\\x%02x", *p);
        } else {
            *o++ = (char)*p;
        }
    }
    *o = '\0';
    char *line = NULL;
    if (asprintf(&line, "time=\"%s\" level=%s msg=\"%s\"\n", when, level, q) < 0)
        line = NULL;
    return line;
}

int nvb_shim_log_write(const char *path, const char *format, const char *level, const char *msg)
{
    if (!path || !*path)
        return 0;
    char when[64];
    nvb_time_format(when, sizeof when, nvb_time_now_ms(), false);
    bool json = format && strcmp(format, "json") == 0;
    _cleanup_free_ char *line = json ? json_line(level, msg, when) : text_line(level, msg, when);
    if (!line)
        return -1;
    /* Appended, as runc does: the engine may already have lines there, and one write() of the
     * whole line keeps it whole next to another writer. */
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    size_t len = strlen(line);
    ssize_t w = write(fd, line, len);
    int saved = errno;
    close(fd);
    errno = saved;
    return w == (ssize_t)len ? 0 : -1;
}
