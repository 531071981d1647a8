"""nvbind and nvbind-runtime as static-pie executables (meson option static_exe, on by default
where the build can; docs/packaging.md): they map no shared object, and what needs the shared C
library runs in nvbind-helper (lib/util/isolate.h): NVML's calls, and user and group lookups
that /etc/passwd and /etc/group do not answer. A sanitizer build links them dynamically: then
these tests have nothing to check and skip."""
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from nvbtest import BUILD_DIR, FAKENVML, NVBIND, FakeHost

SHIM = os.path.join(os.path.dirname(NVBIND), "nvbind-runtime")
HELPER = os.path.join(os.path.dirname(NVBIND), "nvbind-helper")
NOBODY_UID = 4242  # in neither /etc/passwd nor any other name service here


def has_interpreter(path):
    """Whether the ELF file asks for a dynamic loader (PT_INTERP), as `ldd` reads it."""
    r = subprocess.run(["readelf", "-lW", path], stdout=subprocess.PIPE, text=True, check=True)
    return "Requesting program interpreter" in r.stdout


STATIC = not has_interpreter(NVBIND)


def helpers_running():
    """The nvbind-helper processes alive now."""
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if os.path.basename(os.readlink(f"/proc/{pid}/exe")) == "nvbind-helper":
                    found.append(int(pid))
            except OSError:
                pass
    return found


@unittest.skipUnless(STATIC, "nvbind is linked dynamically in this build (a sanitizer build)")
class StaticExecutables(unittest.TestCase):
    def test_the_commands_map_no_shared_object(self):
        for exe in (NVBIND, SHIM):
            self.assertFalse(has_interpreter(exe), exe)
            r = subprocess.run(["ldd", exe], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            self.assertIn("statically linked", r.stdout, exe)
        # The helper is the one that maps the shared C library, for NVML's sake.
        self.assertTrue(has_interpreter(HELPER))

    def test_a_running_nvbind_has_no_libc_mapped(self):
        # What a user's `grep libc /proc/PID/maps` would see: the process itself, mid-run.
        with FakeHost(gpus=1) as fh:
            p = subprocess.Popen([NVBIND, *fh.args, "run", "--runtime", "runc", "--dry-run", "--gpu", "0", "img"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            maps = ""
            try:
                with open(f"/proc/{p.pid}/maps") as f:
                    maps = f.read()
            except OSError:
                pass
            p.communicate(timeout=60)
            self.assertNotIn("libc.so", maps)

    def test_nvml_goes_through_the_helper(self):
        with FakeHost(gpus=2, mig=True, fake_nvml=FAKENVML) as fh:
            r = subprocess.run(["strace", "-f", "-qq", "-s", "512", "-e", "trace=execve", NVBIND, *fh.args, "info", "--detailed",
                                "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=dict(os.environ, NVBIND_HOST_CACHE="off"))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn(f'execve("{HELPER}", ["{HELPER}", "nvml-gpus"]', r.stderr)
            info = json.loads(r.stdout)
            self.assertTrue(info["nvml"])
            self.assertEqual(info["gpus"][0]["memory_mib"], fh.manifest["detailed"]["gpus"][0]["memory_mib"])

    def test_without_the_helper_nvml_is_skipped_with_a_warning(self):
        tmp = tempfile.mkdtemp(prefix="nvbind-nohelper-")
        try:
            lone = os.path.join(tmp, "nvbind")
            shutil.copy(NVBIND, lone)
            os.chmod(tmp, 0o755)
            with FakeHost(gpus=1, fake_nvml=FAKENVML) as fh:
                r = subprocess.run([lone, *fh.args, "info", "--detailed", "--json"], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, env=dict(os.environ, NVBIND_HOST_CACHE="off"))
            self.assertEqual(r.returncode, 0, r.stderr)
            info = json.loads(r.stdout)
            self.assertFalse(info["nvml"])
            self.assertTrue(any("NVML: not asked: nvbind-helper is neither next to this program" in w
                                for w in info["warnings"]), info["warnings"])
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_a_hung_nvml_helper_is_killed_at_the_deadline(self):
        before = set(helpers_running())
        with FakeHost(gpus=1, fake_nvml=FAKENVML, nvml_overrides={"init_delay_ms": 60000}) as fh:
            start = time.monotonic()
            r = fh.nvbind("info", "--detailed", "--json")
            self.assertLess(time.monotonic() - start, 15)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(any("did not answer" in w for w in json.loads(r.stdout)["warnings"]))
        # A worker thread stuck in NVML ended with the process; the helper must not outlive it.
        self.assertEqual(set(helpers_running()) - before, set())

    def test_a_user_no_name_service_knows_is_named_by_uid(self):
        # glibc's static getpwuid would dlopen libnss_systemd (nsswitch.conf: "files systemd")
        # into the process and crash it; the lookup goes to the helper instead.
        env = dict(os.environ, HOME="/", XDG_CONFIG_HOME="/nonexistent")
        env.pop("NVBIND_CONFIG", None)
        r = subprocess.run(["setpriv", f"--reuid={NOBODY_UID}", f"--regid={NOBODY_UID}", "--clear-groups", NVBIND,
                            "doctor"], cwd="/", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                           timeout=120)
        self.assertGreaterEqual(r.returncode, 0, "killed by a signal: " + r.stderr)
        self.assertIn(f"uid {NOBODY_UID} is not root and not in group nvbind", r.stdout + r.stderr)

    def test_the_nvbind_group_missing_from_every_name_service(self):
        # Root's doctor looks the group up; /etc/group lacks it here, so the helper is asked.
        with open("/etc/group") as f:
            if any(line.startswith("nvbind:") for line in f):
                self.skipTest("this machine has an nvbind group")
        env = dict(os.environ)
        env.pop("NVBIND_CONFIG", None)
        r = subprocess.run(["strace", "-f", "-qq", "-s", "512", "-e", "trace=execve", NVBIND, "doctor"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, env=env, timeout=120)
        self.assertGreaterEqual(r.returncode, 0, "killed by a signal: " + r.stderr)
        self.assertIn(f'execve("{HELPER}", ["{HELPER}", "group-id"]', r.stderr)
        self.assertIn("groupadd --system nvbind", r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
