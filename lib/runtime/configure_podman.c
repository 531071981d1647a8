/* nvbind runtime configure --runtime podman: a containers.conf drop-in of nvbind's own
 * (/etc/containers/containers.conf.d/99-nvbind.conf), written whole. podman reads CDI specs
 * from /etc/cdi and /var/run/cdi without any setting, so --enable-cdi adds nothing here. */
#include "runtime/configure.h"
#include "runtime/configure_dropin.h"

#include <stdio.h>

static char *layout(const nvb_dropin_words *w, const nvb_configure_opts *o)
{
    char *text = NULL;
    if (asprintf(&text,
                 "# Written by `nvbind runtime configure --runtime podman`; run it again rather than editing.\n"
                 "%s%s%s"
                 "[engine.runtimes]\n"
                 "%s = [%s]\n",
                 o->set_as_default ? "[engine]\nruntime = " : "", o->set_as_default ? w->qname : "",
                 o->set_as_default ? "\n\n" : "",
                 w->key, w->path) < 0)
        return NULL;
    return text;
}

char *nvb_conf_podman(const char *old, size_t len, const char *filename, const nvb_configure_opts *o, nvb_err *err)
{
    (void)old, (void)len, (void)filename;
    return nvb_conf_dropin(o, layout, err);
}
