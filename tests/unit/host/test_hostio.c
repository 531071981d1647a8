/* Discovery's file access: lookups inside a root that remember what they resolved (the
 * answers must not depend on what was looked up before), stat through links, small-file
 * reads and folder listings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "host/host.h"
#include "host/hostio.h"
#include "host/rootpath.h"

#include "../common/test_util.h"

static char root[256];

/* <root><rel>: a folder, or a file holding its own name. */
static void mk(const char *rel, bool dir) { t_make_at(root, rel, dir); }

static void ln(const char *target, const char *rel) { t_symlink_at(root, target, rel); }

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "/tmp/nvbind-hostio-XXXXXX");
    assert_non_null(mkdtemp(root));
    mk("/usr", true);
    mk("/usr/lib", true);
    mk("/usr/lib/x86_64-linux-gnu", true);
    mk("/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.14", false);
    ln("libcuda.so.550.54.14", "/usr/lib/x86_64-linux-gnu/libcuda.so.1");
    ln("libcuda.so.1", "/usr/lib/x86_64-linux-gnu/libcuda.so");        /* a chain of two */
    ln("usr/lib", "/lib");                                             /* merged /usr */
    ln("/usr/lib/x86_64-linux-gnu", "/usr/lib/multiarch");             /* absolute, to a folder */
    ln("../../../../../../usr/lib/x86_64-linux-gnu/libcuda.so", "/usr/lib/escape");
    ln("x86_64-linux-gnu/../x86_64-linux-gnu/./libcuda.so.1", "/usr/lib/dotted");
    ln("nothing-here", "/usr/lib/dangling");
    ln("loop2", "/loop1");
    ln("loop1", "/loop2");
    mk("/dev", true);
    mk("/dev/plain", false);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return t_rm_rf(root);
}

/* What one lookup answers on a fresh root: the reference for the memo. */
static int fresh(const char *path, char *out)
{
    nvb_rootpath rp;
    nvb_rootpath_init(&rp, root);
    int r = nvb_rootpath_lookup(&rp, path, out, NULL);
    nvb_rootpath_clear(&rp);
    return r;
}

static const char *const paths[] = {
    "/usr/lib/x86_64-linux-gnu/libcuda.so",
    "/usr/lib/x86_64-linux-gnu/libcuda.so.1",
    "/lib/x86_64-linux-gnu/libcuda.so",
    "/usr/lib/multiarch/libcuda.so.1",
    "/lib/multiarch/../multiarch/libcuda.so",
    "/usr/lib/escape",
    "/usr/lib/dotted",
    "/usr/lib/dangling",
    "/usr/lib/multiarch/nothing",
    "/loop1",
    "/usr/lib/x86_64-linux-gnu/libcuda.so.1/..",
    "/../lib/./x86_64-linux-gnu//libcuda.so.550.54.14",
    "/",
};

static void memo_never_changes_answers(void **state)
{
    (void)state;
    /* Every order of two passes over the list, on one root: each answer equals the
     * fresh one, so nothing remembered from an earlier lookup leaks into a later one. */
    for (int pass = 0; pass < 2; pass++) {
        nvb_rootpath rp;
        nvb_rootpath_init(&rp, root);
        size_t n = sizeof paths / sizeof paths[0];
        for (size_t k = 0; k < 2 * n; k++) {
            size_t i = pass == 0 ? k % n : (n - 1 - k % n);
            char want[PATH_MAX], got[PATH_MAX];
            int rw = fresh(paths[i], want);
            int rg = nvb_rootpath_lookup(&rp, paths[i], got, NULL);
            assert_int_equal(rg, rw);
            if (rw == 0)
                assert_string_equal(got, want);
        }
        nvb_rootpath_clear(&rp);
    }
}

static void answers(void **state)
{
    (void)state;
    static const char lib[] = "/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.14";
    char out[PATH_MAX];
    assert_int_equal(fresh("/lib/multiarch/../multiarch/libcuda.so", out), 0);
    assert_string_equal(out, lib);
    assert_int_equal(fresh("/usr/lib/escape", out), 0); /* ".." stopped at the root */
    assert_string_equal(out, lib);
    assert_int_equal(fresh("/usr/lib/dotted", out), 0);
    assert_string_equal(out, lib);
    assert_int_equal(fresh("/usr/lib/dangling", out), -ENOENT);
    assert_int_equal(fresh("/loop1", out), -ELOOP);
    assert_int_equal(fresh("/", out), 0);
    assert_string_equal(out, "/");
    /* The memo answers a link's chain on the second time: still the same. */
    nvb_rootpath rp;
    nvb_rootpath_init(&rp, root);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(nvb_rootpath_lookup(&rp, "/usr/lib/x86_64-linux-gnu/libcuda.so", out, NULL), 0);
        assert_string_equal(out, lib);
        assert_int_equal(nvb_rootpath_lookup(&rp, "/loop2", out, NULL), -ELOOP);
    }
    char *dup = nvb_rootpath_resolve(&rp, "/lib/x86_64-linux-gnu/libcuda.so.1");
    assert_non_null(dup);
    assert_string_equal(dup, lib);
    free(dup);
    errno = 0;
    assert_null(nvb_rootpath_resolve(&rp, "/usr/lib/dangling"));
    assert_int_equal(errno, ENOENT);
    nvb_rootpath_clear(&rp);
}

static void stat_follows_links_inside_root(void **state)
{
    (void)state;
    char host[600], out[PATH_MAX];
    snprintf(host, sizeof host, "%s/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.14", root);
    struct stat want, got;
    assert_int_equal(stat(host, &want), 0);
    nvb_rootpath rp;
    nvb_rootpath_init(&rp, root);
    for (int i = 0; i < 2; i++) { /* the second time through the memo */
        memset(&got, 0, sizeof got);
        assert_int_equal(nvb_rootpath_lookup(&rp, "/usr/lib/escape", out, &got), 0);
        assert_string_equal(out, "/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.14");
        assert_true(S_ISREG(got.st_mode));
        assert_int_equal(got.st_ino, want.st_ino);
        assert_int_equal(got.st_dev, want.st_dev);
    }
    assert_int_equal(nvb_rootpath_lookup(&rp, "/usr/lib/multiarch", out, &got), 0);
    assert_true(S_ISDIR(got.st_mode));
    assert_int_equal(nvb_rootpath_lookup(&rp, "/", out, &got), 0);
    assert_true(S_ISDIR(got.st_mode));
    assert_int_equal(nvb_rootpath_lookup(&rp, "/usr/lib/dangling", out, &got), -ENOENT);
    assert_int_equal(nvb_rootpath_lookup(&rp, "/dev/missing", out, &got), -ENOENT);
    assert_int_equal(nvb_rootpath_lookup(&rp, "/dev/plain/below", out, &got), -ENOTDIR);
    nvb_rootpath_clear(&rp);
}

static void slash_root_uses_plain_paths(void **state)
{
    (void)state;
    /* Root "/" is this machine: a link in /proc resolves to what the kernel says. */
    nvb_rootpath rp;
    nvb_rootpath_init(&rp, "/");
    char out[PATH_MAX];
    struct stat st;
    assert_int_equal(nvb_rootpath_lookup(&rp, root, out, &st), 0);
    assert_string_equal(out, root);
    assert_true(S_ISDIR(st.st_mode));
    nvb_rootpath_clear(&rp);
}

static void read_small_files(void **state)
{
    (void)state;
    nvb_rootpath rp;
    nvb_rootpath_init(&rp, root);
    char buf[64];
    static const char name[] = "/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.14";
    for (int mode = NVB_READ_TO_EOF; mode <= NVB_READ_ONE_PIECE; mode++) {
        assert_int_equal(nvb_read_small(&rp, name, buf, sizeof buf, mode), (ssize_t)strlen(name));
        assert_string_equal(buf, name);
        /* Exactly the size of the buffer less its NUL: fits. */
        char exact[sizeof name];
        assert_int_equal(nvb_read_small(&rp, name, exact, sizeof exact, mode), (ssize_t)strlen(name));
        assert_string_equal(exact, name);
        /* One byte short: too large, never a silently cut file. */
        assert_int_equal(nvb_read_small(&rp, name, exact, sizeof exact - 1, mode), -EFBIG);
    }
    /* Through relative links, which the kernel follows, and a missing file. */
    assert_int_equal(nvb_read_small(&rp, "/lib/x86_64-linux-gnu/libcuda.so", buf, sizeof buf, NVB_READ_ONE_PIECE),
                     (ssize_t)strlen(name));
    assert_int_equal(nvb_read_small(&rp, "/dev/missing", buf, sizeof buf, NVB_READ_ONE_PIECE), -ENOENT);
    /* A kernel file longer than one read, to the end. */
    nvb_rootpath sys;
    nvb_rootpath_init(&sys, "/");
    static char big[1 << 20];
    ssize_t n = nvb_read_small(&sys, "/proc/self/maps", big, sizeof big, NVB_READ_TO_EOF);
    assert_true(n > 0);
    assert_int_equal((size_t)n, strlen(big));
    assert_int_equal(big[n - 1], '\n');
    nvb_rootpath_clear(&sys);
    nvb_rootpath_clear(&rp);
}

static void list_folder(void **state)
{
    (void)state;
    /* Many entries, so the listing takes several getdents64 calls. */
    char dir[600];
    snprintf(dir, sizeof dir, "%s/many", root);
    assert_int_equal(mkdir(dir, 0755), 0);
    enum { N = 600 };
    for (int i = 0; i < N; i++) {
        char p[700];
        snprintf(p, sizeof p, "%s/entry-with-a-long-name-%04d", dir, i);
        fclose(fopen(p, "w"));
    }
    nvb_rootpath rp;
    nvb_rootpath_init(&rp, root);
    nvb_dir d;
    assert_int_equal(nvb_dir_open(&d, &rp, "/many"), 0);
    static bool seen[N];
    int count = 0;
    const char *name;
    unsigned char type;
    while ((name = nvb_dir_next(&d, &type))) {
        int i;
        assert_int_equal(sscanf(name, "entry-with-a-long-name-%d", &i), 1);
        assert_true(i >= 0 && i < N && !seen[i]);
        assert_true(type == DT_REG || type == DT_UNKNOWN);
        seen[i] = true;
        count++;
    }
    assert_int_equal(errno, 0);
    assert_int_equal(count, N);
    nvb_dir_close(&d);
    assert_int_equal(nvb_dir_open(&d, &rp, "/dev/plain"), -ENOTDIR);
    assert_int_equal(nvb_dir_open(&d, &rp, "/nothing"), -ENOENT);
    nvb_rootpath_clear(&rp);
}

static void path_cat(void **state)
{
    (void)state;
    char out[8];
    assert_true(nvb_path_cat(out, sizeof out, "/a", "/", "bc"));
    assert_string_equal(out, "/a/bc");
    assert_true(nvb_path_cat(out, sizeof out, "/dev/", "x", NULL));
    assert_string_equal(out, "/dev/x");
    assert_true(nvb_path_cat(out, sizeof out, "1234567", "", NULL));
    assert_false(nvb_path_cat(out, sizeof out, "1234567", "8", NULL));
}

static void put(const char *rel, const char *text)
{
    char p[600];
    snprintf(p, sizeof p, "%s%s", root, rel);
    for (char *s = strchr(p + strlen(root) + 1, '/'); s; s = strchr(s + 1, '/')) {
        *s = '\0';
        mkdir(p, 0755);
        *s = '/';
    }
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* GPU details from sysfs: ids from uevent (or the vendor/device files when uevent has
 * none), the NUMA node, and none of them when the caller says it does not need them. */
static void gpu_pci_details(void **state)
{
    (void)state;
    put("/proc/driver/nvidia/version",
        "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  550.54.14  Release Build  (dvs-builder@U16)\n");
    put("/proc/driver/nvidia/gpus/0000:01:00.0/information",
        "Model: \t\t NVIDIA A100\nIRQ:   \t\t 42\nGPU UUID: \t\t GPU-0a1b2c3d-0000-1111-2222-333344445555\n"
        "Bus Location: \t\t 0000:01:00.0\nDevice Minor: \t\t 0\n");
    put("/proc/driver/nvidia/gpus/0000:02:00.0/information",
        "Model: \t\t NVIDIA T4\nGPU UUID: \t\t GPU-ffffffff-0000-1111-2222-333344445555\n"
        "Bus Location: \t\t 0000:02:00.0\nDevice Minor: \t\t 1\n");
    put("/sys/bus/pci/devices/0000:01:00.0/uevent", "PCI_CLASS=30200\nPCI_ID=10DE:20B2\nDRIVER=nvidia\n");
    put("/sys/bus/pci/devices/0000:01:00.0/numa_node", "1\n");
    put("/sys/bus/pci/devices/0000:02:00.0/uevent", "DRIVER=nvidia\n"); /* no PCI_ID: the files */
    put("/sys/bus/pci/devices/0000:02:00.0/vendor", "0x10de\n");
    put("/sys/bus/pci/devices/0000:02:00.0/device", "0x1eb8\n");
    char node[600];
    snprintf(node, sizeof node, "%s/dev/nvidia0", root);
    assert_int_equal(mknod(node, S_IFCHR | 0666, makedev(195, 0)), 0);
    int fds = open_fds();
    for (int skip = 0; skip < 2; skip++) {
        nvb_discover_opts o = {.root = root, .skip_pci_details = skip};
        nvb_err err = {0};
        nvb_host *h = nvb_host_discover(&o, &err);
        if (!h)
            fail_msg("discovery: %s", err.msg);
        assert_int_equal(h->n_gpus, 2);
        assert_string_equal(h->gpus[0].uuid, "GPU-0a1b2c3d-0000-1111-2222-333344445555");
        assert_string_equal(h->gpus[1].pci_bus_id, "0000:02:00.0");
        assert_int_equal(h->gpus[0].nodes.n, 1);
        assert_int_equal(h->gpus[0].nodes.v[0].major, 195);
        assert_int_equal(h->gpus[0].vendor_id, skip ? 0 : 0x10de);
        assert_int_equal(h->gpus[0].device_id, skip ? 0 : 0x20b2);
        assert_int_equal(h->gpus[0].numa_node, skip ? -1 : 1);
        assert_int_equal(h->gpus[1].vendor_id, skip ? 0 : 0x10de);
        assert_int_equal(h->gpus[1].device_id, skip ? 0 : 0x1eb8);
        assert_int_equal(h->gpus[1].numa_node, -1); /* no numa_node file */
        nvb_host_free(h);
    }
    assert_int_equal(open_fds(), fds); /* every descriptor closed, deferred ones included */
}

/* Deferred closes: more than the batch holds, and with a descriptor that is not ours in
 * the middle of the numbers, which must stay open. */
static void deferred_closes(void **state)
{
    (void)state;
    nvb_rootpath rp;
    nvb_rootpath_init(&rp, root);
    int before = open_fds();
    int other = -1;
    for (int i = 0; i < 70; i++) {
        int fd = nvb_rootpath_open(&rp, "/dev/plain", O_RDONLY);
        assert_true(fd >= 0);
        if (i == 40)
            other = open("/dev/null", O_RDONLY); /* someone else's, between ours */
        nvb_rootpath_close(&rp, fd);
    }
    nvb_rootpath_clear(&rp);
    assert_true(other >= 0);
    assert_true(fcntl(other, F_GETFD) >= 0); /* still open */
    close(other);
    assert_int_equal(open_fds(), before);
}

/* A planted host root whose links lead out of it (an absolute target naming a file of
 * this machine, a "../" chain climbing above the root, a link to an outside folder):
 * reads and listings must resolve them inside the root, never reach the outside files.
 * Both ways of opening: openat2(2) and the walk used where openat2 is refused. */
static void open_never_leaves_root(void **state)
{
    (void)state;
    char outside[64], secret[128], target[256];
    snprintf(outside, sizeof outside, "/tmp/nvbind-hostio-outside-XXXXXX");
    assert_non_null(mkdtemp(outside));
    snprintf(secret, sizeof secret, "%s/secret", outside);
    FILE *f = fopen(secret, "w");
    assert_non_null(f);
    fputs("outside the root", f);
    fclose(f);
    ln(secret, "/planted-abs");
    snprintf(target, sizeof target, "../../../../../../../..%s", secret);
    ln(target, "/usr/lib/planted-rel");
    ln(outside, "/planted-dir");
    for (int walked = 0; walked <= 1; walked++) {
        nvb_rootpath rp;
        nvb_rootpath_init(&rp, root);
        rp.no_openat2 = walked;
        char buf[64];
        assert_int_equal(nvb_read_small(&rp, "/planted-abs", buf, sizeof buf, NVB_READ_TO_EOF), -ENOENT);
        assert_int_equal(nvb_read_small(&rp, "/usr/lib/planted-rel", buf, sizeof buf, NVB_READ_TO_EOF), -ENOENT);
        nvb_dir d;
        assert_int_equal(nvb_dir_open(&d, &rp, "/planted-dir"), -ENOENT);
        assert_int_equal(nvb_rootpath_open(&rp, "/planted-dir/secret", O_RDONLY), -1);
        assert_int_equal(errno, ENOENT);
        /* Links inside the root still work. */
        assert_true(nvb_read_small(&rp, "/usr/lib/multiarch/libcuda.so", buf, sizeof buf, NVB_READ_ONE_PIECE) > 0);
        nvb_rootpath_clear(&rp);
    }
    for (const char *const *l = (const char *const[]){"/planted-abs", "/usr/lib/planted-rel", "/planted-dir", NULL}; *l;
         l++) {
        char p[512];
        snprintf(p, sizeof p, "%s%s", root, *l);
        assert_int_equal(unlink(p), 0);
    }
    assert_int_equal(t_rm_rf(outside), 0);
}

/* nvb_rootpath_exists answers as a lookup would: links followed inside the root, a file of
 * any kind, a dangling link or a loop is nothing. */
static void exists_answers_as_lookup(void **state)
{
    (void)state;
    static const char *const asked[] = {"/usr/lib/x86_64-linux-gnu/libcuda.so", "/lib/x86_64-linux-gnu",
                                        "/usr/lib/multiarch/libcuda.so.1", "/usr/lib/escape", "/usr/lib/dangling",
                                        "/loop1", "/dev/plain", "/dev/plain/below", "/nothing", "/"};
    for (int walked = 0; walked <= 1; walked++) {
        nvb_rootpath rp;
        nvb_rootpath_init(&rp, root);
        rp.no_openat2 = walked;
        char out[PATH_MAX];
        for (size_t i = 0; i < sizeof asked / sizeof asked[0]; i++)
            assert_int_equal(nvb_rootpath_exists(&rp, asked[i]), nvb_rootpath_lookup(&rp, asked[i], out, NULL) == 0);
        assert_true(nvb_rootpath_exists(&rp, "/usr/lib/escape"));
        assert_false(nvb_rootpath_exists(&rp, "/usr/lib/dangling"));
        nvb_rootpath_clear(&rp);
    }
}

/* nvb_rootpath_readlink: the link target the walk read, the same answers without it. */
static void readlink_answers(void **state)
{
    (void)state;
    char out[PATH_MAX], buf[PATH_MAX];
    for (int walked_first = 0; walked_first <= 1; walked_first++) {
        nvb_rootpath rp;
        nvb_rootpath_init(&rp, root);
        if (walked_first)
            assert_int_equal(nvb_rootpath_lookup(&rp, "/usr/lib/x86_64-linux-gnu/libcuda.so", out, NULL), 0);
        assert_int_equal(nvb_rootpath_readlink(&rp, "/usr/lib/x86_64-linux-gnu/libcuda.so", buf, sizeof buf), 12);
        assert_string_equal(buf, "libcuda.so.1");
        assert_int_equal(nvb_rootpath_readlink(&rp, "/usr/lib/x86_64-linux-gnu/libcuda.so.1", buf, sizeof buf), 20);
        assert_string_equal(buf, "libcuda.so.550.54.14");
        assert_int_equal(nvb_rootpath_readlink(&rp, "/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.14", buf, sizeof buf),
                         -EINVAL);
        assert_int_equal(nvb_rootpath_readlink(&rp, "/usr/lib/x86_64-linux-gnu/libcuda.so.1", buf, 5), -ENAMETOOLONG);
        assert_int_equal(nvb_rootpath_readlink(&rp, "/usr/lib/x86_64-linux-gnu/missing", buf, sizeof buf), -ENOENT);
        nvb_rootpath_clear(&rp);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(memo_never_changes_answers),
        cmocka_unit_test(answers),
        cmocka_unit_test(stat_follows_links_inside_root),
        cmocka_unit_test(slash_root_uses_plain_paths),
        cmocka_unit_test(read_small_files),
        cmocka_unit_test(list_folder),
        cmocka_unit_test(path_cat),
        cmocka_unit_test(gpu_pci_details),
        cmocka_unit_test(deferred_closes),
        cmocka_unit_test(open_never_leaves_root),
        cmocka_unit_test(readlink_answers),
        cmocka_unit_test(exists_answers_as_lookup),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
