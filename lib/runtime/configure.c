/* nvbind runtime configure: read an engine's file, compute its new contents with the
 * engine's own formatter (configure_*.c), keep a backup and write atomically. */
#include "runtime/configure.h"
#include "util/cleanup.h"
#include "util/fileio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Engine configuration files are small; anything bigger is not one. */
#define CONF_MAX (4u << 20)

static const struct {
    const char *name;
    const char *path;
    const char *apply; /* what makes the engine read the new file */
    bool drop_in;      /* the file is nvbind's own, in a folder nvbind may create */
    char *(*format)(const char *, size_t, const char *, const nvb_configure_opts *, nvb_err *);
} engines[] = {
    [NVB_CONF_DOCKER] = {"docker", "/etc/docker/daemon.json", "; restart dockerd to apply", false, nvb_conf_docker},
    [NVB_CONF_CONTAINERD] = {"containerd", "/etc/containerd/config.toml", "; restart containerd to apply", false,
                             nvb_conf_containerd},
    [NVB_CONF_CRIO] = {"crio", "/etc/crio/crio.conf.d/99-nvbind.conf", "; restart crio to apply", true, nvb_conf_crio},
    /* podman reads its configuration afresh on every command */
    [NVB_CONF_PODMAN] = {"podman", "/etc/containers/containers.conf.d/99-nvbind.conf", "", true, nvb_conf_podman},
};

int nvb_conf_engine_parse(const char *name)
{
    if (strcmp(name, "cri-o") == 0)
        return NVB_CONF_CRIO;
    for (size_t i = 0; i < sizeof engines / sizeof engines[0]; i++)
        if (strcmp(engines[i].name, name) == 0)
            return (int)i;
    return -1;
}

const char *nvb_conf_engine_name(nvb_conf_engine e) { return engines[e].name; }
const char *nvb_conf_default_path(nvb_conf_engine e) { return engines[e].path; }

/* The file's text, or NULL with *missing set when there is none yet. */
static char *read_old(const char *path, size_t *len, bool *missing, nvb_err *err)
{
    *missing = false;
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        nvb_errf(err, NVB_EXIT_IO, "%s: not a regular file", path);
        return NULL;
    }
    char *text = nvb_read_file(path, CONF_MAX, len);
    if (!text && errno == ENOENT)
        *missing = true;
    else if (!text)
        nvb_errf_errno(err, NVB_EXIT_IO, errno, "reading %s", path);
    return text;
}

/* The previous file, byte for byte, next to it (replacing an older backup). */
static int write_backup(const char *path, const char *old, size_t len, mode_t mode, nvb_err *err)
{
    _cleanup_free_ char *backup = NULL;
    if (asprintf(&backup, "%s%s", path, NVB_CONF_BACKUP_SUFFIX) < 0)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    return nvb_write_file_atomic(backup, old, len, mode, err);
}

/* A drop-in's folder (crio.conf.d, containers.conf.d) may not exist yet; its parent must. */
static int make_parent(const char *path, nvb_err *err)
{
    _cleanup_free_ char *dir = strdup(path);
    if (!dir)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = '\0';
    if (mkdir(dir, 0755) < 0 && errno != EEXIST)
        return nvb_errf_errno(err, NVB_EXIT_IO, errno, "creating %s", dir);
    return 0;
}

int nvb_runtime_configure(const nvb_configure_opts *o, FILE *out, nvb_err *err)
{
    const char *path = o->path ? o->path : engines[o->engine].path;
    size_t len = 0;
    bool missing;
    _cleanup_free_ char *old = read_old(path, &len, &missing, err);
    if (!old && !missing)
        return -1;
    if (old && strlen(old) != len)
        return nvb_errf(err, NVB_EXIT_CONFIG, "%s: the file holds a NUL byte", path);
    _cleanup_free_ char *text = engines[o->engine].format(old, len, path, o, err);
    if (!text)
        return -1;
    size_t n = strlen(text);
    bool same = old && n == len && memcmp(old, text, n) == 0;
    if (o->dry_run) {
        if (same)
            fprintf(out, "%s already registers nvbind-runtime as asked; nothing would change\n", path);
        else
            fprintf(out, "# %s would become:\n%s", path, text);
        return same ? 0 : 1;
    }
    if (same) {
        fprintf(out, "%s already registers nvbind-runtime as asked; nothing changed\n", path);
        return 0;
    }
    if (!old && engines[o->engine].drop_in && make_parent(path, err) < 0)
        return -1;
    struct stat st;
    mode_t mode = old && stat(path, &st) == 0 ? st.st_mode & 07777 : 0644;
    if (old && write_backup(path, old, len, mode, err) < 0)
        return -1;
    if (nvb_write_file_atomic(path, text, n, mode, err) < 0)
        return -1;
    if (old)
        fprintf(out, "updated %s (previous version in %s%s)%s\n", path, path, NVB_CONF_BACKUP_SUFFIX,
                engines[o->engine].apply);
    else
        fprintf(out, "wrote %s%s\n", path, engines[o->engine].apply);
    return 1;
}
