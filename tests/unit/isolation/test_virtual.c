/* `virtual` isolation (MPS variables and mounts, MIG devices in place of GPUs) and the
 * one-call isolation decision that run, the shim and the C API use: claims plus exactly one
 * audit line per decision. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/socket.h>
#include <sys/un.h>

#include "iso_test_util.h"
#include "isolation/isolation.h"

#define GIB (1024ull * 1024 * 1024)

typedef struct fixture {
    char *dir, *state, *log;
    nvb_host *host;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->dir = t_mkdtemp();
    f->state = t_printf("%s/run/nvbind", f->dir);
    f->log = t_printf("%s/audit.log", f->dir);
    f->host = t_host(2, 2);
    free(f->host->root);
    f->host->root = strdup(f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    t_rm_rf(f->dir);
    nvb_host_free(f->host);
    free(f->dir);
    free(f->state);
    free(f->log);
    free(f);
    return 0;
}

static const char *env_of(const nvb_edits *e, const char *key)
{
    size_t n = strlen(key);
    for (size_t i = 0; i < e->env.n; i++)
        if (strncmp(e->env.v[i], key, n) == 0 && e->env.v[i][n] == '=')
            return e->env.v[i] + n + 1;
    return NULL;
}

static void make_mps(const char *root, bool as_socket, bool with_log)
{
    char *d = t_printf("%s/tmp/nvidia-mps", root), *tmp = t_printf("%s/tmp", root);
    mkdir(tmp, 0755);
    mkdir(d, 0755);
    char *control = t_printf("%s/control", d);
    if (as_socket) {
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        if (strlen(control) >= sizeof a.sun_path)
            fail_msg("socket path too long: %s", control);
        strcpy(a.sun_path, control);
        assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
        close(fd);
    } else {
        assert_int_equal(mkfifo(control, 0600), 0);
    }
    if (with_log) {
        char *v = t_printf("%s/var", root), *l = t_printf("%s/var/log", root), *m = t_printf("%s/var/log/nvidia-mps", root);
        mkdir(v, 0755);
        mkdir(l, 0755);
        mkdir(m, 0755);
        free(v);
        free(l);
        free(m);
    }
    free(d);
    free(tmp);
    free(control);
}

static size_t count_lines(const char *path)
{
    nvb_audit_read r;
    nvb_err err = {0};
    if (nvb_audit_read_file(path, NULL, &r, &err) < 0)
        return 0;
    size_t n = json_array_size(r.events);
    if (r.problems.n)
        fail_msg("audit problems: %s", r.problems.v[0]);
    nvb_audit_read_clear(&r);
    return n;
}

static json_t *last_event(const char *path)
{
    nvb_audit_read r;
    nvb_err err = {0};
    if (nvb_audit_read_file(path, NULL, &r, &err) < 0 || json_array_size(r.events) == 0)
        fail_msg("no audit events in %s", path);
    json_t *e = json_incref(json_array_get(r.events, json_array_size(r.events) - 1));
    nvb_audit_read_clear(&r);
    return e;
}

/* --- MPS ---------------------------------------------------------------------------------- */

static void test_mem_limit_value(void **state)
{
    (void)state;
    char buf[128];
    assert_int_equal(nvb_mps_mem_limit_value(8 * GIB, 1, buf, sizeof buf), 0);
    assert_string_equal(buf, "0=8G");
    assert_int_equal(nvb_mps_mem_limit_value(8 * GIB, 3, buf, sizeof buf), 0);
    assert_string_equal(buf, "0=8G,1=8G,2=8G");
    assert_int_equal(nvb_mps_mem_limit_value(GIB + GIB / 2, 1, buf, sizeof buf), 0);
    assert_string_equal(buf, "0=1536M");
    assert_int_equal(nvb_mps_mem_limit_value(100, 1, buf, sizeof buf), 0);
    assert_string_equal(buf, "0=1M");
    assert_int_equal(nvb_mps_mem_limit_value(GIB, 0, buf, sizeof buf), -1);
    assert_int_equal(nvb_mps_mem_limit_value(GIB, 4, buf, 8), -1);
}

static void test_mps_edits(void **state)
{
    fixture *f = *state;
    nvb_edits e = {0};
    nvb_strv warn = {0};
    nvb_err err = {0};
    nvb_virtual_opts o = {.memory_limit = 8 * GIB, .compute_percent = 50};

    /* No MPS daemon: limits cannot be enforced, and the error says how to start one. */
    assert_int_equal(nvb_virtual_mps_edits(f->host, &o, 1, &e, &warn, &err), -1);
    assert_int_equal(err.exit_code, NVB_EXIT_FAIL);
    assert_contains(err.msg, "no CUDA MPS control daemon");
    assert_contains(err.msg, "/tmp/nvidia-mps/control is missing");
    assert_contains(err.msg, "nvidia-cuda-mps-control -d");
    o.allow_without_mps = true;
    assert_int_equal(nvb_virtual_mps_edits(f->host, &o, 1, &e, &warn, &err), 0);
    assert_int_equal(e.env.n, 0);
    assert_int_equal(warn.n, 1);
    assert_contains(warn.v[0], "limits are NOT enforced");
    nvb_strv_free(&warn);
    nvb_virtual_opts nolimits = {0};
    assert_int_equal(nvb_virtual_mps_edits(f->host, &nolimits, 1, &e, &warn, &err), 0);
    assert_int_equal(e.env.n, 0);
    assert_contains(warn.v[0], "shares the GPU like shared isolation");
    nvb_strv_free(&warn);

    /* A daemon (its control FIFO) and a log folder. */
    make_mps(f->dir, false, true);
    o.allow_without_mps = false;
    assert_int_equal(nvb_virtual_mps_edits(f->host, &o, 2, &e, &warn, &err), 0);
    assert_int_equal(warn.n, 0);
    assert_string_equal(env_of(&e, "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT"), "0=8G,1=8G");
    assert_string_equal(env_of(&e, "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"), "50");
    assert_string_equal(env_of(&e, "CUDA_MPS_PIPE_DIRECTORY"), "/tmp/nvidia-mps");
    assert_string_equal(env_of(&e, "CUDA_MPS_LOG_DIRECTORY"), "/var/log/nvidia-mps");
    assert_int_equal(e.n_mounts, 2);
    char *pipe = t_printf("%s/tmp/nvidia-mps", f->dir), *log = t_printf("%s/var/log/nvidia-mps", f->dir);
    assert_string_equal(e.mounts[0].host_path, pipe);
    assert_string_equal(e.mounts[0].container_path, "/tmp/nvidia-mps");
    assert_true(e.mounts[0].writable);
    assert_string_equal(e.mounts[1].host_path, log);
    assert_string_equal(e.mounts[1].container_path, "/var/log/nvidia-mps");
    assert_false(e.mounts[1].writable);
    nvb_edits_clear(&e);
    /* Only a compute limit: no memory variable. */
    nvb_virtual_opts compute = {.compute_percent = 25};
    assert_int_equal(nvb_virtual_mps_edits(f->host, &compute, 1, &e, NULL, &err), 0);
    assert_null(env_of(&e, "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT"));
    assert_string_equal(env_of(&e, "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"), "25");
    nvb_edits_clear(&e);
    nvb_virtual_opts bad = {.compute_percent = 101};
    assert_int_equal(nvb_virtual_mps_edits(f->host, &bad, 1, &e, NULL, &err), -1);
    assert_contains(err.msg, "compute_limit 101%: must be 1-100%");
    free(pipe);
    free(log);
}

static void test_mps_socket_without_log(void **state)
{
    fixture *f = *state;
    /* Short socket path: sockaddr_un holds 108 bytes. */
    char *root = strdup("/tmp/nvb-mps-XXXXXX");
    assert_non_null(mkdtemp(root));
    make_mps(root, true, false);
    free(f->host->root);
    f->host->root = strdup(root);
    nvb_edits e = {0};
    nvb_strv warn = {0};
    nvb_err err = {0};
    nvb_virtual_opts o = {.memory_limit = 2 * GIB};
    assert_int_equal(nvb_virtual_mps_edits(f->host, &o, 1, &e, &warn, &err), 0);
    assert_string_equal(env_of(&e, "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT"), "0=2G");
    assert_null(env_of(&e, "CUDA_MPS_LOG_DIRECTORY"));
    assert_int_equal(e.n_mounts, 1);
    assert_int_equal(warn.n, 1);
    assert_contains(warn.v[0], "MPS log folder");
    nvb_edits_clear(&e);
    nvb_strv_free(&warn);
    t_rm_rf(root);
    free(root);
}

static void test_mig_candidates(void **state)
{
    fixture *f = *state;
    const nvb_mig_device *c[4];
    nvb_virtual_opts off = {0}, on = {.mig_enabled = true};
    assert_int_equal(nvb_virtual_mig_candidates(&f->host->gpus[0], &off, c, 4), 0);
    assert_int_equal(nvb_virtual_mig_candidates(&f->host->gpus[0], &on, c, 4), 2);
    assert_string_equal(c[0]->uuid, "MIG-test-0-0");
    assert_string_equal(c[1]->uuid, "MIG-test-0-1");
    /* Devices too small for the memory limit are passed over. */
    f->host->gpus[0].migs[0].memory_mib = 4096;
    on.memory_limit = 8 * GIB;
    assert_int_equal(nvb_virtual_mig_candidates(&f->host->gpus[0], &on, c, 4), 1);
    assert_string_equal(c[0]->uuid, "MIG-test-0-1");
    f->host->gpus[0].mig_mode = 0;
    assert_int_equal(nvb_virtual_mig_candidates(&f->host->gpus[0], &on, c, 4), 0);
}

/* --- the one-call decision ------------------------------------------------------------------ */

static nvb_isolation_request request(fixture *f, enum nvb_isolation iso, const char *ctr, nvb_isolation_device *devs,
                                     size_t n)
{
    return (nvb_isolation_request){.isolation = iso, .host = f->host, .devices = devs, .n_devices = n,
                                   .owner = {.container = ctr, .runtime = "runc"}, .profile = "default",
                                   .state_dir = f->state, .audit_log = f->log};
}

static void test_exclusive_grant_and_deny(void **state)
{
    fixture *f = *state;
    nvb_isolation_device gpu0 = {.gpu = &f->host->gpus[0]};
    nvb_isolation_request a = request(f, NVB_ISOLATION_EXCLUSIVE, "ctr-a", &gpu0, 1);
    nvb_isolation_grant ga, gb;
    nvb_err err = {0};
    assert_int_equal(nvb_isolation_acquire(&a, &ga, &err), 0);
    assert_int_equal(ga.n_devices, 1);
    assert_ptr_equal(ga.devices[0].gpu, &f->host->gpus[0]);
    assert_null(ga.devices[0].mig);
    json_t *e = last_event(f->log);
    assert_string_equal(json_string_value(json_object_get(e, "decision")), "grant");
    assert_string_equal(json_string_value(json_object_get(e, "container")), "ctr-a");
    assert_string_equal(json_string_value(json_object_get(e, "isolation")), "exclusive");
    assert_string_equal(json_string_value(json_object_get(e, "profile")), "default");
    assert_string_equal(json_string_value(json_array_get(json_object_get(e, "devices"), 0)), "GPU-test-0");
    assert_contains(json_string_value(json_object_get(e, "reason")), "exclusive GPU 0 (GPU-test-0)");
    json_decref(e);

    for (int iso = 0; iso < 3; iso++) {
        nvb_isolation_request b = request(f, (enum nvb_isolation)iso, "ctr-b", &gpu0, 1);
        b.virt.allow_without_mps = true;
        assert_int_equal(nvb_isolation_acquire(&b, &gb, &err), -1);
        assert_int_equal(err.exit_code, NVB_EXIT_BUSY);
        assert_contains(err.msg, "GPU 0 (GPU-test-0) is held exclusively by container ctr-a since ");
        e = last_event(f->log);
        assert_string_equal(json_string_value(json_object_get(e, "decision")), "deny");
        assert_string_equal(json_string_value(json_object_get(e, "reason")), err.msg);
        json_decref(e);
    }
    assert_int_equal(count_lines(f->log), 4); /* one line per decision */
    assert_int_equal(nvb_isolation_release(&ga, &err), 0);
    assert_int_equal(nvb_isolation_release(&ga, &err), 0); /* twice is harmless */
    nvb_isolation_grant_clear(&ga);
    nvb_isolation_request b = request(f, NVB_ISOLATION_SHARED, "ctr-b", &gpu0, 1);
    assert_int_equal(nvb_isolation_acquire(&b, &gb, &err), 0);
    nvb_isolation_release(&gb, NULL);
    nvb_isolation_grant_clear(&gb);
    assert_int_equal(count_lines(f->log), 5);
}

static void test_virtual_picks_free_mig(void **state)
{
    fixture *f = *state;
    nvb_isolation_device gpu0 = {.gpu = &f->host->gpus[0]};
    nvb_isolation_grant g1, g2, g3, gx;
    nvb_err err = {0};
    nvb_isolation_request r1 = request(f, NVB_ISOLATION_VIRTUAL, "v1", &gpu0, 1);
    r1.virt.mig_enabled = true;
    assert_int_equal(nvb_isolation_acquire(&r1, &g1, &err), 0);
    assert_non_null(g1.devices[0].mig);
    assert_string_equal(g1.devices[0].mig->uuid, "MIG-test-0-0");
    assert_int_equal(g1.edits.env.n, 0); /* MIG, not MPS: no daemon needed */
    json_t *e = last_event(f->log);
    assert_string_equal(json_string_value(json_array_get(json_object_get(e, "devices"), 0)), "MIG-test-0-0");
    assert_contains(json_string_value(json_object_get(e, "reason")), "in place of the whole GPU");
    json_decref(e);

    nvb_isolation_request r2 = request(f, NVB_ISOLATION_VIRTUAL, "v2", &gpu0, 1);
    r2.virt.mig_enabled = true;
    assert_int_equal(nvb_isolation_acquire(&r2, &g2, &err), 0);
    assert_string_equal(g2.devices[0].mig->uuid, "MIG-test-0-1");

    nvb_isolation_request r3 = request(f, NVB_ISOLATION_VIRTUAL, "v3", &gpu0, 1);
    r3.virt.mig_enabled = true;
    assert_int_equal(nvb_isolation_acquire(&r3, &g3, &err), -1);
    assert_int_equal(err.exit_code, NVB_EXIT_BUSY);
    assert_contains(err.msg, "MIG device 0:1 (MIG-test-0-1) is held exclusively by container v2");

    /* The whole GPU cannot be taken exclusively while MIG devices of it are in use. */
    nvb_isolation_request rx = request(f, NVB_ISOLATION_EXCLUSIVE, "x", &gpu0, 1);
    assert_int_equal(nvb_isolation_acquire(&rx, &gx, &err), -1);
    assert_contains(err.msg, "GPU 0 (GPU-test-0) is in shared use by container v1");

    /* Freed MIG devices are handed out again. */
    nvb_isolation_release(&g1, NULL);
    assert_int_equal(nvb_isolation_acquire(&r3, &g3, &err), 0);
    assert_string_equal(g3.devices[0].mig->uuid, "MIG-test-0-0");
    assert_int_equal(count_lines(f->log), 5);
    nvb_isolation_release(&g2, NULL);
    nvb_isolation_release(&g3, NULL);
    nvb_isolation_grant_clear(&g1);
    nvb_isolation_grant_clear(&g2);
    nvb_isolation_grant_clear(&g3);
    /* All free: exclusive works. */
    assert_int_equal(nvb_isolation_acquire(&rx, &gx, &err), 0);
    nvb_isolation_release(&gx, NULL);
    nvb_isolation_grant_clear(&gx);
}

static void test_virtual_mps_and_denial(void **state)
{
    fixture *f = *state;
    nvb_isolation_device gpu1 = {.gpu = &f->host->gpus[1]};
    nvb_isolation_grant g;
    nvb_err err = {0};
    nvb_isolation_request r = request(f, NVB_ISOLATION_VIRTUAL, "m1", &gpu1, 1);
    r.virt.memory_limit = 4 * GIB;
    r.virt.compute_percent = 30;
    /* No daemon: denied before anything is claimed, and audited. */
    assert_int_equal(nvb_isolation_acquire(&r, &g, &err), -1);
    assert_int_equal(err.exit_code, NVB_EXIT_FAIL);
    json_t *e = last_event(f->log);
    assert_string_equal(json_string_value(json_object_get(e, "decision")), "deny");
    assert_string_equal(json_string_value(json_object_get(e, "isolation")), "virtual");
    json_decref(e);
    nvb_claim_list l;
    assert_int_equal(nvb_claims_list(f->state, &l, &err), 0);
    assert_int_equal(l.n, 0);
    nvb_claim_list_free(&l);

    make_mps(f->dir, false, true);
    assert_int_equal(nvb_isolation_acquire(&r, &g, &err), 0);
    assert_string_equal(env_of(&g.edits, "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT"), "0=4G");
    assert_string_equal(env_of(&g.edits, "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"), "30");
    e = last_event(f->log);
    assert_contains(json_string_value(json_object_get(e, "reason")), "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT=0=4G");
    json_decref(e);
    /* Virtual capsules share the GPU with each other. */
    nvb_isolation_grant g2;
    nvb_isolation_request r2 = r;
    r2.owner.container = "m2";
    assert_int_equal(nvb_isolation_acquire(&r2, &g2, &err), 0);
    nvb_isolation_release(&g, NULL);
    nvb_isolation_release(&g2, NULL);
    nvb_isolation_grant_clear(&g);
    nvb_isolation_grant_clear(&g2);
    assert_int_equal(count_lines(f->log), 3);
}

static void test_audit_off_and_audit_failure(void **state)
{
    fixture *f = *state;
    nvb_isolation_device gpu0 = {.gpu = &f->host->gpus[0]};
    nvb_isolation_grant g;
    nvb_err err = {0};
    nvb_isolation_request r = request(f, NVB_ISOLATION_EXCLUSIVE, "q", &gpu0, 1);
    r.audit_log = "";
    assert_int_equal(nvb_isolation_acquire(&r, &g, &err), 0);
    nvb_isolation_release(&g, NULL);
    nvb_isolation_grant_clear(&g);
    struct stat st;
    assert_int_equal(stat(f->log, &st), -1);
    /* A grant that cannot be audited is withdrawn. */
    r.audit_log = "/dev/null/audit.log";
    assert_int_equal(nvb_isolation_acquire(&r, &g, &err), -1);
    assert_int_equal(err.exit_code, NVB_EXIT_IO);
    assert_contains(err.msg, "audit log");
    nvb_claim_list l;
    assert_int_equal(nvb_claims_list(f->state, &l, &err), 0);
    assert_int_equal(l.n, 0);
    nvb_claim_list_free(&l);
}

static void test_no_devices(void **state)
{
    fixture *f = *state;
    nvb_isolation_grant g;
    nvb_err err = {0};
    nvb_isolation_request r = request(f, NVB_ISOLATION_EXCLUSIVE, "none", NULL, 0);
    assert_int_equal(nvb_isolation_acquire(&r, &g, &err), 0);
    assert_false(g.claimed);
    json_t *e = last_event(f->log);
    assert_int_equal(json_array_size(json_object_get(e, "devices")), 0);
    assert_string_equal(json_string_value(json_object_get(e, "reason")), "no devices requested");
    json_decref(e);
    nvb_isolation_grant_clear(&g);
}

static void test_request_from_config(void **state)
{
    (void)state;
    nvb_config cfg = {0};
    cfg.capsule.isolation_level = NVB_ISOLATION_VIRTUAL;
    cfg.capsule.gpu_memory_limit = 3 * GIB;
    cfg.capsule.compute_limit_percent = 40;
    cfg.aiml.mig_enabled = true;
    char sd[] = "/s", al[] = "/a.log";
    cfg.isolation.state_dir = sd;
    cfg.isolation.audit_log = al;
    nvb_isolation_request r = {0};
    nvb_isolation_request_from_config(&r, &cfg);
    assert_int_equal(r.isolation, NVB_ISOLATION_VIRTUAL);
    assert_int_equal(r.virt.memory_limit, 3 * GIB);
    assert_int_equal(r.virt.compute_percent, 40);
    assert_true(r.virt.mig_enabled);
    assert_string_equal(r.state_dir, "/s");
    assert_string_equal(r.audit_log, "/a.log");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mem_limit_value),
        cmocka_unit_test_setup_teardown(test_mps_edits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mps_socket_without_log, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mig_candidates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exclusive_grant_and_deny, setup, teardown),
        cmocka_unit_test_setup_teardown(test_virtual_picks_free_mig, setup, teardown),
        cmocka_unit_test_setup_teardown(test_virtual_mps_and_denial, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_off_and_audit_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_devices, setup, teardown),
        cmocka_unit_test(test_request_from_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
