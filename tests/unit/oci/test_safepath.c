/* Lookups, folder creation and symlink creation inside a root full of hostile symlinks:
 * nothing may resolve to, or be written in, the folders outside the root. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sys/mount.h>

#include "oci/safepath.h"
#include "oci/symlinks.h"
#include "oci_test_util.h"

typedef struct fixture {
    char *dir;  /* temp dir holding both */
    char *root; /* the container root */
    char *host; /* a "host" folder outside the root, with a sentinel */
    int rootfd;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->dir = t_mkdtemp();
    f->root = t_printf("%s/root", f->dir);
    f->host = t_printf("%s/host", f->dir);
    t_mkdirs(f->root);
    t_mkdirs(f->host);
    char *p = t_printf("%s/sentinel", f->host);
    t_write(p, "host data\n");
    free(p);
    f->rootfd = open(f->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    umask(022);
    *state = f;
    return f->rootfd >= 0 ? 0 : -1;
}

static int teardown(void **state)
{
    fixture *f = *state;
    close(f->rootfd);
    t_rm_rf(f->dir);
    free(f->dir);
    free(f->root);
    free(f->host);
    free(f);
    return 0;
}

/* In the root: path -> link content. */
static void root_symlink(fixture *f, const char *path, const char *target)
{
    char *p = t_printf("%s%s", f->root, path);
    char *parent = strdup(p);
    *strrchr(parent, '/') = '\0';
    t_mkdirs(parent);
    if (symlink(target, p) != 0)
        fail_msg("symlink %s: %s", p, strerror(errno));
    free(parent);
    free(p);
}

/* In the root: a folder at path, with its parents. */
static void root_dir(fixture *f, const char *path)
{
    char *p = t_printf("%s%s", f->root, path);
    t_mkdirs(p);
    free(p);
}

static void root_file(fixture *f, const char *path, const char *text)
{
    char *p = t_printf("%s%s", f->root, path);
    char *parent = strdup(p);
    *strrchr(parent, '/') = '\0';
    t_mkdirs(parent);
    t_write(p, text);
    free(parent);
    free(p);
}

static const char *read_fd(int fd)
{
    static char buf[256];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    buf[n < 0 ? 0 : n] = '\0';
    return buf;
}

/* The host folder still holds exactly its sentinel, unchanged. */
static void assert_host_untouched(fixture *f)
{
    char *p = t_printf("%s/sentinel", f->host);
    FILE *fp = fopen(p, "r");
    assert_non_null(fp);
    char buf[64] = {0};
    assert_non_null(fgets(buf, sizeof buf, fp));
    fclose(fp);
    assert_string_equal(buf, "host data\n");
    free(p);
    char *cmd = t_printf("test $(ls -A %s | wc -l) -eq 1", f->host);
    assert_int_equal(system(cmd), 0);
    free(cmd);
}

static void test_absolute_symlink_to_root(void **state)
{
    fixture *f = *state;
    /* /etc -> "/": inside the root, /etc/x is the root's own /x. */
    root_symlink(f, "/etc", "/");
    root_file(f, "/x", "inside\n");
    int fd = nvb_root_open(f->rootfd, "/etc/x", O_RDONLY);
    assert_true(fd >= 0);
    assert_string_equal(read_fd(fd), "inside\n");
    close(fd);
    /* The host's /etc/hostname is not reachable through it. */
    assert_int_equal(nvb_root_open(f->rootfd, "/etc/etc/hostname", O_RDONLY), -1);
    assert_int_equal(errno, ENOENT);
}

static void test_dotdot_escape(void **state)
{
    fixture *f = *state;
    /* Enough ".." to reach the real / from the root, then the host folder's path. */
    char *target = t_printf("../../../../../../../../../../..%s", f->host);
    root_symlink(f, "/escape", target);
    assert_int_equal(nvb_root_open(f->rootfd, "/escape/sentinel", O_RDONLY), -1);
    assert_int_equal(errno, ENOENT);
    root_symlink(f, "/etc", "../../../../../../../../etc");
    assert_int_equal(nvb_root_open(f->rootfd, "/etc/passwd", O_RDONLY), -1);
    /* A link at a path whose parent is the escaping symlink: made inside or refused. */
    nvb_link_spec l = {.target = (char *)"x", .link = (char *)"/escape/newlink"};
    nvb_link_result res;
    nvb_err err = {0};
    assert_int_equal(nvb_root_symlink(f->rootfd, &l, &res, &err), -1);
    assert_contains(err.msg, "symlink to a folder that does not exist in the container");
    assert_host_untouched(f);
    free(target);
}

static void test_lib_folder_points_at_host(void **state)
{
    fixture *f = *state;
    root_symlink(f, "/usr/lib/x86_64-linux-gnu", f->host);
    nvb_link_spec l = {.target = (char *)"libcuda.so.1", .link = (char *)"/usr/lib/x86_64-linux-gnu/libcuda.so"};
    nvb_link_result res;
    nvb_err err = {0};
    /* The absolute target names a folder that does not exist inside the root: refused. */
    assert_int_equal(nvb_root_symlink(f->rootfd, &l, &res, &err), -1);
    assert_int_equal(err.exit_code, NVB_EXIT_IO);
    assert_contains(err.msg, "/usr/lib/x86_64-linux-gnu");
    assert_host_untouched(f);

    /* Once that folder exists inside the root, the link lands there. */
    char *inside = t_printf("%s%s", f->root, f->host);
    t_mkdirs(inside);
    assert_int_equal(nvb_root_symlink(f->rootfd, &l, &res, &err), 0);
    assert_int_equal(res, NVB_LINK_CREATED);
    char *made = t_printf("%s/libcuda.so", inside);
    assert_string_equal(t_readlink(made), "libcuda.so.1");
    assert_host_untouched(f);
    free(made);
    free(inside);
}

static void test_mkdir_p(void **state)
{
    fixture *f = *state;
    nvb_err err = {0};
    int fd = nvb_root_mkdir_p(f->rootfd, "/new/a/b", 0755, &err);
    assert_true(fd >= 0);
    close(fd);
    char *p = t_printf("%s/new/a/b", f->root);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0755);
    free(p);

    /* Existing folders are reused; "/" opens the root. */
    fd = nvb_root_mkdir_p(f->rootfd, "/new/a", 0755, &err);
    assert_true(fd >= 0);
    close(fd);
    fd = nvb_root_mkdir_p(f->rootfd, "/", 0755, &err);
    assert_true(fd >= 0);
    close(fd);

    /* A file in the way. */
    root_file(f, "/file", "x");
    assert_int_equal(nvb_root_mkdir_p(f->rootfd, "/file/sub", 0755, &err), -1);
    assert_contains(err.msg, "container folder /file: Not a directory");

    /* Paths that are not normalised are refused before any lookup. */
    assert_int_equal(nvb_root_mkdir_p(f->rootfd, "/a/../b", 0755, &err), -1);
    assert_int_equal(err.exit_code, NVB_EXIT_INPUT);
}

static void test_symlink_results(void **state)
{
    fixture *f = *state;
    nvb_err err = {0};
    nvb_link_result res;
    nvb_link_spec l = {.target = (char *)"libcuda.so.1", .link = (char *)"/usr/lib/libcuda.so"};
    char *made = t_printf("%s/usr/lib/libcuda.so", f->root);

    assert_int_equal(nvb_root_symlink(f->rootfd, &l, &res, &err), 0);
    assert_int_equal(res, NVB_LINK_CREATED);
    assert_string_equal(t_readlink(made), "libcuda.so.1");

    assert_int_equal(nvb_root_symlink(f->rootfd, &l, &res, &err), 0);
    assert_int_equal(res, NVB_LINK_UNCHANGED);

    nvb_link_spec l2 = {.target = (char *)"libcuda.so.550.54.14", .link = l.link};
    assert_int_equal(nvb_root_symlink(f->rootfd, &l2, &res, &err), 0);
    assert_int_equal(res, NVB_LINK_REPLACED);
    assert_string_equal(t_readlink(made), "libcuda.so.550.54.14");
    /* No temporary link left behind. */
    char *cmd = t_printf("test -z \"$(ls -A %s/usr/lib | grep -v '^libcuda.so$')\"", f->root);
    assert_int_equal(system(cmd), 0);
    free(cmd);

    /* A regular file or folder at LINK stays as it is. */
    root_file(f, "/usr/lib/libreal.so", "ELF?");
    nvb_link_spec l3 = {.target = (char *)"x", .link = (char *)"/usr/lib/libreal.so"};
    assert_int_equal(nvb_root_symlink(f->rootfd, &l3, &res, &err), 0);
    assert_int_equal(res, NVB_LINK_NOT_A_SYMLINK);
    char *real = t_printf("%s/usr/lib/libreal.so", f->root);
    assert_string_equal(t_readlink(real), "");
    nvb_link_spec l4 = {.target = (char *)"x", .link = (char *)"/usr"};
    assert_int_equal(nvb_root_symlink(f->rootfd, &l4, &res, &err), 0);
    assert_int_equal(res, NVB_LINK_NOT_A_SYMLINK);
    free(real);
    free(made);
}

static void test_final_symlink_to_host_is_replaced(void **state)
{
    fixture *f = *state;
    char *sentinel = t_printf("%s/sentinel", f->host);
    root_symlink(f, "/usr/lib/libcuda.so", sentinel);
    nvb_link_spec l = {.target = (char *)"libcuda.so.1", .link = (char *)"/usr/lib/libcuda.so"};
    nvb_link_result res;
    nvb_err err = {0};
    assert_int_equal(nvb_root_symlink(f->rootfd, &l, &res, &err), 0);
    assert_int_equal(res, NVB_LINK_REPLACED);
    char *made = t_printf("%s/usr/lib/libcuda.so", f->root);
    assert_string_equal(t_readlink(made), "libcuda.so.1");
    assert_host_untouched(f);
    free(made);
    free(sentinel);
}

static void test_magic_links_refused(void **state)
{
    fixture *f = *state;
    if (geteuid() != 0) {
        skip();
        return;
    }
    char *proc = t_printf("%s/proc", f->root);
    t_mkdirs(proc);
    if (mount("proc", proc, "proc", 0, NULL) != 0) {
        free(proc);
        skip();
        return;
    }
    /* /proc/self/root is a magic link to the real root of the process. */
    int fd = nvb_root_open(f->rootfd, "/proc/self/root/etc/passwd", O_RDONLY);
    int e = errno;
    if (fd >= 0)
        close(fd);
    /* Through a symlink the image planted, too. */
    root_symlink(f, "/hostroot", "/proc/self/root");
    int fd2 = nvb_root_open(f->rootfd, "/hostroot/etc/passwd", O_RDONLY);
    int e2 = errno;
    if (fd2 >= 0)
        close(fd2);
    umount2(proc, MNT_DETACH);
    free(proc);
    assert_int_equal(fd, -1);
    assert_int_equal(e, ELOOP);
    assert_int_equal(fd2, -1);
    assert_int_equal(e2, ELOOP);
}

typedef struct visits {
    char seen[8][PATH_MAX];
    int n;
    const char *stop_at;
} visits;

static bool record_visit(const char *at, void *ctx)
{
    visits *v = ctx;
    if (v->n < 8)
        snprintf(v->seen[v->n++], PATH_MAX, "%s", at);
    return v->stop_at && strcmp(at, v->stop_at) == 0;
}

/* Where a lookup goes inside the root, link by link, as runc resolves a mount's
 * destination: links followed against the root (never the host's), ".." stopping at the
 * root, the missing part as written; each link's place and the end are told. */
static void test_resolve_follows_links_inside_the_root(void **state)
{
    fixture *f = *state;
    char out[PATH_MAX];
    root_dir(f, "/usr/local/lib");
    root_symlink(f, "/data", "usr/local/lib");            /* relative */
    root_symlink(f, "/abs", "/usr/local");                /* absolute: the root's, not the host's */
    root_symlink(f, "/up", "../../../../usr");             /* climbing: stops at the root */
    root_symlink(f, "/dangling", "/nowhere/yet");
    assert_int_equal(nvb_root_resolve(f->rootfd, "/data/x/y", out, NULL, NULL), 0);
    assert_string_equal(out, "/usr/local/lib/x/y");
    assert_int_equal(nvb_root_resolve(f->rootfd, "/abs/lib", out, NULL, NULL), 0);
    assert_string_equal(out, "/usr/local/lib");
    assert_int_equal(nvb_root_resolve(f->rootfd, "/up/local", out, NULL, NULL), 0);
    assert_string_equal(out, "/usr/local");
    assert_int_equal(nvb_root_resolve(f->rootfd, "/dangling", out, NULL, NULL), 0);
    assert_string_equal(out, "/nowhere/yet");
    /* No link on the way: the path as written, there or not. */
    assert_int_equal(nvb_root_resolve(f->rootfd, "/usr/local/lib", out, NULL, NULL), 0);
    assert_string_equal(out, "/usr/local/lib");
    assert_int_equal(nvb_root_resolve(f->rootfd, "/opt/none", out, NULL, NULL), 0);
    assert_string_equal(out, "/opt/none");

    /* Each link's place, then the end; a visit can stop the walk. */
    root_symlink(f, "/usr/local/lib/inner", "/srv");
    visits v = {0};
    assert_int_equal(nvb_root_resolve(f->rootfd, "/data/inner/z", out, record_visit, &v), 0);
    assert_int_equal(v.n, 3);
    assert_string_equal(v.seen[0], "/data");
    assert_string_equal(v.seen[1], "/usr/local/lib/inner");
    assert_string_equal(v.seen[2], "/srv/z");
    v = (visits){.stop_at = "/usr/local/lib/inner"};
    assert_int_equal(nvb_root_resolve(f->rootfd, "/data/inner/z", out, record_visit, &v), 1);

    /* A folder a ".." steps out of is a place the lookup went through (a mount at /x
     * would change where the ".." lands). */
    root_dir(f, "/x/y");
    root_dir(f, "/real");
    root_symlink(f, "/usr/lib64", "/x/y/../../real");
    v = (visits){0};
    assert_int_equal(nvb_root_resolve(f->rootfd, "/usr/lib64", out, record_visit, &v), 0);
    assert_string_equal(out, "/real");
    assert_int_equal(v.n, 4);
    assert_string_equal(v.seen[0], "/usr/lib64");
    assert_string_equal(v.seen[1], "/x/y");
    assert_string_equal(v.seen[2], "/x");
    assert_string_equal(v.seen[3], "/real");

    /* A loop, and a chain past 40 links. */
    root_symlink(f, "/loop", "/loop");
    assert_int_equal(nvb_root_resolve(f->rootfd, "/loop/x", out, NULL, NULL), -1);
    assert_int_equal(errno, ELOOP);
    for (int i = 0; i < 45; i++) {
        char *name = t_printf("/chain%d", i), *next = t_printf("/chain%d", i + 1);
        root_symlink(f, name, next);
        free(name);
        free(next);
    }
    assert_int_equal(nvb_root_resolve(f->rootfd, "/chain0", out, NULL, NULL), -1);
    assert_int_equal(errno, ELOOP);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_absolute_symlink_to_root, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dotdot_escape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lib_folder_points_at_host, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mkdir_p, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlink_results, setup, teardown),
        cmocka_unit_test_setup_teardown(test_final_symlink_to_host_is_replaced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_magic_links_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolve_follows_links_inside_the_root, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
