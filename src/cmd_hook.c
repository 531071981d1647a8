/* nvbind hook update-ldcache | create-symlinks: the OCI createContainer hooks that nvbind's
 * CDI specs install. The runtime runs them after the container's mounts are in place and
 * before it switches root; they get the container state on stdin, find the root
 * filesystem through the bundle's config.json, and touch nothing outside it.
 * docs/threat-model.md explains what they trust and how. */
#include "cli.h"
#include "oci/hook_ldcache.h"
#include "oci/hook_ldcache_args.h"
#include "oci/hook_links.h"

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

/* getopt's option as the hook's argument list names it (hook_ldcache_args.h reads both). */
static const char *ldcache_opt_name(int c)
{
    switch (c) {
    case OPT_FOLDER: return "folder";
    case OPT_LDCONFIG: return "ldconfig";
    case OPT_TIMEOUT: return "timeout";
    case OPT_HOST_VERSION: return "host-driver-version";
    case OPT_LINK: return "link";
    case OPT_ROOT_PATH: return "root-path";
    case OPT_LIB64: return "lib64";
    case OPT_LIB32: return "lib32";
    }
    return "?";
}

static int hook_update_ldcache(nvb_cli *cli, int argc, char **argv)
{
    nvb_ldcache_hook_args a;
    nvb_ldcache_hook_args_init(&a);
    nvb_err err = {0};
    int c, rc = 0;
    /* The hook depends on nothing from its environment: fixed umask for created folders. */
    umask(022);
    nvb_cli_parser p;
    nvb_cli_parser_for(&p, cli);
    while (rc == 0 && (c = nvb_cli_next(&p, argc, argv)) >= 0)
        if (nvb_ldcache_hook_arg(&a, ldcache_opt_name(c), optarg, &err) < 0)
            rc = err.exit_code == NVB_EXIT_USAGE ? nvb_cli_usage("hook update-ldcache", "%s", err.msg)
                                                 : hook_fail("update-ldcache", &err);
    if (rc == 0 && nvb_cli_stops(&p, c, argc, argv, 0)) {
        rc = p.rc; /* 0 after --help */
    } else if (rc == 0) {
        nvb_hook_ldcache_opts o = nvb_ldcache_hook_args_opts(&a);
        o.state_fd = STDIN_FILENO;
        o.warn = stderr;
        if (nvb_hook_update_ldcache(&o, &err) < 0)
            rc = hook_fail("update-ldcache", &err);
    }
    nvb_ldcache_hook_args_free(&a);
    return rc;
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
