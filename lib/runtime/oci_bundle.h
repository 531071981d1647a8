/* A private OCI bundle for a root filesystem (a Bolt-style capsule): config.json written from
 * scratch, the edits applied by oci_patch, run in the foreground by runc or crun, removed
 * afterwards, also on failure or signal. */
#pragma once
#include <jansson.h>
#include <stdbool.h>

#include "policy/edits.h"
#include "util/error.h"
#include "util/strv.h"

typedef struct nvb_bundle_opts {
    const char *rootfs;          /* the root filesystem folder (made absolute) */
    char *const *args;           /* process.args, n_args >= 1 */
    size_t n_args;
    const nvb_strv *env;         /* container env "KEY=VALUE" after the defaults; may be NULL */
    const nvb_edits *edits;      /* GPU edits; may be NULL */
    const char *hostname;        /* NULL = "nvbind" */
    const char *cwd;             /* process.cwd; NULL = "/" */
    bool terminal;               /* process.terminal */
    bool has_user;               /* process.user is uid:gid, else 0:0 */
    unsigned uid, gid;
} nvb_bundle_opts;

/* The config.json of a capsule:
 *   process: args, env (PATH, HOME=/root, then opts->env), cwd "/", uid/gid 0, terminal false,
 *            docker's default capability set less CAP_NET_RAW, noNewPrivileges, NOFILE 1024;
 *   root:    rootfs, writable (the capsule's own files, used in place as `runc run` does);
 *   mounts:  /proc, /dev (tmpfs), /dev/pts, /dev/shm, /dev/mqueue, a fresh sysfs at /sys
 *            and a cgroup mount at /sys/fs/cgroup (both read-only);
 *   linux:   pid, ipc, uts, mount and cgroup namespaces, the host's network (no network
 *            namespace: a capsule talks to the network like `podman --network host`), a
 *            device cgroup that denies everything and allows the standard character devices,
 *            docker's and podman's masked and read-only /proc and /sys paths, the seccomp
 *            allow list of oci_seccomp.h;
 * then opts->edits applied with nvb_oci_config_apply_edits (device nodes, their cgroup allow
 * rules, mounts, env, hooks). New reference, NULL with err set. */
json_t *nvb_bundle_config_new(const nvb_bundle_opts *opts, nvb_err *err);

/* Check that rootfs is a folder; errors say which and why (NVB_EXIT_USAGE). Nothing is written. */
int nvb_bundle_check_rootfs(const char *rootfs, nvb_err *err);

/* Where bundles go: $TMPDIR when set; else, for root, /run/nvbind/bundles (a tmpfs on
 * systemd hosts: nothing touches a disk, and a crash's leftovers go at reboot), made 0700
 * when create is true; else /tmp. */
const char *nvb_bundle_parent(bool create);
/* The name of a bundle folder: this prefix, then mkdtemp's six characters. */
#define NVB_BUNDLE_PREFIX "nvbind-bundle-"
/* Create a private bundle folder (mkdtemp NVB_BUNDLE_PREFIX "XXXXXX" under nvb_bundle_parent,
 * mode 0700) holding config.json, after sweeping the parent (nvb_bundle_sweep). *lock_fd is
 * a descriptor (close-on-exec) that keeps the bundle in use while it or a copy is open: pass
 * it to the runtime (nvb_fg_opts.pass_fd) so that it does so as long as the runtime runs.
 * Returns the folder's malloc'd path, NULL with err set (nothing left). */
char *nvb_bundle_create(const nvb_bundle_opts *opts, int *lock_fd, nvb_err *err);
/* Remove a bundle made by nvb_bundle_create (the runtime's log, its config.json, then the
 * folder). */
int nvb_bundle_remove(const char *dir);
/* Remove the bundles in parent that nobody uses any more: those of an nvbind killed with
 * SIGKILL whose runtime has exited too. Only folders of this user that hold nothing but a
 * written config.json go; quiet, best effort. */
void nvb_bundle_sweep(const char *parent);

typedef struct nvb_oci_run_opts {
    const char *runtime;         /* "runc", "crun" or a path; found in PATH */
    const char *argv0;           /* name shown in messages; NULL = runtime */
    nvb_bundle_opts bundle;
    const char *id;              /* container id; NULL = "nvbind-<pid>-<random>" */
    unsigned grace_ms;           /* after a forwarded SIGTERM/SIGINT, how long before SIGKILL;
                                  * 0 = 10000 */
    /* Told the runtime's pid before it runs (see nvb_fg_opts.spawned); may be NULL. */
    void (*spawned)(void *spawned_ctx, int runtime_pid);
    void *spawned_ctx;
} nvb_oci_run_opts;

/* Run a root filesystem through runc/crun: check the rootfs and find the runtime (before
 * anything is written), create the bundle, run `<runtime> run --bundle DIR ID` in the
 * foreground with stdio inherited, and remove the bundle afterwards.
 * Signals: SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to nvbind are forwarded to the runtime,
 * which passes them to the container; a second one, or grace_ms after the first, kills the
 * container (`<runtime> kill ID KILL`). Ctrl-C from a terminal already reaches the container
 * through the process group, so it is not sent twice. After a kill the container is deleted
 * (`<runtime> delete --force ID`).
 * Returns the container's exit status (0-255; 128+N when it died of signal N), or -1 with
 * err set (NVB_EXIT_RUNTIME when the runtime is missing or cannot start, or when it logged
 * its own error: it could not create or start the container). */
int nvb_oci_run(const nvb_oci_run_opts *opts, nvb_err *err);

/* The command line nvb_oci_run runs, for --dry-run:
 * "<runtime> --log=DIR/runtime.log --log-format=json run --bundle DIR ID". */
int nvb_oci_run_argv(const char *runtime, const char *bundle_dir, const char *id, nvb_strv *argv);
