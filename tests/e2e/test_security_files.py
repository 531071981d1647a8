"""Files nvbind reads and writes, attacked: FIFOs planted where a host file is expected (a
hang), predictable temporary names (another user owns root's output, or hangs it), outputs
that are streams or links (/dev/stdout replaced by a file), a huge audit log (memory).

Every command runs with a timeout: a hang fails the test instead of stalling the suite."""
import json
import os
import stat
import subprocess
import tempfile
import threading
import unittest

from nvbtest import NVBIND, FakeHost, FakeHostCase, run, temp_dir

SHIM = os.path.join(os.path.dirname(NVBIND), "nvbind-runtime")
HANG = 20  # seconds: far more than any of these commands needs


def replace_with_fifo(path):
    os.unlink(path)
    os.mkfifo(path)


class FifoInHostRoot(unittest.TestCase):
    """Attack: a FIFO in the host root where the driver's file should be. Opening a FIFO for
    reading blocks until a writer comes, so discovery would hang forever; every reader must
    open without blocking and refuse what is not a regular file, with one line naming it."""

    def setUp(self):
        self.host = FakeHost(gpus=1)
        self.addCleanup(self.host.remove)
        self.root = self.host.root

    def assert_refused(self, rel, code=4):
        path = os.path.join(self.root, rel)
        replace_with_fifo(path)
        r = self.host.nvbind("cdi", "generate", timeout=HANG)
        self.assertEqual(r.returncode, code, r.stderr)
        self.assertEqual(r.stdout, "")
        lines = r.stderr.splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertIn(path, lines[0])
        self.assertIn("not a regular file", lines[0])

    def test_fifo_driver_version_does_not_hang(self):
        self.assert_refused("proc/driver/nvidia/version")

    def test_fifo_proc_devices_does_not_hang(self):
        self.assert_refused("proc/devices")

    def test_fifo_gpu_information_does_not_hang(self):
        d = os.path.join(self.root, "proc/driver/nvidia/gpus")
        self.assert_refused(os.path.join("proc/driver/nvidia/gpus", sorted(os.listdir(d))[0], "information"))

    def test_fifo_ld_so_cache_does_not_hang(self):
        self.assert_refused("etc/ld.so.cache")

    def test_fifo_library_does_not_hang(self):
        """A FIFO named like a driver library: discovery reads its ELF header."""
        lib = None
        for dirpath, _, names in os.walk(os.path.join(self.root, "usr")):
            for n in names:
                p = os.path.join(dirpath, n)
                if n.startswith("libnvidia-ml.so.") and not os.path.islink(p):
                    lib = p
        self.assertIsNotNone(lib)
        replace_with_fifo(lib)
        r = self.host.nvbind("cdi", "generate", timeout=HANG)
        self.assertIn(r.returncode, (0, 4), r.stderr)


class FifoConfigJson(unittest.TestCase):
    """Attack: the bundle's config.json is a FIFO; the runtime shim reading it would hang
    the container engine that called it."""

    def test_fifo_config_json_does_not_hang_shim(self):
        with FakeHost(gpus=1) as host, tempfile.TemporaryDirectory() as tmp:
            bundle = os.path.join(tmp, "bundle")
            os.makedirs(os.path.join(bundle, "rootfs"))
            os.mkfifo(os.path.join(bundle, "config.json"))
            stub = os.path.join(tmp, "stub-runtime")
            with open(stub, "w") as f:
                f.write("#!/bin/sh\nexit 0\n")
            os.chmod(stub, 0o755)
            conf = os.path.join(tmp, "nvbind.toml")
            with open(conf, "w") as f:
                f.write(f'[runtime]\noci_runtime = "{stub}"\n')
            r = run([SHIM, "--root", os.path.join(tmp, "state"), "create", "--bundle", bundle, "ctr-fifo"],
                    env={"NVBIND_CONFIG": conf, "NVBIND_ROOT": host.root}, timeout=HANG)
            self.assertEqual(r.returncode, 6, r.stderr)
            self.assertEqual(r.stderr.strip(),
                             f"nvbind-runtime: reading {bundle}/config.json: not a regular file")


class StreamOutputs(FakeHostCase):
    """Bug and attack: `--output /dev/stdout` renamed a regular file over the /dev/stdout
    link, for every process on the machine. Outputs that are streams (a descriptor alias, a
    FIFO, /dev/null) are written to; a link is written through; nothing lands in /dev."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.spec = cls.host.nvbind("cdi", "generate", timeout=HANG, check=True).stdout

    def setUp(self):
        self.tmp = temp_dir("nvb-secfiles-", self.addCleanup)

    def test_output_dev_stdout_is_written_not_replaced(self):
        for out in ("/dev/stdout", "/proc/self/fd/1", "/dev/fd/1"):
            with self.subTest(out=out):
                r = self.host.nvbind("cdi", "generate", "--output", out, timeout=HANG)
                self.assertEqual((r.returncode, r.stderr), (0, ""))
                self.assertEqual(r.stdout, self.spec)
                self.assertTrue(os.path.islink("/dev/stdout"))

    def test_output_dev_stdout_redirected_to_a_file(self):
        """`> file` or `>> file`: the shell's descriptor is written, at its offset."""
        path = os.path.join(self.tmp, "log")
        with open(path, "w") as f:
            f.write("before\n")
        with open(path, "a") as f:
            r = subprocess.run([NVBIND, *self.host.args, "cdi", "generate", "--output", "/dev/stdout"],
                               stdout=f, stderr=subprocess.PIPE, text=True, timeout=HANG)
        self.assertEqual((r.returncode, r.stderr), (0, ""))
        with open(path) as f:
            self.assertEqual(f.read(), "before\n" + self.spec)

    def test_config_init_to_dev_stdout(self):
        r = run([NVBIND, "config", "init", "--output", "/dev/stdout"], timeout=HANG)
        self.assertEqual((r.returncode, r.stderr), (0, ""))
        self.assertEqual(r.stdout, run([NVBIND, "config", "init"], timeout=HANG).stdout)
        self.assertTrue(os.path.islink("/dev/stdout"))

    def test_output_fifo_is_streamed(self):
        fifo = os.path.join(self.tmp, "spec.fifo")
        os.mkfifo(fifo)
        got = []

        def read():
            with open(fifo) as f:
                got.append(f.read())
        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        r = self.host.nvbind("cdi", "generate", "--output", fifo, timeout=HANG)
        reader.join(HANG)
        self.assertEqual((r.returncode, r.stderr), (0, ""))
        self.assertEqual(got, [self.spec])
        self.assertTrue(stat.S_ISFIFO(os.lstat(fifo).st_mode))

    def test_output_dev_null(self):
        r = self.host.nvbind("cdi", "generate", "--output", "/dev/null", timeout=HANG)
        self.assertEqual((r.returncode, r.stderr, r.stdout), (0, "", ""))
        self.assertTrue(stat.S_ISCHR(os.lstat("/dev/null").st_mode))

    def test_output_symlink_written_through(self):
        target = os.path.join(self.tmp, "real.json")
        link = os.path.join(self.tmp, "nvidia.json")
        open(target, "w").close()
        os.symlink("real.json", link)
        r = self.host.nvbind("cdi", "generate", "--output", link, timeout=HANG)
        self.assertEqual((r.returncode, r.stderr), (0, ""))
        self.assertEqual(os.readlink(link), "real.json")
        with open(target) as f:
            self.assertEqual(f.read(), self.spec)
        self.assertEqual(sorted(os.listdir(self.tmp)), ["nvidia.json", "real.json"])

    def test_output_new_file_in_dev_refused(self):
        path = "/dev/nvbind-secfiles-%d.json" % os.getpid()
        self.addCleanup(lambda: os.path.exists(path) and os.unlink(path))
        r = self.host.nvbind("cdi", "generate", "--output", path, timeout=HANG)
        self.assertEqual(r.returncode, 6)
        self.assertEqual(r.stderr, f"nvbind: cannot write {path}: nvbind creates and replaces no files in /dev\n")
        self.assertFalse(os.path.exists(path))


def audit_event(i, container, when="2024-05-01T12:00:%02d.%03dZ"):
    return {"time": when % (i % 60, i % 1000), "uid": i % 7, "pid": 1000 + i, "container": container,
            "runtime": "runc" if i % 3 else None, "devices": ["GPU-%08x" % i] * (i % 3),
            "profile": "aiml" if i % 2 else None, "isolation": "exclusive", "decision": "deny" if i % 5 == 0 else "grant",
            "reason": "r\u00e9ason \"%d\" \\ \t" % i}


def audit_text(events):
    return "".join(json.dumps(e, separators=(",", ":"), ensure_ascii=False) + "\n" for e in events)


TIME = "/usr/bin/time"


def run_measured(args, timeout=120):
    """Run args with stdout to /dev/null; (exit status, stderr, peak RSS in KiB). GNU time
    measures: a child forked by this (large) Python process would count its pages too."""
    with tempfile.NamedTemporaryFile() as rss, tempfile.TemporaryFile() as err:
        r = subprocess.run([TIME, "-f", "%M", "-o", rss.name, *args], stdout=subprocess.DEVNULL, stderr=err,
                           timeout=timeout)
        err.seek(0)
        return r.returncode, err.read().decode(), int(rss.read().split()[-1])


class AuditLogSize(unittest.TestCase):
    """Attack: a huge audit log (any local writer of a shared log, or just years of
    decisions). `nvbind audit` kept every event as a JSON tree (a 100 MB log took 600 MB) and
    every damaged line as a message. It must stream: memory bounded whatever the size."""

    def setUp(self):
        if not os.access(TIME, os.X_OK):
            self.skipTest("GNU time (package time) is not installed")
        self.tmp = temp_dir("nvb-secfiles-audit-", self.addCleanup)
        self.log = os.path.join(self.tmp, "audit.log")

    def test_huge_audit_log_memory_stays_small(self):
        line = audit_text([audit_event(1, "c-%06d" % 1)])
        garbage = "x" * 200 + "\n"
        with open(self.log, "w") as f:
            chunk = (line * 999 + garbage) * 50
            while f.tell() < 60 << 20:
                f.write(chunk)
        size = os.path.getsize(self.log)
        for extra in ([], ["--json"], ["--container", "nobody"]):
            with self.subTest(args=extra):
                code, err, rss_kib = run_measured([NVBIND, "audit", "--file", self.log, *extra])
                self.assertLess(rss_kib, 20 * 1024, f"peak RSS {rss_kib} KiB for a {size >> 20} MiB log")
                self.assertEqual(code, 9, err[-500:])
                lines = err.splitlines()
                self.assertEqual(len(lines), 101, err[-500:])  # 100 named, then the count of the rest
                self.assertRegex(lines[-1], r"^nvbind audit: %s: \d+ more lines that are not events skipped "
                                            r"\(only the first 100 are named\)$" % self.log)

    def test_long_line_not_held(self):
        """A single 64 MiB line is skipped in pieces, not read whole."""
        with open(self.log, "w") as f:
            f.write("x" * (64 << 20) + "\n")
            f.write(audit_text([audit_event(2, "after")]))
        code, err, rss_kib = run_measured([NVBIND, "audit", "--file", self.log, "--json"])
        self.assertLess(rss_kib, 20 * 1024)
        self.assertEqual(code, 9)
        self.assertEqual(err, f"nvbind audit: {self.log}:1: longer than 65536 bytes, not an audit event; skipped\n")

    def test_streamed_output_same_as_whole(self):
        """Streaming changed nothing a user sees: --json is exactly jansson's indented array
        of the events as logged (Python renders the same), the text lines per event."""
        events = [audit_event(i, "a" if i % 2 else "b") for i in range(40)]
        with open(self.log, "w") as f:
            f.write(audit_text(events))
        for extra, want in (([], events), (["--container", "a"], [e for e in events if e["container"] == "a"]),
                            (["--container", "zz"], [])):
            with self.subTest(args=extra):
                r = run([NVBIND, "audit", "--file", self.log, "--json", *extra], timeout=HANG)
                self.assertEqual((r.returncode, r.stderr), (0, ""))
                self.assertEqual(r.stdout, json.dumps(want, indent=2, ensure_ascii=False) + "\n")
                r = run([NVBIND, "audit", "--file", self.log, *extra], timeout=HANG)
                self.assertEqual(len(r.stdout.splitlines()), len(want))
                for got, e in zip(r.stdout.splitlines(), want):
                    self.assertTrue(got.startswith(e["time"] + "  "), got)
                    # The text is shown as a terminal should see it: the tab as \x09.
                    self.assertTrue(got.endswith("  " + e["reason"].replace("\t", "\\x09")), got)

    def test_fifo_audit_log_does_not_hang(self):
        os.mkfifo(self.log)
        r = run([NVBIND, "audit", "--file", self.log], timeout=HANG)
        self.assertEqual(r.returncode, 6)
        self.assertEqual(r.stderr, f"nvbind: cannot read the audit log {self.log}: not a regular file\n")


if __name__ == "__main__":
    unittest.main()


class IpcPlantedByLocalUsers(unittest.TestCase):
    """Attack: /tmp is everyone's. A local user links /tmp/nvidia-mps to /etc (or makes the
    folder themselves with pipes of their own): discovery offered the link's target as the MPS
    pipe folder, at the target's path, so every GPU container got the host's /etc mounted over
    its own (or talked CUDA through another user's pipes). IPC endpoints are offered only at
    their own path, not through a link, and only when root owns them."""

    def setUp(self):
        self.fh = FakeHost(gpus=1, mps=True)
        self.addCleanup(self.fh.remove)
        self.mps = os.path.join(self.fh.root, "tmp", "nvidia-mps")

    def ipc(self):
        info = self.fh.nvbind_json("info", "--json", env={"NVBIND_HOST_CACHE": "off"})
        spec = self.fh.nvbind("cdi", "generate", env={"NVBIND_HOST_CACHE": "off"})
        self.assertEqual(spec.returncode, 0, spec.stderr)
        return info["components"]["ipc"], json.loads(spec.stdout)

    def mounted_at(self, spec, path):
        edits = [spec.get("containerEdits", {})] + [d["containerEdits"] for d in spec["devices"]]
        return [m for e in edits for m in e.get("mounts", []) if m["containerPath"] == path]

    def test_root_owned_folder_offered(self):
        ipc, spec = self.ipc()
        self.assertIn("/tmp/nvidia-mps", [c["container_path"] for c in ipc])

    def test_link_to_etc_not_offered(self):
        os.rename(self.mps, self.mps + ".real")
        os.symlink("/etc", self.mps)
        ipc, spec = self.ipc()
        self.assertEqual([c for c in ipc if "nvidia-mps" in c["container_path"] or c["container_path"] == "/etc"], [])
        self.assertEqual(self.mounted_at(spec, "/etc"), [])
        edits = [spec.get("containerEdits", {})] + [d["containerEdits"] for d in spec["devices"]]
        etc = os.path.join(self.fh.root, "etc")
        self.assertEqual([m for e in edits for m in e.get("mounts", []) if m["hostPath"].rstrip("/") == etc], [])

    def test_folder_of_another_user_not_offered(self):
        os.chown(self.mps, 65534, 65534)
        ipc, spec = self.ipc()
        self.assertNotIn("/tmp/nvidia-mps", [c["container_path"] for c in ipc])
        self.assertEqual(self.mounted_at(spec, "/tmp/nvidia-mps"), [])

    def test_socket_through_a_link_not_offered(self):
        sock = os.path.join(self.fh.root, "run", "nvidia-persistenced", "socket")
        elsewhere = os.path.join(self.fh.root, "run", "elsewhere")
        os.makedirs(elsewhere)
        os.rename(sock, os.path.join(elsewhere, "socket"))
        os.symlink("/run/elsewhere/socket", sock)
        ipc, spec = self.ipc()
        self.assertEqual([c for c in ipc if "socket" in c["host_path"]], [])
