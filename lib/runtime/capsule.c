/* One Bolt capsule's own settings: its env for the command line, its files in a spec only
 * it names. See capsule.h. */
#include "runtime/capsule.h"
#include "cdi/cdi.h"
#include "policy/cdi_generate.h"
#include "policy/profiles.h"
#include "runtime/spec_install.h"
#include "util/cleanup.h"
#include "util/fileio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool has_files(const nvb_edits *e)
{
    return e && (e->nodes.n || e->n_mounts || e->n_hooks);
}

/* {"cdiVersion", "kind", "devices": [{"name": device, "containerEdits": files (no env)}]} */
static char *render(const char *kind, const char *device, const nvb_edits *files, nvb_err *err)
{
    nvb_edits only = *files;
    only.env = (nvb_strv){0}; /* the env is on the command line */
    json_t *edits = nvb_edits_to_cdi_json(&only);
    json_t *spec = edits ? json_pack("{s:s, s:s, s:[{s:s, s:o}]}", "cdiVersion", nvb_cdi_latest_version(), "kind",
                                     kind, "devices", "name", device, "containerEdits", edits)
                         : NULL;
    char *text = spec && nvb_cdi_set_min_version(spec, err) == 0 ? nvb_cdi_to_json(spec) : NULL;
    json_decref(spec);
    if (!text && err && !err->msg[0])
        nvb_errf(err, NVB_EXIT_IO, "out of memory while writing the capsule's CDI spec");
    return text;
}

int nvb_capsule_prepare(nvb_capsule *c, const nvb_config *cfg, const char *workload, const nvb_strv *plan_env,
                        const nvb_edits *files, const char *kind, const char *name, const char *dir, bool write,
                        nvb_strv *names, nvb_err *err)
{
    memset(c, 0, sizeof *c);
    nvb_edits vars = {0};
    int r = nvb_bolt_capsule_edits(cfg, workload, &vars);
    for (size_t i = 0; r == 0 && i < vars.env.n; i++)
        r = nvb_strv_push(&c->env, vars.env.v[i]);
    for (size_t i = 0; r == 0 && plan_env && i < plan_env->n; i++)
        r = nvb_strv_push(&c->env, plan_env->v[i]);
    nvb_edits_clear(&vars);
    if (r < 0)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    if (!has_files(files))
        return 0;
    char device[300];
    snprintf(device, sizeof device, "capsule-%s", name);
    char why[200];
    if (!nvb_cdi_device_name_valid(device, why, sizeof why))
        return nvb_errf(err, NVB_EXIT_USAGE, "capsule %s: not usable in a CDI device name: %s", name, why);
    _cleanup_free_ char *base = nvb_cdi_spec_file_name(kind, false);
    if (!base)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    base[strlen(base) - 5] = '\0'; /* ".json" */
    char file[600];
    snprintf(file, sizeof file, "%s_%s.json", base, device);
    _cleanup_free_ char *path = nvb_path_join(dir, file);
    if (!path || nvb_strv_pushf(names, "%s=%s", kind, device) < 0)
        return nvb_errf(err, NVB_EXIT_IO, "out of memory");
    if (!write)
        return 0;
    _cleanup_free_ char *text = render(kind, device, files, err);
    if (!text || nvb_spec_dir_make(dir, err) < 0 || nvb_write_file_atomic(path, text, strlen(text), 0644, err) < 0)
        return -1;
    c->spec_path = NVB_TAKE(path);
    return 0;
}

void nvb_capsule_finish(nvb_capsule *c)
{
    if (c->spec_path)
        unlink(c->spec_path);
    free(c->spec_path);
    nvb_strv_free(&c->env);
    memset(c, 0, sizeof *c);
}
