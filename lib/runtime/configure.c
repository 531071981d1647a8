/* nvbind runtime configure: read an engine's file, compute its new contents with the
 * engine's own formatter (configure_*.c), keep a backup and write atomically. */
#include "runtime/configure.h"
#include "util/cleanup.h"
#include "util/fileio.h"
#include "util/trust.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* The file's text (NULL with *missing set when there is none yet) and its permissions. A
 * link is refused rather than followed or replaced: it was made by someone who meant the
 * engine to read another file, which is the one to name. */
static char *read_old(int dfd, const char *path, const char *name, size_t *len, mode_t *mode, bool *missing,
                      nvb_err *err)
{
    *missing = false;
    struct stat st;
    int pfd = openat(dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (pfd < 0 && errno == ENOENT) {
        *missing = true;
        return NULL;
    }
    if (pfd >= 0 && fstat(pfd, &st) == 0 && S_ISLNK(st.st_mode)) {
        close(pfd);
        nvb_errf(err, NVB_EXIT_IO,
                 "%s is a symbolic link: nvbind writes no engine configuration through a link; name the file it "
                 "leads to with --config",
                 path);
        return NULL;
    }
    _cleanup_close_ int fd = pfd < 0 ? -1 : nvb_reopen_regular(pfd, &st);
    if (fd < 0) {
        nvb_errf_errno(err, NVB_EXIT_IO, errno == EINVAL ? 0 : errno, "%s%s", path,
                       errno == EINVAL ? ": not a regular file" : "");
        return NULL;
    }
    *mode = st.st_mode & 0777; /* never set-id bits on a file root writes */
    char *text = nvb_read_fd(fd, CONF_MAX, len);
    if (!text)
        nvb_errf_errno(err, NVB_EXIT_IO, errno, "reading %s", path);
    return text;
}

/* A drop-in's folder (crio.conf.d, containers.conf.d) may not exist yet; its parent must. */
static int make_folder(const char *dir, nvb_err *err)
{
    if (mkdir(dir, 0755) < 0 && errno != EEXIST)
        return nvb_errf_errno(err, NVB_EXIT_IO, errno, "creating %s", dir);
    return 0;
}

int nvb_runtime_configure(const nvb_configure_opts *o, FILE *out, nvb_err *err)
{
    const char *path = o->path ? o->path : engines[o->engine].path;
    _cleanup_free_ char *d = strdup(path), *b = strdup(path), *backup = NULL;
    const char *dir = d ? dirname(d) : NULL, *name = b ? basename(b) : NULL;
    if (!dir || !name || asprintf(&backup, "%s%s", name, NVB_CONF_BACKUP_SUFFIX) < 0)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    if (engines[o->engine].drop_in && !o->dry_run && make_folder(dir, err) < 0)
        return -1;
    _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 && !(o->dry_run && errno == ENOENT && engines[o->engine].drop_in))
        return nvb_errf_errno(err, NVB_EXIT_IO, errno, "%s: folder %s", path, dir);
    if (dfd >= 0 && !o->dry_run && nvb_trust_folder_fd(dfd, dir, "nvbind writes no engine configuration where another user could replace its files", err) < 0)
        return -1;
    size_t len = 0;
    mode_t mode = 0644;
    bool missing = dfd < 0;
    _cleanup_free_ char *old = dfd < 0 ? NULL : read_old(dfd, path, name, &len, &mode, &missing, err);
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
    /* Both by rename in the folder checked above: a link at either name is never followed. */
    if (old && nvb_write_file_atomic_at(dfd, dir, backup, old, len, mode, err) < 0)
        return -1;
    if (nvb_write_file_atomic_at(dfd, dir, name, text, n, mode, err) < 0)
        return -1;
    if (old)
        fprintf(out, "updated %s (previous version in %s%s)%s\n", path, path, NVB_CONF_BACKUP_SUFFIX,
                engines[o->engine].apply);
    else
        fprintf(out, "wrote %s%s\n", path, engines[o->engine].apply);
    return 1;
}
