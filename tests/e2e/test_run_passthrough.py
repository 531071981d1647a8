"""nvbind run passes the engine's own options through (nvbind's options first, any other before
IMAGE to the engine with its value): checked from inside real containers of podman, runc
(translated into the bundle's config.json) and docker (the suite's dockerd); options that would
undo the GPUs' isolation are refused unless [security] allow_run_options names them."""
import json
import os
import shlex
import shutil
import tempfile
import unittest

import daemons
from nvbtest import NVBIND, FakeHost, ensure_test_image, make_busybox_rootfs, run
from test_run import HAVE_PODMAN, HAVE_RUNC, RunBase, spec_files


def in_pty(argv, timeout=180):
    """Run argv with a pseudo-terminal as its stdin/stdout (util-linux script), as from a shell."""
    return run(["script", "-qec", shlex.join(argv), "/dev/null"], timeout=timeout)


class PassThroughBase(RunBase):
    def data_dir(self, name="data", marker="hello from the host"):
        path = os.path.join(self.tmp, name)
        os.makedirs(path, exist_ok=True)
        os.chmod(path, 0o777)
        with open(os.path.join(path, "marker"), "w") as f:
            f.write(marker + "\n")
        return path

    def lines(self, r):
        return [line.strip() for line in r.stdout.splitlines()]


@unittest.skipUnless(HAVE_PODMAN, "podman is not installed")
class PodmanPassThrough(PassThroughBase):
    def test_env_volume_user_workdir_shm_name_seen_inside(self):
        image = ensure_test_image()
        data = self.data_dir()
        name = f"nvbind-pt-{os.getpid()}"
        script = ("echo A=$A; cat /data/marker; echo UID=$(id -u) GID=$(id -g); echo CWD=$(pwd); "
                  "df -k /dev/shm | tail -1; ls /dev; touch /data/x 2>/dev/null || echo READONLY")
        r = self.nvbind_run("--runtime", "podman", "--gpu", "0", "-e", "A=b c", "-v", f"{data}:/data:ro",
                            "-u", "1234:5678", "-w", "/data", "--shm-size", "96m", "--name", name, "--rm",
                            image, "sh", "-c", script)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = self.lines(r)
        self.assertIn("A=b c", out)
        self.assertIn("hello from the host", out)
        self.assertIn("UID=1234 GID=5678", out)
        self.assertIn("CWD=/data", out)
        self.assertIn("READONLY", out)
        shm = [line for line in out if line.endswith("/dev/shm")]
        self.assertEqual(shm and shm[0].split()[1], "98304", out)  # 96 MiB in KiB
        self.assertIn(f"nvidia{self.minor(0)}", r.stdout.split())
        self.assertNotIn(f"nvidia{self.minor(1)}", r.stdout.split())
        # The user's --name is the container's: the audit log records the grant under it.
        self.assertIn(name, [e.get("container") for e in self.audit()])

    def test_bundled_short_options_and_tty(self):
        """`-itv` as users type it: the container's stdin and stdout are a terminal. The container
        writes what it finds to the bound folder: podman 4.3 sometimes drops the last output of a
        short-lived `-t` container (about one run in 60 here, also without nvbind), so its
        terminal's stream does not carry the answer."""
        image = ensure_test_image()
        out = self.data_dir("out")
        argv = [NVBIND, *self.host.args, "--config", self.config, "run", "--runtime", "podman", "--gpu", "0",
                f"-itv{out}:/out", image, "sh", "-c", "tty > /out/seen; test -t 0 && echo STDIN_TTY >> /out/seen"]
        r = in_pty(argv)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        with open(os.path.join(out, "seen")) as f:
            seen = f.read()
        self.assertIn("/dev/pts/", seen)
        self.assertIn("STDIN_TTY", seen)
        # Without -t the same command finds no terminal.
        r = self.nvbind_run("--runtime", "podman", "--gpu", "0", image, "sh", "-c", "tty || true")
        self.assertIn("not a tty", r.stdout)

    def test_attack_options_that_undo_gpu_isolation_are_refused(self):
        """Attack: `--privileged`, `--device /dev/nvidia1`, `-v /dev:/dev`, `--cap-add`, docker's
        `--gpus`, `--security-opt seccomp=unconfined`, an nvbind annotation or `-d` would give the
        container GPUs it was not granted (or keep them without a claim). Each is refused before
        anything is written or started."""
        image = ensure_test_image()
        for opts, named in [(["--privileged"], "--privileged"), (["--device", "/dev/nvidia1"], "--device"),
                            (["--device=nvidia.com/gpu=all"], "--device"), (["-v", "/dev:/dev"], "--volume"),
                            (["-itv" + os.path.dirname(self.state) + ":/x"], "--volume"),
                            (["--mount", "type=bind,source=/dev/dri,target=/x"], "--mount"),
                            (["--cap-add", "SYS_ADMIN"], "--cap-add"), (["--gpus", "all"], "--gpus"),
                            (["--security-opt", "seccomp=unconfined"], "--security-opt"),
                            (["--annotation", "nvbind.gpus=all"], "--annotation"), (["-itd"], "--detach"),
                            (["--device-cgroup-rule", "c 195:* rwm"], "--device-cgroup-rule")]:
            with self.subTest(opts=opts):
                r = self.nvbind_run("--runtime", "podman", "--gpu", "0", *opts, image, "true")
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertTrue(r.stderr.startswith(f"nvbind run: {named}"), r.stderr)
                self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
                self.assertEqual(spec_files(), [])
                self.assertEqual(self.claims(), [])

    def test_usage_errors_name_the_argument(self):
        image = ensure_test_image()
        for args, msg in [(["-itZ", image], "unknown option '-Z'"),
                          (["--frob", image], "unknown option '--frob' (see nvbind run --help; an engine option"),
                          (["-v"], "-v needs a value"), (["--json=1", image], "--json takes no value")]:
            r = self.nvbind_run("--runtime", "podman", *args)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn(msg, r.stderr)


@unittest.skipUnless(HAVE_PODMAN, "podman is not installed")
class PodmanAllowedBySecurity(PassThroughBase):
    config_text = '[security]\nallow_run_options = ["--cap-add"]\n'

    def test_cap_add_passes_when_allowed(self):
        """[security] allow_run_options = ["--cap-add"]: the capability is in the container."""
        image = ensure_test_image()
        r = self.nvbind_run("--runtime", "podman", "--gpu", "0", "--cap-add", "NET_RAW", image, "sh", "-c",
                            "grep CapEff /proc/self/status")
        self.assertEqual(r.returncode, 0, r.stderr)
        cap_eff = int(r.stdout.split()[1], 16)
        self.assertTrue(cap_eff & (1 << 13), r.stdout)  # CAP_NET_RAW
        r = self.nvbind_run("--runtime", "podman", "--gpu", "0", "--privileged", image, "true")
        self.assertEqual(r.returncode, 2, "only the options named are allowed")


@unittest.skipUnless(HAVE_RUNC, "runc is not installed")
class RuncPassThrough(PassThroughBase):
    def test_env_volumes_user_workdir_hostname_entrypoint_in_the_bundle(self):
        rootfs = self.rootfs()
        ro, rw = self.data_dir("ro"), self.data_dir("rw")
        script = ("echo A=$A; cat /ro/marker; echo UID=$(id -u) GID=$(id -g); echo CWD=$(pwd); "
                  "echo HOST=$(cat /proc/sys/kernel/hostname); touch /ro/x 2>/dev/null || echo READONLY; "
                  "echo made > /rw/made; ls /dev")
        r = self.nvbind_run("--runtime", "runc", "--gpu", "1", "-e", "A=b", "-v", f"{ro}:/ro:ro", "-v", f"{rw}:/rw",
                            "-u", "1234:5678", "-w", "/rw", "--hostname", "box", "--rm", "-i",
                            "--entrypoint", "/bin/sh", "--rootfs", rootfs, "--", "-c", script)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = self.lines(r)
        for want in ("A=b", "hello from the host", "UID=1234 GID=5678", "CWD=/rw", "HOST=box", "READONLY"):
            self.assertIn(want, out)
        st = os.stat(os.path.join(rw, "made"))
        self.assertEqual((st.st_uid, st.st_gid), (1234, 5678))
        self.assertIn(f"nvidia{self.minor(1)}", r.stdout.split())
        self.assertNotIn(f"nvidia{self.minor(0)}", r.stdout.split())
        self.assertNothingLeft()

    def test_tty(self):
        argv = [NVBIND, *self.host.args, "--config", self.config, "run", "--runtime", "runc", "--gpu", "0", "-t",
                "--rootfs", self.rootfs(), "sh", "-c", "tty"]
        r = in_pty(argv, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("/dev/pts/", r.stdout)

    def test_options_without_meaning_for_runc_are_refused(self):
        r = self.nvbind_run("--runtime", "runc", "-p", "8080:80", "--rootfs", self.rootfs(), "true")
        self.assertEqual((r.returncode, r.stderr.split(":")[1].strip()), (2, "--publish"), r.stderr)
        r = self.nvbind_run("--runtime", "runc", "-u", "games", "--rootfs", self.rootfs(), "true")
        self.assertIn("numeric UID[:GID]", r.stderr)
        self.assertNothingLeft()


class DockerPassThrough(unittest.TestCase):
    def test_dry_run_argv(self):
        with FakeHost() as host:
            r = run([NVBIND, *host.args, "run", "--runtime", "docker", "--dry-run", "--json", "--gpu", "0", "-it",
                     "-v", "/srv:/srv:ro", "--name", "web", "-u", "1000", "-w", "/srv", "-p", "8080:80",
                     "--ipc=host", "--entrypoint", "sh", "img", "-c", "true"])
            self.assertEqual(r.returncode, 0, r.stderr)
            for argv in json.loads(r.stdout)["commands"]:
                at = argv.index("--")
                self.assertEqual(argv[at + 1:], ["img", "-c", "true"])
                before = argv[:at]
                want = ["--interactive", "--tty", "--volume=/srv:/srv:ro", "--name=web", "--user=1000",
                        "--workdir=/srv", "--publish=8080:80", "--ipc=host", "--entrypoint=sh"]
                self.assertEqual([a for a in before if a in want], want)

    def test_real_run_with_the_suites_dockerd(self):
        d = daemons.docker_daemon()  # skips where dockerd/containerd are missing
        tmp = tempfile.mkdtemp(prefix="nvbind-docker-pt-")
        try:
            image = daemons.docker_import(d, make_busybox_rootfs(os.path.join(tmp, "rootfs")),
                                          tag="nvbind-docker-pt:latest")
            data = os.path.join(tmp, "data")
            os.makedirs(data)
            with open(os.path.join(data, "marker"), "w") as f:
                f.write("hello docker\n")
            with FakeHost() as host:
                r = run([NVBIND, *host.args, "run", "--runtime", "docker", "--gpu", "0", "-e", "A=b", "-v",
                         f"{data}:/data:ro", "-u", "1234", "-w", "/data", image, "sh", "-c",
                         "echo A=$A; cat marker; echo UID=$(id -u); echo CWD=$(pwd)"],
                        env={"DOCKER_HOST": d.host}, timeout=180)
            self.assertEqual(r.returncode, 0, r.stderr)
            out = r.stdout.split("\n")
            for want in ("A=b", "hello docker", "UID=1234", "CWD=/data"):
                self.assertIn(want, out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
