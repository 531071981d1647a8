/* Whether an image's ld.so.cache is current (oci/ldcache_current.h), over configurations an
 * image could hold: a bounded amount of work whatever the configuration asks, "DIR=TYPE"
 * lines read as ldconfig reads them, and folders reached through the image's links judged
 * by where they lead when the runtime mounts there later. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <elf.h>
#include <limits.h>
#include <time.h>

#include "oci/ldcache_ahead.h"
#include "oci/ldcache_current.h"
#include "oci/ldcache_names.h"
#include "oci_test_util.h"

struct fx {
    char *root;
    int rootfd;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->root = t_mkdtemp();
    f->rootfd = open(f->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    assert_true(f->rootfd >= 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    close(f->rootfd);
    t_rm_rf(f->root);
    free(f->root);
    free(f);
    return 0;
}

/* <root><rel> holding text, its folders made. */
static void put(const struct fx *f, const char *rel, const char *text)
{
    char *p = t_printf("%s%s", f->root, rel);
    char *slash = strrchr(p, '/');
    *slash = '\0';
    t_mkdirs(p);
    *slash = '/';
    t_write(p, text);
    free(p);
}

static void mkdirs(const struct fx *f, const char *rel)
{
    char *p = t_printf("%s%s", f->root, rel);
    t_mkdirs(p);
    free(p);
}

static void rm_at(const struct fx *f, const char *rel)
{
    char *p = t_printf("%s%s", f->root, rel);
    assert_int_equal(unlink(p), 0);
    free(p);
}

static void link_at(const struct fx *f, const char *target, const char *rel)
{
    char *p = t_printf("%s%s", f->root, rel);
    assert_int_equal(symlink(target, p), 0);
    free(p);
}

/* <root><rel>: the smallest shared object, filed under soname (DT_SONAME), or under its own
 * name when soname is NULL (a dynamic section without one). */
static void put_so(const struct fx *f, const char *rel, const char *soname)
{
    struct {
        Elf64_Ehdr eh;
        Elf64_Phdr ph[2];
        Elf64_Dyn dyn[3];
        char strtab[64];
    } elf = {0};
    memcpy(elf.eh.e_ident, ELFMAG, SELFMAG);
    elf.eh.e_ident[EI_CLASS] = ELFCLASS64;
    elf.eh.e_ident[EI_DATA] = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? ELFDATA2LSB : ELFDATA2MSB;
    elf.eh.e_ident[EI_VERSION] = EV_CURRENT;
    elf.eh.e_type = ET_DYN;
    elf.eh.e_version = EV_CURRENT;
    elf.eh.e_phoff = offsetof(__typeof__(elf), ph);
    elf.eh.e_ehsize = sizeof elf.eh;
    elf.eh.e_phentsize = sizeof elf.ph[0];
    elf.eh.e_phnum = 2;
    elf.ph[0].p_type = PT_LOAD; /* file offsets are addresses */
    elf.ph[0].p_filesz = elf.ph[0].p_memsz = sizeof elf;
    elf.ph[1].p_type = PT_DYNAMIC;
    elf.ph[1].p_offset = elf.ph[1].p_vaddr = offsetof(__typeof__(elf), dyn);
    elf.ph[1].p_filesz = sizeof elf.dyn;
    if (soname) {
        elf.dyn[0].d_tag = DT_STRTAB;
        elf.dyn[0].d_un.d_ptr = offsetof(__typeof__(elf), strtab);
        elf.dyn[1].d_tag = DT_SONAME;
        elf.dyn[1].d_un.d_val = 1;
        snprintf(elf.strtab + 1, sizeof elf.strtab - 1, "%s", soname);
    }
    put(f, rel, "");
    char *p = t_printf("%s%s", f->root, rel);
    FILE *out = fopen(p, "w");
    assert_non_null(out);
    assert_int_equal(fwrite(&elf, sizeof elf, 1, out), 1);
    assert_int_equal(fclose(out), 0);
    free(p);
}

static void put_lib(const struct fx *f, const char *rel)
{
    put_so(f, rel, NULL);
}

/* nvb_ldcache_current with a cache written after every file here, naming the libraries
 * listed (container paths, NULL-ended). */
static bool current(const struct fx *f, const char *const *listed, const nvb_ldcache_ahead *ahead, const char **why)
{
    struct stat cache = {0};
    cache.st_mtim.tv_sec = time(NULL) + 3600;
    nvb_folder_names *names = nvb_folder_names_new(f->rootfd);
    assert_non_null(names);
    for (size_t i = 0; listed && listed[i]; i++)
        assert_int_equal(nvb_folder_names_add(names, listed[i]), 0);
    *why = NULL;
    bool ok = nvb_ldcache_current(f->rootfd, &cache, names, NULL, 0, ahead, why);
    nvb_folder_names_free(names);
    if (ok)
        assert_null(*why);
    else
        assert_non_null(*why);
    return ok;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A folder of n files no pattern below matches, and a configuration of lines lines, each
 * `line`. */
static void many(const struct fx *f, const char *folder, unsigned n, const char *line, unsigned lines)
{
    mkdirs(f, folder);
    for (unsigned i = 0; i < n; i++) {
        char *p = t_printf("%s%s/f%05u", f->root, folder, i);
        t_write(p, "");
        free(p);
    }
    size_t len = strlen(line) + 1;
    char *conf = malloc(len * lines + 1);
    for (unsigned i = 0; i < lines; i++) {
        memcpy(conf + i * len, line, len - 1);
        conf[i * len + len - 1] = '\n';
    }
    conf[len * lines] = '\0';
    put(f, "/etc/ld.so.conf", conf);
    free(conf);
}

/* The review's case, made smaller: every wildcard include lists its folder again. 3000
 * patterns over 500 entries are 1.5 million entries read without a budget. */
static void repeated_includes_stop_at_the_budget(void **state)
{
    struct fx *f = *state;
    many(f, "/b", 500, "include /b/*z", 3000);
    const char *why;
    double t0 = now();
    assert_false(current(f, NULL, NULL, &why));
    double spent = now() - t0;
    assert_contains(why, "more than 100000 folder entries");
    if (spent > 1.0)
        fail_msg("took %.2f s", spent);
}

/* Fewer patterns than their cap, but more entries in all than the walk reads. */
static void entries_have_a_budget(void **state)
{
    struct fx *f = *state;
    many(f, "/b", 500, "include /b/*z", 250);
    const char *why;
    assert_false(current(f, NULL, NULL, &why));
    assert_contains(why, "more than 100000 folder entries");
}

static void patterns_have_a_budget(void **state)
{
    struct fx *f = *state;
    many(f, "/e", 0, "include /e/*z", 300);
    const char *why;
    assert_false(current(f, NULL, NULL, &why));
    assert_contains(why, "more than 256 include patterns");
}

static void folder_lines_have_a_budget(void **state)
{
    struct fx *f = *state;
    many(f, "/u", 0, "/u", 5000);
    const char *why;
    assert_false(current(f, NULL, NULL, &why));
    assert_contains(why, "more than 4096 folders");
}

/* Every name the cache does not list by itself has its header read: a folder of copies of
 * one library, filed under a name the cache lists, costs a read each. */
static void header_reads_have_a_budget(void **state)
{
    struct fx *f = *state;
    put(f, "/etc/ld.so.conf", "/opt/l\n");
    put_so(f, "/opt/l/libx.so.1", "libx.so.1");
    const char *listed[] = {"/opt/l/libx.so.1", NULL}, *why;
    char *lib = t_printf("%s/opt/l/libx.so.1", f->root);
    for (unsigned i = 0; i < 4100; i++) {
        char *copy = t_printf("%s/opt/l/lib%u.so", f->root, i);
        assert_int_equal(link(lib, copy), 0);
        free(copy);
        if (i == 100)
            assert_true(current(f, listed, NULL, &why));
    }
    free(lib);
    assert_false(current(f, listed, NULL, &why));
    assert_contains(why, "more than 4096 names the cache does not list");
}

/* Under every budget: as before (a big folder listed once, an include, a few lines). */
static void an_ordinary_configuration_is_read(void **state)
{
    struct fx *f = *state;
    many(f, "/usr/local/lib", 1000, "/usr/local/lib", 3);
    put(f, "/etc/ld.so.conf", "include /etc/ld.so.conf.d/*.conf\n/usr/local/lib\n");
    put(f, "/etc/ld.so.conf.d/libc.conf", "/usr/local/lib\n/usr/local/lib/x86_64-linux-gnu\n");
    put_lib(f, "/usr/local/lib/libfoo.so.1");
    const char *listed[] = {"/usr/local/lib/libfoo.so.1", NULL}, *why;
    assert_true(current(f, listed, NULL, &why));
    assert_false(current(f, NULL, NULL, &why));
    assert_contains(why, "holds a library the cache does not list");
}

/* glibc 2.36's ldconfig reads "/opt/foo=libc6" as the folder /opt/foo. */
static void dir_equals_type_names_the_folder(void **state)
{
    struct fx *f = *state;
    put_lib(f, "/opt/foo/libfoo.so.1");
    const char *listed[] = {"/opt/foo/libfoo.so.1", NULL}, *why;
    static const char *const lines[] = {"/opt/foo=libc6\n", "/opt/foo/ = libc6\n", "/opt/foo=\n"};
    for (size_t i = 0; i < sizeof lines / sizeof *lines; i++) {
        put(f, "/etc/ld.so.conf", lines[i]);
        assert_false(current(f, NULL, NULL, &why));
        assert_contains(why, "holds a library the cache does not list");
        assert_true(current(f, listed, NULL, &why));
    }
    /* In an included file too. */
    put(f, "/etc/ld.so.conf", "include /etc/ld.so.conf.d/*.conf\n");
    put(f, "/etc/ld.so.conf.d/foo.conf", "/opt/foo=libc6\n");
    assert_false(current(f, NULL, NULL, &why));
    assert_true(current(f, listed, NULL, &why));
    /* "=TYPE" alone names no folder. */
    put(f, "/etc/ld.so.conf.d/foo.conf", "=libc6\n");
    assert_true(current(f, NULL, NULL, &why));
}

/* A later ldconfig reads the line as written: a folder named so is checked too. */
static void dir_equals_type_as_written_is_checked_too(void **state)
{
    struct fx *f = *state;
    put_lib(f, "/opt/bar=libc6/libbar.so.1");
    put(f, "/etc/ld.so.conf", "/opt/bar=libc6\n");
    const char *listed[] = {"/opt/bar=libc6/libbar.so.1", NULL}, *why;
    assert_false(current(f, NULL, NULL, &why));
    assert_true(current(f, listed, NULL, &why));
}

static nvb_ldcache_ahead ahead_covering(const struct fx *f, const char *const *covered, size_t n)
{
    return (nvb_ldcache_ahead){.root_fd = f->rootfd, .covered = covered, .ncovered = n};
}

/* /opt -> /data, and the runtime mounts at /data: /opt/lib is what that mount holds. */
static void a_folder_through_a_link_into_a_mount_is_covered(void **state)
{
    struct fx *f = *state;
    const char *covered[] = {"/proc", "/data"}, *why;
    nvb_ldcache_ahead ahead = ahead_covering(f, covered, 2);
    mkdirs(f, "/data/lib");
    put(f, "/etc/ld.so.conf", "/opt/lib\n");
    link_at(f, "/data", "/opt");
    assert_false(current(f, NULL, &ahead, &why));
    assert_contains(why, "a mount of the container covers");
    /* The hook (no later mounts) reads the folder as before. */
    assert_true(current(f, NULL, NULL, &why));
    /* Relative links too. */
    rm_at(f, "/opt");
    link_at(f, "data", "/opt");
    assert_false(current(f, NULL, &ahead, &why));
}

static void the_control_without_a_link_is_current(void **state)
{
    struct fx *f = *state;
    const char *covered[] = {"/proc", "/data"}, *why;
    nvb_ldcache_ahead ahead = ahead_covering(f, covered, 2);
    mkdirs(f, "/data/lib");
    mkdirs(f, "/opt/lib");
    put(f, "/etc/ld.so.conf", "/opt/lib\n/usr/local/lib/x86_64-linux-gnu\n");
    put_lib(f, "/opt/lib/libfoo.so.1");
    const char *listed[] = {"/opt/lib/libfoo.so.1", NULL};
    assert_true(current(f, listed, &ahead, &why));
    /* And /data itself as written is covered, as before. */
    put(f, "/etc/ld.so.conf", "/data/lib\n");
    assert_false(current(f, listed, &ahead, &why));
}

/* Not there now, but there once the runtime mounts at /data (which it makes when missing). */
static void a_missing_folder_through_a_link_into_a_mount_is_covered(void **state)
{
    struct fx *f = *state;
    const char *covered[] = {"/data"}, *why;
    nvb_ldcache_ahead ahead = ahead_covering(f, covered, 1);
    put(f, "/etc/ld.so.conf", "/opt/lib\n");
    link_at(f, "/data", "/opt");
    assert_false(current(f, NULL, &ahead, &why)); /* /data missing: the link leads nowhere */
    assert_true(current(f, NULL, NULL, &why));
    mkdirs(f, "/data");
    assert_false(current(f, NULL, &ahead, &why)); /* /data there, /data/lib not */
    assert_contains(why, "a mount of the container covers");
}

/* The configuration's files and include folders are judged the same way. */
static void configuration_files_through_a_link_are_covered(void **state)
{
    struct fx *f = *state;
    const char *covered[] = {"/data"}, *why;
    nvb_ldcache_ahead ahead = ahead_covering(f, covered, 1);
    put(f, "/data/ld.so.conf", "\n");
    mkdirs(f, "/etc");
    link_at(f, "/data/ld.so.conf", "/etc/ld.so.conf");
    assert_false(current(f, NULL, &ahead, &why));
    assert_true(current(f, NULL, NULL, &why));
    rm_at(f, "/etc/ld.so.conf");
    put(f, "/etc/ld.so.conf", "include /opt/conf.d/*.conf\n");
    put(f, "/data/conf.d/a.conf", "\n");
    link_at(f, "/data", "/opt");
    assert_false(current(f, NULL, &ahead, &why));
    assert_true(current(f, NULL, NULL, &why));
}

/* The lookup passes through /data on the way and ends elsewhere: /opt -> /data/x, and
 * /data/x/lib -> /srv/real. Neither /opt/lib nor /srv/real is under /data, yet the runtime's
 * mount at /data replaces the link the lookup goes through. */
static void a_link_met_on_the_way_into_a_mount_is_covered(void **state)
{
    struct fx *f = *state;
    const char *covered[] = {"/proc", "/data"}, *why;
    nvb_ldcache_ahead ahead = ahead_covering(f, covered, 2);
    mkdirs(f, "/data/x");
    mkdirs(f, "/srv/real");
    link_at(f, "/data/x", "/opt");
    link_at(f, "/srv/real", "/data/x/lib");
    put(f, "/etc/ld.so.conf", "/opt/lib\n");
    assert_false(current(f, NULL, &ahead, &why));
    assert_contains(why, "a mount of the container covers");
    /* The control: the same links, the mount elsewhere. */
    const char *elsewhere[] = {"/proc", "/mnt"};
    ahead = ahead_covering(f, elsewhere, 2);
    assert_true(current(f, NULL, &ahead, &why));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(repeated_includes_stop_at_the_budget, setup, teardown),
        cmocka_unit_test_setup_teardown(entries_have_a_budget, setup, teardown),
        cmocka_unit_test_setup_teardown(patterns_have_a_budget, setup, teardown),
        cmocka_unit_test_setup_teardown(folder_lines_have_a_budget, setup, teardown),
        cmocka_unit_test_setup_teardown(header_reads_have_a_budget, setup, teardown),
        cmocka_unit_test_setup_teardown(an_ordinary_configuration_is_read, setup, teardown),
        cmocka_unit_test_setup_teardown(dir_equals_type_names_the_folder, setup, teardown),
        cmocka_unit_test_setup_teardown(dir_equals_type_as_written_is_checked_too, setup, teardown),
        cmocka_unit_test_setup_teardown(a_folder_through_a_link_into_a_mount_is_covered, setup, teardown),
        cmocka_unit_test_setup_teardown(the_control_without_a_link_is_current, setup, teardown),
        cmocka_unit_test_setup_teardown(a_missing_folder_through_a_link_into_a_mount_is_covered, setup, teardown),
        cmocka_unit_test_setup_teardown(configuration_files_through_a_link_are_covered, setup, teardown),
        cmocka_unit_test_setup_teardown(a_link_met_on_the_way_into_a_mount_is_covered, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
