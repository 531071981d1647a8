/* Names per folder; see ldcache_names.h. */
#include "oci/ldcache_names.h"
#include "oci/safepath.h"
#include "util/cleanup.h"
#include "util/grow.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct folder {
    char *path;             /* as first named; another spelling of it is another row */
    bool present;           /* found in the root: dev and ino are its identity */
    dev_t dev;
    ino_t ino;
    const char **names;
    size_t n, cap;
    bool sorted;
};

struct nvb_folder_names {
    int rootfd;
    struct folder *v;
    size_t n, cap;
};

nvb_folder_names *nvb_folder_names_new(int rootfd)
{
    nvb_folder_names *f = calloc(1, sizeof *f);
    if (f)
        f->rootfd = rootfd;
    return f;
}

void nvb_folder_names_free(nvb_folder_names *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++) {
        free(f->v[i].path);
        free(f->v[i].names);
    }
    free(f->v);
    free(f);
}

/* The row of the folder spelt path (len bytes), made and looked up on first use; NULL when
 * out of memory or over the limit. */
static struct folder *folder_of(nvb_folder_names *f, const char *path, size_t len)
{
    for (size_t i = f->n; i-- > 0;)
        if (strlen(f->v[i].path) == len && !memcmp(f->v[i].path, path, len))
            return &f->v[i];
    if (f->n == NVB_FOLDER_NAMES_MAX_DIRS)
        return NULL;
    struct folder *nv = nvb_grow(f->v, &f->cap, f->n, sizeof *nv, 16);
    if (!nv)
        return NULL;
    f->v = nv;
    struct folder *d = &f->v[f->n];
    *d = (struct folder){ .path = strndup(path, len) };
    if (!d->path)
        return NULL;
    f->n++;
    _cleanup_close_ int fd = nvb_root_open(f->rootfd, len ? d->path : "/", O_PATH | O_DIRECTORY);
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0)
        *d = (struct folder){ .path = d->path, .present = true, .dev = st.st_dev, .ino = st.st_ino };
    return d;
}

int nvb_folder_names_add(nvb_folder_names *f, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return 0;
    struct folder *d = folder_of(f, path, (size_t)(slash - path));
    if (!d)
        return -1;
    if (!d->present)
        return 0;
    const char **nn = nvb_grow(d->names, &d->cap, d->n, sizeof *nn, 64);
    if (!nn)
        return -1;
    d->names = nn;
    d->names[d->n++] = slash + 1;
    d->sorted = false;
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void sort_names(struct folder *d)
{
    if (!d->sorted) {
        qsort(d->names, d->n, sizeof *d->names, by_name);
        d->sorted = true;
    }
}

/* Whether a listed name is key itself or starts with key and a dot. */
static bool listed_under(const struct folder *d, const char *key)
{
    size_t lo = 0, hi = d->n, len = strlen(key);
    while (lo < hi) {   /* the first name not below key */
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(d->names[mid], key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < d->n && !strncmp(d->names[lo], key, len); lo++)
        if (d->names[lo][len] == '\0' || d->names[lo][len] == '.')
            return true;
    return false;
}

bool nvb_folder_names_has(nvb_folder_names *f, const struct stat *folder, const char *name)
{
    /* A versioned name counts under its library and major version ("libfoo.so.1" for
     * libfoo.so.1.2.3, and for a libbz2.so.1 link beside the SONAME libbz2.so.1.0). */
    char key[NAME_MAX + 1];
    snprintf(key, sizeof key, "%s", name);
    char *so = strstr(key, ".so."), *dot = so ? strchr(so + 4, '.') : NULL;
    if (dot)
        *dot = '\0';
    for (size_t i = 0; i < f->n; i++) {
        struct folder *d = &f->v[i];
        if (!d->present || d->dev != folder->st_dev || d->ino != folder->st_ino)
            continue;
        sort_names(d);
        if (so ? listed_under(d, key) : bsearch(&name, d->names, d->n, sizeof *d->names, by_name) != NULL)
            return true;
    }
    return false;
}
