/* Helpers shared by the files of lib/cdi; not part of its interface. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Write s as a double-quoted, escaped, one-line string into buf (truncated with "..." when
 * longer than about 100 bytes), for error messages. Returns buf. */
const char *cdi_quote(const char *s, char *buf, size_t len);
#define CDI_QUOTE_MAX 128

/* "object", "array", "string", "integer", "number", "boolean", "null". */
const char *cdi_json_type_name(const json_t *v);

/* The place of a JSON node in a CDI spec: decides which fields are allowed and which type the
 * YAML loader gives plain scalars. */
typedef enum cdi_node {
    CDI_N_ANY = 0,   /* outside the CDI layout: generic typing */
    CDI_N_SPEC,
    CDI_N_DEVICE_LIST,
    CDI_N_DEVICE,
    CDI_N_EDITS,
    CDI_N_DEVNODE_LIST,
    CDI_N_DEVNODE,
    CDI_N_MOUNT_LIST,
    CDI_N_MOUNT,
    CDI_N_HOOK_LIST,
    CDI_N_HOOK,
    CDI_N_NETDEV_LIST,
    CDI_N_NETDEV,
    CDI_N_INTELRDT,
    CDI_N_STR_MAP,   /* annotations: every value a string */
    CDI_N_STR_LIST,
    CDI_N_INT_LIST,
    CDI_N_STR,       /* scalars */
    CDI_N_INT,
    CDI_N_BOOL,
} cdi_node;

/* What a field `key` of a node of kind `parent` is; CDI_N_ANY for a field CDI does not know.
 * For lists, the kind of their items. */
cdi_node cdi_child_node(cdi_node parent, const char *key);
cdi_node cdi_item_node(cdi_node list);

/* Released CDI versions, oldest first; index -1 for an unknown version. */
int cdi_version_index(const char *v);
const char *cdi_version_at(int idx);
#define CDI_V030 2 /* the earliest version engines accept */
#define CDI_V110 9

/* Call fn for every versioned feature the spec uses, in document order: the version index it
 * needs, the field path ("devices[0].containerEdits.deviceNodes[1].hostPath") and a short
 * description ("hostPath on device nodes"). */
typedef void (*cdi_feature_fn)(void *ud, int vidx, const char *path, const char *what);
void cdi_walk_features(const json_t *spec, cdi_feature_fn fn, void *ud);
