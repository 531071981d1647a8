/* Small helpers shared by the lib/oci unit tests: temporary trees and assertions. */
#pragma once
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define assert_contains(hay, needle)                                                                           \
    do {                                                                                                       \
        const char *h_ = (hay), *n_ = (needle);                                                                \
        if (!strstr(h_, n_))                                                                                   \
            fail_msg("\"%s\" does not contain \"%s\"", h_, n_);                                                \
    } while (0)

static inline char *t_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline char *t_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    if (!s)
        abort();
    return s;
}

static inline char *t_mkdtemp(void)
{
    char *d = strdup("/tmp/nvbind-oci-test-XXXXXX");
    if (!d || !mkdtemp(d))
        abort();
    return d;
}

static inline int t_rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static inline void t_rm_rf(const char *dir)
{
    nftw(dir, t_rm_one, 32, FTW_DEPTH | FTW_PHYS);
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

static inline void t_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        abort();
    fputs(text, f);
    fclose(f);
}

/* Link target of path, or "" when it is not a symlink. Static buffer. */
static inline const char *t_readlink(const char *path)
{
    static char buf[4096];
    ssize_t n = readlink(path, buf, sizeof buf - 1);
    buf[n < 0 ? 0 : n] = '\0';
    return buf;
}
