/* containerd's `imports`: files containerd reads after config.toml, which can undo what
 * `nvbind runtime configure` wrote there without a word from containerd (configure.h). The
 * files config.toml names are checked, not the ones they import in turn. */
#include "runtime/configure.h"
#include "runtime/configure_toml.h"
#include "util/cleanup.h"
#include "util/fileio.h"
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

/* Does the file register nvbind-runtime itself, as asked (the user moved nvbind's settings
 * there, or ran configure --config on it)? */
static bool registers(const toml_node *root, const char *plugin, const nvb_configure_opts *o)
{
    const char *name = nvb_conf_runtime_name(o);
    const char *binary[] = {"plugins", plugin, "containerd", "runtimes", name, "options", "BinaryName"};
    const char *dflt[] = {"plugins", plugin, "containerd", "default_runtime_name"};
    const char *cdi[] = {"plugins", plugin, "enable_cdi"};
    const toml_node *b = at(root, binary, 7), *d = at(root, dflt, 4), *c = at(root, cdi, 3);
    return b && b->type == TOML_STRING && strcmp(b->string.ptr, o->runtime_path) == 0 &&
           (!o->set_as_default || (d && d->type == TOML_STRING && strcmp(d->string.ptr, name) == 0)) &&
           (!o->enable_cdi || (c && c->type == TOML_BOOLEAN && c->boolean));
}

/* What an imported file's root sets that wins over config.toml's, as a phrase; NULL when
 * nothing. Version 2 (containerd 1.x) replaces a plugin's whole section with the imported
 * file's; version 3 (containerd 2.x) merges, the imported keys winning. */
static const char *overrides(const toml_node *root, int version, const nvb_configure_opts *o)
{
    const char *plugin = version == 3 ? "io.containerd.cri.v1.runtime" : "io.containerd.grpc.v1.cri";
    const char *section[] = {"plugins", plugin};
    if (!at(root, section, 2) || registers(root, plugin, o))
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

unsigned nvb_conf_imports_check(const nvb_configure_opts *o, FILE *warn)
{
    if (o->engine != NVB_CONF_CONTAINERD)
        return 0;
    const char *config = o->path ? o->path : nvb_conf_default_path(o->engine);
    size_t len = 0;
    _cleanup_free_ char *text = nvb_read_file(config, IMPORT_MAX_BYTES, &len);
    nvb_err err = {0};
    __attribute__((cleanup(tedit_freep))) nvb_tedit *ed = text ? nvb_tedit_open(text, len, config, &err) : NULL;
    const toml_node *imports = ed ? toml_table_get(nvb_tedit_root(ed), "imports") : NULL;
    const toml_node *v = ed ? toml_table_get(nvb_tedit_root(ed), "version") : NULL;
    if (!imports || imports->type != TOML_ARRAY)
        return 0;
    int version = v && v->type == TOML_INTEGER && v->integer == 3 ? 3 : 2;
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
        if (pattern && glob(pattern, GLOB_NOESCAPE, NULL, &g) == 0)
            for (size_t k = 0; k < g.gl_pathc; k++)
                if (strcmp(g.gl_pathv[k], config) != 0)
                    n += check_import(config, g.gl_pathv[k], version, o, warn);
        globfree(&g);
    }
    return n;
}
