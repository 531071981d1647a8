/* Device request lists: what each form selects, the names and edits it maps to, and the
 * message of every kind of bad request. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>

#include "runtime/select.h"
#include "rt_test_host.h"

static nvb_host *host;

static int setup(void **unused)
{
    (void)unused;
    host = rt_host();
    return 0;
}

static int teardown(void **unused)
{
    (void)unused;
    nvb_host_free(host);
    return 0;
}

static bool edits_have_node(const nvb_edits *e, const char *path)
{
    for (size_t i = 0; i < e->nodes.n; i++)
        if (strcmp(e->nodes.v[i].path, path) == 0)
            return true;
    return false;
}

/* Select, expecting success; returns the CDI names joined by spaces. */
static char *names_of(const char *list, nvb_selection *sel)
{
    nvb_err err = {0};
    int r = nvb_select_add(sel, host, "--gpu", list, false, &err);
    if (r != 0)
        fail_msg("'%s' failed: %s", list, err.msg);
    nvb_strv names = {0};
    assert_int_equal(nvb_selection_cdi_names(sel, "nvidia.com/gpu", &names), 0);
    char *out = calloc(1, 4096);
    for (size_t i = 0; i < names.n; i++) {
        if (i)
            strcat(out, " ");
        strcat(out, names.v[i]);
    }
    nvb_strv_free(&names);
    return out;
}

static void expect_error(const char *list, const char *message)
{
    nvb_selection sel = {0};
    nvb_err err = {0};
    assert_int_equal(nvb_select_add(&sel, host, "--gpu", list, false, &err), -1);
    assert_string_equal(err.msg, message);
    assert_int_equal(err.exit_code, NVB_EXIT_USAGE);
    assert_int_equal(sel.n, 0);
    assert_false(sel.all);
    nvb_selection_clear(&sel);
}

static void test_index_selects_that_gpu_only(void **unused)
{
    (void)unused;
    nvb_selection sel = {0};
    char *names = names_of("1", &sel);
    assert_string_equal(names, "nvidia.com/gpu=1");
    nvb_edits e = {0};
    assert_int_equal(nvb_selection_edits(&sel, &e), 0);
    /* GPU 1 has minor 3: its node is /dev/nvidia3, and GPU 0's /dev/nvidia0 is not there. */
    assert_true(edits_have_node(&e, "/dev/nvidia3"));
    assert_true(edits_have_node(&e, "/dev/dri/renderD129"));
    assert_false(edits_have_node(&e, "/dev/nvidia0"));
    assert_false(edits_have_node(&e, "/dev/dri/renderD128"));
    assert_string_equal(e.nodes.v[0].host_path, "/fake/dev/nvidia3");
    nvb_edits_clear(&e);
    free(names);
    nvb_selection_clear(&sel);
}

static void test_all_and_none(void **unused)
{
    (void)unused;
    nvb_selection sel = {0};
    char *names = names_of("all", &sel);
    assert_string_equal(names, "nvidia.com/gpu=all");
    assert_true(sel.all);
    assert_int_equal(sel.n, 2);
    char *d = nvb_selection_describe(&sel);
    assert_string_equal(d, "all");
    free(d);
    free(names);
    nvb_selection_clear(&sel);

    names = names_of("none", &sel);
    assert_string_equal(names, "");
    assert_true(nvb_selection_empty(&sel));
    d = nvb_selection_describe(&sel);
    assert_string_equal(d, "none");
    free(d);
    free(names);
    nvb_selection_clear(&sel);
}

static void test_uuid_maps_to_index_name(void **unused)
{
    (void)unused;
    nvb_selection sel = {0};
    char *names = names_of(RT_UUID1 "," RT_UUID0, &sel);
    assert_string_equal(names, "nvidia.com/gpu=1 nvidia.com/gpu=0");
    free(names);
    nvb_selection_clear(&sel);
    /* UUIDs compare without regard to case, as nvidia-smi prints them in lower case. */
    names = names_of("gpu-AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE", &sel);
    assert_string_equal(names, "nvidia.com/gpu=1");
    free(names);
    nvb_selection_clear(&sel);
}

static void test_type_index_and_blanks(void **unused)
{
    (void)unused;
    nvb_selection sel = {0};
    char *names = names_of(" gpu1 , 0 ", &sel);
    assert_string_equal(names, "nvidia.com/gpu=1 nvidia.com/gpu=0");
    free(names);
    nvb_selection_clear(&sel);
}

static void test_mig_devices(void **unused)
{
    (void)unused;
    nvb_selection sel = {0};
    char *names = names_of("0:1", &sel);
    assert_string_equal(names, "nvidia.com/gpu=0:1");
    nvb_edits e = {0};
    assert_int_equal(nvb_selection_edits(&sel, &e), 0);
    assert_true(edits_have_node(&e, "/dev/nvidia0"));
    assert_true(edits_have_node(&e, "/dev/nvidia-caps/nvidia-cap13"));
    assert_false(edits_have_node(&e, "/dev/nvidia-caps/nvidia-cap12"));
    assert_false(edits_have_node(&e, "/dev/dri/renderD128"));
    nvb_edits_clear(&e);
    free(names);
    nvb_selection_clear(&sel);

    names = names_of(RT_MIG00 ",mig0:1", &sel);
    assert_string_equal(names, "nvidia.com/gpu=0:0 nvidia.com/gpu=0:1");
    free(names);
    nvb_selection_clear(&sel);
}

static void test_sources_merge_without_duplicates(void **unused)
{
    (void)unused;
    nvb_selection sel = {0};
    nvb_err err = {0};
    assert_int_equal(nvb_select_add(&sel, host, "a", "0", false, &err), 0);
    assert_int_equal(nvb_select_add(&sel, host, "b", "1,0", false, &err), 0);
    assert_int_equal(sel.n, 2);
    char *d = nvb_selection_describe(&sel);
    assert_string_equal(d, "0,1");
    free(d);
    /* A failing source adds nothing and keeps what the others gave. */
    assert_int_equal(nvb_select_add(&sel, host, "c", "1,9", false, &err), -1);
    assert_int_equal(sel.n, 2);
    nvb_selection_clear(&sel);
}

static void test_env_words(void **unused)
{
    (void)unused;
    nvb_selection sel = {0};
    nvb_err err = {0};
    assert_int_equal(nvb_select_add(&sel, host, "NVIDIA_VISIBLE_DEVICES", "void", true, &err), 0);
    assert_int_equal(nvb_select_add(&sel, host, "NVIDIA_VISIBLE_DEVICES", "", true, &err), 0);
    assert_true(nvb_selection_empty(&sel));
    assert_int_equal(nvb_select_add(&sel, host, "--gpu", "void", false, &err), -1);
    assert_string_equal(err.msg, "--gpu void: 'void' is not a GPU index, UUID (GPU-...) or MIG device (0:1, MIG-...)");
    nvb_selection_clear(&sel);
}

static void test_errors(void **unused)
{
    (void)unused;
    expect_error("7", "--gpu 7: no GPU 7 on this host (GPUs 0-1)");
    expect_error("0,,1", "--gpu '0,,1': empty entry");
    expect_error("0,", "--gpu '0,': empty entry");
    expect_error("", "--gpu '': empty list (expected all, none, or GPU indices, UUIDs or MIG devices)");
    expect_error("0,0", "--gpu '0,0': GPU 0 (" RT_UUID0 ") is listed twice");
    expect_error("1," RT_UUID1, "--gpu '1," RT_UUID1 "': GPU 1 (" RT_UUID1 ") is listed twice");
    expect_error("0:1,0", "--gpu '0:1,0': MIG device 0:1 is part of GPU 0, which is also listed");
    expect_error("all,0", "--gpu 'all,0': 'all' and 'none' cannot be combined with other entries");
    expect_error("1,none", "--gpu '1,none': 'all' and 'none' cannot be combined with other entries");
    expect_error("abc", "--gpu abc: 'abc' is not a GPU index, UUID (GPU-...) or MIG device (0:1, MIG-...)");
    expect_error("-1", "--gpu -1: '-1' is not a GPU index, UUID (GPU-...) or MIG device (0:1, MIG-...)");
    expect_error("0:5", "--gpu 0:5: no MIG device 0:5 on this host (GPU 0 has 2 MIG devices)");
    expect_error("1:0", "--gpu 1:0: no MIG device 1:0 on this host (GPU 1 has no MIG devices)");
    expect_error("GPU-ffff", "--gpu GPU-ffff: no GPU with UUID GPU-ffff on this host (GPUs 0-1)");
    expect_error("MIG-ffff", "--gpu MIG-ffff: no MIG device with UUID MIG-ffff on this host");
    expect_error("1234567", "--gpu 1234567: '1234567' is not a GPU index, UUID (GPU-...) or MIG device (0:1, MIG-...)");
}

static void test_single_gpu_host_message(void **unused)
{
    (void)unused;
    host->n_gpus = 1;
    expect_error("1", "--gpu 1: no GPU 1 on this host (GPU 0 only)");
    host->n_gpus = 0;
    expect_error("all", "--gpu all: no GPU on this host");
    host->n_gpus = 2;
}

static void test_split_is_bounded(void **unused)
{
    (void)unused;
    size_t n = NVB_DEVREQ_MAX_LEN + 10;
    char *big = malloc(n + 1);
    memset(big, '0', n);
    big[n] = '\0';
    nvb_strv entries = {0};
    nvb_err err = {0};
    assert_int_equal(nvb_devreq_split(big, "--gpu", false, &entries, &err), -1);
    assert_non_null(strstr(err.msg, "longer than"));
    assert_int_equal(entries.n, 0);
    free(big);
    /* A failure part-way leaves no entries behind. */
    assert_int_equal(nvb_devreq_split("0,1,x!", "--gpu", false, &entries, &err), -1);
    assert_int_equal(entries.n, 0);
    assert_int_equal(nvb_devreq_split("0, 1", "--gpu", false, &entries, &err), 2);
    assert_string_equal(entries.v[1], "1");
    nvb_strv_free(&entries);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_index_selects_that_gpu_only),
        cmocka_unit_test(test_all_and_none),
        cmocka_unit_test(test_uuid_maps_to_index_name),
        cmocka_unit_test(test_type_index_and_blanks),
        cmocka_unit_test(test_mig_devices),
        cmocka_unit_test(test_sources_merge_without_duplicates),
        cmocka_unit_test(test_env_words),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_single_gpu_host_message),
        cmocka_unit_test(test_split_is_bounded),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
