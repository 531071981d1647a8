/* nvbind runtime configure --runtime containerd: config.toml, version 2 (containerd 1.x, the
 * CRI plugin "io.containerd.grpc.v1.cri") or version 3 (containerd 2.x,
 * "io.containerd.cri.v1.runtime"), edited as text (configure_toml.h). */
#include "runtime/configure.h"
#include "runtime/configure_toml.h"
#include "util/cleanup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void tedit_freep(nvb_tedit **ed) { nvb_tedit_free(*ed); }

/* The CDI spec folders containerd gets with --enable-cdi, when it has none set. */
#define CDI_DIRS "[\"/etc/cdi\", \"/var/run/cdi\"]"

/* config.toml's version: 2 or 3 (a new file gets 2); 0 with err for version 1 or none. */
static int layout_version(const nvb_tedit *ed, bool empty, const char *filename, nvb_err *err)
{
    if (empty)
        return 2;
    const toml_node *v = toml_table_get(nvb_tedit_root(ed), "version");
    if (v && v->type == TOML_INTEGER && (v->integer == 2 || v->integer == 3))
        return (int)v->integer;
    if (v && v->type == TOML_INTEGER)
        nvb_errf(err, NVB_EXIT_CONFIG, "%s:%u:%u: version = %lld: nvbind edits the version 2 and 3 layouts only",
                 filename, v->line, v->column, (long long)v->integer);
    else
        nvb_errf(err, NVB_EXIT_CONFIG,
                 "%s: no `version = 2` or `version = 3`: containerd reads it as the version 1 layout, which nvbind "
                 "does not edit (convert it with `containerd config migrate`)",
                 filename);
    return 0;
}

/* A scalar of runc's options as TOML text, malloc'd; NULL for anything else (nvbind copies
 * no tables, arrays or floats, and no string holding a NUL). */
static char *scalar_text(const toml_node *v)
{
    char *out = NULL;
    switch (v->type) {
    case TOML_STRING:
        return strlen(v->string.ptr) == v->string.len ? nvb_toml_quote(v->string.ptr) : NULL;
    case TOML_BOOLEAN:
        return strdup(v->boolean ? "true" : "false");
    case TOML_INTEGER:
        return asprintf(&out, "%lld", (long long)v->integer) < 0 ? NULL : out;
    default:
        return NULL;
    }
}

/* nvbind's runtime is runc with another binary: where nvbind's options do not say otherwise,
 * they are runc's (as nvidia-ctk copies them). SystemdCgroup above all: a runtime on another
 * cgroup driver than the kubelet's puts pods where the kubelet does not look. */
static int copy_runc_options(nvb_tedit *ed, const char *plugin, const char *const *rt_opts, nvb_err *err)
{
    const char *path[] = {"plugins", plugin, "containerd", "runtimes", "runc", "options"};
    const toml_node *t = nvb_tedit_root(ed);
    for (size_t i = 0; i < 6 && t; i++)
        t = toml_table_get(t, path[i]);
    if (!t || t->type != TOML_TABLE)
        return 0;
    for (size_t i = 0; i < t->table.len; i++) {
        const toml_kv *kv = &t->table.items[i];
        if (strlen(kv->key) != kv->key_len || strcmp(kv->key, "BinaryName") == 0)
            continue;
        _cleanup_free_ char *value = scalar_text(kv->value);
        if (value && nvb_tedit_set_default(ed, rt_opts, 6, kv->key, value, err) < 0)
            return -1;
    }
    return 0;
}

/* Only the keys nvbind needs are set in its runtime's tables; whatever else the user put
 * there (privileged_without_host_devices above all: without it a privileged pod gets every
 * host device) stays. */
static int edit(nvb_tedit *ed, int version, const nvb_configure_opts *o, nvb_err *err)
{
    const char *name = nvb_conf_runtime_name(o);
    const char *plugin = nvb_conf_cri_plugin(version);
    const char *cri[] = {"plugins", plugin};
    const char *ctrd[] = {"plugins", plugin, "containerd"};
    const char *rt[] = {"plugins", plugin, "containerd", "runtimes", name};
    const char *rt_opts[] = {"plugins", plugin, "containerd", "runtimes", name, "options"};
    /* CDI first: where both tables are appended, the plugin's comes before its sub-tables. */
    if (o->enable_cdi && (nvb_tedit_set(ed, cri, 2, "enable_cdi", NULL, true, err) < 0 ||
                          nvb_tedit_set_default(ed, cri, 2, "cdi_spec_dirs", CDI_DIRS, err) < 0))
        return -1;
    if (o->set_as_default && nvb_tedit_set(ed, ctrd, 3, "default_runtime_name", name, false, err) < 0)
        return -1;
    if (nvb_tedit_set(ed, rt, 5, "runtime_type", "io.containerd.runc.v2", false, err) < 0 ||
        nvb_tedit_set(ed, rt_opts, 6, "BinaryName", o->runtime_path, false, err) < 0)
        return -1;
    return strcmp(name, "runc") == 0 ? 0 : copy_runc_options(ed, plugin, rt_opts, err);
}

char *nvb_conf_containerd(const char *old, size_t len, const char *filename, const nvb_configure_opts *o,
                          nvb_err *err)
{
    size_t skip = 0;
    while (old && skip < len && strchr(" \t\r\n", old[skip]))
        skip++;
    bool empty = !old || skip == len;
    /* A new file starts with its layout version; containerd 1.x reads a file without one as version 1. */
    const char *text = empty ? "version = 2\n" : old;
    size_t text_len = empty ? strlen(text) : len;
    __attribute__((cleanup(tedit_freep))) nvb_tedit *ed = nvb_tedit_open(text, text_len, filename, err);
    if (!ed)
        return NULL;
    int version = layout_version(ed, empty, filename, err);
    if (!version || edit(ed, version, o, err) < 0)
        return NULL;
    return nvb_tedit_finish(ed, err);
}
