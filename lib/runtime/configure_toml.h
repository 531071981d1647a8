/* Editing a TOML file nvbind does not own (containerd's config.toml) without a TOML writer:
 * the file is parsed (lib/config/toml) to find where things are, then changed as text, so
 * every setting, comment and layout nvbind does not touch stays byte for byte:
 *   - a key of someone else's table: its value token replaced in place (a one-line string or
 *     boolean), or a line added under the table's [header], or the table appended at the end
 *     when it has no header of its own;
 *   - a table nvbind owns (runtimes.nvbind): its section removed wherever it is and written
 *     again at the end of the file.
 * What cannot be edited that way (a table written inline or as dotted keys, a value of another
 * type, a multi-line string) is refused with one line naming the file, line and key. The result
 * is parsed again before it is returned. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include "config/toml.h"
#include "util/error.h"

typedef struct nvb_tedit nvb_tedit;

/* Parse text (NULL or empty: an empty file). NULL with err (NVB_EXIT_CONFIG) when it is not TOML. */
nvb_tedit *nvb_tedit_open(const char *text, size_t len, const char *filename, nvb_err *err);
void nvb_tedit_free(nvb_tedit *ed);
const toml_node *nvb_tedit_root(const nvb_tedit *ed);

/* TABLE.KEY = value, where table is `n` plain names (dots allowed inside a name). A string
 * when str is not NULL, else the boolean b. 0, or -1 with err. */
int nvb_tedit_set(nvb_tedit *ed, const char *const *table, size_t n, const char *key, const char *str, bool b,
                  nvb_err *err);
/* TABLE.KEY = toml_value (TOML text), only when the key is absent: an existing value is the
 * user's choice. */
int nvb_tedit_set_default(nvb_tedit *ed, const char *const *table, size_t n, const char *key,
                          const char *toml_value, nvb_err *err);
/* Replace the whole table (its own section; sub-tables are separate calls) with body, lines of
 * "key = value\n". 0, or -1 with err. */
int nvb_tedit_own_table(nvb_tedit *ed, const char *const *table, size_t n, const char *body, nvb_err *err);

/* The edited text, malloc'd; NULL with err. */
char *nvb_tedit_finish(nvb_tedit *ed, nvb_err *err);

/* A TOML basic string for s ("..." with escapes), malloc'd. */
char *nvb_toml_quote(const char *s);
/* A key as TOML writes it: bare when it can be, quoted otherwise; malloc'd. */
char *nvb_toml_key(const char *s);
