"""Users who are not root (docs/isolation.md, "Users who are not root"): members of the group
nvbind claim GPUs and write their own audit log, everyone reads `nvbind claims`, the group reads
`nvbind audit`, and `nvbind doctor` tells each user what it may do and the fix.

Real unprivileged users made by the test (useradd; a group nvbind made too when the host has
none) run the real nvbind through runuser. The engine is a stand-in `podman` first in their
PATH that keeps its "container" up for a few seconds: what is under test is nvbind's claim and
audit state, which nvbind writes before it starts the engine (test_rootless.py runs real
rootless podman)."""
import glob
import grp
import json
import os
import pwd
import re
import shutil
import subprocess
import time
import unittest

from nvbtest import NVBIND, FakeHostCase, run, temp_dir

GROUP = "nvbind"
MEMBER, ATTACKER, OUTSIDER = "nvbgrp-a", "nvbgrp-b", "nvbgrp-c"

STUB_PODMAN = """#!/bin/sh
# Stands in for podman: `run` keeps the "container" up for $STUB_SLEEP seconds.
case "$1" in run) sleep "${STUB_SLEEP:-0}";; esac
exit 0
"""


def missing():
    if os.geteuid() != 0:
        return "needs root (useradd, runuser)"
    for exe in ("useradd", "userdel", "groupadd", "groupdel", "runuser"):
        if not shutil.which(exe):
            return f"{exe} not installed"
    return None


def start_time(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[19])


@unittest.skipIf(missing(), missing())
class ClaimGroup(FakeHostCase):
    gpus = 2

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        os.chmod(cls.host.tmp, 0o755)
        cls.gpu = [g["uuid"] for g in cls.host.manifest["gpus"]]
        cls.made_group = False
        cls.users = []
        cls.tmp = temp_dir("nvbind-claimgroup-test-", cls.addClassCleanup)
        os.chmod(cls.tmp, 0o755)
        # A class cleanup, so that the users go also when the setup fails halfway.
        cls.addClassCleanup(cls.remove_users)
        try:
            grp.getgrnam(GROUP)
        except KeyError:
            r = run(["groupadd", GROUP])
            if r.returncode != 0:
                raise AssertionError(f"groupadd: {r.stderr}")
            cls.made_group = True
        for user, groups in ((MEMBER, [GROUP]), (ATTACKER, [GROUP]), (OUTSIDER, [])):
            run(["userdel", user])
            args = ["useradd", "--no-create-home", "--shell", "/bin/sh"]
            if groups:
                args += ["--groups", ",".join(groups)]
            r = run(args + [user])
            if r.returncode != 0:
                raise AssertionError(f"useradd {user}: {r.stderr}")
            cls.users.append(user)
        cls.uid = {u: pwd.getpwnam(u).pw_uid for u in cls.users}
        cls.bin = os.path.join(cls.tmp, "bin")
        os.makedirs(cls.bin)
        with open(os.path.join(cls.bin, "podman"), "w") as f:
            f.write(STUB_PODMAN)
        os.chmod(os.path.join(cls.bin, "podman"), 0o755)
        cls.state = os.path.join(cls.tmp, "state")
        cls.log = os.path.join(cls.tmp, "log", "audit.log")
        cls.config = os.path.join(cls.tmp, "nvbind.toml")
        with open(cls.config, "w") as f:
            # The spec goes to a folder of the test's own: /var/run/cdi is every test's.
            f.write(f'[isolation]\nstate_dir = "{cls.state}"\naudit_log = "{cls.log}"\n'
                    f'[cdi]\noutput_dir = "{cls.tmp}/cdi"\n')
        # The administrator gives the state and audit folders to the group, as doctor says.
        run(["install", "-d", "-m", "0755", "-g", GROUP, cls.state], check=True)
        run(["install", "-d", "-m", "3770", "-g", GROUP, os.path.dirname(cls.log)], check=True)
        # Root's first claim makes claims/ and locks/, the group's too.
        r = cls.nvbind_as("root", "run", "--runtime", "podman", "--isolation", "shared", "--gpu", "0", "img", "true")
        if r.returncode != 0:
            raise AssertionError(f"root's first run: {r.stderr}")

    @classmethod
    def remove_users(cls):
        for user in cls.users:
            run(["pkill", "-KILL", "-u", user])
            run(["userdel", user])
        if cls.made_group:
            run(["groupdel", GROUP])

    @classmethod
    def env(cls, sleep=0):
        return ["env", "-i", f"PATH={cls.bin}:/usr/sbin:/usr/bin:/sbin:/bin", f"NVBIND_CONFIG={cls.config}",
                f"STUB_SLEEP={sleep}"]

    @classmethod
    def nvbind_as(cls, user, *args, sleep=0):
        return run(["runuser", "-u", user, "--", *cls.env(sleep), NVBIND, *cls.host.args, *args])

    def sh_as(self, user, script):
        return run(["runuser", "-u", user, "--", "sh", "-c", script])

    def hold(self, user, gpu, mode="exclusive", seconds=20):
        """user runs a container on gpu that stays up; returns the process once its claim shows."""
        p = subprocess.Popen(["runuser", "-u", user, "--", *self.env(seconds), NVBIND, *self.host.args, "run",
                              "--runtime", "podman", "--isolation", mode, "--gpu", str(gpu), "img", "true"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(self.end, p, user)
        for _ in range(100):
            if any(c["uid"] == self.uid[user] and c["uuid"] == self.gpu[gpu] for c in self.claims(OUTSIDER)):
                return p
            if p.poll() is not None:
                self.fail(f"{user}'s run exited {p.returncode}: {p.stderr.read()}")
            time.sleep(0.1)
        self.fail(f"{user}'s claim on GPU {gpu} never showed")

    @staticmethod
    def end(p, user):
        # The test user's processes (nvbind, the stand-in engine): the claim goes with them.
        run(["pkill", "-KILL", "-u", user])
        p.communicate()

    def claims(self, user):
        r = self.nvbind_as(user, "claims", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def doctor(self, user):
        r = self.nvbind_as(user, "doctor", "--json")
        return r.returncode, {c["name"]: c for c in json.loads(r.stdout)["checks"]}

    # ---- doctor ----------------------------------------------------------------------------

    def test_doctor_says_who_may_claim_and_the_fix(self):
        rc, checks = self.doctor(MEMBER)
        self.assertEqual((checks["claims"]["level"], checks["audit"]["level"]), ("ok", "ok"), checks)
        self.assertIn(f"{MEMBER} (uid {self.uid[MEMBER]}) can claim GPUs in {self.state} (group nvbind)",
                      checks["claims"]["message"])
        self.assertIn(f"{self.log}@{self.uid[MEMBER]}", checks["audit"]["message"])
        rc, checks = self.doctor(OUTSIDER)
        self.assertEqual(rc, 1)
        self.assertEqual(checks["claims"]["level"], "error")
        self.assertIn(f"{OUTSIDER} (uid {self.uid[OUTSIDER]}) is not root and not in group nvbind",
                      checks["claims"]["message"])
        self.assertIn(f"usermod -aG nvbind {OUTSIDER}", checks["claims"]["fix"])
        self.assertEqual(checks["audit"]["level"], "error")

    def test_root_shares_only_a_folder_others_cannot_write(self):
        """A state folder given to the group but writable by anyone is not a share: root's
        claims there stay root's, and doctor says so instead of promising the group."""
        rc, checks = self.doctor("root")
        self.assertEqual(checks["claims"]["level"], "ok", checks)
        self.assertIn("members of group nvbind may claim too", checks["claims"]["message"])
        loose = os.path.join(self.tmp, "loose")
        run(["install", "-d", "-m", "0777", "-g", GROUP, loose], check=True)
        config = os.path.join(self.tmp, "loose.toml")
        with open(config, "w") as f:
            f.write(f'[isolation]\nstate_dir = "{loose}"\naudit_log = "{loose}.log"\n[cdi]\noutput_dir = "{self.tmp}/cdi"\n')
        env = ["env", "-i", f"PATH={self.bin}:/usr/sbin:/usr/bin:/sbin:/bin", f"NVBIND_CONFIG={config}"]
        r = run([*env, NVBIND, *self.host.args, "doctor", "--json"])
        checks = {c["name"]: c for c in json.loads(r.stdout)["checks"]}
        self.assertEqual(checks["claims"]["level"], "info", checks)
        self.assertIn(f"only root may claim ({loose} is not shared with group nvbind)", checks["claims"]["message"])
        r = run([*env, NVBIND, *self.host.args, "run", "--runtime", "podman", "--isolation", "shared", "--gpu", "0",
                 "img", "true"])
        self.assertEqual(r.returncode, 0, r.stderr)
        for sub in ("claims", "locks"):
            self.assertEqual(os.stat(os.path.join(loose, sub)).st_gid, 0, sub)

    # ---- who may do what -------------------------------------------------------------------

    def test_member_claims_everyone_reads_group_reads_audit(self):
        self.hold(MEMBER, 0)
        mine = [c for c in self.claims(OUTSIDER) if c["uuid"] == self.gpu[0]]
        self.assertEqual([(c["mode"], c["uid"]) for c in mine], [("exclusive", self.uid[MEMBER])])
        # Another member is refused the GPU while it is held, like any other container.
        r = self.nvbind_as(ATTACKER, "run", "--runtime", "podman", "--isolation", "exclusive", "--gpu", "0", "img",
                           "true")
        self.assertEqual(r.returncode, 8, r.stderr)
        self.assertIn(f"is held exclusively by container {mine[0]['container']}", r.stderr)
        # The group reads every decision, the member's own included; others read none.
        r = self.nvbind_as(ATTACKER, "audit", "--json", "--container", mine[0]["container"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([(e["uid"], e["decision"]) for e in json.loads(r.stdout)], [(self.uid[MEMBER], "grant")])
        r = self.nvbind_as(OUTSIDER, "audit")
        self.assertEqual(r.returncode, 6)
        self.assertIn("permission denied (root and members of group nvbind read it)", r.stderr)

    def test_outsider_cannot_claim(self):
        r = self.nvbind_as(OUTSIDER, "run", "--runtime", "podman", "--isolation", "shared", "--gpu", "1", "img", "true")
        self.assertEqual(r.returncode, 6)
        self.assertIn(f"cannot claim GPUs: {self.state}/claims is not writable by uid {self.uid[OUTSIDER]}; root and "
                      "members of group nvbind claim GPUs", r.stderr)
        self.assertFalse([c for c in self.claims(OUTSIDER) if c["uid"] == self.uid[OUTSIDER]])

    def test_user_with_a_state_folder_of_their_own(self):
        """Not in the group, but claims and audit log in folders of their own: as before."""
        own = os.path.join(self.tmp, "outsider")
        os.makedirs(own)
        os.chown(own, self.uid[OUTSIDER], -1)
        config = os.path.join(own, "nvbind.toml")
        # The user's own spec folder, made under umask 002 (group-writable: the user's group).
        os.makedirs(f"{own}/cdi")
        os.chmod(f"{own}/cdi", 0o775)
        os.chown(f"{own}/cdi", self.uid[OUTSIDER], -1)
        with open(config, "w") as f:
            f.write(f'[isolation]\nstate_dir = "{own}/state"\naudit_log = "{own}/audit.log"\n'
                    f'[cdi]\noutput_dir = "{own}/cdi"\n')
        os.chown(config, self.uid[OUTSIDER], -1)
        env = ["env", "-i", f"PATH={self.bin}:/usr/bin:/bin", f"NVBIND_CONFIG={config}"]
        r = run(["runuser", "-u", OUTSIDER, "--", *env, NVBIND, *self.host.args, "run", "--runtime", "podman",
                 "--isolation", "exclusive", "--gpu", "1", "img", "true"])
        self.assertEqual(r.returncode, 0, r.stderr)
        r = run(["runuser", "-u", OUTSIDER, "--", *env, NVBIND, "audit", "--json"])
        self.assertEqual([e["uid"] for e in json.loads(r.stdout)], [self.uid[OUTSIDER]], r.stderr)
        self.assertEqual(os.stat(f"{own}/cdi/nvidia.com-gpu.json").st_uid, self.uid[OUTSIDER])

    # ---- attacks by a member ---------------------------------------------------------------

    def test_member_cannot_remove_replace_or_forge_another_holders_claim(self):
        """Attack: a member of the group frees a GPU another member holds exclusively (removing,
        replacing or editing its record), forges claims in another's name, or plants links where
        root will write its record and lock."""
        self.hold(MEMBER, 0)
        claims = os.path.join(self.state, "claims")
        key0, key1 = self.gpu[0], self.gpu[1]
        theirs = f"{claims}/{key0}@{self.uid[MEMBER]}.json"
        self.assertTrue(os.path.isfile(theirs))
        free = json.dumps({"version": 1, "device": {"gpu_index": 0, "mig_index": None, "uuid": key0,
                                                    "parent_uuid": None}, "mode": "shared", "holders": []})
        mine = f"{claims}/{key0}@{self.uid[ATTACKER]}.json"
        for attack in (f"rm -f {theirs}", f"echo '{free}' > {theirs}",
                       f"echo '{free}' > {mine} && mv -f {mine} {theirs}",
                       f"ln -sf /dev/null {theirs}"):
            self.sh_as(ATTACKER, attack)
        run(["rm", "-f", mine])
        held = [c for c in self.claims(OUTSIDER) if c["uuid"] == key0]
        self.assertEqual([(c["mode"], c["uid"]) for c in held], [("exclusive", self.uid[MEMBER])])
        r = self.nvbind_as(ATTACKER, "run", "--runtime", "podman", "--isolation", "exclusive", "--gpu", "0", "img",
                           "true")
        self.assertEqual(r.returncode, 8, r.stderr)

        # Forged claims on GPU 1 in the member's name, live holder and all: in a file named for
        # the member, and in the attacker's own file.
        me = os.getpid()
        holder = {"container": "forged", "runtime": "podman", "holder": {"pid": me, "start_time": start_time(me)},
                  "init": None, "oci_state": None, "uid": self.uid[MEMBER], "since": "2026-01-01T00:00:00Z"}
        forged = json.dumps({"version": 1, "device": {"gpu_index": 1, "mig_index": None, "uuid": key1,
                                                      "parent_uuid": None}, "mode": "exclusive", "holders": [holder]})
        victim = os.path.join(self.tmp, "victim")
        with open(victim, "w") as f:
            f.write("root's file\n")
        os.chmod(victim, 0o644)
        for name in (f"{key1}@{self.uid[MEMBER]}.json", f"{key1}@{self.uid[ATTACKER]}.json"):
            r = self.sh_as(ATTACKER, f"echo '{forged}' > {claims}/{name}")
            self.assertEqual(r.returncode, 0, r.stderr)
        for link in (f"{claims}/{key1}.json", f"{self.state}/locks/{key1}.lock"):
            r = self.sh_as(ATTACKER, f"ln -s {victim} {link}")
            self.assertEqual(r.returncode, 0, r.stderr)
        self.assertFalse([c for c in self.claims(OUTSIDER) if c["uuid"] == key1])
        # Root claims GPU 1 through the links without following them; the member then too.
        r = self.nvbind_as("root", "run", "--runtime", "podman", "--isolation", "exclusive", "--gpu", "1", "img", "true")
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(victim) as f:
            self.assertEqual(f.read(), "root's file\n")
        r = self.nvbind_as(MEMBER, "run", "--runtime", "podman", "--isolation", "exclusive", "--gpu", "1", "img", "true")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(sorted(os.listdir(claims)), [f"{key0}@{self.uid[MEMBER]}.json"])

        # The audit log: the member's own is out of the attacker's reach, and a line the attacker
        # writes in the member's name (in its own log, denials of the attacker above made it) is
        # reported as forged and not shown.
        theirs = f"{self.log}@{self.uid[MEMBER]}"
        r = self.sh_as(ATTACKER, f"echo x >> {theirs} || rm -f {theirs}")
        self.assertNotEqual(r.returncode, 0)
        with open(theirs) as f:
            self.assertNotIn("x\n", f.read().splitlines(keepends=True))
        line = json.dumps({"time": "2026-01-01T00:00:00.000Z", "uid": self.uid[MEMBER], "pid": 1,
                           "container": "forged", "runtime": "podman", "devices": [key1], "profile": None,
                           "isolation": "exclusive", "decision": "grant", "reason": "r"})
        self.addCleanup(os.unlink, f"{self.log}@{self.uid[ATTACKER]}")
        r = self.sh_as(ATTACKER, f"echo '{line}' >> {self.log}@{self.uid[ATTACKER]}")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.nvbind_as("root", "audit", "--json", "--container", "forged")
        self.assertEqual(r.returncode, 9, r.stderr)
        self.assertEqual(json.loads(r.stdout), [])
        self.assertIn(f"an event of another uid in the log of uid {self.uid[ATTACKER]}: forged; skipped", r.stderr)


    def test_member_text_reaches_roots_terminal_escaped(self):
        """Attack: a member names its container with terminal escapes (a window title, a line
        erased and rewritten) in its own claim record and audit log, and writes a broken log
        line holding them: root's `nvbind claims` and `nvbind audit` show them as \\xNN, never
        as the bytes a terminal would act on."""
        esc = "x\x1b]0;owned\x07\x1b[2K\rgrant exclusive root \x9b31m"
        claims = os.path.join(self.state, "claims")
        me = os.getpid()
        holder = {"container": esc, "runtime": "podman", "holder": {"pid": me, "start_time": start_time(me)},
                  "init": None, "oci_state": None, "uid": self.uid[ATTACKER], "since": "2026-01-01T00:00:00Z"}
        record = json.dumps({"version": 1, "device": {"gpu_index": 1, "mig_index": None, "uuid": self.gpu[1],
                                                      "parent_uuid": None}, "mode": "shared", "holders": [holder]})
        own = f"{claims}/{self.gpu[1]}@{self.uid[ATTACKER]}.json"
        log = f"{self.log}@{self.uid[ATTACKER]}"
        self.addCleanup(run, ["rm", "-f", own, log])
        event = json.dumps({"time": "2026-01-01T00:00:00.000Z", "uid": self.uid[ATTACKER], "pid": 1,
                            "container": esc, "runtime": esc, "devices": [esc], "profile": None,
                            "isolation": "shared", "decision": "grant", "reason": esc})
        for script in (f"cat > {own}", f"cat >> {log}"):
            p = subprocess.run(["runuser", "-u", ATTACKER, "--", "sh", "-c", script], input=(
                record if script.endswith(".json") else event + "\n" + esc[1:] + "\n"),
                text=True, capture_output=True)
            self.assertEqual(p.returncode, 0, p.stderr)

        def shown(r):
            out = r.stdout + r.stderr
            self.assertFalse([c for c in out if (ord(c) < 0x20 and c != "\n") or 0x7f <= ord(c) < 0xa0], out)
            return out

        # The record breaks the rule every record is read with: refused by name, not shown.
        r = self.nvbind_as("root", "claims")
        self.assertEqual(r.returncode, 9, r.stderr)
        self.assertIn(f"{own}: holders[0].container: not UTF-8 text without control characters", shown(r))
        run(["rm", "-f", own])
        r = self.nvbind_as("root", "audit", "--container", esc)
        self.assertEqual(r.returncode, 9, r.stderr)
        out = shown(r)
        self.assertIn("x\\x1b]0;owned\\x07\\x1b[2K\\x0dgrant exclusive root \\xc2\\x9b31m", r.stdout)
        self.assertRegex(r.stderr, re.escape(log) + r":\d+: not JSON \(column 1: '\[' or '\{' expected near '\\x1b'\)")
        self.assertEqual(out.count("\n"), 2, out)  # one event, one problem: nothing split a line

    def exporter(self):
        """Root's `nvbind exporter --once`: (exit status, metrics text, seconds taken)."""
        began = time.monotonic()
        r = run(["env", f"NVBIND_CONFIG={self.config}", NVBIND, *self.host.args, "exporter", "--once"], timeout=60)
        return r.returncode, r.stdout + r.stderr, time.monotonic() - began

    def test_member_holding_a_lock_stalls_nobody_for_good(self):
        """Attack: a member opens a device's lock file (read-only is enough for flock) and holds
        it. Root's exporter, `nvbind claims` and every claim on the device waited for as long,
        the exporter past SIGTERM. Viewers now read without the lock, a listing waits a
        second, and a claim gives up after 10 s naming the lock."""
        self.hold(MEMBER, 0, mode="shared")
        lock = os.path.join(self.state, "locks", self.gpu[0] + ".lock")
        self.assertTrue(os.path.isfile(lock))
        holder = subprocess.Popen(["runuser", "-u", ATTACKER, "--", "flock", "-s", lock, "sleep", "60"])
        self.addCleanup(self.end, holder, ATTACKER)
        time.sleep(0.5)
        rc, text, took = self.exporter()
        self.assertEqual(rc, 0, text)
        self.assertLess(took, 10, text)
        self.assertIn('nvbind_gpu_claims{gpu="0"', text)
        began = time.monotonic()
        r = self.nvbind_as("root", "claims", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertLess(time.monotonic() - began, 8)
        self.assertEqual([c["uid"] for c in json.loads(r.stdout) if c["uuid"] == self.gpu[0]], [self.uid[MEMBER]])
        began = time.monotonic()
        r = self.nvbind_as("root", "run", "--runtime", "podman", "--isolation", "shared", "--gpu", "0", "img", "true")
        self.assertEqual(r.returncode, 6, r.stderr)
        self.assertLess(time.monotonic() - began, 20)
        self.assertIn(f"lock {self.state}/locks/{self.gpu[0]}.lock has been held by another process for 10 s", r.stderr)

    def test_member_records_neither_hide_nor_multiply_claims(self):
        """Attack: a member writes a broken record (every claim vanished from `nvbind claims`
        and the exporter), and records of GPU 0 under other files' names (each counted as one
        more exclusive holder, the same series printed twice)."""
        self.hold(MEMBER, 0, mode="shared")
        claims = os.path.join(self.state, "claims")
        me = os.getpid()
        holder = {"container": "forged", "runtime": "podman", "holder": {"pid": me, "start_time": start_time(me)},
                  "init": None, "oci_state": None, "uid": self.uid[ATTACKER], "since": "2026-01-01T00:00:00Z"}
        forged = json.dumps({"version": 1, "device": {"gpu_index": 0, "mig_index": None, "uuid": self.gpu[0],
                                                      "parent_uuid": None}, "mode": "exclusive", "holders": [holder]})
        broken = f"{claims}/{self.gpu[1]}@{self.uid[ATTACKER]}.json"
        files = [broken] + [f"{claims}/{name}@{self.uid[ATTACKER]}.json" for name in ("a", "b")]
        self.addCleanup(run, ["rm", "-f", *files])
        for path, text in zip(files, ('{"version":1', forged, forged)):
            p = subprocess.run(["runuser", "-u", ATTACKER, "--", "sh", "-c", f"cat > {path}"], input=text, text=True,
                               capture_output=True)
            self.assertEqual(p.returncode, 0, p.stderr)
        r = self.nvbind_as("root", "claims", "--json")
        self.assertEqual(r.returncode, 9, r.stderr)
        self.assertIn(f"claim record {broken}: ", r.stderr)
        self.assertEqual([(c["uuid"], c["mode"], c["uid"]) for c in json.loads(r.stdout)],
                         [(self.gpu[0], "shared", self.uid[MEMBER])])
        rc, text, took = self.exporter()
        self.assertEqual(rc, 0, text)
        self.assertIn("nvbind_claim_records_unreadable 1\n", text)
        exclusive = [l for l in text.splitlines() if l.startswith('nvbind_gpu_claims{gpu="0"') and 'mode="exclusive"' in l]
        self.assertEqual(len(exclusive), 1, text)
        self.assertTrue(exclusive[0].endswith(" 0"), exclusive)
        self.assertNotIn('container="forged"', text)
        holders = [l for l in text.splitlines() if l.startswith("nvbind_gpu_claim_holder{")]
        self.assertEqual(len(holders), len(set(holders)), holders)

    def test_member_planting_roots_audit_log_is_moved_aside(self):
        """Attack: while root's audit log is missing (before its first event, after rotation), a
        member makes the file in the group's log folder: root appended its events to the
        member's file, and the exporter counted whatever the member wrote there."""
        aside = self.log + ".rotated"
        os.rename(self.log, aside)
        self.addCleanup(lambda: [os.unlink(p) for p in glob.glob(self.log + ".planted.*")])
        line = json.dumps({"time": "2026-01-01T00:00:00.000Z", "uid": 0, "pid": 1, "container": "forged",
                           "runtime": "podman", "devices": [], "profile": None, "isolation": "shared",
                           "decision": "grant", "reason": "r"})
        p = subprocess.run(["runuser", "-u", ATTACKER, "--", "sh", "-c", f"for i in $(seq 500); do cat; done > {self.log}"],
                           input=line + "\n", text=True, capture_output=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        rc, text, took = self.exporter()
        self.assertNotIn('nvbind_audit_decisions_total{decision="grant"} 500', text)
        r = self.nvbind_as("root", "run", "--runtime", "podman", "--isolation", "shared", "--gpu", "1", "img", "true")
        self.assertEqual(r.returncode, 0, r.stderr)
        st = os.stat(self.log)
        self.assertEqual((st.st_uid, st.st_nlink), (0, 1))
        with open(self.log) as f:
            self.assertNotIn("forged", f.read())
        aside = glob.glob(self.log + ".planted.*")
        self.assertEqual([os.stat(p).st_uid for p in aside], [self.uid[ATTACKER]], aside)
        rc, text, took = self.exporter()
        self.assertIn('nvbind_audit_decisions_total{decision="grant"} 1\n', text)

if __name__ == "__main__":
    unittest.main()
