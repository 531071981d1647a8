/* The public CDI spec object: a CDI document that can be written as JSON or YAML, or walked.
 * The handle wraps the jansson document; edits views point into it. */
#include "api/api.h"
#include "cdi/cdi.h"
#include "policy/cdi_generate.h"
#include "util/cleanup.h"
#include "util/fileio.h"

#include <stdlib.h>
#include <string.h>

/* A view is the containerEdits object itself: the opaque type is never dereferenced. */
static const json_t *edits_json(const nvbind_cdi_edits *e)
{
    return (const json_t *)(const void *)e;
}

static const nvbind_cdi_edits *edits_view(const json_t *o)
{
    return (const nvbind_cdi_edits *)(const void *)o;
}

nvbind_cdi_spec *nvb_api_spec_wrap(json_t *doc)
{
    nvbind_cdi_spec *s = calloc(1, sizeof *s);
    if (!s || !(s->no_edits = json_object())) {
        free(s);
        json_decref(doc);
        return NULL;
    }
    s->json = doc;
    return s;
}

NVBIND_EXPORT void nvbind_cdi_spec_free(nvbind_cdi_spec *s)
{
    if (!s)
        return;
    json_decref(s->json);
    json_decref(s->no_edits);
    free(s);
}

NVBIND_EXPORT nvbind_cdi_spec *nvbind_cdi_spec_load(const char *path, nvbind_error **err)
{
    if (!path)
        return nvb_api_failf(err, NVB_EXIT_USAGE, "nvbind_cdi_spec_load: path is NULL"), NULL;
    nvb_err e = {0};
    json_t *doc = nvb_cdi_load_file(path, &e);
    if (!doc)
        return nvb_api_fail(err, &e), NULL;
    nvb_strv problems = {0};
    int n = nvb_cdi_validate(doc, &problems);
    if (n != 0) {
        if (n < 0)
            nvb_api_oom(err, path);
        else
            nvb_api_failf(err, NVB_EXIT_INPUT, "%s: %s%s", path, problems.n ? problems.v[0] : "invalid",
                          n > 1 ? " (and more problems)" : "");
        nvb_strv_free(&problems);
        json_decref(doc);
        return NULL;
    }
    nvbind_cdi_spec *s = nvb_api_spec_wrap(doc);
    if (!s)
        nvb_api_oom(err, path);
    return s;
}

NVBIND_EXPORT char *nvbind_cdi_spec_to_json(const nvbind_cdi_spec *s, nvbind_error **err)
{
    if (!s)
        return nvb_api_failf(err, NVB_EXIT_USAGE, "nvbind_cdi_spec_to_json: spec is NULL"), NULL;
    char *text = nvb_cdi_to_json(s->json);
    if (!text)
        nvb_api_oom(err, "writing the CDI spec as JSON");
    return text;
}

NVBIND_EXPORT char *nvbind_cdi_spec_to_yaml(const nvbind_cdi_spec *s, nvbind_error **err)
{
    if (!s)
        return nvb_api_failf(err, NVB_EXIT_USAGE, "nvbind_cdi_spec_to_yaml: spec is NULL"), NULL;
    nvb_err e = {0};
    char *text = nvb_cdi_to_yaml(s->json, &e);
    if (!text)
        nvb_api_fail(err, &e);
    return text;
}

NVBIND_EXPORT int nvbind_cdi_spec_write(const nvbind_cdi_spec *s, const char *path, nvbind_cdi_format format,
                                        nvbind_error **err)
{
    if (!s || !path || !*path)
        return nvb_api_failf(err, NVB_EXIT_USAGE, "nvbind_cdi_spec_write: %s is NULL or empty", s ? "path" : "spec");
    if (format != NVBIND_CDI_FORMAT_JSON && format != NVBIND_CDI_FORMAT_YAML)
        return nvb_api_failf(err, NVB_EXIT_USAGE, "nvbind_cdi_spec_write: %s: format %d is not JSON (0) or YAML (1)",
                             path, (int)format);
    _cleanup_free_ char *text =
        format == NVBIND_CDI_FORMAT_YAML ? nvbind_cdi_spec_to_yaml(s, err) : nvbind_cdi_spec_to_json(s, err);
    if (!text)
        return -1;
    nvb_err e = {0};
    if (nvb_write_file_atomic(path, text, strlen(text), 0644, &e) < 0)
        return nvb_api_fail(err, &e);
    return 0;
}

NVBIND_EXPORT char *nvbind_cdi_spec_file_name(const nvbind_cdi_spec *s, nvbind_cdi_format format)
{
    const char *kind = nvbind_cdi_spec_kind(s);
    return kind ? nvb_cdi_spec_file_name(kind, format == NVBIND_CDI_FORMAT_YAML) : NULL;
}

static const char *string_at(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

NVBIND_EXPORT const char *nvbind_cdi_spec_kind(const nvbind_cdi_spec *s)
{
    return s ? string_at(s->json, "kind") : NULL;
}

NVBIND_EXPORT const char *nvbind_cdi_spec_version(const nvbind_cdi_spec *s)
{
    return s ? string_at(s->json, "cdiVersion") : NULL;
}

static const json_t *devices(const nvbind_cdi_spec *s)
{
    const json_t *d = s ? json_object_get(s->json, "devices") : NULL;
    return json_is_array(d) ? d : NULL;
}

NVBIND_EXPORT size_t nvbind_cdi_spec_device_count(const nvbind_cdi_spec *s)
{
    return json_array_size(devices(s));
}

NVBIND_EXPORT const char *nvbind_cdi_spec_device_name(const nvbind_cdi_spec *s, size_t i)
{
    return string_at(json_array_get(devices(s), i), "name");
}

NVBIND_EXPORT const nvbind_cdi_edits *nvbind_cdi_spec_device_edits(const nvbind_cdi_spec *s, size_t i)
{
    const json_t *d = json_array_get(devices(s), i);
    if (!d)
        return NULL;
    const json_t *e = json_object_get(d, "containerEdits");
    return edits_view(json_is_object(e) ? e : s->no_edits);
}

NVBIND_EXPORT const nvbind_cdi_edits *nvbind_cdi_spec_edits(const nvbind_cdi_spec *s)
{
    if (!s)
        return NULL;
    const json_t *e = json_object_get(s->json, "containerEdits");
    return edits_view(json_is_object(e) ? e : s->no_edits);
}

static const json_t *list(const nvbind_cdi_edits *e, const char *key)
{
    const json_t *l = e ? json_object_get(edits_json(e), key) : NULL;
    return json_is_array(l) ? l : NULL;
}

NVBIND_EXPORT size_t nvbind_cdi_edits_env_count(const nvbind_cdi_edits *e)
{
    return json_array_size(list(e, "env"));
}

NVBIND_EXPORT const char *nvbind_cdi_edits_env(const nvbind_cdi_edits *e, size_t i)
{
    return json_string_value(json_array_get(list(e, "env"), i));
}

NVBIND_EXPORT const char *nvbind_cdi_spec_getenv(const nvbind_cdi_spec *s, const char *key)
{
    if (!key)
        return NULL;
    const nvbind_cdi_edits *e = nvbind_cdi_spec_edits(s);
    size_t kl = strlen(key);
    const char *found = NULL;
    /* A later entry replaces an earlier one, as the engines apply them. */
    for (size_t i = 0; i < nvbind_cdi_edits_env_count(e); i++) {
        const char *kv = nvbind_cdi_edits_env(e, i);
        if (kv && strncmp(kv, key, kl) == 0 && kv[kl] == '=')
            found = kv + kl + 1;
    }
    return found;
}

static int64_t int_or(const json_t *o, const char *key, int64_t dflt)
{
    const json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

NVBIND_EXPORT size_t nvbind_cdi_edits_device_node_count(const nvbind_cdi_edits *e)
{
    return json_array_size(list(e, "deviceNodes"));
}

NVBIND_EXPORT int nvbind_cdi_edits_device_node(const nvbind_cdi_edits *e, size_t i, nvbind_cdi_device_node *out)
{
    const json_t *n = json_array_get(list(e, "deviceNodes"), i);
    if (!n || !out)
        return -1;
    const char *type = string_at(n, "type");
    *out = (nvbind_cdi_device_node){
        .path = string_at(n, "path"),
        .host_path = string_at(n, "hostPath"),
        .type = type && strlen(type) == 1 ? type[0] : 0,
        .major = int_or(n, "major", -1),
        .minor = int_or(n, "minor", -1),
        .file_mode = int_or(n, "fileMode", -1),
    };
    return 0;
}

NVBIND_EXPORT size_t nvbind_cdi_edits_mount_count(const nvbind_cdi_edits *e)
{
    return json_array_size(list(e, "mounts"));
}

NVBIND_EXPORT int nvbind_cdi_edits_mount(const nvbind_cdi_edits *e, size_t i, nvbind_cdi_mount *out)
{
    const json_t *m = json_array_get(list(e, "mounts"), i);
    if (!m || !out)
        return -1;
    *out = (nvbind_cdi_mount){
        .host_path = string_at(m, "hostPath"),
        .container_path = string_at(m, "containerPath"),
        .type = string_at(m, "type"),
    };
    return 0;
}

static const json_t *sublist(const nvbind_cdi_edits *e, const char *key, size_t i, const char *sub)
{
    const json_t *l = json_object_get(json_array_get(list(e, key), i), sub);
    return json_is_array(l) ? l : NULL;
}

NVBIND_EXPORT size_t nvbind_cdi_edits_mount_option_count(const nvbind_cdi_edits *e, size_t i)
{
    return json_array_size(sublist(e, "mounts", i, "options"));
}

NVBIND_EXPORT const char *nvbind_cdi_edits_mount_option(const nvbind_cdi_edits *e, size_t i, size_t j)
{
    return json_string_value(json_array_get(sublist(e, "mounts", i, "options"), j));
}

NVBIND_EXPORT size_t nvbind_cdi_edits_hook_count(const nvbind_cdi_edits *e)
{
    return json_array_size(list(e, "hooks"));
}

NVBIND_EXPORT int nvbind_cdi_edits_hook(const nvbind_cdi_edits *e, size_t i, nvbind_cdi_hook *out)
{
    const json_t *h = json_array_get(list(e, "hooks"), i);
    if (!h || !out)
        return -1;
    *out = (nvbind_cdi_hook){.hook_name = string_at(h, "hookName"), .path = string_at(h, "path")};
    return 0;
}

NVBIND_EXPORT size_t nvbind_cdi_edits_hook_arg_count(const nvbind_cdi_edits *e, size_t i)
{
    return json_array_size(sublist(e, "hooks", i, "args"));
}

NVBIND_EXPORT const char *nvbind_cdi_edits_hook_arg(const nvbind_cdi_edits *e, size_t i, size_t j)
{
    return json_string_value(json_array_get(sublist(e, "hooks", i, "args"), j));
}
