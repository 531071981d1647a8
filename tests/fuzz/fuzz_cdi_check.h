/* What the CDI fuzz targets check of every spec their loader accepts: it validates with one
 * line per problem, reports a known minimum version, has only valid qualified names when
 * valid, and writes out as JSON and as YAML that both read back to the same data. Each
 * check that fails aborts, which libFuzzer reports with the input. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cdi/cdi.h"

static void reread(const char *text, nvb_cdi_format fmt, const json_t *want)
{
    nvb_err err = {0};
    json_t *back = nvb_cdi_load_buffer(text, strlen(text), fmt, "out", &err);
    if (!back || !json_equal(back, want))
        abort(); /* a writer produced something its own loader reads differently */
    json_decref(back);
}

static void exercise(json_t *spec)
{
    nvb_strv problems = {0};
    int n = nvb_cdi_validate(spec, &problems);
    if (n < 0 || (n > 0 && problems.n == 0) || (n == 0 && problems.n != 0))
        abort();
    for (size_t i = 0; i < problems.n; i++)
        if (strchr(problems.v[i], '\n'))
            abort(); /* one problem, one line */
    nvb_strv_free(&problems);

    char why[512];
    const char *v = nvb_cdi_min_version_why(spec, why, sizeof why);
    if (!nvb_cdi_version_known(v))
        abort();

    nvb_strv names = {0};
    nvb_cdi_device_names(spec, &names);
    for (size_t i = 0; i < names.n && n == 0; i++) {
        nvb_cdi_qname q;
        if (!nvb_cdi_parse_qualified_name(names.v[i], &q, why, sizeof why))
            abort(); /* a valid spec only has valid fully qualified names */
        nvb_cdi_qname_free(&q);
    }
    nvb_strv_free(&names);

    char *json = nvb_cdi_to_json(spec);
    if (json && (json_is_object(spec) || json_is_array(spec)))
        reread(json, NVB_CDI_FORMAT_JSON, spec);
    free(json);
    nvb_err err = {0};
    char *yaml = nvb_cdi_to_yaml(spec, &err);
    if (yaml)
        reread(yaml, NVB_CDI_FORMAT_YAML, spec);
    free(yaml);

    json_t *copy = json_deep_copy(spec);
    if (nvb_cdi_set_min_version(copy, &err) == 0 &&
        strcmp(json_string_value(json_object_get(copy, "cdiVersion")), nvb_cdi_min_version(copy)) != 0)
        abort();
    json_decref(copy);
}

/* Load the bytes as fmt and exercise what loads; a failure must say why. Whether it loaded. */
static bool load_and_exercise(const uint8_t *data, size_t size, nvb_cdi_format fmt, const char *name)
{
    nvb_err err = {0};
    json_t *spec = nvb_cdi_load_buffer((const char *)data, size, fmt, name, &err);
    if (!spec) {
        if (!err.msg[0])
            abort(); /* every failure says why */
        return false;
    }
    exercise(spec);
    json_decref(spec);
    return true;
}
