"""Every vendor (issue 13): fake hosts of AMD (with KFD topology), Intel (i915 and xe), nouveau,
another DRM driver, and an NVIDIA + Intel laptop. `info`, `doctor` and `cdi generate` on each,
and real podman and runc containers that get exactly the requested GPU's nodes (and /dev/kfd
for AMD), checked from inside the container."""
import json
import os
import shutil
import tempfile
import unittest

from nvbtest import NVBIND, FakeHost, SpecDirGuard, ensure_test_image, make_busybox_rootfs, run

HAVE_PODMAN = shutil.which("podman") is not None
HAVE_RUNC = shutil.which("runc") is not None
SPEC_DIR = "/var/run/cdi"
VENDOR_SPECS = ("amd.com-gpu.json", "intel.com-gpu.json", "nvbind.drm-nouveau.json")

# name -> fakehost options
LAYOUTS = {
    "amd": dict(no_driver=True, gpus=0, drm_gpus=["amd", "amd-mi210", "amd-nokfd"]),
    "intel": dict(no_driver=True, gpus=0, drm_gpus=["intel", "intel-xe"]),
    "nouveau": dict(no_driver=True, gpus=0, drm_gpus=["nouveau"]),
    "other-drm": dict(no_driver=True, gpus=0, drm_gpus=["vmwgfx"]),
    "hybrid": dict(gpus=1, drm_gpus=["intel"]),
}

INFO_KEYS = ("kind", "index", "vendor", "driver", "pci_bus_id", "vendor_id", "device_id", "numa_node", "kfd_node",
             "device_nodes")


def kinds_of(manifest):
    out = []
    for g in manifest["drm_gpus"]:
        if g["kind"] not in out:
            out.append(g["kind"])
    return out


class Layouts(unittest.TestCase):
    hosts = {}

    @classmethod
    def setUpClass(cls):
        cls.hosts = {name: FakeHost(**opts) for name, opts in LAYOUTS.items()}

    @classmethod
    def tearDownClass(cls):
        for h in cls.hosts.values():
            h.remove()

    def test_info_lists_every_gpu_with_vendor_and_driver(self):
        for name, h in self.hosts.items():
            with self.subTest(layout=name):
                info = h.nvbind_json("info", "--json")
                got = [{k: g[k] for k in INFO_KEYS} for g in info["drm_gpus"]]
                want = [{k: g[k] for k in INFO_KEYS} for g in h.manifest["drm_gpus"]]
                self.assertEqual(got, want)
                if h.manifest["driver"] is None:
                    self.assertIsNone(info["driver"])
                    self.assertEqual(info["gpus"], [])
                else:
                    self.assertEqual(len(info["gpus"]), len(h.manifest["gpus"]))
                text = h.nvbind("info")
                self.assertEqual(text.returncode, 0, text.stderr)
                for g in h.manifest["drm_gpus"]:
                    self.assertIn("%s=%d: %s" % (g["kind"], g["index"], g["vendor"]), text.stdout)

    def test_amd_kfd_pairs_by_render_minor(self):
        info = self.hosts["amd"].nvbind_json("info", "--json")
        by_bus = {g["pci_bus_id"]: g for g in info["drm_gpus"]}
        for g in self.hosts["amd"].manifest["drm_gpus"]:
            nodes = by_bus[g["pci_bus_id"]]["device_nodes"]
            if g["kfd_node"] is None:  # amdgpu without a KFD node: graphics only, no /dev/kfd
                self.assertNotIn("/dev/kfd", nodes)
            else:
                self.assertEqual(nodes[-1], "/dev/kfd")

    def test_other_drm_driver_gets_render_node_only(self):
        info = self.hosts["other-drm"].nvbind_json("info", "--json")
        (g,) = info["drm_gpus"]
        self.assertEqual(g["kind"], "nvbind.drm/vmwgfx")
        self.assertEqual([os.path.dirname(p) + "/" + os.path.basename(p)[:7] for p in g["device_nodes"]],
                         ["/dev/dri/renderD"])

    def spec(self, h, kind):
        tmp = tempfile.mkdtemp(prefix="nvbind-vendor-spec-")
        try:
            out = os.path.join(tmp, "spec.json")
            r = h.nvbind("cdi", "generate", "--kind", kind, "--output", out)
            self.assertEqual(r.returncode, 0, r.stderr)
            v = run([NVBIND, "cdi", "validate", out])
            self.assertEqual(v.returncode, 0, v.stderr)
            with open(out) as f:
                return json.load(f)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_cdi_generate_per_kind_nodes_only(self):
        for name, h in self.hosts.items():
            for kind in kinds_of(h.manifest):
                with self.subTest(layout=name, kind=kind):
                    spec = self.spec(h, kind)
                    self.assertEqual(spec["kind"], kind)
                    self.assertNotIn("containerEdits", spec)  # no host library, hook or variable
                    devices = {d["name"]: d["containerEdits"] for d in spec["devices"]}
                    gpus = [g for g in h.manifest["drm_gpus"] if g["kind"] == kind]
                    names = []
                    for g in gpus:
                        names += [str(g["index"]), g["pci_bus_id"]]
                        for n in (str(g["index"]), g["pci_bus_id"]):
                            self.assertEqual(set(devices[n]), {"deviceNodes"})
                            got = [(d["path"], d["hostPath"], d["major"], d["minor"]) for d in devices[n]["deviceNodes"]]
                            want = [(d["path"], d["host_path"], d["major"], d["minor"]) for d in g["nodes"]]
                            self.assertEqual(got, want)
                    self.assertEqual([d["name"] for d in spec["devices"]], names + ["all"])
                    every = sorted({p for g in gpus for p in g["device_nodes"]})
                    self.assertEqual(sorted(d["path"] for d in devices["all"]["deviceNodes"]), every)

    def test_hybrid_nvidia_spec_never_carries_the_intel_node(self):
        h = self.hosts["hybrid"]
        nv = self.spec(h, "nvidia.com/gpu")
        text = json.dumps(nv)
        (intel,) = h.manifest["drm_gpus"]
        for p in intel["device_nodes"]:
            self.assertNotIn('"%s"' % p, text)
        intel_spec = json.dumps(self.spec(h, "intel.com/gpu"))
        self.assertNotIn("/dev/nvidia", intel_spec)

    def test_no_nvidia_driver_nvidia_requests_say_what_the_host_has(self):
        h = self.hosts["amd"]
        r = h.nvbind("cdi", "generate")
        self.assertEqual(r.returncode, 3)
        self.assertIn("amd.com/gpu", r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1)
        r = h.nvbind("cdi", "generate", "--kind", "intel.com/gpu")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("no GPU of that kind", r.stderr)
        # A vendor kind the hybrid host lacks is never an NVIDIA spec under another name.
        r = self.hosts["hybrid"].nvbind("cdi", "generate", "--kind", "amd.com/gpu")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertEqual(r.stdout, "")

    def test_cdi_check_vendor_spec_fresh_then_stale(self):
        with FakeHost(no_driver=True, gpus=0, drm_gpus=["amd"]) as h:
            spec = os.path.join(h.tmp, "amd.json")
            self.assertEqual(h.nvbind("cdi", "generate", "--kind", "amd.com/gpu", "-o", spec).returncode, 0)
            r = h.nvbind("cdi", "check", spec)
            self.assertEqual((r.returncode, r.stdout), (0, spec + ": fresh\n"), r.stderr)
            (g,) = h.manifest["drm_gpus"]
            render = next(n for n in g["nodes"] if "renderD" in n["path"])
            os.unlink(render["host_path"])
            os.mknod(render["host_path"], 0o20666, os.makedev(226, render["minor"] + 7))  # a renumbered node
            r = h.nvbind("cdi", "check", spec)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn(spec + ": stale: device changed: amd.com/gpu=0 has other device nodes", r.stdout)
            # An NVIDIA spec checked on this host is stale, not a crash or a fresh answer.
            nv = os.path.join(h.tmp, "nv.json")
            self.assertEqual(self.hosts["hybrid"].nvbind("cdi", "generate", "-o", nv).returncode, 0)
            r = h.nvbind("cdi", "check", nv)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn("stale: no NVIDIA driver on the host", r.stdout)

    def test_profile_for_vendor_spec_says_so(self):
        r = self.hosts["intel"].nvbind("cdi", "generate", "--kind", "intel.com/gpu", "--profile", "gaming")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("profile 'gaming'", r.stderr)
        self.assertNotIn("NVIDIA_DRIVER_CAPABILITIES", r.stdout)

    def test_doctor_reports_what_a_non_nvidia_host_can_do(self):
        for name in ("amd", "intel", "nouveau"):
            with self.subTest(layout=name):
                h = self.hosts[name]
                r = h.nvbind("doctor", "--json")
                d = json.loads(r.stdout)
                self.assertTrue(d["gpus_available"])
                self.assertEqual(d["other_gpu_count"], len(h.manifest["drm_gpus"]))
                errors = [c for c in d["checks"] if c["level"] == "error"]
                self.assertFalse([c for c in errors if c["name"] in ("driver", "gpus", "libraries")], errors)
                gpu_checks = [c["name"] for c in d["checks"] if c["name"].startswith("gpu:")]
                self.assertEqual(gpu_checks, ["gpu:%s=%d" % (g["kind"], g["index"]) for g in h.manifest["drm_gpus"]])
        d = json.loads(self.hosts["amd"].nvbind("doctor", "--json").stdout)
        kfd = {c["name"]: c["level"] for c in d["checks"] if c["name"].startswith("kfd:")}
        self.assertEqual(kfd, {"kfd:amd.com/gpu=0": "ok", "kfd:amd.com/gpu=1": "ok", "kfd:amd.com/gpu=2": "info"})

    def test_docker_cdi_and_legacy_forms(self):
        h = self.hosts["amd"]
        g = h.manifest["drm_gpus"][0]
        r = h.nvbind("run", "--dry-run", "--runtime", "docker", "--gpu", "amd.com/gpu=0", "img", "true")
        self.assertEqual(r.returncode, 0, r.stderr)
        cdi, legacy = r.stdout.splitlines()
        self.assertEqual(cdi, "docker run --rm --device amd.com/gpu=0 -- img true")
        self.assertEqual(legacy, "docker run --rm " + " ".join(
            "--device %s:%s" % (n["host_path"], n["path"]) for n in g["nodes"]) + " -- img true")

    def test_run_request_errors(self):
        h = self.hosts["amd"]
        cases = [
            (["--gpu", "amd.com/gpu=9"], 2, "has no GPU named '9'"),
            (["--gpu", "intel.com/gpu=0"], 2, "no GPU of that kind"),
            (["--gpu", "0"], 3, "amd.com/gpu"),
            (["--runtime", "bolt", "--gpu", "amd.com/gpu=0"], 2, "Bolt capsules take NVIDIA GPUs"),
            (["--isolation", "exclusive", "--gpu", "amd.com/gpu=0"], 2, "NVIDIA GPUs only"),
        ]
        for args, code, text in cases:
            with self.subTest(args=args):
                runtime = [] if "--runtime" in args else ["--runtime", "podman"]
                r = h.nvbind("run", "--dry-run", *runtime, *args, "img", "true")
                self.assertEqual(r.returncode, code, r.stderr)
                self.assertIn(text, r.stderr)
                self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        h2 = self.hosts["hybrid"]
        r = h2.nvbind("run", "--dry-run", "--runtime", "podman", "--gpu", "intel.com/gpu=0,nvidia.com/gpu=0", "i", "true")
        self.assertEqual(r.returncode, 2, r.stderr)


class Containers(unittest.TestCase):
    """Real containers: the nodes seen from inside are exactly the requested GPU's."""

    @classmethod
    def setUpClass(cls):
        cls.amd = FakeHost(**LAYOUTS["amd"])
        cls.hybrid = FakeHost(**LAYOUTS["hybrid"])
        cls.guard = SpecDirGuard(VENDOR_SPECS)
        cls.guard.save()
        cls.tmp = tempfile.mkdtemp(prefix="nvbind-vendor-run-")
        cls.config = os.path.join(cls.tmp, "nvbind.toml")
        with open(cls.config, "w") as f:
            f.write('[isolation]\nstate_dir = "%s/state"\naudit_log = "%s/audit.log"\n' % (cls.tmp, cls.tmp))

    @classmethod
    def tearDownClass(cls):
        cls.guard.restore()
        cls.amd.remove()
        cls.hybrid.remove()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    # what the container sees: every node under /dev/dri and /dev/kfd, with its numbers
    SCRIPT = "for n in /dev/dri/* /dev/kfd /dev/nvidia*; do test -e $n && stat -c '%n %t:%T' $n; done; exit 0"

    def nodes_seen(self, out):
        return sorted(line.split()[0] for line in out.splitlines() if line.startswith("/dev/"))

    def expect(self, gpu):
        return sorted(gpu["device_nodes"])

    def nvbind_run(self, host, *args):
        return run([NVBIND, *host.args, "--config", self.config, "run", *args], env={"TMPDIR": self.tmp})

    @unittest.skipUnless(HAVE_PODMAN, "podman is not installed")
    def test_podman_amd_gpu_by_index_and_bus_id(self):
        image = ensure_test_image()
        gpus = self.amd.manifest["drm_gpus"]
        for name in ("1", gpus[0]["pci_bus_id"], gpus[2]["pci_bus_id"]):
            with self.subTest(name=name):
                g = next(x for x in gpus if name in (str(x["index"]), x["pci_bus_id"]))
                r = self.nvbind_run(self.amd, "--runtime", "podman", "--gpu", "amd.com/gpu=" + name, image,
                                    "sh", "-c", self.SCRIPT)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(self.nodes_seen(r.stdout), self.expect(g))
                for n in g["nodes"]:  # the same device numbers as on the host
                    self.assertIn("%s %x:%x" % (n["path"], n["major"], n["minor"]), r.stdout.splitlines())
        self.assertTrue(os.path.exists(os.path.join(SPEC_DIR, "amd.com-gpu.json")))

    @unittest.skipUnless(HAVE_PODMAN, "podman is not installed")
    def test_podman_amd_all(self):
        r = self.nvbind_run(self.amd, "--runtime", "podman", "--gpu", "amd.com/gpu=all", ensure_test_image(),
                            "sh", "-c", self.SCRIPT)
        self.assertEqual(r.returncode, 0, r.stderr)
        want = sorted({p for g in self.amd.manifest["drm_gpus"] for p in g["device_nodes"]})
        self.assertEqual(self.nodes_seen(r.stdout), want)

    @unittest.skipUnless(HAVE_PODMAN, "podman is not installed")
    def test_podman_hybrid_intel_only_and_nvidia_only(self):
        image = ensure_test_image()
        (intel,) = self.hybrid.manifest["drm_gpus"]
        r = self.nvbind_run(self.hybrid, "--runtime", "podman", "--gpu", "intel.com/gpu=0", image, "sh", "-c",
                            self.SCRIPT)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.nodes_seen(r.stdout), self.expect(intel))
        # The NVIDIA GPU's container gets its own DRM nodes and never the iGPU's.
        r = self.nvbind_run(self.hybrid, "--runtime", "podman", "--gpu", "0", image, "sh", "-c", self.SCRIPT)
        self.assertEqual(r.returncode, 0, r.stderr)
        seen = self.nodes_seen(r.stdout)
        self.assertIn("/dev/nvidia0", seen)
        for p in intel["device_nodes"]:
            self.assertNotIn(p, seen)

    @unittest.skipUnless(HAVE_RUNC, "runc is not installed")
    def test_runc_amd_gpu(self):
        rootfs = os.path.join(self.tmp, "rootfs")
        if not os.path.exists(rootfs):
            make_busybox_rootfs(rootfs)
        g = self.amd.manifest["drm_gpus"][0]
        r = self.nvbind_run(self.amd, "--runtime", "runc", "--gpu", "amd.com/gpu=0", "--rootfs", rootfs, "--",
                            "sh", "-c", self.SCRIPT)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.nodes_seen(r.stdout), self.expect(g))


if __name__ == "__main__":
    unittest.main()
