/* The character level of TOML: UTF-8 checking, whitespace and comments, strings with their
 * escapes, and the bare words that are booleans, integers and floats. */
#include "config/toml_parser.h"
#include "util/utf8.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void toml_advance(toml_parser *p)
{
    unsigned char c = (unsigned char)p->s[p->i++];
    if (c == '\n') {
        p->at.line++;
        p->at.column = 1;
    } else if ((c & 0xC0) != 0x80) { /* continuation bytes do not start a character */
        p->at.column++;
    }
}

int toml_fail_at(toml_parser *p, toml_pos at, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return nvb_errf(p->err, NVB_EXIT_CONFIG, "%s:%u:%u: %s", p->file, at.line, at.column, msg);
}

void *toml_alloc_fail(toml_parser *p)
{
    toml_fail(p, "out of memory");
    return NULL;
}

int toml_check_utf8(toml_parser *p)
{
    toml_pos at = { 1, 1 };
    const unsigned char *s = (const unsigned char *)p->s;
    for (size_t i = 0; i < p->n;) {
        uint32_t cp;
        size_t len = nvb_utf8_decode(s + i, p->n - i, &cp);
        if (!len)
            return toml_fail_at(p, at, "invalid UTF-8 (byte 0x%02X)", s[i]);
        i += len;
        if (cp == '\n')
            at.line++, at.column = 1;
        else
            at.column++;
    }
    return 0;
}

const char *toml_describe_char(const toml_parser *p, char buf[static 16])
{
    int c = toml_peek(p);
    uint32_t cp = 0;
    if (c == -1)
        return "end of file";
    if (c == '\n' || (c == '\r' && toml_peek_at(p, 1) == '\n'))
        return "end of line";
    if (c >= 0x20 && c < 0x7F) {
        snprintf(buf, 16, "'%c'", c);
        return buf;
    }
    /* The document was checked to be UTF-8 before parsing began. */
    if (!nvb_utf8_decode((const unsigned char *)p->s + p->i, p->n - p->i, &cp))
        cp = (uint32_t)c;
    snprintf(buf, 16, "U+%04X", cp);
    return buf;
}

static bool is_control(int c)
{
    return (c >= 0 && c < 0x20 && c != '\t') || c == 0x7F;
}

void toml_skip_ws(toml_parser *p)
{
    int c;
    while ((c = toml_peek(p)) == ' ' || c == '\t')
        toml_advance(p);
}

int toml_skip_comment(toml_parser *p)
{
    toml_advance(p); /* '#' */
    for (int c; (c = toml_peek(p)) != -1 && c != '\n'; toml_advance(p)) {
        if (c == '\r' && toml_peek_at(p, 1) == '\n')
            break;
        if (is_control(c))
            return toml_fail(p, "control character U+%04X in comment", (unsigned)c);
    }
    return 0;
}

bool toml_eat_newline(toml_parser *p)
{
    int c = toml_peek(p);
    if (c == '\r' && toml_peek_at(p, 1) == '\n')
        toml_advance(p);
    else if (c != '\n')
        return false;
    toml_advance(p);
    return true;
}

int toml_skip_ws_comments_newlines(toml_parser *p)
{
    for (;;) {
        toml_skip_ws(p);
        if (toml_peek(p) == '#') {
            if (toml_skip_comment(p) < 0)
                return -1;
        } else if (!toml_eat_newline(p)) {
            return 0;
        }
    }
}

int toml_expect_line_end(toml_parser *p, const char *after)
{
    toml_skip_ws(p);
    if (toml_peek(p) == '#' && toml_skip_comment(p) < 0)
        return -1;
    if (toml_peek(p) == -1 || toml_eat_newline(p))
        return 0;
    char d[16];
    return toml_fail(p, "expected a newline after %s, found %s", after, toml_describe_char(p, d));
}

/* ---- strings ---- */

static int buf_put(toml_parser *p, toml_buf *b, const char *s, size_t n)
{
    if (!n)
        return 0;
    if (n > b->cap - b->len) {
        size_t cap = b->cap ? b->cap : 32;
        while (cap - b->len < n) {
            if (cap > SIZE_MAX / 2)
                return toml_fail(p, "out of memory");
            cap *= 2;
        }
        char *q = realloc(b->p, cap);
        if (!q)
            return toml_fail(p, "out of memory");
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    return 0;
}

/* Copy the byte under the cursor and move on. */
static int put_current(toml_parser *p, toml_buf *b)
{
    if (buf_put(p, b, p->s + p->i, 1) < 0)
        return -1;
    toml_advance(p);
    return 0;
}

static int hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int unicode_escape(toml_parser *p, toml_buf *b, toml_pos at, int letter)
{
    int digits = letter == 'u' ? 4 : 8;
    size_t start = p->i - 1; /* the backslash */
    uint32_t cp = 0;
    toml_advance(p);
    for (int k = 0; k < digits; k++) {
        int v = hex_value(toml_peek(p));
        if (v < 0)
            return toml_fail_at(p, at, "invalid escape: \\%c needs %d hexadecimal digits", letter, digits);
        cp = cp << 4 | (uint32_t)v;
        toml_advance(p);
    }
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return toml_fail_at(p, at, "invalid escape '%.*s' (not a Unicode scalar value)",
                            (int)(p->i - start), p->s + start);
    char u[4];
    size_t len;
    if (cp < 0x80)
        u[0] = (char)cp, len = 1;
    else if (cp < 0x800)
        u[0] = (char)(0xC0 | cp >> 6), u[1] = (char)(0x80 | (cp & 0x3F)), len = 2;
    else if (cp < 0x10000)
        u[0] = (char)(0xE0 | cp >> 12), u[1] = (char)(0x80 | (cp >> 6 & 0x3F)),
        u[2] = (char)(0x80 | (cp & 0x3F)), len = 3;
    else
        u[0] = (char)(0xF0 | cp >> 18), u[1] = (char)(0x80 | (cp >> 12 & 0x3F)),
        u[2] = (char)(0x80 | (cp >> 6 & 0x3F)), u[3] = (char)(0x80 | (cp & 0x3F)), len = 4;
    return buf_put(p, b, u, len);
}

/* At a backslash in a basic string. */
static int escape(toml_parser *p, toml_buf *b)
{
    toml_pos at = p->at;
    toml_advance(p);
    int c = toml_peek(p);
    const char *to = NULL;
    switch (c) {
    case 'b': to = "\b"; break;
    case 't': to = "\t"; break;
    case 'n': to = "\n"; break;
    case 'f': to = "\f"; break;
    case 'r': to = "\r"; break;
    case '"': to = "\""; break;
    case '\\': to = "\\"; break;
    case 'u':
    case 'U': return unicode_escape(p, b, at, c);
    default: break;
    }
    if (to) {
        toml_advance(p);
        return buf_put(p, b, to, 1);
    }
    if (c >= 0x20 && c < 0x7F)
        return toml_fail_at(p, at, "invalid escape '\\%c'", c);
    char d[16];
    return toml_fail_at(p, at, "invalid escape: '\\' followed by %s", toml_describe_char(p, d));
}

static int check_string_char(toml_parser *p, int c)
{
    if (is_control(c))
        return toml_fail(p, "control character U+%04X in string", (unsigned)c);
    return 0;
}

/* "..." or '...' on one line. */
static int single_line(toml_parser *p, toml_buf *b, toml_pos open, bool basic)
{
    int quote = basic ? '"' : '\'';
    toml_advance(p);
    for (;;) {
        int c = toml_peek(p);
        if (c == quote) {
            toml_advance(p);
            return 0;
        }
        if (c == -1 || c == '\n' || (c == '\r' && toml_peek_at(p, 1) == '\n'))
            return toml_fail_at(p, open, "unterminated string");
        if (basic && c == '\\') {
            if (escape(p, b) < 0)
                return -1;
            continue;
        }
        if (check_string_char(p, c) < 0 || put_current(p, b) < 0)
            return -1;
    }
}

/* At a backslash in a multi-line basic string: when only whitespace follows it on its line,
 * it removes itself, the newline and all whitespace and newlines after. Returns 1 then. */
static int line_ending_backslash(toml_parser *p)
{
    size_t k = 1;
    while (toml_peek_at(p, k) == ' ' || toml_peek_at(p, k) == '\t')
        k++;
    int c = toml_peek_at(p, k);
    if (c != '\n' && !(c == '\r' && toml_peek_at(p, k + 1) == '\n'))
        return 0;
    while (k--)
        toml_advance(p);
    for (;;) {
        toml_skip_ws(p);
        if (!toml_eat_newline(p))
            return 1;
    }
}

/* """...""" or '''...''': newlines allowed (kept as LF), a newline right after the opening
 * delimiter is dropped, and one or two quotes may stand anywhere, even just before the end. */
static int multi_line(toml_parser *p, toml_buf *b, toml_pos open, bool basic)
{
    int quote = basic ? '"' : '\'';
    for (int k = 0; k < 3; k++)
        toml_advance(p);
    toml_eat_newline(p);
    for (;;) {
        int c = toml_peek(p);
        if (c == -1)
            return toml_fail_at(p, open, "unterminated multi-line string");
        if (c == quote) {
            size_t run = 1;
            while (run < 6 && toml_peek_at(p, run) == quote)
                run++;
            if (run > 5)
                return toml_fail(p, "too many quotes in a row in a multi-line string");
            /* The last three of a run of three to five close the string. */
            size_t keep = run >= 3 ? run - 3 : run;
            if (buf_put(p, b, p->s + p->i, keep) < 0)
                return -1;
            for (size_t k = 0; k < run; k++)
                toml_advance(p);
            if (run >= 3)
                return 0;
            continue;
        }
        if (basic && c == '\\') {
            if (!line_ending_backslash(p) && escape(p, b) < 0)
                return -1;
            continue;
        }
        if (toml_eat_newline(p)) {
            if (buf_put(p, b, "\n", 1) < 0)
                return -1;
            continue;
        }
        if (check_string_char(p, c) < 0 || put_current(p, b) < 0)
            return -1;
    }
}

int toml_lex_string(toml_parser *p, bool allow_multiline, char **out, size_t *len)
{
    toml_pos open = p->at;
    int quote = toml_peek(p);
    bool basic = quote == '"';
    bool triple = toml_peek_at(p, 1) == quote && toml_peek_at(p, 2) == quote;
    toml_buf b = { 0 };
    int r;
    if (triple && !allow_multiline)
        r = toml_fail(p, "a multi-line string cannot be a key");
    else if (triple)
        r = multi_line(p, &b, open, basic);
    else
        r = single_line(p, &b, open, basic);
    if (r == 0)
        r = buf_put(p, &b, "", 1);
    if (r < 0) {
        free(b.p);
        return -1;
    }
    *out = b.p;
    *len = b.len - 1;
    return 0;
}

int toml_lex_bare_key(toml_parser *p, char **out, size_t *len)
{
    size_t start = p->i;
    while (toml_is_bare_key_char(toml_peek(p)))
        toml_advance(p);
    *len = p->i - start;
    *out = strndup(p->s + start, *len);
    return *out ? 0 : toml_fail(p, "out of memory");
}

/* ---- booleans and numbers ---- */

static bool is_word_char(int c)
{
    return toml_is_bare_key_char(c) || c == '+' || c == '.' || c == ':';
}

static int digit_value(int c)
{
    int v = hex_value(c);
    return v < 0 ? 99 : v;
}

/* Digits of base from w[i], single underscores allowed between two digits. Returns the index
 * after them; *bad_underscore when an underscore stands anywhere else. */
static size_t scan_digits(const char *w, size_t i, size_t len, int base, bool *bad_underscore)
{
    size_t start = i;
    while (i < len) {
        if (digit_value(w[i]) < base) {
            i++;
        } else if (w[i] == '_') {
            if (i == start || digit_value(w[i - 1]) >= base || i + 1 == len || digit_value(w[i + 1]) >= base) {
                *bad_underscore = true;
                return i;
            }
            i++;
        } else {
            break;
        }
    }
    return i;
}

/* Value of the digits w[i..len) (underscores skipped) if at most limit, else -1. */
static int accumulate(const char *w, size_t i, size_t len, int base, uint64_t limit, uint64_t *out)
{
    uint64_t v = 0;
    for (; i < len; i++) {
        if (w[i] == '_')
            continue;
        uint64_t d = (uint64_t)digit_value(w[i]);
        if (v > (limit - d) / (uint64_t)base)
            return -1;
        v = v * (uint64_t)base + d;
    }
    *out = v;
    return 0;
}

static int make_float(toml_parser *p, toml_node *n, toml_pos at, const char *w, size_t len)
{
    char *clean = malloc(len + 1), *q = clean;
    if (!clean)
        return toml_fail(p, "out of memory");
    for (size_t i = 0; i < len; i++)
        if (w[i] != '_')
            *q++ = w[i];
    *q = '\0';
    if (!p->c_locale && !(p->c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0))) {
        free(clean);
        return toml_fail(p, "out of memory");
    }
    errno = 0;
    n->type = TOML_FLOAT;
    n->fp = strtod_l(clean, NULL, p->c_locale);
    free(clean);
    if (errno == ERANGE && isinf(n->fp))
        return toml_fail_at(p, at, "float out of range");
    return 0;
}

/* Why w is not a number, or NULL when it is one; sets *is_float and the base of integers. */
static const char *number_syntax(const char *w, size_t len, bool *is_float, int *base)
{
    bool bad = false, sign = w[0] == '+' || w[0] == '-';
    size_t i = sign, j;
    *is_float = false;
    *base = 10;
    if (len - i > 1 && w[i] == '0' && (w[i + 1] == 'x' || w[i + 1] == 'o' || w[i + 1] == 'b')) {
        *base = w[i + 1] == 'x' ? 16 : w[i + 1] == 'o' ? 8 : 2;
        j = scan_digits(w, i + 2, len, *base, &bad);
        if (sign)
            return "a sign is not allowed before 0x, 0o or 0b";
        if (bad)
            return "underscores must stand between digits";
        if (j == i + 2 || j != len)
            return *base == 16 ? "expected hexadecimal digits after 0x"
                 : *base == 8  ? "expected octal digits (0-7) after 0o"
                               : "expected binary digits (0-1) after 0b";
        return NULL;
    }
    j = scan_digits(w, i, len, 10, &bad);
    if (j == i && !bad)
        return "expected a digit";
    if (!bad && w[i] == '0' && j > i + 1)
        return "leading zeros are not allowed";
    if (!bad && j < len && w[j] == '.') {
        *is_float = true;
        size_t k = scan_digits(w, j + 1, len, 10, &bad);
        if (k == j + 1 && !bad)
            return "expected a digit after the decimal point";
        j = k;
    }
    if (!bad && j < len && (w[j] == 'e' || w[j] == 'E')) {
        *is_float = true;
        j++;
        if (j < len && (w[j] == '+' || w[j] == '-'))
            j++;
        size_t k = scan_digits(w, j, len, 10, &bad);
        if (k == j && !bad)
            return "expected digits in the exponent";
        j = k;
    }
    if (bad)
        return "underscores must stand between digits";
    if (j != len)
        return "unexpected character in number";
    return NULL;
}

static bool word_is(const char *w, size_t len, const char *s)
{
    return len == strlen(s) && !memcmp(w, s, len);
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

int toml_lex_scalar(toml_parser *p, toml_node *n)
{
    toml_pos at = p->at;
    const char *w = p->s + p->i;
    while (is_word_char(toml_peek(p)))
        toml_advance(p);
    size_t len = (size_t)(p->s + p->i - w);
    int shown = len > 40 ? 40 : (int)len;
    const char *dots = len > 40 ? "..." : "";
    char d[16];
    if (!len)
        return toml_fail(p, "expected a value, found %s", toml_describe_char(p, d));

    if (word_is(w, len, "true") || word_is(w, len, "false")) {
        n->type = TOML_BOOLEAN;
        n->boolean = w[0] == 't';
        return 0;
    }
    bool sign = w[0] == '+' || w[0] == '-';
    if (word_is(w + sign, len - sign, "inf") || word_is(w + sign, len - sign, "nan")) {
        n->type = TOML_FLOAT;
        n->fp = w[sign] == 'i' ? HUGE_VAL : (double)NAN;
        if (w[0] == '-')
            n->fp = -n->fp;
        return 0;
    }
    if ((len >= 5 && is_digit(w[0]) && is_digit(w[1]) && is_digit(w[2]) && is_digit(w[3]) && w[4] == '-') ||
        (len >= 3 && is_digit(w[0]) && is_digit(w[1]) && w[2] == ':'))
        return toml_fail_at(p, at, "dates and times are not supported");
    if (!sign && !is_digit(w[0]))
        return toml_fail_at(p, at, "invalid value '%.*s%s' (strings must be quoted; booleans are true or false)",
                            shown, w, dots);

    bool is_float;
    int base;
    const char *why = number_syntax(w, len, &is_float, &base);
    if (why)
        return toml_fail_at(p, at, "invalid number '%.*s%s': %s", shown, w, dots, why);
    if (is_float)
        return make_float(p, n, at, w, len);

    uint64_t v;
    bool negative = w[0] == '-';
    size_t digits = base == 10 ? (size_t)sign : 2;
    if (accumulate(w, digits, len, base, (uint64_t)INT64_MAX + negative, &v) < 0)
        return toml_fail_at(p, at, "integer out of range");
    n->type = TOML_INTEGER;
    n->integer = !negative ? (int64_t)v : v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    return 0;
}
