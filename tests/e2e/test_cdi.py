"""CDI specs from nvbind: schema-valid on every layout, accepted by real podman, fresh or
stale as the host changes, and errors that leave nothing behind."""
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from nvbtest import FAKENVML, NVBIND, SCHEMA_DIR, FakeHost, nvbind, podman_run, run

SPEC_DIR = "/var/run/cdi"
SPEC = os.path.join(SPEC_DIR, "nvidia.com-gpu.json")


class SchemaValid(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        try:
            import jsonschema
        except ImportError:  # pragma: no cover - installed by scripts/install-deps
            raise unittest.SkipTest("python3-jsonschema is not installed")
        schema_path = os.path.join(SCHEMA_DIR, "schema.json")
        if not os.path.exists(schema_path):
            raise unittest.SkipTest(f"{schema_path} is missing")
        cls.schema = json.load(open(schema_path))
        cls.resolver = jsonschema.RefResolver("file://" + SCHEMA_DIR + "/", cls.schema)
        cls.jsonschema = jsonschema

    def test_every_layout_json_and_yaml(self):
        for layout in ("debian", "debian-packaged", "fedora", "arch", "operator"):
            with self.subTest(layout=layout), FakeHost(layout=layout, gpus=3, shuffle_minors=True) as fh:
                out = os.path.join(fh.tmp, "spec.json")
                r = fh.nvbind("cdi", "generate", "--output", out)
                self.assertEqual(r.returncode, 0, r.stderr)
                spec = json.load(open(out))
                self.jsonschema.validate(spec, self.schema, resolver=self.resolver)
                self.assertEqual(spec["cdiVersion"], "0.5.0")
                self.assertEqual(nvbind("cdi", "validate", out).returncode, 0)
                names = [d["name"] for d in spec["devices"]]
                self.assertEqual(names, ["0", fh.manifest["gpus"][0]["uuid"], "1", fh.manifest["gpus"][1]["uuid"],
                                         "2", fh.manifest["gpus"][2]["uuid"], "all"])
                yout = os.path.join(fh.tmp, "spec.yaml")
                r = fh.nvbind("cdi", "generate", "--output", yout)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertFalse(open(yout).read().lstrip().startswith("{"), "a .yaml output must be YAML")
                self.assertEqual(nvbind("cdi", "validate", yout).returncode, 0)
                # The YAML holds the same data: convert it back through an independent parser when present.
                try:
                    import yaml
                except ImportError:
                    yaml = None
                if yaml:
                    self.assertEqual(yaml.safe_load(open(yout)), spec)

    def test_device_nodes_carry_stat_data(self):
        with FakeHost(gpus=2, shuffle_minors=True) as fh:
            spec = json.loads(fh.nvbind("cdi", "generate").stdout)
            dev1 = next(d for d in spec["devices"] if d["name"] == "1")
            node = dev1["containerEdits"]["deviceNodes"][0]
            gpu1 = fh.manifest["gpus"][1]
            self.assertEqual(node["path"], f"/dev/nvidia{gpu1['minor']}")
            self.assertEqual(node["hostPath"], os.path.join(fh.root, f"dev/nvidia{gpu1['minor']}"))
            self.assertEqual((node["type"], node["major"], node["minor"], node["fileMode"]), ("c", 195, gpu1["minor"], 0o666))
            edits = spec["containerEdits"]
            self.assertIn("NVIDIA_VISIBLE_DEVICES=void", edits["env"])
            for m in edits["mounts"]:
                want = (["nosuid", "nodev", "noexec", "rbind", "rprivate"] if "/run/" in m["containerPath"]
                        else ["ro", "nosuid", "nodev", "rbind", "rprivate"])
                self.assertEqual(m["options"], want, m)
            hooks = edits["hooks"]
            self.assertTrue(all(h["hookName"] == "createContainer" and h["path"] == os.path.realpath(NVBIND)
                                for h in hooks))
            self.assertIn("libcuda.so.1::/usr/lib/x86_64-linux-gnu/libcuda.so", hooks[0]["args"])
            self.assertIn("libGLX_nvidia.so.0::/usr/lib/x86_64-linux-gnu/libGLX_indirect.so.0", hooks[0]["args"])

    def test_naming_strategies_and_bolt_kind(self):
        with FakeHost(gpus=2) as fh:
            spec = json.loads(fh.nvbind("cdi", "generate", "--device-name-strategy", "type-index").stdout)
            self.assertEqual([d["name"] for d in spec["devices"]], ["gpu0", "gpu1", "all"])
            spec = json.loads(fh.nvbind("cdi", "generate", "--kind", "nvidia.com/gpu-bolt").stdout)
            self.assertEqual(spec["kind"], "nvidia.com/gpu-bolt")
            self.assertIn("BOLT_GPU_ENABLED=1", spec["containerEdits"]["env"])
            self.jsonschema.validate(spec, self.schema, resolver=self.resolver)


class GenerateErrors(unittest.TestCase):
    def assertRefused(self, options, code, says=None, folder=""):
        """On a one-GPU host, `cdi generate OPTIONS --output OUT` (OUT: x.json in the host's
        folder, or in its missing subfolder `folder`) exits `code`, says `says` (by default
        OUT) on stderr, and makes neither OUT nor `folder`."""
        with FakeHost(gpus=1) as fh:
            out = os.path.join(fh.tmp, folder, "x.json")
            r = fh.nvbind("cdi", "generate", *options, "--output", out)
            self.assertEqual(r.returncode, code)
            self.assertIn(says or out, r.stderr)
            self.assertFalse(os.path.exists(os.path.dirname(out) if folder else out))

    def test_invalid_kind(self):
        self.assertRefused(["--kind", "nvidia.com/bad kind"], 2, "--kind 'nvidia.com/bad kind'")

    def test_unknown_strategy(self):
        self.assertRefused(["--device-name-strategy", "index,serial"], 2, "unknown strategy 'serial'")

    def test_unwritable_output(self):
        self.assertRefused([], 6, folder="no-such-dir")

    def test_full_disk_leaves_old_file(self):
        with FakeHost(gpus=8) as fh:
            mnt = os.path.join(fh.tmp, "small")
            os.mkdir(mnt)
            if run(["mount", "-t", "tmpfs", "-o", "size=12k", "tmpfs", mnt]).returncode != 0:
                self.skipTest("cannot mount a tmpfs here")
            try:
                out = os.path.join(mnt, "nvidia.com-gpu.json")
                open(out, "w").write('{"old": true}\n')
                r = fh.nvbind("cdi", "generate", "--output", mnt)
                self.assertEqual(r.returncode, 6, r.stderr)
                self.assertIn("No space left", r.stderr)
                self.assertEqual(open(out).read(), '{"old": true}\n')
                self.assertEqual(os.listdir(mnt), ["nvidia.com-gpu.json"])
            finally:
                run(["umount", mnt])

    def test_output_dir_conventional_name_and_mode(self):
        with FakeHost(gpus=1) as fh:
            r = fh.nvbind("cdi", "generate", "--format", "yaml", "--output", fh.tmp)
            self.assertEqual(r.returncode, 0, r.stderr)
            path = os.path.join(fh.tmp, "nvidia.com-gpu.yaml")
            self.assertEqual(os.stat(path).st_mode & 0o777, 0o644)
            self.assertEqual(nvbind("cdi", "validate", path).returncode, 0)

    def test_output_to_new_folder_makes_the_folder(self):
        """--output DIR/ for a folder that does not exist yet (a fresh /etc/cdi/) makes the
        folder and writes the conventional file in it; it used to write a file named DIR."""
        with FakeHost(gpus=1) as fh:
            folder = os.path.join(fh.tmp, "etc", "cdi")
            r = fh.nvbind("cdi", "generate", "--output", folder + "/")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertTrue(os.path.isdir(folder), "--output DIR/ must leave a folder, not a file")
            self.assertEqual(os.listdir(folder), ["nvidia.com-gpu.json"])
            self.assertEqual(os.stat(folder).st_mode & 0o777, 0o755)
            self.assertEqual(nvbind("cdi", "validate", os.path.join(folder, "nvidia.com-gpu.json")).returncode, 0)
            # A bad option still leaves nothing behind, not even the folder.
            other = os.path.join(fh.tmp, "other")
            r = fh.nvbind("cdi", "generate", "--kind", "bad kind", "--output", other + "/")
            self.assertEqual(r.returncode, 2)
            self.assertFalse(os.path.exists(other))


class Check(unittest.TestCase):
    def generate(self, fh):
        path = os.path.join(fh.tmp, "spec.json")
        r = fh.nvbind("cdi", "generate", "--output", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        return path

    def test_fresh(self):
        with FakeHost(gpus=2) as fh:
            path = self.generate(fh)
            r = fh.nvbind("cdi", "check", path)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("fresh", r.stdout)

    def test_driver_version_changed(self):
        for layout in ("debian", "debian-packaged"):  # packaged: libcuda's container path has no version
            with self.subTest(layout=layout):
                self.check_driver_version_changed(layout)

    def check_driver_version_changed(self, layout):
        with FakeHost(layout=layout, gpus=2) as fh:
            path = self.generate(fh)
            vfile = os.path.join(fh.root, "proc/driver/nvidia/version")
            text = open(vfile).read().replace("550.54.14", "555.42.02")
            open(vfile, "w").write(text)
            r = fh.nvbind("cdi", "check", path)
            self.assertEqual(r.returncode, 1)
            self.assertIn("driver version changed: spec is for 550.54.14, host runs 555.42.02", r.stdout)

    def test_uvm_major_changed(self):
        with FakeHost(gpus=1) as fh:
            path = self.generate(fh)
            node = os.path.join(fh.root, "dev/nvidia-uvm")
            os.unlink(node)
            os.mknod(node, 0o666 | 0o020000, os.makedev(507, 0))
            r = fh.nvbind("cdi", "check", path)
            self.assertEqual(r.returncode, 1)
            self.assertIn("device node /dev/nvidia-uvm changed: spec has 510:0, host has 507:0", r.stdout)

    def test_gpu_removed_and_file_missing(self):
        with FakeHost(gpus=2) as fh:
            path = self.generate(fh)
            gone = fh.manifest["gpus"][1]
            shutil.rmtree(os.path.join(fh.root, "proc/driver/nvidia/gpus", gone["pci_bus_id"]))
            lib = os.path.join(fh.root, "usr/lib/x86_64-linux-gnu/libnvidia-encode.so.550.54.14")
            os.unlink(lib)
            r = fh.nvbind("cdi", "check", path)
            self.assertEqual(r.returncode, 1)
            self.assertIn(f"GPU removed: {gone['uuid']} is no longer on the host", r.stdout)
            self.assertIn(f"mounted file missing: {lib}", r.stdout)

    def test_hook_binary_gone(self):
        with FakeHost(gpus=1) as fh:
            copy = os.path.join(fh.tmp, "nvbind-copy")
            shutil.copy(NVBIND, copy)
            path = os.path.join(fh.tmp, "spec.json")
            r = run([copy, *fh.args, "cdi", "generate", "--output", path])
            self.assertEqual(r.returncode, 0, r.stderr)
            os.unlink(copy)
            r = fh.nvbind("cdi", "check", path)
            self.assertEqual(r.returncode, 1)
            self.assertIn(f"hook binary {copy} is gone", r.stdout)


@unittest.skipUnless(os.path.exists(FAKENVML), "the fake NVML is not built")
class Mig(unittest.TestCase):
    """MIG devices come from NVML, which cdi generate and check load only when /proc shows
    MIG instances, bounded in time."""

    def generate(self, fh, *extra):
        path = os.path.join(fh.tmp, "spec.json")
        r = fh.nvbind("cdi", "generate", "--output", path, *extra)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.load(open(path)), r

    def test_generate_lists_mig_devices(self):
        with FakeHost(gpus=2, mig=True, fake_nvml=FAKENVML) as fh:
            spec, r = self.generate(fh)
            self.assertEqual(r.stderr, "")
            devices = {d["name"]: d["containerEdits"] for d in spec["devices"]}
            gpu0 = fh.manifest["gpus"][0]
            for mig in fh.manifest["detailed"]["gpus"][0]["mig_devices"]:
                for name in (mig["name"], mig["uuid"]):
                    self.assertIn(name, devices)
                    nodes = [n["path"] for n in devices[name]["deviceNodes"]]
                    self.assertEqual(nodes, [f"/dev/nvidia{gpu0['minor']}", *mig["device_nodes"]])

    def test_nvml_that_cannot_answer_gives_a_warning(self):
        with FakeHost(gpus=1, mig=True, fake_nvml=FAKENVML, nvml_overrides={"init_delay_ms": 60000}) as fh:
            start = time.monotonic()
            spec, r = self.generate(fh)
            self.assertLess(time.monotonic() - start, 20, "NVML is bounded in time")
            self.assertIn("did not answer within", r.stderr)
            self.assertIn("nvbind: warning: MIG: a GPU has MIG instances", r.stderr)
            self.assertEqual([d["name"] for d in spec["devices"]], ["0", fh.manifest["gpus"][0]["uuid"], "all"])

    def test_no_mig_keeps_nvml_off_the_path(self):
        # A fake NVML that would hang: a host without MIG must not load it.
        with FakeHost(gpus=1, fake_nvml=FAKENVML, nvml_overrides={"init_delay_ms": 60000}) as fh:
            start = time.monotonic()
            spec, r = self.generate(fh)
            self.assertLess(time.monotonic() - start, 3)
            self.assertEqual(r.stderr, "")

    def test_check_reports_a_changed_mig_layout(self):
        with FakeHost(gpus=1, mig=True, fake_nvml=FAKENVML) as fh:
            for naming in ("index,uuid", "index"):
                with self.subTest(naming=naming):
                    self.generate(fh, "--device-name-strategy", naming)
                    path = os.path.join(fh.tmp, "spec.json")
                    data_path = fh.manifest["nvml"]["data"]
                    saved = open(data_path).read()
                    data = json.loads(saved)
                    old = data["gpus"][0]["migs"].pop()
                    open(data_path, "w").write(json.dumps(data))
                    try:
                        r = fh.nvbind("cdi", "check", path)
                    finally:
                        open(data_path, "w").write(saved)
                    self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
                    self.assertIn("MIG device removed: " + (old["uuid"] if "uuid" in naming else ""), r.stdout)
                    self.assertEqual(fh.nvbind("cdi", "check", path).returncode, 0)


class ListSpecs(unittest.TestCase):
    def test_priority_and_conflicts(self):
        with FakeHost(gpus=1) as fh:
            a, b = os.path.join(fh.tmp, "etc-cdi"), os.path.join(fh.tmp, "run-cdi")
            os.mkdir(a)
            os.mkdir(b)
            self.assertEqual(fh.nvbind("cdi", "generate", "--output", a).returncode, 0)
            self.assertEqual(fh.nvbind("cdi", "generate", "--format", "yaml", "--output", b).returncode, 0)
            r = nvbind("cdi", "list", "--spec-dir", a, "--spec-dir", b, "--json")
            self.assertEqual(r.returncode, 0, r.stderr)
            files = json.loads(r.stdout)
            self.assertEqual([f["path"] for f in files], [os.path.join(a, "nvidia.com-gpu.json"),
                                                         os.path.join(b, "nvidia.com-gpu.yaml")])
            self.assertIn("nvidia.com/gpu=0", files[0]["devices"])
            self.assertTrue(files[0]["conflicts"] and files[1]["conflicts"])


@unittest.skipUnless(shutil.which("podman"), "podman is not installed")
class Podman(unittest.TestCase):
    """Real podman reads the spec from /var/run/cdi and runs real containers with it."""

    def setUp(self):
        os.makedirs(SPEC_DIR, exist_ok=True)
        self.fh = FakeHost(gpus=3, shuffle_minors=True)
        self.addCleanup(self.fh.remove)
        self.addCleanup(lambda: [os.unlink(p) for p in (SPEC, SPEC[:-4] + "yaml") if os.path.exists(p)])

    def install(self, fmt="json"):
        r = self.fh.nvbind("cdi", "generate", "--format", fmt, "--output", SPEC_DIR)
        self.assertEqual(r.returncode, 0, r.stderr)

    def nodes_seen(self, device):
        r = podman_run(["--device", device], "ls /dev | grep '^nvidia[0-9]' | sort; stat -c '%t:%T' /dev/nvidia[0-9]*")
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.split()

    def test_single_gpu_by_index(self):
        self.install()
        gpu1 = self.fh.manifest["gpus"][1]
        seen = self.nodes_seen("nvidia.com/gpu=1")
        self.assertEqual(seen, [f"nvidia{gpu1['minor']}", "c3:%x" % gpu1["minor"]])

    def test_all_and_uuid(self):
        self.install()
        seen = self.nodes_seen("nvidia.com/gpu=all")
        self.assertEqual(seen[:3], sorted(f"nvidia{g['minor']}" for g in self.fh.manifest["gpus"]))
        gpu2 = self.fh.manifest["gpus"][2]
        self.assertEqual(self.nodes_seen(f"nvidia.com/gpu={gpu2['uuid']}")[0], f"nvidia{gpu2['minor']}")

    def check_inside(self):
        cmd = ("grep ' /usr/lib/x86_64-linux-gnu/libcuda.so.550.54.14 ' /proc/self/mountinfo; "
               "readlink /usr/lib/x86_64-linux-gnu/libcuda.so; echo VISIBLE=$NVIDIA_VISIBLE_DEVICES; "
               "test -f /usr/share/vulkan/icd.d/nvidia_icd.json && echo ICD=yes")
        r = run(["podman", "run", "--rm", "--device", "nvidia.com/gpu=0", "localhost/nvbind-test:latest", "sh", "-c",
                 cmd])
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout
        mount_line = out.splitlines()[0]
        self.assertIn(" ro,", mount_line.split(" - ")[0] + ",")
        self.assertIn("\nlibcuda.so.1\n", out)
        self.assertIn("VISIBLE=void", out)
        self.assertIn("ICD=yes", out)
        raw = subprocess.run(["podman", "run", "--rm", "--device", "nvidia.com/gpu=0", "localhost/nvbind-test:latest",
                              "cat", "/etc/ld.so.cache"], stdout=subprocess.PIPE).stdout
        with tempfile.NamedTemporaryFile() as f:
            f.write(raw)
            f.flush()
            listing = run(["ldconfig", "-p", "-C", f.name]).stdout
        self.assertIn("libcuda.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libcuda.so.1", listing)

    def test_inside_the_container_json(self):
        self.install("json")
        self.check_inside()

    def test_inside_the_container_yaml(self):
        self.install("yaml")
        self.check_inside()


@unittest.skipUnless(shutil.which("podman"), "podman is not installed")
class PodmanPackagedDriver(unittest.TestCase):
    """A driver packaged the Debian way (update-alternatives links into package folders): a
    container's programs find each file where they look for it. Before, binaries were mounted
    at the alternatives' target only, and `nvidia-smi` failed with "executable file not found
    in $PATH"."""

    KIND = "nvbind-pkg.test/gpu"  # a kind of its own: other tests install nvidia.com/gpu

    def test_programs_find_the_driver_where_they_look(self):
        with FakeHost(layout="debian-packaged", gpus=1) as fh:
            os.makedirs(SPEC_DIR, exist_ok=True)
            spec = os.path.join(SPEC_DIR, "nvbind-pkg.test-gpu.json")
            self.addCleanup(lambda: os.path.exists(spec) and os.unlink(spec))
            r = fh.nvbind("cdi", "generate", "--kind", self.KIND, "--output", spec)
            self.assertEqual(r.returncode, 0, r.stderr)
            lib = "/usr/lib/x86_64-linux-gnu"
            ver = fh.manifest["driver"]["version"]
            cmd = ("nvidia-smi -L; "
                   f"for f in /usr/share/nvidia/nvoptix.bin /usr/share/vulkan/icd.d/nvidia_icd.json "
                   f"{lib}/vdpau/libvdpau_nvidia.so.1 {lib}/gbm/nvidia-drm_gbm.so {lib}/libcuda.so.1 "
                   f"{lib}/libnvidia-vulkan-producer.so.{ver}; do test -s $f && echo found $f; done; "
                   f"test -e {lib}/nvidia/current || echo no package folder; cat /etc/ld.so.cache")
            r = subprocess.run(["podman", "run", "--rm", "--device", self.KIND + "=0", "localhost/nvbind-test:latest",
                                "sh", "-c", cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
            self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace"))
            out = r.stdout.decode(errors="replace")
            gpu = fh.manifest["gpus"][0]
            self.assertTrue(out.startswith("GPU 0: %s (UUID: %s)\n" % (gpu["name"], gpu["uuid"])),
                            "nvidia-smi in the container's PATH: " + r.stderr.decode(errors="replace")[-500:])
            for f in ("/usr/share/nvidia/nvoptix.bin", "/usr/share/vulkan/icd.d/nvidia_icd.json",
                      f"{lib}/vdpau/libvdpau_nvidia.so.1", f"{lib}/gbm/nvidia-drm_gbm.so", f"{lib}/libcuda.so.1",
                      f"{lib}/libnvidia-vulkan-producer.so.{ver}"):
                self.assertIn("found " + f + "\n", out)
            self.assertIn("no package folder\n", out, "the package folder is not the container's business")
            with tempfile.NamedTemporaryFile() as f:
                magic = [i for i in (r.stdout.find(b"ld.so-1.7.0"), r.stdout.find(b"glibc-ld.so.cache")) if i >= 0]
                f.write(r.stdout[min(magic):])
                f.flush()
                listing = run(["ldconfig", "-p", "-C", f.name]).stdout
            self.assertIn(f"libcuda.so.1 (libc6,x86-64) => {lib}/libcuda.so.1", listing)
            self.assertIn(f"libcuda.so (libc6,x86-64) => {lib}/libcuda.so", listing)


def real_host():
    """tests/realhost's Debian-packaged host and driver-less image, or a reason to skip."""
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(os.path.dirname(here), "realhost", "realhost.py")
    if not os.path.exists(path):
        raise unittest.SkipTest("tests/realhost/realhost.py is not in this tree")
    import importlib.util
    spec = importlib.util.spec_from_file_location("realhost", path)
    realhost = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(realhost)
    try:
        return realhost.ensure()
    except realhost.RealHostUnavailable as e:
        raise unittest.SkipTest(str(e))


@unittest.skipUnless(shutil.which("podman"), "podman is not installed")
class RealPackaging(unittest.TestCase):
    """Debian's own NVIDIA packages (alternatives links, nvidia/current folders): inside a
    driver-less Debian image, each driver file is where its program looks, and the library
    cache keeps libcuda after the image runs ldconfig again."""

    KIND = "nvbind-real.test/gpu"

    def test_files_where_programs_look(self):
        host = real_host()
        spec = os.path.join(SPEC_DIR, "nvbind-real.test-gpu.json")
        os.makedirs(SPEC_DIR, exist_ok=True)
        self.addCleanup(lambda: os.path.exists(spec) and os.unlink(spec))
        r = nvbind("--root", host["root"], "cdi", "generate", "--kind", self.KIND, "--output", spec)
        self.assertEqual(r.returncode, 0, r.stderr)
        lib = "/usr/lib/x86_64-linux-gnu"
        files = ["/usr/share/nvidia/nvoptix.bin", "/usr/share/vulkan/icd.d/nvidia_icd.json",
                 "/usr/share/glvnd/egl_vendor.d/10_nvidia.json", f"{lib}/vdpau/libvdpau_nvidia.so.1",
                 f"{lib}/gbm/nvidia-drm_gbm.so", f"{lib}/libcuda.so.1", f"{lib}/libnvidia-ml.so.1",
                 f"{lib}/libnvidia-vulkan-producer.so.{host['driver_version']}"]
        cmd = ("command -v nvidia-smi; "
               f"for f in {' '.join(files)}; do test -s $f && echo found $f; done; "
               "ldconfig -p | grep -F 'libcuda.so.1 (libc6,x86-64)'; ldconfig; "
               "echo after; ldconfig -p | grep -F 'libcuda.so.1 (libc6,x86-64)'")
        r = run(["podman", "run", "--rm", "--device", self.KIND + "=0", host["image"], "sh", "-c", cmd], timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout
        self.assertTrue(out.startswith("/usr/bin/nvidia-smi\n"), out)
        for f in files:
            self.assertIn(f"found {f}\n", out)
        # /lib is /usr/lib in the image (merged /usr): the image's own ldconfig may name either.
        cached = r"(?m)libcuda\.so\.1 \(libc6,x86-64\) => (/usr)?/lib/x86_64-linux-gnu/libcuda\.so\.1$"
        before, after = out.split("\nafter\n")
        self.assertRegex(before, cached)
        self.assertRegex(after, cached, "a later ldconfig in the image keeps libcuda")


if __name__ == "__main__":
    unittest.main()
