"""`nvbind run --runtime docker` against a real dockerd (the suite's 20.10 fixture, daemons.py),
on a fake host, with Debian's own docker client (20.10) and with a newer client when one is
installed. Clients before 25 do not know the {{.CDISpecDirs}} template: nvbind must probe the
versions in a form every client understands and, with a daemon before 25, use the legacy
--device/--volume form. Checked from inside the container: exactly the asked GPU's node, the
control nodes, and the driver's libraries at their sonames."""
import json
import os
import signal
import subprocess
import time
import unittest

import daemons
from nvbtest import NVBIND, FakeHost, FakeHostCase, make_busybox_rootfs, run, temp_dir

NEWER_CLIENT = "/usr/local/bin/docker"
LIBDIR = "/usr/lib/x86_64-linux-gnu"


class DockerRunLegacy(FakeHostCase):
    gpus = 2
    host_options = {"shuffle_minors": True}

    @classmethod
    def setUpClass(cls):
        cls.d = daemons.docker_daemon()  # skips where dockerd/containerd are missing
        super().setUpClass()
        cls.tmp = temp_dir("nvbind-docker-run-", cls.addClassCleanup)
        cls.image = daemons.docker_import(cls.d, make_busybox_rootfs(os.path.join(cls.tmp, "rootfs")),
                                          tag="nvbind-docker-run:latest")

    def client_path(self, client):
        """A PATH whose `docker` is the given client binary."""
        folder = os.path.join(self.tmp, "bin-" + client.replace("/", "_"))
        os.makedirs(folder, exist_ok=True)
        link = os.path.join(folder, "docker")
        if not os.path.lexists(link):
            os.symlink(client, link)
        return folder + ":" + os.environ.get("PATH", "/usr/bin:/bin")

    def nvbind_run(self, client, gpu, *cmd):
        env = {"DOCKER_HOST": self.d.host, "PATH": self.client_path(client)}
        return run([NVBIND, *self.host.args, "run", "--runtime", "docker", "--gpu", gpu, self.image, *cmd],
                   env=env, timeout=180)

    def minor(self, i):
        return self.host.manifest["gpus"][i]["minor"]

    def check_gpu1_inside(self, client):
        script = (f"ls /dev; for l in libcuda.so.1 libnvidia-ml.so.1; do "
                  f"test -s {LIBDIR}/$l && echo HAVE $l; done")
        r = self.nvbind_run(client, "1", "sh", "-c", script)
        self.assertEqual(r.returncode, 0, r.stderr)
        nodes = r.stdout.split()
        self.assertIn(f"nvidia{self.minor(1)}", nodes)
        self.assertNotIn(f"nvidia{self.minor(0)}", nodes)
        self.assertIn("nvidiactl", nodes)
        self.assertIn("HAVE libcuda.so.1", r.stdout)
        self.assertIn("HAVE libnvidia-ml.so.1", r.stdout)
        # Why the legacy form: the daemon's version, in one line.
        self.assertIn("docker 20 predates CDI support (25)", r.stderr)

    def test_debian_client_legacy_form_sees_exactly_the_asked_gpu(self):
        """Debian's 20.10 client: the version probe must not use templates it lacks
        ({{.CDISpecDirs}} made it fail with exit 7 before any container ran)."""
        if not os.path.exists("/usr/bin/docker"):
            self.skipTest("Debian's docker client (/usr/bin/docker) is not installed")
        self.check_gpu1_inside("/usr/bin/docker")

    def test_newer_client_against_the_20_10_daemon(self):
        """A newer client (25+) against a 20.10 daemon: the server's version decides."""
        if not os.path.exists(NEWER_CLIENT):
            self.skipTest(f"no newer docker client at {NEWER_CLIENT}")
        self.check_gpu1_inside(NEWER_CLIENT)


def children(pid):
    """The direct children of pid."""
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return out


class DockerRunClaims(FakeHostCase):
    """An exclusive claim of `nvbind run --runtime docker` lives exactly as long as the
    container, not as long as the docker client."""
    gpus = 2

    @classmethod
    def setUpClass(cls):
        cls.d = daemons.docker_daemon()
        super().setUpClass()
        cls.tmp = temp_dir("nvbind-docker-claims-", cls.addClassCleanup)
        cls.state = os.path.join(cls.tmp, "state")
        cls.config = os.path.join(cls.tmp, "nvbind.toml")
        with open(cls.config, "w") as f:
            f.write(f'[isolation]\nstate_dir = "{cls.state}"\naudit_log = "{os.path.join(cls.tmp, "audit.log")}"\n')
        cls.image = daemons.docker_import(cls.d, make_busybox_rootfs(os.path.join(cls.tmp, "rootfs")),
                                          tag="nvbind-docker-claims:latest")

    def env(self):
        return dict(os.environ, DOCKER_HOST=self.d.host, NVBIND_CONFIG=self.config)

    def args(self, *cmd):
        return [NVBIND, *self.host.args, "run", "--runtime", "docker", "--gpu", "0", "--isolation", "exclusive",
                self.image, *cmd]

    def claims(self):
        r = run([NVBIND, "claims", "--json", "--state-dir", self.state])
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def test_kill_9_of_nvbind_and_client_keeps_the_claim_until_docker_rm(self):
        """Attack: kill -9 nvbind and the docker client while the container runs on under
        dockerd; before, the claim died with the client and a second exclusive run got the GPU
        the running container still uses."""
        p = subprocess.Popen(self.args("sleep", "300"), env=self.env(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        name = None
        try:
            # Until the container runs and (for at most 15 s more) the claim names an init
            # that is not the client (nvbind's child).
            deadline, settled = time.monotonic() + 60, None
            while time.monotonic() < deadline and (settled is None or time.monotonic() < settled):
                for h in self.claims():
                    name = h["container"]
                    running = self.d.docker("inspect", "--format", "{{.State.Running}}", name).stdout.strip()
                    if running == "true":
                        settled = settled or time.monotonic() + 15
                        if h["init_pid"] and h["init_pid"] not in children(p.pid):
                            settled = time.monotonic()
                time.sleep(0.2)
            self.assertIsNotNone(settled, "the container never ran")
            for c in children(p.pid):
                os.kill(c, signal.SIGKILL)
            p.kill()
            p.wait(30)
            r = run(self.args("true"), env=self.env(), timeout=120)
            self.assertEqual(r.returncode, 8, r.stderr)
            self.assertIn("held exclusively by container " + name, r.stderr)
            self.d.docker("rm", "-f", name, check=True)
            r = run(self.args("true"), env=self.env(), timeout=120)
            self.assertEqual(r.returncode, 0, r.stderr)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.stdout.close()
            p.stderr.close()
            if name:
                self.d.docker("rm", "-f", name)

    def test_client_gone_while_nvbind_lives_keeps_the_claim(self):
        """Attack: the client leaves (kill -9 here; three Ctrl-C do the same) while the container
        runs on; nvbind, seeing its engine end, must not give the GPU back."""
        p = subprocess.Popen(self.args("sleep", "300"), env=self.env(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        name = None
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and name is None:
                for h in self.claims():
                    r = self.d.docker("inspect", "--format", "{{.State.Running}}", h["container"])
                    if r.stdout.strip() == "true":
                        name = h["container"]
                time.sleep(0.2)
            self.assertIsNotNone(name, "the container never ran")
            for c in children(p.pid):
                os.kill(c, signal.SIGKILL)
            _, err = p.communicate(timeout=60)
            self.assertIn("still runs", err)
            r = run(self.args("true"), env=self.env(), timeout=120)
            self.assertEqual(r.returncode, 8, r.stderr)
            self.d.docker("stop", "-t", "0", name, check=True)
            r = run(self.args("true"), env=self.env(), timeout=120)
            self.assertEqual(r.returncode, 0, r.stderr)
        finally:
            if p.poll() is None:
                p.kill()
                p.communicate()
            if name:
                self.d.docker("rm", "-f", name)


# What dockerd runs as nvbind-runtime: the shim, on the fake host, with the test's configuration.
# Named nvbind-runtime, as docker info's Runtimes must show it for nvbind run to use it.
SHIM_WRAPPER = """#!/bin/sh
export NVBIND_ROOT={root} NVBIND_CONFIG={config}
exec {shim} "$@"
"""


class DockerRunThroughShim(FakeHostCase):
    """With nvbind-runtime registered in the daemon (`nvbind runtime configure --runtime
    docker`), `nvbind run --runtime docker` starts the container through it: the shim claims
    at every create, so `docker start` of a stopped container takes its GPU again."""
    gpus = 2
    host_options = {"shuffle_minors": True}

    @classmethod
    def setUpClass(cls):
        daemons.docker_daemon()  # skips where dockerd/containerd are missing
        super().setUpClass()
        cls.tmp = temp_dir("nvbind-docker-via-shim-", cls.addClassCleanup)
        cls.state = os.path.join(cls.tmp, "state")
        common = (f'[isolation]\nstate_dir = "{cls.state}"\naudit_log = "{os.path.join(cls.tmp, "audit.log")}"\n'
                  '[bolt.capsule]\nisolation_level = "exclusive"\n')
        # Kept after it stops (--rm=false undoes nvbind's --rm), so that it can be started
        # again; detached; the plain form for the second requests.
        cls.kept = cls.config("kept.toml", ["--rm=false", "--network", "none"], common)
        cls.detached = cls.config("detached.toml", ["-d", "--network", "none"], common)
        cls.attached = cls.config("attached.toml", ["--network", "none"], common)
        bindir = os.path.join(cls.tmp, "bin")
        os.makedirs(bindir)
        wrapper = os.path.join(bindir, "nvbind-runtime")
        with open(wrapper, "w") as f:
            f.write(SHIM_WRAPPER.format(root=cls.host.root, config=cls.attached,
                                        shim=os.path.join(os.path.dirname(NVBIND), "nvbind-runtime")))
        os.chmod(wrapper, 0o755)
        conf = os.path.join(cls.tmp, "daemon.json")
        with open(conf, "w") as f:
            f.write("{}\n")
        run([NVBIND, "runtime", "configure", "--runtime", "docker", "--config", conf, "--runtime-path", wrapper],
            check=True)
        cls.d = daemons.extra_dockerd("dockerd-run-via-shim", conf)
        cls.image = daemons.docker_import(cls.d, make_busybox_rootfs(os.path.join(cls.tmp, "rootfs")),
                                          tag="nvbind-run-via-shim:latest")

    @classmethod
    def config(cls, name, extra_args, common):
        path = os.path.join(cls.tmp, name)
        with open(path, "w") as f:
            f.write(f"[runtime]\nextra_args = {json.dumps(extra_args)}\n" + common)
        return path

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def argv(self, *cmd):
        return [NVBIND, *self.host.args, "run", "--runtime", "docker", "--gpu", "0", "--isolation", "exclusive",
                self.image, *cmd]

    def env(self, config):
        return {"DOCKER_HOST": self.d.host, "NVBIND_CONFIG": config}

    def nvbind_run(self, config, *cmd):
        return run(self.argv(*cmd), env=self.env(config), timeout=180)

    def claims(self):
        r = run([NVBIND, "claims", "--json", "--state-dir", self.state])
        self.assertEqual(r.returncode, 0, r.stderr)
        return [(c["container"], c["mode"], c["device"]) for c in json.loads(r.stdout)]

    def assert_refused_for(self, cid):
        """A second exclusive request for GPU 0: nvbind's one-line refusal, exit status 8."""
        r = self.nvbind_run(self.attached, "true")
        self.assertEqual(r.returncode, 8, r.stderr)
        uuid = self.host.manifest["gpus"][0]["uuid"]
        self.assertIn(f"GPU 0 ({uuid}) is held exclusively by container {cid}", r.stderr)
        self.assertEqual(r.stderr.count("held exclusively"), 1, r.stderr)

    def gpu0_inside(self, cid):
        inside = self.d.docker("exec", cid, "ls", "/dev", check=True).stdout.split()
        return f"nvidia{self.host.manifest['gpus'][0]['minor']}" in inside

    def wait_running(self, p):
        """The container nvbind run p started (its name has p's pid), once it runs."""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and p.poll() is None:
            r = self.d.docker("ps", "-q", "--no-trunc", "--filter", f"name=nvbind-{p.pid}-")
            if r.stdout.strip():
                return r.stdout.split()[0]
            time.sleep(0.2)
        self.fail("the container never ran: " + (p.communicate()[1] if p.poll() is not None else "timeout"))

    def test_docker_start_takes_the_claim_again(self):
        """Attack: stop the GPU's container, then `docker start` it (docker's own restart runs
        nothing of nvbind run): before, the started container used the GPU unclaimed and a
        second exclusive run was granted the same GPU."""
        p = subprocess.Popen(self.argv("sleep", "300"), env=dict(os.environ, **self.env(self.kept)),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        cid = self.wait_running(p)
        self.addCleanup(self.d.docker, "rm", "-f", cid)
        self.assertTrue(self.gpu0_inside(cid))
        [(holder, mode, device)] = self.claims()
        self.assertEqual((mode, device), ("exclusive", "0"))
        self.assert_refused_for(holder)

        self.d.docker("stop", "-t", "0", cid, check=True)
        p.communicate(timeout=120)
        self.assertEqual(self.claims(), [])
        r = self.nvbind_run(self.attached, "true")
        self.assertEqual(r.returncode, 0, r.stderr)

        self.d.docker("start", cid, check=True)
        self.assertEqual(self.claims(), [(cid, "exclusive", "0")])
        self.assertTrue(self.gpu0_inside(cid))
        self.assert_refused_for(cid)

        self.d.docker("rm", "-f", cid, check=True)
        self.assertEqual(self.claims(), [])
        r = self.nvbind_run(self.attached, "true")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_detached_run_is_claimed_until_docker_rm(self):
        """-d is no longer refused when the shim claims: the claim is the container's."""
        r = self.nvbind_run(self.detached, "sleep", "300")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("docker start", r.stderr)  # no warning: the claims follow the container
        cid = r.stdout.strip().splitlines()[-1]
        self.addCleanup(self.d.docker, "rm", "-f", cid)
        self.assertTrue(self.gpu0_inside(cid))
        self.assertEqual(self.claims(), [(cid, "exclusive", "0")])
        self.assert_refused_for(cid)
        self.d.docker("rm", "-f", cid, check=True)
        self.assertEqual(self.claims(), [])


class DockerRunWithoutShim(FakeHostCase):
    """Without nvbind-runtime in the daemon the claim is nvbind run's own: one line says that
    a later `docker start` will not take it again, and detaching stays refused."""

    @classmethod
    def setUpClass(cls):
        cls.d = daemons.docker_daemon()
        super().setUpClass()
        cls.tmp = temp_dir("nvbind-docker-noshim-", cls.addClassCleanup)
        cls.image = daemons.docker_import(cls.d, make_busybox_rootfs(os.path.join(cls.tmp, "rootfs")),
                                          tag="nvbind-docker-noshim:latest")

    def nvbind_run(self, extra_args):
        config = os.path.join(self.tmp, "nvbind.toml")
        with open(config, "w") as f:
            f.write(f'[runtime]\nextra_args = {json.dumps(extra_args)}\n'
                    f'[isolation]\nstate_dir = "{self.tmp}/state"\naudit_log = "{self.tmp}/audit.log"\n')
        return run([NVBIND, *self.host.args, "run", "--runtime", "docker", "--gpu", "0", self.image, "true"],
                   env={"DOCKER_HOST": self.d.host, "NVBIND_CONFIG": config}, timeout=180)

    def test_says_once_that_docker_start_will_not_claim(self):
        r = self.nvbind_run(["--network", "none"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr.count("a later `docker start` will not take them again"), 1, r.stderr)
        self.assertIn("nvbind runtime configure --runtime docker", r.stderr)

    def test_detaching_is_refused(self):
        r = self.nvbind_run(["--network", "none", "-d"])
        self.assertEqual(r.returncode, 5, r.stderr)
        self.assertIn('"-d" detaches the container', r.stderr)
        self.assertIn("nvbind runtime configure --runtime docker", r.stderr)


class DoctorDockerVersion(unittest.TestCase):
    def test_doctor_reports_the_daemons_version_not_the_clients(self):
        """With a 28 client talking to the fixture's 20.10 daemon, doctor must say 20.10 (what
        decides CDI support), not the client's version."""
        d = daemons.docker_daemon()
        if not os.path.exists(NEWER_CLIENT):
            self.skipTest(f"no newer docker client at {NEWER_CLIENT}")
        server = d.docker("version", "--format", "{{.Server.Version}}", check=True).stdout.strip()
        client = run([NEWER_CLIENT, "version", "--format", "{{.Client.Version}}"]).stdout.strip()
        self.assertNotEqual(server.split(".")[0], client.split(".")[0], "need two different majors")
        tmp = temp_dir("nvbind-doctor-docker-", self.addCleanup)
        os.symlink(NEWER_CLIENT, os.path.join(tmp, "docker"))
        with FakeHost(gpus=1) as host:
            r = run([NVBIND, *host.args, "doctor", "--json"],
                    env={"DOCKER_HOST": d.host, "PATH": tmp + ":" + os.environ.get("PATH", "")})
        doc = json.loads(r.stdout)
        docker = [e for e in doc["engines"] if e["name"] == "docker"][0]
        self.assertEqual(docker["version"], f"Docker daemon {server} (client {client})")

    def test_doctor_says_when_the_daemon_does_not_answer(self):
        tmp = temp_dir("nvbind-doctor-docker-", self.addCleanup)
        if not daemons.DOCKER_CLI:
            self.skipTest("no docker client")
        with FakeHost(gpus=1) as host:
            r = run([NVBIND, *host.args, "doctor", "--json"],
                    env={"DOCKER_HOST": "unix://" + os.path.join(tmp, "none.sock")})
        docker = [e for e in json.loads(r.stdout)["engines"] if e["name"] == "docker"][0]
        self.assertTrue(docker["version"].endswith("; daemon not reachable"), docker["version"])


if __name__ == "__main__":
    unittest.main()
