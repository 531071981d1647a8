/* nvbind runtime configure --runtime docker: daemon.json, edited as JSON (jansson), every
 * key nvbind does not own kept as it was. */
#include "runtime/configure.h"
#include "util/cleanup.h"
#include "util/json_text.h"

#include <jansson.h>
#include <string.h>


/* obj[key] as an object, created when absent; NULL (err set) when it is something else. */
static json_t *child_object(json_t *obj, const char *key, const char *where, const char *filename, nvb_err *err)
{
    json_t *c = json_object_get(obj, key);
    if (!c) {
        c = json_object();
        if (!c || json_object_set_new(obj, key, c) < 0) {
            nvb_errf(err, NVB_EXIT_IO, "out of memory");
            return NULL;
        }
    } else if (!json_is_object(c)) {
        nvb_errf(err, NVB_EXIT_CONFIG, "%s: \"%s\" is not an object; nvbind will not replace it", filename, where);
        return NULL;
    }
    return c;
}

static int set(json_t *obj, const char *key, json_t *value)
{
    return value && json_object_set_new(obj, key, value) == 0 ? 0 : -1;
}

/* The edits: runtimes.NAME.path, default-runtime, features.cdi. 0, or -1 with err. */
static int edit(json_t *root, const char *filename, const nvb_configure_opts *o, nvb_err *err)
{
    const char *name = nvb_conf_runtime_name(o);
    char where[256];
    json_t *runtimes = child_object(root, "runtimes", "runtimes", filename, err);
    if (!runtimes)
        return -1;
    snprintf(where, sizeof where, "runtimes.%s", name);
    /* Other keys of nvbind's entry (runtimeArgs) are the user's: kept. */
    json_t *entry = child_object(runtimes, name, where, filename, err);
    if (!entry)
        return -1;
    if (set(entry, "path", json_string(o->runtime_path)) < 0)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    if (o->set_as_default && set(root, "default-runtime", json_string(name)) < 0)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    if (o->enable_cdi) {
        json_t *features = child_object(root, "features", "features", filename, err);
        if (!features)
            return -1;
        if (set(features, "cdi", json_true()) < 0)
            return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    }
    return 0;
}

char *nvb_conf_docker(const char *old, size_t len, const char *filename, const nvb_configure_opts *o, nvb_err *err)
{
    json_auto_t *root = NULL;
    /* An empty daemon.json is what docker itself accepts as "no settings". */
    size_t skip = 0;
    while (old && skip < len && strchr(" \t\r\n", old[skip]))
        skip++;
    if (old && skip < len) {
        json_error_t je;
        root = json_loadb(old, len, JSON_REJECT_DUPLICATES, &je);
        if (!root) {
            nvb_errf(err, NVB_EXIT_CONFIG, "%s:%d:%d: %s", filename, je.line, je.column, je.text);
            return NULL;
        }
        if (!json_is_object(root)) {
            nvb_errf(err, NVB_EXIT_CONFIG, "%s: the top level is not a JSON object", filename);
            return NULL;
        }
    } else if (!(root = json_object())) {
        nvb_errf(err, NVB_EXIT_IO, "out of memory");
        return NULL;
    }
    json_auto_t *before = json_deep_copy(root);
    if (!before) {
        nvb_errf(err, NVB_EXIT_IO, "out of memory");
        return NULL;
    }
    if (edit(root, filename, o, err) < 0)
        return NULL;
    /* Nothing to change: the file stays byte for byte as it is, whatever its layout. */
    if (old && skip < len && json_equal(before, root))
        return strndup(old, len);
    char *text = nvb_json_dump_line(root, JSON_INDENT(4) | JSON_PRESERVE_ORDER);
    if (!text)
        nvb_errf(err, NVB_EXIT_IO, "out of memory");
    return text;
}
