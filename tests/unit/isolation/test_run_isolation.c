/* The isolation hooks of `nvbind run` (lib/runtime/run_isolation.c) on an in-memory host:
 * what a grant does to the run (devices, MPS env and folders), denials naming the holder,
 * the engine's process keeping the claim, release after the container, and --gpu none. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <sys/wait.h>

#include "iso_test_util.h"
#include "runtime/compose.h"
#include "runtime/run_isolation.h"

typedef struct fixture {
    char *dir, *state, *log;
    nvb_host *host;      /* 1 GPU with 2 MIG devices */
    nvb_config cfg;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->dir = t_mkdtemp();
    f->state = t_printf("%s/state", f->dir);
    f->log = t_printf("%s/audit.log", f->dir);
    f->host = t_host(1, 2);
    nvb_config_init(&f->cfg);
    free(f->cfg.isolation.state_dir);
    free(f->cfg.isolation.audit_log);
    f->cfg.isolation.state_dir = strdup(f->state);
    f->cfg.isolation.audit_log = strdup(f->log);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    t_rm_rf(f->dir);
    nvb_config_clear(&f->cfg);
    nvb_host_free(f->host);
    free(f->dir);
    free(f->state);
    free(f->log);
    free(f);
    return 0;
}

/* A run of GPU 0 (selected as "all" when all is set) on the fixture's host. */
typedef struct run {
    nvb_selection sel;
    nvb_gpu_plan plan;
    nvb_run_info info;
} run;

static void run_init(run *r, fixture *f, enum nvb_engine engine, enum nvb_isolation iso, const char *id, bool all)
{
    memset(r, 0, sizeof *r);
    nvb_err err = {0};
    assert_int_equal(nvb_select_add(&r->sel, f->host, "--gpu", all ? "all" : "0", false, &err), 0);
    r->info = (nvb_run_info){.engine = engine, .host = f->host, .sel = &r->sel, .plan = &r->plan,
                             .isolation = iso, .profile = "aiml", .container_id = id};
}

static void run_clear(run *r)
{
    nvb_gpu_plan_clear(&r->plan);
    nvb_selection_clear(&r->sel);
}

static size_t audit_lines(fixture *f, const char *decision)
{
    FILE *fp = fopen(f->log, "r");
    if (!fp)
        return 0;
    char line[4096];
    size_t n = 0;
    while (fgets(line, sizeof line, fp)) {
        json_error_t je;
        json_t *ev = json_loads(line, 0, &je);
        if (!ev)
            fail_msg("audit line does not parse: %s", line);
        n += strcmp(json_string_value(json_object_get(ev, "decision")), decision) == 0;
        json_decref(ev);
    }
    fclose(fp);
    return n;
}

static void test_exclusive_then_denied_then_released(void **state)
{
    fixture *f = *state;
    nvb_run_isolation a = {.cfg = &f->cfg, .wait_seconds = NVB_CLAIM_NO_WAIT};
    nvb_run_isolation b = {.cfg = &f->cfg, .wait_seconds = NVB_CLAIM_NO_WAIT};
    run ra, rb;
    run_init(&ra, f, NVB_ENGINE_RUNC, NVB_ISOLATION_EXCLUSIVE, "ctr-a", false);
    run_init(&rb, f, NVB_ENGINE_PODMAN, NVB_ISOLATION_SHARED, "ctr-b", false);
    nvb_err err = {0};
    assert_int_equal(nvb_run_isolation_before_start(&a, &ra.info, &err), 0);
    assert_true(a.held);
    /* runc: the claim names the runtime's state file of the container. */
    nvb_claim_list l = {0};
    assert_int_equal(nvb_claims_list(f->state, &l, &err), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.v[0].holders[0].container, "ctr-a");
    assert_string_equal(l.v[0].holders[0].runtime, "runc");
    assert_string_equal(l.v[0].holders[0].oci_state, "/run/runc/ctr-a/state.json");
    nvb_claim_list_free(&l);
    /* Shared use of the held GPU is refused, naming the holder; nothing is held for b. */
    assert_int_equal(nvb_run_isolation_before_start(&b, &rb.info, &err), -1);
    assert_int_equal(err.exit_code, NVB_EXIT_BUSY);
    assert_contains(err.msg, "GPU 0 (GPU-test-0) is held exclusively by container ctr-a since ");
    assert_false(b.held);
    nvb_run_isolation_after_exit(&b, &rb.info, -1); /* harmless without a grant */
    /* The container ended: the GPU is free again. */
    nvb_run_isolation_after_exit(&a, &ra.info, 0);
    assert_false(a.held);
    assert_int_equal(nvb_run_isolation_before_start(&b, &rb.info, &err), 0);
    nvb_run_isolation_clear(&b);
    nvb_run_isolation_clear(&b); /* twice: nothing more */
    assert_int_equal(nvb_claims_list(f->state, &l, &err), 0);
    assert_int_equal(l.n, 0);
    nvb_claim_list_free(&l);
    assert_int_equal(audit_lines(f, "grant"), 2);
    assert_int_equal(audit_lines(f, "deny"), 1);
    run_clear(&ra);
    run_clear(&rb);
}

static void test_engine_process_keeps_the_claim(void **state)
{
    fixture *f = *state;
    nvb_run_isolation a = {.cfg = &f->cfg};
    run ra;
    run_init(&ra, f, NVB_ENGINE_DOCKER, NVB_ISOLATION_EXCLUSIVE, "ctr-engine", false);
    nvb_err err = {0};
    assert_int_equal(nvb_run_isolation_before_start(&a, &ra.info, &err), 0);
    pid_t engine = fork();
    assert_true(engine >= 0);
    if (engine == 0) {
        pause();
        _exit(0);
    }
    nvb_run_isolation_engine_started(&a, &ra.info, engine);
    nvb_claim_list l = {0};
    assert_int_equal(nvb_claims_list(f->state, &l, &err), 0);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.v[0].holders[0].init_pid, engine);
    assert_null(l.v[0].holders[0].oci_state);
    nvb_claim_list_free(&l);
    kill(engine, SIGKILL);
    waitpid(engine, NULL, 0);
    nvb_run_isolation_clear(&a);
    run_clear(&ra);
}

static void test_virtual_mig_replaces_the_gpu(void **state)
{
    fixture *f = *state;
    f->cfg.aiml.mig_enabled = true;
    nvb_run_isolation a = {.cfg = &f->cfg}, b = {.cfg = &f->cfg};
    run ra, rb;
    run_init(&ra, f, NVB_ENGINE_PODMAN, NVB_ISOLATION_VIRTUAL, "v-a", true);
    run_init(&rb, f, NVB_ENGINE_PODMAN, NVB_ISOLATION_VIRTUAL, "v-b", true);
    nvb_err err = {0};
    assert_int_equal(nvb_run_isolation_before_start(&a, &ra.info, &err), 0);
    assert_int_equal(nvb_run_isolation_before_start(&b, &rb.info, &err), 0);
    /* Each got its own MIG device in place of the whole GPU: "all" no longer applies. */
    assert_false(ra.sel.all);
    assert_ptr_equal(ra.sel.v[0].mig, &f->host->gpus[0].migs[0]);
    assert_string_equal(ra.sel.v[0].name, "0:0");
    assert_ptr_equal(rb.sel.v[0].mig, &f->host->gpus[0].migs[1]);
    nvb_strv names = {0};
    assert_int_equal(nvb_selection_cdi_names(&rb.sel, "nvidia.com/gpu", &names), 0);
    assert_int_equal(names.n, 1);
    assert_string_equal(names.v[0], "nvidia.com/gpu=0:1");
    nvb_strv_free(&names);
    /* No MPS with MIG: nothing added to the env. */
    assert_int_equal(ra.plan.env.n, 0);
    nvb_run_isolation_clear(&a);
    nvb_run_isolation_clear(&b);
    f->cfg.aiml.mig_enabled = false;
    run_clear(&ra);
    run_clear(&rb);
}

static void test_virtual_mps_into_the_plan(void **state)
{
    fixture *f = *state;
    /* An MPS control daemon under a host root of our own. */
    char *root = t_printf("%s/root", f->dir), *tmp = t_printf("%s/tmp", root), *pipe = t_printf("%s/nvidia-mps", tmp),
         *ctl = t_printf("%s/control", pipe);
    assert_int_equal(mkdir(root, 0755), 0);
    assert_int_equal(mkdir(tmp, 0755), 0);
    assert_int_equal(mkdir(pipe, 0755), 0);
    assert_int_equal(mkfifo(ctl, 0600), 0);
    free(f->host->root);
    f->host->root = strdup(root);
    f->cfg.capsule.gpu_memory_limit = 8ull << 30;
    f->cfg.capsule.compute_limit_percent = 25;
    nvb_run_isolation a = {.cfg = &f->cfg};
    run ra;
    run_init(&ra, f, NVB_ENGINE_RUNC, NVB_ISOLATION_VIRTUAL, "v-mps", false);
    nvb_err err = {0};
    assert_int_equal(nvb_run_isolation_before_start(&a, &ra.info, &err), 0);
    bool mem = false, pct = false;
    for (size_t i = 0; i < ra.plan.env.n; i++) {
        mem |= strcmp(ra.plan.env.v[i], "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT=0=8G") == 0;
        pct |= strcmp(ra.plan.env.v[i], "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=25") == 0;
    }
    assert_true(mem && pct);
    /* The pipe folder is mounted writable at the same path. */
    bool mounted = false;
    for (size_t i = 0; i < ra.plan.extra.n_mounts; i++)
        mounted |= strcmp(ra.plan.extra.mounts[i].container_path, "/tmp/nvidia-mps") == 0 &&
                   strcmp(ra.plan.extra.mounts[i].host_path, pipe) == 0 && ra.plan.extra.mounts[i].writable;
    assert_true(mounted);
    nvb_run_isolation_clear(&a);
    run_clear(&ra);
    f->cfg.capsule.gpu_memory_limit = 0;
    f->cfg.capsule.compute_limit_percent = 0;
    free(root);
    free(tmp);
    free(pipe);
    free(ctl);
}

static void test_no_gpu_claims_nothing(void **state)
{
    fixture *f = *state;
    nvb_run_isolation a = {.cfg = &f->cfg};
    nvb_selection none = {0};
    nvb_gpu_plan plan = {0};
    nvb_run_info info = {.engine = NVB_ENGINE_RUNC, .sel = &none, .plan = &plan, .isolation = NVB_ISOLATION_EXCLUSIVE,
                         .container_id = "no-gpu"};
    nvb_err err = {0};
    assert_int_equal(nvb_run_isolation_before_start(&a, &info, &err), 0);
    assert_false(a.held);
    assert_int_equal(access(f->log, F_OK), -1); /* no decision, no audit line */
    assert_int_equal(access(f->state, F_OK), -1);
    nvb_run_isolation_clear(&a);
}

static void test_attach_and_oci_root(void **state)
{
    (void)state;
    nvb_run_isolation iso = {0};
    nvb_run_opts o = {0};
    nvb_run_isolation_attach(&iso, &o);
    assert_ptr_equal(o.before_start, nvb_run_isolation_before_start);
    assert_ptr_equal(o.after_exit, nvb_run_isolation_after_exit);
    assert_ptr_equal(o.engine_started, nvb_run_isolation_engine_started);
    assert_ptr_equal(o.hook_ctx, &iso);
    assert_true(o.name_containers);
    if (geteuid() == 0) {
        assert_null(nvb_run_oci_root(NVB_ENGINE_RUNC)); /* root: the runtime's default */
    } else if (getenv("XDG_RUNTIME_DIR") && getenv("XDG_RUNTIME_DIR")[0] == '/') {
        char *r = nvb_run_oci_root(NVB_ENGINE_CRUN);
        assert_non_null(strstr(r, "/crun"));
        free(r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_exclusive_then_denied_then_released, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_process_keeps_the_claim, setup, teardown),
        cmocka_unit_test_setup_teardown(test_virtual_mig_replaces_the_gpu, setup, teardown),
        cmocka_unit_test_setup_teardown(test_virtual_mps_into_the_plan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_gpu_claims_nothing, setup, teardown),
        cmocka_unit_test(test_attach_and_oci_root),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
