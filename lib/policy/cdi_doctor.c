/* doctor's CDI checks: is there a spec for the kind engines are asked for, is nvbind's still
 * true of the host (as `nvbind cdi check` says), and does another tool's spec declare the
 * same devices. Each problem with its fix. */
#include "policy/cdi_doctor.h"
#include "cdi/cdi.h"
#include "policy/cdi_check.h"
#include "policy/cdi_generate.h"
#include "util/cleanup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *owner(bool ours)
{
    return ours ? "nvbind's" : "another tool's (e.g. nvidia-ctk)";
}

/* One spec of the kind, nvbind's: fresh or stale against h. */
static void check_ours(nvb_doctor *d, const nvb_cdi_spec_file *f, const json_t *spec, const nvb_host *h)
{
    char name[600], fix[700];
    snprintf(name, sizeof name, "cdi-spec:%s", f->path);
    snprintf(fix, sizeof fix, "as root: nvbind cdi generate --output %s", f->path);
    if (!h) {
        nvb_doctor_add(d, NVB_CHECK_INFO, name, NULL, "%s is nvbind's spec for %s (not checked: no host discovered)",
                       f->path, f->kind);
        return;
    }
    nvb_strv why = {0};
    if (nvb_cdi_stale_reasons(spec, h, &why) > 0)
        nvb_doctor_add(d, NVB_CHECK_WARNING, name, fix, "%s is stale (`nvbind cdi check`): %s%s; engines given "
                       "%s devices get what it says, not what the host has", f->path, why.v[0],
                       why.n > 1 ? " (and more)" : "", f->kind);
    else
        nvb_doctor_add(d, NVB_CHECK_OK, name, NULL, "%s is nvbind's spec for %s, current (%zu devices)", f->path,
                       f->kind, f->devices.n);
    nvb_strv_free(&why);
}

/* A spec of the kind whose devices another spec declares too. */
static void check_conflict(nvb_doctor *d, const nvb_cdi_spec_file *f, bool ours)
{
    bool refused = false;
    for (size_t i = 0; i < f->conflicts.n; i++)
        refused |= strstr(f->conflicts.v[i], "engines refuse") != NULL;
    char name[600], fix[900];
    snprintf(name, sizeof name, "cdi-conflict:%s", f->path);
    snprintf(fix, sizeof fix, "keep one spec per kind: remove %s%s, or give nvbind's spec another kind "
             "(`nvbind cdi generate --kind ...`)", f->path,
             ours ? "" : " and stop the tool that writes it (nvidia-ctk: disable nvidia-cdi-refresh)");
    nvb_doctor_add(d, refused ? NVB_CHECK_ERROR : NVB_CHECK_WARNING, name, fix,
                   "%s, %s spec for %s, clashes with another spec: %s%s", f->path, owner(ours), f->kind,
                   f->conflicts.v[0], f->conflicts.n > 1 ? " (and more devices)" : "");
}

void nvb_cdi_doctor(nvb_doctor *d, const nvb_host *h, const char *const *dirs, size_t ndirs, const char *kind)
{
    if (!dirs || !ndirs) {
        dirs = nvb_cdi_default_dirs;
        ndirs = nvb_cdi_default_dirs_n;
    }
    nvb_cdi_listing l = {0};
    nvb_err err = {0};
    if (nvb_cdi_list(dirs, ndirs, &l, &err) < 0) {
        nvb_doctor_add(d, NVB_CHECK_WARNING, "cdi-spec", NULL, "CDI specs not checked: %s", err.msg);
        return;
    }
    size_t found = 0;
    for (size_t i = 0; i < l.n; i++) {
        const nvb_cdi_spec_file *f = &l.files[i];
        if (!f->kind || strcmp(f->kind, kind) != 0 || f->ignored_by_engines)
            continue;
        found++;
        json_t *spec = nvb_cdi_load_file(f->path, &err);
        bool ours = spec && nvb_cdi_is_nvbind_spec(spec);
        if (ours)
            check_ours(d, f, spec, h);
        if (f->conflicts.n)
            check_conflict(d, f, ours);
        json_decref(spec);
    }
    if (!found) {
        _cleanup_free_ char *file = nvb_cdi_spec_file_name(kind, false);
        char fix[600];
        snprintf(fix, sizeof fix, "as root: nvbind cdi generate --output %s/%s", dirs[ndirs - 1], file ? file : "");
        nvb_doctor_add(d, NVB_CHECK_WARNING, "cdi-spec", fix, "no CDI spec for %s in %s%s%s: `podman run --device "
                       "%s=...` fails until there is one (`nvbind run` writes its own)", kind, dirs[0],
                       ndirs > 1 ? " or " : "", ndirs > 1 ? dirs[ndirs - 1] : "", kind);
    }
    nvb_cdi_listing_free(&l);
}
