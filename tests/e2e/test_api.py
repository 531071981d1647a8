"""libnvbind as a user gets it: `meson install` into a temporary prefix (and through DESTDIR),
the exported symbols against the version script, SONAME, pkg-config, and the examples built
with `cc $(pkg-config --cflags --libs nvbind)` and run against fake hosts, with a fake `bolt`
on PATH recording the command line it was given.

The library is configured and built afresh with --prefix in a temporary folder, with the
sanitizer options of the build under test ($NVBIND_BUILD_DIR, default <repo>/build)."""
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import unittest

from nvbtest import BUILD_DIR, REPO, FakeHost, run

MAP_FILE = os.path.join(REPO, "lib", "api", "libnvbind.map")
HEADER = os.path.join(REPO, "include", "nvbind.h")
EXAMPLES = os.path.join(REPO, "examples")

# A fake bolt: each argument on its own line in $FAKE_BOLT_LOG, exit status $FAKE_BOLT_EXIT.
FAKE_BOLT = """#!/bin/sh
for a in "$@"; do printf '%s\\n' "$a"; done > "$FAKE_BOLT_LOG"
exit ${FAKE_BOLT_EXIT:-0}
"""


def read(path):
    with open(path) as f:
        return f.read()


def map_nodes():
    """The version script's nodes in order: [(name, [symbols])]. The first is NVBIND_0, the only
    one with `local: *;`; each later node adds symbols and inherits the one before it."""
    text = re.sub(r"/\*.*?\*/", "", read(MAP_FILE), flags=re.S)
    nodes = re.findall(r"(NVBIND_[0-9.]+)\s*\{\s*global:(.*?)\}\s*(NVBIND_[0-9.]+)?\s*;", text, re.S)
    assert nodes and text.count("{") == len(nodes), "libnvbind.map: unreadable version nodes"
    out, previous = [], None
    for i, (name, body, parent) in enumerate(nodes):
        local = re.search(r"local:\s*\*;\s*$", body)
        assert bool(local) == (i == 0), f"libnvbind.map: {name}: only the first node has local: *;"
        assert (parent or None) == previous, f"libnvbind.map: {name} must inherit {previous}"
        body = body[:local.start()] if local else body
        out.append((name, sorted(x.strip() for x in body.split(";") if x.strip())))
        previous = name
    assert out[0][0] == "NVBIND_0", "libnvbind.map: the first node is NVBIND_0"
    return out


def map_symbols():
    """Every global symbol of the version script, all nodes."""
    return sorted(sym for _, syms in map_nodes() for sym in syms)


def header_symbols():
    """Every function include/nvbind.h declares with NVBIND_EXPORT."""
    text = read(HEADER)
    return sorted(set(re.findall(r"NVBIND_EXPORT[^;(]*?\b(nvbind_\w+)\s*\(", text, re.S)))


def build_options():
    """Sanitizer options of the build under test, so the examples link the same way."""
    r = run(["meson", "introspect", "--buildoptions", BUILD_DIR])
    if r.returncode != 0:
        return {}
    return {o["name"]: o["value"] for o in json.loads(r.stdout)}


class InstalledLibrary(unittest.TestCase):
    tmp = None

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="nvbind-api-e2e-")
        cls.prefix = os.path.join(cls.tmp, "prefix")
        cls.destdir = os.path.join(cls.tmp, "destdir")
        cls.build = os.path.join(cls.tmp, "build")
        opts = build_options()
        sanitize = opts.get("b_sanitize", "none")
        cls.sanitize = [] if sanitize in ("none", "", None) else ["-fsanitize=" + sanitize]
        setup = ["meson", "setup", cls.build, REPO, "--prefix", cls.prefix, "--libdir", "lib",
                 "-Dtests=false", "-Db_sanitize=" + (sanitize or "none"),
                 "-Db_lundef=" + ("true" if opts.get("b_lundef", True) else "false")]
        for cmd, what in ((setup, "meson setup"), (["ninja", "-C", cls.build], "ninja")):
            r = run(cmd, timeout=900)
            if r.returncode != 0:
                raise AssertionError(f"{what} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
        # First through DESTDIR (staged: nothing may land in the prefix itself), then for real.
        r = run(["meson", "install", "-C", cls.build, "--no-rebuild", "--quiet"], env={"DESTDIR": cls.destdir},
                timeout=300)
        if r.returncode != 0:
            raise AssertionError(f"meson install (DESTDIR) failed:\n{r.stdout}\n{r.stderr}")
        cls.prefix_after_destdir = os.path.exists(cls.prefix)
        r = run(["meson", "install", "-C", cls.build, "--no-rebuild", "--quiet"], timeout=300)
        if r.returncode != 0:
            raise AssertionError(f"meson install failed:\n{r.stdout}\n{r.stderr}")
        cls.libdir = os.path.join(cls.prefix, "lib")
        cls.env = {"PKG_CONFIG_PATH": os.path.join(cls.libdir, "pkgconfig"), "LD_LIBRARY_PATH": cls.libdir}
        # A sanitized library reports leaks at exit like the rest of the suite.
        cls.bin = os.path.join(cls.tmp, "bin")
        os.makedirs(cls.bin)
        bolt = os.path.join(cls.bin, "bolt")
        with open(bolt, "w") as f:
            f.write(FAKE_BOLT)
        os.chmod(bolt, 0o755)

    @classmethod
    def tearDownClass(cls):
        if cls.tmp:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    # ---- installation -------------------------------------------------------------------------

    def test_destdir_install_layout(self):
        self.assertFalse(self.prefix_after_destdir, "meson install with DESTDIR wrote into the prefix itself")
        staged = self.destdir + self.prefix
        for rel in ("include/nvbind.h", "lib/libnvbind.so.0.1.0", "lib/libnvbind.so.0", "lib/libnvbind.so",
                    "lib/libnvbind.a", "lib/pkgconfig/nvbind.pc", "share/man/man1/nvbind.1",
                    "share/man/man5/nvbind.toml.5", "share/man/man3/libnvbind.3"):
            self.assertTrue(os.path.lexists(os.path.join(staged, rel)), f"{rel} is not under DESTDIR/prefix")
        self.assertEqual(os.readlink(os.path.join(staged, "lib", "libnvbind.so.0")), "libnvbind.so.0.1.0")
        self.assertEqual(os.readlink(os.path.join(staged, "lib", "libnvbind.so")), "libnvbind.so.0")
        # Staged files are the same bytes as the real install.
        self.assertEqual(read(os.path.join(staged, "include", "nvbind.h")), read(HEADER))
        # The staged .pc names the real prefix, not the staging folder.
        pc = read(os.path.join(staged, "lib", "pkgconfig", "nvbind.pc"))
        self.assertIn(f"prefix={self.prefix}\n", pc)
        self.assertNotIn(self.destdir, pc)

    def test_pkg_config(self):
        r = run(["pkg-config", "--modversion", "nvbind"], env=self.env, check=True)
        version = r.stdout.strip()
        text = read(HEADER)
        parts = [re.search(rf"#define NVBIND_VERSION_{p} (\d+)", text).group(1) for p in ("MAJOR", "MINOR", "PATCH")]
        self.assertEqual(version, ".".join(parts))
        cflags = run(["pkg-config", "--cflags", "nvbind"], env=self.env, check=True).stdout.split()
        self.assertIn("-I" + os.path.join(self.prefix, "include"), cflags)
        libs = run(["pkg-config", "--libs", "nvbind"], env=self.env, check=True).stdout.split()
        self.assertEqual(libs, ["-L" + self.libdir, "-lnvbind"])
        static = run(["pkg-config", "--static", "--libs", "nvbind"], env=self.env, check=True).stdout.split()
        self.assertIn("-ljansson", static)
        self.assertIn("-lyaml", static)

    def test_man_pages_render(self):
        for page in ("man1/nvbind.1", "man5/nvbind.toml.5", "man3/libnvbind.3"):
            path = os.path.join(self.prefix, "share", "man", page)
            r = run(["man", "--warnings", "-l", "-Tutf8", path], env={"MANWIDTH": "100"})
            if r.returncode != 0 and "not found" in r.stderr:
                self.skipTest("man is not installed")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stderr.strip(), "", f"{page}: {r.stderr}")

    def test_man_pages_are_complete(self):
        """libnvbind(3) names every exported function; nvbind.toml(5) every key of the schema's
        key table (lib/config/keys.c), in its table's section."""
        lib3 = read(os.path.join(REPO, "docs", "man", "libnvbind.3")).replace("\\-", "-")
        missing = [f for f in map_symbols() if f not in lib3]
        self.assertEqual(missing, [], "functions missing from libnvbind(3)")
        page = read(os.path.join(REPO, "docs", "man", "nvbind.toml.5")).replace("\\-", "-")
        sections = dict(re.findall(r'^\.SH "\[([\w.]+)\]"\n(.*?)(?=^\.SH |\Z)', page, re.M | re.S))
        keys = re.findall(r'\{"([\w.]+)", "(\w+)", NVB_KEY_', read(os.path.join(REPO, "lib", "config", "keys.c")))
        self.assertGreater(len(keys), 20)
        missing = [f"[{t}] {k}" for t, k in keys if not re.search(rf"^\.BR? {k}\b", sections.get(t, ""), re.M)]
        self.assertEqual(missing, [], "keys missing from nvbind.toml(5)")

    # ---- exported symbols -------------------------------------------------------------------

    def test_exported_symbols_equal_version_script(self):
        lib = os.path.join(self.libdir, "libnvbind.so.0")
        r = run(["nm", "-D", "--defined-only", lib], check=True)
        nodes = map_nodes()
        exported, version_of = [], {}
        for line in r.stdout.splitlines():
            fields = line.split()
            if len(fields) != 3:
                continue
            kind, name = fields[1], fields[2]
            if kind == "A" and name in dict(nodes):  # a version node itself
                continue
            base, _, version = name.partition("@")
            exported.append(base)
            version_of[base] = version.lstrip("@")
        self.assertEqual(sorted(exported), map_symbols())
        # Each function carries the version of the node that added it (old programs keep
        # resolving NVBIND_0 symbols; new ones record NVBIND_0.1 for the newer functions).
        self.assertEqual(version_of, {sym: name for name, syms in nodes for sym in syms})
        self.assertTrue(all(s.startswith("nvbind_") for s in exported))

    def test_header_declares_exactly_the_version_script(self):
        self.assertEqual(header_symbols(), map_symbols())

    def test_soname(self):
        r = run(["readelf", "-d", os.path.join(self.libdir, "libnvbind.so.0.1.0")], check=True)
        m = re.search(r"\(SONAME\)\s+Library soname: \[(.*?)\]", r.stdout)
        self.assertIsNotNone(m, r.stdout)
        self.assertEqual(m.group(1), "libnvbind.so.0")

    def test_static_archive_hides_internals(self):
        r = run(["nm", "--defined-only", "-g", os.path.join(self.libdir, "libnvbind.a")], check=True)
        names = sorted(f[2] for f in (l.split() for l in r.stdout.splitlines()) if len(f) == 3)
        self.assertEqual(names, map_symbols())

    # ---- examples -----------------------------------------------------------------------------

    def compile(self, source, out, static=False):
        cflags = run(["pkg-config", "--cflags", "nvbind"], env=self.env, check=True).stdout
        if static:
            libs = run(["pkg-config", "--static", "--libs", "nvbind"], env=self.env, check=True).stdout
            libs = libs.replace("-lnvbind", "-l:libnvbind.a")
        else:
            libs = run(["pkg-config", "--libs", "nvbind"], env=self.env, check=True).stdout
        cmd = ["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", *self.sanitize, os.path.join(EXAMPLES, source),
               *shlex.split(cflags), *shlex.split(libs), "-o", out]
        r = run(cmd, env=self.env)
        self.assertEqual(r.returncode, 0, f"{' '.join(cmd)}\n{r.stderr}")
        return out

    def config(self, where):
        """An nvbind.toml keeping the run's specs, claims and audit log under `where`."""
        path = os.path.join(where, "nvbind.toml")
        with open(path, "w") as f:
            f.write(f'[cdi]\noutput_dir = "{where}/cdi"\n\n'
                    f'[isolation]\nstate_dir = "{where}/state"\naudit_log = "{where}/audit.log"\n')
        return path

    def audit(self, where):
        with open(os.path.join(where, "audit.log")) as f:
            return [json.loads(line) for line in f]

    def run_example(self, exe, args, bolt_exit=0):
        log = os.path.join(self.tmp, "bolt.log")
        if os.path.exists(log):
            os.unlink(log)
        env = dict(self.env)
        env.update({"PATH": self.bin + ":" + os.environ.get("PATH", "/usr/bin:/bin"), "FAKE_BOLT_LOG": log,
                    "FAKE_BOLT_EXIT": str(bolt_exit)})
        r = run([exe, *args], env=env)
        bolt_args = read(log).splitlines() if os.path.exists(log) else None
        return r, bolt_args

    def test_gaming_example(self):
        exe = self.compile("gaming_container.c", os.path.join(self.tmp, "gaming_container"))
        with FakeHost(gpus=2, model="rtx4090") as host:
            specdir = os.path.join(host.tmp, "cdi")
            saved = os.path.join(host.tmp, "gaming.yaml")
            r, bolt = self.run_example(exe, [host.root, self.config(host.tmp), saved], bolt_exit=3)
            # bolt's exit status is the example's.
            self.assertEqual(r.returncode, 3, r.stderr)
            self.assertIn(f"Found 2 GPUs, driver version: {host.manifest['driver']['version']}\n", r.stdout)
            self.assertIn("Bolt GPU optimizations available!\n", r.stdout)
            self.assertIn("Gaming CDI spec: kind nvidia.com/gpu-bolt, 5 devices\n", r.stdout)
            self.assertIn("  BOLT_WORKLOAD_TYPE=gaming\n", r.stdout)
            self.assertIn("bolt exited with status 3\n", r.stdout)
            # The translation, with the gaming profile's variables as the container's env.
            head = ["surge", "run", "--cdi-device", "nvidia.com/gpu-bolt=all", "--capsule-isolation", "gpu-shared",
                    "--runtime-optimization", "gpu-passthrough"]
            self.assertEqual(bolt[:8], head)
            self.assertEqual(bolt[-2:], ["steam:latest", "steam"])
            middle = bolt[8:-2]
            self.assertEqual(middle[0::2], ["--env"] * (len(middle) // 2))
            env = middle[1::2]
            for kv in ("__GL_MaxFramesAllowed=1", "PROTON_ENABLE_NVAPI=1", "WINEFSYNC=1", "VKD3D_CONFIG=dxr,dxr11"):
                self.assertIn(kv, env)
            # Bolt's capsule variables travel with this capsule, on its command line; the spec
            # bolt resolves nvidia.com/gpu-bolt=all in holds the devices only, the same for
            # every capsule.
            for kv in ("BOLT_WORKLOAD_TYPE=gaming", "BOLT_GPU_POWER_PROFILE=maximum", "BOLT_GPU_VRS=1",
                       "BOLT_GPU_ISOLATION=shared"):
                self.assertIn(kv, env)
            with open(os.path.join(specdir, "nvidia.com-gpu-bolt.json")) as f:
                spec = json.load(f)
            self.assertEqual(spec["kind"], "nvidia.com/gpu-bolt")
            self.assertFalse([kv for kv in spec["containerEdits"]["env"] if kv.startswith("BOLT_")])
            self.assertIn("all", [d["name"] for d in spec["devices"]])
            self.assertEqual(spec["devices"][0]["containerEdits"]["deviceNodes"][0]["path"], "/dev/nvidia0")
            # The gaming spec the example saved (YAML): the whole gaming environment.
            self.assertIn(f"Gaming CDI spec saved to {saved}\n", r.stdout)
            text = read(saved)
            self.assertTrue(text.startswith("cdiVersion: "), text[:100])
            for kv in ("BOLT_WORKLOAD_TYPE=gaming", "__GL_MaxFramesAllowed=1", "PROTON_ENABLE_NVAPI=1",
                       "VKD3D_CONFIG=dxr,dxr11", "WINEFSYNC=1"):
                self.assertIn(f'"{kv}"', text)
            # One audit line for the run, a grant of both GPUs; no claim outlives bolt.
            [event] = self.audit(host.tmp)
            self.assertEqual(event["decision"], "grant")
            self.assertEqual(event["runtime"], "bolt")
            self.assertEqual(event["isolation"], "shared")
            self.assertEqual(len(event["devices"]), 2)
            self.assertEqual(os.listdir(os.path.join(host.tmp, "state", "claims")), [])
            # nvbind's own validator accepts both.
            nvbind = os.path.join(BUILD_DIR, "src", "nvbind")
            if os.path.exists(nvbind):
                for path in (os.path.join(specdir, "nvidia.com-gpu-bolt.json"), saved):
                    v = run([nvbind, "cdi", "validate", path])
                    self.assertEqual(v.returncode, 0, v.stderr)

    def test_aiml_example(self):
        exe = self.compile("aiml_training.c", os.path.join(self.tmp, "aiml_training"))
        with FakeHost(gpus=1) as host:
            specdir = os.path.join(host.tmp, "cdi")
            r, bolt = self.run_example(exe, [host.root, self.config(host.tmp)])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("  CUDA_CACHE_MAXSIZE=4294967296\n", r.stdout)
            self.assertIn("  BOLT_WORKLOAD_TYPE=ai-ml\n", r.stdout)
            self.assertIn("  TF_CUDA_MALLOC_ASYNC_SUPPORTED_PREALLOC=16000000000\n", r.stdout)
            self.assertIn("AI/ML CDI spec: kind nvidia.com/gpu-bolt, cdiVersion ", r.stdout)
            # The example's manager has the AI/ML part: the capsule gets the AI/ML settings it
            # printed, as its own --env (the guide's translation around them).
            self.assertEqual(bolt[:8], ["surge", "run", "--cdi-device", "nvidia.com/gpu-bolt=all",
                                        "--capsule-isolation", "gpu-shared", "--runtime-optimization",
                                        "gpu-passthrough"])
            self.assertEqual(bolt[-3:], ["pytorch/pytorch:latest", "python", "train_model.py"])
            middle = bolt[8:-3]
            self.assertEqual(middle[0::2], ["--env"] * (len(middle) // 2))
            for kv in ("BOLT_WORKLOAD_TYPE=ai-ml", "CUDA_CACHE_MAXSIZE=4294967296",
                       "TF_CUDA_MALLOC_ASYNC_SUPPORTED_PREALLOC=16000000000", "TF_GPU_ALLOCATOR=cuda_malloc_async"):
                self.assertIn(kv, middle[1::2])
            self.assertTrue(os.path.exists(os.path.join(specdir, "nvidia.com-gpu-bolt.json")))

    def test_example_errors(self):
        exe = self.compile("aiml_training.c", os.path.join(self.tmp, "aiml_training_err"))
        empty = tempfile.mkdtemp(prefix="nvbind-nodriver-", dir=self.tmp)
        r, bolt = self.run_example(exe, [empty, self.config(empty)])
        self.assertEqual(r.returncode, 3)  # NVBIND_EXIT_NO_DRIVER
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertIn("aiml_training: generating the AI/ML CDI spec: ", r.stderr)
        self.assertIn(empty, r.stderr)
        self.assertIsNone(bolt)
        self.assertFalse(os.path.exists(os.path.join(empty, "cdi")))

    def test_static_embedding(self):
        """libnvbind.a links into a program that then needs no libnvbind.so."""
        exe = self.compile("aiml_training.c", os.path.join(self.tmp, "aiml_static"), static=True)
        r = run(["readelf", "-d", exe], check=True)
        self.assertNotIn("libnvbind", r.stdout)
        with FakeHost(gpus=1) as host:
            env = dict(os.environ)
            env.pop("LD_LIBRARY_PATH", None)
            log = os.path.join(host.tmp, "bolt.log")
            r = subprocess.run([exe, host.root, self.config(host.tmp)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, timeout=120,
                               env={**env, "PATH": self.bin + ":" + env.get("PATH", "/usr/bin:/bin"),
                                    "FAKE_BOLT_LOG": log})
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("  CUDA_CACHE_MAXSIZE=4294967296\n", r.stdout)


if __name__ == "__main__":
    unittest.main()
