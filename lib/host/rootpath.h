/* Paths inside a host root: resolve symlinks the way the host's kernel would if root
 * were "/", but never leave root (an absolute link target restarts at root, ".." stops
 * at root). */
#pragma once
#include <stddef.h>

typedef struct nvb_rootpath {
    const char *root;   /* "/" or a directory without trailing slash */
    size_t root_len;    /* 0 when root is "/" */
    /* Memo of resolved folders: most files discovery resolves share a few folders. */
    struct { char *dir, *resolved; } memo[8];
    unsigned memo_next;
} nvb_rootpath;

void nvb_rootpath_init(nvb_rootpath *rp, const char *root);
void nvb_rootpath_clear(nvb_rootpath *rp);

/* Resolve `path` (absolute, relative to root). Returns the resolved path relative to
 * root ("/usr/lib/.../libcuda.so.550.54.14"), malloc'd; NULL with errno on failure
 * (ENOENT when a component is missing, ELOOP after 40 links). */
char *nvb_rootpath_resolve(nvb_rootpath *rp, const char *path);

/* root + path, the path as this process sees it. malloc'd. */
char *nvb_rootpath_host(const nvb_rootpath *rp, const char *path);
