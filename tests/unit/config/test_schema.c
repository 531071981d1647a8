/* The nvbind.toml schema: the seed's gaming and AI/ML blocks load to their values, every
 * bad configuration is refused with "file:line:column: key: problem" and exit code 5, the
 * search order, value origins, sizes and percentages, and `config show`/`config init`
 * output that loads back to the same values. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "config/config.h"
#include "config/render.h"
#include "config/values.h"
#include "policy/cdi_generate.h"
#include "util/cleanup.h"

static nvb_config load_ok(const char *text)
{
    nvb_config c = {0};
    nvb_err err = {0};
    if (nvb_config_load_text(&c, text, strlen(text), "nvbind.toml", &err) < 0)
        fail_msg("unexpected error: %s", err.msg);
    return c;
}

static void assert_load_error(const char *text, const char *message)
{
    nvb_config c;
    nvb_config_init(&c);
    nvb_err err = {0};
    if (nvb_config_load_text(&c, text, strlen(text), "nvbind.toml", &err) == 0) {
        nvb_config_clear(&c);
        fail_msg("loaded, expected \"%s\"", message);
    }
    if (strcmp(err.msg, message) != 0)
        fail_msg("for:\n%s\ngot:      %s\nexpected: %s", text, err.msg, message);
    assert_int_equal(err.exit_code, NVB_EXIT_CONFIG);
    /* A failed load leaves the configuration as it was: the defaults here. */
    assert_int_equal(c.capsule.isolation_level, NVB_ISOLATION_SHARED);
    assert_null(c.source);
    nvb_config_clear(&c);
}

/* ---- the seed's two configuration blocks ---- */

static const char seed_gaming[] = "# nvbind.toml - Gaming optimized configuration\n"
                                  "[bolt.capsule]\n"
                                  "snapshot_gpu_state = true\n"
                                  "isolation_level = \"exclusive\"\n"
                                  "quic_acceleration = true\n"
                                  "\n"
                                  "[bolt.gaming]\n"
                                  "dlss_enabled = true\n"
                                  "rt_cores_enabled = true\n"
                                  "performance_profile = \"ultra-low-latency\"\n"
                                  "wine_optimizations = true\n"
                                  "vrs_enabled = true\n"
                                  "power_profile = \"maximum\"\n";

static const char seed_aiml[] = "[bolt.capsule]\n"
                                "snapshot_gpu_state = true\n"
                                "isolation_level = \"virtual\"\n"
                                "gpu_memory_limit = \"16GB\"\n"
                                "\n"
                                "[bolt.aiml]\n"
                                "cuda_cache_size = 4096\n"
                                "tensor_cores_enabled = true\n"
                                "mixed_precision = true\n"
                                "memory_pool_size = \"24GB\"\n"
                                "mig_enabled = true\n";

static void test_seed_gaming(void **state)
{
    (void)state;
    nvb_config c = load_ok(seed_gaming);
    assert_string_equal(c.source, "nvbind.toml");
    assert_true(c.capsule.snapshot_gpu_state);
    assert_int_equal(c.capsule.isolation_level, NVB_ISOLATION_EXCLUSIVE);
    assert_true(c.capsule.quic_acceleration);
    assert_int_equal(c.capsule.gpu_memory_limit, 0);
    assert_true(c.gaming.present);
    assert_false(c.aiml.present);
    assert_true(c.gaming.dlss_enabled);
    assert_true(c.gaming.rt_cores_enabled);
    assert_int_equal(c.gaming.performance_profile, NVB_PERF_ULTRA_LOW_LATENCY);
    assert_true(c.gaming.wine_optimizations);
    assert_true(c.gaming.vrs_enabled);
    assert_int_equal(c.gaming.power_profile, NVB_POWER_MAXIMUM);
    assert_string_equal(nvb_config_origin(&c, "bolt.capsule.isolation_level"), "nvbind.toml:4");
    assert_string_equal(nvb_config_origin(&c, "bolt.gaming.power_profile"), "nvbind.toml:13");
    assert_string_equal(nvb_config_origin(&c, "bolt.aiml.cuda_cache_size"), "default");
    nvb_config_clear(&c);
}

static void test_seed_aiml(void **state)
{
    (void)state;
    nvb_config c = load_ok(seed_aiml);
    assert_int_equal(c.capsule.isolation_level, NVB_ISOLATION_VIRTUAL);
    assert_int_equal(c.capsule.gpu_memory_limit, 16000000000ull);
    assert_true(c.aiml.present);
    assert_false(c.gaming.present);
    assert_int_equal(c.aiml.cuda_cache_size_mib, 4096);
    assert_true(c.aiml.tensor_cores_enabled);
    assert_true(c.aiml.mixed_precision);
    assert_int_equal(c.aiml.memory_pool_size, 24000000000ull);
    assert_true(c.aiml.mig_enabled);
    assert_string_equal(nvb_config_origin(&c, "bolt.aiml.memory_pool_size"), "nvbind.toml:10");
    nvb_config_clear(&c);
}

static void test_defaults(void **state)
{
    (void)state;
    nvb_config c = load_ok("# nothing set\n");
    assert_int_equal(c.capsule.isolation_level, NVB_ISOLATION_SHARED);
    assert_false(c.capsule.snapshot_gpu_state);
    assert_int_equal(c.gaming.performance_profile, NVB_PERF_BALANCED);
    assert_int_equal(c.aiml.cuda_cache_size_mib, 4096);
    assert_string_equal(c.gpu.default_selection, "all");
    assert_int_equal(c.cdi.naming, NVB_NAMING_INDEX | NVB_NAMING_UUID);
    assert_int_equal(c.cdi.spec_dirs.n, 2);
    assert_string_equal(c.cdi.spec_dirs.v[0], "/etc/cdi");
    assert_null(c.cdi.hook_path);
    assert_null(c.runtime.default_runtime);
    assert_true(c.security.allow_env_requests);
    assert_true(c.security.allow_unprivileged_env_requests);
    assert_string_equal(nvb_config_origin(&c, "cdi.spec_dirs"), "default");
    nvb_config_clear(&c);
}

static void test_every_section(void **state)
{
    (void)state;
    nvb_config c = load_ok("[runtime]\n"
                           "default = \"crun\"\n"
                           "extra_args = [\"--log-level\", \"debug\"]\n"
                           "oci_runtime = \"/usr/local/bin/crun\"\n"
                           "[runtime.environment]\n"
                           "TZ = \"UTC\"\n"
                           "_PRIVATE_1 = \"a=b\"\n"
                           "[host]\n"
                           "root = \"/srv/host\"\n"
                           "driver_root = \"/run/nvidia/driver\"\n"
                           "library_search_path = [\"/opt/nvidia/lib64\"]\n"
                           "[gpu]\n"
                           "default = \"0,1:2,GPU-8932f937-d72c\"\n"
                           "[security]\n"
                           "allow_env_requests = false\n"
                           "[cdi]\n"
                           "spec_dirs = [\"/etc/cdi\"]\n"
                           "output_dir = \"/run/cdi\"\n"
                           "device_name_strategy = \"uuid, type-index\"\n"
                           "hook_path = \"/usr/bin/nvbind\"\n"
                           "[isolation]\n"
                           "state_dir = \"/run/nvbind-test\"\n"
                           "audit_log = \"/var/log/nvbind.log\"\n"
                           "[bolt.capsule]\n"
                           "isolation_level = \"virtual\"\n"
                           "compute_limit = \"75%\"\n"
                           "gpu_memory_limit = \"512MiB\"\n"
                           "[bolt.gaming]\n"
                           "shader_cache_size = 1073741824\n");
    assert_string_equal(c.runtime.default_runtime, "crun");
    assert_int_equal(c.runtime.extra_args.n, 2);
    assert_string_equal(c.runtime.extra_args.v[1], "debug");
    assert_string_equal(c.runtime.oci_runtime, "/usr/local/bin/crun");
    assert_int_equal(c.runtime.environment.n, 2);
    assert_string_equal(c.runtime.environment.v[0], "TZ=UTC");
    assert_string_equal(c.runtime.environment.v[1], "_PRIVATE_1=a=b");
    assert_string_equal(nvb_config_origin(&c, "runtime.environment.TZ"), "nvbind.toml:6");
    assert_string_equal(c.host.root, "/srv/host");
    assert_string_equal(c.host.driver_root, "/run/nvidia/driver");
    assert_string_equal(c.host.library_search_path.v[0], "/opt/nvidia/lib64");
    assert_string_equal(c.gpu.default_selection, "0,1:2,GPU-8932f937-d72c");
    assert_false(c.security.allow_env_requests);
    assert_int_equal(c.cdi.spec_dirs.n, 1);
    assert_string_equal(c.cdi.output_dir, "/run/cdi");
    assert_int_equal(c.cdi.naming, NVB_NAMING_UUID | NVB_NAMING_TYPE_INDEX);
    assert_string_equal(c.cdi.hook_path, "/usr/bin/nvbind");
    assert_string_equal(c.isolation.state_dir, "/run/nvbind-test");
    assert_string_equal(c.isolation.audit_log, "/var/log/nvbind.log");
    assert_int_equal(c.capsule.compute_limit_percent, 75);
    assert_int_equal(c.capsule.gpu_memory_limit, 512ull << 20);
    assert_int_equal(c.gaming.shader_cache_size, 1ull << 30);
    nvb_config_clear(&c);
}

static void test_custom_profiles(void **state)
{
    (void)state;
    nvb_config c = load_ok("[profiles.render]\n"
                           "env = { A = \"1\", B_2 = \"x y\" }\n"
                           "driver_capabilities = \"graphics, compute\"\n"
                           "devices = [\"/dev/fuse\"]\n"
                           "mounts = [\"/srv/models:/models\"]\n"
                           "[profiles.batch-2]\n"
                           "env = [\"K=V=W\"]\n"
                           "driver_capabilities = [\"all\"]\n");
    assert_int_equal(c.n_profiles, 2);
    const nvb_custom_profile *p = nvb_config_profile(&c, "render");
    assert_non_null(p);
    assert_int_equal(p->env.n, 2);
    assert_string_equal(p->env.v[1], "B_2=x y");
    assert_int_equal(p->caps, NVB_CAP_GRAPHICS | NVB_CAP_COMPUTE);
    assert_string_equal(p->device_nodes.v[0], "/dev/fuse");
    assert_string_equal(p->mounts.v[0], "/srv/models:/models");
    p = nvb_config_profile(&c, "batch-2");
    assert_non_null(p);
    assert_string_equal(p->env.v[0], "K=V=W");
    assert_int_equal(p->caps, NVB_CAP_ALL);
    assert_null(nvb_config_profile(&c, "gaming"));
    assert_string_equal(nvb_config_origin(&c, "profiles.render.mounts"), "nvbind.toml:5");
    nvb_config_clear(&c);
}

/* ---- every bad configuration: message and exit code ---- */

static void test_bad_values(void **state)
{
    (void)state;
    assert_load_error("[bolt.capsule]\nisolation_level = \"exclusve\"\n",
                      "nvbind.toml:2:19: bolt.capsule.isolation_level: \"exclusve\" is not one of shared, exclusive, "
                      "virtual; did you mean \"exclusive\"?");
    assert_load_error("[bolt.capsule]\nisolation_level = \"pooled\"\n",
                      "nvbind.toml:2:19: bolt.capsule.isolation_level: \"pooled\" is not one of shared, exclusive, "
                      "virtual");
    assert_load_error("[bolt.capsule]\nisolation_level = \"virtual\"\ngpu_memory_limit = \"8QB\"\n",
                      "nvbind.toml:3:20: bolt.capsule.gpu_memory_limit: \"8QB\" is not a size: unknown unit (expected "
                      "B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)");
    assert_load_error("[bolt.capsule]\nisolation_level = \"virtual\"\ngpu_memory_limit = \"lots\"\n",
                      "nvbind.toml:3:20: bolt.capsule.gpu_memory_limit: \"lots\" is not a size: expected a number and "
                      "a unit such as \"8GB\" or \"512MiB\"");
    assert_load_error("[bolt.capsule]\nisolation_level = \"virtual\"\ngpu_memory_limit = -8\n",
                      "nvbind.toml:3:20: bolt.capsule.gpu_memory_limit: -8 is negative; sizes are 0 or more bytes");
    assert_load_error("[bolt.aiml]\nmemory_pool_size = \"1.0001KB\"\n",
                      "nvbind.toml:2:20: bolt.aiml.memory_pool_size: \"1.0001KB\" is not a size: that is not a whole "
                      "number of bytes");
    assert_load_error("[bolt.aiml]\nmemory_pool_size = \"99999999999TiB\"\n",
                      "nvbind.toml:2:20: bolt.aiml.memory_pool_size: \"99999999999TiB\" is not a size: the size does "
                      "not fit in 64 bits");
    assert_load_error("[bolt.capsule]\nisolation_level = \"virtual\"\ncompute_limit = \"175%\"\n",
                      "nvbind.toml:3:17: bolt.capsule.compute_limit: \"175%\" is not a percentage from 0% to 100% "
                      "(e.g. \"75%\")");
    assert_load_error("[bolt.capsule]\nisolation_level = \"virtual\"\ncompute_limit = 101\n",
                      "nvbind.toml:3:17: bolt.capsule.compute_limit: 101 is out of range (0 to 100 percent)");
    assert_load_error("[bolt.gaming]\nperformance_profile = \"ultra-low-latncy\"\n",
                      "nvbind.toml:2:23: bolt.gaming.performance_profile: \"ultra-low-latncy\" is not one of "
                      "ultra-low-latency, performance, balanced, efficiency; did you mean \"ultra-low-latency\"?");
    assert_load_error("[bolt.gaming]\npower_profile = \"turbo\"\n",
                      "nvbind.toml:2:17: bolt.gaming.power_profile: \"turbo\" is not one of maximum, balanced, "
                      "efficiency");
    assert_load_error("[runtime]\ndefault = \"podmn\"\n",
                      "nvbind.toml:2:11: runtime.default: \"podmn\" is not one of podman, docker, bolt, runc, crun; "
                      "did you mean \"podman\"?");
    assert_load_error("[runtime]\noci_runtime = \"crum\"\n",
                      "nvbind.toml:2:15: runtime.oci_runtime: \"crum\" is not runc, crun or an absolute path; did you "
                      "mean \"crun\"?");
    assert_load_error("[cdi]\nhook_path = \"nvbind\"\n",
                      "nvbind.toml:2:13: cdi.hook_path: \"nvbind\" must be an absolute path");
    assert_load_error("[host]\nroot = \"/srv/../etc\"\n",
                      "nvbind.toml:2:8: host.root: \"/srv/../etc\" must not contain \"..\"");
    assert_load_error("[cdi]\nspec_dirs = [\"/etc/cdi\", \"cdi\"]\n",
                      "nvbind.toml:2:26: cdi.spec_dirs[1]: \"cdi\" must be an absolute path");
    assert_load_error("[cdi]\ndevice_name_strategy = \"index,uid\"\n",
                      "nvbind.toml:2:24: cdi.device_name_strategy: \"uid\" is not a naming strategy (index, uuid, "
                      "type-index); did you mean \"uuid\"?");
    assert_load_error("[cdi]\ndevice_name_strategy = []\n",
                      "nvbind.toml:2:24: cdi.device_name_strategy: the list is empty");
    assert_load_error("[gpu]\ndefault = \"0,,1\"\n",
                      "nvbind.toml:2:11: gpu.default: \"0,,1\" is not a GPU selection (all, none, indices like \"0,1\", "
                      "UUIDs, MIG devices like \"0:1\")");
    assert_load_error("[host]\nroot = \"/a\\u0000b\"\n",
                      "nvbind.toml:2:8: host.root: the string contains a NUL character");
}

static void test_bad_ranges_and_types(void **state)
{
    (void)state;
    assert_load_error("[bolt.aiml]\ncuda_cache_size = 8192\n",
                      "nvbind.toml:2:19: bolt.aiml.cuda_cache_size: 8192 is out of range (0 to 4096 MiB; CUDA caps its "
                      "JIT cache at 4 GiB)");
    assert_load_error("[bolt.aiml]\ncuda_cache_size = -1\n",
                      "nvbind.toml:2:19: bolt.aiml.cuda_cache_size: -1 is out of range (0 to 4096 MiB; CUDA caps its "
                      "JIT cache at 4 GiB)");
    assert_load_error("[bolt.aiml]\ncuda_cache_size = \"4096\"\n",
                      "nvbind.toml:2:19: bolt.aiml.cuda_cache_size: expected an integer, found string");
    assert_load_error("[bolt.aiml]\ncuda_cache_size = 4096.0\n",
                      "nvbind.toml:2:19: bolt.aiml.cuda_cache_size: expected an integer, found float");
    assert_load_error("[bolt.gaming]\ndlss_enabled = \"yes\"\n",
                      "nvbind.toml:2:16: bolt.gaming.dlss_enabled: expected a boolean, found string");
    assert_load_error("[bolt.capsule]\nisolation_level = 2\n",
                      "nvbind.toml:2:19: bolt.capsule.isolation_level: expected a string, found integer");
    assert_load_error("[runtime]\nextra_args = \"--debug\"\n",
                      "nvbind.toml:2:14: runtime.extra_args: expected an array, found string");
    assert_load_error("[runtime]\nextra_args = [\"--debug\", 3]\n",
                      "nvbind.toml:2:26: runtime.extra_args[1]: expected a string, found integer");
    assert_load_error("bolt = 3\n", "nvbind.toml:1:8: bolt: expected a table, found integer");
    assert_load_error("[[cdi]]\n", "nvbind.toml:1:1: cdi: expected a table, found array");
    assert_load_error("[runtime.environment]\nFOO = 1\n",
                      "nvbind.toml:2:7: runtime.environment.FOO: expected a string (quote numbers and booleans: "
                      "\"1\"), found integer");
    assert_load_error("[runtime.environment]\n1FOO = \"x\"\n",
                      "nvbind.toml:2:1: runtime.environment.1FOO: not a valid environment variable name (letters, "
                      "digits and _, not starting with a digit)");
    assert_load_error("[runtime.environment]\n\"A-B\" = \"x\"\n",
                      "nvbind.toml:2:1: runtime.environment.A-B: not a valid environment variable name (letters, "
                      "digits and _, not starting with a digit)");
    /* Limits mean something only for a partitioned (virtual) GPU. */
    assert_load_error("[bolt.capsule]\ngpu_memory_limit = \"8GB\"\n",
                      "nvbind.toml:2:20: bolt.capsule.gpu_memory_limit: limits apply only with isolation_level = "
                      "\"virtual\", not \"shared\"");
    assert_load_error("[bolt.capsule]\nisolation_level = \"exclusive\"\ncompute_limit = \"50%\"\n",
                      "nvbind.toml:3:17: bolt.capsule.compute_limit: limits apply only with isolation_level = "
                      "\"virtual\", not \"exclusive\"");
}

static void test_unknown_names(void **state)
{
    (void)state;
    assert_load_error("[bolt.capsule]\nisolaton_level = \"shared\"\n",
                      "nvbind.toml:2:1: bolt.capsule.isolaton_level: unknown key; did you mean \"isolation_level\"?");
    assert_load_error("[bolt.gamming]\ndlss_enabled = true\n",
                      "nvbind.toml:1:7: bolt.gamming: unknown table; did you mean \"bolt.gaming\"?");
    assert_load_error("[bolt.capsule]\nfrobnicate = 1\n",
                      "nvbind.toml:2:1: bolt.capsule.frobnicate: unknown key (expected one of snapshot_gpu_state, "
                      "isolation_level, quic_acceleration, gpu_memory_limit, compute_limit)");
    assert_load_error("[cdl]\n", "nvbind.toml:1:2: cdl: unknown table; did you mean \"cdi\"?");
    assert_load_error("isolation_level = \"shared\"\n",
                      "nvbind.toml:1:1: isolation_level: unknown key here; it belongs in [bolt.capsule]");
    assert_load_error("[bolt.gaming]\ncuda_cache_size = 1\n",
                      "nvbind.toml:2:1: bolt.gaming.cuda_cache_size: unknown key here; it belongs in [bolt.aiml]");
    assert_load_error("[runtime]\nenviroment = {}\n",
                      "nvbind.toml:2:1: runtime.enviroment: unknown table; did you mean \"runtime.environment\"?");
    assert_load_error("[services.gpu-app]\nimage = \"tensorflow/tensorflow:latest-gpu\"\n",
                      "nvbind.toml:1:2: services: [services.*] belongs in Bolt's own service configuration, not in "
                      "nvbind.toml; nvbind reads [bolt.capsule], [bolt.gaming], [bolt.aiml], [runtime], [host], [gpu], "
                      "[security], [cdi], [isolation] and [profiles.NAME]");
    assert_load_error("[profiles.x]\nenvv = []\n", "nvbind.toml:2:1: profiles.x.envv: unknown key; did you mean \"env\"?");
    assert_load_error("[profiles.gaming]\n",
                      "nvbind.toml:1:11: profiles.gaming: \"gaming\" is a built-in profile; a custom profile cannot "
                      "replace it (choose another name)");
    assert_load_error("[profiles.\"my profile\"]\n",
                      "nvbind.toml:1:11: profiles.\"my profile\": profile names use letters, digits, - and _ (at most "
                      "64, starting with a letter or digit)");
    assert_load_error("[profiles.x]\ndriver_capabilities = \"graphics,computee\"\n",
                      "nvbind.toml:2:23: profiles.x.driver_capabilities: \"computee\" is not a driver capability "
                      "(utility, compute, video, graphics, display, ngx, compat32, all); did you mean \"compute\"?");
    assert_load_error("[profiles.x]\nmounts = [\"/a\"]\n",
                      "nvbind.toml:2:11: profiles.x.mounts[0]: \"/a\" is not HOST:CONTAINER (two absolute paths, one "
                      "colon)");
    assert_load_error("[profiles.x]\nmounts = [\"/a:models\"]\n",
                      "nvbind.toml:2:11: profiles.x.mounts[0]: \"/a:models\": the container path must be an absolute "
                      "path");
    assert_load_error("[profiles.x]\ndevices = [\"/srv/x\"]\n",
                      "nvbind.toml:2:12: profiles.x.devices[0]: \"/srv/x\" is not a device node path under /dev/");
    assert_load_error("[profiles.x]\nenv = [\"NOVALUE\"]\n",
                      "nvbind.toml:2:8: profiles.x.env[0]: \"NOVALUE\" is not KEY=VALUE with a valid variable name");
    assert_load_error("[profiles.x]\nenv = \"A=1\"\n",
                      "nvbind.toml:2:7: profiles.x.env: expected a table or an array of \"KEY=VALUE\" strings, found "
                      "string");
}

/* The TOML layer's own errors pass through with the file, line and column. */
static void test_toml_errors_pass_through(void **state)
{
    (void)state;
    const char *cases[][2] = {
        {"[bolt.capsule]\nsnapshot_gpu_state = true\nsnapshot_gpu_state = false\n", "nvbind.toml:3:"},
        {"[cdi]\n[cdi]\n", "nvbind.toml:2:"},
        {"[host]\nroot = \"\xff\"\n", "nvbind.toml:2:"},
        {"[host]\nroot = \"/abc\n", "nvbind.toml:2:"},
        {"[gpu]\ndefault = 'all\n", "nvbind.toml:2:"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nvb_config c = {0};
        nvb_err err = {0};
        assert_int_equal(nvb_config_load_text(&c, cases[i][0], strlen(cases[i][0]), "nvbind.toml", &err), -1);
        assert_int_equal(err.exit_code, NVB_EXIT_CONFIG);
        if (strncmp(err.msg, cases[i][1], strlen(cases[i][1])) != 0)
            fail_msg("case %zu: \"%s\" does not start with \"%s\"", i, err.msg, cases[i][1]);
        nvb_config_clear(&c);
    }
}

/* ---- values ---- */

static void test_sizes(void **state)
{
    (void)state;
    const struct {
        const char *text;
        uint64_t bytes;
    } ok[] = {
        {"0", 0},
        {"4096", 4096},
        {"8GB", 8000000000ull},
        {"8gb", 8000000000ull},
        {"8 GiB", 8ull << 30},
        {"512MiB", 512ull << 20},
        {"1.5GiB", 3ull << 29},
        {"0.5KB", 500},
        {"2TB", 2000000000000ull},
        {"1TiB", 1ull << 40},
        {"7B", 7},
        {"16000000000", 16000000000ull},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        uint64_t v = 1;
        const char *why = NULL;
        if (nvb_size_parse(ok[i].text, &v, &why) < 0)
            fail_msg("\"%s\": %s", ok[i].text, why);
        assert_int_equal(v, ok[i].bytes);
    }
    const char *bad[] = {"", "GB", "-1GB", "8QB", "8 G B", "1.5", "1.GB", "18446744073709551616", "20000000TiB", "8GBs"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t v;
        const char *why = NULL;
        if (nvb_size_parse(bad[i], &v, &why) == 0)
            fail_msg("\"%s\" parsed as %llu", bad[i], (unsigned long long)v);
        assert_non_null(why);
    }
    char buf[32];
    nvb_size_format(16000000000ull, buf, sizeof buf);
    assert_string_equal(buf, "16GB");
    nvb_size_format(24ull << 30, buf, sizeof buf);
    assert_string_equal(buf, "24GiB");
    nvb_size_format(1536ull << 20, buf, sizeof buf);
    assert_string_equal(buf, "1536MiB");
    nvb_size_format(1234, buf, sizeof buf);
    assert_string_equal(buf, "1234");
}

static void test_percent_and_suggest(void **state)
{
    (void)state;
    unsigned p = 0;
    assert_int_equal(nvb_percent_parse("75%", &p), 0);
    assert_int_equal(p, 75);
    assert_int_equal(nvb_percent_parse("100", &p), 0);
    assert_int_equal(p, 100);
    assert_int_equal(nvb_percent_parse("101%", &p), -1);
    assert_int_equal(nvb_percent_parse("7.5%", &p), -1);
    assert_int_equal(nvb_percent_parse("%", &p), -1);
    static const char *const words[] = {"shared", "exclusive", "virtual"};
    assert_string_equal(nvb_suggest("exclusve", words, 3), "exclusive");
    assert_string_equal(nvb_suggest("Virtual", words, 3), "virtual");
    assert_string_equal(nvb_suggest("sahred", words, 3), "shared");
    assert_null(nvb_suggest("pooled", words, 3));
    assert_null(nvb_suggest("x", words, 3));
}

/* ---- the search order ---- */

static char tmpdir[512];

/* A fresh folder under $TMPDIR (the system's temporary folder when unset). */
static char *make_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/nvbind-schema-XXXXXX", base && base[0] == '/' ? base : P_tmpdir);
    return mkdtemp(tmpdir);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup_tmp(void **state)
{
    (void)state;
    return make_tmpdir() ? 0 : -1;
}

static int teardown_tmp(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_search_order(void **state)
{
    (void)state;
    char cwd[PATH_MAX], path[PATH_MAX], xdg[PATH_MAX], envfile[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof cwd));
    snprintf(path, sizeof path, "%s/work", tmpdir);
    assert_int_equal(mkdir(path, 0755), 0);
    assert_int_equal(chdir(path), 0);
    snprintf(xdg, sizeof xdg, "%s/xdg/nvbind", tmpdir);
    char parent[PATH_MAX];
    snprintf(parent, sizeof parent, "%s/xdg", tmpdir);
    assert_int_equal(mkdir(parent, 0755), 0);
    assert_int_equal(mkdir(xdg, 0755), 0);
    unsetenv("NVBIND_CONFIG");
    setenv("XDG_CONFIG_HOME", parent, 1);

    /* Nothing anywhere (unless this machine has /etc/nvbind/config.toml): defaults. */
    nvb_config c = {0};
    nvb_err err = {0};
    char *found = NULL;
    nvb_strv searched = {0};
    assert_int_equal(nvb_config_find(NULL, &found, &searched, &err), 0);
    assert_int_equal(searched.n, 2); /* never ./nvbind.toml: the current folder is nobody's configuration */
    char want[PATH_MAX + 32];
    snprintf(want, sizeof want, "%s/config.toml", xdg);
    assert_string_equal(searched.v[0], want);
    assert_string_equal(searched.v[1], "/etc/nvbind/config.toml");
    nvb_strv_free(&searched);
    free(found);

    /* XDG before /etc, NVBIND_CONFIG before both, --config first; ./nvbind.toml never. */
    write_text(want, "[gpu]\ndefault = \"1\"\n");
    assert_int_equal(nvb_config_load(&c, NULL, &err), 0);
    assert_string_equal(c.gpu.default_selection, "1");
    assert_string_equal(c.source, want);
    write_text("nvbind.toml", "[gpu]\ndefault = \"2\"\n");
    assert_int_equal(nvb_config_load(&c, NULL, &err), 0);
    assert_string_equal(c.gpu.default_selection, "1");
    char origin[PATH_MAX + 48];
    snprintf(origin, sizeof origin, "%s:2", want);
    assert_string_equal(nvb_config_origin(&c, "gpu.default"), origin);
    snprintf(envfile, sizeof envfile, "%s/env.toml", tmpdir);
    write_text(envfile, "[gpu]\ndefault = \"3\"\n");
    setenv("NVBIND_CONFIG", envfile, 1);
    assert_int_equal(nvb_config_load(&c, NULL, &err), 0);
    assert_string_equal(c.gpu.default_selection, "3");
    snprintf(path, sizeof path, "%s/explicit.toml", tmpdir);
    write_text(path, "[gpu]\ndefault = \"none\"\n");
    assert_int_equal(nvb_config_load(&c, path, &err), 0);
    assert_string_equal(c.gpu.default_selection, "none");

    /* A named file that is missing is an error, not a silent fall back. */
    snprintf(path, sizeof path, "%s/missing.toml", tmpdir);
    assert_int_equal(nvb_config_load(&c, path, &err), -1);
    assert_int_equal(err.exit_code, NVB_EXIT_CONFIG);
    char msg[PATH_MAX + 64];
    snprintf(msg, sizeof msg, "%s: no such configuration file (named by --config)", path);
    assert_string_equal(err.msg, msg);
    assert_string_equal(c.gpu.default_selection, "none"); /* unchanged */
    setenv("NVBIND_CONFIG", path, 1);
    assert_int_equal(nvb_config_load(&c, NULL, &err), -1);
    snprintf(msg, sizeof msg, "%s: no such configuration file (named by NVBIND_CONFIG)", path);
    assert_string_equal(err.msg, msg);
    unsetenv("NVBIND_CONFIG");

    /* A bad file found by the search is reported with its name. */
    write_text(want, "[gpu]\ndefault = 7\n");
    assert_int_equal(nvb_config_load(&c, NULL, &err), -1);
    char bad[PATH_MAX + 128];
    snprintf(bad, sizeof bad, "%s:2:11: gpu.default: expected a string, found integer", want);
    assert_string_equal(err.msg, bad);

    /* A folder where the file should be. */
    snprintf(path, sizeof path, "%s/dir.toml", tmpdir);
    assert_int_equal(mkdir(path, 0755), 0);
    assert_int_equal(nvb_config_load_file(&c, path, &err), -1);
    assert_int_equal(err.exit_code, NVB_EXIT_CONFIG);
    assert_non_null(strstr(err.msg, "cannot read the configuration file"));

    nvb_config_clear(&c);
    unsetenv("XDG_CONFIG_HOME");
    assert_int_equal(chdir(cwd), 0);
}

/* ---- config show and config init load back ---- */

static char *show_json(const nvb_config *c)
{
    json_t *j = nvb_config_to_json(c);
    json_t *values = json_object_get(j, "values");
    /* Compare values only: origins differ between a file and its rendering. */
    const char *key;
    json_t *v;
    json_t *flat = json_object();
    json_object_foreach(values, key, v) json_object_set(flat, key, json_object_get(v, "value"));
    char *s = json_dumps(flat, JSON_SORT_KEYS);
    json_decref(flat);
    json_decref(j);
    return s;
}

static void test_render_round_trip(void **state)
{
    (void)state;
    const char *files[] = {seed_gaming, seed_aiml,
                           "[runtime]\ndefault = \"docker\"\nextra_args = [\"a\\\"b\"]\n"
                           "[runtime.environment]\nTZ = \"UTC\"\n"
                           "[profiles.render]\nenv = { A = \"1\" }\ndriver_capabilities = \"graphics\"\n"
                           "devices = [\"/dev/fuse\"]\nmounts = [\"/a:/b\"]\n"
                           "[bolt.capsule]\nisolation_level = \"virtual\"\ncompute_limit = 40\ngpu_memory_limit = 1000\n"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        nvb_config a = load_ok(files[i]);
        _cleanup_free_ char *text = nvb_config_render_toml(&a);
        assert_non_null(text);
        nvb_config b = {0};
        nvb_err err = {0};
        if (nvb_config_load_text(&b, text, strlen(text), "shown.toml", &err) < 0)
            fail_msg("config show output does not load: %s\n%s", err.msg, text);
        _cleanup_free_ char *ja = show_json(&a), *jb = show_json(&b);
        assert_string_equal(ja, jb);
        nvb_config_clear(&a);
        nvb_config_clear(&b);
    }
}

static void test_template_is_the_defaults(void **state)
{
    (void)state;
    _cleanup_free_ char *text = nvb_config_template();
    assert_non_null(text);
    nvb_config t = {0}, d;
    nvb_err err = {0};
    if (nvb_config_load_text(&t, text, strlen(text), "init.toml", &err) < 0)
        fail_msg("config init output does not load: %s", err.msg);
    nvb_config_init(&d);
    _cleanup_free_ char *jt = show_json(&t), *jd = show_json(&d);
    assert_string_equal(jt, jd);
    /* Every key is written (set, or commented out when its default is "unset"). */
    json_t *j = nvb_config_to_json(&d);
    const char *key;
    json_t *v;
    json_object_foreach(json_object_get(j, "values"), key, v)
    {
        const char *name = strrchr(key, '.') + 1;
        char line[128];
        snprintf(line, sizeof line, "\n%s = ", name);
        char commented[128];
        snprintf(commented, sizeof commented, "\n# %s = ", name);
        if (!strstr(text, line) && !strstr(text, commented))
            fail_msg("config init does not mention %s", key);
    }
    json_decref(j);
    nvb_config_clear(&t);
    nvb_config_clear(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_gaming),
        cmocka_unit_test(test_seed_aiml),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_every_section),
        cmocka_unit_test(test_custom_profiles),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_bad_ranges_and_types),
        cmocka_unit_test(test_unknown_names),
        cmocka_unit_test(test_toml_errors_pass_through),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_percent_and_suggest),
        cmocka_unit_test_setup_teardown(test_search_order, setup_tmp, teardown_tmp),
        cmocka_unit_test(test_render_round_trip),
        cmocka_unit_test(test_template_is_the_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
