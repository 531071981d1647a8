/* libFuzzer target: device request lists (--gpu, NVIDIA_VISIBLE_DEVICES, annotations) and the
 * shim's reading of a runtime command line. The first byte picks the mode; the rest is the
 * list, or NUL-separated argv words. Nothing crashes; a selection names only host devices,
 * each once; a failed request adds nothing. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/runtime/rt_test_host.h"
#include "runtime/select.h"
#include "runtime/shim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_selection(const nvb_selection *sel, const nvb_host *h)
{
    for (size_t i = 0; i < sel->n; i++) {
        const nvb_selected *s = &sel->v[i];
        if (s->gpu < h->gpus || s->gpu >= h->gpus + h->n_gpus)
            abort();
        if (s->mig && (s->mig < s->gpu->migs || s->mig >= s->gpu->migs + s->gpu->n_migs))
            abort();
        for (size_t j = 0; j < i; j++)
            if (sel->v[j].gpu == s->gpu && sel->v[j].mig == s->mig)
                abort();
    }
}

static void fuzz_list(const char *text, bool env_words, bool twice)
{
    static nvb_host *h;
    if (!h)
        h = rt_host();
    nvb_selection sel = {0};
    nvb_err err = {0};
    if (twice)
        nvb_select_add(&sel, h, "first", "0", false, &err);
    size_t before = sel.n;
    if (nvb_select_add(&sel, h, "--gpu", text, env_words, &err) < 0 && sel.n != before)
        abort();
    check_selection(&sel, h);
    nvb_strv names = {0};
    nvb_selection_cdi_names(&sel, "nvidia.com/gpu", &names);
    nvb_strv_free(&names);
    nvb_edits e = {0};
    nvb_selection_edits(&sel, &e);
    nvb_edits_clear(&e);
    free(nvb_selection_describe(&sel));
    nvb_selection_clear(&sel);
}

static void fuzz_argv(const char *buf, size_t len)
{
    char *argv[66];
    int argc = 0;
    argv[argc++] = (char *)"nvbind-runtime";
    for (size_t i = 0; i < len && argc < 65;) {
        argv[argc++] = (char *)buf + i;
        i += strlen(buf + i) + 1;
    }
    argv[argc] = NULL;
    nvb_shim_argv a;
    nvb_shim_parse_argv(argc, argv, &a);
    if (a.command >= argc || (a.command >= 0 && a.command < 1))
        abort();
    if (a.bundle && !(a.bundle >= buf && a.bundle < buf + len + 1))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    switch (data[0] % 4) {
    case 0: fuzz_list(text, false, false); break;
    case 1: fuzz_list(text, true, false); break;
    case 2: fuzz_list(text, false, true); break;
    default: fuzz_argv(text, size - 1); break;
    }
    free(text);
    return 0;
}
