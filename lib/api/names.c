/* Names of the public enums (the words nvbind.toml uses) and the BoltConfig defaults. */
#include "api/api.h"

#include <string.h>

#include "config/values.h"

static const char *const isolation_names[] = {"shared", "exclusive", "virtual"};
static const char *const performance_names[] = {"ultra-low-latency", "performance", "balanced", "efficiency"};
static const char *const power_names[] = {"maximum", "balanced", "efficiency"};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static const char *name_of(const char *const *names, size_t n, int v)
{
    return v >= 0 && (size_t)v < n ? names[v] : NULL;
}

static int parse(const char *what, const char *const *names, size_t n, const char *name, int *out, nvbind_error **err)
{
    for (size_t i = 0; name && i < n; i++)
        if (strcmp(name, names[i]) == 0) {
            *out = (int)i;
            return 0;
        }
    char list[256] = "";
    for (size_t i = 0; i < n; i++) {
        strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
        strncat(list, names[i], sizeof list - strlen(list) - 1);
    }
    return nvb_api_failf(err, NVB_EXIT_USAGE, "%s: unknown value '%s' (expected %s)", what, name ? name : "(null)",
                         list);
}

NVBIND_EXPORT const char *nvbind_isolation_name(nvbind_isolation level)
{
    return name_of(isolation_names, N_OF(isolation_names), (int)level);
}

NVBIND_EXPORT const char *nvbind_performance_profile_name(nvbind_performance_profile profile)
{
    return name_of(performance_names, N_OF(performance_names), (int)profile);
}

NVBIND_EXPORT const char *nvbind_power_profile_name(nvbind_power_profile profile)
{
    return name_of(power_names, N_OF(power_names), (int)profile);
}

NVBIND_EXPORT int nvbind_isolation_from_name(const char *name, nvbind_isolation *out, nvbind_error **err)
{
    int v = 0; /* set when parse() succeeds; -O3 cannot see that it returns < 0 otherwise */
    if (!out)
        return nvb_api_failf(err, NVB_EXIT_USAGE, "nvbind_isolation_from_name: the output pointer is NULL");
    if (parse("isolation_level", isolation_names, N_OF(isolation_names), name, &v, err) < 0)
        return -1;
    *out = (nvbind_isolation)v;
    return 0;
}

NVBIND_EXPORT int nvbind_performance_profile_from_name(const char *name, nvbind_performance_profile *out,
                                                       nvbind_error **err)
{
    int v = 0; /* set when parse() succeeds; -O3 cannot see that it returns < 0 otherwise */
    if (!out)
        return nvb_api_failf(err, NVB_EXIT_USAGE, "nvbind_performance_profile_from_name: the output pointer is NULL");
    if (parse("performance_profile", performance_names, N_OF(performance_names), name, &v, err) < 0)
        return -1;
    *out = (nvbind_performance_profile)v;
    return 0;
}

NVBIND_EXPORT int nvbind_power_profile_from_name(const char *name, nvbind_power_profile *out, nvbind_error **err)
{
    int v = 0; /* set when parse() succeeds; -O3 cannot see that it returns < 0 otherwise */
    if (!out)
        return nvb_api_failf(err, NVB_EXIT_USAGE, "nvbind_power_profile_from_name: the output pointer is NULL");
    if (parse("power_profile", power_names, N_OF(power_names), name, &v, err) < 0)
        return -1;
    *out = (nvbind_power_profile)v;
    return 0;
}

NVBIND_EXPORT void nvbind_bolt_gaming_gpu_config_default(nvbind_bolt_gaming_gpu_config *out)
{
    if (!out)
        return; /* nothing to fill */
    *out = (nvbind_bolt_gaming_gpu_config){
        .dlss_enabled = true,
        .rt_cores_enabled = true,
        .performance_profile = NVBIND_PERFORMANCE_ULTRA_LOW_LATENCY,
        .wine_optimizations = true,
        .vrs_enabled = true,
        .power_profile = NVBIND_POWER_MAXIMUM,
    };
}

NVBIND_EXPORT void nvbind_bolt_aiml_gpu_config_default(nvbind_bolt_aiml_gpu_config *out)
{
    if (!out)
        return; /* nothing to fill */
    *out = (nvbind_bolt_aiml_gpu_config){
        .cuda_cache_size = 4096,
        .tensor_cores_enabled = true,
        .mixed_precision = true,
        .memory_pool_size = 16000000000ull, /* "16GB" */
        .mig_enabled = false,
    };
}

NVBIND_EXPORT void nvbind_bolt_config_default(nvbind_bolt_config *out)
{
    if (!out)
        return; /* nothing to fill */
    nvb_config c;
    nvb_config_init(&c);
    nvb_api_bolt_from_config(&c, out);
    nvb_config_clear(&c);
}

int nvb_api_check_bolt(const nvbind_bolt_config *b, nvbind_error **err)
{
    if (!nvbind_isolation_name(b->capsule.isolation_level))
        return nvb_api_failf(err, NVB_EXIT_USAGE, "capsule.isolation_level: %d is not an nvbind_isolation value",
                             (int)b->capsule.isolation_level);
    if (b->capsule.compute_limit_percent > 100)
        return nvb_api_failf(err, NVB_EXIT_USAGE, "capsule.compute_limit_percent: %u is out of range (0-100)",
                             b->capsule.compute_limit_percent);
    if (b->has_gaming && !nvbind_performance_profile_name(b->gaming.performance_profile))
        return nvb_api_failf(err, NVB_EXIT_USAGE,
                             "gaming.performance_profile: %d is not an nvbind_performance_profile value",
                             (int)b->gaming.performance_profile);
    if (b->has_gaming && !nvbind_power_profile_name(b->gaming.power_profile))
        return nvb_api_failf(err, NVB_EXIT_USAGE, "gaming.power_profile: %d is not an nvbind_power_profile value",
                             (int)b->gaming.power_profile);
    /* The same bound nvbind.toml has: CUDA caps its JIT cache at 4 GiB. */
    if (b->has_aiml && b->aiml.cuda_cache_size > 4096)
        return nvb_api_failf(err, NVB_EXIT_USAGE,
                             "aiml.cuda_cache_size: %llu MiB is out of range (0-4096: CUDA caps its JIT cache at 4 GiB)",
                             (unsigned long long)b->aiml.cuda_cache_size);
    return 0;
}

int nvb_api_check_capsule(const nvbind_bolt_capsule_config *c, nvbind_error **err)
{
    if (!nvbind_isolation_name(c->isolation_level.level))
        return nvb_api_failf(err, NVB_EXIT_USAGE, "isolation_level.level: %d is not an nvbind_isolation value",
                             (int)c->isolation_level.level);
    if (c->isolation_level.compute_limit_percent > 100)
        return nvb_api_failf(err, NVB_EXIT_USAGE, "isolation_level.compute_limit_percent: %u is out of range (0-100)",
                             c->isolation_level.compute_limit_percent);
    /* BoltGpuIsolation carries limits only in its Virtual variant. */
    if (c->isolation_level.level != NVBIND_ISOLATION_VIRTUAL &&
        (c->isolation_level.memory_limit || c->isolation_level.compute_limit_percent))
        return nvb_api_failf(err, NVB_EXIT_USAGE, "isolation_level: memory and compute limits need virtual isolation, not %s",
                             nvbind_isolation_name(c->isolation_level.level));
    if (c->has_gaming_optimizations && !nvbind_performance_profile_name(c->gaming_optimizations.performance_profile))
        return nvb_api_failf(err, NVB_EXIT_USAGE,
                             "gaming_optimizations.performance_profile: %d is not an nvbind_performance_profile value",
                             (int)c->gaming_optimizations.performance_profile);
    return 0;
}

NVBIND_EXPORT int nvbind_parse_size(const char *text, uint64_t *bytes, nvbind_error **err)
{
    if (!text || !bytes)
        return nvb_api_failf(err, NVB_EXIT_USAGE, "nvbind_parse_size: %s is NULL", text ? "bytes" : "text");
    const char *why = NULL;
    if (nvb_size_parse(text, bytes, &why) < 0)
        return nvb_api_failf(err, NVB_EXIT_USAGE, "'%s' is not a size: %s", text, why ? why : "malformed");
    return 0;
}
