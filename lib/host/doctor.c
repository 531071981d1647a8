#include "host/doctor.h"
#include "host/procfs.h"
#include "host/rootpath.h"
#include "host/wsl2.h"
#include "host/wsl2_check.h"
#include "util/cleanup.h"
#include "util/fileio.h"
#include "util/spawn.h"
#include "util/trust.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

__attribute__((format(printf, 1, 0))) static char *vfmt(const char *fmt, va_list ap)
{
    char *s = NULL;
    return vasprintf(&s, fmt, ap) < 0 ? NULL : s;
}

void nvb_doctor_add(nvb_doctor *d, enum nvb_check_level level, const char *name, const char *fix, const char *fmt, ...)
{
    nvb_check *nv = realloc(d->checks, (d->n_checks + 1) * sizeof *nv);
    if (!nv)
        return;
    d->checks = nv;
    va_list ap;
    va_start(ap, fmt);
    d->checks[d->n_checks++] = (nvb_check){strdup(name), level, vfmt(fmt, ap), fix ? strdup(fix) : NULL};
    va_end(ap);
}

#define check nvb_doctor_add

void nvb_doctor_finish(nvb_doctor *d)
{
    d->ready = true;
    for (size_t i = 0; i < d->n_checks; i++)
        if (d->checks[i].level == NVB_CHECK_ERROR)
            d->ready = false;
    /* Bolt's GPU capsules need a ready host and Bolt itself. */
    d->bolt_optimizations_available = d->ready && d->gpu_count > 0 && d->engines[2].path != NULL;
}

static const char *node_fix(const char *path)
{
    if (strstr(path, "uvm"))
        return "load the UVM module and make its nodes: `modprobe nvidia-uvm && nvbind system create-device-nodes`";
    if (strstr(path, "modeset"))
        return "load the modeset module and make its node: `modprobe nvidia-modeset && nvbind system create-device-nodes` "
               "(needed for display, optional for compute)";
    return "make the driver's device nodes: `nvbind system create-device-nodes` (or `nvidia-modprobe -c 0`)";
}

/* Each NVIDIA node should have its /dev/char/MAJ:MIN link: systemd's device cgroup
 * rules resolve through them, and containers lose GPU access after a daemon-reload
 * when they are missing. */
static void check_dev_char(nvb_doctor *d, const nvb_host *h, const nvb_devnode *n)
{
    nvb_rootpath rp;
    nvb_rootpath_init(&rp, h->root);
    char rel[64];
    snprintf(rel, sizeof rel, "/dev/char/%u:%u", n->major, n->minor);
    _cleanup_free_ char *host = nvb_rootpath_host(&rp, rel);
    struct stat st;
    if (host && lstat(host, &st) == 0 && S_ISLNK(st.st_mode))
        return;
    char fix[512];
    snprintf(fix, sizeof fix, "ln -s %s %s (or run `nvbind system create-dev-char-symlinks`)",
             n->path, rel);
    check(d, NVB_CHECK_WARNING, rel, fix, "%s is missing for %s: GPU access in containers breaks after `systemctl daemon-reload`",
          rel, n->path);
}

static void check_node(nvb_doctor *d, const nvb_host *h, const char *path, const nvb_devnode_list *l,
                       const char *proc_name, const char *proc_devices, bool required)
{
    const nvb_devnode *n = NULL;
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].path, path) == 0)
            n = &l->v[i];
    char name[128];
    snprintf(name, sizeof name, "device-node:%s", path);
    if (!n) {
        check(d, required ? NVB_CHECK_ERROR : NVB_CHECK_WARNING, name, node_fix(path), "%s is missing", path);
        return;
    }
    int want = proc_devices && proc_name ? nvb_proc_devices_major(proc_devices, proc_name) : -1;
    if (proc_name && want < 0 && proc_devices)
        check(d, NVB_CHECK_ERROR, name, node_fix(path), "%s exists (major %u) but /proc/devices registers no %s: the module is not loaded",
              path, n->major, proc_name);
    else if (want >= 0 && (unsigned)want != n->major)
        check(d, NVB_CHECK_ERROR, name, "make it again with the driver's number: `nvbind system create-device-nodes`",
              "%s has major %u but /proc/devices registers %s as %d: a stale node from an earlier module load", path,
              n->major, proc_name, want);
    else
        check(d, NVB_CHECK_OK, name, NULL, "%s %c %u:%u (/proc/devices: %s)", path, n->type, n->major, n->minor,
              proc_name ? proc_name : "-");
    check_dev_char(d, h, n);
}

static bool has_library(const nvb_host *h, const char *prefix)
{
    for (size_t i = 0; i < h->n_comps; i++) {
        const char *b = strrchr(h->comps[i].container_path, '/');
        if (h->comps[i].kind == NVB_COMP_LIBRARY && b && strncmp(b + 1, prefix, strlen(prefix)) == 0)
            return true;
    }
    return false;
}

/* `docker --version` is the client's; what runs containers is the daemon, which may be older
 * or newer. Ask it (a template every client knows) and report both; a daemon that does not
 * answer is said so. */
static void docker_server_version(nvb_engine *e)
{
    char out[512];
    char *argv[] = {e->path, (char *)"version", (char *)"--format", (char *)"{{.Server.Version}}|{{.Client.Version}}",
                    NULL};
    char *v;
    if (nvb_run_capture(argv, 5000, out, sizeof out) != 0 || !strchr(out, '|') || out[0] == '|') {
        if (asprintf(&v, "%s; daemon not reachable", e->version) < 0)
            return;
    } else {
        out[strcspn(out, "\n")] = '\0';
        char *bar = strchr(out, '|');
        *bar = '\0';
        if (asprintf(&v, "Docker daemon %s (client %s)", out, bar + 1) < 0)
            return;
    }
    free(e->version);
    e->version = v;
}

#define N_ENGINES 5

/* Each engine's path and `--version`, all asked at once within one deadline (a hung engine
 * costs 3 s, not 3 s each), then the docker daemon's version. */
static void probe_all_engines(nvb_engine *engines, const char *const *names)
{
    nvb_capture probes[N_ENGINES];
    char out[N_ENGINES][512];
    char *argv[N_ENGINES][3];
    size_t n = 0, which[N_ENGINES];
    for (size_t i = 0; i < N_ENGINES; i++) {
        nvb_engine *e = &engines[i];
        e->name = strdup(names[i]);
        if (!(e->path = nvb_find_executable(names[i])))
            continue;
        argv[n][0] = e->path;
        argv[n][1] = (char *)"--version";
        argv[n][2] = NULL;
        probes[n] = (nvb_capture){.argv = argv[n], .out = out[n], .outlen = sizeof out[n]};
        which[n++] = i;
    }
    nvb_run_capture_all(probes, n, 3000);
    for (size_t k = 0; k < n; k++) {
        nvb_engine *e = &engines[which[k]];
        if (probes[k].rc != 0)
            continue;
        out[k][strcspn(out[k], "\n")] = '\0';
        e->version = strdup(out[k]);
        if (e->version && strcmp(e->name, "docker") == 0)
            docker_server_version(e);
    }
}

static void check_host(nvb_doctor *d, const nvb_host *h, const nvb_discover_opts *opts)
{
    d->driver_version = strdup(h->driver_version);
    d->nvidia_open_driver = h->kmod == NVB_KMOD_OPEN;
    d->gpu_count = (unsigned)h->n_gpus;
    d->gpus_available = h->n_gpus > 0;
    if (h->wsl2) { /* WSL2: no Linux driver, its own checks (host/wsl2_check.c) */
        d->gpus_available = true; /* without NVML's list, still device "all" through /dev/dxg */
        nvb_wsl2_checks(d, h->root, h);
        for (size_t i = 0; i < h->warnings.n; i++) /* "WSL2: ..." ones are the checks' findings */
            if (strncmp(h->warnings.v[i], "WSL2: ", 6) != 0)
                check(d, NVB_CHECK_WARNING, "discovery", NULL, "%s", h->warnings.v[i]);
        return;
    }
    check(d, NVB_CHECK_OK, "driver", NULL, "NVIDIA driver %s loaded (%s kernel module)", h->driver_version,
          h->kmod == NVB_KMOD_OPEN ? "open" : "proprietary");
    if (!h->n_gpus)
        check(d, NVB_CHECK_ERROR, "gpus", "check `lspci -d 10de:` and `dmesg | grep -i nvrm`: the driver is loaded but bound to no GPU",
              "no GPU under /proc/driver/nvidia/gpus");
    else
        check(d, NVB_CHECK_OK, "gpus", NULL, "%zu GPU%s", h->n_gpus, h->n_gpus == 1 ? "" : "s");

    nvb_rootpath rp;
    nvb_rootpath_init(&rp, h->root);
    _cleanup_free_ char *pdp = nvb_rootpath_host(&rp, "/proc/devices");
    _cleanup_free_ char *pd = pdp ? nvb_read_file(pdp, 1 << 16, NULL) : NULL;
    const char *frontend = pd && nvb_proc_devices_major(pd, "nvidia-frontend") >= 0 ? "nvidia-frontend" : "nvidia";
    check_node(d, h, "/dev/nvidiactl", &h->nodes, frontend, pd, true);
    check_node(d, h, "/dev/nvidia-uvm", &h->nodes, "nvidia-uvm", pd, true);
    check_node(d, h, "/dev/nvidia-uvm-tools", &h->nodes, "nvidia-uvm", pd, false);
    check_node(d, h, "/dev/nvidia-modeset", &h->nodes, NULL, pd, false);
    for (size_t i = 0; i < h->n_gpus; i++) {
        char path[64];
        snprintf(path, sizeof path, "/dev/nvidia%u", h->gpus[i].minor);
        check_node(d, h, path, &h->gpus[i].nodes, frontend, pd, true);
    }

    bool libs = has_library(h, "libcuda.so") && has_library(h, "libnvidia-ml.so");
    if (libs)
        check(d, NVB_CHECK_OK, "libraries", NULL, "driver libraries found (libcuda, libnvidia-ml)");
    else
        check(d, NVB_CHECK_ERROR, "libraries",
              "run `ldconfig` so the library cache lists them, or point nvbind at them with --driver-root / --library-search-path",
              "the library cache under driver root %s lists no libcuda.so / libnvidia-ml.so of driver %s", h->driver_root,
              h->driver_version);

    bool persistenced = false, mps = false;
    for (size_t i = 0; i < h->n_comps; i++) {
        if (h->comps[i].kind != NVB_COMP_IPC)
            continue;
        persistenced |= strstr(h->comps[i].container_path, "persistenced") != NULL;
    }
    _cleanup_free_ char *mps_control = nvb_rootpath_host(&rp, "/tmp/nvidia-mps/control");
    struct stat st;
    /* The control endpoint is a named pipe on some releases, a socket on others. */
    mps = mps_control && stat(mps_control, &st) == 0 && (S_ISSOCK(st.st_mode) || S_ISFIFO(st.st_mode));
    d->mps_running = mps;
    if (persistenced)
        check(d, NVB_CHECK_OK, "persistenced", NULL, "nvidia-persistenced socket present");
    else
        check(d, NVB_CHECK_WARNING, "persistenced", "systemctl enable --now nvidia-persistenced",
              "nvidia-persistenced is not running (/run/nvidia-persistenced/socket missing): GPU state is torn down between containers, slowing starts");
    if (mps)
        check(d, NVB_CHECK_OK, "mps", NULL, "CUDA MPS control daemon running (/tmp/nvidia-mps/control)");
    else
        check(d, NVB_CHECK_INFO, "mps", "nvidia-cuda-mps-control -d   (as root; needed for --isolation virtual limits)",
              "no CUDA MPS control daemon (/tmp/nvidia-mps/control missing)");
    for (size_t i = 0; i < h->warnings.n; i++)
        check(d, NVB_CHECK_WARNING, "discovery", NULL, "%s", h->warnings.v[i]);
    (void)opts;
}

/* Every GPU container runs the hook as root: a binary another user can replace is a way in. */
static void check_hook(nvb_doctor *d, const char *hook_path)
{
    char why[768];
    int r = nvb_trust_path(hook_path, geteuid(), why, sizeof why);
    if (r == 0) {
        check(d, NVB_CHECK_OK, "hook", NULL, "hook binary %s is owned by root or you and writable by nobody else", hook_path);
        return;
    }
    if (r < 0) {
        check(d, NVB_CHECK_ERROR, "hook", "install nvbind and point [cdi] hook_path (or --hook-path) at it",
              "hook binary %s cannot be checked: %s", hook_path, why);
        return;
    }
    check(d, NVB_CHECK_ERROR, "hook",
          "chown root and `chmod go-w` the binary and each folder above it (or set [cdi] hook_path to a copy in "
          "/usr/bin), then regenerate the specs",
          "hook binary %s could be replaced by another user: %s", hook_path, why);
}

nvb_doctor *nvb_doctor_run(const nvb_discover_opts *opts, bool probe_engines)
{
    return nvb_doctor_run_hook(opts, probe_engines, NULL);
}

nvb_doctor *nvb_doctor_run_hook(const nvb_discover_opts *opts, bool probe_engines, const char *hook_path)
{
    nvb_doctor *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    nvb_err err = {0};
    nvb_discover_opts o = *opts;
    o.with_nvml = false;
    o.every_vendor = true; /* every vendor: a host of other GPUs is reported, not refused */
    nvb_host *h = nvb_host_discover(&o, &err);
    if (h) {
        if (nvb_host_has_nvidia(h))
            check_host(d, h, opts);
        nvb_doctor_drm(d, h);
        nvb_host_free(h);
    } else if (nvb_wsl2_detect_root(o.root)) { /* WSL2: what is missing, with WSL's fixes */
        check(d, NVB_CHECK_ERROR, "discovery", NULL, "%s", err.msg);
        nvb_wsl2_checks(d, o.root, NULL);
    } else if (err.exit_code == NVB_EXIT_NO_DRIVER) {
        check(d, NVB_CHECK_ERROR, "driver", "install the NVIDIA driver for your GPU and load it (`modprobe nvidia`)", "%s",
              err.msg);
    } else {
        check(d, NVB_CHECK_ERROR, "discovery", NULL, "%s", err.msg);
    }
    d->wsl2_mode = nvb_wsl2_detect_root(o.root); /* the answer nvbind_detect_wsl2() gives */
    if (hook_path)
        check_hook(d, hook_path);
    static const char *const engines[N_ENGINES] = {"podman", "docker", "bolt", "runc", "crun"};
    if (probe_engines)
        probe_all_engines(d->engines, engines);
    bool any_runtime = false;
    for (size_t i = 0; i < N_ENGINES; i++) {
        if (!probe_engines)
            d->engines[i].name = strdup(engines[i]);
        any_runtime |= d->engines[i].path != NULL;
    }
    if (probe_engines && !any_runtime)
        check(d, NVB_CHECK_ERROR, "engines", "apt-get install podman (or docker.io, runc)",
              "no container engine or OCI runtime found in PATH (podman, docker, bolt, runc, crun)");
    nvb_doctor_finish(d);
    return d;
}

json_t *nvb_doctor_to_json(const nvb_doctor *d)
{
    static const char *const levels[] = {"ok", "info", "warning", "error"};
    json_t *o = json_pack("{s:b, s:I, s:o, s:b, s:b, s:b, s:b, s:b}", "gpus_available", d->gpus_available, "gpu_count",
                          (json_int_t)d->gpu_count, "driver_version",
                          d->driver_version ? json_string(d->driver_version) : json_null(), "nvidia_open_driver",
                          d->nvidia_open_driver, "wsl2_mode", d->wsl2_mode, "bolt_optimizations_available",
                          d->bolt_optimizations_available, "mps_running", d->mps_running, "ready", d->ready);
    json_t *checks = json_array();
    for (size_t i = 0; i < d->n_checks; i++) {
        const nvb_check *c = &d->checks[i];
        json_array_append_new(checks, json_pack("{s:s, s:s, s:s, s:o}", "name", c->name, "level", levels[c->level],
                                                "message", c->message ? c->message : "", "fix",
                                                c->fix ? json_string(c->fix) : json_null()));
    }
    json_object_set_new(o, "checks", checks);
    json_object_set_new(o, "other_gpu_count", json_integer(d->drm_gpu_count));
    json_t *engines = json_array();
    for (size_t i = 0; i < 5; i++) {
        const nvb_engine *e = &d->engines[i];
        json_array_append_new(engines, json_pack("{s:s, s:b, s:o, s:o}", "name", e->name, "installed", e->path != NULL,
                                                 "path", e->path ? json_string(e->path) : json_null(), "version",
                                                 e->version ? json_string(e->version) : json_null()));
    }
    json_object_set_new(o, "engines", engines);
    return o;
}

void nvb_doctor_free(nvb_doctor *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n_checks; i++) {
        free(d->checks[i].name);
        free(d->checks[i].message);
        free(d->checks[i].fix);
    }
    free(d->checks);
    for (size_t i = 0; i < 5; i++) {
        free(d->engines[i].name);
        free(d->engines[i].path);
        free(d->engines[i].version);
    }
    free(d->driver_version);
    free(d);
}
