#include "host/rootpath.h"
#include "util/cleanup.h"
#include "util/strv.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void nvb_rootpath_init(nvb_rootpath *rp, const char *root)
{
    memset(rp, 0, sizeof *rp);
    size_t n = strlen(root);
    while (n > 1 && root[n - 1] == '/')
        n--;
    rp->root = root;
    rp->root_len = (n == 1 && root[0] == '/') ? 0 : n;
}

void nvb_rootpath_clear(nvb_rootpath *rp)
{
    for (size_t i = 0; i < sizeof rp->memo / sizeof rp->memo[0]; i++) {
        free(rp->memo[i].dir);
        free(rp->memo[i].resolved);
    }
    memset(rp->memo, 0, sizeof rp->memo);
}

char *nvb_rootpath_host(const nvb_rootpath *rp, const char *path)
{
    char *out;
    if (asprintf(&out, "%.*s%s%s", (int)rp->root_len, rp->root, path[0] == '/' ? "" : "/", path) < 0)
        return NULL;
    return out;
}

/* The core walk: `out` holds the resolved prefix (relative to root, no trailing slash,
 * "" for root itself); `rest` the components still to walk. */
static char *walk(const nvb_rootpath *rp, const char *start, const char *path)
{
    char out[PATH_MAX], rest[PATH_MAX], hostbuf[PATH_MAX + 4096], target[PATH_MAX];
    size_t olen = strlen(start);
    if (olen >= sizeof out || strlen(path) >= sizeof rest) {
        errno = ENAMETOOLONG;
        return NULL;
    }
    memcpy(out, start, olen + 1);
    memcpy(rest, path, strlen(path) + 1);
    int hops = 0;
    char *p = rest;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        char *comp = p;
        while (*p && *p != '/')
            p++;
        size_t clen = (size_t)(p - comp);
        if (clen == 1 && comp[0] == '.')
            continue;
        if (clen == 2 && comp[0] == '.' && comp[1] == '.') {
            char *slash = strrchr(out, '/');
            olen = slash ? (size_t)(slash - out) : 0;
            out[olen] = '\0';
            continue;
        }
        if (olen + 1 + clen >= sizeof out) {
            errno = ENAMETOOLONG;
            return NULL;
        }
        out[olen] = '/';
        memcpy(out + olen + 1, comp, clen);
        out[olen + 1 + clen] = '\0';
        int hn = snprintf(hostbuf, sizeof hostbuf, "%.*s%s", (int)rp->root_len, rp->root, out);
        if (hn < 0 || (size_t)hn >= sizeof hostbuf) {
            errno = ENAMETOOLONG;
            return NULL;
        }
        ssize_t tl = readlink(hostbuf, target, sizeof target - 1);
        if (tl < 0) {
            if (errno != EINVAL)
                return NULL;        /* ENOENT, EACCES, ENOTDIR: report as is */
            olen += 1 + clen;       /* not a link: keep the component */
            continue;
        }
        if (++hops > 40) {
            errno = ELOOP;
            return NULL;
        }
        target[tl] = '\0';
        /* Splice the link target in front of what is left to walk. */
        char tail[PATH_MAX];
        size_t plen = strlen(p);
        if ((size_t)tl + 1 + plen >= sizeof tail) {
            errno = ENAMETOOLONG;
            return NULL;
        }
        memcpy(tail, target, (size_t)tl);
        tail[tl] = '/';
        memcpy(tail + tl + 1, p, plen + 1);
        memcpy(rest, tail, (size_t)tl + plen + 2);
        p = rest;
        if (target[0] == '/') {
            olen = 0;
        }
        out[olen] = '\0';
    }
    return strdup(olen ? out : "/");
}

char *nvb_rootpath_resolve(nvb_rootpath *rp, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path)
        return walk(rp, "", path);
    size_t dlen = (size_t)(slash - path);
    const size_t nmemo = sizeof rp->memo / sizeof rp->memo[0];
    const char *rdir = NULL;
    for (size_t i = 0; i < nmemo; i++)
        if (rp->memo[i].dir && strlen(rp->memo[i].dir) == dlen && memcmp(rp->memo[i].dir, path, dlen) == 0)
            rdir = rp->memo[i].resolved;
    if (!rdir) {
        _cleanup_free_ char *dir = strndup(path, dlen);
        char *resolved = dir ? walk(rp, "", dir) : NULL;
        if (!resolved)
            return NULL;
        unsigned k = rp->memo_next++ % nmemo;
        free(rp->memo[k].dir);
        free(rp->memo[k].resolved);
        rp->memo[k].dir = NVB_TAKE(dir);
        rp->memo[k].resolved = resolved;
        rdir = resolved;
    }
    return walk(rp, strcmp(rdir, "/") == 0 ? "" : rdir, slash + 1);
}
