"""GPU isolation from the command line: `nvbind claims` (live claims, reclaim of stale ones,
ownership kept through the container's OCI state) and `nvbind audit` (filters, JSON, a torn
last line, damaged lines), plus the end-to-end checks of exclusive capsules through
`nvbind run --runtime runc`, skipped with the reason while run does not take claims yet."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
from datetime import datetime, timedelta, timezone

from nvbtest import NVBIND, FakeHost, make_busybox_rootfs, nvbind, run

HAVE_RUNC = shutil.which("runc") is not None


def start_time(pid):
    """Field 22 of /proc/<pid>/stat: the process's start time in clock ticks since boot."""
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[19])


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


# --- end-to-end: exclusive capsules through nvbind run --runtime runc ---------------------------

CAPSULES = 32
# Inside each capsule: take a folder shared by every capsule (the same rootfs) as a marker;
# finding it taken means two capsules run at once.
CAPSULE_SCRIPT = ("if mkdir /iso/inside 2>/dev/null; then echo RAN; sleep {hold}; rmdir /iso/inside; "
                  "else echo OVERLAP; fi")


class ExclusiveCapsules:
    """Runs many `nvbind run --runtime runc --isolation exclusive --gpu 0` capsules at once on a
    fake host, with claims and audit log in a private folder, and checks the issue's rules:
    at no moment do two run at once, the others fail cleanly naming the holder (exit 8), with
    --wait all of them run one after another, and the audit log has one line per decision."""

    def __init__(self, tmp, host):
        self.tmp = tmp
        self.host = host
        self.state = os.path.join(tmp, "state")
        self.log = os.path.join(tmp, "audit.log")
        self.tmpdir = os.path.join(tmp, "tmpdir")
        os.makedirs(self.tmpdir, exist_ok=True)
        self.config = os.path.join(tmp, "nvbind.toml")
        with open(self.config, "w") as f:
            f.write(f'[isolation]\nstate_dir = "{self.state}"\naudit_log = "{self.log}"\n')
        self.rootfs = os.path.join(tmp, "rootfs")
        if not os.path.exists(self.rootfs):
            make_busybox_rootfs(self.rootfs)
            os.makedirs(os.path.join(self.rootfs, "iso"))

    def argv(self, script, *extra):
        return [NVBIND, *self.host.args, "--config", self.config, "run", "--runtime", "runc", "--isolation",
                "exclusive", "--gpu", "0", *extra, "--rootfs", self.rootfs, "--", "sh", "-c", script]

    def popen(self, script, *extra):
        return subprocess.Popen(self.argv(script, *extra), env={**os.environ, "TMPDIR": self.tmpdir},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def claims(self):
        r = run([NVBIND, "claims", "--state-dir", self.state, "--json"])
        if r.returncode != 0:
            raise AssertionError(r.stderr)
        return json.loads(r.stdout)

    def takes_claims(self):
        """Whether `nvbind run` claims the GPU: run one capsule and look at the claims meanwhile."""
        p = self.popen("echo ready; sleep 3")
        try:
            line = p.stdout.readline()
            if line.strip() != "ready":
                err = p.communicate(timeout=60)[1]
                return False, f"a probe capsule did not start: {err.strip()}"
            held = self.claims()
            return bool(held), "" if held else "nvbind run --runtime runc does not take isolation claims yet"
        finally:
            p.kill()
            p.wait()
            p.stdout.close()
            p.stderr.close()
            self.settle()

    def settle(self, timeout=30):
        """Wait until no claim is left (stale ones are reclaimed by listing)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if not self.claims():
                return True
            time.sleep(0.2)
        return False

    def race(self, *extra, hold=0.3, n=CAPSULES):
        if os.path.exists(self.log):
            os.unlink(self.log)
        procs = [self.popen(CAPSULE_SCRIPT.format(hold=hold), *extra) for _ in range(n)]
        results = []
        for p in procs:
            out, err = p.communicate(timeout=600)
            results.append((p.returncode, out, err))
        return results

    def audit(self):
        with open(self.log) as f:
            lines = f.read().splitlines()
        return [json.loads(l) for l in lines]  # every line must parse


@unittest.skipUnless(HAVE_RUNC, "runc is not installed")
class RunExclusive(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.host = FakeHost(gpus=2)
        cls.tmp = tempfile.mkdtemp(prefix="nvbind-iso-run-")
        cls.caps = ExclusiveCapsules(cls.tmp, cls.host)
        ok, why = cls.caps.takes_claims()
        if not ok:
            cls.host.remove()
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise unittest.SkipTest(why)

    @classmethod
    def tearDownClass(cls):
        cls.host.remove()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def check_audit(self, grants, denies):
        events = self.caps.audit()
        self.assertEqual(len(events), CAPSULES, "one audit line per decision")
        self.assertEqual(sum(e["decision"] == "grant" for e in events), grants)
        self.assertEqual(sum(e["decision"] == "deny" for e in events), denies)
        for e in events:
            self.assertEqual(e["isolation"], "exclusive")
            self.assertEqual(e["devices"], [self.host.manifest["gpus"][0]["uuid"]])

    def test_concurrent_capsules_never_overlap(self):
        results = self.caps.race()
        ran = [r for r in results if r[0] == 0]
        busy = [r for r in results if r[0] == 8]
        self.assertEqual(len(ran) + len(busy), CAPSULES, [r for r in results if r[0] not in (0, 8)][:3])
        self.assertGreaterEqual(len(ran), 1)
        for code, out, err in results:
            self.assertNotIn("OVERLAP", out)
        uuid = self.host.manifest["gpus"][0]["uuid"]
        for code, out, err in busy:
            self.assertRegex(err, rf"GPU 0 \({uuid}\) is held exclusively by container \S+ since \S+Z")
            self.assertEqual(out, "", "a refused capsule must not start")
        self.check_audit(len(ran), len(busy))
        self.assertTrue(self.caps.settle(5), "claims left after every capsule ended")

    def test_wait_runs_every_capsule_one_after_another(self):
        if "--wait" not in run([NVBIND, "run", "--help"]).stdout + run([NVBIND, "run", "--help"]).stderr:
            self.skipTest("nvbind run has no --wait yet")
        results = self.caps.race("--wait", hold=0.1)
        for code, out, err in results:
            self.assertEqual(code, 0, err)
            self.assertEqual(out.split(), ["RAN"])
        self.check_audit(CAPSULES, 0)
        self.assertTrue(self.caps.settle(5))

    def test_kill9_holder_leaves_no_stale_claim(self):
        p = self.caps.popen("echo ready; sleep 2")
        line = p.stdout.readline().strip()
        if line != "ready":
            p.kill()
            self.fail(f"the capsule did not start: {p.communicate()[1]}")
        p.send_signal(signal.SIGKILL)
        p.wait()  # not communicate(): the container, still running, holds the pipes open
        # The container outlives nvbind: the GPU stays claimed while it runs ...
        held = self.caps.claims()
        self.assertEqual(len(held), 1)
        # ... and is free once it is gone.
        self.assertTrue(self.caps.settle(30), "a stale claim stayed after the container ended")
        p.stdout.close()
        p.stderr.close()


if __name__ == "__main__":
    unittest.main()
