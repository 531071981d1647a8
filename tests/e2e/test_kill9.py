"""`kill -9` at random moments while nvbind writes: CDI specs (`nvbind cdi generate --output
DIR` on an 8-GPU fake host) and GPU claims (lib/isolation, through a small C driver built
against the build under test).

A writer killed between creating its temporary file and renaming it cannot remove that
temporary: no writer can. What nvbind promises instead (lib/util/fileio.c, lib/isolation):
- the target file is never truncated or mixed: it is absent, the old file, or the new one;
- temporaries are dot-files (`.<name>.tmp.<pid>.<random>`) that engines and `nvbind cdi list` skip;
- the next successful write of the same file removes the temporaries of writers that died,
  and the next look at the claims (`nvbind claims`, any acquire) removes stale claims and
  their temporaries once their holders are gone."""
import fcntl
import json
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

HAVE_RUNC = shutil.which("runc") is not None

from nvbtest import BUILD_DIR, NVBIND, REPO, fakehost, make_busybox_rootfs, proc_cmdline, proc_stat, run

SPEC = "nvidia.com-gpu.json"
TEMP_RE = re.compile(r"^\.nvidia\.com-gpu\.json\.tmp\.(\d+)\.[0-9a-f]{16}$")
LOOP_SECONDS = float(os.environ.get("NVBIND_KILL9_SECONDS", "10"))


def kill9(p):
    try:
        p.send_signal(signal.SIGKILL)
    except ProcessLookupError:
        pass
    p.wait()


class SpecWritersKilled(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="nvbind-kill9-spec-")
        cls.root = os.path.join(cls.tmp, "host")
        fakehost.build(cls.root, gpus=8)
        # Two complete specs: the new one the loop writes, and an older one (other device
        # names) that a killed writer must leave whole when it was there first.
        cls.reference = cls.generate(os.path.join(cls.tmp, "reference"))
        cls.old = cls.generate(os.path.join(cls.tmp, "old"), "--device-name-strategy", "uuid")
        assert cls.old != cls.reference

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def generate(cls, out, *extra):
        os.makedirs(out, exist_ok=True)
        run([NVBIND, "--root", cls.root, "cdi", "generate", *extra, "--output", out], check=True)
        with open(os.path.join(out, SPEC), "rb") as f:
            return f.read()

    def test_killed_writers_never_leave_a_partial_spec(self):
        out = os.path.join(self.tmp, "specs")
        os.makedirs(out)
        # How long one full run takes here: kills are spread over that span and a bit more.
        t = time.perf_counter()
        self.generate(out)
        span = max(time.perf_counter() - t, 0.002) * 1.3
        os.unlink(os.path.join(out, SPEC))

        rng = random.Random(1234)
        seen = {"absent": 0, "old": 0, "new": 0, "temporaries": 0}
        iterations = 0
        deadline = time.monotonic() + LOOP_SECONDS
        while time.monotonic() < deadline:
            iterations += 1
            path = os.path.join(out, SPEC)
            # Half the rounds start without a spec, half with the older one in place.
            start_old = iterations % 2 == 0
            if start_old:
                with open(path, "wb") as f:
                    f.write(self.old)
            elif os.path.exists(path):
                os.unlink(path)
            p = subprocess.Popen([NVBIND, "--root", self.root, "cdi", "generate", "--output", out],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0, span))
            kill9(p)
            names = os.listdir(out)
            others = [n for n in names if n != SPEC and not TEMP_RE.match(n)]
            self.assertEqual(others, [], f"round {iterations}: files other than the spec and its temporaries")
            temps = [n for n in names if TEMP_RE.match(n)]
            seen["temporaries"] += bool(temps)
            if SPEC not in names:
                self.assertFalse(start_old, f"round {iterations}: the old spec vanished")
                seen["absent"] += 1
                continue
            with open(path, "rb") as f:
                got = f.read()
            if got == self.old and start_old:
                seen["old"] += 1
            else:
                self.assertEqual(len(got), len(self.reference), f"round {iterations}: a spec of the wrong size")
                self.assertEqual(got, self.reference, f"round {iterations}: a spec that is neither old nor new")
                seen["new"] += 1
        self.assertGreaterEqual(iterations, 100, f"only {iterations} rounds in {LOOP_SECONDS} s")
        # The kills landed before, during (a temporary left) and after writing: the moments
        # are random over the span of a whole run, so with this many rounds each happens.
        self.assertGreater(seen["new"], 0, seen)
        self.assertGreater(seen["absent"] + seen["old"], 0, seen)
        self.assertGreater(seen["temporaries"], 0, seen)

        # Temporaries left by the killed writers are dot-files: engines and cdi list skip them.
        # (The last round may have been killed before it wrote anything: put a spec in place so
        # the listing has exactly one file to show beside the temporaries.)
        if not os.path.exists(path):
            with open(path, "wb") as f:
                f.write(self.reference)
        listing = run([NVBIND, "cdi", "list", "--spec-dir", out, "--json"], check=True)
        self.assertEqual([os.path.basename(f["path"]) for f in json.loads(listing.stdout)], [SPEC])
        # One writer that finishes clears them, and writes the same spec.
        self.assertEqual(self.generate(out), self.reference)
        self.assertEqual(os.listdir(out), [SPEC], f"stale temporaries remain ({seen})")

    def test_only_dead_writers_temporaries_are_removed(self):
        out = os.path.join(self.tmp, "live")
        os.makedirs(out)
        dead = subprocess.Popen(["true"])
        dead.wait()
        # A writer that died: its pid is gone and nobody holds its temporary's lock.
        stale = os.path.join(out, f".{SPEC}.tmp.{dead.pid}")
        # A writer whose pid runs here (this test process).
        running = os.path.join(out, f".{SPEC}.tmp.{os.getpid()}")
        # A writer in another pid namespace: its pid means nothing here, but it holds the
        # lock on its temporary while it writes.
        other_ns = os.path.join(out, f".{SPEC}.tmp.{dead.pid + 1000000}")
        # Another file's temporary.
        other_file = os.path.join(out, f".other.json.tmp.{dead.pid}")
        for path in (stale, running, other_ns, other_file):
            open(path, "w").close()
        with open(other_ns) as locked:
            fcntl.flock(locked, fcntl.LOCK_EX)
            self.assertEqual(self.generate(out), self.reference)
            self.assertFalse(os.path.exists(stale), "the temporary of a dead writer was kept")
            self.assertTrue(os.path.exists(running), "the temporary of a running writer was removed")
            self.assertTrue(os.path.exists(other_ns), "a locked temporary was removed")
            self.assertTrue(os.path.exists(other_file), "another file's temporary was removed")


def describe_process(pid):
    """What a user would look up about a process that keeps a claim: its command and state."""
    try:
        return f"{pid} ({proc_stat(pid)[0]}) {proc_cmdline(pid)}"
    except OSError:
        return f"{pid} (gone)"


def build_options():
    r = run(["meson", "introspect", "--buildoptions", BUILD_DIR])
    if r.returncode != 0:
        return {}
    return {o["name"]: o["value"] for o in json.loads(r.stdout)}


class ClaimHoldersKilled(unittest.TestCase):
    """Several processes claim two GPUs (exclusive and shared), hold them a moment and give
    them back, in a loop; the test kills them with SIGKILL at random moments and starts new
    ones. Every record on disk must parse at every moment, and once the last holder is gone
    nothing may remain claimed."""

    GPUS = ["GPU-11111111-0000-0000-0000-000000000000", "GPU-22222222-0000-0000-0000-000000000000"]

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="nvbind-kill9-claims-")
        cls.driver = os.path.join(cls.tmp, "kill9_claimer")
        lib = os.path.join(BUILD_DIR, "libnvbind_internal.a")
        if not os.path.exists(lib):
            raise unittest.SkipTest(f"{lib} is not built")
        sanitize = build_options().get("b_sanitize", "none")
        flags = [] if sanitize in ("none", "", None) else ["-fsanitize=" + sanitize]
        pkg = run(["pkg-config", "--libs", "jansson", "yaml-0.1"], check=True).stdout.split()
        run(["cc", "-std=gnu11", "-Wall", "-Wextra", "-Werror", *flags, "-I", os.path.join(REPO, "include"),
             "-I", os.path.join(REPO, "lib"), os.path.join(REPO, "tests", "e2e", "kill9_claimer.c"), lib, *pkg,
             "-lpthread", "-ldl", "-o", cls.driver], check=True)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.state = os.path.join(self.tmp, "state-" + self.id().rsplit(".", 1)[1])
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            self.reap(p)

    @staticmethod
    def reap(p):
        """Kill p with SIGKILL (if it still runs); its stderr."""
        kill9(p)
        if p.stderr.closed:
            return ""
        text = p.stderr.read()
        p.stderr.close()
        return text

    def start(self, n):
        mode = "exclusive" if n % 3 == 0 else "shared"
        gpus = self.GPUS if n % 2 == 0 else self.GPUS[n % 4 // 2:][:1]
        p = subprocess.Popen([self.driver, self.state, f"kill9-{n}", mode, *gpus], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
        self.procs.append(p)
        return p

    def test_killed_holders_leave_no_broken_or_stale_claim(self):
        rng = random.Random(4321)
        live = [self.start(n) for n in range(4)]
        started, kills = 4, 0
        deadline = time.monotonic() + LOOP_SECONDS
        while time.monotonic() < deadline:
            time.sleep(rng.uniform(0, 0.004))
            victim = live.pop(rng.randrange(len(live)))
            err = self.reap(victim)
            kills += 1
            self.assertEqual(victim.returncode, -signal.SIGKILL, f"a claimer stopped by itself: {err}")
            check_claim_records(self, self.state, f"after kill {kills}")
            live.append(self.start(started))
            started += 1
        for p in live:
            err = self.reap(p)
            self.assertEqual(p.returncode, -signal.SIGKILL, f"a claimer stopped by itself: {err}")
        self.assertGreaterEqual(kills, 100, f"only {kills} kills in {LOOP_SECONDS} s")
        check_claim_records(self, self.state, "after the last kill")

        # Every holder is gone: listing reclaims whatever they held, and leaves nothing.
        r = run([NVBIND, "claims", "--state-dir", self.state, "--json"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout), [])
        for line in r.stderr.splitlines():
            self.assertRegex(line, r"^nvbind claims: reclaimed the stale (exclusive|shared) claim on GPU [01] "
                                   r"\(GPU-[0-9a-f-]+\) of container kill9-\d+ since .*")
        claims = os.path.join(self.state, "claims")
        self.assertEqual(sorted(os.listdir(claims)) if os.path.isdir(claims) else [], [],
                         "records or temporaries remain after every holder died")
        r = run([NVBIND, "claims", "--state-dir", self.state])
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "no GPU claims\n", ""))



def check_claim_records(test, state, when):
    """Every file in a claims folder: a record that parses, or a writer's temporary."""
    claims = os.path.join(state, "claims")
    if not os.path.isdir(claims):
        return
    for name in os.listdir(claims):
        if name.startswith(".") and ".json.tmp." in name:
            continue
        test.assertTrue(name.endswith(".json"), f"{when}: unexpected file {name}")
        try:
            with open(os.path.join(claims, name)) as f:
                rec = json.load(f)
        except FileNotFoundError:
            continue  # released between listing and reading
        except ValueError as e:
            test.fail(f"{when}: {name} does not parse: {e}")
        test.assertEqual(rec["version"], 1, name)
        test.assertIn(rec["mode"], ("exclusive", "shared"), name)
        test.assertTrue(rec["holders"], f"{when}: {name} has no holders")
        if rec["mode"] == "exclusive":
            test.assertEqual(len(rec["holders"]), 1, f"{when}: {name}: exclusive with several holders")


# Each capsule takes a marker folder in the shared root filesystem while it runs: one that
# finds the marker taken ran beside another holder of the exclusive GPU, and says so in a file
# (its nvbind may be gone, so the exit status may reach nobody).
CAPSULE = ("if mkdir /iso/held 2>/dev/null; then sleep 0.05; rmdir /iso/held; "
           "else touch /iso/OVERLAP.$$; exit 42; fi")


@unittest.skipUnless(HAVE_RUNC, "runc is not installed")
class RunCapsulesKilled(unittest.TestCase):
    """`nvbind run --runtime runc --isolation exclusive --wait` capsules, with the holder of
    the GPU killed with SIGKILL at random moments (starting its container, or while it runs),
    and waiting ones killed too. A killed nvbind leaves its container running: the claim must
    stay while the container is being created and runs, and go once it has ended. No two
    capsules ever run at once; records parse at every moment; every audit line parses."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="nvbind-kill9-run-")
        self.root = os.path.join(self.tmp, "host")
        self.uuid = fakehost.build(self.root, gpus=1)["gpus"][0]["uuid"]
        self.state = os.path.join(self.tmp, "state")
        self.log = os.path.join(self.tmp, "audit.log")
        self.tmpdir = os.path.join(self.tmp, "tmpdir")
        os.makedirs(self.tmpdir)
        self.config = os.path.join(self.tmp, "nvbind.toml")
        with open(self.config, "w") as f:
            f.write(f'[isolation]\nstate_dir = "{self.state}"\naudit_log = "{self.log}"\n'
                    f'[cdi]\noutput_dir = "{os.path.join(self.tmp, "cdi")}"\n')
        self.rootfs = make_busybox_rootfs(os.path.join(self.tmp, "rootfs"))
        self.iso = os.path.join(self.rootfs, "iso")
        os.makedirs(self.iso)
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            kill9(p)
        self.wait_until_quiet(30)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self):
        errlog = os.path.join(self.tmp, "stderr-%d" % len(self.procs))
        with open(errlog, "w") as err:
            p = subprocess.Popen([NVBIND, "--root", self.root, "--config", self.config, "run", "--runtime", "runc",
                                  "--isolation", "exclusive", "--wait", "--gpu", "0", "--rootfs", self.rootfs, "--",
                                  "sh", "-c", CAPSULE], env={**os.environ, "TMPDIR": self.tmpdir},
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        p.errlog = errlog
        self.procs.append(p)
        return p

    def holder_pid(self):
        """The pid the GPU's claim record names as its holder, or None."""
        try:
            with open(os.path.join(self.state, "claims", self.uuid + ".json")) as f:
                return json.load(f)["holders"][0]["holder"]["pid"]
        except (OSError, ValueError, KeyError, IndexError):
            return None

    def our_containers(self):
        """runc containers started by the nvbind processes of this test (ids nvbind-<pid>-...)."""
        pids = {str(p.pid) for p in self.procs}
        r = run(["runc", "list", "-q"])
        return [c for c in r.stdout.split() if c.startswith("nvbind-") and c.split("-")[1] in pids]

    def wait_until_quiet(self, timeout):
        """Until none of our containers runs and nothing is claimed. `runc list` alone cannot
        tell: a `runc run` started just before its nvbind was killed lists its container only
        once it has created it, and one whose container has ended drops it from the list a
        moment before it exits. The claim covers both moments."""
        deadline = time.monotonic() + timeout
        while (self.our_containers() or self.claims()) and time.monotonic() < deadline:
            time.sleep(0.1)

    def claims(self):
        r = run([NVBIND, "claims", "--state-dir", self.state, "--json"])
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def overlaps(self):
        return sorted(n for n in os.listdir(self.iso) if n.startswith("OVERLAP"))

    def test_killed_capsules_leave_no_stale_claim(self):
        rng = random.Random(99)
        live = [self.start() for _ in range(3)]
        kills = finished = 0
        deadline = time.monotonic() + LOOP_SECONDS * 0.8
        while time.monotonic() < deadline:
            for p in [p for p in live if p.poll() is not None]:
                # A capsule that was not killed ran to its end: its status is the container's.
                self.assertNotEqual(p.returncode, 42, "two capsules held the exclusive GPU at once")
                with open(p.errlog) as f:
                    self.assertEqual(p.returncode, 0, f"a capsule failed on its own: {f.read()}")
                live.remove(p)
                finished += 1
            # Mostly the holder of the GPU, a random moment after it got it (creating its
            # container, or while the container runs); sometimes one that waits.
            holder = self.holder_pid()
            victims = [p for p in live if p.pid == holder] if rng.random() < 0.8 else live
            if victims:
                time.sleep(rng.uniform(0, 0.12))
                victim = victims[0] if len(victims) == 1 else victims[rng.randrange(len(victims))]
                kill9(victim)
                live.remove(victim)
                kills += 1
            else:
                time.sleep(0.01)
            check_claim_records(self, self.state, f"after kill {kills}")
            while len(live) < 3:
                live.append(self.start())
        for p in live:
            kill9(p)
        self.assertGreaterEqual(kills, 20, f"only {kills} kills")
        check_claim_records(self, self.state, "after the last kill")

        # The containers of killed capsules run on and end by themselves; then nothing is held.
        self.wait_until_quiet(60)
        self.assertEqual(self.our_containers(), [], "containers still run")
        left = self.claims()
        self.assertEqual(left, [], "a claim outlived its container; its processes: " +
                         "; ".join(describe_process(c[k]) for c in left for k in ("holder_pid", "init_pid") if c[k]))
        self.assertEqual(self.overlaps(), [], "two capsules held the exclusive GPU at once")
        claims = os.path.join(self.state, "claims")
        self.assertEqual(os.listdir(claims) if os.path.isdir(claims) else [], [])
        # Every decision was logged whole, killed or not (one write(2) per line).
        if os.path.exists(self.log):
            with open(self.log) as f:
                for n, line in enumerate(f, 1):
                    event = json.loads(line)
                    self.assertIn(event["decision"], ("grant", "deny"), f"audit line {n}")
        # After everything ended, a capsule gets the GPU at once.
        r = run([NVBIND, "--root", self.root, "--config", self.config, "run", "--runtime", "runc", "--isolation",
                 "exclusive", "--gpu", "0", "--rootfs", self.rootfs, "--", "sh", "-c", "echo alone"],
                env={"TMPDIR": self.tmpdir})
        self.assertEqual((r.returncode, r.stdout), (0, "alone\n"), r.stderr)


if __name__ == "__main__":
    unittest.main()
