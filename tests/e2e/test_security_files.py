"""Files nvbind reads and writes, attacked: FIFOs planted where a host file is expected (a
hang), predictable temporary names (another user owns root's output, or hangs it), outputs
that are streams or links (/dev/stdout replaced by a file), a huge audit log (memory).

Every command runs with a timeout: a hang fails the test instead of stalling the suite."""
import json
import os
import random
import resource
import shutil
import stat
import subprocess
import tempfile
import threading
import unittest

from nvbtest import NVBIND, FakeHost, run

SHIM = os.path.join(os.path.dirname(NVBIND), "nvbind-runtime")
HANG = 20  # seconds: far more than any of these commands needs


def replace_with_fifo(path):
    os.unlink(path)
    os.mkfifo(path)


class FifoInHostRoot(unittest.TestCase):
    """Attack: a FIFO in the host root where the driver's file should be. Opening a FIFO for
    reading blocks until a writer comes, so discovery would hang forever; every reader must
    open without blocking and refuse what is not a regular file, with one line naming it."""

    def setUp(self):
        self.host = FakeHost(gpus=1)
        self.addCleanup(self.host.remove)
        self.root = self.host.root

    def assert_refused(self, rel, code=4):
        path = os.path.join(self.root, rel)
        replace_with_fifo(path)
        r = self.host.nvbind("cdi", "generate", timeout=HANG)
        self.assertEqual(r.returncode, code, r.stderr)
        self.assertEqual(r.stdout, "")
        lines = r.stderr.splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertIn(path, lines[0])
        self.assertIn("not a regular file", lines[0])

    def test_fifo_driver_version_does_not_hang(self):
        self.assert_refused("proc/driver/nvidia/version")

    def test_fifo_proc_devices_does_not_hang(self):
        self.assert_refused("proc/devices")

    def test_fifo_gpu_information_does_not_hang(self):
        d = os.path.join(self.root, "proc/driver/nvidia/gpus")
        self.assert_refused(os.path.join("proc/driver/nvidia/gpus", sorted(os.listdir(d))[0], "information"))

    def test_fifo_ld_so_cache_does_not_hang(self):
        self.assert_refused("etc/ld.so.cache")

    def test_fifo_library_does_not_hang(self):
        """A FIFO named like a driver library: discovery reads its ELF header."""
        lib = None
        for dirpath, _, names in os.walk(os.path.join(self.root, "usr")):
            for n in names:
                p = os.path.join(dirpath, n)
                if n.startswith("libnvidia-ml.so.") and not os.path.islink(p):
                    lib = p
        self.assertIsNotNone(lib)
        replace_with_fifo(lib)
        r = self.host.nvbind("cdi", "generate", timeout=HANG)
        self.assertIn(r.returncode, (0, 4), r.stderr)


class FifoConfigJson(unittest.TestCase):
    """Attack: the bundle's config.json is a FIFO; the runtime shim reading it would hang
    the container engine that called it."""

    def test_fifo_config_json_does_not_hang_shim(self):
        with FakeHost(gpus=1) as host, tempfile.TemporaryDirectory() as tmp:
            bundle = os.path.join(tmp, "bundle")
            os.makedirs(os.path.join(bundle, "rootfs"))
            os.mkfifo(os.path.join(bundle, "config.json"))
            stub = os.path.join(tmp, "stub-runtime")
            with open(stub, "w") as f:
                f.write("#!/bin/sh\nexit 0\n")
            os.chmod(stub, 0o755)
            conf = os.path.join(tmp, "nvbind.toml")
            with open(conf, "w") as f:
                f.write(f'[runtime]\noci_runtime = "{stub}"\n')
            r = run([SHIM, "--root", os.path.join(tmp, "state"), "create", "--bundle", bundle, "ctr-fifo"],
                    env={"NVBIND_CONFIG": conf, "NVBIND_ROOT": host.root}, timeout=HANG)
            self.assertEqual(r.returncode, 6, r.stderr)
            self.assertEqual(r.stderr.strip(),
                             f"nvbind-runtime: reading {bundle}/config.json: not a regular file")


if __name__ == "__main__":
    unittest.main()
