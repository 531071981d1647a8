/* nvbind-runtime: the OCI runtime shim (lib/runtime/shim.c; docs/runtime.md). */
#include "runtime/shim.h"

int main(int argc, char **argv)
{
    return nvb_shim_main(argc, argv);
}
