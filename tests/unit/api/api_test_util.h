/* Helpers shared by the C API's unit tests: fake hosts built with tests/fakehost/fakehost.py,
 * temporary folders, and small file helpers. Each test program includes this once. */
#pragma once
#include <errno.h>
#include <ftw.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nvbind.h"

/* A temporary folder under $TMPDIR (or /tmp); NULL on failure. Caller frees. */
static inline char *tu_mkdtemp(const char *prefix)
{
    const char *tmp = getenv("TMPDIR");
    char *path = NULL;
    if (asprintf(&path, "%s/%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", prefix) < 0)
        return NULL;
    if (!mkdtemp(path)) {
        free(path);
        return NULL;
    }
    return path;
}

static inline int tu_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static inline void tu_rm_rf(const char *path)
{
    if (path)
        nftw(path, tu_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

typedef struct tu_host {
    char *tmp;        /* the temporary folder holding it */
    char *root;       /* <tmp>/host: the host root */
    json_t *manifest; /* what the builder says the host holds */
} tu_host;

/* Build a fake host with fakehost.py's sub-command `how` ("build", "build-wsl2"; extra: more
 * builder options, may be ""). Returns 0, or -1 with the reason printed. */
static inline int tu_host_build_with(tu_host *h, const char *how, const char *extra)
{
    memset(h, 0, sizeof *h);
    h->tmp = tu_mkdtemp("nvbind-api-test");
    if (!h->tmp || asprintf(&h->root, "%s/host", h->tmp) < 0)
        return -1;
    char *cmd = NULL, *manifest = NULL;
    if (asprintf(&cmd, "python3 '%s/tests/fakehost/fakehost.py' %s '%s' %s >/dev/null", NVB_TEST_SRCDIR, how,
                 h->root, extra) < 0)
        return -1;
    int r = system(cmd);
    free(cmd);
    if (r != 0) {
        fprintf(stderr, "fakehost.py %s %s failed (%d)\n", how, extra, r);
        return -1;
    }
    if (asprintf(&manifest, "%s/manifest.json", h->root) < 0)
        return -1;
    json_error_t je;
    h->manifest = json_load_file(manifest, 0, &je);
    free(manifest);
    return h->manifest ? 0 : -1;
}

static inline int tu_host_build(tu_host *h, const char *extra)
{
    return tu_host_build_with(h, "build", extra);
}

static inline void tu_host_free(tu_host *h)
{
    tu_rm_rf(h->tmp);
    free(h->tmp);
    free(h->root);
    json_decref(h->manifest);
    memset(h, 0, sizeof *h);
}

/* The manifest's GPU i field as a string ("uuid", "pci_bus_id", "name"). */
static inline const char *tu_gpu_field(const tu_host *h, size_t i, const char *field)
{
    return json_string_value(json_object_get(json_array_get(json_object_get(h->manifest, "gpus"), i), field));
}

static inline int tu_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int r = fputs(text, f) < 0 ? -1 : 0;
    return fclose(f) == 0 ? r : -1;
}

static inline char *tu_read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t cap = 0;
    ssize_t n = getdelim(&buf, &cap, '\0', f);
    fclose(f);
    if (n < 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* Options for a manager on a fake host: hooks point at a path that need not exist. */
static inline nvbind_manager_options tu_options(const tu_host *h)
{
    return (nvbind_manager_options){.host_root = h->root, .hook_path = "/usr/bin/nvbind"};
}

/* The spec-wide env entry KEY=..., or NULL (cmocka-friendly wrapper). */
static inline const char *tu_env(const nvbind_cdi_spec *s, const char *key)
{
    return nvbind_cdi_spec_getenv(s, key);
}

/* assert_non_null for pointers used right after: cmocka's failure does not return (it jumps
 * back to the runner), which the compiler cannot see without this hint. */
#define TU_NON_NULL(p)                                  \
    do {                                                \
        if (!(p)) {                                     \
            fail_msg("%s is NULL", #p);                 \
            __builtin_unreachable();                    \
        }                                               \
    } while (0)
