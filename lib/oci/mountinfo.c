#include "oci/mountinfo.h"
#include "util/cleanup.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

bool nvb_fstype_is_kernel_interface(const char *fstype)
{
    static const char *const kinds[] = {
        "proc",     "sysfs",     "cgroup",      "cgroup2",    "debugfs",   "tracefs", "securityfs",
        "configfs", "bpf",       "pstore",      "efivarfs",   "binfmt_misc", "fusectl", "devtmpfs",
        "nsfs",     "selinuxfs", "smackfs",     "rpc_pipefs", "nfsd",      "autofs",
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(fstype, kinds[i]) == 0)
            return true;
    return false;
}

/* Decode the kernel's octal escapes (\040 space, \011 tab, \012 newline, \134 backslash)
 * in place. */
static void unescape(char *s)
{
    char *w = s;
    for (char *r = s; *r;) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' &&
            r[3] <= '7') {
            *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
            r += 4;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
}

int nvb_mountinfo_parse_line(char *line, char **mount_point, char **fstype)
{
    /* id parent major:minor root mount_point options [optional...] - fstype source super */
    char *fields[6];
    char *save = NULL;
    char *tok = strtok_r(line, " ", &save);
    for (int i = 0; i < 6; i++) {
        if (!tok)
            return -1;
        fields[i] = tok;
        tok = strtok_r(NULL, " ", &save);
    }
    while (tok && strcmp(tok, "-") != 0)
        tok = strtok_r(NULL, " ", &save);
    if (!tok)
        return -1;
    char *type = strtok_r(NULL, " ", &save);
    if (!type)
        return -1;
    unescape(fields[4]);
    if (fields[4][0] != '/')
        return -1;
    *mount_point = fields[4];
    *fstype = type;
    return 0;
}

static int by_length(const void *a, const void *b)
{
    size_t la = strlen(*(char *const *)a), lb = strlen(*(char *const *)b);
    if (la != lb)
        return la < lb ? -1 : 1;
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int nvb_mounts_to_hide(const char *mountinfo, const char *root, nvb_strv *out, nvb_err *err)
{
    size_t rlen = strlen(root);
    if (rlen == 1 && root[0] == '/')
        rlen = 0; /* every mount is beneath "/" */
    const char *p = mountinfo;
    unsigned lineno = 0;
    while (*p) {
        lineno++;
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        _cleanup_free_ char *line = strndup(p, n);
        if (!line)
            return nvb_errf_errno(err, NVB_EXIT_IO, ENOMEM, "mountinfo");
        p += n + (nl ? 1 : 0);
        if (n == 0)
            continue;
        char *mp, *type;
        if (nvb_mountinfo_parse_line(line, &mp, &type) < 0)
            return nvb_errf(err, NVB_EXIT_HOST_DATA, "/proc/self/mountinfo: line %u: malformed", lineno);
        if (!nvb_fstype_is_kernel_interface(type))
            continue;
        if (strncmp(mp, root, rlen) != 0 || mp[rlen] != '/' || mp[rlen + 1] == '\0')
            continue;
        const char *cpath = mp + rlen;
        if (nvb_strv_contains(out, cpath))
            continue;
        if (nvb_strv_push(out, cpath) < 0)
            return nvb_errf_errno(err, NVB_EXIT_IO, ENOMEM, "mountinfo");
    }
    if (out->n > 1)
        qsort(out->v, out->n, sizeof *out->v, by_length);
    return 0;
}
