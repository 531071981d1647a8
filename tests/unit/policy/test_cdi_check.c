/* cdi check's MIG comparison (nvb_cdi_stale_reasons): a spec's MIG devices against the host's,
 * by UUID or by "<gpu>:<mig>" names, and no verdict when the host's MIG layout is unknown. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "host/host.h"
#include "policy/cdi_check.h"

/* One GPU (index 0, GPU-a) with MIG devices of these UUIDs; no files, no nodes. */
static nvb_host *host_with_migs(const char *const *uuids, size_t n)
{
    nvb_host *h = calloc(1, sizeof *h);
    assert_non_null(h);
    h->driver_version = strdup("550.54.14");
    h->gpus = calloc(1, sizeof *h->gpus);
    h->n_gpus = 1;
    h->gpus[0] = (nvb_gpu){.uuid = strdup("GPU-a"), .pci_bus_id = strdup("0000:01:00.0"), .memory_mib = -1};
    h->gpus[0].migs = calloc(n + 1, sizeof *h->gpus[0].migs);
    for (size_t i = 0; i < n; i++)
        h->gpus[0].migs[h->gpus[0].n_migs++] = (nvb_mig_device){.mig_index = (unsigned)i, .gi = 1 + (unsigned)i,
                                                                 .uuid = strdup(uuids[i]), .memory_mib = -1};
    return h;
}

static nvb_strv reasons_for(const char *spec_text, const nvb_host *h)
{
    json_error_t e;
    json_t *spec = json_loads(spec_text, 0, &e);
    assert_non_null(spec);
    nvb_strv reasons = {0};
    assert_true(nvb_cdi_stale_reasons(spec, h, &reasons) >= 0);
    json_decref(spec);
    return reasons;
}

static bool has_line(const nvb_strv *v, const char *text)
{
    for (size_t i = 0; i < v->n; i++)
        if (strstr(v->v[i], text))
            return true;
    return false;
}

#define SPEC_UUIDS "{\"devices\": [{\"name\": \"GPU-a\"}, {\"name\": \"MIG-1\"}, {\"name\": \"MIG-2\"}]}"
#define SPEC_NAMES "{\"devices\": [{\"name\": \"0\"}, {\"name\": \"0:0\"}, {\"name\": \"0:1\"}]}"

static void same_layout_is_fresh(void **state)
{
    (void)state;
    const char *const migs[] = {"MIG-1", "MIG-2"};
    nvb_host *h = host_with_migs(migs, 2);
    nvb_strv a = reasons_for(SPEC_UUIDS, h), b = reasons_for(SPEC_NAMES, h);
    assert_int_equal(a.n, 0);
    assert_int_equal(b.n, 0);
    nvb_strv_free(&a);
    nvb_strv_free(&b);
    nvb_host_free(h);
}

static void removed_and_added_by_uuid(void **state)
{
    (void)state;
    const char *const migs[] = {"MIG-1", "MIG-3"};
    nvb_host *h = host_with_migs(migs, 2);
    nvb_strv r = reasons_for(SPEC_UUIDS, h);
    assert_true(has_line(&r, "MIG device removed: MIG-2 is no longer on the host"));
    assert_true(has_line(&r, "MIG device added: MIG-3 (0:1, GPU instance 2, compute instance 0)"));
    assert_int_equal(r.n, 2);
    nvb_strv_free(&r);
    nvb_host_free(h);
}

static void by_names_counts_and_new_indices(void **state)
{
    (void)state;
    const char *const one[] = {"MIG-1"}, *const three[] = {"MIG-1", "MIG-2", "MIG-3"};
    nvb_host *h = host_with_migs(one, 1);
    nvb_strv r = reasons_for(SPEC_NAMES, h);
    assert_true(has_line(&r, "MIG device removed: spec has 2 MIG devices, host has 1"));
    nvb_strv_free(&r);
    nvb_host_free(h);
    h = host_with_migs(three, 3);
    r = reasons_for(SPEC_NAMES, h);
    assert_true(has_line(&r, "MIG device added: MIG-3 (0:2"));
    assert_int_equal(r.n, 1);
    nvb_strv_free(&r);
    nvb_host_free(h);
}

static void unknown_layout_gives_no_verdict(void **state)
{
    (void)state;
    nvb_host *h = host_with_migs(NULL, 0);
    h->mig_unknown = true; /* NVML could not be asked: no MIG device known, none to compare */
    nvb_strv r = reasons_for(SPEC_UUIDS, h);
    assert_int_equal(r.n, 0);
    nvb_strv_free(&r);
    h->mig_unknown = false;
    r = reasons_for(SPEC_UUIDS, h);
    assert_int_equal(r.n, 2);
    nvb_strv_free(&r);
    nvb_host_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_layout_is_fresh),
        cmocka_unit_test(removed_and_added_by_uuid),
        cmocka_unit_test(by_names_counts_and_new_indices),
        cmocka_unit_test(unknown_layout_gives_no_verdict),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
