/* Which host executables may run inside a container's root: static ELF only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <grp.h>
#include <sched.h>
#include <sys/wait.h>

#include "oci/host_exe.h"
#include "oci_test_util.h"

static void test_host_ldconfig_is_static(void **unused)
{
    (void)unused;
    if (access("/sbin/ldconfig", F_OK) != 0) {
        skip();
        return;
    }
    nvb_err err = {0};
    const char *chosen = NULL;
    int fd = nvb_host_ldconfig_open(NULL, &chosen, &err);
    if (fd < 0)
        fail_msg("%s", err.msg);
    assert_non_null(chosen);
    assert_true(strstr(chosen, "ldconfig") != NULL);
    /* Opened close-on-exec and readable. */
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    close(fd);
}

static void test_dynamic_refused(void **unused)
{
    (void)unused;
    nvb_err err = {0};
    /* /bin/sh is dynamically linked on every distribution this runs on. */
    assert_int_equal(nvb_host_static_exe_open("/bin/sh", &err), -1);
    assert_int_equal(err.exit_code, NVB_EXIT_RUNTIME);
    assert_contains(err.msg, "host executable /bin/sh: dynamically linked");
}

static void test_scripts_and_junk_refused(void **unused)
{
    (void)unused;
    char *dir = t_mkdtemp();
    static const struct {
        const char *content, *want;
    } cases[] = {
        {"#!/bin/sh\nexec /sbin/ldconfig.real \"$@\"\n", "is a script"},
        {"\177ELF", "too short"},
        {"not an elf at all, just text\n", "not an ELF file"},
        {"", "too short"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *p = t_printf("%s/exe%zu", dir, i);
        t_write(p, cases[i].content);
        chmod(p, 0755);
        nvb_err err = {0};
        assert_int_equal(nvb_host_static_exe_open(p, &err), -1);
        assert_contains(err.msg, p);
        assert_contains(err.msg, cases[i].want);
        free(p);
    }
    t_rm_rf(dir);
    free(dir);
}

static void test_file_checks(void **unused)
{
    (void)unused;
    if (access("/sbin/ldconfig", R_OK) != 0) {
        skip();
        return;
    }
    char *dir = t_mkdtemp();
    char *p = t_printf("%s/ldconfig", dir);
    char *cmd = t_printf("cp /sbin/ldconfig %s", p);
    assert_int_equal(system(cmd), 0);
    nvb_err err = {0};

    chmod(p, 0775);
    assert_int_equal(nvb_host_static_exe_open(p, &err), -1);
    assert_contains(err.msg, "writable by group or others");

    chmod(p, 0644);
    assert_int_equal(nvb_host_static_exe_open(p, &err), -1);
    assert_contains(err.msg, "not executable");

    chmod(p, 0755);
    int fd = nvb_host_ldconfig_open(p, NULL, &err);
    if (fd < 0)
        fail_msg("%s", err.msg);
    close(fd);

    assert_int_equal(nvb_host_static_exe_open(dir, &err), -1);
    assert_contains(err.msg, "not a regular file");
    assert_int_equal(nvb_host_static_exe_open("relative/ldconfig", &err), -1);
    assert_contains(err.msg, "not an absolute path");
    char *missing = t_printf("%s/missing", dir);
    assert_int_equal(nvb_host_ldconfig_open(missing, NULL, &err), -1);
    assert_contains(err.msg, "No such file or directory");
    free(missing);
    t_rm_rf(dir);
    free(cmd);
    free(p);
    free(dir);
}

/* Outside a user namespace the overflow uid is just the user nobody: a binary it owns may have
 * been planted by it and is refused. */
static void test_nobody_owned_refused_outside_a_user_namespace(void **unused)
{
    (void)unused;
    if (geteuid() != 0 || access("/sbin/ldconfig", R_OK) != 0) {
        skip();
        return;
    }
    char *dir = t_mkdtemp();
    char *p = t_printf("%s/ldconfig", dir);
    char *cmd = t_printf("cp /sbin/ldconfig %s && chown 65534 %s", p, p);
    assert_int_equal(system(cmd), 0);
    nvb_err err = {0};
    assert_int_equal(nvb_host_static_exe_open(p, &err), -1);
    assert_contains(err.msg, "owned by uid 65534, neither root nor us");
    t_rm_rf(dir);
    free(cmd);
    free(p);
    free(dir);
}

/* Rootless podman runs the hooks in a user namespace mapping its root to an ordinary host
 * user: the host's root-owned ldconfig shows as the overflow uid there and must still run. */
static void test_host_root_owned_accepted_in_a_rootless_user_namespace(void **unused)
{
    (void)unused;
    struct stat st;
    if (geteuid() != 0 || stat("/sbin/ldconfig", &st) != 0 || st.st_uid != 0) {
        skip();
        return;
    }
    int go[2], ready[2];
    assert_int_equal(pipe(go), 0);
    assert_int_equal(pipe(ready), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char c = 0;
        /* An ordinary user (as rootless podman's is) makes the namespace: its root is that
         * user, and the host's root is unmapped in it. */
        if (setgroups(0, NULL) != 0 || setresgid(12345, 12345, 12345) != 0 || setresuid(12345, 12345, 12345) != 0)
            _exit(3);
        if (unshare(CLONE_NEWUSER) != 0)
            _exit(77);
        if (write(ready[1], "u", 1) != 1 || read(go[0], &c, 1) != 1)
            _exit(3);
        nvb_err err = {0};
        int fd = nvb_host_static_exe_open("/sbin/ldconfig", &err);
        if (fd < 0) {
            fprintf(stderr, "%s\n", err.msg);
            _exit(1);
        }
        _exit(0);
    }
    char c = 0;
    assert_int_equal(read(ready[0], &c, 1), 1);
    char *map = t_printf("/proc/%d/uid_map", (int)pid);
    t_write(map, "0 12345 1\n");
    assert_int_equal(write(go[1], "g", 1), 1);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    free(map);
    for (int i = 0; i < 2; i++) {
        close(go[i]);
        close(ready[i]);
    }
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) == 77) { /* unprivileged user namespaces are off here */
        skip();
        return;
    }
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_ldconfig_is_static),
        cmocka_unit_test(test_dynamic_refused),
        cmocka_unit_test(test_scripts_and_junk_refused),
        cmocka_unit_test(test_file_checks),
        cmocka_unit_test(test_nobody_owned_refused_outside_a_user_namespace),
        cmocka_unit_test(test_host_root_owned_accepted_in_a_rootless_user_namespace),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
