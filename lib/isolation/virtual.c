#include "isolation/virtual.h"
#include "util/cleanup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MIB (1024ull * 1024)
#define GIB (1024ull * MIB)

int nvb_mps_mem_limit_value(uint64_t bytes, size_t n_devices, char *buf, size_t len)
{
    if (n_devices == 0 || len == 0)
        return -1;
    char one[32];
    if (bytes % GIB == 0)
        snprintf(one, sizeof one, "%lluG", (unsigned long long)(bytes / GIB));
    else
        snprintf(one, sizeof one, "%lluM", (unsigned long long)(bytes / MIB ? bytes / MIB : 1));
    size_t pos = 0;
    for (size_t i = 0; i < n_devices; i++) {
        int n = snprintf(buf + pos, len - pos, "%s%zu=%s", i ? "," : "", i, one);
        if (n < 0 || (size_t)n >= len - pos)
            return -1;
        pos += (size_t)n;
    }
    return 0;
}

char *nvb_mps_pipe_dir(const nvb_host *h, const nvb_virtual_opts *o)
{
    if (o->mps_pipe_dir)
        return strdup(o->mps_pipe_dir);
    for (size_t i = 0; h && i < h->n_comps; i++) {
        const nvb_component *c = &h->comps[i];
        if (c->kind == NVB_COMP_IPC && c->is_dir && strcmp(c->container_path, NVB_MPS_PIPE_DIR) == 0)
            return strdup(c->host_path);
    }
    return nvb_path_join(h && h->root ? h->root : "/", NVB_MPS_PIPE_DIR);
}

bool nvb_mps_running(const char *pipe_dir)
{
    _cleanup_free_ char *control = nvb_path_join(pipe_dir, "control");
    struct stat st;
    /* The control daemon's endpoint; accept either kind so a daemon that changes it (or a
     * test host that fakes it with a FIFO) is still seen. */
    return control && stat(control, &st) == 0 && (S_ISSOCK(st.st_mode) || S_ISFIFO(st.st_mode));
}

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

int nvb_virtual_mps_edits(const nvb_host *h, const nvb_virtual_opts *o, size_t n_devices, nvb_edits *out,
                          nvb_strv *warnings, nvb_err *err)
{
    bool limits = o->memory_limit > 0 || o->compute_percent > 0;
    if (o->compute_percent > 100)
        return nvb_errf(err, NVB_EXIT_CONFIG, "compute_limit %u%%: must be 1-100%%", o->compute_percent);
    _cleanup_free_ char *pipe = nvb_mps_pipe_dir(h, o);
    if (!pipe)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    if (!nvb_mps_running(pipe)) {
        if (limits && !o->allow_without_mps)
            return nvb_errf(err, NVB_EXIT_FAIL,
                            "--isolation virtual: no CUDA MPS control daemon runs on this host (%s/control is missing), "
                            "so gpu_memory_limit and compute_limit cannot be enforced; start one as root with "
                            "`nvidia-cuda-mps-control -d`, or use --isolation shared",
                            pipe);
        if (warnings)
            nvb_strv_pushf(warnings, "no CUDA MPS control daemon (%s/control is missing): %s", pipe,
                           limits ? "the memory and compute limits are NOT enforced"
                                  : "virtual isolation shares the GPU like shared isolation");
        return 0;
    }
    if (n_devices == 0)
        return 0;
    if (o->memory_limit > 0) {
        char v[4096];
        if (nvb_mps_mem_limit_value(o->memory_limit, n_devices, v, sizeof v) < 0)
            return nvb_errf(err, NVB_EXIT_USAGE, "too many devices (%zu) for one MPS memory limit", n_devices);
        if (nvb_edits_setenv(out, "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT", v) < 0)
            return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    }
    if (o->compute_percent > 0) {
        char v[16];
        snprintf(v, sizeof v, "%u", o->compute_percent);
        if (nvb_edits_setenv(out, "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE", v) < 0)
            return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    }
    if (nvb_edits_setenv(out, "CUDA_MPS_PIPE_DIRECTORY", NVB_MPS_PIPE_DIR) < 0 ||
        nvb_edits_add_mount(out, pipe, NVB_MPS_PIPE_DIR, true) < 0)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    _cleanup_free_ char *log = o->mps_log_dir ? strdup(o->mps_log_dir)
                                              : nvb_path_join(h && h->root ? h->root : "/", NVB_MPS_LOG_DIR);
    if (!log)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    if (is_dir(log)) {
        if (nvb_edits_setenv(out, "CUDA_MPS_LOG_DIRECTORY", NVB_MPS_LOG_DIR) < 0 ||
            nvb_edits_add_mount(out, log, NVB_MPS_LOG_DIR, false) < 0)
            return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    } else if (warnings) {
        nvb_strv_pushf(warnings, "MPS log folder %s does not exist: not mounted into the container", log);
    }
    return 0;
}

size_t nvb_virtual_mig_candidates(const nvb_gpu *g, const nvb_virtual_opts *o, const nvb_mig_device **out, size_t max)
{
    if (!o->mig_enabled || g->mig_mode != 1)
        return 0;
    size_t n = 0;
    for (size_t i = 0; i < g->n_migs; i++) {
        const nvb_mig_device *m = &g->migs[i];
        if (!m->uuid)
            continue;
        if (o->memory_limit > 0 && m->memory_mib >= 0 && (uint64_t)m->memory_mib * MIB < o->memory_limit)
            continue;
        if (n < max)
            out[n] = m;
        n++;
    }
    return n;
}
