/* nvbind-helper: where nvbind and nvbind-runtime, linked statically, run what needs the
 * shared C library (lib/util/isolate.h): NVML's calls, and user and group lookups through
 * the system's name services. One job per process, its input on stdin, its answer on
 * stdout. */
#include "host/discover.h"
#include "util/isolate.h"
#include "util/names.h"

#include <fcntl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    static const nvb_isolated_kind kinds[] = {
        {"nvml-gpus", nvb_nvml_serve},
        {"nvml-wsl2", nvb_wsl2_nvml_serve},
        {"user-name", nvb_user_name_serve},
        {"group-id", nvb_group_id_serve},
    };
    /* Whatever a library prints goes to stderr, never into the answer. */
    int answer = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
    if (answer < 0 || dup2(STDERR_FILENO, STDOUT_FILENO) < 0)
        return 1;
    return nvb_isolated_serve(argc, argv, kinds, sizeof kinds / sizeof kinds[0], answer);
}
