/* Shared between the TOML lexer (toml_lex.c: characters, strings, numbers) and the parser
 * (toml.c: keys, tables, the tree). Private to lib/config. */
#pragma once
#include <locale.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "config/toml.h"

typedef struct toml_pos {
    uint32_t line, column;
} toml_pos;

typedef struct toml_parser {
    const char *s;       /* the document, s[0..n) */
    size_t n, i;         /* i: next byte */
    toml_pos at;         /* position of s[i] */
    const char *file;    /* for messages */
    nvb_err *err;
    toml_node *root;
    toml_node *current;  /* the table that key/value lines go to: root or the last [header] */
    locale_t c_locale;   /* strtod must not follow the caller's LC_NUMERIC; made on first float */
} toml_parser;

/* A growable byte buffer for decoded strings. */
typedef struct toml_buf {
    char *p;
    size_t len, cap;
} toml_buf;

/* Cursor: the next byte (or -1 at the end), the byte k ahead, and moving one byte on. */
static inline int toml_peek(const toml_parser *p)
{
    return p->i < p->n ? (unsigned char)p->s[p->i] : -1;
}
static inline int toml_peek_at(const toml_parser *p, size_t k)
{
    return k < p->n - p->i ? (unsigned char)p->s[p->i + k] : -1;
}
void toml_advance(toml_parser *p);

/* Record "<file>:<line>:<col>: <message>" in p->err; returns -1. */
int toml_fail_at(toml_parser *p, toml_pos at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#define toml_fail(p, ...) toml_fail_at((p), (p)->at, __VA_ARGS__)
/* "'x'" for a printable ASCII character, "U+XXXX" otherwise, "end of file" at the end. */
const char *toml_describe_char(const toml_parser *p, char buf[static 16]);

/* The whole document must be UTF-8 (no overlong forms, no surrogates). */
int toml_check_utf8(toml_parser *p);

/* Whitespace (space, tab), comments, newlines (LF or CRLF). */
void toml_skip_ws(toml_parser *p);
int toml_skip_comment(toml_parser *p);           /* at '#': up to the end of the line */
bool toml_eat_newline(toml_parser *p);
int toml_skip_ws_comments_newlines(toml_parser *p);
/* After a key/value or a header: optional whitespace and comment, then a newline or the end. */
int toml_expect_line_end(toml_parser *p, const char *after);

/* Strings. At a quote: a single-line string (keys) or any string (values). The result is a
 * malloc'ed NUL-terminated copy in *out, its length in *len. */
int toml_lex_string(toml_parser *p, bool allow_multiline, char **out, size_t *len);
/* At a bare-key character: the run of them. */
int toml_lex_bare_key(toml_parser *p, char **out, size_t *len);
static inline bool toml_is_bare_key_char(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* A boolean, integer or float value (or a date, which is rejected) into node. */
int toml_lex_scalar(toml_parser *p, toml_node *node);

void *toml_alloc_fail(toml_parser *p); /* sets "out of memory", returns NULL */
