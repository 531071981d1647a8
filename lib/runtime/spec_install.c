#include "runtime/spec_install.h"
#include "util/log.h"
#include "cdi/cdi.h"
#include "policy/cdi_generate.h"
#include "util/cleanup.h"
#include "util/fileio.h"
#include "util/trust.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

char *nvb_spec_render(const nvb_host *h, const nvb_spec_install_opts *o, nvb_err *err)
{
    nvb_cdi_gen_opts go = {
        .kind = o->kind ? o->kind : "nvidia.com/gpu",
        .naming = (o->naming ? o->naming : NVB_NAMING_INDEX | NVB_NAMING_UUID) | NVB_NAMING_INDEX,
        .hook_path = o->hook_path,
        .extra = o->extra,
    };
    json_t *spec = nvb_cdi_generate(h, &go, err);
    if (!spec)
        return NULL;
    char *text = nvb_cdi_to_json(spec);
    json_decref(spec);
    if (!text)
        nvb_errf(err, NVB_EXIT_IO, "out of memory while writing the CDI spec");
    return text;
}

int nvb_spec_dir_make(const char *dir, nvb_err *err)
{
    _cleanup_free_ char *copy = strdup(dir);
    if (!copy)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    for (char *p = copy + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(copy, 0755) < 0 && errno != EEXIST)
            return nvb_errf_errno(err, NVB_EXIT_IO, errno, "cannot create the CDI spec folder %s", copy);
        *p = c;
        if (c == '\0')
            break;
    }
    struct stat st;
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
        return nvb_errf(err, NVB_EXIT_IO, "CDI spec folder %s: not a folder", dir);
    return 0;
}

/* The CDI folder, open. Root's only when root or itself alone may write in it: a daemon as
 * root rewrites its spec there on every change, root's engines run the hooks a spec names,
 * and whoever else may write in the folder could rewrite the spec or put a link or a FIFO in
 * its place (neither is ever followed or opened: read_spec_at, nvb_write_file_atomic_at). A
 * user's own spec for its rootless engine may sit where that user's group writes too
 * (umask 002). -1 with errno ENOENT when it is not there yet; -1 with err set otherwise. */
static int open_spec_dir(const char *dir, nvb_err *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT)
            nvb_errf_errno(err, NVB_EXIT_IO, errno, "cannot open the CDI spec folder %s", dir);
        return -1;
    }
    char shown[PATH_MAX + 32];
    snprintf(shown, sizeof shown, "CDI spec folder %s", dir);
    if (geteuid() == 0 &&
        nvb_trust_folder_fd(fd, shown, "others could rewrite the spec, or put a link or a FIFO in its place", err) < 0) {
        close(fd);
        errno = EPERM;
        return -1;
    }
    return fd;
}

/* The spec now in the folder, or NULL with errno (ENOENT: none; ELOOP or EINVAL: not a
 * regular file, never followed nor opened). */
static char *read_spec_at(int dirfd, const char *name, size_t *len)
{
    struct stat st;
    _cleanup_close_ int fd = nvb_open_regular_at(dirfd, name, &st);
    return fd < 0 ? NULL : nvb_read_fd(fd, NVB_CDI_MAX_FILE_SIZE, len);
}

int nvb_spec_install(const nvb_host *h, const nvb_spec_install_opts *o, char **path_out, nvb_err *err)
{
    const char *dir = o->dir ? o->dir : "/var/run/cdi";
    const char *kind = o->kind ? o->kind : "nvidia.com/gpu";
    if (path_out)
        *path_out = NULL;
    if (dir[0] != '/')
        return nvb_errf(err, NVB_EXIT_CONFIG, "[cdi] output_dir '%s' must be an absolute path", dir);
    _cleanup_free_ char *name = nvb_cdi_spec_file_name(kind, false);
    _cleanup_free_ char *path = name ? nvb_path_join(dir, name) : NULL;
    if (!path)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    _cleanup_free_ char *text = nvb_spec_render(h, o, err);
    if (!text)
        return -1;
    _cleanup_close_ int dirfd = open_spec_dir(dir, err);
    if (dirfd < 0 && errno != ENOENT)
        return -1;
    size_t len = strlen(text), old_len = 0;
    _cleanup_free_ char *old = dirfd >= 0 ? read_spec_at(dirfd, name, &old_len) : NULL;
    int read_errno = old ? 0 : dirfd < 0 ? ENOENT : errno;
    int result;
    if (old && old_len == len && memcmp(old, text, len) == 0) {
        result = NVB_SPEC_FRESH;
        nvb_log(NVB_LOG_INFO, "CDI spec %s: current, left as it is", path);
    } else {
        nvb_log(NVB_LOG_INFO, "CDI spec %s: %s, writing it", path, read_errno == ENOENT ? "missing" : "stale");
        result = read_errno != ENOENT ? NVB_SPEC_REFRESHED : NVB_SPEC_CREATED;
        if (dirfd < 0 && nvb_spec_dir_make(dir, err) == 0 && (dirfd = open_spec_dir(dir, err)) < 0 && errno == ENOENT)
            return nvb_errf(err, NVB_EXIT_IO, "CDI spec folder %s: removed while written", dir);
        if (dirfd < 0 || nvb_write_file_atomic_at(dirfd, dir, name, text, len, 0644, err) < 0) {
            /* A member of the group runs without root: the spec root keeps must be current. */
            if (err && err->errnum == EACCES && geteuid() != 0)
                nvb_errf(err, NVB_EXIT_IO, "the CDI spec %s is %s and uid %u cannot write it: as root, run `nvbind "
                         "cdi generate --output %s` (see nvbind doctor)", path, result == NVB_SPEC_CREATED ? "missing"
                         : "stale", (unsigned)geteuid(), path);
            return -1;
        }
    }
    if (path_out)
        *path_out = NVB_TAKE(path);
    return result;
}
