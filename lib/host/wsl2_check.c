/* What a WSL2 host has and lacks for GPU containers, each finding with its fix: backs
 * `nvbind wsl2 check` and doctor's report on a WSL2 host. Reads the files WSL and the
 * Windows driver put in the guest; it never needs the discovery to have succeeded. */
#include "host/wsl2.h"
#include "host/wsl2_check.h"
#include "host/hostio.h"
#include "ldcache/ldcache.h"
#include "util/cleanup.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

__attribute__((format(printf, 5, 6))) static void add(nvb_doctor *d, enum nvb_check_level level, const char *name,
                                                      const char *fix, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    nvb_doctor_add(d, level, name, fix, "%s", msg);
}

static bool is_kind(nvb_rootpath *rp, const char *path, mode_t kind)
{
    char resolved[PATH_MAX];
    struct stat st;
    return nvb_rootpath_lookup(rp, path, resolved, &st) == 0 && (st.st_mode & S_IFMT) == kind;
}

static void check_kernel_and_dxg(nvb_doctor *d, nvb_rootpath *rp)
{
    char rel[256] = "";
    nvb_read_small(rp, "/proc/sys/kernel/osrelease", rel, sizeof rel, NVB_READ_TO_EOF);
    rel[strcspn(rel, "\n")] = '\0';
    if (nvb_wsl2_kernel(rp))
        add(d, NVB_CHECK_OK, "wsl2-kernel", NULL, "WSL2 kernel %s", *rel ? rel : "(from /proc/version)");
    else
        add(d, NVB_CHECK_ERROR, "wsl2-kernel",
            "run nvbind inside a WSL2 distribution (on Windows: `wsl --set-version <distro> 2`)",
            "not a WSL2 kernel: /proc/sys/kernel/osrelease and /proc/version do not say microsoft-standard-WSL2");
    char resolved[PATH_MAX];
    struct stat st;
    int r = nvb_rootpath_lookup(rp, NVB_WSL2_DXG, resolved, &st);
    if (r == 0 && S_ISCHR(st.st_mode))
        add(d, NVB_CHECK_OK, "device-node:/dev/dxg", NULL, "/dev/dxg c %u:%u (WSL2's GPU paravirtualization)",
            major(st.st_rdev), minor(st.st_rdev));
    else
        add(d, NVB_CHECK_ERROR, "device-node:/dev/dxg",
            "update WSL (`wsl --update` on Windows) and install the NVIDIA driver on Windows, then `wsl --shutdown`",
            "/dev/dxg is %s: WSL2 lends no GPU to this guest", r < 0 ? "missing" : "not a character device");
}

static void check_libraries(nvb_doctor *d, nvb_rootpath *rp)
{
    static const char *const libs[] = {"libcuda.so.1", "libnvidia-ml.so.1"};
    char missing[256] = "";
    for (size_t i = 0; i < 2; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", NVB_WSL2_LIB_DIR, libs[i]);
        if (!is_kind(rp, path, S_IFREG))
            snprintf(missing + strlen(missing), sizeof missing - strlen(missing), " %s", libs[i]);
    }
    if (!*missing)
        add(d, NVB_CHECK_OK, "wsl-libraries", NULL, "%s has libcuda.so.1 and libnvidia-ml.so.1", NVB_WSL2_LIB_DIR);
    else
        add(d, NVB_CHECK_ERROR, "wsl-libraries",
            "install the NVIDIA driver on Windows: it maps its Linux libraries into /usr/lib/wsl/lib (never install "
            "a Linux NVIDIA driver inside WSL2)",
            "%s lacks%s", NVB_WSL2_LIB_DIR, missing);
    if (is_kind(rp, NVB_WSL2_LIB_DIR "/libdxcore.so", S_IFREG))
        add(d, NVB_CHECK_OK, "libdxcore", NULL, "%s/libdxcore.so present", NVB_WSL2_LIB_DIR);
    else
        add(d, NVB_CHECK_ERROR, "libdxcore",
            "update WSL (`wsl --update` on Windows): libdxcore.so comes with WSL's GPU support, and CUDA finds the "
            "driver store through it",
            "%s/libdxcore.so is missing", NVB_WSL2_LIB_DIR);
}

static void check_store(nvb_doctor *d, nvb_rootpath *rp)
{
    char store[PATH_MAX] = "", missing[512] = "";
    unsigned n = 0;
    if (nvb_wsl2_driver_store(rp, store, &n) < 0) {
        add(d, NVB_CHECK_ERROR, "driver-store",
            "install (or update) the NVIDIA driver on Windows, then `wsl --shutdown`",
            "no NVIDIA driver store folder under %s", NVB_WSL2_DRIVERS_DIR);
        return;
    }
    for (size_t i = 0; nvb_wsl2_required_files[i]; i++) {
        char a[PATH_MAX], b[PATH_MAX];
        /* A path that does not fit names no file: it counts as missing, never as a shorter one. */
        bool in_store = nvb_path_cat(a, sizeof a, store, "/", nvb_wsl2_required_files[i]) && is_kind(rp, a, S_IFREG);
        bool in_lib = nvb_path_cat(b, sizeof b, NVB_WSL2_LIB_DIR, "/", nvb_wsl2_required_files[i]) &&
                      is_kind(rp, b, S_IFREG);
        if (!in_store && !in_lib)
            snprintf(missing + strlen(missing), sizeof missing - strlen(missing), " %s", nvb_wsl2_required_files[i]);
    }
    if (*missing)
        add(d, NVB_CHECK_ERROR, "driver-store",
            "the Windows NVIDIA driver is too old for CUDA in WSL2 containers: install the current one from "
            "nvidia.com, then `wsl --shutdown`",
            "NVIDIA driver store %s lacks%s", store, missing);
    else
        add(d, NVB_CHECK_OK, "driver-store", NULL, "NVIDIA driver store %s has every file CUDA and NVML need", store);
    if (n > 1)
        add(d, NVB_CHECK_INFO, "driver-stores", NULL,
            "%u NVIDIA driver store folders; %s is the one written last and the one offered", n, store);
}

/* Is /usr/lib/wsl/lib in the loader's cache, and does a Linux driver's libcuda shadow it? */
static void check_loader_path(nvb_doctor *d, nvb_rootpath *rp)
{
    _cleanup_free_ char *path = nvb_rootpath_host(rp, "/etc/ld.so.cache");
    nvb_ldcache cache;
    nvb_err err = {0};
    bool listed = false;
    char shadow[PATH_MAX] = "";
    if (path && nvb_ldcache_open(&cache, path, &err) == 0) {
        for (size_t i = 0; i < cache.n; i++) {
            const nvb_ldcache_entry *e = &cache.entries[i];
            if (strncmp(e->path, NVB_WSL2_LIB_DIR "/", sizeof NVB_WSL2_LIB_DIR) == 0)
                listed = true;
            else if (strcmp(e->name, "libcuda.so.1") == 0 && !*shadow && strncmp(e->path, "/usr/lib/wsl/", 13) != 0)
                snprintf(shadow, sizeof shadow, "%s", e->path);
        }
        nvb_ldcache_close(&cache);
    }
    if (listed)
        add(d, NVB_CHECK_OK, "loader-path", NULL, "the library cache lists %s", NVB_WSL2_LIB_DIR);
    else
        add(d, NVB_CHECK_WARNING, "loader-path",
            "echo /usr/lib/wsl/lib > /etc/ld.so.conf.d/ld.wsl.conf && ldconfig   (WSL writes that file at start-up "
            "unless /etc/wsl.conf turns it off)",
            "%s is not in the loader's path (/etc/ld.so.cache lists nothing from it): programs on this host do not "
            "find libcuda",
            NVB_WSL2_LIB_DIR);
    if (*shadow)
        add(d, NVB_CHECK_WARNING, "linux-driver",
            "remove the Linux NVIDIA driver packages from this WSL2 distribution: WSL2 uses the Windows driver",
            "the library cache lists a Linux driver's libcuda.so.1 (%s), which hides the one in %s", shadow,
            NVB_WSL2_LIB_DIR);
}

static void check_gpus(nvb_doctor *d, const nvb_host *h)
{
    if (!h)
        return;
    if (h->n_gpus)
        add(d, NVB_CHECK_OK, "gpus", NULL, "%zu GPU%s through NVML (NVIDIA driver %s on Windows)", h->n_gpus,
            h->n_gpus == 1 ? "" : "s", h->driver_version);
    else
        add(d, NVB_CHECK_WARNING, "gpus",
            "check `nvidia-smi` (in /usr/lib/wsl/lib); update the Windows driver if it fails",
            "NVML listed no GPU: containers get every GPU as one device, \"all\"");
}

static void check_session(nvb_doctor *d, nvb_rootpath *rp)
{
    if (is_kind(rp, "/run/systemd/system", S_IFDIR))
        add(d, NVB_CHECK_OK, "systemd", NULL, "systemd runs this distribution");
    else
        add(d, NVB_CHECK_INFO, "systemd",
            "add \"[boot]\" and \"systemd=true\" to /etc/wsl.conf, then `wsl --shutdown` on Windows",
            "systemd is off (no /run/systemd/system): podman's and docker's services and socket activation need it");
    static const struct {
        const char *path, *what;
    } wslg[] = {
        {"/mnt/wslg/runtime-dir/wayland-0", "Wayland"},
        {"/tmp/.X11-unix/X0", "X11"},
        {"/mnt/wslg/PulseServer", "PulseAudio"},
    };
    char missing[256] = "";
    for (size_t i = 0; i < sizeof wslg / sizeof wslg[0]; i++)
        if (!is_kind(rp, wslg[i].path, S_IFSOCK))
            snprintf(missing + strlen(missing), sizeof missing - strlen(missing), " %s (%s)", wslg[i].path,
                     wslg[i].what);
    if (!*missing)
        add(d, NVB_CHECK_OK, "wslg", NULL, "WSLg sockets present (Wayland, X11, PulseAudio): gaming containers can show windows");
    else
        add(d, NVB_CHECK_WARNING, "wslg",
            "turn WSLg on: guiApplications=true under [wsl2] in %UserProfile%\\.wslconfig on Windows (the default), "
            "then `wsl --shutdown`",
            "WSLg is off or incomplete, missing:%s: gaming containers get no display or sound", missing);
}

void nvb_wsl2_checks(nvb_doctor *d, const char *root, const nvb_host *h)
{
    nvb_rootpath rp;
    nvb_rootpath_init(&rp, root && *root ? root : "/");
    check_kernel_and_dxg(d, &rp);
    check_libraries(d, &rp);
    check_store(d, &rp);
    check_loader_path(d, &rp);
    check_gpus(d, h);
    check_session(d, &rp);
    nvb_rootpath_clear(&rp);
}

nvb_doctor *nvb_wsl2_check_run(const nvb_discover_opts *opts)
{
    nvb_doctor *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    const char *root = opts->root && *opts->root ? opts->root : "/";
    d->wsl2_mode = nvb_wsl2_detect_root(root);
    nvb_host *h = NULL;
    if (d->wsl2_mode) {
        nvb_err err = {0};
        nvb_discover_opts o = *opts;
        o.with_nvml = false;
        h = nvb_host_discover(&o, &err);
        if (!h)
            nvb_doctor_add(d, NVB_CHECK_ERROR, "discovery", NULL, "%s", err.msg);
    }
    nvb_wsl2_checks(d, root, h);
    if (h && h->wsl2) {
        d->gpu_count = (unsigned)h->n_gpus;
        d->gpus_available = true;
        d->driver_version = h->driver_version ? strdup(h->driver_version) : NULL;
    }
    nvb_host_free(h);
    d->ready = true;
    for (size_t i = 0; i < d->n_checks; i++)
        if (d->checks[i].level == NVB_CHECK_ERROR)
            d->ready = false;
    return d;
}

json_t *nvb_wsl2_check_to_json(const nvb_doctor *d)
{
    static const char *const levels[] = {"ok", "info", "warning", "error"};
    json_t *checks = json_array();
    for (size_t i = 0; checks && i < d->n_checks; i++) {
        const nvb_check *c = &d->checks[i];
        json_array_append_new(checks, json_pack("{s:s, s:s, s:s, s:o}", "name", c->name, "level", levels[c->level],
                                                "message", c->message ? c->message : "", "fix",
                                                c->fix ? json_string(c->fix) : json_null()));
    }
    return json_pack("{s:b, s:b, s:I, s:o, s:o}", "wsl2", d->wsl2_mode, "ready", d->ready, "gpu_count",
                     (json_int_t)d->gpu_count, "driver_version",
                     d->driver_version ? json_string(d->driver_version) : json_null(), "checks", checks);
}
