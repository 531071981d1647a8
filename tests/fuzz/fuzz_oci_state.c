/* libFuzzer target: the OCI container state parser (what a hook reads on stdin), and the
 * config.json root.path reader that follows it. Neither may crash, leak or read out of
 * bounds on any input; on success the bundle must be absolute. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "oci/bundle_root.h"
#include "oci/state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nvb_oci_state st;
    nvb_err err = {0};
    if (nvb_oci_state_parse((const char *)data, size, &st, &err) == 0) {
        if (!st.bundle || st.bundle[0] != '/')
            abort();
        nvb_oci_state_free(&st);
    } else if (err.msg[0] == '\0') {
        abort(); /* every refusal says why */
    }
    nvb_err err2 = {0};
    char *root = nvb_oci_config_root_path((const char *)data, size, "/bundle", &err2);
    if (root) {
        if (root[0] != '/')
            abort();
        free(root);
    } else if (err2.msg[0] == '\0') {
        abort();
    }
    return 0;
}
