"""nvbind-runtime's request policy against an attack.

Image annotations: podman copies an image's annotations into config.json, so an image built
with nvbind.gpus=all and nvbind.isolation=exclusive would take every GPU exclusively from
whoever runs it. Annotations count only with [security] allow_annotation_requests, and even
then may only narrow [bolt.capsule] isolation_level (virtual < shared < exclusive).
"""
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from nvbtest import NVBIND, FakeHost, make_busybox_rootfs, run

SHIM = os.path.join(os.path.dirname(NVBIND), "nvbind-runtime")
RUNC = shutil.which("runc")
PODMAN = shutil.which("podman")

IMAGE_ANNOTATIONS = {"nvbind.gpus": "all", "nvbind.isolation": "exclusive"}

# The engine gives its runtime a clean environment: this wrapper hands the shim its settings.
FRONT = """#!/bin/sh
export NVBIND_ROOT={root} NVBIND_CONFIG={config}
exec {shim} "$@"
"""


def claims(state):
    r = run([NVBIND, "claims", "--state-dir", state, "--json"])
    if r.returncode != 0:
        raise AssertionError(r.stderr)
    return json.loads(r.stdout)


def audit(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f]


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
    layout = os.path.join(tmp, "layout")
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
class ImageAnnotations(unittest.TestCase):
    """An image carrying nvbind.gpus=all and nvbind.isolation=exclusive, run through the shim
    with podman (the image-borne path: no --annotation on the command line)."""

    @classmethod
    def setUpClass(cls):
        cls.host = FakeHost(gpus=2)
        cls.build = tempfile.mkdtemp(prefix="nvbind-annotated-image-")
        cls.image = f"localhost/nvbind-test-annotated-{os.getpid()}:latest"
        try:
            cls.image_id = build_annotated_image(cls.image, IMAGE_ANNOTATIONS, cls.build)
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        run(["podman", "rmi", "-f", cls.image])
        shutil.rmtree(cls.build, ignore_errors=True)
        cls.host.remove()

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="nvbind-security-shim-")
        self.state = os.path.join(self.tmp, "state")
        self.audit_log = os.path.join(self.tmp, "audit.log")
        self.config = os.path.join(self.tmp, "nvbind.toml")
        self.front = os.path.join(self.tmp, "front.sh")
        with open(self.front, "w") as f:
            f.write(FRONT.format(root=self.host.root, config=self.config, shim=SHIM))
        os.chmod(self.front, 0o755)
        self.configure("")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

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


if __name__ == "__main__":
    unittest.main()
