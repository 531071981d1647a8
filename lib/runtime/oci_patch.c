#include "runtime/oci_patch.h"
#include "util/cleanup.h"
#include "util/fileio.h"
#include "util/json_text.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const hook_points[] = {"prestart", "createRuntime", "createContainer", "startContainer",
                                          "poststart", "poststop", NULL};

static bool known_hook_point(const char *name)
{
    for (const char *const *p = hook_points; *p; p++)
        if (strcmp(*p, name) == 0)
            return true;
    return false;
}

/* ---- type checks, all done before the first change ----------------------------------------- */

static int want_object_or_absent(const json_t *v, const char *name, const char *field, nvb_err *err)
{
    if (v && !json_is_object(v))
        return nvb_errf(err, NVB_EXIT_INPUT, "%s: %s: expected an object", name, field);
    return 0;
}

/* An array (or absent) whose items are all of the wanted type. */
static int want_array_of(const json_t *v, json_type type, const char *name, const char *field, nvb_err *err)
{
    if (!v)
        return 0;
    if (!json_is_array(v))
        return nvb_errf(err, NVB_EXIT_INPUT, "%s: %s: expected an array", name, field);
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item)
    {
        if (json_typeof(item) != type)
            return nvb_errf(err, NVB_EXIT_INPUT, "%s: %s[%zu]: expected %s", name, field, i,
                            type == JSON_STRING ? "a string" : "an object");
    }
    return 0;
}

static int check_types(const json_t *config, const nvb_edits *e, const char *name, nvb_err *err)
{
    if (!json_is_object(config))
        return nvb_errf(err, NVB_EXIT_INPUT, "%s: expected a JSON object", name);
    const json_t *process = json_object_get(config, "process");
    const json_t *linux_ = json_object_get(config, "linux");
    const json_t *res = json_is_object(linux_) ? json_object_get(linux_, "resources") : NULL;
    const json_t *hooks = json_object_get(config, "hooks");
    if (want_object_or_absent(process, name, "process", err) < 0 ||
        want_array_of(json_object_get(process, "env"), JSON_STRING, name, "process.env", err) < 0 ||
        want_object_or_absent(linux_, name, "linux", err) < 0 ||
        want_array_of(json_object_get(linux_, "devices"), JSON_OBJECT, name, "linux.devices", err) < 0 ||
        want_object_or_absent(res, name, "linux.resources", err) < 0 ||
        want_array_of(json_object_get(res, "devices"), JSON_OBJECT, name, "linux.resources.devices", err) < 0 ||
        want_array_of(json_object_get(config, "mounts"), JSON_OBJECT, name, "mounts", err) < 0 ||
        want_object_or_absent(hooks, name, "hooks", err) < 0)
        return -1;
    for (size_t i = 0; i < e->n_hooks; i++) {
        const char *point = e->hooks[i].hook_name;
        if (!known_hook_point(point))
            return nvb_errf(err, NVB_EXIT_INPUT, "%s: hook point '%s' is not an OCI hook (createContainer, ...)", name,
                            point);
        char field[64];
        snprintf(field, sizeof field, "hooks.%s", point);
        if (want_array_of(json_object_get(hooks, point), JSON_OBJECT, name, field, err) < 0)
            return -1;
    }
    return 0;
}

/* ---- applying ------------------------------------------------------------------------------ */

/* parent[key] as an object/array, created when absent (types were checked before). */
static json_t *child(json_t *parent, const char *key, bool array)
{
    json_t *v = json_object_get(parent, key);
    if (v)
        return v;
    v = array ? json_array() : json_object();
    if (!v || json_object_set_new(parent, key, v) < 0)
        return NULL;
    return v;
}

static int apply_env(json_t *config, const nvb_strv *env)
{
    if (!env->n)
        return 0;
    json_t *process = child(config, "process", false);
    json_t *arr = process ? child(process, "env", true) : NULL;
    if (!arr)
        return -1;
    for (size_t i = 0; i < env->n; i++) {
        const char *kv = env->v[i];
        const char *eq = strchr(kv, '=');
        if (!eq)
            continue;
        size_t kl = (size_t)(eq - kv) + 1; /* "KEY=" */
        size_t j;
        json_t *item;
        bool replaced = false;
        json_array_foreach(arr, j, item)
        {
            const char *s = json_string_value(item);
            if (s && strncmp(s, kv, kl) == 0) {
                if (json_array_set_new(arr, j, json_string(kv)) < 0)
                    return -1;
                replaced = true;
                break;
            }
        }
        if (!replaced && json_array_append_new(arr, json_string(kv)) < 0)
            return -1;
    }
    return 0;
}

static bool has_string_field(const json_t *arr, const char *field, const char *value)
{
    size_t i;
    json_t *item;
    json_array_foreach(arr, i, item)
    {
        const char *s = json_string_value(json_object_get(item, field));
        if (s && strcmp(s, value) == 0)
            return true;
    }
    return false;
}

static bool has_allow_rule(const json_t *rules, char type, unsigned maj, unsigned min)
{
    size_t i;
    json_t *r;
    json_array_foreach(rules, i, r)
    {
        const char *t = json_string_value(json_object_get(r, "type"));
        const char *access = json_string_value(json_object_get(r, "access"));
        if (json_is_true(json_object_get(r, "allow")) && t && t[0] == type && t[1] == '\0' &&
            json_integer_value(json_object_get(r, "major")) == (json_int_t)maj &&
            json_integer_value(json_object_get(r, "minor")) == (json_int_t)min && access && strcmp(access, "rwm") == 0)
            return true;
    }
    return false;
}

static int apply_nodes(json_t *config, const nvb_devnode_list *nodes)
{
    if (!nodes->n)
        return 0;
    json_t *linux_ = child(config, "linux", false);
    json_t *devices = linux_ ? child(linux_, "devices", true) : NULL;
    json_t *res = linux_ ? child(linux_, "resources", false) : NULL;
    json_t *rules = res ? child(res, "devices", true) : NULL;
    if (!devices || !rules)
        return -1;
    for (size_t i = 0; i < nodes->n; i++) {
        const nvb_devnode *n = &nodes->v[i];
        char type[2] = {n->type == 'b' ? 'b' : 'c', '\0'};
        if (!has_string_field(devices, "path", n->path)) {
            json_t *d = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I}", "path", n->path, "type", type, "major",
                                  (json_int_t)n->major, "minor", (json_int_t)n->minor, "fileMode",
                                  (json_int_t)(n->mode & 07777), "uid", (json_int_t)n->uid, "gid", (json_int_t)n->gid);
            if (!d || json_array_append_new(devices, d) < 0)
                return -1;
        }
        if (!has_allow_rule(rules, type[0], n->major, n->minor)) {
            json_t *r = json_pack("{s:b, s:s, s:I, s:I, s:s}", "allow", 1, "type", type, "major", (json_int_t)n->major,
                                  "minor", (json_int_t)n->minor, "access", "rwm");
            if (!r || json_array_append_new(rules, r) < 0)
                return -1;
        }
    }
    return 0;
}

/* The destinations the config's mounts hold, sorted: each edit's "is something mounted
 * there already?" is then a binary search, not a walk of the array (a bundle edited again
 * holds every driver file: 69 edits against 76 mounts were 5,000 lookups). */
typedef struct {
    const char **v;
    size_t n;
} dest_index;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static size_t dest_lower_bound(const dest_index *d, const char *key, bool *found)
{
    size_t lo = 0, hi = d->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(d->v[mid], key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < d->n && strcmp(d->v[lo], key) == 0;
    return lo;
}

static json_t *options_array(const char *const *opts)
{
    json_t *a = json_array();
    for (const char *const *p = opts; a && *p; p++)
        if (json_array_append_new(a, json_string_nocheck(*p)) < 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

static int apply_mounts(json_t *config, const nvb_edits *e)
{
    if (!e->n_mounts)
        return 0;
    json_t *mounts = child(config, "mounts", true);
    if (!mounts)
        return -1;
    _cleanup_free_ const char **slots = malloc((json_array_size(mounts) + e->n_mounts) * sizeof *slots);
    if (!slots)
        return -1;
    dest_index dests = {.v = slots};
    size_t j;
    json_t *item;
    json_array_foreach(mounts, j, item)
    {
        const char *d = json_string_value(json_object_get(item, "destination"));
        if (d)
            dests.v[dests.n++] = d;
    }
    qsort(dests.v, dests.n, sizeof *dests.v, cmp_str);
    /* Every mount of one kind carries the same options: one array of each kind, shared by
     * reference, rather than four strings and an array built for each of a hundred mounts. */
    json_t *opts[2] = {options_array(nvb_mount_options_ro), options_array(nvb_mount_options_ipc)};
    int r = opts[0] && opts[1] ? 0 : -1;
    for (size_t i = 0; r == 0 && i < e->n_mounts; i++) {
        const nvb_mount *m = &e->mounts[i];
        bool found;
        size_t at = dest_lower_bound(&dests, m->container_path, &found);
        if (found)
            continue; /* the config (or an earlier patch) already mounts something there */
        memmove(&dests.v[at + 1], &dests.v[at], (dests.n - at) * sizeof *dests.v);
        dests.v[at] = m->container_path;
        dests.n++;
        json_t *mt = json_object();
        if (!mt || json_array_append_new(mounts, mt) < 0 ||
            json_object_set_new_nocheck(mt, "destination", json_string(m->container_path)) < 0 ||
            json_object_set_new_nocheck(mt, "type", json_string_nocheck("bind")) < 0 ||
            json_object_set_new_nocheck(mt, "source", json_string(m->host_path)) < 0 ||
            json_object_set_nocheck(mt, "options", opts[m->writable ? 1 : 0]) < 0)
            r = -1;
    }
    json_decref(opts[0]);
    json_decref(opts[1]);
    return r;
}

static bool same_hook(const json_t *h, const nvb_hook *k)
{
    const char *path = json_string_value(json_object_get(h, "path"));
    const json_t *args = json_object_get(h, "args");
    if (!path || strcmp(path, k->path) != 0)
        return false;
    if (!args)
        return k->args.n == 0;
    if (!json_is_array(args) || json_array_size(args) != k->args.n)
        return false;
    for (size_t i = 0; i < k->args.n; i++) {
        const char *a = json_string_value(json_array_get(args, i));
        if (!a || strcmp(a, k->args.v[i]) != 0)
            return false;
    }
    return true;
}

static int apply_hooks(json_t *config, const nvb_edits *e)
{
    if (!e->n_hooks)
        return 0;
    json_t *hooks = child(config, "hooks", false);
    if (!hooks)
        return -1;
    for (size_t i = 0; i < e->n_hooks; i++) {
        const nvb_hook *k = &e->hooks[i];
        json_t *arr = child(hooks, k->hook_name, true);
        if (!arr)
            return -1;
        size_t j;
        json_t *h;
        bool present = false;
        json_array_foreach(arr, j, h) present |= same_hook(h, k);
        if (present)
            continue;
        json_t *args = json_array();
        for (size_t a = 0; args && a < k->args.n; a++)
            if (json_array_append_new(args, json_string(k->args.v[a])) < 0) {
                json_decref(args);
                return -1;
            }
        json_t *entry = json_pack("{s:s, s:o}", "path", k->path, "args", args);
        if (!entry || json_array_append_new(arr, entry) < 0)
            return -1;
    }
    return 0;
}

int nvb_oci_config_apply_edits(json_t *config, const nvb_edits *e, const char *name, nvb_err *err)
{
    if (check_types(config, e, name, err) < 0)
        return -1;
    if (apply_env(config, &e->env) < 0 || apply_nodes(config, &e->nodes) < 0 || apply_mounts(config, e) < 0 ||
        apply_hooks(config, e) < 0)
        return nvb_errf(err, NVB_EXIT_IO, "%s: out of memory while applying the edits", name);
    return 0;
}

json_t *nvb_oci_config_parse(const char *text, size_t len, const char *name, nvb_err *err)
{
    if (len > NVB_OCI_CONFIG_MAX_SIZE) {
        nvb_errf(err, NVB_EXIT_INPUT, "%s: larger than %u bytes", name, NVB_OCI_CONFIG_MAX_SIZE);
        return NULL;
    }
    json_error_t je;
    json_t *config = json_loadb(text, len, 0, &je);
    if (!config) {
        nvb_errf(err, NVB_EXIT_INPUT, "%s:%d:%d: %s", name, je.line, je.column, je.text);
        return NULL;
    }
    if (!json_is_object(config)) {
        json_decref(config);
        nvb_errf(err, NVB_EXIT_INPUT, "%s: expected a JSON object", name);
        return NULL;
    }
    return config;
}

char *nvb_oci_config_dump(const json_t *config)
{
    return nvb_json_dump_line(config, JSON_COMPACT | JSON_PRESERVE_ORDER);
}

int nvb_bundle_write_config(const char *path, const char *text, mode_t mode, nvb_err *err)
{
    char tmp[4096];
    const char *slash = strrchr(path, '/');
    int n = slash ? snprintf(tmp, sizeof tmp, "%.*s/.%s.nvbind-%ld", (int)(slash - path), path, slash + 1, (long)getpid())
                  : snprintf(tmp, sizeof tmp, ".%s.nvbind-%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof tmp)
        return nvb_errf(err, NVB_EXIT_IO, "%s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return nvb_errf_errno(err, NVB_EXIT_IO, errno, "cannot write %s", path);
    if (nvb_write_all(fd, text, strlen(text)) < 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return nvb_errf_errno(err, NVB_EXIT_IO, e, "cannot write %s", path);
    }
    if (fchmod(fd, mode) < 0 || close(fd) < 0 || rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        return nvb_errf_errno(err, NVB_EXIT_IO, e, "cannot write %s", path);
    }
    return 0;
}

int nvb_bundle_apply_edits(const char *bundle_dir, const nvb_edits *e, nvb_err *err)
{
    _cleanup_free_ char *path = nvb_path_join(bundle_dir, "config.json");
    if (!path)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    struct stat st;
    if (stat(path, &st) < 0)
        return nvb_errf_errno(err, errno == ENOENT ? NVB_EXIT_INPUT : NVB_EXIT_IO, errno, "%s", path);
    size_t len = 0;
    _cleanup_free_ char *text = nvb_read_file(path, NVB_OCI_CONFIG_MAX_SIZE + 1, &len);
    if (!text)
        return nvb_errf_errno(err, NVB_EXIT_IO, errno, "reading %s", path);
    json_t *config = nvb_oci_config_parse(text, len, path, err);
    if (!config)
        return -1;
    int r = nvb_oci_config_apply_edits(config, e, path, err);
    _cleanup_free_ char *out = r == 0 ? nvb_oci_config_dump(config) : NULL;
    json_decref(config);
    if (r < 0)
        return -1;
    if (!out)
        return nvb_errf(err, NVB_EXIT_IO, "%s: out of memory", path);
    return nvb_bundle_write_config(path, out, st.st_mode & 07777, err);
}
