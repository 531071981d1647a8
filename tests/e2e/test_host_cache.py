"""The host cache (docs/host-cache.md): a run whose host has not changed answers from the
model the last discovery left; every change discovery would see makes the next run discover
again, and whatever the cache holds, a run answers exactly what a fresh discovery answers.
The cache folder and its files are another user's attack surface: only this user's own, closed
to others, are read."""
import json
import os
import shutil
import tempfile
import time
import unittest

from nvbtest import FakeHost, nvbind

LAYOUTS = ["debian", "debian-packaged", "debian-tesla", "fedora", "arch", "operator"]
COMMANDS = [("info", "--json"), ("cdi", "generate")]


class CacheCase(unittest.TestCase):
    """Each test gets its own cache folder and its own fake host, built before the class's
    tests run and left a little over a second: discovery keeps nothing whose change time is
    less than a second old (a later change could carry the same time)."""

    HOSTS = {}

    LAYOUT_OF = {"test_operator_driver_root_appears": "operator"}

    @classmethod
    def hosts_wanted(cls):
        return {name: {"gpus": 2, "layout": cls.LAYOUT_OF.get(name, "debian-packaged")}
                for name in dir(cls) if name.startswith("test_")}

    @classmethod
    def setUpClass(cls):
        cls.hosts = {name: FakeHost(**opts) for name, opts in cls.hosts_wanted().items()}
        time.sleep(2.2)

    @classmethod
    def tearDownClass(cls):
        for fh in cls.hosts.values():
            fh.remove()

    def setUp(self):
        self.fh = self.hosts[self._testMethodName]
        self.cache = tempfile.mkdtemp(prefix="nvbind-host-cache-")
        os.chmod(self.cache, 0o700)
        self.addCleanup(shutil.rmtree, self.cache, True)

    def run_cached(self, *args, fh=None):
        fh = fh or self.fh
        r = fh.nvbind(*args, env={"NVBIND_HOST_CACHE": self.cache, "NVBIND_LOG": "info"})
        self.assertEqual(r.returncode, 0, r.stderr)
        return r

    def fresh(self, *args, fh=None):
        fh = fh or self.fh
        r = fh.nvbind(*args, env={"NVBIND_HOST_CACHE": "off"})
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def assert_as_fresh(self, *args, fh=None):
        """A run through the cache answers what a fresh discovery answers; its log."""
        r = self.run_cached(*args, fh=fh)
        self.assertEqual(r.stdout, self.fresh(*args, fh=fh), f"nvbind {' '.join(args)} from the cache differs")
        return r.stderr

    def files(self):
        return sorted(os.listdir(self.cache))

    def prime(self, *args):
        """A run that writes the cache, and one that is served by it."""
        log = self.assert_as_fresh(*args)
        self.assertIn("the host model written to", log)
        log = self.assert_as_fresh(*args)
        self.assertIn("the host model from", log)

    def hp(self, path):
        return os.path.join(self.fh.root, path.lstrip("/"))


class Served(CacheCase):
    @classmethod
    def setUpClass(cls):
        cls.layout_hosts = {lay: FakeHost(gpus=2, layout=lay) for lay in LAYOUTS}
        cls.hosts = {"test_every_layout": cls.layout_hosts["debian"], "test_off": FakeHost(gpus=1),
                     "test_debug_log_shows_discovery": cls.layout_hosts["fedora"]}
        time.sleep(2.2)

    @classmethod
    def tearDownClass(cls):
        for fh in list(cls.layout_hosts.values()) + [cls.hosts["test_off"]]:
            fh.remove()

    def setUp(self):
        if self._testMethodName == "test_just_changed_not_kept":  # a host built just now
            self.hosts[self._testMethodName] = FakeHost(gpus=1)
            self.addCleanup(self.hosts[self._testMethodName].remove)
        super().setUp()

    def test_every_layout(self):
        """On every fake layout, both commands: written once, then served, and always what a
        fresh discovery gives."""
        for lay, fh in self.layout_hosts.items():
            for cmd in COMMANDS:
                with self.subTest(layout=lay, command=cmd):
                    self.assertIn("the host model written to", self.assert_as_fresh(*cmd, fh=fh))
                    self.assertIn("the host model from", self.assert_as_fresh(*cmd, fh=fh))

    def test_off(self):
        r = self.fh.nvbind("info", "--json", env={"NVBIND_HOST_CACHE": "off", "NVBIND_LOG": "info"})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("host cache", r.stderr)
        self.assertEqual(self.files(), [])

    def test_debug_log_shows_discovery(self):
        """-vv asks for every driver file considered: discovery runs then, cache or not."""
        self.prime("info", "--json")
        r = self.fh.nvbind("info", "--json", env={"NVBIND_HOST_CACHE": self.cache, "NVBIND_LOG": "debug"})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, self.fresh("info", "--json"))
        self.assertIn("not read: debug logging", r.stderr)
        self.assertRegex(r.stderr, r"library \S+: offered at ")

    def test_just_changed_not_kept(self):
        """A host whose files changed less than a second ago is not kept: a change right
        after could carry the same change time."""
        log = self.assert_as_fresh("info", "--json")
        self.assertIn("not kept", log)
        self.assertEqual(self.files(), [])


class FollowsChanges(CacheCase):
    """After each change, the next run answers for the changed host."""

    def changed(self, *args):
        log = self.assert_as_fresh(*args)
        self.assertNotIn("the host model from", log)

    def test_alternative_switched(self):
        # update-alternatives points nvidia-smi at another driver's copy.
        self.prime("info", "--json")
        legacy = self.hp("/usr/lib/nvidia/legacy/nvidia-smi")
        os.makedirs(os.path.dirname(legacy))
        shutil.copy(self.hp("/usr/lib/nvidia/current/nvidia-smi"), legacy)
        link = self.hp("/etc/alternatives/nvidia--nvidia-smi")
        os.unlink(link)
        os.symlink("/usr/lib/nvidia/legacy/nvidia-smi", link)
        self.changed("info", "--json")
        info = json.loads(self.fresh("info", "--json"))
        self.assertIn(legacy, [c["host_path"] for c in info["components"]["binaries"]])

    def test_node_mode_changed(self):
        self.prime("cdi", "generate")
        os.chmod(self.hp("/dev/nvidia0"), 0o600)
        self.changed("cdi", "generate")
        spec = json.loads(self.fresh("cdi", "generate"))
        modes = {n.get("fileMode") for d in spec["devices"] for n in d["containerEdits"].get("deviceNodes", [])
                 if n["path"] == "/dev/nvidia0"}
        self.assertEqual(modes, {0o600})

    def test_gpu_removed(self):
        self.prime("cdi", "generate")
        gpus = sorted(os.listdir(self.hp("/proc/driver/nvidia/gpus")))
        shutil.rmtree(self.hp("/proc/driver/nvidia/gpus/" + gpus[-1]))
        self.changed("cdi", "generate")

    def test_driver_version_rewritten_in_place(self):
        # The same inode, new text: how a reloaded driver's /proc file reads.
        self.prime("info", "--json")
        path = self.hp("/proc/driver/nvidia/version")
        with open(path) as f:
            text = f.read()
        os.chmod(path, 0o644)
        with open(path, "r+") as f:
            f.seek(0)
            f.write(text.replace("550.54.14", "550.54.15"))
        self.changed("info", "--json")
        self.assertEqual(json.loads(self.fresh("info", "--json"))["driver"]["version"], "550.54.15")

    def test_gpu_information_edited_in_place(self):
        self.prime("info", "--json")
        gpu = sorted(os.listdir(self.hp("/proc/driver/nvidia/gpus")))[0]
        path = self.hp(f"/proc/driver/nvidia/gpus/{gpu}/information")
        with open(path) as f:
            text = f.read()
        os.chmod(path, 0o644)
        with open(path, "r+") as f:
            f.write(text.replace("GPU-", "GPU-ffff", 1)[: len(text)])
        self.changed("info", "--json")

    def test_ipc_socket_gone(self):
        self.prime("cdi", "generate")
        os.unlink(self.hp("/run/nvidia-persistenced/socket"))
        self.changed("cdi", "generate")
        self.assertNotIn("nvidia-persistenced/socket", self.fresh("cdi", "generate"))

    def test_binary_appears(self):
        # A binary installed later (nvidia-smi's package brings no library: the library
        # cache is not rewritten).
        self.prime("info", "--json")
        os.unlink(self.hp("/usr/bin/nvidia-smi"))
        self.changed("info", "--json")
        time.sleep(2.2)
        self.prime("info", "--json")
        os.symlink("/etc/alternatives/nvidia--nvidia-smi", self.hp("/usr/bin/nvidia-smi"))
        self.changed("info", "--json")
        self.assertIn("nvidia-smi", self.fresh("info", "--json"))

    def test_library_removed_cache_not_rewritten(self):
        self.prime("cdi", "generate")
        info = json.loads(self.fresh("info", "--json"))
        lib = next(c["host_path"] for c in info["components"]["libraries"] if "libnvidia-ml.so." in c["host_path"])
        os.unlink(os.path.realpath(lib))
        self.changed("cdi", "generate")

    def test_operator_driver_root_appears(self):
        # A GPU operator's driver container mounts its root after the first run: nvbind
        # finds the driver's libraries there only then (no --driver-root given).
        class AutoRoot:
            def __init__(self, root):
                self.root = root

            def nvbind(self, *args, **kw):
                return nvbind("--root", self.root, *args, **kw)

        fh = AutoRoot(self.fh.root)
        drv = self.hp("/run/nvidia/driver")
        os.rename(drv, drv + ".later")
        time.sleep(2.2)
        self.assertIn("the host model written to", self.assert_as_fresh("info", "--json", fh=fh))
        self.assertEqual(json.loads(self.fresh("info", "--json", fh=fh))["components"]["libraries"], [])
        os.rename(drv + ".later", drv)
        log = self.assert_as_fresh("info", "--json", fh=fh)
        self.assertNotIn("the host model from", log)
        self.assertNotEqual(json.loads(self.fresh("info", "--json", fh=fh))["components"]["libraries"], [])

    def test_library_cache_rewritten(self):
        self.prime("info", "--json")
        os.utime(self.hp("/etc/ld.so.cache"))
        log = self.assert_as_fresh("info", "--json")
        self.assertIn("not used", log)


class Attacker(CacheCase):
    """The cache folder and files are read only when they are this user's own and closed to
    others: another local user who could write them could describe the host's files (what is
    mounted into containers) as they liked."""

    def test_file_of_another_user_not_used(self):
        self.prime("info", "--json")
        (name,) = self.files()
        os.chown(os.path.join(self.cache, name), 65534, 65534)
        log = self.assert_as_fresh("info", "--json")
        self.assertIn("not used", log)
        self.assertNotIn("the host model from", log)

    def test_file_writable_by_others_not_used(self):
        self.prime("info", "--json")
        (name,) = self.files()
        os.chmod(os.path.join(self.cache, name), 0o666)
        log = self.assert_as_fresh("info", "--json")
        self.assertNotIn("the host model from", log)

    def test_folder_open_to_others_not_used(self):
        self.prime("info", "--json")
        os.chmod(self.cache, 0o777)
        log = self.assert_as_fresh("info", "--json")
        self.assertIn("not used", log)
        self.assertNotIn("the host model from", log)
        self.assertNotIn("written", log)

    def test_link_at_the_file_not_followed(self):
        self.prime("info", "--json")
        (name,) = self.files()
        path = os.path.join(self.cache, name)
        os.rename(path, path + ".real")
        os.symlink(path + ".real", path)
        log = self.assert_as_fresh("info", "--json")
        self.assertNotIn("the host model from", log)
        self.assertTrue(os.path.islink(path))

    def test_damaged_files(self):
        self.prime("info", "--json")
        (name,) = self.files()
        path = os.path.join(self.cache, name)
        with open(path, "rb") as f:
            good = f.read()
        cuts = [good[: len(good) // 2], good[:-1], good + b"\0", b"", b"\xff" * 64]
        flips = [bytearray(good) for _ in range(8)]
        for i, b in enumerate(flips):
            pos = (i + 1) * len(good) // 9
            b[pos] ^= 0xFF
        for data in cuts + [bytes(b) for b in flips]:
            with self.subTest(size=len(data)):
                with open(path, "wb") as f:
                    f.write(data)
                os.chmod(path, 0o600)
                self.assert_as_fresh("info", "--json")

    def test_another_roots_file_not_taken(self):
        # A model written for one host root, put under another's name: the key inside differs.
        self.prime("info", "--json")
        (name,) = self.files()
        with FakeHost(gpus=1) as other:
            time.sleep(2.2)
            self.assert_as_fresh("info", "--json", fh=other)
            mine = [f for f in self.files() if f != name]
            if mine:
                os.replace(os.path.join(self.cache, name), os.path.join(self.cache, mine[0]))
            log = self.assert_as_fresh("info", "--json", fh=other)
            self.assertNotIn("the host model from", log)


if __name__ == "__main__":
    unittest.main()
