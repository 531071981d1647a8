/* Drop-ins written whole: see configure_dropin.h. */
#include "runtime/configure_dropin.h"
#include "runtime/configure_toml.h"
#include "util/cleanup.h"

#include <stdlib.h>

char *nvb_conf_dropin(const nvb_configure_opts *o, nvb_dropin_layout layout, nvb_err *err)
{
    const char *name = nvb_conf_runtime_name(o);
    _cleanup_free_ char *path = nvb_toml_quote(o->runtime_path);
    _cleanup_free_ char *qname = nvb_toml_quote(name);
    _cleanup_free_ char *key = nvb_toml_key(name);
    char *text = NULL;
    if (!path || !qname || !key ||
        !(text = layout(&(nvb_dropin_words){.name = name, .qname = qname, .key = key, .path = path}, o))) {
        nvb_errf(err, NVB_EXIT_IO, "out of memory");
        return NULL;
    }
    return text;
}
