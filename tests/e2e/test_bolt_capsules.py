"""Bolt capsules side by side (issue 12): each capsule's settings (its isolation, its workload
profile, its own files) travel with that capsule - its command line and a spec only it names -
never in the shared nvidia.com/gpu-bolt spec that every capsule reads. A gaming capsule and an
AI/ML capsule started together each see, from inside the container, their own variables.

Bolt is not installed here. Its stand-in does what Bolt does with nvbind's command line: it
resolves the --cdi-device names in the CDI specs and starts the container, by handing them to
real podman (which reads /var/run/cdi), after $BOLT_DELAY seconds - long enough for another
capsule to start in between, as on a busy host."""
import json
import os
import shutil
import subprocess
import unittest

from nvbtest import NVBIND, FakeHostCase, ensure_test_image, run, temp_dir

SPEC_DIR = "/var/run/cdi"
SHARED_SPEC = os.path.join(SPEC_DIR, "nvidia.com-gpu-bolt.json")
HAVE_PODMAN = shutil.which("podman") is not None

STAND_IN = """#!/usr/bin/env python3
# Stands in for Bolt: `bolt surge run --cdi-device D... --capsule-isolation L
# --runtime-optimization O [--env KV]... IMAGE CMD...` runs IMAGE CMD with podman, which
# resolves the CDI devices, after $BOLT_DELAY seconds.
import os, sys, time
args = sys.argv[1:]
assert args[:2] == ["surge", "run"], args
args = args[2:]
podman = ["podman", "run", "--rm", "--network", "none"]
while args and args[0].startswith("--"):
    flag, value = args[0], args[1]
    args = args[2:]
    if flag == "--cdi-device":
        podman += ["--device", value]
    elif flag == "--env":
        podman += ["--env", value]
time.sleep(float(os.environ.get("BOLT_DELAY", "0")))
os.execvp("podman", podman + args)
"""


@unittest.skipIf(not HAVE_PODMAN or os.geteuid() != 0, "needs podman and root")
class BoltCapsules(FakeHostCase):
    gpus = 2

    @classmethod
    def setUpClass(cls):
        cls.image = ensure_test_image()
        super().setUpClass()
        cls.saved = None
        if os.path.exists(SHARED_SPEC):
            with open(SHARED_SPEC, "rb") as f:
                cls.saved = f.read()

    @classmethod
    def tearDownClass(cls):
        if cls.saved is not None:
            with open(SHARED_SPEC, "wb") as f:
                f.write(cls.saved)
        elif os.path.exists(SHARED_SPEC):
            os.unlink(SHARED_SPEC)

    def setUp(self):
        self.tmp = temp_dir("nvbind-bolt-capsules-test-", self.addCleanup)
        self.bin = os.path.join(self.tmp, "bin")
        os.makedirs(self.bin)
        with open(os.path.join(self.bin, "bolt"), "w") as f:
            f.write(STAND_IN)
        os.chmod(os.path.join(self.bin, "bolt"), 0o755)
        # A custom profile with a file of its own, for the capsule's own spec.
        self.models = os.path.join(self.host.root, "srv", "models")
        os.makedirs(self.models, exist_ok=True)
        with open(os.path.join(self.models, "weights"), "w") as f:
            f.write("capsule's own file\n")
        self.config = os.path.join(self.tmp, "nvbind.toml")
        with open(self.config, "w") as f:
            f.write('[profiles.render]\nenv = { RENDER_QUALITY = "high" }\nmounts = ["/srv/models:/models"]\n\n'
                    f'[isolation]\nstate_dir = "{self.tmp}/state"\naudit_log = "{self.tmp}/audit.log"\n')

    def start(self, *args, delay=0):
        env = dict(os.environ, PATH=f"{self.bin}:{os.environ['PATH']}", BOLT_DELAY=str(delay))
        return subprocess.Popen([NVBIND, *self.host.args, "--config", self.config, "run", "--runtime", "bolt", *args,
                                 self.image, "sh", "-c", "env; cat /models/weights 2>/dev/null; ls /dev"],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def inside(self, p):
        out, err = p.communicate(timeout=180)
        self.assertEqual(p.returncode, 0, err)
        env = dict(line.split("=", 1) for line in out.splitlines() if "=" in line and line.split("=")[0].isupper())
        return env, out

    def capsule_specs(self):
        return sorted(n for n in os.listdir(SPEC_DIR) if n.startswith("nvidia.com-gpu-bolt_"))

    def test_gaming_and_aiml_capsules_side_by_side(self):
        # The gaming capsule's container starts late (its Bolt is slow); the AI/ML capsule
        # is set up and runs in between.
        gaming = self.start("--gpu", "0", "--profile", "gaming", "--isolation", "shared", delay=4)
        aiml = self.start("--gpu", "1", "--profile", "aiml", "--isolation", "exclusive", delay=0)
        a_env, _ = self.inside(aiml)
        g_env, g_out = self.inside(gaming)
        self.assertEqual((g_env.get("BOLT_WORKLOAD_TYPE"), g_env.get("BOLT_GPU_ISOLATION")), ("gaming", "shared"))
        self.assertIn("BOLT_GPU_POWER_PROFILE", g_env)
        self.assertNotIn("CUDA_CACHE_MAXSIZE", g_env)
        self.assertEqual((a_env.get("BOLT_WORKLOAD_TYPE"), a_env.get("BOLT_GPU_ISOLATION")), ("ai-ml", "exclusive"))
        self.assertIn("CUDA_CACHE_MAXSIZE", a_env)
        self.assertNotIn("BOLT_GPU_POWER_PROFILE", a_env)
        # Each sees its own GPU.
        minor = self.host.manifest["gpus"][0]["minor"]
        self.assertIn(f"nvidia{minor}", g_out.split())
        # The shared spec holds nothing of either capsule.
        with open(SHARED_SPEC) as f:
            spec = json.load(f)
        self.assertFalse([kv for kv in spec.get("containerEdits", {}).get("env", []) if kv.startswith("BOLT_")])

    def test_capsule_files_in_its_own_spec_gone_after(self):
        own = self.start("--gpu", "0", "--profile", "render", delay=3)
        plain = self.start("--gpu", "1", "--profile", "gaming", delay=0)
        p_env, p_out = self.inside(plain)
        o_env, o_out = self.inside(own)
        self.assertIn("capsule's own file", o_out)
        self.assertEqual(o_env.get("RENDER_QUALITY"), "high")
        self.assertNotIn("capsule's own file", p_out)
        self.assertNotIn("RENDER_QUALITY", p_env)
        self.assertEqual(self.capsule_specs(), [], "a capsule's own spec ends with it")


if __name__ == "__main__":
    unittest.main()
