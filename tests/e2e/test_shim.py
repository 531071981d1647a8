"""nvbind-runtime as podman's OCI runtime on a fake host: requests from the container's env
and from annotations, [security] for unprivileged containers, config.json untouched without a
request, podman's runtime arguments passed through untouched, clear failures."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from nvbtest import NVBIND, FakeHost, ensure_test_image, make_busybox_rootfs, run

SHIM = os.path.join(os.path.dirname(NVBIND), "nvbind-runtime")
RUNC = shutil.which("runc")

# Both wrappers log each call's arguments, one "[arg]" per argument, and copy config.json on
# create: the front one before the shim runs, the back one (the "real runtime" the shim execs)
# after the shim edited it.
WRAPPER = """#!/bin/sh
printf '[%s]' "$@" >> {log}/{side}-argv; echo >> {log}/{side}-argv
bundle=.; prev=; cmd=
for a in "$@"; do
  case "$prev" in --bundle|-b) bundle="$a";; esac
  case "$a" in create|run) [ -z "$cmd" ] && cmd="$a";; esac
  prev="$a"
done
[ -n "$cmd" ] && cp "$bundle/config.json" {log}/{side}.json
{exports}exec {target} "$@"
"""


@unittest.skipUnless(shutil.which("podman") and RUNC, "podman and runc are needed")
class ShimWithPodman(unittest.TestCase):
    security = "allow_unprivileged_env_requests = true\n"

    @classmethod
    def setUpClass(cls):
        cls.host = FakeHost(gpus=2, shuffle_minors=True)
        cls.image = ensure_test_image()

    @classmethod
    def tearDownClass(cls):
        cls.host.remove()

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="nvbind-shim-test-")
        self.log = os.path.join(self.tmp, "log")
        os.makedirs(self.log)
        back = self.wrapper("back", RUNC, "")
        self.config = os.path.join(self.tmp, "nvbind.toml")
        with open(self.config, "w") as f:
            f.write(f'[runtime]\noci_runtime = "{back}"\n'
                    f'[runtime.environment]\nNVB_TEST_VAR = "from nvbind"\n'
                    f"[security]\n{self.security}")
        exports = f"export NVBIND_ROOT={self.host.root} NVBIND_CONFIG={self.config}\n"
        self.front = self.wrapper("front", SHIM, exports)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def wrapper(self, side, target, exports):
        path = os.path.join(self.tmp, f"{side}.sh")
        with open(path, "w") as f:
            f.write(WRAPPER.format(log=self.log, side=side, target=target, exports=exports))
        os.chmod(path, 0o755)
        return path

    def podman(self, *args, script, global_args=()):
        return run(["podman", *global_args, "--runtime", self.front, "run", "--rm", *args, self.image, "sh", "-c",
                    script], timeout=120)

    def minor(self, i):
        return self.host.manifest["gpus"][i]["minor"]

    def read(self, name, mode="r"):
        with open(os.path.join(self.log, name), mode) as f:
            return f.read()

    def test_env_request_gets_gpu0_and_driver_libraries(self):
        r = self.podman("-e", "NVIDIA_VISIBLE_DEVICES=0",
                        script="ls /dev; ls /usr/lib/x86_64-linux-gnu; grep -q libcuda.so.1 /etc/ld.so.cache && "
                               "echo CACHE-OK; echo VAR=$NVB_TEST_VAR; echo NVD=$NVIDIA_VISIBLE_DEVICES")
        self.assertEqual(r.returncode, 0, r.stderr)
        words = r.stdout.split()
        lines = r.stdout.splitlines()
        self.assertIn(f"nvidia{self.minor(0)}", words)
        self.assertNotIn(f"nvidia{self.minor(1)}", words)
        self.assertIn("nvidiactl", words)
        self.assertIn("libcuda.so.550.54.14", words)
        self.assertIn("libcuda.so.1", words)
        self.assertIn("CACHE-OK", words)
        self.assertIn("VAR=from nvbind", lines)
        self.assertIn("NVD=void", words)
        after = json.loads(self.read("back.json"))
        self.assertIn("/dev/nvidia%d" % self.minor(0), [d["path"] for d in after["linux"]["devices"]])
        hooks = after["hooks"]["createContainer"]
        self.assertTrue(all(h["path"] == os.path.join(os.path.dirname(SHIM), "nvbind") for h in hooks))

    def test_no_request_leaves_config_byte_identical(self):
        r = self.podman(script="ls /dev")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertFalse([n for n in r.stdout.split() if n.startswith("nvidia")])
        self.assertEqual(self.read("front.json", "rb"), self.read("back.json", "rb"))

    def test_runtime_arguments_pass_through_untouched(self):
        r = self.podman("--annotation", "nvbind.gpus=1", script="ls /dev",
                        global_args=("--runtime-flag", "log-format=json", "--runtime-flag", "debug"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"nvidia{self.minor(1)}", r.stdout.split())
        front, back = self.read("front-argv"), self.read("back-argv")
        self.assertEqual(front, back)
        self.assertIn("[--log-format=json]", front)
        self.assertIn("[create]", front)
        self.assertIn("[delete]", front)

    def test_annotations(self):
        # podman splits --annotation values at commas: one name here (lists: tests/unit/runtime).
        r = self.podman("--annotation", "cdi.k8s.io/test=nvidia.com/gpu=1", script="ls /dev")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"nvidia{self.minor(1)}", r.stdout.split())
        self.assertNotIn(f"nvidia{self.minor(0)}", r.stdout.split())
        r = self.podman("--annotation", "nvbind.gpus=all", "--annotation", "nvbind.profile=aiml",
                        script="ls /dev; echo CAPS=$NVIDIA_DRIVER_CAPABILITIES")
        self.assertEqual(r.returncode, 0, r.stderr)
        for i in range(2):
            self.assertIn(f"nvidia{self.minor(i)}", r.stdout.split())
        self.assertIn("CAPS=utility,compute,video", r.stdout.split())

    def test_bad_request_fails_with_a_clear_message(self):
        r = self.podman("-e", "NVIDIA_VISIBLE_DEVICES=0,9", script="ls /dev")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("nvbind-runtime: NVIDIA_VISIBLE_DEVICES '0,9': no GPU 9 on this host (GPUs 0-1)", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.log, "back.json")), "the real runtime never ran")


class ShimSecurityDefaults(ShimWithPodman):
    """The default [security]: an unprivileged container's own NVIDIA_VISIBLE_DEVICES is not
    honoured; a privileged one's is, and annotations always are."""

    security = ""

    def test_env_request_gets_gpu0_and_driver_libraries(self):
        r = self.podman("-e", "NVIDIA_VISIBLE_DEVICES=0", script="ls /dev")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertFalse([n for n in r.stdout.split() if n.startswith("nvidia")])
        self.assertEqual(self.read("front.json", "rb"), self.read("back.json", "rb"))
        r = self.podman("--privileged", "-e", "NVIDIA_VISIBLE_DEVICES=0", script="ls /dev")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"nvidia{self.minor(0)}", r.stdout.split())

    def test_bad_request_fails_with_a_clear_message(self):
        # Refused before it is read: no error for an env request the policy ignores.
        r = self.podman("-e", "NVIDIA_VISIBLE_DEVICES=0,9", script="echo started")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("started", r.stdout)


@unittest.skipUnless(RUNC, "runc is needed")
class ShimDirect(unittest.TestCase):
    """The shim called the way runc is, without an engine."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="nvbind-shim-direct-")
        self.host = FakeHost(gpus=1)
        self.env = {"NVBIND_ROOT": self.host.root, "NVBIND_CONFIG": os.path.join(self.tmp, "none.toml")}
        with open(self.env["NVBIND_CONFIG"], "w") as f:
            f.write("")

    def tearDown(self):
        self.host.remove()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_other_commands_pass_straight_through(self):
        r = run([SHIM, "--version"], env=self.env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, run([RUNC, "--version"]).stdout)
        r = run([SHIM, "state", "nvbind-no-such-container"], env=self.env)
        direct = run([RUNC, "state", "nvbind-no-such-container"])
        self.assertEqual(r.returncode, direct.returncode)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("container does not exist", r.stderr)

    def test_run_with_annotation_on_a_bundle(self):
        rootfs = make_busybox_rootfs(os.path.join(self.tmp, "rootfs"))
        bundle = os.path.join(self.tmp, "bundle")
        os.makedirs(bundle)
        # A config.json from `runc spec`, pointed at our rootfs, asking for GPU 0.
        run([RUNC, "spec", "--bundle", bundle], check=True)
        with open(os.path.join(bundle, "config.json")) as f:
            config = json.load(f)
        config["root"] = {"path": rootfs, "readonly": False}
        config["process"]["terminal"] = False
        config["process"]["args"] = ["sh", "-c", "ls /dev; exit 6"]
        config["annotations"] = {"nvbind.gpus": "0"}
        with open(os.path.join(bundle, "config.json"), "w") as f:
            json.dump(config, f)
        r = run([SHIM, "run", "--bundle", bundle, "nvbind-shim-test-%d" % os.getpid()], env=self.env)
        self.assertEqual(r.returncode, 6, r.stderr)
        self.assertIn("nvidia%d" % self.host.manifest["gpus"][0]["minor"], r.stdout.split())
        self.assertEqual(sorted(os.listdir(bundle)), ["config.json"], "only config.json, no temporary files")

    def test_broken_configuration(self):
        with open(self.env["NVBIND_CONFIG"], "w") as f:
            f.write("[runtime\n")
        r = run([SHIM, "create", "--bundle", self.tmp, "x"], env=self.env)
        self.assertEqual(r.returncode, 5, r.stderr)
        self.assertTrue(r.stderr.startswith("nvbind-runtime: " + self.env["NVBIND_CONFIG"] + ":1:"), r.stderr)
        # Commands that clean up still work with a broken configuration.
        r = run([SHIM, "--version"], env=self.env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("using the defaults", r.stderr)

    def test_missing_bundle_and_bad_config_json(self):
        r = run([SHIM, "create", "--bundle", os.path.join(self.tmp, "nope"), "x"], env=self.env)
        self.assertEqual(r.returncode, 9, r.stderr)
        self.assertIn("config.json: No such file or directory", r.stderr)
        with open(os.path.join(self.tmp, "config.json"), "w") as f:
            f.write('{"process": {"env": "NVIDIA_VISIBLE_DEVICES=0"}}')
        r = run([SHIM, "create", "--bundle", self.tmp, "x"], env=self.env)
        self.assertEqual(r.returncode, 9, r.stderr)
        self.assertIn("process.env: expected an array", r.stderr)


if __name__ == "__main__":
    unittest.main()
