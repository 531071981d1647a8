#include "runtime/oci_lean.h"
#include "runtime/oci_patch.h"
#include "util/json_scan.h"
#include "util/json_text.h"

#include <stdlib.h>
#include <string.h>

int nvb_oci_config_parse_lean(const char *text, size_t len, const char *name, nvb_oci_lean *out, nvb_err *err)
{
    static const char *const seccomp[] = {"linux", "seccomp"};
    memset(out, 0, sizeof *out);
    size_t s, e;
    json_t *config = len <= NVB_OCI_CONFIG_MAX_SIZE ? nvb_json_load_cut(text, len, seccomp, 2, &s, &e) : NULL;
    json_t *stand_in = json_object_get(json_object_get(config, "linux"), "seccomp");
    if (json_is_object(config) && json_is_object(stand_in) && json_object_size(stand_in) == 0) {
        out->config = config;
        out->stand_in = stand_in;
        out->raw = text + s;
        out->raw_len = e - s;
        return 0;
    }
    json_decref(config);
    /* Not parsed this way (no such member, a syntax error, out of memory): the whole text,
     * whose errors name their true line and column. */
    out->config = nvb_oci_config_parse(text, len, name, err);
    return out->config ? 0 : -1;
}

char *nvb_oci_config_dump_lean(const nvb_oci_lean *l)
{
    if (!l->stand_in)
        return nvb_oci_config_dump(l->config);
    char *text = nvb_jsonw_text(l->config, 0, l->stand_in, l->raw, l->raw_len);
    if (text)
        return text;
    /* What nvb_jsonw does not write as jansson would (see nvb_json_dump_line): the profile
     * parsed after all, and the whole tree dumped by jansson. */
    json_t *profile = json_loadb(l->raw, l->raw_len, 0, NULL);
    json_t *copy = profile ? json_deep_copy(l->config) : NULL;
    if (copy && json_object_set(json_object_get(copy, "linux"), "seccomp", profile) == 0)
        text = nvb_oci_config_dump(copy);
    json_decref(copy);
    json_decref(profile);
    return text;
}
