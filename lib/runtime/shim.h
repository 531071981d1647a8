/* nvbind-runtime: an OCI runtime shim. Engines call it like runc; on `create` (and `run`) it
 * finds the container's GPU requests in the bundle's config.json, applies the edits with the
 * same code as `nvbind run --runtime runc`, and then execs the real runtime with the original
 * arguments. docs/runtime.md describes its use with podman and docker. */
#pragma once
#include <jansson.h>
#include <stdbool.h>

#include "config/config.h"
#include "isolation/isolation.h"
#include "policy/nvidia_env.h"
#include "util/error.h"
#include "util/strv.h"

/* Where the command word and the bundle are in a runc/crun command line. */
typedef struct nvb_shim_argv {
    int command;            /* argv index of the command (create, start, ...); -1 when none */
    const char *bundle;     /* create/run: the --bundle/-b value; NULL = the current folder */
    const char *id;         /* create/run/delete: the container id (the command's first
                             * operand); NULL when none was given */
    const char *root;       /* the --root global option (the runtime's state folder); NULL
                             * when not given */
    const char *log;        /* the --log global option (the runtime's log file); NULL when
                             * not given */
    const char *log_format; /* --log-format: "json" or "text" (runc's default); NULL */
    bool version;           /* --version or -v came before any command */
} nvb_shim_argv;

/* Skip runc's and crun's global options (--root DIR, --log FILE, --log-format F, --criu PATH,
 * --rootless V, --cgroup-manager M, --log-level L with a value; --debug, --systemd-cgroup and
 * any other as flags; "--opt=value" and single-dash forms too), keeping the values of --root,
 * --log and --log-format and noting --version/-v; find
 * the command; for create/run find --bundle/-b among its options; for create, run and delete
 * the container id (the first operand). A command's options count before and after its
 * operand, up to "--", as runc and crun read them. Nothing in argv is changed. */
void nvb_shim_parse_argv(int argc, char *const *argv, nvb_shim_argv *out);
/* True for the commands whose bundle the shim edits: create and run. */
bool nvb_shim_command_edits(const char *command);

typedef struct nvb_oci_request {
    char *source;           /* "NVIDIA_VISIBLE_DEVICES", "annotation nvbind.gpus", ... */
    char *list;             /* the request list, as for --gpu */
    bool from_env;          /* the container's own environment asked */
} nvb_oci_request;

typedef struct nvb_oci_requests {
    nvb_oci_request *v;
    size_t n;
    char *profile;          /* the "nvbind.profile" annotation, NULL when absent */
    bool has_isolation;     /* the "nvbind.isolation" annotation was given: */
    enum nvb_isolation isolation;  /* shared, exclusive or virtual */
    nvb_nvidia_env nvidia;  /* NVIDIA_DRIVER_CAPABILITIES, NVIDIA_REQUIRE_*, NVIDIA_DISABLE_REQUIRE */
} nvb_oci_requests;

/* The GPU requests a config.json carries:
 *   process.env NVIDIA_VISIBLE_DEVICES (the last one wins; "", "void" and "none" ask nothing);
 *   annotations "cdi.k8s.io/<any>" whose comma-separated value names nvidia.com/gpu=<name>
 *   devices (other kinds are the engine's business);
 *   the annotation "nvbind.gpus" (a list as for --gpu), "nvbind.profile", and
 *   "nvbind.isolation" (shared, exclusive or virtual: the level of this container's claims);
 * and NVIDIA's request variables of process.env (policy/nvidia_env.h) into nvidia.
 * Fields of the wrong JSON type, an unknown isolation level and an unknown
 * NVIDIA_DRIVER_CAPABILITIES name are errors naming them (NVB_EXIT_INPUT). */
int nvb_oci_find_requests(const json_t *config, nvb_oci_requests *out, nvb_err *err);
void nvb_oci_requests_clear(nvb_oci_requests *r);

/* A privileged container: CAP_SYS_ADMIN in process.capabilities.bounding (what --privileged
 * gives; with it a container can mount anything and reach every device anyway). */
bool nvb_oci_config_privileged(const json_t *config);

/* Whether [security] lets a request from the container's environment through. */
bool nvb_shim_env_request_allowed(const nvb_config *cfg, bool privileged);
/* Whether [security] lets the annotations (nvbind.gpus, nvbind.isolation, nvbind.profile,
 * cdi.k8s.io/<any>) through at all: an engine copies the image's annotations into config.json
 * next to its caller's, so they may come from whoever built the image. Off by default. */
bool nvb_shim_annotation_requests_allowed(const nvb_config *cfg);
/* True when a container at level asked takes no more than at configured: virtual (a MIG slice
 * or an MPS-limited share) < shared (the whole GPU, next to others) < exclusive (the whole
 * GPU, alone). */
bool nvb_isolation_within(enum nvb_isolation asked, enum nvb_isolation configured);
/* Apply [security] to r: drop the requests it refuses (env requests as
 * nvb_shim_env_request_allowed says, annotations unless allowed, then also the profile and
 * isolation annotations), each named in one "PROG: ignoring ..." line on stderr. An isolation
 * annotation wider than [bolt.capsule] isolation_level (nvb_isolation_within) fails with
 * NVB_EXIT_INPUT when a request is left: an annotation may narrow the level, never widen it. */
int nvb_shim_apply_policy(const nvb_config *cfg, nvb_oci_requests *r, bool privileged, const char *prog, nvb_err *err);

/* What a create allocated, left standing for a caller that execs the runtime next: the exec
 * drops the whole address space at once, where freeing the parsed config.json, the host and
 * the edits takes thousands of free() calls (about a sixth of the create's instructions with
 * one GPU). nvb_shim_leftovers_free() when the exec does not happen. */
typedef struct nvb_shim_leftovers {
    void *v[8];
    void (*drop[8])(void *);
    size_t n;
} nvb_shim_leftovers;
void nvb_shim_leftovers_free(nvb_shim_leftovers *l);

typedef struct nvb_shim_ctx {
    const nvb_config *cfg;
    const char *root;          /* host root for discovery; NULL or "/" = [host] root, else "/" */
    const char *driver_root;   /* NULL = [host] driver_root, else the root */
    const char *hook_path;     /* absolute path of nvbind for the hooks */
    const char *prog;          /* "nvbind-runtime", for warnings */
    /* GPU claims (docs/isolation.md). With container_id set, the selected devices are claimed
     * for it before config.json is written (the "nvbind.isolation" annotation, else
     * [bolt.capsule] isolation_level; never waiting: engines expect create to answer), held
     * by this process and then by the container (its init, found through oci_state, the real
     * runtime's state file of the container). A denial fails with NVB_EXIT_BUSY and leaves
     * config.json untouched. A GPU request without container_id or oci_state (an id the
     * runtime's state cannot be found by, such as ".ctr1") fails with NVB_EXIT_USAGE, nothing
     * written or claimed: a GPU is never handed out without its claim. */
    const char *container_id;
    const char *oci_state;
    nvb_isolation_grant *grant; /* out (required with container_id): what was claimed; give it
                                 * back with nvb_isolation_release if the runtime cannot start */
    nvb_shim_leftovers *leftovers; /* out, optional: a successful edit's memory is left here
                                    * instead of freed (see nvb_shim_leftovers) */
} nvb_shim_ctx;

/* The create step: read <bundle>/config.json, find the requests, apply [security] to them
 * (nvb_shim_apply_policy), resolve what is left, and when any GPU is asked
 * for, check NVIDIA_REQUIRE_* against the host and the selected GPUs, claim it (see
 * nvb_shim_ctx), apply the edits (with what a `virtual` grant adds: MPS variables and
 * folders, a MIG device in place of a GPU; the profile's driver files narrowed to
 * NVIDIA_DRIVER_CAPABILITIES when set) and write config.json back
 * atomically. Without a request the file is not written at all (it stays byte-identical).
 * Returns 1 when edited, 0 when untouched, -1 with err set (nothing written, nothing
 * claimed). */
int nvb_shim_edit_bundle(const nvb_shim_ctx *ctx, const char *bundle, nvb_err *err);

/* The real runtime: [runtime] oci_runtime (a name or a path), else runc, else crun, found
 * in PATH (a default PATH when the engine gave none), never this program itself.
 * malloc'd path, NULL with err set (NVB_EXIT_RUNTIME). */
char *nvb_shim_find_runtime(const nvb_config *cfg, const char *self_exe, nvb_err *err);

/* Append one line at level ("error", "warning") saying msg to the runtime log path, as runc
 * does with --log/--log-format: format "json" gives {"level":L,"msg":M,"time":RFC3339}, any
 * other runc's default text form, time="RFC3339" level=L msg="M" (quotes, backslashes and
 * control characters escaped). Engines read a failed runtime's error from there. path NULL or
 * "": nothing to do, 0. -1 with errno when the file cannot be written. */
int nvb_shim_log_write(const char *path, const char *format, const char *level, const char *msg);

/* nvbind-runtime --version: its own version (version), then the real runtime's path and its
 * own `--version` output (exec'd). Returns only on failure (the exit status to use). */
int nvb_shim_version(const char *version);

/* Everything nvbind-runtime does; returns only on failure (the exit status to use). Its
 * errors go to stderr and, with --log, to the runtime log (nvb_shim_log_write). */
int nvb_shim_main(int argc, char **argv);
