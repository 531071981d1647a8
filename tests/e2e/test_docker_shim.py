"""nvbind-runtime registered in a real dockerd's daemon.json (by `nvbind runtime configure`),
on a fake host: `docker run --runtime nvbind -e NVIDIA_VISIBLE_DEVICES=0` sees exactly GPU 0's
node and the driver's libraries in its loader cache (made by the shim, no hook), and a refusal by the shim reaches the docker user as nvbind's own one-line message with
docker's exit status 125 (containerd reads the runtime's error from its --log file, not from
its stderr)."""
import json
import os
import unittest

import daemons
from nvbtest import NVBIND, FakeHostCase, make_busybox_rootfs, run, temp_dir

SHIM = os.path.join(os.path.dirname(NVBIND), "nvbind-runtime")

# What dockerd runs as the runtime: the shim, on the fake host, with the test's configuration.
WRAPPER = """#!/bin/sh
export NVBIND_ROOT={root} NVBIND_CONFIG={config}
exec {shim} "$@"
"""


class DockerShim(FakeHostCase):
    gpus = 2
    host_options = {"shuffle_minors": True}

    @classmethod
    def setUpClass(cls):
        daemons.docker_daemon()  # skips where dockerd/containerd are missing
        super().setUpClass()
        cls.tmp = temp_dir("nvbind-docker-shim-", cls.addClassCleanup)
        cls.state = os.path.join(cls.tmp, "state")
        config = os.path.join(cls.tmp, "nvbind.toml")
        # The hooks run through a wrapper that leaves a mark when one runs.
        cls.hook_marks = os.path.join(cls.tmp, "hook-ran")
        hook = os.path.join(cls.tmp, "nvbind-hook-wrapper")
        with open(hook, "w") as f:
            f.write(f'#!/bin/sh\necho "$@" >> {cls.hook_marks}\nexec {NVBIND} "$@"\n')
        os.chmod(hook, 0o755)
        # Every GPU request is exclusive: a second container asking for GPU 0 is refused.
        with open(config, "w") as f:
            f.write(f'[cdi]\nhook_path = "{hook}"\n'
                    f'[isolation]\nstate_dir = "{cls.state}"\n'
                    f'audit_log = "{os.path.join(cls.tmp, "audit.log")}"\n'
                    '[bolt.capsule]\nisolation_level = "exclusive"\n')
        wrapper = os.path.join(cls.tmp, "nvbind-runtime-wrapper")
        with open(wrapper, "w") as f:
            f.write(WRAPPER.format(root=cls.host.root, config=config, shim=SHIM))
        os.chmod(wrapper, 0o755)
        conf = os.path.join(cls.tmp, "daemon.json")
        with open(conf, "w") as f:
            f.write("{}\n")
        r = run([NVBIND, "runtime", "configure", "--runtime", "docker", "--config", conf,
                 "--runtime-path", wrapper])
        if r.returncode != 0:
            raise AssertionError(r.stderr)
        cls.d = daemons.extra_dockerd("dockerd-shim-log", conf)
        cls.image = daemons.docker_import(cls.d, make_busybox_rootfs(os.path.join(cls.tmp, "rootfs")),
                                          tag="nvbind-shim-log:latest")

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def minor(self, i):
        return self.host.manifest["gpus"][i]["minor"]

    def docker_run(self, *args):
        return self.d.docker("run", "--runtime", "nvbind", "--network", "none",
                             "-e", "NVIDIA_VISIBLE_DEVICES=0", *args)

    def test_env_request_sees_exactly_gpu0(self):
        r = self.docker_run("--rm", self.image, "ls", "/dev")
        self.assertEqual(r.returncode, 0, r.stderr)
        nodes = r.stdout.split()
        self.assertIn(f"nvidia{self.minor(0)}", nodes)
        self.assertNotIn(f"nvidia{self.minor(1)}", nodes)
        self.assertIn("nvidiactl", nodes)

    def test_driver_libraries_without_a_hook_process(self):
        """containerd mounts the image's overlay root before it calls the shim: the shim made
        the library links and the cache there itself and left the hook out. Seen from inside,
        and no hook ran."""
        before = os.path.getsize(self.hook_marks) if os.path.exists(self.hook_marks) else 0
        r = self.docker_run("--rm", self.image, "sh", "-c",
                            "grep -q libcuda.so.1 /etc/ld.so.cache && echo CACHE-OK; "
                            "test -s /usr/lib/x86_64-linux-gnu/libcuda.so.1 && echo LINK-OK")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("CACHE-OK", r.stdout.split())
        self.assertIn("LINK-OK", r.stdout.split())
        after = os.path.getsize(self.hook_marks) if os.path.exists(self.hook_marks) else 0
        self.assertEqual(after, before, "the update-ldcache hook ran")

    def test_exclusive_refusal_reaches_the_docker_user(self):
        """A GPU held exclusively by a running container: a second `docker run` asking for it
        shows nvbind-runtime's own refusal (not "unable to retrieve OCI runtime error ... log.json:
        no such file or directory") and exits 125, docker's code for a daemon-side failure."""
        name = "nvbind-shim-log-holder-%d" % os.getpid()
        r = self.docker_run("-d", "--name", name, self.image, "sleep", "300")
        self.assertEqual(r.returncode, 0, r.stderr)
        try:
            out = run([NVBIND, "claims", "--state-dir", self.state, "--json"])
            [held] = json.loads(out.stdout)
            self.assertEqual((held["mode"], held["device"]), ("exclusive", "0"))
            r = self.docker_run("--rm", self.image, "true")
            self.assertEqual(r.returncode, 125, r.stderr)
            uuid = self.host.manifest["gpus"][0]["uuid"]
            self.assertIn(f"nvbind-runtime: GPU 0 ({uuid}) is held exclusively by container {held['container']}",
                          r.stderr)
            self.assertNotIn("unable to retrieve OCI runtime error", r.stderr)
            self.assertEqual(r.stderr.count("is held exclusively"), 1, r.stderr)
        finally:
            self.d.docker("rm", "-f", name)


if __name__ == "__main__":
    unittest.main()
