/* nvbind's CDI specs in the CDI folder, one per CDI kind, as Allocate hands out their device
 * names: nvidia.com/gpu's, and each other vendor's (amd.com/gpu, intel.com/gpu, ...). */
#include "k8s/state.h"
#include "policy/cdi_generate.h"
#include "runtime/spec_install.h"
#include "util/grow.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static bool spec_unchanged(const struct dp_spec *sp)
{
    struct stat now;
    return sp->path && !sp->dirty && stat(sp->path, &now) == 0 && now.st_ino == sp->st.st_ino &&
           now.st_dev == sp->st.st_dev && now.st_size == sp->st.st_size &&
           now.st_mtim.tv_sec == sp->st.st_mtim.tv_sec && now.st_mtim.tv_nsec == sp->st.st_mtim.tv_nsec;
}

static struct dp_spec *spec_of(struct dp_state *st, const char *kind)
{
    for (size_t i = 0; i < st->n_specs; i++)
        if (strcmp(st->specs[i].kind, kind) == 0)
            return &st->specs[i];
    struct dp_spec *v = nvb_grow(st->specs, &st->cap_specs, st->n_specs, sizeof *v, 2);
    if (!v)
        return NULL;
    st->specs = v;
    v[st->n_specs] = (struct dp_spec){.kind = strdup(kind)};
    return v[st->n_specs].kind ? &v[st->n_specs++] : NULL;
}

static int spec_write(struct dp_state *st, struct dp_spec *sp, nvb_err *err)
{
    if (!st->host)
        return nvb_errf(err, NVB_EXIT_NO_DRIVER, "the host's GPUs cannot be discovered now");
    nvb_spec_install_opts so = {
        .dir = st->o->cdi_dir, .kind = sp->kind, .naming = NVB_NAMING_UUID, .hook_path = st->o->hook_path};
    char *path = NULL;
    int r = nvb_spec_install(st->host, &so, &path, err);
    if (r < 0)
        return -1;
    if (r != NVB_SPEC_FRESH)
        nvb_dp_log("CDI spec %s %s", path, r == NVB_SPEC_CREATED ? "written" : "refreshed");
    free(sp->path);
    sp->path = path;
    sp->dirty = false;
    sp->next_check_ms = nvb_dp_now_ms() + SPEC_CHECK_MS;
    if (stat(path, &sp->st) < 0)
        sp->path = (free(sp->path), NULL);
    return 0;
}

int nvb_dp_spec_ensure(struct dp_state *st, const char *kind, nvb_err *err)
{
    struct dp_spec *sp = spec_of(st, kind);
    if (!sp)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    return spec_unchanged(sp) ? 0 : spec_write(st, sp, err);
}

void nvb_dp_specs_refresh(struct dp_state *st, bool dirty)
{
    for (size_t i = 0; st->host && i < st->n_specs; i++) {
        struct dp_spec *sp = &st->specs[i];
        sp->dirty = sp->dirty || dirty;
        if (!sp->path || !(sp->dirty || nvb_dp_now_ms() >= sp->next_check_ms))
            continue;
        nvb_err err = {0};
        if (spec_write(st, sp, &err) < 0)
            nvb_dp_log("cannot refresh the CDI spec of %s: %s", sp->kind, err.msg);
    }
}

void nvb_dp_specs_free(struct dp_state *st)
{
    for (size_t i = 0; i < st->n_specs; i++) {
        free(st->specs[i].kind);
        free(st->specs[i].path);
    }
    free(st->specs);
}
