/* nvbind's CDI spec in the CDI folder, as Allocate hands out its device names. */
#include "k8s/state.h"
#include "policy/cdi_generate.h"
#include "runtime/spec_install.h"

#include <stdlib.h>
#include <sys/stat.h>

static bool spec_unchanged(const struct dp_state *st)
{
    struct stat now;
    return st->spec_path && !st->spec_dirty && stat(st->spec_path, &now) == 0 &&
           now.st_ino == st->spec_st.st_ino && now.st_dev == st->spec_st.st_dev &&
           now.st_size == st->spec_st.st_size && now.st_mtim.tv_sec == st->spec_st.st_mtim.tv_sec &&
           now.st_mtim.tv_nsec == st->spec_st.st_mtim.tv_nsec;
}

int nvb_dp_spec_ensure(struct dp_state *st, nvb_err *err)
{
    if (spec_unchanged(st))
        return 0;
    if (!st->host)
        return nvb_errf(err, NVB_EXIT_NO_DRIVER, "the host's GPUs cannot be discovered now");
    nvb_spec_install_opts so = {.dir = st->o->cdi_dir, .naming = NVB_NAMING_UUID, .hook_path = st->o->hook_path};
    char *path = NULL;
    int r = nvb_spec_install(st->host, &so, &path, err);
    if (r < 0)
        return -1;
    if (r != NVB_SPEC_FRESH)
        nvb_dp_log("CDI spec %s %s", path, r == NVB_SPEC_CREATED ? "written" : "refreshed");
    free(st->spec_path);
    st->spec_path = path;
    st->spec_dirty = false;
    st->next_spec_check_ms = nvb_dp_now_ms() + SPEC_CHECK_MS;
    if (stat(path, &st->spec_st) < 0)
        st->spec_path = (free(st->spec_path), NULL);
    return 0;
}
