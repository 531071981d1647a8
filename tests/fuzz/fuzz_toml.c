/* libFuzzer target for the TOML parser: any bytes must parse or fail cleanly, and a parsed
 * tree must be walkable (positions set, lookups of every key finding that key). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/toml.h"

/* The parser's sources are compiled into this target itself so that they get the target's
 * -fsanitize=fuzzer,address,undefined instrumentation: the internal library is built without
 * it, which would leave libFuzzer blind to the parser's coverage and ASan to its reads. The
 * library's own copies are then never pulled from the archive. */
#include "config/toml.c"
#include "config/toml_lex.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk(const toml_node *n)
{
    if (!n->line || !n->column)
        abort();
    if (n->type == TOML_TABLE) {
        for (size_t i = 0; i < n->table.len; i++) {
            const toml_kv *kv = &n->table.items[i];
            /* keys holding NUL cannot be looked up by C string; the rest must find themselves */
            if (strlen(kv->key) == kv->key_len && toml_table_get_kv(n, kv->key) != kv)
                abort();
            walk(kv->value);
        }
    } else if (n->type == TOML_ARRAY) {
        for (size_t i = 0; i < n->array.len; i++)
            walk(n->array.items[i]);
    } else if (n->type == TOML_STRING && n->string.ptr[n->string.len] != '\0') {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nvb_err err = { 0 };
    toml_doc *doc = toml_parse((const char *)data, size, "fuzz.toml", &err);
    if (doc)
        walk(doc->root);
    else if (strncmp(err.msg, "fuzz.toml:", 10) != 0)
        abort(); /* every error names the file and a position */
    toml_free(doc);
    return 0;
}
