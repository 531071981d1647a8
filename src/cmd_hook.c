/* nvbind hook update-ldcache | create-symlinks: the OCI createContainer hooks that nvbind's
 * CDI specs install. The runtime runs them after the container's mounts are in place and
 * before it switches root; they get the container state on stdin, find the root
 * filesystem through the bundle's config.json, and touch nothing outside it.
 * docs/threat-model.md explains what they trust and how. */
#include "cli.h"
#include "cli_opts.h"
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

static const char hook_usage[] =
    "usage: nvbind hook update-ldcache [--folder DIR]... [--ldconfig PATH] [--timeout SECONDS]\n"
    "                                  [--host-driver-version VERSION]\n"
    "       nvbind hook create-symlinks --link TARGET::LINK...\n"
    "\n"
    "OCI createContainer hooks: the container state comes on stdin, the root filesystem is\n"
    "root.path of the bundle's config.json.\n"
    "\n"
    "update-ldcache    list the driver's folders in /etc/ld.so.conf.d/01-nvbind-driver.conf and\n"
    "                  rebuild the container's /etc/ld.so.cache with the host's (static) ldconfig,\n"
    "                  confined to the container's root\n"
    "  --folder DIR    container folder holding libraries (absolute; repeatable)\n"
    "  --ldconfig PATH the host ldconfig (default: /sbin/ldconfig.real, /sbin/ldconfig or\n"
    "                  /usr/sbin/ldconfig, whichever exists first); must be statically linked\n"
    "  --timeout SECS  kill ldconfig after this long, and wait at most this long for another\n"
    "                  hook on the same root (default 10)\n"
    "  --host-driver-version VERSION  the host driver's version: when the image's\n"
    "                  /usr/local/cuda/compat holds a newer libcuda, that folder goes first\n"
    "                  (CUDA forward compatibility)\n"
    "create-symlinks   make symlinks inside the container\n"
    "  --link TARGET::LINK  LINK (absolute container path) -> TARGET (the link's content)\n";

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

static int hook_update_ldcache(int argc, char **argv)
{
    static const char sub[] = "update-ldcache";
    enum { OPT_FOLDER = 256, OPT_LDCONFIG, OPT_TIMEOUT, OPT_HOST_VERSION };
    static const struct option opts[] = {
        {"folder", required_argument, NULL, OPT_FOLDER},
        {"host-driver-version", required_argument, NULL, OPT_HOST_VERSION},
        {"ldconfig", required_argument, NULL, OPT_LDCONFIG},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    nvb_strv folders = {0};
    const char *ldconfig = NULL, *host_version = NULL;
    unsigned timeout_ms = NVB_LDCONFIG_TIMEOUT_MS_DEFAULT;
    int c, rc = 0;
    opterr = 0;
    while (rc == 0 && (c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
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
        case 'h':
            fputs(hook_usage, stdout);
            nvb_strv_free(&folders);
            return 0;
        default:
            rc = nvb_cli_bad_option("hook update-ldcache", c, argv);
        }
    }
    if (rc == 0 && optind < argc)
        rc = nvb_cli_usage("hook update-ldcache", "unexpected argument '%s'", argv[optind]);
    if (rc) {
        nvb_strv_free(&folders);
        return rc;
    }

    nvb_err err = {0};
    nvb_hook_ldcache_opts o = {
        .state_fd = STDIN_FILENO,
        .ldconfig = ldconfig,
        .folders = (const char *const *)folders.v,
        .nfolders = folders.n,
        .host_driver_version = host_version,
        .timeout_ms = timeout_ms,
    };
    rc = nvb_hook_update_ldcache(&o, &err) == 0 ? 0 : hook_fail(sub, &err);
    nvb_strv_free(&folders);
    return rc;
}

static int hook_create_symlinks(int argc, char **argv)
{
    static const struct option opts[] = {
        {"link", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    nvb_link_spec *links = NULL;
    size_t nlinks = 0;
    int c, rc = 0;
    nvb_err err = {0};
    opterr = 0;
    while (rc == 0 && (c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
        switch (c) {
        case 'l': {
            nvb_link_spec *nl = realloc(links, (nlinks + 1) * sizeof *links);
            if (!nl) {
                rc = NVB_EXIT_IO;
                break;
            }
            links = nl;
            if (nvb_link_spec_parse(optarg, &links[nlinks], &err) < 0)
                rc = nvb_cli_usage("hook create-symlinks", "%s", err.msg);
            else
                nlinks++;
            break;
        }
        case 'h':
            fputs(hook_usage, stdout);
            goto out;
        default:
            rc = nvb_cli_bad_option("hook create-symlinks", c, argv);
        }
    }
    if (rc == 0 && optind < argc)
        rc = nvb_cli_usage("hook create-symlinks", "unexpected argument '%s'", argv[optind]);
    if (rc == 0 && nlinks == 0)
        rc = nvb_cli_usage("hook create-symlinks", "no --link TARGET::LINK given");
    if (rc)
        goto out;

    if (nvb_hook_create_symlinks(STDIN_FILENO, links, nlinks, stderr, &err) < 0)
        rc = hook_fail("create-symlinks", &err);
out:
    for (size_t i = 0; i < nlinks; i++)
        nvb_link_spec_free(&links[i]);
    free(links);
    return rc;
}

int cmd_hook(nvb_cli *cli, int argc, char **argv)
{
    (void)cli; /* hooks act on the container named by the runtime, not on --root */
    /* The hook depends on nothing from its environment: fixed umask for created folders. */
    umask(022);
    if (argc < 2) {
        fputs(hook_usage, stderr);
        return NVB_EXIT_USAGE;
    }
    const char *sub = argv[1];
    /* getopt over "update-ldcache --folder ...": argv[0] of the sub-command is its name. */
    optind = 1;
    if (strcmp(sub, "update-ldcache") == 0)
        return hook_update_ldcache(argc - 1, argv + 1);
    if (strcmp(sub, "create-symlinks") == 0)
        return hook_create_symlinks(argc - 1, argv + 1);
    if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0) {
        fputs(hook_usage, stdout);
        return 0;
    }
    return nvb_cli_usage("hook", "unknown hook '%s' (update-ldcache, create-symlinks)", sub);
}
