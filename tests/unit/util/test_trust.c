/* util/trust.c: which files nvbind may trust to choose what root runs. Each case builds the
 * attack's file layout in a private folder and asks nvb_trust_path about it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/trust.h"

#define OTHER 4242 /* a uid that is neither root nor the caller */

static char dir[256], file[512], why[1024];

static int setup(void **state)
{
    (void)state;
    /* /tmp is root's and sticky: the folder above ours passes, so each case decides. */
    snprintf(dir, sizeof dir, "/tmp/nvbind-trust-XXXXXX");
    if (!mkdtemp(dir) || chmod(dir, 0755) < 0)
        return -1;
    snprintf(file, sizeof file, "%s/nvbind.toml", dir);
    FILE *f = fopen(file, "w");
    if (!f)
        return -1;
    fputs("[gpu]\n", f);
    return fclose(f) == 0 && chmod(file, 0644) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char link[600];
    snprintf(link, sizeof link, "%s/link.toml", dir);
    unlink(link);
    unlink(file);
    return rmdir(dir);
}

static void trusts_a_private_file(void **state)
{
    (void)state;
    assert_int_equal(nvb_trust_path(file, geteuid(), why, sizeof why), 0);
}

static void refuses_a_file_others_or_the_group_can_write(void **state)
{
    (void)state;
    char want[700];
    assert_int_equal(chmod(file, 0666), 0);
    assert_int_equal(nvb_trust_path(file, geteuid(), why, sizeof why), 1);
    snprintf(want, sizeof want, "%s is writable by others", file);
    assert_string_equal(why, want);
    assert_int_equal(chmod(file, 0664), 0);
    assert_int_equal(nvb_trust_path(file, geteuid(), why, sizeof why), 1);
    snprintf(want, sizeof want, "%s is writable by its group", file);
    assert_string_equal(why, want);
}

static void refuses_a_folder_open_to_all_unless_sticky(void **state)
{
    (void)state;
    char want[700];
    assert_int_equal(chmod(dir, 0777), 0);
    assert_int_equal(nvb_trust_path(file, geteuid(), why, sizeof why), 1);
    snprintf(want, sizeof want, "folder %s is writable by others without the sticky bit", dir);
    assert_string_equal(why, want);
    assert_int_equal(chmod(dir, 01777), 0);
    assert_int_equal(nvb_trust_path(file, geteuid(), why, sizeof why), 0);
}

/* Both the file and its folder writable by others: the refusal names the file, the part
 * nearest to what is read, whichever way the path is walked; and the same through a link. */
static void names_the_deepest_part_refused(void **state)
{
    (void)state;
    char want[700], link[600];
    assert_int_equal(chmod(dir, 0777), 0);
    assert_int_equal(chmod(file, 0666), 0);
    snprintf(want, sizeof want, "%s is writable by others", file);
    assert_int_equal(nvb_trust_path(file, geteuid(), why, sizeof why), 1);
    assert_string_equal(why, want);
    assert_int_equal(chmod(dir, 0755), 0);
    snprintf(link, sizeof link, "%s/link.toml", dir);
    assert_int_equal(symlink(file, link), 0);
    assert_int_equal(nvb_trust_path(link, geteuid(), why, sizeof why), 1);
    assert_string_equal(why, want);
    assert_int_equal(chmod(file, 0644), 0);
    assert_int_equal(nvb_trust_path(link, geteuid(), why, sizeof why), 0);
}

static void refuses_what_another_user_owns(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip(); /* giving a file away takes root */
    char want[700];
    assert_int_equal(chown(file, OTHER, OTHER), 0);
    assert_int_equal(nvb_trust_path(file, 0, why, sizeof why), 1);
    snprintf(want, sizeof want, "%s is owned by uid %d, not by root", file, OTHER);
    assert_string_equal(why, want);
    /* The owner itself may use it; a third user may not. */
    assert_int_equal(nvb_trust_path(file, OTHER, why, sizeof why), 0);
    assert_int_equal(nvb_trust_path(file, 1000, why, sizeof why), 1);
    snprintf(want, sizeof want, "%s is owned by uid %d, not by root or you", file, OTHER);
    assert_string_equal(why, want);
    /* Root's file in a folder another user owns: they can swap it. */
    assert_int_equal(chown(file, 0, 0), 0);
    assert_int_equal(chown(dir, OTHER, OTHER), 0);
    assert_int_equal(nvb_trust_path(file, 0, why, sizeof why), 1);
    snprintf(want, sizeof want, "folder %s is owned by uid %d, not by root", dir, OTHER);
    assert_string_equal(why, want);
}

static void refuses_a_link_another_user_owns(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    char link[600], want[700];
    snprintf(link, sizeof link, "%s/link.toml", dir);
    assert_int_equal(symlink(file, link), 0);
    assert_int_equal(nvb_trust_path(link, 0, why, sizeof why), 0);
    assert_int_equal(lchown(link, OTHER, OTHER), 0);
    assert_int_equal(nvb_trust_path(link, 0, why, sizeof why), 1);
    snprintf(want, sizeof want, "link %s is owned by uid %d, not by root", link, OTHER);
    assert_string_equal(why, want);
}

static void refuses_another_users_link_behind_roots_link(void **state)
{
    /* Attack: root's /etc/nvbind/config.toml is a link into a folder reached through a link
     * another user owns (a "current" link a deploy user keeps, say). Only the resolved path
     * was checked: that user swaps their link between the check and the read and root loads
     * their file, with its hook_path. */
    (void)state;
    if (geteuid() != 0)
        skip();
    char real[600], other[600], link[600], target[700], want[800];
    snprintf(real, sizeof real, "%s/real", dir);
    snprintf(other, sizeof other, "%s/current", dir);
    snprintf(link, sizeof link, "%s/link.toml", dir);
    snprintf(target, sizeof target, "%s/nvbind.toml", other);
    assert_int_equal(mkdir(real, 0755), 0);
    char moved[700];
    snprintf(moved, sizeof moved, "%s/nvbind.toml", real);
    assert_int_equal(rename(file, moved), 0);
    assert_int_equal(symlink("real", other), 0);
    assert_int_equal(symlink(target, link), 0);
    assert_int_equal(nvb_trust_path(link, 0, why, sizeof why), 0);
    assert_int_equal(lchown(other, OTHER, OTHER), 0);
    int r = nvb_trust_path(link, 0, why, sizeof why);
    unlink(other);
    rename(moved, file);
    rmdir(real);
    assert_int_equal(r, 1);
    snprintf(want, sizeof want, "link %s is owned by uid %d, not by root", other, OTHER);
    assert_string_equal(why, want);
}

static void missing_file_is_an_error(void **state)
{
    (void)state;
    char missing[600];
    snprintf(missing, sizeof missing, "%s/none.toml", dir);
    assert_int_equal(nvb_trust_path(missing, geteuid(), why, sizeof why), -1);
    assert_non_null(strstr(why, "No such file or directory"));
}

/* nvb_trust_library's read-only rule, in a mount namespace of its own (a child process): a
 * root-owned library on a read-only mount, its mode bits claiming "writable by all", as WSL2
 * shows /usr/lib/wsl/lib. The rule holds only where asked for (WSL2: elsewhere a user may
 * mount a read-only file system of their own), and never for a link another user owns (it
 * could be pointed elsewhere after the check). Exit status: 0 all held, 77 no namespace here,
 * else the first check that failed. */
static int read_only_rule_checks(const char *ro, const char *lib, const char *link)
{
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
        mount(ro, ro, NULL, MS_BIND, NULL) < 0 || mount(NULL, ro, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
        return 77;
    char w[1024];
    if (nvb_trust_library(lib, false, w, sizeof w) == 0)
        return 1; /* outside WSL2 a read-only mount vouches for nothing */
    if (nvb_trust_library(lib, true, w, sizeof w) != 0)
        return 2;
    if (nvb_trust_library(link, true, w, sizeof w) == 0)
        return 3; /* another user's link to it */
    if (lchown(link, 0, 0) < 0 || nvb_trust_library(link, true, w, sizeof w) != 0)
        return 4; /* root's link to it */
    return 0;
}

static void library_on_a_read_only_mount(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    char ro[300], lib[400], link[300];
    snprintf(ro, sizeof ro, "%s/ro", dir);
    snprintf(lib, sizeof lib, "%s/libnvidia-ml.so.1", ro);
    snprintf(link, sizeof link, "%s/libnvidia-ml.so.1", dir);
    assert_int_equal(mkdir(ro, 0777), 0);
    assert_int_equal(chmod(ro, 0777), 0);
    FILE *f = fopen(lib, "w");
    assert_non_null(f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(lib, 0777), 0);
    assert_int_equal(chmod(dir, 01777), 0); /* like /tmp: anyone may add a link here */
    assert_int_equal(symlink(lib, link), 0);
    assert_int_equal(lchown(link, OTHER, OTHER), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(read_only_rule_checks(ro, lib, link));
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    unlink(link);
    unlink(lib);
    rmdir(ro);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) == 77)
        skip(); /* no mount namespace for this process */
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(trusts_a_private_file, setup, teardown),
        cmocka_unit_test_setup_teardown(refuses_a_file_others_or_the_group_can_write, setup, teardown),
        cmocka_unit_test_setup_teardown(refuses_a_folder_open_to_all_unless_sticky, setup, teardown),
        cmocka_unit_test_setup_teardown(names_the_deepest_part_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(refuses_what_another_user_owns, setup, teardown),
        cmocka_unit_test_setup_teardown(refuses_a_link_another_user_owns, setup, teardown),
        cmocka_unit_test_setup_teardown(refuses_another_users_link_behind_roots_link, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_file_is_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(library_on_a_read_only_mount, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
