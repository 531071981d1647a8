"""nvbind device-plugin serving other vendors' GPUs as their own resources (amd.com/gpu,
intel.com/gpu) next to nvidia.com/gpu: ids are PCI bus ids, Allocate writes the vendor's CDI
spec and answers with its CDI names, which real podman turns into exactly that GPU's nodes
(and /dev/kfd for AMD's compute)."""
import json
import os
import shutil
import time
import unittest

import grpc

from nvbtest import NVBIND, podman_run, run
import fakehost  # importable once nvbtest has put tests/fakehost on the path
from fakekubelet import Watch
from test_device_plugin import HAVE_PLUGIN, PluginBase, allocate

HAVE_PODMAN = shutil.which("podman") is not None

# Test-only models with bus ids of this process's own PCI domain: podman refuses a device that
# two specs in /var/run/cdi define, and other tests on this machine (nvbind run on fake hosts
# with the stock bus ids) leave amd.com-gpu.json / intel.com-gpu.json there.
_DOMAIN = 0x1000 + os.getpid() % 0xE000
for _key, _bus in (("amd", 0x2C), ("amd-mi210", 0x4C), ("intel", 0x02)):
    fakehost.DRM_GPU_MODELS["k8s-" + _key] = dict(
        fakehost.DRM_GPU_MODELS[_key], bus="%04x:%02x:00.0" % (_DOMAIN, _bus))
# what the container sees: every GPU node, with its numbers (hex, as stat prints them)
SCRIPT = "for n in /dev/dri/* /dev/kfd /dev/nvidia*; do test -e $n && stat -c '%n %t:%T' $n; done; exit 0"


class VendorBase(PluginBase):
    def drm(self, kind):
        return [g for g in self.host.manifest["drm_gpus"] if g["kind"] == kind]

    def registrations(self, p, n):
        regs = {}
        for _ in range(n):
            reg = self.registered(p)
            regs[reg.resource_name] = reg
        return regs

    def podman_nodes(self, names, spec_file):
        """The GPU nodes a podman container given CDI names `names` sees, as {path: "maj:min"}.
        Debian's podman reads /var/run/cdi only: the plugin's spec goes there under a unique
        name for the run (the fake host's bus ids are the same in every test)."""
        base = podman_run([], "true")
        if base.returncode != 0:
            self.skipTest("podman cannot start any container on this machine: " + base.stderr.strip())
        with open(os.path.join(self.cdi_dir, spec_file), "rb") as f:
            spec = f.read()
        os.makedirs("/var/run/cdi", exist_ok=True)
        installed = "/var/run/cdi/nvbind-k8s-vendor-test-%d.json" % os.getpid()
        with open(installed, "wb") as f:
            f.write(spec)
        try:
            r = podman_run([arg for n in names for arg in ("--device", n)], SCRIPT)
        finally:
            os.unlink(installed)
        self.assertEqual(r.returncode, 0, r.stderr)
        return dict(line.split() for line in r.stdout.splitlines() if line.startswith("/dev/"))

    @staticmethod
    def expected_nodes(gpu):
        return {n["path"]: "%x:%x" % (n["major"], n["minor"]) for n in gpu["nodes"]}


class Amd(VendorBase):
    gpus = 0
    host_options = {"no_driver": True, "drm_gpus": ["k8s-amd", "k8s-amd-mi210"]}

    def test_amd_gpus_are_amd_com_gpu_by_bus_id_with_numa(self):
        p, reg, stub = self.start_registered()
        self.assertEqual(reg.resource_name, "amd.com/gpu")
        got = Watch(stub).next()
        want = {g["pci_bus_id"]: ("Healthy", [] if g["numa_node"] is None else [g["numa_node"]])
                for g in self.drm("amd.com/gpu")}
        self.assertEqual(got, want)

    def test_allocate_writes_the_amd_spec_and_returns_its_cdi_names(self):
        p, reg, stub = self.start_registered()
        bus = self.drm("amd.com/gpu")[1]["pci_bus_id"]
        c = allocate(stub, [bus]).container_responses[0]
        self.assertEqual([d.name for d in c.cdi_devices], ["amd.com/gpu=" + bus])
        self.assertEqual(dict(c.envs), {})
        spec = os.path.join(self.cdi_dir, "amd.com-gpu.json")
        self.assertEqual(run([NVBIND, "cdi", "validate", spec]).returncode, 0)
        check = run([NVBIND, *self.host.args, "cdi", "check", spec])
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.cdi_dir, "nvidia.com-gpu.json")))
        os.unlink(spec)
        allocate(stub, [bus])
        self.assertTrue(os.path.exists(spec), "a removed amd.com/gpu spec was not written again by Allocate")

    def test_amd_gpu_removed_turns_unhealthy_within_5s_and_back(self):
        p, reg, stub = self.start_registered()
        w = Watch(stub)
        self.assertEqual(set(h for h, _ in w.next().values()), {"Healthy"})
        gone = self.drm("amd.com/gpu")[0]
        render = next(os.path.basename(n) for n in gone["device_nodes"] if "renderD" in n)
        link = os.path.join(self.host.root, "sys/class/drm", render)
        aside = os.path.join(self.tmp, "render-aside")
        shutil.move(link, aside)
        start = time.monotonic()
        msg = w.until(lambda m: m[gone["pci_bus_id"]][0] == "Unhealthy", timeout=5)
        self.assertLess(time.monotonic() - start, 5)
        self.assertEqual(msg[self.drm("amd.com/gpu")[1]["pci_bus_id"]][0], "Healthy")
        with self.assertRaises(grpc.RpcError) as cm:
            allocate(stub, [gone["pci_bus_id"]])
        self.assertEqual(cm.exception.code(), grpc.StatusCode.FAILED_PRECONDITION)
        shutil.move(aside, link)
        w.until(lambda m: m[gone["pci_bus_id"]][0] == "Healthy", timeout=5)
        w.close()

    def test_envvar_strategy_refuses_amd_gpus(self):
        """--strategy envvar has no variable an AMD GPU reaches the container by: nothing to serve."""
        r = run([NVBIND, *self.host.args, "device-plugin", "--kubelet-dir", self.kubelet.dir, "--cdi-dir",
                 self.cdi_dir, "--strategy", "envvar"], timeout=30)
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn("amd.com/gpu: not served: --strategy envvar has no visible-devices variable", r.stderr)
        r = run([NVBIND, *self.host.args, "device-plugin", "--kubelet-dir", self.kubelet.dir, "--cdi-dir",
                 self.cdi_dir, "--strategy", "envvar", "--resource", "amd.com/gpu"], timeout=30)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--resource amd.com/gpu: --strategy envvar has no visible-devices variable", r.stderr)

    @unittest.skipUnless(HAVE_PODMAN, "podman is not installed")
    def test_podman_sees_exactly_the_allocated_amd_gpu_and_kfd(self):
        p, reg, stub = self.start_registered()
        gpu = self.drm("amd.com/gpu")[1]
        names = [d.name for d in allocate(stub, [gpu["pci_bus_id"]]).container_responses[0].cdi_devices]
        seen = self.podman_nodes(names, "amd.com-gpu.json")
        self.assertIn("/dev/kfd", seen)
        self.assertEqual(seen, self.expected_nodes(gpu))


class Hybrid(VendorBase):
    gpus = 2
    host_options = {"drm_gpus": ["k8s-intel", "nouveau"]}

    def test_nvidia_and_intel_register_as_two_resources_nouveau_only_when_named(self):
        p = self.start_plugin()
        regs = self.registrations(p, 2)
        self.assertEqual(sorted(regs), ["intel.com/gpu", "nvidia.com/gpu"])
        intel = Watch(self.kubelet.plugin(regs["intel.com/gpu"].endpoint)).next()
        self.assertEqual(sorted(intel), [g["pci_bus_id"] for g in self.drm("intel.com/gpu")])
        nvidia = Watch(self.kubelet.plugin(regs["nvidia.com/gpu"].endpoint)).next()
        self.assertEqual(sorted(nvidia), sorted(self.uuids()))
        self.assertNotIn("nvbind.drm/nouveau", self.log_of(p))
        p2 = self.start_plugin("--resource", "nvbind.drm/nouveau", "--cdi-dir", self.cdi_dir + "2")
        p.terminate()
        reg = None
        while reg is None or reg.resource_name != "nvbind.drm/nouveau":
            reg = self.registered(p2)
        stub = self.kubelet.plugin(reg.endpoint)
        bus = self.drm("nvbind.drm/nouveau")[0]["pci_bus_id"]
        c = allocate(stub, [bus]).container_responses[0]
        self.assertEqual([d.name for d in c.cdi_devices], ["nvbind.drm/nouveau=" + bus])

    def test_both_strategy_gives_intel_cdi_names_only_and_nvidia_both(self):
        p = self.start_plugin("--strategy", "both")
        regs = self.registrations(p, 2)
        intel = self.kubelet.plugin(regs["intel.com/gpu"].endpoint)
        bus = self.drm("intel.com/gpu")[0]["pci_bus_id"]
        c = allocate(intel, [bus]).container_responses[0]
        self.assertEqual([d.name for d in c.cdi_devices], ["intel.com/gpu=" + bus])
        self.assertEqual(dict(c.envs), {})
        nv = self.kubelet.plugin(regs["nvidia.com/gpu"].endpoint)
        uuid = self.uuids()[0]
        c = allocate(nv, [uuid]).container_responses[0]
        self.assertEqual(dict(c.envs), {"NVIDIA_VISIBLE_DEVICES": uuid})
        self.assertEqual([d.name for d in c.cdi_devices], ["nvidia.com/gpu=" + uuid])
        # each kind its own spec, each current for the host
        for f in ("intel.com-gpu.json", "nvidia.com-gpu.json"):
            spec = os.path.join(self.cdi_dir, f)
            check = run([NVBIND, *self.host.args, "cdi", "check", spec])
            self.assertEqual(check.returncode, 0, f + ": " + check.stdout + check.stderr)

    def test_envvar_strategy_serves_nvidia_only(self):
        p = self.start_plugin("--strategy", "envvar")
        reg = self.registered(p)
        self.assertEqual(reg.resource_name, "nvidia.com/gpu")
        with self.assertRaises(Exception):
            self.kubelet.wait_registration(timeout=2)
        self.assertIn("intel.com/gpu: not served: --strategy envvar", self.log_of(p))

    @unittest.skipUnless(HAVE_PODMAN, "podman is not installed")
    def test_podman_sees_exactly_the_allocated_intel_gpu_no_nvidia(self):
        p = self.start_plugin()
        regs = self.registrations(p, 2)
        gpu = self.drm("intel.com/gpu")[0]
        stub = self.kubelet.plugin(regs["intel.com/gpu"].endpoint)
        names = [d.name for d in allocate(stub, [gpu["pci_bus_id"]]).container_responses[0].cdi_devices]
        seen = self.podman_nodes(names, "intel.com-gpu.json")
        self.assertEqual(seen, self.expected_nodes(gpu))


if __name__ == "__main__":
    unittest.main()
