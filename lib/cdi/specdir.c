/* Scanning CDI spec directories the way the engines do, and reporting what they would see:
 * each spec file with its devices and problems, and every device two files declare.
 *
 * The engines' rules: directories in priority order (later wins); within a directory, files
 * in name order; only *.json and *.yaml (a .yml file is listed here but engines skip it);
 * subdirectories skipped; a spec that fails to load or validate is dropped whole. A device
 * declared by specs in two directories comes from the later one; a device declared by two
 * specs of the same directory is refused altogether (even when a later directory declares it
 * too). */
#include "cdi/cdi.h"
#include "util/cleanup.h"
#include "util/grow.h"
#include "util/strv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *const nvb_cdi_default_dirs[] = {"/etc/cdi", "/var/run/cdi"};
const size_t nvb_cdi_default_dirs_n = sizeof nvb_cdi_default_dirs / sizeof nvb_cdi_default_dirs[0];

static void spec_file_free(nvb_cdi_spec_file *f)
{
    free(f->path);
    free(f->kind);
    free(f->cdi_version);
    nvb_strv_free(&f->devices);
    nvb_strv_free(&f->problems);
    nvb_strv_free(&f->conflicts);
}

void nvb_cdi_listing_free(nvb_cdi_listing *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        spec_file_free(&l->files[i]);
    free(l->files);
    nvb_strv_free(&l->dir_errors);
    l->files = NULL;
    l->n = 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_spec_name(const char *name)
{
    return nvb_endswith(name, ".json") || nvb_endswith(name, ".yaml") || nvb_endswith(name, ".yml");
}

/* The spec file names in one directory, sorted. A missing directory gives none; one that
 * cannot be read gives a line in dir_errors. -1 only when memory runs out. */
static int list_dir(const char *dir, nvb_strv *names, nvb_strv *dir_errors)
{
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT)
            return 0;
        return nvb_strv_pushf(dir_errors, "cannot read CDI spec directory %s: %s", dir, strerror(errno));
    }
    struct dirent *de;
    int r = 0;
    errno = 0;
    while (r == 0 && (de = readdir(d))) {
        struct stat st;
        /* subdirectories (and links to them) are skipped, as the engines skip them */
        if (is_spec_name(de->d_name) &&
            !(fstatat(dirfd(d), de->d_name, &st, 0) == 0 && S_ISDIR(st.st_mode)))
            r = nvb_strv_push(names, de->d_name);
        errno = 0;
    }
    if (r == 0 && errno != 0)
        r = nvb_strv_pushf(dir_errors, "cannot read CDI spec directory %s: %s", dir, strerror(errno));
    closedir(d);
    if (names->n > 1)
        qsort(names->v, names->n, sizeof *names->v, cmp_str);
    return r;
}

/* Load, validate and describe one file. -1 only when memory runs out. */
static int describe(nvb_cdi_spec_file *f)
{
    struct stat st;
    if (stat(f->path, &st) == 0 && !S_ISREG(st.st_mode)) /* never block reading a FIFO */
        return nvb_strv_push(&f->problems, "not a regular file");
    nvb_err err = {0};
    json_t *spec = nvb_cdi_load_file(f->path, &err);
    if (!spec)
        return nvb_strv_push(&f->problems, err.msg);
    int r = 0;
    const char *kind = json_string_value(json_object_get(spec, "kind"));
    const char *version = json_string_value(json_object_get(spec, "cdiVersion"));
    if ((kind && !(f->kind = strdup(kind))) || (version && !(f->cdi_version = strdup(version))))
        r = -1;
    if (r == 0 && kind && nvb_cdi_device_names(spec, &f->devices) < 0)
        r = -1;
    int problems = r == 0 ? nvb_cdi_validate(spec, &f->problems) : -1;
    if (problems < 0)
        r = -1;
    f->valid = problems == 0;
    json_decref(spec);
    return r;
}

typedef struct claim {
    const char *qname;
    size_t file;
} claim;

static int cmp_claim(const void *a, const void *b)
{
    const claim *x = a, *y = b;
    int r = strcmp(x->qname, y->qname);
    return r ? r : (x->file > y->file) - (x->file < y->file);
}

/* Lines for one device declared by files[g[0..n)] (in priority order). */
static int report_group(nvb_cdi_listing *l, const claim *g, size_t n)
{
    const char *q = g[0].qname;
    /* A directory holding two of them makes the device unusable everywhere. */
    size_t dup_dir = SIZE_MAX;
    for (size_t i = 1; i < n && dup_dir == SIZE_MAX; i++)
        if (l->files[g[i].file].dir_index == l->files[g[i - 1].file].dir_index)
            dup_dir = l->files[g[i].file].dir_index;
    const nvb_cdi_spec_file *winner = &l->files[g[n - 1].file];

    for (size_t i = 0; i < n; i++) {
        nvb_cdi_spec_file *f = &l->files[g[i].file];
        int r;
        if (dup_dir != SIZE_MAX) {
            const nvb_cdi_spec_file *same = NULL;
            for (size_t j = 0; j < n && !same; j++)
                if (j != i && l->files[g[j].file].dir_index == f->dir_index)
                    same = &l->files[g[j].file];
            if (same)
                r = nvb_strv_pushf(&f->conflicts, "%s: also declared by %s in the same directory; engines refuse "
                                                  "a device two specs of one directory declare", q, same->path);
            else
                r = nvb_strv_pushf(&f->conflicts, "%s: unusable: more than one spec in another directory declares "
                                                  "it, and engines then refuse it everywhere", q);
        } else if (f == winner) {
            _cleanup_free_ char *others = NULL;
            size_t olen = 0;
            FILE *m = open_memstream(&others, &olen);
            if (!m)
                return -1;
            for (size_t j = 0; j + 1 < n; j++)
                fprintf(m, "%s%s", j ? ", " : "", l->files[g[j].file].path);
            if (fclose(m) != 0)
                return -1;
            r = nvb_strv_pushf(&f->conflicts, "%s: overrides %s (a later directory wins)", q, others);
        } else {
            r = nvb_strv_pushf(&f->conflicts, "%s: overridden by %s (a later directory wins)", q, winner->path);
        }
        if (r < 0)
            return -1;
    }
    return 0;
}

static int resolve_conflicts(nvb_cdi_listing *l)
{
    size_t total = 0;
    for (size_t i = 0; i < l->n; i++)
        if (l->files[i].valid && !l->files[i].ignored_by_engines)
            total += l->files[i].devices.n;
    if (total < 2)
        return 0;
    _cleanup_free_ claim *claims = calloc(total, sizeof *claims);
    if (!claims)
        return -1;
    size_t k = 0;
    for (size_t i = 0; i < l->n; i++)
        if (l->files[i].valid && !l->files[i].ignored_by_engines)
            for (size_t d = 0; d < l->files[i].devices.n; d++)
                claims[k++] = (claim){.qname = l->files[i].devices.v[d], .file = i};
    qsort(claims, total, sizeof *claims, cmp_claim);
    for (size_t i = 0; i < total;) {
        size_t j = i + 1;
        while (j < total && strcmp(claims[j].qname, claims[i].qname) == 0)
            j++;
        if (j - i > 1 && report_group(l, claims + i, j - i) < 0)
            return -1;
        i = j;
    }
    return 0;
}

int nvb_cdi_list(const char *const *dirs, size_t ndirs, nvb_cdi_listing *out, nvb_err *err)
{
    *out = (nvb_cdi_listing){0};
    if (!dirs || ndirs == 0) {
        dirs = nvb_cdi_default_dirs;
        ndirs = nvb_cdi_default_dirs_n;
    }
    size_t cap = 0;
    for (size_t d = 0; d < ndirs; d++) {
        nvb_strv names = {0};
        if (list_dir(dirs[d], &names, &out->dir_errors) < 0) {
            nvb_strv_free(&names);
            goto oom;
        }
        for (size_t i = 0; i < names.n; i++) {
            nvb_cdi_spec_file *nf = nvb_grow(out->files, &cap, out->n, sizeof *nf, 16);
            if (!nf) {
                nvb_strv_free(&names);
                goto oom;
            }
            out->files = nf;
            nvb_cdi_spec_file *f = &out->files[out->n++];
            *f = (nvb_cdi_spec_file){.dir_index = d, .ignored_by_engines = nvb_endswith(names.v[i], ".yml")};
            if (!(f->path = nvb_path_join(dirs[d], names.v[i])) || describe(f) < 0) {
                nvb_strv_free(&names);
                goto oom;
            }
        }
        nvb_strv_free(&names);
    }
    if (resolve_conflicts(out) < 0)
        goto oom;
    return 0;
oom:
    nvb_cdi_listing_free(out);
    return nvb_errf(err, NVB_EXIT_IO, "listing CDI specs: out of memory");
}
