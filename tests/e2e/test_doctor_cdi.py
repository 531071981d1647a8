"""`nvbind doctor` and the CDI specs engines read: none for nvidia.com/gpu, nvbind's gone stale
(what `nvbind cdi check` says), or another tool's spec (nvidia-ctk's) declaring the same devices
beside nvbind's - each with its fix, in text and --json. Real spec files in the folders a
configuration names, against a fake host."""
import json
import os
import shutil
import tempfile
import time
import unittest

from nvbtest import FakeHost

# What `nvidia-ctk cdi generate` writes, in its shape (kind, device names, its hook).
CTK_SPEC = """---
cdiVersion: 0.5.0
kind: nvidia.com/gpu
devices:
- name: "0"
  containerEdits:
    deviceNodes:
    - path: /dev/nvidia0
- name: all
  containerEdits:
    deviceNodes:
    - path: /dev/nvidia0
containerEdits:
  deviceNodes:
  - path: /dev/nvidiactl
  hooks:
  - hookName: createContainer
    path: /usr/bin/nvidia-ctk
    args: [nvidia-ctk, hook, update-ldcache]
"""


class DoctorCdi(unittest.TestCase):

    def setUp(self):
        self.host = FakeHost(gpus=2)
        self.addCleanup(self.host.remove)
        self.tmp = tempfile.mkdtemp(prefix="nvbind-doctor-cdi-test-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.etc, self.var = os.path.join(self.tmp, "etc-cdi"), os.path.join(self.tmp, "run-cdi")
        os.makedirs(self.etc)
        os.makedirs(self.var)
        self.config = os.path.join(self.tmp, "nvbind.toml")
        with open(self.config, "w") as f:
            f.write(f'[cdi]\nspec_dirs = ["{self.etc}", "{self.var}"]\n')
        self.ours = os.path.join(self.var, "nvidia.com-gpu.json")

    def doctor(self, *args):
        return self.host.nvbind("doctor", *args, env={"NVBIND_CONFIG": self.config})

    def checks(self):
        r = self.doctor("--json")
        self.assertIn(r.returncode, (0, 1), r.stderr)
        doc = json.loads(r.stdout)
        return r.returncode, {c["name"]: c for c in doc["checks"] if c["name"].startswith("cdi-")}

    def generate(self):
        r = self.host.nvbind("cdi", "generate", "--output", self.ours, env={"NVBIND_CONFIG": self.config})
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_missing_spec_says_how_to_make_one(self):
        _, checks = self.checks()
        self.assertEqual(list(checks), ["cdi-spec"])
        self.assertEqual(checks["cdi-spec"]["level"], "warning")
        self.assertIn(f"no CDI spec for nvidia.com/gpu in {self.etc} or {self.var}", checks["cdi-spec"]["message"])
        self.assertEqual(checks["cdi-spec"]["fix"], f"as root: nvbind cdi generate --output {self.ours}")
        out = self.doctor().stdout
        self.assertIn(f"[WARN] no CDI spec for nvidia.com/gpu in {self.etc} or {self.var}", out)
        self.assertIn(f"fix: as root: nvbind cdi generate --output {self.ours}", out)

    def test_current_then_stale_spec(self):
        self.generate()
        _, checks = self.checks()
        c = checks[f"cdi-spec:{self.ours}"]
        self.assertEqual(c["level"], "ok", c)
        self.assertIn("is nvbind's spec for nvidia.com/gpu, current", c["message"])
        # The host changes under the spec: its second GPU goes away.
        os.unlink(os.path.join(self.host.root, "dev", "nvidia1"))
        cdi_check = self.host.nvbind("cdi", "check", self.ours, env={"NVBIND_CONFIG": self.config})
        self.assertEqual(cdi_check.returncode, 1, cdi_check.stdout + cdi_check.stderr)
        reason = cdi_check.stdout.splitlines()[0].split(": stale: ", 1)[1]
        _, checks = self.checks()
        c = checks[f"cdi-spec:{self.ours}"]
        self.assertEqual(c["level"], "warning", c)
        self.assertIn(f"{self.ours} is stale (`nvbind cdi check`): {reason}", c["message"])
        self.assertEqual(c["fix"], f"as root: nvbind cdi generate --output {self.ours}")

    def test_another_tools_spec_beside_ours(self):
        self.generate()
        ctk = os.path.join(self.etc, "nvidia.yaml")
        with open(ctk, "w") as f:
            f.write(CTK_SPEC)
        rc, checks = self.checks()
        c = checks[f"cdi-conflict:{ctk}"]
        # In another folder: ours (the later folder) wins, the engines use it; a warning.
        self.assertEqual((rc, c["level"]), (0, "warning"), c)
        self.assertIn(f"{ctk}, another tool's (e.g. nvidia-ctk) spec for nvidia.com/gpu, clashes with another spec: "
                      f"nvidia.com/gpu=0: overridden by {self.ours}", c["message"])
        self.assertIn(f"remove {ctk} and stop the tool that writes it", c["fix"])
        # In the same folder, engines refuse the devices: doctor fails.
        shutil.move(ctk, os.path.join(self.var, "nvidia.yaml"))
        ctk = os.path.join(self.var, "nvidia.yaml")
        rc, checks = self.checks()
        self.assertEqual(rc, 1)
        c = checks[f"cdi-conflict:{ctk}"]
        self.assertEqual(c["level"], "error", c)
        self.assertIn(f"nvidia.com/gpu=0: also declared by {self.ours} in the same directory", c["message"])
        self.assertEqual(checks[f"cdi-conflict:{self.ours}"]["level"], "error")


class DoctorEngines(unittest.TestCase):
    """doctor (and nvbind_check_bolt_gpu_compatibility) ask each engine for its version: engines
    that never answer cost one deadline together, not one each."""

    def test_hung_engines_cost_one_deadline(self):
        tmp = tempfile.mkdtemp(prefix="nvbind-doctor-engines-")
        self.addCleanup(shutil.rmtree, tmp, True)
        for name in ("podman", "bolt", "runc"):  # each stuck for good in --version
            self.write_engine(tmp, name, "exec /bin/sleep 30")
        self.write_engine(tmp, "crun", "echo 'crun version 9.9'")
        with FakeHost(gpus=1) as fh:
            start = time.monotonic()
            r = fh.nvbind("doctor", "--json", env={"PATH": tmp})
            took = time.monotonic() - start
        engines = {e["name"]: e for e in json.loads(r.stdout)["engines"]}
        self.assertLess(took, 7, "three hung engines, 3 s each, were asked one after another")
        for name in ("podman", "bolt", "runc"):
            self.assertTrue(engines[name]["installed"])
            self.assertIsNone(engines[name]["version"])
        self.assertEqual(engines["crun"]["version"], "crun version 9.9")
        self.assertFalse(engines["docker"]["installed"])

    @staticmethod
    def write_engine(folder, name, body):
        path = os.path.join(folder, name)
        with open(path, "w") as f:
            f.write("#!/bin/sh\n" + body + "\n")
        os.chmod(path, 0o755)

if __name__ == "__main__":
    unittest.main()
