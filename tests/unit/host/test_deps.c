/* What a discovery looked at (host/deps.h), kept and checked again: every change discovery
 * would see is told, nothing else is, and procfs (whose times never move) is compared by
 * identity and entry names. Discovery's own reads are what is recorded: nvb_rootpath and
 * nvb_dir with a recorder attached. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "host/deps.h"
#include "host/hostio.h"

#include "../common/test_util.h"

static char root[256];

static void mk(const char *rel, bool dir) { t_make_at(root, rel, dir); }

static void ln(const char *target, const char *rel) { t_symlink_at(root, target, rel); }

/* <root><rel>, in one of two buffers used in turn (rename takes two). */
static char *at(const char *rel)
{
    static char p[2][512];
    static int turn;
    turn ^= 1;
    snprintf(p[turn], sizeof p[turn], "%s%s", root, rel);
    return p[turn];
}

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "/tmp/nvbind-deps-XXXXXX");
    assert_non_null(mkdtemp(root));
    mk("/usr", true);
    mk("/usr/lib", true);
    mk("/usr/lib/libcuda.so.550.54.14", false);
    ln("libcuda.so.550.54.14", "/usr/lib/libcuda.so.1");
    mk("/etc", true);
    mk("/etc/alternatives", true);
    mk("/usr/lib/nvidia", true);
    mk("/usr/lib/nvidia/current", true);
    mk("/usr/lib/nvidia/current/nvidia-smi", false);
    ln("/usr/lib/nvidia/current/nvidia-smi", "/etc/alternatives/nvidia-smi");
    mk("/usr/bin", true);
    ln("/etc/alternatives/nvidia-smi", "/usr/bin/nvidia-smi");
    mk("/dev", true);
    mk("/dev/nvidia0", false); /* a stand-in: only its attributes are looked at */
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    return system(cmd) == 0 ? 0 : -1;
}

/* What one discovery of this root does: a library folder listed, a binary looked up through
 * two links, a node stat'ed, a file read, a missing socket probed. Settled as if the
 * discovery had begun `later` seconds from now (files made just now are otherwise too
 * recent to keep). The record, encoded. */
static nvb_bytes_out discover(int later)
{
    nvb_deps *d = nvb_deps_new();
    nvb_rootpath rp;
    nvb_rootpath_init(&rp, root);
    rp.deps = d;
    nvb_dir dir;
    assert_int_equal(nvb_dir_open(&dir, &rp, "/usr/lib"), 0);
    while (nvb_dir_next(&dir, NULL))
        ;
    nvb_dir_close(&dir);
    char out[4096], buf[64];
    struct stat st;
    assert_int_equal(nvb_rootpath_lookup(&rp, "/usr/bin/nvidia-smi", out, &st), 0);
    assert_string_equal(out, "/usr/lib/nvidia/current/nvidia-smi");
    assert_int_equal(nvb_rootpath_lookup(&rp, "/dev/nvidia0", out, &st), 0);
    assert_true(nvb_read_small(&rp, "/usr/lib/libcuda.so.1", buf, sizeof buf, NVB_READ_TO_EOF) > 0);
    assert_int_equal(nvb_rootpath_lookup(&rp, "/run/nvidia-persistenced/socket", out, &st), -ENOENT);
    nvb_rootpath_clear(&rp);
    struct timespec started;
    clock_gettime(CLOCK_REALTIME_COARSE, &started);
    started.tv_sec += later;
    assert_true(nvb_deps_settle(d, &started));
    nvb_bytes_out o = {0};
    nvb_deps_encode(&o, d);
    assert_false(o.oom);
    nvb_deps_free(d);
    return o;
}

static bool still(const nvb_bytes_out *o)
{
    nvb_bytes_in in = {o->v, o->v + o->n, false};
    return nvb_deps_check(&in) && in.p == in.end;
}

static void unchanged_host_checks(void **state)
{
    (void)state;
    nvb_bytes_out o = discover(10);
    assert_true(still(&o));
    /* A file in the listed folder that nobody asked about: the folder's change shows it. */
    mk("/usr/lib/libunrelated.so", false);
    assert_false(still(&o));
    free(o.v);
    unlink(at("/usr/lib/libunrelated.so"));
}

/* Each change, from a fresh record: must be told. */
static void changes_are_told(void **state)
{
    (void)state;
    nvb_bytes_out o;
    o = discover(10); /* an alternative switched */
    unlink(at("/etc/alternatives/nvidia-smi"));
    ln("/usr/lib/nvidia/current/nvidia-smi", "/etc/alternatives/nvidia-smi");
    assert_false(still(&o));
    free(o.v);
    o = discover(10); /* a node's mode */
    chmod(at("/dev/nvidia0"), 0600);
    assert_false(still(&o));
    free(o.v);
    o = discover(10); /* a read file rewritten in place */
    FILE *f = fopen(at("/usr/lib/libcuda.so.550.54.14"), "a");
    assert_non_null(f);
    fputs("x", f);
    fclose(f);
    assert_false(still(&o));
    free(o.v);
    o = discover(10); /* a probed socket appears */
    mk("/run", true);
    mk("/run/nvidia-persistenced", true);
    assert_false(still(&o));
    free(o.v);
    o = discover(10); /* a folder walked through replaced by a link to a copy */
    assert_int_equal(rename(at("/usr/lib/nvidia"), at("/usr/lib/nvidia.old")), 0);
    ln("nvidia.old", "/usr/lib/nvidia");
    assert_false(still(&o));
    free(o.v);
    unlink(at("/usr/lib/nvidia"));
    assert_int_equal(rename(at("/usr/lib/nvidia.old"), at("/usr/lib/nvidia")), 0);
}

/* Two folders with the same library, and a link to the first (update-alternatives' way). */
static void two_alternatives(void)
{
    mk("/opt", true);
    mk("/opt/a", true);
    mk("/opt/a/libx.so", false);
    mk("/opt/b", true);
    mk("/opt/b/libx.so", false);
    ln("/opt/a", "/usr/lib/cur");
}

/* An intermediate link pointed elsewhere: ext4 hands the freed inode number to the new link
 * at once, so only its times can tell. */
static void intermediate_link_retargeted(void **state)
{
    (void)state;
    two_alternatives();
    nvb_deps *d = nvb_deps_new();
    nvb_rootpath rp;
    nvb_rootpath_init(&rp, root);
    rp.deps = d;
    char out[4096];
    struct stat st;
    assert_int_equal(nvb_rootpath_lookup(&rp, "/usr/lib/cur/libx.so", out, &st), 0);
    nvb_rootpath_clear(&rp);
    struct timespec started;
    clock_gettime(CLOCK_REALTIME_COARSE, &started);
    started.tv_sec += 10;
    assert_true(nvb_deps_settle(d, &started));
    nvb_bytes_out o = {0};
    nvb_deps_encode(&o, d);
    nvb_deps_free(d);
    assert_true(still(&o));
    unlink(at("/usr/lib/cur"));
    ln("/opt/b", "/usr/lib/cur");
    assert_false(still(&o));
    free(o.v);
}

/* Something discovery looked at changes after it looked and before the record is settled:
 * not kept. The host is a second old first, so that only the change is recent. */
static void changed_before_settled_not_kept(void **state)
{
    (void)state;
    two_alternatives();
    sleep(2);
    for (int change = 0; change < 2; change++) {
        struct timespec started;
        clock_gettime(CLOCK_REALTIME_COARSE, &started);
        nvb_deps *d = nvb_deps_new();
        nvb_rootpath rp;
        nvb_rootpath_init(&rp, root);
        rp.deps = d;
        char out[4096], buf[64];
        struct stat st;
        assert_int_equal(nvb_rootpath_lookup(&rp, "/usr/lib/cur/libx.so", out, &st), 0);
        assert_true(nvb_read_small(&rp, "/opt/b/libx.so", buf, sizeof buf, NVB_READ_TO_EOF) > 0);
        nvb_rootpath_clear(&rp);
        if (change == 0) { /* a walked-through link pointed elsewhere */
            unlink(at("/usr/lib/cur"));
            ln("/opt/b", "/usr/lib/cur");
        } else { /* a file read, then removed */
            unlink(at("/opt/b/libx.so"));
        }
        assert_false(nvb_deps_settle(d, &started));
        nvb_deps_free(d);
    }
}

/* A discovery whose files changed within the second before it began is not kept. */
static void recent_change_not_kept(void **state)
{
    (void)state;
    nvb_deps *d = nvb_deps_new();
    nvb_rootpath rp;
    nvb_rootpath_init(&rp, root);
    rp.deps = d;
    char out[4096];
    struct stat st;
    chmod(at("/dev/nvidia0"), 0666); /* changed now */
    assert_int_equal(nvb_rootpath_lookup(&rp, "/dev/nvidia0", out, &st), 0);
    nvb_rootpath_clear(&rp);
    struct timespec started;
    clock_gettime(CLOCK_REALTIME_COARSE, &started);
    assert_false(nvb_deps_settle(d, &started));
    nvb_deps_free(d);
}

/* procfs: times do not move, so identity and the names of a listed folder are kept. */
static void procfs_by_identity_and_names(void **state)
{
    (void)state;
    nvb_deps *d = nvb_deps_new();
    nvb_rootpath rp;
    nvb_rootpath_init(&rp, "/");
    rp.deps = d;
    nvb_dir dir;
    assert_int_equal(nvb_dir_open(&dir, &rp, "/proc/sys/kernel"), 0);
    while (nvb_dir_next(&dir, NULL))
        ;
    nvb_dir_close(&dir);
    char buf[256];
    assert_true(nvb_read_small(&rp, "/proc/sys/kernel/osrelease", buf, sizeof buf, NVB_READ_TO_EOF) > 0);
    nvb_rootpath_clear(&rp);
    struct timespec started;
    clock_gettime(CLOCK_REALTIME_COARSE, &started);
    assert_true(nvb_deps_settle(d, &started)); /* no time rule on procfs */
    assert_true(nvb_deps_count(d) >= 3);
    nvb_bytes_out o = {0};
    nvb_deps_encode(&o, d);
    nvb_deps_free(d);
    assert_true(still(&o));
    /* The same record with one entry name of the listing changed: told. In the listing the
     * names stand between NULs; the path to the file is stored without one. */
    char *name = memmem(o.v, o.n, "\0osrelease\0", 11);
    assert_non_null(name);
    name[1] = 'X';
    assert_false(still(&o));
    name[1] = 'o';
    assert_true(still(&o));
    /* The same with the file's content as discovery read it changed: told. */
    struct utsname u;
    assert_int_equal(uname(&u), 0);
    char *text = memmem(o.v, o.n, u.release, strlen(u.release));
    assert_non_null(text);
    text[0] ^= 1;
    assert_false(still(&o));
    free(o.v);
}

static void damaged_record_refused(void **state)
{
    (void)state;
    nvb_bytes_out o = discover(10);
    for (size_t cut = 0; cut < o.n; cut += 7) {
        nvb_bytes_in in = {o.v, o.v + cut, false};
        assert_false(nvb_deps_check(&in) && in.p == in.end);
    }
    free(o.v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(unchanged_host_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(changes_are_told, setup, teardown),
        cmocka_unit_test_setup_teardown(recent_change_not_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(intermediate_link_retargeted, setup, teardown),
        cmocka_unit_test_setup_teardown(changed_before_settled_not_kept, setup, teardown),
        cmocka_unit_test(procfs_by_identity_and_names),
        cmocka_unit_test_setup_teardown(damaged_record_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
