/* The driver's user-space files a container may need: libraries (from ld.so.cache, with
 * folder scans as fallback), binaries, firmware, vendor configuration files, IPC sockets.
 * Every path is resolved inside its root; a file counts once however many links lead to it. */
#include "host/discover.h"
#include "util/log.h"
#include "host/hostio.h"
#include "host/deps.h"
#include "ldcache/driver_libs.h"
#include "ldcache/elf_soname.h"
#include "ldcache/ldcache.h"
#include "util/cleanup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* "dir" + "/" + name into out (PATH_MAX bytes); false when too long. */
static bool join(char *out, const char *dir, const char *name)
{
    return nvb_path_cat(out, PATH_MAX, strcmp(dir, "/") ? dir : "", "/", name);
}

/* The folder part of `path` ("/" for "/x") into out (PATH_MAX bytes). */
static void dir_part(char *out, const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t n = slash && slash != path ? (size_t)(slash - path) : 1;
    memcpy(out, slash ? path : "/", n);
    out[n] = '\0';
}

/* Does the link target `target` (with a folder part) name a file in the resolved folder
 * `dir`? 1 yes, 0 no, -errno. Out of follow_in_folder's frame: rarely needed, and every
 * PATH_MAX buffer on the way to the walk is one more stack page to fault in. */
static __attribute__((noinline)) int target_in_folder(nvb_discovery *d, const char *dir, const char *target)
{
    char joined[PATH_MAX], tdir[PATH_MAX], rtdir[PATH_MAX];
    if (target[0] != '/' && !join(joined, dir, target))
        return -ENAMETOOLONG;
    dir_part(tdir, target[0] == '/' ? target : joined);
    return nvb_rootpath_lookup(d->drv, tdir, rtdir, NULL) == 0 && strcmp(rtdir, dir) == 0;
}

/* Follow one link of `cur` (a path inside the driver root whose folder `dir` is resolved)
 * when it stays in `dir`: its next name in `cur`, 1. 0 when `cur` is no link or its target
 * lies in another folder (or nowhere); -errno on failure. */
static __attribute__((noinline)) int follow_in_folder(nvb_discovery *d, const char *dir, char *cur)
{
    char target[PATH_MAX];
    /* Mostly answered from the lookup's memo: the walk that resolved cur read this link. */
    int n = nvb_rootpath_readlink(d->drv, cur, target, sizeof target);
    if (n < 0)
        return n == -EINVAL || n == -ENOENT ? 0 : n;
    const char *name = base_name(target);
    if (!*name || !strcmp(name, ".") || !strcmp(name, ".."))
        return 0;
    if (name != target) { /* a target with a folder part: is that folder this one? */
        int r = target_in_folder(d, dir, target);
        if (r <= 0)
            return r;
    }
    return join(cur, dir, name) ? 1 : -ENAMETOOLONG;
}

/* The path programs use for the file at `path` inside the driver root, into out (PATH_MAX
 * bytes): its folder resolved, then its links followed while they stay in that folder.
 *
 * A link that leads out of its folder is how a packaging offers a file where programs look
 * for it: /usr/bin/nvidia-smi -> /etc/alternatives/... -> /usr/lib/nvidia/current/nvidia-smi,
 * /usr/lib/<triplet>/libcuda.so.1 -> ... -> <triplet>/nvidia/current/libcuda.so.1. The
 * container gets the file at that link's path, and only there: an image has none of the
 * host's links, so a mount at the target alone is invisible to PATH, to the loader's cache
 * and to a library that opens a fixed path (libnvoptix reads /usr/share/nvidia/nvoptix.bin),
 * while the target folders (nvidia/current, a tesla flavour's own) are the packaging's private
 * layout that no program names. A link within its folder (libcuda.so.1 ->
 * libcuda.so.550.54.14) is the SONAME link ldconfig makes again inside the container: the
 * file keeps its own name there. 0, or -errno. */
static int offered_path(nvb_discovery *d, const char *path, char *out)
{
    char dir[PATH_MAX], rdir[PATH_MAX];
    dir_part(dir, path);
    int r = nvb_rootpath_lookup(d->drv, dir, rdir, NULL);
    if (r < 0)
        return r;
    if (!*base_name(path) || !join(out, rdir, base_name(path)))
        return -ENAMETOOLONG;
    for (int hops = 0; hops < 40; hops++) {
        r = follow_in_folder(d, rdir, out);
        if (r <= 0)
            return r;
    }
    return -ELOOP;
}

/* Add the file at `path` inside the driver root (its data: links followed) at the path
 * programs use, or in `offered_dir` when not NULL, when it exists. */
static int add_drv_file_in(nvb_discovery *d, enum nvb_component_kind kind, const char *path, unsigned caps,
                           const char *offered_dir)
{
    char resolved[PATH_MAX], offered[PATH_MAX];
    struct stat st;
    if (nvb_rootpath_lookup(d->drv, path, resolved, &st) < 0 || !S_ISREG(st.st_mode))
        return 0;
    if (offered_path(d, path, offered) < 0)
        memcpy(offered, resolved, sizeof offered);
    if (offered_dir && !join(offered, offered_dir, base_name(resolved)))
        return 0;
    char *host = nvb_rootpath_host(d->drv, resolved);
    char *container = strdup(offered);
    return nvb_host_add_component(d, kind, host, container, caps, false) ? 1 : -1;
}

static int add_drv_file(nvb_discovery *d, enum nvb_component_kind kind, const char *path, unsigned caps)
{
    return add_drv_file_in(d, kind, path, caps, NULL);
}

/* ELF class of a library file (1 = 32-bit, 2 = 64-bit, 0 = not ELF) and, when *known, in
 * soname the name ldconfig files it under (nvb_elf_soname: its DT_SONAME, "" when it has
 * none); len 0 reads the class alone. */
static int elf_class(nvb_discovery *d, const char *path, char *soname, size_t len, bool *known)
{
    _cleanup_close_ int fd = nvb_rootpath_open(d->drv, path, O_RDONLY | O_NOFOLLOW);
    *known = false;
    return fd < 0 ? 0 : nvb_elf_soname(fd, soname, len, known);
}

/* How a library found at some path is added: its ELF class when the caller knows it
 * (-1: read it from the file), the folder it is offered in when that is not its own
 * (a file only the packaging folder holds), and whether a file already offered at another
 * path is left alone (folder scans: the cache named the path programs use). */
struct lib_how {
    int elf_class;
    const char *offered_dir;
    bool skip_known;
};

/* offered = offered_dir + "/" + offered's file name; false when too long. Out of
 * add_library's frame, which the walks run below. */
static __attribute__((noinline)) bool offer_in(char *offered, const char *offered_dir)
{
    /* The name is copied out first: join() would write offered while reading it
     * (overlapping memcpy, undefined; ASan stopped `nvbind run` on Debian's packaging). */
    char name[PATH_MAX];
    snprintf(name, sizeof name, "%s", base_name(offered));
    return join(offered, offered_dir, name);
}

/* A library entry whose name is one of the driver's (the callers check): so must be the
 * file it resolves to (a libcuda.so.1 link to a leftover libcuda.so.535.x is not this
 * driver's). */
static int add_library(nvb_discovery *d, const char *path, const char *soname, struct lib_how how)
{
    char resolved[PATH_MAX], offered[PATH_MAX];
    if (nvb_rootpath_lookup(d->drv, path, resolved, NULL) < 0) {
        nvb_log(NVB_LOG_DEBUG, "library %s: skipped (it does not resolve inside the driver root)", path);
        return 0;
    }
    unsigned caps = nvb_driver_lib_caps(base_name(resolved), d->h->driver_version);
    if (!caps) {
        nvb_log(NVB_LOG_DEBUG, "library %s: skipped (%s is not a library of driver %s)", path, base_name(resolved),
                d->h->driver_version ? d->h->driver_version : "(unknown)");
        return 0;
    }
    char *host = nvb_rootpath_host(d->drv, resolved);
    if (!host)
        return -1;
    if (how.skip_known && nvb_host_find_file(d, host)) {
        nvb_log(NVB_LOG_DEBUG, "library %s: skipped (%s is offered already)", path, host);
        free(host);
        return 0;
    }
    /* A library no cache entry named: its SONAME from the file, as ldconfig would read it
     * (the file's own name when it has none), so that the container's cache can be
     * written without ldconfig. */
    char elf_soname[NAME_MAX + 1] = "";
    bool soname_known = false;
    int cls = how.elf_class >= 0 ? how.elf_class
                                 : elf_class(d, resolved, elf_soname, sizeof elf_soname, &soname_known);
    if (cls == 0) { /* not a shared object: a stray text file with a library's name */
        nvb_log(NVB_LOG_DEBUG, "library %s: skipped (not an ELF shared object)", host);
        free(host);
        return 0;
    }
    if (cls == 1)
        caps |= NVB_CAP_COMPAT32;
    if (offered_path(d, path, offered) < 0)
        memcpy(offered, resolved, sizeof offered);
    if (how.offered_dir && !offer_in(offered, how.offered_dir)) {
        free(host);
        return 0;
    }
    nvb_log(NVB_LOG_DEBUG, "library %s: offered at %s", host, offered);
    nvb_component *c = nvb_host_add_component(d, NVB_COMP_LIBRARY, host, strdup(offered), caps, false);
    if (!c)
        return -1;
    /* The cache keys a library by its SONAME, and also lists development links
     * ("libcuda.so"); only the versioned key is the SONAME. */
    if (!soname && soname_known && !strchr(elf_soname, '/'))
        soname = *elf_soname ? elf_soname : base_name(offered);
    if (soname && !c->soname && !nvb_endswith(soname, ".so") && !(c->soname = strdup(soname)))
        return -1;
    return 0;
}

/* Resolve a folder inside the driver root and open it for listing; false when absent, or
 * when it was searched for `pattern` already (merged /usr: /lib and /usr/lib are one). */
static bool open_search_dir(nvb_discovery *d, const char *dir_in_drv, const char *pattern, char *resolved,
                            nvb_dir *dir)
{
    if (nvb_rootpath_lookup(d->drv, dir_in_drv, resolved, NULL) < 0)
        return false;
    _cleanup_free_ char *key = NULL;
    if (asprintf(&key, "%s\n%s", pattern, resolved) < 0)
        return false;
    if (nvb_strv_contains(&d->listed, key))
        return false;
    if (nvb_strv_push_take(&d->listed, NVB_TAKE(key)) < 0)
        return false;
    return nvb_dir_open(dir, d->drv, resolved) == 0;
}

/* Scan a folder inside the driver root for the driver's libraries that are not known yet;
 * those found are offered in `offered_dir` when not NULL, else where they are. */
static __attribute__((noinline)) int scan_library_dir(nvb_discovery *d, const char *dir_in_drv,
                                                      const char *offered_dir)
{
    char resolved[PATH_MAX], path[PATH_MAX];
    nvb_dir dir;
    if (!open_search_dir(d, dir_in_drv, "lib", resolved, &dir))
        return 0;
    const char *name;
    int r = 0;
    while (r >= 0 && (name = nvb_dir_next(&dir, NULL))) {
        if (!nvb_driver_lib_caps(name, d->h->driver_version) || !join(path, resolved, name))
            continue;
        r = add_library(d, path, NULL, (struct lib_how){-1, offered_dir, true});
    }
    nvb_dir_close(&dir);
    return r < 0 ? -1 : 0;
}

/* GBM backends in a library folder's gbm/ ("<drm driver>_gbm.so", nvidia-drm_gbm.so): a
 * link to the driver's allocator library, which the GBM loader opens by that path. */
static __attribute__((noinline)) int scan_gbm_found(nvb_discovery *d, const char *gbm)
{
    char resolved[PATH_MAX], path[PATH_MAX], data[PATH_MAX], offered[PATH_MAX];
    nvb_dir dir;
    if (!open_search_dir(d, gbm, "*_gbm.so", resolved, &dir))
        return 0;
    const char *name;
    int r = 0;
    while (r >= 0 && (name = nvb_dir_next(&dir, NULL))) {
        if (fnmatch("*_gbm.so", name, 0) != 0 || !join(path, resolved, name) ||
            nvb_rootpath_lookup(d->drv, path, data, NULL) < 0 ||
            !nvb_driver_lib_caps(base_name(data), d->h->driver_version) || offered_path(d, path, offered) < 0)
            continue;
        bool known;  /* the class alone: a GBM backend is loaded by path, never by SONAME */
        unsigned caps = NVB_CAP_GRAPHICS | (elf_class(d, data, NULL, 0, &known) == 1 ? NVB_CAP_COMPAT32 : 0);
        if (!nvb_host_add_component(d, NVB_COMP_LIBRARY, nvb_rootpath_host(d->drv, data), strdup(offered), caps,
                                    false))
            r = -1;
    }
    nvb_dir_close(&dir);
    return r;
}

/* The folder is mostly absent: asked about from a small frame, and scan_gbm_found's (four
 * paths and a listing buffer, 28 KiB) entered only when it exists, so that the walks below
 * it do not run on stack pages faulted in for nothing. */
static __attribute__((noinline)) int scan_gbm_dir(nvb_discovery *d, const char *lib_dir)
{
    char gbm[PATH_MAX];
    if (!join(gbm, lib_dir, "gbm") || !nvb_rootpath_exists(d->drv, gbm))
        return 0;
    return scan_gbm_found(d, gbm);
}

/* Push s onto v unless it is there already. */
static int push_once(nvb_strv *v, const char *s)
{
    return nvb_strv_contains(v, s) ? 0 : nvb_strv_push(v, s);
}

/* The driver's library folders, from the libraries found so far: where each is offered
 * (`offered`) and, for files offered through a link into another folder, "<data
 * folder>\n<offered folder>" (`data`). */
static int library_folders(nvb_discovery *d, nvb_strv *offered, nvb_strv *data)
{
    for (size_t i = 0; i < d->h->n_comps; i++) {
        const nvb_component *c = &d->h->comps[i];
        if (c->kind != NVB_COMP_LIBRARY)
            continue;
        char odir[PATH_MAX], ddir[PATH_MAX];
        dir_part(odir, c->container_path);
        dir_part(ddir, c->host_path + d->drv->root_len);
        if (push_once(offered, odir) < 0)
            return -1;
        char pair[2 * PATH_MAX + 2];
        if (strcmp(odir, ddir) != 0 && snprintf(pair, sizeof pair, "%s\n%s", ddir, odir) < (int)sizeof pair &&
            push_once(data, pair) < 0)
            return -1;
    }
    return 0;
}

/* The driver files the cache does not list, also when it lists others: a distribution puts
 * loader modules in subfolders (vdpau/, gbm/) and keeps some libraries only in its package
 * folder (Debian's nvidia/current/ holds libnvidia-vulkan-producer without a link to it).
 * Searched: each folder the driver's libraries are offered in, its vdpau/ and gbm/, then each
 * folder their data lives in, whose extra files are offered beside the others. */
static int scan_driver_folders(nvb_discovery *d)
{
    nvb_strv offered = {0}, data = {0};
    int r = library_folders(d, &offered, &data);
    for (size_t i = 0; r >= 0 && i < offered.n; i++) {
        char sub[PATH_MAX];
        r = join(sub, offered.v[i], "vdpau") ? scan_library_dir(d, sub, NULL) : 0;
        if (r >= 0)
            r = scan_gbm_dir(d, offered.v[i]);
        if (r >= 0)
            r = scan_library_dir(d, offered.v[i], NULL);
    }
    for (size_t i = 0; r >= 0 && i < data.n; i++) {
        char *nl = strchr(data.v[i], '\n');
        *nl = '\0';
        r = scan_library_dir(d, data.v[i], nl + 1);
    }
    nvb_strv_free(&offered);
    nvb_strv_free(&data);
    return r < 0 ? -1 : 0;
}

/* The X server's NVIDIA driver module and GLX extension, where the server loads them. */
static int discover_xorg_modules(nvb_discovery *d)
{
    static const char *const bases[] = {"/usr/lib/xorg/modules", "/usr/lib64/xorg/modules"};
    for (size_t i = 0; i < sizeof bases / sizeof bases[0]; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/drivers/nvidia_drv.so", bases[i]);
        if (add_drv_file(d, NVB_COMP_LIBRARY, path, NVB_CAP_DISPLAY) < 0)
            return -1;
        snprintf(path, sizeof path, "%s/extensions", bases[i]);
        if (scan_library_dir(d, path, NULL) < 0)
            return -1;
    }
    return 0;
}

/* The cache's entries for the driver's libraries: SONAMEs first, then development links
 * ("libcuda.so") for files no SONAME reached. A distribution can point libcuda.so through
 * its own alternatives link, and the container gets that name from the symlink hook. */
static int add_cached_libraries(nvb_discovery *d, const nvb_ldcache *cache)
{
    int r = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; r >= 0 && i < cache->n; i++) {
            const nvb_ldcache_entry *e = &cache->entries[i];
            bool x64 = nvb_ldcache_is_x86_64(e->flags), x32 = nvb_ldcache_is_i386(e->flags);
            if (nvb_endswith(e->name, ".so") != (pass == 1))
                continue;
            if ((x64 || x32) && nvb_driver_lib_caps(base_name(e->path), d->h->driver_version))
                r = add_library(d, e->path, e->name, (struct lib_how){x32 ? 1 : 2, NULL, pass == 1});
        }
    }
    return r;
}

static int discover_libraries(nvb_discovery *d, nvb_err *err)
{
    _cleanup_free_ char *cache_path = nvb_rootpath_host(d->drv, "/etc/ld.so.cache");
    size_t before = d->h->n_comps;
    nvb_ldcache cache;
    if (!cache_path)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    if (d->drv->deps) /* read by its path, not through the root's walk: noted here */
        nvb_deps_element(d->drv->deps, "", 0, cache_path, strlen(cache_path), NVB_DEP_FINAL | NVB_DEP_READ);
    if (nvb_ldcache_open(&cache, cache_path, err) < 0) {
        if (err->errnum != ENOENT && err->errnum != ENOTDIR) /* no cache at all: the folder scan below */
            return -1;
        nvb_err_clear(err);
    } else {
        int r = add_cached_libraries(d, &cache);
        nvb_ldcache_close(&cache);
        if (r < 0)
            return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    }
    if (d->h->n_comps == before) {
        static const char *const usual[] = {"/lib64", "/lib", "/usr/lib64", "/usr/lib/x86_64-linux-gnu", "/usr/lib",
                                            "/usr/local/nvidia/lib64", "/usr/local/nvidia/lib"};
        for (size_t i = 0; i < sizeof usual / sizeof usual[0]; i++)
            if (scan_library_dir(d, usual[i], NULL) < 0)
                return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    }
    for (const char *const *p = d->library_search; p && *p; p++)
        if (scan_library_dir(d, *p, NULL) < 0)
            return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    if (scan_driver_folders(d) < 0 || discover_xorg_modules(d) < 0)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    return 0;
}

static const struct {
    const char *name;
    unsigned caps;
} binaries[] = {
    {"nvidia-smi", NVB_CAP_UTILITY},
    {"nvidia-debugdump", NVB_CAP_UTILITY},
    {"nvidia-persistenced", NVB_CAP_UTILITY},
    {"nvidia-cuda-mps-control", NVB_CAP_COMPUTE},
    {"nvidia-cuda-mps-server", NVB_CAP_COMPUTE},
};

static int discover_binaries(nvb_discovery *d)
{
    static const char *const dirs[] = {"/usr/bin", "/usr/sbin", "/bin", "/sbin", "/usr/local/bin", "/usr/local/sbin"};
    for (size_t b = 0; b < sizeof binaries / sizeof binaries[0]; b++) {
        for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
            char path[256];
            nvb_path_cat(path, sizeof path, dirs[i], "/", binaries[b].name); /* short constants: fits */
            int r = add_drv_file(d, NVB_COMP_BINARY, path, binaries[b].caps);
            if (r < 0)
                return -1;
            if (r > 0)
                break; /* first one found in search order, like a shell's PATH */
        }
    }
    return 0;
}

/* Add the entries of a folder inside the driver root whose names match `pattern`; a
 * pattern without wildcards is one file name, looked up without listing the folder. */
static int add_matching_in(nvb_discovery *d, enum nvb_component_kind kind, const char *dir_in_drv,
                           const char *pattern, unsigned caps, const char *offered_dir)
{
    char resolved[PATH_MAX], path[PATH_MAX];
    if (!strpbrk(pattern, "*?[\\"))
        return join(path, dir_in_drv, pattern) && add_drv_file_in(d, kind, path, caps, offered_dir) < 0 ? -1 : 0;
    nvb_dir dir;
    if (!open_search_dir(d, dir_in_drv, pattern, resolved, &dir))
        return 0;
    const char *name;
    int r = 0;
    while (r >= 0 && (name = nvb_dir_next(&dir, NULL))) {
        if (name[0] == '.' || fnmatch(pattern, name, 0) != 0 || !join(path, resolved, name))
            continue;
        r = add_drv_file_in(d, kind, path, caps, offered_dir);
    }
    nvb_dir_close(&dir);
    return r < 0 ? -1 : 0;
}

/* Files matching `pattern` in a folder inside the driver root, each at the path programs use. */
static int add_matching(nvb_discovery *d, enum nvb_component_kind kind, const char *dir_in_drv,
                        const char *pattern, unsigned caps)
{
    return add_matching_in(d, kind, dir_in_drv, pattern, caps, NULL);
}

static int discover_firmware(nvb_discovery *d)
{
    static const char *const bases[] = {"/lib/firmware/nvidia", "/usr/lib/firmware/nvidia"};
    for (size_t i = 0; i < sizeof bases / sizeof bases[0]; i++) {
        char dir[512];
        snprintf(dir, sizeof dir, "%s/%s", bases[i], d->h->driver_version);
        if (add_matching(d, NVB_COMP_FIRMWARE, dir, "gsp*.bin", NVB_CAP_UTILITY | NVB_CAP_COMPUTE) < 0)
            return -1;
    }
    return 0;
}

static int discover_configs(nvb_discovery *d)
{
    static const struct {
        const char *dir, *pattern;
        unsigned caps;
    } configs[] = {
        {"vulkan/icd.d", "nvidia_icd*.json", NVB_CAP_GRAPHICS},
        {"vulkan/implicit_layer.d", "nvidia_layers*.json", NVB_CAP_GRAPHICS},
        {"vulkansc/icd.d", "nvidia_icd*.json", NVB_CAP_GRAPHICS},
        {"glvnd/egl_vendor.d", "*_nvidia*.json", NVB_CAP_GRAPHICS},
        {"egl/egl_external_platform.d", "*nvidia*.json", NVB_CAP_GRAPHICS},
        {"OpenCL/vendors", "nvidia*.icd", NVB_CAP_COMPUTE},
        {"nvidia", "nvoptix.bin", NVB_CAP_GRAPHICS},
    };
    static const char *const bases[] = {"/etc", "/usr/local/share", "/usr/share"};
    for (size_t c = 0; c < sizeof configs / sizeof configs[0]; c++) {
        for (size_t b = 0; b < sizeof bases / sizeof bases[0]; b++) {
            char dir[256];
            snprintf(dir, sizeof dir, "%s/%s", bases[b], configs[c].dir);
            if (add_matching(d, NVB_COMP_CONFIG, dir, configs[c].pattern, configs[c].caps) < 0)
                return -1;
        }
    }
    /* Application profiles are versioned: only this driver's count. */
    static const char *const profiles[] = {"rc", "key-documentation"};
    for (size_t p = 0; p < 2; p++) {
        for (size_t b = 0; b < sizeof bases / sizeof bases[0]; b++) {
            char path[512];
            snprintf(path, sizeof path, "%s/nvidia/nvidia-application-profiles-%s-%s", bases[b], d->h->driver_version,
                     profiles[p]);
            if (add_drv_file(d, NVB_COMP_CONFIG, path, NVB_CAP_GRAPHICS) < 0)
                return -1;
        }
    }
    /* NGX's Windows-side DLLs for DLSS under Proton live in nvidia/wine/ beside libnvidia-ngx:
     * Proton looks beside the library as the container sees it, and a packaging that offers
     * the library through a link keeps them beside the library's data (Debian's
     * <triplet>/nvidia/current/nvidia/wine/); either way they are offered beside the library's
     * container path. */
    size_t n = d->h->n_comps;
    for (size_t i = 0; i < n; i++) {
        const nvb_component *c = &d->h->comps[i];
        if (c->kind != NVB_COMP_LIBRARY || !(c->caps & NVB_CAP_NGX) || (c->caps & NVB_CAP_COMPAT32))
            continue;
        char odir[PATH_MAX], ddir[PATH_MAX], wine[PATH_MAX], data_wine[PATH_MAX];
        dir_part(odir, c->container_path);
        dir_part(ddir, c->host_path + d->drv->root_len);
        if (!join(wine, odir, "nvidia/wine") || !join(data_wine, ddir, "nvidia/wine"))
            continue;
        if (add_matching(d, NVB_COMP_CONFIG, wine, "*nvngx*.dll", NVB_CAP_NGX | NVB_CAP_GRAPHICS) < 0 ||
            (strcmp(odir, ddir) != 0 &&
             add_matching_in(d, NVB_COMP_CONFIG, data_wine, "*nvngx*.dll", NVB_CAP_NGX | NVB_CAP_GRAPHICS, wine) < 0))
            return -1;
    }
    return 0;
}

/* Sockets and the MPS pipe folder: the driver root first (a GPU-operator driver container
 * runs the daemons there), then the host root. Each only at its own path (no link on the
 * way) and only when root owns it: /tmp is everyone's, and a link or folder another user put
 * at /tmp/nvidia-mps would have the host's /etc mounted into every GPU container, or CUDA
 * talk through that user's pipes (docs/threat-model.md). An MPS daemon of another user has a
 * pipe folder of its own, named in [isolation]. */
static int discover_ipc(nvb_discovery *d)
{
    static const struct {
        const char *path;
        bool dir;
        unsigned caps;
    } ipc[] = {
        {"/run/nvidia-persistenced/socket", false, NVB_CAP_UTILITY | NVB_CAP_COMPUTE},
        {"/run/nvidia-fabricmanager/socket", false, NVB_CAP_UTILITY | NVB_CAP_COMPUTE},
        {"/tmp/nvidia-mps", true, NVB_CAP_COMPUTE},
    };
    nvb_rootpath *roots[] = {d->drv, &d->root};
    size_t n_roots = d->drv == &d->root ? 1 : 2;
    for (size_t i = 0; i < sizeof ipc / sizeof ipc[0]; i++) {
        for (size_t r = 0; r < n_roots; r++) {
            char resolved[PATH_MAX];
            struct stat st;
            if (nvb_rootpath_lookup(roots[r], ipc[i].path, resolved, &st) < 0 ||
                (ipc[i].dir ? !S_ISDIR(st.st_mode) : !S_ISSOCK(st.st_mode)))
                continue;
            if (strcmp(resolved, ipc[i].path) != 0 || st.st_uid != 0) {
                nvb_log(NVB_LOG_WARN, "%s: not offered to containers: %s", ipc[i].path,
                        st.st_uid != 0 ? "not owned by root" : "reached through a link");
                continue;
            }
            if (!nvb_host_add_component(d, NVB_COMP_IPC, nvb_rootpath_host(roots[r], resolved), strdup(resolved),
                                        ipc[i].caps, ipc[i].dir))
                return -1;
            break;
        }
    }
    return 0;
}

int nvb_discover_components(nvb_discovery *d, nvb_err *err)
{
    if (discover_libraries(d, err) < 0)
        return -1;
    if (discover_binaries(d) < 0 || discover_firmware(d) < 0 || discover_configs(d) < 0 || discover_ipc(d) < 0)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory while listing driver files");
    return 0;
}
