/* Small helpers shared by the lib/oci unit tests (with tests/unit/common/test_util.h):
 * temporary trees and symlinks. */
#pragma once
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/test_util.h"

/* Always under /tmp, whatever TMPDIR says, where these tests have always made theirs. */
static inline char *t_mkdtemp(void)
{
    return t_mkdtemp_in("/tmp", "nvbind-oci-test");
}

/* mkdir -p for test fixtures (plain paths, no symlink games). */
static inline void t_mkdirs(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(buf, 0755);
            *p = '/';
        }
    }
    mkdir(buf, 0755);
}

/* Link target of path, or "" when it is not a symlink. Static buffer. */
static inline const char *t_readlink(const char *path)
{
    static char buf[4096];
    ssize_t n = readlink(path, buf, sizeof buf - 1);
    buf[n < 0 ? 0 : n] = '\0';
    return buf;
}
