#include "oci/symlinks.h"
#include "oci/safepath.h"
#include "util/cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void nvb_link_spec_free(nvb_link_spec *l)
{
    if (!l)
        return;
    free(l->target);
    free(l->link);
    l->target = l->link = NULL;
}

int nvb_link_spec_parse(const char *arg, nvb_link_spec *out, nvb_err *err)
{
    out->target = out->link = NULL;
    const char *sep = NULL;
    for (const char *p = strstr(arg, "::"); p; p = strstr(p + 1, "::"))
        sep = p;
    if (!sep)
        return nvb_errf(err, NVB_EXIT_USAGE, "--link %.300s: expected TARGET::LINK", arg);
    size_t tlen = (size_t)(sep - arg);
    const char *link = sep + 2;
    if (tlen == 0)
        return nvb_errf(err, NVB_EXIT_USAGE, "--link %.300s: TARGET is empty", arg);
    if (tlen >= PATH_MAX)
        return nvb_errf(err, NVB_EXIT_USAGE, "--link %.300s...: TARGET is longer than %d bytes", arg, PATH_MAX - 1);
    const char *why;
    if (!nvb_container_path_ok(link, false, &why))
        return nvb_errf(err, NVB_EXIT_USAGE, "--link %.300s: LINK %.300s %s", arg, link, why);
    out->target = strndup(arg, tlen);
    out->link = strdup(link);
    if (!out->target || !out->link) {
        nvb_link_spec_free(out);
        return nvb_errf_errno(err, NVB_EXIT_IO, ENOMEM, "--link %.300s", arg);
    }
    return 0;
}

/* Does name in dirfd hold a symlink whose content is target? 1 yes, 0 a different symlink,
 * -1 with errno otherwise (EINVAL: not a symlink; ENOENT: nothing there). */
static int symlink_matches(int dirfd, const char *name, const char *target)
{
    char buf[PATH_MAX];
    ssize_t n = readlinkat(dirfd, name, buf, sizeof buf);
    if (n < 0)
        return -1;
    if ((size_t)n >= sizeof buf)
        return 0; /* longer than any target we accept: different */
    return (size_t)n == strlen(target) && memcmp(buf, target, (size_t)n) == 0;
}

/* Replace the symlink name with one to target atomically: a temporary link next to it,
 * then rename(2) over it (rename replaces the link itself, never what it points to). */
static int replace_symlink(int dirfd, const char *name, const char *target)
{
    char tmp[64];
    for (unsigned i = 0; i < 100; i++) {
        snprintf(tmp, sizeof tmp, ".nvbind-link-%ld-%u", (long)getpid(), i);
        if (symlinkat(target, dirfd, tmp) == 0) {
            if (renameat(dirfd, tmp, dirfd, name) == 0)
                return 0;
            int e = errno;
            unlinkat(dirfd, tmp, 0);
            errno = e;
            return -1;
        }
        if (errno != EEXIST)
            return -1;
    }
    errno = EEXIST;
    return -1;
}

void nvb_link_dir_close(nvb_link_dir *dir)
{
    free(dir->parent);
    if (dir->fd >= 0)
        close(dir->fd);
    *dir = (nvb_link_dir)NVB_LINK_DIR_INIT;
}

/* Open (or keep) l's folder in *dir, resolved inside the root, missing folders created. */
static int link_dir_open(int rootfd, nvb_link_dir *dir, const nvb_link_spec *l, nvb_err *err)
{
    const char *slash = strrchr(l->link, '/');
    size_t plen = (size_t)(slash - l->link);
    if (plen == 0)
        plen = 1; /* the link sits in "/" */
    if (dir->parent && strlen(dir->parent) == plen && memcmp(dir->parent, l->link, plen) == 0)
        return 0;
    nvb_link_dir_close(dir);
    char *parent = strndup(l->link, plen);
    if (!parent)
        return nvb_errf_errno(err, NVB_EXIT_IO, ENOMEM, "link %s", l->link);
    int fd = nvb_root_mkdir_p(rootfd, parent, 0755, err);
    if (fd < 0) {
        free(parent);
        return nvb_err_prefix(err, "link %s", l->link);
    }
    *dir = (nvb_link_dir){parent, fd};
    return 0;
}

int nvb_root_symlink(int rootfd, const nvb_link_spec *l, nvb_link_result *result, nvb_err *err)
{
    nvb_link_dir dir = NVB_LINK_DIR_INIT;
    int r = nvb_root_symlink_in(rootfd, &dir, l, result, err);
    nvb_link_dir_close(&dir);
    return r;
}

int nvb_root_symlink_in(int rootfd, nvb_link_dir *dir, const nvb_link_spec *l, nvb_link_result *result,
                        nvb_err *err)
{
    if (link_dir_open(rootfd, dir, l, err) < 0)
        return -1;
    const char *name = strrchr(l->link, '/') + 1;
    int dirfd = dir->fd;

    /* A symlink that appeared between the checks is handled by looping: at most a few
     * rounds, each of which only ever creates or renames within dirfd. */
    for (int round = 0; round < 4; round++) {
        int m = symlink_matches(dirfd, name, l->target);
        if (m == 1) {
            *result = NVB_LINK_UNCHANGED;
            return 0;
        }
        if (m == 0) {
            if (replace_symlink(dirfd, name, l->target) < 0)
                return nvb_errf_errno(err, NVB_EXIT_IO, errno, "link %s: cannot replace the existing symlink",
                                      l->link);
            *result = NVB_LINK_REPLACED;
            return 0;
        }
        if (errno == EINVAL) {
            *result = NVB_LINK_NOT_A_SYMLINK;
            return 0;
        }
        if (errno != ENOENT)
            return nvb_errf_errno(err, NVB_EXIT_IO, errno, "link %s", l->link);
        if (symlinkat(l->target, dirfd, name) == 0) {
            *result = NVB_LINK_CREATED;
            return 0;
        }
        if (errno != EEXIST)
            return nvb_errf_errno(err, NVB_EXIT_IO, errno, "link %s: cannot create it", l->link);
    }
    return nvb_errf(err, NVB_EXIT_IO, "link %s: keeps changing while it is being created", l->link);
}
