"""nvbind.toml from the command line: config init | show | validate, the search order, errors
that name file:line:column and exit 5 leaving nothing written, and cdi generate --profile
gaming | aiml | custom on fake hosts (the variables, capabilities and files each produces)."""
import json
import os
import shutil
import stat
import subprocess
import tempfile
import unittest

from nvbtest import NVBIND, FakeHost, podman_run, run

SEED_GAMING = """# nvbind.toml - Gaming optimized configuration
[bolt.capsule]
snapshot_gpu_state = true
isolation_level = "exclusive"
quic_acceleration = true

[bolt.gaming]
dlss_enabled = true
rt_cores_enabled = true
performance_profile = "ultra-low-latency"
wine_optimizations = true
vrs_enabled = true
power_profile = "maximum"
"""

SEED_AIML = """[bolt.capsule]
snapshot_gpu_state = true
isolation_level = "virtual"
gpu_memory_limit = "16GB"

[bolt.aiml]
cuda_cache_size = 4096
tensor_cores_enabled = true
mixed_precision = true
memory_pool_size = "24GB"
mig_enabled = true
"""

GRAPHICS_FILES = ("/usr/share/vulkan/icd.d/nvidia_icd.json", "/usr/share/nvidia/nvoptix.bin",
                  "/usr/share/glvnd/egl_vendor.d/10_nvidia.json")


class ConfigCase(unittest.TestCase):
    """Each test runs nvbind in an empty folder with its own XDG_CONFIG_HOME, so no
    configuration file of this machine or user takes part unless the test writes it."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="nvbind-config-")
        self.cwd = os.path.join(self.tmp, "cwd")
        self.xdg = os.path.join(self.tmp, "xdg")
        os.makedirs(self.cwd)
        os.makedirs(self.xdg)
        self.env = {k: v for k, v in os.environ.items() if k not in ("NVBIND_CONFIG", "NVBIND_ROOT")}
        self.env["XDG_CONFIG_HOME"] = self.xdg

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def nvbind(self, *args, env=None):
        full = dict(self.env)
        full.update(env or {})
        return subprocess.run([NVBIND, *args], cwd=self.cwd, env=full, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=120)

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def assert_config_error(self, r, path, line, column, key):
        self.assertEqual(r.returncode, 5, r.stderr)
        prefix = f"nvbind: {path}:{line}:{column}: {key}: "
        self.assertTrue(r.stderr.startswith(prefix), f"{r.stderr!r} should start with {prefix!r}")
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)


class Init(ConfigCase):
    def test_stdout_covers_every_key_and_loads_to_the_defaults(self):
        r = self.nvbind("config", "init")
        self.assertEqual(r.returncode, 0, r.stderr)
        template = r.stdout
        defaults = json.loads(self.nvbind("config", "show", "--json").stdout)
        self.assertIsNone(defaults["source"])
        for key in defaults["values"]:
            name = key.rsplit(".", 1)[1]
            self.assertTrue(f"\n{name} = " in template or f"\n# {name} = " in template, f"{key} is not in config init")
            self.assertIn("\n# ", template)
        path = self.write("init.toml", template)
        shown = json.loads(self.nvbind("--config", path, "config", "show", "--json").stdout)
        self.assertEqual({k: v["value"] for k, v in shown["values"].items()},
                         {k: v["value"] for k, v in defaults["values"].items()})

    def test_output_file_refuses_to_overwrite_without_force(self):
        out = os.path.join(self.tmp, "etc", "nvbind.toml")
        os.makedirs(os.path.dirname(out))
        r = self.nvbind("config", "init", "--output", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "")
        self.assertEqual(stat.S_IMODE(os.stat(out).st_mode), 0o644)
        r = self.nvbind("config", "validate", out)
        self.assertEqual((r.returncode, r.stdout), (0, f"{out}: valid\n"), r.stderr)
        with open(out, "w") as f:
            f.write("# mine\n")
        r = self.nvbind("config", "init", "--output", out)
        self.assertEqual(r.returncode, 6)
        self.assertIn("already exists; use --force", r.stderr)
        with open(out) as f:
            self.assertEqual(f.read(), "# mine\n")
        r = self.nvbind("config", "init", "--output", out, "--force")
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(out) as f:
            self.assertIn("[bolt.capsule]", f.read())
        self.assertEqual(sorted(os.listdir(os.path.dirname(out))), ["nvbind.toml"], "no temporary file left")


class ShowAndValidate(ConfigCase):
    def test_seed_blocks_validate_and_show_their_origins(self):
        for name, text in (("gaming.toml", SEED_GAMING), ("aiml.toml", SEED_AIML)):
            path = self.write(name, text)
            r = self.nvbind("config", "validate", path)
            self.assertEqual((r.returncode, r.stdout), (0, f"{path}: valid\n"), r.stderr)
        shown = json.loads(self.nvbind("--config", os.path.join(self.tmp, "aiml.toml"), "config", "show",
                                       "--json").stdout)
        v = shown["values"]
        aiml = os.path.join(self.tmp, "aiml.toml")
        self.assertEqual(shown["source"], aiml)
        self.assertEqual(v["bolt.capsule.isolation_level"], {"value": "virtual", "from": f"{aiml}:3"})
        self.assertEqual(v["bolt.capsule.gpu_memory_limit"], {"value": 16000000000, "from": f"{aiml}:4"})
        self.assertEqual(v["bolt.aiml.memory_pool_size"], {"value": 24000000000, "from": f"{aiml}:10"})
        self.assertEqual(v["bolt.aiml.cuda_cache_size"]["value"], 4096)
        self.assertEqual(v["cdi.device_name_strategy"], {"value": ["index", "uuid"], "from": "default"})
        text = self.nvbind("--config", aiml, "config", "show").stdout
        self.assertIn(f'isolation_level = "virtual"  # {aiml}:3\n', text)
        self.assertIn('gpu_memory_limit = "16GB"', text)
        self.assertIn("quic_acceleration = false  # default\n", text)

    def test_search_order(self):
        xdg_file = os.path.join(self.xdg, "nvbind", "config.toml")
        os.makedirs(os.path.dirname(xdg_file))
        with open(xdg_file, "w") as f:
            f.write('[gpu]\ndefault = "1"\n')
        show = lambda **kw: json.loads(self.nvbind("config", "show", "--json", **kw).stdout)  # noqa: E731
        self.assertEqual(show()["values"]["gpu.default"], {"value": "1", "from": f"{xdg_file}:2"})
        # ./nvbind.toml is never read: the folder one stands in is no configuration place.
        with open(os.path.join(self.cwd, "nvbind.toml"), "w") as f:
            f.write('\n[gpu]\ndefault = "2"\n')
        self.assertEqual(show()["values"]["gpu.default"], {"value": "1", "from": f"{xdg_file}:2"})
        env_file = self.write("env.toml", '[gpu]\ndefault = "3"\n')
        self.assertEqual(show(env={"NVBIND_CONFIG": env_file})["values"]["gpu.default"]["value"], "3")
        explicit = self.write("explicit.toml", '[gpu]\ndefault = "none"\n')
        r = self.nvbind("--config", explicit, "config", "show", "--json", env={"NVBIND_CONFIG": env_file})
        self.assertEqual(json.loads(r.stdout)["values"]["gpu.default"]["value"], "none")
        r = self.nvbind("config", "validate")
        self.assertEqual((r.returncode, r.stdout), (0, f"{xdg_file}: valid\n"), r.stderr)
        missing = os.path.join(self.tmp, "missing.toml")
        for r in (self.nvbind("--config", missing, "config", "show"),
                  self.nvbind("config", "validate", env={"NVBIND_CONFIG": missing})):
            self.assertEqual(r.returncode, 5)
            self.assertIn(f"{missing}: no such configuration file", r.stderr)

    @unittest.skipIf(os.path.exists("/etc/nvbind/config.toml"), "this machine has /etc/nvbind/config.toml")
    def test_no_file_means_defaults(self):
        r = self.nvbind("config", "validate")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.startswith(f"no configuration file found (looked for {self.xdg}/nvbind/config.toml, "),
                        r.stdout)
        self.assertIn("/etc/nvbind/config.toml); the defaults apply", r.stdout)
        shown = json.loads(self.nvbind("config", "show", "--json").stdout)
        self.assertIsNone(shown["source"])
        self.assertTrue(all(v["from"] == "default" for v in shown["values"].values()))

    def test_bad_configurations(self):
        cases = [
            ('[bolt.capsule]\nisolation_level = "exclusve"\n', 2, 19, "bolt.capsule.isolation_level",
             'did you mean "exclusive"?'),
            ('[bolt.capsule]\nisolation_level = "virtual"\ngpu_memory_limit = "8QB"\n', 3, 20,
             "bolt.capsule.gpu_memory_limit", '"8QB" is not a size'),
            ('[bolt.capsule]\nisolaton_level = "shared"\n', 2, 1, "bolt.capsule.isolaton_level",
             'unknown key; did you mean "isolation_level"?'),
            ("[bolt.gamming]\n", 1, 7, "bolt.gamming", 'unknown table; did you mean "bolt.gaming"?'),
            ('[bolt.gaming]\ndlss_enabled = "yes"\n', 2, 16, "bolt.gaming.dlss_enabled",
             "expected a boolean, found string"),
            ("[bolt.aiml]\ncuda_cache_size = 8192\n", 2, 19, "bolt.aiml.cuda_cache_size", "out of range"),
            ('[services.gpu-app]\nimage = "x"\n', 1, 2, "services", "Bolt's own service configuration"),
            ('[profiles.gaming]\n', 1, 11, "profiles.gaming", "built-in profile"),
        ]
        for text, line, column, key, problem in cases:
            with self.subTest(text=text):
                path = self.write("bad.toml", text)
                r = self.nvbind("config", "validate", path)
                self.assert_config_error(r, path, line, column, key)
                self.assertIn(problem, r.stderr)
                self.assertEqual(r.stdout, "")

    def test_toml_errors_name_the_place(self):
        cases = [
            ("[cdi]\nhook_path = \"/a\"\nhook_path = \"/b\"\n", 3),   # duplicate key
            ("[cdi]\n[cdi]\n", 2),                                     # table defined twice
            (b"[host]\nroot = \"\xff\"\n", 2),                         # invalid UTF-8
            ("[host]\nroot = \"/abc\n", 2),                            # unterminated string
        ]
        for text, line in cases:
            with self.subTest(text=text):
                path = os.path.join(self.tmp, "bad.toml")
                with open(path, "wb") as f:
                    f.write(text if isinstance(text, bytes) else text.encode())
                r = self.nvbind("config", "validate", path)
                self.assertEqual(r.returncode, 5, r.stderr)
                self.assertTrue(r.stderr.startswith(f"nvbind: {path}:{line}:"), r.stderr)


def env_of(spec):
    return dict(e.split("=", 1) for e in spec["containerEdits"].get("env", []))


def mounted(spec):
    return {m["containerPath"] for m in spec["containerEdits"].get("mounts", [])}


class GenerateWithProfiles(ConfigCase):
    @classmethod
    def setUpClass(cls):
        cls.fh = FakeHost(gpus=2)

    @classmethod
    def tearDownClass(cls):
        cls.fh.remove()

    def generate(self, *args, config=None):
        pre = ["--config", config] if config else []
        r = self.nvbind(*pre, *self.fh.args, "cdi", "generate", *args)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def test_gaming_seed(self):
        cfg = self.write("gaming.toml", SEED_GAMING)
        spec = self.generate("--profile", "gaming", config=cfg)
        env = env_of(spec)
        self.assertEqual(env["NVIDIA_DRIVER_CAPABILITIES"], "utility,video,graphics,display,ngx,compat32")
        for key, value in {"PROTON_ENABLE_NVAPI": "1", "DXVK_ENABLE_NVAPI": "1", "VKD3D_CONFIG": "dxr,dxr11",
                           "WINEESYNC": "1", "WINEFSYNC": "1", "__GL_MaxFramesAllowed": "1",
                           "__GL_SYNC_TO_VBLANK": "0", "__GL_SHADER_DISK_CACHE": "1",
                           "__GL_SHADER_DISK_CACHE_SIZE": "4294967296"}.items():
            self.assertEqual(env.get(key), value, key)
        self.assertNotIn("BOLT_WORKLOAD_TYPE", env, "only the gpu-bolt kind carries Bolt's variables")
        files = mounted(spec)
        for path in GRAPHICS_FILES:
            self.assertIn(path, files)
        self.assertIn("/usr/lib/x86_64-linux-gnu/nvidia/wine/nvngx.dll", files)
        self.assertFalse(any("x86_64-linux-gnu/libcuda.so" in p for p in files), "gaming does not mount CUDA")
        self.assertEqual(run([NVBIND, "cdi", "validate", "/dev/stdin"], input=json.dumps(spec)).returncode, 0)

    def test_gaming_bolt_kind_carries_the_capsule(self):
        cfg = self.write("gaming.toml", SEED_GAMING)
        env = env_of(self.generate("--profile", "gaming", "--kind", "nvidia.com/gpu-bolt", config=cfg))
        for key, value in {"BOLT_GPU_ENABLED": "1", "BOLT_GPU_ISOLATION": "exclusive", "BOLT_GPU_SNAPSHOT": "1",
                           "BOLT_QUIC_ACCELERATION": "1", "BOLT_WORKLOAD_TYPE": "gaming",
                           "BOLT_GPU_POWER_PROFILE": "maximum", "BOLT_GPU_VRS": "1"}.items():
            self.assertEqual(env.get(key), value, key)

    def test_aiml_seed_bolt_kind(self):
        cfg = self.write("aiml.toml", SEED_AIML)
        spec = self.generate("--profile", "aiml", "--kind", "nvidia.com/gpu-bolt", config=cfg)
        env = env_of(spec)
        for key, value in {"CUDA_CACHE_MAXSIZE": "4294967296", "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE": "1",
                           "TF_ENABLE_AUTO_MIXED_PRECISION": "1", "TF_GPU_ALLOCATOR": "cuda_malloc_async",
                           "TF_CUDA_MALLOC_ASYNC_SUPPORTED_PREALLOC": "24000000000",
                           "NVIDIA_DRIVER_CAPABILITIES": "utility,compute,video",
                           "BOLT_WORKLOAD_TYPE": "ai-ml", "BOLT_GPU_ISOLATION": "virtual",
                           "BOLT_GPU_SNAPSHOT": "1", "BOLT_GPU_MEMORY_LIMIT": "16000000000"}.items():
            self.assertEqual(env.get(key), value, key)
        # Tensor cores on: TF32 is left allowed; NVIDIA_TF32_OVERRIDE only ever turns it off.
        self.assertNotIn("NVIDIA_TF32_OVERRIDE", env)
        files = mounted(spec)
        for path in GRAPHICS_FILES:
            self.assertNotIn(path, files)
        self.assertFalse(any("libGLX_nvidia" in p or "libEGL_nvidia" in p or "libnvidia-glcore" in p for p in files))
        self.assertTrue(any(p.endswith("libcuda.so.550.54.14") for p in files))
        self.assertIn("/usr/bin/nvidia-smi", files)

    def test_tensor_cores_off(self):
        cfg = self.write("notf32.toml", "[bolt.aiml]\ntensor_cores_enabled = false\ncuda_cache_size = 0\n")
        env = env_of(self.generate("--profile", "aiml", config=cfg))
        self.assertEqual(env.get("NVIDIA_TF32_OVERRIDE"), "0")
        self.assertEqual(env.get("CUDA_CACHE_DISABLE"), "1")
        self.assertNotIn("CUDA_CACHE_MAXSIZE", env)

    def test_custom_profile(self):
        models = os.path.join(self.fh.root, "srv", "models")
        os.makedirs(models, exist_ok=True)
        cfg = self.write("custom.toml", """
[runtime.environment]
TZ = "UTC"
[profiles.render]
env = { RENDER_QUALITY = "high", TZ = "Europe/Paris" }
driver_capabilities = ["graphics", "utility"]
devices = ["/dev/nvidia-modeset"]
mounts = ["/srv/models:/models"]
""")
        spec = self.generate("--profile", "render", config=cfg)
        env = env_of(spec)
        self.assertEqual(env["RENDER_QUALITY"], "high")
        self.assertEqual(env["TZ"], "Europe/Paris")
        self.assertEqual(env["NVIDIA_DRIVER_CAPABILITIES"], "utility,graphics")
        self.assertIn({"hostPath": models, "containerPath": "/models",
                       "options": ["ro", "nosuid", "nodev", "rbind", "rprivate"]}, spec["containerEdits"]["mounts"])
        self.assertIn("/usr/share/vulkan/icd.d/nvidia_icd.json", mounted(spec))
        self.assertFalse(any("x86_64-linux-gnu/libcuda.so" in p for p in mounted(spec)))
        # [runtime.environment] reaches every spec, with or without a profile.
        self.assertEqual(env_of(self.generate(config=cfg))["TZ"], "UTC")

    def test_no_profile_spec_is_unchanged_by_an_empty_config(self):
        empty = self.write("empty.toml", "")
        self.assertEqual(self.generate(config=empty), self.generate())
        self.assertEqual(env_of(self.generate()), {"NVIDIA_VISIBLE_DEVICES": "void"})

    def test_unknown_profile(self):
        cfg = self.write("p.toml", "[profiles.render]\n")
        r = self.nvbind("--config", cfg, *self.fh.args, "cdi", "generate", "--profile", "gamng")
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stderr.strip(), "nvbind: --profile 'gamng': unknown profile (valid: default, gaming, aiml, "
                                           "render); did you mean 'gaming'?")

    def test_cdi_and_host_defaults_from_the_config(self):
        cfg = self.write("cdi.toml", f"""
[host]
root = "{self.fh.root}"
[cdi]
device_name_strategy = ["type-index"]
hook_path = "/opt/nvbind/bin/nvbind"
""")
        r = self.nvbind("--config", cfg, "cdi", "generate")   # no --root: [host] root is used
        self.assertEqual(r.returncode, 0, r.stderr)
        spec = json.loads(r.stdout)
        self.assertEqual([d["name"] for d in spec["devices"]], ["gpu0", "gpu1", "all"])
        self.assertEqual({h["path"] for h in spec["containerEdits"]["hooks"]}, {"/opt/nvbind/bin/nvbind"})
        # The command line wins over the configuration.
        spec = self.generate("--device-name-strategy", "index", "--hook-path", "/usr/bin/nvbind", config=cfg)
        self.assertEqual([d["name"] for d in spec["devices"]], ["0", "1", "all"])
        self.assertEqual({h["path"] for h in spec["containerEdits"]["hooks"]}, {"/usr/bin/nvbind"})

    def test_bad_config_writes_nothing(self):
        out = os.path.join(self.tmp, "spec.json")
        cases = [
            ('[bolt.capsule]\nisolation_level = "exclusve"\n', 2, 19, "bolt.capsule.isolation_level"),
            ('[bolt.aiml]\nmemory_pool_size = "8QB"\n', 2, 20, "bolt.aiml.memory_pool_size"),
            ('[cdi]\ndevice_name_strategy = "index,uid"\n', 2, 24, "cdi.device_name_strategy"),
        ]
        for text, line, column, key in cases:
            with self.subTest(text=text):
                cfg = self.write("bad.toml", text)
                r = self.nvbind("--config", cfg, *self.fh.args, "cdi", "generate", "--profile", "aiml",
                                "--output", out)
                self.assert_config_error(r, cfg, line, column, key)
                self.assertEqual(r.stdout, "")
                self.assertFalse(os.path.exists(out))
                self.assertEqual(os.listdir(self.tmp).count("spec.json"), 0)
        # A configuration found by the search order is named the same way.
        xdg_file = os.path.join(self.xdg, "nvbind", "config.toml")
        os.makedirs(os.path.dirname(xdg_file))
        with open(xdg_file, "w") as f:
            f.write("[gpu]\ndefault = 0\n")
        r = self.nvbind(*self.fh.args, "cdi", "generate", "--output", out)
        self.assert_config_error(r, xdg_file, 2, 11, "gpu.default")
        self.assertFalse(os.path.exists(out))


@unittest.skipUnless(shutil.which("podman") and os.geteuid() == 0, "needs podman and root")
class PodmanSeesTheProfile(ConfigCase):
    KIND = "nvbind-test.example/profile"

    def test_gaming_variables_inside_the_container(self):
        with FakeHost(gpus=1) as fh:
            cfg = self.write("gaming.toml", SEED_GAMING)
            spec_dir = "/var/run/cdi"
            os.makedirs(spec_dir, exist_ok=True)
            spec = os.path.join(spec_dir, "nvbind-test.example-profile.json")
            r = self.nvbind("--config", cfg, *fh.args, "cdi", "generate", "--profile", "gaming",
                            "--kind", self.KIND, "--output", spec)
            self.assertEqual(r.returncode, 0, r.stderr)
            try:
                r = podman_run(["--device", f"{self.KIND}=0"],
                               "echo $__GL_MaxFramesAllowed $VKD3D_CONFIG $NVIDIA_DRIVER_CAPABILITIES; "
                               "test -f /usr/share/vulkan/icd.d/nvidia_icd.json && echo icd")
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(r.stdout.split(), ["1", "dxr,dxr11", "utility,video,graphics,display,ngx,compat32",
                                                    "icd"])
            finally:
                os.unlink(spec)


if __name__ == "__main__":
    unittest.main()
