"""nvbind run with real podman and runc (docker and bolt through --dry-run and recording
stand-ins) on fake hosts: the devices, environment and exit status the container gets, the
commands printed, the spec written only when stale, and clean failures."""
import json
import os
import shlex
import shutil
import signal
import subprocess
import time
import unittest

from nvbtest import (NVBIND, FakeHostCase, SpecDirGuard, crun_search_path, ensure_test_image, make_busybox_rootfs,
                     proc_cmdline, run, runc_containers, temp_dir)

SPEC_DIR = "/var/run/cdi"
SPEC_NAMES = ("nvidia.com-gpu.json", "nvidia.com-gpu-bolt.json")
HAVE_PODMAN = shutil.which("podman") is not None
HAVE_RUNC = shutil.which("runc") is not None


def remove_spec_files():
    """Remove the spec files a run may write to /var/run/cdi."""
    SpecDirGuard(SPEC_NAMES).remove()


def spec_files():
    return sorted(n for n in SPEC_NAMES if os.path.exists(os.path.join(SPEC_DIR, n)))


class RunBase(FakeHostCase):
    """A two-GPU fake host with device minors out of index order, a configuration file (with
    the GPU claims and the audit log in the test's folder, never the machine's), a private
    TMPDIR (where bundles would be left) and a guarded /var/run/cdi."""

    gpus = 2
    config_text = '[runtime.environment]\nNVB_TEST_VAR = "hello world"\n'

    host_options = {"shuffle_minors": True}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.guard = SpecDirGuard(SPEC_NAMES)
        cls.guard.save()

    @classmethod
    def tearDownClass(cls):
        cls.guard.restore()

    def setUp(self):
        self.tmp = temp_dir("nvbind-run-test-", self.addCleanup)
        self.tmpdir = os.path.join(self.tmp, "tmpdir")
        os.makedirs(self.tmpdir)
        self.config = os.path.join(self.tmp, "nvbind.toml")
        self.state = os.path.join(self.tmp, "state")
        self.audit_log = os.path.join(self.tmp, "audit.log")
        with open(self.config, "w") as f:
            f.write(self.config_text)
            f.write(f'\n[isolation]\nstate_dir = "{self.state}"\naudit_log = "{self.audit_log}"\n')
        remove_spec_files()

    def tearDown(self):
        remove_spec_files()

    def minor(self, index):
        return self.host.manifest["gpus"][index]["minor"]

    def env(self, **extra):
        e = {"TMPDIR": self.tmpdir}
        e.update(extra)
        return e

    def nvbind_run(self, *args, env=None, timeout=120):
        return run([NVBIND, *self.host.args, "--config", self.config, "run", *args], env=env or self.env(),
                   timeout=timeout)

    def rootfs(self):
        path = os.path.join(self.tmp, "rootfs")
        if not os.path.exists(path):
            make_busybox_rootfs(path)
        return path

    def claims(self):
        r = run([NVBIND, "claims", "--state-dir", self.state, "--json"])
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def audit(self):
        if not os.path.exists(self.audit_log):
            return []
        with open(self.audit_log) as f:
            return [json.loads(line) for line in f]

    def assertNothingLeft(self):
        self.assertEqual(os.listdir(self.tmpdir), [], "a bundle was left in TMPDIR")
        self.assertEqual(spec_files(), [], "a spec was left in /var/run/cdi")
        if HAVE_RUNC:
            self.assertEqual(runc_containers(self.tmpdir), [], "a runc container was left")
        self.assertEqual(self.claims(), [], "a GPU claim was left")


@unittest.skipUnless(HAVE_PODMAN, "podman is not installed")
class Podman(RunBase):
    def test_gpu1_only_its_nodes_profile_env_and_exit_status(self):
        image = ensure_test_image()
        m1, m0 = self.minor(1), self.minor(0)
        script = ("ls /dev; stat -c 'node=%t:%T' /dev/nvidia" + str(m1) +
                  "; echo \"CAPS=$NVIDIA_DRIVER_CAPABILITIES\"; echo \"VAR=$NVB_TEST_VAR\"; exit 7")
        r = self.nvbind_run("--runtime", "podman", "--gpu", "1", "--profile", "aiml", image, "sh", "-c", script)
        self.assertEqual(r.returncode, 7, r.stderr)
        names = r.stdout.split()
        self.assertIn(f"nvidia{m1}", names)
        self.assertNotIn(f"nvidia{m0}", names)
        self.assertIn("nvidiactl", names)
        self.assertIn("node=c3:%x" % m1, names)  # major 195, GPU 1's minor
        self.assertIn("CAPS=utility,compute,video", r.stdout.splitlines())
        self.assertIn("VAR=hello world", r.stdout.splitlines())
        self.assertEqual(spec_files(), ["nvidia.com-gpu.json"])

    def test_spec_written_only_when_stale(self):
        image = ensure_test_image()
        path = os.path.join(SPEC_DIR, "nvidia.com-gpu.json")
        r = self.nvbind_run("--runtime", "podman", "--gpu", "0", image, "sh", "-c", ":")
        self.assertEqual(r.returncode, 0, r.stderr)
        first = os.stat(path)
        with open(path) as f:
            spec = json.load(f)
        self.assertEqual(run([NVBIND, "cdi", "validate", path]).returncode, 0)
        # nvbind's own spec: `cdi check` finds it fresh on this host.
        check = run([NVBIND, *self.host.args, "cdi", "check", path])
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        time.sleep(0.01)
        r = self.nvbind_run("--runtime", "podman", "--gpu", "1", image, "sh", "-c", ":")
        self.assertEqual(r.returncode, 0, r.stderr)
        second = os.stat(path)
        self.assertEqual((first.st_ino, first.st_mtime_ns), (second.st_ino, second.st_mtime_ns),
                         "a fresh spec was rewritten")
        # A stale spec (a GPU missing from it) is replaced.
        n_devices = len(spec["devices"])
        spec["devices"] = spec["devices"][:1]
        with open(path, "w") as f:
            json.dump(spec, f)
        r = self.nvbind_run("--runtime", "podman", "--gpu", "1", image, "sh", "-c", "ls /dev")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"nvidia{self.minor(1)}", r.stdout.split())
        with open(path) as f:
            self.assertEqual(len(json.load(f)["devices"]), n_devices)

    def test_all_and_uuid(self):
        image = ensure_test_image()
        r = self.nvbind_run("--runtime", "podman", "--gpu", "all", image, "sh", "-c", "ls /dev")
        self.assertEqual(r.returncode, 0, r.stderr)
        for i in range(self.gpus):
            self.assertIn(f"nvidia{self.minor(i)}", r.stdout.split())
        uuid = self.host.manifest["gpus"][0]["uuid"]
        r = self.nvbind_run("--runtime", "podman", "--gpu", uuid, image, "sh", "-c", "ls /dev")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"nvidia{self.minor(0)}", r.stdout.split())
        self.assertNotIn(f"nvidia{self.minor(1)}", r.stdout.split())

    def test_none_gets_env_but_no_gpu_and_writes_no_spec(self):
        image = ensure_test_image()
        r = self.nvbind_run("--runtime", "podman", "--gpu", "none", image, "sh", "-c", "ls /dev; echo VAR=$NVB_TEST_VAR")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertFalse([n for n in r.stdout.split() if n.startswith("nvidia")])
        self.assertIn("VAR=hello world", r.stdout.splitlines())
        self.assertEqual(spec_files(), [])

    def test_missing_image(self):
        r = self.nvbind_run("--runtime", "podman", "--gpu", "0", "localhost/nvbind-no-such-image:1", "true")
        self.assertEqual(r.returncode, 7, r.stderr)
        self.assertIn("nvbind: podman failed before the container ran (exit status 125; its message is above)",
                      r.stderr)
        self.assertIn("nvbind-no-such-image", r.stderr)  # podman's own message
        self.assertNothingLeft()


class DryRun(RunBase):
    config_text = '[bolt.capsule]\nisolation_level = "exclusive"\n'

    def test_podman_prints_one_line_and_writes_nothing(self):
        r = self.nvbind_run("--runtime", "podman", "--gpu", "1", "--dry-run", "img:1", "sh", "-c", "ls /dev; exit 7")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "podman run --rm --device nvidia.com/gpu=1 -- img:1 sh -c 'ls /dev; exit 7'\n")
        self.assertNothingLeft()

    def test_bolt_exact_translation(self):
        r = self.nvbind_run("--runtime", "bolt", "--gpu", "all", "--dry-run", "steam:latest")
        self.assertEqual(r.returncode, 0, r.stderr)
        # The capsule's own variables travel on its command line, never in the shared spec.
        self.assertEqual(r.stdout, "bolt surge run --cdi-device nvidia.com/gpu-bolt=all --capsule-isolation "
                                   "gpu-exclusive --runtime-optimization gpu-passthrough --env BOLT_GPU_ENABLED=1 "
                                   "--env BOLT_GPU_ISOLATION=exclusive steam:latest\n")
        r = self.nvbind_run("--runtime", "bolt", "--gpu", "1,0", "--isolation", "virtual", "--dry-run",
                            "pytorch/pytorch:latest", "python", "train model.py")
        self.assertEqual(r.stdout, "bolt surge run --cdi-device nvidia.com/gpu-bolt=1 --cdi-device "
                                   "nvidia.com/gpu-bolt=0 --capsule-isolation gpu-virtual --runtime-optimization "
                                   "gpu-passthrough --env BOLT_GPU_ENABLED=1 --env BOLT_GPU_ISOLATION=virtual "
                                   "pytorch/pytorch:latest python 'train model.py'\n")
        self.assertNothingLeft()

    def test_bolt_profile_env_as_env_flags(self):
        r = self.nvbind_run("--runtime", "bolt", "--gpu", "all", "--profile", "gaming", "--dry-run", "steam:latest",
                            "steam")
        self.assertEqual(r.returncode, 0, r.stderr)
        words = shlex.split(r.stdout)
        self.assertEqual(words[:10], ["bolt", "surge", "run", "--cdi-device", "nvidia.com/gpu-bolt=all",
                                      "--capsule-isolation", "gpu-exclusive", "--runtime-optimization",
                                      "gpu-passthrough", "--env"])
        self.assertEqual(words[-2:], ["steam:latest", "steam"])
        envs = words[9:-2]
        self.assertEqual(envs[0::2], ["--env"] * (len(envs) // 2))
        keys = [kv.split("=", 1)[0] for kv in envs[1::2]]
        self.assertIn("NVIDIA_DRIVER_CAPABILITIES", keys)
        self.assertIn("BOLT_WORKLOAD_TYPE=gaming", envs[1::2])
        self.assertEqual(len(r.stdout.splitlines()), 1)

    def test_docker_cdi_and_legacy_forms(self):
        r = self.nvbind_run("--runtime", "docker", "--gpu", "0", "--dry-run", "img", "nvidia-smi")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(len(lines), 2)
        self.assertEqual(lines[0], "docker run --rm --device nvidia.com/gpu=0 -- img nvidia-smi")
        legacy = shlex.split(lines[1])
        self.assertEqual(legacy[:3], ["docker", "run", "--rm"])
        self.assertEqual(legacy[-3:], ["--", "img", "nvidia-smi"])
        root = self.host.root
        m0, m1 = self.minor(0), self.minor(1)
        self.assertIn(f"{root}/dev/nvidia{m0}:/dev/nvidia{m0}", legacy)
        self.assertNotIn(f"{root}/dev/nvidia{m1}:/dev/nvidia{m1}", legacy)
        self.assertIn(f"{root}/dev/nvidiactl:/dev/nvidiactl", legacy)
        self.assertIn("NVIDIA_VISIBLE_DEVICES=void", legacy)
        libs = sorted(v for v in legacy if "x86_64-linux-gnu/libcuda.so." in v)
        # The versioned file, and the same file at its SONAME: no hook makes links there.
        self.assertEqual([v.split(":")[1].rsplit("/", 1)[1] for v in libs],
                         ["libcuda.so.1", f"libcuda.so.{self.host.manifest['driver']['version']}"])
        for v in libs:
            self.assertTrue(v.endswith(":ro"))
            self.assertEqual(legacy[legacy.index(v) - 1], "--volume")
        self.assertNothingLeft()

    def test_runc_prints_bundle_command(self):
        r = self.nvbind_run("--runtime", "runc", "--dry-run", "--rootfs", self.rootfs(), "--", "sh", "-c", "x")
        self.assertEqual(r.returncode, 0, r.stderr)
        words = r.stdout.split()
        bundle = os.path.join(self.tmpdir, "nvbind-bundle-XXXXXX")
        self.assertEqual(words[:6], ["runc", f"--log={bundle}/runtime.log", "--log-format=json", "run", "--bundle",
                                     bundle])
        self.assertTrue(words[6].startswith("nvbind-"))
        self.assertNothingLeft()


class Errors(RunBase):
    def expect(self, args, code, message, env=None):
        r = self.nvbind_run(*args, env=env)
        self.assertEqual(r.returncode, code, r.stdout + r.stderr)
        self.assertEqual(r.stderr.strip().splitlines()[-1], message)
        self.assertEqual(r.stdout, "")
        self.assertNothingLeft()

    def test_unknown_gpu(self):
        self.expect(["--runtime", "podman", "--gpu", "7", "img"], 2,
                    "nvbind run: --gpu 7: no GPU 7 on this host (GPUs 0-1)")
        self.expect(["--runtime", "runc", "--gpu", "0,9", "--rootfs", self.rootfs(), "true"], 2,
                    "nvbind run: --gpu '0,9': no GPU 9 on this host (GPUs 0-1)")

    def test_malformed_lists(self):
        self.expect(["--runtime", "podman", "--gpu", "0,,1", "img"], 2, "nvbind run: --gpu '0,,1': empty entry")
        self.expect(["--runtime", "podman", "--gpu", "1,1", "img"], 2,
                    "nvbind run: --gpu '1,1': GPU 1 (%s) is listed twice" % self.host.manifest["gpus"][1]["uuid"])
        self.expect(["--runtime", "bolt", "--gpu", "all,0", "--dry-run", "img"], 2,
                    "nvbind run: --gpu 'all,0': 'all' and 'none' cannot be combined with other entries")

    def test_unknown_runtime_and_isolation(self):
        self.expect(["--runtime", "lxc", "img"], 2,
                    "nvbind run: unknown runtime 'lxc' (expected podman, docker, bolt, runc or crun)")
        self.expect(["--runtime", "podman", "--isolation", "solo", "img"], 2,
                    "nvbind run: unknown isolation 'solo' (expected shared, exclusive or virtual)")

    def test_missing_engine(self):
        env = self.env(PATH=os.path.join(self.tmp, "empty-path"))
        self.expect(["--runtime", "podman", "--gpu", "0", "img"], 7,
                    "nvbind: podman: not found in PATH (install it, or choose another --runtime)", env=env)
        self.expect(["--gpu", "0", "img"], 7, "nvbind: no container engine found: neither podman nor docker is in "
                    "PATH (install one, or pass --runtime)", env=env)

    @unittest.skipUnless(shutil.which("docker"), "the docker CLI is not installed")
    def test_docker_daemon_unreachable(self):
        if run(["docker", "version"], timeout=60).returncode == 0:
            self.skipTest("a docker daemon answers here")
        r = self.nvbind_run("--runtime", "docker", "--gpu", "0", "img", "sh")
        self.assertEqual(r.returncode, 7, r.stderr)
        self.assertTrue(r.stderr.startswith("nvbind: docker version failed (exit status 1): "), r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1)
        self.assertNothingLeft()

    def test_missing_rootfs_and_command(self):
        missing = os.path.join(self.tmp, "no-rootfs")
        self.expect(["--runtime", "runc", "--rootfs", missing, "true"], 2,
                    f"nvbind run: root filesystem {missing}: No such file or directory")
        self.expect(["--runtime", "runc", missing, "true"], 2,
                    f"nvbind run: root filesystem {missing}: No such file or directory")
        self.expect(["--runtime", "runc", "--rootfs", self.rootfs()], 2,
                    f"nvbind run: no command to run in {self.rootfs()} (a root filesystem has no default command)")
        self.expect(["--runtime", "podman", "--rootfs", self.rootfs(), "true"], 2,
                    "nvbind run: --rootfs works with --runtime runc or crun, not podman")
        self.expect(["--runtime", "podman"], 2,
                    "nvbind run: missing IMAGE (usage: nvbind run [OPTIONS] IMAGE [CMD ARGS...])")

    def test_unknown_profile_and_option(self):
        r = self.nvbind_run("--runtime", "podman", "--profile", "nope", "img")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("nope", r.stderr)
        self.assertNothingLeft()
        self.expect(["--frobnicate", "img"], 2,
                    "nvbind run: unknown option '--frobnicate' (see nvbind run --help; an engine option nvbind "
                    "does not know goes as --frobnicate=VALUE)")
        self.expect(["--gpu"], 2, "nvbind run: --gpu needs a value (see nvbind run --help)")


@unittest.skipUnless(HAVE_RUNC, "runc is not installed")
class Runc(RunBase):
    def test_all_gpus_library_cache_and_no_bundle_left(self):
        script = ("ls /dev; grep -q libcuda.so.1 /etc/ld.so.cache && echo CACHE-OK; "
                  "test -L /usr/lib/x86_64-linux-gnu/libcuda.so && echo LINK-OK; echo VAR=$NVB_TEST_VAR; exit 3")
        r = self.nvbind_run("--runtime", "runc", "--rootfs", self.rootfs(), "--gpu", "all", "--", "sh", "-c", script)
        self.assertEqual(r.returncode, 3, r.stderr)
        names = r.stdout.split()
        for i in range(self.gpus):
            self.assertIn(f"nvidia{self.minor(i)}", names)
        self.assertIn("nvidiactl", names)
        self.assertIn("CACHE-OK", names)
        self.assertIn("LINK-OK", names)
        self.assertIn("VAR=hello world", r.stdout.splitlines())
        self.assertNothingLeft()

    def test_one_gpu_rootfs_as_image_argument(self):
        r = self.nvbind_run("--runtime", "runc", "--gpu", "1", self.rootfs(), "sh", "-c",
                            "ls /dev; cat /proc/self/status | grep -c NoNewPrivs")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"nvidia{self.minor(1)}", r.stdout.split())
        self.assertNotIn(f"nvidia{self.minor(0)}", r.stdout.split())
        self.assertNothingLeft()

    def test_device_cgroup_denies_other_gpus(self):
        # A node of GPU 0 made by hand inside cannot be opened: the device cgroup allows GPU 1
        # only (EPERM), while GPU 1's node passes the cgroup and reaches the (absent) driver.
        m0, m1 = self.minor(0), self.minor(1)
        script = f"busybox mknod /tmp/other c 195 {m0} && echo MADE; cat /tmp/other; cat /dev/nvidia{m1}; exit 0"
        r = self.nvbind_run("--runtime", "runc", "--gpu", "1", self.rootfs(), "sh", "-c", script)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("MADE", r.stdout.split())
        self.assertIn("can't open '/tmp/other': Operation not permitted", r.stderr)
        self.assertIn(f"can't open '/dev/nvidia{m1}': No such device or address", r.stderr)
        self.assertNothingLeft()

    def start(self, script, *extra):
        p = subprocess.Popen([NVBIND, *self.host.args, "--config", self.config, "run", "--runtime", "runc",
                              "--gpu", "0", *extra, "--rootfs", self.rootfs(), "--", "sh", "-c", script],
                             env={**os.environ, **self.env()}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        line = p.stdout.readline()
        self.assertEqual(line.strip(), "ready", p.stderr.read() if not line else line)
        self.assertEqual(len(os.listdir(self.tmpdir)), 1, "the bundle exists while the container runs")
        self.assertEqual(len(runc_containers(self.tmpdir)), 1)
        return p

    def test_sigterm_is_forwarded_and_bundle_removed(self):
        p = self.start("trap 'exit 42' TERM; echo ready; while :; do sleep 0.1; done")
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(timeout=30), 42)
        p.stdout.close()
        p.stderr.close()
        self.assertNothingLeft()

    def test_second_sigterm_kills_a_container_that_ignores_it(self):
        p = self.start("echo ready; sleep 100")
        p.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        self.assertIsNone(p.poll(), "PID 1 without a handler ignores SIGTERM")
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(timeout=30), 137)
        p.stdout.close()
        p.stderr.close()
        self.assertNothingLeft()

    def test_bundle_of_killed_nvbind_goes_once_its_container_ends(self):
        # Both ways nvbind starts the runtime: the plain spawn (no GPU) and the gated one that
        # records its pid for the GPU claim.
        for gpu in ("none", "0"):
            with self.subTest(gpu=gpu):
                go = os.path.join(self.rootfs(), "tmp", "go")
                # It waits for the go file, or 60 s should the test fail before giving it.
                p = self.start("echo ready; i=0; while [ ! -e /tmp/go ] && [ $i -lt 1200 ]; do sleep 0.05; "
                               "i=$((i+1)); done", "--gpu", gpu)
                [left] = os.listdir(self.tmpdir)
                [container] = runc_containers(self.tmpdir)
                p.send_signal(signal.SIGKILL)
                p.wait()
                p.stdout.close()
                p.stderr.close()
                # The container runs on, and so does its runtime, which uses the bundle: the next
                # run, with a GPU claim of its own on the other GPU, leaves it.
                r = self.nvbind_run("--runtime", "runc", "--gpu", "1", "--rootfs", self.rootfs(), "--", "echo", "next")
                self.assertEqual((r.returncode, r.stdout), (0, "next\n"), r.stderr)
                self.assertEqual(os.listdir(self.tmpdir), [left], "the bundle of a running container was removed")
                self.assertEqual(runc_containers(self.tmpdir), [container])
                # Once the container and its runtime have ended, the next run takes it away.
                with open(go, "w"):
                    pass
                deadline = time.monotonic() + 30
                while (runc_containers(self.tmpdir) or runtime_of(left)) and time.monotonic() < deadline:
                    time.sleep(0.05)
                self.assertEqual(runtime_of(left), [], "runc run did not end")
                os.unlink(go)
                # The lock's descriptor stays with the runtime: the container's program has
                # stdio only (3 is ls's own handle on the folder it lists).
                r = self.nvbind_run("--runtime", "runc", "--gpu", gpu, "--rootfs", self.rootfs(), "--",
                                    "ls", "/proc/self/fd")
                self.assertEqual((r.returncode, r.stdout.split()), (0, ["0", "1", "2", "3"]), r.stderr)
                self.assertNothingLeft()


def runtime_of(bundle_name):
    """The pids of the processes whose command line names the bundle folder (its runc run)."""
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if bundle_name in proc_cmdline(pid):
                pids.append(int(pid))
        except OSError:
            pass
    return pids


class CrunOnThisHost:
    """Tests that run crun give nvbind crun_search_path's PATH (crun_wrapper_dir's folder
    first where this host's cgroup layout needs it)."""

    def env(self, **extra):
        e = super().env(**extra)
        e["PATH"] = crun_search_path(os.path.join(self.tmp, "crun-bin"), e.get("PATH"))
        return e


@unittest.skipUnless(shutil.which("crun"), "crun is not installed")
class Crun(CrunOnThisHost, RunBase):
    def test_crun_same_bundle(self):
        # crun is driven by the same bundle code; it may not run on every cgroup setup.
        r = self.nvbind_run("--runtime", "crun", "--gpu", "1", "--rootfs", self.rootfs(), "--", "sh", "-c",
                            "ls /dev; exit 4")
        if r.returncode != 4 and "cgroup" in r.stderr:
            self.assertNothingLeft()
            self.skipTest("crun cannot run containers on this host's cgroup setup: " + r.stderr.strip()[-200:])
        self.assertEqual(r.returncode, 4, r.stderr)
        self.assertIn(f"nvidia{self.minor(1)}", r.stdout.split())
        self.assertNothingLeft()


class FakeEngines(RunBase):
    """bolt and docker are not installed here: stand-ins on PATH record what they get."""

    def fake(self, name, body):
        bindir = os.path.join(self.tmp, "bin")
        os.makedirs(bindir, exist_ok=True)
        path = os.path.join(bindir, name)
        with open(path, "w") as f:
            f.write("#!/bin/sh\n" + body)
        os.chmod(path, 0o755)
        return bindir

    def recorded(self):
        with open(os.path.join(self.tmp, "argv")) as f:
            return [line for line in f.read().split("\n\n") if line]

    RECORD = 'for a in "$@"; do printf "%s\\n" "$a"; done >> "$RECORD"; echo >> "$RECORD"\n'

    def test_bolt_runs_the_translation_with_its_spec(self):
        bindir = self.fake("bolt", self.RECORD + "exit 3\n")
        env = self.env(PATH=bindir + ":" + os.environ["PATH"], RECORD=os.path.join(self.tmp, "argv"))
        dry = self.nvbind_run("--runtime", "bolt", "--gpu", "1", "--profile", "aiml", "--dry-run", "img", "run.sh",
                              env=env)
        r = self.nvbind_run("--runtime", "bolt", "--gpu", "1", "--profile", "aiml", "img", "run.sh", env=env)
        self.assertEqual(r.returncode, 3, r.stderr)
        # Exactly the translation: bolt names its capsules itself (the claim has nvbind's name).
        self.assertEqual(self.recorded(), ["\n".join(shlex.split(dry.stdout)[1:])])
        [event] = self.audit()
        self.assertEqual((event["runtime"], event["decision"], event["profile"]), ("bolt", "grant", "aiml"))
        self.assertRegex(event["container"], r"^nvbind-\d+-[0-9a-f]{8}$")
        self.assertEqual(self.claims(), [])
        self.assertEqual(spec_files(), ["nvidia.com-gpu-bolt.json"])
        with open(os.path.join(SPEC_DIR, "nvidia.com-gpu-bolt.json")) as f:
            spec = json.load(f)
        self.assertEqual(spec["kind"], "nvidia.com/gpu-bolt")
        # The shared spec holds the devices only; this capsule's variables are on its command line.
        self.assertFalse([kv for kv in spec["containerEdits"]["env"] if kv.startswith("BOLT_")])
        args = self.recorded()[0].split("\n")
        for kv in ("BOLT_GPU_ENABLED=1", "BOLT_GPU_ISOLATION=shared", "BOLT_WORKLOAD_TYPE=ai-ml"):
            self.assertEqual(args[args.index(kv) - 1], "--env")
        self.assertIn("1", [d["name"] for d in spec["devices"]])

    def docker(self, version, cdi_dirs=None):
        """A fake docker: `version` and `info` answer as docker does to --format '{{json .}}'
        (no CDISpecDirs member when cdi_dirs is None); `inspect` finds no container."""
        ver = json.dumps({"Client": {"Version": version}, "Server": {"Version": version}})
        info = json.dumps({"ServerVersion": version, **({} if cdi_dirs is None else {"CDISpecDirs": cdi_dirs})})
        body = ("if [ \"$1\" = version ]; then echo '%s'; exit 0; fi\n" % ver +
                "if [ \"$1\" = info ]; then echo '%s'; exit 0; fi\n" % info +
                "if [ \"$1\" = inspect ]; then exit 1; fi\n" + self.RECORD + "exit 0\n")
        bindir = self.fake("docker", body)
        # No daemon socket: nvbind asks the daemon itself where there is one, the fake otherwise.
        return self.env(PATH=bindir + ":" + os.environ["PATH"], RECORD=os.path.join(self.tmp, "argv"),
                        DOCKER_HOST="unix://" + os.path.join(self.tmp, "no-docker.sock"))

    def test_docker_with_cdi(self):
        env = self.docker("28.2.2", ["/etc/cdi", "/var/run/cdi"])
        r = self.nvbind_run("--runtime", "docker", "--gpu", "1", "img", "true", env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        # A real run names the container: its GPU claims and audit line go by that name.
        args = self.recorded()[0].split("\n")
        self.assertEqual(args[:3], ["run", "--rm", "--name"])
        self.assertRegex(args[3], r"^nvbind-\d+-[0-9a-f]{8}$")
        self.assertEqual(args[4:], ["--device", "nvidia.com/gpu=1", "--env", "NVB_TEST_VAR=hello world", "--", "img",
                                    "true"])
        self.assertEqual(spec_files(), ["nvidia.com-gpu.json"])
        [event] = self.audit()
        self.assertEqual((event["container"], event["runtime"], event["decision"], event["isolation"]),
                         (args[3], "docker", "grant", "shared"))
        self.assertEqual(event["devices"], [self.host.manifest["gpus"][1]["uuid"]])
        self.assertEqual(self.claims(), [], "the claim ends with the container")

    def test_docker_without_cdi_falls_back(self):
        env = self.docker("24.0.7")
        r = self.nvbind_run("--runtime", "docker", "--gpu", "1", "img", "true", env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("docker 24 predates CDI support (25)", r.stderr)
        args = self.recorded()[0].split("\n")
        m1 = self.minor(1)
        self.assertIn(f"{self.host.root}/dev/nvidia{m1}:/dev/nvidia{m1}", args)
        self.assertIn("NVIDIA_VISIBLE_DEVICES=void", args)
        self.assertNotIn("nvidia.com/gpu=1", args)
        self.assertEqual(spec_files(), [], "no spec for a docker that cannot read it")


if __name__ == "__main__":
    unittest.main()
