"""nvbind's Debian packages, installed the way a user installs them: apt-get inside a fresh
Debian 12 root (a copy of the minbase root tests/realhost caches; the cache is never changed),
dependencies resolved from Debian's archive. Then, inside that root, what a user would check:
the commands run, the units pass systemd-analyze verify and are enabled, the unit's own
command writes a spec, the logrotate file rotates the audit log, a program builds against
libnvbind-dev and runs on libnvbind0.

Slow (the package build and the install take minutes): skipped by `tests/run --quick` unless
selected with -k. Skipped too when the root cannot be made for a reason outside nvbind (not
root, the Debian mirror unreachable on a first run)."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

from nvbtest import REPO, fakehost

sys.path.insert(0, os.path.join(REPO, "tests", "realhost"))
import debpkg  # noqa: E402
import realhost  # noqa: E402

# What the root needs besides the packages' own dependencies: systemd (its units are what
# systemd-analyze verifies against; its postinst helpers enable ours), the shells and
# bash-completion (the completions), logrotate, pkg-config.
EXTRA = ["systemd", "bash-completion", "zsh", "fish", "logrotate", "pkg-config"]
UNITS = ["nvbind-cdi-refresh.service", "nvbind-cdi-refresh.path"]
# apt's downloads for this test, kept between runs; realhost's own archive cache is only read.
ARCHIVES = os.path.join(os.path.dirname(realhost.cache_dir()), "package", "apt-archives")

API_PROBE_C = r"""
#include <nvbind.h>
#include <stdio.h>
int main(void) { printf("libnvbind %s\n", nvbind_version()); return 0; }
"""


def project_version():
    with open(os.path.join(REPO, "meson.build")) as f:
        return re.search(r"version\s*:\s*'([^']+)'", f.read()).group(1)


def chroot(root, *args, env=None, timeout=300):
    e = realhost.chroot_env()
    e.update(env or {})
    return subprocess.run(["chroot", root, *args], env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=timeout)


def link_debs(src, dst, skip=()):
    """Hard-link src's .deb files into dst (same file system: no copy), but those in skip."""
    os.makedirs(dst, exist_ok=True)
    for name in os.listdir(src) if os.path.isdir(src) else []:
        if name.endswith(".deb") and name not in skip and not os.path.exists(os.path.join(dst, name)):
            try:
                os.link(os.path.join(src, name), os.path.join(dst, name))
            except OSError:
                shutil.copy2(os.path.join(src, name), os.path.join(dst, name))


def make_root(tmp, log):
    """A copy of realhost's minbase root with apt set up (sources, no service starts)."""
    root = os.path.join(tmp, "root")
    os.makedirs(root)
    with realhost.locked():
        base = os.path.join(realhost.cache_dir(), f"base-{realhost.base_recipe()}")
        if not os.path.isdir(base) and not realhost.mirror_reachable():
            raise realhost.RealHostUnavailable("no cached Debian 12 root and the Debian mirror cannot be reached")
        realhost.debootstrap(root, log)  # copies the cached base; builds it on a first run
    return root


def apt_install(root, debs, log):
    """apt-get install of our .deb files and EXTRA, the downloads cached in ARCHIVES."""
    inside = os.path.join(root, "var/cache/apt/archives")
    shared = os.path.join(realhost.cache_dir(), "apt-archives")
    link_debs(shared, inside)
    link_debs(ARCHIVES, inside)
    os.makedirs(os.path.join(root, "tmp/debs"), exist_ok=True)
    local = []
    for path in debs:
        shutil.copy2(path, os.path.join(root, "tmp/debs"))
        local.append("/tmp/debs/" + os.path.basename(path))
    cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *local, *EXTRA]
    r = chroot(root, *cmd, timeout=900)
    if r.returncode != 0:
        # The base root's package lists may name versions the mirror has replaced since.
        if not realhost.mirror_reachable():
            raise realhost.RealHostUnavailable("the Debian mirror cannot be reached to install dependencies")
        chroot(root, "apt-get", "update", "-q", timeout=600)
        r = chroot(root, *cmd, timeout=900)
    log.write(r.stdout + r.stderr)
    if r.returncode != 0:
        raise AssertionError(f"apt-get install in the root failed ({r.returncode}):\n{(r.stdout + r.stderr)[-3000:]}")
    link_debs(inside, ARCHIVES, skip=set(os.listdir(shared)) if os.path.isdir(shared) else ())


class DebianPackageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if os.environ.get("NVBIND_QUICK") == "1":
            raise unittest.SkipTest("slow (builds the Debian package, installs it into a debootstrap "
                                    "root: minutes): run without --quick, or select it with -k")
        if os.path.basename(os.environ.get("NVBIND_BUILD_DIR", "build")) != "build":
            raise unittest.SkipTest("the package is built from the tree, not from this pass's build: "
                                    "checked once, in the main pass")
        if os.geteuid() != 0:
            raise unittest.SkipTest("needs root (chroot, dpkg inside the root)")
        for tool in ("dpkg-buildpackage", "debootstrap", "systemd-analyze"):
            if not shutil.which(tool):
                raise AssertionError(f"{tool} is missing (scripts/install-deps --tests installs it)")
        cls.tmp = tempfile.mkdtemp(prefix="nvbind-package-", dir="/var/tmp")
        try:
            started = time.monotonic()
            cls.pkg = debpkg.build()
            built = time.monotonic()
            cls.log = open(os.path.join(cls.tmp, "install.log"), "w")
            try:
                cls.root = make_root(cls.tmp, cls.log)
            except realhost.RealHostUnavailable as e:
                raise unittest.SkipTest(str(e))
            apt_install(cls.root, cls.pkg["debs"].values(), cls.log)
            print(f"\n    package: {'reused' if cls.pkg['reused'] else 'built'} in {built - started:.0f} s "
                  f"(dpkg-buildpackage {cls.pkg['seconds']} s); root and install "
                  f"{time.monotonic() - built:.0f} s", file=sys.stderr)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "log", None):
            cls.log.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def in_root(self, *args, **kw):
        return chroot(self.root, *args, **kw)

    def test_installed_commands_run(self):
        """`nvbind --version`, `nvbind --help`, the shim's version and the device plugin's help from the
        installed files."""
        r = self.in_root("nvbind", "--version")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), f"nvbind {project_version()}")
        r = self.in_root("nvbind", "--help")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("Commands:", r.stdout)
        self.assertRegex(r.stdout, r"(?m)^  cdi\s", "nvbind --help lists no cdi command")
        r = self.in_root("nvbind-runtime", "--version")
        self.assertTrue(r.stdout.startswith(f"nvbind-runtime version {project_version()}\n"), r.stdout + r.stderr)
        # The device plugin's own package: `nvbind device-plugin` runs the helper installed
        # next to nvbind, which alone links gRPC (its libraries came from Debian's archive).
        self.assertTrue(os.path.exists(os.path.join(self.root, "usr/bin/nvbind-device-plugin")))
        r = self.in_root("nvbind", "device-plugin", "--help")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # Every installed program's libraries resolve in the root (the helpers' gRPC,
        # libmicrohttpd and ncurses came from their packages' dependencies).
        for exe in ("nvbind", "nvbind-runtime", "nvbind-device-plugin", "nvbind-monitor"):
            r = self.in_root("/lib64/ld-linux-x86-64.so.2", "--list", "/usr/bin/" + exe)
            self.assertEqual(r.returncode, 0, f"{exe}: {r.stdout}{r.stderr}")
            self.assertNotIn("not found", r.stdout, exe)
        for page in ("man1/nvbind.1.gz", "man1/nvbind-runtime.1.gz", "man1/nvbind-monitor.1.gz",
                     "man5/nvbind.toml.5.gz",
                     "man3/libnvbind.3.gz"):
            self.assertTrue(os.path.exists(os.path.join(self.root, "usr/share/man", page)), page)

    def test_units_verify_and_are_enabled(self):
        """systemd-analyze verify (the host's, on the root) accepts both units; the package's
        maintainer scripts enabled them."""
        paths = ["/lib/systemd/system/" + u for u in UNITS]
        r = subprocess.run(["systemd-analyze", "verify", f"--root={self.root}", "--man=no", *paths],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertNotIn("nvbind", r.stdout, "systemd-analyze verify complains about our units")
        for unit in UNITS:
            r = self.in_root("systemctl", "is-enabled", unit)
            self.assertEqual(r.stdout.strip(), "enabled", f"{unit}: {r.stdout}{r.stderr}")

    def test_service_command_writes_the_spec(self):
        """The service's ExecStart, run as written in the installed unit (on a fake host given
        by NVBIND_ROOT), makes /var/run/cdi and writes a valid spec whose hooks name the
        installed nvbind."""
        with open(os.path.join(self.root, "lib/systemd/system/nvbind-cdi-refresh.service")) as f:
            argv = re.search(r"^ExecStart=(.*)$", f.read(), re.M).group(1).split()
        fake = os.path.join(self.root, "tmp/fakehost")
        fakehost.build(fake, gpus=2)
        shutil.rmtree(os.path.join(self.root, "run/cdi"), ignore_errors=True)
        r = self.in_root(*argv, env={"NVBIND_ROOT": "/tmp/fakehost"})
        self.assertEqual(r.returncode, 0, r.stderr)
        spec_path = os.path.join(self.root, "run/cdi/nvidia.com-gpu.json")
        with open(spec_path) as f:
            spec = json.load(f)
        self.assertEqual(spec["kind"], "nvidia.com/gpu")
        self.assertIn("0", [d["name"] for d in spec["devices"]])
        self.assertIn("1", [d["name"] for d in spec["devices"]])
        hooks = [h["path"] for h in spec.get("containerEdits", {}).get("hooks", [])]
        self.assertTrue(hooks and all(h == "/usr/bin/nvbind" for h in hooks), hooks)
        r = self.in_root("nvbind", "cdi", "validate", "/run/cdi/nvidia.com-gpu.json")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_completions_load_in_their_shells(self):
        """Each shell finds nvbind's completion by itself (bash-completion's loader, zsh's
        compinit over its default $fpath, fish's vendor folder), and bash and fish complete
        `nvbind ru` to `run`."""
        bash = ("source /usr/share/bash-completion/bash_completion; __load_completion nvbind || exit 3; "
                "COMP_WORDS=(nvbind ru); COMP_CWORD=1; COMP_LINE='nvbind ru'; COMP_POINT=${#COMP_LINE}; "
                "f=$(complete -p nvbind | sed -E 's/.* -F ([^ ]+) .*/\\1/'); \"$f\" nvbind ru nvbind; "
                "printf '%s\\n' \"${COMPREPLY[@]}\"")
        r = self.in_root("bash", "-c", bash)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("run", r.stdout.split(), r.stdout + r.stderr)
        r = self.in_root("fish", "-c", "complete -C 'nvbind ru'")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("run", [ln.split("\t")[0] for ln in r.stdout.splitlines()], r.stdout + r.stderr)
        r = self.in_root("zsh", "-c", "autoload -U compinit && compinit -u && print -r -- ${_comps[nvbind]}")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "_nvbind", r.stderr)
        r = self.in_root("zsh", "-n", "/usr/share/zsh/vendor-completions/_nvbind")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_logrotate_rotates_the_audit_log(self):
        """The installed logrotate file parses, and a forced rotation moves the audit log away
        without making an empty one (nvbind makes it, mode 0640, on the next event)."""
        log = os.path.join(self.root, "var/log/nvbind/audit.log")
        os.makedirs(os.path.dirname(log), mode=0o750, exist_ok=True)
        with open(log, "w") as f:
            f.write('{"event":"test"}\n')
        r = self.in_root("logrotate", "-f", "-s", "/tmp/logrotate.state", "/etc/logrotate.d/nvbind")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertTrue(os.path.exists(log + ".1"), os.listdir(os.path.dirname(log)))
        self.assertFalse(os.path.exists(log))

    def test_program_builds_against_libnvbind_dev(self):
        """pkg-config in the root finds nvbind.pc; a program built with its flags (the host's
        compiler, the root's header and library) runs inside the root on libnvbind0."""
        r = self.in_root("pkg-config", "--cflags", "--libs", "nvbind")
        self.assertEqual(r.returncode, 0, r.stderr)
        src = os.path.join(self.tmp, "probe.c")
        with open(src, "w") as f:
            f.write(API_PROBE_C)
        flags = [("-I" + self.root + a[2:]) if a.startswith("-I") else
                 ("-L" + self.root + a[2:]) if a.startswith("-L") else a for a in r.stdout.split()]
        if not any(a.startswith("-I") for a in flags):
            flags.append("-I" + os.path.join(self.root, "usr/include"))
        flags.append("-L" + os.path.join(self.root, "usr/lib/x86_64-linux-gnu"))
        out = os.path.join(self.root, "tmp/probe")
        c = subprocess.run(["gcc", "-o", out, src, *flags], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
        self.assertEqual(c.returncode, 0, c.stdout)
        r = self.in_root("/tmp/probe")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), f"libnvbind {project_version()}")


if __name__ == "__main__":
    unittest.main()
