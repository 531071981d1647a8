/* Resolving paths inside a host root: links are followed, but never out of the root. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/rootpath.h"

#include "../common/test_util.h"

static char root[256];

/* <root><rel>: a folder, or a file holding its own name. */
static void mk(const char *rel, bool dir) { t_make_at(root, rel, dir); }

static void ln(const char *target, const char *rel) { t_symlink_at(root, target, rel); }

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "/tmp/nvbind-rootpath-XXXXXX");
    assert_non_null(mkdtemp(root));
    mk("/usr", true);
    mk("/usr/lib", true);
    mk("/usr/lib/libcuda.so.550.54.14", false);
    ln("libcuda.so.550.54.14", "/usr/lib/libcuda.so.1");
    ln("usr/lib", "/lib");                         /* merged /usr */
    ln("/usr/lib/libcuda.so.1", "/abs-link");      /* absolute: relative to the root */
    ln("../../../../../../etc/passwd", "/usr/lib/escape");
    ln("/", "/usr/lib/rootlink");
    ln("loop2", "/loop1");
    ln("loop1", "/loop2");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return t_rm_rf(root);
}

static void resolve(const char *path, const char *want)
{
    nvb_rootpath rp;
    nvb_rootpath_init(&rp, root);
    char *got = nvb_rootpath_resolve(&rp, path);
    if (!want) {
        assert_null(got);
    } else {
        assert_non_null(got);
        assert_string_equal(got, want);
    }
    free(got);
    nvb_rootpath_clear(&rp);
}

static void follows_links_inside(void **state)
{
    (void)state;
    resolve("/usr/lib/libcuda.so.1", "/usr/lib/libcuda.so.550.54.14");
    resolve("/lib/libcuda.so.1", "/usr/lib/libcuda.so.550.54.14");
    resolve("/abs-link", "/usr/lib/libcuda.so.550.54.14");
    resolve("/usr/./lib/../lib/libcuda.so.1", "/usr/lib/libcuda.so.550.54.14");
}

static void never_leaves_root(void **state)
{
    (void)state;
    /* ".." beyond the root stays at the root: /etc/passwd inside it, which does not exist. */
    resolve("/usr/lib/escape", NULL);
    resolve("/usr/lib/rootlink/usr/lib/libcuda.so.1", "/usr/lib/libcuda.so.550.54.14");
    resolve("/../../usr/lib/libcuda.so.1", "/usr/lib/libcuda.so.550.54.14");
}

static void loops_and_missing(void **state)
{
    (void)state;
    nvb_rootpath rp;
    nvb_rootpath_init(&rp, root);
    errno = 0;
    assert_null(nvb_rootpath_resolve(&rp, "/loop1"));
    assert_int_equal(errno, ELOOP);
    assert_null(nvb_rootpath_resolve(&rp, "/usr/lib/nothing"));
    assert_int_equal(errno, ENOENT);
    nvb_rootpath_clear(&rp);
}

static void host_paths(void **state)
{
    (void)state;
    nvb_rootpath rp;
    nvb_rootpath_init(&rp, "/");
    char *p = nvb_rootpath_host(&rp, "/dev/nvidia0");
    assert_string_equal(p, "/dev/nvidia0");
    free(p);
    nvb_rootpath_init(&rp, "/tmp/x///");
    p = nvb_rootpath_host(&rp, "/dev/nvidia0");
    assert_string_equal(p, "/tmp/x/dev/nvidia0");
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(follows_links_inside),
        cmocka_unit_test(never_leaves_root),
        cmocka_unit_test(loops_and_missing),
        cmocka_unit_test(host_paths),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
