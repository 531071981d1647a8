/* nvbind-runtime: the OCI runtime shim (lib/runtime/shim.c; docs/runtime.md). */
#include "runtime/shim.h"

int main(int argc, char **argv)
{
    nvb_shim_argv a;
    nvb_shim_parse_argv(argc, argv, &a);
    if (a.version && a.command < 0)
        return nvb_shim_version(NVBIND_VERSION);
    return nvb_shim_main(argc, argv);
}
