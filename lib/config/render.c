#include "config/render.h"
#include "config/keys.h"
#include "config/values.h"
#include "policy/cdi_generate.h"
#include "util/cleanup.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A growing text buffer over open_memstream: one FILE, printf everywhere. */
typedef struct out {
    FILE *f;
    char *buf;
    size_t len;
} out;

static int out_open(out *o)
{
    o->buf = NULL;
    o->len = 0;
    o->f = open_memstream(&o->buf, &o->len);
    return o->f ? 0 : -1;
}

static char *out_close(out *o)
{
    bool bad = ferror(o->f) != 0;
    if (fclose(o->f) != 0)
        bad = true;
    if (bad) {
        free(o->buf);
        return NULL;
    }
    return o->buf;
}

static void toml_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p == '\t')
            fputs("\\t", f);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static void toml_strv(FILE *f, const nvb_strv *v)
{
    fputc('[', f);
    for (size_t i = 0; i < v->n; i++) {
        if (i)
            fputs(", ", f);
        toml_string(f, v->v[i]);
    }
    fputc(']', f);
}

static void naming_words(unsigned bits, const char **words, size_t *n)
{
    *n = 0;
    if (bits & NVB_NAMING_INDEX)
        words[(*n)++] = "index";
    if (bits & NVB_NAMING_UUID)
        words[(*n)++] = "uuid";
    if (bits & NVB_NAMING_TYPE_INDEX)
        words[(*n)++] = "type-index";
}

/* Caps as a TOML/JSON-ready word list. */
static size_t caps_words(unsigned caps, const char **words)
{
    size_t n = 0;
    if ((caps & NVB_CAP_ALL) == NVB_CAP_ALL || !caps) {
        words[n++] = "all";
        return n;
    }
    for (size_t i = 0; nvb_cap_words[i] && strcmp(nvb_cap_words[i], "all") != 0; i++)
        if (caps & (1u << i))
            words[n++] = nvb_cap_words[i];
    return n;
}

/* A string key left unset (NULL) has no TOML form: it is written as a comment. */
static bool key_unset(const nvb_config *c, const nvb_key *k)
{
    switch (k->kind) {
    case NVB_KEY_CHOICE:
    case NVB_KEY_PATH:
    case NVB_KEY_SELECTION:
    case NVB_KEY_OCI_RUNTIME: return *(char *const *)nvb_key_cptr(c, k) == NULL;
    default: return false;
    }
}

/* One value in TOML; false when the value is unset (see key_unset). */
static bool toml_value(FILE *f, const nvb_config *c, const nvb_key *k)
{
    const void *p = nvb_key_cptr(c, k);
    char buf[64];
    switch (k->kind) {
    case NVB_KEY_BOOL:
        fputs(*(const bool *)p ? "true" : "false", f);
        return true;
    case NVB_KEY_ENUM:
        toml_string(f, k->choices[*(const unsigned *)p]);
        return true;
    case NVB_KEY_CHOICE:
    case NVB_KEY_PATH:
    case NVB_KEY_SELECTION:
    case NVB_KEY_OCI_RUNTIME:
        if (!*(char *const *)p)
            return false;
        toml_string(f, *(char *const *)p);
        return true;
    case NVB_KEY_PATHS:
    case NVB_KEY_STRINGS:
        toml_strv(f, p);
        return true;
    case NVB_KEY_SIZE:
        if (!*(const uint64_t *)p) {
            fputc('0', f);
            return true;
        }
        nvb_size_format(*(const uint64_t *)p, buf, sizeof buf);
        toml_string(f, buf);
        return true;
    case NVB_KEY_PERCENT:
        if (!*(const unsigned *)p)
            fputc('0', f);
        else
            fprintf(f, "\"%u%%\"", *(const unsigned *)p);
        return true;
    case NVB_KEY_UINT:
        fprintf(f, "%" PRIu64, *(const uint64_t *)p);
        return true;
    case NVB_KEY_NAMING: {
        const char *w[3];
        size_t n;
        naming_words(*(const unsigned *)p, w, &n);
        fputc('[', f);
        for (size_t i = 0; i < n; i++)
            fprintf(f, "%s\"%s\"", i ? ", " : "", w[i]);
        fputc(']', f);
        return true;
    }
    }
    return false;
}

/* What an unset key means, for the comment in place of its value. */
static const char *unset_meaning(const nvb_key *k)
{
    if (strcmp(k->name, "default") == 0)
        return "the first engine found";
    if (strcmp(k->name, "oci_runtime") == 0)
        return "runc";
    if (strcmp(k->name, "root") == 0)
        return "/";
    if (strcmp(k->name, "driver_root") == 0)
        return "the host root";
    if (strcmp(k->name, "hook_path") == 0)
        return "the running nvbind binary";
    return "unset";
}

char *nvb_config_render_toml(const nvb_config *c)
{
    out o;
    if (out_open(&o) < 0)
        return NULL;
    FILE *f = o.f;
    fprintf(f, "# nvbind configuration in effect; loaded from %s\n", c->source ? c->source : "no file (defaults only)");
    for (size_t t = 0; t < nvb_n_key_tables; t++) {
        const char *table = nvb_key_tables[t];
        fprintf(f, "\n[%s]\n", table);
        for (size_t i = 0; i < nvb_n_keys; i++) {
            const nvb_key *k = &nvb_keys[i];
            if (strcmp(k->table, table) != 0)
                continue;
            char dotted[128];
            snprintf(dotted, sizeof dotted, "%s.%s", k->table, k->name);
            if (key_unset(c, k)) {
                fprintf(f, "# %s is unset: %s", k->name, unset_meaning(k));
            } else {
                fprintf(f, "%s = ", k->name);
                toml_value(f, c, k);
            }
            fprintf(f, "  # %s\n", nvb_config_origin(c, dotted));
        }
        if (strcmp(table, "runtime") == 0 && c->runtime.environment.n) {
            fputs("\n[runtime.environment]\n", f);
            for (size_t i = 0; i < c->runtime.environment.n; i++) {
                const char *kv = c->runtime.environment.v[i], *eq = strchr(kv, '=');
                char name[512], dotted[600];
                snprintf(name, sizeof name, "%.*s", (int)(eq - kv), kv);
                snprintf(dotted, sizeof dotted, "runtime.environment.%s", name);
                fprintf(f, "%s = ", name);
                toml_string(f, eq + 1);
                fprintf(f, "  # %s\n", nvb_config_origin(c, dotted));
            }
        }
    }
    for (size_t i = 0; i < c->n_profiles; i++) {
        const nvb_custom_profile *p = &c->profiles[i];
        char base[128], dotted[160];
        snprintf(base, sizeof base, "profiles.%s", p->name);
        fprintf(f, "\n[%s]  # %s\n", base, nvb_config_origin(c, base));
        snprintf(dotted, sizeof dotted, "%s.env", base);
        fputs("env = ", f);
        toml_strv(f, &p->env);
        fprintf(f, "  # %s\n", nvb_config_origin(c, dotted));
        const char *w[8];
        size_t n = caps_words(p->caps, w);
        fputs("driver_capabilities = [", f);
        for (size_t k = 0; k < n; k++)
            fprintf(f, "%s\"%s\"", k ? ", " : "", w[k]);
        snprintf(dotted, sizeof dotted, "%s.driver_capabilities", base);
        fprintf(f, "]  # %s\n", nvb_config_origin(c, dotted));
        fputs("devices = ", f);
        toml_strv(f, &p->device_nodes);
        snprintf(dotted, sizeof dotted, "%s.devices", base);
        fprintf(f, "  # %s\n", nvb_config_origin(c, dotted));
        fputs("mounts = ", f);
        toml_strv(f, &p->mounts);
        snprintf(dotted, sizeof dotted, "%s.mounts", base);
        fprintf(f, "  # %s\n", nvb_config_origin(c, dotted));
    }
    return out_close(&o);
}

static json_t *json_strv(const nvb_strv *v)
{
    json_t *a = json_array();
    for (size_t i = 0; i < v->n; i++)
        json_array_append_new(a, json_string(v->v[i]));
    return a;
}

static json_t *json_u64(uint64_t v)
{
    return v <= (uint64_t)INT64_MAX ? json_integer((json_int_t)v) : json_null();
}

static json_t *json_value(const nvb_config *c, const nvb_key *k)
{
    const void *p = nvb_key_cptr(c, k);
    switch (k->kind) {
    case NVB_KEY_BOOL: return json_boolean(*(const bool *)p);
    case NVB_KEY_ENUM: return json_string(k->choices[*(const unsigned *)p]);
    case NVB_KEY_CHOICE:
    case NVB_KEY_PATH:
    case NVB_KEY_SELECTION:
    case NVB_KEY_OCI_RUNTIME: return *(char *const *)p ? json_string(*(char *const *)p) : json_null();
    case NVB_KEY_PATHS:
    case NVB_KEY_STRINGS: return json_strv(p);
    case NVB_KEY_SIZE:
    case NVB_KEY_UINT: return json_u64(*(const uint64_t *)p);
    case NVB_KEY_PERCENT: return json_integer(*(const unsigned *)p);
    case NVB_KEY_NAMING: {
        const char *w[3];
        size_t n;
        naming_words(*(const unsigned *)p, w, &n);
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(a, json_string(w[i]));
        return a;
    }
    }
    return json_null();
}

static void put(json_t *values, const nvb_config *c, const char *dotted, json_t *value)
{
    json_object_set_new(values, dotted, json_pack("{s:o, s:s}", "value", value, "from", nvb_config_origin(c, dotted)));
}

json_t *nvb_config_to_json(const nvb_config *c)
{
    json_t *values = json_object();
    for (size_t i = 0; i < nvb_n_keys; i++) {
        char dotted[128];
        snprintf(dotted, sizeof dotted, "%s.%s", nvb_keys[i].table, nvb_keys[i].name);
        put(values, c, dotted, json_value(c, &nvb_keys[i]));
    }
    for (size_t i = 0; i < c->runtime.environment.n; i++) {
        const char *kv = c->runtime.environment.v[i], *eq = strchr(kv, '=');
        char dotted[600];
        snprintf(dotted, sizeof dotted, "runtime.environment.%.*s", (int)(eq - kv), kv);
        put(values, c, dotted, json_string(eq + 1));
    }
    for (size_t i = 0; i < c->n_profiles; i++) {
        const nvb_custom_profile *p = &c->profiles[i];
        char dotted[160];
        const char *w[8];
        size_t n = caps_words(p->caps, w);
        json_t *caps = json_array();
        for (size_t k = 0; k < n; k++)
            json_array_append_new(caps, json_string(w[k]));
        snprintf(dotted, sizeof dotted, "profiles.%s.env", p->name);
        put(values, c, dotted, json_strv(&p->env));
        snprintf(dotted, sizeof dotted, "profiles.%s.driver_capabilities", p->name);
        put(values, c, dotted, caps);
        snprintf(dotted, sizeof dotted, "profiles.%s.devices", p->name);
        put(values, c, dotted, json_strv(&p->device_nodes));
        snprintf(dotted, sizeof dotted, "profiles.%s.mounts", p->name);
        put(values, c, dotted, json_strv(&p->mounts));
    }
    return json_pack("{s:o, s:o}", "source", c->source ? json_string(c->source) : json_null(), "values", values);
}

static const char *table_intro(const char *table)
{
    if (strcmp(table, "bolt.capsule") == 0)
        return "Bolt capsules: carried by the nvidia.com/gpu-bolt spec kind as BOLT_* variables";
    if (strcmp(table, "bolt.gaming") == 0)
        return "the gaming profile (--profile gaming); docs/profiles.md lists every variable it sets";
    if (strcmp(table, "bolt.aiml") == 0)
        return "the AI/ML profile (--profile aiml)";
    if (strcmp(table, "runtime") == 0)
        return "container engines";
    if (strcmp(table, "host") == 0)
        return "the host nvbind inspects; --root, --driver-root and --library-search-path win over these";
    if (strcmp(table, "gpu") == 0)
        return "GPU selection";
    if (strcmp(table, "security") == 0)
        return "requests made from inside containers";
    if (strcmp(table, "cdi") == 0)
        return "CDI specs; the cdi generate options win over these";
    if (strcmp(table, "isolation") == 0)
        return "exclusive GPUs and the audit log";
    return "";
}

char *nvb_config_template(void)
{
    nvb_config d;
    nvb_config_init(&d);
    out o;
    if (out_open(&o) < 0) {
        nvb_config_clear(&d);
        return NULL;
    }
    FILE *f = o.f;
    fputs("# nvbind.toml: nvbind's configuration. Every key is shown at its default; delete what you\n"
          "# do not change. nvbind looks for it in: --config FILE, $NVBIND_CONFIG,\n"
          "# $XDG_CONFIG_HOME/nvbind/config.toml (~/.config/...), /etc/nvbind/config.toml.\n"
          "# Sizes: \"8GB\" = 8*10^9 bytes, \"8GiB\" = 8*2^30 bytes, a bare integer = bytes.\n",
          f);
    for (size_t t = 0; t < nvb_n_key_tables; t++) {
        const char *table = nvb_key_tables[t];
        fprintf(f, "\n# %s\n[%s]\n", table_intro(table), table);
        for (size_t i = 0; i < nvb_n_keys; i++) {
            const nvb_key *k = &nvb_keys[i];
            if (strcmp(k->table, table) != 0)
                continue;
            fprintf(f, "# %s\n", k->help);
            if (key_unset(&d, k)) {
                fprintf(f, "# %s = %s", k->name, k->example ? k->example : "\"\"");
            } else {
                fprintf(f, "%s = ", k->name);
                toml_value(f, &d, k);
            }
            fputc('\n', f);
        }
        if (strcmp(table, "runtime") == 0)
            fputs("\n# Variables every GPU container gets (string values):\n"
                  "# [runtime.environment]\n"
                  "# TZ = \"UTC\"\n",
                  f);
    }
    fputs("\n# Custom profiles, used as --profile NAME (default, gaming and aiml are built in):\n"
          "# [profiles.render]\n"
          "# env = { MY_SETTING = \"1\" }           # or [\"MY_SETTING=1\"]\n"
          "# driver_capabilities = [\"graphics\", \"compute\", \"utility\"]   # or \"all\"\n"
          "# devices = [\"/dev/fuse\"]               # extra host device nodes\n"
          "# mounts = [\"/srv/models:/models\"]      # HOST:CONTAINER, read-only\n",
          f);
    nvb_config_clear(&d);
    return out_close(&o);
}
