/* CDI name rules: vendor, class, kind, device name and fully qualified device names.
 * The character rules are those the engines enforce; the length limits come from the
 * specification's text (a vendor is a DNS-subdomain-like prefix, a class at most 63). */
#include "cdi/cdi.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VENDOR_MAX 253
#define CLASS_MAX 63

static bool is_letter(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool is_alnum(char c)
{
    return is_letter(c) || (c >= '0' && c <= '9');
}

__attribute__((format(printf, 3, 4)))
static bool fail(char *why, size_t len, const char *fmt, ...)
{
    if (why && len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, len, fmt, ap);
        va_end(ap);
    }
    return false;
}

/* A character shown in a message: 'x', or \xNN when it is not printable ASCII. */
static const char *show_char(char c, char buf[8])
{
    unsigned char u = (unsigned char)c;
    if (u >= 0x20 && u < 0x7f && u != '\'')
        snprintf(buf, 8, "'%c'", c);
    else
        snprintf(buf, 8, "\\x%02x", u);
    return buf;
}

/* Vendor and class share one shape: letter first, letter or digit last, [A-Za-z0-9_.-] inside. */
static bool check_vendor_or_class(const char *what, const char *s, size_t max, char *why, size_t len)
{
    char cb[8];
    size_t n = strlen(s);
    if (n == 0)
        return fail(why, len, "the %s is empty", what);
    if (n > max)
        return fail(why, len, "the %s is %zu characters long, at most %zu are allowed", what, n, max);
    if (!is_letter(s[0]))
        return fail(why, len, "the %s must start with a letter, not %s", what, show_char(s[0], cb));
    for (size_t i = 1; i + 1 < n; i++)
        if (!is_alnum(s[i]) && s[i] != '_' && s[i] != '-' && s[i] != '.')
            return fail(why, len, "character %s is not allowed in a %s (letters, digits, '_', '-', '.')",
                        show_char(s[i], cb), what);
    if (!is_alnum(s[n - 1]))
        return fail(why, len, "the %s must end with a letter or digit, not %s", what, show_char(s[n - 1], cb));
    return true;
}

bool nvb_cdi_vendor_valid(const char *vendor, char *why, size_t len)
{
    if (!vendor)
        return fail(why, len, "the vendor is missing");
    if (!check_vendor_or_class("vendor", vendor, VENDOR_MAX, why, len))
        return false;
    if (strstr(vendor, ".."))
        return fail(why, len, "the vendor has an empty label (\"..\"); it must look like a domain name");
    return true;
}

bool nvb_cdi_class_valid(const char *cls, char *why, size_t len)
{
    if (!cls)
        return fail(why, len, "the class is missing");
    return check_vendor_or_class("class", cls, CLASS_MAX, why, len);
}

bool nvb_cdi_kind_valid(const char *kind, char *why, size_t len)
{
    if (!kind || !*kind)
        return fail(why, len, "the kind is empty; it must be VENDOR/CLASS, e.g. nvidia.com/gpu");
    const char *slash = strchr(kind, '/');
    if (!slash)
        return fail(why, len, "a kind is VENDOR/CLASS (e.g. nvidia.com/gpu) and this has no '/'");
    if (strchr(slash + 1, '/'))
        return fail(why, len, "a kind has exactly one '/' between vendor and class");
    size_t vlen = (size_t)(slash - kind);
    if (vlen > VENDOR_MAX)
        return fail(why, len, "the vendor is %zu characters long, at most %d are allowed", vlen, VENDOR_MAX);
    char vendor[VENDOR_MAX + 1];
    memcpy(vendor, kind, vlen);
    vendor[vlen] = '\0';
    return nvb_cdi_vendor_valid(vendor, why, len) && nvb_cdi_class_valid(slash + 1, why, len);
}

bool nvb_cdi_device_name_valid(const char *name, char *why, size_t len)
{
    char cb[8];
    if (!name || !*name)
        return fail(why, len, "the device name is empty");
    size_t n = strlen(name);
    if (!is_alnum(name[0]))
        return fail(why, len, "a device name must start with a letter or digit, not %s", show_char(name[0], cb));
    for (size_t i = 1; i + 1 < n; i++)
        if (!is_alnum(name[i]) && name[i] != '_' && name[i] != '-' && name[i] != '.' && name[i] != ':')
            return fail(why, len, "character %s is not allowed in a device name (letters, digits, '_', '-', '.', ':')",
                        show_char(name[i], cb));
    if (!is_alnum(name[n - 1]))
        return fail(why, len, "a device name must end with a letter or digit, not %s", show_char(name[n - 1], cb));
    return true;
}

void nvb_cdi_qname_free(nvb_cdi_qname *q)
{
    if (!q)
        return;
    free(q->vendor);
    free(q->cls);
    free(q->name);
    q->vendor = q->cls = q->name = NULL;
}

bool nvb_cdi_parse_qualified_name(const char *qualified, nvb_cdi_qname *out, char *why, size_t len)
{
    out->vendor = out->cls = out->name = NULL;
    if (!qualified || !*qualified)
        return fail(why, len, "the device name is empty");
    const char *eq = strchr(qualified, '=');
    if (!eq)
        return fail(why, len, "a fully qualified device name is VENDOR/CLASS=NAME and this has no '='");
    const char *slash = memchr(qualified, '/', (size_t)(eq - qualified));
    if (!slash)
        return fail(why, len, "a fully qualified device name is VENDOR/CLASS=NAME and this has no '/' before the '='");
    char *kind = strndup(qualified, (size_t)(eq - qualified));
    if (!kind)
        return fail(why, len, "out of memory");
    bool ok = nvb_cdi_kind_valid(kind, why, len) && nvb_cdi_device_name_valid(eq + 1, why, len);
    if (ok) {
        size_t vlen = (size_t)(slash - qualified);
        out->vendor = strndup(kind, vlen);
        out->cls = strdup(kind + vlen + 1);
        out->name = strdup(eq + 1);
        if (!out->vendor || !out->cls || !out->name) {
            nvb_cdi_qname_free(out);
            ok = fail(why, len, "out of memory");
        }
    }
    free(kind);
    return ok;
}

char *nvb_cdi_qualified_name(const char *kind, const char *name)
{
    char *s = NULL;
    if (asprintf(&s, "%s=%s", kind, name) < 0)
        return NULL;
    return s;
}
