#include "oci/hook_ldcache.h"
#include "oci/bundle_root.h"
#include "oci/cuda_compat.h"
#include "oci/hook_links.h"
#include "oci/host_exe.h"
#include "oci/ldcache_ahead.h"
#include "oci/ldconf.h"
#include "oci/ldconfig_run.h"
#include "oci/root_lock.h"
#include "oci/safepath.h"
#include "util/cleanup.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ldconfig needs /etc to write the cache in: create it safely when the image has none (an
 * /etc symlink resolves inside the root or fails here). ldconfig refuses (O_NOFOLLOW) a
 * symlink at its temporary name; an image that plants one would only break its own cache,
 * but clear it so the hook works. */
static int prepare_etc(int root_fd, nvb_err *err)
{
    _cleanup_close_ int etc = nvb_root_mkdir_p(root_fd, "/etc", 0755, err);
    if (etc < 0)
        return -1;
    struct stat st;
    if (fstatat(etc, "ld.so.cache~", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
        unlinkat(etc, "ld.so.cache~", 0);
    return 0;
}

/* The loader configuration a later ldconfig inside the container reads. */
static int write_ldconf(const nvb_hook_ldcache_opts *o, int root_fd, bool compat, nvb_err *err)
{
    static const char *const compat_dir[] = {NVB_CUDA_COMPAT_DIR};
    int r = compat ? nvb_ldconf_write(root_fd, NVB_LDCONF_COMPAT, compat_dir, 1, err)
                   : nvb_ldconf_remove(root_fd, NVB_LDCONF_COMPAT, err);
    if (r == 0 && o->nfolders)
        r = nvb_ldconf_write(root_fd, NVB_LDCONF_DRIVER, o->folders, o->nfolders, err);
    return r;
}

static int run_ldconfig(const nvb_hook_ldcache_opts *o, int exe_fd, const char *exe_path, const char *root_path,
                        int root_fd, bool compat, nvb_err *err)
{
    /* ldconfig puts folders named on its command line ahead of its configuration: the same
     * order as the files above, so this cache and a later one agree. */
    _cleanup_free_ const char **folders = calloc(o->nfolders + 1, sizeof *folders);
    if (!folders)
        return nvb_errf_errno(err, NVB_EXIT_IO, ENOMEM, "ldconfig");
    size_t n = 0;
    if (compat)
        folders[n++] = NVB_CUDA_COMPAT_DIR;
    for (size_t i = 0; i < o->nfolders; i++)
        folders[n++] = o->folders[i];
    nvb_ldconfig_job job = {
        .exe_fd = exe_fd,
        .exe_path = exe_path,
        .root_path = root_path,
        .root_fd = root_fd,
        .folders = folders,
        .nfolders = n,
        .timeout_ms = o->timeout_ms,
    };
    return nvb_ldconfig_run(&job, err);
}

/* What the hook and the shim's ahead path share once the root is found and locked: the
 * links, /etc, whether the compat folder goes first (*compat), and the cache nvbind writes
 * itself when it can. 1 with *cache (NULL: the image's cache is that already), 0 when
 * ldconfig must run (*why), -1 with err. */
static int links_and_direct(const nvb_hook_ldcache_opts *o, int root_fd, const nvb_ldcache_ahead *ahead,
                            bool *compat, void **cache, size_t *cache_len, const char **why, nvb_err *err)
{
    if (nvb_root_make_links(root_fd, o->links, o->nlinks, o->warn, "nvbind hook update-ldcache", err) < 0 ||
        prepare_etc(root_fd, err) < 0)
        return -1;
    /* Whether the compat folder goes first. ldconfig then reads its libraries' headers. */
    *compat = o->host_driver_version && nvb_cuda_compat_wanted(root_fd, o->host_driver_version);
    /* The image's cache is judged before the loader configuration is written: that file is
     * in the configuration the judgement reads, and is older than the cache after. */
    *why = "no libraries were named (--lib64, --lib32)";
    if (*compat)
        return *why = "CUDA's compat folder goes first", 0;
    if (nvb_ldconf_present(root_fd, NVB_LDCONF_COMPAT))
        return *why = "an earlier start put CUDA's compat folder first: its entries must go", 0;
    if (!o->nlibs)
        return 0;
    return nvb_ldcache_direct_build(root_fd, o->libs, o->nlibs, o->links, o->nlinks, o->folders, o->nfolders, ahead,
                                    cache, cache_len, why, err);
}

static int check_driver_version(const nvb_hook_ldcache_opts *o, nvb_err *err)
{
    if (o->host_driver_version && !nvb_driver_version_ok(o->host_driver_version))
        return nvb_errf(err, NVB_EXIT_USAGE, "--host-driver-version %s: not a driver version like 550.54.14",
                        o->host_driver_version);
    return 0;
}

int nvb_hook_update_ldcache(const nvb_hook_ldcache_opts *o, nvb_err *err)
{
    if (check_driver_version(o, err) < 0)
        return -1;
    /* The host binary first, before anything of the container is looked at. */
    const char *exe_path = NULL;
    _cleanup_close_ int exe_fd = nvb_host_ldconfig_open(o->ldconfig, &exe_path, err);
    if (exe_fd < 0)
        return -1;
    _cleanup_free_ char *root_path = NULL;
    _cleanup_close_ int root_fd = nvb_oci_state_root_open(o->state_fd, o->root_path, &root_path, err);
    if (root_fd < 0)
        return -1;
    /* Held until we return: concurrent starts on one root take turns. */
    _cleanup_close_ int lock = nvb_root_lock(root_fd, root_path, o->timeout_ms, err);
    if (lock < 0)
        return -1;
    _cleanup_free_ void *cache = NULL;
    size_t cache_len = 0;
    const char *why;
    bool compat;
    int direct = links_and_direct(o, root_fd, NULL, &compat, &cache, &cache_len, &why, err);
    if (direct < 0 || write_ldconf(o, root_fd, compat, err) < 0)
        return -1;
    if (direct)
        return nvb_ldcache_direct_write(root_fd, cache, cache_len, err);
    nvb_log(NVB_LOG_DEBUG, "update-ldcache: running ldconfig: %s", why);
    return run_ldconfig(o, exe_fd, exe_path, root_path, root_fd, compat, err);
}

/* Container paths whose view a later mount would change: the loader's files, the driver's
 * folders and links, and the trees that hold the system's libraries (a mount there may
 * reach a folder the loader reads through a symlink of the image). Each as written and
 * where the image's links take it (nvb_ldcache_ahead_reaches); a link as written, and its
 * folder where that is not one of the driver's. */
static bool ahead_covers_the_driver(const nvb_hook_ldcache_opts *o, const nvb_ldcache_ahead *ahead)
{
    static const char *const fixed[] = {"/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
                                        NVB_CUDA_COMPAT_DIR, "/usr", "/lib", "/lib32", "/lib64", "/libx32"};
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
        if (nvb_ldcache_ahead_reaches(ahead, ahead->root_fd, fixed[i]))
            return true;
    for (size_t i = 0; i < o->nfolders; i++)
        if (nvb_ldcache_ahead_reaches(ahead, ahead->root_fd, o->folders[i]))
            return true;
    for (size_t i = 0; i < o->nlinks; i++) {
        const char *link = o->links[i].link;
        if (nvb_ldcache_ahead_covers(ahead, link))
            return true;
        char folder[PATH_MAX];
        nvb_container_folder(link, folder);
        bool known = false;
        for (size_t f = 0; f < o->nfolders && !known; f++)
            known = strcmp(o->folders[f], folder) == 0;
        if (!known && nvb_ldcache_ahead_reaches(ahead, ahead->root_fd, folder))
            return true;
    }
    return false;
}

static int ahead_of_runtime(const nvb_hook_ldcache_opts *o, const nvb_ldcache_ahead *ahead, const char **why,
                            nvb_err *err)
{
    if (check_driver_version(o, err) < 0)
        return -1;
    if (ahead_covers_the_driver(o, ahead))
        return *why = "a mount of the container covers the loader's files or the driver's folders", 0;
    int root_fd = ahead->root_fd;
    _cleanup_close_ int lock = nvb_root_lock(root_fd, o->root_path, o->timeout_ms, err);
    if (lock < 0)
        return -1;
    _cleanup_free_ void *cache = NULL;
    size_t cache_len = 0;
    bool compat;
    int direct = links_and_direct(o, root_fd, ahead, &compat, &cache, &cache_len, why, err);
    if (direct <= 0)
        return direct; /* the hook does the rest, in the container's view */
    if (write_ldconf(o, root_fd, compat, err) < 0 || nvb_ldcache_direct_write(root_fd, cache, cache_len, err) < 0)
        return -1;
    return 1;
}

int nvb_ldcache_ahead_of_runtime(const nvb_hook_ldcache_opts *o, const nvb_ldcache_ahead *ahead, const char **why,
                                 nvb_err *err)
{
    /* What the hook makes, with the hook's umask (`nvbind hook` sets it): the caller's is
     * the engine's, and a folder made 0700 would hide the driver from the container's users. */
    mode_t old = umask(022);
    int r = ahead_of_runtime(o, ahead, why, err);
    umask(old);
    return r;
}
