/* nvbind-runtime: the OCI runtime shim (lib/runtime/shim.c; docs/runtime.md). */
#include "runtime/shim.h"
#include "util/isolate.h"
#include "util/prefault.h"

int main(int argc, char **argv)
{
#if NVB_STATIC_EXE
    nvb_isolate_in_helper();
#endif
    nvb_shim_argv a;
    nvb_shim_parse_argv(argc, argv, &a);
    if (a.version && a.command < 0)
        return nvb_shim_version(NVBIND_VERSION);
    /* A create that edits its bundle touches about 270 KiB of heap (the config's tree, the
     * edits, the new config.json) and 30 KiB of stack: taken at once (util/prefault.h).
     * Every other command hands over to the runtime after a few small allocations. */
    if (a.command >= 0 && nvb_shim_command_edits(argv[a.command]))
        nvb_prefault(384 << 10, 64 << 10);
    return nvb_shim_main(argc, argv);
}
