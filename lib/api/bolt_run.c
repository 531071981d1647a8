/* run_with_bolt_runtime: write the Bolt spec, then run `bolt surge run ...` (the translation
 * `nvbind run --runtime bolt` uses) in the foreground. A library must not take over the
 * embedding program's signals, so unlike the CLI this only spawns and waits. */
#include "api/api.h"
#include "cdi/cdi.h"
#include "policy/cdi_generate.h"
#include "runtime/engine.h"
#include "util/cleanup.h"
#include "util/fileio.h"
#include "util/spawn.h"

#include <errno.h>
#include <spawn.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

extern char **environ;

/* mkdir -p for the spec folder (mode 0755, as the engines expect to read it). */
static int make_dirs(const char *dir, nvbind_error **err)
{
    _cleanup_free_ char *p = strdup(dir);
    if (!p)
        return nvb_api_oom(err, dir);
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, 0755) < 0 && errno != EEXIST)
            return nvb_api_failf(err, NVB_EXIT_IO, "cannot create the CDI spec folder %s: %s", p, strerror(errno));
        *s = c;
        if (!c)
            break;
    }
    struct stat st;
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
        return nvb_api_failf(err, NVB_EXIT_IO, "the CDI spec folder %s is not a folder", dir);
    return 0;
}

static int write_spec(const nvbind_gpu_manager *m, const json_t *spec, nvbind_error **err)
{
    if (make_dirs(m->cdi_spec_dir, err) < 0)
        return -1;
    _cleanup_free_ char *name = nvb_cdi_spec_file_name(NVB_API_BOLT_KIND, false);
    _cleanup_free_ char *path = name ? nvb_path_join(m->cdi_spec_dir, name) : NULL;
    _cleanup_free_ char *text = nvb_cdi_to_json(spec);
    if (!path || !text)
        return nvb_api_oom(err, "writing the Bolt CDI spec");
    nvb_err e = {0};
    if (nvb_write_file_atomic(path, text, strlen(text), 0644, &e) < 0)
        return nvb_api_fail(err, &e);
    return 0;
}

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

    nvb_host *h = nvb_api_discover(m, false, err);
    if (!h)
        return -1;
    nvb_strv names = {0}, args = {0};
    json_t *spec = NULL;
    char *bolt = NULL;
    int rc = -1;
    /* Everything that can be refused is checked before the spec is written. */
    if (nvb_api_select_names(m, h, gpus, &names, err) < 0)
        goto out;
    spec = nvb_api_generate(m, h, nvb_api_manager_workload(m), NULL, err);
    if (!spec)
        goto out;
    nvb_engine_cmd c = {
        .exe = "bolt",
        .extra_args = &m->config.runtime.extra_args,
        .cdi_devices = &names,
        .isolation = m->config.capsule.isolation_level,
        .image = image,
        .cmd = (char *const *)argv,
        .n_cmd = n_cmd,
    };
    nvb_err e = {0};
    if (nvb_engine_argv_bolt(&c, &args, &e) < 0) {
        nvb_api_fail(err, &e);
        goto out;
    }
    bolt = nvb_find_executable("bolt");
    if (!bolt) {
        nvb_api_failf(err, NVB_EXIT_RUNTIME, "bolt: not found in PATH (install Bolt, or put its folder in PATH)");
        goto out;
    }
    if (write_spec(m, spec, err) < 0)
        goto out;
    rc = spawn_wait(bolt, args.v, err);
out:
    free(bolt);
    json_decref(spec);
    nvb_strv_free(&args);
    nvb_strv_free(&names);
    nvb_host_free(h);
    return rc;
}
