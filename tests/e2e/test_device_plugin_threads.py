"""nvbind device-plugin on a node with many processors. gRPC core sizes its thread pools by the
processor count sysconf gives (up to 32 idle EventEngine threads, executors, per-processor
tables); the statically linked plugin (-Dstatic_deps, the default) shows it 2 processors
(lib/k8s/grpc_cpus.c), so that its threads and memory do not grow with the node
(docs/kubernetes.md). The node's processors are faked with an LD_PRELOAD'd sysconf."""
import os
import shutil
import subprocess
import unittest
from unittest import mock

from test_device_plugin import PluginBase, allocate

FAKE_SYSCONF = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <unistd.h>
/* A node with NVBIND_TEST_CPUS processors, as far as sysconf tells. */
long sysconf(int name)
{
    long (*real)(int) = (long (*)(int))dlsym(RTLD_NEXT, "sysconf");
    if (name == _SC_NPROCESSORS_CONF || name == _SC_NPROCESSORS_ONLN)
        return atol(getenv("NVBIND_TEST_CPUS"));
    return real(name);
}
"""

NODE_CPUS = 64


def status_field(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


class ManyProcessors(PluginBase):
    gpus = 8

    def setUp(self):
        if not shutil.which("gcc") or not shutil.which("getconf"):
            self.skipTest("gcc and getconf are needed")
        super().setUp()
        src = os.path.join(self.tmp, "sysconf.c")
        self.preload = os.path.join(self.tmp, "sysconf.so")
        with open(src, "w") as f:
            f.write(FAKE_SYSCONF)
        subprocess.run(["gcc", "-shared", "-fPIC", "-o", self.preload, src, "-ldl"], check=True)
        # An ASan build of nvbind wants its runtime first among the libraries: the preload is not.
        self.env = {"LD_PRELOAD": self.preload, "NVBIND_TEST_CPUS": str(NODE_CPUS),
                    "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"}

    def test_grpc_threads_do_not_grow_with_the_nodes_processors(self):
        """On a 64-processor node the plugin runs with as few threads as on the 2-processor build
        machine (gRPC alone would start 37) and still serves every RPC."""
        faked = subprocess.run(["getconf", "_NPROCESSORS_CONF"], env=dict(os.environ, **self.env),
                               stdout=subprocess.PIPE, text=True, check=True)
        self.assertEqual(faked.stdout.strip(), str(NODE_CPUS), "the fake sysconf does not take")
        with mock.patch.dict(os.environ, self.env):
            p, reg, stub = self.start_registered()
        with open("/proc/%d/maps" % p.pid) as f:
            if "libgrpc" in f.read():
                self.skipTest("-Dstatic_deps=false: the shared gRPC sizes its threads by the node")
        uuids = self.uuids()
        for i in range(50):
            r = allocate(stub, [uuids[i % len(uuids)]])
            self.assertEqual(len(r.container_responses), 1)
        threads = status_field(p.pid, "Threads")
        # gRPC sized for 2 processors: 7 threads; the XID watcher and an executor grown under
        # load: up to 9. 12 leaves room; 64 processors unchecked give 37.
        self.assertLessEqual(threads, 12, "%d threads on a %d-processor node; plugin log:\n%s" % (
            threads, NODE_CPUS, self.log_of(p)))


if __name__ == "__main__":
    unittest.main()
