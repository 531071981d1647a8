"""nvbind info against fake hosts: exactly the fake host's driver, GPUs, nodes and files."""
import json
import os
import shutil
import subprocess
import time
import unittest

from nvbtest import FAKENVML, FakeHost, nvbind, nvbind_json, run

LAYOUTS = ["debian", "debian-packaged", "debian-tesla", "fedora", "arch", "operator"]


def pairs(items):
    return [(c["host_path"], c["container_path"]) for c in items]


class InfoMatchesFakeHost(unittest.TestCase):
    def check_host(self, **options):
        with FakeHost(**options) as fh:
            info = fh.nvbind_json("info", "--json")
            m = fh.manifest
            self.assertEqual(info["driver"]["version"], m["driver"]["version"])
            self.assertEqual(info["driver"]["kernel_module"], m["driver"]["kernel_module"])
            self.assertIsNone(info["driver"]["cuda_version"])
            self.assertEqual(len(info["gpus"]), len(m["gpus"]))
            for got, want in zip(info["gpus"], m["gpus"]):
                for key in ("index", "minor", "uuid", "name", "pci_bus_id", "device_nodes"):
                    self.assertEqual(got[key], want[key], f"gpu {want['index']} {key}")
                self.assertIsNone(got["memory_mib"])
            self.assertEqual([g["pci_bus_id"] for g in info["gpus"]], sorted(g["pci_bus_id"] for g in info["gpus"]))
            node = lambda n: (n["path"], n["host_path"], n["type"], n["major"], n["minor"])  # noqa: E731
            self.assertEqual(sorted(map(node, info["device_nodes"])), sorted(map(node, m["device_nodes"])))
            for kind, want in m["components"].items():
                self.assertEqual(pairs(info["components"][kind]), pairs(want), kind)
            reported = {c["host_path"] for items in info["components"].values() for c in items}
            for decoy in m["decoys"]:
                self.assertNotIn(decoy, reported)
            self.assertEqual(info["warnings"], [])
            return info

    def test_layouts_one_gpu_open(self):
        for layout in LAYOUTS:
            with self.subTest(layout=layout):
                self.check_host(layout=layout, gpus=1, kmod="open")

    def test_layouts_eight_gpus_proprietary_shuffled_minors(self):
        for layout in LAYOUTS:
            with self.subTest(layout=layout):
                info = self.check_host(layout=layout, gpus=8, kmod="proprietary", shuffle_minors=True)
                self.assertNotEqual([g["minor"] for g in info["gpus"]], list(range(8)),
                                    "the fake host should have minors out of bus order")

    def test_dynamic_uvm_major_above_255(self):
        info = self.check_host(gpus=2, uvm_major=511)
        uvm = [n for n in info["device_nodes"] if n["path"] == "/dev/nvidia-uvm"]
        self.assertEqual(uvm[0]["major"], 511)

    def test_plain_glvnd_libraries_are_reported(self):
        with FakeHost(layout="debian", gpus=1, plain_glvnd=True) as fh:
            info = fh.nvbind_json("info", "--json")
            paths = [c["container_path"] for c in info["components"]["libraries"]]
            self.assertIn("/usr/lib/x86_64-linux-gnu/libGLX_nvidia.so.0", paths)
            self.assertIn("/usr/lib/x86_64-linux-gnu/libEGL_nvidia.so.0", paths)

    def test_packaged_driver_offered_where_programs_look(self):
        """Debian's packages reach the driver through update-alternatives links into package
        folders: each file is offered at the link's path (where PATH, the loader, the VDPAU and
        GBM loaders, the X server and libnvoptix look), its data read from the link's target;
        files the cache does not list (vdpau/, gbm/, a library only in the package folder, the
        X server's modules) are found too. Both package folder names: nothing depends on it."""
        for layout in ("debian-packaged", "debian-tesla"):
            with self.subTest(layout=layout), FakeHost(layout=layout, gpus=1) as fh:
                info = fh.nvbind_json("info", "--json")
                offered = {c["container_path"]: c["host_path"] for items in info["components"].values() for c in items}
                lib = "/usr/lib/x86_64-linux-gnu/"
                pkg = fh.manifest["options"]["layout"] == "debian-tesla" and "nvidia/tesla-535" or "nvidia/current"
                ver = fh.manifest["driver"]["version"]
                want = {
                    "/usr/bin/nvidia-smi": f"usr/lib/{pkg}/nvidia-smi",
                    "/usr/share/nvidia/nvoptix.bin": f"usr/lib/x86_64-linux-gnu/{pkg}/nvoptix.bin",
                    "/usr/share/vulkan/icd.d/nvidia_icd.json": f"usr/lib/{pkg}/nvidia_icd.json",
                    lib + "libcuda.so.1": f"usr/lib/x86_64-linux-gnu/{pkg}/libcuda.so.{ver}",
                    "/usr/lib/i386-linux-gnu/libcuda.so.1": f"usr/lib/i386-linux-gnu/{pkg}/libcuda.so.{ver}",
                    lib + "vdpau/libvdpau_nvidia.so.1": f"usr/lib/x86_64-linux-gnu/{pkg}/libvdpau_nvidia.so.{ver}",
                    lib + "gbm/nvidia-drm_gbm.so": f"usr/lib/x86_64-linux-gnu/{pkg}/libnvidia-allocator.so.{ver}",
                    lib + f"libnvidia-vulkan-producer.so.{ver}":
                        f"usr/lib/x86_64-linux-gnu/{pkg}/libnvidia-vulkan-producer.so.{ver}",
                    "/usr/lib/xorg/modules/drivers/nvidia_drv.so": f"usr/lib/{pkg}/nvidia_drv.so",
                    "/usr/lib/xorg/modules/extensions/libglxserver_nvidia.so": f"usr/lib/{pkg}/libglxserver_nvidia.so.{ver}",
                }
                for path, data in want.items():
                    self.assertEqual(offered.get(path), os.path.join(fh.root, data), path)
                self.assertFalse([p for p in offered if "/nvidia/current/" in p or "/nvidia/tesla-535/" in p],
                                 "nothing is offered at a package folder's path")

    def test_operator_driver_root_found_without_option(self):
        """A GPU-operator host: the host's own cache lists no driver library, the driver
        container's root at /run/nvidia/driver has them. Without --driver-root nvbind used to
        report (and put in specs) no library at all."""
        with FakeHost(layout="operator", gpus=1) as fh:
            info = nvbind_json("--root", fh.root, "info", "--json")
            for kind, want in fh.manifest["components"].items():
                self.assertEqual(pairs(info["components"][kind]), pairs(want), kind)
            self.assertEqual(info["warnings"], [])

    def test_no_driver_library_is_never_silent(self):
        """A host whose driver root holds no driver library: info says so, and cdi generate
        warns on stderr instead of writing a spec without libraries in silence."""
        with FakeHost(layout="operator", gpus=1) as fh:
            os.rename(os.path.join(fh.root, "run/nvidia/driver"), os.path.join(fh.root, "run/nvidia/elsewhere"))
            info = nvbind_json("--root", fh.root, "info", "--json")
            self.assertEqual(info["components"]["libraries"], [])
            self.assertEqual(len(info["warnings"]), 1, info["warnings"])
            self.assertIn("no NVIDIA driver library found in the driver root / (nor in /run/nvidia/driver)",
                          info["warnings"][0])
            out = os.path.join(fh.tmp, "spec.json")
            r = nvbind("--root", fh.root, "cdi", "generate", "--output", out)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("nvbind: warning: no NVIDIA driver library found", r.stderr)
            self.assertIn("--driver-root", r.stderr)

    def test_human_readable(self):
        with FakeHost(gpus=2) as fh:
            r = fh.nvbind("info")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("NVIDIA driver 550.54.14", r.stdout)
            self.assertIn(fh.manifest["gpus"][1]["uuid"], r.stdout)


class LibraryFallback(unittest.TestCase):
    def test_no_cache_scans_usual_folders(self):
        with FakeHost(layout="fedora", gpus=1) as fh:
            os.unlink(os.path.join(fh.manifest["driver_root_host_path"], "etc", "ld.so.cache"))
            info = fh.nvbind_json("info", "--json")
            got = {c["container_path"] for c in info["components"]["libraries"]}
            want64 = {c["container_path"] for c in fh.manifest["components"]["libraries"]
                      if c["container_path"].startswith("/usr/lib64/")}
            self.assertTrue(want64)
            self.assertTrue(want64 <= got, want64 - got)

    def test_library_search_path(self):
        with FakeHost(layout="debian", gpus=1) as fh:
            drv = fh.manifest["driver_root_host_path"]
            extra = os.path.join(drv, "opt", "nvidia", "lib64")
            os.makedirs(extra)
            src = os.path.join(drv, "usr", "lib", "x86_64-linux-gnu", "libnvidia-ml.so.550.54.14")
            shutil.copy(src, os.path.join(extra, "libnvidia-ml.so.550.54.14"))
            info = fh.nvbind_json("--library-search-path", "/opt/nvidia/lib64", "info", "--json")
            paths = [c["container_path"] for c in info["components"]["libraries"]]
            self.assertIn("/opt/nvidia/lib64/libnvidia-ml.so.550.54.14", paths)


class Errors(unittest.TestCase):
    def test_no_driver(self):
        with FakeHost(no_driver=True) as fh:
            r = fh.nvbind("info", "--json")
            self.assertEqual(r.returncode, 3)
            self.assertEqual(r.stderr.strip(), f"nvbind: no NVIDIA driver found under {fh.root}: "
                                               "/proc/driver/nvidia/version is missing")
            self.assertEqual(r.stdout, "")

    def test_missing_host_root(self):
        r = nvbind("--root", "/nonexistent/nvbind-root", "info")
        self.assertEqual(r.returncode, 3)
        self.assertIn("/nonexistent/nvbind-root", r.stderr)

    def test_gpu_information_missing_field(self):
        with FakeHost(gpus=2) as fh:
            bus = fh.manifest["gpus"][1]["pci_bus_id"]
            path = os.path.join(fh.root, "proc/driver/nvidia/gpus", bus, "information")
            text = "".join(l for l in open(path) if not l.startswith("GPU UUID"))
            open(path, "w").write(text)
            r = fh.nvbind("info", "--json")
            self.assertEqual(r.returncode, 4)
            self.assertEqual(r.stderr.strip(), f"nvbind: {path}: field 'GPU UUID' is missing")

    def test_version_file_without_version(self):
        with FakeHost(gpus=1) as fh:
            path = os.path.join(fh.root, "proc/driver/nvidia/version")
            open(path, "w").write("NVRM version: NVIDIA UNIX x86_64 Kernel Module\n")
            r = fh.nvbind("info")
            self.assertEqual(r.returncode, 4)
            self.assertIn(f"{path}: 'NVRM version:' line holds no driver version", r.stderr)

    def test_truncated_ld_so_cache(self):
        with FakeHost(gpus=1) as fh:
            path = os.path.join(fh.manifest["driver_root_host_path"], "etc", "ld.so.cache")
            data = open(path, "rb").read()
            open(path, "wb").write(data[: len(data) // 2])
            r = fh.nvbind("info", "--json")
            self.assertEqual(r.returncode, 4)
            self.assertTrue(r.stderr.startswith(f"nvbind: {path}: "), r.stderr)
            self.assertIn("truncated", r.stderr)
            self.assertEqual(r.stdout, "")

    def test_corrupt_ld_so_cache_magic(self):
        with FakeHost(gpus=1) as fh:
            path = os.path.join(fh.manifest["driver_root_host_path"], "etc", "ld.so.cache")
            data = bytearray(open(path, "rb").read())
            data[0:8] = b"garbage!"
            open(path, "wb").write(bytes(data))
            r = fh.nvbind("info")
            self.assertEqual(r.returncode, 4)
            self.assertIn(path, r.stderr)


def nvml_folder(fh):
    """The folder holding the 64-bit NVML discovery found on fake host fh."""
    lib = next(c["host_path"] for c in fh.nvbind_json("info", "--json")["components"]["libraries"]
               if "/x86_64-linux-gnu/libnvidia-ml.so." in c["container_path"])
    return os.path.dirname(os.path.realpath(lib))


@unittest.skipUnless(os.path.exists(FAKENVML), "the fake NVML library is not built")
class Nvml(unittest.TestCase):
    def test_detailed_reports_nvml_data(self):
        with FakeHost(gpus=2, mig=True, fake_nvml=FAKENVML) as fh:
            info = fh.nvbind_json("info", "--detailed", "--json")
            want = fh.manifest["detailed"]
            self.assertTrue(info["nvml"])
            self.assertEqual(info["driver"]["cuda_version"], want["driver"]["cuda_version"])
            for got, exp in zip(info["gpus"], want["gpus"]):
                self.assertEqual(got["memory_mib"], exp["memory_mib"])
                self.assertEqual(got["compute_capability"], exp["compute_capability"])
                self.assertEqual(got["mig_mode"], exp["mig_mode"])
                self.assertEqual([(m["uuid"], m["gi"], m["ci"]) for m in got["mig_devices"]],
                                 [(m["uuid"], m["gi"], m["ci"]) for m in exp["mig_devices"]])
            self.assertTrue(info["gpus"][0]["mig_devices"], "GPU 0 should have MIG devices")
            for mig in info["gpus"][0]["mig_devices"]:
                self.assertEqual(len(mig["device_nodes"]), 2, mig)

    def test_plain_info_does_not_load_nvml(self):
        with FakeHost(gpus=1, fake_nvml=FAKENVML, nvml_overrides={"init_delay_ms": 30000}) as fh:
            start = time.monotonic()
            info = fh.nvbind_json("info", "--json")
            self.assertLess(time.monotonic() - start, 5)
            self.assertIsNone(info["gpus"][0]["memory_mib"])

    def test_hung_nvml_is_bounded(self):
        with FakeHost(gpus=1, fake_nvml=FAKENVML, nvml_overrides={"init_delay_ms": 60000}) as fh:
            start = time.monotonic()
            r = fh.nvbind("info", "--detailed", "--json")
            elapsed = time.monotonic() - start
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertLess(elapsed, 15)
            info = json.loads(r.stdout)
            self.assertFalse(info["nvml"])
            self.assertTrue(any("did not answer" in w for w in info["warnings"]), info["warnings"])


    def test_nvml_others_could_replace_is_not_loaded(self):
        """dlopen runs NVML's code inside nvbind (root's, for a hook or a daemon): a library in a
        folder others may write is not loaded, and the warning says which folder."""
        with FakeHost(gpus=1, fake_nvml=FAKENVML) as fh:
            folder = nvml_folder(fh)
            os.chmod(folder, os.stat(folder).st_mode | 0o002)
            info = fh.nvbind_json("info", "--detailed", "--json")
            self.assertFalse(info["nvml"])
            self.assertIsNone(info["gpus"][0]["memory_mib"])
            self.assertTrue(any(w.startswith("NVML: not loaded: ") and folder in w and "writable by others" in w
                                for w in info["warnings"]), info["warnings"])
            os.chmod(folder, os.stat(folder).st_mode & ~0o002)  # the same library, trusted: loaded
            self.assertTrue(fh.nvbind_json("info", "--detailed", "--json")["nvml"])

    def test_read_only_mount_does_not_vouch_outside_wsl2(self):
        """A user can mount a read-only file system of their own (udisks, FUSE) whose files claim
        to be root's: outside WSL2's /usr/lib/wsl, a read-only mount proves nothing."""
        with FakeHost(gpus=1, fake_nvml=FAKENVML) as fh:
            folder = nvml_folder(fh)
            os.chmod(folder, 0o777)
            if run(["mount", "--bind", folder, folder]).returncode != 0:
                self.skipTest("cannot bind-mount here")
            self.addCleanup(run, ["umount", folder])
            self.assertEqual(run(["mount", "-o", "remount,bind,ro", folder]).returncode, 0)
            info = fh.nvbind_json("info", "--detailed", "--json")
            self.assertFalse(info["nvml"])
            self.assertTrue(any(w.startswith("NVML: not loaded: ") for w in info["warnings"]), info["warnings"])
            run(["umount", folder], check=True)

class LdCacheAgainstLdconfig(unittest.TestCase):
    """The parser, through discovery, sees what the real ldconfig indexed."""

    def test_fake_cache_lists_what_ldconfig_prints(self):
        with FakeHost(gpus=1) as fh:
            cache = os.path.join(fh.root, "etc", "ld.so.cache")
            out = subprocess.run(["ldconfig", "-p", "-C", cache], stdout=subprocess.PIPE, text=True).stdout
            info = fh.nvbind_json("info", "--json")
            libs = {c["container_path"] for c in info["components"]["libraries"]}
            self.assertIn("libcuda.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libcuda.so.1", out)
            self.assertIn("/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.14", libs)


if __name__ == "__main__":
    unittest.main()
