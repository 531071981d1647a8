/* Helpers any unit test may use: formatted strings, temporary folders and small files. A
 * failure the test cannot go on from aborts (or, where cmocka can say more, fails the test).
 * Include it after <cmocka.h>; a module's own test header adds what only its tests need. */
#pragma once
#include <ftw.h>
#include <stdarg.h>
#include <stdbool.h>
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

/* A malloc'd formatted string. */
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

/* A new folder "<parent>/<name>-XXXXXX" (malloc'd); parent NULL: $TMPDIR when it is an
 * absolute path, else /tmp. */
static inline char *t_mkdtemp_in(const char *parent, const char *name)
{
    if (!parent) {
        const char *env = getenv("TMPDIR");
        parent = env && env[0] == '/' ? env : "/tmp";
    }
    char *d = t_printf("%s/%s-XXXXXX", parent, name);
    if (!mkdtemp(d))
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

/* rm -rf dir, links not followed: 0, or -1 when something could not be removed. */
static inline int t_rm_rf(const char *dir)
{
    return nftw(dir, t_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static inline void t_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0)
        abort();
}

/* <root><rel>: a folder, or a file that holds its own name rel. */
static inline void t_make_at(const char *root, const char *rel, bool dir)
{
    char p[512];
    snprintf(p, sizeof p, "%s%s", root, rel);
    if (dir)
        assert_int_equal(mkdir(p, 0755), 0);
    else
        t_write(p, rel);
}

/* <root><rel>, a symlink to target. */
static inline void t_symlink_at(const char *root, const char *target, const char *rel)
{
    char p[512];
    snprintf(p, sizeof p, "%s%s", root, rel);
    assert_int_equal(symlink(target, p), 0);
}
