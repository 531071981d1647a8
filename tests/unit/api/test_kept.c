/* The host model a manager keeps (lib/api/kept.c) and nvbind_get_capsule_edits (NVBIND_0.3):
 * a warm manager discovers once; each thing the fingerprint covers, changed under a live
 * manager, is followed by the next call (its answer equals a fresh discovery's); on every fake
 * layout (and the real-packaging host when tests/realhost's cache holds one) the kept model's
 * spec equals a fresh discovery's, and the capsule edits equal the spec's edits for the same
 * selection, merged as a CDI runtime merges them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <glob.h>
#include <sys/sysmacros.h>
#include <time.h>

#include "api_test_util.h"
#include "api/api.h"

/* A fresh discovery and generation, without the kept model: what the kept path must equal. */
static json_t *fresh_spec(const nvbind_gpu_manager *m)
{
    nvbind_error *err = NULL;
    nvb_host *h = nvb_api_discover_any(m, false, &err);
    json_t *doc = h ? nvb_api_generate(m, h, NVB_API_AIML, NULL, &err) : NULL;
    nvb_host_free(h);
    nvbind_error_free(err);
    return doc;
}

/* The AI/ML spec through the public call (the kept model). */
static json_t *kept_spec(const nvbind_gpu_manager *m)
{
    nvbind_error *err = NULL;
    nvbind_cdi_spec *s = nvbind_generate_aiml_cdi_spec(m, &err);
    if (!s) {
        nvbind_error_free(err);
        return NULL;
    }
    json_t *doc = json_incref(s->json);
    nvbind_cdi_spec_free(s);
    return doc;
}

/* A manager whose workload is AI/ML (a BoltConfig with its AI/ML part): the capsule edits
 * follow the manager's workload, the spec compared here is the AI/ML one. */
static nvbind_gpu_manager *manager_on(const char *root)
{
    nvbind_manager_options o = {.host_root = root, .hook_path = "/usr/bin/nvbind"};
    nvbind_bolt_config c;
    nvbind_bolt_config_default(&c);
    c.has_aiml = true;
    nvbind_bolt_aiml_gpu_config_default(&c.aiml);
    nvbind_error *err = NULL;
    nvbind_gpu_manager *m = nvbind_gpu_manager_new(&c, &o, &err);
    if (!m)
        fail_msg("%s", nvbind_error_message(err));
    return m;
}

/* The next call follows: the kept spec equals a fresh discovery's. Returns the kept spec. */
static json_t *assert_follows(const nvbind_gpu_manager *m, const char *what)
{
    json_t *kept = kept_spec(m), *fresh = fresh_spec(m);
    if (!kept || !fresh || !json_equal(kept, fresh))
        fail_msg("%s: the kept model's spec differs from a fresh discovery's", what);
    json_decref(fresh);
    return kept;
}

static void path_of(char *out, size_t cap, const tu_host *h, const char *rel)
{
    snprintf(out, cap, "%s%s", h->root, rel);
}

/* Folder times move in coarse ticks: changes a test makes apart from the host's build are
 * spaced by more than one. */
static void tick(void)
{
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

static size_t count_node(const nvbind_capsule_edits *e, const char *path)
{
    size_t n = 0;
    for (size_t i = 0; i < e->device_node_count; i++)
        n += strcmp(e->device_nodes[i].path, path) == 0;
    return n;
}

/* The GPUs' own nodes: /dev/nvidia<minor>. */
static size_t count_gpu_nodes(const nvbind_capsule_edits *e)
{
    size_t n = 0;
    for (size_t i = 0; i < e->device_node_count; i++) {
        const char *p = e->device_nodes[i].path;
        n += strncmp(p, "/dev/nvidia", 11) == 0 && p[11] >= '0' && p[11] <= '9';
    }
    return n;
}

static void test_warm_manager_discovers_once(void **state)
{
    (void)state;
    tu_host h;
    assert_int_equal(tu_host_build(&h, "--gpus 2"), 0);
    nvbind_gpu_manager *m = manager_on(h.root);
    for (int i = 0; i < 10; i++) {
        json_t *s = kept_spec(m);
        assert_non_null(s);
        json_decref(s);
    }
    assert_int_equal(nvb_api_kept_discoveries(m), 1);
    assert_int_equal(nvb_api_kept_check(m), 1);
    nvbind_gpu_manager_free(m);
    tu_host_free(&h);
}

/* Each thing the fingerprint covers, changed under a live manager (a daemon's view of a
 * driver upgrade, a GPU unplugged, MIG reconfigured, majors renumbered, a new library cache,
 * a node removed, persistenced stopped): the next call rediscovers and follows. */
static void test_follows_each_change(void **state)
{
    (void)state;
    tu_host h;
    assert_int_equal(tu_host_build(&h, "--gpus 2 --fabricmanager"), 0);
    nvbind_gpu_manager *m = manager_on(h.root);
    static const char *const all[] = {"all"};
    nvbind_error *err = NULL;
    nvbind_capsule_edits *e = nvbind_get_capsule_edits(m, all, 1, &err);
    TU_NON_NULL(e);
    assert_int_equal(count_gpu_nodes(e), 2);
    assert_int_equal(count_node(e, "/dev/nvidia-uvm"), 1);
    nvbind_capsule_edits_free(e);
    json_t *before = assert_follows(m, "unchanged");
    unsigned long d = nvb_api_kept_discoveries(m);
    assert_int_equal(d, 1);
    char p[4096], q[512];
    tick();

    /* A GPU removed: its /proc folder goes; "all" loses its node, its name is unknown. */
    const char *bus1 = tu_gpu_field(&h, 1, "pci_bus_id");
    snprintf(q, sizeof q, "/proc/driver/nvidia/gpus/%s", bus1);
    path_of(p, sizeof p, &h, q);
    tu_rm_rf(p);
    e = nvbind_get_capsule_edits(m, all, 1, &err);
    TU_NON_NULL(e);
    assert_int_equal(nvb_api_kept_discoveries(m), ++d);
    assert_int_equal(count_gpu_nodes(e), 1);
    nvbind_capsule_edits_free(e);
    static const char *const second[] = {"1"};
    assert_null(nvbind_get_capsule_edits(m, second, 1, &err));
    assert_int_equal(nvbind_error_code(err), NVBIND_EXIT_USAGE);
    nvbind_error_free(err);
    err = NULL;
    json_t *now = assert_follows(m, "GPU removed");
    assert_false(json_equal(now, before));
    json_decref(before);
    before = now;

    /* The driver upgraded: a new version file. */
    path_of(p, sizeof p, &h, "/proc/driver/nvidia/version");
    char *text = tu_read_file(p);
    TU_NON_NULL(text);
    const char *ver = json_string_value(json_object_get(json_object_get(h.manifest, "driver"), "version"));
    TU_NON_NULL(ver);
    char *at = strstr(text, ver);
    TU_NON_NULL(at);
    memcpy(at, "999", 3);
    assert_int_equal(tu_write_file(p, text), 0);
    free(text);
    nvb_api_model *km = nvb_api_host_acquire(m, &err);
    TU_NON_NULL(km);
    assert_int_equal(strncmp(km->host->driver_version, "999", 3), 0);
    nvb_api_host_release(m, km);
    assert_int_equal(nvb_api_kept_discoveries(m), ++d);
    json_decref(assert_follows(m, "driver version"));

    /* Majors renumbered: /proc/devices rewritten. */
    path_of(p, sizeof p, &h, "/proc/devices");
    text = tu_read_file(p);
    TU_NON_NULL(text);
    at = strstr(text, "nvidia-frontend");
    TU_NON_NULL(at);
    char *line = at;
    while (line > text && line[-1] != '\n')
        line--;
    memcpy(line, "197", 3);
    assert_int_equal(tu_write_file(p, text), 0);
    free(text);
    json_decref(assert_follows(m, "/proc/devices"));
    assert_int_equal(nvb_api_kept_discoveries(m), ++d);

    /* MIG reconfigured: a new capability node in /dev/nvidia-caps. */
    km = nvb_api_host_acquire(m, &err);
    TU_NON_NULL(km);
    size_t caps = km->host->cap_nodes.n;
    nvb_api_host_release(m, km);
    path_of(p, sizeof p, &h, "/dev/nvidia-caps/nvidia-cap99");
    assert_int_equal(mknod(p, S_IFCHR | 0444, makedev(509, 99)), 0);
    km = nvb_api_host_acquire(m, &err);
    TU_NON_NULL(km);
    assert_int_equal(km->host->cap_nodes.n, caps + 1);
    nvb_api_host_release(m, km);
    assert_int_equal(nvb_api_kept_discoveries(m), ++d);
    json_decref(assert_follows(m, "MIG capability node"));
    tick();

    /* A control node removed: the edits lose it. */
    path_of(p, sizeof p, &h, "/dev/nvidia-uvm");
    assert_int_equal(unlink(p), 0);
    e = nvbind_get_capsule_edits(m, all, 1, &err);
    TU_NON_NULL(e);
    assert_int_equal(count_node(e, "/dev/nvidia-uvm"), 0);
    nvbind_capsule_edits_free(e);
    assert_int_equal(nvb_api_kept_discoveries(m), ++d);
    now = assert_follows(m, "device node removed");
    assert_false(json_equal(now, before));
    json_decref(before);
    before = now;

    /* The library cache replaced (ldconfig writes a new file and renames it over). */
    char *cmd = NULL;
    assert_true(asprintf(&cmd, "cp -p '%s/etc/ld.so.cache' '%s/etc/ld.so.cache.x' && mv '%s/etc/ld.so.cache.x' "
                               "'%s/etc/ld.so.cache'", h.root, h.root, h.root, h.root) > 0);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    json_decref(assert_follows(m, "library cache"));
    assert_int_equal(nvb_api_kept_discoveries(m), ++d);

    /* The fabric manager stopped: its socket goes, and with it the mount. */
    path_of(p, sizeof p, &h, "/run/nvidia-fabricmanager/socket");
    assert_int_equal(unlink(p), 0);
    now = assert_follows(m, "IPC socket removed");
    assert_false(json_equal(now, before));
    assert_int_equal(nvb_api_kept_discoveries(m), ++d);
    json_decref(before);
    json_decref(now);

    /* And nothing changed since: no discovery more. */
    json_decref(kept_spec(m));
    assert_int_equal(nvb_api_kept_discoveries(m), d);
    nvbind_gpu_manager_free(m);
    tu_host_free(&h);
}

/* A result holds the model it was made from: it stays readable after its manager is freed
 * (a runtime tearing its manager down while a capsule is still being set up). */
static void test_edits_outlive_manager(void **state)
{
    (void)state;
    tu_host h;
    assert_int_equal(tu_host_build(&h, "--gpus 2"), 0);
    nvbind_gpu_manager *m = manager_on(h.root);
    static const char *const all[] = {"all"};
    nvbind_capsule_edits *a = nvbind_get_capsule_edits(m, all, 1, NULL);
    nvbind_capsule_edits *b = nvbind_get_capsule_edits(m, all, 1, NULL);
    TU_NON_NULL(a);
    TU_NON_NULL(b);
    nvbind_gpu_manager_free(m);
    assert_int_equal(count_gpu_nodes(a), 2);
    assert_true(a->mount_count > 0);
    assert_string_equal(a->mounts[0].container_path, b->mounts[0].container_path);
    nvbind_capsule_edits_free(a);
    assert_int_equal(count_gpu_nodes(b), 2);
    nvbind_capsule_edits_free(b);
    tu_host_free(&h);
}

/* ---- the capsule edits against the spec's edits ---- */

typedef struct expect {
    json_t *env, *nodes, *mounts, *hooks;  /* arrays, merged as a CDI runtime applies them */
} expect;

static bool has_key(json_t *a, const char *key, const char *value, size_t *at)
{
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v)
    {
        if (strcmp(json_string_value(json_object_get(v, key)), value) == 0) {
            *at = i;
            return true;
        }
    }
    return false;
}

static void merge(expect *x, json_t *edits)
{
    size_t i, at;
    json_t *v;
    json_array_foreach(json_object_get(edits, "env"), i, v)
    {
        const char *kv = json_string_value(v);
        size_t kl = strcspn(kv, "=");
        bool done = false;
        for (size_t j = 0; !done && j < json_array_size(x->env); j++) {
            const char *old = json_string_value(json_array_get(x->env, j));
            if (strncmp(old, kv, kl) == 0 && old[kl] == '=') {
                json_array_set(x->env, j, v);
                done = true;
            }
        }
        if (!done)
            json_array_append(x->env, v);
    }
    json_array_foreach(json_object_get(edits, "deviceNodes"), i, v)
    if (!has_key(x->nodes, "path", json_string_value(json_object_get(v, "path")), &at))
        json_array_append(x->nodes, v);
    json_array_foreach(json_object_get(edits, "mounts"), i, v)
    if (!has_key(x->mounts, "containerPath", json_string_value(json_object_get(v, "containerPath")), &at))
        json_array_append(x->mounts, v);
    json_array_foreach(json_object_get(edits, "hooks"), i, v)
    json_array_append(x->hooks, v);
}

static json_t *device_edits(json_t *spec, const char *name)
{
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(spec, "devices"), i, d)
    if (strcmp(json_string_value(json_object_get(d, "name")), name) == 0)
        return json_object_get(d, "containerEdits");
    return NULL;
}

static json_t *strings(const char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

/* The capsule edits in the CDI layout, to compare with the spec's. */
static expect as_cdi(const nvbind_capsule_edits *e)
{
    expect x = {strings(e->env, e->env_count), json_array(), json_array(), json_array()};
    for (size_t i = 0; i < e->device_node_count; i++) {
        const nvbind_edit_device_node *n = &e->device_nodes[i];
        json_array_append_new(x.nodes, json_pack("{s:s, s:s, s:s#, s:I, s:I, s:I}", "path", n->path, "hostPath",
                                                 n->host_path, "type", &n->type, 1, "major", (json_int_t)n->major,
                                                 "minor", (json_int_t)n->minor, "fileMode", (json_int_t)n->file_mode));
    }
    for (size_t i = 0; i < e->mount_count; i++) {
        const nvbind_edit_mount *mt = &e->mounts[i];
        json_array_append_new(x.mounts, json_pack("{s:s, s:s, s:o}", "hostPath", mt->host_path, "containerPath",
                                                  mt->container_path, "options",
                                                  strings(mt->options, mt->option_count)));
    }
    for (size_t i = 0; i < e->hook_count; i++) {
        const nvbind_edit_hook *hk = &e->hooks[i];
        json_array_append_new(x.hooks, json_pack("{s:s, s:s, s:o}", "hookName", hk->hook_name, "path", hk->path,
                                                 "args", strings(hk->args, hk->arg_count)));
    }
    return x;
}

static void expect_clear(expect *x)
{
    json_decref(x->env);
    json_decref(x->nodes);
    json_decref(x->mounts);
    json_decref(x->hooks);
}

/* nvbind_get_capsule_edits(names) equals the spec's spec-wide edits merged with each named
 * device's. */
static void assert_edits_match(const nvbind_gpu_manager *m, json_t *spec, const char *const *names, size_t n,
                               const char *where)
{
    expect want = {json_array(), json_array(), json_array(), json_array()};
    merge(&want, json_object_get(spec, "containerEdits"));
    for (size_t i = 0; i < n; i++) {
        json_t *d = device_edits(spec, names[i]);
        if (!d)
            fail_msg("%s: the spec has no device %s", where, names[i]);
        merge(&want, d);
    }
    nvbind_error *err = NULL;
    nvbind_capsule_edits *e = nvbind_get_capsule_edits(m, names, n, &err);
    if (!e)
        fail_msg("%s: %s", where, nvbind_error_message(err));
    expect got = as_cdi(e);
    const char *parts[] = {"env", "deviceNodes", "mounts", "hooks"};
    json_t *w[] = {want.env, want.nodes, want.mounts, want.hooks}, *g[] = {got.env, got.nodes, got.mounts, got.hooks};
    for (int i = 0; i < 4; i++)
        if (!json_equal(w[i], g[i])) {
            char *ws = json_dumps(w[i], 0), *gs = json_dumps(g[i], 0);
            fail_msg("%s (%zu devices): %s differ:\n spec:  %.600s\n edits: %.600s", where, n, parts[i], ws, gs);
        }
    expect_clear(&want);
    expect_clear(&got);
    nvbind_capsule_edits_free(e);
}

/* On one host: the kept model's spec equals a fresh discovery's (the second call is served
 * from the kept model), and the edits for "all", each GPU by index and UUID, and none match. */
static void check_host(const char *root, const char *where)
{
    nvbind_gpu_manager *m = manager_on(root);
    json_t *first = kept_spec(m);
    json_t *kept = kept_spec(m), *fresh = fresh_spec(m);
    if (!fresh) {
        /* A host the AI/ML spec refuses (other vendors only): the edits refuse it too. */
        assert_null(first);
        assert_null(kept);
        static const char *const all[] = {"all"};
        nvbind_error *err = NULL;
        assert_null(nvbind_get_capsule_edits(m, all, 1, &err));
        assert_int_equal(nvbind_error_code(err), NVBIND_EXIT_NO_DRIVER);
        nvbind_error_free(err);
        nvbind_gpu_manager_free(m);
        return;
    }
    if (!kept || !json_equal(kept, fresh))
        fail_msg("%s: the kept model's spec differs from a fresh discovery's", where);
    if (nvb_api_kept_discoveries(m) != 1)
        fail_msg("%s: %lu discoveries for two calls", where, nvb_api_kept_discoveries(m));
    static const char *const all[] = {"all"};
    assert_edits_match(m, kept, all, 1, where);
    assert_edits_match(m, kept, NULL, 0, where);
    size_t i;
    json_t *d;
    const char *names[64];
    size_t n = 0;
    json_array_foreach(json_object_get(kept, "devices"), i, d)
    {
        const char *name = json_string_value(json_object_get(d, "name"));
        if (strcmp(name, "all") == 0 || strchr(name, ':'))
            continue;
        assert_edits_match(m, kept, &name, 1, where);
        if (n < 64)
            names[n++] = name;
    }
    if (n > 1)
        assert_edits_match(m, kept, names, n, where);
    assert_int_equal(nvb_api_kept_discoveries(m), 1);
    json_decref(first);
    json_decref(kept);
    json_decref(fresh);
    nvbind_gpu_manager_free(m);
}

static void test_kept_equals_fresh_on_every_layout(void **state)
{
    (void)state;
    static const struct {
        const char *how, *extra;
    } hosts[] = {
        {"build", "--gpus 8 --layout debian"},
        {"build", "--gpus 2 --layout debian-packaged"},
        {"build", "--gpus 2 --layout debian-tesla"},
        {"build", "--gpus 3 --layout fedora --shuffle-minors"},
        {"build", "--gpus 2 --layout arch --mps --fabricmanager"},
        {"build", "--gpus 2 --layout operator"},
        {"build", "--gpus 2 --drm-gpus amd,intel"},
        {"build", "--no-driver --gpus 0 --drm-gpus amd"},
        {"build-wsl2", "--gpus 2"},
        {"build-wsl2", "--gpus 1 --no-dxcore --no-wslg"},
    };
    for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++) {
        tu_host h;
        assert_int_equal(tu_host_build_with(&h, hosts[i].how, hosts[i].extra), 0);
        char where[256];
        snprintf(where, sizeof where, "%s %s", hosts[i].how, hosts[i].extra);
        check_host(h.root, where);
        tu_host_free(&h);
    }
}

/* Debian's own packaging (tests/realhost), when its cache holds a built host: never built here. */
static void test_kept_equals_fresh_on_realhost(void **state)
{
    (void)state;
    const char *cache = getenv("NVBIND_REALHOST_CACHE");
    char pattern[4096];
    snprintf(pattern, sizeof pattern, "%s/host-*/realhost.json",
             cache && *cache ? cache : "/var/cache/nvbind-tests/realhost");
    glob_t g;
    if (glob(pattern, 0, NULL, &g) != 0) {
        skip();
        return;
    }
    char *root = strdup(g.gl_pathv[0]);
    globfree(&g);
    *strrchr(root, '/') = '\0';
    check_host(root, "real-packaging host");
    free(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_warm_manager_discovers_once),
        cmocka_unit_test(test_follows_each_change),
        cmocka_unit_test(test_edits_outlive_manager),
        cmocka_unit_test(test_kept_equals_fresh_on_every_layout),
        cmocka_unit_test(test_kept_equals_fresh_on_realhost),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
