"""WSL2 hosts: the Windows NVIDIA driver lent to a WSL2 guest (no /proc/driver/nvidia, one
/dev/dxg, the driver in /usr/lib/wsl). Before the WSL2 backend every command failed on such a
host with exit 3 ("no NVIDIA driver found ... /proc/driver/nvidia/version is missing") and
advised `modprobe nvidia`; doctor said wsl2_mode false where nvbind_detect_wsl2() said true.
Fake WSL2 guests come from tests/fakehost/fakehost.py's build_wsl2; real podman runs the
containers."""
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from nvbtest import FAKENVML, SCHEMA_DIR, FakeHost, ensure_test_image, make_busybox_rootfs, nvbind, run

SPEC_DIR = "/var/run/cdi"
KIND = "nvbind-wsl2.test/gpu"  # a kind of its own: other tests install nvidia.com/gpu
import fakehost  # noqa: E402  (nvbtest put tests/fakehost on the path)


class FakeWsl2:
    """A fake WSL2 guest in a temporary folder (fakehost.build_wsl2's options)."""

    def __init__(self, **options):
        self.tmp = tempfile.mkdtemp(prefix="nvbind-wsl2-")
        self.root = os.path.join(self.tmp, "host")
        self.manifest = fakehost.build_wsl2(self.root, **options)
        self.store = self.manifest["wsl2"]["store"]

    def nvbind(self, *args, **kw):
        return nvbind("--root", self.root, *args, **kw)

    def json(self, *args, ok=True):
        r = self.nvbind(*args)
        if ok and r.returncode != 0:
            raise AssertionError(f"nvbind {' '.join(args)} exited {r.returncode}: {r.stderr}")
        return json.loads(r.stdout)

    def spec(self, *args):
        out = os.path.join(self.tmp, "spec.json")
        r = self.nvbind("cdi", "generate", "--output", out, *args)
        if r.returncode != 0:
            raise AssertionError(f"cdi generate exited {r.returncode}: {r.stderr}")
        with open(out) as f:
            return json.load(f), r.stderr

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.tmp, ignore_errors=True)


def env_of(edits):
    return dict(e.split("=", 1) for e in edits.get("env", []))


@unittest.skipUnless(os.path.exists(FAKENVML), "the fake NVML is not built")
class Discovery(unittest.TestCase):
    def test_info_lists_nvml_gpus_and_the_wsl_files_not_the_windows_ones(self):
        with FakeWsl2(gpus=2, fake_nvml=FAKENVML) as w:
            info = w.json("info", "--json")
            self.assertTrue(info["wsl2"])
            self.assertEqual(info["driver"]["version"], w.manifest["driver"]["version"])
            self.assertEqual([(g["uuid"], g["name"], g["pci_bus_id"], g["device_nodes"]) for g in info["gpus"]],
                             [(g["uuid"], g["name"], g["pci_bus_id"], ["/dev/dxg"]) for g in w.manifest["gpus"]])
            comps = info["components"]
            for kind in ("libraries", "binaries", "firmware"):
                self.assertEqual(sorted(c["container_path"] for c in comps[kind]), w.manifest["components"][kind],
                                 kind)
            offered = json.dumps(info)
            for decoy in w.manifest["decoys"]:  # Windows files, an earlier driver's store
                self.assertNotIn(decoy, offered)
            self.assertNotIn("iigd_dch", offered)  # another vendor's store folder

    def test_link_out_of_wsl_folders_is_not_offered(self):
        """Attack: a link among WSL's libraries that leads elsewhere on the host
        (/usr/lib/wsl/lib/libevil.so -> /etc/shadow) would mount that file into every GPU
        container. WSL maps no links: a file outside /usr/lib/wsl is never offered."""
        with FakeWsl2() as w:
            fakehost._write(os.path.join(w.root, "etc/shadow"), "root:secret:1:0:99999:7:::\n", 0o600)
            os.symlink("/etc/shadow", os.path.join(w.root, "usr/lib/wsl/lib/libevil.so"))
            os.symlink("../../../../etc/shadow", os.path.join(w.root, w.store.lstrip("/"), "libevil2.so.1"))
            spec, _ = w.spec()
            self.assertNotIn("shadow", json.dumps(spec))
            self.assertNotIn("libevil", json.dumps(spec))

    def test_block_device_as_dxg_is_refused(self):
        """Attack: /dev/dxg made a block device (a disk, 8:0) would hand every GPU container
        the raw disk. Only a character device is /dev/dxg: exit 4, one line, no spec."""
        with FakeWsl2() as w:
            dxg = os.path.join(w.root, "dev/dxg")
            os.unlink(dxg)
            os.mknod(dxg, 0o60666, os.makedev(8, 0))
            out = os.path.join(w.tmp, "spec.json")
            r = w.nvbind("cdi", "generate", "--output", out)
            self.assertEqual(r.returncode, 4, r.stderr)
            self.assertEqual(r.stderr.strip(), "nvbind: WSL2: %s: not a character device" % dxg)
            self.assertFalse(os.path.exists(out))

    def test_without_nvml_one_device_all(self):
        with FakeWsl2() as w:  # the stub libnvidia-ml answers nothing
            spec, err = w.spec()
            self.assertEqual([d["name"] for d in spec["devices"]], ["all"])
            node = spec["devices"][0]["containerEdits"]["deviceNodes"]
            self.assertEqual([(n["path"], n["type"], n["major"], n["minor"]) for n in node],
                             [("/dev/dxg", "c", 10, 63)])
            self.assertIn('one device, "all"', err)
            self.assertEqual(w.json("info", "--json")["driver"]["version"], "unknown")

    def test_hung_nvml_is_left_behind(self):
        """NVML is the only GPU source on WSL2 and is loaded on every spec generation: one that
        hangs must not hang nvbind (bounded at 5 s), and the spec still offers "all"."""
        with FakeWsl2(gpus=2, fake_nvml=FAKENVML, nvml_overrides={"init_delay_ms": 60000}) as w:
            start = time.monotonic()
            spec, err = w.spec()
            took = time.monotonic() - start
            self.assertLess(took, 15, "a hung NVML held cdi generate %.1f s" % took)
            self.assertIn("did not answer within 5000 ms", err)
            self.assertEqual([d["name"] for d in spec["devices"]], ["all"])

    def test_planted_nvml_library_is_not_loaded(self):
        """Attack: a libnvidia-ml.so.1 another user can replace in the guest's /usr/lib/wsl/lib
        would run its code inside nvbind (as root) on every spec generation. A library writable
        by others is not loaded: no GPU list, device "all", and a warning that says why."""
        with FakeWsl2(gpus=2, fake_nvml=FAKENVML) as w:
            lib = os.path.join(w.root, "usr/lib/wsl/lib/libnvidia-ml.so.1")
            store_lib = os.path.join(w.root, w.store.lstrip("/"), "libnvidia-ml.so.1")
            os.chmod(lib, 0o777)
            spec, err = w.spec()
            self.assertEqual([d["name"] for d in spec["devices"]], ["all"])
            self.assertIn("NVML: not loaded", err)
            self.assertIn("writable by others", err)
            os.chmod(lib, 0o555)
            os.chmod(store_lib, 0o777)  # only the library that is loaded matters
            spec, _ = w.spec()
            self.assertEqual(len(spec["devices"]), 5)

    def test_read_only_mount_vouches_for_its_files(self):
        """WSL mounts /usr/lib/wsl/lib read-only from Windows; mode bits there may say "writable by
        all" while nobody can write through the mount. A root-owned library on a read-only mount
        is loaded; the same files on a writable one are not."""
        with FakeWsl2(gpus=2, fake_nvml=FAKENVML) as w:
            lib_dir = os.path.join(w.root, "usr/lib/wsl/lib")
            os.chmod(os.path.join(lib_dir, "libnvidia-ml.so.1"), 0o777)
            os.chmod(lib_dir, 0o777)
            spec, err = w.spec()
            self.assertEqual([d["name"] for d in spec["devices"]], ["all"], err)
            if run(["mount", "--bind", lib_dir, lib_dir]).returncode != 0:
                self.skipTest("cannot bind-mount here")
            self.addCleanup(run, ["umount", lib_dir])
            self.assertEqual(run(["mount", "-o", "remount,bind,ro", lib_dir]).returncode, 0)
            spec, err = w.spec()
            self.assertEqual(len(spec["devices"]), 5, err)
            run(["umount", lib_dir], check=True)

    def test_spec_is_valid_cdi(self):
        try:
            import jsonschema
        except ImportError:  # pragma: no cover - installed by scripts/install-deps
            self.skipTest("python3-jsonschema is not installed")
        schema_path = os.path.join(SCHEMA_DIR, "schema.json")
        if not os.path.exists(schema_path):
            self.skipTest(f"{schema_path} is missing")
        schema = json.load(open(schema_path))
        resolver = jsonschema.RefResolver("file://" + SCHEMA_DIR + "/", schema)
        for opts in ({"gpus": 2, "fake_nvml": FAKENVML}, {}):
            with self.subTest(nvml=bool(opts)), FakeWsl2(**opts) as w:
                spec, _ = w.spec("--profile", "gaming")
                jsonschema.validate(spec, schema, resolver=resolver)
                self.assertEqual(nvbind("cdi", "validate", os.path.join(w.tmp, "spec.json")).returncode, 0)

    def test_not_wsl2_without_the_kernel_signature(self):
        """/dev/dxg alone (a leftover node, a test bed) is not WSL2: the Linux driver's host stays one,
        and doctor, info and the detection agree."""
        with FakeHost(gpus=1) as fh:
            os.mknod(os.path.join(fh.root, "dev/dxg"), 0o20666, os.makedev(10, 63))
            self.assertFalse(fh.nvbind_json("info", "--json")["wsl2"])
            self.assertFalse(json.loads(fh.nvbind("doctor", "--json").stdout)["wsl2_mode"])
            with open(os.path.join(fh.root, "proc/version"), "w") as f:
                f.write("Linux version 5.15.153.1-microsoft-standard-WSL2 (gcc) #1 SMP\n")
            self.assertTrue(json.loads(fh.nvbind("doctor", "--json").stdout)["wsl2_mode"])

    def test_no_device_nodes_to_make_on_wsl2(self):
        with FakeWsl2(gpus=1) as w:
            before = sorted(os.listdir(os.path.join(w.root, "dev")))
            r = w.nvbind("system", "create-device-nodes")
            self.assertEqual(r.returncode, 3, r.stderr)
            self.assertIn("reached through /dev/dxg", r.stderr)
            self.assertEqual(sorted(os.listdir(os.path.join(w.root, "dev"))), before)

    def test_doctor_on_wsl2_reports_wsl_not_modprobe(self):
        with FakeWsl2(gpus=1, fake_nvml=FAKENVML) as w:
            r = w.nvbind("doctor", "--json")
            d = json.loads(r.stdout)
            self.assertTrue(d["wsl2_mode"])
            self.assertEqual(d["gpu_count"], 1)
            self.assertNotIn("modprobe", r.stdout)
            self.assertNotIn("nvidiactl", r.stdout)
            names = {c["name"]: c["level"] for c in d["checks"]}
            self.assertEqual(names["device-node:/dev/dxg"], "ok")
            self.assertEqual(names["driver-store"], "ok")


@unittest.skipUnless(os.path.exists(FAKENVML), "the fake NVML is not built")
class Spec(unittest.TestCase):
    def test_hooks_mounts_and_devices(self):
        with FakeWsl2(gpus=2, fake_nvml=FAKENVML) as w:
            spec, _ = w.spec()
            names = [d["name"] for d in spec["devices"]]
            self.assertEqual(names, ["0", w.manifest["gpus"][0]["uuid"], "1", w.manifest["gpus"][1]["uuid"], "all"])
            edits = spec["containerEdits"]
            mounts = {m["containerPath"]: m["hostPath"] for m in edits["mounts"]}
            for lib in w.manifest["components"]["libraries"]:
                self.assertEqual(mounts[lib], w.root + lib)  # where CUDA on WSL looks: the same path
            self.assertIn(w.store + "/nvcubins.bin", mounts)
            hooks = [h["args"][2:] for h in edits["hooks"]]
            # One hook process: update-ldcache makes the link, then the cache.
            self.assertEqual(hooks, [["update-ldcache", "--link", w.store + "/nvidia-smi::/usr/bin/nvidia-smi",
                                      "--folder", w.store, "--folder", "/usr/lib/wsl/lib"]])
            self.assertNotIn("/dev/nvidiactl", json.dumps(spec))

    def test_gaming_profile_brings_wslg_and_mesa_d3d12(self):
        with FakeWsl2(gpus=1, fake_nvml=FAKENVML) as w:
            spec, _ = w.spec("--profile", "gaming")
            edits = spec["containerEdits"]
            env = env_of(edits)
            self.assertEqual({k: env.get(k) for k in ("DISPLAY", "WAYLAND_DISPLAY", "XDG_RUNTIME_DIR", "PULSE_SERVER",
                                                       "GALLIUM_DRIVER", "MESA_D3D12_DEFAULT_ADAPTER_NAME",
                                                       "LIBVA_DRIVER_NAME")},
                             {"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0", "XDG_RUNTIME_DIR": "/mnt/wslg/runtime-dir",
                              "PULSE_SERVER": "unix:/mnt/wslg/PulseServer", "GALLIUM_DRIVER": "d3d12",
                              "MESA_D3D12_DEFAULT_ADAPTER_NAME": "NVIDIA", "LIBVA_DRIVER_NAME": "d3d12"})
            mounts = {m["containerPath"]: m["hostPath"] for m in edits["mounts"]}
            self.assertEqual(mounts["/mnt/wslg/runtime-dir"], w.root + "/mnt/wslg/runtime-dir")
            self.assertEqual(mounts["/mnt/wslg/PulseServer"], w.root + "/mnt/wslg/PulseServer")
            self.assertEqual(mounts["/tmp/.X11-unix"], w.root + "/mnt/wslg/.X11-unix")
            self.assertNotIn("/mnt/wslg", mounts, "WSLg's whole folder (its logs, the session's files)")
        with FakeWsl2(gpus=1, fake_nvml=FAKENVML, wslg=False) as w:  # WSLg off: no socket to offer
            spec, _ = w.spec("--profile", "gaming")
            env = env_of(spec["containerEdits"])
            self.assertNotIn("DISPLAY", env)
            self.assertNotIn("WAYLAND_DISPLAY", env)
            self.assertEqual(env["GALLIUM_DRIVER"], "d3d12")
        with FakeHost(gpus=1) as fh:  # a Linux host: none of it
            r = fh.nvbind("cdi", "generate", "--profile", "gaming")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertNotIn("GALLIUM_DRIVER", r.stdout)
            self.assertNotIn("/mnt/wslg", r.stdout)


class Wsl2Check(unittest.TestCase):
    def test_ready_guest(self):
        with FakeWsl2(gpus=1, fake_nvml=FAKENVML if os.path.exists(FAKENVML) else None) as w:
            r = w.nvbind("wsl2", "check")
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertNotIn("[FAIL]", r.stdout)
            self.assertIn("WSL2 is ready for GPU containers", r.stdout)

    def test_each_missing_part_with_its_fix(self):
        with FakeWsl2(old_driver=True, dxcore=False, ld_conf=False, wslg=False, systemd=False) as w:
            r = w.nvbind("wsl2", "check", "--json")
            self.assertEqual(r.returncode, 1, r.stderr)
            d = json.loads(r.stdout)
            self.assertTrue(d["wsl2"])
            self.assertFalse(d["ready"])
            by = {}
            for c in d["checks"]:
                by.setdefault(c["name"], c)
            self.assertEqual(by["driver-store"]["level"], "error")
            self.assertIn("libcuda_loader.so", by["driver-store"]["message"])
            self.assertIn("driver", by["driver-store"]["fix"])
            self.assertEqual(by["libdxcore"]["level"], "error")
            self.assertIn("wsl --update", by["libdxcore"]["fix"])
            self.assertEqual(by["loader-path"]["level"], "warning")
            self.assertIn("ld.wsl.conf", by["loader-path"]["fix"])
            self.assertEqual(by["wslg"]["level"], "warning")
            self.assertIn("guiApplications", by["wslg"]["fix"])
            self.assertEqual(by["systemd"]["level"], "info")
            self.assertIn("systemd=true", by["systemd"]["fix"])

    def test_not_a_wsl2_guest(self):
        with FakeHost(gpus=1) as fh:
            r = fh.nvbind("wsl2", "check", "--json")
            self.assertEqual(r.returncode, 1)
            d = json.loads(r.stdout)
            self.assertFalse(d["wsl2"])
            levels = {c["name"]: c["level"] for c in d["checks"]}
            self.assertEqual(levels["wsl2-kernel"], "error")
            self.assertEqual(levels["device-node:/dev/dxg"], "error")

    def test_usage(self):
        self.assertEqual(nvbind("wsl2", "--help").returncode, 0)
        self.assertEqual(nvbind("wsl2", "check", "--help").returncode, 0)
        r = nvbind("wsl2", "chek")
        self.assertEqual(r.returncode, 2)
        self.assertEqual(len(r.stderr.splitlines()), 1)


@unittest.skipUnless(shutil.which("podman"), "podman is not installed")
@unittest.skipUnless(os.path.exists(FAKENVML), "the fake NVML is not built")
class Podman(unittest.TestCase):
    """Real podman containers on a fake WSL2 guest see /dev/dxg, the WSL libraries in their
    library cache, and nvidia-smi on PATH."""

    def install(self, w, *args):
        os.makedirs(SPEC_DIR, exist_ok=True)
        spec = os.path.join(SPEC_DIR, "nvbind-wsl2.test-gpu.json")
        self.addCleanup(lambda: os.path.exists(spec) and os.unlink(spec))
        r = w.nvbind("cdi", "generate", "--kind", KIND, "--output", spec, *args)
        self.assertEqual(r.returncode, 0, r.stderr)

    def container(self, device, cmd):
        r = subprocess.run(["podman", "run", "--rm", "--device", device, ensure_test_image(), "sh", "-c", cmd],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=180)
        self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace"))
        return r.stdout

    def cache_listing(self, raw):
        magic = [i for i in (raw.find(b"ld.so-1.7.0"), raw.find(b"glibc-ld.so.cache")) if i >= 0]
        self.assertTrue(magic, "no library cache in the container")
        with tempfile.NamedTemporaryFile() as f:
            f.write(raw[min(magic):])
            f.flush()
            return run(["ldconfig", "-p", "-C", f.name]).stdout

    def test_dxg_libraries_and_nvidia_smi_inside(self):
        with FakeWsl2(gpus=2, fake_nvml=FAKENVML) as w:
            self.install(w)
            for device in (KIND + "=all", KIND + "=1"):
                with self.subTest(device=device):
                    out = self.container(device, "stat -c '%F %t:%T' /dev/dxg; command -v nvidia-smi; nvidia-smi; "
                                                 "test -s " + w.store + "/nvcubins.bin && echo cubins; "
                                                 "echo CVD=$CUDA_VISIBLE_DEVICES; echo ===; cat /etc/ld.so.cache")
                    head, raw = out.split(b"===\n", 1)
                    lines = head.decode().splitlines()
                    self.assertEqual(lines[0], "character special file a:3f")
                    self.assertEqual(lines[1], "/usr/bin/nvidia-smi")
                    self.assertIn("NVIDIA-SMI (fakehost WSL2)", lines[2])
                    self.assertEqual(lines[3], "cubins")
                    # /dev/dxg reaches every GPU: one GPU's device limits CUDA to it, "all" does not.
                    self.assertEqual(lines[4], "CVD=" + ("" if device.endswith("=all") else w.manifest["gpus"][1]["uuid"]))
                    listing = self.cache_listing(raw)
                    self.assertIn("libcuda.so.1 (libc6,x86-64) => /usr/lib/wsl/", listing)
                    self.assertIn("libdxcore.so (libc6,x86-64) => /usr/lib/wsl/lib/libdxcore.so", listing)
                    self.assertIn("libnvidia-ml.so.1 (libc6,x86-64) => /usr/lib/wsl/", listing)

    def test_gaming_container_reaches_wslg(self):
        with FakeWsl2(gpus=1, fake_nvml=FAKENVML) as w:
            self.install(w, "--profile", "gaming")
            out = self.container(KIND + "=0", "for s in /tmp/.X11-unix/X0 /mnt/wslg/runtime-dir/wayland-0 "
                                              "/mnt/wslg/PulseServer; do test -S $s && echo socket $s; done; "
                                              "echo $DISPLAY $WAYLAND_DISPLAY $XDG_RUNTIME_DIR $PULSE_SERVER "
                                              "$GALLIUM_DRIVER").decode()
            self.assertEqual(out.splitlines(), [
                "socket /tmp/.X11-unix/X0", "socket /mnt/wslg/runtime-dir/wayland-0", "socket /mnt/wslg/PulseServer",
                ":0 wayland-0 /mnt/wslg/runtime-dir unix:/mnt/wslg/PulseServer d3d12"])


@unittest.skipUnless(shutil.which("runc"), "runc is not installed")
class RunRunc(unittest.TestCase):
    """`nvbind run --runtime runc` on WSL2 guests: a GPU NVML lists, and "all" when NVML lists
    none (before: "--gpu all: no GPU on this host", exit 2)."""

    def run_in(self, w, gpu, cmd):
        rootfs = make_busybox_rootfs(os.path.join(w.tmp, "rootfs"))
        r = w.nvbind("run", "--gpu", gpu, "--runtime", "runc", rootfs, "sh", "-c", cmd, timeout=180)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.splitlines()

    def test_all_without_nvml(self):
        with FakeWsl2() as w:
            out = self.run_in(w, "all", "stat -c '%F %t:%T' /dev/dxg; readlink /usr/bin/nvidia-smi; "
                                        "test -s /usr/lib/wsl/lib/libdxcore.so && echo dxcore")
            self.assertEqual(out, ["character special file a:3f", w.store + "/nvidia-smi", "dxcore"])

    @unittest.skipUnless(os.path.exists(FAKENVML), "the fake NVML is not built")
    def test_one_gpu_with_nvml(self):
        with FakeWsl2(gpus=2, fake_nvml=FAKENVML) as w:
            out = self.run_in(w, "1", "stat -c '%F' /dev/dxg; nvidia-smi")
            self.assertEqual(out[0], "character special file")
            self.assertIn("NVIDIA-SMI (fakehost WSL2)", out[1])


if __name__ == "__main__":
    unittest.main()
