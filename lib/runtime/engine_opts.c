/* podman's and docker's `run` options as `nvbind run` passes them through (engine_opts.h):
 * the table, the isolation check, and their meaning for runc and crun. */
#include "runtime/engine_opts.h"
#include "oci/safepath.h"
#include "runtime/engine.h"
#include "util/cleanup.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Option names and whether they take a value are podman's and docker's (`podman run --help`);
 * nvbind's own run options (--env/-e, --rootfs, --help/-h ...) are recognised before these. */
static const nvb_engine_opt table[] = {
    {"add-host", 0, true, NVB_EOPT_OCI_NONE},        {"annotation", 0, true, NVB_EOPT_OCI_NONE},
    {"attach", 'a', true, NVB_EOPT_OCI_NONE},        {"blkio-weight", 0, true, NVB_EOPT_OCI_NONE},
    {"cap-add", 0, true, NVB_EOPT_OCI_NONE},         {"cap-drop", 0, true, NVB_EOPT_OCI_NONE},
    {"cgroup-parent", 0, true, NVB_EOPT_OCI_NONE},   {"cgroupns", 0, true, NVB_EOPT_OCI_NONE},
    {"cidfile", 0, true, NVB_EOPT_OCI_NONE},         {"cpu-shares", 'c', true, NVB_EOPT_OCI_NONE},
    {"cpus", 0, true, NVB_EOPT_OCI_NONE},            {"cpuset-cpus", 0, true, NVB_EOPT_OCI_NONE},
    {"cpuset-mems", 0, true, NVB_EOPT_OCI_NONE},     {"detach", 'd', false, NVB_EOPT_OCI_NONE},
    {"device", 0, true, NVB_EOPT_OCI_NONE},          {"device-cgroup-rule", 0, true, NVB_EOPT_OCI_NONE},
    {"dns", 0, true, NVB_EOPT_OCI_NONE},             {"dns-search", 0, true, NVB_EOPT_OCI_NONE},
    {"entrypoint", 0, true, NVB_EOPT_OCI_ENTRYPOINT}, {"env-file", 0, true, NVB_EOPT_OCI_NONE},
    {"expose", 0, true, NVB_EOPT_OCI_NONE},          {"gpus", 0, true, NVB_EOPT_OCI_NONE},
    {"group-add", 0, true, NVB_EOPT_OCI_NONE},       {"hooks-dir", 0, true, NVB_EOPT_OCI_NONE},
    {"hostname", 0, true, NVB_EOPT_OCI_HOSTNAME},    {"init", 0, false, NVB_EOPT_OCI_NONE},
    {"interactive", 'i', false, NVB_EOPT_OCI_IGNORE}, {"ipc", 0, true, NVB_EOPT_OCI_NONE},
    {"label", 'l', true, NVB_EOPT_OCI_NONE},         {"log-driver", 0, true, NVB_EOPT_OCI_NONE},
    {"log-opt", 0, true, NVB_EOPT_OCI_NONE},         {"memory", 'm', true, NVB_EOPT_OCI_NONE},
    {"memory-swap", 0, true, NVB_EOPT_OCI_NONE},     {"mount", 0, true, NVB_EOPT_OCI_NONE},
    {"name", 0, true, NVB_EOPT_OCI_NAME},            {"net", 0, true, NVB_EOPT_OCI_NONE},
    {"network", 0, true, NVB_EOPT_OCI_NONE},         {"pid", 0, true, NVB_EOPT_OCI_NONE},
    {"pids-limit", 0, true, NVB_EOPT_OCI_NONE},      {"platform", 0, true, NVB_EOPT_OCI_NONE},
    {"privileged", 0, false, NVB_EOPT_OCI_NONE},     {"publish", 'p', true, NVB_EOPT_OCI_NONE},
    {"publish-all", 'P', false, NVB_EOPT_OCI_NONE},  {"pull", 0, true, NVB_EOPT_OCI_NONE},
    {"quiet", 'q', false, NVB_EOPT_OCI_NONE},        {"read-only", 0, false, NVB_EOPT_OCI_NONE},
    {"restart", 0, true, NVB_EOPT_OCI_NONE},         {"rm", 0, false, NVB_EOPT_OCI_IGNORE},
    {"runtime", 0, true, NVB_EOPT_OCI_NONE},         {"security-opt", 0, true, NVB_EOPT_OCI_NONE},
    {"shm-size", 0, true, NVB_EOPT_OCI_NONE},        {"stop-signal", 0, true, NVB_EOPT_OCI_NONE},
    {"stop-timeout", 0, true, NVB_EOPT_OCI_NONE},    {"sysctl", 0, true, NVB_EOPT_OCI_NONE},
    {"tmpfs", 0, true, NVB_EOPT_OCI_NONE},           {"tty", 't', false, NVB_EOPT_OCI_TTY},
    {"ulimit", 0, true, NVB_EOPT_OCI_NONE},          {"user", 'u', true, NVB_EOPT_OCI_USER},
    {"userns", 0, true, NVB_EOPT_OCI_NONE},          {"uts", 0, true, NVB_EOPT_OCI_NONE},
    {"volume", 'v', true, NVB_EOPT_OCI_VOLUME},      {"volumes-from", 0, true, NVB_EOPT_OCI_NONE},
    {"workdir", 'w', true, NVB_EOPT_OCI_WORKDIR},
};

const nvb_engine_opt *nvb_engine_opt_long(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strlen(table[i].name) == len && strncmp(table[i].name, name, len) == 0)
            return &table[i];
    return NULL;
}

const nvb_engine_opt *nvb_engine_opt_at(size_t i)
{
    return i < sizeof table / sizeof table[0] ? &table[i] : NULL;
}

const nvb_engine_opt *nvb_engine_opt_short(char c)
{
    for (size_t i = 0; c && i < sizeof table / sizeof table[0]; i++)
        if (table[i].short_name == c)
            return &table[i];
    return NULL;
}

/* "--NAME=VALUE" -> name "NAME" (its length in *len) and value "VALUE" (NULL for "--NAME"). */
static const char *split_token(const char *tok, size_t *len)
{
    const char *name = tok + 2, *eq = strchr(name, '=');
    *len = eq ? (size_t)(eq - name) : strlen(name);
    return eq ? eq + 1 : NULL;
}

/* pflag's false spellings: "--privileged=false" asks for nothing. */
static bool is_false(const char *v)
{
    return v && (strcmp(v, "false") == 0 || strcmp(v, "0") == 0 || strcmp(v, "f") == 0 || strcmp(v, "F") == 0 ||
                 strcmp(v, "False") == 0 || strcmp(v, "FALSE") == 0);
}

/* A host path that reaches GPUs or nvbind's claims: the device tree (its GPU nodes, or all of
 * it), /dev/char's links to them, the claims folder and the folders above it. Followed through
 * links when it exists. */
static bool host_path_undoes_isolation(const char *path, const nvb_config *cfg)
{
    _cleanup_free_ char *real = realpath(path, NULL);
    const char *p = real ? real : path;
    static const char *const gpu[] = {"/dev/nvidia", "/dev/dri", "/dev/dxg", "/dev/kfd", "/dev/char"};
    if (strcmp(p, "/dev") == 0 || strcmp(p, "/") == 0)
        return true;
    for (size_t i = 0; i < sizeof gpu / sizeof gpu[0]; i++)
        if (strncmp(p, gpu[i], strlen(gpu[i])) == 0)
            return true;
    /* The claims folder, inside it, or a folder above it (-v /run:/run holds it too). */
    const char *claims = cfg->isolation.state_dir ? cfg->isolation.state_dir : "/run/nvbind";
    size_t n = strlen(claims), m = strlen(p);
    if (strncmp(p, claims, n) == 0 && (p[n] == '\0' || p[n] == '/'))
        return true;
    return m < n && strncmp(claims, p, m) == 0 && claims[m] == '/';
}

/* The host side of --volume SRC:DST[:OPTS] or --mount ...,source=SRC,... (NULL: a named
 * volume or a tmpfs, nothing of the host's). Written into buf. */
static const char *mount_source(const char *name, const char *value, char *buf, size_t size)
{
    if (strcmp(name, "volume") == 0) {
        size_t n = strcspn(value, ":");
        snprintf(buf, size, "%.*s", (int)n, value);
        return buf[0] == '/' ? buf : NULL;
    }
    for (const char *p = value; *p;) {
        size_t n = strcspn(p, ",");
        if ((strncmp(p, "source=", 7) == 0 || strncmp(p, "src=", 4) == 0)) {
            const char *v = strchr(p, '=') + 1;
            snprintf(buf, size, "%.*s", (int)(n - (size_t)(v - p)), v);
            return buf[0] == '/' ? buf : NULL;
        }
        p += n + (p[n] == ',');
    }
    return NULL;
}

/* Why this option with this value would undo the isolation, or NULL when it does not. */
static const char *undoes_isolation(const char *name, const char *value, const nvb_config *cfg)
{
    if (strcmp(name, "privileged") == 0)
        return is_false(value) ? NULL : "a privileged container gets every device of the host, every GPU included";
    if (strcmp(name, "cap-add") == 0)
        return "nvbind's containers run without the capabilities that reach other devices and the host's network "
               "(CAP_SYS_ADMIN, CAP_MKNOD, CAP_NET_RAW...)";
    if (strcmp(name, "gpus") == 0)
        return "the engine's own GPU request bypasses nvbind's selection and claims (use --gpu)";
    if (strcmp(name, "device-cgroup-rule") == 0)
        return "a device cgroup rule can open GPU nodes nvbind did not hand out";
    if (strcmp(name, "runtime") == 0 || strcmp(name, "hooks-dir") == 0)
        return "another OCI runtime or hook set can add devices after nvbind's edits";
    if (strcmp(name, "security-opt") == 0 && value && strncmp(value, "no-new-privileges", 17) != 0)
        return "it loosens the confinement (seccomp, AppArmor, SELinux, masked paths) nvbind's containers keep";
    if (strcmp(name, "device") == 0 && value) {
        char host[PATH_MAX];
        snprintf(host, sizeof host, "%.*s", (int)strcspn(value, ":"), value);
        if (strchr(value, '=') && strchr(value, '/'))
            return "CDI devices come from nvbind's --gpu, which claims them";
        if (host_path_undoes_isolation(host, cfg))
            return "GPU device nodes come from nvbind's --gpu, which claims them";
    }
    if ((strcmp(name, "volume") == 0 || strcmp(name, "mount") == 0) && value) {
        char src[PATH_MAX];
        const char *s = mount_source(name, value, src, sizeof src);
        if (s && host_path_undoes_isolation(s, cfg))
            return "it would put the host's GPU device nodes (or nvbind's claims) in the container";
    }
    if (strcmp(name, "annotation") == 0 && value &&
        (strncmp(value, "nvbind.", 7) == 0 || strncmp(value, "cdi.k8s.io/", 11) == 0))
        return "nvbind-runtime would read it as a GPU request";
    return NULL;
}

static bool allowed(const nvb_config *cfg, const char *name)
{
    const nvb_strv *allow = &cfg->security.allow_run_options;
    for (size_t i = 0; i < allow->n; i++)
        if (strncmp(allow->v[i], "--", 2) == 0 && strcmp(allow->v[i] + 2, name) == 0)
            return true;
    return false;
}

int nvb_engine_opts_check(const nvb_strv *args, const nvb_config *cfg, nvb_err *err)
{
    for (size_t i = 0; args && i < args->n; i++) {
        size_t len;
        const char *value = split_token(args->v[i], &len);
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(len < sizeof name ? len : sizeof name - 1), args->v[i] + 2);
        const char *why = undoes_isolation(name, value, cfg);
        if (why && !allowed(cfg, name))
            return nvb_errf(err, NVB_EXIT_USAGE, "--%s%s%s: refused, %s (allow it in [security] allow_run_options)",
                            name, value ? " " : "", value ? value : "", why);
    }
    return 0;
}

/* ---- runc and crun -------------------------------------------------------------------------- */

/* --volume SRC:DST[:ro|rw] as a bind mount edit; SRC must be a host path. */
static int oci_volume(const char *value, const char *engine, nvb_edits *mounts, nvb_err *err)
{
    _cleanup_free_ char *copy = strdup(value);
    if (!copy)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    char *dst = strchr(copy, ':');
    char *opts = dst ? strchr(dst + 1, ':') : NULL;
    if (dst)
        *dst++ = '\0';
    if (opts)
        *opts++ = '\0';
    const char *why = NULL;
    if (!dst || copy[0] != '/')
        return nvb_errf(err, NVB_EXIT_USAGE, "--volume %s: with %s, give HOST-PATH:CONTAINER-PATH[:ro]", value, engine);
    if (!nvb_container_path_ok(dst, false, &why))
        return nvb_errf(err, NVB_EXIT_USAGE, "--volume %s: container path %s: %s", value, dst, why);
    bool writable = true;
    for (char *o = opts ? strtok(opts, ",") : NULL; o; o = strtok(NULL, ",")) {
        if (strcmp(o, "ro") == 0)
            writable = false;
        else if (strcmp(o, "rw") != 0)
            return nvb_errf(err, NVB_EXIT_USAGE, "--volume %s: option '%s': with %s only ro and rw", value, o, engine);
    }
    if (access(copy, F_OK) < 0)
        return nvb_errf_errno(err, NVB_EXIT_USAGE, errno, "--volume %s: %s", value, copy);
    return nvb_edits_add_mount(mounts, copy, dst, writable) < 0 ? nvb_errf(err, NVB_EXIT_IO, "out of memory") : 0;
}

/* --user UID[:GID], numbers only: a root filesystem's /etc/passwd is not consulted. */
static int oci_user(const char *value, const char *engine, nvb_engine_oci *out, nvb_err *err)
{
    char *end;
    errno = 0;
    unsigned long uid = strtoul(value, &end, 10), gid = 0;
    bool ok = value[0] >= '0' && value[0] <= '9' && !errno && uid <= UINT_MAX - 1;
    if (ok && *end == ':') {
        const char *g = end + 1;
        gid = strtoul(g, &end, 10);
        ok = g[0] >= '0' && g[0] <= '9' && !errno && gid <= UINT_MAX - 1;
    }
    if (!ok || *end)
        return nvb_errf(err, NVB_EXIT_USAGE, "--user %s: with %s, give a numeric UID[:GID]", value, engine);
    out->has_user = true;
    out->uid = (unsigned)uid;
    out->gid = (unsigned)gid;
    return 0;
}

static int oci_one(const nvb_engine_opt *opt, const char *value, const char *engine, nvb_engine_oci *out,
                   nvb_edits *mounts, nvb_err *err)
{
    const char *why = NULL;
    switch (opt->oci) {
    case NVB_EOPT_OCI_IGNORE: return 0;
    case NVB_EOPT_OCI_TTY: out->terminal = !is_false(value); return 0;
    case NVB_EOPT_OCI_VOLUME: return oci_volume(value, engine, mounts, err);
    case NVB_EOPT_OCI_USER: return oci_user(value, engine, out, err);
    case NVB_EOPT_OCI_WORKDIR:
        if (!nvb_container_path_ok(value, true, &why))
            return nvb_errf(err, NVB_EXIT_USAGE, "--workdir %s: %s", value, why);
        out->cwd = value;
        return 0;
    case NVB_EOPT_OCI_HOSTNAME: out->hostname = value; return 0;
    case NVB_EOPT_OCI_NAME: out->name = value; return 0;
    case NVB_EOPT_OCI_ENTRYPOINT:
        return nvb_strv_push(&out->entrypoint, value) < 0 ? nvb_errf(err, NVB_EXIT_IO, "out of memory") : 0;
    case NVB_EOPT_OCI_NONE: break;
    }
    return nvb_errf(err, NVB_EXIT_USAGE,
                    "--%s: not an option of %s (with runc and crun: --volume, --user, --workdir, --tty, --interactive, "
                    "--hostname, --name, --entrypoint, --rm)",
                    opt->name, engine);
}

int nvb_engine_opts_oci(const nvb_strv *args, const char *engine, nvb_engine_oci *out, nvb_edits *mounts,
                        nvb_err *err)
{
    for (size_t i = 0; args && i < args->n; i++) {
        size_t len;
        const char *value = split_token(args->v[i], &len);
        const nvb_engine_opt *opt = nvb_engine_opt_long(args->v[i] + 2, len);
        if (!opt)
            return nvb_errf(err, NVB_EXIT_USAGE, "%s: not an option of %s", args->v[i], engine);
        if (opt->takes_value && !value)
            return nvb_errf(err, NVB_EXIT_USAGE, "--%s needs a value", opt->name);
        if (oci_one(opt, value, engine, out, mounts, err) < 0)
            return -1;
    }
    return 0;
}

void nvb_engine_oci_clear(nvb_engine_oci *o)
{
    nvb_strv_free(&o->entrypoint);
    *o = (nvb_engine_oci){0};
}
