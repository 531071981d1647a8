"""GPU isolation from the command line: `nvbind claims` (live claims, reclaim of stale ones,
ownership kept through the container's OCI state) and `nvbind audit` (filters, JSON, a torn
last line, damaged lines), plus the end-to-end checks through `nvbind run`: 32 concurrent
exclusive runc capsules that never overlap (the others refused with the holder named, or
with --wait all run one after another), a holder killed with kill -9, one audit line per
decision; shared requests, --wait=SECONDS, dry runs, podman, and virtual isolation (MPS
limits, MIG devices in place of the GPU)."""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
from datetime import datetime, timedelta, timezone

from nvbtest import (FAKENVML, NVBIND, FakeHost, FakeHostCase, crun_search_path, ensure_test_image, make_busybox_rootfs,
                     nvbind, proc_stat, run, runc_containers, stop_process, temp_dir)

HAVE_RUNC = shutil.which("runc") is not None
HAVE_PODMAN = shutil.which("podman") is not None


def start_time(pid):
    """Field 22 of /proc/<pid>/stat: the process's start time in clock ticks since boot."""
    return int(proc_stat(pid)[19])


def rfc3339(dt, ms=False):
    s = dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return s + (".%03dZ" % (dt.microsecond // 1000) if ms else "Z")


def claim_record(uuid, index, mode, holders, mig_index=None, parent=None):
    """A claim record as nvbind writes it (format version 1, see docs/isolation.md)."""
    return {"version": 1,
            "device": {"gpu_index": index, "mig_index": mig_index, "uuid": uuid, "parent_uuid": parent},
            "mode": mode, "holders": holders}


def holder(container, pid, init_pid=None, oci_state=None, since="2024-05-01T12:00:00Z"):
    return {"container": container, "runtime": "test", "holder": {"pid": pid, "start_time": start_time(pid)},
            "init": {"pid": init_pid, "start_time": start_time(init_pid)} if init_pid else None,
            "oci_state": oci_state, "uid": os.getuid(), "since": since}


def audit_line(when, container, decision, devices=("GPU-a",), isolation="exclusive", reason="r"):
    return json.dumps({"time": rfc3339(when, ms=True), "uid": 0, "pid": 1, "container": container,
                       "runtime": "runc", "devices": list(devices), "profile": None, "isolation": isolation,
                       "decision": decision, "reason": reason}, separators=(",", ":")) + "\n"


class Sleepers:
    """Background processes that stand in for holders and container inits."""

    def __init__(self):
        self.procs = []

    def start(self):
        p = subprocess.Popen(["sleep", "600"])
        self.procs.append(p)
        return p

    def stop_all(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()


class ClaimsCli(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="nvbind-claims-test-")
        self.state = os.path.join(self.tmp, "state")
        self.sleepers = Sleepers()

    def tearDown(self):
        self.sleepers.stop_all()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write(self, record):
        d = os.path.join(self.state, "claims")
        os.makedirs(d, mode=0o700, exist_ok=True)
        with open(os.path.join(d, record["device"]["uuid"] + ".json"), "w") as f:
            json.dump(record, f)

    def claims(self, *extra):
        return nvbind("claims", "--state-dir", self.state, *extra)

    def test_nothing_claimed(self):
        r = self.claims()
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "no GPU claims\n", ""))
        r = self.claims("--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout), [])
        self.assertFalse(os.path.exists(self.state), "listing must not create the state folder")

    def test_live_listed_dead_reclaimed(self):
        live = self.sleepers.start()
        dead = self.sleepers.start()
        self.write(claim_record("GPU-live", 0, "exclusive", [holder("ctr-live", live.pid)]))
        self.write(claim_record("GPU-dead", 1, "exclusive", [holder("ctr-dead", dead.pid)]))
        dead.kill()
        dead.wait()
        r = self.claims("--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        got = json.loads(r.stdout)
        self.assertEqual([(c["device"], c["uuid"], c["mode"], c["container"], c["holder_pid"]) for c in got],
                         [("0", "GPU-live", "exclusive", "ctr-live", live.pid)])
        self.assertEqual(got[0]["since"], "2024-05-01T12:00:00Z")
        self.assertIn("nvbind claims: reclaimed the stale exclusive claim on GPU 1 (GPU-dead) of container ctr-dead",
                      r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.state, "claims", "GPU-dead.json")))
        # The table names the same.
        r = self.claims()
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0].split(), ["DEVICE", "UUID", "MODE", "CONTAINER", "RUNTIME", "PID", "SINCE"])
        self.assertEqual(lines[1].split(), ["0", "GPU-live", "exclusive", "ctr-live", "test", str(live.pid),
                                            "2024-05-01T12:00:00Z"])
        self.assertEqual(r.stderr, "")  # reclaimed once, not again

    def test_claim_of_an_earlier_boot_is_reclaimed(self):
        # After a reboot the same pid can start at the same tick: a record made in another boot
        # names no live process, whatever its numbers say. This one names a running process.
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip()
        other = ("0" if boot[0] != "0" else "1") + boot[1:]
        live = self.sleepers.start()
        self.write(claim_record("GPU-now", 0, "exclusive", [{**holder("ctr-now", live.pid), "boot_id": boot}]))
        self.write(claim_record("GPU-then", 1, "exclusive", [{**holder("ctr-then", live.pid), "boot_id": other}]))
        r = self.claims("--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([c["container"] for c in json.loads(r.stdout)], ["ctr-now"])
        self.assertEqual(r.stderr, "nvbind claims: reclaimed the stale exclusive claim on GPU 1 (GPU-then) of container "
                                   "ctr-then since 2024-05-01T12:00:00Z (recorded before the last reboot)\n")
        self.assertFalse(os.path.exists(os.path.join(self.state, "claims", "GPU-then.json")))

    def test_container_keeps_claim_after_holder_dies(self):
        # The shim's case: the holder (runc create) is gone, the container's init runs;
        # only the OCI runtime's state file says which process that is.
        holder_proc = self.sleepers.start()
        init = self.sleepers.start()
        root = os.path.join(self.tmp, "runc-root", "ctr-shim")
        os.makedirs(root)
        state_file = os.path.join(root, "state.json")
        with open(state_file, "w") as f:
            json.dump({"id": "ctr-shim", "init_process_pid": init.pid, "init_process_start": start_time(init.pid)}, f)
        self.write(claim_record("GPU-s", 0, "exclusive", [holder("ctr-shim", holder_proc.pid, oci_state=state_file)]))
        holder_proc.kill()
        holder_proc.wait()
        got = json.loads(self.claims("--json").stdout)
        self.assertEqual([c["container"] for c in got], ["ctr-shim"])
        self.assertEqual(got[0]["oci_state"], state_file)
        init.kill()
        init.wait()
        r = self.claims("--json")
        self.assertEqual(json.loads(r.stdout), [])
        self.assertIn("GPU 0 (GPU-s) of container ctr-shim", r.stderr)

    def test_shared_holders_and_mig(self):
        a, b = self.sleepers.start(), self.sleepers.start()
        self.write(claim_record("GPU-p", 0, "shared", [holder("a", a.pid), holder("b", b.pid)]))
        self.write(claim_record("MIG-m", 0, "exclusive", [holder("a", a.pid)], mig_index=1, parent="GPU-p"))
        got = json.loads(self.claims("--json").stdout)
        self.assertEqual([(c["device"], c["mode"], c["container"]) for c in got],
                         [("0", "shared", "a"), ("0", "shared", "b"), ("0:1", "exclusive", "a")])
        self.assertEqual(got[2]["parent_uuid"], "GPU-p")

    def test_state_dir_from_configuration(self):
        live = self.sleepers.start()
        self.write(claim_record("GPU-c", 2, "exclusive", [holder("from-config", live.pid)]))
        config = os.path.join(self.tmp, "nvbind.toml")
        with open(config, "w") as f:
            f.write(f'[isolation]\nstate_dir = "{self.state}"\n')
        r = nvbind("--config", config, "claims", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([c["container"] for c in json.loads(r.stdout)], ["from-config"])

    def test_errors(self):
        r = nvbind("claims", "--state-dir", "relative")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--state-dir relative: must be an absolute path", r.stderr)
        r = nvbind("claims", "extra")
        self.assertEqual(r.returncode, 2)
        self.assertIn("unexpected argument 'extra'", r.stderr)
        os.makedirs(os.path.join(self.state, "claims"))
        bad = os.path.join(self.state, "claims", "GPU-x.json")
        with open(bad, "w") as f:
            f.write('{"version": 1, "device": {"gpu_index": 0, "uuid": "GPU-x"}, "mode": "exclusive", "holders": []}')
        r = self.claims()
        self.assertEqual(r.returncode, 9)
        self.assertIn(bad, r.stderr)
        self.assertIn("an exclusive claim has exactly one holder, not 0", r.stderr)
        self.assertTrue(os.path.exists(bad), "a record nvbind cannot read is left for a person to look at")


class AuditCli(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="nvbind-audit-test-")
        self.log = os.path.join(self.tmp, "audit.log")
        now = datetime.now(timezone.utc)
        self.lines = [audit_line(now - timedelta(days=2), "old", "grant"),
                      audit_line(now - timedelta(hours=3), "a", "deny", reason="GPU 0 (GPU-a) is held exclusively"),
                      audit_line(now - timedelta(minutes=5), "a", "grant"),
                      audit_line(now - timedelta(seconds=20), "b", "grant", devices=("MIG-1",), isolation="virtual")]
        with open(self.log, "w") as f:
            f.write("".join(self.lines))

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def audit(self, *extra):
        return nvbind("audit", "--file", self.log, *extra)

    def containers(self, *extra):
        r = self.audit("--json", *extra)
        self.assertEqual(r.returncode, 0, r.stderr)
        return [e["container"] for e in json.loads(r.stdout)]

    def test_json_is_the_logged_events(self):
        r = self.audit("--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout), [json.loads(l) for l in self.lines])

    def test_filters(self):
        self.assertEqual(self.containers("--since", "1d"), ["a", "a", "b"])
        self.assertEqual(self.containers("--since", "10m"), ["a", "b"])
        self.assertEqual(self.containers("--since", "2h", "--container", "a"), ["a"])
        self.assertEqual(self.containers("--container", "b"), ["b"])
        self.assertEqual(self.containers("--container", "nobody"), [])
        when = rfc3339(datetime.now(timezone.utc) - timedelta(hours=4))
        self.assertEqual(self.containers("--since", when), ["a", "a", "b"])

    def test_text(self):
        r = self.audit("--container", "b")
        self.assertEqual(r.returncode, 0, r.stderr)
        words = r.stdout.split()
        self.assertEqual(words[1:5], ["grant", "virtual", "b", "runc"])
        self.assertIn("MIG-1", words)

    def test_torn_last_line(self):
        with open(self.log, "a") as f:
            f.write('{"time":"2024-05-01T12:0')
        r = self.audit("--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(json.loads(r.stdout)), 4)
        self.assertIn(f"{self.log}:5: the last line is incomplete", r.stderr)

    def test_damaged_line(self):
        with open(self.log, "w") as f:
            f.write(self.lines[0] + "garbage\n" + self.lines[1])
        r = self.audit("--json")
        self.assertEqual(r.returncode, 9)
        self.assertEqual(len(json.loads(r.stdout)), 2)
        self.assertIn(f"{self.log}:2: not JSON", r.stderr)

    def test_missing_log_and_bad_since(self):
        missing = os.path.join(self.tmp, "none.log")
        r = nvbind("audit", "--file", missing, "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout), [])
        self.assertIn(f"no audit log at {missing} yet", r.stderr)
        for bad in ("yesterday", "10w", "2024-13-01T00:00:00Z"):
            r = self.audit("--since", bad)
            self.assertEqual(r.returncode, 2, bad)
            self.assertIn(f"--since {bad}: not a time", r.stderr)

    def test_log_from_configuration(self):
        config = os.path.join(self.tmp, "nvbind.toml")
        with open(config, "w") as f:
            f.write(f'[isolation]\naudit_log = "{self.log}"\n')
        r = nvbind("--config", config, "audit", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(json.loads(r.stdout)), 4)


# --- end-to-end: capsules through nvbind run -------------------------------------------------

CAPSULES = 32
# Inside each capsule: take a folder shared by every capsule (the same rootfs) as a marker;
# finding it taken means two capsules run at once. mkdir is atomic, so the check has no gap.
CAPSULE_SCRIPT = ("if mkdir /iso/inside 2>/dev/null; then echo RAN; sleep {hold}; rmdir /iso/inside; "
                  "else echo OVERLAP; fi")
DENIED = r"^nvbind: GPU 0 \({uuid}\) is held exclusively by container (\S+) since (\S+Z)\n$"


class Capsules:
    """Runs `nvbind run --runtime runc --rootfs DIR` capsules (or crun's) on a fake host, with
    the claims, the audit log, the CDI output folder and the bundles (TMPDIR) in a private
    folder."""

    def __init__(self, tmp, host, config_extra="", runtime="runc"):
        self.tmp = tmp
        self.host = host
        self.runtime = runtime
        self.path = crun_search_path(os.path.join(tmp, "crun-bin")) if runtime == "crun" else os.environ["PATH"]
        self.state = os.path.join(tmp, "state")
        self.log = os.path.join(tmp, "audit.log")
        self.tmpdir = os.path.join(tmp, "tmpdir")
        self.cdi = os.path.join(tmp, "cdi")
        os.makedirs(self.tmpdir, exist_ok=True)
        self.config = os.path.join(tmp, "nvbind.toml")
        with open(self.config, "w") as f:
            f.write(f'[isolation]\nstate_dir = "{self.state}"\naudit_log = "{self.log}"\n'
                    f'[cdi]\noutput_dir = "{self.cdi}"\n{config_extra}')
        self.rootfs = os.path.join(tmp, "rootfs")
        if not os.path.exists(self.rootfs):
            make_busybox_rootfs(self.rootfs)
            os.makedirs(os.path.join(self.rootfs, "iso"))

    def argv(self, script, *extra, isolation="exclusive", gpu="0"):
        return [NVBIND, *self.host.args, "--config", self.config, "run", "--runtime", self.runtime, "--isolation",
                isolation, "--gpu", gpu, *extra, "--rootfs", self.rootfs, "--", "sh", "-c", script]

    def env(self):
        return {**os.environ, "TMPDIR": self.tmpdir, "PATH": self.path}

    def popen(self, script, *extra, **kw):
        return subprocess.Popen(self.argv(script, *extra, **kw), env=self.env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def run(self, script, *extra, **kw):
        return run(self.argv(script, *extra, **kw), env={"TMPDIR": self.tmpdir, "PATH": self.path})

    def hold(self, seconds=30, **kw):
        """A capsule that holds its GPU until stop(): started, and running (it said so)."""
        # PID 1 ignores SIGTERM without a handler: this one ends at once when stopped.
        p = self.popen(f"trap 'exit 0' TERM; echo ready; sleep {seconds} & wait", **kw)
        line = p.stdout.readline().strip()
        if line != "ready":
            p.kill()
            raise AssertionError(f"the holding capsule did not start: {p.communicate()[1]}")
        return p

    def claims(self):
        r = run([NVBIND, "claims", "--state-dir", self.state, "--json"])
        if r.returncode != 0:
            raise AssertionError(r.stderr)
        return json.loads(r.stdout)

    def settle(self, timeout=30):
        """Wait until no claim is left (stale ones are reclaimed by listing)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if not self.claims():
                return True
            time.sleep(0.2)
        return False

    def race(self, *extra, hold=0.3, n=CAPSULES):
        self.reset_audit()
        procs = [self.popen(CAPSULE_SCRIPT.format(hold=hold), *extra) for _ in range(n)]
        results = []
        for p in procs:
            out, err = p.communicate(timeout=600)
            results.append((p.returncode, out, err))
        return results

    def reset_audit(self):
        if os.path.exists(self.log):
            os.unlink(self.log)

    def audit(self):
        if not os.path.exists(self.log):
            return []
        with open(self.log) as f:
            text = f.read()
        if text:
            assert text.endswith("\n"), "the audit log ends in the middle of a line"
        return [json.loads(l) for l in text.splitlines()]  # every line must parse

    def leftovers(self):
        """What a finished run must not leave: bundles, runc containers, specs, claims."""
        return {"bundles": os.listdir(self.tmpdir), "containers": runc_containers(self.tmpdir, self.runtime),
                "specs": os.listdir(self.cdi) if os.path.exists(self.cdi) else [], "claims": self.claims()}


NOTHING = {"bundles": [], "containers": [], "specs": [], "claims": []}


@unittest.skipUnless(HAVE_RUNC, "runc is not installed")
class RunExclusive(FakeHostCase):
    """The issue's checks: 32 concurrent exclusive capsules on GPU 0."""
    gpus = 2
    runtime = "runc"
    state_file = "state.json"  # the runtime's, in its folder for the container

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = temp_dir("nvbind-iso-run-", cls.addClassCleanup)
        cls.caps = Capsules(cls.tmp, cls.host, runtime=cls.runtime)
        cls.uuid = cls.host.manifest["gpus"][0]["uuid"]

    def tearDown(self):
        self.caps.settle(30)

    def check_audit(self, grants, denies):
        events = self.caps.audit()
        self.assertEqual(len(events), CAPSULES, "one audit line per decision")
        self.assertEqual(sum(e["decision"] == "grant" for e in events), grants)
        self.assertEqual(sum(e["decision"] == "deny" for e in events), denies)
        self.assertEqual(len({e["container"] for e in events}), CAPSULES, "one decision per capsule")
        for e in events:
            self.assertEqual(e["isolation"], "exclusive")
            self.assertEqual(e["runtime"], self.runtime)
            self.assertEqual(e["devices"], [self.uuid])
            self.assertEqual(sorted(e), ["container", "decision", "devices", "isolation", "pid", "profile", "reason",
                                         "runtime", "time", "uid"])
        return events

    def test_concurrent_capsules_never_overlap(self):
        # Each winner holds the GPU for a second: far longer than 32 starts take, so most are
        # refused while it runs.
        results = self.caps.race(hold=1)
        ran = [r for r in results if r[0] == 0]
        busy = [r for r in results if r[0] == 8]
        self.assertEqual(len(ran) + len(busy), CAPSULES, [r for r in results if r[0] not in (0, 8)][:3])
        self.assertGreaterEqual(len(ran), 1)
        self.assertGreaterEqual(len(busy), 1, "no capsule was ever refused: nothing was exclusive")
        for code, out, err in results:
            self.assertNotIn("OVERLAP", out)
        for code, out, err in ran:
            self.assertEqual(out.split(), ["RAN"])
        events = self.check_audit(len(ran), len(busy))
        granted = {e["container"]: e["time"] for e in events if e["decision"] == "grant"}
        for code, out, err in busy:
            m = re.match(DENIED.format(uuid=re.escape(self.uuid)), err)
            self.assertIsNotNone(m, err)
            self.assertIn(m.group(1), granted, "the holder named is a capsule that was granted the GPU")
            self.assertEqual(out, "", "a refused capsule must not start")
        for e in events:
            if e["decision"] == "deny":
                self.assertIn(" is held exclusively by container ", e["reason"])
        self.assertTrue(self.caps.settle(5), "claims left after every capsule ended")
        self.assertEqual(self.caps.leftovers(), NOTHING)

    def test_wait_runs_every_capsule_one_after_another(self):
        results = self.caps.race("--wait", hold=0.1)
        for code, out, err in results:
            self.assertEqual(code, 0, err)
            self.assertEqual(out.split(), ["RAN"])
        self.check_audit(CAPSULES, 0)
        self.assertTrue(self.caps.settle(5))
        self.assertEqual(self.caps.leftovers(), NOTHING)

    def test_kill9_holder_leaves_no_stale_claim(self):
        self.caps.reset_audit()
        p = self.caps.hold(2)
        p.send_signal(signal.SIGKILL)
        p.wait()  # not communicate(): the container, still running, holds the pipes open
        # The container outlives nvbind: the GPU stays claimed while it runs ...
        [held] = self.caps.claims()
        self.assertEqual(held["mode"], "exclusive")
        self.assertTrue(held["oci_state"].endswith(f"/{held['container']}/{self.state_file}"), held)
        r = self.caps.run("echo started")
        self.assertEqual(r.returncode, 8, r.stderr)
        self.assertRegex(r.stderr, DENIED.format(uuid=re.escape(self.uuid)))
        self.assertIn(held["container"], r.stderr)
        # ... and is free once it is gone.
        self.assertTrue(self.caps.settle(30), "a stale claim stayed after the container ended")
        p.stdout.close()
        p.stderr.close()
        r = self.caps.run("echo started")
        self.assertEqual((r.returncode, r.stdout), (0, "started\n"), r.stderr)
        self.assertEqual([e["decision"] for e in self.caps.audit()], ["grant", "deny", "grant"])
        # The killed nvbind's bundle went with the next run, its runtime having ended.
        self.assertEqual(os.listdir(self.caps.tmpdir), [])


@unittest.skipUnless(shutil.which("crun"), "crun is not installed")
class RunExclusiveCrun(RunExclusive):
    """The same with crun: the claim follows crun's state file once nvbind is gone."""
    runtime = "crun"
    state_file = "status"


@unittest.skipUnless(HAVE_RUNC, "runc is not installed")
class RunIsolation(FakeHostCase):
    """Shared against exclusive, --wait=SECONDS, dry runs, other GPUs, podman."""
    gpus = 2

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.uuid = cls.host.manifest["gpus"][0]["uuid"]

    def setUp(self):
        self.tmp = temp_dir("nvbind-iso-run-", self.addCleanup)
        self.caps = Capsules(self.tmp, self.host)
        self.holder = None

    def tearDown(self):
        if self.holder:
            stop_process(self.holder)
        self.caps.settle(30)

    def test_shared_refused_while_exclusive_other_gpu_free(self):
        self.holder = self.caps.hold()
        r = self.caps.run("echo started", isolation="shared")
        self.assertEqual((r.returncode, r.stdout), (8, ""), r.stderr)
        self.assertRegex(r.stderr, DENIED.format(uuid=re.escape(self.uuid)))
        r = self.caps.run("echo started", gpu="all")  # all or nothing
        self.assertEqual(r.returncode, 8, r.stderr)
        r = self.caps.run("echo started", gpu="1")
        self.assertEqual((r.returncode, r.stdout), (0, "started\n"), r.stderr)
        # Exclusive use of a GPU in shared use is refused too, naming a user.
        stop_process(self.holder)
        self.holder = self.caps.hold(isolation="shared")
        r = self.caps.run("echo started")
        self.assertEqual(r.returncode, 8, r.stderr)
        self.assertRegex(r.stderr, rf"^nvbind: GPU 0 \({re.escape(self.uuid)}\) is in shared use by container \S+ "
                                   r"since \S+Z; exclusive use needs it free\n$")
        r = self.caps.run("echo started", isolation="shared")
        self.assertEqual((r.returncode, r.stdout), (0, "started\n"), r.stderr)
        self.assertEqual([(e["decision"], e["isolation"]) for e in self.caps.audit()],
                         [("grant", "exclusive"), ("deny", "shared"), ("deny", "exclusive"), ("grant", "exclusive"),
                          ("grant", "shared"), ("deny", "exclusive"), ("grant", "shared")])

    def test_wait_gives_up_after_seconds(self):
        self.holder = self.caps.hold()
        start = time.monotonic()
        r = self.caps.run("echo started", "--wait=1")
        took = time.monotonic() - start
        self.assertEqual((r.returncode, r.stdout), (8, ""), r.stderr)
        self.assertTrue(r.stderr.rstrip("\n").endswith("; gave up after 1 s"), r.stderr)
        self.assertGreaterEqual(took, 1)
        self.assertLess(took, 20)
        # Freed while waiting: the waiter starts.
        waiter = self.caps.popen("echo started", "--wait=60")
        time.sleep(0.5)
        self.assertIsNone(waiter.poll(), "the waiter did not wait")
        stop_process(self.holder)
        self.holder = None
        out, err = waiter.communicate(timeout=60)
        self.assertEqual((waiter.returncode, out), (0, "started\n"), err)
        for bad in ("--wait=soon", "--wait=-1", "--wait="):
            r = self.caps.run("true", bad)
            self.assertEqual(r.returncode, 2, bad)
            self.assertIn(f"nvbind run: {bad}: expected a number of seconds", r.stderr)

    def test_dry_run_takes_no_claim(self):
        self.holder = self.caps.hold()
        before = self.caps.audit()
        r = self.caps.run("echo started", "--dry-run")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.startswith("runc --log="), r.stdout)
        self.assertIn(" --log-format=json run --bundle ", r.stdout)
        self.assertEqual(self.caps.audit(), before, "a dry run decides nothing")
        self.assertEqual(len(self.caps.claims()), 1)

    def test_none_claims_nothing(self):
        self.holder = self.caps.hold()
        r = self.caps.run("echo started", gpu="none")
        self.assertEqual((r.returncode, r.stdout), (0, "started\n"), r.stderr)
        self.assertEqual(len(self.caps.audit()), 1, "no GPU asked for, no decision")

    @unittest.skipUnless(HAVE_PODMAN, "podman is not installed")
    def test_podman_is_refused_too_and_leaves_nothing(self):
        image = ensure_test_image()
        self.holder = self.caps.hold()
        r = run([NVBIND, *self.host.args, "--config", self.caps.config, "run", "--runtime", "podman", "--gpu", "0",
                 "--isolation", "shared", image, "echo", "started"])
        self.assertEqual((r.returncode, r.stdout), (8, ""), r.stderr)
        self.assertRegex(r.stderr, DENIED.format(uuid=re.escape(self.uuid)))
        self.assertFalse(os.path.exists(self.caps.cdi), "a refused run writes no spec")
        [deny] = [e for e in self.caps.audit() if e["decision"] == "deny"]
        self.assertEqual(deny["runtime"], "podman")
        self.assertRegex(deny["container"], r"^nvbind-\d+-[0-9a-f]{8}$")
        self.assertEqual(run(["podman", "container", "exists", deny["container"]]).returncode, 1)

    @unittest.skipUnless(HAVE_PODMAN, "podman is not installed")
    def test_podman_claim_named_after_the_container(self):
        """The claim carries podman's container name and ends with it; while podman runs it
        holds the claim, also for a runc capsule asking meanwhile."""
        image = ensure_test_image()
        # podman 4.3 reads specs from /etc/cdi and /var/run/cdi only: the run writes its spec
        # there, and the host's own spec is put back afterwards.
        config = os.path.join(self.tmp, "podman.toml")
        with open(config, "w") as f:
            f.write(f'[isolation]\nstate_dir = "{self.caps.state}"\naudit_log = "{self.caps.log}"\n')
        spec = "/var/run/cdi/nvidia.com-gpu.json"
        saved = None
        if os.path.exists(spec):
            with open(spec, "rb") as f:
                saved = f.read()
        self.addCleanup(self.restore, spec, saved)
        p = subprocess.Popen([NVBIND, *self.host.args, "--config", config, "run", "--runtime", "podman",
                              "--gpu", "0", "--isolation", "exclusive", image, "sh", "-c", "echo ready; sleep 2"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            line = p.stdout.readline().strip()
            self.assertEqual(line, "ready", p.stderr.read() if not line else line)
            [held] = self.caps.claims()
            self.assertEqual(held["runtime"], "podman")
            self.assertIsNotNone(held["init_pid"], "the engine's process keeps the claim")
            names = run(["podman", "ps", "--format", "{{.Names}}"]).stdout.split()
            self.assertIn(held["container"], names)
            r = self.caps.run("echo started")
            self.assertEqual(r.returncode, 8, r.stderr)
            self.assertIn(held["container"], r.stderr)
            self.assertEqual(p.wait(timeout=60), 0)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.stdout.close()
            p.stderr.close()
        self.assertEqual(self.caps.claims(), [])

    @staticmethod
    def restore(path, data):
        if os.path.exists(path):
            os.unlink(path)
        if data is not None:
            with open(path, "wb") as f:
                f.write(data)


@unittest.skipUnless(HAVE_RUNC, "runc is not installed")
class RunVirtual(unittest.TestCase):
    """--isolation virtual: MPS limits in the container, a refusal without an MPS daemon, and
    MIG devices handed out in place of the GPU (with the fake NVML)."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="nvbind-iso-virtual-")
        self.hosts = []

    def tearDown(self):
        for h in self.hosts:
            h.remove()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def capsules(self, extra, **host):
        h = FakeHost(gpus=1, **host)
        self.hosts.append(h)
        return Capsules(self.tmp, h, extra)

    LIMITS = '[bolt.capsule]\nisolation_level = "virtual"\ngpu_memory_limit = "8GiB"\ncompute_limit = "50%"\n'

    def test_mps_limits_reach_the_container(self):
        caps = self.capsules(self.LIMITS, mps=True)
        script = ("echo MEM=$CUDA_MPS_PINNED_DEVICE_MEM_LIMIT; echo PCT=$CUDA_MPS_ACTIVE_THREAD_PERCENTAGE; "
                  "echo PIPE=$CUDA_MPS_PIPE_DIRECTORY; test -p /tmp/nvidia-mps/control && echo CONTROL-OK")
        r = caps.run(script, isolation="virtual")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.split(), ["MEM=0=8G", "PCT=50", "PIPE=/tmp/nvidia-mps", "CONTROL-OK"])
        [event] = caps.audit()
        self.assertEqual((event["decision"], event["isolation"]), ("grant", "virtual"))
        self.assertIn("CUDA_MPS_PINNED_DEVICE_MEM_LIMIT=0=8G", event["reason"])
        self.assertEqual(caps.leftovers(), NOTHING)

    def test_limits_without_mps_daemon_are_refused(self):
        caps = self.capsules(self.LIMITS)
        r = caps.run("echo started", isolation="virtual")
        self.assertEqual((r.returncode, r.stdout), (1, ""), r.stderr)
        self.assertIn("no CUDA MPS control daemon runs on this host", r.stderr)
        self.assertEqual([e["decision"] for e in caps.audit()], ["deny"])
        self.assertEqual(caps.leftovers(), NOTHING)

    @unittest.skipUnless(os.path.exists(FAKENVML), "the fake NVML library is not built")
    def test_mig_devices_in_place_of_the_gpu(self):
        caps = self.capsules('[bolt.aiml]\nmig_enabled = true\n', mig=True, fake_nvml=FAKENVML)
        migs = caps.host.manifest["detailed"]["gpus"][0]["mig_devices"]
        self.assertEqual(len(migs), 2)
        nodes = [sorted(os.path.basename(n) for n in m["device_nodes"]) for m in migs]
        first = caps.hold(isolation="virtual")
        try:
            second = caps.hold(isolation="virtual")
            try:
                [a, b] = [e for e in caps.audit() if e["decision"] == "grant"]
                self.assertEqual([a["devices"], b["devices"]], [[migs[0]["uuid"]], [migs[1]["uuid"]]])
                # Every MIG device taken: refused naming the last one; the whole GPU too.
                r = caps.run("ls /dev/nvidia-caps", isolation="virtual")
                self.assertEqual(r.returncode, 8, r.stderr)
                self.assertIn(f"MIG device 0:1 ({migs[1]['uuid']}) is held exclusively by container", r.stderr)
                r = caps.run("true", isolation="exclusive")
                self.assertEqual(r.returncode, 8, r.stderr)
                self.assertIn("is in shared use by container", r.stderr)
            finally:
                stop_process(second)
            r = caps.run("ls /dev/nvidia-caps", isolation="virtual")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(sorted(r.stdout.split()), nodes[1], "the capsule sees its MIG device only")
        finally:
            stop_process(first)
        self.assertTrue(caps.settle(10))


if __name__ == "__main__":
    unittest.main()
