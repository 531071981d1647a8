#include "oci/host_exe.h"
#include "util/cleanup.h"
#include "util/fileio.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int nvb_elf_check_static(int fd, const char *path, nvb_err *err)
{
    unsigned char ident[EI_NIDENT];
    if (nvb_pread_full(fd, ident, sizeof ident, 0) < 0)
        return nvb_errf(err, NVB_EXIT_RUNTIME, "host executable %s: too short to be an ELF file", path);
    if (ident[0] == '#' && ident[1] == '!')
        return nvb_errf(err, NVB_EXIT_RUNTIME,
                        "host executable %s: is a script; its interpreter would be loaded from the container "
                        "(point to the real, statically linked binary)",
                        path);
    if (memcmp(ident, ELFMAG, SELFMAG) != 0)
        return nvb_errf(err, NVB_EXIT_RUNTIME, "host executable %s: not an ELF file", path);

    /* Only this machine's own class matters: another class could not run here anyway. */
    Elf64_Ehdr eh;
    if (ident[EI_CLASS] != ELFCLASS64 || nvb_pread_full(fd, &eh, sizeof eh, 0) < 0)
        return nvb_errf(err, NVB_EXIT_RUNTIME, "host executable %s: not a 64-bit ELF file", path);
    if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN)
        return nvb_errf(err, NVB_EXIT_RUNTIME, "host executable %s: not an executable (ELF type %u)", path,
                        (unsigned)eh.e_type);
    if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phnum > 4096)
        return nvb_errf(err, NVB_EXIT_RUNTIME, "host executable %s: malformed program headers", path);
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        if (nvb_pread_full(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + (Elf64_Off)i * sizeof ph)) < 0)
            return nvb_errf(err, NVB_EXIT_RUNTIME, "host executable %s: truncated program headers", path);
        if (ph.p_type == PT_INTERP)
            return nvb_errf(err, NVB_EXIT_RUNTIME,
                            "host executable %s: dynamically linked; run inside the container it would load "
                            "the container's dynamic loader and libraries (a statically linked one is needed)",
                            path);
    }
    return 0;
}

/* Whether /proc/self/uid_map maps the initial namespace's uid 0 (always true outside a user
 * namespace: "0 0 4294967295"). Unreadable counts as mapped: no extra owner is trusted then. */
static bool host_root_mapped(void)
{
    _cleanup_free_ char *map = nvb_read_file("/proc/self/uid_map", 1 << 16, NULL);
    if (!map)
        return true;
    char *save = NULL;
    for (char *line = strtok_r(map, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        unsigned long inside, outside, count;
        if (sscanf(line, "%lu %lu %lu", &inside, &outside, &count) == 3 && outside == 0 && count > 0)
            return true;
    }
    return false;
}

/* Root or us own a trusted executable. In a user namespace that leaves the host's root
 * unmapped (rootless podman's hooks), root's files show as the overflow uid (65534): trusted
 * too there, since what the hook runs can do no more than the namespace's owner already can. */
static bool owner_trusted(uid_t uid)
{
    if (uid == 0 || uid == geteuid())
        return true;
    _cleanup_free_ char *overflow = nvb_read_file("/proc/sys/kernel/overflowuid", 64, NULL);
    uid_t nobody = overflow ? (uid_t)strtoul(overflow, NULL, 10) : 65534;
    return uid == nobody && !host_root_mapped();
}

int nvb_host_static_exe_open(const char *path, nvb_err *err)
{
    if (path[0] != '/')
        return nvb_errf(err, NVB_EXIT_USAGE, "host executable %s: not an absolute path", path);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return nvb_errf_errno(err, NVB_EXIT_RUNTIME, errno, "host executable %s", path);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return nvb_errf_errno(err, NVB_EXIT_RUNTIME, errno, "host executable %s", path);
    if (!S_ISREG(st.st_mode))
        return nvb_errf(err, NVB_EXIT_RUNTIME, "host executable %s: not a regular file", path);
    if (!owner_trusted(st.st_uid))
        return nvb_errf(err, NVB_EXIT_RUNTIME, "host executable %s: owned by uid %u, neither root nor us", path,
                        (unsigned)st.st_uid);
    if (st.st_mode & (S_IWGRP | S_IWOTH))
        return nvb_errf(err, NVB_EXIT_RUNTIME, "host executable %s: writable by group or others", path);
    if (!(st.st_mode & S_IXUSR))
        return nvb_errf(err, NVB_EXIT_RUNTIME, "host executable %s: not executable", path);
    if (nvb_elf_check_static(fd, path, err) < 0)
        return -1;
    return NVB_TAKE_FD(fd);
}

int nvb_host_ldconfig_open(const char *override, const char **chosen, nvb_err *err)
{
    static const char *const candidates[] = {"/sbin/ldconfig.real", "/sbin/ldconfig", "/usr/sbin/ldconfig"};
    if (override) {
        if (chosen)
            *chosen = override;
        return nvb_host_static_exe_open(override, err);
    }
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
        if (access(candidates[i], F_OK) < 0)
            continue;
        if (chosen)
            *chosen = candidates[i];
        return nvb_host_static_exe_open(candidates[i], err);
    }
    return nvb_errf(err, NVB_EXIT_RUNTIME,
                    "no host ldconfig found (looked for /sbin/ldconfig.real, /sbin/ldconfig, /usr/sbin/ldconfig; "
                    "use --ldconfig PATH)");
}
