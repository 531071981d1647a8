/* run_with_runtime driving an adapter (a recording one, and the OCI-bundle adapter on a real
 * config.json) after claiming the GPUs (released with nvbind_release_gpu_claims), and
 * run_with_bolt_runtime through a fake `bolt` on PATH. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>

#include "api/api.h"
#include "api_test_util.h"
#include "isolation/claims.h"

static size_t count_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        n += de->d_name[0] != '.';
    closedir(d);
    return n;
}

static tu_host host; /* 2 GPUs, an MPS control daemon (for virtual isolation's limits) */
static char *work;   /* bundles, spec folders, the fake bolt */
static char *old_path;

static int setup(void **state)
{
    (void)state;
    work = tu_mkdtemp("nvbind-api-runtime");
    const char *p = getenv("PATH");
    old_path = strdup(p ? p : "/usr/bin:/bin");
    return work && tu_host_build(&host, "--gpus 2 --mps") == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    setenv("PATH", old_path, 1);
    tu_host_free(&host);
    tu_rm_rf(work);
    free(work);
    free(old_path);
    return 0;
}

/* ---- a recording adapter -------------------------------------------------------------- */

typedef struct recorder {
    char log[4096];          /* one line per call */
    const char *fail_step;   /* this step fails */
    const void *seen_spec;
    nvbind_bolt_config seen_config;
} recorder;

static void logf_(recorder *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(recorder *r, const char *fmt, ...)
{
    size_t len = strlen(r->log);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->log + len, sizeof r->log - len, fmt, ap);
    va_end(ap);
}

static int step(recorder *r, const char *name, nvbind_error **err)
{
    if (r->fail_step && strcmp(r->fail_step, name) == 0)
        return nvbind_error_set(err, NVBIND_EXIT_BUSY, "the capsule refused %s", name);
    return 0;
}

static int rec_setup(void *user, const char *id, const void *spec, const nvbind_bolt_config *cfg, nvbind_error **err)
{
    recorder *r = user;
    r->seen_spec = spec;
    r->seen_config = *cfg;
    logf_(r, "setup %s\n", id);
    return step(r, "setup_gpu_for_capsule", err);
}

static int rec_devices(void *user, const char *id, const char *const *names, size_t n, nvbind_error **err)
{
    recorder *r = user;
    logf_(r, "devices %s", id);
    for (size_t i = 0; i < n; i++)
        logf_(r, " %s", names[i]);
    logf_(r, "\n");
    return step(r, "apply_cdi_devices", err);
}

static int rec_snapshot(void *user, const char *id, const nvbind_bolt_capsule_config *c, nvbind_error **err)
{
    recorder *r = user;
    logf_(r, "snapshot %s %d %s %llu\n", id, c->snapshot_support, nvbind_isolation_name(c->isolation_level.level),
          (unsigned long long)c->isolation_level.memory_limit);
    return step(r, "enable_gpu_snapshot", err);
}

static int rec_gaming(void *user, const char *id, const nvbind_bolt_gaming_gpu_config *g, nvbind_error **err)
{
    recorder *r = user;
    logf_(r, "gaming %s %s\n", id, nvbind_performance_profile_name(g->performance_profile));
    return step(r, "setup_gaming_optimization", err);
}

static int rec_aiml(void *user, const char *id, const nvbind_bolt_aiml_gpu_config *a, nvbind_error **err)
{
    recorder *r = user;
    logf_(r, "aiml %s %llu\n", id, (unsigned long long)a->cuda_cache_size);
    return step(r, "setup_aiml_optimization", err);
}

static int rec_isolation(void *user, const char *id, const char *level, nvbind_error **err)
{
    recorder *r = user;
    logf_(r, "isolation %s %s\n", id, level);
    return step(r, "configure_gpu_isolation", err);
}

static nvbind_runtime_adapter recording(recorder *r)
{
    return (nvbind_runtime_adapter){
        .user = r,
        .setup_gpu_for_capsule = rec_setup,
        .apply_cdi_devices = rec_devices,
        .enable_gpu_snapshot = rec_snapshot,
        .setup_gaming_optimization = rec_gaming,
        .setup_aiml_optimization = rec_aiml,
        .configure_gpu_isolation = rec_isolation,
    };
}

/* Claims and the audit log of this test, not the machine's. */
static char *config_path(void)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/nvbind.toml", work);
    if (access(path, F_OK) != 0) {
        char text[8192];
        snprintf(text, sizeof text, "[isolation]\nstate_dir = \"%s/state\"\naudit_log = \"%s/audit.log\"\n", work, work);
        assert_int_equal(tu_write_file(path, text), 0);
    }
    return path;
}

/* The audit log's events, oldest first (a JSON array; empty when there is no log yet). The
 * log is removed afterwards when consume is set, so the next check sees only its own. */
static json_t *audit_events(bool consume)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/audit.log", work);
    json_t *all = json_array();
    char *text = tu_read_file(path);
    for (char *save = NULL, *l = text ? strtok_r(text, "\n", &save) : NULL; l; l = strtok_r(NULL, "\n", &save)) {
        json_error_t je;
        json_t *ev = json_loads(l, 0, &je);
        if (!ev)
            fail_msg("audit line does not parse: %s", l);
        json_array_append_new(all, ev);
    }
    free(text);
    if (consume)
        unlink(path);
    return all;
}

static const char *event_str(const json_t *events, size_t i, const char *key)
{
    return json_string_value(json_object_get(json_array_get(events, i), key));
}

static nvbind_gpu_manager *manager(const nvbind_bolt_config *c, const char *spec_dir)
{
    nvbind_manager_options o = tu_options(&host);
    o.cdi_spec_dir = spec_dir;
    o.config_path = config_path();
    nvbind_error *err = NULL;
    nvbind_gpu_manager *m = nvbind_gpu_manager_new(c, &o, &err);
    if (!m)
        fail_msg("%s", nvbind_error_message(err));
    return m;
}

static nvbind_bolt_config full_config(void)
{
    nvbind_bolt_config c;
    nvbind_bolt_config_default(&c);
    c.capsule.snapshot_gpu_state = true;
    c.capsule.isolation_level = NVBIND_ISOLATION_VIRTUAL;
    c.capsule.gpu_memory_limit = 8000000000ull;
    c.has_gaming = true;
    nvbind_bolt_gaming_gpu_config_default(&c.gaming);
    c.has_aiml = true;
    nvbind_bolt_aiml_gpu_config_default(&c.aiml);
    return c;
}

static void test_steps_in_order(void **state)
{
    (void)state;
    nvbind_bolt_config c = full_config();
    nvbind_gpu_manager *m = manager(&c, NULL);
    recorder r = {0};
    nvbind_runtime_adapter a = recording(&r);
    int spec_token = 42;
    nvbind_error *err = NULL;
    assert_int_equal(nvbind_run_with_runtime(m, &a, "capsule-1", &spec_token, "1", &err), 0);
    assert_null(err);
    assert_string_equal(r.log, "setup capsule-1\n"
                               "isolation capsule-1 virtual\n"
                               "devices capsule-1 nvidia.com/gpu-bolt=1\n"
                               "snapshot capsule-1 1 virtual 8000000000\n"
                               "gaming capsule-1 ultra-low-latency\n"
                               "aiml capsule-1 4096\n");
    assert_ptr_equal(r.seen_spec, &spec_token);
    assert_true(r.seen_config.has_gaming && r.seen_config.has_aiml);

    /* A UUID and "all" name the devices of the spec; steps without a callback are skipped. */
    memset(r.log, 0, sizeof r.log);
    a.setup_gaming_optimization = NULL;
    a.enable_gpu_snapshot = NULL;
    char req[128];
    snprintf(req, sizeof req, "%s", tu_gpu_field(&host, 0, "uuid"));
    assert_int_equal(nvbind_run_with_runtime(m, &a, "c2", NULL, req, &err), 0);
    assert_non_null(strstr(r.log, "devices c2 nvidia.com/gpu-bolt=0\n"));
    assert_null(strstr(r.log, "gaming"));
    assert_null(strstr(r.log, "snapshot"));
    memset(r.log, 0, sizeof r.log);
    assert_int_equal(nvbind_run_with_runtime(m, &a, "c3", NULL, "all", &err), 0);
    assert_non_null(strstr(r.log, "devices c3 nvidia.com/gpu-bolt=all\n"));
    /* "none": no device step at all. */
    memset(r.log, 0, sizeof r.log);
    assert_int_equal(nvbind_run_with_runtime(m, &a, "c4", NULL, "none", &err), 0);
    assert_null(strstr(r.log, "devices"));
    /* Each container with GPUs holds them (virtual: shared, with MPS limits) until released;
     * one audit line per decision, none for "none". */
    json_t *ev = audit_events(true);
    assert_int_equal(json_array_size(ev), 3);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(event_str(ev, i, "decision"), "grant");
        assert_string_equal(event_str(ev, i, "isolation"), "virtual");
        assert_string_equal(event_str(ev, i, "runtime"), "api");
        assert_string_equal(event_str(ev, i, "profile"), "gaming");
    }
    assert_string_equal(event_str(ev, 0, "container"), "capsule-1");
    assert_non_null(strstr(event_str(ev, 0, "reason"), "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT=0=7629M"));
    json_decref(ev);
    assert_int_equal(nvbind_release_gpu_claims(m, "capsule-1", &err), 1);
    assert_int_equal(nvbind_release_gpu_claims(m, "capsule-1", &err), 0); /* twice: nothing more */
    assert_int_equal(nvbind_release_gpu_claims(m, "c2", &err), 1);
    assert_int_equal(nvbind_release_gpu_claims(m, "c3", &err), 2);
    assert_int_equal(nvbind_release_gpu_claims(m, "c4", &err), 0);
    assert_null(err);
    nvbind_gpu_manager_free(m);

    /* Default config: no snapshot, no gaming or AI/ML step. */
    m = manager(NULL, NULL);
    a = recording(&r);
    memset(r.log, 0, sizeof r.log);
    assert_int_equal(nvbind_run_with_runtime(m, &a, "plain", NULL, NULL, &err), 0);
    assert_string_equal(r.log, "setup plain\nisolation plain shared\ndevices plain nvidia.com/gpu-bolt=all\n");
    assert_int_equal(nvbind_release_gpu_claims(m, "plain", &err), 2);
    json_decref(audit_events(true));
    nvbind_gpu_manager_free(m);
}

/* Exclusive capsules through an adapter: a GPU another container holds is refused before
 * any step runs, naming the holder; a failed step gives the claims back; the container's
 * init can take the claims over. */
static void test_runtime_claims(void **state)
{
    (void)state;
    nvbind_bolt_config c;
    nvbind_bolt_config_default(&c);
    c.capsule.isolation_level = NVBIND_ISOLATION_EXCLUSIVE;
    nvbind_gpu_manager *m = manager(&c, NULL);
    recorder r = {0};
    nvbind_runtime_adapter a = recording(&r);
    nvbind_error *err = NULL;
    assert_int_equal(nvbind_run_with_runtime(m, &a, "x1", NULL, "0", &err), 0);
    memset(r.log, 0, sizeof r.log);
    assert_int_equal(nvbind_run_with_runtime(m, &a, "x2", NULL, "0", &err), -1);
    assert_int_equal(nvbind_error_code(err), NVBIND_EXIT_BUSY);
    char want[256];
    snprintf(want, sizeof want, "GPU 0 (%s) is held exclusively by container x1 since ", tu_gpu_field(&host, 0, "uuid"));
    assert_non_null(strstr(nvbind_error_message(err), want));
    assert_string_equal(r.log, ""); /* refused before any step */
    /* "all" is all or nothing; another GPU is free. */
    assert_int_equal(nvbind_run_with_runtime(m, &a, "x2", NULL, "all", &err), -1);
    assert_int_equal(nvbind_error_code(err), NVBIND_EXIT_BUSY);
    assert_int_equal(nvbind_run_with_runtime(m, &a, "x2", NULL, "1", &err), 0);
    /* Once released, the GPU is free for the next container. */
    assert_int_equal(nvbind_release_gpu_claims(m, "x1", &err), 1);
    assert_int_equal(nvbind_run_with_runtime(m, &a, "x3", NULL, "0", &err), 0);
    /* A failing step: the container will not start, so it holds nothing. */
    r.fail_step = "configure_gpu_isolation";
    assert_int_equal(nvbind_release_gpu_claims(m, "x3", &err), 1);
    assert_int_equal(nvbind_run_with_runtime(m, &a, "x4", NULL, "0", &err), -1);
    assert_int_equal(nvbind_release_gpu_claims(m, "x4", &err), 0);
    r.fail_step = NULL;

    /* The container's init holds the claims once recorded: they outlive the caller's hold
     * and lapse when it is gone. */
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        pause();
        _exit(0);
    }
    nvbind_error_free(err);
    err = NULL;
    assert_int_equal(nvbind_run_with_runtime(m, &a, "x5", NULL, "0", &err), 0);
    assert_int_equal(nvbind_set_gpu_claims_init(m, "x5", (int)child, &err), 1);
    assert_int_equal(nvbind_set_gpu_claims_init(m, "nobody", (int)child, &err), 0);
    assert_null(err);
    assert_int_equal(nvbind_set_gpu_claims_init(m, "x5", 0, &err), -1);
    assert_int_equal(nvbind_error_code(err), NVBIND_EXIT_USAGE);
    assert_int_equal(nvbind_set_gpu_claims_init(m, "", (int)child, &err), -1);
    assert_int_equal(nvbind_release_gpu_claims(m, NULL, &err), -1);
    assert_int_equal(nvbind_error_code(err), NVBIND_EXIT_USAGE);
    assert_int_equal(nvbind_release_gpu_claims(NULL, "x5", &err), -1);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    assert_int_equal(nvbind_release_gpu_claims(m, "x5", &err), 1);
    assert_int_equal(nvbind_release_gpu_claims(m, "x2", &err), 1);

    /* One audit line per decision. */
    json_t *ev = audit_events(true);
    const char *want_ev[][2] = {{"x1", "grant"}, {"x2", "deny"}, {"x2", "deny"}, {"x2", "grant"},
                                {"x3", "grant"}, {"x4", "grant"}, {"x5", "grant"}};
    assert_int_equal(json_array_size(ev), sizeof want_ev / sizeof want_ev[0]);
    for (size_t i = 0; i < json_array_size(ev); i++) {
        assert_string_equal(event_str(ev, i, "container"), want_ev[i][0]);
        assert_string_equal(event_str(ev, i, "decision"), want_ev[i][1]);
        assert_string_equal(event_str(ev, i, "isolation"), "exclusive");
    }
    json_decref(ev);
    nvbind_error_free(err);
    nvbind_gpu_manager_free(m);
}

static void test_step_failure(void **state)
{
    (void)state;
    nvbind_bolt_config c = full_config();
    nvbind_gpu_manager *m = manager(&c, NULL);
    recorder r = {.fail_step = "apply_cdi_devices"};
    nvbind_runtime_adapter a = recording(&r);
    nvbind_error *err = NULL;
    assert_int_equal(nvbind_run_with_runtime(m, &a, "capsule-9", NULL, "0", &err), -1);
    assert_string_equal(nvbind_error_message(err),
                        "runtime adapter: apply_cdi_devices for container capsule-9: the capsule refused apply_cdi_devices");
    assert_int_equal(nvbind_error_code(err), NVBIND_EXIT_BUSY);
    assert_null(strstr(r.log, "snapshot")); /* stopped at the failing step */
    assert_int_equal(nvbind_release_gpu_claims(m, "capsule-9", &err), 0); /* given back already */
    json_t *ev = audit_events(true);
    assert_int_equal(json_array_size(ev), 1); /* the grant; the bad request below decides nothing */
    json_decref(ev);
    nvbind_error_free(err);

    /* A bad request changes nothing: no step runs. */
    err = NULL;
    memset(&r, 0, sizeof r);
    assert_int_equal(nvbind_run_with_runtime(m, &a, "capsule-9", NULL, "7", &err), -1);
    assert_int_equal(nvbind_error_code(err), NVBIND_EXIT_USAGE);
    assert_non_null(strstr(nvbind_error_message(err), "7"));
    assert_string_equal(r.log, "");
    assert_int_equal(nvbind_run_with_runtime(m, &a, "", NULL, "0", &err), -1);
    assert_int_equal(nvbind_run_with_runtime(m, NULL, "x", NULL, "0", &err), -1);
    assert_int_equal(nvbind_error_code(err), NVBIND_EXIT_USAGE);
    ev = audit_events(true);
    assert_int_equal(json_array_size(ev), 0);
    json_decref(ev);
    nvbind_error_free(err);
    nvbind_gpu_manager_free(m);
}

/* ---- the OCI-bundle adapter ------------------------------------------------------------- */

static const char minimal_config[] =
    "{\"ociVersion\": \"1.0.2\", \"process\": {\"args\": [\"sh\"], \"cwd\": \"/\", "
    "\"env\": [\"PATH=/usr/bin:/bin\"]}, \"root\": {\"path\": \"rootfs\"}, \"mounts\": [], "
    "\"linux\": {\"namespaces\": [{\"type\": \"mount\"}]}}\n";

static char *make_bundle(const char *name)
{
    char *dir = NULL, *cfg = NULL;
    assert_true(asprintf(&dir, "%s/%s", work, name) > 0);
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_true(asprintf(&cfg, "%s/config.json", dir) > 0);
    assert_int_equal(tu_write_file(cfg, minimal_config), 0);
    free(cfg);
    return dir;
}

static json_t *load_config(const char *bundle)
{
    char *cfg = NULL;
    assert_true(asprintf(&cfg, "%s/config.json", bundle) > 0);
    json_error_t je;
    json_t *doc = json_load_file(cfg, 0, &je);
    free(cfg);
    assert_non_null(doc);
    return doc;
}

static bool has_env(const json_t *config, const char *kv)
{
    const json_t *env = json_object_get(json_object_get(config, "process"), "env");
    for (size_t i = 0; i < json_array_size(env); i++)
        if (strcmp(json_string_value(json_array_get(env, i)), kv) == 0)
            return true;
    return false;
}

static bool has_device_path(const json_t *config, const char *path)
{
    const json_t *devs = json_object_get(json_object_get(config, "linux"), "devices");
    for (size_t i = 0; i < json_array_size(devs); i++)
        if (strcmp(json_string_value(json_object_get(json_array_get(devs, i), "path")), path) == 0)
            return true;
    return false;
}

static void test_oci_bundle_adapter(void **state)
{
    (void)state;
    nvbind_bolt_config c = full_config();
    c.has_gaming = false;
    nvbind_gpu_manager *m = manager(&c, NULL);
    char *bundle = make_bundle("bundle-aiml");
    nvbind_error *err = NULL;
    nvbind_runtime_adapter *a = nvbind_oci_bundle_adapter(m, bundle, &err);
    assert_non_null(a);
    nvbind_gpu_manager_free(m); /* the adapter keeps its own copy */
    nvbind_gpu_manager *m1 = manager(&c, NULL);
    assert_int_equal(nvbind_run_with_runtime(m1, a, "oci-1", NULL, "1", &err), 0);
    nvbind_gpu_manager_free(m1);
    json_t *cfg = load_config(bundle);
    /* Only GPU 1's node, the control nodes, and the cgroup rule for it. */
    assert_true(has_device_path(cfg, "/dev/nvidia1"));
    assert_false(has_device_path(cfg, "/dev/nvidia0"));
    assert_true(has_device_path(cfg, "/dev/nvidiactl"));
    assert_true(has_env(cfg, "PATH=/usr/bin:/bin"));
    assert_true(has_env(cfg, "CUDA_CACHE_MAXSIZE=4294967296"));
    assert_true(has_env(cfg, "BOLT_GPU_ISOLATION=virtual"));
    assert_true(has_env(cfg, "BOLT_GPU_SNAPSHOT=1"));
    assert_true(has_env(cfg, "BOLT_WORKLOAD_TYPE=ai-ml"));
    assert_true(has_env(cfg, "BOLT_GPU_MEMORY_LIMIT=8000000000"));
    assert_true(has_env(cfg, "NVIDIA_VISIBLE_DEVICES=void"));
    /* The virtual grant's MPS limits and pipe folder reach the bundle too. */
    assert_true(has_env(cfg, "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT=0=7629M"));
    assert_true(has_env(cfg, "CUDA_MPS_PIPE_DIRECTORY=/tmp/nvidia-mps"));
    const json_t *rules = json_object_get(json_object_get(json_object_get(cfg, "linux"), "resources"), "devices");
    assert_true(json_array_size(rules) >= 1);
    const json_t *hooks = json_object_get(json_object_get(cfg, "hooks"), "createContainer");
    assert_true(json_array_size(hooks) >= 1);
    bool libcuda = false;
    const json_t *mounts = json_object_get(cfg, "mounts");
    for (size_t i = 0; i < json_array_size(mounts); i++)
        libcuda |= strstr(json_string_value(json_object_get(json_array_get(mounts, i), "destination")), "libcuda.so.") != NULL;
    assert_true(libcuda);
    char *first = json_dumps(cfg, JSON_SORT_KEYS);
    json_decref(cfg);

    /* Running the steps again changes nothing more. */
    nvbind_gpu_manager *m2 = manager(&c, NULL);
    assert_int_equal(nvbind_run_with_runtime(m2, a, "oci-1", NULL, "1", &err), 0);
    cfg = load_config(bundle);
    char *second = json_dumps(cfg, JSON_SORT_KEYS);
    assert_string_equal(first, second);
    json_decref(cfg);
    free(first);
    free(second);
    nvbind_runtime_adapter_free(a);
    assert_int_equal(nvbind_release_gpu_claims(m2, "oci-1", &err), 1);
    json_decref(audit_events(true));
    nvbind_gpu_manager_free(m2);
    free(bundle);
}

static void test_oci_bundle_adapter_errors(void **state)
{
    (void)state;
    nvbind_gpu_manager *m = manager(NULL, NULL);
    nvbind_error *err = NULL;
    char *missing = NULL;
    assert_true(asprintf(&missing, "%s/no-such-bundle", work) > 0);
    nvbind_runtime_adapter *a = nvbind_oci_bundle_adapter(m, missing, &err);
    assert_non_null(a);
    assert_int_equal(nvbind_run_with_runtime(m, a, "oci-2", NULL, "0", &err), -1);
    assert_non_null(strstr(nvbind_error_message(err), "setup_gpu_for_capsule"));
    assert_non_null(strstr(nvbind_error_message(err), "config.json"));
    nvbind_runtime_adapter_free(a);

    /* A config.json that is not JSON: named with its position, left as it was. */
    char *bundle = make_bundle("bundle-broken");
    char *cfg = NULL;
    assert_true(asprintf(&cfg, "%s/config.json", bundle) > 0);
    assert_int_equal(tu_write_file(cfg, "{\"process\": [1,"), 0);
    a = nvbind_oci_bundle_adapter(m, bundle, &err);
    assert_int_equal(nvbind_run_with_runtime(m, a, "oci-3", NULL, "0", &err), -1);
    assert_int_equal(nvbind_error_code(err), NVBIND_EXIT_INPUT);
    char *text = tu_read_file(cfg);
    assert_string_equal(text, "{\"process\": [1,");
    free(text);

    /* Steps out of order are refused, and foreign CDI kinds too. */
    assert_int_equal(a->apply_cdi_devices(a->user, "oci-3", (const char *const[]){"nvidia.com/gpu=0"}, 1, &err), -1);
    assert_non_null(strstr(nvbind_error_message(err), "setup_gpu_for_capsule"));
    nvbind_runtime_adapter_free(a);
    assert_int_equal(tu_write_file(cfg, minimal_config), 0);
    a = nvbind_oci_bundle_adapter(m, bundle, &err);
    assert_int_equal(a->setup_gpu_for_capsule(a->user, "oci-4", NULL, NULL, &err), 0);
    assert_int_equal(a->apply_cdi_devices(a->user, "oci-4", (const char *const[]){"example.com/fpga=0"}, 1, &err), -1);
    assert_non_null(strstr(nvbind_error_message(err), "example.com/fpga=0"));
    assert_int_equal(a->configure_gpu_isolation(a->user, "oci-4", "isolated", &err), -1);
    assert_non_null(strstr(nvbind_error_message(err), "isolated"));
    /* The plain nvidia.com/gpu kind names the same devices. */
    assert_int_equal(a->apply_cdi_devices(a->user, "oci-4", (const char *const[]){"nvidia.com/gpu=0"}, 1, &err), 0);
    json_t *doc = load_config(bundle);
    assert_true(has_device_path(doc, "/dev/nvidia0"));
    json_decref(doc);
    nvbind_error_free(err);
    nvbind_runtime_adapter_free(a);
    nvbind_runtime_adapter_free(NULL);
    assert_null(nvbind_oci_bundle_adapter(m, "", NULL));
    /* The failed runs took their claims (one audit line each) and gave them back. */
    assert_int_equal(nvbind_release_gpu_claims(m, "oci-2", NULL), 0);
    assert_int_equal(nvbind_release_gpu_claims(m, "oci-3", NULL), 0);
    json_t *ev = audit_events(true);
    assert_int_equal(json_array_size(ev), 2);
    json_decref(ev);
    free(cfg);
    free(bundle);
    free(missing);
    nvbind_gpu_manager_free(m);
}

/* ---- run_with_bolt_runtime ------------------------------------------------------------ */

/* A fake bolt that records its arguments, one per line, and exits with $FAKE_BOLT_EXIT. */
static char *fake_bolt(char **log)
{
    char *dir = NULL, *exe = NULL, *script = NULL;
    assert_true(asprintf(&dir, "%s/bin", work) > 0);
    mkdir(dir, 0755);
    assert_true(asprintf(log, "%s/bolt.log", work) > 0);
    assert_true(asprintf(&exe, "%s/bolt", dir) > 0);
    assert_true(asprintf(&script,
                         "#!/bin/sh\nfor a in \"$@\"; do printf '%%s\\n' \"$a\"; done > '%s'\n"
                         "ls '%s/state/claims' > '%s.claims' 2>/dev/null\n"
                         "exit ${FAKE_BOLT_EXIT:-0}\n",
                         *log, work, *log) > 0);
    assert_int_equal(tu_write_file(exe, script), 0);
    assert_int_equal(chmod(exe, 0755), 0);
    free(script);
    free(exe);
    return dir;
}

/* The recorded arguments, one per line, as a NULL-terminated array (into buf). */
static size_t split_lines(char *buf, char **out, size_t max)
{
    size_t n = 0;
    for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l && n + 1 < max; l = strtok_r(NULL, "\n", &save))
        out[n++] = l;
    out[n] = NULL;
    return n;
}

static void test_bolt_runtime(void **state)
{
    (void)state;
    char *log = NULL, *specdir = NULL;
    char *bin = fake_bolt(&log);
    assert_true(asprintf(&specdir, "%s/cdi", work) > 0);
    char *path = NULL;
    assert_true(asprintf(&path, "%s:%s", bin, old_path) > 0);
    setenv("PATH", path, 1);

    /* A gaming capsule: the translation, with the gaming profile's variables as --env. */
    nvbind_bolt_config c;
    nvbind_bolt_config_default(&c);
    c.capsule.isolation_level = NVBIND_ISOLATION_EXCLUSIVE;
    c.has_gaming = true;
    nvbind_bolt_gaming_gpu_config_default(&c.gaming);
    nvbind_gpu_manager *m = manager(&c, specdir);
    nvbind_error *err = NULL;
    const char *argv[] = {"steam", "-bigpicture", NULL};
    setenv("FAKE_BOLT_EXIT", "0", 1);
    assert_int_equal(nvbind_run_with_bolt_runtime(m, "steam:latest", argv, "all", &err), 0);
    char *got = tu_read_file(log);
    TU_NON_NULL(got);
    char *a[128];
    size_t n = split_lines(got, a, 128);
    const char *head[] = {"surge", "run", "--cdi-device", "nvidia.com/gpu-bolt=all", "--capsule-isolation",
                          "gpu-exclusive", "--runtime-optimization", "gpu-passthrough"};
    assert_true(n > 8 + 3);
    for (size_t i = 0; i < 8; i++)
        assert_string_equal(a[i], head[i]);
    assert_string_equal(a[n - 3], "steam:latest");
    assert_string_equal(a[n - 2], "steam");
    assert_string_equal(a[n - 1], "-bigpicture");
    bool vkd3d = false, nvapi = false, workload = false, isolation = false, power = false;
    for (size_t i = 8; i < n - 3; i += 2) {
        assert_string_equal(a[i], "--env");
        /* The capsule's own variables travel on its command line, not in the shared spec. */
        workload |= strcmp(a[i + 1], "BOLT_WORKLOAD_TYPE=gaming") == 0;
        isolation |= strcmp(a[i + 1], "BOLT_GPU_ISOLATION=exclusive") == 0;
        power |= strcmp(a[i + 1], "BOLT_GPU_POWER_PROFILE=maximum") == 0;
        vkd3d |= strcmp(a[i + 1], "VKD3D_CONFIG=dxr,dxr11") == 0;
        nvapi |= strcmp(a[i + 1], "PROTON_ENABLE_NVAPI=1") == 0;
    }
    assert_true(vkd3d && nvapi && workload && isolation && power);
    free(got);
    /* While bolt ran, this capsule held both GPUs (exclusive); afterwards nothing is held. */
    char *claims_log = NULL, *claims_dir = NULL;
    assert_true(asprintf(&claims_log, "%s.claims", log) > 0);
    assert_true(asprintf(&claims_dir, "%s/state/claims", work) > 0);
    char *held = tu_read_file(claims_log);
    TU_NON_NULL(held);
    for (size_t i = 0; i < 2; i++) {
        char key[128];
        snprintf(key, sizeof key, "%s.json\n", tu_gpu_field(&host, i, "uuid"));
        assert_non_null(strstr(held, key));
    }
    free(held);
    assert_int_equal(count_files(claims_dir), 0);
    /* The spec Bolt resolves the device in was written first: the devices only, nothing of
     * this capsule's (other capsules read it too). */
    char *spec_path = NULL;
    assert_true(asprintf(&spec_path, "%s/nvidia.com-gpu-bolt.json", specdir) > 0);
    nvbind_cdi_spec *s = nvbind_cdi_spec_load(spec_path, &err);
    TU_NON_NULL(s);
    assert_null(tu_env(s, "BOLT_WORKLOAD_TYPE"));
    assert_null(tu_env(s, "BOLT_GPU_ISOLATION"));
    nvbind_cdi_spec_free(s);
    nvbind_gpu_manager_free(m);

    /* No workload part: the guide's translation with Bolt's two capsule variables. Two GPUs
     * by index and UUID, no command; bolt's exit status comes back. */
    m = manager(NULL, specdir);
    setenv("FAKE_BOLT_EXIT", "7", 1);
    char req[160];
    snprintf(req, sizeof req, "0,%s", tu_gpu_field(&host, 1, "uuid"));
    assert_int_equal(nvbind_run_with_bolt_runtime(m, "img", NULL, req, &err), 7);
    got = tu_read_file(log);
    assert_string_equal(got, "surge\nrun\n--cdi-device\nnvidia.com/gpu-bolt=0\n--cdi-device\nnvidia.com/gpu-bolt=1\n"
                             "--capsule-isolation\ngpu-shared\n--runtime-optimization\ngpu-passthrough\n"
                             "--env\nBOLT_GPU_ENABLED=1\n--env\nBOLT_GPU_ISOLATION=shared\nimg\n");
    free(got);
    s = nvbind_cdi_spec_load(spec_path, &err);
    TU_NON_NULL(s);
    assert_null(tu_env(s, "BOLT_GPU_ISOLATION"));
    nvbind_cdi_spec_free(s);
    nvbind_gpu_manager_free(m);
    /* One audit line per run, each a grant naming the runtime. */
    char *audit = NULL;
    assert_true(asprintf(&audit, "%s/audit.log", work) > 0);
    char *lines = tu_read_file(audit);
    TU_NON_NULL(lines);
    size_t n_lines = 0;
    for (char *save = NULL, *l = strtok_r(lines, "\n", &save); l; l = strtok_r(NULL, "\n", &save), n_lines++) {
        json_error_t je;
        json_t *ev = json_loads(l, 0, &je);
        TU_NON_NULL(ev);
        assert_string_equal(json_string_value(json_object_get(ev, "decision")), "grant");
        assert_string_equal(json_string_value(json_object_get(ev, "runtime")), "bolt");
        json_decref(ev);
    }
    assert_int_equal(n_lines, 2);
    free(lines);
    unlink(audit);
    free(audit);
    /* An image bolt would read as an option is refused before anything is claimed or
     * written: no spec, no claim, no audit line, bolt not run. */
    unlink(spec_path);
    unlink(log);
    m = manager(NULL, specdir);
    assert_int_equal(nvbind_run_with_bolt_runtime(m, "-v=/:/host", NULL, "all", &err), -1);
    TU_NON_NULL(err);
    assert_non_null(strstr(nvbind_error_message(err), "starts with '-'"));
    nvbind_error_free(err);
    err = NULL;
    assert_int_equal(access(spec_path, F_OK), -1);
    assert_int_equal(access(log, F_OK), -1);
    assert_int_equal(count_files(claims_dir), 0);
    nvbind_gpu_manager_free(m);
    free(claims_log);
    free(claims_dir);
    free(spec_path);
    free(path);
    free(bin);
    free(log);
    free(specdir);
}

/* Exclusive means exclusive whichever way the request comes: a GPU another container holds
 * exclusively is refused at once, naming the holder, and nothing is written or run. */
static void test_bolt_runtime_exclusive(void **state)
{
    (void)state;
    char *log = NULL, *path = NULL, *specdir = NULL, *statedir = NULL;
    char *bin = fake_bolt(&log);
    assert_true(asprintf(&path, "%s:%s", bin, old_path) > 0);
    assert_true(asprintf(&specdir, "%s/cdi-exclusive", work) > 0);
    assert_true(asprintf(&statedir, "%s/state", work) > 0);
    setenv("PATH", path, 1);
    setenv("FAKE_BOLT_EXIT", "0", 1);
    unlink(log);

    /* Another capsule holds GPU 1 exclusively (held by this process, as a runtime would). */
    nvbind_gpu_manager *m = manager(NULL, specdir);
    nvb_host *h = nvb_api_discover(m, false, NULL);
    TU_NON_NULL(h);
    nvb_claim_target t = {.device = {.gpu_index = 1, .mig_index = -1, .uuid = h->gpus[1].uuid},
                          .mode = NVB_CLAIM_EXCLUSIVE};
    nvb_claim_owner other = {.container = "other-capsule", .runtime = "runc"};
    nvb_err e = {0};
    assert_int_equal(nvb_claims_acquire(statedir, &other, &t, 1, NVB_CLAIM_NO_WAIT, NULL, &e), 0);

    nvbind_bolt_config c;
    nvbind_bolt_config_default(&c);
    c.capsule.isolation_level = NVBIND_ISOLATION_EXCLUSIVE;
    nvbind_gpu_manager *mx = manager(&c, specdir);
    nvbind_error *err = NULL;
    assert_int_equal(nvbind_run_with_bolt_runtime(mx, "img", NULL, "1", &err), -1);
    assert_int_equal(nvbind_error_code(err), NVBIND_EXIT_BUSY);
    assert_non_null(strstr(nvbind_error_message(err), "other-capsule"));
    assert_int_equal(access(log, F_OK), -1);      /* bolt never ran */
    assert_int_equal(access(specdir, F_OK), -1);  /* no spec written */
    /* Shared use of the held GPU is refused too; another GPU is free. */
    nvbind_gpu_manager_free(mx);
    assert_int_equal(nvbind_run_with_bolt_runtime(m, "img", NULL, "1", &err), -1);
    assert_int_equal(nvbind_error_code(err), NVBIND_EXIT_BUSY);
    assert_int_equal(nvbind_run_with_bolt_runtime(m, "img", NULL, "0", &err), 0);
    assert_int_equal(access(log, F_OK), 0);
    nvbind_error_free(err);

    assert_int_equal(nvb_claims_release(statedir, "other-capsule", &e), 1);
    nvb_host_free(h);
    nvbind_gpu_manager_free(m);
    free(statedir);
    free(specdir);
    free(path);
    free(bin);
    free(log);
}

static void test_bolt_runtime_errors(void **state)
{
    (void)state;
    char *specdir = NULL;
    assert_true(asprintf(&specdir, "%s/cdi-errors", work) > 0);
    nvbind_gpu_manager *m = manager(NULL, specdir);
    nvbind_error *err = NULL;
    /* No bolt in PATH: a clear error, and no spec written. */
    setenv("PATH", "/nonexistent", 1);
    assert_int_equal(nvbind_run_with_bolt_runtime(m, "img", NULL, "all", &err), -1);
    assert_int_equal(nvbind_error_code(err), NVBIND_EXIT_RUNTIME);
    assert_non_null(strstr(nvbind_error_message(err), "bolt"));
    assert_int_equal(access(specdir, F_OK), -1);
    /* A GPU that does not exist, or a malformed list: refused before anything runs. */
    char *log = NULL, *path = NULL;
    char *bin = fake_bolt(&log);
    assert_true(asprintf(&path, "%s:%s", bin, old_path) > 0);
    setenv("PATH", path, 1);
    unlink(log);
    assert_int_equal(nvbind_run_with_bolt_runtime(m, "img", NULL, "5", &err), -1);
    assert_int_equal(nvbind_error_code(err), NVBIND_EXIT_USAGE);
    assert_non_null(strstr(nvbind_error_message(err), "5"));
    assert_int_equal(nvbind_run_with_bolt_runtime(m, "img", NULL, "0,,1", &err), -1);
    assert_int_equal(nvbind_error_code(err), NVBIND_EXIT_USAGE);
    assert_non_null(strstr(nvbind_error_message(err), "empty entry"));
    assert_int_equal(nvbind_run_with_bolt_runtime(m, "", NULL, "0", &err), -1);
    assert_int_equal(nvbind_error_code(err), NVBIND_EXIT_USAGE);
    assert_int_equal(access(specdir, F_OK), -1);
    assert_int_equal(access(log, F_OK), -1); /* bolt never ran */
    nvbind_error_free(err);
    free(log);
    free(path);
    free(bin);
    setenv("PATH", old_path, 1);
    nvbind_gpu_manager_free(m);
    free(specdir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_steps_in_order),
        cmocka_unit_test(test_step_failure),
        cmocka_unit_test(test_runtime_claims),
        cmocka_unit_test(test_oci_bundle_adapter),
        cmocka_unit_test(test_oci_bundle_adapter_errors),
        cmocka_unit_test(test_bolt_runtime),
        cmocka_unit_test(test_bolt_runtime_errors),
        cmocka_unit_test(test_bolt_runtime_exclusive),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
