/* Discovery on a WSL2 host (see wsl2.h): what the Windows NVIDIA driver maps into the guest.
 *
 * The files stay at the paths WSL gives them, in the container too: libcuda's WSL loader
 * asks dxcore for the driver store's path and opens its files there, so the store is mounted
 * at /usr/lib/wsl/drivers/<store> and the loaders at /usr/lib/wsl/lib. Both folders go to the
 * library cache hook; nvidia-smi is linked onto PATH by the symlink hook (policy/wsl2_edits.c). */
#include "host/hostio.h"
#include "host/wsl2.h"
#include "util/cleanup.h"

#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *const nvb_wsl2_required_files[] = {
    "libcuda.so.1.1",                /* CUDA driver */
    "libcuda_loader.so",             /* CUDA's WSL loader */
    "libnvidia-ptxjitcompiler.so.1", /* PTX JIT */
    "libnvidia-ml.so.1",             /* NVML */
    "libnvidia-ml_loader.so",        /* NVML's WSL loader */
    "libdxcore.so",                  /* Microsoft's dxcore: adapters and the driver store path */
    "libnvdxgdmal.so.1",             /* CUDA's dxg memory allocator */
    "nvcubins.bin",                  /* CUDA's GPU code */
    "nvidia-smi",
    NULL,
};

/* Which capability needs a WSL file, by the start of its name; the first match wins. */
static const struct {
    const char *prefix;
    unsigned caps;
} wsl_caps[] = {
    {"libdxcore", NVB_CAP_UTILITY | NVB_CAP_COMPUTE | NVB_CAP_VIDEO | NVB_CAP_GRAPHICS},
    {"libnvidia-ml", NVB_CAP_UTILITY},
    {"nvidia-smi", NVB_CAP_UTILITY},
    {"libcuda", NVB_CAP_COMPUTE},
    {"libnvidia-ptxjitcompiler", NVB_CAP_COMPUTE},
    {"libnvidia-nvvm", NVB_CAP_COMPUTE},
    {"libnvdxgdmal", NVB_CAP_COMPUTE},
    {"nvcubins.bin", NVB_CAP_COMPUTE},
    {"libnvcuvid", NVB_CAP_VIDEO},
    {"libnvidia-encode", NVB_CAP_VIDEO},
    {"libnvidia-opticalflow", NVB_CAP_VIDEO},
    {"libnvoptix", NVB_CAP_GRAPHICS},
    {"libnvwgf2umx", NVB_CAP_GRAPHICS},
    {"libd3d12", NVB_CAP_GRAPHICS},
};

static unsigned caps_of(const char *name)
{
    for (size_t i = 0; i < sizeof wsl_caps / sizeof wsl_caps[0]; i++)
        if (strncmp(name, wsl_caps[i].prefix, strlen(wsl_caps[i].prefix)) == 0)
            return wsl_caps[i].caps;
    return NVB_CAP_COMPUTE | NVB_CAP_GRAPHICS; /* another library of the driver's */
}

/* A Linux shared object by its name: "lib*.so" or "lib*.so.*" (the store also holds the
 * Windows driver's .dll, .sys and .bin files, which no Linux program opens). */
static bool is_library_name(const char *name)
{
    return fnmatch("lib*.so", name, 0) == 0 || fnmatch("lib*.so.*", name, 0) == 0;
}

/* Add the file `dir`/`name` (paths inside the root) at the same path in the container, when
 * it is a regular file under /usr/lib/wsl (WSL maps no links; one that leads elsewhere, to
 * /etc/shadow say, is not WSL's file and is not offered); its kind and caps from its name.
 * 1 when added, 0 when not there. */
static int add_file(nvb_discovery *d, const char *dir, const char *name)
{
    char path[PATH_MAX], resolved[PATH_MAX];
    struct stat st;
    if (!nvb_path_cat(path, sizeof path, dir, "/", name) || nvb_rootpath_lookup(&d->root, path, resolved, &st) < 0 ||
        !S_ISREG(st.st_mode) || strncmp(resolved, "/usr/lib/wsl/", 13) != 0)
        return 0;
    enum nvb_component_kind kind = strcmp(name, "nvidia-smi") == 0     ? NVB_COMP_BINARY
                                   : strcmp(name, "nvcubins.bin") == 0 ? NVB_COMP_FIRMWARE
                                                                       : NVB_COMP_LIBRARY;
    char *host = nvb_rootpath_host(&d->root, resolved);
    return nvb_host_add_component(d, kind, host, strdup(path), caps_of(name), false) ? 1 : -1;
}

/* Every library of a folder, and the required files found there. */
static int add_folder(nvb_discovery *d, const char *dir)
{
    nvb_dir list;
    if (nvb_dir_open(&list, &d->root, dir) < 0)
        return 0;
    nvb_strv names = {0};
    const char *name;
    int r = 0;
    while (r == 0 && (name = nvb_dir_next(&list, NULL))) {
        bool wanted = is_library_name(name);
        for (size_t i = 0; !wanted && nvb_wsl2_required_files[i]; i++)
            wanted = strcmp(name, nvb_wsl2_required_files[i]) == 0;
        if (wanted)
            r = nvb_strv_push(&names, name);
    }
    nvb_dir_close(&list);
    for (size_t i = 0; r >= 0 && i < names.n; i++)
        r = add_file(d, dir, names.v[i]);
    nvb_strv_free(&names);
    return r < 0 ? -1 : 0;
}

/* Is `dir` (inside the root) an NVIDIA driver store folder: does it hold NVIDIA's WSL files? */
static bool is_nvidia_store(nvb_rootpath *root, const char *dir, struct timespec *written)
{
    static const char *const markers[] = {"libcuda.so.1.1", "libcuda_loader.so", "nvcubins.bin", "libnvidia-ml_loader.so"};
    for (size_t i = 0; i < sizeof markers / sizeof markers[0]; i++) {
        char path[PATH_MAX], resolved[PATH_MAX];
        struct stat st;
        if (nvb_path_cat(path, sizeof path, dir, "/", markers[i]) &&
            nvb_rootpath_lookup(root, path, resolved, &st) == 0 && S_ISREG(st.st_mode)) {
            *written = st.st_mtim;
            return true;
        }
    }
    return false;
}

static bool later(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec != b->tv_sec ? a->tv_sec > b->tv_sec : a->tv_nsec > b->tv_nsec;
}

int nvb_wsl2_driver_store(nvb_rootpath *root, char *out, unsigned *n_found)
{
    *n_found = 0;
    nvb_dir list;
    if (nvb_dir_open(&list, root, NVB_WSL2_DRIVERS_DIR) < 0)
        return -ENOENT;
    nvb_strv names = {0};
    const char *name;
    while ((name = nvb_dir_next(&list, NULL)))
        if (name[0] != '.' && nvb_strv_push(&names, name) < 0)
            break;
    nvb_dir_close(&list);
    struct timespec best = {0};
    for (size_t i = 0; i < names.n; i++) {
        char dir[PATH_MAX];
        struct timespec t;
        if (!nvb_path_cat(dir, sizeof dir, NVB_WSL2_DRIVERS_DIR "/", names.v[i], NULL) || !is_nvidia_store(root, dir, &t))
            continue;
        /* Ties (same time) go to the name sorting last, so the answer never hangs on
         * directory order. */
        if (!(*n_found)++ || later(&t, &best) ||
            (t.tv_sec == best.tv_sec && t.tv_nsec == best.tv_nsec && strcmp(dir, out) > 0)) {
            best = t;
            memcpy(out, dir, strlen(dir) + 1);
        }
    }
    nvb_strv_free(&names);
    return *n_found ? 0 : -ENOENT;
}

static int add_dxg(nvb_discovery *d, nvb_err *err)
{
    nvb_devnode node;
    int r = nvb_stat_devnode(d, NVB_WSL2_DXG, &node);
    if (r == 0 && node.type != 'c') { /* a block device (a disk) under dxg's name */
        free(node.host_path);
        r = -ENODEV;
    }
    if (r < 0) {
        _cleanup_free_ char *p = nvb_rootpath_host(&d->root, NVB_WSL2_DXG);
        return nvb_errf(err, NVB_EXIT_HOST_DATA, "WSL2: %s: %s", p ? p : NVB_WSL2_DXG,
                        r == -ENODEV ? "not a character device" : strerror(-r));
    }
    node.path = (char *)NVB_WSL2_DXG;
    r = nvb_devnode_list_add(&d->h->wsl2_nodes, &node);
    free(node.host_path);
    return r < 0 ? nvb_errf(err, NVB_EXIT_IO, "out of memory") : 0;
}

/* The host path of `path` when it is there and of type `kind`; *out stays NULL otherwise.
 * -1 only when out of memory. */
static int find_kind(nvb_discovery *d, const char *path, mode_t kind, char **out)
{
    char resolved[PATH_MAX];
    struct stat st;
    if (nvb_rootpath_lookup(&d->root, path, resolved, &st) < 0 || (st.st_mode & S_IFMT) != kind)
        return 0;
    return (*out = nvb_rootpath_host(&d->root, resolved)) ? 0 : -1;
}

/* WSLg's sockets, for the gaming profile: its X11 folder, the Wayland runtime folder and the
 * PulseAudio socket, each on its own (not all of /mnt/wslg: its logs and the rest of the
 * session's files are no game's business). */
static int find_wslg(nvb_discovery *d)
{
    nvb_host *h = d->h;
    return find_kind(d, NVB_WSLG_X11_DIR, S_IFDIR, &h->wslg_x11_dir) < 0 ||
                   find_kind(d, NVB_WSLG_RUNTIME_DIR, S_IFDIR, &h->wslg_runtime_dir) < 0 ||
                   find_kind(d, NVB_WSLG_PULSE, S_IFSOCK, &h->wslg_pulse) < 0
               ? -1
               : 0;
}

/* The libnvidia-ml.so.1 programs load: /usr/lib/wsl/lib's, else the store's. */
static const nvb_component *nvml_library(const nvb_host *h)
{
    const nvb_component *found = NULL;
    for (size_t i = 0; i < h->n_comps; i++) {
        const char *p = h->comps[i].container_path, *base = strrchr(p, '/') + 1;
        if (strcmp(base, "libnvidia-ml.so.1") == 0 && (!found || strncmp(p, NVB_WSL2_LIB_DIR "/", 17) == 0))
            found = &h->comps[i];
    }
    return found;
}

/* Required files neither in the store nor in /usr/lib/wsl/lib: an older Windows driver. */
static int warn_missing(nvb_discovery *d, const char *store)
{
    for (size_t i = 0; nvb_wsl2_required_files[i]; i++) {
        char a[PATH_MAX], b[PATH_MAX];
        const char *f = nvb_wsl2_required_files[i];
        bool found = false;
        for (size_t c = 0; !found && c < d->h->n_comps; c++) {
            const char *p = d->h->comps[c].container_path;
            found = (*store && nvb_path_cat(a, sizeof a, store, "/", f) && strcmp(p, a) == 0) ||
                    (nvb_path_cat(b, sizeof b, NVB_WSL2_LIB_DIR "/", f, NULL) && strcmp(p, b) == 0);
        }
        if (!found && nvb_strv_pushf(&d->h->warnings,
                                     "WSL2: %s is in neither the NVIDIA driver store nor %s: update the NVIDIA "
                                     "driver on Windows (see `nvbind wsl2 check`)",
                                     f, NVB_WSL2_LIB_DIR) < 0)
            return -1;
    }
    return 0;
}

int nvb_discover_wsl2(nvb_discovery *d, unsigned timeout_ms, nvb_err *err)
{
    nvb_host *h = d->h;
    h->wsl2 = true;
    h->kmod = NVB_KMOD_UNKNOWN;
    if (add_dxg(d, err) < 0)
        return -1;
    char store[PATH_MAX] = "";
    unsigned n_stores = 0;
    if (nvb_wsl2_driver_store(&d->root, store, &n_stores) < 0)
        store[0] = '\0';
    if ((*store && add_folder(d, store) < 0) || add_folder(d, NVB_WSL2_LIB_DIR) < 0 || find_wslg(d) < 0 ||
        warn_missing(d, store) < 0)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    /* Several NVIDIA store folders are usual (the Windows driver store keeps earlier drivers'
     * packages): no warning on every command; `wsl2 check` says which one is taken. */
    const nvb_component *nvml = nvml_library(h);
    if (!nvml || nvb_wsl2_nvml_list(d, nvml->host_path, timeout_ms) < 0) {
        /* No NVML answer: no GPU list, no version; the spec still offers device "all". */
        if (nvb_strv_pushf(&h->warnings, "WSL2: NVML %s: the GPUs are offered as one device, \"all\"",
                           nvml ? "did not answer" : "(libnvidia-ml.so.1) not found") < 0)
            return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    }
    if (!h->driver_version && !(h->driver_version = strdup("unknown")))
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    return 0;
}
