#include "runtime/oci_bundle.h"
#include "runtime/foreground.h"
#include "runtime/oci_patch.h"
#include "runtime/oci_seccomp.h"
#include "runtime/runtime_log.h"
#include "util/cleanup.h"
#include "util/fileio.h"
#include "util/spawn.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* docker's default capability set (podman's is the same less CAP_MKNOD, CAP_NET_RAW and
 * CAP_AUDIT_WRITE) less CAP_NET_RAW; nothing inheritable or ambient. A capsule shares the
 * host's network namespace: with CAP_NET_RAW its root could open packet sockets there and
 * read (or forge) the host's and every other container's traffic, loopback included. */
static const char *const default_caps[] = {
    "CAP_CHOWN",  "CAP_DAC_OVERRIDE", "CAP_FSETID",     "CAP_FOWNER",           "CAP_MKNOD",
    "CAP_SETGID", "CAP_SETUID",       "CAP_SETFCAP",    "CAP_SETPCAP",          "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL",     "CAP_AUDIT_WRITE", NULL,
};

/* The paths docker and podman hide (maskedPaths: an empty read-only tmpfs over a folder,
 * /dev/null over a file) or make read-only, by default: kernel memory (/proc/kcore), the
 * kernel keyring (/proc/keys), timing and scheduler leaks (/proc/timer_list,
 * /proc/sched_debug, /proc/latency_stats), firmware and ACPI tables, energy counters that
 * leak secrets (powercap, CVE-2020-8694), the host's block devices, and the writable kernel
 * tunables (/proc/sys, /proc/sysrq-trigger). */
static const char *const masked_paths[] = {
    "/proc/acpi",       "/proc/asound",      "/proc/kcore",
    "/proc/keys",       "/proc/latency_stats", "/proc/timer_list",
    "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
    "/sys/firmware",    "/sys/devices/virtual/powercap", "/sys/dev/block",
    "/sys/fs/selinux",  NULL,
};

/* /sys/fs/cgroup is here too: on a cgroup v1 host runc 1.1 mounts a writable tmpfs there to
 * hold the controllers (read-only themselves); made read-only, no file can be put in it.
 * Then each folder a cgroup v1 hierarchy may have there, by the names runc and crun give them
 * (every v1 controller of the kernel, the pairs mounted together, the named hierarchies of
 * systemd, elogind and OpenRC, and hybrid's cgroup2): crun makes a read-only path with a
 * recursive bind taken before it makes the controllers read-only, so on a cgroup v1 host the
 * copies of the controllers over them stayed writable (crun 1.8) and container root could
 * change its own cgroup's files. A path the container lacks is passed over by both. */
static const char *const readonly_paths[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", "/sys/fs/cgroup",
    "/sys/fs/cgroup/blkio", "/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpuacct", "/sys/fs/cgroup/cpu,cpuacct",
    "/sys/fs/cgroup/cpuset", "/sys/fs/cgroup/devices", "/sys/fs/cgroup/freezer", "/sys/fs/cgroup/hugetlb",
    "/sys/fs/cgroup/memory", "/sys/fs/cgroup/misc", "/sys/fs/cgroup/net_cls", "/sys/fs/cgroup/net_prio",
    "/sys/fs/cgroup/net_cls,net_prio", "/sys/fs/cgroup/perf_event", "/sys/fs/cgroup/pids", "/sys/fs/cgroup/rdma",
    "/sys/fs/cgroup/debug", "/sys/fs/cgroup/systemd", "/sys/fs/cgroup/elogind", "/sys/fs/cgroup/openrc",
    "/sys/fs/cgroup/unified", NULL,
};

static json_t *string_array(const char *const *v)
{
    json_t *a = json_array();
    for (; a && *v; v++)
        json_array_append_new(a, json_string(*v));
    return a;
}

static json_t *mount_entry(const char *dest, const char *type, const char *source, const char *const *options)
{
    return json_pack("{s:s, s:s, s:s, s:o}", "destination", dest, "type", type, "source", source, "options",
                     string_array(options));
}

static json_t *default_mounts(void)
{
    static const char *const proc_o[] = {"nosuid", "noexec", "nodev", NULL};
    static const char *const dev_o[] = {"nosuid", "strictatime", "mode=755", "size=65536k", NULL};
    static const char *const pts_o[] = {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5",
                                        NULL};
    static const char *const shm_o[] = {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k", NULL};
    static const char *const mq_o[] = {"nosuid", "noexec", "nodev", NULL};
    /* A fresh sysfs, read-only, as docker and podman mount it: a bind of the host's /sys,
     * even with "ro", would keep every mount beneath it (cgroupfs, debugfs, tracefs, bpf,
     * securityfs) writable. Real root may mount sysfs while it shares the host's network
     * namespace; only a user namespace that does not own that network namespace may not. */
    static const char *const sys_o[] = {"nosuid", "noexec", "nodev", "ro", NULL};
    /* With the cgroup namespace, the container's own cgroup seen as the root, read-only:
     * moving itself to another cgroup (the host's root devices cgroup) is how a container
     * would escape its device rules. */
    static const char *const cgroup_o[] = {"nosuid", "noexec", "nodev", "relatime", "ro", NULL};
    return json_pack("[o, o, o, o, o, o, o]", mount_entry("/proc", "proc", "proc", proc_o),
                     mount_entry("/dev", "tmpfs", "tmpfs", dev_o), mount_entry("/dev/pts", "devpts", "devpts", pts_o),
                     mount_entry("/dev/shm", "tmpfs", "shm", shm_o), mount_entry("/dev/mqueue", "mqueue", "mqueue", mq_o),
                     mount_entry("/sys", "sysfs", "sysfs", sys_o),
                     mount_entry("/sys/fs/cgroup", "cgroup", "cgroup", cgroup_o));
}

static json_t *allow_rule(bool allow, const char *type, long long maj, long long min, const char *access)
{
    json_t *r = json_pack("{s:b, s:s}", "allow", allow, "access", access);
    if (r && type)
        json_object_set_new(r, "type", json_string(type));
    if (r && maj >= 0)
        json_object_set_new(r, "major", json_integer(maj));
    if (r && min >= 0)
        json_object_set_new(r, "minor", json_integer(min));
    return r;
}

/* Deny every device, then allow what every container has (runc and crun make these nodes). */
static json_t *device_rules(void)
{
    return json_pack("[o, o, o, o, o, o, o, o, o, o, o, o]", allow_rule(false, NULL, -1, -1, "rwm"),
                     allow_rule(true, "c", -1, -1, "m"), allow_rule(true, "b", -1, -1, "m"),
                     allow_rule(true, "c", 1, 3, "rwm"),   /* null */
                     allow_rule(true, "c", 1, 5, "rwm"),   /* zero */
                     allow_rule(true, "c", 1, 7, "rwm"),   /* full */
                     allow_rule(true, "c", 1, 8, "rwm"),   /* random */
                     allow_rule(true, "c", 1, 9, "rwm"),   /* urandom */
                     allow_rule(true, "c", 5, 0, "rwm"),   /* tty */
                     allow_rule(true, "c", 5, 1, "rwm"),   /* console */
                     allow_rule(true, "c", 5, 2, "rwm"),   /* ptmx */
                     allow_rule(true, "c", 136, -1, "rwm") /* pts */);
}

int nvb_bundle_check_rootfs(const char *rootfs, nvb_err *err)
{
    struct stat st;
    if (!rootfs || !*rootfs)
        return nvb_errf(err, NVB_EXIT_USAGE, "no root filesystem given");
    if (stat(rootfs, &st) < 0)
        return nvb_errf_errno(err, NVB_EXIT_USAGE, errno, "root filesystem %s", rootfs);
    if (!S_ISDIR(st.st_mode))
        return nvb_errf(err, NVB_EXIT_USAGE, "root filesystem %s: not a folder", rootfs);
    return 0;
}

json_t *nvb_bundle_config_new(const nvb_bundle_opts *o, nvb_err *err)
{
    if (nvb_bundle_check_rootfs(o->rootfs, err) < 0)
        return NULL;
    if (!o->args || o->n_args == 0 || !o->args[0] || !*o->args[0]) {
        nvb_errf(err, NVB_EXIT_USAGE, "no command to run in %s (a root filesystem has no default command)", o->rootfs);
        return NULL;
    }
    _cleanup_free_ char *root = realpath(o->rootfs, NULL);
    if (!root) {
        nvb_errf_errno(err, NVB_EXIT_USAGE, errno, "root filesystem %s", o->rootfs);
        return NULL;
    }
    json_t *args = json_array(), *env = json_pack("[s, s]", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                                                   "HOME=/root");
    for (size_t i = 0; args && i < o->n_args; i++)
        json_array_append_new(args, json_string(o->args[i]));
    json_t *caps = string_array(default_caps);
    json_t *process = json_pack(
        "{s:b, s:{s:I, s:I}, s:o, s:o, s:s, s:{s:O, s:O, s:O}, s:[{s:s, s:i, s:i}], s:b}", "terminal", o->terminal,
        "user", "uid", (json_int_t)(o->has_user ? o->uid : 0), "gid", (json_int_t)(o->has_user ? o->gid : 0), "args",
        args, "env", env, "cwd", o->cwd ? o->cwd : "/", "capabilities", "bounding", caps, "effective", caps,
        "permitted", caps, "rlimits", "type", "RLIMIT_NOFILE", "hard", 1024, "soft", 1024, "noNewPrivileges", 1);
    json_decref(caps);
    json_t *namespaces = json_pack("[{s:s}, {s:s}, {s:s}, {s:s}, {s:s}]", "type", "pid", "type", "ipc", "type", "uts",
                                   "type", "mount", "type", "cgroup");
    json_t *linux_ = json_pack("{s:{s:o}, s:o, s:o, s:o, s:o}", "resources", "devices", device_rules(), "namespaces",
                               namespaces, "maskedPaths", string_array(masked_paths), "readonlyPaths",
                               string_array(readonly_paths), "seccomp",
                               nvb_oci_seccomp_default(nvb_oci_seccomp_ptrace_safe()));
    json_t *config = json_pack("{s:s, s:o, s:{s:s, s:b}, s:s, s:o, s:o}", "ociVersion", "1.0.2", "process", process,
                               "root", "path", root, "readonly", 0, "hostname", o->hostname ? o->hostname : "nvbind",
                               "mounts", default_mounts(), "linux", linux_);
    if (!config) {
        nvb_errf(err, NVB_EXIT_IO, "out of memory while building config.json");
        return NULL;
    }
    /* The caller's env and the edits go through the same patcher as every other bundle. */
    nvb_edits env_edits = {0};
    int r = 0;
    if (o->env)
        for (size_t i = 0; r == 0 && i < o->env->n; i++)
            r = strchr(o->env->v[i], '=') ? nvb_strv_push(&env_edits.env, o->env->v[i]) : 0;
    if (r < 0)
        nvb_errf(err, NVB_EXIT_IO, "out of memory");
    if (r == 0 && o->edits)
        r = nvb_oci_config_apply_edits(config, o->edits, "config.json", err);
    if (r == 0)
        r = nvb_oci_config_apply_edits(config, &env_edits, "config.json", err);
    nvb_edits_clear(&env_edits);
    if (r < 0) {
        json_decref(config);
        return NULL;
    }
    return config;
}

/* A bundle is in use from its creation until its runtime exits, and may go only then. Its
 * config.json carries shared flock(2) locks: one on the descriptor that writes it, taken
 * before the first byte, so that a config.json with content is always locked; then one on
 * a read-only descriptor that nvbind keeps and passes to the runtime, which holds it as long
 * as it runs, beyond a killed nvbind (runc and crun close it in the container before its
 * program starts). A bundle whose config.json has content and can be locked exclusively has
 * lost both: nvb_bundle_sweep removes it. Returns the read-only descriptor (close-on-exec),
 * or -1 with err set and nothing left. */
static int write_locked_config(const char *path, const char *data, nvb_err *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return nvb_errf_errno(err, NVB_EXIT_IO, errno, "cannot write %s", path);
    int lock = -1;
    bool ok = flock(fd, LOCK_SH) == 0 && nvb_write_all(fd, data, strlen(data)) == 0 &&
              (lock = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) >= 0 && flock(lock, LOCK_SH) == 0;
    int e = errno;
    if (close(fd) < 0 && ok) {
        ok = false;
        e = errno;
    }
    if (!ok) {
        if (lock >= 0)
            close(lock);
        unlink(path);
        return nvb_errf_errno(err, NVB_EXIT_IO, e, "cannot write %s", path);
    }
    return lock;
}

const char *nvb_bundle_parent(bool create)
{
    const char *tmp = getenv("TMPDIR");
    if (tmp && tmp[0] == '/')
        return tmp;
    if (geteuid() == 0) {
        static const char run_dir[] = "/run/nvbind", bundles[] = "/run/nvbind/bundles";
        if (!create)
            return bundles;
        if ((mkdir(run_dir, 0700) == 0 || errno == EEXIST) && (mkdir(bundles, 0700) == 0 || errno == EEXIST) &&
            access(bundles, W_OK | X_OK) == 0)
            return bundles;
    }
    return "/tmp";
}

char *nvb_bundle_create(const nvb_bundle_opts *opts, int *lock_fd, nvb_err *err)
{
    json_t *config = nvb_bundle_config_new(opts, err);
    if (!config)
        return NULL;
    _cleanup_free_ char *text = nvb_oci_config_dump(config);
    json_decref(config);
    if (!text) {
        nvb_errf(err, NVB_EXIT_IO, "out of memory");
        return NULL;
    }
    const char *tmp = nvb_bundle_parent(true);
    nvb_bundle_sweep(tmp);
    char *dir = NULL;
    if (asprintf(&dir, "%s/" NVB_BUNDLE_PREFIX "XXXXXX", tmp) < 0) {
        nvb_errf(err, NVB_EXIT_IO, "out of memory");
        return NULL;
    }
    if (!mkdtemp(dir)) { /* mkdtemp makes it 0700: the bundle is ours alone */
        nvb_errf_errno(err, NVB_EXIT_IO, errno, "cannot create a bundle folder in %s", tmp);
        free(dir);
        return NULL;
    }
    _cleanup_free_ char *path = nvb_path_join(dir, "config.json");
    if (!path)
        nvb_errf(err, NVB_EXIT_IO, "out of memory");
    if (!path || (*lock_fd = write_locked_config(path, text, err)) < 0) {
        rmdir(dir);
        free(dir);
        return NULL;
    }
    return dir;
}

int nvb_bundle_remove(const char *dir)
{
    if (!dir)
        return 0;
    _cleanup_free_ char *path = nvb_path_join(dir, "config.json");
    _cleanup_free_ char *log = nvb_path_join(dir, NVB_RUNTIME_LOG);
    if (log)
        unlink(log);
    if (path && unlink(path) < 0 && errno != ENOENT)
        return -1;
    return rmdir(dir) < 0 && errno != ENOENT ? -1 : 0;
}

/* One folder of the sweep: ours (owner and mode as mkdtemp made it), holding a config.json
 * with content that nobody holds a lock on (and perhaps the runtime's log). Anything else in
 * it makes rmdir fail: it stays. */
static void sweep_one(int parent_fd, const char *name)
{
    _cleanup_close_ int dir_fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (dir_fd < 0 || fstat(dir_fd, &st) < 0 || st.st_uid != geteuid() || (st.st_mode & 07777) != 0700)
        return;
    _cleanup_close_ int config = openat(dir_fd, "config.json", O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (config < 0 || fstat(config, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() || st.st_size == 0)
        return;
    if (flock(config, LOCK_EX | LOCK_NB) < 0)
        return; /* in use: its nvbind or its runtime still runs */
    unlinkat(dir_fd, NVB_RUNTIME_LOG, 0);
    if (unlinkat(dir_fd, "config.json", 0) == 0 || errno == ENOENT)
        unlinkat(parent_fd, name, AT_REMOVEDIR);
}

void nvb_bundle_sweep(const char *parent)
{
    DIR *d = opendir(parent);
    if (!d)
        return;
    const size_t len = strlen(NVB_BUNDLE_PREFIX "XXXXXX");
    struct dirent *e;
    while ((e = readdir(d)))
        if (strncmp(e->d_name, NVB_BUNDLE_PREFIX, strlen(NVB_BUNDLE_PREFIX)) == 0 && strlen(e->d_name) == len &&
            (e->d_type == DT_DIR || e->d_type == DT_UNKNOWN))
            sweep_one(dirfd(d), e->d_name);
    closedir(d);
}

int nvb_oci_run_argv(const char *runtime, const char *bundle_dir, const char *id, nvb_strv *argv)
{
    /* The runtime's own errors go to a log in the bundle as well as to stderr: a failure
     * to start the container is then told from the container's exit status (runc and crun
     * both spell --log=FILE and --log-format=json this way). */
    if (nvb_strv_push(argv, runtime) < 0 || nvb_strv_pushf(argv, "--log=%s/" NVB_RUNTIME_LOG, bundle_dir) < 0 ||
        nvb_strv_push(argv, "--log-format=json") < 0 || nvb_strv_push(argv, "run") < 0 ||
        nvb_strv_push(argv, "--bundle") < 0 || nvb_strv_push(argv, bundle_dir) < 0 || nvb_strv_push(argv, id) < 0)
        return -1;
    return 0;
}

/* After the runtime exits: its own error in the log means the container did not run (or
 * the runtime failed around it), which is exit 7, not the container's status. */
static int runtime_outcome(const char *shown, const char *dir, int status, int forced, nvb_err *err)
{
    if (status <= 0 || forced)
        return status;
    _cleanup_free_ char *log = nvb_path_join(dir, NVB_RUNTIME_LOG);
    char msg[512];
    if (!log || !nvb_runtime_log_error(log, msg, sizeof msg))
        return status;
    return nvb_errf(err, NVB_EXIT_RUNTIME, "%s could not start the container: %s (exit status %d)", shown, msg,
                    status);
}

struct stop_ctx {
    const char *exe, *id;
};

/* Quietly run "<runtime> <verb> ID [arg]"; its failures (no such container) do not matter. */
static int runtime_quiet(const char *exe, const char *verb, const char *id, const char *arg)
{
    char *argv[] = {(char *)exe, (char *)verb, (char *)id, (char *)arg, NULL};
    char out[512];
    return nvb_run_capture(argv, 10000, out, sizeof out);
}

static void force_stop(void *vctx, int child_pid)
{
    struct stop_ctx *c = vctx;
    if (runtime_quiet(c->exe, "kill", c->id, "KILL") != 0)
        kill(child_pid, SIGKILL); /* not running yet: stop the runtime; delete cleans up after */
}

static void random_id(char *out, size_t len)
{
    unsigned v = 0;
    if (getrandom(&v, sizeof v, GRND_NONBLOCK) != (ssize_t)sizeof v)
        v = (unsigned)time(NULL) ^ (unsigned)getpid() << 16;
    snprintf(out, len, "nvbind-%ld-%08x", (long)getpid(), v);
}

int nvb_oci_run(const nvb_oci_run_opts *o, nvb_err *err)
{
    const char *shown = o->argv0 ? o->argv0 : o->runtime;
    if (nvb_bundle_check_rootfs(o->bundle.rootfs, err) < 0)
        return -1;
    _cleanup_free_ char *exe = nvb_find_executable(o->runtime);
    if (!exe)
        return nvb_errf(err, NVB_EXIT_RUNTIME, "%s: not found in PATH (install it, or choose another --runtime)",
                        o->runtime);
    char idbuf[64];
    const char *id = o->id;
    if (!id) {
        random_id(idbuf, sizeof idbuf);
        id = idbuf;
    }
    /* Termination signals wait until the bundle is gone: none may strand it. */
    sigset_t guard, old;
    sigemptyset(&guard);
    sigaddset(&guard, SIGINT);
    sigaddset(&guard, SIGTERM);
    sigaddset(&guard, SIGHUP);
    sigaddset(&guard, SIGQUIT);
    sigprocmask(SIG_BLOCK, &guard, &old);
    int lock_fd = -1;
    char *dir = nvb_bundle_create(&o->bundle, &lock_fd, err);
    if (!dir) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        return -1;
    }
    nvb_strv argv = {0};
    int status = -1;
    if (nvb_oci_run_argv(shown, dir, id, &argv) < 0) {
        nvb_errf(err, NVB_EXIT_IO, "out of memory");
    } else {
        struct stop_ctx ctx = {exe, id};
        nvb_fg_opts fg = {.exe = exe, .argv = argv.v, .force_stop = force_stop, .ctx = &ctx, .grace_ms = o->grace_ms,
                          .spawned = o->spawned, .spawned_ctx = o->spawned_ctx, .pass_fd = lock_fd};
        int forced = 0;
        status = nvb_run_foreground(&fg, &forced, err);
        if (forced)
            runtime_quiet(exe, "delete", "--force", id);
        status = runtime_outcome(shown, dir, status, forced, err);
    }
    nvb_strv_free(&argv);
    nvb_bundle_remove(dir);
    close(lock_fd);
    free(dir);
    sigprocmask(SIG_SETMASK, &old, NULL);
    return status;
}
