"""The capsule bundle nvbind writes for runc/crun holds a container as docker and podman do.
Each test is an attack a container's root tried against the bundle nvbind used to write
(the host's /sys bound with a non-recursive ro, no cgroup namespace, no seccomp): it wrote its
pid into the host's root devices cgroup and then opened any device node. Every check runs
inside a real container on a fake GPU host."""
import os
import shutil
import subprocess
import tempfile
import unittest

from test_run import HAVE_RUNC, CrunOnThisHost, RunBase

HAVE_CRUN = shutil.which("crun") is not None

# Each call a container's root uses to leave its sandbox, made directly (no C library
# wrapper may answer instead of the kernel); prints "name errno-name", or "name OK".
PROBE_C = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/keyctl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void report(const char *name, long r)
{
    if (r >= 0)
        printf("%s OK\n", name);
    else
        printf("%s %s\n", name, strerrorname_np(errno));
}

int main(void)
{
    /* clone first: once unshare has made a user namespace, a nested one is refused anyway. */
    long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
    if (pid == 0)
        _exit(0);
    if (pid > 0)
        waitpid(pid, NULL, 0);
    report("clone-newuser", pid);
    report("unshare-user", syscall(SYS_unshare, CLONE_NEWUSER));
    report("keyctl", syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 1));
    report("add_key", syscall(SYS_add_key, "user", "nvbind-probe", "x", 1, KEY_SPEC_PROCESS_KEYRING));
    report("request_key", syscall(SYS_request_key, "user", "nvbind-probe", NULL, KEY_SPEC_PROCESS_KEYRING));
    report("userfaultfd", syscall(SYS_userfaultfd, 1 /* UFFD_USER_MODE_ONLY */));
    report("personality-exec", syscall(SYS_personality, 0x0400000 /* READ_IMPLIES_EXEC */));
    report("io_uring_setup", syscall(SYS_io_uring_setup, 1, (char[120]){0}));
    struct { unsigned bytes; int type; unsigned char h[128]; } fh = {.bytes = 128};
    int mount_id;
    report("name_to_handle_at", syscall(SYS_name_to_handle_at, AT_FDCWD, "/", &fh, &mount_id, 0));
    report("bpf", syscall(SYS_bpf, 0 /* BPF_MAP_CREATE */, (char[128]){0}, 128));
    report("setns", syscall(SYS_setns, open("/proc/self/ns/uts", O_RDONLY), 0));
    report("mount", syscall(SYS_mount, "none", "/tmp", "tmpfs", 0, NULL));
    /* The capsule shares the host's network namespace: a packet socket there reads the
     * host's traffic (loopback, other containers' bridges) and a raw one forges it. */
    report("packet-socket", socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL)));
    report("raw-socket", socket(AF_INET, SOCK_RAW, IPPROTO_UDP));
    /* Calls that must keep working: clone3 answers ENOSYS, so C libraries fall back to
     * clone; plain fork and the personality query pass. */
    report("clone3", syscall(SYS_clone3, NULL, 0));
    pid = fork();
    if (pid == 0)
        _exit(0);
    if (pid > 0)
        waitpid(pid, NULL, 0);
    report("fork", pid);
    report("personality-query", syscall(SYS_personality, 0xffffffff));
    return 0;
}
"""

DENIED = ("unshare-user", "clone-newuser", "keyctl", "add_key", "request_key", "userfaultfd",
          "personality-exec", "io_uring_setup", "name_to_handle_at", "bpf", "setns", "mount")

# docker's default capabilities less NET_RAW (the capsule shares the host's network), as bits
# of /proc/self/status CapEff: CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, SETGID, SETUID,
# SETPCAP, NET_BIND_SERVICE, SYS_CHROOT, MKNOD, AUDIT_WRITE, SETFCAP.
DEFAULT_CAPS = sum(1 << b for b in (0, 1, 3, 4, 5, 6, 7, 8, 10, 18, 27, 29, 31))

# Every way into another cgroup the host's layouts offer: cgroup v2 (unified or hybrid) and
# the v1 devices controller, at their roots.
ESCAPE = ("for f in /sys/fs/cgroup/cgroup.procs /sys/fs/cgroup/unified/cgroup.procs "
          "/sys/fs/cgroup/devices/cgroup.procs /sys/fs/cgroup/*/cgroup.procs; do "
          "[ -e $f ] && echo $$ > $f && echo MOVED $f; done 2>/dev/null; ")


def visible_mounts(mountinfo):
    """(mount point, per-mount options) of the mounts a path can reach: not those another
    mount covers at the same point, nor those beneath them."""
    mounts = {}
    for line in mountinfo.splitlines():
        f = line.split()
        mounts[f[0]] = (f[1], f[4], f[5].split(","))
    covered = {parent for mid, (parent, point, _) in mounts.items()
               if parent in mounts and mounts[parent][1] == point}

    def visible(mid):
        if mid in covered:
            return False
        while True:
            point = mounts[mid][1]
            while mounts[mid][0] in mounts and mounts[mounts[mid][0]][1] == point:
                mid = mounts[mid][0]  # down the stack this mount tops
            parent = mounts[mid][0]
            if parent not in mounts:
                return True
            if parent in covered:
                return False
            mid = parent
    return [(point, opts) for mid, (_, point, opts) in mounts.items() if visible(mid)]


def host_block_device(path):
    """major:minor of the host's block device holding path (else of another one), or None."""
    try:
        names = sorted(os.listdir("/sys/dev/block"))
    except OSError:
        return None
    dev = os.stat(path).st_dev
    mine = f"{os.major(dev)}:{os.minor(dev)}"
    if mine in names:
        return mine.split(":")
    return names[0].split(":") if names else None


class BundleAttacks:
    """The attacks, run through one OCI runtime (runtime)."""

    runtime = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.probe_dir = tempfile.mkdtemp(prefix="nvbind-probe-")
        src = os.path.join(cls.probe_dir, "probe.c")
        with open(src, "w") as f:
            f.write(PROBE_C)
        cls.probe = os.path.join(cls.probe_dir, "probe")
        r = subprocess.run(["gcc", "-static", "-O1", "-o", cls.probe, src], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            cls.probe = None
            cls.probe_error = r.stdout

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.probe_dir, ignore_errors=True)
        super().tearDownClass()

    def inside(self, script, gpu="1"):
        """Run script in a capsule with GPU gpu; its CompletedProcess."""
        r = self.nvbind_run("--runtime", self.runtime, "--gpu", gpu, "--rootfs", self.rootfs(), "--", "sh", "-c",
                            script)
        if r.returncode != 0 and "cgroups in hybrid mode not supported" in r.stderr:
            self.skipTest(f"{self.runtime} cannot run containers on this host's cgroup setup")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNothingLeft()
        return r

    def test_every_sys_and_proc_sys_mount_is_read_only(self):
        # Attack: a submount of a non-recursively read-only /sys (a cgroup controller,
        # debugfs, tracefs, bpf) stays writable.
        r = self.inside("cat /proc/self/mountinfo")
        points = {}
        for point, opts in visible_mounts(r.stdout):
            if point in ("/sys", "/proc/sys") or point.startswith(("/sys/", "/proc/sys/")):
                points[point] = opts
        self.assertIn("/sys", points)
        self.assertIn("/sys/fs/cgroup", points)
        writable = sorted(p for p, opts in points.items() if "ro" not in opts)
        self.assertEqual(writable, [], f"writable mounts in the container: {points}")

    def test_cannot_join_the_hosts_root_cgroup(self):
        # Attack: container root writes its pid into the root of the host's devices cgroup
        # (or of cgroup v2), where no device rule applies.
        r = self.inside(ESCAPE + "cat /proc/self/cgroup")
        self.assertNotIn("MOVED", r.stdout)
        # Its own cgroup is the root of what it sees (cgroup namespace): no host path shows.
        paths = {line.split(":", 2)[2] for line in r.stdout.splitlines() if line.count(":") >= 2}
        self.assertEqual(paths, {"/"}, r.stdout)

    def test_mknod_of_another_gpu_and_the_hosts_disk_cannot_be_opened(self):
        # Attack: escape the device cgroup (as above), then make and open the node of a GPU
        # this container was not given (held exclusively by another tenant, say) and the
        # host's disk.
        disk = host_block_device(self.tmp)
        if disk is None:
            self.skipTest("the host lists no block device in /sys/dev/block")
        m0 = self.minor(0)
        script = (ESCAPE + f"busybox mknod /tmp/gpu c 195 {m0} && busybox mknod /tmp/disk b {disk[0]} {disk[1]} && "
                  "echo MADE; head -c 16 /tmp/gpu >/dev/null && echo GPU-OPENED; "
                  "head -c 16 /tmp/disk >/dev/null && echo DISK-OPENED; rm -f /tmp/gpu /tmp/disk; exit 0")
        r = self.inside(script, gpu="1")
        self.assertIn("MADE", r.stdout.split())
        self.assertNotIn("GPU-OPENED", r.stdout)
        self.assertNotIn("DISK-OPENED", r.stdout)
        self.assertIn("head: /tmp/gpu: Operation not permitted", r.stderr)
        self.assertIn("head: /tmp/disk: Operation not permitted", r.stderr)

    def test_seccomp_denies_namespace_keyring_and_kernel_calls(self):
        # Attack: new user namespaces (whose root has every capability inside and reaches
        # kernel code that real root alone should), the host-wide kernel keyring, bpf,
        # userfaultfd (race widening), io_uring, personality flags that disable protections.
        if self.probe is None:
            self.skipTest("gcc -static cannot build the probe: " + self.probe_error)
        shutil.copy(self.probe, os.path.join(self.rootfs(), "bin", "probe"))
        r = self.inside("/bin/probe")
        got = dict(line.split(" ", 1) for line in r.stdout.splitlines())
        for name in DENIED:
            self.assertEqual(got.get(name), "EPERM", f"{name}: {r.stdout}")
        self.assertEqual(got.get("clone3"), "ENOSYS", r.stdout)
        self.assertEqual(got.get("fork"), "OK", r.stdout)
        self.assertEqual(got.get("personality-query"), "OK", r.stdout)

    def test_cannot_sniff_or_forge_the_hosts_network_traffic(self):
        # Attack: the capsule shares the host's network namespace; with CAP_NET_RAW its root
        # opened a packet socket there and read the host's traffic (loopback and the other
        # containers' bridges included), or a raw socket to forge packets.
        if self.probe is None:
            self.skipTest("gcc -static cannot build the probe: " + self.probe_error)
        shutil.copy(self.probe, os.path.join(self.rootfs(), "bin", "probe"))
        r = self.inside("readlink /proc/self/ns/net; /bin/probe")
        self.assertEqual(r.stdout.split()[0], os.readlink("/proc/self/ns/net"), "not the host's network")
        got = dict(line.split(" ", 1) for line in r.stdout.splitlines()[1:])
        self.assertEqual(got.get("packet-socket"), "EPERM", r.stdout)
        self.assertEqual(got.get("raw-socket"), "EPERM", r.stdout)

    def test_process_has_default_caps_no_new_privs_and_a_filter(self):
        r = self.inside("grep -E '^(CapEff|CapBnd|CapInh|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status")
        status = dict(line.split(":\t") for line in r.stdout.splitlines())
        self.assertEqual(int(status["CapEff"], 16), DEFAULT_CAPS, r.stdout)
        self.assertEqual(int(status["CapBnd"], 16), DEFAULT_CAPS, r.stdout)
        self.assertEqual(int(status["CapInh"], 16), 0, r.stdout)
        self.assertEqual(int(status["CapAmb"], 16), 0, r.stdout)
        self.assertEqual(status["NoNewPrivs"], "1")
        self.assertEqual(status["Seccomp"], "2", "no seccomp filter")  # 2: filter mode


@unittest.skipUnless(HAVE_RUNC, "runc is not installed")
class RuncBundleAttacks(BundleAttacks, RunBase):
    runtime = "runc"


@unittest.skipUnless(HAVE_CRUN, "crun is not installed")
class CrunBundleAttacks(CrunOnThisHost, BundleAttacks, RunBase):
    runtime = "crun"


if __name__ == "__main__":
    unittest.main()
