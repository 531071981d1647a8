/* Container identity from cgroup paths: each engine's naming under the systemd and cgroupfs
 * drivers, Kubernetes' pod levels, and paths that name no container. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../common/test_util.h"
#include "metrics/cgroup.h"

#include <sys/stat.h>

#define ID "4b825dc642cb6eb9a060e54bf8d69288fbee4904a1b2c3d4e5f60718293a4b5c"

static void expect(const char *path, const char *container, const char *pod)
{
    nvb_cgroup_owner o;
    bool named = nvb_cgroup_owner_parse(path, &o);
    assert_string_equal(o.container, container);
    assert_string_equal(o.pod, pod);
    assert_int_equal(named, container[0] || pod[0]);
}

static void test_engines(void **state)
{
    expect("/system.slice/docker-" ID ".scope", "4b825dc642cb", "");
    expect("/docker/" ID, "4b825dc642cb", "");
    expect("/machine.slice/libpod-" ID ".scope/container", "4b825dc642cb", "");
    expect("/system.slice/crio-" ID ".scope", "4b825dc642cb", "");
    expect("/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" ID ".scope", "4b825dc642cb", "");
}

static void test_kubernetes(void **state)
{
    expect("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0f1e2d3c_4b5a_6978_8796_a5b4c3d2e1f0.slice/"
           "cri-containerd-" ID ".scope",
           "4b825dc642cb", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
    expect("/kubepods/besteffort/pod0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0/" ID, "4b825dc642cb",
           "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
    /* The pod's own level (its pause container elsewhere): a pod, no container. */
    expect("/kubepods/pod0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
}

static void test_no_container(void **state)
{
    expect("/", "", "");
    expect("/user.slice/user-0.slice/session-3.scope", "", "");
    expect("/system.slice/docker.service", "", "");
    expect("/docker/4b825dc642cb", "", "");          /* short: not an id */
    expect("/docker-" ID "0.scope", "", "");          /* 65 hex digits */
    expect("/libpod-conmon-" ID ".scope", "", "");     /* the monitor, not the container */
    expect("/kubepods/podnot-a-uid", "", "");
}

/* A level that starts like a pod UID and breaks off (found by fuzz_cgroup): it names no pod,
 * and half of it is no pod label, nor does it hide the pod level that follows. */
static void test_broken_pod_uid_names_no_pod(void **state)
{
    expect("/kubepods/pod0b2c3d4e_0000_11_148222_333344445555", "", "");
    expect("/kubepods-pod0b2c3d4e-0000-4111-8222-33334444555x.slice", "", "");
    expect("/kubepods/pod0b2c3d4e_0000_11_148222_333344445555/pod0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "",
           "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
}

/* Attack: a container that may create cgroups below its own (a delegated subtree) names one
 * after another container to have its GPU use counted as that container's. The engine's level
 * is the outermost one and it wins. */
static void test_nested_level_cannot_impersonate(void **state)
{
    expect("/system.slice/docker-" ID ".scope/docker-1111111111111111111111111111111111111111111111111111111111111111.scope",
           "4b825dc642cb", "");
    expect("/kubepods/pod0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0/" ID
           "/pod99999999-9999-9999-9999-999999999999/2222222222222222222222222222222222222222222222222222222222222222",
           "4b825dc642cb", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
}

static void test_within(void **state)
{
    assert_true(nvb_cgroup_within("/nvbind-1-a", "/nvbind-1-a"));
    assert_true(nvb_cgroup_within("/nvbind-1-a/sub", "/nvbind-1-a"));
    assert_false(nvb_cgroup_within("/nvbind-1-ab", "/nvbind-1-a"));
    assert_false(nvb_cgroup_within("/anything", "/"));
}

static void test_proc_cgroup(void **state)
{
    char *dir = t_mkdtemp_in(NULL, "nvbind-metrics-test");
    char *d = t_printf("%s/42", dir);
    mkdir(d, 0755);
    char *f = t_printf("%s/cgroup", d);
    char buf[256];
    t_write(f, "12:pids:/docker/" ID "\n4:memory:/docker/" ID "\n0::/system.slice/docker-" ID ".scope\n");
    assert_int_equal(nvb_proc_cgroup(dir, 42, buf, sizeof buf), 0);
    assert_string_equal(buf, "/system.slice/docker-" ID ".scope");
    t_write(f, "3:cpu:/a\n12:pids:/docker/" ID "\n");
    assert_int_equal(nvb_proc_cgroup(dir, 42, buf, sizeof buf), 0);
    assert_string_equal(buf, "/docker/" ID);
    t_write(f, "garbage\n");
    assert_int_equal(nvb_proc_cgroup(dir, 42, buf, sizeof buf), -1);
    assert_int_equal(nvb_proc_cgroup(dir, 43, buf, sizeof buf), -1);
    t_rm_rf(dir);
    free(f);
    free(d);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_engines),   cmocka_unit_test(test_kubernetes), cmocka_unit_test(test_no_container),
        cmocka_unit_test(test_within),    cmocka_unit_test(test_proc_cgroup),
        cmocka_unit_test(test_nested_level_cannot_impersonate),
        cmocka_unit_test(test_broken_pod_uid_names_no_pod),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
