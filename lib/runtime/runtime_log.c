/* The OCI runtime's own log: how nvbind tells runc's or crun's failure to start a container
 * from the container's exit status (both exit 1 for many reasons). See runtime_log.h. */
#include "runtime/runtime_log.h"
#include "util/cleanup.h"
#include "util/fileio.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#define LOG_MAX (1 << 20)

int nvb_runtime_log_error(const char *path, char *msg, size_t len)
{
    _cleanup_free_ char *text = nvb_read_file(path, LOG_MAX, NULL);
    if (!text)
        return 0;
    int found = 0;
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        json_t *j = json_loads(line, 0, NULL);
        const char *level = json_string_value(json_object_get(j, "level"));
        const char *m = json_string_value(json_object_get(j, "msg"));
        if (level && m && (strcmp(level, "error") == 0 || strcmp(level, "fatal") == 0)) {
            /* The last one: runc ends with the error that made it give up. One line of it. */
            snprintf(msg, len, "%s", m);
            for (char *p = msg; *p; p++)
                if (*p == '\n' || *p == '\r')
                    *p = ' ';
            found = 1;
        }
        json_decref(j);
    }
    return found;
}
