/* The cache made ahead of the runtime: which later mounts change what the loader would read
 * (by path components, never by string prefix), and which paths the driver's mounts fill. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "oci/ldcache_ahead.h"

static void related_by_components(void **state)
{
    (void)state;
    assert_true(nvb_path_related("/usr", "/usr/lib/x86_64-linux-gnu"));
    assert_true(nvb_path_related("/usr/lib/x86_64-linux-gnu", "/usr"));
    assert_true(nvb_path_related("/etc/ld.so.cache", "/etc/ld.so.cache"));
    assert_true(nvb_path_related("/", "/etc/hosts"));
    assert_true(nvb_path_related("/etc", "/etc/ld.so.conf.d"));
    /* A common prefix that is not a folder above. */
    assert_false(nvb_path_related("/usr/lib", "/usr/lib64"));
    assert_false(nvb_path_related("/etc/ld.so.conf", "/etc/ld.so.conf.d"));
    assert_false(nvb_path_related("/etc/hosts", "/etc/ld.so.cache"));
    assert_false(nvb_path_related("/run/secrets", "/usr/local/lib"));
    /* Not normalised: what the runtime makes of it is not guessed. */
    assert_true(nvb_path_related("/opt//lib", "/etc/hosts"));
    assert_true(nvb_path_related("/etc/hosts", "/opt/../usr/lib"));
    assert_true(nvb_path_related("opt/lib", "/etc/hosts"));
    assert_true(nvb_path_related("/opt/lib/", "/etc/hosts"));
}

static void covers_and_files(void **state)
{
    (void)state;
    const char *covered[] = {"/proc", "/dev/shm", "/etc/hosts", "/opt/vendor"};
    const char *files[] = {"/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.14"};
    nvb_ldcache_ahead a = {.files = files, .nfiles = 1, .covered = covered, .ncovered = 4};
    assert_true(nvb_ldcache_ahead_covers(&a, "/opt/vendor/lib"));
    assert_true(nvb_ldcache_ahead_covers(&a, "/opt"));
    assert_false(nvb_ldcache_ahead_covers(&a, "/opt/vendor2"));
    assert_false(nvb_ldcache_ahead_covers(&a, "/etc/ld.so.cache"));
    assert_false(nvb_ldcache_ahead_covers(NULL, "/"));
    assert_true(nvb_ldcache_ahead_file(&a, "/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.14"));
    assert_false(nvb_ldcache_ahead_file(&a, "/usr/lib/x86_64-linux-gnu/libcuda.so.1"));
    assert_false(nvb_ldcache_ahead_file(NULL, files[0]));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(related_by_components),
        cmocka_unit_test(covers_and_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
