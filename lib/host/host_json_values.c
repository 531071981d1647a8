/* Values of the host document: see host_json_values.h. */
#include "host/host_json_values.h"

#include <stdio.h>

json_t *nvb_json_pci_id(unsigned id)
{
    if (!id)
        return json_null();
    char buf[16];
    snprintf(buf, sizeof buf, "0x%04x", id);
    return json_string(buf);
}

void nvb_jsonw_kpci_id(nvb_jsonw *w, const char *key, unsigned id)
{
    static const char hex[] = "0123456789abcdef";
    nvb_jsonw_key(w, key);
    if (!id) {
        nvb_jsonw_null(w);
        return;
    }
    if (id > 0xffff) { /* not a PCI id, but say what sysfs said */
        char buf[16];
        snprintf(buf, sizeof buf, "0x%04x", id);
        nvb_jsonw_string(w, buf);
        return;
    }
    /* `info --json` is on a path measured against doing nothing: no printf for 4 digits. */
    char buf[6] = {'0', 'x', hex[id >> 12], hex[(id >> 8) & 15], hex[(id >> 4) & 15], hex[id & 15]};
    nvb_jsonw_stringn(w, buf, sizeof buf);
}

json_t *nvb_json_int_or_null(int64_t v)
{
    return v < 0 ? json_null() : json_integer(v);
}

void nvb_jsonw_kint_or_null(nvb_jsonw *w, const char *key, int64_t v)
{
    nvb_jsonw_key(w, key);
    if (v < 0)
        nvb_jsonw_null(w);
    else
        nvb_jsonw_int(w, v);
}

json_t *nvb_json_node_paths(const nvb_devnode_list *l)
{
    json_t *a = json_array();
    for (size_t i = 0; i < l->n; i++)
        json_array_append_new(a, json_string(l->v[i].path));
    return a;
}

void nvb_jsonw_knode_paths(nvb_jsonw *w, const char *key, const nvb_devnode_list *l)
{
    nvb_jsonw_key(w, key);
    nvb_jsonw_array_begin(w);
    for (size_t i = 0; i < l->n; i++)
        nvb_jsonw_string(w, l->v[i].path);
    nvb_jsonw_array_end(w);
}
