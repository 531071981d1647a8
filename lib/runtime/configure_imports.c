/* containerd's `imports`: files containerd reads after config.toml, which can undo what
 * `nvbind runtime configure` wrote there without a word from containerd (configure.h).
 * containerd itself is asked where it is installed (`containerd --config FILE config dump`:
 * the configuration it would run with, every import, nested ones, load order, each file's
 * version and the installed version's merge rules included). Without it, nvbind reads the
 * files config.toml names by containerd's rules as documented: one level, no load order. */
#include "runtime/configure.h"
#include "runtime/configure_toml.h"
#include "util/cleanup.h"
#include "util/fileio.h"
#include "util/spawn.h"
#include "util/strv.h"

#include <glob.h>
#include <stdbool.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define IMPORT_MAX_BYTES (1 << 20)

static void tedit_freep(nvb_tedit **ed) { nvb_tedit_free(*ed); }

/* The node at a path of table names under t, or NULL. */
static const toml_node *at(const toml_node *t, const char *const *path, size_t n)
{
    for (size_t i = 0; i < n && t; i++)
        t = t->type == TOML_TABLE ? toml_table_get(t, path[i]) : NULL;
    return t;
}

/* What a configuration (a file, or containerd's dump) lacks of nvbind's registration in
 * plugin's table, as a phrase; NULL when it has all of it. cdi_absent_ok: a dump of a
 * containerd that predates enable_cdi (1.6) has no such key, which is not a lack. */
static const char *lacks(const toml_node *root, const char *plugin, const nvb_configure_opts *o, bool cdi_absent_ok)
{
    const char *name = nvb_conf_runtime_name(o);
    const char *binary[] = {"plugins", plugin, "containerd", "runtimes", name, "options", "BinaryName"};
    const char *dflt[] = {"plugins", plugin, "containerd", "default_runtime_name"};
    const char *cdi[] = {"plugins", plugin, "enable_cdi"};
    const toml_node *b = at(root, binary, 7), *d = at(root, dflt, 4), *c = at(root, cdi, 3);
    if (!b || b->type != TOML_STRING || strcmp(b->string.ptr, o->runtime_path) != 0)
        return "nvbind's runtime";
    if (o->set_as_default && (!d || d->type != TOML_STRING || strcmp(d->string.ptr, name) != 0))
        return "nvbind as the default runtime";
    if (o->enable_cdi && (c || !cdi_absent_ok) && !(c && c->type == TOML_BOOLEAN && c->boolean))
        return "enable_cdi = true";
    return NULL;
}

/* What an imported file's root sets that wins over config.toml's, as a phrase; NULL when
 * nothing. Version 2 (containerd 1.x) replaces a plugin's whole section with the imported
 * file's; version 3 (containerd 2.x) merges, the imported keys winning. */
static const char *overrides(const toml_node *root, int version, const nvb_configure_opts *o)
{
    const char *plugin = nvb_conf_cri_plugin(version);
    const char *section[] = {"plugins", plugin};
    /* A file that registers nvbind itself, as asked (configure --config on it), undoes nothing. */
    if (!at(root, section, 2) || !lacks(root, plugin, o, false))
        return NULL;
    if (version != 3)
        return "has a section of the CRI plugin (containerd 1.x takes that section whole from the last file that "
               "has one)";
    const char *name = nvb_conf_runtime_name(o);
    const char *runtime[] = {"plugins", plugin, "containerd", "runtimes", name};
    const char *dflt[] = {"plugins", plugin, "containerd", "default_runtime_name"};
    const char *cdi[] = {"plugins", plugin, "enable_cdi"};
    if (at(root, runtime, 5))
        return "sets keys of nvbind's runtime table, and an imported key wins";
    if (o->set_as_default && at(root, dflt, 4))
        return "sets default_runtime_name, and an imported key wins";
    if (o->enable_cdi && at(root, cdi, 3))
        return "sets enable_cdi, and an imported key wins";
    return NULL;
}

/* One imported file: 1 when it overrides (said on warn), else 0. */
static unsigned check_import(const char *config, const char *file, int version, const nvb_configure_opts *o,
                             FILE *warn)
{
    struct stat st;
    if (stat(file, &st) < 0 || !S_ISREG(st.st_mode))
        return 0;
    size_t len = 0;
    _cleanup_free_ char *text = nvb_read_file(file, IMPORT_MAX_BYTES, &len);
    nvb_err err = {0};
    __attribute__((cleanup(tedit_freep))) nvb_tedit *ed = text ? nvb_tedit_open(text, len, file, &err) : NULL;
    if (!ed) {
        fprintf(warn, "nvbind: %s imports %s, which nvbind cannot read (%s): check it does not undo nvbind's "
                      "settings\n", config, file, text ? err.msg : "unreadable");
        return 1;
    }
    const char *what = overrides(nvb_tedit_root(ed), version, o);
    if (what)
        fprintf(warn, "nvbind: %s imports %s, which %s: containerd will not use what nvbind wrote in %s (put it "
                      "in %s instead)\n", config, file, what, config, file);
    return what != NULL;
}

/* What the configuration containerd would run with lacks of nvbind's registration, as a
 * phrase; NULL when it has all of it (or has no CRI plugin to tell by). */
static const char *missing_in_dump(const toml_node *root, int version, const nvb_configure_opts *o)
{
    const char *plugin = nvb_conf_cri_plugin(version);
    const char *ctrd[] = {"plugins", plugin, "containerd"};
    return at(root, ctrd, 3) ? lacks(root, plugin, o, true) : NULL;
}

/* A TOML integer key of root, or 0. */
static int64_t int_key(const toml_node *root, const char *key)
{
    const toml_node *v = toml_table_get(root, key);
    return v && v->type == TOML_INTEGER ? v->integer : 0;
}

/* containerd's log lines (logrus: `time="..." level=warning ...`) share the captured output
 * with the dump: they are cut out before the TOML is read. */
static void drop_log_lines(char *text)
{
    char *w = text;
    for (char *l = text; *l;) {
        char *end = strchrnul(l, '\n');
        size_t n = (size_t)(end - l) + (*end ? 1 : 0);
        if (strncmp(l, "time=\"", 6) != 0) {
            memmove(w, l, n);
            w += n;
        }
        l += n;
    }
    *w = '\0';
}

#define DUMP_MAX (1u << 20)

/* Ask the installed containerd: 1 when what it would run with lacks the registration (said
 * on warn), 0 when it has it, -1 when it could not tell (then why says so). */
static int ask_containerd(const char *containerd, const char *config, int version, const nvb_configure_opts *o,
                          FILE *warn, char *why, size_t why_len)
{
    _cleanup_free_ char *out = malloc(DUMP_MAX);
    if (!out) {
        snprintf(why, why_len, "out of memory");
        return -1;
    }
    char *argv[] = {(char *)containerd, (char *)"--config", (char *)config, (char *)"config", (char *)"dump", NULL};
    int rc = nvb_run_capture(argv, 10000, out, DUMP_MAX);
    if (rc != 0 || strlen(out) >= DUMP_MAX - 1) {
        snprintf(why, why_len, "`%s --config %s config dump` %s: %.200s", containerd, config,
                 rc == -2 ? "did not answer in 10 s" : rc != 0 ? "failed" : "said too much", rc > 0 ? out : "");
        why[strcspn(why, "\n")] = '\0';
        return -1;
    }
    drop_log_lines(out);
    nvb_err err = {0};
    __attribute__((cleanup(tedit_freep))) nvb_tedit *ed = nvb_tedit_open(out, strlen(out), "containerd config dump", &err);
    if (!ed) {
        snprintf(why, why_len, "its `config dump` is not TOML nvbind reads: %.300s", err.msg);
        return -1;
    }
    /* containerd 2.x dumps version 3 (and reads version 2 too); 1.x dumps version 2 and is not
     * the containerd a version 3 file is written for. */
    int dumped = (int)int_key(nvb_tedit_root(ed), "version");
    if (version == 3 && dumped < 3) {
        snprintf(why, why_len, "the installed containerd writes version %d: it is not the containerd a version 3 file "
                               "is for", dumped);
        return -1;
    }
    const char *what = missing_in_dump(nvb_tedit_root(ed), dumped == 3 ? 3 : 2, o);
    if (!what)
        return 0;
    /* Name what it reads: every file it loaded but config.toml (the dump lists them). */
    char list[2048] = "";
    size_t used = 0;
    const toml_node *imports = toml_table_get(nvb_tedit_root(ed), "imports");
    for (size_t i = 0; imports && imports->type == TOML_ARRAY && i < imports->array.len && used < sizeof list; i++) {
        const toml_node *f = imports->array.items[i];
        if (f->type == TOML_STRING && strlen(f->string.ptr) == f->string.len && strcmp(f->string.ptr, config) != 0)
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", used ? ", " : "", f->string.ptr);
    }
    fprintf(warn, "nvbind: containerd (%s) would run without %s: a file %s imports undoes what nvbind wrote there "
                  "(it reads %s; a later file wins, and containerd 1.x takes the CRI section whole from the last file "
                  "that has one): register nvbind in that file too (`nvbind runtime configure --config FILE`) or "
                  "remove the setting there\n",
            containerd, what, config, used ? list : "no other file");
    for (size_t i = 0; imports && imports->type == TOML_ARRAY && i < imports->array.len; i++) {
        const toml_node *f = imports->array.items[i];
        if (f->type == TOML_STRING && nvb_endswith(f->string.ptr, NVB_CONF_BACKUP_SUFFIX))
            fprintf(warn, "nvbind: containerd also reads %s, nvbind's backup of an earlier version: move it out of "
                          "the imported folder\n", f->string.ptr);
    }
    return 1;
}

unsigned nvb_conf_imports_check(const nvb_configure_opts *o, FILE *warn)
{
    if (o->engine != NVB_CONF_CONTAINERD || o->dry_run)
        return 0;
    const char *config = o->path ? o->path : nvb_conf_default_path(o->engine);
    size_t len = 0;
    _cleanup_free_ char *text = nvb_read_file(config, IMPORT_MAX_BYTES, &len);
    nvb_err err = {0};
    __attribute__((cleanup(tedit_freep))) nvb_tedit *ed = text ? nvb_tedit_open(text, len, config, &err) : NULL;
    const toml_node *imports = ed ? toml_table_get(nvb_tedit_root(ed), "imports") : NULL;
    if (!imports || imports->type != TOML_ARRAY || imports->array.len == 0)
        return 0;
    int version = (int)int_key(nvb_tedit_root(ed), "version") == 3 ? 3 : 2;
    _cleanup_free_ char *containerd = nvb_find_executable("containerd");
    if (containerd) {
        char why[512];
        int r = ask_containerd(containerd, config, version, o, warn, why, sizeof why);
        if (r >= 0)
            return (unsigned)r;
        fprintf(warn, "nvbind: could not ask containerd about %s's imports (%s): nvbind read them itself (one "
                      "level, by containerd's documented rules)\n", config, why);
    }
    _cleanup_free_ char *copy = strdup(config);
    const char *dir = copy ? dirname(copy) : ".";
    unsigned n = 0;
    for (size_t i = 0; i < imports->array.len; i++) {
        const toml_node *item = imports->array.items[i];
        if (item->type != TOML_STRING || strlen(item->string.ptr) != item->string.len)
            continue;
        /* As containerd resolves them: a pattern (a '*' in it) is globbed as written, a relative
         * one from containerd's working folder (the service's: /); a plain relative path is
         * read from config.toml's folder. */
        const char *name = item->string.ptr;
        _cleanup_free_ char *pattern = name[0] == '/' ? strdup(name) : nvb_path_join(strchr(name, '*') ? "/" : dir, name);
        if (pattern && !strchr(name, '*')) { /* a name, even with '?' or '[' in it */
            n += strcmp(pattern, config) != 0 ? check_import(config, pattern, version, o, warn) : 0;
            continue;
        }
        glob_t g = {0};
        if (pattern && glob(pattern, GLOB_PERIOD, NULL, &g) == 0)
            for (size_t k = 0; k < g.gl_pathc; k++)
                if (strcmp(g.gl_pathv[k], config) != 0)
                    n += check_import(config, g.gl_pathv[k], version, o, warn);
        globfree(&g);
    }
    return n;
}
