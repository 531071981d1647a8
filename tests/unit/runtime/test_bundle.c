/* Capsule bundles for runc/crun: the config.json written from scratch, and the private
 * bundle folder's life. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/oci_bundle.h"
#include "runtime/oci_patch.h"
#include "runtime/oci_seccomp.h"
#include "runtime/runtime_log.h"
#include "util/fileio.h"

static char rootfs[] = "/tmp/nvbind-test-rootfs-XXXXXX";

static int setup(void **unused)
{
    (void)unused;
    return mkdtemp(rootfs) ? 0 : -1;
}

static int teardown(void **unused)
{
    (void)unused;
    return rmdir(rootfs);
}

static bool array_has(const json_t *arr, const char *field, const char *value)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        const char *s = json_string_value(field ? json_object_get(v, field) : v);
        if (s && strcmp(s, value) == 0)
            return true;
    }
    return false;
}

static void test_config_from_scratch(void **unused)
{
    (void)unused;
    char *args[] = {(char *)"sh", (char *)"-c", (char *)"exit 7"};
    nvb_strv env = {0};
    nvb_strv_push(&env, "PROFILE=gaming");
    nvb_edits e = {0};
    nvb_devnode n = {.path = (char *)"/dev/nvidia0", .host_path = (char *)"/dev/nvidia0", .type = 'c', .major = 195,
                     .minor = 0, .mode = 0666};
    nvb_edits_add_node(&e, &n);
    nvb_edits_setenv(&e, "NVIDIA_VISIBLE_DEVICES", "void");
    nvb_bundle_opts o = {.rootfs = rootfs, .args = args, .n_args = 3, .env = &env, .edits = &e};
    nvb_err err = {0};
    json_t *c = nvb_bundle_config_new(&o, &err);
    assert_non_null(c);
    json_t *process = json_object_get(c, "process");
    assert_false(json_is_true(json_object_get(process, "terminal")));
    assert_int_equal(json_array_size(json_object_get(process, "args")), 3);
    assert_string_equal(json_string_value(json_array_get(json_object_get(process, "args"), 2)), "exit 7");
    json_t *penv = json_object_get(process, "env");
    assert_true(strncmp(json_string_value(json_array_get(penv, 0)), "PATH=", 5) == 0);
    assert_true(array_has(penv, NULL, "NVIDIA_VISIBLE_DEVICES=void"));
    assert_true(array_has(penv, NULL, "PROFILE=gaming"));
    assert_string_equal(json_string_value(json_object_get(json_object_get(c, "root"), "path")), rootfs);
    json_t *mounts = json_object_get(c, "mounts");
    const char *want[] = {"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys"};
    for (size_t i = 0; i < 6; i++)
        assert_true(array_has(mounts, "destination", want[i]));
    json_t *linux_ = json_object_get(c, "linux");
    json_t *ns = json_object_get(linux_, "namespaces");
    assert_true(array_has(ns, "type", "pid"));
    assert_true(array_has(ns, "type", "mount"));
    assert_false(array_has(ns, "type", "network")); /* the host's network, documented */
    /* The device cgroup starts by denying everything, and allows the GPU node. */
    json_t *rules = json_object_get(json_object_get(linux_, "resources"), "devices");
    assert_false(json_is_true(json_object_get(json_array_get(rules, 0), "allow")));
    assert_null(json_object_get(json_array_get(rules, 0), "type"));
    json_t *last = json_array_get(rules, json_array_size(rules) - 1);
    assert_int_equal(json_integer_value(json_object_get(last, "major")), 195);
    assert_int_equal(json_integer_value(json_object_get(last, "minor")), 0);
    assert_true(array_has(json_object_get(linux_, "devices"), "path", "/dev/nvidia0"));
    json_decref(c);
    nvb_edits_clear(&e);
    nvb_strv_free(&env);
}

static json_t *mount_at(json_t *config, const char *dest)
{
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(config, "mounts"), i, m)
    {
        if (strcmp(json_string_value(json_object_get(m, "destination")), dest) == 0)
            return m;
    }
    return NULL;
}

/* The system calls a profile allows whatever their arguments (rules without "args"). */
static bool allows_always(const json_t *seccomp, const char *name)
{
    size_t i;
    json_t *rule;
    json_array_foreach(json_object_get(seccomp, "syscalls"), i, rule)
    {
        if (strcmp(json_string_value(json_object_get(rule, "action")), "SCMP_ACT_ALLOW") == 0 &&
            !json_object_get(rule, "args") && array_has(json_object_get(rule, "names"), NULL, name))
            return true;
    }
    return false;
}

/* The position of value in the array of strings arr, or -1. */
static long index_of(const json_t *arr, const char *value)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (json_string_value(v) && strcmp(json_string_value(v), value) == 0)
            return (long)i;
    }
    return -1;
}

static json_t *rule_for(const json_t *seccomp, const char *name, size_t nth)
{
    size_t i;
    json_t *rule;
    json_array_foreach(json_object_get(seccomp, "syscalls"), i, rule)
    {
        if (array_has(json_object_get(rule, "names"), NULL, name) && nth-- == 0)
            return rule;
    }
    return NULL;
}

/* The attack: a bind of the host's /sys with a non-recursive ro left its submounts (the
 * cgroup controllers) writable, and without a cgroup namespace the container moved itself
 * into the host's root devices cgroup. The bundle confines as docker and podman do. */
static void test_config_confines_like_the_engines(void **unused)
{
    (void)unused;
    char *args[] = {(char *)"true"};
    nvb_bundle_opts o = {.rootfs = rootfs, .args = args, .n_args = 1};
    nvb_err err = {0};
    json_t *c = nvb_bundle_config_new(&o, &err);
    assert_non_null(c);
    json_t *sys = mount_at(c, "/sys");
    assert_non_null(sys);
    assert_string_equal(json_string_value(json_object_get(sys, "type")), "sysfs"); /* fresh, not the host's */
    assert_true(array_has(json_object_get(sys, "options"), NULL, "ro"));
    assert_false(array_has(json_object_get(sys, "options"), NULL, "rbind"));
    json_t *cg = mount_at(c, "/sys/fs/cgroup");
    assert_non_null(cg);
    assert_string_equal(json_string_value(json_object_get(cg, "type")), "cgroup");
    assert_true(array_has(json_object_get(cg, "options"), NULL, "ro"));
    json_t *linux_ = json_object_get(c, "linux");
    assert_true(array_has(json_object_get(linux_, "namespaces"), "type", "cgroup"));
    const char *masked[] = {"/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug",
                            "/proc/latency_stats", "/proc/acpi", "/sys/firmware", "/sys/devices/virtual/powercap"};
    for (size_t i = 0; i < sizeof masked / sizeof masked[0]; i++)
        if (!array_has(json_object_get(linux_, "maskedPaths"), NULL, masked[i]))
            fail_msg("%s is not masked", masked[i]);
    const char *ro[] = {"/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus", "/sys/fs/cgroup"};
    for (size_t i = 0; i < sizeof ro / sizeof ro[0]; i++)
        if (!array_has(json_object_get(linux_, "readonlyPaths"), NULL, ro[i]))
            fail_msg("%s is not read-only", ro[i]);
    /* crun's read-only bind of /sys/fs/cgroup copies a cgroup v1 host's controllers before it
     * makes them read-only: each folder is made read-only again after it, by the names runc
     * and crun give the hierarchies. */
    json_t *ro_paths = json_object_get(linux_, "readonlyPaths");
    const char *v1[] = {"blkio", "cpu", "cpuacct", "cpu,cpuacct", "cpuset", "devices", "freezer", "hugetlb",
                        "memory", "net_cls,net_prio", "perf_event", "pids", "rdma", "misc", "systemd", "unified"};
    for (size_t i = 0; i < sizeof v1 / sizeof v1[0]; i++) {
        char path[64];
        snprintf(path, sizeof path, "/sys/fs/cgroup/%s", v1[i]);
        if (index_of(ro_paths, path) <= index_of(ro_paths, "/sys/fs/cgroup"))
            fail_msg("%s is not made read-only after /sys/fs/cgroup", path);
    }
    /* docker's default capabilities less CAP_NET_RAW (the capsule shares the host's network:
     * packet sockets there read everybody's traffic), nothing inheritable or ambient, no new
     * privileges. */
    json_t *process = json_object_get(c, "process");
    json_t *caps = json_object_get(process, "capabilities");
    const char *want_caps[] = {"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
                               "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
                               "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"};
    const char *sets[] = {"bounding", "effective", "permitted"};
    for (size_t s = 0; s < 3; s++) {
        json_t *set = json_object_get(caps, sets[s]);
        assert_int_equal(json_array_size(set), sizeof want_caps / sizeof want_caps[0]);
        for (size_t i = 0; i < sizeof want_caps / sizeof want_caps[0]; i++)
            assert_true(array_has(set, NULL, want_caps[i]));
        assert_false(array_has(set, NULL, "CAP_NET_RAW"));
    }
    assert_null(json_object_get(caps, "inheritable"));
    assert_null(json_object_get(caps, "ambient"));
    assert_true(json_is_true(json_object_get(process, "noNewPrivileges")));
    /* An allow list: what it does not name fails with EPERM. */
    json_t *sc = json_object_get(linux_, "seccomp");
    assert_non_null(sc);
    assert_string_equal(json_string_value(json_object_get(sc, "defaultAction")), "SCMP_ACT_ERRNO");
    assert_int_equal(json_integer_value(json_object_get(sc, "defaultErrnoRet")), 1);
#if defined(__x86_64__)
    assert_true(array_has(json_object_get(sc, "architectures"), NULL, "SCMP_ARCH_X86_64"));
    assert_true(array_has(json_object_get(sc, "architectures"), NULL, "SCMP_ARCH_X86"));
    assert_true(array_has(json_object_get(sc, "architectures"), NULL, "SCMP_ARCH_X32"));
    assert_true(allows_always(sc, "arch_prctl"));
#elif defined(__aarch64__)
    assert_true(array_has(json_object_get(sc, "architectures"), NULL, "SCMP_ARCH_AARCH64"));
#endif
    const char *needed[] = {"read", "write", "openat", "ioctl", "mmap", "execve", "futex", "socket", "wait4", "chroot"};
    for (size_t i = 0; i < sizeof needed / sizeof needed[0]; i++)
        if (!allows_always(sc, needed[i]))
            fail_msg("%s is not allowed", needed[i]);
    const char *denied[] = {"unshare", "setns", "clone", "clone3", "keyctl", "add_key", "request_key", "bpf",
                            "userfaultfd", "perf_event_open", "kexec_load", "kexec_file_load", "init_module",
                            "finit_module", "delete_module", "mount", "umount2", "pivot_root", "swapon",
                            "swapoff", "reboot", "open_by_handle_at", "name_to_handle_at", "ioperm", "iopl",
                            "acct", "settimeofday", "clock_settime", "lookup_dcookie", "quotactl", "kcmp",
                            "personality", "io_uring_setup", "fsopen", "open_tree", "move_mount", "syslog"};
    for (size_t i = 0; i < sizeof denied / sizeof denied[0]; i++)
        if (allows_always(sc, denied[i]))
            fail_msg("%s is allowed", denied[i]);
    /* clone without namespace flags; clone3 answers ENOSYS so that C libraries use clone. */
    json_t *clone_arg = json_array_get(json_object_get(rule_for(sc, "clone", 0), "args"), 0);
    assert_string_equal(json_string_value(json_object_get(clone_arg, "op")), "SCMP_CMP_MASKED_EQ");
    assert_int_equal(json_integer_value(json_object_get(clone_arg, "value")), 0x7E020000);
    assert_int_equal(json_integer_value(json_object_get(clone_arg, "valueTwo")), 0);
    json_t *clone3 = rule_for(sc, "clone3", 0);
    assert_string_equal(json_string_value(json_object_get(clone3, "action")), "SCMP_ACT_ERRNO");
    assert_int_equal(json_integer_value(json_object_get(clone3, "errnoRet")), 38);
    /* personality: only the safe personas, never READ_IMPLIES_EXEC (0x0400000). */
    json_t *rule;
    for (size_t n = 0; (rule = rule_for(sc, "personality", n)); n++) {
        json_int_t v = json_integer_value(json_object_get(json_array_get(json_object_get(rule, "args"), 0), "value"));
        assert_true(v == 0 || v == 0x8 || v == 0x20000 || v == 0x20008 || v == 0xffffffff);
    }
    assert_non_null(rule_for(sc, "personality", 4));
    json_decref(c);
}

/* ptrace and process_vm_* only where seccomp survives ptrace (Linux 4.8 on). */
static void test_seccomp_ptrace_by_kernel(void **unused)
{
    (void)unused;
    json_t *without = nvb_oci_seccomp_default(false), *with = nvb_oci_seccomp_default(true);
    assert_non_null(without);
    assert_non_null(with);
    const char *calls[] = {"ptrace", "process_vm_readv", "process_vm_writev"};
    for (size_t i = 0; i < 3; i++) {
        assert_false(allows_always(without, calls[i]));
        assert_true(allows_always(with, calls[i]));
    }
    assert_true(nvb_oci_seccomp_ptrace_safe()); /* every kernel this suite runs on is newer */
    json_decref(without);
    json_decref(with);
}

static void test_rootfs_and_command_errors(void **unused)
{
    (void)unused;
    nvb_err err = {0};
    char *args[] = {(char *)"true"};
    nvb_bundle_opts o = {.rootfs = "/nonexistent/rootfs", .args = args, .n_args = 1};
    assert_null(nvb_bundle_config_new(&o, &err));
    assert_string_equal(err.msg, "root filesystem /nonexistent/rootfs: No such file or directory");
    assert_int_equal(err.exit_code, NVB_EXIT_USAGE);
    o.rootfs = "/etc/hostname";
    assert_int_equal(nvb_bundle_check_rootfs(o.rootfs, &err), -1);
    assert_string_equal(err.msg, "root filesystem /etc/hostname: not a folder");
    o.rootfs = rootfs;
    o.n_args = 0;
    assert_null(nvb_bundle_config_new(&o, &err));
    assert_non_null(strstr(err.msg, "no command to run"));
}

static void test_bundle_folder_life(void **unused)
{
    (void)unused;
    char tmp[] = "/tmp/nvbind-test-tmpdir-XXXXXX";
    assert_non_null(mkdtemp(tmp));
    setenv("TMPDIR", tmp, 1);
    char *args[] = {(char *)"true"};
    nvb_bundle_opts o = {.rootfs = rootfs, .args = args, .n_args = 1};
    nvb_err err = {0};
    int lock_fd = -1;
    char *dir = nvb_bundle_create(&o, &lock_fd, &err);
    assert_non_null(dir);
    assert_true(lock_fd > 2);
    assert_int_equal(fcntl(lock_fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    assert_true(strncmp(dir, tmp, strlen(tmp)) == 0);
    assert_non_null(strstr(dir, "/nvbind-bundle-"));
    struct stat st;
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    size_t len = 0;
    char *text = nvb_read_file(path, 1 << 20, &len);
    json_t *c = nvb_oci_config_parse(text, len, path, &err);
    assert_non_null(c);
    json_decref(c);
    free(text);
    /* In use while its descriptor is open: a sweep leaves it; closed, the next sweep takes it. */
    nvb_bundle_sweep(tmp);
    assert_int_equal(stat(path, &st), 0);
    close(lock_fd);
    nvb_bundle_sweep(tmp);
    assert_int_equal(stat(dir, &st), -1);
    assert_int_equal(nvb_bundle_remove(dir), 0); /* already gone: not an error */
    free(dir);
    /* A failed creation leaves nothing in TMPDIR. */
    o.rootfs = "/nonexistent";
    assert_null(nvb_bundle_create(&o, &lock_fd, &err));
    assert_int_equal(rmdir(tmp), 0);
    unsetenv("TMPDIR");
}

static void make_folder(const char *parent, const char *name, mode_t mode, const char *config)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", parent, name);
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(chmod(path, mode), 0);
    if (config) {
        snprintf(path, sizeof path, "%s/%s/config.json", parent, name);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(config, f);
        assert_int_equal(fclose(f), 0);
    }
}

static bool exists(const char *parent, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", parent, name);
    struct stat st;
    return lstat(path, &st) == 0;
}

/* The sweep removes only what is surely a dead bundle of this user; everything else stays. */
static void test_sweep_takes_only_dead_bundles(void **unused)
{
    (void)unused;
    char tmp[] = "/tmp/nvbind-test-sweep-XXXXXX";
    assert_non_null(mkdtemp(tmp));
    make_folder(tmp, "nvbind-bundle-dead01", 0700, "{}");
    make_folder(tmp, "nvbind-bundle-empty1", 0700, "");          /* being written */
    make_folder(tmp, "nvbind-bundle-noconf", 0700, NULL);        /* being created */
    make_folder(tmp, "nvbind-bundle-shared", 0755, "{}");        /* not as mkdtemp made it */
    make_folder(tmp, "nvbind-bundle-longername", 0700, "{}");    /* not mkdtemp's name */
    make_folder(tmp, "other-bundle-dead01", 0700, "{}");
    make_folder(tmp, "nvbind-bundle-extra1", 0700, "{}");        /* holds more than config.json */
    char path[4096];
    snprintf(path, sizeof path, "%s/nvbind-bundle-extra1/rootfs", tmp);
    assert_int_equal(mkdir(path, 0700), 0);
    make_folder(tmp, "nvbind-bundle-dlog01", 0700, "{}");        /* dead, with its runtime's log */
    snprintf(path, sizeof path, "%s/nvbind-bundle-dlog01/runtime.log", tmp);
    assert_int_equal(nvb_write_file_atomic(path, "{}\n", 3, 0600, NULL), 0);
    make_folder(tmp, "nvbind-bundle-locked", 0700, "{}");        /* its runtime runs */
    snprintf(path, sizeof path, "%s/nvbind-bundle-locked/runtime.log", tmp);
    assert_int_equal(nvb_write_file_atomic(path, "{}\n", 3, 0600, NULL), 0);
    snprintf(path, sizeof path, "%s/nvbind-bundle-locked/config.json", tmp);
    int held = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(held >= 0);
    assert_int_equal(flock(held, LOCK_SH), 0);
    snprintf(path, sizeof path, "%s/nvbind-bundle-dead01", tmp);
    char link[4096];
    snprintf(link, sizeof link, "%s/nvbind-bundle-link01", tmp);
    assert_int_equal(symlink(path, link), 0);

    nvb_bundle_sweep(tmp);
    assert_false(exists(tmp, "nvbind-bundle-dead01"));
    assert_false(exists(tmp, "nvbind-bundle-dlog01"));
    assert_true(exists(tmp, "nvbind-bundle-link01")); /* a link is never followed nor removed */
    const char *stay[] = {"nvbind-bundle-empty1", "nvbind-bundle-noconf", "nvbind-bundle-shared",
                          "nvbind-bundle-longername", "other-bundle-dead01", "nvbind-bundle-extra1/rootfs",
                          "nvbind-bundle-locked/config.json", "nvbind-bundle-locked/runtime.log"};
    for (size_t i = 0; i < sizeof stay / sizeof stay[0]; i++)
        if (!exists(tmp, stay[i]))
            fail_msg("the sweep removed %s", stay[i]);
    close(held);
    nvb_bundle_sweep(tmp);
    assert_false(exists(tmp, "nvbind-bundle-locked"));
    nvb_bundle_sweep("/nonexistent"); /* nothing to sweep: quiet */

    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    assert_int_equal(system(cmd), 0);
}

static void test_run_argv(void **unused)
{
    (void)unused;
    nvb_strv argv = {0};
    assert_int_equal(nvb_oci_run_argv("crun", "/tmp/b", "id1", &argv), 0);
    assert_int_equal(argv.n, 7);
    assert_string_equal(argv.v[0], "crun");
    assert_string_equal(argv.v[1], "--log=/tmp/b/runtime.log");
    assert_string_equal(argv.v[2], "--log-format=json");
    assert_string_equal(argv.v[3], "run");
    assert_string_equal(argv.v[4], "--bundle");
    assert_string_equal(argv.v[5], "/tmp/b");
    assert_string_equal(argv.v[6], "id1");
    assert_null(argv.v[7]);
    nvb_strv_free(&argv);
}

/* runc's and crun's JSON log: only an error entry means the runtime failed. */
static void test_runtime_log_error(void **unused)
{
    (void)unused;
    char dir[] = "/tmp/nvbind-test-rtlog-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[4096], msg[128];
    snprintf(path, sizeof path, "%s/runtime.log", dir);
    assert_int_equal(nvb_runtime_log_error(path, msg, sizeof msg), 0); /* no log: nothing failed */
    const char *quiet = "{\"level\":\"warning\",\"msg\":\"cgroup v1\"}\nnot json\n";
    assert_int_equal(nvb_write_file_atomic(path, quiet, strlen(quiet), 0600, NULL), 0);
    assert_int_equal(nvb_runtime_log_error(path, msg, sizeof msg), 0);
    const char *failed = "{\"level\":\"error\",\"msg\":\"first\"}\n"
                         "{\"level\":\"error\",\"msg\":\"runc run failed:\\nexec: nope\"}\n";
    assert_int_equal(nvb_write_file_atomic(path, failed, strlen(failed), 0600, NULL), 0);
    assert_int_equal(nvb_runtime_log_error(path, msg, sizeof msg), 1);
    assert_string_equal(msg, "runc run failed: exec: nope"); /* the last one, on one line */
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_from_scratch),
        cmocka_unit_test(test_config_confines_like_the_engines),
        cmocka_unit_test(test_seccomp_ptrace_by_kernel),
        cmocka_unit_test(test_rootfs_and_command_errors),
        cmocka_unit_test(test_bundle_folder_life),
        cmocka_unit_test(test_sweep_takes_only_dead_bundles),
        cmocka_unit_test(test_run_argv),
        cmocka_unit_test(test_runtime_log_error),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
