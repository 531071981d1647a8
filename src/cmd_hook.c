/* nvbind hook update-ldcache | create-symlinks: the OCI createContainer hooks that nvbind's
 * CDI specs install. The runtime runs them after the container's mounts are in place and
 * before it switches root; they get the container state on stdin, find the root
 * filesystem through the bundle's config.json, and touch nothing outside it.
 * docs/threat-model.md explains what they trust and how. */
#include "cli.h"
#include "oci/cuda_compat.h"
#include "oci/hook_ldcache.h"
#include "oci/hook_links.h"
#include "oci/ldconfig_run.h"
#include "oci/safepath.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { OPT_FOLDER = 256, OPT_LDCONFIG, OPT_TIMEOUT, OPT_HOST_VERSION, OPT_LINK, OPT_ROOT_PATH, OPT_LIB64, OPT_LIB32 };

/* One error line: "nvbind hook <sub>: <what>: <why>", and its exit status. */
static int hook_fail(const char *sub, const nvb_err *err)
{
    fprintf(stderr, "nvbind hook %s: %s\n", sub, err->msg);
    return err->exit_code ? err->exit_code : NVB_EXIT_FAIL;
}

static int parse_timeout(const char *s, unsigned *ms)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v == 0 || v > 3600)
        return -1;
    *ms = (unsigned)v * 1000u;
    return 0;
}

/* The --link values of a hook. */
typedef struct link_list {
    nvb_link_spec *v;
    size_t n;
} link_list;

static void link_list_free(link_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        nvb_link_spec_free(&l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

/* Parse one --link TARGET::LINK of hook sub into l; 0 or the exit status. */
static int link_list_add(link_list *l, const char *sub, const char *arg)
{
    nvb_link_spec *nl = realloc(l->v, (l->n + 1) * sizeof *nl);
    if (!nl)
        return NVB_EXIT_IO;
    l->v = nl;
    nvb_err err = {0};
    if (nvb_link_spec_parse(arg, &l->v[l->n], &err) < 0)
        return nvb_cli_usage(sub, "%s", err.msg);
    l->n++;
    return 0;
}

/* The --lib64 and --lib32 values of update-ldcache. */
typedef struct lib_list {
    nvb_ldcache_lib *v;
    size_t n;
} lib_list;

/* Add one --lib64/--lib32 PATH; 0 or the exit status. Its last part is its SONAME. */
static int lib_list_add(lib_list *l, const char *arg, bool is32)
{
    const char *why;
    if (!nvb_container_path_ok(arg, false, &why))
        return nvb_cli_usage("hook update-ldcache", "--lib%s %s: %s", is32 ? "32" : "64", arg, why);
    nvb_ldcache_lib *nl = realloc(l->v, (l->n + 1) * sizeof *nl);
    if (!nl)
        return NVB_EXIT_IO;
    l->v = nl;
    l->v[l->n++] = (nvb_ldcache_lib){ .path = arg, .is32 = is32 };
    return 0;
}

static int run_update_ldcache(const nvb_strv *folders, const link_list *links, const lib_list *libs,
                              const char *ldconfig, const char *host_version, const char *root_path,
                              unsigned timeout_ms);

static int hook_update_ldcache(nvb_cli *cli, int argc, char **argv)
{
    nvb_strv folders = {0};
    link_list links = {0};
    lib_list libs = {0};
    const char *ldconfig = NULL, *host_version = NULL, *root_path = NULL;
    unsigned timeout_ms = NVB_LDCONFIG_TIMEOUT_MS_DEFAULT;
    int c, rc = 0;
    /* The hook depends on nothing from its environment: fixed umask for created folders. */
    umask(022);
    nvb_cli_parser p;
    nvb_cli_parser_for(&p, cli);
    while (rc == 0 && (c = nvb_cli_next(&p, argc, argv)) >= 0) {
        const char *why;
        switch (c) {
        case OPT_FOLDER:
            if (!nvb_container_path_ok(optarg, false, &why))
                rc = nvb_cli_usage("hook update-ldcache", "--folder %s: %s", optarg, why);
            else if (!nvb_strv_contains(&folders, optarg) && nvb_strv_push(&folders, optarg) < 0)
                rc = NVB_EXIT_IO;
            break;
        case OPT_LDCONFIG:
            if (optarg[0] != '/')
                rc = nvb_cli_usage("hook update-ldcache", "--ldconfig %s: not an absolute path", optarg);
            ldconfig = optarg;
            break;
        case OPT_HOST_VERSION:
            if (!nvb_driver_version_ok(optarg))
                rc = nvb_cli_usage("hook update-ldcache",
                                   "--host-driver-version %s: not a driver version like 550.54.14", optarg);
            host_version = optarg;
            break;
        case OPT_TIMEOUT:
            if (parse_timeout(optarg, &timeout_ms) < 0)
                rc = nvb_cli_usage("hook update-ldcache", "--timeout %s: expected whole seconds, 1 to 3600",
                                   optarg);
            break;
        case OPT_LINK:
            rc = link_list_add(&links, "hook update-ldcache", optarg);
            break;
        case OPT_ROOT_PATH: /* checked where it is used (nvb_oci_state_root_open) */
            root_path = optarg;
            break;
        case OPT_LIB64:
        case OPT_LIB32:
            rc = lib_list_add(&libs, optarg, c == OPT_LIB32);
            break;
        }
    }
    if (rc == 0 && nvb_cli_stops(&p, c, argc, argv, 0))
        rc = p.rc; /* 0 after --help */
    else if (rc == 0)
        rc = run_update_ldcache(&folders, &links, &libs, ldconfig, host_version, root_path, timeout_ms);
    nvb_strv_free(&folders);
    link_list_free(&links);
    free(libs.v);
    return rc;
}

static int run_update_ldcache(const nvb_strv *folders, const link_list *links, const lib_list *libs,
                              const char *ldconfig, const char *host_version, const char *root_path,
                              unsigned timeout_ms)
{
    nvb_err err = {0};
    nvb_hook_ldcache_opts o = {
        .state_fd = STDIN_FILENO,
        .root_path = root_path,
        .ldconfig = ldconfig,
        .folders = (const char *const *)folders->v,
        .nfolders = folders->n,
        .host_driver_version = host_version,
        .timeout_ms = timeout_ms,
        .links = links->v,
        .nlinks = links->n,
        .warn = stderr,
        .libs = libs->v,
        .nlibs = libs->n,
    };
    return nvb_hook_update_ldcache(&o, &err) == 0 ? 0 : hook_fail("update-ldcache", &err);
}

static int hook_create_symlinks(nvb_cli *cli, int argc, char **argv)
{
    link_list links = {0};
    const char *root_path = NULL;
    int c, rc = 0;
    nvb_err err = {0};
    /* The hook depends on nothing from its environment: fixed umask for created folders. */
    umask(022);
    nvb_cli_parser p;
    nvb_cli_parser_for(&p, cli);
    while (rc == 0 && (c = nvb_cli_next(&p, argc, argv)) >= 0)
        if (c == OPT_LINK)
            rc = link_list_add(&links, "hook create-symlinks", optarg);
        else if (c == OPT_ROOT_PATH)
            root_path = optarg;
    if (rc == 0 && nvb_cli_stops(&p, c, argc, argv, 0)) {
        rc = p.rc; /* 0 after --help */
        goto out;
    }
    if (rc == 0 && links.n == 0)
        rc = nvb_cli_usage("hook create-symlinks", "no --link TARGET::LINK given");
    if (rc)
        goto out;

    if (nvb_hook_create_symlinks(STDIN_FILENO, root_path, links.v, links.n, stderr, &err) < 0)
        rc = hook_fail("create-symlinks", &err);
out:
    link_list_free(&links);
    return rc;
}

/* nvbind-runtime writes it into the config.json it edits, from that document's root.path. */
#define ROOT_PATH_OPT                                                                                              \
    {"root-path", 0, OPT_ROOT_PATH, "PATH", 0,                                                                    \
     "root.path of the bundle's config.json (relative to the bundle or absolute),\n"                             \
     "from whoever wrote this hook there; config.json is then not read",                                         \
     NVB_COMPLETE_DIR, NULL}
static const nvb_cli_opt ldcache_opts[] = {
    {"folder", 0, OPT_FOLDER, "DIR", NVB_OPT_REPEAT, "container folder holding libraries (absolute)", NVB_COMPLETE_DIR, NULL},
    {"ldconfig", 0, OPT_LDCONFIG, "PATH", 0,
     "the host ldconfig (default: /sbin/ldconfig.real, /sbin/ldconfig or\n"
     "/usr/sbin/ldconfig, whichever exists first); must be statically linked",
     NVB_COMPLETE_FILE, NULL},
    {"timeout", 0, OPT_TIMEOUT, "SECONDS", 0,
     "kill ldconfig after this long, and wait at most this long for another\n"
     "hook on the same root (default 10)",
     0, NULL},
    {"host-driver-version", 0, OPT_HOST_VERSION, "VERSION", 0,
     "the host driver's version: when the image's /usr/local/cuda/compat holds\n"
     "a newer libcuda, that folder goes first (CUDA forward compatibility)",
     0, NULL},
    {"link", 0, OPT_LINK, "TARGET::LINK", NVB_OPT_REPEAT,
     "first make LINK (absolute container path) -> TARGET, as create-symlinks\n"
     "does: one hook process for both at every container start",
     0, NULL},
    {"lib64", 0, OPT_LIB64, "PATH", NVB_OPT_REPEAT,
     "a driver library at FOLDER/SONAME (absolute container path), of this\n"
     "machine's ABI: given these, the hook adds them to the image's own cache\n"
     "when that cache is current, instead of running ldconfig",
     NVB_COMPLETE_FILE, NULL},
    {"lib32", 0, OPT_LIB32, "PATH", NVB_OPT_REPEAT,
     "the same for a library of the 32-bit ABI (i386 on x86-64)", NVB_COMPLETE_FILE, NULL},
    ROOT_PATH_OPT,
    {0},
};
static const nvb_cli_cmd ldcache_cmd = {
    .name = "update-ldcache",
    .summary = "make the --link symlinks, list the driver's folders in\n"
               "/etc/ld.so.conf.d/01-nvbind-driver.conf and rebuild the container's /etc/ld.so.cache:\n"
               "the --lib64/--lib32 libraries added to the image's cache when it is current, else\n"
               "with the host's (static) ldconfig, confined to its root",
    .details = "An OCI createContainer hook: the container state comes on stdin, the root filesystem is\n"
               "root.path of the bundle's config.json (or --root-path).",
    .opts = ldcache_opts,
    .fn = hook_update_ldcache,
};
static const nvb_cli_opt symlinks_opts[] = {
    {"link", 0, OPT_LINK, "TARGET::LINK", NVB_OPT_REPEAT | NVB_OPT_REQUIRED,
     "LINK (absolute container path) -> TARGET (the link's content)", 0, NULL},
    ROOT_PATH_OPT,
    {0},
};
static const nvb_cli_cmd symlinks_cmd = {
    .name = "create-symlinks",
    .summary = "make symlinks inside the container",
    .details = "An OCI createContainer hook: the container state comes on stdin.",
    .opts = symlinks_opts,
    .fn = hook_create_symlinks,
};
const nvb_cli_cmd nvb_cmd_hook = {
    .name = "hook",
    .summary = "OCI hooks run by the container runtime (update-ldcache, create-symlinks)",
    .subs = (const nvb_cli_cmd *const[]){&ldcache_cmd, &symlinks_cmd, NULL},
};
