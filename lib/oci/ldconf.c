#include "oci/ldconf.h"
#include "oci/safepath.h"
#include "util/cleanup.h"
#include "util/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LDCONF_DIR "/etc/ld.so.conf.d"

static char *ldconf_text(const char *const *folders, size_t n, size_t *len)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    if (!f)
        return NULL;
    fputs("# Written by nvbind's update-ldcache hook at every container start: the folders the\n"
          "# NVIDIA driver's libraries were mounted into. Edits here are overwritten.\n", f);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s\n", folders[i]);
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    *len = size;
    return text;
}

/* Does dirfd/name already hold exactly text (a regular file, not followed)? Hooks run at
 * every start: an unchanged file is not written again. */
static bool same_content(int dirfd, const char *name, const char *text, size_t len)
{
    struct stat st;
    _cleanup_close_ int fd = nvb_open_regular_at(dirfd, name, &st);
    if (fd < 0 || (size_t)st.st_size != len)
        return false;
    _cleanup_free_ char *buf = malloc(len + 1);
    if (!buf)
        return false;
    ssize_t n = pread(fd, buf, len + 1, 0);
    return n == (ssize_t)len && memcmp(buf, text, len) == 0;
}

int nvb_ldconf_write(int rootfd, const char *name, const char *const *folders, size_t nfolders, nvb_err *err)
{
    size_t len = 0;
    _cleanup_free_ char *text = ldconf_text(folders, nfolders, &len);
    if (!text)
        return nvb_errf_errno(err, NVB_EXIT_IO, ENOMEM, "%s/%s", LDCONF_DIR, name);
    /* Opened through the root: an /etc or ld.so.conf.d symlink resolves inside it. */
    _cleanup_close_ int dir = nvb_root_mkdir_p(rootfd, LDCONF_DIR, 0755, err);
    if (dir < 0)
        return -1;
    if (same_content(dir, name, text, len))
        return 0;
    /* The name is nvbind's: a link an image planted there is removed, never followed (the
     * atomic writer refuses to replace links, whose owner usually means their target). */
    struct stat st;
    if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode) && unlinkat(dir, name, 0) < 0)
        return nvb_errf_errno(err, NVB_EXIT_IO, errno, "%s/%s", LDCONF_DIR, name);
    /* Not fsync'ed: the hook writes it again at every start, and it lives in the container's
     * writable layer, whose disk the fsync would wait on for nothing. */
    return nvb_write_file_volatile_at(dir, LDCONF_DIR, name, text, len, 0644, err);
}

int nvb_ldconf_remove(int rootfd, const char *name, nvb_err *err)
{
    _cleanup_close_ int dir = nvb_root_open(rootfd, LDCONF_DIR, O_PATH | O_DIRECTORY);
    if (dir < 0)
        return errno == ENOENT ? 0 : nvb_errf_errno(err, NVB_EXIT_IO, errno, "container folder %s", LDCONF_DIR);
    if (unlinkat(dir, name, 0) < 0 && errno != ENOENT)
        return nvb_errf_errno(err, NVB_EXIT_IO, errno, "%s/%s: cannot remove it", LDCONF_DIR, name);
    return 0;
}

bool nvb_ldconf_present(int rootfd, const char *name)
{
    _cleanup_close_ int dir = nvb_root_open(rootfd, LDCONF_DIR, O_PATH | O_DIRECTORY);
    struct stat st;
    return dir >= 0 && fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}
