/* nvb_trust_library (trust.h): the rule every dlopen of a driver library follows (the
 * discovery, the WSL2 lister, the exporter and the device plugin), with WSL2's read-only
 * mounts the one exception. */
#include "util/trust.h"
#include "util/cleanup.h"

#include <limits.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

static bool on_read_only_mount(const char *path)
{
    struct statvfs vfs;
    return statvfs(path, &vfs) == 0 && (vfs.f_flag & ST_RDONLY);
}

/* A root-owned file on a read-only mount counts as root's when every folder above it on
 * read-only mounts is root's too and the first writable folder above them is one
 * nvb_trust_path trusts (only root mounts). */
static bool read_only_and_roots(const char *path)
{
    struct stat st;
    char dir[PATH_MAX], why[256];
    if (stat(path, &st) < 0 || st.st_uid != 0 || !on_read_only_mount(path) || strlen(path) >= sizeof dir)
        return false;
    strcpy(dir, path);
    for (char *slash; (slash = strrchr(dir, '/')) && slash != dir;) {
        *slash = '\0';
        if (!on_read_only_mount(dir)) /* above the read-only mounts */
            return nvb_trust_path(dir, geteuid(), why, sizeof why) == 0;
        if (stat(dir, &st) < 0 || st.st_uid != 0)
            return false;
    }
    return false; /* everything up to "/" is read-only: nothing writable to vouch for it */
}

int nvb_trust_library(const char *path, bool read_only_vouches, char *why, size_t n)
{
    int r = nvb_trust_path(path, geteuid(), why, n);
    if (r == 0 || !read_only_vouches)
        return r;
    /* A link another user owns (in /tmp, say) could be pointed elsewhere after this check:
     * the links must pass on their own, the read-only rule is for the file they lead to. */
    char links_why[256];
    if (nvb_trust_links(path, geteuid(), links_why, sizeof links_why) != 0)
        return r;
    _cleanup_free_ char *real = realpath(path, NULL);
    return real && read_only_and_roots(real) ? 0 : r;
}
