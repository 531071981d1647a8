"""nvbind system create-dev-char-symlinks on fake hosts built without /dev/char links: every
GPU node gets its /dev/char/MAJ:MIN link to itself (doctor stops warning), a second run makes
none, a link that leads elsewhere is reported and left alone, --dry-run writes nothing, and a
host root whose /dev/char is a link out of it is refused."""
import json
import os
import shutil
import tempfile
import unittest

from nvbtest import FakeHost, nvbind

CMD = ("system", "create-dev-char-symlinks")


def all_nodes(m):
    nodes = list(m["device_nodes"]) + list(m["capability_nodes"])
    for g in m["gpus"]:
        nodes += g["nodes"]
    return nodes


class DevCharTest(unittest.TestCase):
    def setUp(self):
        self.fh = FakeHost(gpus=2, mig=True, dev_char=False)
        self.char = os.path.join(self.fh.root, "dev", "char")

    def tearDown(self):
        self.fh.remove()

    def link(self, node):
        return os.path.join(self.char, "%d:%d" % (node["major"], node["minor"]))

    def test_every_node_gets_its_link(self):
        nodes = all_nodes(self.fh.manifest)
        self.assertFalse(os.path.exists(self.char))
        r = self.fh.nvbind(*CMD)
        self.assertEqual(r.returncode, 0, r.stderr)
        for n in nodes:
            link = self.link(n)
            self.assertTrue(os.path.islink(link), link)
            # Relative, so it leads to the node inside the host root as on the real host.
            self.assertEqual(os.readlink(link), os.path.relpath(n["host_path"], self.char))
            st = os.stat(link)
            self.assertEqual((os.major(st.st_rdev), os.minor(st.st_rdev)), (n["major"], n["minor"]))
        self.assertEqual(r.stdout.splitlines()[-1], f"{len(nodes)} links created, 0 already in place, 0 left alone")
        doctor = json.loads(self.fh.nvbind("doctor", "--json").stdout)
        dev_char = [c for c in doctor["checks"] if c["name"].startswith("/dev/char/")]
        self.assertEqual(dev_char, [])
        again = self.fh.nvbind(*CMD)
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertEqual(again.stdout, f"0 links created, {len(nodes)} already in place, 0 left alone\n")

    def test_doctor_names_this_command(self):
        doctor = json.loads(self.fh.nvbind("doctor", "--json").stdout)
        fixes = [c["fix"] for c in doctor["checks"] if c["name"].startswith("/dev/char/")]
        self.assertTrue(fixes)
        for fix in fixes:
            self.assertIn("nvbind system create-dev-char-symlinks", fix)

    def test_link_leading_elsewhere_is_left_alone(self):
        os.makedirs(self.char)
        os.symlink("../null", os.path.join(self.char, "195:0"))
        r = self.fh.nvbind(*CMD)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr, "nvbind: /dev/char/195:0 points to ../null, not to /dev/nvidia0: "
                                   "left as it is (remove it and run again)\n")
        self.assertEqual(os.readlink(os.path.join(self.char, "195:0")), "../null")
        self.assertTrue(r.stdout.endswith(" left alone\n") and ", 1 left alone" in r.stdout, r.stdout)

    def test_dry_run_writes_nothing(self):
        # --root also goes after the command.
        r = nvbind(*CMD, "--root", self.fh.root, "--dry-run")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("would link /dev/char/195:0 -> ../nvidia0\n", r.stdout)
        self.assertFalse(os.path.exists(self.char))

    def test_dev_char_link_out_of_the_root_is_refused(self):
        """Attack: a host root whose /dev/char is a symlink to a folder outside it; following
        it would plant links anywhere on the machine."""
        outside = tempfile.mkdtemp(prefix="nvbind-outside-")
        try:
            os.symlink(outside, self.char)
            r = self.fh.nvbind(*CMD)
            self.assertEqual(r.returncode, 6, r.stderr)
            self.assertIn("/dev/char", r.stderr)
            self.assertEqual(os.listdir(outside), [])
        finally:
            shutil.rmtree(outside, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
