"""Rootless podman: an unprivileged user made by the test (useradd, its own subuid/subgid range)
runs `podman run --device VENDOR/CLASS=0` with nvbind's CDI spec in /etc/cdi; the nvbind hooks
(update-ldcache, create-symlinks) run in podman's user namespace. Checked from inside the
container: exactly the asked GPU's node, the driver libraries, and an ld.so.cache that knows them.
The user, its processes, storage and the spec are removed at the end."""
import os
import pwd
import shutil
import subprocess
import unittest

from nvbtest import NVBIND, REPO, FakeHostCase, make_busybox_rootfs, run, temp_dir

IMAGE = "localhost/nvbind-rootless:latest"
# A unique class: other tests may write nvidia.com/gpu specs of their own into the shared /etc/cdi.
KIND = f"nvidia.com/gpurl{os.getpid()}"
SPEC = f"/etc/cdi/nvbind-rootless-test-{os.getpid()}.json"
USER = f"nvbrl{os.getpid() % 100000}"

# Rootless runc cannot mknod: it bind-mounts each linux.devices entry from the same path on the
# host (/dev/nvidiactl, not the CDI hostPath). This machine has no NVIDIA driver, so the user's
# podman runs in a mount namespace of its own whose /dev also holds the fake host's nodes, as a
# real host's /dev would. The machine's /dev is never touched.
DEV_VIEW = """set -e
view="$1"; host="$2"; shift 2
mount -t tmpfs -o mode=755 nvbind-test-dev "$view"
for n in null zero full random urandom tty ptmx; do
    touch "$view/$n"; mount --bind "/dev/$n" "$view/$n"
done
for d in pts shm mqueue; do
    mkdir "$view/$d"; [ -d "/dev/$d" ] && mount --rbind "/dev/$d" "$view/$d"
done
ln -s /proc/self/fd "$view/fd"
ln -s /proc/self/fd/0 "$view/stdin"; ln -s /proc/self/fd/1 "$view/stdout"; ln -s /proc/self/fd/2 "$view/stderr"
cp -a "$host"/dev/nvidia* "$view/"
mkdir "$view/dri"; cp -a "$host"/dev/dri/* "$view/dri/"
mount --move "$view" /dev
exec runuser "$@"
"""


def missing():
    if os.geteuid() != 0:
        return "making a user needs root"
    for exe in ("podman", "useradd", "userdel", "newuidmap", "newgidmap", "runuser", "unshare"):
        if not shutil.which(exe):
            return f"{exe} is not installed (scripts/install-deps installs podman and uidmap)"
    return None


def _subid_start():
    """A free 65536-id range above every range /etc/subuid and /etc/subgid give out."""
    top = 1_000_000
    for path in ("/etc/subuid", "/etc/subgid"):
        try:
            with open(path) as f:
                for line in f:
                    parts = line.strip().split(":")
                    if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                        top = max(top, int(parts[1]) + int(parts[2]))
        except FileNotFoundError:
            pass
    return top + 65536


@unittest.skipIf(missing(), missing())
class RootlessPodman(FakeHostCase):
    gpus = 2
    host_options = {"shuffle_minors": True}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # The fake host must be readable by the user, as /usr/lib and /dev are on a real one.
        os.chmod(cls.host.tmp, 0o755)
        cls.tmp = temp_dir("nvbind-rootless-test-", cls.addClassCleanup)
        os.chmod(cls.tmp, 0o755)
        cls.home = os.path.join(cls.tmp, "home")
        cls.uid = None
        # A class cleanup, so that the user goes also when the setup fails halfway.
        cls.addClassCleanup(cls.remove_user)
        start = _subid_start()
        r = run(["useradd", "--home-dir", cls.home, "--create-home", "--shell", "/bin/sh", USER])
        if r.returncode != 0:
            raise AssertionError(f"useradd: {r.stderr}")
        r = run(["usermod", "--add-subuids", f"{start}-{start + 65535}", "--add-subgids",
                 f"{start}-{start + 65535}", USER])
        if r.returncode != 0:
            raise AssertionError(f"usermod: {r.stderr}")
        cls.uid = pwd.getpwnam(USER).pw_uid
        cls.runtime_dir = f"/run/user/{cls.uid}"
        os.makedirs(cls.runtime_dir, mode=0o700, exist_ok=True)
        os.chown(cls.runtime_dir, cls.uid, cls.uid)
        # The user's podman: vfs storage (no fuse-overlayfs needed), no network of its own.
        conf = os.path.join(cls.home, ".config", "containers")
        os.makedirs(conf)
        with open(os.path.join(conf, "storage.conf"), "w") as f:
            f.write('[storage]\ndriver = "vfs"\n')
        # The suite's podman settings (runc on hybrid-cgroup hosts, cgroupfs, file events), as
        # the user's own: CONTAINERS_CONF does not cross to the user's clean environment.
        shutil.copy(os.path.join(REPO, "tests", "containers.conf"), os.path.join(conf, "containers.conf"))
        run(["chown", "-R", f"{USER}:{USER}", os.path.join(cls.home, ".config")])
        r = cls.host.nvbind("cdi", "generate", "--kind", KIND, "--output", SPEC)
        if r.returncode != 0:
            raise AssertionError(f"cdi generate: {r.stderr}")
        rootfs = make_busybox_rootfs(os.path.join(cls.tmp, "rootfs"))
        tar = os.path.join(cls.tmp, "rootfs.tar")
        subprocess.run(["tar", "-C", rootfs, "-cf", tar, "."], check=True)
        os.chmod(tar, 0o644)
        r = cls.as_user("podman", "import", tar, IMAGE, timeout=300)
        if r.returncode != 0:
            raise AssertionError(f"rootless podman import: {r.stderr}")

    @classmethod
    def remove_user(cls):
        """The user, its processes and runtime folder, and the spec made for it."""
        if os.path.exists(SPEC):
            os.unlink(SPEC)
        if cls.uid is not None:
            # podman leaves its rootless pause process behind: end the test user's processes.
            r = run(["ps", "-o", "pid=", "-u", str(cls.uid)])
            for pid in r.stdout.split():
                try:
                    os.kill(int(pid), 9)
                except (ProcessLookupError, ValueError):
                    pass
            shutil.rmtree(cls.runtime_dir, ignore_errors=True)
        if run(["id", "-u", USER]).returncode == 0:
            run(["userdel", "--remove", USER])

    @classmethod
    def as_user(cls, *args, timeout=180):
        env = ["env", "-i", f"HOME={cls.home}", f"USER={USER}", f"XDG_RUNTIME_DIR={cls.runtime_dir}",
               "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
        view = os.path.join(cls.tmp, "dev")
        os.makedirs(view, exist_ok=True)
        return run(["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", DEV_VIEW, "dev-view", view,
                    cls.host.root, "-u", USER, "--", *env, *args], timeout=timeout)

    def podman_run(self, *options, script):
        return self.as_user("podman", "run", "--rm", "--network", "none", *options, IMAGE, "sh", "-c", script)

    def minor(self, i):
        return self.host.manifest["gpus"][i]["minor"]

    def test_device_gets_exactly_gpu0_with_hooks_in_a_user_namespace(self):
        r = self.podman_run("--device", f"{KIND}=0",
                            script="id -u; ls /dev; ls /usr/lib/x86_64-linux-gnu; "
                                   "grep -q libcuda.so.1 /etc/ld.so.cache && echo CACHE-OK")
        self.assertEqual(r.returncode, 0, r.stderr)
        words = r.stdout.split()
        self.assertEqual(words[0], "0", "root inside the container, an unprivileged user outside")
        self.assertIn(f"nvidia{self.minor(0)}", words)
        self.assertNotIn(f"nvidia{self.minor(1)}", words)
        self.assertIn("nvidiactl", words)
        self.assertIn("libcuda.so.550.54.14", words)
        self.assertIn("libcuda.so.1", words)
        self.assertIn("libcuda.so", words, "the create-symlinks hook made the development link")
        self.assertIn("CACHE-OK", words, "the update-ldcache hook wrote the cache")

    def test_really_rootless(self):
        """The container's root is the test user outside: its uid_map maps 0 to the user's uid."""
        r = self.podman_run(script="cat /proc/self/uid_map")
        self.assertEqual(r.returncode, 0, r.stderr)
        first = r.stdout.split()[:3]
        self.assertEqual(first, ["0", str(self.uid), "1"])


if __name__ == "__main__":
    unittest.main()
