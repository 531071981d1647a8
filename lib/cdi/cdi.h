/* CDI (Container Device Interface) specs as documents: names, minimum version, JSON and YAML
 * writers, a loader for both formats, validation and the scan of spec directories.
 *
 * The in-memory model of a spec is a jansson object in exactly the CDI JSON layout:
 *   { "cdiVersion", "kind", "annotations"?, "devices": [ { "name", "annotations"?,
 *     "containerEdits": { "env", "deviceNodes", "mounts", "hooks", ... } } ], "containerEdits"? }
 * Nothing here looks at the host; docs/cdi.md explains the rules in words. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"
#include "util/strv.h"

/* ---- names -------------------------------------------------------------------------------
 * kind = VENDOR/CLASS, fully qualified device name = VENDOR/CLASS=NAME.
 * Each *_valid function returns true when valid; otherwise, when why is non-NULL, it writes
 * one line saying what is wrong (no trailing newline, no field path). */

/* Vendor: starts with a letter, ends with a letter or digit, letters/digits/'_'/'-'/'.'
 * between, no empty dot-separated label, at most 253 characters (a domain-like prefix). */
bool nvb_cdi_vendor_valid(const char *vendor, char *why, size_t len);
/* Class: starts with a letter, ends with a letter or digit, letters/digits/'_'/'-'/'.'
 * between, at most 63 characters. A '.' in the class needs cdiVersion 0.6.0. */
bool nvb_cdi_class_valid(const char *cls, char *why, size_t len);
/* Kind: exactly one '/', a valid vendor before it and a valid class after it. */
bool nvb_cdi_kind_valid(const char *kind, char *why, size_t len);
/* Device name: starts and ends with a letter or digit, letters/digits/'_'/'-'/'.'/':' between.
 * A name starting with a digit needs cdiVersion 0.5.0. */
bool nvb_cdi_device_name_valid(const char *name, char *why, size_t len);

typedef struct nvb_cdi_qname {
    char *vendor, *cls, *name; /* owned; all NULL after a failed parse */
} nvb_cdi_qname;

/* Split and check "vendor/class=name". Returns false (and fills why) when it is not a valid
 * fully qualified name; out is then zeroed. Free a successful result with nvb_cdi_qname_free. */
bool nvb_cdi_parse_qualified_name(const char *qualified, nvb_cdi_qname *out, char *why, size_t len);
void nvb_cdi_qname_free(nvb_cdi_qname *q);
/* "kind=name", newly allocated; NULL when out of memory. Does not validate. */
char *nvb_cdi_qualified_name(const char *kind, const char *name);

/* ---- versions ----------------------------------------------------------------------------- */

/* The newest CDI version this code knows (its rules follow that version's table). */
const char *nvb_cdi_latest_version(void);
/* Whether v is a released CDI version ("0.1.0" ... "1.1.0"; no "v" prefix). */
bool nvb_cdi_version_known(const char *v);
/* <0, 0, >0 like strcmp, for two known versions; unknown versions sort before all known ones. */
int nvb_cdi_version_compare(const char *a, const char *b);

/* The lowest cdiVersion whose features the spec uses (at least "0.3.0"). A feature counts as
 * used as soon as its field is present, because engines that predate a field reject it as
 * unknown even when it is empty. Parts of the spec with the wrong JSON type are ignored.
 * When feature is non-NULL it receives the field path of the first feature that needs the
 * returned version ("" for the base version), e.g. "devices[0].containerEdits.deviceNodes[0].hostPath". */
const char *nvb_cdi_min_version(const json_t *spec);
const char *nvb_cdi_min_version_why(const json_t *spec, char *feature, size_t len);
/* Set spec's "cdiVersion" to nvb_cdi_min_version(spec) (inserted first if absent, replaced in
 * place otherwise). Returns 0, or -1 when spec is not an object or memory runs out. */
int nvb_cdi_set_min_version(json_t *spec, nvb_err *err);

/* ---- writers ------------------------------------------------------------------------------ */

/* JSON: 2-space indent, keys in insertion order, trailing newline. NULL when out of memory. */
char *nvb_cdi_to_json(const json_t *spec);
/* YAML: block style; every string double-quoted and escaped, integers, booleans and null
 * plain, so any YAML 1.1 or 1.2 reader (libyaml, Go's yaml) reads back the same data.
 * NULL with err set on failure (out of memory, nesting deeper than the loader accepts). */
char *nvb_cdi_to_yaml(const json_t *spec, nvb_err *err);

/* ---- loader ------------------------------------------------------------------------------- */

typedef enum nvb_cdi_format {
    NVB_CDI_FORMAT_AUTO = 0, /* sniff: '{' or '[' first means JSON, anything else YAML */
    NVB_CDI_FORMAT_JSON,
    NVB_CDI_FORMAT_YAML,
} nvb_cdi_format;

#define NVB_CDI_MAX_FILE_SIZE (16u << 20) /* larger spec files are refused */
#define NVB_CDI_MAX_DEPTH 64              /* deeper nesting is refused (CDI needs 6) */
#define NVB_CDI_MAX_NODES 250000u         /* YAML values after alias expansion */

/* By extension: .json -> JSON, .yaml/.yml -> YAML, anything else AUTO. */
nvb_cdi_format nvb_cdi_format_from_path(const char *path);
/* Parse a spec document. name is used in error messages ("<name>:<line>:<column>: ...").
 * AUTO: text whose first character is '{' or '[' must be JSON; anything else is read as YAML
 * (engines read every spec with a YAML parser, so YAML in a .json file works for them and
 * here; JSON-looking text is held to JSON so typos are caught). YAML plain scalars are typed
 * by the CDI field they fill: integer fields (major, minor, fileMode, uid, gid, timeout,
 * additionalGids) and boolean fields read YAML integers/booleans, string fields keep the text;
 * quoted scalars are always strings. Returns a new reference, or NULL with err set
 * (NVB_EXIT_INPUT). The result is not validated: call nvb_cdi_validate. */
json_t *nvb_cdi_load_buffer(const char *data, size_t len, nvb_cdi_format fmt, const char *name,
                            nvb_err *err);
/* Read and parse a file (at most NVB_CDI_MAX_FILE_SIZE). The content decides the format as
 * for AUTO, whatever the extension, as it does for the engines. */
json_t *nvb_cdi_load_file(const char *path, nvb_err *err);
/* The same for a spec the user named on the command line: a pipe or /dev/stdin is read too. */
json_t *nvb_cdi_load_input(const char *path, nvb_err *err);

/* ---- validation --------------------------------------------------------------------------- */

/* Check a loaded spec against the CDI rules: required fields and their JSON types, unknown
 * fields, known cdiVersion at least the minimum its content needs, kind and device names,
 * duplicate names, non-empty device edits, absolute container paths, hook names, "KEY=VALUE"
 * env entries, device node type/permissions, integer ranges, annotations. Appends one line
 * per problem to problems (when non-NULL), each starting with the field path:
 *   devices[2].name: "bad name!" is not a valid device name: ...
 * Returns the number of problems (0 = valid), or -1 when memory runs out. */
int nvb_cdi_validate(const json_t *spec, nvb_strv *problems);

/* Append the fully qualified name ("kind=name") of every device whose name is a string.
 * Returns the number appended, or -1 when memory runs out or spec has no string kind. */
int nvb_cdi_device_names(const json_t *spec, nvb_strv *out);

/* ---- spec directories --------------------------------------------------------------------- */

/* The engines' default directories, in priority order (later wins): /etc/cdi, /var/run/cdi. */
extern const char *const nvb_cdi_default_dirs[];
extern const size_t nvb_cdi_default_dirs_n;

typedef struct nvb_cdi_spec_file {
    char *path;
    char *kind;          /* NULL when the file could not be loaded or has no string kind */
    char *cdi_version;   /* likewise */
    size_t dir_index;    /* index of its directory in the list: its priority */
    bool valid;          /* loaded and validated without problems */
    bool ignored_by_engines; /* a .yml file: engines read only .json and .yaml */
    nvb_strv devices;    /* fully qualified device names it declares */
    nvb_strv problems;   /* load error or validation problems, one line each */
    nvb_strv conflicts;  /* one line per device also declared by another file */
} nvb_cdi_spec_file;

typedef struct nvb_cdi_listing {
    nvb_cdi_spec_file *files; /* directory order, then file name order within a directory */
    size_t n;
    nvb_strv dir_errors;      /* directories that exist but could not be read */
} nvb_cdi_listing;

/* Scan dirs (in priority order, later wins; NULL/0 = nvb_cdi_default_dirs) for *.json,
 * *.yaml and *.yml files (subdirectories are skipped, missing directories are not an error),
 * load and validate each, and resolve devices declared by more than one valid file as the
 * engines do: the file in the later directory wins; two files in the same directory make the
 * device unusable. Both sides of every conflict get a line in their conflicts.
 * Returns 0, or -1 with err set when memory runs out. Free with nvb_cdi_listing_free. */
int nvb_cdi_list(const char *const *dirs, size_t ndirs, nvb_cdi_listing *out, nvb_err *err);
void nvb_cdi_listing_free(nvb_cdi_listing *l);
