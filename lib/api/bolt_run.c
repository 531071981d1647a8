/* run_with_bolt_runtime: the same container `nvbind run --runtime bolt` starts (the plan of
 * lib/runtime/compose.h, the isolation decision of lib/isolation, the Bolt spec installed
 * when stale, the bolt translation of lib/runtime/engine.h), but run the way a library must:
 * spawn and wait, without taking over the embedding program's signals (the CLI's foreground
 * runner blocks and waits for signals, which in a multi-threaded program may be delivered to
 * another thread). */
#include "api/api.h"
#include "api/claim.h"
#include "util/log.h"
#include "isolation/isolation.h"
#include "policy/cdi_generate.h"
#include "runtime/capsule.h"
#include "runtime/compose.h"
#include "runtime/engine.h"
#include "runtime/run_isolation.h"
#include "runtime/select.h"
#include "runtime/shell.h"
#include "runtime/spec_install.h"
#include "policy/profiles.h"
#include "util/cleanup.h"
#include "util/spawn.h"

#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* Spawn and wait; the exit status, 128+N for signal N, -1 when it could not start. The
 * claims of g are recorded as bolt's too: bolt stays in the foreground while its capsule
 * runs, so they hold as long, also should this process end first. */
static int spawn_wait(const char *exe, char *const *argv, const nvb_isolation_grant *g, nvbind_error **err)
{
    pid_t pid;
    if (nvb_log_on(NVB_LOG_INFO)) {
        size_t n = 0;
        while (argv[n])
            n++;
        _cleanup_free_ char *line = nvb_shell_join(argv, n);
        nvb_log(NVB_LOG_INFO, "running %s (%s)", line ? line : exe, exe);
    }
    int r = posix_spawn(&pid, exe, NULL, NULL, argv, environ);
    if (r != 0)
        return nvb_api_failf(err, NVB_EXIT_RUNTIME, "cannot start %s: %s", exe, strerror(r));
    nvb_err ignored = {0};
    if (g->claimed && g->container)
        nvb_claims_set_init(g->state_dir, g->container, pid, &ignored); /* else: held by this process */
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return nvb_api_failf(err, NVB_EXIT_RUNTIME, "waiting for %s (pid %d): %s", exe, (int)pid,
                                 strerror(errno));
    }
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

/* Bolt names its capsules itself; the claims and the audit log need a name now: unique per
 * call without any counter kept between calls. */
static void capsule_name(char *buf, size_t len)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    snprintf(buf, len, "bolt-%ld-%llx", (long)getpid(),
             (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec);
}

/* The CDI names of what the grant gives: "all" when that is the whole request unchanged,
 * else each device ("0", or "0:1" for a MIG device chosen for a virtual capsule). */
static int granted_names(const nvb_selection *sel, const nvb_isolation_grant *g, nvb_strv *out)
{
    bool same = g->n_devices == sel->n;
    for (size_t i = 0; same && i < sel->n; i++)
        same = g->devices[i].gpu == sel->v[i].gpu && g->devices[i].mig == sel->v[i].mig;
    if (same)
        return nvb_selection_cdi_names(sel, NVB_KIND_BOLT, out);
    for (size_t i = 0; i < g->n_devices; i++) {
        const nvb_isolation_device *d = &g->devices[i];
        int r = d->mig ? nvb_strv_pushf(out, "%s=%u:%u", NVB_KIND_BOLT, d->gpu->index, d->mig->mig_index)
                       : nvb_strv_pushf(out, "%s=%u", NVB_KIND_BOLT, d->gpu->index);
        if (r < 0)
            return -1;
    }
    return 0;
}

NVBIND_EXPORT int nvbind_run_with_bolt_runtime(const nvbind_gpu_manager *m, const char *image,
                                               const char *const *argv, const char *gpus, nvbind_error **err)
{
    if (!m)
        return nvb_api_failf(err, NVB_EXIT_USAGE, "nvbind_run_with_bolt_runtime: the GPU manager is NULL");
    if (!image || !*image)
        return nvb_api_failf(err, NVB_EXIT_USAGE, "nvbind_run_with_bolt_runtime: the image is empty");
    size_t n_cmd = 0;
    while (argv && argv[n_cmd])
        n_cmd++;
    const char *request = gpus ? gpus : m->config.gpu.default_selection ? m->config.gpu.default_selection : "all";

    nvb_err e = {0};
    const char *profile = nvb_api_workload_profile(m);
    nvb_host *h = NULL;
    nvb_selection sel = {0};
    nvb_gpu_plan plan = {0};
    nvb_strv names = {0}, args = {0};
    nvb_edits files = {0};
    nvb_capsule capsule = {0};
    nvb_isolation_grant grant = {0};
    char *bolt = NULL, name[64];
    int rc = -1;
    capsule_name(name, sizeof name);
    /* Everything that can be refused is checked before the spec is written: the request's
     * syntax (also without a driver), bolt in PATH, the host, the devices, the profile. */
    nvb_strv entries = {0};
    int n = nvb_devreq_split(request, "gpus", false, &entries, &e);
    nvb_strv_free(&entries);
    if (n < 0 || nvb_engine_check_image(image, &e) < 0)
        goto fail;
    bolt = nvb_find_executable("bolt");
    if (!bolt) {
        nvb_errf(&e, NVB_EXIT_RUNTIME, "bolt: not found in PATH (install Bolt, or put its folder in PATH)");
        goto fail;
    }
    /* MIG devices are known through NVML only: loaded (bounded) when the request names one or
     * `virtual` may hand them out. */
    bool mig = (m->config.capsule.isolation_level == NVB_ISOLATION_VIRTUAL && m->config.aiml.mig_enabled) ||
               strchr(request, ':') || strstr(request, "MIG-");
    if (!(h = nvb_api_discover(m, mig, err)))
        goto out;
    if (nvb_select_add(&sel, h, "gpus", request, false, &e) < 0 ||
        nvb_gpu_plan_build(&plan, &m->config, h, &sel, profile, m->hook_path, &e) < 0)
        goto fail;
    /* Claimed like every other way in (shared, exclusive, or virtual: MPS limits or a MIG
     * device in place of a GPU), held by this process until the capsule is gone. Denied (a
     * GPU held exclusively elsewhere): nothing written, nothing run. */
    if (nvb_api_claim(m, h, &sel, (nvb_claim_owner){.container = name, .runtime = "bolt"},
                      profile ? profile : "none", &grant, &e) < 0)
        goto fail;
    /* The shared spec holds the devices alone; the capsule's variables (Bolt's, its
     * profile's, its virtual isolation's) and its own files (the profile's, MPS folders)
     * travel with it: its command line and a spec only it names (runtime/capsule.h). */
    for (size_t i = 0; i < grant.edits.env.n; i++)
        if (nvb_strv_push(&plan.env, grant.edits.env.v[i]) < 0)
            goto oom;
    if (granted_names(&sel, &grant, &names) < 0 || nvb_edits_merge(&files, &plan.extra) < 0 ||
        nvb_edits_merge(&files, &grant.edits) < 0)
        goto oom;
    nvb_strv_free(&files.env); /* on the command line already, through plan.env */
    if (names.n) {
        nvb_spec_install_opts so = {
            .dir = m->cdi_spec_dir,
            .kind = NVB_KIND_BOLT,
            .naming = m->config.cdi.naming,
            .hook_path = m->hook_path,
        };
        if (nvb_spec_install(h, &so, NULL, &e) < 0)
            goto fail;
    }
    if (nvb_capsule_prepare(&capsule, &m->config, plan.workload, &plan.env, &files, NVB_KIND_BOLT, name,
                            m->cdi_spec_dir ? m->cdi_spec_dir : "/var/run/cdi", true, &names, &e) < 0)
        goto fail;
    nvb_engine_cmd c = {
        .exe = "bolt",
        .extra_args = &m->config.runtime.extra_args,
        .cdi_devices = &names,
        .env = &capsule.env,
        .isolation = m->config.capsule.isolation_level,
        .image = image,
        .cmd = (char *const *)argv,
        .n_cmd = n_cmd,
    };
    if (nvb_engine_argv_bolt(&c, &args, &e) < 0)
        goto fail;
    rc = spawn_wait(bolt, args.v, &grant, err);
    goto out;
oom:
    nvb_errf(&e, NVB_EXIT_IO, "out of memory");
fail:
    nvb_api_fail(err, &e);
out:
    /* The capsule is gone (or never started): its claims go with it. */
    nvb_isolation_release(&grant, NULL);
    nvb_isolation_grant_clear(&grant);
    free(bolt);
    nvb_capsule_finish(&capsule); /* the capsule is gone: so is its own spec */
    nvb_edits_clear(&files);
    nvb_strv_free(&args);
    nvb_strv_free(&names);
    nvb_gpu_plan_clear(&plan);
    nvb_selection_clear(&sel);
    nvb_host_free(h);
    return rc;
}
