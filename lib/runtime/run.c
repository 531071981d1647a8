#include "runtime/plan_nvidia.h"
#include "host/host_cache.h"
#include "config/values.h"
#include "runtime/run.h"
#include "policy/cdi_generate.h"
#include "policy/profiles.h"
#include "policy/vendor_spec.h"
#include "runtime/cache_ahead.h"
#include "runtime/capsule.h"
#include "util/log.h"
#include "runtime/compose.h"
#include "runtime/docker_api.h"
#include "runtime/docker_info_cache.h"
#include "runtime/engine_opts.h"
#include "runtime/foreground.h"
#include "runtime/oci_bundle.h"
#include "runtime/run_vendor.h"
#include "runtime/shell.h"
#include "runtime/shim.h"
#include "runtime/spec_install.h"
#include "util/cleanup.h"
#include "util/fileio.h"
#include "util/json_text.h"
#include "util/spawn.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
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
    const char *vendor_kind;   /* every vendor: --gpu KIND=NAME of another driver's GPUs, else NULL */
    nvb_strv vendor_names;     /* their CDI names */
    nvb_edits vendor_nodes;    /* their device nodes, plan.devices once the plan is built */
    const nvb_run_info *info;  /* for engine_started */
    int docker_cdi;            /* docker: 1 CDI names, 0 the legacy flags (probe_docker) */
    char docker_shim[128];     /* docker: the daemon's name for nvbind-runtime when it runs the
                                * container (it claims at every create); "" when not */
    int docker_info_fd;        /* docker: GET /info sent to the daemon's socket, its reply
                                * read by probe_docker (the daemon answers meanwhile); -1 */
    char docker_socket[256];   /* docker: that socket */
    nvb_docker_info_key docker_key; /* docker: its daemon, for the kept /info */
    char *docker_info_kept;    /* docker: the daemon's /info kept from an earlier run, or NULL */
    json_t *dry_json;          /* dry_run_json: the commands, printed at the end */
    nvb_strv engine_args;      /* podman, docker, bolt: [runtime] extra_args, then the user's */
    nvb_engine_oci oci;        /* runc, crun: what the user's engine options ask for */
    nvb_edits oci_mounts;      /* runc, crun: their --volume mounts */
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
    if (s->n_cmd == 0 && s->oci.entrypoint.n == 0)
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
        return 0; /* runc and crun get no extra_args, and their options have no detach */
    if (s->docker_shim[0])
        return 0; /* the shim's claims follow the container, attached or not */
    const char *fix = s->engine == NVB_ENGINE_DOCKER ? ", or register nvbind-runtime with `nvbind runtime configure "
                                                       "--runtime docker`, whose claims follow the container"
                                                     : "";
    const char *arg = nvb_engine_detach_arg(&s->cfg->runtime.extra_args);
    if (arg)
        return nvb_errf(err, NVB_EXIT_CONFIG,
                        "%s: [runtime] extra_args: \"%s\" detaches the container, which would keep its GPUs without a "
                        "claim; nvbind run stays in the foreground (remove it%s)",
                        nvb_config_origin(s->cfg, "runtime.extra_args"), arg, fix);
    arg = s->o->engine_args ? nvb_engine_detach_arg(s->o->engine_args) : NULL;
    if (arg)
        return nvb_errf(err, NVB_EXIT_USAGE,
                        "%s: nvbind run stays in the foreground: its GPU claims end with it, and a detached container "
                        "would keep its GPUs without one%s",
                        arg, fix);
    return 0;
}

/* The user's own engine options: refused when they undo the GPUs' isolation, then added after
 * [runtime] extra_args (podman, docker; their --rm is there already) or translated into the
 * bundle (runc, crun). Bolt's command is nvbind's own: none are passed to it. */
static int engine_options(run_state *s, nvb_err *err)
{
    const nvb_strv *user = s->o->engine_args;
    bool oci = nvb_engine_is_oci(s->engine);
    for (size_t i = 0; !oci && i < s->cfg->runtime.extra_args.n; i++)
        if (nvb_strv_push(&s->engine_args, s->cfg->runtime.extra_args.v[i]) < 0)
            return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    if (!user || user->n == 0)
        return 0;
    if (nvb_engine_opts_check(user, s->cfg, err) < 0)
        return -1;
    if (s->engine == NVB_ENGINE_BOLT)
        return nvb_errf(err, NVB_EXIT_USAGE, "%s: bolt gets no engine options from nvbind run", user->v[0]);
    if (oci)
        return nvb_engine_opts_oci(user, nvb_engine_name(s->engine), &s->oci, &s->oci_mounts, err);
    for (size_t i = 0; i < user->n; i++)
        if (strcmp(user->v[i], "--rm") != 0 && nvb_strv_push(&s->engine_args, user->v[i]) < 0)
            return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    return 0;
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
    if (n <= 0 && !nvb_vendor_request(req))
        return n;
    nvb_discover_opts dopts = {0};
    nvb_strv libs = {0};
    if (nvb_config_discover_opts(s->cfg, s->o->root, s->o->driver_root, s->o->library_search, &libs, &dopts) < 0) {
        nvb_strv_free(&libs);
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    }
    dopts.skip_pci_details = true; /* edits need no PCI ids */
    dopts.with_nvml = need_nvml && !nvb_vendor_request(req); /* a bus id's ':' is no MIG device */
    dopts.every_vendor = true; /* every vendor; an NVIDIA request then names what the host has */
    s->host = nvb_host_discover_cached(&dopts, err);
    nvb_strv_free(&libs);
    if (!s->host)
        return -1;
    if (nvb_vendor_request(req)) {
        nvb_err_clear(err); /* the NVIDIA list's syntax check does not apply to KIND=NAME */
        return nvb_vendor_select(s->host, req, &s->vendor_kind, &s->vendor_names, &s->vendor_nodes, err);
    }
    if (!nvb_host_has_nvidia(s->host))
        return nvb_vendor_no_nvidia(s->host, err);
    return nvb_select_add(&s->sel, s->host, "--gpu", req, false, err);
}

static int dry_print(run_state *s, const nvb_strv *argv, nvb_err *err)
{
    if (s->o->dry_run_json) {
        json_t *a = json_array();
        for (size_t i = 0; a && i < argv->n; i++)
            json_array_append_new(a, json_string(argv->v[i]));
        if (!s->dry_json)
            s->dry_json = json_array();
        return a && s->dry_json && json_array_append_new(s->dry_json, a) == 0 ? 0
                                                                                : nvb_errf(err, NVB_EXIT_IO, "out of memory");
    }
    _cleanup_free_ char *line = nvb_shell_join(argv->v, argv->n);
    if (!line)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    if (fprintf(s->out, "%s\n", line) < 0 || fflush(s->out) != 0)
        return nvb_errf_errno(err, NVB_EXIT_IO, errno, "writing the command");
    return 0;
}

/* The dry run's commands as one JSON object, for scripts: no shell quoting to undo. */
static int dry_print_json(run_state *s, nvb_err *err)
{
    json_t *o = json_pack("{s:s, s:O}", "engine", nvb_engine_name(s->engine), "commands", s->dry_json);
    _cleanup_free_ char *text = o ? nvb_json_dump_line(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    if (!text)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    if (fputs(text, s->out) < 0 || fflush(s->out) != 0)
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

/* engine_started is for runs with GPUs whose claims nvbind holds; the others spawn the plain
 * way (docker through nvbind-runtime: the shim claims, nvbind holds nothing to record). */
static bool wants_pid(const run_state *s)
{
    return s->o->engine_started && s->info && !s->info->runtime_claims && !nvb_selection_empty(&s->sel);
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

/* A failed `docker SUB` probe whose output is out: the error names the daemon's complaint. */
static int docker_probe_failed(const run_state *s, const char *sub, int rc, char *out, nvb_err *err)
{
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

/* The route's one line on stderr: why the legacy form, and who keeps the claims. */
static void say_docker_route(const run_state *s, const char *cdi_why, const char *shim_why)
{
    if (cdi_why && !s->docker_cdi)
        fprintf(stderr, "nvbind: %s\n", cdi_why);
    if (shim_why)
        fprintf(stderr, "nvbind: %s\n", shim_why);
}

/* Whether nvbind-runtime, registered in the daemon as `shim`, can carry this run's request:
 * through the container's environment (the one channel every docker has), at the level the
 * shim claims at ([bolt.capsule] isolation_level of the same configuration). NULL when it can,
 * else why not. */
static const char *shim_refusal(const run_state *s)
{
    const nvb_strv *extra = &s->cfg->runtime.extra_args;
    for (size_t i = 0; i < extra->n; i++)
        if (strcmp(extra->v[i], "--runtime") == 0 || strncmp(extra->v[i], "--runtime=", 10) == 0)
            return "[runtime] extra_args choose docker's runtime themselves";
    if (!nvb_shim_env_request_allowed(s->cfg, false))
        return "[security] does not let nvbind-runtime honour NVIDIA_VISIBLE_DEVICES from an unprivileged container";
    if (s->isolation != s->cfg->capsule.isolation_level)
        return "nvbind-runtime claims at [bolt.capsule] isolation_level, not at this run's --isolation";
    return NULL;
}

/* docker version and docker info through the client, both at once (templates every client
 * knows: clients before 25 reject {{.CDISpecDirs}}); info may be NULL. */
static int probe_client(run_state *s, char *version, size_t vlen, char *info, size_t ilen, nvb_err *err)
{
    char *version_argv[] = {s->exe, (char *)"version", (char *)"--format", (char *)nvb_docker_version_format, NULL};
    char *info_argv[] = {s->exe, (char *)"info", (char *)"--format", (char *)nvb_docker_info_format, NULL};
    nvb_capture probes[] = {{.argv = version_argv, .out = version, .outlen = vlen},
                            {.argv = info_argv, .out = info, .outlen = ilen}};
    nvb_run_capture_all(probes, info ? 2 : 1, 20000);
    if (probes[0].rc != 0)
        return docker_probe_failed(s, "version", probes[0].rc, version, err);
    if (info && probes[1].rc != 0)
        return docker_probe_failed(s, "info", probes[1].rc, info, err);
    return 0;
}

#define DOCKER_INFO_MAX 65536

/* The daemon's /info: kept from an earlier run when the same daemon, configured the same, still
 * answers on the socket (docker_info_cache.h: the daemon takes ~20 ms to gather it), else asked
 * of the socket (docker_api.h) while discovery runs. -1 where the client must be asked, or
 * where the kept answer is in s->docker_info_kept. */
static int ask_daemon(run_state *s)
{
    if (nvb_docker_api_socket(s->docker_socket, sizeof s->docker_socket) < 0)
        return -1;
    int fd = nvb_docker_api_connect(s->docker_socket);
    if (fd >= 0 && nvb_docker_info_key_of(fd, s->docker_socket, &s->docker_key) && s->docker_key.keep) {
        s->docker_info_kept = malloc(DOCKER_INFO_MAX);
        if (s->docker_info_kept && nvb_docker_info_load(s->cfg->isolation.state_dir, s->docker_socket,
                                                        &s->docker_key, s->docker_info_kept, DOCKER_INFO_MAX)) {
            close(fd);
            return -1;
        }
        free(s->docker_info_kept);
        s->docker_info_kept = NULL;
    }
    return nvb_docker_api_request(fd, "/info");
}

/* The daemon's /info (ask_daemon's reply), with its major version from ServerVersion; false
 * where the client must be asked. */
static bool probe_daemon(run_state *s, char *info, size_t len, int *server)
{
    int fd = s->docker_info_fd;
    s->docker_info_fd = -1;
    bool kept = s->docker_info_kept && strlen(s->docker_info_kept) < len;
    if (kept)
        memcpy(info, s->docker_info_kept, strlen(s->docker_info_kept) + 1);
    else if (nvb_docker_api_receive(fd, info, len, 20000) != 0)
        return false;
    json_error_t je;
    json_t *doc = json_loads(info, JSON_DISABLE_EOF_CHECK, &je);
    const char *v = json_string_value(json_object_get(doc, "ServerVersion"));
    *server = v ? atoi(v) : 0;
    json_decref(doc);
    if (*server > 0 && !kept)
        nvb_docker_info_store(s->cfg->isolation.state_dir, s->docker_socket, &s->docker_key, info);
    return *server > 0;
}

/* Which way the container goes (docker_cdi, docker_shim), from the daemon's info and versions:
 * whether it runs nvbind-runtime (nvb_docker_shim_runtime): then the container starts through
 * it and its claims are the shim's, taken again at every `docker start`; else CDI names or
 * the legacy flags (nvb_docker_cdi_decide). The daemon is asked over its socket where nvbind
 * can tell which one the client uses, else through the client; the client's own version only
 * when it matters (CDI names need a 25 client and a 25 daemon). Runs before any claim. */
static int probe_docker(run_state *s, nvb_err *err)
{
    char version[16384] = "", info[DOCKER_INFO_MAX];
    int client = 0, server = 0;
    bool direct = probe_daemon(s, info, sizeof info, &server);
    if (!direct && probe_client(s, version, sizeof version, info, sizeof info, err) < 0)
        return -1;
    if (!direct)
        nvb_docker_majors(version, &client, &server);
    bool claims = s->o->name_containers && !nvb_selection_empty(&s->sel);
    char name[sizeof s->docker_shim];
    const char *refused = NULL;
    if (claims && nvb_docker_shim_runtime(info, name, sizeof name) && !(refused = shim_refusal(s))) {
        snprintf(s->docker_shim, sizeof s->docker_shim, "%s", name);
        return 0; /* no CDI and no legacy flags: the shim edits the bundle */
    }
    if (direct && server >= 25 && probe_client(s, version, sizeof version, NULL, 0, err) < 0)
        return -1;
    if (direct && server >= 25)
        nvb_docker_majors(version, &client, &server);
    else if (direct)
        client = server; /* a daemon before 25 has no CDI, whatever the client */
    _cleanup_free_ char *daemon_json = nvb_read_file("/etc/docker/daemon.json", 1 << 20, NULL);
    char why[512], shim_why[768];
    bool both_25 = client >= 25 && server >= 25;
    s->docker_cdi = nvb_docker_cdi_decide(client, server, both_25 ? info : NULL, spec_dir(s), daemon_json, why, sizeof why);
    if (!claims) {
        say_docker_route(s, why, NULL);
        return 0;
    }
    /* nvbind run's own claim: it follows this run, and then the container's init, but docker's
     * own `docker start` runs nothing of nvbind's: say so once. */
    static const char own[] =
        "the GPU claims are nvbind run's own and end with this container's run; a later `docker start` will not take "
        "them again (`nvbind runtime configure --runtime docker` registers nvbind-runtime, whose claims follow the "
        "container)";
    if (refused)
        snprintf(shim_why, sizeof shim_why, "the daemon's runtime \"%s\" is nvbind-runtime, but %s: %s", name, refused,
                 own);
    else
        snprintf(shim_why, sizeof shim_why, "docker does not run nvbind-runtime: %s", own);
    say_docker_route(s, why, shim_why);
    return 0;
}

/* The profile's driver capabilities as NVIDIA_DRIVER_CAPABILITIES (names the shim reads). */
static int caps_env(unsigned caps, nvb_strv *env)
{
    _cleanup_free_ char *list = nvb_caps_string(caps);
    return list ? nvb_strv_pushf(env, "NVIDIA_DRIVER_CAPABILITIES=%s", list) : -1;
}

/* docker run --runtime SHIM: the GPUs go to nvbind-runtime as NVIDIA_VISIBLE_DEVICES (it edits
 * the bundle and claims at every create, the restarts included); the profile's variables, its
 * own files and its driver capabilities (unless --env gives NVIDIA_DRIVER_CAPABILITIES) as
 * flags and variables. The request variable comes last: docker keeps a variable's last value. */
static int shim_argv(run_state *s, const nvb_engine_cmd *base, nvb_strv *argv, nvb_err *err)
{
    nvb_strv extra = {0}, env = {0};
    nvb_engine_cmd c = *base;
    const nvb_strv *given = c.extra_args;
    _cleanup_free_ char *list = nvb_selection_describe(&s->sel);
    bool user_caps = false;
    for (size_t i = 0; i < s->plan.env.n; i++)
        user_caps |= strncmp(s->plan.env.v[i], "NVIDIA_DRIVER_CAPABILITIES=", 27) == 0;
    int r = list ? 0 : -1;
    for (size_t i = 0; r == 0 && given && i < given->n; i++)
        r = nvb_strv_push(&extra, given->v[i]);
    for (size_t i = 0; r == 0 && i < s->plan.env.n; i++)
        r = nvb_strv_push(&env, s->plan.env.v[i]);
    if (r == 0 && (nvb_strv_push(&extra, "--runtime") < 0 || nvb_strv_push(&extra, s->docker_shim) < 0 ||
                   (s->o->profile && !user_caps && caps_env(s->plan.caps, &env) < 0) ||
                   nvb_strv_pushf(&env, "NVIDIA_VISIBLE_DEVICES=%s", list) < 0))
        r = -1;
    c.extra_args = &extra;
    c.env = &env;
    c.cdi_devices = NULL;
    c.edits = &s->plan.extra;
    r = r < 0 ? nvb_errf(err, NVB_EXIT_IO, "out of memory") : nvb_engine_argv_cdi(&c, argv, err);
    nvb_strv_free(&extra);
    nvb_strv_free(&env);
    return r;
}

static int copy_names(nvb_strv *dst, const nvb_strv *src)
{
    for (size_t i = 0; i < src->n; i++)
        if (nvb_strv_push(dst, src->v[i]) < 0)
            return -1;
    return 0;
}

/* Every vendor: other drivers' GPUs get their device nodes, [runtime.environment] and the
 * user's --env. NVIDIA's profiles, isolation and Bolt capsules do not apply: said, not failed,
 * where a default brought them; refused where the command line asked for them. */
static int vendor_plan(run_state *s, nvb_err *err)
{
    if (s->engine == NVB_ENGINE_BOLT)
        return nvb_errf(err, NVB_EXIT_USAGE, "--gpu %s=...: Bolt capsules take NVIDIA GPUs; run %s GPUs with podman, "
                                             "docker, runc or crun", s->vendor_kind, s->vendor_kind);
    if (s->isolation != NVB_ISOLATION_SHARED && s->o->isolation)
        return nvb_errf(err, NVB_EXIT_USAGE, "--isolation %s: claims and limits cover NVIDIA GPUs only, not %s",
                        s->o->isolation, s->vendor_kind);
    if (s->isolation != NVB_ISOLATION_SHARED)
        fprintf(stderr, "nvbind: note: isolation '%s' ([bolt.capsule] isolation_level) covers NVIDIA GPUs only: %s GPUs "
                        "are shared\n", nvb_isolation_name(s->isolation), s->vendor_kind);
    if (s->o->profile)
        fprintf(stderr, "nvbind: note: profile '%s' sets NVIDIA driver capabilities and variables: %s GPUs get their "
                        "device nodes only (the image brings its user space)\n", s->o->profile, s->vendor_kind);
    nvb_selection none = {0};
    if (nvb_gpu_plan_build(&s->plan, s->cfg, NULL, &none, NULL, s->hook_path, err) < 0)
        return -1;
    if (nvb_edits_merge(&s->plan.devices, &s->vendor_nodes) < 0)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    for (size_t i = 0; s->o->env && i < s->o->env->n; i++)
        if (nvb_strv_push(&s->plan.env, s->o->env->v[i]) < 0)
            return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    return 0;
}

/* docker's legacy form: every driver file bound (no hooks there, so the soname links are
 * mounts too). Its edits are made into *all (legacy->edits) only where that form is printed
 * or run: the shim and CDI routes never read them. */
static int legacy_argv_of(run_state *s, const nvb_engine_cmd *legacy, nvb_edits *all, nvb_strv *argv, nvb_err *err)
{
    if (nvb_gpu_plan_all_edits(&s->plan, all) < 0 || nvb_edits_add_soname_mounts(all, s->host) < 0)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    return nvb_engine_argv_legacy(legacy, argv, err);
}

static int run_podman_docker(run_state *s, nvb_err *err)
{
    nvb_strv names = {0}, argv = {0}, legacy_argv = {0};
    nvb_edits all = {0};
    nvb_engine_cmd c = {
        .exe = nvb_engine_name(s->engine),
        .extra_args = &s->engine_args,
        .cdi_devices = &names,
        .env = &s->plan.env,
        .edits = &s->plan.extra,
        .image = s->image,
        .cmd = s->cmd,
        .n_cmd = s->n_cmd,
    };
    nvb_strv extra_args = {0};
    if (s->container_id[0] && !s->user_named) {
        for (size_t i = 0; i < s->engine_args.n; i++)
            nvb_strv_push(&extra_args, s->engine_args.v[i]);
        nvb_strv_push(&extra_args, "--name");
        nvb_strv_push(&extra_args, s->container_id);
        c.extra_args = &extra_args;
    }
    nvb_engine_cmd legacy = c;
    legacy.cdi_devices = NULL;
    legacy.edits = &all;
    const char *kind = s->vendor_kind ? s->vendor_kind : NVB_KIND_GPU;
    bool docker = s->engine == NVB_ENGINE_DOCKER;
    int r = (s->vendor_kind ? copy_names(&names, &s->vendor_names) : nvb_selection_cdi_names(&s->sel, kind, &names)) < 0
                ? nvb_errf(err, NVB_EXIT_IO, "out of memory")
                : 0;
    if (r == 0 && s->o->dry_run) {
        r = nvb_engine_argv_cdi(&c, &argv, err);
        if (r == 0 && docker)
            r = legacy_argv_of(s, &legacy, &all, &legacy_argv, err);
        if (r == 0)
            r = dry_print(s, &argv, err);
        if (r == 0 && docker)
            r = dry_print(s, &legacy_argv, err);
    } else if (r == 0 && s->docker_shim[0]) {
        r = shim_argv(s, &c, &argv, err);
        if (r == 0)
            r = run_engine(s, &argv, NVB_KIND_GPU, false, err);
    } else if (r == 0) {
        int cdi = docker ? s->docker_cdi : 1;
        bool created = false;
        if (cdi && names.n)
            r = install_spec(s, kind, NULL, &created, err);
        if (r == 0)
            r = cdi ? nvb_engine_argv_cdi(&c, &argv, err) : legacy_argv_of(s, &legacy, &all, &argv, err);
        if (r == 0)
            r = run_engine(s, &argv, kind, created, err);
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
        .extra_args = &s->engine_args,
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

/* The capsule's loader cache made now, its hook left out (runtime/cache_ahead.h): the bundle
 * nvbind writes holds no other mount than the standard ones and the --volume mounts, nor any
 * other hook or a user namespace. */
static void cache_ahead(run_state *s, nvb_edits *all)
{
    _cleanup_free_ char *root = realpath(s->image, NULL);
    json_t *mounts = json_array(), *doc = root ? json_pack("{s:{s:s}, s:o}", "root", "path", root, "mounts", mounts)
                                               : (json_decref(mounts), NULL);
    for (size_t i = 0; doc && i < s->oci_mounts.n_mounts; i++)
        json_array_append_new(mounts, json_pack("{s:s}", "destination", s->oci_mounts.mounts[i].container_path));
    if (doc)
        nvb_cache_ahead(all, doc, NULL, s->hook_path);
    json_decref(doc);
}

static int run_oci(run_state *s, nvb_err *err)
{
    nvb_edits all = {0};
    if (nvb_gpu_plan_all_edits(&s->plan, &all) < 0) {
        nvb_edits_clear(&all);
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    }
    if (!s->o->dry_run)
        cache_ahead(s, &all);
    if (nvb_edits_merge(&all, &s->oci_mounts) < 0) {
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
        /* --entrypoint goes before the command, as the engines put it before an image's CMD. */
        nvb_strv args = {0};
        for (size_t i = 0; i < s->oci.entrypoint.n; i++)
            nvb_strv_push(&args, s->oci.entrypoint.v[i]);
        for (size_t i = 0; i < s->n_cmd; i++)
            nvb_strv_push(&args, s->cmd[i]);
        nvb_oci_run_opts ro = {
            .runtime = s->exe,
            .argv0 = name,
            .bundle = {.rootfs = s->image, .args = args.v, .n_args = args.n, .edits = &all,
                       .hostname = s->oci.hostname, .cwd = s->oci.cwd, .terminal = s->oci.terminal,
                       .has_user = s->oci.has_user, .uid = s->oci.uid, .gid = s->oci.gid},
            .id = s->container_id,
            .grace_ms = s->o->grace_ms,
            .spawned = wants_pid(s) ? engine_spawned : NULL,
            .spawned_ctx = s,
        };
        r = args.n == s->oci.entrypoint.n + s->n_cmd ? nvb_oci_run(&ro, err) : nvb_errf(err, NVB_EXIT_IO, "out of memory");
        nvb_strv_free(&args);
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
                          ? user_name(&s->engine_args)
                          : s->oci.name;
    if (own && *own && strlen(own) < sizeof s->container_id) {
        snprintf(s->container_id, sizeof s->container_id, "%s", own);
        s->user_named = true;
        return;
    }
    unsigned v = 0;
    /* One system call, where fopen of /dev/urandom took four and read a whole buffer. */
    if (getrandom(&v, sizeof v, GRND_NONBLOCK) != (ssize_t)sizeof v)
        v = (unsigned)getpid() * 2654435761u;
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
    run_state s = {.cfg = cfg, .o = o, .out = o->dry_run_out ? o->dry_run_out : stdout, .docker_info_fd = -1};
    int r = pick_engine(&s, err);
    if (r == 0 && o->isolation && nvb_isolation_parse(o->isolation, &s.isolation) < 0)
        r = nvb_errf(err, NVB_EXIT_USAGE, "unknown isolation '%s' (expected shared, exclusive or virtual)",
                     o->isolation);
    else if (r == 0 && !o->isolation)
        s.isolation = cfg->capsule.isolation_level;
    /* docker: decided once the daemon has said whether nvbind-runtime runs the container. */
    bool docker_run = r == 0 && s.engine == NVB_ENGINE_DOCKER && !o->dry_run;
    if (r == 0 && !docker_run)
        r = refuse_detach(&s, err);
    if (r == 0)
        r = engine_options(&s, err);
    if (r == 0)
        r = split_args(&s, err);
    if (r == 0)
        r = find_engine(&s, err);
    if (r == 0 && docker_run)
        s.docker_info_fd = ask_daemon(&s);
    if (r == 0 && nvb_engine_is_oci(s.engine))
        r = nvb_bundle_check_rootfs(s.image, err);
    s.hook_path = cfg->cdi.hook_path ? cfg->cdi.hook_path : o->hook_path;
    if (r == 0 && (!s.hook_path || s.hook_path[0] != '/'))
        r = nvb_errf(err, NVB_EXIT_USAGE, "the hook binary path '%s' must be absolute", s.hook_path ? s.hook_path : "");
    if (r == 0)
        r = select_devices(&s, err);
    if (r == 0 && s.vendor_kind)
        r = vendor_plan(&s, err);
    else if (r == 0)
        r = nvb_gpu_plan_build(&s.plan, cfg, s.host, &s.sel, o->profile, s.hook_path, err);
    if (r == 0 && o->env && !s.vendor_kind)
        r = add_user_env(&s, err);
    if (r == 0 && docker_run)
        r = probe_docker(&s, err);
    if (r == 0 && docker_run)
        r = refuse_detach(&s, err);
    /* Engines are named only for claims, which a dry run does not take: its command stays
     * the plain translation. */
    bool named = nvb_engine_is_oci(s.engine) || (o->name_containers && !o->dry_run);
    if (r == 0 && named)
        make_container_id(&s);
    nvb_run_info info = {.engine = s.engine, .host = s.host, .sel = &s.sel, .plan = &s.plan,
                         .isolation = s.isolation, .profile = o->profile,
                         .container_id = named ? s.container_id : NULL, .runtime_exe = s.exe,
                         .runtime_claims = s.docker_shim[0] != '\0'};
    s.info = &info;
    if (r == 0 && o->before_start && !o->dry_run && !s.vendor_kind) { /* claims: NVIDIA GPUs */
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
    if (started && o->after_exit && !o->dry_run && !s.vendor_kind)
        o->after_exit(o->hook_ctx, &info, r);
    if (s.docker_info_fd >= 0)
        close(s.docker_info_fd); /* a run that failed before probe_docker */
    free(s.docker_info_kept);
    if (r == 0 && s.dry_json)
        r = dry_print_json(&s, err);
    json_decref(s.dry_json);
    nvb_strv_free(&s.engine_args);
    nvb_engine_oci_clear(&s.oci);
    nvb_edits_clear(&s.oci_mounts);
    nvb_gpu_plan_clear(&s.plan);
    nvb_selection_clear(&s.sel);
    nvb_strv_free(&s.vendor_names);
    nvb_edits_clear(&s.vendor_nodes);
    nvb_host_free(s.host);
    free(s.exe);
    return r;
}
