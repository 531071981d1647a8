/* The container engines' own `run` options that `nvbind run` passes through: which take a
 * value, which would undo nvbind's GPU isolation (refused unless [security]
 * allow_run_options names them, docs/threat-model.md), and what runc and crun make of them
 * (config.json settings). The command line turns what the user typed into canonical tokens
 * "--NAME" or "--NAME=VALUE" (nvb_engine_opt_canonical); the rest works on those. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "policy/edits.h"
#include "util/error.h"
#include "util/strv.h"

/* What runc/crun make of an option: a config.json setting, nothing (already so), or none
 * (the option has no meaning without an engine: refused there). */
typedef enum {
    NVB_EOPT_OCI_NONE,
    NVB_EOPT_OCI_IGNORE,     /* --rm, --interactive: a bundle is always removed, stdin always attached */
    NVB_EOPT_OCI_VOLUME,     /* mounts[] */
    NVB_EOPT_OCI_USER,       /* process.user */
    NVB_EOPT_OCI_WORKDIR,    /* process.cwd */
    NVB_EOPT_OCI_TTY,        /* process.terminal */
    NVB_EOPT_OCI_HOSTNAME,   /* hostname */
    NVB_EOPT_OCI_ENTRYPOINT, /* process.args[0..] */
    NVB_EOPT_OCI_NAME,       /* the container id */
} nvb_eopt_oci;

typedef struct nvb_engine_opt {
    const char *name;   /* long name without "--" */
    char short_name;    /* podman's and docker's short letter, or 0 */
    bool takes_value;
    nvb_eopt_oci oci;
} nvb_engine_opt;

/* The option named name (len characters, without "--"), or NULL. */
const nvb_engine_opt *nvb_engine_opt_long(const char *name, size_t len);
/* The option of a short letter, or NULL. */
const nvb_engine_opt *nvb_engine_opt_short(char c);
/* The i-th option of the table (shell completions list them), NULL past the end. */
const nvb_engine_opt *nvb_engine_opt_at(size_t i);

/* Refuse what would undo the isolation of the GPUs nvbind hands out, unless cfg's [security]
 * allow_run_options names the option: --privileged, --cap-add, --device of a GPU node or CDI
 * GPU name, --device-cgroup-rule, --gpus, --runtime, --security-opt, a --volume or --mount of
 * the host's GPU device nodes, /dev, or the claims folder, an --annotation nvbind or CDI reads.
 * --detach is nvb_run's to judge (it depends on who holds the claims: lib/runtime/run.c).
 * -1 with err (NVB_EXIT_USAGE) naming the option and why. */
int nvb_engine_opts_check(const nvb_strv *args, const nvb_config *cfg, nvb_err *err);

/* runc/crun: the process and container settings the options ask for. */
typedef struct nvb_engine_oci {
    const char *cwd;          /* NULL = "/" */
    bool has_user;
    unsigned uid, gid;
    bool terminal;
    const char *hostname;     /* NULL = "nvbind" */
    const char *name;         /* the container id; NULL = made up */
    nvb_strv entrypoint;      /* put before the command */
} nvb_engine_oci;

/* Translate args for runc/crun (engine: its name, for messages): mounts go into *mounts, the
 * rest into *out (clear it with nvb_engine_oci_clear). An option without meaning there is
 * refused (NVB_EXIT_USAGE), naming it. */
int nvb_engine_opts_oci(const nvb_strv *args, const char *engine, nvb_engine_oci *out, nvb_edits *mounts,
                        nvb_err *err);
void nvb_engine_oci_clear(nvb_engine_oci *o);
