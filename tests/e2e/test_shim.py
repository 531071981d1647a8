"""nvbind-runtime as podman's OCI runtime on a fake host: requests from the container's env
(honoured with the default configuration) and from annotations (allowed here by [security]
allow_annotation_requests; test_security_shim checks they are not by default), [security] turning
unprivileged containers' env requests off, config.json untouched without a request, podman's
runtime arguments passed through untouched, GPU claims taken on create and given back on
delete (exclusive capsules refused with the holder named, config.json untouched), clear
failures."""
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from nvbtest import (NVBIND, FakeHost, FakeHostCase, crun_wrapper_dir, ensure_test_image, make_busybox_rootfs, run,
                     runc_bundle, temp_dir)

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


def claims(state):
    r = run([NVBIND, "claims", "--state-dir", state, "--json"])
    if r.returncode != 0:
        raise AssertionError(r.stderr)
    return json.loads(r.stdout)


def audit(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f]


@unittest.skipUnless(shutil.which("podman") and RUNC, "podman and runc are needed")
class ShimWithPodman(FakeHostCase):
    """The default configuration (no [security] settings): the issue's check
    `podman --runtime nvbind-runtime run -e NVIDIA_VISIBLE_DEVICES=0 IMAGE` gets GPU 0."""

    gpus = 2
    host_options = {"shuffle_minors": True}
    security = ""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.image = ensure_test_image()

    def runtime(self):
        """The OCI runtime the shim wraps."""
        return RUNC

    def state_file(self, container):
        """Where the wrapped runtime keeps a container's state (its init's pid)."""
        return f"/run/runc/{container}/state.json"

    def recorded_state(self, container):
        """The state file the claim names: the shim knows the layout by the runtime's name."""
        return self.state_file(container)

    def back_name(self):
        """The name of the wrapped runtime as the shim sees it."""
        return os.path.basename(self.runtime())

    def setUp(self):
        self.tmp = temp_dir("nvbind-shim-test-", self.addCleanup)
        self.log = os.path.join(self.tmp, "log")
        os.makedirs(self.log)
        # Named as the runtime it stands for: the shim finds a container's state file by the
        # runtime's name (runc's or crun's layout).
        back = self.wrapper("back", self.runtime(), "", name=self.back_name())
        self.config = os.path.join(self.tmp, "nvbind.toml")
        self.state = os.path.join(self.tmp, "state")
        self.audit_log = os.path.join(self.tmp, "audit.log")
        with open(self.config, "w") as f:
            f.write(f'[runtime]\noci_runtime = "{back}"\n'
                    f'[runtime.environment]\nNVB_TEST_VAR = "from nvbind"\n'
                    f'[isolation]\nstate_dir = "{self.state}"\naudit_log = "{self.audit_log}"\n'
                    f"[security]\nallow_annotation_requests = true\n{self.security}")
        exports = f"export NVBIND_ROOT={self.host.root} NVBIND_CONFIG={self.config}\n"
        self.front = self.wrapper("front", SHIM, exports)

    def wrapper(self, side, target, exports, name=None):
        path = os.path.join(self.tmp, f"{side}.sh")
        if name:
            os.makedirs(os.path.join(self.tmp, side))
            path = os.path.join(self.tmp, side, name)
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
                               "echo CACHE-OK; echo VAR=$NVB_TEST_VAR; echo NVD=$NVIDIA_VISIBLE_DEVICES; "
                               "grep Seccomp: /proc/self/status")
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
        # The shim made the links and the cache (CACHE-OK above) itself, before runc ran: no
        # hook process at the container's start (test_cache_ahead has where it leaves them).
        self.assertNotIn("hooks", after)
        # podman's seccomp profile, which the shim keeps as text (runtime/oci_lean.h), is the
        # same profile after the edits, and the container runs under it.
        before = json.loads(self.read("front.json"))
        self.assertTrue(before["linux"].get("seccomp", {}).get("syscalls"), "podman wrote no seccomp profile")
        self.assertEqual(after["linux"]["seccomp"], before["linux"]["seccomp"])
        self.assertIn(["Seccomp:", "2"], [line.split() for line in lines])

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
        self.assertEqual(audit(self.audit_log), [], "a request that names no GPU is no isolation decision")

    def test_claims_follow_the_container(self):
        """create claims (held by the container once the shim is gone), a second exclusive
        request is refused naming the holder, delete gives the GPU back. Exclusive is the
        configured level (an annotation may only narrow it): the later requests ask for shared."""
        with open(self.config, "a") as f:
            f.write('[bolt.capsule]\nisolation_level = "exclusive"\n')
        name = os.path.basename(self.tmp)  # to remove it should the test fail midway
        cmd = ["podman", "--runtime", self.front, "run", "--rm", "--name", name, "--annotation", "nvbind.gpus=0",
               "--annotation", "nvbind.isolation=exclusive", self.image, "sh", "-c", "echo ready; sleep 3"]
        first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            self.assertEqual(first.stdout.readline().strip(), "ready", first.stderr.read() if first.poll() else "")
            [held] = claims(self.state)
            self.assertEqual((held["mode"], held["runtime"], held["device"]), ("exclusive", "nvbind-runtime", "0"))
            self.assertRegex(held["container"], r"^[0-9a-f]{64}$")
            self.assertEqual(held["oci_state"], self.recorded_state(held["container"]))
            self.assertTrue(os.path.exists(self.state_file(held["container"])))
            for name in ("front.json", "back.json"):
                os.unlink(os.path.join(self.log, name))
            # Shared use of the held GPU is refused too, before the real runtime runs.
            r = self.podman("-e", "NVIDIA_VISIBLE_DEVICES=0", "--annotation", "nvbind.isolation=shared",
                            script="echo started")
            self.assertNotEqual(r.returncode, 0)
            uuid = self.host.manifest["gpus"][0]["uuid"]
            self.assertIn(f"nvbind-runtime: GPU 0 ({uuid}) is held exclusively by container {held['container']} "
                          f"since {held['since']}", r.stderr)
            self.assertNotIn("started", r.stdout)
            self.assertFalse(os.path.exists(os.path.join(self.log, "back.json")), "the real runtime never ran")
            # Another GPU is free.
            r = self.podman("-e", "NVIDIA_VISIBLE_DEVICES=1", "--annotation", "nvbind.isolation=shared",
                            script="ls /dev")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn(f"nvidia{self.minor(1)}", r.stdout.split())
            self.assertEqual(first.wait(timeout=60), 0)
        finally:
            if first.poll() is None:
                first.kill()
                first.wait()
                # podman's --rm went with its client: the container stays (the runtime it
                # names, this test's wrapper, goes with the test's folder).
                run(["podman", "--runtime", self.front, "rm", "--force", "--ignore", name], timeout=60)
            first.stdout.close()
            first.stderr.close()
        self.assertEqual(claims(self.state), [], "delete gave every GPU back")
        events = audit(self.audit_log)
        self.assertEqual([(e["decision"], e["isolation"]) for e in events],
                         [("grant", "exclusive"), ("deny", "shared"), ("grant", "shared")])
        self.assertEqual(events[0]["container"], held["container"])

    def test_env_request_without_capabilities_gets_nvidias_default(self):
        """NVIDIA_VISIBLE_DEVICES with NVIDIA_DRIVER_CAPABILITIES unset gets what NVIDIA's runtime
        gives it (utility and compute: NVML and CUDA inside, no OpenGL/Vulkan driver files);
        NVIDIA_DRIVER_CAPABILITIES=all and nvbind's own annotation get every driver file."""
        lib = "/usr/lib/x86_64-linux-gnu"
        r = self.podman("-e", "NVIDIA_VISIBLE_DEVICES=0", script=f"ls {lib}; echo CAPS=$NVIDIA_DRIVER_CAPABILITIES")
        self.assertEqual(r.returncode, 0, r.stderr)
        words = r.stdout.split()
        self.assertIn("libnvidia-ml.so.1", words)
        self.assertIn("libcuda.so.1", words)
        self.assertNotIn("libGLX_nvidia.so.0", words)
        self.assertNotIn("libnvidia-glcore.so.550.54.14", words)
        for more in (("-e", "NVIDIA_VISIBLE_DEVICES=0", "-e", "NVIDIA_DRIVER_CAPABILITIES=all"),
                     ("--annotation", "nvbind.gpus=0")):
            r = self.podman(*more, script=f"ls {lib}")
            self.assertEqual(r.returncode, 0, r.stderr)
            words = r.stdout.split()
            self.assertIn("libcuda.so.1", words, more)
            self.assertIn("libGLX_nvidia.so.0", words, more)
            self.assertIn("libnvidia-glcore.so.550.54.14", words, more)

    def test_driver_capabilities_narrow_the_driver_files(self):
        """NVIDIA_DRIVER_CAPABILITIES=utility (as nvidia-container-toolkit users set it): NVML's
        library inside, CUDA's not; an unknown capability fails the create with one line."""
        r = self.podman("-e", "NVIDIA_VISIBLE_DEVICES=0", "-e", "NVIDIA_DRIVER_CAPABILITIES=utility",
                        script="ls /dev /usr/lib/x86_64-linux-gnu")
        self.assertEqual(r.returncode, 0, r.stderr)
        words = r.stdout.split()
        self.assertIn(f"nvidia{self.minor(0)}", words)
        self.assertIn("libnvidia-ml.so.1", words)
        self.assertNotIn("libcuda.so.1", words)
        self.assertNotIn("libcuda.so.550.54.14", words)
        os.unlink(os.path.join(self.log, "back.json"))
        r = self.podman("-e", "NVIDIA_VISIBLE_DEVICES=0", "-e", "NVIDIA_DRIVER_CAPABILITIES=compute,gpgpu",
                        script="true")
        self.assertNotEqual(r.returncode, 0)
        self.assertRegex(r.stderr, r"nvbind-runtime: /\S+/config.json: NVIDIA_DRIVER_CAPABILITIES 'compute,gpgpu': "
                                   r"unknown capability 'gpgpu' \(expected compute, ")
        self.assertFalse(os.path.exists(os.path.join(self.log, "back.json")), "the real runtime never ran")

    def test_require_checked_against_the_host(self):
        """NVIDIA_REQUIRE_CUDA newer than the host's driver (550: CUDA 12.4) is refused with one
        line and no container; an older one runs; NVIDIA_DISABLE_REQUIRE turns the check off."""
        r = self.podman("-e", "NVIDIA_VISIBLE_DEVICES=0", "-e", "NVIDIA_REQUIRE_CUDA=cuda>=12.9",
                        script="echo started")
        self.assertNotEqual(r.returncode, 0)
        self.assertNotIn("started", r.stdout)
        self.assertIn("nvbind-runtime: NVIDIA_REQUIRE_CUDA 'cuda>=12.9': not met by this host "
                      "(driver 550.54.14, CUDA 12.4)", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.log, "back.json")), "the real runtime never ran")
        # A CUDA image's form: blank-separated alternatives, comma-separated ANDs.
        r = self.podman("-e", "NVIDIA_VISIBLE_DEVICES=0", "-e",
                        "NVIDIA_REQUIRE_CUDA=cuda>=13.0 driver>=535,driver<551", "-e", "NVIDIA_REQUIRE_DRV=driver>=550",
                        script="ls /dev")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"nvidia{self.minor(0)}", r.stdout.split())
        r = self.podman("-e", "NVIDIA_VISIBLE_DEVICES=0", "-e", "NVIDIA_REQUIRE_CUDA=cuda>=12.9",
                        "-e", "NVIDIA_DISABLE_REQUIRE=true", script="ls /dev")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"nvidia{self.minor(0)}", r.stdout.split())
        # Without a GPU request the image's variables are no business of nvbind's.
        r = self.podman("-e", "NVIDIA_REQUIRE_CUDA=cuda>=99", "-e", "NVIDIA_DRIVER_CAPABILITIES=bogus",
                        script="echo started")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("started", r.stdout)


@unittest.skipUnless(shutil.which("crun"), "crun is not installed")
class ShimWithPodmanOverCrun(ShimWithPodman):
    """The same with crun behind the shim, as on hosts where crun is podman's runtime."""

    def runtime(self):
        folder = crun_wrapper_dir(os.path.join(self.tmp, "crun-bin"))
        return os.path.join(folder, "crun") if folder else shutil.which("crun")

    def state_file(self, container):
        return f"/run/crun/{container}/status"


class ShimOverCrunOfAnotherName(ShimWithPodmanOverCrun):
    """crun behind a wrapper of another name, as a site's own wrapper script or a versioned
    binary is: the shim records runc's layout and crun keeps its own. The exclusive claim must
    still last as long as the container (it ended at the first look: a second exclusive
    request was granted while the first container ran)."""

    def back_name(self):
        return "site-oci-runtime"

    def recorded_state(self, container):
        return f"/run/runc/{container}/state.json"


# That class repeats only the claims test: the rest does not depend on the runtime's name.
for _name in [n for n in dir(ShimWithPodman) if n.startswith("test_") and n != "test_claims_follow_the_container"]:
    setattr(ShimOverCrunOfAnotherName, _name, None)


class ShimUnprivilegedEnvOff(ShimWithPodman):
    """[security] allow_unprivileged_env_requests = false: an unprivileged container's own
    NVIDIA_VISIBLE_DEVICES is not honoured; a privileged one's is, and annotations (allowed
    here) are."""

    security = "allow_unprivileged_env_requests = false\n"
    # Replaced below, or checked once with the default configuration.
    test_env_request_gets_gpu0_and_driver_libraries = None
    test_bad_request_fails_with_a_clear_message = None
    test_claims_follow_the_container = None
    test_driver_capabilities_narrow_the_driver_files = None
    test_env_request_without_capabilities_gets_nvidias_default = None
    test_require_checked_against_the_host = None

    def test_env_request_refused_unless_privileged(self):
        r = self.podman("-e", "NVIDIA_VISIBLE_DEVICES=0", script="ls /dev")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertFalse([n for n in r.stdout.split() if n.startswith("nvidia")])
        self.assertEqual(self.read("front.json", "rb"), self.read("back.json", "rb"))
        r = self.podman("--privileged", "-e", "NVIDIA_VISIBLE_DEVICES=0", script="ls /dev")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"nvidia{self.minor(0)}", r.stdout.split())

    def test_refused_request_is_not_even_read(self):
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
        self.state = os.path.join(self.tmp, "state")
        self.audit_log = os.path.join(self.tmp, "audit.log")
        self.env = {"NVBIND_ROOT": self.host.root, "NVBIND_CONFIG": os.path.join(self.tmp, "none.toml")}
        self.write_config("")

    def write_config(self, text):
        with open(self.env["NVBIND_CONFIG"], "w") as f:
            f.write(f'[isolation]\nstate_dir = "{self.state}"\naudit_log = "{self.audit_log}"\n'
                    f'[security]\nallow_annotation_requests = true\n{text}')

    def tearDown(self):
        self.host.remove()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_other_commands_pass_straight_through(self):
        r = run([SHIM, "--version"], env=self.env)
        self.assertEqual(r.returncode, 0, r.stderr)
        # Its own version first, then the wrapped runtime's (engines and users ask for both).
        self.assertEqual(r.stdout, "nvbind-runtime version %s\nruntime: %s\n%s" % (
            run([NVBIND, "--version"]).stdout.split()[1], RUNC, run([RUNC, "--version"]).stdout))
        r = run([SHIM, "state", "nvbind-no-such-container"], env=self.env)
        direct = run([RUNC, "state", "nvbind-no-such-container"])
        self.assertEqual(r.returncode, direct.returncode)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("container does not exist", r.stderr)

    def test_the_runtime_runs_by_the_name_configured(self):
        # A multi-call runtime chooses what it is by the name it was run as: crun linked as
        # krun runs containers in a micro-VM, and as crun without one. The shim runs the
        # configured path as given, not where its links lead.
        real = os.path.join(self.tmp, "multi-call")
        with open(real, "w") as f:
            f.write('#!/bin/sh\necho "run as $0"\n')
        os.chmod(real, 0o755)
        alias = os.path.join(self.tmp, "krun")
        os.symlink(real, alias)
        self.write_config(f'[runtime]\noci_runtime = "{alias}"\n')
        r = run([SHIM, "state", "x"], env=self.env)
        self.assertEqual((r.returncode, r.stdout), (0, f"run as {alias}\n"), r.stderr)

    def test_run_with_annotation_on_a_bundle(self):
        rootfs = make_busybox_rootfs(os.path.join(self.tmp, "rootfs"))
        bundle = os.path.join(self.tmp, "bundle")
        # A config.json from `runc spec`, pointed at our rootfs, asking for GPU 0.
        runc_bundle(bundle, rootfs, ["sh", "-c", "ls /dev; exit 6"],
                    lambda c: c.update(annotations={"nvbind.gpus": "0"}))
        r = run([SHIM, "run", "--bundle", bundle, "nvbind-shim-test-%d" % os.getpid()], env=self.env)
        self.assertEqual(r.returncode, 6, r.stderr)
        self.assertIn("nvidia%d" % self.host.manifest["gpus"][0]["minor"], r.stdout.split())
        self.assertEqual(sorted(os.listdir(bundle)), ["config.json"], "only config.json, no temporary files")
        # `run` held the GPU while the container ran; with both gone nothing is held.
        [event] = audit(self.audit_log)
        self.assertEqual((event["decision"], event["runtime"]), ("grant", "nvbind-runtime"))
        self.assertEqual(claims(self.state), [])

    def bundle(self, name, annotations, args=("sleep", "30")):
        rootfs = os.path.join(self.tmp, "rootfs")
        if not os.path.exists(rootfs):
            make_busybox_rootfs(rootfs)
        bundle = os.path.join(self.tmp, name)
        return bundle, runc_bundle(bundle, rootfs, args, lambda c: c.update(annotations=annotations))

    def shim(self, *args):
        """The shim with stdio in files: a created container's init keeps its stdio open."""
        out, err = os.path.join(self.tmp, "out"), os.path.join(self.tmp, "err")
        with open(out, "w") as o, open(err, "w") as e:
            rc = subprocess.run([SHIM, *args], env={**os.environ, **self.env}, stdout=o, stderr=e,
                                timeout=120).returncode
        with open(err) as e:
            return rc, e.read()

    def test_create_claims_and_delete_gives_back(self):
        root = os.path.join(self.tmp, "runc-root")
        self.write_config('[bolt.capsule]\nisolation_level = "exclusive"\n')
        ann = {"nvbind.gpus": "0", "nvbind.isolation": "exclusive", "nvbind.profile": "aiml"}
        bundle, _ = self.bundle("b1", ann)
        ctr = "nvbind-shim-claim-%d" % os.getpid()
        rc, err = self.shim("--root", root, "create", "--bundle", bundle, ctr)
        try:
            self.assertEqual(rc, 0, err)
            # The shim is gone; the created container (its init, through runc's state file
            # under --root) holds the GPU.
            [held] = claims(self.state)
            self.assertEqual((held["container"], held["mode"]), (ctr, "exclusive"))
            self.assertEqual(held["oci_state"], os.path.join(root, ctr, "state.json"))
            # A second capsule asking for the GPU is refused and its config.json is untouched.
            other, path = self.bundle("b2", {"nvbind.gpus": "0", "nvbind.isolation": "shared"})
            with open(path, "rb") as f:
                before = f.read()
            rc2, err2 = self.shim("--root", root, "create", "--bundle", other, ctr + "-2")
            self.assertEqual(rc2, 8, err2)
            uuid = self.host.manifest["gpus"][0]["uuid"]
            self.assertEqual(err2, f"nvbind-runtime: GPU 0 ({uuid}) is held exclusively by container {ctr} "
                                   f"since {held['since']}\n")
            with open(path, "rb") as f:
                self.assertEqual(f.read(), before, "a refused create leaves config.json untouched")
            self.assertEqual(sorted(os.listdir(other)), ["config.json"])
            self.assertNotEqual(run([RUNC, "--root", root, "state", ctr + "-2"]).returncode, 0)
        finally:
            rc3, err3 = self.shim("--root", root, "delete", "--force", ctr)
        self.assertEqual(rc3, 0, err3)
        self.assertEqual(claims(self.state), [], "delete gave the GPU back")
        events = audit(self.audit_log)
        self.assertEqual([(e["container"], e["decision"], e["isolation"], e["profile"]) for e in events],
                         [(ctr, "grant", "exclusive", "aiml"), (ctr + "-2", "deny", "shared", None)])

    def test_exec_failure_gives_the_claim_back(self):
        bad = os.path.join(self.tmp, "bad-runtime")
        with open(bad, "w") as f:
            f.write("not a program\n")
        os.chmod(bad, 0o755)
        self.write_config(f'[runtime]\noci_runtime = "{bad}"\n[bolt.capsule]\nisolation_level = "exclusive"\n')
        bundle, _ = self.bundle("b3", {"nvbind.gpus": "0", "nvbind.isolation": "exclusive"})
        rc, err = self.shim("create", "--bundle", bundle, "nvbind-shim-noexec")
        self.assertEqual(rc, 7, err)
        self.assertIn(f"nvbind-runtime: cannot run {bad}", err)
        self.assertEqual(claims(self.state), [], "a container that never started holds nothing")

    def test_bad_isolation_annotation(self):
        bundle, path = self.bundle("b4", {"nvbind.gpus": "0", "nvbind.isolation": "solo"})
        with open(path, "rb") as f:
            before = f.read()
        rc, err = self.shim("create", "--bundle", bundle, "nvbind-shim-bad")
        self.assertEqual(rc, 9, err)
        self.assertIn("annotations.nvbind.isolation: unknown isolation 'solo' (expected shared, exclusive or virtual)",
                      err)
        with open(path, "rb") as f:
            self.assertEqual(f.read(), before)
        self.assertEqual(audit(self.audit_log), [])

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
