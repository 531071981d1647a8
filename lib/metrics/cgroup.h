/* Which container a process belongs to, from its cgroup (/proc/<pid>/cgroup). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct nvb_cgroup_owner {
    char container[80];  /* a container id (12 characters, as engines show it), "" when none */
    char pod[80];        /* a Kubernetes pod's UID, "" when the path names none */
} nvb_cgroup_owner;

/* The cgroup of pid under proc_root ("/proc"): the cgroup v2 line ("0::/path"), else the
 * v1 line of the pids or memory controller, else the first. 0, or -1 (errno) when pid is gone
 * or its file holds none. */
int nvb_proc_cgroup(const char *proc_root, pid_t pid, char *buf, size_t len);
/* The same choice made in text, a cgroup file's contents (cut up in place): the parser on
 * its own, so the fuzzer reaches it without a /proc. */
int nvb_cgroup_pick(char *text, char *buf, size_t len);

/* What a cgroup path says about its container, from the names engines give their cgroups:
 * docker-<id>.scope, libpod-<id>.scope, cri-containerd-<id>.scope, crio-<id>.scope (systemd
 * driver), /docker/<id> or a bare 64-hex id (cgroupfs), and Kubernetes' pod<uid> levels
 * (kubepods-…-pod<uid>.slice, with '_' for '-'). The outermost match wins: levels below a
 * container's own may be the container's doing. True when it names a container or a pod. */
bool nvb_cgroup_owner_parse(const char *path, nvb_cgroup_owner *out);

/* child is cgroup path parent or below it. */
bool nvb_cgroup_within(const char *child, const char *parent);
