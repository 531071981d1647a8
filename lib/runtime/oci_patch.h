/* Applying edits (env, device nodes, mounts, hooks) to an OCI runtime config.json: the one
 * code path behind `nvbind run --runtime runc|crun`, the nvbind-runtime shim and the C API's
 * OCI-bundle adapter. */
#pragma once
#include <jansson.h>
#include <sys/types.h>

#include "policy/edits.h"
#include "util/error.h"

#define NVB_OCI_CONFIG_MAX_SIZE (16u << 20) /* larger config.json files are refused */

/* Apply e to an OCI runtime config (a jansson object in the runtime-spec layout):
 *   process.env                 "KEY=VALUE" set, replacing an entry with the same KEY;
 *   linux.devices               one entry per device node not already listed (by path);
 *   linux.resources.devices     an allow rule ("rwm") per device node not already allowed;
 *   mounts                      a read-only (or, for IPC sockets, writable) bind mount per
 *                               file, unless the config already mounts that destination;
 *   hooks.<hookName>            each hook, unless the same path and args are already there.
 * Applying the same edits twice leaves the config as after the first time. Missing parent
 * objects are created; a field of the wrong JSON type is an error naming it
 * ("<name>: process.env[3]: expected a string"), and the config is then left unchanged.
 * Returns 0, or -1 with err set (NVB_EXIT_INPUT, or NVB_EXIT_IO when memory runs out). */
int nvb_oci_config_apply_edits(json_t *config, const nvb_edits *e, const char *name, nvb_err *err);

/* Parse a config.json text (at most NVB_OCI_CONFIG_MAX_SIZE): a JSON object, else an error
 * "<name>:<line>:<column>: <why>" (NVB_EXIT_INPUT). New reference. */
json_t *nvb_oci_config_parse(const char *text, size_t len, const char *name, nvb_err *err);

/* Replace a bundle's config.json atomically: a temporary file in the same folder, renamed
 * over it, so the runtime reads the old file or the new one, never a mix. Unlike the spec
 * files there is no fsync: a bundle lives as long as its container, and the engines write a
 * new one for every start (podman and docker write theirs without fsync too); on a disk, the
 * fsync of file and folder would cost more than everything else the shim does. */
int nvb_bundle_write_config(const char *path, const char *text, mode_t mode, nvb_err *err);

/* Read <bundle>/config.json, apply e, and write it back with nvb_bundle_write_config (same
 * mode). Returns 0 or -1 with err set. */
int nvb_bundle_apply_edits(const char *bundle_dir, const nvb_edits *e, nvb_err *err);

/* Serialize a config the way nvbind writes it (compact, keys in order, trailing newline). */
char *nvb_oci_config_dump(const json_t *config);
