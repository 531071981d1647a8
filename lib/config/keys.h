/* The keys of nvbind.toml as one table: the schema walker checks a file against it,
 * `config show` prints the effective values from it, and `config init` writes the commented
 * default file from it, so the three can never disagree. Internal to lib/config. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "config/config.h"

enum nvb_key_kind {
    NVB_KEY_BOOL,        /* bool */
    NVB_KEY_ENUM,        /* an enum stored as int, spelled by choices[] */
    NVB_KEY_CHOICE,      /* char *, one of choices[] */
    NVB_KEY_PATH,        /* char *, an absolute path */
    NVB_KEY_PATHS,       /* nvb_strv of absolute paths */
    NVB_KEY_STRINGS,     /* nvb_strv of strings */
    NVB_KEY_SIZE,        /* uint64_t bytes: "8GB", "512MiB" or an integer; 0 = none */
    NVB_KEY_PERCENT,     /* unsigned 0-100: "75%" or 75; 0 = none */
    NVB_KEY_UINT,        /* uint64_t, 0..max */
    NVB_KEY_NAMING,      /* unsigned enum nvb_naming bits: array or "index,uuid" */
    NVB_KEY_SELECTION,   /* char *, a GPU selection: all, none, 0,1, UUIDs, 0:1 */
    NVB_KEY_OCI_RUNTIME, /* char *, runc, crun or an absolute path */
};

typedef struct nvb_key {
    const char *table; /* "bolt.capsule" */
    const char *name;  /* "isolation_level" */
    enum nvb_key_kind kind;
    size_t offset;               /* into nvb_config */
    const char *const *choices;  /* ENUM, CHOICE: NULL-terminated spellings */
    uint64_t max;                /* UINT */
    const char *range_note;      /* UINT: why the maximum, for the out-of-range message */
    const char *help;            /* one comment line for `config init` */
    const char *example;         /* `config init`: a commented example when the default is unset */
} nvb_key;

extern const nvb_key nvb_keys[];
extern const size_t nvb_n_keys;

/* Every table nvbind.toml may hold (besides runtime.environment and profiles.NAME), in the
 * order `config init` and `config show` write them. */
extern const char *const nvb_key_tables[];
extern const size_t nvb_n_key_tables;

extern const char *const nvb_isolation_words[];
extern const char *const nvb_perf_words[];
extern const char *const nvb_power_words[];
extern const char *const nvb_runtime_words[];
extern const char *const nvb_builtin_profiles[]; /* default, gaming, aiml; NULL-terminated */

/* Keys of [profiles.NAME]. */
extern const char *const nvb_profile_keys[];

static inline void *nvb_key_ptr(nvb_config *c, const nvb_key *k) { return (char *)c + k->offset; }
static inline const void *nvb_key_cptr(const nvb_config *c, const nvb_key *k) { return (const char *)c + k->offset; }

/* Record where a dotted key's value came from (replaces an earlier record). */
int nvb_config_set_origin(nvb_config *c, const char *key, const char *where);
