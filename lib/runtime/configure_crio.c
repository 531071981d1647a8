/* nvbind runtime configure --runtime crio: a drop-in of nvbind's own
 * (/etc/crio/crio.conf.d/99-nvbind.conf), read by CRI-O after crio.conf, written whole. */
#include "runtime/configure.h"
#include "runtime/configure_dropin.h"

#include <stdio.h>

static char *layout(const nvb_dropin_words *w, const nvb_configure_opts *o)
{
    char *text = NULL;
    /* [crio.runtime] comes first: written after its sub-table it would still be valid TOML,
     * but read top to bottom this is the order crio.conf uses. CRI-O reads CDI specs from
     * cdi_spec_dirs (CDI is always on since CRI-O 1.23); --enable-cdi names the folders. */
    if (asprintf(&text,
                 "# Written by `nvbind runtime configure --runtime crio`; run it again rather than editing.\n"
                 "%s%s%s%s%s"
                 "[crio.runtime.runtimes.%s]\n"
                 "runtime_path = %s\n"
                 "runtime_type = \"oci\"\n"
                 "runtime_root = \"/run/%s\"\n",
                 o->set_as_default || o->enable_cdi ? "[crio.runtime]\n" : "",
                 o->set_as_default ? "default_runtime = " : "", o->set_as_default ? w->qname : "",
                 o->set_as_default ? "\n" : "",
                 o->enable_cdi ? "cdi_spec_dirs = [\"/etc/cdi\", \"/var/run/cdi\"]\n\n" : (o->set_as_default ? "\n" : ""),
                 w->key, w->path, w->name) < 0)
        return NULL;
    return text;
}

char *nvb_conf_crio(const char *old, size_t len, const char *filename, const nvb_configure_opts *o, nvb_err *err)
{
    (void)old, (void)len, (void)filename;
    return nvb_conf_dropin(o, layout, err);
}
