/* libFuzzer target: the OCI config.json patcher and the shim's request reader. Any bytes are
 * refused or accepted without crashing; an accepted config gets the edits, and applying them
 * a second time (also after a round trip through the writer) changes nothing more. The
 * shim's lean parse (linux.seccomp kept as text, runtime/oci_lean.h) accepts whatever the
 * whole parse accepts, and what it writes after the edits is the same document. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/oci_lean.h"
#include "runtime/oci_patch.h"
#include "runtime/shim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void make_edits(nvb_edits *e)
{
    nvb_devnode n = {.path = (char *)"/dev/nvidia0", .host_path = (char *)"/dev/nvidia0", .type = 'c', .major = 195,
                     .minor = 0, .mode = 0666};
    nvb_edits_add_node(e, &n);
    nvb_edits_add_mount(e, "/usr/lib/libcuda.so.550", "/usr/lib/libcuda.so.550", false);
    nvb_edits_add_mount(e, "/run/nvidia-persistenced/socket", "/run/nvidia-persistenced/socket", true);
    nvb_edits_setenv(e, "NVIDIA_VISIBLE_DEVICES", "void");
    nvb_hook *h = nvb_edits_add_hook(e, "createContainer", "/usr/bin/nvbind");
    if (h) {
        nvb_strv_push(&h->args, "nvbind");
        nvb_strv_push(&h->args, "hook");
    }
}

static void lean_matches(const uint8_t *data, size_t size, const json_t *full, int full_edit, const nvb_edits *e)
{
    nvb_err err = {0};
    nvb_oci_lean l;
    if (nvb_oci_config_parse_lean((const char *)data, size, "fuzz", &l, &err) != 0)
        abort(); /* the whole text parses, so must the rest of it */
    if (nvb_oci_config_apply_edits(l.config, e, "fuzz", &err) != full_edit)
        abort(); /* the profile's stand-in changes no check */
    if (full_edit == 0) {
        char *text = nvb_oci_config_dump_lean(&l);
        json_t *back = text ? json_loads(text, 0, NULL) : NULL;
        if (!back || !json_equal(back, full))
            abort();
        json_decref(back);
        free(text);
    }
    json_decref(l.config);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nvb_err err = {0};
    json_t *c = nvb_oci_config_parse((const char *)data, size, "fuzz", &err);
    if (!c)
        return 0;
    nvb_oci_requests reqs;
    if (nvb_oci_find_requests(c, &reqs, &err) == 0)
        nvb_oci_requests_clear(&reqs);
    (void)nvb_oci_config_privileged(c);

    nvb_edits e = {0};
    make_edits(&e);
    int full_edit = nvb_oci_config_apply_edits(c, &e, "fuzz", &err);
    lean_matches(data, size, c, full_edit, &e);
    if (full_edit == 0) {
        char *once = nvb_oci_config_dump(c);
        json_t *again = once ? nvb_oci_config_parse(once, strlen(once), "fuzz", &err) : NULL;
        if (once && !again)
            abort(); /* nvbind must read back what it wrote */
        if (again) {
            if (nvb_oci_config_apply_edits(again, &e, "fuzz", &err) != 0)
                abort();
            char *twice = nvb_oci_config_dump(again);
            if (twice && strcmp(once, twice) != 0)
                abort(); /* the edit is idempotent */
            free(twice);
            json_decref(again);
        }
        free(once);
    }
    nvb_edits_clear(&e);
    json_decref(c);
    return 0;
}
