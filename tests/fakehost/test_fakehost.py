#!/usr/bin/env python3
"""Checks that the fake hosts built by fakehost.py are real, with tools independent of nvbind:
the real ldconfig reads the cache, readelf reads the stubs, stat() sees character devices,
and the /proc files parse the way the driver's do. The fake NVML part needs the built library
(env NVBIND_FAKENVML, or the default build folder) and is skipped without it.

Run as root: python3 tests/fakehost/test_fakehost.py  (or python3 -m unittest discover -s tests/fakehost)
"""

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fakehost  # noqa: E402

FAKEHOST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fakehost.py")
IS_ROOT = os.geteuid() == 0
ROOT_ONLY = "the fake host builder makes device nodes with mknod: run the tests as root"

INFO_KEYS = ["Model", "IRQ", "GPU UUID", "Video BIOS", "Bus Type", "DMA Size", "DMA Mask",
             "Bus Location", "Device Minor", "GPU Firmware", "GPU Excluded"]


def parse_info(path):
    """The driver's information file: 'Key: \\t value' lines, in the driver's order."""
    fields = []
    with open(path) as f:
        for line in f:
            m = re.match(r"^([A-Za-z ]+):[ \t]+(.*)\n$", line)
            if not m:
                raise AssertionError("%s: line does not look like the driver's: %r" % (path, line))
            fields.append((m.group(1).strip(), m.group(2)))
    return fields


def parse_proc_devices(path):
    """{'char': {name: major}, 'block': {name: major}} from /proc/devices."""
    out = {"char": {}, "block": {}}
    section = None
    with open(path) as f:
        for line in f:
            if line == "Character devices:\n":
                section = "char"
            elif line == "Block devices:\n":
                section = "block"
            elif line.strip():
                m = re.match(r"^([ \d]{3,}) (\S.*)\n$", line)
                if not m or section is None:
                    raise AssertionError("%s: bad line %r" % (path, line))
                out[section].setdefault(m.group(2), int(m.group(1)))
    return out


def ldconfig_entries(cache):
    """[(name, flags, path)] as the real `ldconfig -p -C cache` prints them."""
    r = subprocess.run(["ldconfig", "-p", "-C", cache], capture_output=True, text=True, check=True)
    entries = []
    for line in r.stdout.splitlines()[1:]:
        m = re.match(r"^\s+(\S+) \(([^)]*)\) => (\S+)$", line)
        if m:
            entries.append(m.groups())
    return entries


def readelf(path, *flags):
    return subprocess.run(["readelf"] + list(flags) + [path], capture_output=True, text=True, check=True).stdout


def soname_of(path):
    m = re.search(r"\(SONAME\)\s+Library soname: \[([^\]]+)\]", readelf(path, "-d"))
    return m.group(1) if m else None


def elf_class(path):
    with open(path, "rb") as f:
        head = f.read(5)
    return {1: 32, 2: 64}.get(head[4]) if head[:4] == b"\x7fELF" else None


def resolve_in(root, path):
    """realpath of `path` with absolute link targets taken inside `root` (as in a chroot)."""
    for _ in range(40):
        if not os.path.islink(path):
            return os.path.realpath(path)
        target = os.readlink(path)
        path = root + target if target.startswith("/") else os.path.join(os.path.dirname(path), target)
    raise AssertionError("link loop at %s" % path)


class FakeHostCase(unittest.TestCase):
    def setUp(self):
        if not IS_ROOT:
            self.skipTest(ROOT_ONLY)
        self.tmp = tempfile.mkdtemp(prefix="fakehost-test-")

    def tearDown(self):
        if hasattr(self, "tmp"):
            shutil.rmtree(self.tmp, ignore_errors=True)

    def build(self, name="host", **kw):
        return fakehost.build(os.path.join(self.tmp, name), **kw)

    # ---- shared checks ----
    def check_host(self, m):
        root = m["root"]
        self.assertTrue(os.path.isfile(os.path.join(root, "manifest.json")))
        self.assertEqual(fakehost.load_manifest(root), json.loads(json.dumps(m)))
        self.check_version(m)
        self.check_gpus(m)
        self.check_proc_devices(m)
        self.check_nodes(m)
        self.check_libraries(m)
        self.check_components(m)
        self.check_decoys(m)

    def check_version(self, m):
        with open(os.path.join(m["root"], "proc/driver/nvidia/version")) as f:
            lines = f.read().split("\n")
        self.assertEqual(len(lines), 3, "two lines and a final newline")
        ver = re.escape(m["driver"]["version"])
        if m["driver"]["kernel_module"] == "open":
            pat = r"^NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  %s  Release Build  \(\S+\)  \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d UTC \d{4}$" % ver
        else:
            pat = r"^NVRM version: NVIDIA UNIX x86_64 Kernel Module  %s  \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d UTC \d{4}$" % ver
        self.assertRegex(lines[0], pat)
        self.assertRegex(lines[1], r"^GCC version:  gcc version \d+\.\d+\.\d+ .*$")

    def check_gpus(self, m):
        root = m["root"]
        gdir = os.path.join(root, "proc/driver/nvidia/gpus")
        self.assertEqual(sorted(os.listdir(gdir)), [g["pci_bus_id"] for g in m["gpus"]])
        self.assertEqual([g["index"] for g in m["gpus"]], list(range(len(m["gpus"]))))
        self.assertEqual(sorted(g["pci_bus_id"] for g in m["gpus"]), [g["pci_bus_id"] for g in m["gpus"]])
        self.assertEqual(sorted(g["minor"] for g in m["gpus"]), sorted(set(g["minor"] for g in m["gpus"])))
        open_kmod = m["driver"]["kernel_module"] == "open"
        for g in m["gpus"]:
            fields = parse_info(os.path.join(gdir, g["pci_bus_id"], "information"))
            keys = [k for k, _ in fields]
            self.assertEqual(keys, [k for k in INFO_KEYS if open_kmod or k != "GPU Firmware"])
            d = dict(fields)
            self.assertEqual(d["Model"], g["name"])
            self.assertEqual(d["GPU UUID"], g["uuid"])
            self.assertRegex(g["uuid"], r"^GPU-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
            self.assertEqual(d["Bus Location"], g["pci_bus_id"])
            self.assertEqual(int(d["Device Minor"]), g["minor"])
            self.assertEqual(d["GPU Excluded"], "No")
            with open(os.path.join(gdir, g["pci_bus_id"], "information")) as f:
                raw = f.read()
            self.assertIn("Model: \t\t %s\n" % g["name"], raw)
            self.assertIn("Device Minor: \t %d\n" % g["minor"], raw)
            self.assertIn("GPU Excluded:\t No\n", raw)
            sysdev = os.path.join(root, "sys/bus/pci/devices", g["pci_bus_id"])
            with open(os.path.join(sysdev, "vendor")) as f:
                self.assertEqual(f.read(), "0x10de\n")
            with open(os.path.join(sysdev, "device")) as f:
                self.assertEqual(f.read(), g["device_id"] + "\n")
            with open(os.path.join(sysdev, "numa_node")) as f:
                self.assertEqual(int(f.read()), -1 if g["numa_node"] is None else g["numa_node"])
            drm = sorted(os.listdir(os.path.join(sysdev, "drm")))
            self.assertEqual(["/dev/dri/" + x for x in drm], sorted(g["device_nodes"][1:]))
            self.assertEqual(g["device_nodes"][0], "/dev/nvidia%d" % g["minor"])

    def check_proc_devices(self, m):
        devs = parse_proc_devices(os.path.join(m["root"], "proc/devices"))
        # The frontend's name: "nvidia-frontend" until the 560 drivers, then "nvidia" and "nvidiactl".
        if int(m["driver"]["version"].split(".")[0]) >= 560:
            self.assertEqual((devs["char"]["nvidia"], devs["char"]["nvidiactl"]), (195, 195))
            self.assertNotIn("nvidia-frontend", devs["char"])
        else:
            self.assertEqual(devs["char"]["nvidia-frontend"], 195)
        self.assertEqual(devs["char"]["drm"], 226)
        self.assertEqual(devs["char"]["nvidia-uvm"], m["majors"]["nvidia-uvm"])
        self.assertGreater(devs["char"]["nvidia-uvm"], 255)
        self.assertEqual(devs["char"]["nvidia-caps"], m["majors"]["nvidia-caps"])
        self.assertNotIn("nvidia-uvm", devs["block"])
        self.assertIn("sd", devs["block"])

    def check_node(self, n):
        st = os.lstat(n["host_path"])
        self.assertTrue(stat.S_ISCHR(st.st_mode), n["host_path"])
        self.assertEqual((os.major(st.st_rdev), os.minor(st.st_rdev)), (n["major"], n["minor"]), n["host_path"])
        self.assertEqual(stat.S_IMODE(st.st_mode), n["file_mode"], n["host_path"])
        self.assertEqual(n["type"], "c")
        self.assertEqual(n["host_path"], os.path.join(n["host_path"][:-len(n["path"])], n["path"].lstrip("/")))

    def check_nodes(self, m):
        root = m["root"]
        paths = [n["path"] for n in m["device_nodes"]]
        self.assertEqual(sorted(paths), ["/dev/nvidia-modeset", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools",
                                         "/dev/nvidiactl"])
        nodes = m["device_nodes"] + m["capability_nodes"] + [n for g in m["gpus"] for n in g["nodes"]]
        for n in nodes:
            self.check_node(n)
            self.assertTrue(n["host_path"].startswith(root + "/dev/"))
            link = os.path.join(root, "dev/char/%d:%d" % (n["major"], n["minor"]))
            if m["options"]["dev_char"]:
                self.assertTrue(os.path.islink(link), link)
                self.assertEqual(os.stat(link).st_rdev, os.stat(n["host_path"]).st_rdev)
                self.assertEqual(os.path.realpath(link), n["host_path"])
            else:
                self.assertFalse(os.path.lexists(link), link)
        byname = {n["path"]: n for n in nodes}
        self.assertEqual((byname["/dev/nvidiactl"]["major"], byname["/dev/nvidiactl"]["minor"]), (195, 255))
        self.assertEqual((byname["/dev/nvidia-modeset"]["major"], byname["/dev/nvidia-modeset"]["minor"]), (195, 254))
        self.assertEqual(byname["/dev/nvidia-uvm-tools"]["major"], m["majors"]["nvidia-uvm"])
        self.assertEqual(byname["/dev/nvidia-uvm-tools"]["minor"], 1)
        for g in m["gpus"]:
            gn = {n["path"]: n for n in g["nodes"]}
            self.assertEqual(gn["/dev/nvidia%d" % g["minor"]]["major"], 195)
            for p, n in gn.items():
                if p.startswith("/dev/dri/"):
                    self.assertEqual(n["major"], 226)
                    self.assertEqual(p, "/dev/dri/%s%d" % ("card" if "card" in p else "renderD", n["minor"]))
        caps = {n["path"]: n for n in m["capability_nodes"]}
        self.assertEqual(caps["/dev/nvidia-caps/nvidia-cap1"]["file_mode"], 0o400)
        self.assertEqual(caps["/dev/nvidia-caps/nvidia-cap2"]["file_mode"], 0o444)
        for n in caps.values():
            self.assertEqual(n["major"], m["majors"]["nvidia-caps"])

    def check_libraries(self, m):
        drv = m["driver_root_host_path"]
        cache = os.path.join(drv, "etc/ld.so.cache")
        entries = ldconfig_entries(cache)
        names64 = {n: p for n, f, p in entries if "x86-64" in f}
        names32 = {n: p for n, f, p in entries if "x86-64" not in f}
        self.assertIn("libcuda.so.1", names64)
        self.assertIn("libnvidia-ml.so.1", names64)
        self.assertIn("libGLX_nvidia.so.0", names64)
        libs = m["components"]["libraries"]
        self.assertEqual([c["container_path"] for c in libs], sorted(c["container_path"] for c in libs))
        ver = m["driver"]["version"]
        for c in libs:
            hp = c["host_path"]
            st = os.lstat(hp)
            self.assertTrue(stat.S_ISREG(st.st_mode), "%s is the real file, not a link" % hp)
            self.assertEqual(hp, drv + c["container_path"] if drv != m["root"] else m["root"] + c["container_path"])
            son = soname_of(hp)
            self.assertIsNotNone(son, hp)
            bits = elf_class(hp)
            table = names64 if bits == 64 else names32
            self.assertIn(son, table, "%s: SONAME %s is in the cache" % (hp, son))
            self.assertEqual(os.path.realpath(drv + table[son]), hp, "cache entry %s leads to %s" % (son, hp))
            base = os.path.basename(hp)
            self.assertTrue(base.endswith(".so." + ver) or base in ("libnvidia-api.so.1", "libGLX_nvidia.so.0",
                                                                   "libEGL_nvidia.so.0")
                            or base.startswith(("libnvidia-egl-gbm.so.", "libnvidia-egl-wayland.so.")), base)
        basenames = {os.path.basename(c["host_path"]) for c in libs}
        self.assertIn("libcuda.so." + ver, basenames)
        self.assertIn("libnvidia-egl-wayland.so.1.1.13", basenames)
        lib64 = os.path.dirname(next(c["host_path"] for c in libs if c["host_path"].endswith("/libcuda.so." + ver)
                                     and elf_class(c["host_path"]) == 64))
        self.assertEqual(os.readlink(os.path.join(lib64, "libcuda.so.1")), "libcuda.so." + ver)
        self.assertEqual(os.readlink(os.path.join(lib64, "libcuda.so")), "libcuda.so.1")
        if m["options"]["plain_glvnd"]:
            self.assertIn("libGLX_nvidia.so.0", basenames)
            self.assertIn("libEGL_nvidia.so.0", basenames)
            self.assertNotIn("libGLX_nvidia.so." + ver, basenames)
        else:
            self.assertIn("libGLX_nvidia.so." + ver, basenames)
        has32 = any(elf_class(c["host_path"]) == 32 for c in libs)
        if has32:
            self.assertIn("libcuda.so.1", names32)
            self.assertIn("Class:                             ELF32", readelf(names32 and drv + names32["libcuda.so.1"], "-h"))

    def check_components(self, m):
        root, drv = m["root"], m["driver_root_host_path"]
        for kind, items in m["components"].items():
            self.assertEqual([c["container_path"] for c in items], sorted(c["container_path"] for c in items), kind)
            for c in items:
                self.assertTrue(c["container_path"].startswith("/"))
                self.assertFalse(c["container_path"].startswith(root))
                self.assertTrue(os.path.lexists(c["host_path"]), c["host_path"])
                self.assertIn(c["host_path"], (root + c["container_path"], drv + c["container_path"]))
        bins = m["components"]["binaries"]
        self.assertEqual(sorted(os.path.basename(b["container_path"]) for b in bins), sorted(fakehost.BINARIES))
        for b in bins:
            self.assertTrue(os.access(b["host_path"], os.X_OK))
        smi = next(b["host_path"] for b in bins if b["host_path"].endswith("/nvidia-smi"))
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, check=True).stdout
        self.assertEqual(out.splitlines(), ["GPU %d: %s (UUID: %s)" % (g["index"], g["name"], g["uuid"])
                                            for g in m["gpus"]])
        fw = [c["container_path"] for c in m["components"]["firmware"]]
        self.assertEqual(len(fw), 2)
        for p in fw:
            self.assertRegex(p, r"^(/usr)?/lib/firmware/nvidia/%s/gsp_\w+\.bin$" % re.escape(m["driver"]["version"]))
        for c in m["components"]["configs"]:
            if c["host_path"].endswith(".json"):
                with open(c["host_path"]) as f:
                    self.assertIsInstance(json.load(f), dict)
        cfg = [c["container_path"] for c in m["components"]["configs"]]
        self.assertTrue(any(p.endswith("/vulkan/icd.d/nvidia_icd.json") for p in cfg))
        self.assertIn("/usr/share/glvnd/egl_vendor.d/10_nvidia.json", cfg)
        self.assertIn("/etc/OpenCL/vendors/nvidia.icd", cfg)
        for c in m["components"]["ipc"]:
            st = os.lstat(c["host_path"])
            if c["container_path"] == "/tmp/nvidia-mps":
                self.assertTrue(stat.S_ISDIR(st.st_mode))
            else:
                self.assertTrue(stat.S_ISSOCK(st.st_mode), c["host_path"])

    def check_decoys(self, m):
        reported = {c["host_path"] for items in m["components"].values() for c in items}
        self.assertTrue(m["decoys"])
        for d in m["decoys"]:
            self.assertTrue(os.path.lexists(d), d)
            self.assertNotIn(d, reported)
        names = {os.path.basename(d) for d in m["decoys"]}
        for n in ("libGL.so.1.7.0", "libnvidia-container.so.1.14.6", "libnvidia-ml.so.535.129.03",
                  "50_mesa.json", "intel_icd.x86_64.json"):
            self.assertIn(n, names)
        stale = next(d for d in m["decoys"] if d.endswith("libnvidia-ml.so.535.129.03"))
        self.assertEqual(soname_of(stale), "libnvidia-ml.so.1")
        self.assertFalse(os.path.realpath(os.path.join(os.path.dirname(stale), "libnvidia-ml.so.1")) == stale)


class TestLayouts(FakeHostCase):
    def test_every_layout_with_one_and_eight_gpus(self):
        for layout in ("debian", "fedora", "arch", "operator"):
            for n in (1, 8):
                with self.subTest(layout=layout, gpus=n):
                    m = self.build("%s-%d" % (layout, n), layout=layout, gpus=n)
                    self.assertEqual(len(m["gpus"]), n)
                    self.check_host(m)

    def test_operator_layout_keeps_driver_files_in_the_driver_root(self):
        m = self.build(layout="operator", gpus=2)
        drv = os.path.join(m["root"], "run/nvidia/driver")
        self.assertEqual(m["driver_root"], "/run/nvidia/driver")
        self.assertEqual(m["nvbind_args"], ["--root", m["root"], "--driver-root", "/run/nvidia/driver"])
        for kind in ("libraries", "binaries", "firmware", "configs", "ipc"):
            for c in m["components"][kind]:
                self.assertTrue(c["host_path"].startswith(drv + "/"), c["host_path"])
        self.assertTrue(os.path.isfile(os.path.join(drv, "etc/ld.so.cache")))
        host_names = {n for n, _, _ in ldconfig_entries(os.path.join(m["root"], "etc/ld.so.cache"))}
        self.assertIn("libGL.so.1", host_names)
        self.assertFalse(any("nvidia" in n and n != "libnvidia-container.so.1" for n in host_names), host_names)
        self.assertTrue(os.path.isfile(os.path.join(m["root"], "proc/driver/nvidia/version")))
        self.assertFalse(os.path.exists(os.path.join(drv, "proc")))

    def test_packaged_layouts_offer_files_through_alternatives(self):
        """debian-packaged / debian-tesla: every component's container path, resolved inside
        the root, leads to its host path; those in a package folder get there through
        /etc/alternatives; nothing is offered inside a package folder."""
        for layout, folder in (("debian-packaged", "nvidia/current"), ("debian-tesla", "nvidia/tesla-535")):
            with self.subTest(layout=layout):
                m = self.build(layout, layout=layout, gpus=1)
                root = m["root"]
                through_links = 0
                for kind, comps in m["components"].items():
                    for c in comps:
                        self.assertNotIn("/" + folder + "/", c["container_path"])
                        link = root + c["container_path"]
                        if not os.path.lexists(link):  # only in the package folder: offered beside the others
                            self.assertIn("libnvidia-vulkan-producer", link)
                            continue
                        self.assertEqual(resolve_in(root, link), c["host_path"], c)
                        if "/" + folder + "/" in c["host_path"]:
                            through_links += 1
                            self.assertTrue(os.readlink(link).startswith("/etc/alternatives/"), link)
                self.assertGreater(through_links, 20)
                cache = {n for n, _, _ in ldconfig_entries(os.path.join(root, "etc/ld.so.cache"))}
                self.assertIn("libcuda.so.1", cache)
                self.assertNotIn("libnvidia-vulkan-producer.so." + m["driver"]["version"], cache)

    def test_fedora_ships_plain_glvnd_files_and_vulkan_in_etc(self):
        m = self.build(layout="fedora")
        cfg = [c["container_path"] for c in m["components"]["configs"]]
        self.assertIn("/etc/vulkan/icd.d/nvidia_icd.json", cfg)
        glx = os.path.join(m["root"], "usr/lib64/libGLX_nvidia.so.0")
        self.assertTrue(stat.S_ISREG(os.lstat(glx).st_mode))
        self.assertEqual(soname_of(glx), "libGLX_nvidia.so.0")

    def test_plain_glvnd_option_on_debian(self):
        m = self.build(layout="debian", plain_glvnd=True)
        self.check_libraries(m)
        self.assertTrue(m["options"]["plain_glvnd"])

    def test_32bit_libraries_are_elf32_in_the_multiarch_folder(self):
        m = self.build(layout="debian")
        if m["notes"]:
            self.skipTest("; ".join(m["notes"]))
        libs32 = [c for c in m["components"]["libraries"] if "/i386-linux-gnu/" in c["container_path"]]
        self.assertTrue(libs32)
        for c in libs32:
            self.assertEqual(elf_class(c["host_path"]), 32, c["host_path"])
            self.assertIn("Intel 80386", readelf(c["host_path"], "-h"))
        flags = {f for n, f, p in ldconfig_entries(os.path.join(m["root"], "etc/ld.so.cache"))
                 if p.startswith("/usr/lib/i386-linux-gnu/")}
        self.assertEqual(flags, {"libc6"})


class TestVariants(FakeHostCase):
    def test_proprietary_module(self):
        m = self.build(kmod="proprietary", gpus=2)
        self.check_host(m)
        with open(os.path.join(m["root"], "proc/driver/nvidia/version")) as f:
            self.assertTrue(f.read().startswith("NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.14  "))

    def test_other_driver_version(self):
        m = self.build(driver_version="570.86.15", gpus=1)
        self.check_host(m)
        names = {os.path.basename(c["host_path"]) for c in m["components"]["libraries"]}
        self.assertIn("libcuda.so.570.86.15", names)

    def test_shuffled_minors_differ_from_bus_order(self):
        for n in (1, 2, 8):
            with self.subTest(gpus=n):
                m = self.build("s%d" % n, gpus=n, shuffle_minors=True)
                self.check_host(m)
                minors = [g["minor"] for g in m["gpus"]]
                self.assertTrue(all(g["minor"] != g["index"] for g in m["gpus"]), minors)
                if n > 1:
                    self.assertEqual(sorted(minors), list(range(n)))

    def test_gpus_are_created_out_of_bus_order(self):
        self.assertEqual(sorted(fakehost.CREATION_ORDER), list(range(len(fakehost.BUS_IDS))))
        for n in range(2, len(fakehost.BUS_IDS) + 1):
            order = [fakehost.BUS_IDS[i] for i in fakehost.CREATION_ORDER if i < n]
            self.assertNotEqual(order, sorted(order), "%d GPUs are created in bus order" % n)
        m = self.build(gpus=8)
        listed = os.listdir(os.path.join(m["root"], "sys/bus/pci/devices"))
        self.assertEqual(sorted(b for b in listed if b in fakehost.BUS_IDS), fakehost.BUS_IDS)

    def test_no_driver_host(self):
        m = self.build(no_driver=True)
        root = m["root"]
        self.assertIsNone(m["driver"])
        self.assertEqual(m["gpus"], [])
        self.assertEqual(m["expected_error"]["exit_code"], 3)
        self.assertFalse(os.path.exists(os.path.join(root, "proc/driver/nvidia")))
        devs = parse_proc_devices(os.path.join(root, "proc/devices"))
        self.assertFalse([n for n in devs["char"] if n.startswith("nvidia")])
        self.assertFalse(os.path.exists(os.path.join(root, "dev/nvidiactl")))
        for bus in fakehost.BUS_IDS[:1]:
            self.assertFalse(os.path.exists(os.path.join(root, "sys/bus/pci/devices", bus, "driver")))

    def test_no_dev_char_links(self):
        m = self.build(dev_char=False, gpus=2)
        self.check_nodes(m)
        self.assertFalse(os.path.exists(os.path.join(m["root"], "dev/char")))

    def test_mig_capability_files_match_their_nodes(self):
        m = self.build(gpus=2, mig=True, shuffle_minors=True)
        self.check_host(m)
        g0 = m["gpus"][0]
        caps_dir = os.path.join(m["root"], "proc/driver/nvidia/capabilities")
        with open(os.path.join(caps_dir, "mig/config")) as f:
            self.assertEqual(f.read(), "DeviceFileMinor: 1\nDeviceFileMode: 256\nDeviceFileModify: 1\n")
        with open(os.path.join(caps_dir, "mig/monitor")) as f:
            self.assertEqual(f.read(), "DeviceFileMinor: 2\nDeviceFileMode: 292\nDeviceFileModify: 1\n")
        minors_file = os.path.join(m["root"], "proc/driver/nvidia-caps/mig-minors")
        with open(minors_file) as f:
            table = dict(line.rsplit(" ", 1) for line in f.read().splitlines())
        nodes = {n["path"]: n for n in m["capability_nodes"]}
        migs = [(1, 0), (2, 0)]
        for gi, ci in migs:
            for rel, key in (("gpu%d/mig/gi%d/access" % (g0["minor"], gi), "gpu%d/gi%d/access" % (g0["minor"], gi)),
                             ("gpu%d/mig/gi%d/ci%d/access" % (g0["minor"], gi, ci),
                              "gpu%d/gi%d/ci%d/access" % (g0["minor"], gi, ci))):
                with open(os.path.join(caps_dir, rel)) as f:
                    text = f.read()
                mm = re.match(r"^DeviceFileMinor: (\d+)\nDeviceFileMode: 292\nDeviceFileModify: 1\n$", text)
                self.assertTrue(mm, text)
                minor = int(mm.group(1))
                self.assertEqual(int(table[key]), minor)
                node = nodes["/dev/nvidia-caps/nvidia-cap%d" % minor]
                self.check_node(node)
        self.assertFalse(os.path.exists(os.path.join(caps_dir, "gpu%d" % m["gpus"][1]["minor"])))

    def test_mig_needs_a_mig_capable_gpu(self):
        with self.assertRaises(fakehost.FakeHostError):
            self.build(mig=True, model="rtx4090")

    def test_bmc_card_shifts_drm_numbering(self):
        m = self.build(gpus=2, bmc=True)
        self.check_host(m)
        self.assertEqual(m["gpus"][0]["device_nodes"][1:], ["/dev/dri/card1", "/dev/dri/renderD128"])
        self.assertTrue(os.path.exists(os.path.join(m["root"], "dev/dri/card0")))

    def test_other_vendors_gpus_with_kfd_topology(self):
        m = self.build(no_driver=True, gpus=0, drm_gpus=["amd", "amd-nokfd", "intel"])
        root = m["root"]
        self.assertEqual([(g["kind"], g["index"]) for g in m["drm_gpus"]],
                         [("amd.com/gpu", 0), ("amd.com/gpu", 1), ("intel.com/gpu", 0)])
        for g in m["drm_gpus"]:
            uevent = open(os.path.join(root, "sys/bus/pci/devices", g["pci_bus_id"], "uevent")).read()
            self.assertIn("DRIVER=%s\n" % g["driver"], uevent)
            for n in g["nodes"]:
                st = os.stat(n["host_path"])
                self.assertTrue(stat.S_ISCHR(st.st_mode), n["path"])
                self.assertEqual((os.major(st.st_rdev), os.minor(st.st_rdev)), (n["major"], n["minor"]))
            render = next(n for n in g["nodes"] if "renderD" in n["path"])
            link = os.path.join(root, "sys/class/drm", os.path.basename(render["path"]))
            self.assertIn("/%s/drm/" % g["pci_bus_id"], os.path.realpath(link))
            if g["kfd_node"] is not None:
                props = open(os.path.join(root, "sys/class/kfd/kfd/topology/nodes/%d/properties" % g["kfd_node"])).read()
                self.assertIn("drm_render_minor %d\n" % render["minor"], props)
                self.assertEqual(g["device_nodes"][-1], "/dev/kfd")
        self.assertIsNone(m["drm_gpus"][1]["kfd_node"])
        self.assertNotIn("/dev/kfd", m["drm_gpus"][1]["device_nodes"])
        with self.assertRaises(fakehost.FakeHostError):
            self.build("bad-drm", drm_gpus=["voodoo"])

    def test_ipc_options(self):
        m = self.build(fabricmanager=True, mps=True)
        self.check_components(m)
        self.assertEqual([c["container_path"] for c in m["components"]["ipc"]],
                         ["/run/nvidia-fabricmanager/socket", "/run/nvidia-persistenced/socket", "/tmp/nvidia-mps"])
        m2 = self.build("quiet", persistenced=False)
        self.assertEqual(m2["components"]["ipc"], [])

    def test_custom_uvm_major(self):
        m = self.build(uvm_major=300)
        self.check_host(m)
        st = os.stat(os.path.join(m["root"], "dev/nvidia-uvm"))
        self.assertEqual(os.major(st.st_rdev), 300)

    def test_bad_options_are_refused(self):
        for kw in ({"gpus": 0}, {"gpus": 9}, {"layout": "gentoo"}, {"kmod": "nouveau"},
                   {"driver_version": "latest"}, {"uvm_major": 195}):
            with self.subTest(**kw):
                with self.assertRaises(fakehost.FakeHostError):
                    self.build("bad", **kw)
        empty = os.path.join(self.tmp, "empty")
        os.makedirs(empty)
        with self.assertRaises(fakehost.FakeHostError):
            fakehost.build(empty, fake_nvml=os.path.join(self.tmp, "no-such-libnvidia-ml.so.1"))
        self.assertEqual(os.listdir(empty), [], "a failed build leaves no half host behind")
        os.makedirs(os.path.join(self.tmp, "full"))
        open(os.path.join(self.tmp, "full", "x"), "w").close()
        with self.assertRaises(fakehost.FakeHostError):
            self.build("full")

    def test_eight_gpu_host_builds_fast(self):
        self.build("warm", gpus=1)  # compiles (or loads) the stubs
        t = time.monotonic()
        self.build("timed", gpus=8, mig=True, shuffle_minors=True)
        self.assertLess(time.monotonic() - t, 2.0)


class TestExpectedInfo(FakeHostCase):
    def test_expected_info_has_the_info_json_shape(self):
        m = self.build(gpus=2, mig=True)
        e = fakehost.expected_info(m)
        self.assertEqual(sorted(e), ["capability_nodes", "components", "device_nodes", "driver", "gpus"])
        self.assertEqual(e["driver"], {"version": "550.54.14", "kernel_module": "open", "cuda_version": None})
        self.assertEqual(sorted(e["gpus"][0]), sorted(["index", "minor", "uuid", "name", "pci_bus_id", "memory_mib",
                                                       "device_nodes", "vendor_id", "device_id", "numa_node"]))
        self.assertIsNone(e["gpus"][0]["memory_mib"])
        with self.assertRaises(fakehost.FakeHostError):
            fakehost.expected_info(m, detailed=True)
        self.assertIsNone(fakehost.expected_info(self.build("none", no_driver=True)))

    def test_expected_detailed_info_merges_what_nvml_adds(self):
        lib = fakehost.find_fakenvml()
        if not lib:
            self.skipTest("fake NVML not built: set NVBIND_FAKENVML to the built tests/fakenvml/libnvidia-ml.so.1")
        m = self.build(gpus=2, mig=True, fake_nvml=lib, models=["a100", "rtx4090"])
        e = fakehost.expected_info(m, detailed=True)
        self.assertEqual(e["driver"]["cuda_version"], "12.4")
        g0, g1 = e["gpus"]
        self.assertEqual((g0["memory_mib"], g0["compute_capability"], g0["mig_mode"]), (81920, "8.0", "enabled"))
        self.assertEqual((g1["memory_mib"], g1["compute_capability"], g1["mig_mode"]), (24564, "8.9", None))
        self.assertEqual([(x["name"], x["gi"], x["ci"]) for x in g0["mig_devices"]], [("0:0", 1, 0), ("0:1", 2, 0)])
        self.assertEqual(len(g0["mig_devices"][0]["device_nodes"]), 2)


class TestDestroyAndCli(FakeHostCase):
    def test_destroy_removes_a_fake_host(self):
        m = self.build(gpus=2, mps=True)
        fakehost.destroy(m["root"])
        self.assertFalse(os.path.exists(m["root"]))

    def test_destroy_refuses_other_folders(self):
        plain = os.path.join(self.tmp, "plain")
        os.makedirs(plain)
        with self.assertRaises(fakehost.FakeHostError):
            fakehost.destroy(plain)
        self.assertTrue(os.path.isdir(plain))
        with open(os.path.join(plain, "manifest.json"), "w") as f:
            json.dump({"root": "/somewhere/else"}, f)
        with self.assertRaises(fakehost.FakeHostError):
            fakehost.destroy(plain)
        self.assertTrue(os.path.isdir(plain))

    def test_cli_build_and_destroy(self):
        d = os.path.join(self.tmp, "cli")
        r = subprocess.run([sys.executable, FAKEHOST, "build", d, "--layout", "arch", "--gpus", "3", "--kmod",
                            "proprietary", "--shuffle-minors", "--json"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        m = json.loads(r.stdout)
        self.assertEqual((m["layout"], len(m["gpus"]), m["driver"]["kernel_module"]), ("arch", 3, "proprietary"))
        self.check_host(m)
        r = subprocess.run([sys.executable, FAKEHOST, "build", d], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn("not empty", r.stderr)
        r = subprocess.run([sys.executable, FAKEHOST, "destroy", d], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertFalse(os.path.exists(d))
        r = subprocess.run([sys.executable, FAKEHOST, "build", d, "--gpus", "9"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn("gpus must be 1 to 8", r.stderr)


# ---- the fake NVML, called through ctypes in a child process (it may be built with sanitizers) ----
NVML_PROBE = r"""
import ctypes, json, sys, time
lib = ctypes.CDLL(sys.argv[1])
out = {}
class Mem(ctypes.Structure):
    _fields_ = [("total", ctypes.c_ulonglong), ("free", ctypes.c_ulonglong), ("used", ctypes.c_ulonglong)]
class Mem2(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint), ("total", ctypes.c_ulonglong), ("reserved", ctypes.c_ulonglong),
                ("free", ctypes.c_ulonglong), ("used", ctypes.c_ulonglong)]
class Pci(ctypes.Structure):
    _fields_ = [("busIdLegacy", ctypes.c_char * 16), ("domain", ctypes.c_uint), ("bus", ctypes.c_uint),
                ("device", ctypes.c_uint), ("pciDeviceId", ctypes.c_uint), ("pciSubSystemId", ctypes.c_uint),
                ("busId", ctypes.c_char * 32)]
U = ctypes.c_uint
buf = ctypes.create_string_buffer(96)
c = U()
out["before_init"] = lib.nvmlDeviceGetCount_v2(ctypes.byref(c))
t = time.monotonic()
out["init"] = lib.nvmlInit_v2()
out["init_seconds"] = time.monotonic() - t
if out["init"] == 0:
    lib.nvmlSystemGetDriverVersion(buf, 80); out["driver_version"] = buf.value.decode()
    out["small_buffer"] = lib.nvmlSystemGetDriverVersion(buf, 3)
    cv = ctypes.c_int(); lib.nvmlSystemGetCudaDriverVersion_v2(ctypes.byref(cv)); out["cuda_version"] = cv.value
    lib.nvmlDeviceGetCount_v2(ctypes.byref(c))
    gpus = []
    for i in range(c.value):
        h = ctypes.c_void_p(); assert lib.nvmlDeviceGetHandleByIndex_v2(i, ctypes.byref(h)) == 0
        g = {}
        lib.nvmlDeviceGetUUID(h, buf, 96); g["uuid"] = buf.value.decode()
        lib.nvmlDeviceGetName(h, buf, 96); g["name"] = buf.value.decode()
        mn = U(); lib.nvmlDeviceGetMinorNumber(h, ctypes.byref(mn)); g["minor"] = mn.value
        m = Mem(); lib.nvmlDeviceGetMemoryInfo(h, ctypes.byref(m)); g["memory_mib"] = m.total >> 20
        m2 = Mem2(); m2.version = 2 << 24; g["mem_v2_bad_version"] = lib.nvmlDeviceGetMemoryInfo_v2(h, ctypes.byref(m2))
        m2.version = ctypes.sizeof(Mem2) | (2 << 24); lib.nvmlDeviceGetMemoryInfo_v2(h, ctypes.byref(m2))
        g["memory_v2_mib"] = m2.total >> 20
        ma, mi = ctypes.c_int(), ctypes.c_int(); lib.nvmlDeviceGetCudaComputeCapability(h, ctypes.byref(ma), ctypes.byref(mi))
        g["cc"] = "%d.%d" % (ma.value, mi.value)
        b = ctypes.c_int(); lib.nvmlDeviceGetBrand(h, ctypes.byref(b)); g["brand"] = b.value
        p = Pci(); lib.nvmlDeviceGetPciInfo_v3(h, ctypes.byref(p)); g["busId"] = p.busId.decode()
        g["busIdLegacy"] = p.busIdLegacy.decode()
        h2 = ctypes.c_void_p(); lib.nvmlDeviceGetHandleByPciBusId_v2(p.busId, ctypes.byref(h2)); g["by_bus_same"] = h2.value == h.value
        h3 = ctypes.c_void_p(); lib.nvmlDeviceGetHandleByUUID(g["uuid"].encode(), ctypes.byref(h3)); g["by_uuid_same"] = h3.value == h.value
        cur, pend = U(), U(); g["mig_rc"] = lib.nvmlDeviceGetMigMode(h, ctypes.byref(cur), ctypes.byref(pend))
        g["mig_mode"] = cur.value if g["mig_rc"] == 0 else None
        migs = []
        if g["mig_mode"] == 1:
            mx = U(); lib.nvmlDeviceGetMaxMigDeviceCount(h, ctypes.byref(mx))
            for j in range(mx.value):
                mh = ctypes.c_void_p()
                if lib.nvmlDeviceGetMigDeviceHandleByIndex(h, j, ctypes.byref(mh)) != 0:
                    continue
                x = {"index": j}
                is_mig = U(); lib.nvmlDeviceIsMigDeviceHandle(mh, ctypes.byref(is_mig)); x["is_mig"] = is_mig.value
                gi, ci = U(), U(); lib.nvmlDeviceGetGpuInstanceId(mh, ctypes.byref(gi)); lib.nvmlDeviceGetComputeInstanceId(mh, ctypes.byref(ci))
                x["gi"], x["ci"] = gi.value, ci.value
                lib.nvmlDeviceGetUUID(mh, buf, 96); x["uuid"] = buf.value.decode()
                m = Mem(); lib.nvmlDeviceGetMemoryInfo(mh, ctypes.byref(m)); x["memory_mib"] = m.total >> 20
                ph = ctypes.c_void_p(); lib.nvmlDeviceGetDeviceHandleFromMigDeviceHandle(mh, ctypes.byref(ph)); x["parent_ok"] = ph.value == h.value
                byu = ctypes.c_void_p(); lib.nvmlDeviceGetHandleByUUID(x["uuid"].encode(), ctypes.byref(byu)); x["by_uuid_same"] = byu.value == mh.value
                migs.append(x)
        g["migs"] = migs
        gpus.append(g)
    out["gpus"] = gpus
    bogus = ctypes.c_void_p(12345)
    out["bogus_handle"] = lib.nvmlDeviceGetMinorNumber(bogus, ctypes.byref(U()))
    out["shutdown"] = lib.nvmlShutdown()
    out["after_shutdown"] = lib.nvmlDeviceGetCount_v2(ctypes.byref(c))
lib.nvmlErrorString.restype = ctypes.c_char_p
out["error_string_9"] = lib.nvmlErrorString(9).decode()
print(json.dumps(out))
"""


def _sanitizer_preload(lib):
    """Sanitizer runtimes the library needs first in the process (an ASan build), for LD_PRELOAD."""
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", readelf(lib, "-d"))
    pre = []
    for n in needed:
        if n.startswith(("libasan", "libubsan", "libtsan")):
            cc = os.environ.get("CC", "gcc")
            p = subprocess.run([cc, "-print-file-name=" + n], capture_output=True, text=True).stdout.strip()
            if os.path.isabs(p):
                pre.append(p)
    return pre


class TestFakeNvml(FakeHostCase):
    def setUp(self):
        super().setUp()
        self.lib = fakehost.find_fakenvml()
        if not self.lib:
            self.skipTest("fake NVML not built: set NVBIND_FAKENVML to the built tests/fakenvml/libnvidia-ml.so.1")

    def probe(self, libpath, env_extra=None):
        env = dict(os.environ)
        env.pop("NVBIND_FAKE_NVML_DATA", None)
        pre = _sanitizer_preload(self.lib)
        if pre:
            env["LD_PRELOAD"] = " ".join(pre)
            env["ASAN_OPTIONS"] = "detect_leaks=0"
        env.update(env_extra or {})
        r = subprocess.run([sys.executable, "-c", NVML_PROBE, libpath], capture_output=True, text=True, env=env,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def test_serves_the_fake_hosts_gpus(self):
        m = self.build(gpus=8, mig=True, shuffle_minors=True, fake_nvml=self.lib, models=["a100", "a100", "rtx4090"])
        self.assertIsNotNone(m["nvml"])
        self.assertEqual(m["detailed"]["driver"]["cuda_version"], "12.4")
        loaded = os.path.join(os.path.dirname(m["nvml"]["library"]), "libnvidia-ml.so.1")
        out = self.probe(loaded)
        self.assertEqual(out["before_init"], 1)  # NVML_ERROR_UNINITIALIZED
        self.assertEqual(out["init"], 0)
        self.assertEqual(out["driver_version"], m["driver"]["version"])
        self.assertEqual(out["small_buffer"], 7)  # NVML_ERROR_INSUFFICIENT_SIZE
        self.assertEqual(out["cuda_version"], 12040)
        self.assertEqual(len(out["gpus"]), 8)
        for g, d, got in zip(m["gpus"], m["detailed"]["gpus"], out["gpus"]):
            self.assertEqual(got["uuid"], g["uuid"])
            self.assertEqual(got["name"], g["name"])
            self.assertEqual(got["minor"], g["minor"])
            self.assertEqual(got["memory_mib"], d["memory_mib"])
            self.assertEqual(got["memory_v2_mib"], d["memory_mib"])
            self.assertEqual(got["mem_v2_bad_version"], 25)  # NVML_ERROR_ARGUMENT_VERSION_MISMATCH
            self.assertEqual(got["cc"], d["compute_capability"])
            self.assertEqual(got["brand"], d["nvml_brand"])
            self.assertEqual(got["busIdLegacy"].lower(), g["pci_bus_id"])
            self.assertEqual(got["busId"], "0000" + g["pci_bus_id"].upper())
            self.assertTrue(got["by_bus_same"] and got["by_uuid_same"])
            self.assertEqual(got["mig_mode"], {"enabled": 1, "disabled": 0, None: None}[d["mig_mode"]])
            self.assertEqual([(x["gi"], x["ci"], x["uuid"], x["memory_mib"]) for x in got["migs"]],
                             [(x["gi"], x["ci"], x["uuid"], x["memory_mib"]) for x in d["mig_devices"]])
            for x in got["migs"]:
                self.assertEqual(x["is_mig"], 1)
                self.assertTrue(x["parent_ok"] and x["by_uuid_same"])
        self.assertEqual(out["gpus"][2]["mig_rc"], 3)  # an RTX 4090 has no MIG: NVML_ERROR_NOT_SUPPORTED
        self.assertEqual(len(out["gpus"][0]["migs"]), 2)
        self.assertEqual(out["bogus_handle"], 2)  # NVML_ERROR_INVALID_ARGUMENT
        self.assertEqual(out["shutdown"], 0)
        self.assertEqual(out["after_shutdown"], 1)
        self.assertEqual(out["error_string_9"], "Driver Not Loaded")
        # The library the cache points libnvidia-ml.so.1 at is the fake NVML.
        entries = {n: p for n, f, p in ldconfig_entries(os.path.join(m["root"], "etc/ld.so.cache")) if "x86-64" in f}
        self.assertEqual(os.path.realpath(m["root"] + entries["libnvidia-ml.so.1"]), m["nvml"]["library"])

    def test_operator_layout_nvml_lives_in_the_driver_root(self):
        m = self.build(layout="operator", gpus=2, fake_nvml=self.lib)
        self.assertTrue(m["nvml"]["library"].startswith(m["driver_root_host_path"] + "/"))
        out = self.probe(m["nvml"]["library"])
        self.assertEqual([g["uuid"] for g in out["gpus"]], [g["uuid"] for g in m["gpus"]])

    def test_init_delay_and_init_error(self):
        m = self.build(fake_nvml=self.lib, nvml_overrides={"init_delay_ms": 300})
        out = self.probe(m["nvml"]["library"])
        self.assertEqual(out["init"], 0)
        self.assertGreaterEqual(out["init_seconds"], 0.29)
        m = self.build("err", fake_nvml=self.lib, nvml_overrides={"init_error": 18})
        self.assertEqual(self.probe(m["nvml"]["library"])["init"], 18)

    def test_missing_or_broken_data(self):
        m = self.build(fake_nvml=self.lib)
        data = m["nvml"]["data"]
        self.assertEqual(self.probe(m["nvml"]["library"], {"NVBIND_FAKE_NVML_DATA": data + ".absent"})["init"], 9)
        for bad in ('{"gpus": [', '{"driver_version": "1", "cuda_version": 12040, "gpus": [{"uuid": 5}]}',
                    '[]', '{"driver_version": "1", "cuda_version": 12040, "gpus": []} x', '\x00'):
            with self.subTest(data=bad):
                p = os.path.join(self.tmp, "bad.json")
                with open(p, "w") as f:
                    f.write(bad)
                self.assertEqual(self.probe(m["nvml"]["library"], {"NVBIND_FAKE_NVML_DATA": p})["init"], 999)


class TestWsl2(FakeHostCase):
    """build_wsl2: the layout WSL and the Windows driver give a guest, checked with the real
    ldconfig, readelf-independent ELF magic and stat()."""

    def test_wsl2_guest_layout(self):
        m = fakehost.build_wsl2(os.path.join(self.tmp, "wsl"), gpus=2)
        root = m["root"]
        self.assertFalse(os.path.exists(os.path.join(root, "proc/driver/nvidia")))
        with open(os.path.join(root, "proc/sys/kernel/osrelease")) as f:
            self.assertIn("microsoft-standard-WSL2", f.read())
        st = os.lstat(os.path.join(root, "dev/dxg"))
        self.assertTrue(stat.S_ISCHR(st.st_mode))
        self.assertEqual((os.major(st.st_rdev), os.minor(st.st_rdev)), tuple(m["wsl2"]["dxg"]))
        for lib in m["components"]["libraries"]:
            p = os.path.join(root, lib.lstrip("/"))
            self.assertFalse(os.path.islink(p), "WSL maps plain files, no links: " + lib)
            with open(p, "rb") as f:
                self.assertEqual(f.read(4), b"\x7fELF", lib)
        listing = subprocess.run(["ldconfig", "-p", "-C", os.path.join(root, "etc/ld.so.cache")],
                                 stdout=subprocess.PIPE, text=True).stdout
        self.assertIn("libdxcore.so (libc6,x86-64) => /usr/lib/wsl/lib/libdxcore.so", listing)
        for sock in ("mnt/wslg/.X11-unix/X0", "mnt/wslg/runtime-dir/wayland-0", "mnt/wslg/PulseServer"):
            self.assertTrue(stat.S_ISSOCK(os.stat(os.path.join(root, sock)).st_mode), sock)
        self.assertEqual(fakehost.load_manifest(root)["layout"], "wsl2")
        fakehost.destroy(root)
        self.assertFalse(os.path.exists(root))

    def test_wsl2_options_remove_their_parts(self):
        m = fakehost.build_wsl2(os.path.join(self.tmp, "wsl"), old_driver=True, dxcore=False, ld_conf=False,
                                wslg=False, systemd=False, stale_store=False)
        root = m["root"]
        store = os.path.join(root, m["wsl2"]["store"].lstrip("/"))
        self.assertFalse(os.path.exists(os.path.join(store, "libcuda_loader.so")))
        self.assertTrue(os.path.exists(os.path.join(store, "libcuda.so.1.1")))
        for gone in ("usr/lib/wsl/lib/libdxcore.so", "etc/ld.so.conf.d/ld.wsl.conf", "mnt/wslg", "tmp/.X11-unix",
                     "run/systemd/system"):
            self.assertFalse(os.path.lexists(os.path.join(root, gone)), gone)
        self.assertEqual(len(os.listdir(os.path.join(root, "usr/lib/wsl/drivers"))), 2)  # NVIDIA's, Intel's


if __name__ == "__main__":
    unittest.main(verbosity=2)
