/* How many processors gRPC core sees. It sizes its threads by the host's, read once through
 * sysconf(_SC_NPROCESSORS_CONF) (gpr_cpu_num_cores): 2 to 32 EventEngine threads waiting for
 * work, executors that grow to twice the processors, statistics kept per processor. The
 * plugin does its work on one thread and answers a few RPCs per pod start, while each idle
 * thread holds its stack's pages: on a node with 64 processors gRPC's threads and tables cost
 * 0.6 MiB of resident memory more than on 2, on 256 processors 1.1 MiB (docs/kubernetes.md).
 * Linked statically, the plugin wraps sysconf (-Wl,--wrap=sysconf, lib/k8s/meson.build) so
 * that the processor counts gRPC reads are capped at GRPC_CPUS; every other name passes
 * through. Nothing else in the executable asks for them (libstdc++ and abseil count with
 * get_nprocs), and gRPC bounds its per-processor indexes by the same count
 * (gpr_cpu_current_cpu gives 0 for a processor beyond it). */
#include <unistd.h>

#define GRPC_CPUS 2

long __real_sysconf(int name);
long __wrap_sysconf(int name);

long __wrap_sysconf(int name)
{
    long n = __real_sysconf(name);
    if ((name == _SC_NPROCESSORS_CONF || name == _SC_NPROCESSORS_ONLN) && n > GRPC_CPUS)
        return GRPC_CPUS;
    return n;
}
