/* nvbind runtime configure --runtime podman: a containers.conf drop-in of nvbind's own
 * (/etc/containers/containers.conf.d/99-nvbind.conf), written whole. podman reads CDI specs
 * from /etc/cdi and /var/run/cdi without any setting, so --enable-cdi adds nothing here. */
#include "runtime/configure.h"
#include "runtime/configure_toml.h"
#include "util/cleanup.h"

#include <stdio.h>
#include <stdlib.h>

char *nvb_conf_podman(const char *old, size_t len, const char *filename, const nvb_configure_opts *o, nvb_err *err)
{
    (void)old, (void)len, (void)filename;
    const char *name = o->runtime_name ? o->runtime_name : "nvbind";
    _cleanup_free_ char *path = nvb_toml_quote(o->runtime_path);
    _cleanup_free_ char *qname = nvb_toml_quote(name);
    _cleanup_free_ char *key = nvb_toml_key(name);
    char *text = NULL;
    if (!path || !qname || !key ||
        asprintf(&text,
                 "# Written by `nvbind runtime configure --runtime podman`; run it again rather than editing.\n"
                 "%s%s%s"
                 "[engine.runtimes]\n"
                 "%s = [%s]\n",
                 o->set_as_default ? "[engine]\nruntime = " : "", o->set_as_default ? qname : "",
                 o->set_as_default ? "\n\n" : "",
                 key, path) < 0) {
        nvb_errf(err, NVB_EXIT_IO, "out of memory");
        return NULL;
    }
    return text;
}
