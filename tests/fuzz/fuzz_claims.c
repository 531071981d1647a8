/* libFuzzer target: GPU claim records (the files under /run/nvbind/claims, which anything
 * running as root can damage) and claim file names. Nothing crashes or leaks; every refusal
 * names the file; a record that parses is written back by nvb_claim_record_to_json into a
 * document that parses again to the same record. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "isolation/claims.h"
#include "fuzz_text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void same_record(const nvb_claim_record *a, const nvb_claim_record *b)
{
    if (a->gpu_index != b->gpu_index || a->mig_index != b->mig_index || !str_eq(a->uuid, b->uuid) ||
        !str_eq(a->parent_uuid, b->parent_uuid) || a->mode != b->mode || a->n_holders != b->n_holders)
        abort();
    for (size_t i = 0; i < a->n_holders; i++) {
        const nvb_claim_holder *x = &a->holders[i], *y = &b->holders[i];
        if (!str_eq(x->container, y->container) || !str_eq(x->runtime, y->runtime) ||
            x->holder_pid != y->holder_pid || x->holder_start != y->holder_start || x->init_pid != y->init_pid ||
            x->init_start != y->init_start || !str_eq(x->oci_state, y->oci_state) || x->uid != y->uid ||
            !str_eq(x->since, y->since))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nvb_claim_record rec;
    nvb_err err = {0};
    if (nvb_claim_record_parse((const char *)data, size, "fuzz.json", &rec, &err) == 0) {
        if (!rec.uuid || (rec.mode == NVB_CLAIM_EXCLUSIVE && rec.n_holders != 1))
            abort();
        json_t *j = nvb_claim_record_to_json(&rec);
        char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
        if (text) {
            nvb_claim_record again;
            nvb_err err2 = {0};
            if (nvb_claim_record_parse(text, strlen(text), "again.json", &again, &err2) < 0)
                abort(); /* what nvbind writes, nvbind reads */
            same_record(&rec, &again);
            nvb_claim_record_clear(&again);
        }
        free(text);
        json_decref(j);
        nvb_claim_record_clear(&rec);
    } else if (strstr(err.msg, "fuzz.json") == NULL) {
        abort(); /* every refusal names the file */
    }

    /* The input as a UUID: its file name stem stays inside the claims folder. */
    char *uuid = fuzz_text(data, size);
    if (!uuid)
        return 0;
    char *key = nvb_claim_key(uuid);
    if (key) {
        /* never a dot-file: those are writers' temporaries */
        if (!*key || key[0] == '.' || strchr(key, '/'))
            abort();
        for (const char *p = key; *p; p++)
            if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '.' ||
                  *p == '_' || *p == '-' || *p == '%'))
                abort();
        free(key);
    }
    free(uuid);
    return 0;
}
