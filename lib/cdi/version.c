/* CDI versions and the minimum version a spec needs.
 *
 * Each released version added fields or relaxed a rule; a spec must declare at least the
 * version of every feature it uses, and older engines (podman 4.x reads up to 0.5.0) refuse
 * anything newer. The table, from the specification's history:
 *   0.3.0  base (0.1.0 and 0.2.0 are known but engines no longer accept them)
 *   0.4.0  mounts[].type
 *   0.5.0  deviceNodes[].hostPath; device names that do not start with a letter
 *   0.6.0  annotations on the spec and on devices; '.' in the class part of the kind
 *   0.7.0  containerEdits.intelRdt, containerEdits.additionalGids
 *   0.8.0  no document change
 *   1.0.0  no document change
 *   1.1.0  containerEdits.netDevices, intelRdt.schemata, intelRdt.enableMonitoring
 *          (and intelRdt.enableCMT/enableMBM are gone: see validate.c)
 * A field counts as used when it is present at all, empty or null included: engines decode
 * specs strictly and reject a field their version does not know whatever its value. */
#include "cdi/cdi.h"
#include "cdi/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const versions[] = {
    "0.1.0", "0.2.0", "0.3.0", "0.4.0", "0.5.0", "0.6.0", "0.7.0", "0.8.0", "1.0.0", "1.1.0",
};
#define NVERSIONS (sizeof versions / sizeof versions[0])
enum { V040 = 3, V050 = 4, V060 = 5, V070 = 6 };

int cdi_version_index(const char *v)
{
    if (!v)
        return -1;
    for (size_t i = 0; i < NVERSIONS; i++)
        if (strcmp(v, versions[i]) == 0)
            return (int)i;
    return -1;
}

const char *cdi_version_at(int idx)
{
    if (idx < 0 || (size_t)idx >= NVERSIONS)
        return NULL;
    return versions[idx];
}

const char *nvb_cdi_latest_version(void)
{
    return versions[NVERSIONS - 1];
}

bool nvb_cdi_version_known(const char *v)
{
    return cdi_version_index(v) >= 0;
}

int nvb_cdi_version_compare(const char *a, const char *b)
{
    int ia = cdi_version_index(a), ib = cdi_version_index(b);
    return (ia > ib) - (ia < ib);
}

/* ---- feature walk ---- */

typedef struct walk {
    cdi_feature_fn fn;
    void *ud;
    char path[512];
} walk;

static void report(walk *w, int vidx, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void report(walk *w, int vidx, const char *what, const char *fmt, ...)
{
    char full[sizeof w->path + 128];
    va_list ap;
    va_start(ap, fmt);
    int n = snprintf(full, sizeof full, "%s", w->path);
    if (n >= 0 && (size_t)n < sizeof full)
        vsnprintf(full + n, sizeof full - (size_t)n, fmt, ap);
    va_end(ap);
    w->fn(w->ud, vidx, full, what);
}

static void walk_edits(walk *w, const json_t *edits)
{
    if (!json_is_object(edits))
        return;
    const json_t *nodes = json_object_get(edits, "deviceNodes");
    for (size_t i = 0; json_is_array(nodes) && i < json_array_size(nodes); i++) {
        const json_t *dn = json_array_get(nodes, i);
        if (json_is_object(dn) && json_object_get(dn, "hostPath"))
            report(w, V050, "hostPath on device nodes", ".deviceNodes[%zu].hostPath", i);
    }
    const json_t *mounts = json_object_get(edits, "mounts");
    for (size_t i = 0; json_is_array(mounts) && i < json_array_size(mounts); i++) {
        const json_t *m = json_array_get(mounts, i);
        if (json_is_object(m) && json_object_get(m, "type"))
            report(w, V040, "type on mounts", ".mounts[%zu].type", i);
    }
    const json_t *rdt = json_object_get(edits, "intelRdt");
    if (rdt) {
        report(w, V070, "intelRdt", ".intelRdt");
        if (json_is_object(rdt) && json_object_get(rdt, "schemata"))
            report(w, CDI_V110, "intelRdt.schemata", ".intelRdt.schemata");
        if (json_is_object(rdt) && json_object_get(rdt, "enableMonitoring"))
            report(w, CDI_V110, "intelRdt.enableMonitoring", ".intelRdt.enableMonitoring");
    }
    if (json_object_get(edits, "additionalGids"))
        report(w, V070, "additionalGids", ".additionalGids");
    if (json_object_get(edits, "netDevices"))
        report(w, CDI_V110, "netDevices", ".netDevices");
}

void cdi_walk_features(const json_t *spec, cdi_feature_fn fn, void *ud)
{
    if (!json_is_object(spec))
        return;
    walk w = {.fn = fn, .ud = ud};

    const char *kind = json_string_value(json_object_get(spec, "kind"));
    const char *slash = kind ? strchr(kind, '/') : NULL;
    if (slash && strchr(slash + 1, '.'))
        report(&w, V060, "a '.' in the class part of the kind", "kind");
    if (json_object_get(spec, "annotations"))
        report(&w, V060, "annotations", "annotations");

    const json_t *devices = json_object_get(spec, "devices");
    for (size_t i = 0; json_is_array(devices) && i < json_array_size(devices); i++) {
        const json_t *dev = json_array_get(devices, i);
        if (!json_is_object(dev))
            continue;
        const char *name = json_string_value(json_object_get(dev, "name"));
        if (name && name[0] && !((name[0] >= 'A' && name[0] <= 'Z') || (name[0] >= 'a' && name[0] <= 'z')))
            report(&w, V050, "a device name that does not start with a letter", "devices[%zu].name", i);
        if (json_object_get(dev, "annotations"))
            report(&w, V060, "annotations", "devices[%zu].annotations", i);
        snprintf(w.path, sizeof w.path, "devices[%zu].containerEdits", i);
        walk_edits(&w, json_object_get(dev, "containerEdits"));
        w.path[0] = '\0';
    }

    snprintf(w.path, sizeof w.path, "containerEdits");
    walk_edits(&w, json_object_get(spec, "containerEdits"));
}

/* ---- minimum version ---- */

typedef struct minv {
    int vidx;
    char feature[640];
} minv;

static void keep_max(void *ud, int vidx, const char *path, const char *what)
{
    (void)what;
    minv *m = ud;
    if (vidx > m->vidx) { /* strictly greater: the first feature at the top version is kept */
        m->vidx = vidx;
        snprintf(m->feature, sizeof m->feature, "%s", path);
    }
}

const char *nvb_cdi_min_version_why(const json_t *spec, char *feature, size_t len)
{
    minv m = {.vidx = CDI_V030};
    cdi_walk_features(spec, keep_max, &m);
    if (feature && len)
        snprintf(feature, len, "%s", m.feature);
    return versions[m.vidx];
}

const char *nvb_cdi_min_version(const json_t *spec)
{
    return nvb_cdi_min_version_why(spec, NULL, 0);
}

int nvb_cdi_set_min_version(json_t *spec, nvb_err *err)
{
    if (!json_is_object(spec))
        return nvb_errf(err, NVB_EXIT_INPUT, "CDI spec: expected an object, got %s",
                        spec ? cdi_json_type_name(spec) : "nothing");
    const char *v = nvb_cdi_min_version(spec);
    json_t *existing = json_object_get(spec, "cdiVersion");
    if (existing && json_is_string(existing))
        return json_string_set(existing, v) == 0 ? 0
               : nvb_errf(err, NVB_EXIT_INPUT, "CDI spec: out of memory setting cdiVersion");
    if (existing)
        return json_object_set_new(spec, "cdiVersion", json_string(v)) == 0 ? 0
               : nvb_errf(err, NVB_EXIT_INPUT, "CDI spec: out of memory setting cdiVersion");
    /* Absent: rebuild so cdiVersion comes first, as every spec writer puts it. */
    json_t *copy = json_object();
    if (!copy || json_object_set_new(copy, "cdiVersion", json_string(v)) < 0 ||
        json_object_update(copy, spec) < 0 || json_object_clear(spec) < 0 ||
        json_object_update(spec, copy) < 0) {
        json_decref(copy);
        return nvb_errf(err, NVB_EXIT_INPUT, "CDI spec: out of memory setting cdiVersion");
    }
    json_decref(copy);
    return 0;
}
