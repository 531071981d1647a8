/* Validation of a CDI spec: every rule the engines enforce when they load a spec, plus the
 * ones the specification states (absolute container paths, positive hook timeouts), each
 * problem reported on one line that starts with the path of the field. */
#include "cdi/cdi.h"
#include "cdi/internal.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LISTED 200              /* problem lines kept; the count goes on */
#define ANNOTATIONS_MAX (256 * 1024) /* total size of one annotations map, as engines check */

typedef struct vctx {
    nvb_strv *out;
    int count;
    bool oom;
    char path[1024];
    size_t plen;
    int declared; /* version index of cdiVersion, -1 when unknown or missing */
} vctx;

/* ---- paths and problems ---- */

static size_t push(vctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static size_t push(vctx *c, const char *fmt, ...)
{
    size_t old = c->plen;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(c->path + c->plen, sizeof c->path - c->plen, fmt, ap);
    va_end(ap);
    if (n > 0)
        c->plen += (size_t)n < sizeof c->path - c->plen ? (size_t)n : sizeof c->path - c->plen - 1;
    return old;
}

static void pop(vctx *c, size_t old)
{
    c->plen = old;
    c->path[old] = '\0';
}

static size_t push_key(vctx *c, const char *key)
{
    return c->plen ? push(c, ".%s", key) : push(c, "%s", key);
}

static void problem(vctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(vctx *c, const char *fmt, ...)
{
    c->count++;
    if (!c->out || c->count > MAX_LISTED)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (nvb_strv_pushf(c->out, "%s: %s", c->plen ? c->path : "spec", msg) < 0)
        c->oom = true;
}

/* ---- typed access ---- */

static const char *type_word(json_type t)
{
    switch (t) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "a value";
    }
}

static bool type_is(const json_t *v, json_type t)
{
    if (t == JSON_TRUE || t == JSON_FALSE)
        return json_is_boolean(v);
    return json_typeof(v) == t;
}

/* obj[key] when it has type t. Absent or null: NULL, and a problem when required. Any other
 * type: NULL and a problem. The path is extended with key during the checks. */
static const json_t *field(vctx *c, const json_t *obj, const char *key, json_type t, bool required)
{
    const json_t *v = json_object_get(obj, key);
    size_t old = push_key(c, key);
    if (!v || json_is_null(v)) {
        if (required)
            problem(c, "required field is missing");
        v = NULL;
    } else if (!type_is(v, t)) {
        problem(c, "expected %s, got %s", type_word(t), cdi_json_type_name(v));
        v = NULL;
    }
    pop(c, old);
    return v;
}

/* Report the fields a node of this kind does not have. */
static void unknown_fields(vctx *c, const json_t *obj, cdi_node kind)
{
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        if (cdi_child_node(kind, key) != CDI_N_ANY)
            continue;
        if (*key && strspn(key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == strlen(key)) {
            size_t old = push_key(c, key);
            problem(c, "unknown field (engines refuse specs with fields they do not know)");
            pop(c, old);
        } else {
            char q[CDI_QUOTE_MAX];
            problem(c, "unknown field %s (engines refuse specs with fields they do not know)",
                    cdi_quote(key, q, sizeof q));
        }
    }
}

/* ---- leaves ---- */

static void check_string_list(vctx *c, const json_t *obj, const char *key, bool env)
{
    const json_t *list = field(c, obj, key, JSON_ARRAY, false);
    size_t i;
    const json_t *item;
    json_array_foreach(list, i, item) {
        size_t old = push_key(c, key);
        push(c, "[%zu]", i);
        char q[CDI_QUOTE_MAX];
        if (!json_is_string(item))
            problem(c, "expected a string, got %s", cdi_json_type_name(item));
        else if (env) {
            const char *s = json_string_value(item), *eq = strchr(s, '=');
            if (!eq || eq == s)
                problem(c, "%s is not KEY=VALUE", cdi_quote(s, q, sizeof q));
        }
        pop(c, old);
    }
}

static void check_int_range(vctx *c, const json_t *obj, const char *key, json_int_t min, json_int_t max)
{
    const json_t *v = field(c, obj, key, JSON_INTEGER, false);
    if (!v)
        return;
    json_int_t i = json_integer_value(v);
    if (i < min || i > max) {
        size_t old = push_key(c, key);
        problem(c, "%" JSON_INTEGER_FORMAT " is out of range (%" JSON_INTEGER_FORMAT " to %" JSON_INTEGER_FORMAT ")",
                i, min, max);
        pop(c, old);
    }
}

/* A path in the container: required, non-empty and absolute. */
static void check_container_path(vctx *c, const json_t *obj, const char *key)
{
    const json_t *v = field(c, obj, key, JSON_STRING, true);
    if (!v)
        return;
    const char *s = json_string_value(v);
    char q[CDI_QUOTE_MAX];
    size_t old = push_key(c, key);
    if (!*s)
        problem(c, "the path is empty");
    else if (s[0] != '/')
        problem(c, "%s is not an absolute path", cdi_quote(s, q, sizeof q));
    pop(c, old);
}

static void check_device_node(vctx *c, const json_t *dn)
{
    unknown_fields(c, dn, CDI_N_DEVNODE);
    check_container_path(c, dn, "path");
    field(c, dn, "hostPath", JSON_STRING, false);
    char q[CDI_QUOTE_MAX];
    const json_t *type = field(c, dn, "type", JSON_STRING, false);
    if (type) {
        const char *t = json_string_value(type);
        if (*t && strcmp(t, "b") && strcmp(t, "c") && strcmp(t, "u") && strcmp(t, "p")) {
            size_t old = push_key(c, "type");
            problem(c, "%s is not a device type (\"b\", \"c\", \"u\" or \"p\")", cdi_quote(t, q, sizeof q));
            pop(c, old);
        }
    }
    const json_t *perms = field(c, dn, "permissions", JSON_STRING, false);
    if (perms && strspn(json_string_value(perms), "rwm") != strlen(json_string_value(perms))) {
        size_t old = push_key(c, "permissions");
        problem(c, "%s may only contain 'r', 'w' and 'm'", cdi_quote(json_string_value(perms), q, sizeof q));
        pop(c, old);
    }
    check_int_range(c, dn, "major", INT64_MIN, INT64_MAX);
    check_int_range(c, dn, "minor", INT64_MIN, INT64_MAX);
    check_int_range(c, dn, "fileMode", 0, UINT32_MAX);
    check_int_range(c, dn, "uid", 0, UINT32_MAX);
    check_int_range(c, dn, "gid", 0, UINT32_MAX);
}

static void check_mount(vctx *c, const json_t *m)
{
    unknown_fields(c, m, CDI_N_MOUNT);
    const json_t *host = field(c, m, "hostPath", JSON_STRING, true);
    if (host && !*json_string_value(host)) {
        size_t old = push_key(c, "hostPath");
        problem(c, "the path is empty");
        pop(c, old);
    }
    check_container_path(c, m, "containerPath");
    check_string_list(c, m, "options", false);
    field(c, m, "type", JSON_STRING, false);
}

static void check_hook(vctx *c, const json_t *h)
{
    static const char *const names[] = {"prestart", "createRuntime", "createContainer", "startContainer",
                                        "poststart", "poststop"};
    unknown_fields(c, h, CDI_N_HOOK);
    const json_t *name = field(c, h, "hookName", JSON_STRING, true);
    if (name) {
        bool ok = false;
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            ok |= strcmp(json_string_value(name), names[i]) == 0;
        if (!ok) {
            char q[CDI_QUOTE_MAX];
            size_t old = push_key(c, "hookName");
            problem(c, "%s is not an OCI hook (createRuntime, createContainer, startContainer, poststart, "
                       "poststop, prestart)", cdi_quote(json_string_value(name), q, sizeof q));
            pop(c, old);
        }
    }
    check_container_path(c, h, "path"); /* run by the runtime: absolute, as the spec requires */
    check_string_list(c, h, "args", false);
    check_string_list(c, h, "env", true);
    const json_t *t = field(c, h, "timeout", JSON_INTEGER, false);
    if (t && (json_integer_value(t) <= 0 || json_integer_value(t) > INT32_MAX)) {
        size_t old = push_key(c, "timeout");
        problem(c, "%" JSON_INTEGER_FORMAT " seconds: a timeout must be greater than zero and fit in 32 bits",
                json_integer_value(t));
        pop(c, old);
    }
}

/* A Linux network interface name: 1 to 15 bytes, no '/', ':' or white space, not "." or "..". */
static void check_ifname(vctx *c, const json_t *nd, const char *key)
{
    const json_t *v = field(c, nd, key, JSON_STRING, true);
    if (!v)
        return;
    const char *s = json_string_value(v);
    size_t n = strlen(s);
    if (n == 0 || n > 15 || strpbrk(s, "/: \t\n") || strcmp(s, ".") == 0 || strcmp(s, "..") == 0) {
        char q[CDI_QUOTE_MAX];
        size_t old = push_key(c, key);
        problem(c, "%s is not a network interface name (1 to 15 bytes, no '/', ':' or spaces)",
                cdi_quote(s, q, sizeof q));
        pop(c, old);
    }
}

static void check_intel_rdt(vctx *c, const json_t *rdt)
{
    unknown_fields(c, rdt, CDI_N_INTELRDT);
    const json_t *clos = field(c, rdt, "closID", JSON_STRING, false);
    if (clos) {
        const char *s = json_string_value(clos);
        if (strlen(s) >= 4096 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0 || strpbrk(s, "/\n")) {
            char q[CDI_QUOTE_MAX];
            size_t old = push_key(c, "closID");
            problem(c, "%s is not a valid file name for a resctrl group", cdi_quote(s, q, sizeof q));
            pop(c, old);
        }
    }
    field(c, rdt, "l3CacheSchema", JSON_STRING, false);
    field(c, rdt, "memBwSchema", JSON_STRING, false);
    check_string_list(c, rdt, "schemata", false);
    field(c, rdt, "enableMonitoring", JSON_TRUE, false);
    static const char *const gone[] = {"enableCMT", "enableMBM"};
    for (size_t i = 0; i < 2; i++) {
        field(c, rdt, gone[i], JSON_TRUE, false);
        if (json_object_get(rdt, gone[i]) && c->declared >= CDI_V110) {
            size_t old = push_key(c, gone[i]);
            problem(c, "not part of CDI %s (it was removed in 1.1.0; use enableMonitoring)",
                    cdi_version_at(c->declared));
            pop(c, old);
        }
    }
}

static void check_edits(vctx *c, const json_t *e)
{
    unknown_fields(c, e, CDI_N_EDITS);
    check_string_list(c, e, "env", true);

    static const struct {
        const char *key;
        void (*check)(vctx *, const json_t *);
    } lists[] = {
        {"deviceNodes", check_device_node},
        {"mounts", check_mount},
        {"hooks", check_hook},
    };
    for (size_t l = 0; l < sizeof lists / sizeof lists[0]; l++) {
        const json_t *arr = field(c, e, lists[l].key, JSON_ARRAY, false);
        size_t i;
        const json_t *item;
        json_array_foreach(arr, i, item) {
            size_t old = push_key(c, lists[l].key);
            push(c, "[%zu]", i);
            if (json_is_object(item))
                lists[l].check(c, item);
            else
                problem(c, "expected an object, got %s", cdi_json_type_name(item));
            pop(c, old);
        }
    }

    const json_t *nets = field(c, e, "netDevices", JSON_ARRAY, false);
    size_t i;
    const json_t *item;
    json_array_foreach(nets, i, item) {
        size_t old = push_key(c, "netDevices");
        push(c, "[%zu]", i);
        if (json_is_object(item)) {
            unknown_fields(c, item, CDI_N_NETDEV);
            check_ifname(c, item, "hostInterfaceName");
            check_ifname(c, item, "name");
        } else {
            problem(c, "expected an object, got %s", cdi_json_type_name(item));
        }
        pop(c, old);
    }

    const json_t *rdt = field(c, e, "intelRdt", JSON_OBJECT, false);
    if (rdt) {
        size_t old = push_key(c, "intelRdt");
        check_intel_rdt(c, rdt);
        pop(c, old);
    }

    const json_t *gids = field(c, e, "additionalGids", JSON_ARRAY, false);
    json_array_foreach(gids, i, item) {
        size_t old = push_key(c, "additionalGids");
        push(c, "[%zu]", i);
        if (!json_is_integer(item))
            problem(c, "expected an integer, got %s", cdi_json_type_name(item));
        else if (json_integer_value(item) < 0 || json_integer_value(item) > UINT32_MAX)
            problem(c, "%" JSON_INTEGER_FORMAT " is not a group id (0 to 4294967295)", json_integer_value(item));
        pop(c, old);
    }
}

/* Whether edits hold at least one edit, as a device's must. */
static bool edits_nonempty(const json_t *e)
{
    static const char *const lists[] = {"env", "deviceNodes", "mounts", "hooks", "additionalGids", "netDevices"};
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++)
        if (json_array_size(json_object_get(e, lists[i])) > 0)
            return true;
    return json_is_object(json_object_get(e, "intelRdt"));
}

/* ---- annotations ---- */

static bool dns_subdomain(const char *s, size_t n)
{
    if (n == 0 || n > 253)
        return false;
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
        if (ch == '.') {
            if (label == 0 || s[i - 1] == '-')
                return false;
            label = 0;
        } else if (alnum || (ch == '-' && label > 0)) {
            label++;
        } else {
            return false;
        }
    }
    return label > 0 && s[n - 1] != '-';
}

/* An annotation key: [DNS-subdomain "/"] name, the name 1 to 63 characters of letters, digits,
 * '-', '_', '.', beginning and ending with a letter or digit. */
static bool annotation_key_valid(const char *key)
{
    const char *slash = strchr(key, '/');
    const char *name = key;
    if (slash) {
        if (strchr(slash + 1, '/') || !dns_subdomain(key, (size_t)(slash - key)))
            return false;
        name = slash + 1;
    }
    size_t n = strlen(name);
    if (n == 0 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
        if (!alnum && ((i == 0 || i == n - 1) || (ch != '-' && ch != '_' && ch != '.')))
            return false;
    }
    return true;
}

static void check_annotations(vctx *c, const json_t *obj)
{
    const json_t *ann = field(c, obj, "annotations", JSON_OBJECT, false);
    if (!ann)
        return;
    size_t total = 0;
    const char *key;
    const json_t *v;
    size_t old = push_key(c, "annotations");
    json_object_foreach((json_t *)ann, key, v) {
        char q[CDI_QUOTE_MAX];
        cdi_quote(key, q, sizeof q);
        if (!annotation_key_valid(key))
            problem(c, "key %s is not a valid annotation key ([prefix/]name, name up to 63 letters, digits, "
                       "'-', '_', '.')", q);
        if (!json_is_string(v))
            problem(c, "the value of %s must be a string, got %s", q, cdi_json_type_name(v));
        else
            total += strlen(key) + json_string_length(v);
    }
    if (total > ANNOTATIONS_MAX)
        problem(c, "%zu bytes of annotations; at most %d are allowed", total, ANNOTATIONS_MAX);
    pop(c, old);
}

/* ---- devices ---- */

typedef struct named {
    const char *name;
    size_t index;
} named;

static int cmp_named(const void *a, const void *b)
{
    const named *x = a, *y = b;
    int r = strcmp(x->name, y->name);
    return r ? r : (x->index > y->index) - (x->index < y->index);
}

static void check_devices(vctx *c, const json_t *spec)
{
    const json_t *devices = field(c, spec, "devices", JSON_ARRAY, true);
    if (!devices)
        return;
    size_t n = json_array_size(devices);
    if (n == 0) {
        size_t old = push_key(c, "devices");
        problem(c, "a spec needs at least one device");
        pop(c, old);
        return;
    }
    named *names = calloc(n, sizeof *names);
    if (!names) {
        c->oom = true;
        return;
    }
    size_t nnames = 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *dev = json_array_get(devices, i);
        size_t old = push(c, "devices[%zu]", i);
        if (!json_is_object(dev)) {
            problem(c, "expected an object, got %s", cdi_json_type_name(dev));
            pop(c, old);
            continue;
        }
        unknown_fields(c, dev, CDI_N_DEVICE);
        const json_t *name = field(c, dev, "name", JSON_STRING, true);
        if (name) {
            char why[256], q[CDI_QUOTE_MAX];
            const char *s = json_string_value(name);
            if (!nvb_cdi_device_name_valid(s, why, sizeof why)) {
                size_t o2 = push_key(c, "name");
                problem(c, "%s is not a valid device name: %s", cdi_quote(s, q, sizeof q), why);
                pop(c, o2);
            }
            names[nnames++] = (named){.name = s, .index = i};
        }
        check_annotations(c, dev);
        const json_t *edits = field(c, dev, "containerEdits", JSON_OBJECT, true);
        if (edits) {
            size_t o2 = push_key(c, "containerEdits");
            if (!edits_nonempty(edits))
                problem(c, "a device needs at least one edit (env, deviceNodes, mounts, hooks, ...)");
            check_edits(c, edits);
            pop(c, o2);
        }
        pop(c, old);
    }
    /* Duplicates, found by sorting so a spec with many devices stays fast. */
    qsort(names, nnames, sizeof *names, cmp_named);
    for (size_t i = 1; i < nnames; i++) {
        if (strcmp(names[i].name, names[i - 1].name) != 0)
            continue;
        size_t first = i - 1;
        while (first > 0 && strcmp(names[first - 1].name, names[i].name) == 0)
            first--;
        char q[CDI_QUOTE_MAX];
        size_t old = push(c, "devices[%zu].name", names[i].index);
        problem(c, "%s is already the name of devices[%zu]", cdi_quote(names[i].name, q, sizeof q),
                names[first].index);
        pop(c, old);
    }
    free(names);
}

/* ---- version ---- */

typedef struct need {
    char path[640];
    const char *what;
} need;

static void note_feature(void *ud, int vidx, const char *path, const char *what)
{
    need *needs = ud;
    if (!needs[vidx].what) {
        snprintf(needs[vidx].path, sizeof needs[vidx].path, "%s", path);
        needs[vidx].what = what;
    }
}

static void check_version(vctx *c, const json_t *spec)
{
    const json_t *v = field(c, spec, "cdiVersion", JSON_STRING, true);
    if (!v)
        return;
    const char *s = json_string_value(v);
    char q[CDI_QUOTE_MAX];
    size_t old = push_key(c, "cdiVersion");
    c->declared = cdi_version_index(s);
    if (c->declared < 0) {
        if (s[0] == 'v' && cdi_version_index(s + 1) >= 0)
            problem(c, "%s: write the version without the 'v' (%s); older engines refuse the prefix",
                    cdi_quote(s, q, sizeof q), s + 1);
        else
            problem(c, "%s is not a known CDI version (0.3.0 to %s)", cdi_quote(s, q, sizeof q),
                    nvb_cdi_latest_version());
    } else if (c->declared < CDI_V030) {
        problem(c, "%s is older than 0.3.0, the earliest version engines accept", cdi_quote(s, q, sizeof q));
    } else {
        need needs[CDI_V110 + 1];
        memset(needs, 0, sizeof needs);
        cdi_walk_features(spec, note_feature, needs);
        for (int i = c->declared + 1; i <= CDI_V110; i++)
            if (needs[i].what)
                problem(c, "%s is lower than %s required by %s (%s)", cdi_quote(s, q, sizeof q),
                        cdi_version_at(i), needs[i].path, needs[i].what);
    }
    pop(c, old);
}

int nvb_cdi_validate(const json_t *spec, nvb_strv *problems)
{
    vctx c = {.out = problems, .declared = -1};
    if (!json_is_object(spec)) {
        problem(&c, "expected a JSON object, got %s", spec ? cdi_json_type_name(spec) : "nothing");
        return c.oom ? -1 : c.count;
    }
    check_version(&c, spec);

    const json_t *kind = field(&c, spec, "kind", JSON_STRING, true);
    if (kind) {
        char why[256], q[CDI_QUOTE_MAX];
        if (!nvb_cdi_kind_valid(json_string_value(kind), why, sizeof why)) {
            size_t old = push_key(&c, "kind");
            problem(&c, "%s is not a valid kind: %s", cdi_quote(json_string_value(kind), q, sizeof q), why);
            pop(&c, old);
        }
    }
    unknown_fields(&c, spec, CDI_N_SPEC);
    check_annotations(&c, spec);
    check_devices(&c, spec);

    const json_t *edits = field(&c, spec, "containerEdits", JSON_OBJECT, false);
    if (edits) {
        size_t old = push_key(&c, "containerEdits");
        check_edits(&c, edits);
        pop(&c, old);
    }

    if (c.count > MAX_LISTED && problems && !c.oom &&
        nvb_strv_pushf(problems, "spec: %d more problems not listed", c.count - MAX_LISTED) < 0)
        c.oom = true;
    return c.oom ? -1 : c.count;
}

int nvb_cdi_device_names(const json_t *spec, nvb_strv *out)
{
    const char *kind = json_string_value(json_object_get(spec, "kind"));
    if (!kind)
        return -1;
    const json_t *devices = json_object_get(spec, "devices");
    int n = 0;
    size_t i;
    const json_t *dev;
    json_array_foreach(devices, i, dev) {
        const char *name = json_string_value(json_object_get(dev, "name"));
        if (!name)
            continue;
        if (nvb_strv_push_take(out, nvb_cdi_qualified_name(kind, name)) < 0)
            return -1;
        n++;
    }
    return n;
}
