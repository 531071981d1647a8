/* The hook and link lists nvbind's specs carry (lib/policy/edits.c), on Debian's own
 * driver packaging (/usr/lib/<triplet>/nvidia/current), and the SONAME mounts of docker's
 * legacy form, which runs no hook. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "oci/hook_ldcache_args.h"
#include "policy/edits.h"

#define CUR "/usr/lib/x86_64-linux-gnu/nvidia/current"

static nvb_component lib(const char *path, const char *soname, unsigned caps)
{
    return (nvb_component){.kind = NVB_COMP_LIBRARY, .host_path = (char *)path, .container_path = (char *)path,
                           .caps = caps, .soname = (char *)soname};
}

static nvb_host debian_host(nvb_component *comps, size_t n)
{
    comps[0] = lib(CUR "/libcuda.so.535.261.03", "libcuda.so.1", NVB_CAP_COMPUTE);
    comps[1] = lib(CUR "/libGLX_nvidia.so.535.261.03", "libGLX_nvidia.so.0", NVB_CAP_GRAPHICS);
    comps[2] = lib(CUR "/libnvidia-api.so.1", "libnvidia-api.so.1", NVB_CAP_GRAPHICS);
    comps[3] = lib("/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.535.261.03", "libnvidia-ml.so.1", NVB_CAP_UTILITY);
    assert_int_equal(n, 4);
    return (nvb_host){.driver_version = (char *)"535.261.03", .comps = comps, .n_comps = n, .cap_comps = n};
}

/* The edits for all capabilities but compat32 on debian_host, with nvbind's hooks. */
static void debian_edits(nvb_edits *e)
{
    nvb_component comps[4];
    nvb_host h = debian_host(comps, 4);
    assert_int_equal(nvb_edits_shared(e, &h, NVB_CAP_ALL & ~NVB_CAP_COMPAT32, "/usr/bin/nvbind"), 0);
}

/* Index of arg in hook h's arguments, -1 when absent. */
static long arg_index(const nvb_hook *h, const char *arg)
{
    for (size_t i = 0; i < h->args.n; i++)
        if (strcmp(h->args.v[i], arg) == 0)
            return (long)i;
    return -1;
}

static void links_then_cache_on_debian_packaging(void **state)
{
    (void)state;
    nvb_edits e = {0};
    debian_edits(&e);
    /* One hook process at every start: update-ldcache makes the links, then the cache. */
    assert_int_equal(e.n_hooks, 1);
    const nvb_hook *links = &e.hooks[0], *cache = &e.hooks[0];
    assert_string_equal(cache->args.v[2], "update-ldcache");
    long last_link = -1, first_folder = -1;
    for (size_t i = 3; i < cache->args.n; i++) {
        if (strcmp(cache->args.v[i], "--link") == 0)
            last_link = (long)i;
        else if (first_folder < 0 && strcmp(cache->args.v[i], "--folder") == 0)
            first_folder = (long)i;
    }
    assert_true(last_link > 0 && first_folder > last_link);

    /* SONAME links first: nothing ldconfig scans may dangle. */
    long soname = arg_index(links, "libcuda.so.535.261.03::" CUR "/libcuda.so.1");
    long dev = arg_index(links, "libcuda.so.1::" CUR "/libcuda.so");
    assert_true(soname > 0 && dev > soname);
    assert_true(arg_index(links, "libGLX_nvidia.so.535.261.03::" CUR "/libGLX_nvidia.so.0") > 0);
    /* A plain file named as its SONAME gets no link to itself. */
    for (size_t i = 0; i < links->args.n; i++)
        assert_null(strstr(links->args.v[i], "::" CUR "/libnvidia-api.so.1"));
    /* GLVND's name in the multiarch folder, which the loader searches. */
    long indirect = arg_index(links, "nvidia/current/libGLX_nvidia.so.0::/usr/lib/x86_64-linux-gnu/libGLX_indirect.so.0");
    assert_true(indirect > soname);

    assert_true(arg_index(cache, CUR) > 0);
    assert_true(arg_index(cache, "/usr/lib/x86_64-linux-gnu") > 0);
    long v = arg_index(cache, "--host-driver-version");
    assert_true(v > 0);
    assert_string_equal(cache->args.v[v + 1], "535.261.03");
    nvb_edits_clear(&e);
}

/* VDPAU, GBM and X server modules are opened by path by their loaders: their folders get the
 * modules' links but stay out of the dynamic loader's search path and cache. */
static void loader_module_folders_stay_out_of_the_cache(void **state)
{
    (void)state;
    nvb_component comps[4] = {
        lib("/usr/lib/x86_64-linux-gnu/libcuda.so.535.261.03", "libcuda.so.1", NVB_CAP_COMPUTE),
        lib("/usr/lib/x86_64-linux-gnu/vdpau/libvdpau_nvidia.so.1", NULL, NVB_CAP_VIDEO),
        lib("/usr/lib/x86_64-linux-gnu/gbm/nvidia-drm_gbm.so", NULL, NVB_CAP_GRAPHICS),
        lib("/usr/lib/xorg/modules/drivers/nvidia_drv.so", NULL, NVB_CAP_DISPLAY),
    };
    nvb_host h = {.driver_version = (char *)"535.261.03", .comps = comps, .n_comps = 4, .cap_comps = 4};
    nvb_edits e = {0};
    assert_int_equal(nvb_edits_shared(&e, &h, NVB_CAP_ALL & ~NVB_CAP_COMPAT32, "/usr/bin/nvbind"), 0);
    size_t ci = 0;
    while (ci < e.n_hooks && strcmp(e.hooks[ci].args.v[2], "update-ldcache") != 0)
        ci++;
    assert_true(ci < e.n_hooks);
    const nvb_hook *cache = &e.hooks[ci];
    assert_true(arg_index(cache, "/usr/lib/x86_64-linux-gnu") > 0);
    assert_int_equal(arg_index(cache, "/usr/lib/x86_64-linux-gnu/vdpau"), -1);
    assert_int_equal(arg_index(cache, "/usr/lib/x86_64-linux-gnu/gbm"), -1);
    assert_int_equal(arg_index(cache, "/usr/lib/xorg/modules/drivers"), -1);
    nvb_edits_clear(&e);
}

static bool mounts(const nvb_edits *e, const char *host, const char *container)
{
    for (size_t i = 0; i < e->n_mounts; i++)
        if (!strcmp(e->mounts[i].host_path, host) && !strcmp(e->mounts[i].container_path, container))
            return true;
    return false;
}

static void legacy_soname_mounts_in_the_multiarch_folder(void **state)
{
    (void)state;
    nvb_component comps[4];
    nvb_host h = debian_host(comps, 4);
    nvb_edits e = {0};
    assert_int_equal(nvb_edits_shared(&e, &h, NVB_CAP_COMPUTE | NVB_CAP_UTILITY, NULL), 0);
    size_t before = e.n_mounts;
    assert_int_equal(before, 2); /* libcuda and libnvidia-ml: graphics not asked for */
    assert_int_equal(nvb_edits_add_soname_mounts(&e, &h), 0);
    assert_true(mounts(&e, CUR "/libcuda.so.535.261.03", "/usr/lib/x86_64-linux-gnu/libcuda.so.1"));
    assert_true(mounts(&e, "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.535.261.03",
                       "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1"));
    assert_int_equal(e.n_mounts, before + 2); /* nothing for what is not mounted */
    assert_int_equal(nvb_edits_add_soname_mounts(&e, &h), 0);
    assert_int_equal(e.n_mounts, before + 2); /* idempotent */
    nvb_edits_clear(&e);
}

/* What the edits write, the one reader of the hook's arguments (oci/hook_ldcache_args.h) takes
 * back whole: the hook and nvbind-runtime's cache-ahead read the same values. And what the
 * hook would refuse, that reader refuses, so the shim then leaves the work to the hook. */
static void hook_arguments_read_back_whole(void **state)
{
    (void)state;
    nvb_edits e = {0};
    debian_edits(&e);
    assert_int_equal(e.n_hooks, 1);
    nvb_strv *args = &e.hooks[0].args;
    size_t nlinks = 0, nfolders = 0, nlibs = 0;
    for (size_t i = 3; i < args->n; i++) {
        nlinks += strcmp(args->v[i], "--link") == 0;
        nfolders += strcmp(args->v[i], "--folder") == 0;
        nlibs += strcmp(args->v[i], "--lib64") == 0 || strcmp(args->v[i], "--lib32") == 0;
    }
    nvb_ldcache_hook_args a;
    nvb_ldcache_hook_args_init(&a);
    nvb_err err = {0};
    assert_true(nvb_ldcache_hook_args_parse(&a, (const char *const *)args->v, args->n, &err));
    assert_true(nlinks > 0 && nfolders > 0 && nlibs > 0);
    assert_int_equal(a.nlinks, nlinks);
    assert_int_equal(a.folders.n, nfolders);
    assert_int_equal(a.nlibs, nlibs);
    assert_string_equal(a.host_version, "535.261.03");
    assert_string_equal(a.libs[0].path, CUR "/libcuda.so.1");
    nvb_hook_ldcache_opts o = nvb_ldcache_hook_args_opts(&a);
    assert_int_equal(o.nlinks, nlinks);
    assert_ptr_equal(o.libs, a.libs);
    nvb_ldcache_hook_args_free(&a);

    /* Refused, as `nvbind hook update-ldcache` refuses them. */
    const char *bad[][5] = {
        {"--host-driver-version", "535; rm -rf /", NULL},
        {"--folder", "usr/lib", NULL},
        {"--lib64", "/usr/lib/../../x/libcuda.so.1", NULL},
        {"--link", "no-separator", NULL},
        {"--timeout", "0", NULL},
        {"--ldconfig", "ldconfig", NULL},
        {"--unknown", "x", NULL},
        {"--folder", NULL},
        {"folder", "/usr/lib", NULL},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        const char *list[8] = {"/usr/bin/nvbind", "hook", "update-ldcache"};
        size_t n = 3;
        for (size_t j = 0; bad[k][j]; j++)
            list[n++] = bad[k][j];
        nvb_ldcache_hook_args_init(&a);
        err = (nvb_err){0};
        assert_false(nvb_ldcache_hook_args_parse(&a, list, n, &err));
        assert_int_equal(err.exit_code, NVB_EXIT_USAGE);
        assert_true(err.msg[0] != '\0');
        nvb_ldcache_hook_args_free(&a);
    }
    const char *other[] = {"/usr/bin/nvbind", "hook", "create-symlinks", "--link", "a::/b"};
    nvb_ldcache_hook_args_init(&a);
    assert_false(nvb_ldcache_hook_args_parse(&a, other, 5, &err));
    nvb_ldcache_hook_args_free(&a);
    nvb_edits_clear(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(links_then_cache_on_debian_packaging),
        cmocka_unit_test(legacy_soname_mounts_in_the_multiarch_folder),
        cmocka_unit_test(loader_module_folders_stay_out_of_the_cache),
        cmocka_unit_test(hook_arguments_read_back_whole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
