/* The claim record format: one JSON document per device, version 1. */
#include "isolation/claims.h"
#include "isolation/procid.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECORD_VERSION 1
#define MAX_UUID 200
#define MAX_HOLDERS 4096

const char *nvb_claim_mode_name(enum nvb_claim_mode m)
{
    return m == NVB_CLAIM_EXCLUSIVE ? "exclusive" : "shared";
}

void nvb_claim_device_describe(char *buf, size_t len, unsigned gpu_index, int mig_index, const char *uuid)
{
    if (mig_index < 0)
        snprintf(buf, len, "GPU %u (%s)", gpu_index, uuid);
    else
        snprintf(buf, len, "MIG device %u:%d (%s)", gpu_index, mig_index, uuid);
}

char *nvb_claim_key(const char *uuid)
{
    size_t n = uuid ? strlen(uuid) : 0;
    if (n == 0 || n > MAX_UUID)
        return NULL;
    char *out = malloc(3 * n + 1), *o = out;
    if (!out)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)uuid; *p; p++) {
        bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                     *p == '-' || *p == '_' || (*p == '.' && p != (const unsigned char *)uuid);
        if (plain)
            *o++ = (char)*p;
        else
            o += sprintf(o, "%%%02X", *p);
    }
    *o = '\0';
    return out;
}

bool nvb_claim_holder_other_boot(const nvb_claim_holder *h)
{
    char boot[NVB_BOOT_ID_LEN + 1];
    return h->boot_id[0] && nvb_boot_id(boot) && strcmp(boot, h->boot_id) != 0;
}

bool nvb_claim_holder_alive(nvb_claim_holder *h)
{
    if (nvb_claim_holder_other_boot(h))
        return false; /* its processes and its container went with that boot */
    if (nvb_proc_alive(h->holder_pid, h->holder_start))
        return true;
    if (h->init_pid > 0 && nvb_proc_alive(h->init_pid, h->init_start))
        return true;
    if (h->oci_state) {
        pid_t pid;
        unsigned long long start;
        switch (nvb_oci_state_init(h->oci_state, h->uid, &pid, &start)) {
        case NVB_OCI_INIT_FOUND:
            if (!nvb_proc_alive(pid, start))
                return false;
            h->init_pid = pid;
            h->init_start = start;
            return true;
        case NVB_OCI_INIT_UNKNOWN:
            return true;
        case NVB_OCI_INIT_GONE:
            return false;
        }
    }
    return false;
}

void nvb_claim_holder_clear(nvb_claim_holder *h)
{
    free(h->container);
    free(h->runtime);
    free(h->oci_state);
    free(h->since);
    memset(h, 0, sizeof *h);
}

void nvb_claim_record_clear(nvb_claim_record *r)
{
    for (size_t i = 0; i < r->n_holders; i++)
        nvb_claim_holder_clear(&r->holders[i]);
    free(r->holders);
    free(r->uuid);
    free(r->parent_uuid);
    memset(r, 0, sizeof *r);
    r->mig_index = -1;
}

static json_t *proc_json(pid_t pid, unsigned long long start)
{
    if (pid <= 0)
        return json_null();
    return json_pack("{s:I, s:I}", "pid", (json_int_t)pid, "start_time", (json_int_t)start);
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

json_t *nvb_claim_record_to_json(const nvb_claim_record *r)
{
    json_t *holders = json_array();
    for (size_t i = 0; holders && i < r->n_holders; i++) {
        const nvb_claim_holder *h = &r->holders[i];
        /* A holder that cannot be encoded fails the whole record: written without it, an
         * exclusive record would have no holder and block its GPU for everybody. */
        if (json_array_append_new(holders,
                              json_pack("{s:s, s:o, s:o, s:o, s:o, s:I, s:s, s:o}", "container", h->container,
                                        "runtime", str_or_null(h->runtime), "holder",
                                        proc_json(h->holder_pid, h->holder_start), "init",
                                        proc_json(h->init_pid, h->init_start), "oci_state", str_or_null(h->oci_state),
                                        "uid", (json_int_t)h->uid, "since", h->since, "boot_id",
                                        str_or_null(h->boot_id[0] ? h->boot_id : NULL))) < 0) {
            json_decref(holders);
            return NULL;
        }
    }
    if (!holders)
        return NULL;
    json_t *dev = json_pack("{s:I, s:o, s:s, s:o}", "gpu_index", (json_int_t)r->gpu_index, "mig_index",
                            r->mig_index < 0 ? json_null() : json_integer(r->mig_index), "uuid", r->uuid,
                            "parent_uuid", str_or_null(r->parent_uuid));
    return json_pack("{s:i, s:o, s:s, s:o}", "version", RECORD_VERSION, "device", dev, "mode",
                     nvb_claim_mode_name(r->mode), "holders", holders);
}

/* Parsing ------------------------------------------------------------------------------- */

typedef struct parse_ctx {
    const char *where;
    nvb_err *err;
} parse_ctx;

__attribute__((format(printf, 2, 3))) static int bad(parse_ctx *c, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return nvb_errf(c->err, NVB_EXIT_INPUT, "claim record %s: %s", c->where, what);
}

static int get_string(parse_ctx *c, json_t *obj, const char *key, const char *path, bool nullable, char **out)
{
    json_t *v = json_object_get(obj, key);
    if ((!v || json_is_null(v)) && nullable) {
        *out = NULL;
        return 0;
    }
    if (!json_is_string(v) || json_string_length(v) == 0)
        return bad(c, "%s%s: must be a non-empty string", path, key);
    if (json_string_length(v) > 4096 || strlen(json_string_value(v)) != json_string_length(v))
        return bad(c, "%s%s: too long or holds a NUL byte", path, key);
    if (!nvb_claim_text_ok(json_string_value(v)))
        return bad(c, "%s%s: %s", path, key, NVB_CLAIM_TEXT_RULE);
    *out = strdup(json_string_value(v));
    return *out ? 0 : bad(c, "out of memory");
}

static int get_int(parse_ctx *c, json_t *obj, const char *key, const char *path, json_int_t lo, json_int_t hi,
                   json_int_t *out)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v))
        return bad(c, "%s%s: must be an integer", path, key);
    json_int_t n = json_integer_value(v);
    if (n < lo || n > hi)
        return bad(c, "%s%s: %lld is out of range", path, key, (long long)n);
    *out = n;
    return 0;
}

static int get_proc(parse_ctx *c, json_t *obj, const char *key, const char *path, bool nullable, pid_t *pid,
                    unsigned long long *start)
{
    json_t *v = json_object_get(obj, key);
    if ((!v || json_is_null(v)) && nullable) {
        *pid = 0;
        *start = 0;
        return 0;
    }
    if (!json_is_object(v))
        return bad(c, "%s%s: must be an object with pid and start_time", path, key);
    char sub[128];
    snprintf(sub, sizeof sub, "%s%s.", path, key);
    json_int_t p = 0, s = 0; /* set on success; gcc -O3 cannot see that bad() is < 0 */
    if (get_int(c, v, "pid", sub, 1, INT32_MAX, &p) < 0 || get_int(c, v, "start_time", sub, 1, INT64_MAX, &s) < 0)
        return -1;
    *pid = (pid_t)p;
    *start = (unsigned long long)s;
    return 0;
}

static int parse_holder(parse_ctx *c, json_t *o, size_t i, nvb_claim_holder *h)
{
    char path[64];
    snprintf(path, sizeof path, "holders[%zu].", i);
    if (!json_is_object(o))
        return bad(c, "holders[%zu]: must be an object", i);
    json_int_t uid = 0; /* as in get_proc: keeps -O3's maybe-uninitialized quiet */
    if (get_string(c, o, "container", path, false, &h->container) < 0 ||
        get_string(c, o, "runtime", path, true, &h->runtime) < 0 ||
        get_proc(c, o, "holder", path, false, &h->holder_pid, &h->holder_start) < 0 ||
        get_proc(c, o, "init", path, true, &h->init_pid, &h->init_start) < 0 ||
        get_string(c, o, "oci_state", path, true, &h->oci_state) < 0 ||
        get_int(c, o, "uid", path, 0, UINT32_MAX, &uid) < 0 || get_string(c, o, "since", path, false, &h->since) < 0)
        return -1;
    h->uid = (uid_t)uid;
    if (h->oci_state && h->oci_state[0] != '/')
        return bad(c, "%soci_state: must be an absolute path", path);
    /* Optional: records of nvbind before it recorded boots have none. */
    json_t *boot = json_object_get(o, "boot_id");
    if (boot && !json_is_null(boot)) {
        if (!json_is_string(boot) || !nvb_boot_id_valid(json_string_value(boot)))
            return bad(c, "%sboot_id: must be a boot id (36 characters, lower-case hex and dashes) or null", path);
        memcpy(h->boot_id, json_string_value(boot), NVB_BOOT_ID_LEN + 1);
    }
    return 0;
}

int nvb_claim_record_parse(const char *text, size_t len, const char *where, nvb_claim_record *out, nvb_err *err)
{
    parse_ctx c = {where, err};
    memset(out, 0, sizeof *out);
    out->mig_index = -1;
    json_error_t je;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!doc)
        return bad(&c, "line %d, column %d: %s", je.line, je.column, je.text);
    int r = -1;
    json_int_t n;
    json_t *dev = json_object_get(doc, "device"), *mode = json_object_get(doc, "mode"),
           *holders = json_object_get(doc, "holders");
    if (!json_is_object(doc)) {
        bad(&c, "must be a JSON object");
        goto out;
    }
    if (get_int(&c, doc, "version", "", RECORD_VERSION, RECORD_VERSION, &n) < 0)
        goto out;
    if (!json_is_object(dev)) {
        bad(&c, "device: must be an object");
        goto out;
    }
    if (get_int(&c, dev, "gpu_index", "device.", 0, UINT32_MAX, &n) < 0)
        goto out;
    out->gpu_index = (unsigned)n;
    json_t *mi = json_object_get(dev, "mig_index");
    if (mi && !json_is_null(mi)) {
        if (get_int(&c, dev, "mig_index", "device.", 0, INT32_MAX, &n) < 0)
            goto out;
        out->mig_index = (int)n;
    }
    if (get_string(&c, dev, "uuid", "device.", false, &out->uuid) < 0 ||
        get_string(&c, dev, "parent_uuid", "device.", true, &out->parent_uuid) < 0)
        goto out;
    if (strlen(out->uuid) > MAX_UUID) {
        bad(&c, "device.uuid: longer than %d bytes", MAX_UUID);
        goto out;
    }
    if (json_is_string(mode) && strcmp(json_string_value(mode), "exclusive") == 0)
        out->mode = NVB_CLAIM_EXCLUSIVE;
    else if (json_is_string(mode) && strcmp(json_string_value(mode), "shared") == 0)
        out->mode = NVB_CLAIM_SHARED;
    else {
        bad(&c, "mode: must be \"exclusive\" or \"shared\"");
        goto out;
    }
    if (!json_is_array(holders) || json_array_size(holders) > MAX_HOLDERS) {
        bad(&c, "holders: must be an array of at most %d holders", MAX_HOLDERS);
        goto out;
    }
    size_t nh = json_array_size(holders);
    if (out->mode == NVB_CLAIM_EXCLUSIVE && nh != 1) {
        bad(&c, "holders: an exclusive claim has exactly one holder, not %zu", nh);
        goto out;
    }
    out->holders = calloc(nh ? nh : 1, sizeof *out->holders);
    if (!out->holders) {
        bad(&c, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < nh; i++) {
        out->n_holders = i + 1;
        if (parse_holder(&c, json_array_get(holders, i), i, &out->holders[i]) < 0)
            goto out;
    }
    r = 0;
out:
    json_decref(doc);
    if (r < 0)
        nvb_claim_record_clear(out);
    return r;
}
