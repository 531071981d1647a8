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

#include <dirent.h>
#include <fcntl.h>
#include <glob.h>
#include <pthread.h>
#include <stdbool.h>
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

/* The kept spec and a fresh discovery's agree on whether the host answers, and on the answer. */
static void assert_same_outcome(const nvbind_gpu_manager *m, const char *what)
{
    json_t *kept = kept_spec(m), *fresh = fresh_spec(m);
    if (!kept != !fresh || (kept && !json_equal(kept, fresh)))
        fail_msg("%s: the kept model answers %s, a fresh discovery %s", what, kept ? "a spec" : "nothing",
                 fresh ? "a spec" : "nothing");
    json_decref(kept);
    json_decref(fresh);
}

static size_t gpu_nodes_now(const nvbind_gpu_manager *m)
{
    static const char *const all[] = {"all"};
    nvbind_capsule_edits *e = nvbind_get_capsule_edits(m, all, 1, NULL);
    size_t n = e ? count_gpu_nodes(e) : 0;
    nvbind_capsule_edits_free(e);
    return n;
}

static void run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void run(const char *fmt, ...)
{
    char *cmd = NULL;
    va_list ap;
    va_start(ap, fmt);
    assert_true(vasprintf(&cmd, fmt, ap) > 0);
    va_end(ap);
    assert_int_equal(system(cmd), 0);
    free(cmd);
}

/* The driver upgraded, unloaded and loaded again while the manager keeps the version file and
 * the GPU folder open. A kept descriptor of a file replaced or removed on a file-backed host
 * still reads the OLD content (the old folder, its old entries): the manager must compare
 * what the path names now with what it keeps open, and follow each step. */
static void test_follows_files_replaced_under_kept_descriptors(void **state)
{
    (void)state;
    tu_host h;
    assert_int_equal(tu_host_build(&h, "--gpus 2"), 0);
    nvbind_gpu_manager *m = manager_on(h.root);
    assert_int_equal(gpu_nodes_now(m), 2);
    unsigned long d = nvb_api_kept_discoveries(m);
    const char *nv = "proc/driver/nvidia";

    /* Upgraded: a new version file renamed over the old one (same size, new version). */
    char p[4096];
    snprintf(p, sizeof p, "%s/%s/version", h.root, nv);
    char *text = tu_read_file(p);
    TU_NON_NULL(text);
    const char *ver = json_string_value(json_object_get(json_object_get(h.manifest, "driver"), "version"));
    char *at = strstr(text, ver);
    TU_NON_NULL(at);
    memcpy(at, "998", 3);
    char q[4200];
    snprintf(q, sizeof q, "%s.new", p);
    assert_int_equal(tu_write_file(q, text), 0);
    assert_int_equal(rename(q, p), 0);
    nvbind_error *err = NULL;
    nvb_api_model *km = nvb_api_host_acquire(m, &err);
    TU_NON_NULL(km);
    assert_int_equal(strncmp(km->host->driver_version, "998", 3), 0);
    nvb_api_host_release(m, km);
    assert_int_equal(nvb_api_kept_discoveries(m), ++d);
    assert_same_outcome(m, "version file replaced");

    /* The GPU folder replaced by a copy without GPU 1 (the old folder, renamed away, still
     * lists both through the kept descriptor). */
    run("cd '%s/%s' && cp -a gpus gpus.new && rm -rf 'gpus.new/%s' && mv gpus gpus.old && mv gpus.new gpus", h.root,
        nv, tu_gpu_field(&h, 1, "pci_bus_id"));
    assert_int_equal(gpu_nodes_now(m), 1);
    assert_int_equal(nvb_api_kept_discoveries(m), ++d);
    assert_same_outcome(m, "GPU folder replaced");

    /* Unloaded: the version file and the GPU folder gone. */
    run("cd '%s/%s' && mv version version.old && mv gpus gpus.one", h.root, nv);
    assert_same_outcome(m, "driver unloaded");
    assert_int_equal(gpu_nodes_now(m), 0);

    /* Loaded again, as before the upgrade: new files, both GPUs. */
    memcpy(at, ver, 3);
    assert_int_equal(tu_write_file(p, text), 0);
    free(text);
    run("cd '%s/%s' && mv gpus.old gpus", h.root, nv);
    assert_int_equal(gpu_nodes_now(m), 2);
    km = nvb_api_host_acquire(m, &err);
    TU_NON_NULL(km);
    assert_string_equal(km->host->driver_version, ver);
    nvb_api_host_release(m, km);
    assert_same_outcome(m, "driver loaded again");
    d = nvb_api_kept_discoveries(m);
    assert_int_equal(nvb_api_kept_check(m), 1);
    json_decref(kept_spec(m));
    assert_int_equal(nvb_api_kept_discoveries(m), d);
    nvbind_gpu_manager_free(m);
    tu_host_free(&h);
}

/* What the manager read is kept and not read again while its stat is unchanged, once the
 * file's change time is a second old. Changes after that, and a second change right after the
 * first (within one tick of a coarse file system clock), are each followed. */
static void test_follows_changes_to_settled_files(void **state)
{
    (void)state;
    tu_host h;
    assert_int_equal(tu_host_build(&h, "--gpus 2"), 0);
    struct timespec settle = {1, 300 * 1000 * 1000};
    nanosleep(&settle, NULL);
    nvbind_gpu_manager *m = manager_on(h.root);
    assert_int_equal(gpu_nodes_now(m), 2);
    assert_int_equal(gpu_nodes_now(m), 2);
    unsigned long d = nvb_api_kept_discoveries(m);
    assert_int_equal(d, 1);
    char p[4096];
    snprintf(p, sizeof p, "%s/proc/devices", h.root);
    char *text = tu_read_file(p);
    TU_NON_NULL(text);
    char *at = strstr(text, "nvidia-frontend");
    TU_NON_NULL(at);
    while (at > text && at[-1] != '\n')
        at--;
    /* Rewritten in place, same size: majors renumbered twice in a row. */
    for (int i = 0; i < 2; i++) {
        memcpy(at, i ? "196" : "197", 3);
        assert_int_equal(tu_write_file(p, text), 0);
        json_decref(assert_follows(m, "/proc/devices rewritten"));
        assert_int_equal(nvb_api_kept_discoveries(m), ++d);
    }
    free(text);
    /* A GPU removed from the settled folder, then the other. */
    for (int i = 1; i >= 0; i--) {
        char q[512];
        snprintf(q, sizeof q, "%s/proc/driver/nvidia/gpus/%s", h.root, tu_gpu_field(&h, (size_t)i, "pci_bus_id"));
        tu_rm_rf(q);
        assert_int_equal(gpu_nodes_now(m), (size_t)i);
        assert_same_outcome(m, "GPU removed");
    }
    nvbind_gpu_manager_free(m);
    tu_host_free(&h);
}

/* The descriptors a manager keeps are close-on-exec (a runtime forking containers must not
 * hand them to its children) and closed with the manager. */
static size_t open_fds(int *fds, size_t cap)
{
    DIR *dir = opendir("/proc/self/fd");
    size_t n = 0;
    struct dirent *e;
    while (dir && (e = readdir(dir)))
        if (e->d_name[0] != '.' && n < cap)
            fds[n++] = atoi(e->d_name);
    if (dir)
        closedir(dir);
    return n; /* the listing's own descriptor among them, the same number each time */
}

static void test_kept_descriptors_cloexec_and_freed(void **state)
{
    (void)state;
    tu_host h;
    assert_int_equal(tu_host_build(&h, "--gpus 2 --drm-gpus amd"), 0);
    int before[256], during[256], after[256];
    size_t nb = open_fds(before, 256);
    nvbind_gpu_manager *m = manager_on(h.root);
    assert_int_equal(gpu_nodes_now(m), 2);
    assert_int_equal(nvb_api_kept_check(m), 1);
    size_t nd = open_fds(during, 256);
    assert_true(nd > nb); /* the manager keeps some open */
    for (size_t i = 0; i < nd; i++) {
        bool old = false;
        for (size_t j = 0; j < nb; j++)
            old |= before[j] == during[i];
        int flags = fcntl(during[i], F_GETFD);
        if (!old && flags >= 0 && !(flags & FD_CLOEXEC))
            fail_msg("descriptor %d, kept by the manager, is not close-on-exec", during[i]);
    }
    nvbind_gpu_manager_free(m);
    assert_int_equal(open_fds(after, 256), nb);
    tu_host_free(&h);
}

/* Whether one of this process's descriptors is open on `target`. */
static bool holds_open(const char *target)
{
    DIR *dir = opendir("/proc/self/fd");
    struct dirent *e;
    bool found = false;
    while (dir && (e = readdir(dir))) {
        char link[300], to[4096];
        snprintf(link, sizeof link, "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(link, to, sizeof to - 1);
        if (n > 0) {
            to[n] = '\0';
            found |= strcmp(to, target) == 0;
        }
    }
    if (dir)
        closedir(dir);
    return found;
}

/* Older NVIDIA drivers take a power-management lock in the open of their /proc files and give
 * it back in the close: the manager must not keep the driver's version file open between
 * calls on procfs (a daemon holding it could hold off suspend),
 * while the kernel's own /proc/devices may stay open. The fake host's files point into this
 * machine's procfs for the test. */
static void test_driver_proc_file_not_held_open(void **state)
{
    (void)state;
    tu_host h;
    assert_int_equal(tu_host_build(&h, "--gpus 1"), 0);
    run("cd '%s/proc' && ln -sf /proc/version driver/nvidia/version && ln -sf /proc/devices devices", h.root);
    nvbind_gpu_manager *m = manager_on(h.root);
    for (int i = 0; i < 3; i++) {
        nvb_api_kept_check(m); /* the fingerprint, read through the kept descriptors */
        assert_false(holds_open("/proc/version"));
        assert_true(holds_open("/proc/devices"));
    }
    nvbind_gpu_manager_free(m);
    assert_false(holds_open("/proc/devices"));
    tu_host_free(&h);
}

typedef struct race {
    nvbind_gpu_manager *m;
    int failures;
} race;

static void *racer(void *arg)
{
    race *r = arg;
    static const char *const all[] = {"all"};
    for (int i = 0; i < 300; i++) {
        nvbind_capsule_edits *e = nvbind_get_capsule_edits(r->m, all, 1, NULL);
        if (!e || count_gpu_nodes(e) != 2)
            __atomic_add_fetch(&r->failures, 1, __ATOMIC_RELAXED);
        nvbind_capsule_edits_free(e);
    }
    return NULL;
}

/* Threads sharing one warm manager revalidate through the same kept descriptors (a seek and
 * a listing are not atomic): every call answers, and the host is not discovered again. */
static void test_threads_share_kept_descriptors(void **state)
{
    (void)state;
    tu_host h;
    assert_int_equal(tu_host_build(&h, "--gpus 2"), 0);
    race r = {manager_on(h.root), 0};
    /* Warm: threads that all find no model yet each discover (outside the lock). */
    assert_int_equal(gpu_nodes_now(r.m), 2);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, racer, &r), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(r.failures, 0);
    assert_int_equal(nvb_api_kept_discoveries(r.m), 1);
    nvbind_gpu_manager_free(r.m);
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
        cmocka_unit_test(test_follows_files_replaced_under_kept_descriptors),
        cmocka_unit_test(test_follows_changes_to_settled_files),
        cmocka_unit_test(test_kept_descriptors_cloexec_and_freed),
        cmocka_unit_test(test_driver_proc_file_not_held_open),
        cmocka_unit_test(test_threads_share_kept_descriptors),
        cmocka_unit_test(test_kept_equals_fresh_on_every_layout),
        cmocka_unit_test(test_kept_equals_fresh_on_realhost),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
