/* The drop-ins nvbind writes whole (CRI-O's crio.conf.d, podman's containers.conf.d): their
 * text is a function of the options alone, the old file replaced rather than edited. Making
 * the shim's name and path into TOML, and failing when out of memory, is the same for both;
 * each engine's file (configure_crio.c, configure_podman.c) gives only its layout. */
#pragma once
#include "runtime/configure.h"

/* The shim as TOML text, ready to paste into a layout. */
typedef struct nvb_dropin_words {
    const char *name;  /* the name engines know the shim by, plain (also in runtime_root) */
    const char *qname; /* the same as a TOML string, for a value */
    const char *key;   /* the same as a TOML key, for a table name or key */
    const char *path;  /* o->runtime_path as a TOML string */
} nvb_dropin_words;

/* The file's text from the words: malloc'd, NULL when out of memory. */
typedef char *(*nvb_dropin_layout)(const nvb_dropin_words *w, const nvb_configure_opts *o);

/* The whole drop-in: layout(words, o); NULL with err when out of memory. */
char *nvb_conf_dropin(const nvb_configure_opts *o, nvb_dropin_layout layout, nvb_err *err);
