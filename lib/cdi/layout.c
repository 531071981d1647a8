/* The CDI document layout as a table: which fields each object has and what they hold.
 * One table serves the validator (unknown fields, expected types) and the YAML loader
 * (typing plain scalars by the field they fill). */
#include "cdi/internal.h"

#include <stdio.h>
#include <string.h>

typedef struct field {
    const char *key;
    cdi_node kind;
} field;

static const field spec_fields[] = {
    {"cdiVersion", CDI_N_STR},
    {"kind", CDI_N_STR},
    {"annotations", CDI_N_STR_MAP},
    {"devices", CDI_N_DEVICE_LIST},
    {"containerEdits", CDI_N_EDITS},
    {NULL, CDI_N_ANY},
};

static const field device_fields[] = {
    {"name", CDI_N_STR},
    {"annotations", CDI_N_STR_MAP},
    {"containerEdits", CDI_N_EDITS},
    {NULL, CDI_N_ANY},
};

static const field edits_fields[] = {
    {"env", CDI_N_STR_LIST},
    {"deviceNodes", CDI_N_DEVNODE_LIST},
    {"mounts", CDI_N_MOUNT_LIST},
    {"hooks", CDI_N_HOOK_LIST},
    {"netDevices", CDI_N_NETDEV_LIST},
    {"intelRdt", CDI_N_INTELRDT},
    {"additionalGids", CDI_N_INT_LIST},
    {NULL, CDI_N_ANY},
};

static const field devnode_fields[] = {
    {"path", CDI_N_STR},
    {"hostPath", CDI_N_STR},
    {"type", CDI_N_STR},
    {"major", CDI_N_INT},
    {"minor", CDI_N_INT},
    {"fileMode", CDI_N_INT},
    {"permissions", CDI_N_STR},
    {"uid", CDI_N_INT},
    {"gid", CDI_N_INT},
    {NULL, CDI_N_ANY},
};

static const field mount_fields[] = {
    {"hostPath", CDI_N_STR},
    {"containerPath", CDI_N_STR},
    {"options", CDI_N_STR_LIST},
    {"type", CDI_N_STR},
    {NULL, CDI_N_ANY},
};

static const field hook_fields[] = {
    {"hookName", CDI_N_STR},
    {"path", CDI_N_STR},
    {"args", CDI_N_STR_LIST},
    {"env", CDI_N_STR_LIST},
    {"timeout", CDI_N_INT},
    {NULL, CDI_N_ANY},
};

static const field netdev_fields[] = {
    {"hostInterfaceName", CDI_N_STR},
    {"name", CDI_N_STR},
    {NULL, CDI_N_ANY},
};

static const field intelrdt_fields[] = {
    {"closID", CDI_N_STR},
    {"l3CacheSchema", CDI_N_STR},
    {"memBwSchema", CDI_N_STR},
    {"schemata", CDI_N_STR_LIST},
    {"enableMonitoring", CDI_N_BOOL},
    {"enableCMT", CDI_N_BOOL}, /* 0.7.0 to 1.0.0 only */
    {"enableMBM", CDI_N_BOOL}, /* 0.7.0 to 1.0.0 only */
    {NULL, CDI_N_ANY},
};

static const field *fields_of(cdi_node n)
{
    switch (n) {
    case CDI_N_SPEC: return spec_fields;
    case CDI_N_DEVICE: return device_fields;
    case CDI_N_EDITS: return edits_fields;
    case CDI_N_DEVNODE: return devnode_fields;
    case CDI_N_MOUNT: return mount_fields;
    case CDI_N_HOOK: return hook_fields;
    case CDI_N_NETDEV: return netdev_fields;
    case CDI_N_INTELRDT: return intelrdt_fields;
    default: return NULL;
    }
}

cdi_node cdi_child_node(cdi_node parent, const char *key)
{
    if (parent == CDI_N_STR_MAP)
        return CDI_N_STR;
    const field *f = fields_of(parent);
    for (; f && f->key; f++)
        if (strcmp(f->key, key) == 0)
            return f->kind;
    return CDI_N_ANY;
}

cdi_node cdi_item_node(cdi_node list)
{
    switch (list) {
    case CDI_N_DEVICE_LIST: return CDI_N_DEVICE;
    case CDI_N_DEVNODE_LIST: return CDI_N_DEVNODE;
    case CDI_N_MOUNT_LIST: return CDI_N_MOUNT;
    case CDI_N_HOOK_LIST: return CDI_N_HOOK;
    case CDI_N_NETDEV_LIST: return CDI_N_NETDEV;
    case CDI_N_STR_LIST: return CDI_N_STR;
    case CDI_N_INT_LIST: return CDI_N_INT;
    default: return CDI_N_ANY;
    }
}

const char *cdi_json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    case JSON_NULL: return "null";
    }
    return "value";
}

const char *cdi_quote(const char *s, char *buf, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    if (len < 8) {
        if (len)
            buf[0] = '\0';
        return buf;
    }
    size_t o = 0, limit = len - 6; /* room for "...\"" and the NUL */
    if (limit > 100)
        limit = 100;
    buf[o++] = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char tmp[5];
        size_t n = 0;
        if (*p == '"' || *p == '\\') {
            tmp[n++] = '\\';
            tmp[n++] = (char)*p;
        } else if (*p < 0x20 || *p == 0x7f) {
            tmp[n++] = '\\';
            tmp[n++] = 'x';
            tmp[n++] = hex[*p >> 4];
            tmp[n++] = hex[*p & 15];
        } else {
            tmp[n++] = (char)*p;
        }
        if (o + n > limit) {
            /* never leave half of a UTF-8 sequence before the ellipsis */
            size_t j = o - 1;
            while (j > 1 && ((unsigned char)buf[j] & 0xc0) == 0x80)
                j--;
            unsigned char lead = (unsigned char)buf[j];
            size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
            if (o - j < need)
                o = j;
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        memcpy(buf + o, tmp, n);
        o += n;
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}
