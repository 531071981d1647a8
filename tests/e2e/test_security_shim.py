"""nvbind-runtime's request policy against two attacks.

Image annotations: podman copies an image's annotations into config.json, so an image built
with nvbind.gpus=all and nvbind.isolation=exclusive would take every GPU exclusively from
whoever runs it. Annotations count only with [security] allow_annotation_requests, and even
then may only narrow [bolt.capsule] isolation_level (virtual < shared < exclusive).

Failing open: a GPU request whose claim cannot be recorded (a container id such as ".ctr1",
which runc accepts but whose state nvbind cannot name; no id at all) must fail the create
instead of handing out the GPU unclaimed and unaudited. Options after the id are read the way
runc reads them, so the shim edits the bundle runc starts."""
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from nvbtest import NVBIND, FakeHost, FakeHostCase, make_busybox_rootfs, run, runc_bundle, temp_dir
from test_shim import audit, claims

SHIM = os.path.join(os.path.dirname(NVBIND), "nvbind-runtime")
RUNC = shutil.which("runc")
PODMAN = shutil.which("podman")

IMAGE_ANNOTATIONS = {"nvbind.gpus": "all", "nvbind.isolation": "exclusive"}

# The engine gives its runtime a clean environment: this wrapper hands the shim its settings.
FRONT = """#!/bin/sh
export NVBIND_ROOT={root} NVBIND_CONFIG={config}
exec {shim} "$@"
"""


def build_annotated_image(name, annotations, tmp):
    """An image whose OCI manifest carries annotations, the way `podman build --annotation`
    (or any registry image) brings them: a busybox import with a config of its own (so no other
    image shares its storage record), saved as an OCI layout, the manifest's annotations set,
    and pulled back from the layout."""
    rootfs = make_busybox_rootfs(os.path.join(tmp, "rootfs"))
    tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
    r = subprocess.run(["podman", "import", "--change",
                        f"ENV NVBIND_ANNOTATED_IMAGE={os.getpid()}-{os.urandom(4).hex()}", "-", name],
                       stdin=tar.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    tar.wait()
    if r.returncode != 0:
        raise AssertionError(f"podman import failed: {r.stderr}")
    # podman names the pulled image after the layout's path, which must then be a valid image
    # reference: a mkdtemp name like "…-_x1" (or a TMPDIR with capitals) is not. So the layout
    # lives at a path made of lower-case hex alone.
    layout = os.path.join("/var/tmp", "nvbind-image-layout-" + os.urandom(6).hex())
    try:
        return pull_annotated_layout(name, annotations, layout)
    finally:
        shutil.rmtree(layout, ignore_errors=True)


def pull_annotated_layout(name, annotations, layout):
    """Save `name` as an OCI layout at `layout`, annotate its manifest, pull it back."""
    run(["podman", "save", "--format", "oci-dir", "-o", layout, name], check=True)
    with open(os.path.join(layout, "index.json")) as f:
        index = json.load(f)
    entry = index["manifests"][0]
    blobs = os.path.join(layout, "blobs", "sha256")
    with open(os.path.join(blobs, entry["digest"].split(":", 1)[1])) as f:
        manifest = json.load(f)
    manifest["annotations"] = dict(annotations)
    data = json.dumps(manifest).encode()
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, digest), "wb") as f:
        f.write(data)
    entry.update(digest="sha256:" + digest, size=len(data), annotations={"org.opencontainers.image.ref.name": "x"})
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump(index, f)
    r = run(["podman", "pull", "-q", f"oci:{layout}:x"], check=True)
    image_id = r.stdout.strip().splitlines()[-1]
    # The pull also tagged the image with the layout's path: keep only our name.
    for tag in json.loads(run(["podman", "image", "inspect", image_id], check=True).stdout)[0]["RepoTags"]:
        if tag.split(":")[0] != name.split(":")[0]:
            run(["podman", "untag", image_id, tag])
    return image_id


@unittest.skipUnless(PODMAN and RUNC, "podman and runc are needed")
class ImageAnnotations(FakeHostCase):
    """An image carrying nvbind.gpus=all and nvbind.isolation=exclusive, run through the shim
    with podman (the image-borne path: no --annotation on the command line)."""

    gpus = 2

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.build = temp_dir("nvbind-annotated-image-", cls.addClassCleanup)
        cls.image = f"localhost/nvbind-test-annotated-{os.getpid()}:latest"
        cls.addClassCleanup(run, ["podman", "rmi", "-f", cls.image])
        cls.image_id = build_annotated_image(cls.image, IMAGE_ANNOTATIONS, cls.build)

    def setUp(self):
        self.tmp = temp_dir("nvbind-security-shim-", self.addCleanup)
        self.state = os.path.join(self.tmp, "state")
        self.audit_log = os.path.join(self.tmp, "audit.log")
        self.config = os.path.join(self.tmp, "nvbind.toml")
        self.front = os.path.join(self.tmp, "front.sh")
        with open(self.front, "w") as f:
            f.write(FRONT.format(root=self.host.root, config=self.config, shim=SHIM))
        os.chmod(self.front, 0o755)
        self.configure("")

    def configure(self, text):
        with open(self.config, "w") as f:
            f.write(f'[runtime]\noci_runtime = "{RUNC}"\n'
                    f'[isolation]\nstate_dir = "{self.state}"\naudit_log = "{self.audit_log}"\n{text}')

    def podman(self, *args, script="ls /dev"):
        return run(["podman", "--runtime", self.front, "run", "--rm", *args, self.image, "sh", "-c", script],
                   timeout=120)

    def nodes(self, stdout):
        return sorted(n for n in stdout.split() if n.startswith("nvidia") and n[6:].isdigit())

    def gpu_nodes(self):
        return sorted(f"nvidia{g['minor']}" for g in self.host.manifest["gpus"])

    def test_the_image_carries_the_annotations(self):
        """The premise: podman puts the image's annotations into the container's config.json."""
        r = run(["podman", "image", "inspect", self.image_id], check=True)
        self.assertEqual({k: v for k, v in json.loads(r.stdout)[0]["Annotations"].items() if k.startswith("nvbind.")},
                         IMAGE_ANNOTATIONS)
        r = run(["podman", "create", "--name", f"nvbind-annotated-{os.getpid()}", self.image, "true"], check=True)
        try:
            r = run(["podman", "container", "inspect", r.stdout.strip()], check=True)
            annotations = json.loads(r.stdout)[0]["Config"]["Annotations"]
            self.assertEqual({k: v for k, v in annotations.items() if k.startswith("nvbind.")}, IMAGE_ANNOTATIONS)
        finally:
            run(["podman", "rm", "-f", f"nvbind-annotated-{os.getpid()}"])

    def test_image_annotations_take_no_gpu_by_default(self):
        """Attack: the image asks for every GPU exclusively; by default it gets none, and says so."""
        r = self.podman()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.nodes(r.stdout), [], "the image's own annotations gave it GPUs")
        self.assertEqual(audit(self.audit_log), [], "nothing was claimed")
        self.assertEqual(claims(self.state), [])

    def test_caller_env_request_stays_at_the_configured_level(self):
        """The caller's own request is served at [bolt.capsule] isolation_level (shared), not at
        the image's exclusive, and only with the GPU the caller asked for."""
        r = self.podman("-e", "NVIDIA_VISIBLE_DEVICES=0")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.nodes(r.stdout), [f"nvidia{self.host.manifest['gpus'][0]['minor']}"])
        self.assertEqual([(e["decision"], e["isolation"], len(e["devices"])) for e in audit(self.audit_log)],
                         [("grant", "shared", 1)])

    def test_allowed_annotations_cannot_widen_isolation(self):
        """Attack with annotations allowed: exclusive beyond the configured shared is refused
        (the create fails with one line naming the annotation; nothing claimed or started)."""
        self.configure("[security]\nallow_annotation_requests = true\n")
        r = self.podman(script="echo started; ls /dev")
        self.assertNotEqual(r.returncode, 0)
        self.assertNotIn("started", r.stdout)
        self.assertIn("annotations.nvbind.isolation: 'exclusive' is wider than [bolt.capsule] isolation_level = "
                      "\"shared\"; an annotation may only narrow it (virtual < shared < exclusive)", r.stderr)
        self.assertEqual(audit(self.audit_log), [])
        self.assertEqual(claims(self.state), [])

    def test_allowed_annotations_within_the_configured_level(self):
        """With annotations allowed and exclusive configured, the image's request is served; a
        caller's --annotation nvbind.isolation=shared narrows it."""
        self.configure("[security]\nallow_annotation_requests = true\n"
                       "[bolt.capsule]\nisolation_level = \"exclusive\"\n")
        r = self.podman()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.nodes(r.stdout), self.gpu_nodes())
        r = self.podman("--annotation", "nvbind.isolation=shared")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.nodes(r.stdout), self.gpu_nodes())
        self.assertEqual([(e["decision"], e["isolation"]) for e in audit(self.audit_log)],
                         [("grant", "exclusive"), ("grant", "shared")])


@unittest.skipUnless(RUNC, "runc is needed")
class ShimFailsClosed(unittest.TestCase):
    """The shim called the way an engine calls runc, with ids and command lines whose claim it
    cannot record."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="nvbind-shim-closed-")
        self.host = FakeHost(gpus=1)
        self.state = os.path.join(self.tmp, "state")
        self.audit_log = os.path.join(self.tmp, "audit.log")
        self.runc_root = os.path.join(self.tmp, "runc-root")
        config = os.path.join(self.tmp, "nvbind.toml")
        with open(config, "w") as f:
            f.write(f'[isolation]\nstate_dir = "{self.state}"\naudit_log = "{self.audit_log}"\n'
                    '[bolt.capsule]\nisolation_level = "exclusive"\n')
        self.env = {"NVBIND_ROOT": self.host.root, "NVBIND_CONFIG": config}
        self.rootfs = make_busybox_rootfs(os.path.join(self.tmp, "rootfs"))
        self.created = []

    def tearDown(self):
        for ctr in self.created:
            run([RUNC, "--root", self.runc_root, "delete", "--force", ctr])
        self.host.remove()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def bundle(self, args=("sleep", "30")):
        """A bundle whose process asks for GPU 0 through its environment (honoured by default),
        exclusively (the configured level)."""
        bundle = os.path.join(self.tmp, "bundle")
        path = runc_bundle(bundle, self.rootfs, args, lambda c: c["process"]["env"].append("NVIDIA_VISIBLE_DEVICES=0"))
        with open(path, "rb") as f:
            return bundle, path, f.read()

    def shim(self, *args, cwd=None):
        """The shim with stdio in files: a created container's init keeps its stdio open."""
        out, err = os.path.join(self.tmp, "out"), os.path.join(self.tmp, "err")
        with open(out, "w") as o, open(err, "w") as e:
            rc = subprocess.run([SHIM, "--root", self.runc_root, *args], env={**os.environ, **self.env}, stdout=o,
                                stderr=e, cwd=cwd, timeout=120).returncode
        with open(out) as o, open(err) as e:
            return rc, o.read(), e.read()

    def exists(self, ctr):
        return run([RUNC, "--root", self.runc_root, "state", ctr]).returncode == 0

    def assert_refused(self, rc, err, path, before, ctr=None):
        self.assertEqual(rc, 2, err)
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertTrue(err.startswith("nvbind-runtime: "), err)
        with open(path, "rb") as f:
            self.assertEqual(f.read(), before, "config.json untouched: no GPU edits")
        if ctr:
            self.assertFalse(self.exists(ctr), "the container was not created")
        self.assertEqual(claims(self.state), [])

    def test_dot_id_gets_no_unclaimed_gpu(self):
        """Attack: `create .ctr1` (an id runc accepts, whose state file nvbind will not name)
        took the GPU with no claim and no audit line, exclusivity bypassed."""
        bundle, path, before = self.bundle()
        ctr = ".ctr%d" % os.getpid()
        self.created.append(ctr)
        rc, _, err = self.shim("create", "--bundle", bundle, ctr)
        self.assert_refused(rc, err, path, before, ctr)
        self.assertIn(f"container id '{ctr}'", err)
        self.assertIn("refusing the GPU request", err)

    def test_no_id_gets_no_unclaimed_gpu(self):
        """Attack: a command line the shim finds no container id in must not be served unclaimed."""
        bundle, path, before = self.bundle()
        rc, _, err = self.shim("create", "--bundle", bundle)
        self.assert_refused(rc, err, path, before)
        self.assertIn("no container id on the command line", err)

    def test_options_after_the_id_name_the_bundle_runc_starts(self):
        """Attack: `run ID --bundle B`: runc starts B; the shim must edit and claim for B (it
        read the current folder's config.json instead)."""
        bundle, _, _ = self.bundle(args=("ls", "/dev"))
        ctr = "nvbind-closed-%d" % os.getpid()
        self.created.append(ctr)
        rc, out, err = self.shim("run", ctr, "--bundle", bundle, cwd=self.tmp)
        self.assertEqual(rc, 0, err)
        self.assertIn("nvidia%d" % self.host.manifest["gpus"][0]["minor"], out.split())
        self.assertEqual([(e["container"], e["decision"], e["isolation"]) for e in audit(self.audit_log)],
                         [(ctr, "grant", "exclusive")])

    def test_relative_nvbind_root_names_the_host_root(self):
        """A relative NVBIND_ROOT (issue item 12, through the shim): the edits held host paths
        relative to the engine's folder, which runc reads from the bundle folder instead."""
        bundle, path, _ = self.bundle(args=("ls", "/usr/bin/nvidia-smi"))
        ctr = "nvbind-relroot-%d" % os.getpid()
        self.created.append(ctr)
        self.env["NVBIND_ROOT"] = os.path.basename(self.host.root)
        rc, out, err = self.shim("run", "--bundle", bundle, ctr, cwd=os.path.dirname(self.host.root))
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.split(), ["/usr/bin/nvidia-smi"], err)
        with open(path) as f:
            sources = [m["source"] for m in json.load(f)["mounts"] if m.get("type") == "bind"]
        self.assertTrue(sources)
        self.assertEqual([s for s in sources if not s.startswith(self.host.root + "/")], [], sources)


if __name__ == "__main__":
    unittest.main()
