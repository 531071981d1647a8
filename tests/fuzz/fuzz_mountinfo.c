/* libFuzzer target: the /proc texts the OCI hooks and the claims read about processes:
 * /proc/PID/mountinfo (which kernel mounts to hide before ldconfig enters a container) and
 * /proc/PID/stat (a process's state and start time, which tell a live claim holder from a
 * reused pid), plus the hook's --link TARGET::LINK arguments. Nothing crashes or leaks;
 * every path to hide is absolute and lies under the root. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "isolation/procid.h"
#include "oci/mountinfo.h"
#include "oci/symlinks.h"
#include "fuzz_text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void hide(const char *text, const char *root)
{
    nvb_strv out = {0};
    nvb_err err = {0};
    if (nvb_mounts_to_hide(text, root, &out, &err) == 0) {
        for (size_t i = 0; i < out.n; i++)
            if (out.v[i][0] != '/' || strcmp(out.v[i], "/") == 0)
                abort();
    } else if (!err.msg[0]) {
        abort();
    }
    nvb_strv_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size);
    if (!text)
        return 0;
    hide(text, "/");
    hide(text, "/var/lib/containers/storage/overlay/abc/merged");

    char state;
    unsigned long long start;
    nvb_proc_stat_parse(text, &state, &start);

    nvb_link_spec l;
    nvb_err err = {0};
    if (nvb_link_spec_parse(text, &l, &err) == 0) {
        if (!l.target[0] || l.link[0] != '/' || !l.link[1])
            abort();
        nvb_link_spec_free(&l);
    }
    free(text);
    return 0;
}
