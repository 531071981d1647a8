"""nvbind run --runtime docker keeps the daemon's GET /info between runs (the daemon takes
~20 ms to answer it: runtime/docker_info_cache.h), and must never act on an answer the daemon
would no longer give: after a restart with nvbind-runtime registered, after an edit of
daemon.json followed by a reload (SIGHUP), or from a kept answer someone else planted.
Against a stand-in dockerd (fake_dockerd.py) that counts the requests; the docker client is a
script that records the command nvbind gives it, which shows the route nvbind chose:
`--runtime nvbind` through the shim, `--device` flags without it."""
import json
import os
import signal
import subprocess
import sys
import time
import unittest

from nvbtest import NVBIND, FakeHostCase, run, temp_dir

HERE = os.path.dirname(os.path.abspath(__file__))
SHIM = {"runtimes": {"nvbind": {"path": "/usr/bin/nvbind-runtime"}}}


@unittest.skipUnless(os.geteuid() == 0, "nvbind keeps a daemon's /info for root only")
class DockerInfoKept(FakeHostCase):
    def setUp(self):
        self.tmp = temp_dir("nvbind-docker-info-", self.addCleanup)
        self.socket = os.path.join(self.tmp, "docker.sock")
        self.requests = os.path.join(self.tmp, "requests.log")
        self.conf_dir = os.path.join(self.tmp, "etc")
        os.makedirs(self.conf_dir)
        self.daemon_json = os.path.join(self.conf_dir, "daemon.json")
        self.state = os.path.join(self.tmp, "state")
        self.config = os.path.join(self.tmp, "nvbind.toml")
        with open(self.config, "w") as f:
            f.write(f'[cdi]\noutput_dir = "{self.tmp}/cdi"\n'
                    f'[isolation]\nstate_dir = "{self.state}"\naudit_log = "{self.tmp}/audit.log"\n')
        bin_dir = os.path.join(self.tmp, "bin")
        os.makedirs(bin_dir)
        self.argv_log = os.path.join(self.tmp, "docker-argv")
        with open(os.path.join(bin_dir, "docker"), "w") as f:
            f.write(f'#!/bin/sh\necho "$*" > {self.argv_log}\n')
        os.chmod(os.path.join(bin_dir, "docker"), 0o755)
        self.path = bin_dir + ":" + os.environ.get("PATH", "/usr/bin:/bin")
        self.daemon = None

    def tearDown(self):
        self.stop_daemon()

    def write_daemon_json(self, doc):
        with open(self.daemon_json, "w") as f:
            json.dump(doc, f)

    def start_daemon(self):
        # A configuration written before the daemon starts, as on a host (nvbind keeps the
        # answers of a daemon whose daemon.json predates it).
        time.sleep(0.1)
        self.daemon = subprocess.Popen([sys.executable, os.path.join(HERE, "fake_dockerd.py"), "--config-file",
                                        self.daemon_json, "-H", "unix://" + self.socket, "--requests", self.requests])
        deadline = time.monotonic() + 30
        while not os.path.exists(self.socket):
            self.assertIsNone(self.daemon.poll(), "the stand-in dockerd exited")
            self.assertLess(time.monotonic(), deadline, "the stand-in dockerd did not start")
            time.sleep(0.05)

    def stop_daemon(self):
        if self.daemon:
            self.daemon.terminate()
            self.daemon.wait(timeout=30)
            self.daemon = None
            os.unlink(self.socket)

    def info_requests(self):
        if not os.path.exists(self.requests):
            return 0
        with open(self.requests) as f:
            return f.read().split().count("/info")

    def nvbind_run(self):
        """One `nvbind run --runtime docker --gpu 0`; the route of the docker command it ran:
        "--runtime nvbind" (the shim) or "--device" (the legacy flags)."""
        if os.path.exists(self.argv_log):
            os.unlink(self.argv_log)
        r = run([NVBIND, *self.host.args, "run", "--runtime", "docker", "--gpu", "0", "img", "true"],
                env={"DOCKER_HOST": "unix://" + self.socket, "NVBIND_CONFIG": self.config, "PATH": self.path},
                timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(self.argv_log) as f:
            argv = f.read()
        return "--runtime nvbind" if "--runtime nvbind" in argv else "--device" if "--device" in argv else argv

    def test_same_daemon_is_asked_once(self):
        self.write_daemon_json({})
        self.start_daemon()
        self.assertEqual(self.nvbind_run(), "--device")
        self.assertEqual(self.nvbind_run(), "--device")
        self.assertEqual(self.info_requests(), 1)

    def test_restarted_daemon_with_the_shim_is_used_through_it(self):
        self.write_daemon_json({})
        self.start_daemon()
        self.assertEqual(self.nvbind_run(), "--device")
        self.stop_daemon()
        self.write_daemon_json(SHIM)
        self.start_daemon()
        self.assertEqual(self.nvbind_run(), "--runtime nvbind")
        self.assertEqual(self.info_requests(), 2)

    def test_edit_then_reload_is_seen(self):
        """daemon.json edited (the shim registered) while the daemon runs: until it reloads it
        does not know the runtime, and after SIGHUP it does. An answer kept between the edit
        and the reload would hide the reload: none is kept for a file newer than its daemon."""
        self.write_daemon_json({})
        self.start_daemon()
        self.assertEqual(self.nvbind_run(), "--device")
        self.write_daemon_json(SHIM)
        self.assertEqual(self.nvbind_run(), "--device")  # not reloaded yet
        self.daemon.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        self.assertEqual(self.nvbind_run(), "--runtime nvbind")
        self.assertEqual(self.nvbind_run(), "--runtime nvbind")
        self.assertEqual(self.info_requests(), 4)

    def test_planted_answer_is_not_trusted(self):
        """Attack: another user plants a kept /info (claiming the shim is registered, so that
        nvbind hands GPUs to a runtime by name) in the cache folder. Only root's own files
        in a folder only root can write count."""
        self.write_daemon_json({})
        self.start_daemon()
        self.nvbind_run()
        (name,) = os.listdir(os.path.join(self.state, "docker-info"))
        path = os.path.join(self.state, "docker-info", name)
        for owner, mode in ((65534, 0o600), (0, 0o666)):
            with open(path) as f:
                key, body = f.read().split("\n", 1)
            forged = json.loads(body)
            forged["Runtimes"]["nvbind"] = SHIM["runtimes"]["nvbind"]
            with open(path, "w") as f:
                f.write(key + "\n" + json.dumps(forged))
            os.chown(path, owner, owner)
            os.chmod(path, mode)
            asked = self.info_requests()
            self.assertEqual(self.nvbind_run(), "--device")
            self.assertEqual(self.info_requests(), asked + 1)

if __name__ == "__main__":
    unittest.main()
