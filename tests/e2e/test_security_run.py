"""Attacks on `nvbind run` with real podman and runc on fake hosts: a second container under a
live container's name taking over (and then giving back) its GPU claim, [runtime] extra_args
detaching a container out from under its claim, an IMAGE that the engine reads as one of its
own options, a runtime's failure to start a container passed off as the container's exit
status, and a virtual (MPS) container reaching the MPS control daemon."""
import os
import re
import secrets
import shutil
import subprocess
import unittest

from nvbtest import NVBIND, ensure_test_image, run, stop_process
from test_run import HAVE_PODMAN, HAVE_RUNC, RunBase


def podman_exists(name):
    return run(["podman", "container", "exists", name]).returncode == 0


def podman_rm(name):
    run(["podman", "rm", "--force", "--time", "0", name])


@unittest.skipUnless(HAVE_PODMAN, "podman is not installed")
class SameNameTakeover(RunBase):
    """Attack: a second `nvbind run` with the --name of a running container (through
    [runtime] extra_args) replaced that container's claim; podman then refused the name, and
    the second run's clean-up gave back the first container's exclusive GPU while it ran."""

    def setUp(self):
        super().setUp()
        self.name = "nvb-sec-" + secrets.token_hex(4)
        with open(self.config, "a") as f:
            f.write(f'[runtime]\nextra_args = ["--name", "{self.name}"]\n')
        self.addCleanup(podman_rm, self.name)

    def start_holder(self, *options):
        """`nvbind run --runtime podman --gpu 0 OPTIONS` of a container that says ready and
        sleeps: returned once it has said so, and stopped at the end of the test."""
        image = ensure_test_image()
        p = subprocess.Popen([NVBIND, *self.host.args, "--config", self.config, "run", "--runtime", "podman",
                              "--gpu", "0", *options, image, "sh", "-c", "echo ready; sleep 60"],
                             env={**os.environ, **self.env()}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        self.addCleanup(stop_process, p)
        line = p.stdout.readline().strip()
        self.assertEqual(line, "ready", p.stderr.read() if not line else line)
        return p

    def held(self):
        return [(c["container"], c["holder_pid"]) for c in self.claims()]

    def test_second_run_under_a_live_name_is_refused_and_the_claim_survives(self):
        image = ensure_test_image()
        first = self.start_holder("--isolation", "exclusive")
        self.assertEqual(self.held(), [(self.name, first.pid)])
        uuid = self.host.manifest["gpus"][0]["uuid"]
        for isolation in ("exclusive", "shared"):
            r = self.nvbind_run("--runtime", "podman", "--gpu", "0", "--isolation", isolation, image, "echo", "second")
            # The first container's claim is still there, still the first nvbind's ...
            self.assertEqual(self.held(), [(self.name, first.pid)], r.stderr)
            self.assertEqual((r.returncode, r.stdout), (8, ""), r.stderr)
            self.assertEqual(r.stderr, f"nvbind: GPU 0 ({uuid}) is held exclusively by container {self.name} "
                                       f"since {self.claims()[0]['since']}\n")
        # ... and still keeps others off the GPU while the first container runs.
        r = self.nvbind_run("--runtime", "runc", "--gpu", "0", "--isolation", "exclusive", "--rootfs", self.rootfs(),
                            "--", "echo", "third")
        self.assertEqual((r.returncode, r.stdout), (8, ""), r.stderr)
        self.assertIn(f"is held exclusively by container {self.name}", r.stderr)
        self.assertTrue(podman_exists(self.name), "the first container was disturbed")

    def test_shared_second_run_under_a_live_name_is_refused(self):
        """Two shared runs may share a GPU, never a name: the second would replace the
        first's shared claim and drop it on its way out."""
        image = ensure_test_image()
        with open(self.config, "a") as f:
            f.write('[bolt.capsule]\nisolation_level = "shared"\n')
        first = self.start_holder()
        r = self.nvbind_run("--runtime", "podman", "--gpu", "0", image, "echo", "second")
        self.assertEqual(self.held(), [(self.name, first.pid)], r.stderr)
        self.assertEqual((r.returncode, r.stdout), (8, ""), r.stderr)
        self.assertRegex(r.stderr, rf"^nvbind: GPU 0 \(\S+\) is in shared use by another container named "
                                   rf"{self.name} since \S+Z; a name is one container at a time\n$")


@unittest.skipUnless(HAVE_PODMAN, "podman is not installed")
class DetachRefused(RunBase):
    """Attack: [runtime] extra_args = ["-d"] (or --detach, -itd ...) made podman detach: nvbind
    returned at once and gave the claim back while the container kept the GPU."""

    def test_detaching_extra_args_are_refused(self):
        image = ensure_test_image()
        for detach in ('"-d"', '"--detach"', '"--detach=true"', '"-itd"'):
            name = "nvb-sec-" + secrets.token_hex(4)
            self.addCleanup(podman_rm, name)
            with open(self.config, "w") as f:
                f.write(f'[isolation]\nstate_dir = "{self.state}"\naudit_log = "{self.audit_log}"\n'
                        f'[runtime]\nextra_args = ["--name", "{name}", {detach}]\n')
            r = self.nvbind_run("--runtime", "podman", "--gpu", "0", "--isolation", "exclusive", image,
                                "sleep", "30")
            self.assertEqual((r.returncode, r.stdout), (5, ""), f"{detach}: {r.stderr}")
            self.assertEqual(r.stderr, f"nvbind: {self.config}:5: [runtime] extra_args: {detach} detaches the "
                                       "container, which would keep its GPUs without a claim; nvbind run stays in "
                                       "the foreground (remove it)\n")
            self.assertFalse(podman_exists(name), f"{detach}: a container was started")
            self.assertEqual(self.claims(), [])

    def test_detach_false_still_runs(self):
        image = ensure_test_image()
        with open(self.config, "a") as f:
            f.write('[runtime]\nextra_args = ["--detach=false", "-it=false"]\n')
        # -it=false is not podman syntax: only what nvbind decides matters here, so use --dry-run.
        r = self.nvbind_run("--runtime", "podman", "--gpu", "none", "--dry-run", image, "true")
        self.assertEqual(r.returncode, 0, r.stderr)


@unittest.skipUnless(HAVE_PODMAN, "podman is not installed")
class ImageAsOption(RunBase):
    """Attack: `nvbind run -- --privileged=true IMAGE` put --privileged=true where the image
    goes: podman read it as its option and ran a privileged container."""

    FULL_CAPS = "000001ffffffffff"

    def test_image_starting_with_dash_is_refused(self):
        image = ensure_test_image()
        for bad in ("--privileged=true", "-v/:/host"):
            r = self.nvbind_run("--runtime", "podman", "--gpu", "none", "--", bad, image, "sh", "-c",
                                "grep CapEff /proc/self/status")
            self.assertEqual((r.returncode, r.stdout), (2, ""), r.stderr)
            self.assertEqual(r.stderr, f"nvbind run: image '{bad}' starts with '-': the engine would take it for an "
                                       "option; give the image's name\n")
            r = self.nvbind_run("--runtime", "docker", "--gpu", "none", "--dry-run", "--", bad, image)
            self.assertEqual(r.returncode, 2, r.stdout)

    def test_end_of_options_before_the_image(self):
        image = ensure_test_image()
        r = self.nvbind_run("--runtime", "podman", "--gpu", "none", "--dry-run", image, "--privileged")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.rstrip("\n").endswith(f" -- {image} --privileged"), r.stdout)
        # Real podman takes it that way: the container is not privileged, its command is
        # what follows the image.
        r = self.nvbind_run("--runtime", "podman", "--gpu", "none", image, "sh", "-c",
                            "grep CapEff /proc/self/status")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn(self.FULL_CAPS, r.stdout)
        self.assertRegex(r.stdout, r"^CapEff:\s+[0-9a-f]{16}\n$")


@unittest.skipUnless(HAVE_PODMAN, "podman is not installed")
class PodmanStartFailure(RunBase):
    """Attack on the exit status: podman's own failure to start the container (127: no such
    command) came back as if the container had exited 127."""

    def test_engine_failures_exit_7_and_container_status_passes_through(self):
        image = ensure_test_image()
        r = self.nvbind_run("--runtime", "podman", "--gpu", "none", image, "no-such-command")
        self.assertEqual((r.returncode, r.stdout), (7, ""), r.stderr)
        self.assertTrue(r.stderr.endswith("nvbind: podman could not start the container (exit status 127: its "
                                          "command was not found; its message is above)\n"), r.stderr)
        r = self.nvbind_run("--runtime", "podman", "--gpu", "none", image, "/etc")
        self.assertEqual((r.returncode, r.stdout), (7, ""), r.stderr)
        self.assertIn("exit status 126", r.stderr)
        r = self.nvbind_run("--runtime", "podman", "--gpu", "none", image, "sh", "-c", "echo ran; exit 3")
        self.assertEqual((r.returncode, r.stdout, r.stderr), (3, "ran\n", ""))


@unittest.skipUnless(HAVE_RUNC, "runc is not installed")
class RuncStartFailure(RunBase):
    """Attack on the exit status: runc's own failure (its create step: no such command, a
    root filesystem it cannot use) came back as exit status 1, the same as a container that
    exited 1."""

    def test_runc_failure_exits_7_with_its_message(self):
        r = self.nvbind_run("--runtime", "runc", "--gpu", "0", "--rootfs", self.rootfs(), "--", "no-such-command")
        self.assertEqual((r.returncode, r.stdout), (7, ""), r.stderr)
        last = r.stderr.splitlines()[-1]
        self.assertRegex(last, r'^nvbind: runc could not start the container: .*exec: "no-such-command": '
                               r'executable file not found in \$PATH \(exit status 1\)$')
        self.assertNothingLeft()

    def test_container_exit_1_stays_1(self):
        r = self.nvbind_run("--runtime", "runc", "--gpu", "0", "--rootfs", self.rootfs(), "--", "sh", "-c",
                            "echo ran; exit 1")
        self.assertEqual((r.returncode, r.stdout, r.stderr), (1, "ran\n", ""))
        self.assertNothingLeft()

    def test_dry_run_shows_the_log_options(self):
        r = self.nvbind_run("--runtime", "runc", "--dry-run", "--rootfs", self.rootfs(), "--", "true")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"^runc --log=\S+/nvbind-bundle-XXXXXX/runtime\.log --log-format=json run "
                                   r"--bundle \S+/nvbind-bundle-XXXXXX nvbind-\d+-[0-9a-f]{8}\n$")


if __name__ == "__main__":
    unittest.main()
