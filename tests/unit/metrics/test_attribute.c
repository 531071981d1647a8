/* GPU processes to containers, over a /proc of the test's making: a claimed container's
 * processes (its init's cgroup and below), an engine's container, a host process, a process
 * gone; and the attack of a container naming a cgroup after another container's claim. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/test_util.h"
#include "isolation/procid.h"
#include "metrics/attribute.h"

#define ID "4b825dc642cb6eb9a060e54bf8d69288fbee4904a1b2c3d4e5f60718293a4b5c"

typedef struct fixture {
    char *proc;
    pid_t init; /* a live process standing for the claimed container's init */
    nvb_claim_holder holder;
    nvb_claim_record record;
    nvb_claim_list claims;
} fixture;

static void put_cgroup(const char *proc, long pid, const char *path)
{
    char *d = t_printf("%s/%ld", proc, pid);
    mkdir(d, 0755);
    char *f = t_printf("%s/cgroup", d);
    char *text = t_printf("0::%s\n", path);
    t_write(f, text);
    free(text);
    free(f);
    free(d);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->proc = t_mkdtemp_in(NULL, "nvbind-metrics-test");
    f->init = fork();
    if (f->init == 0) {
        pause();
        _exit(0);
    }
    static char victim[] = "victim", gpu0[] = "GPU-0";
    f->holder = (nvb_claim_holder){.container = victim, .init_pid = f->init,
                                   .init_start = nvb_proc_start_time(f->init)};
    f->record = (nvb_claim_record){.uuid = gpu0, .mig_index = -1, .holders = &f->holder, .n_holders = 1};
    f->claims = (nvb_claim_list){.v = &f->record, .n = 1};
    put_cgroup(f->proc, f->init, "/victim-cg");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    kill(f->init, SIGKILL);
    waitpid(f->init, NULL, 0);
    t_rm_rf(f->proc);
    free(f->proc);
    free(f);
    return 0;
}

static const nvb_container_use *find(const nvb_container_use *v, size_t n, size_t gpu, const char *container)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].gpu == gpu && strcmp(v[i].container, container) == 0)
            return &v[i];
    return NULL;
}

/* find() that fails the test when there is none. */
static const nvb_container_use *must_find(const nvb_container_use *v, size_t n, size_t gpu, const char *container)
{
    const nvb_container_use *u = find(v, n, gpu, container);
    if (!u) {
        print_error("no use of GPU %zu by container '%s'\n", gpu, container);
        abort();
    }
    return u;
}

static void test_attribution(void **state)
{
    fixture *f = *state;
    put_cgroup(f->proc, 1001, "/victim-cg/worker");
    put_cgroup(f->proc, 1002, "/system.slice/docker-" ID ".scope");
    put_cgroup(f->proc, 1003, "/user.slice/user-0.slice/session-1.scope");
    nvb_gpu_proc p0[] = {{.pid = 1001, .used_bytes = 100}, {.pid = (unsigned)f->init, .used_bytes = 20},
                         {.pid = 1003, .used_bytes = 7}, {.pid = 1004, .used_bytes = 5} /* gone */};
    nvb_gpu_proc p1[] = {{.pid = 1002, .used_bytes = 300}, {.pid = 1001, .used_bytes = UINT64_MAX}};
    nvb_gpu_sample gpus[2] = {{.procs = p0, .n_procs = 4}, {.procs = p1, .n_procs = 2}};
    nvb_container_use *uses = NULL;
    size_t n = 0, cap = 0;
    nvb_attribute(f->proc, &f->claims, gpus, 2, &uses, &n, &cap);
    const nvb_container_use *u = must_find(uses, n, 0, "victim");
    assert_int_equal(u->used_bytes, 120);
    assert_int_equal(u->n_procs, 2);
    u = must_find(uses, n, 0, "");
    assert_int_equal(u->used_bytes, 12);
    assert_int_equal(u->n_procs, 2);
    u = must_find(uses, n, 1, "4b825dc642cb");
    assert_int_equal(u->used_bytes, 300);
    u = must_find(uses, n, 1, "victim");
    assert_int_equal(u->used_bytes, 0); /* NVML did not know its memory: counted, no bytes */
    assert_int_equal(u->n_procs, 1);
    assert_int_equal(n, 4);
    free(uses);
}

/* Attack: a container that can make cgroups below its own names one after another container's
 * claim ("victim") to have its GPU use shown as the victim's. Only the claimed init's cgroup
 * counts, not a name. */
static void test_cgroup_named_after_a_claim_is_not_that_container(void **state)
{
    fixture *f = *state;
    put_cgroup(f->proc, 2001, "/attacker-cg/victim");
    put_cgroup(f->proc, 2002, "/victim");
    nvb_gpu_proc p0[] = {{.pid = 2001, .used_bytes = 1}, {.pid = 2002, .used_bytes = 2}};
    nvb_gpu_sample gpus[1] = {{.procs = p0, .n_procs = 2}};
    nvb_container_use *uses = NULL;
    size_t n = 0, cap = 0;
    nvb_attribute(f->proc, &f->claims, gpus, 1, &uses, &n, &cap);
    assert_null(find(uses, n, 0, "victim"));
    assert_non_null(find(uses, n, 0, ""));
    free(uses);
}

/* A claim whose container has ended names nobody, even when its init's pid is reused. */
static void test_gone_init_claims_nothing(void **state)
{
    fixture *f = *state;
    f->holder.init_start += 1; /* another process under the same pid */
    put_cgroup(f->proc, 3001, "/victim-cg");
    nvb_gpu_proc p0[] = {{.pid = 3001, .used_bytes = 1}};
    nvb_gpu_sample gpus[1] = {{.procs = p0, .n_procs = 1}};
    nvb_container_use *uses = NULL;
    size_t n = 0, cap = 0;
    nvb_attribute(f->proc, &f->claims, gpus, 1, &uses, &n, &cap);
    assert_null(find(uses, n, 0, "victim"));
    free(uses);
}

/* Attack: a member of the claim group writes its own record, first in the list, naming the
 * victim's init (pid and start time are anyone's to read) under a container name of its
 * choice. A member's record counts only for processes of that member. */
static void test_member_record_cannot_take_another_containers_init(void **state)
{
    fixture *f = *state;
    static char mallory[] = "mallory", gpu0[] = "GPU-0";
    nvb_claim_holder forged = {.container = mallory, .uid = 1000, .init_pid = f->init,
                               .init_start = nvb_proc_start_time(f->init)};
    nvb_claim_record records[2] = {{.uuid = gpu0, .mig_index = -1, .holders = &forged, .n_holders = 1}, f->record};
    nvb_claim_list claims = {.v = records, .n = 2};
    put_cgroup(f->proc, 4001, "/victim-cg/worker");
    nvb_gpu_proc p0[] = {{.pid = 4001, .used_bytes = 64}};
    nvb_gpu_sample gpus[1] = {{.procs = p0, .n_procs = 1}};
    nvb_container_use *uses = NULL;
    size_t n = 0, cap = 0;
    nvb_attribute(f->proc, &claims, gpus, 1, &uses, &n, &cap);
    assert_null(find(uses, n, 0, "mallory"));
    assert_int_equal(must_find(uses, n, 0, "victim")->used_bytes, 64);
    free(uses);
    /* The member's own container (its init the member's process) is the member's to name. */
    char *d = t_printf("%s/%ld", f->proc, (long)f->init);
    assert_int_equal(chown(d, 1000, 1000), 0);
    free(d);
    uses = NULL;
    n = cap = 0;
    nvb_attribute(f->proc, &claims, gpus, 1, &uses, &n, &cap);
    must_find(uses, n, 0, "mallory");
    free(uses);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_attribution, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cgroup_named_after_a_claim_is_not_that_container, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gone_init_claims_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_member_record_cannot_take_another_containers_init, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
