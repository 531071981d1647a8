#include "oci/state.h"
#include "util/cleanup.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void nvb_oci_state_free(nvb_oci_state *s)
{
    if (!s)
        return;
    free(s->oci_version);
    free(s->id);
    free(s->status);
    free(s->bundle);
    memset(s, 0, sizeof *s);
    s->pid = -1;
}

/* Copy an optional string member; -1 (error set) when present with another type. */
static int opt_string(json_t *root, const char *key, char **out, nvb_err *err)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return nvb_errf(err, NVB_EXIT_INPUT, "container state: \"%s\" is not a string", key);
    *out = strdup(json_string_value(v));
    if (!*out)
        return nvb_errf_errno(err, NVB_EXIT_IO, ENOMEM, "container state");
    return 0;
}

int nvb_oci_state_parse(const char *buf, size_t len, nvb_oci_state *out, nvb_err *err)
{
    memset(out, 0, sizeof *out);
    out->pid = -1;
    if (len > NVB_OCI_STATE_MAX)
        return nvb_errf(err, NVB_EXIT_INPUT, "container state: larger than %d bytes", NVB_OCI_STATE_MAX);
    json_error_t jerr;
    /* Duplicate keys are refused: two "bundle" members would leave it to the parser which
     * one wins, and the runtime never writes them. \u0000 is refused by default. */
    json_auto_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return nvb_errf(err, NVB_EXIT_INPUT, "container state: line %d, column %d: %s", jerr.line, jerr.column,
                        jerr.text);
    if (!json_is_object(root))
        return nvb_errf(err, NVB_EXIT_INPUT, "container state: not a JSON object");

    if (opt_string(root, "ociVersion", &out->oci_version, err) < 0 || opt_string(root, "id", &out->id, err) < 0 ||
        opt_string(root, "status", &out->status, err) < 0 || opt_string(root, "bundle", &out->bundle, err) < 0)
        goto fail;

    json_t *pid = json_object_get(root, "pid");
    if (pid && !json_is_null(pid)) {
        if (!json_is_integer(pid) || json_integer_value(pid) < 0) {
            nvb_errf(err, NVB_EXIT_INPUT, "container state: \"pid\" is not a non-negative integer");
            goto fail;
        }
        out->pid = json_integer_value(pid);
    }
    if (!out->bundle) {
        nvb_errf(err, NVB_EXIT_INPUT, "container state: \"bundle\" missing");
        goto fail;
    }
    if (out->bundle[0] != '/') {
        nvb_errf(err, NVB_EXIT_INPUT, "container state: \"bundle\" %s is not an absolute path", out->bundle);
        goto fail;
    }
    return 0;
fail:
    nvb_oci_state_free(out);
    return -1;
}

int nvb_oci_state_read_fd(int fd, nvb_oci_state *out, nvb_err *err)
{
    memset(out, 0, sizeof *out);
    out->pid = -1;
    /* One byte more than the limit tells "exactly at the limit" from "too large". */
    size_t cap = NVB_OCI_STATE_MAX + 1, n = 0;
    _cleanup_free_ char *buf = malloc(cap);
    if (!buf)
        return nvb_errf_errno(err, NVB_EXIT_IO, ENOMEM, "container state");
    while (n < cap) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return nvb_errf_errno(err, NVB_EXIT_IO, errno, "container state on stdin: read failed");
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    if (n > NVB_OCI_STATE_MAX)
        return nvb_errf(err, NVB_EXIT_INPUT, "container state on stdin: larger than %d bytes", NVB_OCI_STATE_MAX);
    if (n == 0)
        return nvb_errf(err, NVB_EXIT_INPUT,
                        "container state on stdin: empty (the OCI runtime passes it to hooks; run by hand, "
                        "pipe it in)");
    return nvb_oci_state_parse(buf, n, out, err);
}
