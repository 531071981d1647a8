/* The audit logs of users who are not root: where a member's log lives, which of them a
 * reader trusts, and the folder root shares with the group. See audit.h. */
#include "isolation/audit.h"
#include "isolation/group.h"
#include "util/cleanup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_MEMBER_LOGS 1024

char *nvb_audit_member_log(const char *path, uid_t uid)
{
    /* malloc and snprintf, not asprintf: gcc 12 at -O3 takes the inlined asprintf's local for
     * what the caller's pointers point to (-Wdangling-pointer). */
    size_t size = strlen(path) + sizeof "@4294967295";
    char *out = malloc(size);
    if (out)
        snprintf(out, size, "%s@%u", path, (unsigned)uid);
    return out;
}

void nvb_audit_share(int fd, const char *path)
{
    _cleanup_free_ char *copy = strdup(path);
    if (!copy)
        return;
    _cleanup_close_ int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    gid_t gid = nvb_group_shared_folder(dfd);
    if (gid == (gid_t)-1)
        return; /* not the group's folder: root's log stays root's alone */
    fchmod(dfd, 03770); /* members add their log; the sticky bit keeps each log its owner's */
    struct stat st;
    if (fstat(fd, &st) == 0 && st.st_uid == 0 && fchown(fd, 0, gid) == 0)
        fchmod(fd, 0640);
}

/* UID of a name "BASE@UID" (BASE the log's file name); 0 when it is not one. */
static uid_t member_uid(const char *name, const char *base)
{
    size_t b = strlen(base);
    if (strncmp(name, base, b) != 0 || name[b] != '@' || name[b + 1] < '1' || name[b + 1] > '9')
        return 0;
    char *end;
    unsigned long u = strtoul(name + b + 1, &end, 10);
    return *end || u > 0xfffffffeUL ? 0 : (uid_t)u;
}

static int cmp_uid(const void *a, const void *b)
{
    uid_t x = *(const uid_t *)a, y = *(const uid_t *)b;
    return x < y ? -1 : x > y;
}

int nvb_audit_member_logs(const char *path, nvb_strv *paths, uid_t **uids, nvb_strv *skipped, nvb_err *err)
{
    *uids = NULL;
    _cleanup_free_ char *c1 = strdup(path), *c2 = strdup(path);
    if (!c1 || !c2)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    const char *dir = dirname(c1), *base = basename(c2);
    _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
    if (!d)
        return 0;
    int keep = dup(dfd);
    dfd = -1; /* closedir closes it */
    uid_t found[MAX_MEMBER_LOGS];
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < MAX_MEMBER_LOGS) {
        uid_t u = member_uid(de->d_name, base);
        if (u)
            found[n++] = u;
    }
    closedir(d);
    qsort(found, n, sizeof *found, cmp_uid);
    *uids = calloc(n + 1, sizeof **uids);
    size_t k = 0;
    for (size_t i = 0; *uids && i < n; i++) {
        _cleanup_free_ char *p = nvb_audit_member_log(path, found[i]);
        struct stat st;
        if (!p)
            break;
        /* Trusted: a regular file of one link, owned by the uid its name says, that neither
         * its group nor others can write. */
        const char *slash = strrchr(p, '/');
        const char *name = slash ? slash + 1 : p;
        if (keep < 0 || fstatat(keep, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (!S_ISREG(st.st_mode) || st.st_nlink != 1 || st.st_uid != found[i] || (st.st_mode & 022)) {
            nvb_strv_pushf(skipped, "%s: not a log uid %u wrote (owner uid %u, mode %04o); skipped", p,
                           (unsigned)found[i], (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
            continue;
        }
        (*uids)[k++] = found[i];
        nvb_strv_push(paths, p);
    }
    if (keep >= 0)
        close(keep);
    if (!*uids)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    return 0;
}
