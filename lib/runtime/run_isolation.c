/* GPU claims for `nvbind run`: see run_isolation.h. */
#include "runtime/run_isolation.h"
#include "isolation/procid.h"
#include "runtime/docker_api.h"
#include "util/cleanup.h"
#include "util/spawn.h"

#include <ctype.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void nvb_run_isolation_attach(nvb_run_isolation *iso, nvb_run_opts *o)
{
    o->before_start = nvb_run_isolation_before_start;
    o->after_exit = nvb_run_isolation_after_exit;
    o->engine_started = nvb_run_isolation_engine_started;
    o->hook_ctx = iso;
    o->name_containers = true;
}

char *nvb_run_oci_root(enum nvb_engine engine)
{
    if (geteuid() == 0)
        return NULL;
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    if (!xdg || xdg[0] != '/')
        return NULL;
    char *root = NULL;
    if (asprintf(&root, "%s/%s", xdg, nvb_engine_name(engine)) < 0)
        return NULL;
    return root;
}

void nvb_selection_take_grant(nvb_selection *sel, const nvb_isolation_grant *g)
{
    for (size_t i = 0; i < g->n_devices && i < sel->n; i++) {
        nvb_selected *s = &sel->v[i];
        if (s->gpu == g->devices[i].gpu && s->mig == g->devices[i].mig)
            continue;
        s->gpu = g->devices[i].gpu;
        s->mig = g->devices[i].mig;
        if (s->mig)
            snprintf(s->name, sizeof s->name, "%u:%u", s->gpu->index, s->mig->mig_index);
        else
            snprintf(s->name, sizeof s->name, "%u", s->gpu->index);
        sel->all = false; /* "all" would hand out the whole GPU again */
    }
}

nvb_isolation_device *nvb_selection_isolation_devices(const nvb_selection *sel)
{
    nvb_isolation_device *devs = calloc(sel->n + 1, sizeof *devs);
    if (!devs)
        return NULL;
    for (size_t i = 0; i < sel->n; i++)
        devs[i] = (nvb_isolation_device){.gpu = sel->v[i].gpu, .mig = sel->v[i].mig};
    return devs;
}

/* Put what the grant gives into the run: the devices (a MIG device in place of a GPU), the
 * MPS variables as container env, the MPS folders as extra mounts. */
static int apply_grant(const nvb_isolation_grant *g, const nvb_run_info *info, nvb_err *err)
{
    nvb_selection_take_grant(info->sel, g);
    nvb_edits files = g->edits;
    files.env = (nvb_strv){0};
    for (size_t i = 0; i < g->edits.env.n; i++)
        if (nvb_strv_push(&info->plan->env, g->edits.env.v[i]) < 0)
            return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    if (nvb_edits_merge(&info->plan->extra, &files) < 0)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    return 0;
}

/* The shim claims at create (docker through nvbind-runtime): here only whether the GPUs are
 * free, by the same rules (waiting as --wait says), so that a GPU held by another container
 * fails with nvbind's own message and NVB_EXIT_BUSY before docker starts anything. A claim
 * taken and given straight back, unaudited: the shim's create writes the audit line. */
static int check_free(nvb_isolation_request *rq, nvb_err *err)
{
    nvb_isolation_grant trial = {0};
    rq->audit_log = "";
    int r = nvb_isolation_acquire(rq, &trial, err);
    if (r == 0)
        nvb_isolation_release(&trial, NULL);
    nvb_isolation_grant_clear(&trial);
    return r < 0 ? -1 : 0;
}

int nvb_run_isolation_before_start(void *ctx, const nvb_run_info *info, nvb_err *err)
{
    nvb_run_isolation *iso = ctx;
    const nvb_selection *sel = info->sel;
    if (!sel || sel->n == 0)
        return 0; /* --gpu none: no GPU, nothing to isolate or audit */
    if (!info->container_id)
        return nvb_errf(err, NVB_EXIT_FAIL, "internal error: the container has no name to claim GPUs for");
    _cleanup_free_ nvb_isolation_device *devs = nvb_selection_isolation_devices(sel);
    if (!devs)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    _cleanup_free_ char *oci_root = NULL, *oci_state = NULL;
    if (nvb_engine_is_oci(info->engine)) {
        oci_root = nvb_run_oci_root(info->engine);
        oci_state = nvb_oci_state_file(nvb_engine_name(info->engine), oci_root, info->container_id);
        if (!oci_state)
            return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    }
    nvb_isolation_request rq = {0};
    nvb_isolation_request_from_config(&rq, iso->cfg);
    rq.isolation = info->isolation;
    rq.host = info->host;
    rq.devices = devs;
    rq.n_devices = sel->n;
    rq.owner = (nvb_claim_owner){
        .container = info->container_id,
        .runtime = nvb_engine_name(info->engine),
        .holder_pid = 0,        /* nvbind, until the runtime or the engine takes over */
        .oci_state = oci_state, /* runc/crun: the container itself, while it exists */
    };
    rq.profile = info->profile;
    rq.wait_seconds = iso->wait_seconds;
    if (info->runtime_claims)
        return check_free(&rq, err);
    if (nvb_isolation_acquire(&rq, &iso->grant, err) < 0)
        return -1;
    iso->held = true;
    FILE *w = iso->warnings ? iso->warnings : stderr;
    for (size_t i = 0; i < iso->grant.warnings.n; i++)
        fprintf(w, "nvbind: warning: %s\n", iso->grant.warnings.v[i]);
    if (apply_grant(&iso->grant, info, err) < 0) {
        nvb_run_isolation_clear(iso);
        return -1;
    }
    return 0;
}

/* Docker's container names: [A-Za-z0-9][A-Za-z0-9_.-]*, nothing a URL path must escape. */
static bool plain_name(const char *name)
{
    if (!*name)
        return false;
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("_.-", *p))
            return false;
    return true;
}

/* The container's init from the daemon's socket (docker_api.h): its pid, 0 when it is not
 * running or does not exist, -1 when the daemon could not be asked that way. */
static pid_t docker_init_from_daemon(const char *name)
{
    char sock[256], path[512];
    if (!plain_name(name) || nvb_docker_api_socket(sock, sizeof sock) < 0 ||
        snprintf(path, sizeof path, "/containers/%s/json", name) >= (int)sizeof path)
        return -1;
    size_t len = 1 << 20; /* the legacy form's hundred mounts make a long document */
    _cleanup_free_ char *doc = malloc(len);
    int r = doc ? nvb_docker_api_get(sock, path, doc, len, 5000) : -1;
    if (r == 404)
        return 0;
    if (r != 0)
        return -1;
    json_error_t je;
    json_t *c = json_loads(doc, JSON_DISABLE_EOF_CHECK, &je);
    json_t *state = json_object_get(c, "State");
    json_int_t pid = json_is_true(json_object_get(state, "Running")) ? json_integer_value(json_object_get(state, "Pid")) : 0;
    bool parsed = c != NULL;
    json_decref(c);
    return !parsed ? -1 : pid > 0 ? (pid_t)pid : 0;
}

/* docker's container init (its host pid) when the container runs, else 0: asked of the
 * daemon's socket where nvbind knows it, else of `docker inspect`. */
static pid_t docker_container_init(const char *exe, const char *name)
{
    pid_t direct = docker_init_from_daemon(name);
    if (direct >= 0)
        return direct;
    char *argv[] = {(char *)exe, (char *)"inspect", (char *)"--type", (char *)"container", (char *)"--format",
                    (char *)"{{.State.Pid}}", (char *)name, NULL};
    char out[64];
    long pid = 0;
    if (nvb_run_capture(argv, 5000, out, sizeof out) == 0 && sscanf(out, "%ld", &pid) == 1 && pid > 0)
        return (pid_t)pid;
    return 0;
}

/* The container's init exists only once dockerd has started it, after the client (held at
 * the gate until engine_started returns) has asked: a detached watcher, which outlives a
 * killed nvbind, asks dockerd until the container runs, while the client runs, for at most
 * DOCKER_INIT_WAIT_MS, and records the init in the claim. One fork, not two: nvbind waits
 * only for its engine's pid, so a watcher that ends first stays a zombie until nvbind exits
 * (a table entry, nothing held), and one that outlives nvbind is init's to reap; a second
 * fork and a wait for the first would only delay the container's start. */
#define DOCKER_INIT_WAIT_MS 120000
static void docker_init_watcher(const char *state_dir, const char *exe, const char *name, pid_t client)
{
    if (fork() != 0)
        return;
    setsid(); /* no terminal's Ctrl-C */
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
    }
    for (int waited = 0; waited < DOCKER_INIT_WAIT_MS && kill(client, 0) == 0; waited += 100) {
        pid_t init = docker_container_init(exe, name);
        nvb_err e = {0};
        if (init > 0) {
            nvb_claims_set_init(state_dir, name, init, &e);
            _exit(0);
        }
        nanosleep(&(struct timespec){.tv_nsec = 100 * 1000 * 1000}, NULL);
    }
    _exit(0);
}

void nvb_run_isolation_engine_started(void *ctx, const nvb_run_info *info, int engine_pid)
{
    nvb_run_isolation *iso = ctx;
    if (!iso->held || !iso->grant.claimed || !info->container_id)
        return;
    /* The engine's foreground process lives as long as the container: recorded as the
     * container's process, it keeps the claim should nvbind die first. Failing to record it
     * only shortens the claim to nvbind's life; say so, but the container runs. */
    nvb_err e = {0};
    if (nvb_claims_set_init(iso->grant.state_dir, info->container_id, engine_pid, &e) < 0)
        fprintf(iso->warnings ? iso->warnings : stderr,
                "nvbind: warning: the GPU claims of %s last only while nvbind runs: %s\n", info->container_id, e.msg);
    /* docker: the client is not the container (it can be killed, or detach after three
     * Ctrl-C, while the container runs on under dockerd): the claim follows the container's
     * own init process. The client stands for it until the watcher has found that init
     * (the client is held at the gate until this returns, so the watcher comes second). */
    if (info->engine == NVB_ENGINE_DOCKER && info->runtime_exe)
        docker_init_watcher(iso->grant.state_dir, info->runtime_exe, info->container_id, engine_pid);
}

void nvb_run_isolation_after_exit(void *ctx, const nvb_run_info *info, int status)
{
    (void)info;
    (void)status;
    nvb_run_isolation *iso = ctx;
    /* The docker client ended but the container runs on (three Ctrl-C): its claim stays with
     * its init and is dropped as stale once the container stops (by `nvbind claims` or the
     * next acquire). */
    pid_t init = iso->held && iso->grant.claimed && info && info->engine == NVB_ENGINE_DOCKER && info->runtime_exe &&
                         info->container_id
                     ? docker_container_init(info->runtime_exe, info->container_id)
                     : 0;
    nvb_err e = {0};
    if (init > 0 && nvb_claims_set_init(iso->grant.state_dir, info->container_id, init, &e) >= 0) {
        fprintf(iso->warnings ? iso->warnings : stderr,
                "nvbind: the container %s still runs: its GPU claims stay until it stops\n",
                iso->grant.container ? iso->grant.container : "");
        nvb_isolation_grant_clear(&iso->grant);
        iso->held = false;
        return;
    }
    nvb_run_isolation_clear(ctx);
}

void nvb_run_isolation_clear(nvb_run_isolation *iso)
{
    if (!iso->held)
        return;
    nvb_err e = {0};
    if (nvb_isolation_release(&iso->grant, &e) < 0)
        fprintf(iso->warnings ? iso->warnings : stderr,
                "nvbind: warning: giving back the GPU claims of %s: %s (`nvbind claims` reclaims them once the "
                "container is gone)\n",
                iso->grant.container ? iso->grant.container : "the container", e.msg);
    nvb_isolation_grant_clear(&iso->grant);
    iso->held = false;
}
