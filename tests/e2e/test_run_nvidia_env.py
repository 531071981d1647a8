"""`nvbind run --env` with NVIDIA's request variables, through runc on a fake host (driver
550.54.14, so CUDA 12.4): NVIDIA_DRIVER_CAPABILITIES narrows the driver files inside the
container, NVIDIA_REQUIRE_* newer than the host is refused with one line and nothing left,
NVIDIA_DISABLE_REQUIRE turns that check off; every --env reaches the container."""
import unittest

from test_run import HAVE_RUNC, RunBase


@unittest.skipUnless(HAVE_RUNC, "runc is not installed")
class RunEnvRequests(RunBase):
    def run_ls(self, *env_args):
        env = [a for kv in env_args for a in ("--env", kv)]
        return self.nvbind_run("--runtime", "runc", "--gpu", "0", *env, "--rootfs", self.rootfs(), "--", "sh", "-c",
                               "ls /dev /usr/lib/x86_64-linux-gnu; echo MINE=$MINE")

    def test_driver_capabilities_narrow_and_env_reaches_the_container(self):
        r = self.run_ls("NVIDIA_DRIVER_CAPABILITIES=utility", "MINE=a b")
        self.assertEqual(r.returncode, 0, r.stderr)
        words = r.stdout.split()
        self.assertIn(f"nvidia{self.minor(0)}", words)
        self.assertIn("libnvidia-ml.so.1", words)
        self.assertNotIn("libcuda.so.1", words)
        self.assertIn("MINE=a b", r.stdout.splitlines())
        self.assertNothingLeft()

    def test_require_refused_unless_disabled(self):
        r = self.run_ls("NVIDIA_REQUIRE_CUDA=cuda>=12.9 driver>=560")
        self.assertEqual(r.returncode, 9, r.stdout + r.stderr)
        self.assertEqual(r.stderr.strip().splitlines()[-1],
                         "nvbind: NVIDIA_REQUIRE_CUDA 'cuda>=12.9 driver>=560': not met by this host (driver "
                         "550.54.14, CUDA 12.4); set NVIDIA_DISABLE_REQUIRE=true to skip the check")
        self.assertEqual(r.stdout, "")
        self.assertNothingLeft()
        self.assertEqual(self.audit(), [], "refused before anything was claimed")
        r = self.run_ls("NVIDIA_REQUIRE_CUDA=cuda>=12.9", "NVIDIA_DISABLE_REQUIRE=true")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"nvidia{self.minor(0)}", r.stdout.split())
        r = self.run_ls("NVIDIA_REQUIRE_CUDA=cuda>=12.2,driver>=550")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNothingLeft()

    def test_bad_env_is_a_usage_error(self):
        r = self.nvbind_run("--runtime", "runc", "--env", "NOEQUALS", "--rootfs", self.rootfs(), "true")
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stderr, "nvbind run: --env NOEQUALS: expected KEY=VALUE\n")


if __name__ == "__main__":
    unittest.main()
