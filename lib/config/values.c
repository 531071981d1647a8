#include "config/values.h"
#include "host/host.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
    const char *name;
    uint64_t factor;
} size_units[] = {
    {"b", 1},
    {"kb", 1000ull},
    {"mb", 1000ull * 1000},
    {"gb", 1000ull * 1000 * 1000},
    {"tb", 1000ull * 1000 * 1000 * 1000},
    {"kib", 1ull << 10},
    {"mib", 1ull << 20},
    {"gib", 1ull << 30},
    {"tib", 1ull << 40},
};

int nvb_size_parse(const char *s, uint64_t *out, const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    const char *p = s;
    if (!isdigit((unsigned char)*p)) {
        *why = *p == '-' ? "sizes cannot be negative" : "expected a number and a unit such as \"8GB\" or \"512MiB\"";
        return -1;
    }
    /* Whole part, then up to 18 fraction digits, both kept as integers so that
     * "1.5GiB" is exact. */
    uint64_t whole = 0;
    for (; isdigit((unsigned char)*p); p++) {
        if (whole > (UINT64_MAX - 9) / 10) {
            *why = "the number is too large";
            return -1;
        }
        whole = whole * 10 + (uint64_t)(*p - '0');
    }
    uint64_t frac = 0, frac_scale = 1;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p)) {
            *why = "expected digits after the decimal point";
            return -1;
        }
        for (; isdigit((unsigned char)*p); p++) {
            if (frac_scale >= 1000000000000000000ull) {
                *why = "too many digits after the decimal point";
                return -1;
            }
            frac = frac * 10 + (uint64_t)(*p - '0');
            frac_scale *= 10;
        }
    }
    while (*p == ' ')
        p++;
    uint64_t factor = 1;
    if (*p) {
        size_t i;
        for (i = 0; i < sizeof size_units / sizeof size_units[0]; i++)
            if (strcasecmp(p, size_units[i].name) == 0)
                break;
        if (i == sizeof size_units / sizeof size_units[0]) {
            *why = "unknown unit (expected B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)";
            return -1;
        }
        factor = size_units[i].factor;
    }
    if (whole > UINT64_MAX / factor) {
        *why = "the size does not fit in 64 bits";
        return -1;
    }
    uint64_t bytes = whole * factor;
    if (frac) {
        /* frac/frac_scale * factor must be whole: factor and frac_scale are at most 2^40 and
         * 10^18, so divide out their common factors first to stay inside 64 bits. */
        uint64_t a = factor, b = frac_scale;
        while (b && a % 2 == 0 && b % 2 == 0) {
            a /= 2;
            b /= 2;
        }
        while (a % 5 == 0 && b % 5 == 0) {
            a /= 5;
            b /= 5;
        }
        if (frac % b != 0) {
            *why = "that is not a whole number of bytes";
            return -1;
        }
        uint64_t part = frac / b;
        if (a && part > UINT64_MAX / a) {
            *why = "the size does not fit in 64 bits";
            return -1;
        }
        part *= a;
        if (bytes > UINT64_MAX - part) {
            *why = "the size does not fit in 64 bits";
            return -1;
        }
        bytes += part;
    }
    *out = bytes;
    return 0;
}

void nvb_size_format(uint64_t bytes, char *buf, size_t len)
{
    static const struct {
        const char *name;
        uint64_t factor;
    } order[] = {
        {"TiB", 1ull << 40}, {"TB", 1000ull * 1000 * 1000 * 1000}, {"GiB", 1ull << 30}, {"GB", 1000ull * 1000 * 1000},
        {"MiB", 1ull << 20}, {"MB", 1000ull * 1000},               {"KiB", 1ull << 10}, {"KB", 1000},
    };
    for (size_t i = 0; bytes && i < sizeof order / sizeof order[0]; i++) {
        if (bytes % order[i].factor == 0) {
            snprintf(buf, len, "%llu%s", (unsigned long long)(bytes / order[i].factor), order[i].name);
            return;
        }
    }
    snprintf(buf, len, "%llu", (unsigned long long)bytes);
}

int nvb_percent_parse(const char *s, unsigned *out)
{
    if (!isdigit((unsigned char)*s))
        return -1;
    unsigned v = 0;
    for (; isdigit((unsigned char)*s); s++) {
        v = v * 10 + (unsigned)(*s - '0');
        if (v > 100)
            return -1;
    }
    if (*s == '%')
        s++;
    if (*s)
        return -1;
    *out = v;
    return 0;
}

bool nvb_env_name_valid(const char *s, size_t len)
{
    if (!len || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
        return false;
    for (size_t i = 0; i < len; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_') || (unsigned char)s[i] >= 0x80)
            return false;
    return true;
}

const char *const nvb_cap_words[] = {"utility", "compute", "video", "graphics", "display", "ngx", "compat32", "all", NULL};

int nvb_cap_word_parse(const char *word, size_t len, unsigned *bits)
{
    for (size_t i = 0; nvb_cap_words[i]; i++) {
        if (strlen(nvb_cap_words[i]) == len && strncmp(word, nvb_cap_words[i], len) == 0) {
            /* Words are in bit order (enum nvb_cap); "all" is last. */
            *bits = strcmp(nvb_cap_words[i], "all") == 0 ? NVB_CAP_ALL : 1u << i;
            return 0;
        }
    }
    return -1;
}

char *nvb_caps_string(unsigned caps)
{
    if ((caps & NVB_CAP_ALL) == NVB_CAP_ALL)
        return strdup("all");
    char buf[128] = "";
    size_t n = 0;
    for (size_t i = 0; nvb_cap_words[i] && strcmp(nvb_cap_words[i], "all") != 0; i++) {
        if (!(caps & (1u << i)))
            continue;
        int w = snprintf(buf + n, sizeof buf - n, "%s%s", n ? "," : "", nvb_cap_words[i]);
        if (w < 0 || (size_t)w >= sizeof buf - n)
            break;
        n += (size_t)w;
    }
    return strdup(buf);
}

/* Optimal string alignment distance, case-insensitive; words are short (keys, names). */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return (size_t)-1;
    size_t d[65][65];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]) ? 0 : 1;
            size_t best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < best)
                best = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == tolower((unsigned char)b[j - 1]) && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    }
    return d[la][lb];
}

const char *nvb_suggest(const char *word, const char *const *candidates, size_t n)
{
    const char *best = NULL;
    size_t best_d = (size_t)-1;
    for (size_t i = 0; i < n; i++) {
        size_t d = edit_distance(word, candidates[i]);
        if (d < best_d) {
            best_d = d;
            best = candidates[i];
        }
    }
    if (!best)
        return NULL;
    /* A typo changes a few characters; allow about one edit per three characters of the
     * longer word, at least one and at most four. */
    size_t lw = strlen(word), lc = strlen(best), longer = lw > lc ? lw : lc;
    size_t limit = longer / 3;
    if (limit < 1)
        limit = 1;
    if (limit > 4)
        limit = 4;
    return best_d <= limit ? best : NULL;
}
