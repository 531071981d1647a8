"""Bad-input catalogue: every way a user, a configuration file, a host, a CDI spec or an OCI
bundle can be wrong, each case with the exact exit status (README's table), the exact error
line (or a regular expression that names the file, line and field), and proof that nothing
was left half-done: the case's folder (its files, its fake host, its bundle, TMPDIR where
`nvbind run` puts bundles, the spec folder runs write to) is byte for byte what it was, and no
temporary or bundle of the process appears in /etc/cdi, /var/run/cdi or /run/nvbind/bundles.

Each case is generated as its own test method (test_<area>_<name>) so the runner counts it.
Placeholders in arguments, files and messages: @TMP@ (the case's folder), @ROOT@ (the fake
host's root), @UUID0@ / @UUID1@ (the fake host's GPU UUIDs)."""
import hashlib
import os
import re
import shutil
import stat
import subprocess
import tempfile
import unittest

from nvbtest import NVBIND, fakehost

SHIM = os.path.join(os.path.dirname(NVBIND), "nvbind-runtime")
GLOBAL_DIRS = ("/etc/cdi", "/var/run/cdi", "/run/nvbind/bundles")

USAGE_LINE = "usage: nvbind [GLOBAL OPTIONS] COMMAND [ARGS]"
STATE = ('{"ociVersion": "1.0.2", "id": "ctr", "status": "creating", "pid": 1, "bundle": "@TMP@/bundle"}')
STUB_RUNTIME = "#!/bin/sh\necho \"$@\" > @TMP@/stub-runtime-ran\n"


class Case:
    """One bad input.

    argv      arguments after the program (placeholders allowed)
    code      the exact exit status
    message   an exact stderr line (str) or a pattern one stderr line must match in full
    files     {relative path: text or bytes} written into the case folder first
    host      None (no fake host), True (the shared 2-GPU host, read only), or a function
              f(root) that damages a fresh 2-GPU host built for this case
    stdin     text for standard input
    prog      "nvbind" or "shim" (nvbind-runtime)
    env       extra environment
    stdout    expected standard output ("" by default; None: not checked)
    may_add   a pattern of relative paths that may appear, as empty files or folders (the
              claims' lock files, which stay by design: removing them would race with lockers)"""

    def __init__(self, name, argv, code, message, files=None, host=None, stdin=None, prog="nvbind", env=None,
                 stdout="", may_add=None):
        self.name, self.argv, self.code, self.message = name, argv, code, message
        self.files, self.host, self.stdin, self.prog = files or {}, host, stdin, prog
        self.env, self.stdout, self.may_add = env or {}, stdout, may_add


# ---- helpers to damage a fake host ------------------------------------------------------------

def _write(path, data):
    with open(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)


def _gpu_info(root, i=0):
    d = os.path.join(root, "proc/driver/nvidia/gpus")
    return os.path.join(d, sorted(os.listdir(d))[i], "information")


def _edit(path, fn):
    with open(path) as f:
        text = f.read()
    _write(path, fn(text))


def drop_field(field, gpu=0):
    def damage(root):
        _edit(_gpu_info(root, gpu), lambda t: "".join(l for l in t.splitlines(True) if not l.startswith(field)))
    return damage


def set_field(field, value, gpu=0):
    def damage(root):
        _edit(_gpu_info(root, gpu), lambda t: re.sub(r"(?m)^(%s:\s*).*$" % re.escape(field), r"\g<1>" + value, t))
    return damage


def replace_with_folder(rel):
    def damage(root):
        path = os.path.join(root, rel)
        os.unlink(path)
        os.mkdir(path)
    return damage


def remove(rel):
    return lambda root: os.unlink(os.path.join(root, rel))


def write_host_file(rel, data):
    return lambda root: _write(os.path.join(root, rel), data)


def truncate_cache(size):
    def damage(root):
        path = os.path.join(root, "etc/ld.so.cache")
        os.truncate(path, size if size >= 0 else os.path.getsize(path) // 2)
    return damage


def cache_header_field(offset, value):
    """Overwrite a 32-bit field of the glibc-ld.so.cache1.1 header (offset from its magic)."""
    def damage(root):
        path = os.path.join(root, "etc/ld.so.cache")
        with open(path, "rb") as f:
            data = bytearray(f.read())
        at = data.find(b"glibc-ld.so.cache1.1")
        assert at >= 0, "the fake host's cache has no new-format header"
        data[at + offset:at + offset + 4] = value.to_bytes(4, "little")
        _write(path, bytes(data))
    return damage


def no_driver(root):
    shutil.rmtree(os.path.join(root, "proc/driver/nvidia"))


# ---- the catalogue ----------------------------------------------------------------------------

CLI = [
    Case("no_command", [], 2, USAGE_LINE),
    Case("unknown_command", ["frobnicate"], 2, "nvbind: unknown command 'frobnicate' (see nvbind --help)"),
    Case("unknown_global_option", ["--bogus", "info"], 2, "nvbind: unknown option '--bogus' (see nvbind --help)"),
    Case("global_option_missing_value", ["--root"], 2, "nvbind: --root needs a value (see nvbind --help)"),
    Case("driver_root_relative", ["--driver-root", "run/nvidia/driver", "info"], 2,
         "nvbind: --driver-root run/nvidia/driver: must be an absolute path on the host"),
    Case("root_missing", ["--root", "@TMP@/nohost", "info"], 3,
         "nvbind: no NVIDIA driver found under @TMP@/nohost: the host root does not exist"),
    Case("root_is_a_file", ["--root", "@TMP@/file", "info"], 3,
         "nvbind: no NVIDIA driver found under @TMP@/file: the host root is not a folder", files={"file": "x\n"}),
    Case("driver_root_missing", ["--root", "@ROOT@", "--driver-root", "/run/nvidia/driver", "info"], 3,
         "nvbind: driver root /run/nvidia/driver: no such folder under the host root", host=True),
    Case("info_unknown_option", ["info", "--bogus"], 2,
         "nvbind info: unknown option '--bogus' (see nvbind info --help)"),
    Case("info_flag_with_value", ["info", "--json=yes"], 2,
         "nvbind info: --json takes no value (see nvbind info --help)"),
    Case("info_extra_argument", ["info", "extra"], 2, "nvbind info: unexpected argument 'extra'"),
    Case("doctor_unknown_short_option", ["doctor", "-x"], 2,
         "nvbind doctor: unknown option '-x' (see nvbind doctor --help)"),
    Case("cdi_no_subcommand", ["cdi"], 2,
         "nvbind cdi: missing subcommand (generate, list, validate, check; see nvbind cdi --help)"),
    Case("cdi_unknown_subcommand", ["cdi", "frob"], 2,
         "nvbind cdi: unknown subcommand 'frob' (generate, list, validate, check)"),
    Case("generate_kind_without_slash", ["--root", "@ROOT@", "cdi", "generate",
                                         "--kind", "nvidia", "--output", "@TMP@/out"],
         2, "nvbind cdi generate: --kind 'nvidia': a kind is VENDOR/CLASS (e.g. nvidia.com/gpu) and this has no '/'",
         host=True, files={"out/.keep": ""}),
    Case("generate_kind_empty_class", ["--root", "@ROOT@", "cdi", "generate",
                                       "--kind", "nvidia.com/", "--output", "@TMP@/out"],
         2, "nvbind cdi generate: --kind 'nvidia.com/': the class is empty", host=True, files={"out/.keep": ""}),
    Case("generate_kind_bad_character", ["--root", "@ROOT@", "cdi", "generate", "--kind", "nvidia.com/gpu!"], 2,
         "nvbind cdi generate: --kind 'nvidia.com/gpu!': the class must end with a letter or digit, not '!'",
         host=True),
    Case("generate_kind_vendor_too_long", ["--root", "@ROOT@", "cdi", "generate", "--kind", "v" * 254 + "/gpu"], 2,
         "nvbind cdi generate: --kind '%s/gpu': the vendor is 254 characters long, at most 253 are allowed"
         % ("v" * 254),
         host=True),
    Case("generate_kind_missing_value", ["cdi", "generate", "--kind"], 2,
         "nvbind cdi generate: --kind needs a value (see nvbind cdi generate --help)"),
    Case("generate_unknown_strategy", ["--root", "@ROOT@", "cdi", "generate", "--device-name-strategy", "index,serial",
                                       "--output", "@TMP@/out"], 2,
         "nvbind: --device-name-strategy: unknown strategy 'serial' (expected index, uuid or type-index)", host=True,
         files={"out/.keep": ""}),
    Case("generate_empty_strategy", ["--root", "@ROOT@", "cdi", "generate", "--device-name-strategy", ""], 2,
         "nvbind: --device-name-strategy: empty list (expected index, uuid or type-index)", host=True),
    Case("generate_strategy_empty_entry", ["--root", "@ROOT@", "cdi", "generate",
                                           "--device-name-strategy", "index,,uuid"],
         2, "nvbind: --device-name-strategy 'index,,uuid': empty entry", host=True),
    Case("generate_bad_format", ["--root", "@ROOT@", "cdi", "generate", "--format", "xml", "--output", "@TMP@/out"], 2,
         "nvbind: cdi generate: --format 'xml': expected json or yaml", host=True, files={"out/.keep": ""}),
    Case("generate_relative_hook_path", ["--root", "@ROOT@", "cdi", "generate", "--hook-path", "bin/nvbind"], 2,
         "nvbind cdi generate: --hook-path 'bin/nvbind' must be an absolute path", host=True),
    Case("generate_unknown_profile", ["--root", "@ROOT@", "cdi", "generate",
                                      "--profile", "turbo", "--output", "@TMP@/out"],
         2, "nvbind: --profile 'turbo': unknown profile (valid: default, gaming, aiml)", host=True,
         files={"out/.keep": ""}),
    Case("generate_extra_argument", ["--root", "@ROOT@", "cdi", "generate", "extra"], 2,
         "nvbind cdi generate: unexpected argument 'extra'", host=True),
    Case("generate_output_folder_missing", ["--root", "@ROOT@", "cdi", "generate",
                                            "--output", "@TMP@/no/such/x.json"], 6,
         "nvbind: cannot write @TMP@/no/such/x.json: folder @TMP@/no/such: No such file or directory", host=True),
    Case("generate_output_name_is_a_folder", ["--root", "@ROOT@", "cdi", "generate", "--output", "@TMP@/out"], 6,
         "nvbind: cannot write @TMP@/out/nvidia.com-gpu.json: it is a folder; nvbind replaces only regular files",
         host=True, files={"out/nvidia.com-gpu.json/.keep": ""}),
    Case("generate_output_is_a_device_node", ["--root", "@ROOT@", "cdi", "generate",
                                              "--output", "@ROOT@/dev/nvidiactl"],
         6, "nvbind: cannot write @ROOT@/dev/nvidiactl: it is a character device; nvbind replaces only regular files",
         host=True),
    Case("validate_no_file", ["cdi", "validate"], 2, "nvbind cdi validate: usage: nvbind cdi validate [--json] FILE"),
    Case("validate_two_files", ["cdi", "validate", "a.json", "b.json"], 2,
         "nvbind cdi validate: usage: nvbind cdi validate [--json] FILE"),
    Case("validate_missing_file", ["cdi", "validate", "@TMP@/none.json"], 6,
         "nvbind: cannot read @TMP@/none.json: No such file or directory"),
    Case("validate_a_folder", ["cdi", "validate", "@TMP@/dir.json"], 6,
         "nvbind: cannot read @TMP@/dir.json: Is a directory", files={"dir.json/.keep": ""}),
    Case("check_missing_file", ["--root", "@ROOT@", "cdi", "check", "@TMP@/none.json"], 6,
         "nvbind: cannot read @TMP@/none.json: No such file or directory", host=True),
    Case("list_unknown_option", ["cdi", "list", "--all"], 2,
         "nvbind cdi list: unknown option '--all' (see nvbind cdi list --help)"),
    Case("list_spec_dir_is_a_file", ["cdi", "list", "--spec-dir", "@TMP@/file"], 6,
         "nvbind: cannot read CDI spec directory @TMP@/file: Not a directory", files={"file": "{}\n"}),
    Case("config_no_subcommand", ["config"], 2,
         "nvbind config: missing subcommand (init, show, validate; see nvbind config --help)"),
    Case("config_unknown_subcommand", ["config", "frob"], 2,
         "nvbind config: unknown subcommand 'frob' (init, show, validate)"),
    Case("config_init_existing_file", ["config", "init", "--output", "@TMP@/nvbind.toml"], 6,
         "nvbind: @TMP@/nvbind.toml already exists; use --force to replace it", files={"nvbind.toml": "# mine\n"}),
    Case("config_init_folder_missing", ["config", "init", "--output", "@TMP@/no/nvbind.toml"], 6,
         "nvbind: cannot write @TMP@/no/nvbind.toml: folder @TMP@/no: No such file or directory"),
    Case("config_named_file_missing", ["--config", "@TMP@/none.toml", "config", "show"], 5,
         "nvbind: @TMP@/none.toml: no such configuration file (named by --config)"),
    Case("config_validate_missing_file", ["config", "validate", "@TMP@/none.toml"], 5,
         "nvbind: @TMP@/none.toml: cannot read the configuration file: No such file or directory"),
    Case("claims_relative_state_dir", ["claims", "--state-dir", "run/nvbind"], 2,
         "nvbind claims: --state-dir run/nvbind: must be an absolute path"),
    Case("claims_state_dir_missing_value", ["claims", "--state-dir"], 2,
         "nvbind claims: --state-dir needs a value (see nvbind claims --help)"),
    Case("audit_bad_since", ["audit", "--file", "@TMP@/audit.log", "--since", "yesterday"], 2,
         "nvbind audit: --since yesterday: not a time "
         "(expected RFC 3339 like 2024-05-01T12:00:00Z, or 90s, 10m, 2h, 1d)"),
    Case("audit_empty_container", ["audit", "--file", "@TMP@/audit.log", "--container", ""], 2,
         "nvbind audit: --container: empty container id"),
    Case("hook_no_subcommand", ["hook"], 2,
         "nvbind hook: missing subcommand (update-ldcache, create-symlinks; see nvbind hook --help)"),
    Case("hook_unknown", ["hook", "frob"], 2, "nvbind hook: unknown subcommand 'frob' (update-ldcache, create-symlinks)"),
    Case("hook_symlinks_without_link", ["hook", "create-symlinks"], 2,
         "nvbind hook create-symlinks: no --link TARGET::LINK given"),
    Case("hook_symlinks_bad_link", ["hook", "create-symlinks", "--link", "libcuda.so.1"], 2,
         "nvbind hook create-symlinks: --link libcuda.so.1: expected TARGET::LINK"),
    Case("hook_ldcache_relative_folder", ["hook", "update-ldcache", "--folder", "usr/lib"], 2,
         "nvbind hook update-ldcache: --folder usr/lib: not an absolute path"),
    Case("hook_ldcache_zero_timeout", ["hook", "update-ldcache", "--timeout", "0"], 2,
         "nvbind hook update-ldcache: --timeout 0: expected whole seconds, 1 to 3600"),
    Case("hook_ldcache_relative_ldconfig", ["hook", "update-ldcache", "--ldconfig", "sbin/ldconfig"], 2,
         "nvbind hook update-ldcache: --ldconfig sbin/ldconfig: not an absolute path"),
]

# nvbind run: TMPDIR (bundles) and [cdi] output_dir (specs) point into the case folder, so
# "nothing left behind" covers both.
RUN_CONFIG = {"nvbind.toml": '[cdi]\noutput_dir = "@TMP@/specs"\n', "specs/.keep": "", "rootfs/bin/.keep": ""}


def run_case(name, args, code, message, **kw):
    files = dict(RUN_CONFIG)
    files.update(kw.pop("files", {}))
    return Case(name, ["--root", "@ROOT@", "--config", "@TMP@/nvbind.toml", "run", *args], code, message, host=True,
                files=files, **kw)


RUN = [
    run_case("unknown_option", ["--frobnicate", "img"], 2,
             "nvbind run: unknown option '--frobnicate' (see nvbind run --help; an engine option nvbind does not "
             "know goes as --frobnicate=VALUE)"),
    run_case("gpu_missing_value", ["--gpu"], 2, "nvbind run: --gpu needs a value (see nvbind run --help)"),
    run_case("unknown_runtime", ["--runtime", "lxc", "img"], 2,
             "nvbind run: unknown runtime 'lxc' (expected podman, docker, bolt, runc or crun)"),
    run_case("unknown_isolation", ["--runtime", "runc", "--isolation", "solo", "--rootfs", "@TMP@/rootfs", "true"], 2,
             "nvbind run: unknown isolation 'solo' (expected shared, exclusive or virtual)"),
    run_case("gpu_out_of_range", ["--runtime", "runc", "--gpu", "7", "--rootfs", "@TMP@/rootfs", "true"], 2,
             "nvbind run: --gpu 7: no GPU 7 on this host (GPUs 0-1)"),
    run_case("gpu_empty_entry", ["--runtime", "runc", "--gpu", "0,,1", "--rootfs", "@TMP@/rootfs", "true"], 2,
             "nvbind run: --gpu '0,,1': empty entry"),
    run_case("gpu_listed_twice", ["--runtime", "runc", "--gpu", "1,1", "--rootfs", "@TMP@/rootfs", "true"], 2,
             "nvbind run: --gpu '1,1': GPU 1 (@UUID1@) is listed twice"),
    run_case("gpu_all_with_index", ["--runtime", "runc", "--gpu", "all,0", "--rootfs", "@TMP@/rootfs", "true"], 2,
             "nvbind run: --gpu 'all,0': 'all' and 'none' cannot be combined with other entries"),
    run_case("gpu_unknown_uuid", ["--runtime", "runc", "--gpu", "GPU-00000000-0000-0000-0000-000000000000",
                                  "--rootfs", "@TMP@/rootfs", "true"], 2,
             "nvbind run: --gpu GPU-00000000-0000-0000-0000-000000000000: no GPU with UUID "
             "GPU-00000000-0000-0000-0000-000000000000 on this host (GPUs 0-1)"),
    run_case("gpu_unknown_mig", ["--runtime", "runc", "--gpu", "0:9", "--rootfs", "@TMP@/rootfs", "true"], 2,
             "nvbind run: --gpu 0:9: no MIG device 0:9 on this host (GPU 0 has no MIG devices)"),
    run_case("gpu_negative", ["--runtime", "runc", "--gpu", "-1", "--rootfs", "@TMP@/rootfs", "true"], 2,
             "nvbind run: --gpu -1: '-1' is not a GPU index, UUID (GPU-...) or MIG device (0:1, MIG-...)"),
    run_case("gpu_empty_list", ["--runtime", "runc", "--gpu", "", "--rootfs", "@TMP@/rootfs", "true"], 2,
             "nvbind run: --gpu '': empty list (expected all, none, or GPU indices, UUIDs or MIG devices)"),
    run_case("unknown_profile", ["--runtime", "runc", "--profile", "turbo", "--rootfs", "@TMP@/rootfs", "true"], 2,
             "nvbind run: --profile 'turbo': unknown profile (valid: default, gaming, aiml)"),
    run_case("rootfs_missing", ["--runtime", "runc", "--rootfs", "@TMP@/no-rootfs", "true"], 2,
             "nvbind run: root filesystem @TMP@/no-rootfs: No such file or directory"),
    run_case("rootfs_without_command", ["--runtime", "runc", "--rootfs", "@TMP@/rootfs"], 2,
             "nvbind run: no command to run in @TMP@/rootfs (a root filesystem has no default command)"),
    run_case("rootfs_with_podman", ["--runtime", "podman", "--rootfs", "@TMP@/rootfs", "true"], 2,
             "nvbind run: --rootfs works with --runtime runc or crun, not podman"),
    run_case("missing_image", ["--runtime", "podman"], 2,
             "nvbind run: missing IMAGE (usage: nvbind run [OPTIONS] IMAGE [CMD ARGS...])"),
    run_case("engine_not_installed", ["--runtime", "podman", "--gpu", "0", "img"], 7,
             "nvbind: podman: not found in PATH (install it, or choose another --runtime)",
             env={"PATH": "@TMP@/empty-path"}, files={"empty-path/.keep": ""}),
    run_case("bad_configuration", ["--runtime", "runc", "--rootfs", "@TMP@/rootfs", "true"], 5,
             "nvbind: @TMP@/nvbind.toml:4:19: bolt.capsule.isolation_level: \"exclusve\" is not one of shared, "
             "exclusive, virtual; did you mean \"exclusive\"?",
             files={"nvbind.toml": '[cdi]\noutput_dir = "@TMP@/specs"\n[bolt.capsule]\nisolation_level = '
                                   '"exclusve"\n'}),
]


def config_case(name, text, message, code=5):
    """`nvbind config validate FILE` on one bad file; message is what follows "nvbind: "."""
    prefix = "nvbind: @TMP@/nvbind.toml:"
    message = (re.compile(re.escape(prefix) + message.pattern) if isinstance(message, re.Pattern)
               else prefix + message)
    return Case(name, ["config", "validate", "@TMP@/nvbind.toml"], code, message, files={"nvbind.toml": text})


CONFIG = [
    config_case("unknown_table", "[bolt.nope]\nx = "
                                 "1\n", "1:7: bolt.nope: unknown table (expected one of capsule, gaming, aiml)"),
    config_case("unknown_key_with_suggestion", "[bolt.capsule]\nisolation_levl = \"shared\"\n",
                "2:1: bolt.capsule.isolation_levl: unknown key; did you mean \"isolation_level\"?"),
    config_case("wrong_type", "[bolt.capsule]\nsnapshot_gpu_state = \"yes\"\n",
                "2:22: bolt.capsule.snapshot_gpu_state: expected a boolean, found string"),
    config_case("bad_enum_with_suggestion", "[bolt.capsule]\nisolation_level = \"exclusve\"\n",
                "2:19: bolt.capsule.isolation_level: \"exclusve\" is not one of shared, exclusive, virtual; did you "
                "mean \"exclusive\"?"),
    config_case("bad_size_unit", "[bolt.capsule]\ngpu_memory_limit = \"8QB\"\n",
                "2:20: bolt.capsule.gpu_memory_limit: \"8QB\" is not a size: unknown unit (expected B, KB, MB, GB, "
                "TB, KiB, MiB, GiB or TiB)"),
    config_case("negative_size", "[bolt.capsule]\ngpu_memory_limit = \"-8GB\"\n",
                "2:20: bolt.capsule.gpu_memory_limit: \"-8GB\" is not a size: sizes cannot be negative"),
    config_case("duplicate_key", "[bolt.capsule]\nquic_acceleration = true\nquic_acceleration = false\n",
                "3:1: duplicate key 'quic_acceleration' (first defined at line 2)"),
    config_case("table_defined_twice", "[bolt.capsule]\nquic_acceleration = true\n[bolt.capsule]\n",
                "3:1: table [bolt.capsule] defined twice (first at line 1)"),
    config_case("integer_out_of_schema_range", "[bolt.aiml]\ncuda_cache_size = 8192\n",
                "2:19: bolt.aiml.cuda_cache_size: 8192 is out of range "
                "(0 to 4096 MiB; CUDA caps its JIT cache at 4 GiB)"),
    config_case("percent_out_of_range", "[bolt.capsule]\ncompute_limit = 150\n",
                "2:17: bolt.capsule.compute_limit: 150 is out of range (0 to 100 percent)"),
    config_case("integer_overflow", "[bolt.aiml]\ncuda_cache_size = 99999999999999999999\n",
                "2:19: integer out of range"),
    config_case("invalid_utf8", b"[bolt.gaming]\npower_profile = \"\xff\xfe\"\n", "2:18: invalid UTF-8 (byte 0xFF)"),
    config_case("unterminated_string", "[bolt.gaming]\npower_profile = \"balanced\n", "2:17: unterminated string"),
    config_case("unterminated_multiline_string", "[bolt.gaming]\npower_profile = \"\"\"balanced\n\n",
                re.compile(r"2:17: unterminated (multi-line )?string")),
    config_case("invalid_escape", "[bolt.gaming]\npower_profile = \"a\\qb\"\n", "2:19: invalid escape '\\q'"),
    config_case("date_value", "[bolt.gaming]\npower_profile = 1979-05-27\n", "2:17: dates and times are not supported"),
    config_case("missing_equals", "[bolt.gaming]\ndlss_enabled true\n", "2:14: expected '=' after key"),
    config_case("unclosed_header", "[bolt.gaming\n", "1:13: expected ']' at the end of a table header"),
    config_case("two_values_on_a_line", "[bolt.gaming]\ndlss_enabled = true false\n",
                "2:21: expected a newline after the value, found 'f'"),
    config_case("leading_zero", "[bolt.aiml]\ncuda_cache_size = 0123\n",
                "2:19: invalid number '0123': leading zeros are not allowed"),
    config_case("control_character", "[bolt.gaming]\npower_profile = \"a\x01b\"\n",
                "2:19: control character U+0001 in string"),
    config_case("key_redefined_as_table", "[bolt]\ncapsule = 1\n[bolt.capsule]\n",
                "3:1: cannot define [bolt.capsule]: key 'bolt.capsule' is already an integer (line 2)"),
    config_case("array_of_tables_over_table", "[bolt.capsule]\n[[bolt.capsule]]\n",
                "2:1: cannot define [[bolt.capsule]]: key 'bolt.capsule' is already a table (line 1)"),
    config_case("empty_key", " = 1\n", "1:2: expected a key, found '='"),
    config_case("relative_state_dir", "[isolation]\nstate_dir = \"run/nvbind\"\n",
                "2:13: isolation.state_dir: \"run/nvbind\" must be an absolute path"),
    config_case("unknown_profile_key", "[profiles.x]\nfoo = 1\n",
                "2:1: profiles.x.foo: unknown key (expected one of env, driver_capabilities, devices, mounts)"),
    config_case("unterminated_array", "[cdi]\ndevice_name_strategy = [\"index\"\n",
                re.compile(r"2:24: unterminated array")),
    config_case("inline_table_sealed", "bolt = { capsule = { quic_acceleration = true } }\n[bolt.gaming]\n",
                re.compile(r"2:1: cannot define \[bolt\.gaming\]: 'bolt' is an inline table \(line 1\), "
                           r"and inline tables are sealed")),
]

# A bad configuration must stop commands that write before they write anything.
CONFIG_STOPS_WRITERS = [
    Case("generate_stops_before_writing", ["--root", "@ROOT@", "--config", "@TMP@/nvbind.toml", "cdi", "generate",
                                           "--output", "@TMP@/out"], 5,
         "nvbind: @TMP@/nvbind.toml:2:1: bolt.gaming.nope: unknown key (expected one of dlss_enabled, "
         "rt_cores_enabled, performance_profile, wine_optimizations, vrs_enabled, power_profile, shader_cache_size)",
         host=True, files={"nvbind.toml": "[bolt.gaming]\nnope = true\n", "out/nvidia.com-gpu.json": "{\"old\": 1}\n"}),
    Case("shim_stops_before_editing", ["--root", "@TMP@/runc-state", "create",
                                       "--bundle", "@TMP@/bundle", "ctr-bad"], 5,
         "nvbind-runtime: @TMP@/nvbind.toml:1:2: nope: unknown table (expected one of bolt, runtime, host, gpu, "
         "security, cdi, isolation, profiles)", prog="shim",
         host=True, files={"nvbind.toml": "[nope]\n", "bundle/config.json": '{"ociVersion": "1.0.2"}\n',
                           "bundle/rootfs/.keep": ""},
         env={"NVBIND_CONFIG": "@TMP@/nvbind.toml", "NVBIND_ROOT": "@ROOT@"}),
]

HOST = [
    Case("no_driver", ["--root", "@ROOT@", "info"], 3,
         "nvbind: no NVIDIA driver found under @ROOT@: /proc/driver/nvidia/version is missing", host=no_driver),
    Case("version_empty", ["--root", "@ROOT@", "info"], 4,
         "nvbind: @ROOT@/proc/driver/nvidia/version: no 'NVRM version:' line",
         host=write_host_file("proc/driver/nvidia/version", "")),
    Case("version_without_module", ["--root", "@ROOT@", "info"], 4,
         "nvbind: @ROOT@/proc/driver/nvidia/version: 'NVRM version:' line names no kernel module",
         host=write_host_file("proc/driver/nvidia/version", "NVRM version: garbage\n")),
    Case("version_is_a_folder", ["--root", "@ROOT@", "info"], 4,
         "nvbind: cannot read @ROOT@/proc/driver/nvidia/version: Is a directory",
         host=replace_with_folder("proc/driver/nvidia/version")),
    Case("information_without_uuid", ["--root", "@ROOT@", "info"], 4,
         "nvbind: @ROOT@/proc/driver/nvidia/gpus/0000:21:00.0/information: field 'GPU UUID' is missing",
         host=drop_field("GPU UUID", gpu=1)),
    Case("information_without_minor", ["--root", "@ROOT@", "info"], 4,
         "nvbind: @ROOT@/proc/driver/nvidia/gpus/0000:01:00.0/information: field 'Device Minor' is missing",
         host=drop_field("Device Minor")),
    Case("information_without_bus_location", ["--root", "@ROOT@", "info"], 4,
         "nvbind: @ROOT@/proc/driver/nvidia/gpus/0000:01:00.0/information: field 'Bus Location' is missing",
         host=drop_field("Bus Location")),
    Case("information_minor_not_a_number", ["--root", "@ROOT@", "info"], 4,
         "nvbind: @ROOT@/proc/driver/nvidia/gpus/0000:01:00.0/information: "
         "field 'Device Minor': 'x' is not a minor number 0-254",
         host=set_field("Device Minor", "x")),
    Case("information_minor_too_large", ["--root", "@ROOT@", "info"], 4,
         "nvbind: @ROOT@/proc/driver/nvidia/gpus/0000:01:00.0/information: "
         "field 'Device Minor': '99999999999' is not a minor number 0-254",
         host=set_field("Device Minor", "99999999999")),
    Case("information_uuid_without_prefix", ["--root", "@ROOT@", "info"], 4,
         "nvbind: @ROOT@/proc/driver/nvidia/gpus/0000:01:00.0/information: "
         "field 'GPU UUID': '1234' does not start with GPU-",
         host=set_field("GPU UUID", "1234")),
    Case("information_missing", ["--root", "@ROOT@", "info"], 4,
         "nvbind: cannot read @ROOT@/proc/driver/nvidia/gpus/0000:01:00.0/information: No such file or directory",
         host=remove("proc/driver/nvidia/gpus/0000:01:00.0/information")),
    Case("information_is_a_folder", ["--root", "@ROOT@", "info"], 4,
         "nvbind: cannot read @ROOT@/proc/driver/nvidia/gpus/0000:01:00.0/information: Is a directory",
         host=replace_with_folder("proc/driver/nvidia/gpus/0000:01:00.0/information")),
    Case("ldcache_truncated_header", ["--root", "@ROOT@", "info"], 4,
         "nvbind: @ROOT@/etc/ld.so.cache: truncated: 40 bytes left for the 48-byte header at offset 0",
         host=truncate_cache(40)),
    Case("ldcache_truncated_strings", ["--root", "@ROOT@", "info"], 4,
         re.compile(r"nvbind: @ROOT@/etc/ld\.so\.cache: truncated: header says the string table holds \d+ bytes "
                    r"but \d+ follow the entries"), host=truncate_cache(-1)),
    Case("ldcache_bad_magic", ["--root", "@ROOT@", "info"], 4,
         "nvbind: @ROOT@/etc/ld.so.cache: not an ld.so.cache: "
         "bad magic (expected \"glibc-ld.so.cache1.1\" or \"ld.so-1.7.0\")",
         host=write_host_file("etc/ld.so.cache", b"X" * 480)),
    Case("ldcache_empty", ["--root", "@ROOT@", "info"], 4, "nvbind: @ROOT@/etc/ld.so.cache: empty file",
         host=write_host_file("etc/ld.so.cache", b"")),
    Case("ldcache_entry_count_too_large", ["--root", "@ROOT@", "info"], 4,
         re.compile(r"nvbind: @ROOT@/etc/ld\.so\.cache: "
                    r"truncated: header says 2147483647 entries but the file holds \d+"),
         host=cache_header_field(20, 0x7fffffff)),
    Case("ldcache_string_table_too_large", ["--root", "@ROOT@", "info"], 4,
         re.compile(r"nvbind: @ROOT@/etc/ld\.so\.cache: truncated: header says the string table holds 2147483647 bytes "
                    r"but \d+ follow the entries"), host=cache_header_field(24, 0x7fffffff)),
    Case("ldcache_is_a_folder", ["--root", "@ROOT@", "info"], 4, "nvbind: @ROOT@/etc/ld.so.cache: not a regular file",
         host=replace_with_folder("etc/ld.so.cache")),
    # The same damage must stop a writer before it writes: the old spec stays as it was.
    Case("generate_on_corrupt_cache_keeps_old_spec", ["--root", "@ROOT@", "cdi", "generate",
                                                      "--output", "@TMP@/out"], 4,
         "nvbind: @ROOT@/etc/ld.so.cache: truncated: 40 bytes left for the 48-byte header at offset 0",
         host=truncate_cache(40), files={"out/nvidia.com-gpu.json": "{\"old\": 1}\n"}),
    Case("generate_without_driver_keeps_old_spec", ["--root", "@ROOT@", "cdi", "generate", "--output", "@TMP@/out"], 3,
         "nvbind: no NVIDIA driver found under @ROOT@: /proc/driver/nvidia/version is missing", host=no_driver,
         files={"out/nvidia.com-gpu.json": "{\"old\": 1}\n"}),
]

SPEC_HEAD = '{"cdiVersion": "0.5.0", "kind": "nvidia.com/gpu", '
DEV_A = '{"name": "a", "containerEdits": {"env": ["A=1"]}}'


def spec_case(name, text, message, code=1, ext="json"):
    """`nvbind cdi validate FILE`: message is the line after the file name."""
    return Case(name, ["cdi", "validate", "@TMP@/spec." + ext], code,
                message if isinstance(message, re.Pattern) else "@TMP@/spec.%s: %s" % (ext, message),
                files={"spec." + ext: text})


SPECS = [
    spec_case("truncated_json", SPEC_HEAD + '"devices": [',
              re.compile(r"nvbind: @TMP@/spec\.json:1:\d+: .*expected.*")),
    spec_case("not_an_object", "[1, 2]\n", "spec: expected a JSON object, got array"),
    spec_case("empty_file", "", re.compile(r"nvbind: @TMP@/spec\.json: the file is empty; no CDI spec in it")),
    spec_case("invalid_device_name",
              SPEC_HEAD + '"devices": [{"name": "bad name!", "containerEdits": {"env": ["A=1"]}}]}',
              "devices[0].name: \"bad name!\" is not a valid device name: "
              "character ' ' is not allowed in a device name (letters, digits, '_', '-', '.', ':')"),
    spec_case("duplicate_device_json", SPEC_HEAD + '"devices": [%s, %s]}' % (DEV_A, DEV_A),
              "devices[1].name: \"a\" is already the name of devices[0]"),
    spec_case("duplicate_device_yaml", 'cdiVersion: "0.5.0"\nkind: nvidia.com/gpu\ndevices:\n'
              "  - name: a\n    containerEdits:\n      env: [A=1]\n"
              "  - name: a\n    containerEdits:\n      env: [A=1]\n",
              "devices[1].name: \"a\" is already the name of devices[0]", ext="yaml"),
    spec_case("version_too_low", '{"cdiVersion": "0.3.0", "kind": "nvidia.com/gpu", "devices": [{"name": "x", '
              '"containerEdits": {"deviceNodes": [{"path": "/dev/nvidia0", "hostPath": "/dev/nvidia0"}]}}]}',
              "cdiVersion: \"0.3.0\" is lower than 0.5.0 required by devices[0].containerEdits.deviceNodes[0].hostPath "
              "(hostPath on device nodes)"),
    spec_case("unknown_version", '{"cdiVersion": "banana", "kind": "nvidia.com/gpu", "devices": [%s]}' % DEV_A,
              "cdiVersion: \"banana\" is not a known CDI version (0.3.0 to 1.1.0)"),
    spec_case("kind_without_slash", '{"cdiVersion": "0.5.0", "kind": "nvidia", "devices": [%s]}' % DEV_A,
              "kind: \"nvidia\" is not a valid kind: a kind is VENDOR/CLASS (e.g. nvidia.com/gpu) and this has no '/'"),
    spec_case("kind_missing", '{"cdiVersion": "0.5.0", "devices": [%s]}' % DEV_A, "kind: required field is missing"),
    spec_case("devices_missing", '{"cdiVersion": "0.5.0", "kind": "nvidia.com/gpu"}',
              "devices: required field is missing"),
    spec_case("relative_device_path", SPEC_HEAD + '"devices": [{"name": "a", "containerEdits": {"deviceNodes": '
              '[{"path": "dev/nvidia0"}]}}]}',
              "devices[0].containerEdits.deviceNodes[0].path: \"dev/nvidia0\" is not an absolute path"),
    spec_case("relative_hook_path", SPEC_HEAD + '"devices": [%s], "containerEdits": {"hooks": '
              '[{"hookName": "createContainer", "path": "nvbind"}]}}' % DEV_A,
              "containerEdits.hooks[0].path: \"nvbind\" is not an absolute path"),
    spec_case("unknown_field", SPEC_HEAD + '"devices": [%s], "bogus": 1}' % DEV_A,
              "bogus: unknown field (engines refuse specs with fields they do not know)"),
    spec_case("nul_in_json_string", '{"cdiVersion": "0.5.0", "kind": "nvidia.com/gpu\\u0000x", "devices": []}',
              re.compile(r"nvbind: @TMP@/spec\.json:1:\d+: \\u0000 \(a NUL character\) is not allowed in a CDI spec")),
    spec_case("json_nested_too_deep", "[" * 100000,
              re.compile(r"nvbind: @TMP@/spec\.json:1:\d+: maximum parsing depth reached near '\['")),
    spec_case("truncated_yaml", 'cdiVersion: "0.5.0"\nkind: nvidia.com/gpu\ndevices:\n  - name: "a\n',
              re.compile(r"nvbind: @TMP@/spec\.yaml:5:1: found unexpected end of stream \(while scanning a quoted "
                         r"scalar started at line 4\)"), ext="yaml"),
    spec_case("yaml_tab_indent", 'cdiVersion: "0.5.0"\nkind: nvidia.com/gpu\ndevices:\n\t- name: a\n',
              re.compile(r"nvbind: @TMP@/spec\.yaml:4:1: found character that cannot start any token.*"), ext="yaml"),
    spec_case("yaml_alias_bomb", "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
        "%s: &%s [%s]\n" % (n, n, ",".join(["*" + p] * 9)) for p, n in zip("abcdefg", "bcdefgh")),
        re.compile(r"nvbind: @TMP@/spec\.yaml:\d+:\d+: more than 250000 values \(aliases expanding too far\?\); "
                   r"not a CDI spec"), ext="yaml"),
    Case("check_malformed_spec", ["--root", "@ROOT@", "cdi", "check", "@TMP@/spec.json"], 9,
         re.compile(r"nvbind: @TMP@/spec\.json:1:\d+: .*expected.*"), host=True,
         files={"spec.json": SPEC_HEAD + '"devices": ['}),
    Case("list_reports_malformed_spec", ["cdi", "list", "--spec-dir", "@TMP@/cdi"], 0, None,
         files={"cdi/broken.json": SPEC_HEAD + '"devices": [',
                "cdi/dup.yaml": 'cdiVersion: "0.5.0"\nkind: nvidia.com/gpu\ndevices:\n'
                                '  - name: a\n    containerEdits:\n      env: [A=1]\n'
                                '  - name: a\n    containerEdits:\n      env: [A=1]\n'},
         stdout=re.compile(r"@TMP@/cdi/broken\.json  \(\?, cdiVersion \?\)  INVALID\n"
                           r"  problem: @TMP@/cdi/broken\.json:1:\d+: .*expected.*\n"
                           r"@TMP@/cdi/dup\.yaml  \(nvidia\.com/gpu, cdiVersion 0\.5\.0\)  INVALID\n"
                           r"  nvidia\.com/gpu=a\n  nvidia\.com/gpu=a\n"
                           r"  problem: devices\[1\]\.name: \"a\" is already the name of devices\[0\]\n")),
]


def hook_case(name, stdin, code, message, files=None, sub="create-symlinks", extra=()):
    """A hook run by hand with this state on stdin; message follows "nvbind hook SUB: "."""
    argv = ["hook", sub] + (["--link", "libcuda.so.1::/usr/lib/libcuda.so"] if sub == "create-symlinks" else [])
    argv += list(extra)
    prefix = "nvbind hook %s: " % sub
    message = (re.compile(re.escape(prefix) + message.pattern) if isinstance(message, re.Pattern)
               else prefix + message)
    return Case(name, argv, code, message, stdin=stdin, files=files)


BUNDLE_FILES = {"bundle/rootfs/usr/lib/.keep": ""}


def with_config(text):
    files = dict(BUNDLE_FILES)
    files["bundle/config.json"] = text
    return files


BUNDLES = [
    hook_case("state_empty", "", 9,
              "container state on stdin: empty (the OCI runtime passes it to hooks; run by hand, pipe it in)"),
    hook_case("state_not_json", "xx", 9, "container state: line 1, column 2: '[' or '{' expected near 'xx'"),
    hook_case("state_not_an_object", "[]", 9, "container state: not a JSON object"),
    hook_case("state_without_bundle", '{"ociVersion": "1.0.2", "id": "c", "status": "creating", "pid": 1}', 9,
              "container state: \"bundle\" missing"),
    hook_case("state_relative_bundle", '{"ociVersion": "1.0.2", "id": "c", "status": "creating", "pid": 1, '
              '"bundle": "bundle"}', 9, "container state: \"bundle\" bundle is not an absolute path"),
    hook_case("state_bundle_not_a_string", '{"ociVersion": "1.0.2", "id": "c", "status": "creating", "pid": 1, '
              '"bundle": 5}', 9, "container state: \"bundle\" is not a string"),
    hook_case("state_too_large", '{"a": "' + "x" * (1 << 20) + '"}', 9,
              "container state on stdin: larger than 1048576 bytes"),
    hook_case("bundle_missing", STATE.replace("@TMP@/bundle", "@TMP@/none"), 9,
              "bundle @TMP@/none: config.json: No such file or directory"),
    hook_case("bundle_without_config", STATE, 9, "bundle @TMP@/bundle: config.json: No such file or directory",
              files=BUNDLE_FILES),
    hook_case("bundle_config_truncated", STATE, 9,
              "bundle @TMP@/bundle: config.json: line 2, column 0: unexpected token near end of file",
              files=with_config('{"root": \n')),
    hook_case("bundle_config_without_root", STATE, 9, "bundle @TMP@/bundle: config.json: root missing",
              files=with_config('{"ociVersion": "1.0.2"}\n')),
    hook_case("bundle_root_path_not_a_string", STATE, 9,
              "bundle @TMP@/bundle: config.json: root.path is not a non-empty string",
              files=with_config('{"ociVersion": "1.0.2", "root": {"path": 5}}\n')),
    hook_case("bundle_rootfs_missing", STATE, 6, "container root @TMP@/bundle/nowhere: No such file or directory",
              files=with_config('{"ociVersion": "1.0.2", "root": {"path": "nowhere"}}\n')),
    hook_case("root_path_empty", STATE, 2, "--root-path: empty (expected root.path of the bundle's config.json)",
              files=BUNDLE_FILES, extra=("--root-path", "")),
    # Told the root (as nvbind-runtime tells its hooks), the hook needs no config.json.
    hook_case("root_path_missing", STATE, 6, "container root @TMP@/bundle/nowhere: No such file or directory",
              files=BUNDLE_FILES, sub="update-ldcache", extra=("--root-path", "nowhere")),
    hook_case("ldcache_state_not_json", "{", 9, re.compile(r"container state: line \d+, column \d+: .+"),
              sub="update-ldcache"),
]


def shim_case(name, config_json, code, message, annotations_ok=True, **kw):
    files = {"bundle/rootfs/.keep": "", "stub-runtime": STUB_RUNTIME,
             "nvbind.toml": '[runtime]\noci_runtime = "@TMP@/stub-runtime"\n'
                            '[security]\nallow_unprivileged_env_requests = true\n' +
                            ('allow_annotation_requests = true\n' if annotations_ok else '')}
    if config_json is not None:
        files["bundle/config.json"] = config_json
    return Case(name, ["--root", "@TMP@/runc-state", "create", "--bundle", "@TMP@/bundle", "ctr-bad"], code,
                "nvbind-runtime: " + message if isinstance(message, str) else message, prog="shim", host=True,
                files=files, env={"NVBIND_CONFIG": "@TMP@/nvbind.toml", "NVBIND_ROOT": "@ROOT@"}, **kw)


SHIMS = [
    shim_case("config_truncated", '{"ociVersion": "1.0.2", "process": {"env": ["NVIDIA_VISIBLE_DEVICES=0"', 9,
              re.compile(r"nvbind-runtime: @TMP@/bundle/config\.json:1:\d+: .*expected.*")),
    # The documents below name a request: one that names none is passed to the runtime
    # unparsed (runtime/shim.c, may_request), which refuses it with its own message.
    shim_case("config_not_an_object", '["NVIDIA_VISIBLE_DEVICES=0"]\n', 9,
              "@TMP@/bundle/config.json: expected a JSON object"),
    shim_case("config_missing", None, 9, "reading @TMP@/bundle/config.json: No such file or directory"),
    shim_case("env_not_an_array", '{"ociVersion": "1.0.2", "process": {"env": "NVIDIA_VISIBLE_DEVICES=0"}}\n', 9,
              "@TMP@/bundle/config.json: process.env: expected an array"),
    shim_case("env_item_not_a_string",
              '{"ociVersion": "1.0.2", "process": {"env": [5, "NVIDIA_VISIBLE_DEVICES=0"]}}\n', 9,
              "@TMP@/bundle/config.json: process.env[0]: expected a string"),
    shim_case("annotations_not_an_object", '{"ociVersion": "1.0.2", "process": {"env": ["NVIDIA_VISIBLE_DEVICES=0"]}, '
              '"annotations": []}\n', 9,
              "@TMP@/bundle/config.json: annotations: expected an object"),
    shim_case("annotation_gpus_not_a_string", '{"ociVersion": "1.0.2", "annotations": {"nvbind.gpus": 5}}\n', 9,
              "@TMP@/bundle/config.json: annotations.nvbind.gpus: expected a string"),
    shim_case("annotation_gpus_empty_entry", '{"ociVersion": "1.0.2", "root": {"path": "rootfs"}, '
              '"annotations": {"nvbind.gpus": "0,,1"}}\n', 2, "annotation nvbind.gpus '0,,1': empty entry"),
    shim_case("env_gpu_out_of_range", '{"ociVersion": "1.0.2", "root": {"path": "rootfs"}, '
              '"process": {"env": ["NVIDIA_VISIBLE_DEVICES=7"]}}\n', 2,
              re.compile(r"nvbind-runtime: .*\b7\b.*no GPU 7 on this host \(GPUs 0-1\)")),
]

LOCKS = r"state/locks(/GPU-x\.lock)?"

# State nvbind keeps: claim records (refused whole, never overwritten, so a person can look)
# and the audit log (damaged lines reported and skipped, the status says so).
STATE_FILES = [
    Case("claim_record_not_json", ["claims", "--state-dir", "@TMP@/state"], 9,
         "nvbind claims: claim record @TMP@/state/claims/GPU-x.json: line 2, column 0: '}' expected near end of file "
         "(remove the file if no container holds the device); left out", files={"state/claims/GPU-x.json": '{"version": 1\n'},
         may_add=LOCKS,
         stdout="no GPU claims\n"),
    Case("claim_record_unknown_version", ["claims", "--state-dir", "@TMP@/state", "--json"], 9,
         "nvbind claims: claim record @TMP@/state/claims/GPU-x.json: version: 2 is out of range "
         "(remove the file if no container holds the device); left out",
         files={"state/claims/GPU-x.json": '{"version": 2, "device": {}, "mode": "x", "holders": []}\n'},
         may_add=LOCKS,
         stdout="[]\n"),
    Case("claim_record_exclusive_without_holder", ["claims", "--state-dir", "@TMP@/state"], 9,
         "nvbind claims: claim record @TMP@/state/claims/GPU-x.json: holders: an exclusive claim has exactly one "
         "holder, not 0 (remove the file if no container holds the device); left out",
         files={"state/claims/GPU-x.json": '{"version": 1, "device": {"gpu_index": 0, "uuid": "GPU-x"}, '
                                           '"mode": "exclusive", "holders": []}\n'}, may_add=LOCKS,
         stdout="no GPU claims\n"),
    Case("audit_damaged_lines", ["audit", "--file", "@TMP@/audit.log"], 9,
         "nvbind audit: @TMP@/audit.log:2: not JSON (column 3: '[' or '{' expected near 'not'); skipped",
         files={"audit.log": '{"time":"2024-05-01T12:00:00.000Z","container":"a","decision":"grant"}\nnot json\n'
                             '{"time":"x"}\n'}),
    Case("config_named_by_environment", ["config", "show"], 5,
         "nvbind: @TMP@/nvbind.toml:2:1: bolt.x: unknown key (expected one of capsule, gaming, aiml)",
         files={"nvbind.toml": "[bolt]\nx = 1\n"}, env={"NVBIND_CONFIG": "@TMP@/nvbind.toml"}),
]

AREAS = {"cli": CLI, "run": RUN, "config": CONFIG + CONFIG_STOPS_WRITERS, "host": HOST, "spec": SPECS,
         "bundle": BUNDLES, "shim": SHIMS, "state": STATE_FILES}


# ---- running a case ---------------------------------------------------------------------------

def snapshot(top):
    """Everything under top: type, mode and content (hash) of each entry, by relative path."""
    out = {}
    if not os.path.lexists(top):
        return out
    for dirpath, dirnames, filenames in os.walk(top):
        for n in dirnames + filenames:
            path = os.path.join(dirpath, n)
            st = os.lstat(path)
            rel = os.path.relpath(path, top)
            if stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    out[rel] = ("file", stat.S_IMODE(st.st_mode), hashlib.sha256(f.read()).hexdigest())
            elif stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(path))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", stat.S_IMODE(st.st_mode))
            else:
                out[rel] = ("node", st.st_mode, st.st_rdev)
    return out


def describe_diff(before, after):
    lines = []
    for k in sorted(set(before) | set(after)):
        if k not in before:
            lines.append("left behind: " + k)
        elif k not in after:
            lines.append("removed: " + k)
        elif before[k] != after[k]:
            lines.append("changed: %s %s -> %s" % (k, before[k], after[k]))
    return "\n".join(lines)


def global_leftovers(pid):
    """Temporaries and bundles the process with this pid left in the engines' shared folders."""
    found = []
    for d in GLOBAL_DIRS:
        try:
            names = os.listdir(d)
        except OSError:
            continue
        found += [os.path.join(d, n) for n in names if re.search(r"\.tmp\.%d(\.[0-9a-f]+)?$" % pid, n) or "-%d-" % pid in n]
    return found


class BadInput(unittest.TestCase):
    host = None

    @classmethod
    def setUpClass(cls):
        cls.shared_tmp = tempfile.mkdtemp(prefix="nvbind-bad-input-host-")
        cls.shared_root = os.path.join(cls.shared_tmp, "host")
        cls.shared_manifest = fakehost.build(cls.shared_root, gpus=2)
        cls.shared_before = snapshot(cls.shared_root)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.shared_tmp, ignore_errors=True)

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="nvbind-bad-input-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def subst(self, text, root, manifest, regex=False):
        values = {"@TMP@": self.tmp, "@ROOT@": root or "/nonexistent-root"}
        for i, g in enumerate((manifest or {}).get("gpus", [])):
            values["@UUID%d@" % i] = g["uuid"]
        for k, v in values.items():
            text = text.replace(re.escape(k) if regex else k, re.escape(v) if regex else v)
        return text

    def check_text(self, what, expected, got, root, manifest):
        if isinstance(expected, re.Pattern):
            pattern = self.subst(expected.pattern, root, manifest, regex=True)
            if what == "stdout":
                self.assertRegex(got, "^" + pattern + "$", "stdout")
            else:
                self.assertTrue(any(re.fullmatch(pattern, line) for line in got.splitlines()),
                                f"no stderr line matches {pattern!r}:\n{got}")
        else:
            line = self.subst(expected, root, manifest)
            if what == "stdout":
                self.assertEqual(got, line, "stdout")
            else:
                self.assertIn(line, got.splitlines(), f"stderr lacks the line {line!r}:\n{got}")

    def run_case(self, case):
        # The fake host: shared and read only, or this case's own, damaged.
        root, manifest = None, None
        if case.host is True:
            root, manifest = self.shared_root, self.shared_manifest
        elif case.host is not None:
            root = os.path.join(self.tmp, "host")
            manifest = fakehost.build(root, gpus=2)
            case.host(root)
        os.makedirs(os.path.join(self.tmp, "tmpdir"))
        os.makedirs(os.path.join(self.tmp, "home"))
        for rel, data in case.files.items():
            path = os.path.join(self.tmp, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if isinstance(data, str):
                data = self.subst(data, root, manifest)
            _write(path, data)
            if rel == "stub-runtime":
                os.chmod(path, 0o755)
        env = {k: v for k, v in os.environ.items() if k not in ("NVBIND_CONFIG", "NVBIND_ROOT")}
        env.update({"HOME": os.path.join(self.tmp, "home"), "XDG_CONFIG_HOME": os.path.join(self.tmp, "home"),
                    "TMPDIR": os.path.join(self.tmp, "tmpdir")})
        env.update({k: self.subst(v, root, manifest) for k, v in case.env.items()})
        prog = SHIM if case.prog == "shim" else NVBIND
        argv = [prog] + [self.subst(a, root, manifest) for a in case.argv]
        stdin = self.subst(case.stdin, root, manifest) if case.stdin is not None else None

        before = snapshot(self.tmp)
        p = subprocess.Popen(argv, cwd=self.tmp, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        try:
            out, err = p.communicate(stdin, timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            self.fail(f"{argv} did not finish in 60 s")
        after = snapshot(self.tmp)
        if case.may_add:
            empty = hashlib.sha256(b"").hexdigest()
            for rel in set(after) - set(before):
                if re.fullmatch(case.may_add, rel) and (after[rel][0] == "dir" or after[rel][2] == empty):
                    del after[rel]

        self.assertEqual(p.returncode, case.code, f"exit status of {argv[1:]}\nstdout: {out}\nstderr: {err}")
        if case.message is not None:
            self.check_text("stderr", case.message, err, root, manifest)
        if case.stdout is not None:
            self.check_text("stdout", case.stdout, out, root, manifest)
        self.assertTrue(before == after, "the case folder changed:\n" + describe_diff(before, after))
        if case.host is True:
            now = snapshot(self.shared_root)
            self.assertTrue(self.shared_before == now, "the host changed:\n" + describe_diff(self.shared_before, now))
        self.assertEqual(global_leftovers(p.pid), [], "left behind in the engines' folders")


def _add_tests():
    seen = set()
    for area, cases in AREAS.items():
        for case in cases:
            name = f"test_{area}_{case.name}"
            assert name not in seen, f"two cases named {name}"
            seen.add(name)
            setattr(BadInput, name, lambda self, c=case: self.run_case(c))


_add_tests()


class CatalogueSize(unittest.TestCase):
    def test_at_least_fifty_cases_and_every_area_covered(self):
        total = sum(len(c) for c in AREAS.values())
        self.assertGreaterEqual(total, 50)
        for area, cases in AREAS.items():
            self.assertTrue(cases, f"no cases for {area}")


if __name__ == "__main__":
    unittest.main()
