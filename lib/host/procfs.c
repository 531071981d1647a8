#include "host/procfs.h"
#include "util/cleanup.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* A driver version is dot-separated decimal numbers: 550.54.14, 535.129.03, 470.82. */
static bool looks_like_version(const char *s, size_t n)
{
    if (n == 0 || !isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[n - 1]))
        return false;
    int dots = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '.') {
            if (s[i + 1] == '.')
                return false;
            dots++;
        } else if (!isdigit((unsigned char)s[i])) {
            return false;
        }
    }
    return dots >= 1 && dots <= 3;
}

int nvb_parse_driver_version(const char *text, const char *origin, char **version,
                             enum nvb_kmod *kmod, nvb_err *err)
{
    const char *line = strstr(text, "NVRM version:");
    if (!line)
        return nvb_errf(err, NVB_EXIT_HOST_DATA, "%s: no 'NVRM version:' line", origin);
    const char *end = strchr(line, '\n');
    if (!end)
        end = line + strlen(line);
    const char *mod = strstr(line, "Kernel Module");
    if (!mod || mod > end)
        return nvb_errf(err, NVB_EXIT_HOST_DATA, "%s: 'NVRM version:' line names no kernel module", origin);
    /* The open modules say "NVIDIA UNIX Open Kernel Module for x86_64"; the
     * proprietary ones "NVIDIA UNIX x86_64 Kernel Module". */
    *kmod = memmem(line, (size_t)(mod - line), "Open ", 5) ? NVB_KMOD_OPEN : NVB_KMOD_PROPRIETARY;
    for (const char *p = mod; p < end;) {
        while (p < end && isspace((unsigned char)*p))
            p++;
        const char *tok = p;
        while (p < end && !isspace((unsigned char)*p))
            p++;
        if (looks_like_version(tok, (size_t)(p - tok))) {
            *version = strndup(tok, (size_t)(p - tok));
            return *version ? 0 : nvb_errf(err, NVB_EXIT_IO, "%s: out of memory", origin);
        }
    }
    return nvb_errf(err, NVB_EXIT_HOST_DATA, "%s: 'NVRM version:' line holds no driver version", origin);
}

/* Value of "Key:<spaces/tabs>value" lines; NULL when the key is absent. */
static char *field(const char *text, const char *key)
{
    size_t kl = strlen(key);
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncmp(l, key, kl) != 0 || l[kl] != ':')
            continue;
        const char *v = l + kl + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        const char *e = strchrnul(v, '\n');
        while (e > v && isspace((unsigned char)e[-1]))
            e--;
        return strndup(v, (size_t)(e - v));
    }
    return NULL;
}

void nvb_gpu_information_clear(nvb_gpu_information *info)
{
    free(info->model);
    free(info->uuid);
    free(info->bus_location);
    memset(info, 0, sizeof *info);
}

int nvb_parse_gpu_information(const char *text, const char *origin, nvb_gpu_information *out, nvb_err *err)
{
    memset(out, 0, sizeof *out);
    static const char *const required[] = {"Model", "GPU UUID", "Bus Location", "Device Minor"};
    char *vals[4] = {0};
    for (size_t i = 0; i < 4; i++) {
        vals[i] = field(text, required[i]);
        if (!vals[i] || !*vals[i]) {
            for (size_t j = 0; j <= i; j++)
                free(vals[j]);
            return nvb_errf(err, NVB_EXIT_HOST_DATA, "%s: field '%s' is missing", origin, required[i]);
        }
    }
    out->model = vals[0];
    out->uuid = vals[1];
    out->bus_location = vals[2];
    _cleanup_free_ char *minor = vals[3];
    char *endp;
    errno = 0;
    unsigned long m = strtoul(minor, &endp, 10);
    if (errno || *endp || m > 254 || !isdigit((unsigned char)minor[0])) {
        nvb_gpu_information_clear(out);
        return nvb_errf(err, NVB_EXIT_HOST_DATA, "%s: field 'Device Minor': '%s' is not a minor number 0-254",
                        origin, minor);
    }
    out->minor = (unsigned)m;
    if (strncmp(out->uuid, "GPU-", 4) != 0) {
        nvb_errf(err, NVB_EXIT_HOST_DATA, "%s: field 'GPU UUID': '%s' does not start with GPU-", origin, out->uuid);
        nvb_gpu_information_clear(out);
        return -1;
    }
    /* The driver's are GPU- and 36 hex digits and dashes. A UUID names claim files, device
     * plugin ids and CDI devices: a slash, a space or a length beyond any driver's is refused. */
    size_t ulen = strlen(out->uuid);
    if (ulen > NVB_GPU_UUID_MAX || strspn(out->uuid + 4, "0123456789abcdefABCDEF-") != ulen - 4) {
        nvb_errf(err, NVB_EXIT_HOST_DATA, "%s: field 'GPU UUID': '%.80s' is not GPU- and hex digits and dashes (at "
                 "most %d characters)", origin, out->uuid, NVB_GPU_UUID_MAX);
        nvb_gpu_information_clear(out);
        return -1;
    }
    for (char *p = out->bus_location; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return 0;
}

int nvb_proc_devices_major(const char *text, const char *name)
{
    bool in_char = false;
    size_t nl = strlen(name);
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncmp(l, "Character devices:", 18) == 0) {
            in_char = true;
            continue;
        }
        if (strncmp(l, "Block devices:", 14) == 0)
            in_char = false;
        if (!in_char)
            continue;
        char *endp;
        long major = strtol(l, &endp, 10);
        if (endp == l || *endp != ' ')
            continue;
        while (*endp == ' ')
            endp++;
        if (strncmp(endp, name, nl) == 0 && (endp[nl] == '\n' || endp[nl] == '\0'))
            return major >= 0 && major <= 4095 ? (int)major : -1;
    }
    return -1;
}

int64_t nvb_proc_number_field(const char *text, const char *key, int64_t max)
{
    _cleanup_free_ char *v = field(text, key);
    if (!v || !isdigit((unsigned char)v[0]))
        return -1;
    char *endp;
    errno = 0;
    long long n = strtoll(v, &endp, 10);
    return (*endp || errno || n < 0 || n > max) ? -1 : (int64_t)n;
}

int nvb_parse_cap_access_minor(const char *text)
{
    return (int)nvb_proc_number_field(text, "DeviceFileMinor", NVB_MINOR_MAX);
}
