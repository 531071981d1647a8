"""nvbind-runtime under containerd, driven by `ctr run --runc-binary SHIM` (the io.containerd.runc.v2
option BinaryName, which is what --runc-binary sets): a GPU asked for by env and by annotation
(allowed here by [security] allow_annotation_requests), exactly that GPU's node inside the
container, the claim held while the task runs and given back after `ctr task kill` + `ctr task rm`,
and the shim's errors reaching ctr's stderr. The suite's own containerd (tests/e2e/daemons.py),
with its own socket and state; containers run on a local busybox root (`ctr run --rootfs`)."""
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
import unittest

from daemons import Containerd
from nvbtest import NVBIND, FakeHostCase, make_busybox_rootfs, run, temp_dir

SHIM = os.path.join(os.path.dirname(NVBIND), "nvbind-runtime")
RUNC = shutil.which("runc")
NAMESPACE = "nvbind-test"

# containerd-shim-runc-v2 starts BinaryName with containerd's environment: the wrapper gives the
# shim the fake host and the test's configuration, as a deployment's wrapper or
# /etc/nvbind/config.toml would.
WRAPPER = """#!/bin/sh
export NVBIND_ROOT={root} NVBIND_CONFIG={config}
exec {shim} "$@"
"""


def oci_archive(rootfs, path, name, env):
    """An OCI image archive (oci-layout, index.json, blobs) of one uncompressed layer made
    from the rootfs folder, with env in its configuration, named name for ctr images import."""
    blobs = {}

    def blob(data, media_type):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as t:
        t.add(rootfs, arcname=".")
    layer = layer.getvalue()
    config = {"architecture": "amd64", "os": "linux", "config": {"Env": env, "Cmd": ["/bin/sh"]},
              "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]}}
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": blob(json.dumps(config).encode(), "application/vnd.oci.image.config.v1+json"),
                "layers": [blob(layer, "application/vnd.oci.image.layer.v1.tar")]}
    desc = blob(json.dumps(manifest).encode(), "application/vnd.oci.image.manifest.v1+json")
    desc["annotations"] = {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": "latest"}
    desc["platform"] = {"architecture": "amd64", "os": "linux"}
    files = {"oci-layout": json.dumps({"imageLayoutVersion": "1.0.0"}).encode(),
             "index.json": json.dumps({"schemaVersion": 2, "manifests": [desc]}).encode()}
    files.update({"blobs/sha256/" + d.split(":")[1]: data for d, data in blobs.items()})
    with tarfile.open(path, "w") as t:
        for member, data in files.items():
            info = tarfile.TarInfo(member)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))


def missing():
    for exe in ("ctr", "containerd", "containerd-shim-runc-v2", "runc"):
        if not shutil.which(exe):
            return f"{exe} is not installed (scripts/install-deps installs containerd and runc)"
    if os.geteuid() != 0:
        return "containerd needs root"
    return None


def claims(state):
    r = run([NVBIND, "claims", "--state-dir", state, "--json"])
    if r.returncode != 0:
        raise AssertionError(r.stderr)
    return json.loads(r.stdout)


@unittest.skipIf(missing(), missing())
class ShimWithContainerd(FakeHostCase):
    gpus = 2
    host_options = {"shuffle_minors": True}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = temp_dir("nvbind-ctr-test-", cls.addClassCleanup)
        cls.containerd = Containerd(os.path.join(cls.tmp, "containerd"))

    @classmethod
    def tearDownClass(cls):
        # Before the class cleanups remove cls.tmp: nothing may stay mounted in it.
        cls.containerd.stop()
        subprocess.run(["sh", "-c", f"grep -o ' {cls.tmp}/[^ ]*' /proc/self/mounts | sort -r |"
                        " xargs -r -n1 umount -l"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="case-", dir=self.tmp)
        self.state = os.path.join(self.dir, "state")
        self.config = os.path.join(self.dir, "nvbind.toml")
        with open(self.config, "w") as f:
            f.write(f'[runtime]\noci_runtime = "{RUNC}"\n'
                    f'[isolation]\nstate_dir = "{self.state}"\naudit_log = "{self.dir}/audit.log"\n'
                    '[security]\nallow_annotation_requests = true\n')
        self.wrapper = os.path.join(self.dir, "nvbind-runtime.sh")
        with open(self.wrapper, "w") as f:
            f.write(WRAPPER.format(root=self.host.root, config=self.config, shim=SHIM))
        os.chmod(self.wrapper, 0o755)
        self.count = 0
        self.started = []

    def tearDown(self):
        for cid in self.started:
            self.remove(cid)

    def ctr(self, *args, timeout=120):
        return run(["ctr", "--address", self.containerd.socket, "--namespace", NAMESPACE, *args], timeout=timeout)

    def new_rootfs(self):
        # A root of its own per container: the update-ldcache hook writes its /etc/ld.so.cache.
        self.count += 1
        path = os.path.join(self.dir, f"rootfs{self.count}")
        make_busybox_rootfs(path)
        return path

    def ctr_run(self, *options, script, detach=False):
        cid = f"nvb-{os.getpid()}-{self._testMethodName[-20:]}-{self.count + 1}"
        mode = ["--detach"] if detach else ["--rm"]
        rootfs = self.new_rootfs()
        self.started.append(cid)
        r = self.ctr("run", *mode, "--runc-binary", self.wrapper, *options, "--rootfs", rootfs, cid,
                     "/bin/sh", "-c", "PATH=/bin; " + script)
        return cid, r

    def remove(self, cid):
        self.ctr("task", "kill", "--signal", "SIGKILL", cid)
        for _ in range(50):
            r = self.ctr("task", "rm", cid)
            if r.returncode == 0 or "not found" in r.stderr:
                break
            time.sleep(0.2)
        self.ctr("container", "rm", cid)

    def minor(self, i):
        return self.host.manifest["gpus"][i]["minor"]

    def assert_only_gpu(self, out, i):
        names = out.split()
        self.assertIn(f"nvidia{self.minor(i)}", names, out)
        self.assertNotIn(f"nvidia{self.minor(1 - i)}", names, out)
        self.assertIn("nvidiactl", names, out)

    def test_env_request_gets_exactly_gpu0(self):
        _, r = self.ctr_run("--env", "NVIDIA_VISIBLE_DEVICES=0",
                            script="ls /dev; grep -q libcuda.so.1 /etc/ld.so.cache && echo CACHE-OK")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_only_gpu(r.stdout, 0)
        self.assertIn("CACHE-OK", r.stdout.split())

    def test_annotation_request_gets_exactly_gpu1(self):
        _, r = self.ctr_run("--annotation", "nvbind.gpus=1", script="ls /dev")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_only_gpu(r.stdout, 1)
        _, r = self.ctr_run("--annotation", "cdi.k8s.io/test=nvidia.com/gpu=0", script="ls /dev")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_only_gpu(r.stdout, 0)

    def test_image_env_request(self):
        """An image whose configuration asks for GPU 1 (as CUDA images carry
        NVIDIA_VISIBLE_DEVICES) gets it through ctr images import + ctr run; --env overrides it."""
        name = "localhost/nvbind-ctr-test:latest"
        archive = os.path.join(self.dir, "image.tar")
        oci_archive(self.new_rootfs(), archive, name, ["PATH=/bin", "NVIDIA_VISIBLE_DEVICES=1"])
        r = self.ctr("images", "import", archive, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr)
        for options, gpu in (((), 1), (("--env", "NVIDIA_VISIBLE_DEVICES=0"), 0)):
            self.count += 1
            cid = f"nvb-{os.getpid()}-image-{self.count}"
            self.started.append(cid)
            r = self.ctr("run", "--rm", "--runc-binary", self.wrapper, *options, name, cid, "sh", "-c", "ls /dev")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assert_only_gpu(r.stdout, gpu)

    def test_no_request_no_gpu(self):
        _, r = self.ctr_run(script="ls /dev")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertFalse([n for n in r.stdout.split() if n.startswith("nvidia")], r.stdout)

    def test_gpu_node_is_the_hosts_char_device(self):
        """Inside the container the node is a character device with the host node's numbers."""
        st = os.stat(os.path.join(self.host.root, "dev", f"nvidia{self.minor(0)}"))
        want = "%x:%x" % (os.major(st.st_rdev), os.minor(st.st_rdev))
        _, r = self.ctr_run("--env", "NVIDIA_VISIBLE_DEVICES=0",
                            script=f"stat -c '%F %t:%T' /dev/nvidia{self.minor(0)}")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), f"character special file {want}")

    def test_claim_follows_the_task(self):
        """A claim exists while the task runs, a second exclusive request for the same GPU is
        refused with the holder named in ctr's error, and kill + task rm gives the GPU back."""
        with open(self.config, "a") as f:
            f.write('[bolt.capsule]\nisolation_level = "exclusive"\n')
        cid, r = self.ctr_run("--annotation", "nvbind.gpus=0", script="sleep 60", detach=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        [held] = claims(self.state)
        self.assertEqual((held["mode"], held["runtime"], held["device"], held["container"]),
                         ("exclusive", "nvbind-runtime", "0", cid))
        # containerd's runc shim keeps runc's state under its own --root: the claim names it.
        self.assertEqual(held["oci_state"], f"/run/containerd/runc/{NAMESPACE}/{cid}/state.json")
        self.assertTrue(os.path.exists(held["oci_state"]))
        other, r = self.ctr_run("--annotation", "nvbind.gpus=0", script="echo started")
        self.assertNotEqual(r.returncode, 0)
        self.assertNotIn("started", r.stdout)
        self.assertEqual([c["container"] for c in claims(self.state)], [cid])
        r = self.ctr("task", "kill", "--signal", "SIGKILL", cid)
        self.assertEqual(r.returncode, 0, r.stderr)
        for _ in range(50):
            r = self.ctr("task", "rm", cid)
            if r.returncode == 0:
                break
            time.sleep(0.2)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(claims(self.state), [], "task rm gave the GPU back")
        self.assertEqual(self.ctr("container", "rm", cid).returncode, 0)

    def test_bad_request_error_reaches_ctr(self):
        """The shim's one-line error is what ctr prints (runc-v2 reads it from the runtime's
        --log file), and the container never starts."""
        _, r = self.ctr_run("--env", "NVIDIA_VISIBLE_DEVICES=0,9", script="echo started")
        self.assertNotEqual(r.returncode, 0)
        self.assertNotIn("started", r.stdout)
        self.assertIn("NVIDIA_VISIBLE_DEVICES '0,9': no GPU 9 on this host (GPUs 0-1)", r.stderr)

    def test_busy_gpu_error_reaches_ctr(self):
        """A GPU held exclusively by a running task: the refusal names the holder in ctr's error."""
        with open(self.config, "a") as f:
            f.write('[bolt.capsule]\nisolation_level = "exclusive"\n')
        cid, r = self.ctr_run("--annotation", "nvbind.gpus=0", script="sleep 60", detach=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        _, r = self.ctr_run("--env", "NVIDIA_VISIBLE_DEVICES=0", script="echo started")
        self.assertNotEqual(r.returncode, 0)
        uuid = self.host.manifest["gpus"][0]["uuid"]
        self.assertIn(f"GPU 0 ({uuid}) is held exclusively by container {cid}", r.stderr)


if __name__ == "__main__":
    unittest.main()
