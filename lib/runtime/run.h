/* `nvbind run`: one GPU container on podman, docker, Bolt, runc or crun, from a device
 * request and a profile. The CLI and the C API call this; each engine's details live in
 * engine.c, oci_bundle.c and spec_install.c. */
#pragma once
#include <stdbool.h>
#include <stdio.h>

#include "config/config.h"
#include "runtime/compose.h"
#include "runtime/engine.h"
#include "runtime/select.h"
#include "util/error.h"
#include "util/strv.h"

/* What is about to start, for exclusive claims, virtual limits and the audit log (issue 6,
 * docs/isolation.md). before_start may change the selection (a MIG device in place of a GPU:
 * the device edits are rebuilt from it afterwards) and add to plan->extra and plan->env (MPS
 * variables and mounts); every engine form then carries them. */
typedef struct nvb_run_info {
    enum nvb_engine engine;
    const nvb_host *host;            /* NULL for --gpu none */
    nvb_selection *sel;              /* empty for --gpu none */
    nvb_gpu_plan *plan;
    enum nvb_isolation isolation;
    const char *profile;             /* NULL: none */
    const char *container_id;        /* runc/crun: the id the bundle runs under; podman/docker:
                                      * the --name given when name_containers (the user's own
                                      * --name from [runtime] extra_args when it has one); bolt:
                                      * a name for the claims when name_containers (bolt names
                                      * its capsules itself, so it is not passed on); else NULL */
    const char *runtime_exe;         /* the engine's path */
    bool runtime_claims;             /* docker through nvbind-runtime: the shim claims at every
                                      * create of the container (run, start, restart) and gives
                                      * back at delete; before_start only checks that the GPUs
                                      * are free (and waits for them), holding nothing */
} nvb_run_info;

typedef struct nvb_run_opts {
    const char *runtime;             /* podman|docker|bolt|runc|crun; NULL = [runtime] default_runtime,
                                      * else the first of podman, docker found in PATH */
    const char *gpus;                /* request list; NULL = [gpu] default_selection ("all") */
    const char *profile;             /* NULL = no profile (every capability, [runtime.environment]) */
    const char *isolation;           /* shared|exclusive|virtual; NULL = [bolt.capsule] isolation_level */
    const char *rootfs;              /* runc/crun: --rootfs DIR (then every arg is the command) */
    char *const *args;               /* IMAGE [CMD...], or for runc/crun ROOTFS [CMD...] / CMD... */
    size_t n_args;
    const char *hook_path;           /* nvbind binary for the hooks; [cdi] hook_path wins */
    const char *root;                /* host root for discovery; NULL or "/" = [host] root or "/" */
    const char *driver_root;         /* NULL = [host] driver_root or the root */
    const nvb_strv *library_search;  /* extra library folders (may be NULL) */
    const nvb_strv *engine_args;     /* the user's own engine options, each "--NAME" or "--NAME=VALUE"
                                      * (runtime/engine_opts.h): checked against the isolation
                                      * ([security] allow_run_options), then given to podman and
                                      * docker after [runtime] extra_args, or made config.json
                                      * settings for runc and crun. May be NULL */
    const nvb_strv *env;             /* --env KEY=VALUE: the container's own variables, after the
                                      * profile's; NVIDIA's request variables among them count as
                                      * in the shim (runtime/plan_nvidia.h). May be NULL */
    bool dry_run;                    /* print the command(s) on dry_run_out, run and write nothing */
    FILE *dry_run_out;               /* NULL = stdout */
    bool dry_run_json;               /* the dry run prints {"engine": NAME, "commands": [[ARG...]...]} */
    unsigned grace_ms;               /* runc/crun: SIGKILL this long after a forwarded SIGTERM; 0 = 10 s */
    bool name_containers;            /* podman/docker: --name nvbind-<pid>-<random> (for claims);
                                      * bolt: such a name for the claims only. Not in dry runs */
    /* Called once the devices are chosen, before anything is written or started; a failure
     * stops the run with its error. after_exit gets the container's status (or -1). */
    int (*before_start)(void *ctx, const nvb_run_info *info, nvb_err *err);
    void (*after_exit)(void *ctx, const nvb_run_info *info, int status);
    /* Runs with GPUs whose claims nvbind holds (not runtime_claims): the engine's (or runc's /
     * crun's) process exists (pid) and waits to run the engine until this returns; should
     * nvbind die before, it runs nothing. Claims record it so they hold while it runs, also
     * when nvbind is gone. May be NULL. */
    void (*engine_started)(void *ctx, const nvb_run_info *info, int engine_pid);
    void *hook_ctx;
} nvb_run_opts;

/* Run (or with dry_run, print) the container. Order of checks, each before anything is
 * written: runtime name (NVB_EXIT_USAGE), isolation, arguments, the engine in PATH
 * (NVB_EXIT_RUNTIME), the root filesystem (runc/crun), the request list's syntax, the host,
 * the devices, the profile. Then the spec is installed when stale (podman, docker with CDI,
 * bolt) and the engine runs in the foreground.
 * Returns the container's exit status (0-255), 0 after a dry run, or -1 with err set.
 * podman's and docker's own failures (their exit status 125: image not found, bad flag; 126
 * and 127: the container's command cannot be run or found) are -1 with NVB_EXIT_RUNTIME, and
 * a spec this run created is removed again; so is runc's or crun's failure to start the
 * container (an error in its log, see nvb_oci_run). [runtime] extra_args that detach the
 * container are NVB_EXIT_CONFIG, an IMAGE starting with '-' NVB_EXIT_USAGE, both checked
 * right after the runtime and isolation names. */
int nvb_run(const nvb_config *cfg, const nvb_run_opts *o, nvb_err *err);
