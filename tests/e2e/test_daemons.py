"""The suite's own containerd and dockerd (tests/e2e/daemons.py): a docker image made from a
local busybox root folder runs, on a daemon that uses none of the machine's docker settings."""
import os
import shutil
import tempfile
import unittest

import daemons
from nvbtest import make_busybox_rootfs


class DockerFixtureTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dockerd = daemons.docker_daemon()
        cls.tmp = tempfile.mkdtemp(prefix="nvbind-daemons-test-")
        cls.image = daemons.docker_import(cls.dockerd, make_busybox_rootfs(os.path.join(cls.tmp, "rootfs")))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_docker_run_of_imported_rootfs(self):
        r = self.dockerd.docker("run", "--rm", "--network", "none", self.image, "sh", "-c",
                                "echo from-busybox; test -x /bin/busybox && echo has-busybox")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.split(), ["from-busybox", "has-busybox"])

    def test_daemon_is_the_suites_own(self):
        """The daemon keeps its images and containers under the suite's folder, not the
        machine's /var/lib/docker."""
        r = self.dockerd.docker("info", "--format", "{{.DockerRootDir}}")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.strip().startswith(self.dockerd.folder), r.stdout)


if __name__ == "__main__":
    unittest.main()
