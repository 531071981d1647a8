#include "oci/bundle_root.h"
#include "oci/safepath.h"
#include "oci/state.h"
#include "util/cleanup.h"
#include "util/fileio.h"
#include "util/strv.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* The runtime-spec: a relative root.path is relative to the bundle. */
static char *root_in_bundle(const char *bundle, const char *path, nvb_err *err)
{
    char *out = path[0] == '/' ? strdup(path) : nvb_path_join(bundle, path);
    if (!out)
        nvb_errf_errno(err, NVB_EXIT_IO, ENOMEM, "bundle %s: root %s", bundle, path);
    return out;
}

const char *nvb_oci_config_root_value(const json_t *config, const char *bundle, nvb_err *err)
{
    if (!json_is_object(config)) {
        nvb_errf(err, NVB_EXIT_INPUT, "bundle %s: config.json: not a JSON object", bundle);
        return NULL;
    }
    json_t *r = json_object_get(config, "root");
    if (!r) {
        nvb_errf(err, NVB_EXIT_INPUT, "bundle %s: config.json: root missing", bundle);
        return NULL;
    }
    if (!json_is_object(r)) {
        nvb_errf(err, NVB_EXIT_INPUT, "bundle %s: config.json: root is not an object", bundle);
        return NULL;
    }
    json_t *p = json_object_get(r, "path");
    if (!p) {
        nvb_errf(err, NVB_EXIT_INPUT, "bundle %s: config.json: root.path missing", bundle);
        return NULL;
    }
    if (!json_is_string(p) || json_string_length(p) == 0) {
        nvb_errf(err, NVB_EXIT_INPUT, "bundle %s: config.json: root.path is not a non-empty string", bundle);
        return NULL;
    }
    const char *path = json_string_value(p);
    if (strlen(path) != json_string_length(p)) {
        nvb_errf(err, NVB_EXIT_INPUT, "bundle %s: config.json: root.path contains a NUL byte", bundle);
        return NULL;
    }
    return path;
}

char *nvb_oci_config_root_host_path(const json_t *config, const char *bundle, nvb_err *err)
{
    const char *path = nvb_oci_config_root_value(config, bundle, err);
    return path ? root_in_bundle(bundle, path, err) : NULL;
}

char *nvb_oci_config_root_path(const char *json, size_t len, const char *bundle, nvb_err *err)
{
    json_error_t jerr;
    json_auto_t *root = json_loadb(json, len, 0, &jerr);
    if (!root) {
        nvb_errf(err, NVB_EXIT_INPUT, "bundle %s: config.json: line %d, column %d: %s", bundle, jerr.line,
                 jerr.column, jerr.text);
        return NULL;
    }
    return nvb_oci_config_root_host_path(root, bundle, err);
}

char *nvb_oci_bundle_root_path(const char *bundle, nvb_err *err)
{
    _cleanup_free_ char *cfg = nvb_path_join(bundle, "config.json");
    if (!cfg) {
        nvb_errf_errno(err, NVB_EXIT_IO, ENOMEM, "bundle %s", bundle);
        return NULL;
    }
    size_t len = 0;
    _cleanup_free_ char *text = nvb_read_file(cfg, NVB_OCI_CONFIG_MAX, &len);
    if (!text) {
        int e = errno;
        if (e == EFBIG)
            nvb_errf(err, NVB_EXIT_INPUT, "bundle %s: config.json: larger than %d bytes", bundle,
                     NVB_OCI_CONFIG_MAX);
        else
            nvb_errf_errno(err, e == ENOENT ? NVB_EXIT_INPUT : NVB_EXIT_IO, e, "bundle %s: config.json", bundle);
        return NULL;
    }
    return nvb_oci_config_root_path(text, len, bundle, err);
}

int nvb_oci_state_root_open(int state_fd, const char *given, char **root_path, nvb_err *err)
{
    nvb_oci_state state;
    *root_path = NULL;
    if (given && !*given)
        return nvb_errf(err, NVB_EXIT_USAGE, "--root-path: empty (expected root.path of the bundle's config.json)");
    if (nvb_oci_state_read_fd(state_fd, &state, err) < 0)
        return -1;
    *root_path = given ? root_in_bundle(state.bundle, given, err) : nvb_oci_bundle_root_path(state.bundle, err);
    nvb_oci_state_free(&state);
    if (!*root_path)
        return -1;
    return nvb_root_open_host_dir(*root_path, err);
}
