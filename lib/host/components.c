/* The driver's user-space files a container may need: libraries (from ld.so.cache, with
 * folder scans as fallback), binaries, firmware, vendor configuration files, IPC sockets.
 * Every path is resolved inside its root; a file counts once however many links lead to it. */
#include "host/discover.h"
#include "host/hostio.h"
#include "ldcache/driver_libs.h"
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

/* Add the file at `path` inside the driver root (following links) when it exists. */
static int add_drv_file(nvb_discovery *d, enum nvb_component_kind kind, const char *path, unsigned caps)
{
    char resolved[PATH_MAX];
    struct stat st;
    if (nvb_rootpath_lookup(d->drv, path, resolved, &st) < 0 || !S_ISREG(st.st_mode))
        return 0;
    char *host = nvb_rootpath_host(d->drv, resolved);
    char *container = strdup(resolved);
    return nvb_host_add_component(d, kind, host, container, caps, false) ? 1 : -1;
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* A library entry whose name is one of the driver's (the callers check): so must be the
 * file it resolves to (a libcuda.so.1 link to a leftover libcuda.so.535.x is not this
 * driver's). */
static int add_library(nvb_discovery *d, const char *path, const char *soname, bool compat32)
{
    char resolved[PATH_MAX];
    if (nvb_rootpath_lookup(d->drv, path, resolved, NULL) < 0)
        return 0;
    unsigned caps = nvb_driver_lib_caps(base_name(resolved), d->h->driver_version);
    if (!caps)
        return 0;
    if (compat32)
        caps |= NVB_CAP_COMPAT32;
    char *host = nvb_rootpath_host(d->drv, resolved);
    nvb_component *c = nvb_host_add_component(d, NVB_COMP_LIBRARY, host, strdup(resolved), caps, false);
    if (!c)
        return -1;
    /* The cache keys a library by its SONAME, and also lists development links
     * ("libcuda.so"); only the versioned key is the SONAME. */
    if (soname && !c->soname && !nvb_endswith(soname, ".so") && !(c->soname = strdup(soname)))
        return -1;
    return 0;
}

/* ELF class from the header: 1 = 32-bit, 2 = 64-bit, 0 = not ELF. */
static int elf_class(nvb_discovery *d, const char *path)
{
    _cleanup_close_ int fd = nvb_rootpath_open(d->drv, path, O_RDONLY | O_NOFOLLOW);
    unsigned char id[5];
    if (fd < 0 || read(fd, id, sizeof id) != (ssize_t)sizeof id || memcmp(id, "\177ELF", 4) != 0)
        return 0;
    return id[4];
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

/* "dir" + "/" + name into out (PATH_MAX bytes); false when too long. */
static bool join(char *out, const char *dir, const char *name)
{
    return nvb_path_cat(out, PATH_MAX, strcmp(dir, "/") ? dir : "", "/", name);
}

/* Fallback when the cache lists no driver library: scan a folder inside the driver root. */
static int scan_library_dir(nvb_discovery *d, const char *dir_in_drv)
{
    char resolved[PATH_MAX], path[PATH_MAX];
    nvb_dir dir;
    if (!open_search_dir(d, dir_in_drv, "lib", resolved, &dir))
        return 0;
    const char *name;
    unsigned char type;
    int r = 0;
    while (r >= 0 && (name = nvb_dir_next(&dir, &type))) {
        if (!nvb_driver_lib_caps(name, d->h->driver_version) || !join(path, resolved, name))
            continue;
        int cls = elf_class(d, path);
        if (cls == 0 && type != DT_LNK)
            continue;
        r = add_library(d, path, NULL, cls == 1);
    }
    nvb_dir_close(&dir);
    return r < 0 ? -1 : 0;
}

static int discover_libraries(nvb_discovery *d, nvb_err *err)
{
    _cleanup_free_ char *cache_path = nvb_rootpath_host(d->drv, "/etc/ld.so.cache");
    size_t before = d->h->n_comps;
    nvb_ldcache cache;
    if (!cache_path)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    if (nvb_ldcache_open(&cache, cache_path, err) < 0) {
        if (err->errnum != ENOENT && err->errnum != ENOTDIR) /* no cache at all: the folder scan below */
            return -1;
        nvb_err_clear(err);
    } else {
        int r = 0;
        for (size_t i = 0; r >= 0 && i < cache.n; i++) {
            const nvb_ldcache_entry *e = &cache.entries[i];
            bool x64 = nvb_ldcache_is_x86_64(e->flags), x32 = nvb_ldcache_is_i386(e->flags);
            if ((x64 || x32) && nvb_driver_lib_caps(base_name(e->path), d->h->driver_version))
                r = add_library(d, e->path, e->name, x32);
        }
        nvb_ldcache_close(&cache);
        if (r < 0)
            return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    }
    if (d->h->n_comps == before) {
        static const char *const usual[] = {"/lib64", "/lib", "/usr/lib64", "/usr/lib/x86_64-linux-gnu", "/usr/lib",
                                            "/usr/local/nvidia/lib64", "/usr/local/nvidia/lib"};
        for (size_t i = 0; i < sizeof usual / sizeof usual[0]; i++)
            if (scan_library_dir(d, usual[i]) < 0)
                return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    }
    for (const char *const *p = d->library_search; p && *p; p++)
        if (scan_library_dir(d, *p) < 0)
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
static int add_matching(nvb_discovery *d, enum nvb_component_kind kind, const char *dir_in_drv,
                        const char *pattern, unsigned caps)
{
    char resolved[PATH_MAX], path[PATH_MAX];
    if (!strpbrk(pattern, "*?[\\"))
        return join(path, dir_in_drv, pattern) && add_drv_file(d, kind, path, caps) < 0 ? -1 : 0;
    nvb_dir dir;
    if (!open_search_dir(d, dir_in_drv, pattern, resolved, &dir))
        return 0;
    const char *name;
    int r = 0;
    while (r >= 0 && (name = nvb_dir_next(&dir, NULL))) {
        if (name[0] == '.' || fnmatch(pattern, name, 0) != 0 || !join(path, resolved, name))
            continue;
        r = add_drv_file(d, kind, path, caps);
    }
    nvb_dir_close(&dir);
    return r < 0 ? -1 : 0;
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
    /* NGX's Windows-side DLLs for DLSS under Proton live beside libnvidia-ngx. */
    size_t n = d->h->n_comps;
    for (size_t i = 0; i < n; i++) {
        nvb_component *c = &d->h->comps[i];
        if (c->kind != NVB_COMP_LIBRARY || !(c->caps & NVB_CAP_NGX) || (c->caps & NVB_CAP_COMPAT32))
            continue;
        _cleanup_free_ char *dir = strdup(c->container_path);
        if (!dir)
            return -1;
        *strrchr(dir, '/') = '\0';
        char wine[4096];
        snprintf(wine, sizeof wine, "%s/nvidia/wine", dir);
        if (add_matching(d, NVB_COMP_CONFIG, wine, "*nvngx*.dll", NVB_CAP_NGX | NVB_CAP_GRAPHICS) < 0)
            return -1;
    }
    return 0;
}

/* Sockets and the MPS pipe folder: the driver root first (a GPU-operator driver container
 * runs the daemons there), then the host root. */
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
