/* nvb_trust_library (trust.h): the rule every dlopen of a driver library follows, so that the
 * discovery, the WSL2 lister, the exporter and the device plugin load the same files. */
#include "util/trust.h"

#include <limits.h>
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

int nvb_trust_library(const char *path, char *why, size_t n)
{
    int r = nvb_trust_path(path, geteuid(), why, n);
    return r != 0 && read_only_and_roots(path) ? 0 : r;
}
