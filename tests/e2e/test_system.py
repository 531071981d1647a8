"""nvbind system create-dev-char-symlinks on fake hosts built without /dev/char links: every
GPU node gets its /dev/char/MAJ:MIN link to itself (doctor stops warning), a second run makes
none, a link that leads elsewhere is reported and left alone, --dry-run writes nothing, and a
host root whose /dev/char is a link out of it is refused.

nvbind system create-device-nodes on fake hosts whose nodes were removed: the nodes come back
as the fake host's builder made them (numbers from /proc, owner and mode from the driver's
params), the CDI spec lists them again, stale numbers are made again, anything that is not a
character device is left alone, and nothing is made through a link."""
import json
import os
import shutil
import stat
import tempfile
import unittest

import subprocess

from nvbtest import NVBIND, FakeHost, nvbind

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



NODES_CMD = ("system", "create-device-nodes")


def node_state(path):
    st = os.lstat(path)
    return (stat.S_ISCHR(st.st_mode), os.major(st.st_rdev), os.minor(st.st_rdev), stat.S_IMODE(st.st_mode),
            st.st_uid, st.st_gid)


class DeviceNodesTest(unittest.TestCase):
    def setUp(self):
        self.fh = FakeHost(gpus=2, mig=True, shuffle_minors=True)
        self.dev = os.path.join(self.fh.root, "dev")
        # Every NVIDIA node the builder made (the driver's own), not the DRM ones.
        self.nodes = {n["path"]: n for n in all_nodes(self.fh.manifest) if "nvidia" in n["path"]}
        self.as_built = {p: node_state(n["host_path"]) for p, n in self.nodes.items()}

    def tearDown(self):
        self.fh.remove()

    def host(self, path):
        return os.path.join(self.fh.root, path.lstrip("/"))

    def remove_all(self):
        for p in self.nodes:
            if os.path.lexists(self.host(p)):
                os.unlink(self.host(p))
        os.rmdir(os.path.join(self.dev, "nvidia-caps"))

    def spec_nodes(self):
        spec = json.loads(self.fh.nvbind("cdi", "generate", "--format", "json").stdout)
        return sorted(n["path"] for d in spec["devices"] for n in d["containerEdits"].get("deviceNodes", []))

    def test_every_missing_node_is_made_as_the_driver_would(self):
        self.assertEqual(len([p for p in self.nodes if p.startswith("/dev/nvidia-caps/")]), 6)
        spec_before = self.spec_nodes()
        self.remove_all()
        self.assertNotIn("/dev/nvidia0", self.spec_nodes())
        r = self.fh.nvbind(*NODES_CMD)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")
        for p, want in self.as_built.items():
            self.assertEqual(node_state(self.host(p)), want, p)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(self.dev, "nvidia-caps")).st_mode), 0o755)
        self.assertEqual(r.stdout.splitlines()[-1], f"{len(self.nodes)} made, 0 replaced, 0 already in place, 0 left alone")
        self.assertEqual(self.spec_nodes(), spec_before)  # what containers are given, as before
        doctor = json.loads(self.fh.nvbind("doctor", "--json").stdout)
        self.assertEqual([c for c in doctor["checks"] if c["name"].startswith("device-node:") and c["level"] != "ok"], [])
        again = self.fh.nvbind(*NODES_CMD)
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertEqual(again.stdout, f"0 made, 0 replaced, {len(self.nodes)} already in place, 0 left alone\n")

    def test_doctor_names_this_command_for_a_missing_node(self):
        os.unlink(self.host("/dev/nvidia-uvm"))
        doctor = json.loads(self.fh.nvbind("doctor", "--json").stdout)
        [check] = [c for c in doctor["checks"] if c["name"] == "device-node:/dev/nvidia-uvm"]
        self.assertEqual(check["level"], "error")
        self.assertIn("nvbind system create-device-nodes", check["fix"])

    def test_owner_and_mode_follow_the_driver_params(self):
        params = self.host("/proc/driver/nvidia/params")
        text = open(params).read().replace("DeviceFileGID: 0", "DeviceFileGID: 44").replace(
            "DeviceFileMode: 438", "DeviceFileMode: 432")
        with open(params, "w") as f:
            f.write(text)
        os.unlink(self.host("/dev/nvidiactl"))
        r = self.fh.nvbind(*NODES_CMD)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(node_state(self.host("/dev/nvidiactl")), (True, 195, 255, 0o660, 0, 44))
        # The nodes already there with the old owner and mode are made again with the new.
        self.assertIn("replaced /dev/nvidia-uvm c 510:0 0660 0:44 (was c 510:0 0666 0:0)\n", r.stdout)
        self.assertEqual(node_state(self.host("/dev/nvidia-uvm")), (True, 510, 0, 0o660, 0, 44))
        # Capabilities keep their own modes, root's.
        self.assertEqual(node_state(self.host("/dev/nvidia-caps/nvidia-cap1")), self.as_built["/dev/nvidia-caps/nvidia-cap1"])

    def test_a_stale_number_is_made_again(self):
        """A node left from an earlier module load with another major (the doctor's "stale node")."""
        uvm = self.host("/dev/nvidia-uvm")
        os.unlink(uvm)
        os.mknod(uvm, stat.S_IFCHR | 0o666, os.makedev(509, 0))
        os.chmod(uvm, 0o666)
        r = self.fh.nvbind(*NODES_CMD)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("replaced /dev/nvidia-uvm c 510:0 0666 0:0 (was c 509:0 0666 0:0)\n", r.stdout)
        self.assertEqual(node_state(uvm), self.as_built["/dev/nvidia-uvm"])

    def test_what_is_not_a_character_device_is_left_alone(self):
        """Attack: names planted in the host's /dev (a file, a link to a file nvbind would then
        change) are never written through nor replaced."""
        victim = os.path.join(self.fh.root, "victim")
        with open(victim, "w") as f:
            f.write("keep\n")
        os.chmod(victim, 0o600)
        os.unlink(self.host("/dev/nvidiactl"))
        os.symlink(victim, self.host("/dev/nvidiactl"))
        os.unlink(self.host("/dev/nvidia0"))
        with open(self.host("/dev/nvidia0"), "w") as f:
            f.write("planted\n")
        r = self.fh.nvbind(*NODES_CMD)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("nvbind: /dev/nvidiactl is a link: left as it is (remove it and run again)\n", r.stderr)
        self.assertIn("nvbind: /dev/nvidia0 is not a character device: left as it is", r.stderr)
        self.assertTrue(os.path.islink(self.host("/dev/nvidiactl")))
        self.assertEqual(stat.S_IMODE(os.stat(victim).st_mode), 0o600)
        self.assertEqual(open(victim).read(), "keep\n")
        self.assertEqual(open(self.host("/dev/nvidia0")).read(), "planted\n")
        self.assertIn(", 2 left alone", r.stdout)

    def test_nvidia_caps_link_out_of_the_root_is_refused(self):
        outside = tempfile.mkdtemp(prefix="nvbind-outside-")
        self.addCleanup(shutil.rmtree, outside, True)
        shutil.rmtree(os.path.join(self.dev, "nvidia-caps"))
        os.symlink(outside, os.path.join(self.dev, "nvidia-caps"))
        r = self.fh.nvbind(*NODES_CMD)
        self.assertEqual(r.returncode, 6, r.stderr)
        self.assertIn("/dev/nvidia-caps (a folder, not a link)", r.stderr)
        self.assertEqual(os.listdir(outside), [])

    def test_a_folder_others_may_write_is_refused(self):
        """Attack: in a /dev another user may write, the node nvbind has made but not yet given
        its owner and mode could be swapped for a link to a file of root's."""
        caps = os.path.join(self.dev, "nvidia-caps")
        os.unlink(os.path.join(caps, "nvidia-cap1"))
        os.chmod(caps, 0o777)
        r = self.fh.nvbind(*NODES_CMD)
        self.assertEqual(r.returncode, 6, r.stderr)
        self.assertIn("/dev/nvidia-caps is writable by everyone (mode 0777): device nodes are made only in a folder "
                      "no one but root (or you) may write", r.stderr)
        self.assertFalse(os.path.lexists(os.path.join(caps, "nvidia-cap1")))

    def test_dry_run_makes_nothing(self):
        self.remove_all()
        r = nvbind(*NODES_CMD, "--root", self.fh.root, "--dry-run")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("would make /dev/nvidia-uvm c 510:0 0666 0:0\n", r.stdout)
        self.assertIn("would make /dev/nvidia-caps/nvidia-cap1 c 509:1 0400 0:0\n", r.stdout)
        self.assertFalse(any(os.path.lexists(self.host(p)) for p in self.nodes))
        self.assertFalse(os.path.exists(os.path.join(self.dev, "nvidia-caps")))

    def test_uvm_not_loaded_is_said_and_the_rest_made(self):
        devices = self.host("/proc/devices")
        text = "".join(ln for ln in open(devices) if not ln.endswith(" nvidia-uvm\n"))
        with open(devices, "w") as f:
            f.write(text)
        self.remove_all()
        r = self.fh.nvbind(*NODES_CMD)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("modprobe nvidia-uvm", r.stderr)
        self.assertFalse(os.path.lexists(self.host("/dev/nvidia-uvm")))
        self.assertEqual(node_state(self.host("/dev/nvidiactl")), self.as_built["/dev/nvidiactl"])
        self.assertTrue(r.stdout.endswith(", 2 not made (module not loaded)\n"), r.stdout)

    def test_nodes_the_driver_leaves_to_the_administrator_are_not_made(self):
        params = self.host("/proc/driver/nvidia/params")
        text = open(params).read().replace("ModifyDeviceFiles: 1", "ModifyDeviceFiles: 0")
        with open(params, "w") as f:
            f.write(text)
        os.unlink(self.host("/dev/nvidiactl"))
        r = self.fh.nvbind(*NODES_CMD)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("ModifyDeviceFiles is 0", r.stderr)
        self.assertFalse(os.path.lexists(self.host("/dev/nvidiactl")))

    def set_proc(self, rel, old, new):
        path = self.host(rel)
        text = open(path).read()
        self.assertIn(old, text)
        with open(path, "w") as f:
            f.write(text.replace(old, new))

    def test_numbers_no_driver_could_have_are_refused(self):
        """A /proc under --root (an image's, a copy) names the numbers: nvidia's major is 195 and
        the others the kernel's dynamic ones, so /dev/nvidia0 can never become /dev/mem (1:1)
        nor a capability node an input device (13)."""
        for rel, old, new, why in (("/proc/devices", "195 nvidia-frontend", "1 nvidia-frontend", "major 1"),
                                   ("/proc/devices", "510 nvidia-uvm", "13 nvidia-uvm", "nvidia-uvm the major 13")):
            with self.subTest(new):
                self.set_proc(rel, old, new)
                self.remove_all()
                r = self.fh.nvbind(*NODES_CMD)
                self.assertEqual(r.returncode, 4, r.stderr)
                self.assertIn(why, r.stderr)
                self.assertEqual(os.listdir(self.dev).count("nvidia0"), 0)
                self.set_proc(rel, new, old)
                os.makedirs(os.path.join(self.dev, "nvidia-caps"))

    def test_proc_is_read_inside_the_root(self):
        """A link in the root's /proc to a file outside it is resolved inside the root."""
        outside = tempfile.mkdtemp(prefix="nvbind-outside-")
        self.addCleanup(shutil.rmtree, outside, True)
        devices = self.host("/proc/devices")
        with open(os.path.join(outside, "devices"), "w") as f:
            f.write(open(devices).read().replace("510 nvidia-uvm", "511 nvidia-uvm"))
        os.unlink(devices)
        os.symlink(os.path.join(outside, "devices"), devices)
        r = self.fh.nvbind(*NODES_CMD)
        self.assertEqual(r.returncode, 3, r.stderr)  # inside the root the link leads nowhere
        self.assertIn("registers no nvidia major", r.stderr)

    def test_umask_and_the_capabilities_own_settings(self):
        """/dev/nvidia-caps is 0755 whatever the caller's umask; a capability whose file says
        DeviceFileModify: 0 is the administrator's."""
        self.set_proc("/proc/driver/nvidia/capabilities/mig/config", "DeviceFileModify: 1", "DeviceFileModify: 0")
        self.remove_all()
        r = subprocess.run([NVBIND, "--root", self.fh.root, *NODES_CMD], preexec_fn=lambda: os.umask(0o077),
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(self.dev, "nvidia-caps")).st_mode), 0o755)
        self.assertFalse(os.path.lexists(self.host("/dev/nvidia-caps/nvidia-cap1")))
        self.assertEqual(node_state(self.host("/dev/nvidia-caps/nvidia-cap2")), self.as_built["/dev/nvidia-caps/nvidia-cap2"])

    def test_a_host_without_the_driver_is_refused(self):
        empty = tempfile.mkdtemp(prefix="nvbind-nodriver-")
        self.addCleanup(shutil.rmtree, empty, True)
        r = nvbind("--root", empty, *NODES_CMD)
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertEqual(os.listdir(empty), [])


if __name__ == "__main__":
    unittest.main()
