/* libFuzzer target: /proc/PID/cgroup as the exporter and `nvbind top` read it for every
 * process that holds a GPU. A container's process writes its own cgroup's name (a delegated
 * subtree), so the path is the container's choice: any bytes must be read without a crash or
 * leak, the chosen path is one line's, and what it says of a container or a pod has the
 * shape the metrics labels promise (12 hex characters, a 36-character UID). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/cgroup.h"
#include "fuzz_text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_owner(const char *path)
{
    nvb_cgroup_owner o;
    bool named = nvb_cgroup_owner_parse(path, &o);
    size_t cn = strlen(o.container), pn = strlen(o.pod);
    if (named != (cn || pn) || (cn && cn != 12) || (pn && pn != 36))
        abort();
    if (cn && strspn(o.container, "0123456789abcdef") != 12)
        abort();
    if (pn && strspn(o.pod, "0123456789abcdef-") != 36)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size);
    if (!text)
        return 0;
    char path[4096];
    if (nvb_cgroup_pick(text, path, sizeof path) == 0) {
        if (strchr(path, '\n'))
            abort();
        check_owner(path);
        nvb_cgroup_within(path, "/");
        nvb_cgroup_within(path, "/system.slice/docker-0123.scope");
    }
    /* The input as one path too: the parser must not need the file around it. */
    memcpy(text, data, size);
    check_owner(text);
    free(text);
    return 0;
}
