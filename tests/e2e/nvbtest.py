"""Shared helpers for nvbind's integration tests: the binary under test, fake hosts,
and running commands."""
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests", "fakehost"))
import fakehost  # noqa: E402

NVBIND = os.environ.get("NVBIND_BIN", os.path.join(REPO, "build", "src", "nvbind"))
BUILD_DIR = os.environ.get("NVBIND_BUILD_DIR", os.path.join(REPO, "build"))
FAKENVML = os.environ.get("NVBIND_FAKENVML", os.path.join(BUILD_DIR, "tests", "fakenvml", "libnvidia-ml.so.1"))
SCHEMA_DIR = os.path.join(os.path.dirname(REPO), "shared", "cdi-schema")


def run(args, input=None, env=None, timeout=120, check=False):
    """Run a command; returns CompletedProcess with text stdout/stderr."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    r = subprocess.run(args, input=input, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"{args} exited {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}")
    return r


def nvbind(*args, **kw):
    return run([NVBIND, *args], **kw)


def nvbind_json(*args, **kw):
    r = nvbind(*args, **kw)
    if r.returncode != 0:
        raise AssertionError(f"nvbind {' '.join(args)} exited {r.returncode}: {r.stderr}")
    return json.loads(r.stdout)


class FakeHost:
    """A fake host in a temporary folder, removed with the object's context."""

    def __init__(self, **options):
        self.tmp = tempfile.mkdtemp(prefix="nvbind-fakehost-")
        self.root = os.path.join(self.tmp, "host")
        self.manifest = fakehost.build(self.root, **options)
        self.args = list(self.manifest["nvbind_args"])

    def nvbind(self, *args, **kw):
        return nvbind(*self.args, *args, **kw)

    def nvbind_json(self, *args, **kw):
        return nvbind_json(*self.args, *args, **kw)

    def remove(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def temp_dir(prefix, cleanup):
    """A new temporary folder, handed to `cleanup` for removal: a test's addCleanup (removed
    after its tearDown) or a class's addClassCleanup (after its tearDownClass)."""
    path = tempfile.mkdtemp(prefix=prefix)
    cleanup(shutil.rmtree, path, True)
    return path


class FakeHostCase(unittest.TestCase):
    """Tests sharing one fake host, cls.host: FakeHost(gpus=cls.gpus, **cls.host_options),
    built before the class's first test and removed after its tearDownClass (a class
    cleanup, so also when the rest of a subclass's setUpClass fails). A subclass that does
    more in setUpClass calls super().setUpClass() where it needs the host."""
    gpus = 1
    host_options = {}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.host = FakeHost(gpus=cls.gpus, **cls.host_options)
        cls.addClassCleanup(cls.host.remove)


class SpecDirGuard:
    """Keeps the named spec files /var/run/cdi held before a test class and puts them back
    afterwards, so tests can check which spec files a run wrote without disturbing the
    host's own. remove() takes away those files only."""
    SPEC_DIR = "/var/run/cdi"

    def __init__(self, names):
        self.names = tuple(names)
        self.saved = {}

    def remove(self):
        for name in self.names:
            path = os.path.join(self.SPEC_DIR, name)
            if os.path.exists(path):
                os.unlink(path)

    def save(self):
        for name in self.names:
            path = os.path.join(self.SPEC_DIR, name)
            if os.path.exists(path):
                with open(path, "rb") as f:
                    self.saved[name] = f.read()
        self.remove()

    def restore(self):
        self.remove()
        for name, data in self.saved.items():
            with open(os.path.join(self.SPEC_DIR, name), "wb") as f:
                f.write(data)


TEST_IMAGE = "localhost/nvbind-test:latest"
BUSYBOX_APPLETS = ["sh", "ls", "cat", "echo", "test", "stat", "readlink", "env", "grep", "sleep", "touch",
                   "mkdir", "rm", "id", "true", "false", "wc", "head", "sort", "date", "printf", "find"]


def make_busybox_rootfs(path):
    """A minimal root filesystem: busybox-static and its applets, an /etc and the library
    folders GPU containers get files mounted into."""
    os.makedirs(os.path.join(path, "bin"), exist_ok=True)
    for d in ("etc", "tmp", "proc", "sys", "dev", "usr/lib/x86_64-linux-gnu", "usr/lib/i386-linux-gnu",
              "usr/lib64", "usr/bin", "root"):
        os.makedirs(os.path.join(path, d), exist_ok=True)
    busybox = shutil.which("busybox") or "/bin/busybox"
    shutil.copy(busybox, os.path.join(path, "bin", "busybox"))
    for applet in BUSYBOX_APPLETS:
        link = os.path.join(path, "bin", applet)
        if not os.path.lexists(link):
            os.symlink("busybox", link)
    with open(os.path.join(path, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\n")
    return path


def runc_bundle(bundle, rootfs, args, edit=None):
    """A bundle from `runc spec` (made here) running args on rootfs without a terminal;
    edit(config) changes the document before it is written. Returns config.json's path."""
    os.makedirs(bundle)
    run(["runc", "spec", "--bundle", bundle], check=True)
    path = os.path.join(bundle, "config.json")
    with open(path) as f:
        config = json.load(f)
    config["root"] = {"path": rootfs, "readonly": False}
    config["process"]["terminal"] = False
    config["process"]["args"] = list(args)
    if edit:
        edit(config)
    with open(path, "w") as f:
        json.dump(config, f)
    return path


def ensure_test_image():
    """Import the busybox rootfs as a podman image once (no network needed)."""
    if run(["podman", "image", "exists", TEST_IMAGE]).returncode == 0:
        return TEST_IMAGE
    tmp = tempfile.mkdtemp(prefix="nvbind-image-")
    try:
        make_busybox_rootfs(tmp)
        tar = subprocess.Popen(["tar", "-C", tmp, "-c", "."], stdout=subprocess.PIPE)
        r = subprocess.run(["podman", "import", "-", TEST_IMAGE], stdin=tar.stdout, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
        tar.wait()
        if r.returncode != 0:
            raise AssertionError(f"podman import failed: {r.stderr}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return TEST_IMAGE


def podman_run(options, command, timeout=120):
    """podman run --rm OPTIONS <test image> sh -c COMMAND"""
    return run(["podman", "run", "--rm", *options, ensure_test_image(), "sh", "-c", command], timeout=timeout)


def stop_process(p, timeout=30):
    """End a child started with pipes, if it still runs: SIGTERM (which nvbind forwards to
    its container), SIGKILL after `timeout` seconds; then close its output pipes."""
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    for f in (p.stdout, p.stderr):
        if f:
            f.close()


def proc_stat(pid):
    """The fields of /proc/<pid>/stat after the command name (which may hold spaces and ')'):
    [0] is the state letter, [19] the start time in clock ticks since boot."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def proc_cmdline(pid):
    """The command line of pid, its arguments joined by spaces; OSError once it is gone."""
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().replace(b"\0", b" ").decode(errors="replace").strip()


def runc_containers(under=None, runtime="runc"):
    """Ids of runc's (or crun's) nvbind containers; with `under`, only those whose bundle lies
    in that folder (so containers other tests or people run meanwhile are not counted)."""
    r = run([runtime, "list", "--format", "json"])
    if r.returncode != 0 or not r.stdout.strip():
        return []
    items = json.loads(r.stdout) or []
    prefix = os.path.realpath(under) + os.sep if under else None
    return [c["id"] for c in items if c["id"].startswith("nvbind-")
            and (prefix is None or os.path.realpath(c.get("bundle", "")).startswith(prefix))]


def crun_wrapper_dir(folder):
    """A folder to put first on PATH so that `crun` runs containers on this host, or None
    where the installed crun needs none (or is missing). crun 1.8 refuses a hybrid cgroup host
    whose cgroup2 hierarchy (/sys/fs/cgroup/unified) holds a controller ("cgroups in hybrid
    mode not supported, drop all controllers from cgroupv2"), as this kind of machine is. The
    folder's `crun` runs the real one in a private mount namespace without that mount, where
    crun sees a cgroup v1 host: its device rules go to the v1 devices controller, which the
    kernel enforces. Only what crun sees of the host's layout changes; crun itself is the real
    one, and the mount namespace ends with it (the container's own is made from it)."""
    crun = shutil.which("crun")
    unified = "/sys/fs/cgroup/unified"
    if crun is None or not os.path.ismount(unified):
        return None
    try:
        with open(os.path.join(unified, "cgroup.controllers")) as f:
            if not f.read().split():
                return None
    except OSError:
        return None
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "crun")
    with open(path, "w") as f:
        f.write("#!/bin/sh\n"
                f"exec unshare --mount --propagation private sh -c 'umount {unified} && exec \"$0\" \"$@\"' "
                f"{shlex.quote(crun)} \"$@\"\n")
    os.chmod(path, 0o755)
    return folder


def crun_search_path(folder, path=None):
    """path (else this process's PATH) with crun_wrapper_dir(folder) first where this host
    needs it: what nvbind, which finds `--runtime crun` on PATH, is given."""
    path = path or os.environ["PATH"]
    wrapper = crun_wrapper_dir(folder)
    return wrapper + os.pathsep + path if wrapper else path
