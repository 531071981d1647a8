#include "isolation/timefmt.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t nvb_time_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The UTC calendar fields of secs (proleptic Gregorian, days counted in 400-year eras of
 * 146097 days from 0000-03-01, so leap days fall at the end of a counted year). Not
 * gmtime_r: glibc's loads the time zone file (/etc/localtime) on its first call, for a UTC
 * answer that never needs it, and the shim formats a time on every create. */
typedef struct utc_fields {
    int64_t year;
    int month, day, hour, minute, second;
} utc_fields;

static utc_fields utc_from_secs(int64_t secs)
{
    utc_fields f;
    int64_t days = secs / 86400, rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    f.hour = (int)(rem / 3600);
    f.minute = (int)(rem / 60 % 60);
    f.second = (int)(rem % 60);
    days += 719468; /* from 1970-01-01 to 0000-03-01 */
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    int64_t day_of_era = days - era * 146097;
    int64_t year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
    int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    int64_t month_from_march = (5 * day_of_year + 2) / 153;
    f.day = (int)(day_of_year - (153 * month_from_march + 2) / 5 + 1);
    f.month = (int)(month_from_march < 10 ? month_from_march + 3 : month_from_march - 9);
    f.year = year_of_era + era * 400 + (f.month <= 2);
    return f;
}

void nvb_time_format(char *buf, size_t len, int64_t ms, bool with_ms)
{
    /* Floor division: times before 1970 keep a non-negative millisecond part (and no
     * negation, which INT64_MIN from a damaged record would overflow). */
    int64_t secs = ms / 1000;
    int frac = (int)(ms % 1000);
    if (frac < 0) {
        secs--;
        frac += 1000;
    }
    utc_fields f = utc_from_secs(secs);
    int n = snprintf(buf, len, "%04lld-%02d-%02dT%02d:%02d:%02d", (long long)f.year, f.month, f.day, f.hour, f.minute,
                     f.second);
    if (n < 0 || (size_t)n >= len)
        return;
    if (with_ms)
        snprintf(buf + n, len - (size_t)n, ".%03dZ", frac);
    else
        snprintf(buf + n, len - (size_t)n, "Z");
}

/* Exactly n digits at *p; advances p. */
static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int expect(const char **p, char c)
{
    if (**p != c)
        return -1;
    (*p)++;
    return 0;
}

int nvb_time_parse_rfc3339(const char *s, int64_t *ms)
{
    const char *p = s;
    int Y, M, D, h, m, sec;
    if (digits(&p, 4, &Y) || expect(&p, '-') || digits(&p, 2, &M) || expect(&p, '-') || digits(&p, 2, &D))
        return -1;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return -1;
    p++;
    if (digits(&p, 2, &h) || expect(&p, ':') || digits(&p, 2, &m) || expect(&p, ':') || digits(&p, 2, &sec))
        return -1;
    if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
        return -1;
    int frac_ms = 0;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return -1;
        int scale = 100;
        for (; isdigit((unsigned char)*p); p++) {
            frac_ms += (*p - '0') * scale;
            scale /= 10;
        }
    }
    int offset_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, oh, om;
        p++;
        if (digits(&p, 2, &oh) || expect(&p, ':') || digits(&p, 2, &om) || oh > 23 || om > 59)
            return -1;
        offset_min = sign * (oh * 60 + om);
    } else {
        return -1;
    }
    if (*p)
        return -1;
    struct tm tm = {.tm_year = Y - 1900, .tm_mon = M - 1, .tm_mday = D, .tm_hour = h, .tm_min = m,
                    .tm_sec = sec == 60 ? 59 : sec};
    time_t t = timegm(&tm);
    /* timegm normalises 31 February into March: such a date is not a date. */
    if (tm.tm_mday != D || tm.tm_mon != M - 1)
        return -1;
    *ms = ((int64_t)t - (int64_t)offset_min * 60) * 1000 + frac_ms;
    return 0;
}

int nvb_time_parse_since(const char *s, int64_t now_ms, int64_t *ms)
{
    if (nvb_time_parse_rfc3339(s, ms) == 0)
        return 0;
    const char *p = s;
    int64_t n = 0;
    if (!isdigit((unsigned char)*p))
        return -1;
    for (; isdigit((unsigned char)*p); p++) {
        if (n > INT64_MAX / 10 / 1000 / 86400)
            return -1;
        n = n * 10 + (*p - '0');
    }
    int64_t unit;
    switch (*p) {
    case 's': unit = 1000; break;
    case 'm': unit = 60 * 1000; break;
    case 'h': unit = 3600 * 1000; break;
    case 'd': unit = 86400 * 1000; break;
    default: return -1;
    }
    if (p[1])
        return -1;
    *ms = now_ms - n * unit;
    return 0;
}
