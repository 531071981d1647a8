"""Seeing what nvbind does (issue 12): `-v`/`-vv` and NVBIND_LOG print each decision on stderr,
one line each (the claim taken, the CDI spec written or left, the engine command run, and at
debug every driver file considered and skipped with the reason); the shim writes the same to
the runtime's --log and to [runtime] log_file; a C caller gets the lines through
nvbind_set_log_callback. The lines checked are the ones a user would look for.

`nvbind run` goes to a stand-in podman first in PATH (what is under test is nvbind's own
output, not the container's)."""
import ctypes
import json
import os
import subprocess
import unittest

from nvbtest import BUILD_DIR, NVBIND, FakeHostCase, run, temp_dir

STUB_PODMAN = "#!/bin/sh\nexit 0\n"
STUB_RUNTIME = "#!/bin/sh\nexit 0\n"
SHIM = os.path.join(os.path.dirname(NVBIND), "nvbind-runtime")


class Verbose(FakeHostCase):
    gpus = 2

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.uuid = cls.host.manifest["gpus"][0]["uuid"]

    def setUp(self):
        self.tmp = temp_dir("nvbind-verbose-test-", self.addCleanup)
        self.bin = os.path.join(self.tmp, "bin")
        os.makedirs(self.bin)
        for name, body in (("podman", STUB_PODMAN), ("stub-runtime", STUB_RUNTIME)):
            with open(os.path.join(self.bin, name), "w") as f:
                f.write(body)
            os.chmod(os.path.join(self.bin, name), 0o755)
        self.config = os.path.join(self.tmp, "nvbind.toml")
        self.spec = os.path.join(self.tmp, "cdi", "nvidia.com-gpu.json")
        self.shim_log = os.path.join(self.tmp, "shim.log")
        with open(self.config, "w") as f:
            f.write(f'[cdi]\noutput_dir = "{self.tmp}/cdi"\n\n'
                    f'[isolation]\nstate_dir = "{self.tmp}/state"\naudit_log = "{self.tmp}/audit.log"\n\n'
                    f'[runtime]\noci_runtime = "{self.bin}/stub-runtime"\nlog_file = "{self.shim_log}"\n\n'
                    f'[host]\nroot = "{self.host.root}"\n\n[security]\nallow_annotation_requests = true\n')

    def nvbind(self, *args, log=None):
        env = dict(os.environ, PATH=f"{self.bin}:{os.environ['PATH']}", NVBIND_CONFIG=self.config)
        env.pop("NVBIND_LOG", None)
        if log is not None:
            env["NVBIND_LOG"] = log
        return run([NVBIND, *self.host.args, *args], env=env)

    def run_gpu0(self, *global_opts, log=None):
        return self.nvbind(*global_opts, "run", "--runtime", "podman", "--isolation", "exclusive", "--gpu", "0",
                           "img", "true", log=log)

    def test_v_says_claim_spec_and_engine_command(self):
        r = self.run_gpu0("-v")
        self.assertEqual(r.returncode, 0, r.stderr)
        # Whether the host model came from the host cache, and why not, comes first (the
        # discovery); this test is about the decisions after it.
        lines = [l for l in r.stderr.splitlines() if not l.startswith("nvbind: info: host cache: ")]
        self.assertRegex(lines[0], r"^nvbind: info: claim taken for container (nvbind-\d+-[0-9a-f]{8}): "
                                   rf"exclusive GPU 0 \({self.uuid}\) \(state {self.tmp}/state\)$")
        ctr = lines[0].split()[6].rstrip(":")
        self.assertIn(f"nvbind: info: CDI spec {self.spec}: missing, writing it", lines)
        self.assertIn(f"nvbind: info: running podman run --rm --name {ctr} --device nvidia.com/gpu=0 -- img true "
                      f"({self.bin}/podman)", lines)
        self.assertIn("nvbind: info: podman exited with status 0", lines)
        self.assertFalse([l for l in lines if l.startswith("nvbind: debug:")])
        # The next run finds the spec current.
        r = self.run_gpu0("--verbose")
        self.assertIn(f"nvbind: info: CDI spec {self.spec}: current, left as it is", r.stderr.splitlines())

    def test_vv_and_nvbind_log_debug_name_files_and_why_skipped(self):
        for opts, log in ((("-v", "-v"), None), ((), "debug")):
            r = self.run_gpu0(*opts, log=log)
            self.assertEqual(r.returncode, 0, r.stderr)
            lines = r.stderr.splitlines()
            libcuda = [l for l in lines if l.startswith("nvbind: debug: library ") and "libcuda.so." in l]
            self.assertTrue([l for l in libcuda if ": offered at /" in l], lines)
            skipped = [l for l in lines if l.startswith("nvbind: debug: library ") and ": skipped (" in l]
            self.assertTrue(skipped, lines)
            self.assertRegex(skipped[0], r"^nvbind: debug: library \S+: skipped \(.+\)$")
            self.assertTrue([l for l in lines if l.startswith("nvbind: info: claim taken for container ")])

    def test_quiet_by_default_and_bad_nvbind_log(self):
        r = self.run_gpu0()
        self.assertEqual((r.returncode, r.stderr), (0, ""))
        r = self.run_gpu0(log="warn")
        self.assertEqual((r.returncode, r.stderr), (0, ""))
        r = self.run_gpu0(log="loud")
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stderr, "nvbind: NVBIND_LOG=loud: expected debug, info, warn or off\n")

    def test_denied_claim_is_said(self):
        state = os.path.join(self.tmp, "state", "claims")
        holder = subprocess.Popen(["sleep", "30"])
        self.addCleanup(holder.kill)
        with open(f"/proc/{holder.pid}/stat") as f:
            start = int(f.read().rsplit(")", 1)[1].split()[19])
        os.makedirs(state)
        with open(os.path.join(state, self.uuid + ".json"), "w") as f:
            json.dump({"version": 1, "device": {"gpu_index": 0, "mig_index": None, "uuid": self.uuid,
                                                "parent_uuid": None}, "mode": "exclusive",
                       "holders": [{"container": "other", "runtime": "test",
                                    "holder": {"pid": holder.pid, "start_time": start}, "init": None,
                                    "oci_state": None, "uid": 0, "since": "2026-01-01T00:00:00Z"}]}, f)
        r = self.run_gpu0("-v")
        self.assertEqual(r.returncode, 8, r.stderr)
        self.assertRegex(r.stderr, rf"nvbind: info: claim for container nvbind-\d+-[0-9a-f]{{8}} denied: GPU 0 "
                                   rf"\({self.uuid}\) is held exclusively by container other since ")

    def test_shim_logs_to_runtime_log_and_log_file(self):
        bundle = os.path.join(self.tmp, "bundle")
        os.makedirs(os.path.join(bundle, "rootfs"))
        with open(os.path.join(bundle, "config.json"), "w") as f:
            json.dump({"ociVersion": "1.0.2", "root": {"path": "rootfs"}, "process": {"args": ["true"]},
                       "annotations": {"nvbind.gpus": "0"}}, f)
        runtime_log = os.path.join(self.tmp, "runtime.log")
        env = dict(os.environ, NVBIND_CONFIG=self.config)
        r = run([SHIM, "--log", runtime_log, "create", "--bundle", bundle, "ctr-verbose"], env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        want = [f"nvbind-runtime: claim taken for container ctr-verbose: shared GPU 0 ({self.uuid})",
                f"nvbind-runtime: create ctr-verbose: handing over to {self.bin}/stub-runtime"]
        for path in (runtime_log, self.shim_log):
            with open(path) as f:
                text = f.read()
            for w in want:
                self.assertIn(w, text, path)
            self.assertIn("level=info", text)

    def test_library_callback(self):
        """A C caller's callback gets the same lines (ctypes stands in for the caller)."""
        lib = ctypes.CDLL(os.path.join(BUILD_DIR, "libnvbind.so.0"))
        cb_type = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
        got = []
        cb = cb_type(lambda level, msg, ud: got.append((level, msg.decode())))
        lib.nvbind_set_log_callback(cb, 3, None)

        class Options(ctypes.Structure):
            _fields_ = [(n, ctypes.c_char_p) for n in ("host_root", "driver_root", "config_path", "cdi_spec_dir",
                                                         "hook_path")]
        opts = Options(self.host.root.encode(), None, None, None, None)
        err = ctypes.c_void_p()
        lib.nvbind_gpu_manager_new.restype = ctypes.c_void_p
        lib.nvbind_generate_aiml_cdi_spec.restype = ctypes.c_void_p
        m = lib.nvbind_gpu_manager_new(None, ctypes.byref(opts), ctypes.byref(err))
        self.assertTrue(m)
        spec = lib.nvbind_generate_aiml_cdi_spec(ctypes.c_void_p(m), ctypes.byref(err))
        self.assertTrue(spec)
        lib.nvbind_cdi_spec_free(ctypes.c_void_p(spec))
        lib.nvbind_gpu_manager_free(ctypes.c_void_p(m))
        lib.nvbind_set_log_callback(None, 0, None)
        self.assertTrue([msg for level, msg in got if level == 3 and msg.startswith("library ")
                         and "libcuda.so." in msg and ": offered at /" in msg], got[:5])


if __name__ == "__main__":
    unittest.main()
