#include "runtime/shim.h"
#include "runtime/cache_ahead.h"
#include "host/host_cache.h"
#include "runtime/oci_lean.h"
#include "util/log.h"
#include "isolation/procid.h"
#include "oci/bundle_root.h"
#include "host/host.h"
#include "policy/profiles.h"
#include "runtime/compose.h"
#include "runtime/oci_patch.h"
#include "runtime/plan_nvidia.h"
#include "runtime/run_isolation.h"
#include "runtime/select.h"
#include "util/cleanup.h"
#include "util/fileio.h"
#include "util/spawn.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the command line ---------------------------------------------------------------------- */

/* Global options of runc and crun that take a value. */
static const char *const valued_globals[] = {"root", "log", "log-format", "criu", "rootless", "cgroup-manager",
                                             "log-level", NULL};
/* Options of create/run that take a value (the bundle is found among them). */
static const char *const valued_create[] = {"console-socket", "pid-file", "preserve-fds", "config", "f", NULL};

static bool in_list(const char *const *list, const char *name, size_t len)
{
    for (; *list; list++)
        if (strlen(*list) == len && strncmp(*list, name, len) == 0)
            return true;
    return false;
}

/* "--name", "-name", "--name=value": the name's start and length; has_value when '=' is in it. */
static const char *option_name(const char *arg, size_t *len, bool *has_value)
{
    const char *n = arg + (arg[1] == '-' ? 2 : 1);
    const char *eq = strchr(n, '=');
    *has_value = eq != NULL;
    *len = eq ? (size_t)(eq - n) : strlen(n);
    return n;
}

void nvb_shim_parse_argv(int argc, char *const *argv, nvb_shim_argv *out)
{
    out->command = -1;
    out->bundle = NULL;
    out->id = NULL;
    out->root = NULL;
    out->log = NULL;
    out->log_format = NULL;
    out->version = false;
    int i = 1;
    while (i < argc) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (a[0] != '-' || a[1] == '\0')
            break;
        size_t len;
        bool has_value;
        const char *n = option_name(a, &len, &has_value);
        const char *value = has_value ? n + len + 1 : i + 1 < argc ? argv[i + 1] : NULL;
        if (len == 4 && strncmp(n, "root", 4) == 0)
            out->root = value;
        else if (len == 3 && strncmp(n, "log", 3) == 0)
            out->log = value;
        else if (len == 10 && strncmp(n, "log-format", 10) == 0)
            out->log_format = value;
        else if ((len == 7 && strncmp(n, "version", 7) == 0) || (len == 1 && n[0] == 'v'))
            out->version = true;
        i += !has_value && in_list(valued_globals, n, len) ? 2 : 1;
    }
    if (i >= argc)
        return;
    out->command = i;
    bool edits = nvb_shim_command_edits(argv[i]);
    if (!edits && strcmp(argv[i], "delete") != 0)
        return;
    /* runc (urfave/cli moves a command's flags in front of its operands) and crun (getopt
     * permutes) both take options after the container id too: `create ID --bundle B` uses B.
     * Read them the same way, or the shim edits one bundle while the runtime starts another. */
    bool operands_only = false;
    for (int j = i + 1; j < argc; j++) {
        const char *a = argv[j];
        if (!operands_only && strcmp(a, "--") == 0) {
            operands_only = true;
            continue;
        }
        if (operands_only || a[0] != '-' || a[1] == '\0') {
            if (!out->id)
                out->id = a; /* the container id: the first operand */
            continue;
        }
        if (!edits)
            continue; /* delete: --force / -f are flags */
        size_t len;
        bool has_value;
        const char *n = option_name(a, &len, &has_value);
        bool is_bundle = (len == 6 && strncmp(n, "bundle", 6) == 0) || (len == 1 && n[0] == 'b');
        if (is_bundle) {
            if (has_value)
                out->bundle = n + len + 1;
            else if (j + 1 < argc)
                out->bundle = argv[++j];
            continue;
        }
        if (!has_value && in_list(valued_create, n, len))
            j++;
    }
}

bool nvb_shim_command_edits(const char *command)
{
    return strcmp(command, "create") == 0 || strcmp(command, "run") == 0;
}

/* ---- requests in config.json --------------------------------------------------------------- */

void nvb_oci_requests_clear(nvb_oci_requests *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->v[i].source);
        free(r->v[i].list);
    }
    free(r->v);
    free(r->profile);
    nvb_nvidia_env_clear(&r->nvidia);
    memset(r, 0, sizeof *r);
}

static int add_request(nvb_oci_requests *r, const char *source, const char *list, bool from_env)
{
    nvb_oci_request *nv = realloc(r->v, (r->n + 1) * sizeof *nv);
    if (!nv)
        return -1;
    r->v = nv;
    nvb_oci_request q = {strdup(source), strdup(list), from_env};
    if (!q.source || !q.list) {
        free(q.source);
        free(q.list);
        return -1;
    }
    r->v[r->n++] = q;
    return 0;
}

/* "nvidia.com/gpu=0,vendor.com/x=y,nvidia.com/gpu=GPU-…" -> "0,GPU-…" (NULL: none of ours). */
static char *cdi_annotation_names(const char *value)
{
    static const char prefix[] = "nvidia.com/gpu=";
    nvb_strv names = {0};
    char *out = NULL;
    for (const char *p = value;;) {
        const char *end = strchrnul(p, ',');
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        const char *hi = end;
        while (hi > p && (hi[-1] == ' ' || hi[-1] == '\t'))
            hi--;
        size_t n = (size_t)(hi - p);
        if (n > sizeof prefix - 1 && strncmp(p, prefix, sizeof prefix - 1) == 0 &&
            nvb_strv_pushf(&names, "%.*s", (int)(n - (sizeof prefix - 1)), p + sizeof prefix - 1) < 0)
            goto done;
        if (!*end)
            break;
        p = end + 1;
    }
    if (names.n) {
        size_t len = 1;
        for (size_t i = 0; i < names.n; i++)
            len += strlen(names.v[i]) + 1;
        out = calloc(1, len);
        for (size_t i = 0; out && i < names.n; i++) {
            if (i)
                strcat(out, ",");
            strcat(out, names.v[i]);
        }
    }
done:
    nvb_strv_free(&names);
    return out;
}

int nvb_oci_find_requests(const json_t *config, nvb_oci_requests *out, nvb_err *err)
{
    memset(out, 0, sizeof *out);
    if (!json_is_object(config))
        return nvb_errf(err, NVB_EXIT_INPUT, "config.json: expected a JSON object");
    const json_t *process = json_object_get(config, "process");
    const json_t *env = json_is_object(process) ? json_object_get(process, "env") : NULL;
    if (process && !json_is_object(process))
        return nvb_errf(err, NVB_EXIT_INPUT, "config.json: process: expected an object");
    if (env && !json_is_array(env))
        return nvb_errf(err, NVB_EXIT_INPUT, "config.json: process.env: expected an array");
    const char *visible = NULL;
    nvb_err nvidia_err = {0};
    bool nvidia_bad = false;
    size_t i;
    json_t *item;
    json_array_foreach(env, i, item)
    {
        const char *s = json_string_value(item);
        if (!s) {
            nvb_oci_requests_clear(out);
            return nvb_errf(err, NVB_EXIT_INPUT, "config.json: process.env[%zu]: expected a string", i);
        }
        if (strncmp(s, "NVIDIA_VISIBLE_DEVICES=", 23) == 0)
            visible = s + 23;
        else if (nvb_nvidia_env_add(&out->nvidia, s, &nvidia_err) < 0)
            nvidia_bad = true; /* an error only when a GPU is asked for (below) */
    }
    int r = 0;
    if (visible) {
        const char *v = visible + strspn(visible, " \t");
        if (*v && strcmp(v, "void") != 0 && strcmp(v, "none") != 0)
            r = add_request(out, "NVIDIA_VISIBLE_DEVICES", visible, true);
    }
    const json_t *ann = json_object_get(config, "annotations");
    if (ann && !json_is_object(ann)) {
        nvb_oci_requests_clear(out);
        return nvb_errf(err, NVB_EXIT_INPUT, "config.json: annotations: expected an object");
    }
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)ann, key, val)
    {
        bool ours = strcmp(key, "nvbind.gpus") == 0 || strcmp(key, "nvbind.profile") == 0 ||
                    strcmp(key, "nvbind.isolation") == 0;
        bool cdi = strncmp(key, "cdi.k8s.io/", 11) == 0;
        if (!ours && !cdi)
            continue;
        const char *s = json_string_value(val);
        if (!s) {
            nvb_oci_requests_clear(out);
            return nvb_errf(err, NVB_EXIT_INPUT, "config.json: annotations.%.200s: expected a string", key);
        }
        char source[256];
        snprintf(source, sizeof source, "annotation %.200s", key);
        if (r == 0 && strcmp(key, "nvbind.gpus") == 0) {
            r = add_request(out, source, s, false);
        } else if (r == 0 && strcmp(key, "nvbind.isolation") == 0) {
            if (nvb_isolation_parse(s, &out->isolation) < 0) {
                nvb_oci_requests_clear(out);
                return nvb_errf(err, NVB_EXIT_INPUT,
                                "config.json: annotations.nvbind.isolation: unknown isolation '%.100s' (expected "
                                "shared, exclusive or virtual)",
                                s);
            }
            out->has_isolation = true;
        } else if (r == 0 && strcmp(key, "nvbind.profile") == 0) {
            free(out->profile);
            out->profile = strdup(s);
            r = out->profile ? 0 : -1;
        } else if (r == 0) {
            _cleanup_free_ char *names = cdi_annotation_names(s);
            if (names)
                r = add_request(out, source, names, false);
        }
    }
    if (r < 0) {
        nvb_oci_requests_clear(out);
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    }
    /* A container asking for no GPU is none of nvbind's business, whatever its image sets. */
    if (nvidia_bad && out->n > 0) {
        nvb_oci_requests_clear(out);
        if (err)
            *err = nvidia_err;
        return -1;
    }
    return 0;
}

bool nvb_oci_config_privileged(const json_t *config)
{
    const json_t *bounding =
        json_object_get(json_object_get(json_object_get(config, "process"), "capabilities"), "bounding");
    size_t i;
    json_t *c;
    json_array_foreach(bounding, i, c)
    {
        const char *s = json_string_value(c);
        if (s && strcmp(s, "CAP_SYS_ADMIN") == 0)
            return true;
    }
    return false;
}

/* ---- the create step ----------------------------------------------------------------------- */

/* reqs holds only what [security] lets through (nvb_shim_apply_policy). */
static int resolve_requests(const nvb_oci_requests *reqs, const nvb_host *h, nvb_selection *sel, nvb_err *err)
{
    for (size_t i = 0; i < reqs->n; i++) {
        const nvb_oci_request *q = &reqs->v[i];
        if (nvb_select_add(sel, h, q->source, q->list, q->from_env, err) < 0)
            return -1;
    }
    return 0;
}

static enum nvb_isolation request_isolation(const nvb_shim_ctx *ctx, const nvb_oci_requests *reqs)
{
    return reqs->has_isolation ? reqs->isolation : ctx->cfg->capsule.isolation_level;
}

/* MIG devices are known through NVML only: load it (bounded) when a request names one, or
 * when `virtual` may hand out MIG devices; every other create stays NVML-free. */
static bool needs_nvml(const nvb_shim_ctx *ctx, const nvb_oci_requests *reqs)
{
    if (request_isolation(ctx, reqs) == NVB_ISOLATION_VIRTUAL && ctx->cfg->aiml.mig_enabled)
        return true;
    for (size_t i = 0; i < reqs->n; i++)
        if (strchr(reqs->v[i].list, ':') || strstr(reqs->v[i].list, "MIG-"))
            return true;
    return false;
}

/* Claim the selected devices for ctx->container_id (see nvb_shim_ctx) and make sel what the
 * grant gives. A GPU whose claim could not be recorded is not handed out: without a claim
 * an exclusive GPU would serve anyone, and nothing would be audited. */
static int claim(const nvb_shim_ctx *ctx, const nvb_oci_requests *reqs, const nvb_host *h, nvb_selection *sel,
                 nvb_err *err)
{
    if (!ctx->container_id)
        return nvb_errf(err, NVB_EXIT_USAGE,
                        "no container id on the command line: the GPU request cannot be claimed for a container");
    if (!ctx->oci_state)
        return nvb_errf(err, NVB_EXIT_USAGE,
                        "container id '%.200s': names no runtime state file (it is empty, starts with '.' or holds "
                        "'/'), so its GPU claim cannot be kept; refusing the GPU request",
                        ctx->container_id);
    nvb_isolation_device *devs = nvb_selection_isolation_devices(sel);
    if (!devs)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    nvb_isolation_request rq = {0};
    nvb_isolation_request_from_config(&rq, ctx->cfg);
    rq.isolation = request_isolation(ctx, reqs);
    rq.host = h;
    rq.devices = devs;
    rq.n_devices = sel->n;
    rq.owner = (nvb_claim_owner){
        .container = ctx->container_id,
        .runtime = ctx->prog,
        .holder_pid = 0,           /* this process, which becomes the runtime's create */
        .oci_state = ctx->oci_state,
    };
    rq.profile = reqs->profile;
    rq.wait_seconds = NVB_CLAIM_NO_WAIT;
    int r = nvb_isolation_acquire(&rq, ctx->grant, err);
    free(devs);
    if (r < 0)
        return -1;
    for (size_t i = 0; i < ctx->grant->warnings.n; i++)
        fprintf(stderr, "%s: warning: %s\n", ctx->prog, ctx->grant->warnings.v[i]);
    nvb_selection_take_grant(sel, ctx->grant);
    return 0;
}

/* A request made the way nvidia-container-toolkit's users make it - NVIDIA_VISIBLE_DEVICES in
 * the container's environment, no nvbind.profile, no NVIDIA_DRIVER_CAPABILITIES - gets what
 * NVIDIA's runtime gives it: the "utility" and "compute" driver files (its documented default
 * when the variable is unset or empty), not every file of the driver. Images that want more
 * say so (CUDA's declare compute,utility; graphics images add graphics, display or video).
 * Requests by annotation (nvbind.gpus, cdi.k8s.io/) name what nvbind's own specs give, the
 * whole profile. */
static void nvidia_default_caps(nvb_oci_requests *reqs)
{
    if (reqs->profile || reqs->nvidia.has_caps)
        return;
    for (size_t i = 0; i < reqs->n; i++)
        if (!reqs->v[i].from_env)
            return;
    reqs->nvidia.has_caps = true;
    reqs->nvidia.caps = NVB_CAP_UTILITY | NVB_CAP_COMPUTE;
}

/* Whether config.json's text can hold anything nvb_oci_find_requests acts on: every request
 * and every nvbind annotation names one of these words, and JSON can spell a word otherwise
 * only with a \u escape ("cdi.k8s.io\/x" is why the slash is left out). Without any of
 * them the create is passed through unparsed: where nvbind-runtime is docker's default
 * runtime that is most containers, and docker's config.json carries its whole seccomp
 * profile, tens of KB that jansson would build and free a tree of for nothing. */
static bool may_request(const char *text, size_t len)
{
    static const char *const words[] = {"NVIDIA_VISIBLE_DEVICES", "nvbind.", "cdi.k8s.io", "\\u"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (memmem(text, len, words[i], strlen(words[i])))
            return true;
    return false;
}

/* nvbind's hooks in this config.json are told its root.path (--root-path): at every start
 * each would otherwise parse the whole document again (tens of KB with the driver's mounts)
 * for that one string. The value comes from the same document the hook would read, so the
 * hook trusts nothing more than before. */
static int tell_hooks_the_root(nvb_edits *all, const char *hook_path, const json_t *config)
{
    const char *root = nvb_oci_config_root_value(config, NULL, NULL);
    if (!root)
        return 0; /* left to the hook, which reads config.json and says what is wrong */
    for (size_t i = 0; i < all->n_hooks; i++) {
        nvb_hook *hk = &all->hooks[i];
        bool ours = nvb_hook_is_nvbinds(hk, hook_path, "update-ldcache") ||
                    nvb_hook_is_nvbinds(hk, hook_path, "create-symlinks");
        if (ours && (nvb_strv_push(&hk->args, "--root-path") < 0 || nvb_strv_push(&hk->args, root) < 0))
            return -1;
    }
    return 0;
}

void nvb_shim_leftovers_free(nvb_shim_leftovers *l)
{
    for (size_t i = 0; i < l->n; i++)
        l->drop[i](l->v[i]);
    l->n = 0;
}

/* Leave p to the caller's exec (ctx->leftovers) when the create succeeded, else free it now. */
static void leave_or_drop(const nvb_shim_ctx *ctx, bool ok, void *p, void (*drop)(void *))
{
    nvb_shim_leftovers *l = ctx->leftovers;
    if (!p)
        return;
    if (ok && l && l->n < sizeof l->v / sizeof l->v[0]) {
        l->v[l->n] = p;
        l->drop[l->n++] = drop;
        return;
    }
    drop(p);
}

static void drop_json(void *p) { json_decref(p); }
static void drop_host(void *p) { nvb_host_free(p); }

int nvb_shim_edit_bundle(const nvb_shim_ctx *ctx, const char *bundle, nvb_err *err)
{
    _cleanup_free_ char *path = nvb_path_join(bundle ? bundle : ".", "config.json");
    if (!path)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    size_t len = 0;
    _cleanup_free_ char *text = nvb_read_file(path, NVB_OCI_CONFIG_MAX_SIZE + 1, &len);
    if (!text)
        return nvb_errf_errno(err, errno == ENOENT ? NVB_EXIT_INPUT : NVB_EXIT_IO, errno, "reading %s", path);
    if (!may_request(text, len))
        return 0; /* the runtime checks the document itself */
    /* linux.seccomp stays text: the shim never reads it (runtime/oci_lean.h). */
    nvb_oci_lean lean;
    if (nvb_oci_config_parse_lean(text, len, path, &lean, err) < 0)
        return -1;
    json_t *config = lean.config;
    nvb_oci_requests reqs;
    int r = nvb_oci_find_requests(config, &reqs, err);
    if (r == 0 && (r = nvb_shim_apply_policy(ctx->cfg, &reqs, nvb_oci_config_privileged(config), ctx->prog, err)) < 0)
        nvb_oci_requests_clear(&reqs);
    if (r < 0) {
        /* "config.json: process.env: ..." names the file by its real path instead. */
        if (err) {
            static const char generic[] = "config.json: ";
            char rest[sizeof err->msg];
            const char *m = strncmp(err->msg, generic, sizeof generic - 1) == 0 ? err->msg + sizeof generic - 1 : err->msg;
            snprintf(rest, sizeof rest, "%s", m);
            nvb_errf(err, err->exit_code, "%s: %s", path, rest);
        }
        json_decref(config);
        return -1;
    }
    int result = 0;
    if (reqs.n > 0) {
        nvb_discover_opts dopts = {0};
        nvb_strv libs = {0};
        nvb_host *h = NULL;
        if (nvb_config_discover_opts(ctx->cfg, ctx->root, ctx->driver_root, NULL, &libs, &dopts) < 0)
            nvb_errf(err, NVB_EXIT_IO, "out of memory");
        else {
            dopts.skip_pci_details = true; /* edits need no PCI ids */
            dopts.with_nvml = needs_nvml(ctx, &reqs);
            h = nvb_host_discover_cached(&dopts, err);
        }
        nvb_strv_free(&libs);
        nvb_selection sel = {0};
        nvb_gpu_plan plan = {0};
        nvb_edits all = {0};
        r = h ? resolve_requests(&reqs, h, &sel, err) : -1;
        if (r == 0 && !nvb_selection_empty(&sel)) {
            /* The profile first (a typo is no reason to claim), then the claim, then the
             * device edits of what the claim gave. */
            r = nvb_gpu_plan_build(&plan, ctx->cfg, h, &sel, reqs.profile, ctx->hook_path, err);
            nvidia_default_caps(&reqs);
            if (r == 0)
                r = nvb_gpu_plan_nvidia_env(&plan, &reqs.nvidia, h, &sel, ctx->hook_path, err);
            bool claimed = false;
            if (r == 0) {
                r = claim(ctx, &reqs, h, &sel, err);
                claimed = r == 0;
            }
            if (r == 0 && claimed) {
                nvb_edits_clear(&plan.devices);
                if (nvb_selection_edits(&sel, &plan.devices) < 0 || nvb_edits_merge(&plan.extra, &ctx->grant->edits) < 0)
                    r = nvb_errf(err, NVB_EXIT_IO, "out of memory");
            }
            if (r == 0 && nvb_gpu_plan_all_edits(&plan, &all) < 0)
                r = nvb_errf(err, NVB_EXIT_IO, "out of memory");
            if (r == 0)
                nvb_cache_ahead(&all, config, bundle, ctx->hook_path);
            if (r == 0 && tell_hooks_the_root(&all, ctx->hook_path, config) < 0)
                r = nvb_errf(err, NVB_EXIT_IO, "out of memory");
            if (r == 0)
                r = nvb_oci_config_apply_edits(config, &all, path, err);
            _cleanup_free_ char *out = r == 0 ? nvb_oci_config_dump_lean(&lean) : NULL;
            if (r == 0 && !out)
                r = nvb_errf(err, NVB_EXIT_IO, "out of memory");
            struct stat st;
            mode_t mode = stat(path, &st) == 0 ? st.st_mode & 07777 : 0644;
            if (r == 0)
                r = nvb_bundle_write_config(path, out, mode, err);
            if (r < 0 && claimed) {
                nvb_isolation_release(ctx->grant, NULL); /* nothing runs: nothing is held */
                nvb_isolation_grant_clear(ctx->grant);
            }
            result = r == 0 ? 1 : -1;
        } else if (r < 0) {
            result = -1;
        }
        nvb_edits_clear(&all);
        nvb_gpu_plan_clear(&plan);
        nvb_selection_clear(&sel);
        leave_or_drop(ctx, result >= 0, h, drop_host);
    }
    nvb_oci_requests_clear(&reqs);
    leave_or_drop(ctx, result >= 0, config, drop_json);
    return result;
}

/* ---- the real runtime ---------------------------------------------------------------------- */

static bool same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

char *nvb_shim_find_runtime(const nvb_config *cfg, const char *self_exe, nvb_err *err)
{
    const char *wanted = cfg->runtime.oci_runtime;
    const char *candidates[] = {wanted, wanted ? NULL : "runc", wanted ? NULL : "crun", NULL};
    for (size_t i = 0; i < 3; i++) {
        if (!candidates[i])
            continue;
        char *exe = nvb_find_executable(candidates[i]);
        if (exe && self_exe && same_file(exe, self_exe)) {
            free(exe);
            if (wanted) {
                nvb_errf(err, NVB_EXIT_RUNTIME, "[runtime] oci_runtime = \"%s\" is this shim itself", wanted);
                return NULL;
            }
            continue;
        }
        if (exe)
            return exe;
    }
    if (wanted)
        nvb_errf(err, NVB_EXIT_RUNTIME, "[runtime] oci_runtime = \"%s\": not found in PATH", wanted);
    else
        nvb_errf(err, NVB_EXIT_RUNTIME, "no OCI runtime found: install runc or crun, or set [runtime] oci_runtime");
    return NULL;
}

/* ---- the whole program --------------------------------------------------------------------- */

static const char shim_prog[] = "nvbind-runtime";

/* The error on stderr and in the runtime log: containerd (so docker) shows a failed
 * runtime's last logged error to its user and ignores its stderr. */
static int shim_fail(const nvb_shim_argv *a, const nvb_err *err)
{
    fprintf(stderr, "%s: %s\n", shim_prog, err->msg);
    char line[sizeof err->msg + sizeof shim_prog + 2];
    snprintf(line, sizeof line, "%s: %s", shim_prog, err->msg);
    if (a && nvb_shim_log_write(a->log, a->log_format, "error", line) < 0)
        fprintf(stderr, "%s: warning: cannot write the runtime log %s: %s\n", shim_prog, a->log, strerror(errno));
    return err->exit_code ? err->exit_code : NVB_EXIT_FAIL;
}

/* The shim's decisions (info and warnings, one line each) go where the engine looks: the
 * runtime's --log, in its format, and [runtime] log_file. */
typedef struct shim_log_sink {
    const char *runtime_log, *format;
    char *file;
} shim_log_sink;

static void shim_log_line(int level, const char *line, void *ctx)
{
    const shim_log_sink *s = ctx;
    const char *lvl = level == NVB_LOG_WARN ? "warning" : nvb_log_level_name(level);
    char msg[4096];
    snprintf(msg, sizeof msg, "%s: %s", shim_prog, line);
    nvb_shim_log_write(s->runtime_log, s->format, lvl, msg);
    nvb_shim_log_write(s->file, "text", lvl, msg);
}

static void shim_log_setup(const nvb_shim_argv *a, const nvb_config *cfg)
{
    static shim_log_sink sink;
    free(sink.file);
    sink = (shim_log_sink){.runtime_log = a->log, .format = a->log_format,
                           .file = cfg->runtime.log_file ? strdup(cfg->runtime.log_file) : NULL};
    if (sink.runtime_log || sink.file)
        nvb_log_set(shim_log_line, &sink, NVB_LOG_INFO);
}

/* NVBIND_CONFIG, else /etc/nvbind/config.toml when it exists, else the defaults. */
static int shim_load_config(nvb_config *cfg, nvb_err *err)
{
    const char *path = getenv("NVBIND_CONFIG");
    if (!path || !*path) {
        path = "/etc/nvbind/config.toml";
        if (access(path, F_OK) < 0)
            return 0;
    }
    return nvb_config_load_file(cfg, path, err);
}

/* The hooks run nvbind: [cdi] hook_path, else the nvbind installed next to this shim, else
 * the one in PATH. */
static char *shim_hook_path(const nvb_config *cfg, const char *self_exe, nvb_err *err)
{
    if (cfg->cdi.hook_path)
        return strdup(cfg->cdi.hook_path);
    _cleanup_free_ char *copy = strdup(self_exe);
    char *sibling = copy ? nvb_path_join(dirname(copy), "nvbind") : NULL;
    if (sibling && access(sibling, X_OK) == 0)
        return sibling;
    free(sibling);
    char *found = nvb_find_executable("nvbind");
    if (found)
        return found;
    nvb_errf(err, NVB_EXIT_RUNTIME, "no nvbind next to %s or in PATH for the OCI hooks (set [cdi] hook_path)", self_exe);
    return NULL;
}

int nvb_shim_version(const char *version)
{
    printf("%s version %s\n", shim_prog, version);
    nvb_err err = {0};
    nvb_config cfg;
    nvb_config_init(&cfg);
    if (shim_load_config(&cfg, &err) < 0) {
        fprintf(stderr, "%s: %s (using the defaults)\n", shim_prog, err.msg);
        nvb_config_clear(&cfg);
        nvb_config_init(&cfg);
        nvb_err_clear(&err);
    }
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = '\0';
    char *real = nvb_shim_find_runtime(&cfg, n > 0 ? self : NULL, &err);
    nvb_config_clear(&cfg);
    if (!real)
        return shim_fail(NULL, &err);
    printf("runtime: %s\n", real);
    fflush(stdout);
    char flag[] = "--version";
    char *args[] = {real, flag, NULL};
    execv(real, args);
    nvb_errf_errno(&err, NVB_EXIT_RUNTIME, errno, "cannot run %s", real);
    free(real);
    return shim_fail(NULL, &err);
}

/* NVBIND_ROOT made absolute from the current folder, as nvbind's --root is: the edits name
 * host paths, and runc reads relative ones from the bundle folder. NULL with *root_out NULL
 * when unset ([host] root, else /); -1 with err set when it names nothing. */
static int shim_host_root(char **root_out, nvb_err *err)
{
    *root_out = NULL;
    const char *root = getenv("NVBIND_ROOT");
    if (!root || !*root)
        return 0;
    if (!(*root_out = realpath(root, NULL)))
        return nvb_errf_errno(err, NVB_EXIT_USAGE, errno, "NVBIND_ROOT %s", root);
    return 0;
}

int nvb_shim_main(int argc, char **argv)
{
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        snprintf(self, sizeof self, "%s", argv[0]);
    else
        self[n] = '\0';
    nvb_err err = {0};
    nvb_shim_argv a;
    nvb_shim_parse_argv(argc, argv, &a);
    bool edits = a.command >= 0 && nvb_shim_command_edits(argv[a.command]);

    nvb_config cfg;
    nvb_config_init(&cfg);
    if (shim_load_config(&cfg, &err) < 0) {
        if (edits) {
            nvb_config_clear(&cfg);
            return shim_fail(&a, &err);
        }
        /* delete, kill, state must keep working with a broken configuration file. */
        fprintf(stderr, "%s: %s (using the defaults)\n", shim_prog, err.msg);
        nvb_config_clear(&cfg);
        nvb_config_init(&cfg);
        nvb_err_clear(&err);
    }
    shim_log_setup(&a, &cfg);
    char *real = nvb_shim_find_runtime(&cfg, self, &err);
    if (!real) {
        nvb_config_clear(&cfg);
        return shim_fail(&a, &err);
    }
    nvb_isolation_grant grant = {0};
    nvb_shim_leftovers leftovers = {0};
    if (edits) {
        char *root = NULL; /* NULL: [host] root, else / */
        char *hook = shim_host_root(&root, &err) == 0 ? shim_hook_path(&cfg, self, &err) : NULL;
        /* The claims live as long as this process (which becomes the runtime's create), then
         * as long as the container's init, found through the real runtime's state file. */
        char *oci_state = a.id ? nvb_oci_state_file(real, a.root, a.id) : NULL;
        nvb_shim_ctx ctx = {.cfg = &cfg, .root = root, .hook_path = hook, .prog = shim_prog,
                            .container_id = a.id, .oci_state = oci_state, .grant = &grant,
                            .leftovers = &leftovers};
        int r = hook ? nvb_shim_edit_bundle(&ctx, a.bundle, &err) : -1;
        free(hook);
        free(root);
        free(oci_state);
        if (r < 0) {
            free(real);
            nvb_config_clear(&cfg);
            return shim_fail(&a, &err);
        }
    } else if (a.command >= 0 && strcmp(argv[a.command], "delete") == 0 && a.id) {
        /* The engine removes the container: its GPUs are free from now on. */
        nvb_err rerr = {0};
        if (nvb_claims_release(cfg.isolation.state_dir, a.id, &rerr) < 0)
            fprintf(stderr, "%s: warning: giving back the GPU claims of %s: %s\n", shim_prog, a.id, rerr.msg);
    }
    nvb_config_clear(&cfg);
    /* Logged where the shim did something (create, run, delete); start, state, kill and the
     * rest pass straight through, and a line in the runtime log for each would cost a file
     * write per command for nothing. */
    bool acted = edits || (a.command >= 0 && strcmp(argv[a.command], "delete") == 0);
    nvb_log(acted ? NVB_LOG_INFO : NVB_LOG_DEBUG, "%s %s: handing over to %s",
            a.command >= 0 ? argv[a.command] : "(no command)", a.id ? a.id : "", real);
    argv[0] = real;
    execv(real, argv);
    nvb_errf_errno(&err, NVB_EXIT_RUNTIME, errno, "cannot run %s", real);
    nvb_shim_leftovers_free(&leftovers);
    /* The container will not exist: neither do its claims. */
    nvb_isolation_release(&grant, NULL);
    nvb_isolation_grant_clear(&grant);
    free(real);
    return shim_fail(&a, &err);
}
