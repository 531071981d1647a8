#include "runtime/plan_nvidia.h"
#include "util/log.h"
#include "runtime/run.h"
#include "policy/cdi_generate.h"
#include "policy/profiles.h"
#include "runtime/capsule.h"
#include "runtime/compose.h"
#include "runtime/foreground.h"
#include "runtime/oci_bundle.h"
#include "runtime/shell.h"
#include "runtime/spec_install.h"
#include "util/cleanup.h"
#include "util/fileio.h"
#include "util/spawn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* podman's and docker's documented exit statuses of their own: 125 when they fail
 * themselves (bad flag, no such image), 126 when the container's command cannot be invoked,
 * 127 when it cannot be found. These are not the container's status: nvbind exits 7. */
#define ENGINE_OWN_FAILURE 125
#define ENGINE_CANNOT_INVOKE 126
#define ENGINE_NOT_FOUND 127

typedef struct run_state {
    const nvb_config *cfg;
    const nvb_run_opts *o;
    FILE *out;
    enum nvb_engine engine;
    enum nvb_isolation isolation;
    const char *image;         /* engines: the image; runc/crun: the root filesystem */
    char *const *cmd;
    size_t n_cmd;
    char *exe;                 /* the engine's path; NULL in a dry run */
    const char *hook_path;
    nvb_host *host;
    nvb_selection sel;
    nvb_gpu_plan plan;
    char container_id[256];
    bool user_named;           /* the id is the --name of [runtime] extra_args */
    const nvb_run_info *info;  /* for engine_started */
} run_state;

static const char *spec_dir(const run_state *s)
{
    return s->cfg->cdi.output_dir ? s->cfg->cdi.output_dir : "/var/run/cdi";
}

static int pick_engine(run_state *s, nvb_err *err)
{
    const char *name = s->o->runtime;
    if (name) {
        if (nvb_engine_parse(name, &s->engine) < 0)
            return nvb_errf(err, NVB_EXIT_USAGE, "unknown runtime '%s' (expected podman, docker, bolt, runc or crun)",
                            name);
        return 0;
    }
    name = s->cfg->runtime.default_runtime;
    if (name) {
        if (nvb_engine_parse(name, &s->engine) < 0)
            return nvb_errf(err, NVB_EXIT_CONFIG,
                            "[runtime] default_runtime = \"%s\": expected podman, docker, bolt, runc or crun", name);
        return 0;
    }
    static const enum nvb_engine order[] = {NVB_ENGINE_PODMAN, NVB_ENGINE_DOCKER};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        char *exe = nvb_find_executable(nvb_engine_name(order[i]));
        if (exe) {
            s->engine = order[i];
            s->exe = exe;
            return 0;
        }
    }
    return nvb_errf(err, NVB_EXIT_RUNTIME,
                    "no container engine found: neither podman nor docker is in PATH (install one, or pass --runtime)");
}

static int split_args(run_state *s, nvb_err *err)
{
    const nvb_run_opts *o = s->o;
    if (!nvb_engine_is_oci(s->engine)) {
        if (o->rootfs)
            return nvb_errf(err, NVB_EXIT_USAGE, "--rootfs works with --runtime runc or crun, not %s",
                            nvb_engine_name(s->engine));
        if (o->n_args == 0 || !o->args[0] || !*o->args[0])
            return nvb_errf(err, NVB_EXIT_USAGE, "missing IMAGE (usage: nvbind run [OPTIONS] IMAGE [CMD ARGS...])");
        s->image = o->args[0];
        s->cmd = o->args + 1;
        s->n_cmd = o->n_args - 1;
        return nvb_engine_check_image(s->image, err);
    }
    if (o->rootfs) {
        s->image = o->rootfs;
        s->cmd = o->args;
        s->n_cmd = o->n_args;
    } else {
        if (o->n_args == 0)
            return nvb_errf(err, NVB_EXIT_USAGE,
                            "missing ROOTFS: with --runtime %s, give a root filesystem folder (ROOTFS or --rootfs DIR)",
                            nvb_engine_name(s->engine));
        s->image = o->args[0];
        s->cmd = o->args + 1;
        s->n_cmd = o->n_args - 1;
    }
    if (s->n_cmd == 0)
        return nvb_errf(err, NVB_EXIT_USAGE, "no command to run in %s (a root filesystem has no default command)",
                        s->image);
    return 0;
}

/* `nvbind run` is a foreground command: it returns the container's status and holds its GPU
 * claims while the engine's process runs. A detached container would keep its GPUs after
 * the claims are given back, so detaching through [runtime] extra_args is refused. */
static int refuse_detach(const run_state *s, nvb_err *err)
{
    if (nvb_engine_is_oci(s->engine))
        return 0; /* runc and crun get no extra_args */
    const char *arg = nvb_engine_detach_arg(&s->cfg->runtime.extra_args);
    if (!arg)
        return 0;
    return nvb_errf(err, NVB_EXIT_CONFIG,
                    "%s: [runtime] extra_args: \"%s\" detaches the container, which would keep its GPUs without a "
                    "claim; nvbind run stays in the foreground (remove it)",
                    nvb_config_origin(s->cfg, "runtime.extra_args"), arg);
}

static int find_engine(run_state *s, nvb_err *err)
{
    if (s->o->dry_run || s->exe)
        return 0;
    const char *name = nvb_engine_name(s->engine);
    s->exe = nvb_find_executable(name);
    if (!s->exe)
        return nvb_errf(err, NVB_EXIT_RUNTIME, "%s: not found in PATH (install it, or choose another --runtime)", name);
    return 0;
}

static int select_devices(run_state *s, nvb_err *err)
{
    const char *req = s->o->gpus ? s->o->gpus : s->cfg->gpu.default_selection ? s->cfg->gpu.default_selection : "all";
    /* The list's syntax first: a typo is reported even on a host without a driver. */
    nvb_strv entries = {0};
    int n = nvb_devreq_split(req, "--gpu", false, &entries, err);
    /* MIG devices are known through NVML only: load it (bounded) when the request names one,
     * or when `virtual` may hand out MIG devices; every other start stays NVML-free. */
    bool need_nvml = s->isolation == NVB_ISOLATION_VIRTUAL && s->cfg->aiml.mig_enabled && !s->o->dry_run;
    for (size_t i = 0; i < entries.n; i++)
        need_nvml |= strchr(entries.v[i], ':') != NULL || strncmp(entries.v[i], "MIG-", 4) == 0;
    nvb_strv_free(&entries);
    if (n <= 0)
        return n;
    nvb_discover_opts dopts = {0};
    nvb_strv libs = {0};
    if (nvb_config_discover_opts(s->cfg, s->o->root, s->o->driver_root, s->o->library_search, &libs, &dopts) < 0) {
        nvb_strv_free(&libs);
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    }
    dopts.skip_pci_details = true; /* edits need no PCI ids */
    dopts.with_nvml = need_nvml;
    s->host = nvb_host_discover(&dopts, err);
    nvb_strv_free(&libs);
    if (!s->host)
        return -1;
    return nvb_select_add(&s->sel, s->host, "--gpu", req, false, err);
}

static int dry_print(run_state *s, const nvb_strv *argv, nvb_err *err)
{
    _cleanup_free_ char *line = nvb_shell_join(argv->v, argv->n);
    if (!line)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    if (fprintf(s->out, "%s\n", line) < 0 || fflush(s->out) != 0)
        return nvb_errf_errno(err, NVB_EXIT_IO, errno, "writing the command");
    return 0;
}

/* Write the spec of `kind` when stale; *created tells whether there was none before. */
static int install_spec(run_state *s, const char *kind, const nvb_edits *extra, bool *created, nvb_err *err)
{
    nvb_spec_install_opts so = {
        .dir = spec_dir(s), .kind = kind, .naming = s->cfg->cdi.naming, .hook_path = s->hook_path, .extra = extra};
    int r = nvb_spec_install(s->host, &so, NULL, err);
    if (r < 0)
        return -1;
    *created = r == NVB_SPEC_CREATED;
    return 0;
}

static void remove_spec(run_state *s, const char *kind)
{
    _cleanup_free_ char *name = nvb_cdi_spec_file_name(kind, false);
    _cleanup_free_ char *path = name ? nvb_path_join(spec_dir(s), name) : NULL;
    if (path)
        unlink(path);
}

/* engine_started is for runs with GPUs (their claims); the others spawn the plain way. */
static bool wants_pid(const run_state *s)
{
    return s->o->engine_started && s->info && !nvb_selection_empty(&s->sel);
}

static void engine_spawned(void *ctx, int pid)
{
    run_state *s = ctx;
    if (s->o->engine_started && s->info)
        s->o->engine_started(s->o->hook_ctx, s->info, pid);
}

static int run_engine(run_state *s, const nvb_strv *argv, const char *kind, bool spec_created, nvb_err *err)
{
    nvb_fg_opts fg = {.exe = s->exe, .argv = argv->v, .spawned = wants_pid(s) ? engine_spawned : NULL,
                      .spawned_ctx = s};
    if (nvb_log_on(NVB_LOG_INFO)) {
        _cleanup_free_ char *line = nvb_shell_join(argv->v, argv->n);
        nvb_log(NVB_LOG_INFO, "running %s (%s)", line ? line : argv->v[0], s->exe);
    }
    int status = nvb_run_foreground(&fg, NULL, err);
    nvb_log(NVB_LOG_INFO, "%s exited with status %d", nvb_engine_name(s->engine), status);
    if (s->engine == NVB_ENGINE_BOLT)
        return status; /* Bolt documents no statuses of its own */
    const char *name = nvb_engine_name(s->engine);
    if (status != ENGINE_OWN_FAILURE && status != ENGINE_CANNOT_INVOKE && status != ENGINE_NOT_FOUND)
        return status;
    if (spec_created)
        remove_spec(s, kind); /* leave the host as this failed run found it */
    /* 126 also covers podman's own start-up failures (its CDI devices, its OCI runtime). */
    if (status == ENGINE_OWN_FAILURE)
        return nvb_errf(err, NVB_EXIT_RUNTIME, "%s failed before the container ran (exit status %d; its message is above)",
                        name, status);
    return nvb_errf(err, NVB_EXIT_RUNTIME, "%s could not start the container (exit status %d%s; its message is above)",
                    name, status, status == ENGINE_NOT_FOUND ? ": its command was not found" : "");
}

/* Run `docker SUB --format '{{json .}}'` into out; an error names the daemon's complaint. */
static int docker_probe(run_state *s, const char *sub, const char *format, char *out, size_t len, nvb_err *err)
{
    char *argv[] = {s->exe, (char *)sub, (char *)"--format", (char *)format, NULL};
    int rc = nvb_run_capture(argv, 20000, out, len);
    if (rc == 0)
        return 0;
    /* The daemon's complaint is the last non-empty line (the client's part comes first); one
     * line of it. */
    char *end = out + strlen(out);
    while (end > out && (end[-1] == '\n' || end[-1] == ' '))
        *--end = '\0';
    char *last = strrchr(out, '\n');
    memmove(out, last ? last + 1 : out, strlen(last ? last + 1 : out) + 1);
    if (rc == -2)
        return nvb_errf(err, NVB_EXIT_RUNTIME, "docker %s did not answer within 20 s: is the daemon running?", sub);
    if (rc < 0)
        return nvb_errf(err, NVB_EXIT_RUNTIME, "cannot run %s %s", s->exe, sub);
    return nvb_errf(err, NVB_EXIT_RUNTIME, "docker %s failed (exit status %d): %s", sub, rc, out);
}

/* docker version (and info when both ends are 25+) -> CDI or not (see nvb_docker_cdi_decide).
 * Only templates every client knows: clients before 25 reject {{.CDISpecDirs}}. */
static int docker_uses_cdi(run_state *s, nvb_err *err)
{
    char out[16384];
    if (docker_probe(s, "version", nvb_docker_version_format, out, sizeof out, err) < 0)
        return -1;
    int client = 0, server = 0;
    nvb_docker_majors(out, &client, &server);
    bool want_info = client >= 25 && server >= 25;
    if (want_info && docker_probe(s, "info", nvb_docker_info_format, out, sizeof out, err) < 0)
        return -1;
    _cleanup_free_ char *daemon_json = nvb_read_file("/etc/docker/daemon.json", 1 << 20, NULL);
    char why[512];
    int cdi = nvb_docker_cdi_decide(client, server, want_info ? out : NULL, spec_dir(s), daemon_json, why, sizeof why);
    if (!cdi)
        fprintf(stderr, "nvbind: %s\n", why);
    return cdi;
}

static int run_podman_docker(run_state *s, nvb_err *err)
{
    nvb_strv names = {0}, argv = {0}, legacy_argv = {0};
    nvb_edits all = {0};
    nvb_engine_cmd c = {
        .exe = nvb_engine_name(s->engine),
        .extra_args = &s->cfg->runtime.extra_args,
        .cdi_devices = &names,
        .env = &s->plan.env,
        .edits = &s->plan.extra,
        .image = s->image,
        .cmd = s->cmd,
        .n_cmd = s->n_cmd,
    };
    nvb_strv extra_args = {0};
    if (s->container_id[0] && !s->user_named) {
        for (size_t i = 0; i < s->cfg->runtime.extra_args.n; i++)
            nvb_strv_push(&extra_args, s->cfg->runtime.extra_args.v[i]);
        nvb_strv_push(&extra_args, "--name");
        nvb_strv_push(&extra_args, s->container_id);
        c.extra_args = &extra_args;
    }
    nvb_engine_cmd legacy = c;
    legacy.cdi_devices = NULL;
    legacy.edits = &all;
    int r = nvb_selection_cdi_names(&s->sel, NVB_KIND_GPU, &names) < 0 || nvb_gpu_plan_all_edits(&s->plan, &all) < 0 ||
                    nvb_edits_add_soname_mounts(&all, s->host) < 0 /* no hooks there */
                ? nvb_errf(err, NVB_EXIT_IO, "out of memory")
                : 0;
    bool docker = s->engine == NVB_ENGINE_DOCKER;
    if (r == 0 && s->o->dry_run) {
        r = nvb_engine_argv_cdi(&c, &argv, err);
        if (r == 0 && docker)
            r = nvb_engine_argv_legacy(&legacy, &legacy_argv, err);
        if (r == 0)
            r = dry_print(s, &argv, err);
        if (r == 0 && docker)
            r = dry_print(s, &legacy_argv, err);
    } else if (r == 0) {
        int cdi = docker ? docker_uses_cdi(s, err) : 1;
        bool created = false;
        if (cdi < 0)
            r = -1;
        else if (cdi && names.n)
            r = install_spec(s, NVB_KIND_GPU, NULL, &created, err);
        if (r == 0)
            r = cdi ? nvb_engine_argv_cdi(&c, &argv, err) : nvb_engine_argv_legacy(&legacy, &argv, err);
        if (r == 0)
            r = run_engine(s, &argv, NVB_KIND_GPU, created, err);
    }
    nvb_strv_free(&names);
    nvb_strv_free(&argv);
    nvb_strv_free(&legacy_argv);
    nvb_strv_free(&extra_args);
    nvb_edits_clear(&all);
    return r;
}

static int run_bolt(run_state *s, nvb_err *err)
{
    nvb_strv names = {0}, argv = {0};
    nvb_capsule capsule = {0};
    /* The shared spec holds the devices alone; this capsule's variables (its isolation, its
     * workload, its profile) and its own files travel with it (runtime/capsule.h). */
    nvb_config cfg = *s->cfg;
    cfg.capsule.isolation_level = s->isolation;
    char own[300];
    snprintf(own, sizeof own, "%s", s->container_id[0] ? s->container_id : "nvbind");
    int r = nvb_selection_cdi_names(&s->sel, NVB_KIND_BOLT, &names) < 0 ? nvb_errf(err, NVB_EXIT_IO, "out of memory")
                                                                       : 0;
    bool created = false;
    if (r == 0 && names.n && !s->o->dry_run)
        r = install_spec(s, NVB_KIND_BOLT, NULL, &created, err);
    if (r == 0)
        r = nvb_capsule_prepare(&capsule, &cfg, s->plan.workload, &s->plan.env, &s->plan.extra, NVB_KIND_BOLT, own,
                                spec_dir(s), !s->o->dry_run, &names, err);
    nvb_engine_cmd c = {
        .exe = "bolt",
        .extra_args = &s->cfg->runtime.extra_args,
        .cdi_devices = &names,
        .env = &capsule.env,
        .isolation = s->isolation,
        .image = s->image,
        .cmd = s->cmd,
        .n_cmd = s->n_cmd,
    };
    if (r == 0)
        r = nvb_engine_argv_bolt(&c, &argv, err);
    if (r == 0 && s->o->dry_run)
        r = dry_print(s, &argv, err);
    else if (r == 0)
        r = run_engine(s, &argv, NVB_KIND_BOLT, created, err);
    nvb_capsule_finish(&capsule); /* the capsule is gone: so is its own spec */
    nvb_strv_free(&names);
    nvb_strv_free(&argv);
    return r;
}

static int run_oci(run_state *s, nvb_err *err)
{
    nvb_edits all = {0};
    if (nvb_gpu_plan_all_edits(&s->plan, &all) < 0) {
        nvb_edits_clear(&all);
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    }
    const char *name = nvb_engine_name(s->engine);
    int r;
    if (s->o->dry_run) {
        /* The bundle folder's name is made when it is created; show its pattern. */
        nvb_strv argv = {0};
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/" NVB_BUNDLE_PREFIX "XXXXXX", nvb_bundle_parent(false));
        r = nvb_oci_run_argv(name, dir, s->container_id, &argv) < 0 ? nvb_errf(err, NVB_EXIT_IO, "out of memory")
                                                                   : dry_print(s, &argv, err);
        nvb_strv_free(&argv);
    } else {
        nvb_oci_run_opts ro = {
            .runtime = s->exe,
            .argv0 = name,
            .bundle = {.rootfs = s->image, .args = s->cmd, .n_args = s->n_cmd, .edits = &all},
            .id = s->container_id,
            .grace_ms = s->o->grace_ms,
            .spawned = wants_pid(s) ? engine_spawned : NULL,
            .spawned_ctx = s,
        };
        r = nvb_oci_run(&ro, err);
    }
    nvb_edits_clear(&all);
    return r;
}

/* The --name the user already gives in [runtime] extra_args ("--name X" or "--name=X"). */
static const char *user_name(const nvb_strv *extra)
{
    for (size_t i = 0; i < extra->n; i++) {
        if (strcmp(extra->v[i], "--name") == 0 && i + 1 < extra->n)
            return extra->v[i + 1];
        if (strncmp(extra->v[i], "--name=", 7) == 0)
            return extra->v[i] + 7;
    }
    return NULL;
}

static void make_container_id(run_state *s)
{
    const char *own = s->engine == NVB_ENGINE_PODMAN || s->engine == NVB_ENGINE_DOCKER
                          ? user_name(&s->cfg->runtime.extra_args)
                          : NULL;
    if (own && *own && strlen(own) < sizeof s->container_id) {
        snprintf(s->container_id, sizeof s->container_id, "%s", own);
        s->user_named = true;
        return;
    }
    unsigned v = 0;
    FILE *f = fopen("/dev/urandom", "re");
    if (!f || fread(&v, sizeof v, 1, f) != 1)
        v = (unsigned)getpid() * 2654435761u;
    if (f)
        fclose(f);
    snprintf(s->container_id, sizeof s->container_id, "nvbind-%ld-%08x", (long)getpid(), v);
}

/* --env: the container gets the variables; NVIDIA's request variables among them are
 * checked and narrow the driver files as the shim does with a container's own. */
static int add_user_env(run_state *s, nvb_err *err)
{
    nvb_nvidia_env nv = {0};
    int r = 0;
    for (size_t i = 0; r == 0 && i < s->o->env->n; i++) {
        r = nvb_nvidia_env_add(&nv, s->o->env->v[i], err);
        if (r == 0 && nvb_strv_push(&s->plan.env, s->o->env->v[i]) < 0)
            r = nvb_errf(err, NVB_EXIT_IO, "out of memory");
    }
    if (r == 0)
        r = nvb_gpu_plan_nvidia_env(&s->plan, &nv, s->host, &s->sel, s->hook_path, err);
    nvb_nvidia_env_clear(&nv);
    return r;
}

int nvb_run(const nvb_config *cfg, const nvb_run_opts *o, nvb_err *err)
{
    run_state s = {.cfg = cfg, .o = o, .out = o->dry_run_out ? o->dry_run_out : stdout};
    int r = pick_engine(&s, err);
    if (r == 0 && o->isolation && nvb_isolation_parse(o->isolation, &s.isolation) < 0)
        r = nvb_errf(err, NVB_EXIT_USAGE, "unknown isolation '%s' (expected shared, exclusive or virtual)",
                     o->isolation);
    else if (r == 0 && !o->isolation)
        s.isolation = cfg->capsule.isolation_level;
    if (r == 0)
        r = refuse_detach(&s, err);
    if (r == 0)
        r = split_args(&s, err);
    if (r == 0)
        r = find_engine(&s, err);
    if (r == 0 && nvb_engine_is_oci(s.engine))
        r = nvb_bundle_check_rootfs(s.image, err);
    s.hook_path = cfg->cdi.hook_path ? cfg->cdi.hook_path : o->hook_path;
    if (r == 0 && (!s.hook_path || s.hook_path[0] != '/'))
        r = nvb_errf(err, NVB_EXIT_USAGE, "the hook binary path '%s' must be absolute", s.hook_path ? s.hook_path : "");
    if (r == 0)
        r = select_devices(&s, err);
    if (r == 0)
        r = nvb_gpu_plan_build(&s.plan, cfg, s.host, &s.sel, o->profile, s.hook_path, err);
    if (r == 0 && o->env)
        r = add_user_env(&s, err);
    /* Engines are named only for claims, which a dry run does not take: its command stays
     * the plain translation. */
    bool named = nvb_engine_is_oci(s.engine) || (o->name_containers && !o->dry_run);
    if (r == 0 && named)
        make_container_id(&s);
    nvb_run_info info = {.engine = s.engine, .host = s.host, .sel = &s.sel, .plan = &s.plan,
                         .isolation = s.isolation, .profile = o->profile,
                         .container_id = named ? s.container_id : NULL, .runtime_exe = s.exe};
    s.info = &info;
    if (r == 0 && o->before_start && !o->dry_run) {
        r = o->before_start(o->hook_ctx, &info, err);
        /* The hook may have swapped devices: the device edits follow the selection. */
        nvb_edits_clear(&s.plan.devices);
        if (r == 0 && nvb_selection_edits(&s.sel, &s.plan.devices) < 0)
            r = nvb_errf(err, NVB_EXIT_IO, "out of memory");
    }
    bool started = r == 0;
    if (r == 0) {
        switch (s.engine) {
        case NVB_ENGINE_PODMAN:
        case NVB_ENGINE_DOCKER: r = run_podman_docker(&s, err); break;
        case NVB_ENGINE_BOLT: r = run_bolt(&s, err); break;
        case NVB_ENGINE_RUNC:
        case NVB_ENGINE_CRUN: r = run_oci(&s, err); break;
        }
    }
    if (started && o->after_exit && !o->dry_run)
        o->after_exit(o->hook_ctx, &info, r);
    nvb_gpu_plan_clear(&s.plan);
    nvb_selection_clear(&s.sel);
    nvb_host_free(s.host);
    free(s.exe);
    return r;
}
