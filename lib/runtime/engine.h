/* Engine command lines: how a GPU request reaches podman, docker and Bolt. Pure functions of
 * their inputs (no host access), so --dry-run prints exactly what a real run executes. */
#pragma once
#include <stdbool.h>

#include "config/config.h"
#include "policy/edits.h"
#include "util/error.h"
#include "util/strv.h"

enum nvb_engine { NVB_ENGINE_PODMAN, NVB_ENGINE_DOCKER, NVB_ENGINE_BOLT, NVB_ENGINE_RUNC, NVB_ENGINE_CRUN };

/* "podman", "docker", "bolt", "runc", "crun" -> engine; -1 for anything else. */
int nvb_engine_parse(const char *name, enum nvb_engine *out);
const char *nvb_engine_name(enum nvb_engine e);
/* runc and crun take a root filesystem and an OCI bundle rather than an image. */
bool nvb_engine_is_oci(enum nvb_engine e);

/* The CDI kinds nvbind writes: nvidia.com/gpu for podman/docker, nvidia.com/gpu-bolt for Bolt. */
#define NVB_KIND_GPU "nvidia.com/gpu"
#define NVB_KIND_BOLT "nvidia.com/gpu-bolt"

typedef struct nvb_engine_cmd {
    const char *exe;               /* argv[0]: the engine's name as the user types it */
    const nvb_strv *extra_args;    /* [runtime] extra_args (may be NULL) */
    const nvb_strv *cdi_devices;   /* fully qualified CDI device names (may be NULL) */
    const nvb_strv *env;           /* container environment "KEY=VALUE" (may be NULL) */
    /* Device nodes and mounts given as explicit flags: a profile's own extra files with the
     * CDI forms, everything (GPU nodes, driver files, env) with docker's legacy form. */
    const nvb_edits *edits;
    enum nvb_isolation isolation;  /* bolt: --capsule-isolation gpu-<level> */
    const char *image;
    char *const *cmd;              /* the container's command (may be empty) */
    size_t n_cmd;
} nvb_engine_cmd;

/* An image the engine cannot mistake for an option: not empty, not starting with '-'
 * (NVB_EXIT_USAGE). Every argv builder below checks it. */
int nvb_engine_check_image(const char *image, nvb_err *err);

/* The first of [runtime] extra_args that makes the engine detach (-d, --detach,
 * --detach=true, a cluster such as -itd), or NULL. See detach.c. */
const char *nvb_engine_detach_arg(const nvb_strv *extra_args);

/* podman run --rm [EXTRA] [--device CDI-NAME]... [--device HOST[:CONTAINER]]...
 *     [--volume HOST:CONTAINER:ro]... [--env K=V]... -- IMAGE [CMD...]
 * Docker's CDI form (25+) is the same with "docker". Edits' env goes out as --env too. */
int nvb_engine_argv_cdi(const nvb_engine_cmd *c, nvb_strv *argv, nvb_err *err);
/* docker run --rm [EXTRA] [--device HOST[:CONTAINER]]... [--volume HOST:CONTAINER[:ro]]...
 *     [--env K=V]... -- IMAGE [CMD...]: every edit as an explicit flag, for a docker without
 * CDI. Hooks have no docker flag: the library cache is not refreshed in this form. */
int nvb_engine_argv_legacy(const nvb_engine_cmd *c, nvb_strv *argv, nvb_err *err);
/* bolt surge run [--cdi-device nvidia.com/gpu-bolt=DEV]... --capsule-isolation gpu-LEVEL
 *     --runtime-optimization gpu-passthrough [EXTRA] [--env K=V]... IMAGE [CMD...] */
int nvb_engine_argv_bolt(const nvb_engine_cmd *c, nvb_strv *argv, nvb_err *err);

/* ---- docker's CDI support ------------------------------------------------------------------ */

/* The probes nvbind runs, in a form every docker client knows (20.10 included):
 * docker version --format '{{json .}}' (Client.Version, Server.Version), then, only when both
 * are 25 or newer, docker info --format '{{json .}}' (CDISpecDirs). */
extern const char *const nvb_docker_version_format;
extern const char *const nvb_docker_info_format;

/* The major versions of the docker client and server from `docker version`'s JSON.
 * Returns 0, or -1 when either is missing or not a version (both then 0 where missing). */
int nvb_docker_majors(const char *version_json, int *client, int *server);

/* Decide whether `docker run --device vendor/class=name` works with specs in spec_dir: client
 * and server 25 or newer and CDI on. info_json is `docker info`'s JSON (may be NULL):
 * CDISpecDirs (docker 27+) lists the folders when CDI is on and is empty when off; docker 25 and
 * 26 do not report it, and daemon_json (the text of /etc/docker/daemon.json, may be NULL)
 * decides: "features": {"cdi": true} turns it on, with the default folders /etc/cdi and
 * /var/run/cdi. Returns 1 for CDI, 0 for the legacy form; why says which and why (one line). */
int nvb_docker_cdi_decide(int client_major, int server_major, const char *info_json, const char *spec_dir,
                          const char *daemon_json, char *why, size_t len);

/* The name under which docker's daemon runs nvbind's OCI runtime shim: a runtime of `docker
 * info`'s Runtimes ({"nvbind": {"path": "/usr/bin/nvbind-runtime"}}) whose path's last
 * component is nvbind-runtime or a wrapper's nvbind-runtime-SUFFIX. With it the shim
 * claims GPUs at every create of the container (run, start, restart) and gives them back at
 * delete. Returns 1 with name set (the shortest such name), 0 when there is none or info_json
 * is not JSON. */
int nvb_docker_shim_runtime(const char *info_json, char *name, size_t len);
