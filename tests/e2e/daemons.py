"""containerd and dockerd as the test suite's own processes.

Each daemon gets its own state under one temporary folder: containerd its own config.toml,
root, state and gRPC socket; dockerd its own --data-root, --exec-root, --pidfile, -H unix
socket and --config-file (so the machine's /etc/docker/daemon.json and /run/docker.sock are
never read or touched), and no networking of its own (--iptables=false --bridge=none
--ip-masq=false; containers run with --network none). The pair starts once per Python
process, on first use, and exactly those pids are stopped at exit.

    from daemons import docker_daemon, docker_import
    d = docker_daemon()                # skips the test when dockerd/containerd are missing
    image = docker_import(d, rootfs)   # a docker image made from a local root folder
    d.docker("run", "--rm", "--network", "none", image, "true")

A test that needs a dockerd with its own daemon.json (nvbind runtime configure) starts
one with `Dockerd(containerd, config_file=...)` against the shared containerd.
"""
import atexit
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

READY_SECONDS = 60
STOP_SECONDS = 20
# The client Debian ships with dockerd speaks its API version; another docker on PATH may be newer.
DOCKER_CLI = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else shutil.which("docker")


def _wait(what, ready, proc, log, seconds=READY_SECONDS):
    """Poll ready() until it is true; fail with the daemon's log tail if it exits or times out."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited {proc.returncode} while starting:\n{_tail(log)}")
        if ready():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} not ready after {seconds}s:\n{_tail(log)}")


def _tail(path, n=3000):
    try:
        with open(path, errors="replace") as f:
            return f.read()[-n:]
    except OSError:
        return "(no log)"


def _stop(proc, seconds=STOP_SECONDS):
    """SIGTERM this one process (by its pid), then SIGKILL it if it does not exit in time."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Containerd:
    """containerd with its own config, root, state and socket under folder."""

    def __init__(self, folder):
        self.folder = folder
        os.makedirs(folder, exist_ok=True)
        self.root = os.path.join(folder, "root")
        self.state = os.path.join(folder, "state")
        self.socket = os.path.join(folder, "containerd.sock")
        self.config = os.path.join(folder, "config.toml")
        self.log = os.path.join(folder, "containerd.log")
        with open(self.config, "w") as f:
            f.write(self.config_text())
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(["containerd", "--config", self.config], stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        _wait("containerd", self.ready, self.proc, self.log)

    def config_text(self):
        # The CRI plugin (Kubernetes) is not needed by dockerd: disabled, it opens no streaming
        # port and looks for no CNI. Every path containerd writes lies under the folder.
        q = lambda p: '"' + p + '"'  # noqa: E731  (test paths hold no quotes or backslashes)
        return "\n".join([
            "version = 2",
            f"root = {q(self.root)}",
            f"state = {q(self.state)}",
            'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
            "[grpc]",
            f"  address = {q(self.socket)}",
            "[ttrpc]",
            f"  address = {q(self.socket + '.ttrpc')}",
            "[debug]",
            '  address = ""',
            "[metrics]",
            '  address = ""',
            '[plugins."io.containerd.internal.v1.opt"]',
            f"  path = {q(os.path.join(self.folder, 'opt'))}",
            "",
        ])

    def ready(self):
        if not os.path.exists(self.socket):
            return False
        r = subprocess.run(["ctr", "--address", self.socket, "version"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=10) if shutil.which("ctr") else None
        return r is None or r.returncode == 0

    def stop(self):
        _stop(self.proc)


class Dockerd:
    """dockerd with its own data root, exec root, pidfile, socket and daemon.json, on containerd."""

    def __init__(self, containerd, folder, config_file=None, extra_args=()):
        self.folder = folder
        os.makedirs(folder, exist_ok=True)
        self.socket = os.path.join(folder, "docker.sock")
        self.host = "unix://" + self.socket
        self.log = os.path.join(folder, "dockerd.log")
        if config_file is None:
            config_file = os.path.join(folder, "daemon.json")
            with open(config_file, "w") as f:
                f.write("{}\n")
        self.config_file = config_file
        # Each dockerd keeps its containers in a containerd namespace of its own.
        namespace = "nvbind-test-" + os.path.basename(folder)
        args = ["dockerd", "--config-file", config_file, "-H", self.host,
                "--containerd", containerd.socket, "--containerd-namespace", namespace,
                "--containerd-plugins-namespace", namespace + "-plugins",
                "--data-root", os.path.join(folder, "data"), "--exec-root", os.path.join(folder, "exec"),
                "--pidfile", os.path.join(folder, "dockerd.pid"),
                "--iptables=false", "--ip6tables=false", "--bridge=none", "--ip-masq=false",
                "--userland-proxy=false", "--storage-driver", "overlay2", *extra_args]
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            _wait("dockerd", self.ready, self.proc, self.log)
        except AssertionError:
            self.stop()
            raise

    @property
    def env(self):
        """Environment for a docker client (or nvbind run --runtime docker) to reach this daemon."""
        return {"DOCKER_HOST": self.host}

    def docker(self, *args, timeout=120, check=False):
        env = dict(os.environ, DOCKER_HOST=self.host)
        r = subprocess.run([DOCKER_CLI, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} exited {r.returncode}: {r.stderr}")
        return r

    def ready(self):
        if not os.path.exists(self.socket):
            return False
        try:
            return self.docker("version", timeout=10).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def stop(self):
        _stop(self.proc)


class _Pair:
    """The suite's containerd and dockerd, and the folder they keep their state in."""

    def __init__(self):
        self.folder = tempfile.mkdtemp(prefix="nvbind-daemons-")
        self.extra = []
        self.containerd = None
        self.dockerd = None

    def start(self):
        self.containerd = Containerd(os.path.join(self.folder, "containerd"))
        self.dockerd = Dockerd(self.containerd, os.path.join(self.folder, "dockerd"))

    def stop(self):
        for d in reversed(self.extra):
            d.stop()
        if self.dockerd:
            self.dockerd.stop()
        if self.containerd:
            self.containerd.stop()
        # overlay2 may leave mounts under the data root if dockerd had to be killed.
        subprocess.run(["sh", "-c", f"grep -o ' {self.folder}/[^ ]*' /proc/self/mounts | sort -r |"
                        " xargs -r -n1 umount -l"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(self.folder, ignore_errors=True)


_PAIR = None
_FAILED = None


def missing():
    """Why the daemons cannot run here, or None."""
    for exe in ("containerd", "dockerd", "containerd-shim-runc-v2", "runc"):
        if not shutil.which(exe):
            return f"{exe} is not installed (scripts/install-deps installs docker.io and containerd)"
    if not DOCKER_CLI:
        return "the docker client is not installed"
    if os.geteuid() != 0:
        return "dockerd needs root"
    return None


def containerd_daemon():
    """The suite's containerd (started with dockerd on first use)."""
    return _pair().containerd


def docker_daemon():
    """The suite's dockerd, started on first use and stopped at exit; skips the calling test
    where the daemons are not installed, fails it where they do not start."""
    return _pair().dockerd


def _pair():
    global _PAIR, _FAILED
    why = missing()
    if why:
        raise unittest.SkipTest(why)
    if _FAILED:
        raise AssertionError(_FAILED)
    if _PAIR is None:
        pair = _Pair()
        atexit.register(pair.stop)
        try:
            pair.start()
        except AssertionError as e:
            _FAILED = f"the test daemons did not start: {e}"
            raise
        _PAIR = pair
    return _PAIR


def extra_dockerd(name, config_file):
    """Another dockerd on the suite's containerd, with its own daemon.json; stopped at exit
    (or earlier by its .stop())."""
    pair = _pair()
    d = Dockerd(pair.containerd, os.path.join(pair.folder, name), config_file=config_file)
    pair.extra.append(d)
    return d


def docker_import(daemon, rootfs, tag="nvbind-test:latest"):
    """Make a docker image of a local root folder (docker import of its tar); returns its tag."""
    tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
    env = dict(os.environ, DOCKER_HOST=daemon.host)
    r = subprocess.run([DOCKER_CLI, "import", "-", tag], stdin=tar.stdout, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=300)
    tar.stdout.close()
    tar.wait()
    if r.returncode != 0 or tar.returncode != 0:
        raise AssertionError(f"docker import of {rootfs} failed: {r.stderr}")
    return tag
