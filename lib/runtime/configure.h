/* nvbind runtime configure: register nvbind-runtime with a container engine by editing that
 * engine's own configuration file (docs/runtime.md, "Configuring engines").
 *
 * Each engine format has one file that turns the old text of the file into the new text
 * (a pure function, unit-tested without a filesystem); configure.c reads the file, compares,
 * keeps a backup and writes atomically. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include "util/error.h"

typedef enum nvb_conf_engine {
    NVB_CONF_DOCKER,
    NVB_CONF_CONTAINERD,
    NVB_CONF_CRIO,
    NVB_CONF_PODMAN,
} nvb_conf_engine;

typedef struct nvb_configure_opts {
    nvb_conf_engine engine;
    const char *path;          /* the file to edit; NULL = the engine's default (nvb_conf_default_path) */
    const char *runtime_name;  /* the name engines know the shim by; NULL = "nvbind" */
    const char *runtime_path;  /* absolute path of nvbind-runtime */
    bool set_as_default;       /* make it the engine's default runtime */
    bool enable_cdi;           /* turn the engine's CDI support on */
    bool dry_run;              /* print the new file, write nothing */
} nvb_configure_opts;

/* The name engines know the shim by: o->runtime_name, or "nvbind" when none is given. */
static inline const char *nvb_conf_runtime_name(const nvb_configure_opts *o)
{
    return o->runtime_name ? o->runtime_name : "nvbind";
}

/* The CRI plugin whose table holds containerd's runtimes: version 3 (containerd 2.x) has its
 * own name for it. */
static inline const char *nvb_conf_cri_plugin(int version)
{
    return version == 3 ? "io.containerd.cri.v1.runtime" : "io.containerd.grpc.v1.cri";
}

/* "docker", "containerd", "crio" (also "cri-o"), "podman"; -1 when unknown. */
int nvb_conf_engine_parse(const char *name);
const char *nvb_conf_engine_name(nvb_conf_engine e);
/* /etc/docker/daemon.json, /etc/containerd/config.toml, the two drop-ins. */
const char *nvb_conf_default_path(nvb_conf_engine e);

/* New contents of an engine's file from its old contents (old == NULL: no file yet).
 * filename names the file in messages. malloc'd text, or NULL with err set (NVB_EXIT_CONFIG
 * for a file that cannot be parsed or edited safely). */
char *nvb_conf_docker(const char *old, size_t len, const char *filename, const nvb_configure_opts *o, nvb_err *err);
char *nvb_conf_containerd(const char *old, size_t len, const char *filename, const nvb_configure_opts *o,
                          nvb_err *err);
char *nvb_conf_crio(const char *old, size_t len, const char *filename, const nvb_configure_opts *o, nvb_err *err);
char *nvb_conf_podman(const char *old, size_t len, const char *filename, const nvb_configure_opts *o, nvb_err *err);

/* Suffix of the copy of the previous file kept next to it before a change. */
#define NVB_CONF_BACKUP_SUFFIX ".nvbind-backup"

/* Read the file, compute its new contents and, unless they are the same or o->dry_run,
 * save the old file as FILE.nvbind-backup and write the new one atomically. Tells out what
 * happened in one line (with --dry-run: the new file). 1 when the file changed (or would),
 * 0 when nothing had to change, -1 with err set. */
int nvb_runtime_configure(const nvb_configure_opts *o, FILE *out, nvb_err *err);

/* containerd reads the files config.toml `imports` after it (and theirs), and a later file
 * wins: with containerd 1.x one that has any CRI section drops config.toml's whole section,
 * nvbind's runtime and default included, with no word from containerd. The installed
 * containerd is asked what it would run with (`config dump`); without it (or a 1.x one for a
 * version 3 file) the imported files are read by containerd's rules, one level. What undoes
 * the registration is said on warn, one line each; the number of such findings (0 for the
 * other engines and for a dry run). Reads the file as it is now (after nvb_runtime_configure,
 * the new one). */
unsigned nvb_conf_imports_check(const nvb_configure_opts *o, FILE *warn);
