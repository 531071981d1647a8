"""nvbind-runtime's create (and `nvbind run` with runc) makes the container's links, loader
configuration and /etc/ld.so.cache itself before runc runs, and leaves the update-ldcache
hook out of config.json; where a later mount, a user namespace or another tool's hook could change what
the hook would see in the container, the hook stays. Checked with runc running the
container, the host's `ldconfig -p` reading the caches, and hostile images proving that the
shim, which runs in the host's mount namespace, writes nothing outside the root."""
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from nvbtest import NVBIND, FakeHost, make_busybox_rootfs, run, runc_bundle

SHIM = os.path.join(os.path.dirname(NVBIND), "nvbind-runtime")
RUNC = shutil.which("runc")
HOST_LDCONFIG = "/sbin/ldconfig"
LIBDIR = "/usr/lib/x86_64-linux-gnu"


def listing(cache):
    r = run([HOST_LDCONFIG, "-p", "-C", cache], env={"LC_ALL": "C"})
    if r.returncode != 0:
        raise AssertionError(f"ldconfig -p -C {cache}: {r.stderr}")
    return [(line.split()[0], line.rsplit("=>", 1)[1].strip()) for line in r.stdout.splitlines() if "=>" in line]


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def our_hooks(config):
    return [h for h in config.get("hooks", {}).get("createContainer", []) if h["args"][1:3] == ["hook", "update-ldcache"]]


class AheadBase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not RUNC or os.geteuid() != 0:
            raise unittest.SkipTest("runc and root are needed")
        cls.host = FakeHost(gpus=1)
        cls.addClassCleanup(cls.host.remove)

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="nvbind-cache-ahead-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.n = 0

    def vendor_library(self):
        """A host folder holding an ELF library with a SONAME, to mount into a container."""
        vendor = os.path.join(self.tmp, "vendor")
        os.makedirs(vendor)
        src = os.path.join(self.tmp, "stub.c")
        with open(src, "w") as f:
            f.write("int vendor_stub(void) { return 3; }\n")
        subprocess.run(["gcc", "-shared", "-fPIC", "-Wl,-soname,libvendor.so.3", "-o",
                        os.path.join(vendor, "libvendor.so.3"), src], check=True)
        return vendor


class LdcacheAhead(AheadBase):
    """nvbind-runtime's create, runc as its runtime (or /bin/true where only config.json and
    the root's files are looked at)."""

    def env(self, runtime):
        cfg = os.path.join(self.tmp, f"{os.path.basename(runtime)}.toml")
        with open(cfg, "w") as f:
            f.write(f'[runtime]\noci_runtime = "{runtime}"\n[isolation]\nstate_dir = "{self.tmp}/state"\n'
                    f'audit_log = "{self.tmp}/audit.log"\n')
        return {"NVBIND_ROOT": self.host.root, "NVBIND_CONFIG": cfg}

    def bundle(self, edit=None, args=("true",), rootfs=None):
        """A `runc spec` bundle asking for GPU 0 the way NVIDIA's users do, on a new busybox
        root (or rootfs); edit(config) changes it further."""
        self.n += 1
        bundle = os.path.join(self.tmp, f"bundle{self.n}")
        rootfs = rootfs or make_busybox_rootfs(os.path.join(self.tmp, f"rootfs{self.n}"))

        def request(config):
            config["process"]["env"].append("NVIDIA_VISIBLE_DEVICES=0")
            if edit:
                edit(config)
        runc_bundle(bundle, rootfs, args, request)
        return bundle, rootfs

    def shim(self, command, bundle, runtime="/bin/true", umask=None):
        r = subprocess.run([SHIM, command, "--bundle", bundle, f"nvbind-ahead-{os.getpid()}-{self.n}"],
                           env={**os.environ, **self.env(runtime)}, timeout=120, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True,
                           preexec_fn=None if umask is None else (lambda: os.umask(umask)))
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(bundle, "config.json")) as f:
            return r, json.load(f)

    def test_made_ahead_is_the_cache_the_hook_makes(self):
        # The same request twice: once as it comes, once with another tool's prestart hook,
        # which keeps nvbind's hook in config.json (it could change the root first).
        check = f"test -s {LIBDIR}/libcuda.so.1 && test -s {LIBDIR}/libnvidia-ml.so.1 && echo LIBS-OK"
        ahead, ahead_root = self.bundle(args=("sh", "-c", check))
        hooked, hooked_root = self.bundle(
            lambda c: c.setdefault("hooks", {}).setdefault("prestart", []).append({"path": "/bin/true"}),
            args=("sh", "-c", check))
        r, config = self.shim("run", ahead, RUNC)
        self.assertIn("LIBS-OK", r.stdout.split(), "the links reach the driver's mounted files")
        self.assertEqual(our_hooks(config), [], "the shim did the hook's work")
        r, config = self.shim("run", hooked, RUNC)
        self.assertIn("LIBS-OK", r.stdout.split())
        self.assertEqual(len(our_hooks(config)), 1, "another tool's hook runs first: nvbind's stays")
        # Byte for byte the cache the hook writes in the container's view.
        cache = ahead_root + "/etc/ld.so.cache"
        self.assertEqual(sha256(cache), sha256(hooked_root + "/etc/ld.so.cache"))
        self.assertIn(("libcuda.so.1", f"{LIBDIR}/libcuda.so.1"), listing(cache))
        self.assertIn(("libnvidia-ml.so.1", f"{LIBDIR}/libnvidia-ml.so.1"), listing(cache))
        conf = "/etc/ld.so.conf.d/01-nvbind-driver.conf"
        self.assertEqual(sha256(ahead_root + conf), sha256(hooked_root + conf))
        self.assertEqual(os.readlink(ahead_root + LIBDIR + "/libcuda.so.1"), "libcuda.so.550.54.14")

    def test_what_it_creates_is_readable_whatever_the_engines_umask(self):
        # The hook sets its own umask; so must the shim, which inherits the engine's: a folder
        # made 0700 would hide the driver's libraries from the container's other users.
        bundle, rootfs = self.bundle()
        shutil.rmtree(rootfs + LIBDIR)
        _, config = self.shim("create", bundle, umask=0o077)
        self.assertEqual(our_hooks(config), [])
        for path, mode in ((LIBDIR, 0o755), ("/etc/ld.so.conf.d", 0o755), ("/etc/ld.so.cache", 0o644),
                           ("/etc/ld.so.conf.d/01-nvbind-driver.conf", 0o644)):
            self.assertEqual(oct(os.stat(rootfs + path).st_mode & 0o777), oct(mode), path)

    def test_mount_over_a_library_folder_is_left_to_the_hook(self):
        # The image's loader reads /opt/vendor/lib; the engine mounts a folder with a library
        # there. Before runc runs, the folder is empty on disk: only the hook, in the
        # container's view, sees the library and has ldconfig list it.
        vendor = self.vendor_library()

        def edit(c):
            c["mounts"].append({"destination": "/opt/vendor/lib", "type": "bind", "source": vendor,
                                "options": ["rbind", "ro"]})
        bundle, rootfs = self.bundle(edit)
        with open(rootfs + "/etc/ld.so.conf", "w") as f:
            f.write("/opt/vendor/lib\n")
        _, config = self.shim("run", bundle, RUNC)
        self.assertEqual(len(our_hooks(config)), 1)
        names = [n for n, _ in listing(rootfs + "/etc/ld.so.cache")]
        self.assertIn("libvendor.so.3", names)
        self.assertIn("libcuda.so.1", names)

    def test_where_the_hook_stays(self):
        def userns(c):
            c["linux"]["namespaces"].append({"type": "user"})
            c["linux"]["uidMappings"] = c["linux"]["gidMappings"] = [
                {"containerID": 0, "hostID": 100000, "size": 65536}]

        def prestart(c):
            c.setdefault("hooks", {}).setdefault("createRuntime", []).append({"path": "/usr/bin/true"})

        def etc_mount(c):
            c["mounts"].append({"destination": "/etc", "type": "tmpfs", "source": "tmpfs"})

        def lib_mount(c):
            c["mounts"].append({"destination": "/usr/local/lib/extra", "type": "tmpfs", "source": "tmpfs"})
        def fake_setkey(c):
            # Another program that calls itself libnetwork-setkey is another tool's hook.
            c.setdefault("hooks", {})["prestart"] = [{"path": "/bin/sh", "args": [
                "libnetwork-setkey", "-c", "true"]}]

        def device_on_the_cache(c):
            # runc makes device nodes before the hooks run.
            c["linux"].setdefault("devices", []).append(
                {"path": "/etc/ld.so.cache", "type": "c", "major": 1, "minor": 3})
        for name, edit in [("user namespace", userns), ("another tool's hook", prestart),
                           ("a mount over /etc", etc_mount), ("a mount under /usr", lib_mount),
                           ("a hook named like docker's", fake_setkey), ("a device node", device_on_the_cache)]:
            with self.subTest(name):
                bundle, rootfs = self.bundle(edit)
                _, config = self.shim("create", bundle)
                self.assertEqual(len(our_hooks(config)), 1)
                self.assertFalse(os.path.exists(rootfs + "/etc/ld.so.cache"), "nothing made ahead")

        def docker_like(c):
            # docker's own prestart hook and the files it mounts into /etc change nothing the
            # loader reads.
            c.setdefault("hooks", {})["prestart"] = [{"path": "/proc/1/exe", "args": [
                "libnetwork-setkey", "-exec-root=/var/run/docker", "0123", "4567"]}]
            for name in ("resolv.conf", "hostname", "hosts"):
                c["mounts"].append({"destination": "/etc/" + name, "type": "bind", "source": "/etc/" + name,
                                    "options": ["rbind", "rprivate"]})
        bundle, rootfs = self.bundle(docker_like)
        _, config = self.shim("create", bundle)
        self.assertEqual(our_hooks(config), [])
        self.assertIn("libcuda.so.1", [n for n, _ in listing(rootfs + "/etc/ld.so.cache")])

    def test_mounts_through_the_images_links_are_where_runc_puts_them(self):
        # runc follows the image's symbolic links on the way to a mount's destination: a
        # volume at /data where the image links /data to a library folder, or docker's
        # /etc/hostname bind where the image links that name to the loader's cache, change
        # what the loader sees. The hook stays; the same mounts without the links do not
        # keep it.
        def data_volume(c):
            c["mounts"].append({"destination": "/data", "type": "tmpfs", "source": "tmpfs"})

        def hostname_bind(c):
            c["mounts"].append({"destination": "/etc/hostname", "type": "bind", "source": "/etc/hostname",
                                "options": ["rbind", "rprivate"]})
        # A volume's own links: runc makes a later mount inside an earlier bind mount through
        # what that mount brings, which the shim cannot see on the image's disk.
        volume = os.path.join(self.tmp, "volume")
        os.makedirs(volume)
        os.symlink("/usr/lib/x86_64-linux-gnu", os.path.join(volume, "lib"))

        def nested_volumes(c):
            c["mounts"].append({"destination": "/data", "type": "bind", "source": volume,
                                "options": ["rbind", "rprivate"]})
            c["mounts"].append({"destination": "/data/lib", "type": "tmpfs", "source": "tmpfs"})
        with self.subTest("a mount inside an earlier volume"):
            bundle, rootfs = self.bundle(nested_volumes)
            _, config = self.shim("create", bundle)
            self.assertEqual(len(our_hooks(config)), 1)

        def through_a_link_into_a_volume(c):
            c["mounts"].append({"destination": "/data", "type": "bind", "source": volume,
                                "options": ["rbind", "rprivate"]})
            c["mounts"].append({"destination": "/opt/lib", "type": "tmpfs", "source": "tmpfs"})
        with self.subTest("a mount reaching an earlier volume through the image's link"):
            bundle, rootfs = self.bundle(through_a_link_into_a_volume)
            os.symlink("/data", rootfs + "/opt")
            _, config = self.shim("create", bundle)
            self.assertEqual(len(our_hooks(config)), 1)

        def inside_an_overlay(c):
            c["mounts"].append({"destination": "/data", "type": "overlay", "source": "overlay",
                                "options": [f"lowerdir={volume}"]})
            c["mounts"].append({"destination": "/data/lib", "type": "tmpfs", "source": "tmpfs"})
        with self.subTest("a mount inside an earlier overlay"):
            bundle, rootfs = self.bundle(inside_an_overlay)
            _, config = self.shim("create", bundle)
            self.assertEqual(len(our_hooks(config)), 1)
        for name, edit, link, target in [
                ("/data -> a library folder", data_volume, "/data", "usr/local/lib"),
                ("/etc/hostname -> the cache", hostname_bind, "/etc/hostname", "ld.so.cache")]:
            with self.subTest(name):
                bundle, rootfs = self.bundle(edit)
                os.makedirs(rootfs + "/usr/local/lib", exist_ok=True)
                if os.path.lexists(rootfs + link):
                    os.unlink(rootfs + link)
                os.symlink(target, rootfs + link)
                _, config = self.shim("create", bundle)
                self.assertEqual(len(our_hooks(config)), 1)
                self.assertFalse(os.path.exists(rootfs + "/etc/ld.so.cache"), "nothing made ahead")
            with self.subTest(name + ", no link"):
                bundle, rootfs = self.bundle(edit)
                _, config = self.shim("create", bundle)
                self.assertEqual(our_hooks(config), [])

    def test_hostile_images_touch_nothing_outside_the_root(self):
        outside = os.path.join(self.tmp, "outside")
        os.makedirs(outside)
        host_cache = "/etc/ld.so.cache"
        before = (sha256(host_cache), os.stat(host_cache).st_mtime_ns)

        # /etc is a symlink to "/": inside the root that is the root itself.
        bundle, rootfs = self.bundle()
        shutil.rmtree(rootfs + "/etc")
        os.symlink("/", rootfs + "/etc")
        _, config = self.shim("create", bundle)
        self.assertEqual((sha256(host_cache), os.stat(host_cache).st_mtime_ns), before)
        self.assertIn("libcuda.so.1", [n for n, _ in listing(rootfs + "/ld.so.cache")])

        # The cache is a symlink to a host file: never followed, never read; a cache that is
        # not a regular file is left to the hook (whose ldconfig replaces it in the root).
        sentinel = os.path.join(outside, "sentinel")
        with open(sentinel, "w") as f:
            f.write("host file, not a cache\n")
        os.chmod(sentinel, 0o600)
        before_sentinel = os.stat(sentinel)
        bundle, rootfs = self.bundle()
        os.symlink(sentinel, rootfs + "/etc/ld.so.cache")
        _, config = self.shim("create", bundle)
        self.assertEqual(os.stat(sentinel).st_atime_ns, before_sentinel.st_atime_ns, "the host file was read")
        with open(sentinel) as f:
            self.assertEqual(f.read(), "host file, not a cache\n")
        self.assertEqual(os.readlink(rootfs + "/etc/ld.so.cache"), sentinel)
        self.assertEqual(len(our_hooks(config)), 1)

        # The driver's folder is a symlink to a host folder: no link lands there; the create
        # goes on with the hook, which fails the same way in the container's view.
        hostlib = os.path.join(outside, "hostlib")
        os.makedirs(hostlib)
        bundle, rootfs = self.bundle()
        shutil.rmtree(rootfs + LIBDIR)
        os.symlink(hostlib, rootfs + LIBDIR)
        _, config = self.shim("create", bundle)
        self.assertEqual(os.listdir(hostlib), [])
        self.assertEqual(len(our_hooks(config)), 1)
        self.assertEqual(os.stat(host_cache).st_mtime_ns, before[1])


    def test_a_root_reached_through_a_symlink_is_left_to_the_hook(self):
        # Attack: whoever can write the folder that root.path goes through (podman --rootfs
        # DIR, nvbind run --rootfs DIR run as root on a user's folder) swaps it for a link to
        # another tree (another container's root, /). runc refuses such a root ("not an
        # absolute path, or a symlink"), but only after the shim ran: nothing may be written
        # through the link before that.
        victim = make_busybox_rootfs(os.path.join(self.tmp, "victim"))
        before = sorted(os.listdir(victim + LIBDIR))

        def untouched():
            self.assertFalse(os.path.lexists(victim + "/etc/ld.so.cache"))
            self.assertFalse(os.path.lexists(victim + "/etc/ld.so.conf.d/01-nvbind-driver.conf"))
            self.assertEqual(sorted(os.listdir(victim + LIBDIR)), before)
        # root.path relative to the bundle, the last part a link.
        bundle, _ = self.bundle()
        os.symlink(victim, os.path.join(bundle, "rootlink"))
        with open(os.path.join(bundle, "config.json")) as f:
            doc = json.load(f)
        doc["root"]["path"] = "rootlink"
        with open(os.path.join(bundle, "config.json"), "w") as f:
            json.dump(doc, f)
        _, config = self.shim("create", bundle)
        self.assertEqual(len(our_hooks(config)), 1)
        untouched()
        # root.path absolute, a folder above it a link.
        parent = os.path.join(self.tmp, "parentlink")
        os.symlink(self.tmp, parent)
        bundle, _ = self.bundle(rootfs=victim)
        with open(os.path.join(bundle, "config.json")) as f:
            doc = json.load(f)
        doc["root"]["path"] = os.path.join(parent, "victim")
        with open(os.path.join(bundle, "config.json"), "w") as f:
            json.dump(doc, f)
        _, config = self.shim("create", bundle)
        self.assertEqual(len(our_hooks(config)), 1)
        untouched()
        # The control: the same root named without a link is made ahead.
        bundle, _ = self.bundle(rootfs=victim)
        _, config = self.shim("create", bundle)
        self.assertEqual(our_hooks(config), [])
        self.assertIn("libcuda.so.1", [n for n, _ in listing(victim + "/etc/ld.so.cache")])

class RunWithRunc(AheadBase):
    """`nvbind run --runtime runc` writes its own bundle: the same work before runc runs. The
    hook nvbind's edits name is a wrapper that leaves a mark when it runs."""

    def setUp(self):
        super().setUp()
        self.marker = os.path.join(self.tmp, "hook-ran")
        self.hook = os.path.join(self.tmp, "hook.sh")
        with open(self.hook, "w") as f:
            f.write(f'#!/bin/sh\necho "$@" >> {self.marker}\nexec {NVBIND} "$@"\n')
        os.chmod(self.hook, 0o755)
        self.config = os.path.join(self.tmp, "run.toml")
        with open(self.config, "w") as f:
            f.write(f'[cdi]\nhook_path = "{self.hook}"\n[isolation]\nstate_dir = "{self.tmp}/state"\n'
                    f'audit_log = "{self.tmp}/audit.log"\n')

    def nvbind_run(self, rootfs, *args):
        check = f"test -s {LIBDIR}/libcuda.so.1 && test -s {LIBDIR}/libnvidia-ml.so.1 && echo LIBS-OK"
        r = run([NVBIND, *self.host.args, "--config", self.config, "run", "--runtime", "runc", "--gpu", "0", *args,
                 "--rootfs", rootfs, "--", "sh", "-c", check], timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("LIBS-OK", r.stdout.split())

    def test_capsule_cache_made_before_runc(self):
        rootfs = make_busybox_rootfs(os.path.join(self.tmp, "capsule"))
        self.nvbind_run(rootfs)
        self.assertFalse(os.path.exists(self.marker), "the hook ran")
        names = [n for n, _ in listing(rootfs + "/etc/ld.so.cache")]
        self.assertIn("libcuda.so.1", names)
        self.assertIn("libnvidia-ml.so.1", names)

    def test_volume_over_a_library_folder_is_left_to_the_hook(self):
        rootfs = make_busybox_rootfs(os.path.join(self.tmp, "capsule"))
        with open(rootfs + "/etc/ld.so.conf", "w") as f:
            f.write("/opt/vendor/lib\n")
        self.nvbind_run(rootfs, "-v", f"{self.vendor_library()}:/opt/vendor/lib:ro")
        self.assertTrue(os.path.exists(self.marker), "the hook did not run")
        names = [n for n, _ in listing(rootfs + "/etc/ld.so.cache")]
        self.assertIn("libvendor.so.3", names)
        self.assertIn("libcuda.so.1", names)


if __name__ == "__main__":
    unittest.main()
