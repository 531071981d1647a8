#include "runtime/spec_install.h"
#include "util/log.h"
#include "cdi/cdi.h"
#include "policy/cdi_generate.h"
#include "util/cleanup.h"
#include "util/fileio.h"

#include <errno.h>
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
    size_t len = strlen(text), old_len = 0;
    _cleanup_free_ char *old = nvb_read_file(path, NVB_CDI_MAX_FILE_SIZE, &old_len);
    int read_errno = old ? 0 : errno;
    int result;
    if (old && old_len == len && memcmp(old, text, len) == 0) {
        result = NVB_SPEC_FRESH;
        nvb_log(NVB_LOG_INFO, "CDI spec %s: current, left as it is", path);
    } else {
        nvb_log(NVB_LOG_INFO, "CDI spec %s: %s, writing it", path, read_errno == ENOENT ? "missing" : "stale");
        result = read_errno != ENOENT ? NVB_SPEC_REFRESHED : NVB_SPEC_CREATED;
        if (nvb_spec_dir_make(dir, err) < 0 || nvb_write_file_atomic(path, text, len, 0644, err) < 0) {
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
