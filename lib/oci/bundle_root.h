/* Where a container's root filesystem is: root.path of the bundle's config.json. */
#pragma once
#include <jansson.h>
#include <stddef.h>
#include "util/error.h"

/* Largest config.json read: real ones are tens of KiB; the runtime wrote it. */
#define NVB_OCI_CONFIG_MAX (16 * 1024 * 1024)

/* root.path of a parsed config.json as the document holds it (inside config); NULL with err
 * when it is not a non-empty string without NUL bytes (the messages below). */
const char *nvb_oci_config_root_value(const json_t *config, const char *bundle, nvb_err *err);

/* root.path of a parsed config.json as a host path: as is when absolute, else joined to
 * bundle. malloc'd; NULL with err set as above. */
char *nvb_oci_config_root_host_path(const json_t *config, const char *bundle, nvb_err *err);

/* From the text of a config.json (len bytes), the root filesystem's host path: root.path
 * as is when absolute, else joined to bundle. Returns a malloc'd path; NULL with err set
 * (NVB_EXIT_INPUT, "bundle B: config.json: root.path missing"). */
char *nvb_oci_config_root_path(const char *json, size_t len, const char *bundle, nvb_err *err);

/* Read bundle/config.json and return its root filesystem's host path (as above). */
char *nvb_oci_bundle_root_path(const char *bundle, nvb_err *err);

/* What a hook does first: read the container state from state_fd (the runtime's stdin),
 * find root.path through the bundle's config.json, and open that root O_PATH. Returns the
 * fd and the root's host path in *root_path (malloc'd), or -1 with err set.
 * given, when not NULL, is root.path as that config.json holds it, told by whoever wrote
 * the hook into the same document (nvbind-runtime, --root-path): then config.json is not
 * read, which at every container start would parse tens of KB for one string. */
int nvb_oci_state_root_open(int state_fd, const char *given, char **root_path, nvb_err *err);
