/* Container identity from cgroup paths (cgroup.h). Engines name their cgroups after the
 * container id; Kubernetes adds the pod's UID one level up. */
#include "metrics/cgroup.h"
#include "util/cleanup.h"
#include "util/fileio.h"
#include "util/strv.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int nvb_cgroup_pick(char *text, char *buf, size_t len)
{
    const char *best = NULL, *first = NULL;
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        /* hierarchy-id:controllers:path */
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c1 = '\0';
        *c2 = '\0';
        const char *ctrls = c1 + 1, *p = c2 + 1;
        if (!first)
            first = p;
        if (strcmp(line, "0") == 0 && !*ctrls) {
            best = p;
            break;
        }
        if (!best && (strstr(ctrls, "pids") || strstr(ctrls, "memory")))
            best = p;
    }
    const char *pick = best ? best : first;
    if (!pick) {
        errno = ENOENT;
        return -1;
    }
    snprintf(buf, len, "%s", pick);
    return 0;
}

int nvb_proc_cgroup(const char *proc_root, pid_t pid, char *buf, size_t len)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%ld/cgroup", proc_root, (long)pid);
    _cleanup_free_ char *text = nvb_read_file(path, 64 * 1024, NULL);
    if (!text)
        return -1;
    return nvb_cgroup_pick(text, buf, len);
}

static bool all_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* A 64-hex container id in one path level ("docker-<id>.scope", "<id>"), else NULL. */
static const char *container_id_of(const char *level, size_t n)
{
    static const char *const prefixes[] = {"docker-", "libpod-", "cri-containerd-", "crio-", "containerd-", ""};
    if (n > 6 && memcmp(level + n - 6, ".scope", 6) == 0)
        n -= 6;
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        size_t pl = strlen(prefixes[i]);
        if (n == pl + 64 && memcmp(level, prefixes[i], pl) == 0 && all_hex(level + pl, 64))
            return level + pl;
    }
    return NULL;
}

/* The pod UID in a level ("pod<uid>", "kubepods-besteffort-pod<uid>.slice"), written with
 * '-' whatever the driver used; false when the level names none. */
static bool pod_uid_of(const char *level, size_t n, char *out, size_t len)
{
    if (n > 6 && memcmp(level + n - 6, ".slice", 6) == 0)
        n -= 6;
    const char *p = NULL;
    for (size_t i = 0; i + 3 < n; i++)
        if (memcmp(level + i, "pod", 3) == 0 && (i == 0 || level[i - 1] == '-'))
            p = level + i + 3;
    size_t un = p ? (size_t)(level + n - p) : 0;
    char uid[37];
    if (un != 36 || un >= len)
        return false;
    /* Checked whole before out is written: a level that breaks off halfway names no pod. */
    for (size_t i = 0; i < un; i++) {
        char c = p[i] == '_' ? '-' : p[i];
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? c != '-' : !all_hex(&c, 1))
            return false;
        uid[i] = c;
    }
    uid[un] = '\0';
    memcpy(out, uid, un + 1);
    return true;
}

bool nvb_cgroup_owner_parse(const char *path, nvb_cgroup_owner *out)
{
    memset(out, 0, sizeof *out);
    for (const char *level = path; *level;) {
        while (*level == '/')
            level++;
        size_t n = strcspn(level, "/");
        if (!n)
            break;
        /* The outermost level wins: the engine made it, while the levels below may be the
         * container's own (a delegated subtree) and named to look like another container. */
        const char *id = out->container[0] ? NULL : container_id_of(level, n);
        if (id)
            snprintf(out->container, sizeof out->container, "%.12s", id);
        if (!out->pod[0] && !out->container[0])
            pod_uid_of(level, n, out->pod, sizeof out->pod);
        level += n;
    }
    return out->container[0] || out->pod[0];
}

bool nvb_cgroup_within(const char *child, const char *parent)
{
    size_t n = strlen(parent);
    while (n > 1 && parent[n - 1] == '/')
        n--;
    if (n == 1 && parent[0] == '/')
        return false; /* the root cgroup holds every process: it says nothing */
    return strncmp(child, parent, n) == 0 && (child[n] == '\0' || child[n] == '/');
}
