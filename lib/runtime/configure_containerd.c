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

static int edit(nvb_tedit *ed, int version, const nvb_configure_opts *o, nvb_err *err)
{
    const char *name = nvb_conf_runtime_name(o);
    const char *plugin = version == 3 ? "io.containerd.cri.v1.runtime" : "io.containerd.grpc.v1.cri";
    const char *cri[] = {"plugins", plugin};
    const char *ctrd[] = {"plugins", plugin, "containerd"};
    const char *rt[] = {"plugins", plugin, "containerd", "runtimes", name};
    const char *rt_opts[] = {"plugins", plugin, "containerd", "runtimes", name, "options"};
    _cleanup_free_ char *bin = nvb_toml_quote(o->runtime_path);
    _cleanup_free_ char *opts_body = NULL;
    if (!bin || asprintf(&opts_body, "  BinaryName = %s\n", bin) < 0)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    if (nvb_tedit_own_table(ed, rt, 5, "  runtime_type = \"io.containerd.runc.v2\"\n", err) < 0 ||
        nvb_tedit_own_table(ed, rt_opts, 6, opts_body, err) < 0)
        return -1;
    /* CDI first: where both tables are appended, the plugin's comes before its sub-table. */
    if (o->enable_cdi && (nvb_tedit_set(ed, cri, 2, "enable_cdi", NULL, true, err) < 0 ||
                          nvb_tedit_set_default(ed, cri, 2, "cdi_spec_dirs", CDI_DIRS, err) < 0))
        return -1;
    if (o->set_as_default && nvb_tedit_set(ed, ctrd, 3, "default_runtime_name", name, false, err) < 0)
        return -1;
    return 0;
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
