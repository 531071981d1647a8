"""docker's legacy form (a 20.10 daemon: no CDI, no OCI hooks) on the host made of Debian's own
NVIDIA packages (tests/realhost), checked from inside a REAL Debian 12 container: the driver
libraries an application loads by name (libcuda.so.1, libnvidia-ml.so.1) must load with
everything they need, and a CUDA program (nvcc, -cudart static) must get past loading libcuda
and fail only at the driver (no kernel module here).

The legacy form has no hook to make library links or refresh the library cache: it mounts each
library at its SONAME too, in a folder the image's loader searches. A file that is present but
does not resolve (a dependency missing, a link into a folder the container lacks) is what
fails here; the busybox tests only see the files."""
import os
import re
import shutil
import sys
import tempfile
import unittest

import daemons
from nvbtest import NVBIND, REPO, run
from test_realhost import NVCC, build_probes

sys.path.insert(0, os.path.join(REPO, "tests", "realhost"))
import realhost  # noqa: E402

IMAGE = "nvbind-debian-docker:12"
REQUESTED = "1"

# Each probe on its own line: "@@ NAME" then its output.
CHECK = r"""
p=/nvbind-probe
echo "@@ dl:libcuda.so.1"; $p/dlprobe libcuda.so.1 cuInit 2>&1
echo "@@ dl:libnvidia-ml.so.1"; $p/dlprobe libnvidia-ml.so.1 nvmlInit_v2 2>&1
if [ -x $p/cudaprobe ]; then
  echo "@@ cuda"; LD_DEBUG=libs $p/cudaprobe 2>/tmp/ld-debug.log
  grep -o 'calling init: [^ ]*libcuda[^ ]*' /tmp/ld-debug.log | head -n 1
fi
echo "@@ dev"; ls /dev
"""


def sections(out):
    found, cur = {}, None
    for line in out.splitlines():
        if line.startswith("@@ "):
            cur = line[3:]
            found[cur] = ""
        elif cur:
            found[cur] += line + "\n"
    return found


class DockerLegacyRealHost(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = daemons.docker_daemon()  # skips where dockerd/containerd are missing
        try:
            cls.host = realhost.ensure()
        except realhost.RealHostUnavailable as e:
            raise unittest.SkipTest(str(e))
        cls.tmp = tempfile.mkdtemp(prefix="nvbind-docker-realhost-")
        try:
            cls._prepare()
        except BaseException:
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise

    @classmethod
    def _prepare(cls):
        # The real Debian image root, imported into the suite's own dockerd.
        daemons.docker_import(cls.d, cls.host["image_root"], tag=IMAGE)
        probe, cls.nvcc_error = build_probes(cls.tmp)
        # The probes reach the container through [runtime] extra_args (a read-only volume).
        config = os.path.join(cls.tmp, "nvbind.toml")
        with open(config, "w") as f:
            f.write(f'[runtime]\nextra_args = ["--network", "none", "-v", "{probe}:/nvbind-probe:ro"]\n'
                    f'[isolation]\nstate_dir = "{cls.tmp}/state"\naudit_log = "{cls.tmp}/audit.log"\n')
        cls.result = run([NVBIND, "--root", cls.host["root"], "run", "--runtime", "docker", "--gpu", REQUESTED,
                       IMAGE, "bash", "-c", CHECK],
                      env={"DOCKER_HOST": cls.d.host, "NVBIND_CONFIG": config}, timeout=600)
        cls.out = sections(cls.result.stdout)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.assertEqual(self.result.returncode, 0, self.result.stderr)
        # The form under test: no CDI with this daemon.
        self.assertIn("predates CDI support (25): using explicit --device/--volume flags", self.result.stderr)

    def test_driver_libraries_load_by_soname(self):
        """dlopen by the name applications use, then the init function: a result code means the
        library and all it needs were found without a library cache entry."""
        for lib in ("libcuda.so.1", "libnvidia-ml.so.1"):
            with self.subTest(lib=lib):
                self.assertRegex(self.out.get(f"dl:{lib}", ""), r"^RESULT -?\d+\n", self.result.stdout[-3000:])

    def test_cuda_program_fails_only_at_the_driver(self):
        """nvcc -cudart static: the runtime loads libcuda.so.1 itself (LD_DEBUG shows its init),
        then fails for want of a kernel driver or device (35 insufficient driver, 100 no device),
        never for a missing library."""
        if not os.path.exists(NVCC):
            self.skipTest(f"{NVCC} is not installed")
        self.assertIsNone(self.nvcc_error, f"nvcc failed: {self.nvcc_error}")
        out = self.out.get("cuda", "")
        self.assertIn("calling init: ", out, f"the CUDA runtime did not load libcuda: {out}")
        m = re.search(r"^ERROR (\d+) ", out, re.M)
        self.assertIsNotNone(m, out)
        self.assertIn(int(m.group(1)), (35, 100), out)

    def test_only_the_requested_gpu_node(self):
        want = next(g for g in self.host["gpus"] if str(g["index"]) == REQUESTED)
        nodes = {n for n in self.out.get("dev", "").split() if re.fullmatch(r"nvidia\d+", n)}
        self.assertEqual(nodes, {f"nvidia{want['minor']}"})


if __name__ == "__main__":
    unittest.main()
