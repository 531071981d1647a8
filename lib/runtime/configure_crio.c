/* nvbind runtime configure --runtime crio: a drop-in of nvbind's own
 * (/etc/crio/crio.conf.d/99-nvbind.conf), read by CRI-O after crio.conf, written whole. */
#include "runtime/configure.h"
#include "runtime/configure_toml.h"
#include "util/cleanup.h"

#include <stdio.h>
#include <stdlib.h>

char *nvb_conf_crio(const char *old, size_t len, const char *filename, const nvb_configure_opts *o, nvb_err *err)
{
    (void)old, (void)len, (void)filename;
    const char *name = o->runtime_name ? o->runtime_name : "nvbind";
    _cleanup_free_ char *path = nvb_toml_quote(o->runtime_path);
    _cleanup_free_ char *qname = nvb_toml_quote(name);
    _cleanup_free_ char *key = nvb_toml_key(name);
    char *text = NULL;
    /* [crio.runtime] comes first: written after its sub-table it would still be valid TOML,
     * but read top to bottom this is the order crio.conf uses. CRI-O reads CDI specs from
     * cdi_spec_dirs (CDI is always on since CRI-O 1.23); --enable-cdi names the folders. */
    if (!path || !qname || !key ||
        asprintf(&text,
                 "# Written by `nvbind runtime configure --runtime crio`; run it again rather than editing.\n"
                 "%s%s%s%s%s"
                 "[crio.runtime.runtimes.%s]\n"
                 "runtime_path = %s\n"
                 "runtime_type = \"oci\"\n"
                 "runtime_root = \"/run/%s\"\n",
                 o->set_as_default || o->enable_cdi ? "[crio.runtime]\n" : "",
                 o->set_as_default ? "default_runtime = " : "", o->set_as_default ? qname : "",
                 o->set_as_default ? "\n" : "",
                 o->enable_cdi ? "cdi_spec_dirs = [\"/etc/cdi\", \"/var/run/cdi\"]\n\n" : (o->set_as_default ? "\n" : ""),
                 key, path, name) < 0) {
        nvb_errf(err, NVB_EXIT_IO, "out of memory");
        return NULL;
    }
    return text;
}
