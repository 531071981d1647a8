/* A small, strict TOML 1.0 parser. It knows nothing about nvbind's configuration: it turns
 * text into a tree of plain data that the schema layer walks, and every node remembers where
 * it was written so that layer can say `file:line:column: key ...`.
 *
 * Supported: everything in TOML 1.0 except dates and times, which are rejected with
 * "dates and times are not supported" at their position (nvbind has no date settings).
 * Nesting of tables and arrays is limited to TOML_MAX_DEPTH levels. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "util/error.h"

#define TOML_MAX_DEPTH 64

typedef enum toml_type {
    TOML_TABLE,
    TOML_ARRAY,
    TOML_STRING,
    TOML_INTEGER,
    TOML_FLOAT,
    TOML_BOOLEAN,
} toml_type;

/* How a table came to exist. TOML's redefinition rules depend on it, and the schema layer may
 * care too (an [section] written out versus one that only exists as a parent). */
typedef enum toml_table_kind {
    TOML_TABLE_IMPLICIT, /* only a parent in a header path: `a` in [a.b]; [a] may still define it once */
    TOML_TABLE_EXPLICIT, /* the root, a [header] of its own, or an element of an [[array]] */
    TOML_TABLE_DOTTED,   /* defined by dotted keys: `a` in `a.b = 1` */
    TOML_TABLE_INLINE,   /* written as { ... }: sealed, nothing can be added later */
} toml_table_kind;

typedef struct toml_node toml_node;

/* One key of a table, in the order the document first wrote it. */
typedef struct toml_kv {
    char *key;          /* NUL-terminated; may also contain NUL (from "\u0000"), see key_len */
    size_t key_len;
    uint32_t line, column; /* where this key was first written (its part of a dotted key or header) */
    toml_node *value;
} toml_kv;

/* Read-only for users; fields marked "parser" are bookkeeping. */
struct toml_node {
    toml_type type;
    uint32_t line, column; /* 1-based; columns count characters, not bytes. Scalars: the first
                            * character of the value. Arrays: '[' or the first [[header]].
                            * Tables: their defining [header], the first key that created them,
                            * or '{'. */
    uint32_t depth;        /* parser: nesting level, the root is 0 */
    union { /* the member named after type */
        struct {
            char *ptr; /* NUL-terminated; may contain NUL (from "\u0000"), see len */
            size_t len;
        } string;
        int64_t integer;
        double fp;     /* TOML_FLOAT */
        bool boolean;
        struct {
            toml_node **items;
            size_t len;
            size_t cap;     /* parser */
            bool of_tables; /* made by [[header]]s, rather than written as [ ... ] */
        } array;
        struct {
            toml_kv *items;
            size_t len;
            size_t cap;         /* parser */
            toml_table_kind kind;
            uint32_t *index;    /* parser: hash index for large tables, NULL while small */
            size_t index_cap;   /* parser */
        } table;
    };
};

typedef struct toml_doc {
    toml_node *root;  /* a table of kind TOML_TABLE_EXPLICIT */
    char *filename;   /* as given to toml_parse, for the schema layer's messages */
} toml_doc;

/* Parse len bytes of text (need not be NUL-terminated). filename only names the source in
 * messages ("<input>" when NULL). On error returns NULL and sets err (exit code
 * NVB_EXIT_CONFIG) to one line: "<filename>:<line>:<column>: <problem>". */
toml_doc *toml_parse(const char *text, size_t len, const char *filename, nvb_err *err);
void toml_free(toml_doc *doc);
static inline void toml_freep(toml_doc **doc) { toml_free(*doc); }
#define _cleanup_toml_ __attribute__((cleanup(toml_freep)))

/* For the schema layer: record "<filename>:<line>:<column>: <message>" in err with exit code
 * NVB_EXIT_CONFIG, where line and column come from a node or a toml_kv; returns -1. */
int toml_errf(nvb_err *err, const toml_doc *doc, uint32_t line, uint32_t column, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* The entry for key in a table, or NULL when the key is absent or table is not a table. */
const toml_kv *toml_table_get_kv(const toml_node *table, const char *key);
/* Its value, or NULL. */
const toml_node *toml_table_get(const toml_node *table, const char *key);
/* Follow a dotted path of plain names ("bolt.capsule"); NULL when any part is missing or a
 * part before the last is not a table. No quoting: names must not contain '.'. */
const toml_node *toml_get_path(const toml_node *table, const char *path);

/* "table", "array", "string", "integer", "float", "boolean". */
const char *toml_type_name(toml_type type);
/* "explicit", "implicit", "dotted", "inline". */
const char *toml_table_kind_name(toml_table_kind kind);
