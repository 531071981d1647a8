"""nvbind device-plugin against a kubelet peer (tests/e2e/fakekubelet.py): registration,
ListAndWatch (health, NUMA), GetPreferredAllocation, Allocate (CDI names that real podman
accepts, NVIDIA_VISIBLE_DEVICES), MIG, replicas, kubelet restarts, SIGTERM and kill -9."""
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import unittest

import grpc

from nvbtest import NVBIND, FAKENVML, FakeHost, ensure_test_image, podman_run, run, stop_process
from fakekubelet import FakeKubelet, Watch, pb
from test_isolation import Capsules
from test_shim import RUNC, SHIM, WRAPPER

HAVE_PLUGIN = run([NVBIND, "device-plugin", "--kubelet-dir", "/nonexistent"]).stderr.find("built without") < 0


def allocate(stub, *containers, timeout=None):
    return stub.Allocate(pb.AllocateRequest(container_requests=[
        pb.ContainerAllocateRequest(devices_ids=list(ids)) for ids in containers]), timeout=timeout)


def preferred(stub, available, must=(), size=1):
    r = stub.GetPreferredAllocation(pb.PreferredAllocationRequest(container_requests=[
        pb.ContainerPreferredAllocationRequest(available_deviceIDs=list(available),
                                               must_include_deviceIDs=list(must), allocation_size=size)]))
    return list(r.container_responses[0].deviceIDs)


@unittest.skipUnless(HAVE_PLUGIN, "nvbind was built without the device plugin (gRPC, protobuf-c)")
class PluginBase(unittest.TestCase):
    gpus = 2
    host_options = {}
    plugin_args = ()

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="nvbind-k8s-")
        self.host = FakeHost(gpus=self.gpus, **self.host_options)
        self.kubelet = FakeKubelet(os.path.join(self.tmp, "kubelet"))
        self.kubelet.start()
        self.cdi_dir = os.path.join(self.tmp, "cdi")
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.kubelet.stop()
        self.host.remove()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start_plugin(self, *extra, global_args=()):
        log = open(os.path.join(self.tmp, "plugin-%d.log" % len(self.procs)), "w+")
        p = subprocess.Popen([NVBIND, *self.host.args, *global_args, "device-plugin", "--kubelet-dir", self.kubelet.dir,
                              "--cdi-dir", self.cdi_dir, "--poll-ms", "200", *self.plugin_args, *extra],
                             stdout=subprocess.DEVNULL, stderr=log)
        p.log = log
        self.procs.append(p)
        return p

    def log_of(self, p):
        p.log.seek(0)
        return p.log.read()

    def registered(self, p, timeout=15):
        try:
            return self.kubelet.wait_registration(timeout=timeout)
        except Exception:
            self.fail("no registration within %ss; plugin log:\n%s" % (timeout, self.log_of(p)))

    def start_registered(self, *extra, global_args=()):
        p = self.start_plugin(*extra, global_args=global_args)
        reg = self.registered(p)
        return p, reg, self.kubelet.plugin(reg.endpoint)

    def uuids(self):
        return [g["uuid"] for g in self.host.manifest["gpus"]]

    def gpu(self, uuid):
        return next(g for g in self.host.manifest["gpus"] if g["uuid"] == uuid)

    def migs(self):
        """{GPU uuid: [MIG uuids]} of the fake host (its NVML lists them)."""
        detailed = self.host.manifest["detailed"]["gpus"]
        return {g["uuid"]: [m["uuid"] for m in d["mig_devices"]]
                for g, d in zip(self.host.manifest["gpus"], detailed)}


class Registration(PluginBase):
    gpus = 8

    def test_registers_and_lists_every_gpu_with_numa(self):
        p, reg, stub = self.start_registered()
        self.assertEqual(reg.version, "v1beta1")
        self.assertEqual(reg.resource_name, "nvidia.com/gpu")
        self.assertEqual(reg.endpoint, "nvbind-nvidia.com-gpu.sock")
        self.assertTrue(reg.options.get_preferred_allocation_available)
        self.assertTrue(stub.GetDevicePluginOptions(pb.Empty()).get_preferred_allocation_available)
        w = Watch(stub)
        devices = w.next()
        self.assertEqual(sorted(devices), sorted(self.uuids()))
        for uuid, (health, numa) in devices.items():
            self.assertEqual(health, "Healthy")
            self.assertEqual(numa, [self.gpu(uuid)["numa_node"]], uuid)
        w.close()

    def test_preferred_allocation_stays_on_one_numa_node(self):
        p, reg, stub = self.start_registered()
        ids = self.uuids()
        node1 = [u for u in ids if self.gpu(u)["numa_node"] == 1]
        got = preferred(stub, ids, must=[node1[-1]], size=3)
        self.assertEqual(len(got), 3)
        self.assertEqual(got[0], node1[-1])
        self.assertEqual({self.gpu(u)["numa_node"] for u in got}, {1}, got)
        # Without a must-include device: the node with most devices free.
        free = [u for u in ids if u not in node1[:3]]
        got = preferred(stub, free, size=2)
        self.assertEqual({self.gpu(u)["numa_node"] for u in got}, {0}, got)

    def test_socket_is_root_only(self):
        """Local users must not reach Allocate (and make the plugin write specs) through a
        socket left open by the process umask: the plugin's socket is 0600."""
        old = os.umask(0o022)  # the usual umask: without care, the socket would be 0755
        try:
            p, reg, stub = self.start_registered()
        finally:
            os.umask(old)
        st = os.stat(os.path.join(self.kubelet.plugin_dir, reg.endpoint))
        self.assertEqual(oct(stat.S_IMODE(st.st_mode)), "0o600")
        self.assertEqual(st.st_uid, os.getuid())

    def test_sigterm_exits_cleanly_and_removes_its_socket(self):
        p, reg, stub = self.start_registered()
        sock = os.path.join(self.kubelet.plugin_dir, reg.endpoint)
        self.assertTrue(os.path.exists(sock))
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(timeout=10), 0, self.log_of(p))
        self.assertFalse(os.path.exists(sock), "the plugin left its socket behind")
        self.assertIn("stopping", self.log_of(p))

    def test_kill9_then_restart_registers_again(self):
        """A plugin killed by SIGKILL leaves its socket: the next start must not be blocked by it."""
        p, reg, stub = self.start_registered()
        sock = os.path.join(self.kubelet.plugin_dir, reg.endpoint)
        p.kill()
        p.wait()
        self.assertTrue(os.path.exists(sock))  # the stale socket is there
        p2, reg2, stub2 = self.start_registered()
        self.assertEqual(reg2.endpoint, reg.endpoint)
        self.assertEqual(len(Watch(stub2).next()), 8)

    def test_second_plugin_on_a_live_socket_is_refused(self):
        p, reg, stub = self.start_registered()
        p2 = self.start_plugin()
        self.assertEqual(p2.wait(timeout=15), 7)
        self.assertIn("another device plugin is serving this socket", self.log_of(p2))
        self.assertIsNone(p.poll())

    def test_kubelet_restart_makes_it_register_again(self):
        p, reg, stub = self.start_registered()
        self.kubelet.restart()
        reg2 = self.registered(p)
        self.assertEqual(reg2.resource_name, "nvidia.com/gpu")
        stub2 = self.kubelet.plugin(reg2.endpoint)
        try:
            self.assertEqual(len(Watch(stub2).next()), 8)
        except Exception as e:
            self.fail("ListAndWatch after the restart: %r; plugin log:\n%s" % (e, self.log_of(p)))
        # Seen as kubelet.sock made anew or as its own socket removed, whichever it noticed first.
        self.assertIn("serving again and re-registering", self.log_of(p))

    def test_kubelet_asks_the_plugin_before_it_answers_register(self):
        """The kubelet (1.26 and later) dials the plugin and calls GetDevicePluginOptions inside
        its Register handler: a plugin that waited for Register's answer without serving never
        registered (each try ran into its 5 s deadline)."""
        self.assertTrue(self.kubelet.connect_first)
        began = time.monotonic()
        p = self.start_plugin()
        self.assertEqual(self.registered(p, timeout=4).resource_name, "nvidia.com/gpu")
        self.assertLess(time.monotonic() - began, 4)
        self.assertNotIn("registration failed", self.log_of(p))

    def test_a_kubelet_that_never_answers_stalls_no_rpc(self):
        """While Register waits for a kubelet that does not answer, the plugin keeps serving."""
        self.kubelet.hang = True
        p = self.start_plugin()
        self.kubelet.hung.get(timeout=10)
        stub = self.kubelet.plugin("nvbind-nvidia.com-gpu.sock")
        for _ in range(3):
            began = time.monotonic()
            self.assertTrue(stub.GetDevicePluginOptions(pb.Empty(), timeout=5).get_preferred_allocation_available)
            self.assertLess(time.monotonic() - began, 1.0, self.log_of(p))
            time.sleep(0.5)
        # SIGTERM with Register in flight: the call is cancelled, the plugin exits at once.
        began = time.monotonic()
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(timeout=10), 0, self.log_of(p))
        self.assertLess(time.monotonic() - began, 2.0, self.log_of(p))

    def test_kubelet_restart_while_register_is_on_its_way(self):
        """The kubelet restarts (removing the plugins' sockets) while Register waits for its
        answer: the plugin serves anew before it registers again, not on a socket gone."""
        self.kubelet.hang = True
        p = self.start_plugin()
        self.kubelet.hung.get(timeout=10)
        self.kubelet.hang = False
        self.kubelet.restart()
        reg = self.registered(p, timeout=20)
        self.assertEqual(len(Watch(self.kubelet.plugin(reg.endpoint)).next()), 8)
        self.assertIn("a plugin socket was removed or replaced: serving again and registering", self.log_of(p))

    def test_kubelet_folder_others_may_write_is_refused(self):
        os.chmod(self.kubelet.plugin_dir, 0o777)
        p = self.start_plugin()
        self.assertEqual(p.wait(timeout=10), 6, self.log_of(p))
        self.assertIn("%s is writable by everyone (mode 0777): others could replace the plugin's socket or plant "
                      "kubelet.sock" % self.kubelet.plugin_dir, self.log_of(p))

    def test_socket_made_anew_in_its_place_is_noticed(self):
        """Its socket replaced by another under the same name: served and registered again."""
        p, reg, stub = self.start_registered()
        sock = os.path.join(self.kubelet.plugin_dir, reg.endpoint)
        os.unlink(sock)
        other = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        other.bind(sock)
        self.addCleanup(other.close)
        reg2 = self.registered(p)
        self.assertEqual(reg2.endpoint, reg.endpoint)
        self.assertIn("a plugin socket was removed or replaced: serving again and re-registering", self.log_of(p))
        self.assertEqual(len(Watch(self.kubelet.plugin(reg2.endpoint)).next()), 8)

    def test_streams_are_bounded(self):
        p, reg, stub = self.start_registered()
        watches = [Watch(stub) for _ in range(64)]
        for w in watches:
            w.next()
        with self.assertRaises(grpc.RpcError) as cm:
            Watch(stub).next()
        self.assertEqual(cm.exception.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
        watches.pop().close()
        for _ in range(50):  # the closed one is gone once the plugin sees it
            try:
                Watch(stub).next(timeout=2)
                break
            except grpc.RpcError:
                time.sleep(0.1)
        else:
            self.fail("a stream closed was never given back")

    def test_refused_registration_is_retried(self):
        self.kubelet.refuse = 1
        p = self.start_plugin()
        self.assertEqual(self.registered(p).resource_name, "nvidia.com/gpu")
        self.assertIn("registration failed, retrying in 2000 ms", self.log_of(p))
        self.assertIn("refused on purpose", self.log_of(p))

    def test_waits_for_a_kubelet_that_is_not_up_yet(self):
        self.kubelet.stop()
        p = self.start_plugin()
        time.sleep(1)
        self.assertIsNone(p.poll(), self.log_of(p))
        self.kubelet.start()
        self.assertEqual(self.registered(p).resource_name, "nvidia.com/gpu")


class Health(PluginBase):
    gpus = 2

    def test_gpu_removed_turns_unhealthy_within_5s_and_back(self):
        p, reg, stub = self.start_registered()
        w = Watch(stub)
        self.assertEqual(set(h for h, _ in w.next().values()), {"Healthy"})
        gone = self.host.manifest["gpus"][1]
        proc_dir = os.path.join(self.host.root, "proc/driver/nvidia/gpus", gone["pci_bus_id"])
        aside = os.path.join(self.tmp, "gpu-aside")
        shutil.move(proc_dir, aside)
        start = time.monotonic()
        msg = w.until(lambda m: m[gone["uuid"]][0] == "Unhealthy", timeout=5)
        self.assertLess(time.monotonic() - start, 5)
        other = self.host.manifest["gpus"][0]["uuid"]
        self.assertEqual(msg[other][0], "Healthy")
        # The kubelet would not pick it now; if asked anyway, Allocate refuses it.
        with self.assertRaises(grpc.RpcError) as cm:
            allocate(stub, [gone["uuid"]])
        self.assertEqual(cm.exception.code(), grpc.StatusCode.FAILED_PRECONDITION)
        self.assertIn("unhealthy", cm.exception.details())
        shutil.move(aside, proc_dir)
        w.until(lambda m: m[gone["uuid"]][0] == "Healthy", timeout=5)
        self.assertIn("device %s is unhealthy" % gone["uuid"], self.log_of(p))
        w.close()


class Xid(PluginBase):
    """NVML's XID events (the fake NVML delivers the lines a test appends to its events file)."""
    gpus = 2

    def setUp(self):
        if not os.path.exists(FAKENVML):
            self.skipTest("the fake NVML is not built")
        self.host_options = {"fake_nvml": FAKENVML}
        super().setUp()

    def raise_xid(self, uuid, xid):
        events = os.path.join(os.path.dirname(self.host.manifest["nvml"]["data"]), "fakenvml-events")
        with open(events, "a") as f:
            f.write("%s %d\n" % (uuid, xid))

    def test_critical_xid_makes_the_gpu_unhealthy_for_good(self):
        p, reg, stub = self.start_registered()
        w = Watch(stub)
        w.next()
        deadline = time.monotonic() + 10
        while "watching XID errors of 2 of 2 GPUs" not in self.log_of(p):
            self.assertLess(time.monotonic(), deadline, self.log_of(p))
            time.sleep(0.1)
        bad, good = self.uuids()
        self.raise_xid(good, 13)  # an application's fault: the GPU is fine
        self.raise_xid(bad, 79)   # fallen off the bus
        msg = w.until(lambda m: m[bad][0] == "Unhealthy", timeout=5)
        self.assertEqual(msg[good][0], "Healthy")
        self.assertIn("GPU %s reported XID 79: unhealthy from now on" % bad, self.log_of(p))
        self.assertNotIn("XID 13", self.log_of(p))
        # Discovery still sees the GPU: it stays unhealthy.
        time.sleep(1)
        with self.assertRaises(grpc.RpcError) as cm:
            allocate(stub, [bad])
        self.assertEqual(cm.exception.code(), grpc.StatusCode.FAILED_PRECONDITION)
        w.close()

    def test_nvml_others_could_replace_is_not_loaded(self):
        """The plugin runs as root: an NVML in a folder others may write would run their code in
        it. It is not loaded; the log says why; the GPUs are served with health from discovery."""
        folder = os.path.dirname(os.path.realpath(self.host.manifest["nvml"]["library"]))
        os.chmod(folder, os.stat(folder).st_mode | 0o002)
        p, reg, stub = self.start_registered()
        w = Watch(stub)
        msg = w.next()
        self.assertEqual(sorted(msg), sorted(self.uuids()))
        self.assertTrue(all(h == "Healthy" for h, *_ in msg.values()), msg)
        log = self.log_of(p)
        self.assertIn("NVML not loaded for XID events: folder %s is writable by others" % folder, log)
        self.assertNotIn("watching XID errors", log)
        w.close()

class NvLink(PluginBase):
    """GetPreferredAllocation with the NVLink topology NVML reports (the fake NVML's
    nvlink_peers): GPUs 0-2 and 1-3 are linked, all four on NUMA node 0."""
    gpus = 4

    def setUp(self):
        if not os.path.exists(FAKENVML):
            self.skipTest("the fake NVML is not built")
        self.host_options = {"fake_nvml": FAKENVML}
        super().setUp()
        data_path = self.host.manifest["nvml"]["data"]
        with open(data_path) as f:
            data = json.load(f)
        bus = [g["pci_bus_id"] for g in data["gpus"]]
        for a, b in ((0, 2), (1, 3)):
            data["gpus"][a]["nvlink_peers"] = [bus[b]]
            data["gpus"][b]["nvlink_peers"] = [bus[a]]
        with open(data_path, "w") as f:
            json.dump(data, f)

    def test_nvlink_peers_come_first(self):
        p, reg, stub = self.start_registered()
        deadline = time.monotonic() + 10
        while "NVLink: GPU 1 - GPU 3" not in self.log_of(p):
            self.assertLess(time.monotonic(), deadline, self.log_of(p))
            time.sleep(0.1)
        u = self.uuids()
        self.assertEqual(preferred(stub, u, must=[u[0]], size=2), [u[0], u[2]])
        self.assertEqual(preferred(stub, u, must=[u[3]], size=2), [u[3], u[1]])
        # Without a must-include device: a linked pair.
        got = preferred(stub, u, size=2)
        self.assertIn(sorted(got), [sorted([u[0], u[2]]), sorted([u[1], u[3]])])


class Claims(PluginBase):
    gpus = 2

    def test_gpu_held_exclusively_outside_kubernetes_is_not_handed_out(self):
        """A container on the node that holds a GPU exclusively (nvbind run --isolation
        exclusive) must not see that GPU handed to a pod as well."""
        if not RUNC:
            self.skipTest("runc is needed")
        caps_dir = os.path.join(self.tmp, "capsules")
        os.makedirs(caps_dir)
        caps = Capsules(caps_dir, self.host)
        p, reg, stub = self.start_registered(global_args=("--config", caps.config))
        w = Watch(stub)
        self.assertEqual({h for h, _ in w.next().values()}, {"Healthy"})
        held = self.host.manifest["gpus"][0]["uuid"]
        capsule = caps.hold(gpu="0")
        try:
            msg = w.until(lambda m: m[held][0] == "Unhealthy", timeout=5)
            self.assertEqual(msg[self.uuids()[1]][0], "Healthy")
            with self.assertRaises(grpc.RpcError) as cm:
                allocate(stub, [held])
            self.assertEqual(cm.exception.code(), grpc.StatusCode.FAILED_PRECONDITION)
            self.assertIn("held exclusively by container", self.log_of(p))
        finally:
            stop_process(capsule)
        w.until(lambda m: m[held][0] == "Healthy", timeout=5)
        allocate(stub, [held])
        w.close()


class Allocate(PluginBase):
    gpus = 2
    host_options = {"shuffle_minors": True, "seed": "k8s-allocate-%d" % os.getpid()}

    def test_unknown_id_is_refused_with_a_clear_error(self):
        p, reg, stub = self.start_registered()
        with self.assertRaises(grpc.RpcError) as cm:
            allocate(stub, ["GPU-not-here"])
        self.assertEqual(cm.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertEqual(cm.exception.details(),
                         "Allocate: unknown device id 'GPU-not-here' for resource nvidia.com/gpu")

    def test_cdi_names_and_spec_written_and_refreshed(self):
        p, reg, stub = self.start_registered()
        uuid = self.uuids()[1]
        r = allocate(stub, [uuid], self.uuids())
        self.assertEqual([d.name for d in r.container_responses[0].cdi_devices], ["nvidia.com/gpu=" + uuid])
        self.assertEqual([d.name for d in r.container_responses[1].cdi_devices],
                         ["nvidia.com/gpu=" + u for u in self.uuids()])
        self.assertEqual(dict(r.container_responses[0].envs), {})
        self.assertIn("nvidia.com/gpu: allocated %s; %s\n" % (uuid, ",".join(self.uuids())), self.log_of(p))
        spec = os.path.join(self.cdi_dir, "nvidia.com-gpu.json")
        self.assertEqual(run([NVBIND, "cdi", "validate", spec]).returncode, 0)
        # The spec is nvbind's own for this host: `cdi check` finds it fresh.
        check = run([NVBIND, *self.host.args, "cdi", "check", spec])
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        os.unlink(spec)
        allocate(stub, [uuid])
        self.assertTrue(os.path.exists(spec), "a removed spec was not written again by Allocate")

    def test_cdi_folder_another_user_may_write_is_not_written(self):
        """Attack: the CDI folder is another user's (a wrong --cdi-dir or [cdi] output_dir).
        That user plants a link where the spec goes, to a file of root's elsewhere, or a FIFO:
        root wrote the spec through the link (replacing the file, mode 0644) or blocked in
        open() for good, every RPC with it. Now the folder is refused by name, nothing is
        written, and the plugin keeps answering."""
        os.makedirs(self.cdi_dir)
        os.chown(self.cdi_dir, 65534, 65534)
        victim = os.path.join(self.tmp, "root-only")
        with open(victim, "w") as f:
            f.write("root's secret\n")
        os.chmod(victim, 0o600)
        spec = os.path.join(self.cdi_dir, "nvidia.com-gpu.json")
        p, reg, stub = self.start_registered()
        for plant in (lambda: os.symlink(victim, spec), lambda: os.mkfifo(spec)):
            plant()
            os.lchown(spec, 65534, 65534)
            began = time.monotonic()
            with self.assertRaises(grpc.RpcError) as cm:
                allocate(stub, [self.uuids()[0]], timeout=10)
            self.assertLess(time.monotonic() - began, 5)
            self.assertEqual(cm.exception.code(), grpc.StatusCode.INTERNAL)
            self.assertIn("CDI spec folder %s is owned by uid 65534, neither root nor you" % self.cdi_dir,
                          cm.exception.details())
            with open(victim) as f:
                self.assertEqual(f.read(), "root's secret\n")
            self.assertEqual(stat.S_IMODE(os.stat(victim).st_mode), 0o600)
            os.unlink(spec)
        # The folder given back to root: Allocate writes the spec.
        os.chown(self.cdi_dir, 0, 0)
        allocate(stub, [self.uuids()[0]])
        self.assertTrue(stat.S_ISREG(os.lstat(spec).st_mode))

    def test_envvar_strategy(self):
        p, reg, stub = self.start_registered("--strategy", "envvar")
        r = allocate(stub, self.uuids())
        self.assertEqual(dict(r.container_responses[0].envs), {"NVIDIA_VISIBLE_DEVICES": ",".join(self.uuids())})
        self.assertEqual(list(r.container_responses[0].cdi_devices), [])
        self.assertFalse(os.path.exists(os.path.join(self.cdi_dir, "nvidia.com-gpu.json")))

    def test_both_strategy(self):
        p, reg, stub = self.start_registered("--strategy", "both")
        uuid = self.uuids()[0]
        c = allocate(stub, [uuid]).container_responses[0]
        self.assertEqual(dict(c.envs), {"NVIDIA_VISIBLE_DEVICES": uuid})
        self.assertEqual([d.name for d in c.cdi_devices], ["nvidia.com/gpu=" + uuid])

    def test_podman_runs_with_the_returned_cdi_names(self):
        if not shutil.which("podman"):
            self.skipTest("podman is not installed")
        base = podman_run([], "true")
        if base.returncode != 0:
            self.skipTest("podman cannot start any container on this machine: " + base.stderr.strip())
        p, reg, stub = self.start_registered()
        uuid = self.uuids()[1]
        names = [d.name for d in allocate(stub, [uuid]).container_responses[0].cdi_devices]
        # Debian's podman 4.3 reads specs from /etc/cdi and /var/run/cdi only (no
        # cdi_spec_dirs): the plugin's spec goes there byte for byte, under a name of its own
        # (other tests own nvidia.com-gpu.json); this host's seed keeps its UUIDs unique.
        with open(os.path.join(self.cdi_dir, "nvidia.com-gpu.json"), "rb") as f:
            spec = f.read()
        os.makedirs("/var/run/cdi", exist_ok=True)
        installed = "/var/run/cdi/nvbind-k8s-test-%d.json" % os.getpid()
        with open(installed, "wb") as f:
            f.write(spec)
        try:
            r = podman_run([arg for n in names for arg in ("--device", n)], "ls /dev")
        finally:
            os.unlink(installed)
        self.assertEqual(r.returncode, 0, r.stderr)
        nodes = sorted(n for n in r.stdout.split() if n.startswith("nvidia") and n[6:].isdigit())
        self.assertEqual(nodes, ["nvidia%d" % self.gpu(uuid)["minor"]])


    def test_envvar_strategy_with_the_shim(self):
        """--strategy envvar on a node whose engine runs nvbind-runtime: the variable and the
        annotation Allocate returns, set on the container, get it exactly the allocated GPU,
        claimed exclusively while it runs."""
        if not shutil.which("podman") or not RUNC:
            self.skipTest("podman and runc are needed")
        p, reg, stub = self.start_registered("--strategy", "envvar")
        uuid = self.uuids()[1]
        resp = allocate(stub, [uuid]).container_responses[0]
        envs = dict(resp.envs)
        annotations = dict(resp.annotations)
        self.assertEqual(annotations, {"nvbind.isolation": "exclusive"})
        log = os.path.join(self.tmp, "log")
        os.makedirs(log)
        config = os.path.join(self.tmp, "nvbind.toml")

        def wrapper(side, target, exports):
            path = os.path.join(self.tmp, side + ".sh")
            with open(path, "w") as f:
                f.write(WRAPPER.format(log=log, side=side, target=target, exports=exports))
            os.chmod(path, 0o755)
            return path
        with open(config, "w") as f:
            f.write('[runtime]\noci_runtime = "%s"\n[isolation]\nstate_dir = "%s"\naudit_log = "%s"\n'
                    '[security]\nallow_annotation_requests = true\n[bolt.capsule]\nisolation_level = "exclusive"\n' % (
                        wrapper("back", RUNC, ""), os.path.join(self.tmp, "state"),
                        os.path.join(self.tmp, "audit.log")))
        front = wrapper("front", SHIM, "export NVBIND_ROOT=%s NVBIND_CONFIG=%s\n" % (self.host.root, config))
        args = [a for k, v in envs.items() for a in ("-e", "%s=%s" % (k, v))] + \
            [a for k, v in annotations.items() for a in ("--annotation", "%s=%s" % (k, v))]
        # The claims are read from the host while the container runs: its init holds them.
        held = subprocess.Popen(["podman", "--runtime", front, "run", "--rm", *args, ensure_test_image(), "sh", "-c",
                                 "ls /dev; echo ready; sleep 3"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        out = []
        for line in held.stdout:
            if line.strip() == "ready":
                break
            out.append(line.strip())
        now = run([NVBIND, "claims", "--state-dir", os.path.join(self.tmp, "state"), "--json"])
        _, err = held.communicate(timeout=60)
        r = subprocess.CompletedProcess(held.args, held.returncode, "\n".join(out), err)
        self.assertEqual(now.returncode, 0, now.stderr)
        self.assertEqual([(c["uuid"], c["mode"]) for c in json.loads(now.stdout)], [(uuid, "exclusive")], now.stdout)
        self.assertEqual(r.returncode, 0, r.stderr)
        nodes = sorted(n for n in r.stdout.split() if n.startswith("nvidia") and n[6:].isdigit())
        self.assertEqual(nodes, ["nvidia%d" % self.gpu(uuid)["minor"]])


class Replicas(PluginBase):
    gpus = 2
    plugin_args = ("--replicas", "3")

    def test_each_gpu_advertised_n_times_and_given_once(self):
        p, reg, stub = self.start_registered()
        devices = Watch(stub).next()
        want = sorted("%s::%d" % (u, i) for u in self.uuids() for i in range(3))
        self.assertEqual(sorted(devices), want)
        u0, u1 = self.uuids()
        # Two replicas of one GPU are one GPU to the container.
        c = allocate(stub, [u0 + "::0", u0 + "::2"]).container_responses[0]
        self.assertEqual([d.name for d in c.cdi_devices], ["nvidia.com/gpu=" + u0])
        # Preferred: replicas of different GPUs before a second replica of one.
        got = preferred(stub, want, size=2)
        self.assertEqual(len({g.split("::")[0] for g in got}), 2, got)
        self.assertIn("time-sliced", self.log_of(p))

    def test_replicas_carry_the_shared_isolation_annotation(self):
        p, reg, stub = self.start_registered("--strategy", "envvar")
        u0 = self.uuids()[0]
        c = allocate(stub, [u0 + "::1"]).container_responses[0]
        self.assertEqual(dict(c.envs), {"NVIDIA_VISIBLE_DEVICES": u0})
        self.assertEqual(dict(c.annotations), {"nvbind.isolation": "shared"})


class Mig(PluginBase):
    gpus = 2
    plugin_args = ("--mig-strategy", "mixed")

    def setUp(self):
        if not os.path.exists(FAKENVML):
            self.skipTest("the fake NVML is not built")
        self.host_options = {"mig": True, "fake_nvml": FAKENVML}
        super().setUp()

    def test_mixed_registers_a_resource_per_profile(self):
        p = self.start_plugin()
        regs = {}
        for _ in range(2):
            r = self.registered(p)
            regs[r.resource_name] = r
        self.assertEqual(sorted(regs), ["nvidia.com/gpu", "nvidia.com/mig-3g.40gb"])
        migs = [m for ms in self.migs().values() for m in ms]
        whole = [u for u, ms in self.migs().items() if not ms]
        self.assertEqual((len(migs), len(whole)), (2, 1))
        mig_stub = self.kubelet.plugin(regs["nvidia.com/mig-3g.40gb"].endpoint)
        self.assertEqual(sorted(Watch(mig_stub).next()), sorted(migs))
        gpu_stub = self.kubelet.plugin(regs["nvidia.com/gpu"].endpoint)
        self.assertEqual(sorted(Watch(gpu_stub).next()), whole)
        mig = migs[0]
        c = allocate(mig_stub, [mig]).container_responses[0]
        self.assertEqual([d.name for d in c.cdi_devices], ["nvidia.com/gpu=" + mig])
        spec = os.path.join(self.cdi_dir, "nvidia.com-gpu.json")
        with open(spec) as f:
            self.assertIn('"name": "%s"' % mig, f.read())

    def test_resource_option_serves_only_that_resource(self):
        p = self.start_plugin("--resource", "nvidia.com/mig-3g.40gb")
        reg = self.registered(p)
        self.assertEqual(reg.resource_name, "nvidia.com/mig-3g.40gb")
        time.sleep(1)
        self.assertTrue(self.kubelet.registrations.empty(), "a resource not asked for was registered")
        self.assertEqual(sorted(os.listdir(self.kubelet.plugin_dir)),
                         ["kubelet.sock", "nvbind-nvidia.com-mig-3g.40gb.sock"])

    def test_single_advertises_mig_devices_as_gpus(self):
        p = self.start_plugin("--mig-strategy", "single")
        reg = self.registered(p)
        self.assertEqual(reg.resource_name, "nvidia.com/gpu")
        want = [m for ms in self.migs().values() for m in ms] + [u for u, ms in self.migs().items() if not ms]
        ids = Watch(self.kubelet.plugin(reg.endpoint)).next()
        self.assertEqual(sorted(ids), sorted(want))


@unittest.skipUnless(HAVE_PLUGIN, "nvbind was built without the device plugin (gRPC, protobuf-c)")
class Usage(unittest.TestCase):
    def test_help_and_usage_errors(self):
        r = run([NVBIND, "device-plugin", "--help"])
        self.assertEqual(r.returncode, 0)
        self.assertIn("--mig-strategy", r.stdout)
        for args, msg in [
            (["--strategy", "magic"], "nvbind device-plugin: --strategy magic: not one of cdi, envvar, both\n"),
            (["--mig-strategy", "x"], "nvbind device-plugin: --mig-strategy x: not one of none, single, mixed\n"),
            (["--replicas", "0"], "nvbind device-plugin: --replicas 0: expected a number from 1 to 64\n"),
            (["--kubelet-dir", "rel"], "nvbind device-plugin: --kubelet-dir rel: must be an absolute path\n"),
            (["--resource", "gpu"], "nvbind device-plugin: --resource gpu: not a resource name like nvidia.com/gpu\n"),
        ]:
            r = run([NVBIND, "device-plugin", *args])
            self.assertEqual((r.returncode, r.stderr), (2, msg), args)

    def test_missing_kubelet_folder(self):
        with FakeHost(gpus=1) as host:
            r = run([NVBIND, *host.args, "device-plugin", "--kubelet-dir", "/nonexistent/kubelet"], timeout=30)
        self.assertEqual(r.returncode, 6)
        self.assertIn("/nonexistent/kubelet/device-plugins: no such folder", r.stderr)


if __name__ == "__main__":
    unittest.main()
