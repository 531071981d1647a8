#include "runtime/engine.h"
#include "util/cleanup.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const engine_names[] = {
    [NVB_ENGINE_PODMAN] = "podman", [NVB_ENGINE_DOCKER] = "docker", [NVB_ENGINE_BOLT] = "bolt",
    [NVB_ENGINE_RUNC] = "runc",     [NVB_ENGINE_CRUN] = "crun",
};

int nvb_engine_parse(const char *name, enum nvb_engine *out)
{
    for (size_t i = 0; i < sizeof engine_names / sizeof engine_names[0]; i++)
        if (strcmp(name, engine_names[i]) == 0) {
            *out = (enum nvb_engine)i;
            return 0;
        }
    return -1;
}

const char *nvb_engine_name(enum nvb_engine e)
{
    return (unsigned)e < sizeof engine_names / sizeof engine_names[0] ? engine_names[e] : "?";
}

bool nvb_engine_is_oci(enum nvb_engine e)
{
    return e == NVB_ENGINE_RUNC || e == NVB_ENGINE_CRUN;
}

static int push2(nvb_strv *argv, const char *a, const char *b)
{
    return nvb_strv_push(argv, a) < 0 || nvb_strv_push(argv, b) < 0 ? -1 : 0;
}

static int push_all(nvb_strv *argv, const nvb_strv *v)
{
    for (size_t i = 0; v && i < v->n; i++)
        if (nvb_strv_push(argv, v->v[i]) < 0)
            return -1;
    return 0;
}

/* Edits' env, then the container env, one entry per key (the later value wins). */
static int merged_env(const nvb_engine_cmd *c, bool with_edits_env, nvb_edits *out)
{
    if (with_edits_env && c->edits && nvb_edits_merge(out, &(nvb_edits){.env = c->edits->env}) < 0)
        return -1;
    return c->env ? nvb_edits_merge(out, &(nvb_edits){.env = *c->env}) : 0;
}

/* --volume takes HOST:CONTAINER[:OPTIONS]: a ':' or ',' inside a path cannot be written. */
static int volume_flag(nvb_strv *argv, const nvb_mount *m, nvb_err *err)
{
    if (strpbrk(m->host_path, ":,") || strpbrk(m->container_path, ":,"))
        return nvb_errf(err, NVB_EXIT_USAGE, "cannot pass %s to the engine as a --volume: its path holds ':' or ','",
                        strpbrk(m->host_path, ":,") ? m->host_path : m->container_path);
    return nvb_strv_push(argv, "--volume") < 0 ||
                   nvb_strv_pushf(argv, "%s:%s%s", m->host_path, m->container_path, m->writable ? "" : ":ro") < 0
               ? nvb_errf(err, NVB_EXIT_IO, "out of memory")
               : 0;
}

static int device_flag(nvb_strv *argv, const nvb_devnode *n, nvb_err *err)
{
    if (strchr(n->host_path, ':') || strchr(n->path, ':'))
        return nvb_errf(err, NVB_EXIT_USAGE, "cannot pass device %s to the engine as a --device: its path holds ':'",
                        n->host_path);
    int r = nvb_strv_push(argv, "--device");
    if (r == 0)
        r = strcmp(n->host_path, n->path) == 0 ? nvb_strv_push(argv, n->path)
                                               : nvb_strv_pushf(argv, "%s:%s", n->host_path, n->path);
    return r < 0 ? nvb_errf(err, NVB_EXIT_IO, "out of memory") : 0;
}

static int explicit_flags(nvb_strv *argv, const nvb_edits *e, nvb_err *err)
{
    for (size_t i = 0; e && i < e->nodes.n; i++)
        if (device_flag(argv, &e->nodes.v[i], err) < 0)
            return -1;
    for (size_t i = 0; e && i < e->n_mounts; i++)
        if (volume_flag(argv, &e->mounts[i], err) < 0)
            return -1;
    return 0;
}

static int env_flags(nvb_strv *argv, const nvb_engine_cmd *c, bool with_edits_env, nvb_err *err)
{
    nvb_edits env = {0};
    int r = merged_env(c, with_edits_env, &env);
    for (size_t i = 0; r == 0 && i < env.env.n; i++)
        r = push2(argv, "--env", env.env.v[i]);
    nvb_edits_clear(&env);
    return r < 0 ? nvb_errf(err, NVB_EXIT_IO, "out of memory") : 0;
}

int nvb_engine_check_image(const char *image, nvb_err *err)
{
    if (!image || !*image)
        return nvb_errf(err, NVB_EXIT_USAGE, "no image given");
    /* The engine would read it as one of its own options (--privileged=true, -v/:/host):
     * a container with more power than the command line shows. */
    if (image[0] == '-')
        return nvb_errf(err, NVB_EXIT_USAGE,
                        "image '%s' starts with '-': the engine would take it for an option; give the image's name",
                        image);
    return 0;
}

/* end_of_options: podman and docker take "--" before IMAGE (checked with podman 4.3 and the
 * docker 28 client); Bolt's parser is not known to, so it gets the image alone. */
static int image_and_cmd(nvb_strv *argv, const nvb_engine_cmd *c, bool end_of_options, nvb_err *err)
{
    if (nvb_engine_check_image(c->image, err) < 0)
        return -1;
    if ((end_of_options && nvb_strv_push(argv, "--") < 0) || nvb_strv_push(argv, c->image) < 0)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    for (size_t i = 0; i < c->n_cmd; i++)
        if (nvb_strv_push(argv, c->cmd[i]) < 0)
            return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    return 0;
}

static int run_prefix(nvb_strv *argv, const nvb_engine_cmd *c, nvb_err *err)
{
    if (nvb_strv_push(argv, c->exe) < 0 || push2(argv, "run", "--rm") < 0 || push_all(argv, c->extra_args) < 0)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    return 0;
}

int nvb_engine_argv_cdi(const nvb_engine_cmd *c, nvb_strv *argv, nvb_err *err)
{
    if (run_prefix(argv, c, err) < 0)
        return -1;
    for (size_t i = 0; c->cdi_devices && i < c->cdi_devices->n; i++)
        if (push2(argv, "--device", c->cdi_devices->v[i]) < 0)
            return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    if (explicit_flags(argv, c->edits, err) < 0 || env_flags(argv, c, true, err) < 0)
        return -1;
    return image_and_cmd(argv, c, true, err);
}

int nvb_engine_argv_legacy(const nvb_engine_cmd *c, nvb_strv *argv, nvb_err *err)
{
    if (run_prefix(argv, c, err) < 0 || explicit_flags(argv, c->edits, err) < 0 || env_flags(argv, c, true, err) < 0)
        return -1;
    return image_and_cmd(argv, c, true, err);
}

int nvb_engine_argv_bolt(const nvb_engine_cmd *c, nvb_strv *argv, nvb_err *err)
{
    if (nvb_strv_push(argv, c->exe) < 0 || push2(argv, "surge", "run") < 0)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    for (size_t i = 0; c->cdi_devices && i < c->cdi_devices->n; i++)
        if (push2(argv, "--cdi-device", c->cdi_devices->v[i]) < 0)
            return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    if (nvb_strv_push(argv, "--capsule-isolation") < 0 ||
        nvb_strv_pushf(argv, "gpu-%s", nvb_isolation_name(c->isolation)) < 0 ||
        push2(argv, "--runtime-optimization", "gpu-passthrough") < 0 || push_all(argv, c->extra_args) < 0)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    /* The bolt spec carries the device edits; only the environment goes on the command line. */
    if (env_flags(argv, c, false, err) < 0)
        return -1;
    return image_and_cmd(argv, c, false, err);
}

/* ---- docker's CDI support ------------------------------------------------------------------ */

const char *const nvb_docker_version_format = "{{json .}}";
const char *const nvb_docker_info_format = "{{json .}}";

/* "20.10.24+dfsg1", "v28.2.2" -> 20, 28; 0 when it is no version. */
static int version_major(const char *v)
{
    int major = 0;
    if (!v)
        return 0;
    while (*v == ' ' || *v == 'v')
        v++;
    if (sscanf(v, "%d", &major) != 1 || major <= 0)
        return 0;
    return major;
}

int nvb_docker_majors(const char *version_json, int *client, int *server)
{
    json_error_t je;
    json_t *doc = version_json ? json_loads(version_json, JSON_DISABLE_EOF_CHECK, &je) : NULL;
    *client = version_major(json_string_value(json_object_get(json_object_get(doc, "Client"), "Version")));
    *server = version_major(json_string_value(json_object_get(json_object_get(doc, "Server"), "Version")));
    json_decref(doc);
    return *client > 0 && *server > 0 ? 0 : -1;
}

static bool dir_listed(const json_t *dirs, const char *dir)
{
    size_t i;
    json_t *d;
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/')
        dl--;
    json_array_foreach(dirs, i, d)
    {
        const char *s = json_string_value(d);
        if (!s)
            continue;
        size_t sl = strlen(s);
        while (sl > 1 && s[sl - 1] == '/')
            sl--;
        if (sl == dl && strncmp(s, dir, dl) == 0)
            return true;
        /* /var/run is /run on every current distribution. */
        if (strncmp(dir, "/var/run/", 9) == 0 && sl + 4 == dl && strncmp(s, "/run/", 5) == 0 &&
            strncmp(s + 4, dir + 8, sl - 4) == 0)
            return true;
        if (strncmp(s, "/var/run/", 9) == 0 && dl + 4 == sl && strncmp(dir, "/run/", 5) == 0 &&
            strncmp(dir + 4, s + 8, dl - 4) == 0)
            return true;
    }
    return false;
}

int nvb_docker_cdi_decide(int client, int server, const char *info_json, const char *spec_dir, const char *daemon_json,
                          char *why, size_t len)
{
    int major = server;
    if (client <= 0 || server <= 0) {
        snprintf(why, len, "docker did not report its versions: using explicit --device/--volume flags");
        return 0;
    }
    if (server < 25) {
        snprintf(why, len, "docker %d predates CDI support (25): using explicit --device/--volume flags", server);
        return 0;
    }
    /* Clients before 25 reject --device NAME that is not an absolute path, whatever the daemon. */
    if (client < 25) {
        snprintf(why, len, "the docker client %d predates CDI device names (25): using explicit --device/--volume "
                           "flags", client);
        return 0;
    }
    json_error_t je;
    json_t *info = info_json ? json_loads(info_json, JSON_DISABLE_EOF_CHECK, &je) : NULL;
    /* Absent (25, 26) and null alike: the daemon did not say. */
    json_t *dirs = json_incref(json_object_get(info, "CDISpecDirs"));
    json_decref(info);
    int r;
    if (json_is_array(dirs) && json_array_size(dirs) > 0) {
        r = dir_listed(dirs, spec_dir);
        if (r)
            snprintf(why, len, "docker %d with CDI on: CDI device names", major);
        else
            snprintf(why, len, "docker's CDI spec folders do not include %s: using explicit --device/--volume flags",
                     spec_dir);
    } else if (json_is_array(dirs)) {
        r = 0;
        snprintf(why, len, "CDI is off in docker %d (daemon.json \"features\": {\"cdi\": true} turns it on): using "
                           "explicit --device/--volume flags", major);
    } else {
        /* 25 and 26 do not report CDISpecDirs: CDI is on when daemon.json says so. */
        json_t *conf = daemon_json ? json_loads(daemon_json, 0, &je) : NULL;
        bool on = json_is_true(json_object_get(json_object_get(conf, "features"), "cdi"));
        json_decref(conf);
        json_t *defaults = json_pack("[s, s]", "/etc/cdi", "/var/run/cdi");
        r = on && dir_listed(defaults, spec_dir);
        json_decref(defaults);
        if (r)
            snprintf(why, len, "docker %d with \"features\": {\"cdi\": true}: CDI device names", major);
        else if (on)
            snprintf(why, len, "docker %d reads CDI specs from /etc/cdi and /var/run/cdi only, not %s: using explicit "
                               "--device/--volume flags", major, spec_dir);
        else
            snprintf(why, len, "CDI is off in docker %d (daemon.json \"features\": {\"cdi\": true} turns it on): "
                               "using explicit --device/--volume flags", major);
    }
    json_decref(dirs);
    return r;
}

/* ---- nvbind's shim among docker's runtimes ------------------------------------------------- */

/* A path whose last component is nvbind-runtime, or a wrapper named after it as
 * docs/runtime.md shows one ("nvbind-runtime-docker", setting NVBIND_CONFIG first). */
static bool is_shim_path(const char *path)
{
    static const char shim[] = "nvbind-runtime";
    if (!path)
        return false;
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    return strncmp(base, shim, sizeof shim - 1) == 0 && (base[sizeof shim - 1] == '\0' || base[sizeof shim - 1] == '-');
}

int nvb_docker_shim_runtime(const char *info_json, char *name, size_t len)
{
    json_error_t je;
    json_t *info = info_json ? json_loads(info_json, JSON_DISABLE_EOF_CHECK, &je) : NULL;
    const char *key;
    json_t *rt;
    int found = 0;
    /* The name docker's own `--runtime` takes: should several point at the shim, the shortest,
     * then the first in byte order, so the choice does not depend on the daemon's order. */
    json_object_foreach(json_object_get(info, "Runtimes"), key, rt)
    {
        if (!is_shim_path(json_string_value(json_object_get(rt, "path"))) || strlen(key) >= len || !*key)
            continue;
        size_t kl = strlen(key), nl = found ? strlen(name) : 0;
        if (!found || kl < nl || (kl == nl && strcmp(key, name) < 0))
            snprintf(name, len, "%s", key);
        found = 1;
    }
    json_decref(info);
    return found;
}
