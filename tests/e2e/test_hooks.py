"""nvbind hook update-ldcache / create-symlinks, run the way an OCI runtime runs them: the
container state on stdin, a bundle with config.json, a root filesystem with stub driver
libraries. The results are checked with independent tools (the host's `ldconfig -p`,
readlink), and hostile images prove that nothing outside the root is read or written."""
import atexit
import hashlib
import json
import shlex
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NVBIND = os.environ.get("NVBIND_BIN", os.path.join(REPO, "build", "src", "nvbind"))
HOST_LDCONFIG = "/sbin/ldconfig"
LIBDIR = "/usr/lib/x86_64-linux-gnu"
DRIVER = "550.54.14"

EXIT_USAGE, EXIT_IO, EXIT_RUNTIME, EXIT_INPUT = 2, 6, 7, 9

STUB_C = "int nvbind_stub(void) { return 42; }\n"

# Static helpers: stand-ins for ldconfig (nvbind runs them with --ldconfig), and an image's
# own "ldconfig" that must never run.
PROBE_C = r"""
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <linux/capability.h>
extern char **environ;
int main(int argc, char **argv) {
    for (char **e = environ; *e; e++) printf("env=%s\n", *e);
    for (int i = 0; i < argc; i++) printf("arg=%s\n", argv[i]);
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    memset(d, 0, sizeof d);
    syscall(SYS_capget, &h, d);
    printf("capeff=%x:%x\n", d[1].effective, d[0].effective);
    printf("capbnd_sys_admin=%d\n", prctl(PR_CAPBSET_READ, 21, 0, 0, 0));
    printf("nnp=%d\n", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
    printf("seccomp=%d\n", prctl(PR_GET_SECCOMP, 0, 0, 0, 0));
    printf("root_marker=%d\n", access("/ROOT_MARKER", F_OK) == 0);
    printf("proc_self=%d\n", access("/proc/self/status", F_OK) == 0);
    char *const v[] = {(char *)"sh", NULL};
    execve("/bin/sh", v, environ);
    printf("exec_container_sh=denied\n");
    return 0;
}
"""
SLEEPER_C = "#include <unistd.h>\nint main(void) { for (;;) pause(); }\n"
MARKER_EXE_C = r"""
#include <stdio.h>
int main(void) {
    FILE *f = fopen(MARKER, "w");
    if (f) { fputs("container ldconfig ran\n", f); fclose(f); }
    return 0;
}
"""
PRELOAD_C = r"""
#include <stdio.h>
__attribute__((constructor)) static void mark(void) {
    FILE *f = fopen(MARKER, "w");
    if (f) { fputs("preloaded\n", f); fclose(f); }
}
"""


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def snapshot(folder):
    """Everything a write would change in a folder: names, kinds, contents, mtimes."""
    out = {"mtime": os.lstat(folder).st_mtime_ns}
    for name in sorted(os.listdir(folder)):
        p = os.path.join(folder, name)
        st = os.lstat(p)
        out[name] = (st.st_mode, st.st_mtime_ns, os.readlink(p) if os.path.islink(p) else
                     sha256(p) if os.path.isfile(p) else None)
    return out


def cache_listing(cache):
    """(soname, path) pairs of an ld.so.cache, read by the host's own ldconfig."""
    r = subprocess.run([HOST_LDCONFIG, "-p", "-C", cache], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, env={"LC_ALL": "C"})
    if r.returncode != 0:
        raise AssertionError(f"ldconfig -p -C {cache}: {r.stderr}")
    pairs = []
    for line in r.stdout.splitlines()[1:]:
        if "=>" in line:
            left, path = line.rsplit("=>", 1)
            pairs.append((left.split()[0], path.strip()))
    return pairs


def hook_env():
    """The hook runs with the environment the runtime gives it: none. Sanitizer options
    pass through so the ASan pass still works."""
    return {k: v for k, v in os.environ.items() if k.endswith("SAN_OPTIONS")}


class Tools:
    """Stub libraries and static helper programs, compiled once."""
    dir = None

    @classmethod
    def build(cls):
        if cls.dir:
            return
        cls.dir = tempfile.mkdtemp(prefix="nvbind-hook-tools-")
        atexit.register(shutil.rmtree, cls.dir, True)
        src = os.path.join(cls.dir, "stub.c")  # also used by make_lib
        with open(src, "w") as f:
            f.write(STUB_C)
        for name, soname in [(f"libcuda.so.{DRIVER}", "libcuda.so.1"),
                             (f"libnvidia-ml.so.{DRIVER}", "libnvidia-ml.so.1"),
                             ("libhostonly.so.1.0", "libhostonly.so.1"),
                             ("libvendor.so.3.0", "libvendor.so.3")]:
            subprocess.run(["gcc", "-shared", "-fPIC", f"-Wl,-soname,{soname}", "-o",
                            os.path.join(cls.dir, name), src], check=True)
        cls.static_ok = True
        for name, code in [("probe", PROBE_C), ("sleeper", SLEEPER_C)]:
            p = os.path.join(cls.dir, name + ".c")
            with open(p, "w") as f:
                f.write(code)
            r = subprocess.run(["gcc", "-static", "-O1", "-o", os.path.join(cls.dir, name), p],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            cls.static_ok = cls.static_ok and r.returncode == 0

    @classmethod
    def path(cls, name):
        return os.path.join(cls.dir, name)


class Container:
    """A bundle (config.json, state) around a root filesystem in a temporary folder."""

    def __init__(self, relative_root=True, env=None, with_etc=True, with_libs=True):
        self.tmp = tempfile.mkdtemp(prefix="nvbind-hook-")
        self.bundle = os.path.join(self.tmp, "bundle")
        self.rootfs = os.path.join(self.bundle, "rootfs")
        os.makedirs(self.rootfs)
        if with_etc:
            os.makedirs(self.path("/etc"))
        if with_libs:
            self.add_driver_libs()
        with open(self.path("/ROOT_MARKER"), "w") as f:
            f.write("this is the container root\n")
        config = {
            "ociVersion": "1.0.2",
            "process": {"args": ["sh"], "cwd": "/", "env": env or ["PATH=/usr/bin:/bin"]},
            "root": {"path": "rootfs" if relative_root else self.rootfs},
        }
        with open(os.path.join(self.bundle, "config.json"), "w") as f:
            json.dump(config, f)
        self.state = json.dumps({"ociVersion": "1.0.2", "id": "nvbind-test", "status": "creating",
                                 "pid": os.getpid(), "bundle": self.bundle, "annotations": {}})

    def path(self, cpath):
        return self.rootfs + cpath

    def add_driver_libs(self, folder=LIBDIR):
        os.makedirs(self.path(folder), exist_ok=True)
        for name in (f"libcuda.so.{DRIVER}", f"libnvidia-ml.so.{DRIVER}"):
            shutil.copy(Tools.path(name), self.path(f"{folder}/{name}"))

    def hook(self, *args, state=None, timeout=60):
        return subprocess.run([NVBIND, "hook", *args], input=self.state if state is None else state,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=hook_env(),
                              cwd=self.rootfs, timeout=timeout)  # runc runs hooks in the root

    def remove(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


class HookTestCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise unittest.SkipTest("the hooks chroot and make mount namespaces: run as root")
        if not os.path.exists(NVBIND):
            raise unittest.SkipTest(f"{NVBIND} is not built")
        Tools.build()

    def setUp(self):
        self.outside = tempfile.mkdtemp(prefix="nvbind-hook-host-")
        self.addCleanup(shutil.rmtree, self.outside, True)

    def container(self, **kw):
        c = Container(**kw)
        self.addCleanup(c.remove)
        return c

    def host_folder(self):
        """A 'host' folder outside the root, with a sentinel and a real library."""
        d = os.path.join(self.outside, "hostlib")
        os.makedirs(d)
        with open(os.path.join(d, "sentinel"), "w") as f:
            f.write("host data\n")
        shutil.copy(Tools.path("libhostonly.so.1.0"), d)
        return d

    def assert_ok(self, r):
        self.assertEqual(r.returncode, 0, f"stderr: {r.stderr}")

    def assert_one_line_error(self, r, code, *words):
        self.assertEqual(r.returncode, code, f"stderr: {r.stderr}")
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        for w in words:
            self.assertIn(w, lines[0])

    def assert_cache_lists_driver(self, cache):
        listing = cache_listing(cache)
        self.assertIn(("libcuda.so.1", f"{LIBDIR}/libcuda.so.1"), listing)
        self.assertIn(("libnvidia-ml.so.1", f"{LIBDIR}/libnvidia-ml.so.1"), listing)
        return listing


class UpdateLdcache(HookTestCase):
    def test_cache_lists_driver_libraries(self):
        for relative in (True, False):
            with self.subTest(relative_root=relative):
                c = self.container(relative_root=relative)
                self.assert_ok(c.hook("update-ldcache", "--folder", LIBDIR))
                cache = c.path("/etc/ld.so.cache")
                self.assertFalse(os.path.islink(cache))
                self.assertEqual(os.stat(cache).st_mode & 0o777, 0o644)
                self.assert_cache_lists_driver(cache)
                # ldconfig made the SONAME links the cache points at.
                self.assertEqual(os.readlink(c.path(f"{LIBDIR}/libcuda.so.1")), f"libcuda.so.{DRIVER}")

    def test_image_configuration_is_kept(self):
        c = self.container()
        os.makedirs(c.path("/etc/ld.so.conf.d"))
        with open(c.path("/etc/ld.so.conf"), "w") as f:
            f.write("include /etc/ld.so.conf.d/*.conf\n")
        with open(c.path("/etc/ld.so.conf.d/vendor.conf"), "w") as f:
            f.write("/opt/vendor/lib\n")
        os.makedirs(c.path("/opt/vendor/lib"))
        shutil.copy(Tools.path("libvendor.so.3.0"), c.path("/opt/vendor/lib"))
        self.assert_ok(c.hook("update-ldcache", "--folder", LIBDIR))
        listing = self.assert_cache_lists_driver(c.path("/etc/ld.so.cache"))
        self.assertIn(("libvendor.so.3", "/opt/vendor/lib/libvendor.so.3"), listing)

    def test_image_without_etc(self):
        c = self.container(with_etc=False)
        self.assert_ok(c.hook("update-ldcache", "--folder", LIBDIR))
        st = os.lstat(c.path("/etc"))
        self.assertTrue(os.path.isdir(c.path("/etc")) and not os.path.islink(c.path("/etc")))
        self.assertEqual(st.st_mode & 0o777, 0o755)
        self.assert_cache_lists_driver(c.path("/etc/ld.so.cache"))

    def test_missing_folder_is_not_fatal(self):
        c = self.container()
        r = c.hook("update-ldcache", "--folder", LIBDIR, "--folder", "/usr/lib/not-there")
        self.assert_ok(r)
        self.assert_cache_lists_driver(c.path("/etc/ld.so.cache"))

    def test_sandbox_seen_from_inside(self):
        """A static probe in ldconfig's place reports what it was given."""
        if not Tools.static_ok:
            self.skipTest("gcc -static does not work here")
        c = self.container(env=["LD_PRELOAD=/evil.so", "PATH=/evil"])
        os.makedirs(c.path("/bin"))
        shutil.copy("/bin/true", c.path("/bin/sh"))
        r = c.hook("update-ldcache", "--ldconfig", Tools.path("probe"), "--folder", LIBDIR)
        self.assert_ok(r)
        lines = r.stderr.splitlines()
        self.assertEqual([l for l in lines if l.startswith("env=")], ["env=PATH=/usr/sbin:/usr/bin:/sbin:/bin"])
        self.assertEqual([l[4:] for l in lines if l.startswith("arg=")],
                         ["ldconfig", "-i", "-C", "/etc/ld.so.cache", "-f", "/etc/ld.so.conf", LIBDIR])
        self.assertIn("root_marker=1", lines)      # chrooted into the container root
        self.assertIn("capeff=0:2", lines)          # CAP_DAC_OVERRIDE only
        self.assertIn("capbnd_sys_admin=0", lines)
        self.assertIn("nnp=1", lines)
        self.assertIn("seccomp=2", lines)
        self.assertIn("exec_container_sh=denied", lines)

    def test_timeout(self):
        if not Tools.static_ok:
            self.skipTest("gcc -static does not work here")
        c = self.container()
        started = time.monotonic()
        r = c.hook("update-ldcache", "--ldconfig", Tools.path("sleeper"), "--timeout", "1")
        self.assertLess(time.monotonic() - started, 8)
        self.assert_one_line_error(r, EXIT_RUNTIME, "nvbind hook update-ldcache:", "did not finish within 1000 ms")

    def test_sandbox_failure_is_one_line_from_the_child(self):
        # The sandbox is set up in a child that shares the hook's memory until its exec; a
        # step that fails there (here the private mount namespace, refused to a user without
        # CAP_SYS_ADMIN) still reaches the hook's one-line error, and the helper never runs
        # (the probe would print its lines on the hook's stderr).
        if not shutil.which("setpriv"):
            self.skipTest("setpriv is not installed")
        c = self.container()
        os.chmod(c.tmp, 0o755)
        subprocess.run(["chown", "-R", "65534:65534", c.bundle], check=True)
        probe = shutil.copy(Tools.path("probe"), c.tmp)  # the tools' folder is root's alone
        r = subprocess.run(["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", NVBIND, "hook",
                            "update-ldcache", "--ldconfig", probe, "--timeout", "5",
                            "--folder", LIBDIR], input=c.state, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, env=hook_env(), cwd=c.rootfs, timeout=60)
        self.assert_one_line_error(r, EXIT_RUNTIME, "nvbind hook update-ldcache:",
                                   "ldconfig sandbox: private mount namespace", "Operation not permitted")

    def test_dynamic_ldconfig_refused(self):
        c = self.container()
        r = c.hook("update-ldcache", "--ldconfig", "/bin/true")
        self.assert_one_line_error(r, EXIT_RUNTIME, "/bin/true", "dynamically linked")
        self.assertFalse(os.path.exists(c.path("/etc/ld.so.cache")))


class CreateSymlinks(HookTestCase):
    LINKS = [("libcuda.so.1", f"{LIBDIR}/libcuda.so"),
             ("libnvidia-ml.so.1", f"{LIBDIR}/libnvidia-ml.so"),
             ("libGLX_nvidia.so.0", "/usr/lib/x86_64-linux-gnu/libGLX_indirect.so.0"),
             ("../x86_64-linux-gnu/libcuda.so.1", "/usr/lib/new-folder/deeper/libcuda.so")]

    def args(self, links):
        out = []
        for target, link in links:
            out += ["--link", f"{target}::{link}"]
        return out

    def test_links_made_and_idempotent(self):
        c = self.container()
        for round in range(2):
            self.assert_ok(c.hook("create-symlinks", *self.args(self.LINKS)))
            for target, link in self.LINKS:
                self.assertEqual(os.readlink(c.path(link)), target, link)
        st = os.stat(c.path("/usr/lib/new-folder/deeper"))
        self.assertEqual(st.st_mode & 0o777, 0o755)

    def test_other_link_replaced_file_left(self):
        c = self.container()
        os.symlink("libcuda.so.0", c.path(f"{LIBDIR}/libcuda.so"))
        with open(c.path(f"{LIBDIR}/libnvidia-ml.so"), "w") as f:
            f.write("image's own file\n")
        r = c.hook("create-symlinks", *self.args(self.LINKS[:2]))
        self.assert_ok(r)
        self.assertEqual(os.readlink(c.path(f"{LIBDIR}/libcuda.so")), "libcuda.so.1")
        self.assertFalse(os.path.islink(c.path(f"{LIBDIR}/libnvidia-ml.so")))
        self.assertIn(f"{LIBDIR}/libnvidia-ml.so exists and is not a symlink", r.stderr)
        self.assertEqual(sorted(os.listdir(c.path(LIBDIR))),
                         sorted(["libcuda.so", "libnvidia-ml.so", f"libcuda.so.{DRIVER}",
                                 f"libnvidia-ml.so.{DRIVER}"]))

    def test_update_ldcache_makes_the_links_then_caches_them(self):
        """One hook process per start: update-ldcache --link makes what create-symlinks makes,
        before ldconfig scans the folder, so the development links are in the cache."""
        c = self.container()
        links = [(f"libcuda.so.{DRIVER}", f"{LIBDIR}/libcuda.so.1"), ("libcuda.so.1", f"{LIBDIR}/libcuda.so"),
                 ("../x86_64-linux-gnu/libcuda.so.1", "/usr/lib/new-folder/deeper/libcuda.so")]
        for round in range(2):
            self.assert_ok(c.hook("update-ldcache", *self.args(links), "--folder", LIBDIR))
            for target, link in links:
                self.assertEqual(os.readlink(c.path(link)), target, link)
        self.assertEqual(first_path(cache_listing(c.path("/etc/ld.so.cache")), "libcuda.so"), f"{LIBDIR}/libcuda.so")

    def test_update_ldcache_link_escaping_the_root_is_refused(self):
        """Attack: an image whose library folder is a symlink to a host folder, so that the
        merged hook's --link would land on the host. Nothing is made there, the hook fails."""
        host = self.host_folder()
        before = snapshot(host)
        c = self.container(with_libs=False)
        os.makedirs(c.path("/usr/lib"))
        os.symlink(host, c.path(LIBDIR))
        r = c.hook("update-ldcache", "--link", f"libcuda.so.1::{LIBDIR}/libcuda.so", "--folder", LIBDIR)
        self.assert_one_line_error(r, EXIT_IO, LIBDIR, "does not exist in the container")
        self.assertIn("nvbind hook update-ldcache:", r.stderr)
        self.assertEqual(snapshot(host), before)

    def test_bad_arguments(self):
        c = self.container()
        r = c.hook("update-ldcache", "--link", "libcuda.so.1", "--folder", LIBDIR)
        self.assert_one_line_error(r, EXIT_USAGE, "update-ldcache", "expected TARGET::LINK")
        for arg, words in [("libcuda.so.1", "expected TARGET::LINK"),
                           ("libcuda.so.1::usr/lib/libcuda.so", "not an absolute path"),
                           ("libcuda.so.1::/usr/lib/../../etc/passwd", "'..'")]:
            with self.subTest(arg=arg):
                r = c.hook("create-symlinks", "--link", arg)
                self.assert_one_line_error(r, EXIT_USAGE, arg, words)
        self.assert_one_line_error(c.hook("create-symlinks"), EXIT_USAGE, "no --link")
        self.assert_one_line_error(c.hook("update-ldcache", "--folder", "lib"), EXIT_USAGE, "--folder lib")
        self.assert_one_line_error(c.hook("frobnicate"), EXIT_USAGE, "unknown subcommand 'frobnicate'")


class BadInput(HookTestCase):
    def test_state_and_config_errors(self):
        c = self.container()
        for sub, extra in [("update-ldcache", []), ("create-symlinks", ["--link", "a::/b"])]:
            with self.subTest(hook=sub):
                self.assert_one_line_error(c.hook(sub, *extra, state="{not json"), EXIT_INPUT,
                                           f"nvbind hook {sub}: container state: line 1")
                self.assert_one_line_error(c.hook(sub, *extra, state=""), EXIT_INPUT, "empty")
                self.assert_one_line_error(c.hook(sub, *extra, state='{"id":"x"}'), EXIT_INPUT,
                                           '"bundle" missing')
                self.assert_one_line_error(c.hook(sub, *extra, state=" " * (1024 * 1024 + 10) + "{}"), EXIT_INPUT,
                                           "larger than 1048576 bytes")
                missing = json.dumps({"bundle": os.path.join(c.tmp, "nope")})
                self.assert_one_line_error(c.hook(sub, *extra, state=missing), EXIT_INPUT,
                                           "nope: config.json: No such file or directory")
        with open(os.path.join(c.bundle, "config.json"), "w") as f:
            json.dump({"ociVersion": "1.0.2", "root": {}}, f)
        r = c.hook("update-ldcache")
        self.assert_one_line_error(r, EXIT_INPUT)
        self.assertEqual(r.stderr.strip(), f"nvbind hook update-ldcache: bundle {c.bundle}: config.json: "
                                           "root.path missing")


class HostileImage(HookTestCase):
    """Each case: an image built to make the hooks touch the host. Nothing outside the
    root may change, and anything the hooks make must land inside the root."""

    def host_etc_state(self):
        return {p: (sha256(p), os.stat(p).st_mtime_ns) for p in ["/etc/ld.so.cache"] if os.path.exists(p)}, \
            os.path.exists("/ld.so.cache"), os.path.exists("/etc/nvbind-test-link")

    def test_a_etc_is_absolute_symlink_to_slash(self):
        c = self.container()
        os.rmdir(c.path("/etc"))
        os.symlink("/", c.path("/etc"))
        before = self.host_etc_state()
        self.assert_ok(c.hook("update-ldcache", "--folder", LIBDIR))
        r = c.hook("create-symlinks", "--link", "libcuda.so.1::/etc/nvbind-test-link")
        self.assert_ok(r)
        self.assertEqual(self.host_etc_state(), before)
        # Inside the root, /etc is the root itself: that is where both landed.
        self.assert_cache_lists_driver(c.path("/ld.so.cache"))
        self.assertEqual(os.readlink(c.path("/nvbind-test-link")), "libcuda.so.1")

    def test_a_etc_is_relative_symlink_climbing_out(self):
        c = self.container()
        os.rmdir(c.path("/etc"))
        os.symlink("../../../../../../../../../etc", c.path("/etc"))
        before = self.host_etc_state()
        r = c.hook("update-ldcache", "--folder", LIBDIR)
        # Inside the root the link points at itself: a loop, refused before ldconfig runs.
        self.assert_one_line_error(r, EXIT_IO, "container folder /etc", "Too many levels of symbolic links")
        r = c.hook("create-symlinks", "--link", "libcuda.so.1::/etc/nvbind-test-link")
        self.assert_one_line_error(r, EXIT_IO, "/etc")
        self.assertEqual(self.host_etc_state(), before)
        self.assertTrue(os.path.islink(c.path("/etc")))

    def lib_folder_points_at_host(self, target_of):
        host = self.host_folder()
        before = snapshot(host)
        c = self.container(with_libs=False)
        os.makedirs(c.path("/usr/lib"))
        os.symlink(target_of(host), c.path(LIBDIR))
        r1 = c.hook("update-ldcache", "--folder", LIBDIR)
        r2 = c.hook("create-symlinks", "--link", f"libcuda.so.1::{LIBDIR}/libcuda.so",
                    "--link", f"libhostonly.so.1.0::{LIBDIR}/libhostonly.so")
        self.assertEqual(snapshot(host), before)
        # ldconfig found nothing of the host's, and the links had no place inside the root.
        self.assert_ok(r1)
        self.assertNotIn("libhostonly.so.1", [s for s, _ in cache_listing(c.path("/etc/ld.so.cache"))])
        self.assert_one_line_error(r2, EXIT_IO, LIBDIR, "does not exist in the container")

        # Once the folder the link names exists inside the root, links land there.
        inside = c.path(os.path.normpath(os.path.join("/usr/lib", target_of(host))))
        os.makedirs(inside)
        self.assert_ok(c.hook("create-symlinks", "--link", f"libcuda.so.1::{LIBDIR}/libcuda.so"))
        self.assertEqual(os.readlink(os.path.join(inside, "libcuda.so")), "libcuda.so.1")
        self.assertEqual(snapshot(host), before)

    def test_b_lib_folder_absolute_symlink_to_host(self):
        self.lib_folder_points_at_host(lambda host: host)

    def test_b_lib_folder_relative_symlink_to_host(self):
        self.lib_folder_points_at_host(lambda host: "../../../../../../../../.." + host)

    def test_c_ld_so_cache_symlink_to_host_file(self):
        for kind in ("absolute", "relative"):
            with self.subTest(kind=kind):
                sentinel = os.path.join(self.outside, f"sentinel-{kind}")
                with open(sentinel, "w") as f:
                    f.write("host file, not a cache\n")
                before = (sha256(sentinel), os.stat(sentinel).st_mtime_ns)
                c = self.container()
                target = sentinel if kind == "absolute" else "../../../../../../../../.." + sentinel
                os.symlink(target, c.path("/etc/ld.so.cache"))
                self.assert_ok(c.hook("update-ldcache", "--folder", LIBDIR))
                self.assertEqual((sha256(sentinel), os.stat(sentinel).st_mtime_ns), before)
                cache = c.path("/etc/ld.so.cache")
                self.assertTrue(os.path.isfile(cache) and not os.path.islink(cache))
                self.assert_cache_lists_driver(cache)

    def test_c_temporary_cache_name_symlink_to_host_file(self):
        sentinel = os.path.join(self.outside, "sentinel")
        with open(sentinel, "w") as f:
            f.write("host file\n")
        before = (sha256(sentinel), os.stat(sentinel).st_mtime_ns)
        c = self.container()
        os.symlink(sentinel, c.path("/etc/ld.so.cache~"))
        self.assert_ok(c.hook("update-ldcache", "--folder", LIBDIR))
        self.assertEqual((sha256(sentinel), os.stat(sentinel).st_mtime_ns), before)
        self.assertFalse(os.path.lexists(c.path("/etc/ld.so.cache~")))
        self.assert_cache_lists_driver(c.path("/etc/ld.so.cache"))

    def test_d_ld_preload_and_image_ldconfig_never_run(self):
        if not Tools.static_ok:
            self.skipTest("gcc -static does not work here")
        marker_preload = os.path.join(self.outside, "preload-ran")
        marker_exe = os.path.join(self.outside, "image-ldconfig-ran")
        evil_so = os.path.join(self.outside, "evil.so")
        src = os.path.join(self.outside, "evil.c")
        with open(src, "w") as f:
            f.write(PRELOAD_C)
        subprocess.run(["gcc", "-shared", "-fPIC", f'-DMARKER="{marker_preload}"', "-o", evil_so, src], check=True)
        exe_src = os.path.join(self.outside, "ldc.c")
        with open(exe_src, "w") as f:
            f.write(MARKER_EXE_C)
        evil_exe = os.path.join(self.outside, "ldconfig")
        subprocess.run(["gcc", "-static", f'-DMARKER="{marker_exe}"', "-o", evil_exe, exe_src], check=True)

        # Controls: both would leave their marker if they ever ran.
        subprocess.run(["/bin/true"], env={"LD_PRELOAD": evil_so}, check=True)
        subprocess.run([evil_exe], check=True)
        self.assertTrue(os.path.exists(marker_preload) and os.path.exists(marker_exe))
        os.unlink(marker_preload)
        os.unlink(marker_exe)

        c = self.container(env=[f"LD_PRELOAD={evil_so}", "LD_LIBRARY_PATH=/evil", "PATH=/sbin:/bin"])
        # The image carries the same library at the same path, and its own "ldconfig"
        # everywhere a PATH lookup would find one.
        os.makedirs(os.path.dirname(c.path(evil_so)))
        shutil.copy(evil_so, c.path(evil_so))
        for d in ("/sbin", "/usr/sbin", "/bin", "/usr/bin"):
            os.makedirs(c.path(d), exist_ok=True)
            shutil.copy(evil_exe, c.path(d + "/ldconfig"))
            shutil.copy(evil_exe, c.path(d + "/ldconfig.real"))
        with open(c.path("/etc/ld.so.preload"), "w") as f:
            f.write(evil_so + "\n")
        self.assert_ok(c.hook("update-ldcache", "--folder", LIBDIR))
        self.assert_ok(c.hook("create-symlinks", "--link", f"libcuda.so.1::{LIBDIR}/libcuda.so"))
        self.assert_cache_lists_driver(c.path("/etc/ld.so.cache"))
        for m in (marker_preload, marker_exe, c.path(marker_preload), c.path(marker_exe)):
            self.assertFalse(os.path.exists(m), m)

    def test_e_ld_so_conf_names_host_folders(self):
        host = self.host_folder()
        # Control: the host library is one ldconfig would list when it can see it.
        ctl_cache = os.path.join(self.outside, "control.cache")
        subprocess.run([HOST_LDCONFIG, "-X", "-C", ctl_cache, "-f", "/dev/null", host], check=True)
        self.assertIn("libhostonly.so.1", [s for s, _ in cache_listing(ctl_cache)])
        before = snapshot(host)

        c = self.container()
        os.makedirs(c.path("/opt"))
        os.symlink(host, c.path("/opt/abs"))
        os.symlink("../../../../../../../../.." + host, c.path("/opt/rel"))
        with open(c.path("/etc/ld.so.conf"), "w") as f:
            f.write(f"/opt/abs\n/opt/rel\n{host}\ninclude {host}/*\n")
        self.assert_ok(c.hook("update-ldcache", "--folder", LIBDIR))
        listing = self.assert_cache_lists_driver(c.path("/etc/ld.so.cache"))
        self.assertNotIn("libhostonly.so.1", [s for s, _ in listing])
        self.assertEqual(snapshot(host), before)

    def test_e_proc_magic_links_in_ld_so_conf(self):
        """The runtime has mounted the container's /proc when createContainer hooks run;
        /proc/PID/root of a host process leads to the host's /. ldconfig must not see it."""
        if not shutil.which("unshare"):
            self.skipTest("unshare(1) missing")
        host = self.host_folder()
        before = snapshot(host)
        c = self.container()
        os.makedirs(c.path("/proc"))
        shutil.copy(HOST_LDCONFIG, c.path("/control-ldconfig"))
        # In a private mount namespace (gone with the shell): mount proc into the root, list
        # the shell's own /proc/PID/root in ld.so.conf, then (control) show that a plain
        # chrooted ldconfig follows it, then run the hook.
        script = f"""
            set -e
            mount -t proc proc {c.path('/proc')}
            echo "/proc/$$/root{host}" > {c.path('/etc/ld.so.conf')}
            chroot {c.rootfs} /control-ldconfig -X -C /control.cache
            {NVBIND} hook update-ldcache --folder {LIBDIR} < {c.bundle}/state.json
        """
        with open(os.path.join(c.bundle, "state.json"), "w") as f:
            f.write(c.state)
        r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
        self.assert_ok(r)
        self.assertIn("libhostonly.so.1", [s for s, _ in cache_listing(c.path("/control.cache"))],
                      "control: without the sandbox, ldconfig reaches the host through /proc")
        listing = self.assert_cache_lists_driver(c.path("/etc/ld.so.cache"))
        self.assertNotIn("libhostonly.so.1", [s for s, _ in listing])
        self.assertEqual(snapshot(host), before)


def first_path(listing, soname):
    """Where the loader finds soname: the first entry of the cache for it (ldconfig -p
    prints entries in lookup order)."""
    r = None
    for name, path in listing:
        if name == soname:
            return path
    return r


def debian_ld_conf(c):
    """The loader configuration of Debian 12's libc6: the include line, libc.conf,
    x86_64-linux-gnu.conf."""
    os.makedirs(c.path("/etc/ld.so.conf.d"), exist_ok=True)
    with open(c.path("/etc/ld.so.conf"), "w") as f:
        f.write("include /etc/ld.so.conf.d/*.conf\n\n")
    with open(c.path("/etc/ld.so.conf.d/libc.conf"), "w") as f:
        f.write("/usr/local/lib\n")
    with open(c.path("/etc/ld.so.conf.d/x86_64-linux-gnu.conf"), "w") as f:
        f.write("/usr/local/lib/x86_64-linux-gnu\n/lib/x86_64-linux-gnu\n/usr/lib/x86_64-linux-gnu\n")


def later_ldconfig(c):
    """What a package trigger or a Dockerfile's `RUN ldconfig` does inside the container:
    a plain ldconfig over the image's own configuration."""
    subprocess.run([HOST_LDCONFIG, "-r", c.rootfs], check=True, env={"LC_ALL": "C"})
    return cache_listing(c.path("/etc/ld.so.cache"))


class LaterLdconfig(HookTestCase):
    """Issue: any later ldconfig inside the container (apt/dpkg triggers, RUN ldconfig,
    entrypoints) dropped every driver library, because nothing in the image's loader
    configuration named the folders the driver was mounted into."""

    FOLDER = "/usr/lib/x86_64-linux-gnu/nvidia/current"  # Debian's own driver packaging

    def test_later_ldconfig_keeps_driver_libraries(self):
        c = self.container(with_libs=False)
        debian_ld_conf(c)
        c.add_driver_libs(self.FOLDER)
        self.assert_ok(c.hook("update-ldcache", "--folder", self.FOLDER))
        for listing in (cache_listing(c.path("/etc/ld.so.cache")), later_ldconfig(c)):
            self.assertEqual(first_path(listing, "libcuda.so.1"), f"{self.FOLDER}/libcuda.so.1")
            self.assertEqual(first_path(listing, "libnvidia-ml.so.1"), f"{self.FOLDER}/libnvidia-ml.so.1")
        conf = sorted(os.listdir(c.path("/etc/ld.so.conf.d")))
        self.assertEqual(conf, ["01-nvbind-driver.conf", "libc.conf", "x86_64-linux-gnu.conf"])
        with open(c.path("/etc/ld.so.conf.d/01-nvbind-driver.conf")) as f:
            self.assertIn(f"\n{self.FOLDER}\n", f.read())

    def test_driver_beats_an_image_copy_before_and_after_a_later_ldconfig(self):
        """An image with its own (stale) libcuda.so.1 in /usr/local/lib, which libc.conf
        puts ahead of the multiarch folders: the host driver's must still win, in the hook's
        cache and in the one a later ldconfig makes."""
        c = self.container()
        debian_ld_conf(c)
        os.makedirs(c.path("/usr/local/lib"))
        shutil.copy(Tools.path(f"libcuda.so.{DRIVER}"), c.path("/usr/local/lib/libcuda.so.1"))
        self.assert_ok(c.hook("update-ldcache", "--folder", LIBDIR))
        for listing in (cache_listing(c.path("/etc/ld.so.cache")), later_ldconfig(c)):
            self.assertEqual(first_path(listing, "libcuda.so.1"), f"{LIBDIR}/libcuda.so.1")

    def test_rewritten_when_changed_not_when_same(self):
        c = self.container()
        conf = c.path("/etc/ld.so.conf.d/01-nvbind-driver.conf")
        self.assert_ok(c.hook("update-ldcache", "--folder", LIBDIR))
        st = os.stat(conf)
        self.assert_ok(c.hook("update-ldcache", "--folder", LIBDIR))
        self.assertEqual(os.stat(conf).st_ino, st.st_ino)
        os.unlink(conf)
        os.symlink("/etc/passwd", conf)  # a link there is replaced, never followed
        self.assert_ok(c.hook("update-ldcache", "--folder", LIBDIR, "--folder", "/opt/other"))
        self.assertFalse(os.path.islink(conf))
        with open(conf) as f:
            self.assertEqual([l for l in f.read().splitlines() if not l.startswith("#")], [LIBDIR, "/opt/other"])


def generator(cache):
    """Who wrote a cache, as ldconfig -p says on its last line."""
    r = subprocess.run([HOST_LDCONFIG, "-p", "-C", cache], stdout=subprocess.PIPE, text=True, env={"LC_ALL": "C"})
    last = r.stdout.strip().splitlines()[-1]
    return last.split(": ", 1)[1] if last.startswith("Cache generated by: ") else None


def real_listing(c, listing):
    """A listing with each path resolved inside the root: ldconfig files a library under
    whichever of two equal folders (/lib and /usr/lib on merged /usr) it scanned first."""
    out = []
    for name, path in listing:
        real = os.path.realpath(c.path(path))
        out.append((name, real[len(c.rootfs):] if real.startswith(c.rootfs + "/") else path))
    return out


class DirectCache(HookTestCase):
    """Issue 16: the hook adds the driver's libraries (--lib64/--lib32) to the image's own
    cache when that cache is current, instead of running ldconfig over every library of the
    image; the cache must be the one ldconfig would have written, and whenever the image's
    cache cannot be trusted to be current, ldconfig still runs."""

    LIBS = ("--link", f"libcuda.so.{DRIVER}::{LIBDIR}/libcuda.so.1",
            "--link", f"libnvidia-ml.so.{DRIVER}::{LIBDIR}/libnvidia-ml.so.1",
            "--link", f"libcuda.so.1::{LIBDIR}/libcuda.so",
            "--folder", LIBDIR,
            "--lib64", f"{LIBDIR}/libcuda.so.1", "--lib64", f"{LIBDIR}/libnvidia-ml.so.1",
            "--lib64", f"{LIBDIR}/libcuda.so")

    def image(self):
        """A Debian-configured image with a library of its own in /usr/local/lib and the
        cache its own ldconfig wrote, older than everything the runtime adds afterwards."""
        c = self.container(with_libs=False)
        debian_ld_conf(c)
        os.makedirs(c.path("/usr/local/lib"))
        for lib in ("libvendor.so.3.0", "libhostonly.so.1.0"):
            shutil.copy(Tools.path(lib), c.path(f"/usr/local/lib/{lib}"))
        os.makedirs(c.path(LIBDIR))
        subprocess.run([HOST_LDCONFIG, "-r", c.rootfs], check=True, env={"LC_ALL": "C"})
        past = time.time() - 3600
        for top in ("/etc", "/usr/local/lib"):
            for d, dirs, files in os.walk(c.path(top)):
                for name in [d] + [os.path.join(d, f) for f in files if f != "ld.so.cache"]:
                    os.utime(name, (past, past), follow_symlinks=False)
        c.add_driver_libs()  # what the runtime mounts
        return c

    def what_ldconfig_writes(self, c):
        """The cache the hook's ldconfig run gives for the same root, in a copy of it."""
        ref = self.container(with_libs=False)
        shutil.rmtree(ref.rootfs)
        shutil.copytree(c.rootfs, ref.rootfs, symlinks=True)
        os.unlink(ref.path("/etc/ld.so.cache"))
        subprocess.run([HOST_LDCONFIG, "-r", ref.rootfs, LIBDIR], check=True, env={"LC_ALL": "C"})
        return real_listing(ref, cache_listing(ref.path("/etc/ld.so.cache")))

    def test_written_without_ldconfig_as_ldconfig_would(self):
        c = self.image()
        self.assert_ok(c.hook("update-ldcache", *self.LIBS))
        cache = c.path("/etc/ld.so.cache")
        self.assertTrue(generator(cache).startswith("nvbind "), generator(cache))
        listing = cache_listing(cache)
        self.assertEqual(real_listing(c, listing), self.what_ldconfig_writes(c))
        self.assertEqual(first_path(listing, "libcuda.so.1"), f"{LIBDIR}/libcuda.so.1")
        self.assertEqual(first_path(listing, "libvendor.so.3"), "/usr/local/lib/libvendor.so.3")
        # The next start (docker start, a restarted pod) finds its own cache current: no
        # entry twice, and the same bytes are not written again.
        inode = os.stat(cache).st_ino
        self.assert_ok(c.hook("update-ldcache", *self.LIBS))
        self.assertTrue(generator(cache).startswith("nvbind "))
        self.assertEqual(cache_listing(cache), listing)
        self.assertEqual(os.stat(cache).st_ino, inode)

    def test_image_without_cache_or_folders(self):
        """busybox, alpine: no cache and no library folder but the system ones; the cache
        then holds the driver's libraries, as ldconfig's would."""
        c = self.container()
        self.assert_ok(c.hook("update-ldcache", *self.LIBS))
        cache = c.path("/etc/ld.so.cache")
        self.assertTrue(generator(cache).startswith("nvbind "))
        self.assertEqual(sorted(cache_listing(cache)), sorted([
            ("libcuda.so.1", f"{LIBDIR}/libcuda.so.1"), ("libcuda.so", f"{LIBDIR}/libcuda.so"),
            ("libnvidia-ml.so.1", f"{LIBDIR}/libnvidia-ml.so.1")]))

    def test_image_without_cache_but_a_library_folder(self):
        """No cache, but ld.so.conf names a folder holding a library: only a cache lets the
        loader find it there, so ldconfig runs. An empty folder does not count."""
        c = self.container()
        debian_ld_conf(c)
        os.makedirs(c.path("/usr/local/lib"))
        self.assert_ok(c.hook("update-ldcache", *self.LIBS))
        self.assertTrue(generator(c.path("/etc/ld.so.cache")).startswith("nvbind "))
        os.unlink(c.path("/etc/ld.so.cache"))
        make_lib(c.path("/usr/local/lib/libonly.so.1"), "libonly.so.1")
        self.assert_ok(c.hook("update-ldcache", *self.LIBS))
        self.assertIn(("libonly.so.1", "/usr/local/lib/libonly.so.1"), self.assert_ldconfig_ran(c))

    def assert_ldconfig_ran(self, c):
        cache = c.path("/etc/ld.so.cache")
        self.assertFalse((generator(cache) or "nvbind").startswith("nvbind "), generator(cache))
        return self.assert_cache_lists_driver(cache)

    def test_library_added_after_the_cache(self):
        """A Dockerfile that copied a library in after its last ldconfig: ldconfig runs and
        finds it, as it did before this fast path."""
        c = self.image()
        make_lib(c.path("/usr/local/lib/libadded.so.2"), "libadded.so.2")
        listing = None
        self.assert_ok(c.hook("update-ldcache", *self.LIBS))
        listing = self.assert_ldconfig_ran(c)
        self.assertIn(("libadded.so.2", "/usr/local/lib/libadded.so.2"), listing)

    def test_library_copied_in_with_old_times(self):
        """tar -x, COPY --from and cp -a keep a file's and a folder's old times: a library
        unpacked after the cache into a configured folder (cuDNN into a folder a .conf
        names) must still make ldconfig run."""
        c = self.image()
        make_lib(c.path("/usr/local/lib/libcudnn.so.8.9.7"), "libcudnn.so.8")
        os.symlink("libcudnn.so.8.9.7", c.path("/usr/local/lib/libcudnn.so.8"))
        past = time.time() - 7200
        for p in ("/usr/local/lib/libcudnn.so.8.9.7", "/usr/local/lib/libcudnn.so.8", "/usr/local/lib"):
            os.utime(c.path(p), (past, past), follow_symlinks=False)
        self.assert_ok(c.hook("update-ldcache", *self.LIBS))
        self.assertIn(("libcudnn.so.8", "/usr/local/lib/libcudnn.so.8"), self.assert_ldconfig_ran(c))

    def test_files_ldconfig_passes_over_keep_the_fast_path(self):
        """A linker script (libc.so in a -dev package), a development link and a non-library
        file in a configured folder are nothing ldconfig lists: the cache stays nvbind's."""
        c = self.image()
        with open(c.path("/usr/local/lib/libc.so"), "w") as f:
            f.write("/* GNU ld script */\nGROUP ( libc.so.6 )\n")
        os.symlink("libvendor.so.3.0", c.path("/usr/local/lib/libvendor.so"))
        with open(c.path("/usr/local/lib/libvendor.so.3.0-gdb.py"), "w") as f:
            f.write("# gdb helper\n")
        self.assert_ok(c.hook("update-ldcache", *self.LIBS))
        self.assertTrue(generator(c.path("/etc/ld.so.cache")).startswith("nvbind "))

    def test_configuration_changed_after_the_cache(self):
        c = self.image()
        os.makedirs(c.path("/opt/vendor/lib"))
        make_lib(c.path("/opt/vendor/lib/libopt.so.1"), "libopt.so.1")
        with open(c.path("/etc/ld.so.conf.d/vendor.conf"), "w") as f:
            f.write("/opt/vendor/lib\n")
        self.assert_ok(c.hook("update-ldcache", *self.LIBS))
        self.assertIn(("libopt.so.1", "/opt/vendor/lib/libopt.so.1"), self.assert_ldconfig_ran(c))

    def test_cache_it_cannot_use(self):
        cases = {
            "damaged": lambda c: open(c.path("/etc/ld.so.cache"), "r+b").write(b"glibc-ld.so.cache1.1\xff\xff"),
            "out of order": lambda c: self.reverse_cache(c),
            "CUDA compat wanted": lambda c: (os.makedirs(c.path(CudaCompat.COMPAT)),
                                             make_lib(c.path(f"{CudaCompat.COMPAT}/libcuda.so.999.1"), "libcuda.so.1")),
        }
        for what, spoil in cases.items():
            with self.subTest(what):
                c = self.image()
                spoil(c)
                self.assert_ok(c.hook("update-ldcache", *self.LIBS, "--host-driver-version", DRIVER))
                self.assert_ldconfig_ran(c)

    def reverse_cache(self, c):
        """The image's entries in the opposite order (the table rewritten in place), so that
        only the order is wrong: ld.so's binary search would miss entries merged into it."""
        path = c.path("/etc/ld.so.cache")
        with open(path, "rb") as f:
            data = bytearray(f.read())
        n = int.from_bytes(data[20:24], "little")
        entries = [bytes(data[48 + 24 * i:72 + 24 * i]) for i in range(n)]
        self.assertGreater(n, 1)
        data[48:48 + 24 * n] = b"".join(reversed(entries))
        with open(path, "wb") as f:
            f.write(data)

    def test_fifo_at_the_cache_is_never_opened(self):
        """/etc/ld.so.cache is a FIFO (or a device node: opening one runs its driver, as root):
        the hook must not open it. A writer waiting on the FIFO would wake the moment a
        reader opened it."""
        c = self.image()
        cache = c.path("/etc/ld.so.cache")
        os.unlink(cache)
        os.mkfifo(cache)
        keep = os.path.join(self.outside, "fifo")
        os.link(cache, keep)  # to release the writer after ldconfig replaced the name
        opened = threading.Event()

        def writer():
            fd = os.open(keep, os.O_WRONLY)
            opened.set()
            os.close(fd)

        t = threading.Thread(target=writer, daemon=True)
        t.start()
        time.sleep(0.2)
        self.assert_ok(c.hook("update-ldcache", *self.LIBS))
        self.assertFalse(opened.wait(0.5), "the hook opened the FIFO at /etc/ld.so.cache")
        self.assert_ldconfig_ran(c)
        fd = os.open(keep, os.O_RDONLY | os.O_NONBLOCK)
        t.join(5)
        os.close(fd)

    def test_hostile_cache_link_not_followed(self):
        """The image's /etc/ld.so.cache is a link to a host file: never read as the image's
        cache, and replaced by ldconfig's, as before."""
        sentinel = os.path.join(self.outside, "sentinel")
        with open(sentinel, "wb") as f:
            f.write(open("/etc/ld.so.cache", "rb").read())  # a valid cache, full of host paths
        before = (sha256(sentinel), os.stat(sentinel).st_mtime_ns)
        c = self.image()
        os.unlink(c.path("/etc/ld.so.cache"))
        os.symlink(sentinel, c.path("/etc/ld.so.cache"))
        self.assert_ok(c.hook("update-ldcache", *self.LIBS))
        self.assertEqual((sha256(sentinel), os.stat(sentinel).st_mtime_ns), before)
        listing = self.assert_ldconfig_ran(c)
        self.assertNotIn("libc.so.6", [n for n, _ in listing])  # nothing of the host's cache


def spec_hooks(spec):
    return [h["args"][1:] for h in spec["containerEdits"].get("hooks", [])]


class SpecLinks(HookTestCase):
    """Issue: libGLX_indirect.so.0 vanished and libcuda.so / libnvidia-ml.so were missing
    from the cache: the links hook made them point at SONAME links that only ldconfig
    created later, and ldconfig deletes dangling "*.so.*" links and does not cache dangling
    ones. The hooks of nvbind's own spec run here in order, on the files the spec mounts."""

    def test_spec_hooks_leave_links_that_resolve_and_are_cached(self):
        sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))
        from nvbtest import FakeHost
        fh = FakeHost()
        self.addCleanup(fh.remove)
        r = fh.nvbind("cdi", "generate", "--output", "-")
        self.assertEqual(r.returncode, 0, r.stderr)
        spec = json.loads(r.stdout)
        c = self.container(with_libs=False)
        debian_ld_conf(c)
        for m in spec["containerEdits"]["mounts"]:  # what the runtime would bind-mount
            if "/lib" in m["containerPath"] and os.path.isfile(m["hostPath"]):
                os.makedirs(os.path.dirname(c.path(m["containerPath"])), exist_ok=True)
                shutil.copy(m["hostPath"], c.path(m["containerPath"]))
        hooks = spec_hooks(spec)
        self.assertEqual([h[1] for h in hooks], ["update-ldcache"])  # links, then the cache: one process
        for args in hooks:
            self.assert_ok(c.hook(*args[1:]))
        for listing in (cache_listing(c.path("/etc/ld.so.cache")), later_ldconfig(c)):
            for name in ("libcuda.so.1", "libcuda.so", "libnvidia-ml.so.1", "libnvidia-ml.so", "libGLX_nvidia.so.0"):
                self.assertEqual(first_path(listing, name), f"{LIBDIR}/{name}", name)
            indirect = c.path(f"{LIBDIR}/libGLX_indirect.so.0")
            self.assertTrue(os.path.islink(indirect), "libGLX_indirect.so.0 is gone")
            self.assertEqual(os.path.realpath(indirect), os.path.realpath(c.path(f"{LIBDIR}/libGLX_nvidia.so.0")))
            self.assertTrue(os.path.isfile(indirect))


def make_lib(path, soname):
    subprocess.run(["gcc", "-shared", "-fPIC", f"-Wl,-soname,{soname}", "-o", path, Tools.path("stub.c")],
                   check=True)


class CudaCompat(HookTestCase):
    """CUDA forward compatibility: an image's /usr/local/cuda/compat/libcuda.so.V newer than
    the host driver goes first; an older or equal one is ignored; the image's files are only
    ever listed by name, inside the root."""
    COMPAT = "/usr/local/cuda/compat"

    def image_with_compat(self, version, link_to=None):
        c = self.container()
        debian_ld_conf(c)
        os.makedirs(c.path("/usr/local/cuda-12.4/compat"))
        os.symlink("cuda-12.4", c.path("/usr/local/cuda"))  # as NVIDIA's CUDA images have it
        make_lib(c.path(f"{self.COMPAT}/libcuda.so.{version}"), "libcuda.so.1")
        os.symlink(f"libcuda.so.{version}", c.path(f"{self.COMPAT}/libcuda.so.1"))
        return c

    def test_newer_compat_first_numerically(self):
        # "1000.1" sorts before "550.54.14" as a string; numerically it is newer.
        c = self.image_with_compat("1000.1.2")
        self.assert_ok(c.hook("update-ldcache", "--folder", LIBDIR, "--host-driver-version", DRIVER))
        for listing in (cache_listing(c.path("/etc/ld.so.cache")), later_ldconfig(c)):
            self.assertEqual(first_path(listing, "libcuda.so.1"), f"{self.COMPAT}/libcuda.so.1")
            self.assertIn(("libcuda.so.1", f"{LIBDIR}/libcuda.so.1"), listing)
        self.assertEqual(sorted(os.listdir(c.path("/etc/ld.so.conf.d")))[:2],
                         ["00-nvbind-cuda-compat.conf", "01-nvbind-driver.conf"])

    def test_older_or_same_compat_ignored_and_stale_file_removed(self):
        for version in ("545.23.08", DRIVER):
            with self.subTest(compat=version):
                c = self.image_with_compat(version)
                with open(c.path("/etc/ld.so.conf.d/00-nvbind-cuda-compat.conf"), "w") as f:
                    f.write(self.COMPAT + "\n")  # left by a start on an older host driver
                self.assert_ok(c.hook("update-ldcache", "--folder", LIBDIR, "--host-driver-version", DRIVER))
                self.assertFalse(os.path.exists(c.path("/etc/ld.so.conf.d/00-nvbind-cuda-compat.conf")))
                for listing in (cache_listing(c.path("/etc/ld.so.cache")), later_ldconfig(c)):
                    self.assertEqual(first_path(listing, "libcuda.so.1"), f"{LIBDIR}/libcuda.so.1")

    def test_compat_symlink_to_host_folder(self):
        """Attack: /usr/local/cuda is a symlink to a host folder holding a "newer"
        libcuda. The hook must neither use it nor touch anything there."""
        host = self.host_folder()
        make_lib(os.path.join(host, "libcuda.so.999.1"), "libcuda.so.1")
        os.symlink("libcuda.so.999.1", os.path.join(host, "libcuda.so.1"))
        before = snapshot(host)
        for kind, target in (("absolute", host), ("relative", "../../../../../../../../.." + host)):
            with self.subTest(kind=kind):
                c = self.container()
                os.makedirs(c.path("/usr/local/cuda"))
                os.symlink(target, c.path(self.COMPAT))
                self.assert_ok(c.hook("update-ldcache", "--folder", LIBDIR, "--host-driver-version", DRIVER))
                self.assertFalse(os.path.lexists(c.path("/etc/ld.so.conf.d/00-nvbind-cuda-compat.conf")))
                listing = cache_listing(c.path("/etc/ld.so.cache"))
                self.assertEqual(first_path(listing, "libcuda.so.1"), f"{LIBDIR}/libcuda.so.1")
                self.assertEqual(snapshot(host), before)

    def test_bad_version_refused(self):
        c = self.container()
        self.assert_one_line_error(c.hook("update-ldcache", "--host-driver-version", "550"), EXIT_USAGE,
                                   "--host-driver-version 550")


class ConcurrentStarts(HookTestCase):
    """Issue: containers started at once on one root filesystem raced on
    /etc/ld.so.cache~ and the hook failed. Now they take turns (a lock on the root)."""

    def test_parallel_hooks_on_one_root(self):
        c = self.container()
        debian_ld_conf(c)
        for round in range(3):
            procs = [subprocess.Popen([NVBIND, "hook", "update-ldcache", "--folder", LIBDIR], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=hook_env(),
                                      cwd=c.rootfs) for _ in range(12)]
            for p in procs:
                p.stdin.write(c.state)
                p.stdin.close()
            for p in procs:
                p.wait(timeout=120)
                self.assertEqual(p.returncode, 0, f"round {round}: {p.stderr.read()}")
                p.stdout.close()
                p.stderr.close()
            self.assert_cache_lists_driver(c.path("/etc/ld.so.cache"))
            self.assertEqual([n for n in os.listdir(c.path("/etc")) if "~" in n or ".tmp." in n], [])


DEBIAN_IMAGE = "localhost/nvbind-proto-debian:12"
DLPROBE_C = r"""
#include <dlfcn.h>
#include <stdio.h>
int main(int argc, char **argv) {
    int bad = 0;
    for (int i = 1; i < argc; i++) {
        void *h = dlopen(argv[i], RTLD_NOW | RTLD_LOCAL);
        printf("dlopen %s: %s\n", argv[i], h ? "loaded" : dlerror());
        bad |= !h;
    }
    return bad;
}
"""


def real_glibc_host_and_image():
    """(nvbind --root arguments, image, cleanup) for the in-container checks: the real
    packaging host of tests/realhost when that builder is there, else a fake host with the
    debootstrapped Debian 12 image. None when neither image is available."""
    realhost_dir = os.path.join(REPO, "tests", "realhost")
    if os.path.exists(os.path.join(realhost_dir, "realhost.py")):
        sys.path.insert(0, realhost_dir)
        import realhost
        try:
            got = realhost.ensure()
        except Exception as e:  # no mirror, no debootstrap: the fake host below still runs
            print(f"tests/realhost unavailable ({e}); using a fake host", file=sys.stderr)
            got = None
        if got:
            return ["--root", got["root"]], got["image"], lambda: None
    if subprocess.run(["podman", "image", "exists", DEBIAN_IMAGE]).returncode != 0:
        return None
    sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))
    from nvbtest import FakeHost
    fh = FakeHost()
    return fh.args, DEBIAN_IMAGE, fh.remove


@unittest.skipUnless(shutil.which("podman"), "podman is not installed")
class InDebianImage(HookTestCase):
    """What a program in a real glibc image sees after nvbind's hooks ran under real podman:
    the libraries in the cache and loadable by dlopen, also after the image runs ldconfig
    again; and docker's legacy --device/--volume form (run here by podman, which takes the
    same flags), where no hook runs at all."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        got = real_glibc_host_and_image()
        if not got:
            raise unittest.SkipTest(f"neither tests/realhost nor the image {DEBIAN_IMAGE} is available")
        cls.root_args, cls.image, cls.cleanup_host = got
        # A dynamically linked probe, built against this machine's glibc (Debian 12's).
        cls.probe = os.path.join(Tools.dir, "dlprobe")
        src = cls.probe + ".c"
        with open(src, "w") as f:
            f.write(DLPROBE_C)
        subprocess.run(["gcc", "-O1", "-o", cls.probe, src], check=True)
        cls.kind = f"nvbind-hooktest-{os.getpid()}.test/gpu"
        cls.spec = f"/var/run/cdi/nvbind-hooktest-{os.getpid()}.test-gpu.json"
        os.makedirs("/var/run/cdi", exist_ok=True)
        r = subprocess.run([NVBIND, *cls.root_args, "cdi", "generate", "--kind", cls.kind, "--output", cls.spec],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            cls.cleanup_host()
            raise AssertionError(f"cdi generate: {r.stderr}")

    @classmethod
    def tearDownClass(cls):
        if os.path.exists(cls.spec):
            os.unlink(cls.spec)
        cls.cleanup_host()

    def podman(self, args, timeout=180, check=True):
        r = subprocess.run(["podman", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=timeout)
        if check:
            self.assertEqual(r.returncode, 0, f"podman {' '.join(args[:4])}...: {r.stdout}{r.stderr}")
        self.assertIn("dlopen ", r.stdout, r.stderr)  # the probe ran
        return r.stdout

    def test_cache_and_dlopen_survive_a_later_ldconfig(self):
        names = ["libcuda.so.1", "libcuda.so", "libnvidia-ml.so.1", "libnvidia-ml.so"]
        probe = "/probe/dlprobe libcuda.so.1 libcuda.so libnvidia-ml.so.1 libnvidia-ml.so libGLX_indirect.so.0"
        script = (f"ldconfig -p; {probe}; "
                  "test -e /usr/lib/x86_64-linux-gnu/libGLX_indirect.so.0 && echo indirect=present; "
                  "echo '=== after ldconfig'; ldconfig && ldconfig -p; "
                  f"{probe}; "
                  "test -e /usr/lib/x86_64-linux-gnu/libGLX_indirect.so.0 && echo indirect=present; true")
        out = self.podman(["run", "--rm", "--device", f"{self.kind}=0", "-v", f"{self.probe}:/probe/dlprobe:ro",
                           self.image, "sh", "-c", script])
        first, second = out.split("=== after ldconfig")
        for part in (first, second):
            cached = {l.split()[0] for l in part.splitlines() if "=>" in l and "x86-64" in l}
            for name in names:
                self.assertIn(name, cached, part)
                self.assertIn(f"dlopen {name}: loaded", part)
            self.assertIn("indirect=present", part)
            # GLVND dlopens it by name: the loader must find the file itself (a minbase
            # image may still lack what the real libGLX_nvidia needs, such as libX11).
            self.assertRegex(part, r"dlopen libGLX_indirect\.so\.0: (loaded|(?!libGLX_indirect)\S+: cannot open)")

    def test_cache_written_without_ldconfig_is_the_one_ldconfig_writes(self):
        """Issue 16: on a real image the hook adds the driver to the image's cache itself.
        Seen from inside: the cache says nvbind wrote it, and lists the same libraries at
        the same files as a cache the container's own ldconfig writes from scratch."""
        self.assert_nvbinds_cache_is_ldconfigs(["--device", f"{self.kind}=0"])

    def test_cache_made_by_the_shim_before_runc_is_the_one_ldconfig_writes(self):
        """nvbind-runtime (podman's runtime here, NVIDIA's request variable) does the hook's
        work before runc runs and leaves the hook out: the same checks from inside."""
        tmp = tempfile.mkdtemp(prefix="nvbind-shim-ahead-")
        self.addCleanup(shutil.rmtree, tmp, True)
        back = os.path.join(tmp, "back.sh")  # the "real runtime": keeps the config.json it is given
        with open(back, "w") as f:
            f.write(f'#!/bin/sh\nfor a in "$@"; do case "$prev" in --bundle|-b) cp "$a/config.json" {tmp}/seen.json;; '
                    f'esac; prev="$a"; done\nexec runc "$@"\n')
        config = os.path.join(tmp, "nvbind.toml")
        driver_root = self.root_args[self.root_args.index("--driver-root") + 1] \
            if "--driver-root" in self.root_args else None
        with open(config, "w") as f:
            f.write(f'[runtime]\noci_runtime = "{back}"\n'
                    f'[isolation]\nstate_dir = "{tmp}/state"\naudit_log = "{tmp}/audit.log"\n'
                    + (f'[host]\ndriver_root = "{driver_root}"\n' if driver_root else ""))
        front = os.path.join(tmp, "front.sh")  # podman starts runtimes with a clean environment
        with open(front, "w") as f:
            f.write(f"#!/bin/sh\nexport NVBIND_ROOT={self.root_args[1]} NVBIND_CONFIG={config}\n"
                    f"exec {os.path.join(os.path.dirname(NVBIND), 'nvbind-runtime')} \"$@\"\n")
        os.chmod(back, 0o755)
        os.chmod(front, 0o755)
        self.assert_nvbinds_cache_is_ldconfigs(["-e", "NVIDIA_VISIBLE_DEVICES=0"], ["--runtime", front])
        with open(os.path.join(tmp, "seen.json")) as f:
            seen = json.load(f)
        self.assertNotIn("hooks", seen)

    def assert_nvbinds_cache_is_ldconfigs(self, request, podman_args=()):
        resolve = ("tail -n +2 | grep '=>' | while read name desc arrow path; do "
                   "echo \"$name $desc $(readlink -f $path)\"; done | sort")
        script = (f"ldconfig -p | tail -n 1; echo '=== ours'; ldconfig -p | {resolve}; "
                  f"echo '=== ldconfig'; ldconfig -C /tmp/ref.cache && ldconfig -p -C /tmp/ref.cache | {resolve}; "
                  "/probe/dlprobe libcuda.so.1 libnvidia-ml.so.1")
        out = self.podman([*podman_args, "run", "--rm", *request, "-v", f"{self.probe}:/probe/dlprobe:ro",
                           self.image, "sh", "-c", script])
        head, rest = out.split("=== ours\n")
        ours, ref = rest.split("=== ldconfig\n")
        ref = ref.split("dlopen ")[0]
        self.assertIn("Cache generated by: nvbind ", head)
        self.assertGreater(len(ours.splitlines()), 100, ours)  # the image's own libraries are there
        self.assertEqual(ours, ref)
        for name in ("libcuda.so.1", "libnvidia-ml.so.1"):
            self.assertIn(f"dlopen {name}: loaded", out)

    def test_docker_legacy_form_gives_sonames(self):
        r = subprocess.run([NVBIND, *self.root_args, "run", "--runtime", "docker", "--dry-run", self.image,
                            "/probe/dlprobe"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        argv = shlex.split(r.stdout.strip().splitlines()[-1])  # the legacy form, for docker without CDI
        self.assertNotIn(self.kind, argv)
        sonames = ["libcuda.so.1", "libnvidia-ml.so.1"]
        for v in argv:
            dest = v.split(":")[1] if v.count(":") >= 1 and v.startswith("/") else ""
            base = os.path.basename(dest)
            if dest.startswith("/usr/lib/x86_64-linux-gnu/") and re.fullmatch(r"libnvidia-[a-z]+\.so\.[0-9]", base) \
                    and base not in sonames:
                sonames.append(base)
        i = argv.index(self.image)
        if argv[i - 1] == "--":  # nvbind ends the engine's options before IMAGE
            i -= 1
        out = self.podman(["run", *argv[2:i], "-v", f"{self.probe}:/probe/dlprobe:ro", self.image, "/probe/dlprobe",
                           *sonames], check=False)  # the probe fails when any library is missing
        for name in sonames:
            # Found by the loader; a minbase image may lack what a library needs (libGL.so.1).
            self.assertRegex(out, rf"dlopen {re.escape(name)}: (loaded|(?!{re.escape(name)})\S+: cannot open)")


if __name__ == "__main__":
    unittest.main()
