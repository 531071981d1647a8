/* run_with_bolt_runtime: the same container `nvbind run --runtime bolt` starts (the plan of
 * lib/runtime/compose.h, the Bolt spec installed when stale, the bolt translation of
 * lib/runtime/engine.h), but run the way a library must: spawn and wait, without taking over
 * the embedding program's signals (the CLI's foreground runner blocks and waits for signals,
 * which in a multi-threaded program may be delivered to another thread). */
#include "api/api.h"
#include "policy/cdi_generate.h"
#include "runtime/compose.h"
#include "runtime/engine.h"
#include "runtime/select.h"
#include "runtime/spec_install.h"
#include "policy/profiles.h"
#include "util/cleanup.h"
#include "util/spawn.h"

#include <errno.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

extern char **environ;

/* Spawn and wait; the exit status, 128+N for signal N, -1 when it could not start. */
static int spawn_wait(const char *exe, char *const *argv, nvbind_error **err)
{
    pid_t pid;
    int r = posix_spawn(&pid, exe, NULL, NULL, argv, environ);
    if (r != 0)
        return nvb_api_failf(err, NVB_EXIT_RUNTIME, "cannot start %s: %s", exe, strerror(r));
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return nvb_api_failf(err, NVB_EXIT_RUNTIME, "waiting for %s (pid %d): %s", exe, (int)pid,
                                 strerror(errno));
    }
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

/* The profile `nvbind run --profile` would name for the manager's workload; NULL = none. */
static const char *workload_profile(const nvbind_gpu_manager *m)
{
    switch (nvb_api_manager_workload(m)) {
    case NVB_API_GAMING:
        return "gaming";
    case NVB_API_AIML:
        return "aiml";
    default:
        return NULL;
    }
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
    nvb_host *h = NULL;
    nvb_selection sel = {0};
    nvb_gpu_plan plan = {0};
    nvb_strv names = {0}, args = {0};
    nvb_edits extra = {0};
    char *bolt = NULL;
    int rc = -1;
    /* Everything that can be refused is checked before the spec is written: the request's
     * syntax (also without a driver), bolt in PATH, the host, the devices, the profile. */
    nvb_strv entries = {0};
    int n = nvb_devreq_split(request, "gpus", false, &entries, &e);
    nvb_strv_free(&entries);
    if (n < 0)
        goto fail;
    bolt = nvb_find_executable("bolt");
    if (!bolt) {
        nvb_errf(&e, NVB_EXIT_RUNTIME, "bolt: not found in PATH (install Bolt, or put its folder in PATH)");
        goto fail;
    }
    if (!(h = nvb_api_discover(m, false, err)))
        goto out;
    if (nvb_select_add(&sel, h, "gpus", request, false, &e) < 0 ||
        nvb_gpu_plan_build(&plan, &m->config, h, &sel, workload_profile(m), m->hook_path, &e) < 0)
        goto fail;
    /* The spec carries Bolt's capsule variables and the profile's own files; the profile's
     * variables go on the command line as the container's env. */
    if (nvb_selection_cdi_names(&sel, NVB_KIND_BOLT, &names) < 0 ||
        nvb_bolt_capsule_edits(&m->config, plan.workload, &extra) < 0 || nvb_edits_merge(&extra, &plan.extra) < 0) {
        nvb_errf(&e, NVB_EXIT_IO, "out of memory");
        goto fail;
    }
    nvb_engine_cmd c = {
        .exe = "bolt",
        .extra_args = &m->config.runtime.extra_args,
        .cdi_devices = &names,
        .env = &plan.env,
        .isolation = m->config.capsule.isolation_level,
        .image = image,
        .cmd = (char *const *)argv,
        .n_cmd = n_cmd,
    };
    if (nvb_engine_argv_bolt(&c, &args, &e) < 0)
        goto fail;
    if (names.n) {
        nvb_spec_install_opts so = {
            .dir = m->cdi_spec_dir,
            .kind = NVB_KIND_BOLT,
            .naming = m->config.cdi.naming,
            .hook_path = m->hook_path,
            .extra = &extra,
        };
        if (nvb_spec_install(h, &so, NULL, &e) < 0)
            goto fail;
    }
    rc = spawn_wait(bolt, args.v, err);
    goto out;
fail:
    nvb_api_fail(err, &e);
out:
    free(bolt);
    nvb_edits_clear(&extra);
    nvb_strv_free(&args);
    nvb_strv_free(&names);
    nvb_gpu_plan_clear(&plan);
    nvb_selection_clear(&sel);
    nvb_host_free(h);
    return rc;
}
