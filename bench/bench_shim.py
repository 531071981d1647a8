#!/usr/bin/python3
"""The nvbind-runtime shim's added time over calling the runtime directly, medians from
hyperfine (-N, warm-up runs first), measured in this run on a fake host. Bundles live on the
same kind of disk folder podman uses for its bundles (/var/tmp here).

Cases (target: < 1 ms added):
  shim's own work, real runtime = /bin/true   create with no request, create asking for all
                                              GPUs (discover, edit, write config.json), and a
                                              pass-through command, against /bin/true itself
  end to end with runc                        `nvbind-runtime run` of a bundle asking for all
                                              GPUs against `runc run` of the same (edited) bundle
  create with runc (issue 16: target <= +2 ms)
                                              `nvbind-runtime create` of a bundle asking for GPU 0
                                              (with podman's seccomp profile where containers-common
                                              is installed), its config.json fresh as an engine writes it
                                              (rewritten untimed before each create), with the host
                                              cache (docs/host-cache.md) and without it, against
                                              `runc create` of the bundle the shim edited, and the
                                              shim on that edited bundle (it then adds nothing),
                                              and the floor of any wrapping shim (a static
                                              program that is exec'd, reads config.json, writes
                                              the edited document and execs runc: FLOOR_SHIM);
                                              each container deleted after its create (untimed),
                                              interleaved (ABBA); wall and CPU time (the
                                              process and the children it waited for, from
                                              wait4); beside them the cost of exec'ing any
                                              program (/bin/true, a static do-nothing binary):
                                              the shim execs the runtime, so a wrapper adds one
                                              exec of itself to every call; and the shim's own
                                              CPU time with /bin/true as the runtime.
  a container's whole start with GPU 0     `nvbind-runtime run` asking for GPU 0 by
                                              NVIDIA_VISIBLE_DEVICES against `runc run` of the
                                              same config.json without the request, and the same
                                              with the update-ldcache hook kept (a tmpfs under
                                              /usr on both sides makes the shim keep it)
usage: bench/bench_shim.py --nvbind PATH [--runs N] [--create-runs N] [--only-create | --only-gpu-start]

Measured (2026-12-05, the stop of create-device-nodes and NVML's trust check; no path
measured here changed): --only-create, the shim +7.03 ms wall over runc's create of the edited
bundle (the floor +3.82 ms in the same rounds, nvbind-runtime over it +3.21 ms; runc's own
create 90 ms), -4.86 ms against the hook kept; 3.01 M instructions, 528 system calls.

Measured (2026-12-05, a later stop: crun tests, configure and API reviews; no path measured
here changed): --only-create, the shim +6.10 ms wall over runc's create of the edited bundle
(the floor +2.56 ms in the same rounds; runc's own create 93 ms), -5.78 ms against the hook
kept; 3.01 M instructions, 528 system calls (both as before: the wall moves with the
machine, these do not).

Measured (2026-12-05, the stop of the attack reviews: the root opened as runc takes it, each
mount destination resolved in the root): --only-create, the shim +4.92 ms wall over runc's
create of the edited bundle (the floor +1.68 ms in the same rounds), -7.66 ms against the
hook kept; 3.01 M instructions (3.24 M before), 529 system calls (487). --only-gpu-start:
+13.2 ms over runc run (70.6 ms in this run), +22.2 ms with the hook kept.

Measured (2026-12-04, a later stop, --only-gpu-start, two runs): GPU 0 adds +9.5 and +9.3
ms to a whole start through the shim (runc run without the request: 56-60 ms); with the
update-ldcache hook kept +17.4 and +20.1 ms.

Measured (2026-12-04, a later stop, --only-create, two runs): the shim now makes the loader
cache itself and the edited bundle holds no update-ldcache hook, so runc's create of it no
longer runs one. The shim's create of a fresh bundle: +4.96 and +6.57 ms wall over runc's
create of the edited bundle (the floor +1.84 and +0.52 ms), and -7.75 ms against runc's
create of the edited bundle with the hook kept (what the shim handed runc before; what an
engine applying nvbind's CDI spec runs). 3.25 M instructions up to the runtime's exec (2.91 M
before: the cache's work is 0.34 M), 485 system calls (274: the links, the folder listings,
the cache read and written).

Measured (2026-12-04, --only-create, three runs on the 2-core VM, where a page touched for
the first time costs 4-15 us and any exec 1.2-1.75 ms): the shim added +2.2, +5.7 and
+3.6 ms wall over runc's create (runc's own 112-122 ms between runs; the wall figures move
by more than the shim's whole cost), the floor +0.8, +1.8 and +2.0 ms in the same rounds:
nvbind's own work over the floor +1.4 to +3.8 ms wall, +1.8 to +3.5 ms CPU. 2.50M
instructions (parse 0.57M, edits 0.55M, dump 0.39M, plan 0.26M, claims 0.21M, host cache
check 0.13M), 274 system calls (77 statx of the host cache check), 46 page faults of its own.
Of its CPU time on this machine (perf, 300 creates with /bin/true as the runtime): a third
user code, of which much is the first touch of a page (a fault the hypervisor takes even
after MADV_POPULATE_WRITE); a sixth the exec and the teardown of its address space; the
rest page faults and system calls.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "fakehost"))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))
import fakehost  # noqa: E402
from nvbtest import make_busybox_rootfs  # noqa: E402
from hyperfine import abba, medians, syscalls  # noqa: E402


WARMUP = 20


def report(name, base_name, base, value, target=None):
    line = (f"{name:<46} median {value * 1e3:8.3f} ms   {base_name:<26} {base * 1e3:8.3f} ms   "
            f"added {(value - base) * 1e3:+7.3f} ms")
    if target:
        line += f"   (target {target})"
    print(line, flush=True)


def spawn(argv, env):
    """Wall seconds and CPU seconds (user + system, the process and the children it waited
    for) of one run of argv; raises when it fails."""
    t0 = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, env)
    _, status, ru = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit status {os.waitstatus_to_exitcode(status)}")
    return wall, ru.ru_utime + ru.ru_stime


def instructions(argv, env):
    """Instructions one run of argv executes up to its exec of another program (callgrind's
    Ir, dumped before execv: callgrind writes nothing when the process execs), or None
    without valgrind."""
    if not shutil.which("valgrind"):
        return None
    d = tempfile.mkdtemp(prefix="nvbind-bench-cg-")
    try:
        subprocess.run(["valgrind", "--tool=callgrind", "--dump-before=execv", f"--callgrind-out-file={d}/cg.out",
                        *argv], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        total = None
        for name in os.listdir(d):
            with open(os.path.join(d, name)) as f:
                m = re.search(r"^summary: (\d+)", f.read(), re.M)
            if m:
                total = (total or 0) + int(m.group(1))
        return total
    finally:
        shutil.rmtree(d, ignore_errors=True)


def static_true(tmp):
    """A statically linked program that does nothing (the floor of an exec), or None without a
    static C library."""
    out = os.path.join(tmp, "true-static")
    r = subprocess.run(["cc", "-static", "-O2", "-x", "c", "-", "-o", out], input="int main(void){return 0;}",
                       text=True, capture_output=True)
    return out if r.returncode == 0 else None


# The least any wrapping shim does on a create: it is exec'd, reads config.json, writes the
# edited document (here: a prepared copy of what nvbind-runtime writes) to a new file in the
# bundle, renames it over config.json and execs the runtime. No JSON parsing, no discovery, no
# claims: the difference between nvbind-runtime and this is nvbind's own work.
FLOOR_SHIM = r"""
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
static char buf[1 << 20];
static ssize_t slurp(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    return n;
}
int main(int argc, char **argv) {
    const char *bundle = NULL;
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "--bundle") == 0) bundle = argv[i + 1];
    const char *runtime = getenv("FLOOR_RUNTIME"), *edited = getenv("FLOOR_EDITED");
    if (!runtime || !edited) return 2;
    argv[0] = (char *)runtime;
    if (!bundle) { execv(runtime, argv); return 127; } /* delete, state, ...: passed through */
    char cfg[4096], tmp[4096];
    snprintf(cfg, sizeof cfg, "%s/config.json", bundle);
    snprintf(tmp, sizeof tmp, "%s/.config.json.floor", bundle);
    if (slurp(cfg) < 0) return 3;
    ssize_t n = slurp(edited);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (n < 0 || fd < 0 || write(fd, buf, (size_t)n) != n || close(fd) < 0 || rename(tmp, cfg) < 0) return 4;
    execv(runtime, argv);
    return 127;
}
"""


def floor_shim(tmp):
    """FLOOR_SHIM built static, as nvbind-runtime is, or None without a static C library."""
    out = os.path.join(tmp, "floor-shim")
    r = subprocess.run(["cc", "-static-pie", "-O2", "-x", "c", "-", "-o", out], input=FLOOR_SHIM, text=True,
                       capture_output=True)
    return out if r.returncode == 0 else None


def exec_cost(programs, runs, env):
    """Median wall and CPU seconds of exec'ing each program (no arguments), interleaved."""
    res = {p: ([], []) for p in programs}
    for i in range(runs + 20):
        for p in programs:
            w, c = spawn([p], env)
            if i >= 20:
                res[p][0].append(w)
                res[p][1].append(c)
    return {p: (statistics.median(w), statistics.median(c)) for p, (w, c) in res.items()}


def create_delete(argv_create, argv_delete, env):
    """One timed create, then the untimed delete of what it created."""
    try:
        return spawn(argv_create, env)
    finally:
        subprocess.run(argv_delete, env=env, capture_output=True)


def create_case(contenders, runs, env, warmup=5):
    """Medians (wall, CPU) of each contender's create, in the order first..last, last..first
    (drift cancels out of the differences), unique ids. A contender is (name, runtime, bundle,
    prepare[, env]): prepare, when given, runs untimed before each of its creates; env, when
    given, replaces the common one."""
    times = {name: ([], []) for name, *_ in contenders}
    order = list(contenders) + list(reversed(contenders))
    n = 0
    for i in range(warmup + runs):
        for name, prog, bundle_path, prepare, *own_env in order:
            n += 1
            cid = f"nvbind-bench-create-{os.getpid()}-{n}"
            if prepare:
                prepare()
            e = own_env[0] if own_env else env
            w, c = create_delete([prog, "create", "--bundle", bundle_path, cid],
                                 [prog, "delete", "--force", cid], e)
            if i >= warmup:
                times[name][0].append(w)
                times[name][1].append(c)
    return {k: (statistics.median(w), statistics.median(c)) for k, (w, c) in times.items()}


def podman_seccomp():
    """The seccomp profile podman puts in every config.json (containers-common's default, in
    the runtime spec's layout), or None where that file is missing: `runc spec` writes none,
    and an engine's config.json is mostly this profile."""
    try:
        with open("/usr/share/containers/seccomp.json") as f:
            d = json.load(f)
    except (OSError, ValueError):
        return None
    keep = ("names", "action", "args", "errnoRet")
    return {"defaultAction": d["defaultAction"], "defaultErrnoRet": d.get("defaultErrnoRet", 1),
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [{k: v for k, v in c.items() if k in keep} for c in d.get("syscalls", [])]}


def bundle(path, rootfs, runc, annotations=None, seccomp=None):
    os.makedirs(path)
    subprocess.run([runc, "spec", "--bundle", path], check=True)
    with open(os.path.join(path, "config.json")) as f:
        config = json.load(f)
    config["root"] = {"path": rootfs, "readonly": False}
    if seccomp:
        config["linux"]["seccomp"] = seccomp
    config["process"]["terminal"] = False
    config["process"]["args"] = ["/bin/true"]
    if annotations:
        config["annotations"] = annotations
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(config, f)
    return path


def shim_alone(shim, plain, req, runs, env):
    """The shim's own work, with /bin/true as the runtime, against /bin/true itself."""
    m = medians(["/bin/true create --bundle {} x".format(plain),
                 f"{shim} create --bundle {plain} x",
                 f"{shim} create --bundle {req} x",
                 f"{shim} state x"], runs * 3, env, WARMUP)
    report("shim create, no GPU request", "/bin/true", m[0], m[1], "< 1 ms added")
    report("shim create, all GPUs (edit + write)", "/bin/true", m[0], m[2], "< 1 ms added")
    report("shim pass-through (state)", "/bin/true", m[0], m[3], "< 1 ms added")


def gpu_start(shim, runc, rootfs, tmp, env, runs, warmup=5):
    """What GPU 0 adds to a container's whole start through the shim: `nvbind-runtime run` of a
    config.json as an engine writes it (rewritten untimed before each run) asking for GPU 0 by
    NVIDIA_VISIBLE_DEVICES, against `runc run` of the same document without the request; and
    the same request with a tmpfs under /usr, which makes the shim keep the update-ldcache hook
    (the shim before it made the cache itself), against the same without the request.
    Alternated first..last, last..first."""
    cases = {}
    for name, request, usr_mount in (("plain", False, False), ("gpu", True, False),
                                     ("plain+usr", False, True), ("gpu, hook kept", True, True)):
        path = os.path.join(tmp, "start-" + name.replace(" ", "").replace(",", ""))
        b = bundle(path, rootfs, runc)
        with open(os.path.join(b, "config.json")) as f:
            doc = json.load(f)
        if request:
            doc["process"]["env"].append("NVIDIA_VISIBLE_DEVICES=0")
        if usr_mount:
            doc["mounts"].append({"destination": "/usr/share/nvbind-bench", "type": "tmpfs", "source": "tmpfs"})
        cases[name] = (b, json.dumps(doc), shim if request else runc)
    times = {k: [] for k in cases}
    order = list(cases) + list(reversed(list(cases)))
    n = 0
    for i in range(warmup + runs):
        for name in order:
            b, text, prog = cases[name]
            with open(os.path.join(b, "config.json"), "w") as f:
                f.write(text)
            n += 1
            w, _ = spawn([prog, "run", "--bundle", b, f"nvbind-bench-start-{os.getpid()}-{n}"], env)
            if i >= warmup:
                times[name].append(w)
    m = {k: statistics.median(v) for k, v in times.items()}
    print(f"a container's start, GPU 0 by NVIDIA_VISIBLE_DEVICES ({runs} rounds, wall medians):", flush=True)
    report("nvbind-runtime run, GPU 0", "runc run, no request", m["plain"], m["gpu"])
    report("  the same, hook kept (tmpfs under /usr)", "runc run, same tmpfs", m["plain+usr"], m["gpu, hook kept"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nvbind", required=True)
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--create-runs", type=int, default=40, help="ABBA rounds of the create case")
    ap.add_argument("--only-create", action="store_true", help="the create case (and exec costs) alone")
    ap.add_argument("--only-gpu-start", action="store_true", help="the whole start with GPU 0 alone")
    a = ap.parse_args()
    shim = os.path.join(os.path.dirname(os.path.abspath(a.nvbind)), "nvbind-runtime")
    runc = shutil.which("runc")
    if not runc or os.geteuid() != 0:
        print("bench_shim: needs runc and root; skipped")
        return
    tmp = tempfile.mkdtemp(prefix="nvbind-bench-shim-", dir="/var/tmp")
    state = None
    try:
        root = os.path.join(tmp, "host")
        fakehost.build(root, gpus=1, layout="debian")
        rootfs = make_busybox_rootfs(os.path.join(tmp, "rootfs"))
        plain = bundle(os.path.join(tmp, "plain"), rootfs, runc)
        req = bundle(os.path.join(tmp, "req"), rootfs, runc, {"nvbind.gpus": "all"})
        # Claims and the audit log in the benchmark's own folder, never the host's.
        # /run is a tmpfs on real hosts: the claim records live on one here too (/dev/shm).
        state = tempfile.mkdtemp(prefix="nvbind-bench-state-", dir="/dev/shm" if os.path.isdir("/dev/shm") else tmp)
        isolation = f'[isolation]\nstate_dir = "{state}"\naudit_log = "{tmp}/audit.log"\n'
        isolation += '[security]\nallow_annotation_requests = true\n'  # the request is an annotation
        true_cfg = os.path.join(tmp, "true.toml")
        with open(true_cfg, "w") as f:
            f.write('[runtime]\noci_runtime = "/bin/true"\n' + isolation)
        # The host cache (docs/host-cache.md) in the benchmark's own folder. It keeps nothing
        # changed less than a second ago: the fake host is left that second first, as a real
        # host's driver files are older than that.
        host_cache = os.path.join(tmp, "host-cache")
        os.mkdir(host_cache, 0o700)
        time.sleep(1.2)
        env = dict(os.environ, NVBIND_ROOT=root, NVBIND_CONFIG=true_cfg, NVBIND_HOST_CACHE=host_cache)

        # Edit once: later runs rewrite the same content (the edit is idempotent).
        subprocess.run([shim, "create", "--bundle", req, "x"], check=True, env=env)
        if not a.only_create and not a.only_gpu_start:
            shim_alone(shim, plain, req, a.runs, env)

        runc_cfg = os.path.join(tmp, "runc.toml")
        with open(runc_cfg, "w") as f:
            f.write(f'[runtime]\noci_runtime = "{runc}"\n' + isolation)
        runc_env = dict(env, NVBIND_CONFIG=runc_cfg)
        if not a.only_create:
            gpu_start(shim, runc, rootfs, tmp, runc_env, a.create_runs)
        if a.only_gpu_start:
            return
        if not a.only_create:
            base, run = abba(f"{runc} run --bundle {req} nvbind-bench-shim-a",
                             f"{shim} run --bundle {req} nvbind-bench-shim-b", a.runs, runc_env, WARMUP)
            report("nvbind-runtime run, all GPUs", "runc run (same bundle)", base, run, "< 1 ms added")

        # Issue 16: `nvbind-runtime create` asking for GPU 0 against runc's own create. An
        # engine hands the shim a config.json it has just written (fresh: the shim adds the
        # edits); runc gets the same bundle as the shim left it (edited). The shim is also
        # timed on the edited bundle, where it parses the whole edited document and adds
        # nothing.
        profile = podman_seccomp()
        gpu0 = bundle(os.path.join(tmp, "gpu0"), rootfs, runc, {"nvbind.gpus": "0"}, profile)
        fresh = bundle(os.path.join(tmp, "gpu0-fresh"), rootfs, runc, {"nvbind.gpus": "0"}, profile)
        fresh_config = os.path.join(fresh, "config.json")
        with open(fresh_config) as f:
            pristine = f.read()

        def refresh():
            with open(fresh_config, "w") as f:
                f.write(pristine)

        subprocess.run([shim, "create", "--bundle", gpu0, "nvbind-bench-edit"], check=True, env=runc_env)
        subprocess.run([shim, "delete", "--force", "nvbind-bench-edit"], env=runc_env, capture_output=True)
        # The same edits with the update-ldcache hook kept in config.json, as the shim wrote them
        # before it made the cache itself (and as an engine applying nvbind's CDI spec hands
        # them to runc): the shim keeps the hook when another mount lands under /usr, and that
        # mount is taken out again afterwards.
        hooked = bundle(os.path.join(tmp, "gpu0-hooked"), rootfs, runc, {"nvbind.gpus": "0"}, profile)
        hooked_config = os.path.join(hooked, "config.json")
        with open(hooked_config) as f:
            doc = json.load(f)
        doc["mounts"].append({"destination": "/usr/share/nvbind-bench", "type": "tmpfs", "source": "tmpfs"})
        with open(hooked_config, "w") as f:
            json.dump(doc, f)
        subprocess.run([shim, "create", "--bundle", hooked, "nvbind-bench-edit"], check=True, env=runc_env)
        subprocess.run([shim, "delete", "--force", "nvbind-bench-edit"], env=runc_env, capture_output=True)
        with open(hooked_config) as f:
            doc = json.load(f)
        doc["mounts"] = [m for m in doc["mounts"] if m["destination"] != "/usr/share/nvbind-bench"]
        if not doc.get("hooks", {}).get("createContainer"):
            raise SystemExit("bench_shim: the shim left no update-ldcache hook in the hooked bundle")
        with open(hooked_config, "w") as f:
            json.dump(doc, f)
        progs = {"exec of a static do-nothing program": static_true(tmp), "exec of /bin/true": shutil.which("true")}
        progs = {k: v for k, v in progs.items() if v}
        ex = exec_cost(list(progs.values()), a.runs, env)
        true_create = [shutil.which("true"), "create", "--bundle", fresh, "x"]
        shim_create = [shim, "create", "--bundle", fresh, "x"]

        def counted(count, argv, e):
            refresh()
            return count(argv, e)

        # Each count twice, the second kept: the first writes the host cache for that binary
        # (under valgrind, the binary is valgrind's: its own entry).
        no_cache = dict(env, NVBIND_HOST_CACHE="off")
        counts = {}
        for what, count in (("Ir", instructions), ("system calls", syscalls)):
            counted(count, shim_create, env)
            counts[what] = (counted(count, shim_create, env), count(true_create, env),
                            counted(count, shim_create, no_cache))
        own = {}
        for name, argv in (("/bin/true create", true_create), ("shim create (runtime /bin/true)", shim_create)):
            samples = []
            for _ in range(a.runs + 20):
                refresh()
                samples.append(spawn(argv, env))
            w, c = zip(*samples[20:])
            own[name] = (statistics.median(w), statistics.median(c))
        refresh()
        contenders = [("runc", runc, gpu0, None), ("runc hooked", runc, hooked, None),
                      ("shim", shim, fresh, refresh), ("shim edited", shim, gpu0, None),
                      ("shim no cache", shim, fresh, refresh, dict(runc_env, NVBIND_HOST_CACHE="off"))]
        floor = floor_shim(tmp)
        if floor:
            contenders.append(("floor", floor, fresh, refresh,
                               dict(runc_env, FLOOR_RUNTIME=runc, FLOOR_EDITED=os.path.join(gpu0, "config.json"))))
        cr = create_case(contenders, a.create_runs, runc_env)
        print(f"create with runc, GPU 0 requested ({a.create_runs} ABBA rounds; wall / CPU medians; "
              f"config.json {len(pristine)} bytes as the engine writes it, "
              f"{'with' if profile else 'without'} podman's seccomp profile):")
        rows = [("runc create (edited bundle)", *cr["runc"]),
                ("runc create (edited, hook kept)", *cr["runc hooked"]),
                ("nvbind-runtime create (fresh bundle)", *cr["shim"]),
                ("nvbind-runtime create (edited bundle)", *cr["shim edited"]),
                ("  the same, host cache off", *cr["shim no cache"])]
        if floor:
            rows.append(("the floor of any shim (fresh bundle)", *cr["floor"]))
        rows += [(k, *ex[p]) for k, p in progs.items()]
        rows += [(k, *v) for k, v in own.items()]
        for name, w, c in rows:
            print(f"  {name:<36} wall {w * 1e3:8.3f} ms   CPU {c * 1e3:8.3f} ms", flush=True)
        added_w = cr["shim"][0] - cr["runc"][0]
        added_c = cr["shim"][1] - cr["runc"][1]
        print(f"  against runc create of the edited bundle with the hook kept (the shim's edits before it made "
              f"the cache itself; an engine applying nvbind's CDI spec): wall "
              f"{(cr['shim'][0] - cr['runc hooked'][0]) * 1e3:+.3f} ms, "
              f"CPU {(cr['shim'][1] - cr['runc hooked'][1]) * 1e3:+.3f} ms", flush=True)
        print(f"  on the edited bundle: wall {(cr['shim edited'][0] - cr['runc'][0]) * 1e3:+.3f} ms, "
              f"CPU {(cr['shim edited'][1] - cr['runc'][1]) * 1e3:+.3f} ms", flush=True)
        shim_cpu = own["shim create (runtime /bin/true)"][1] - own["/bin/true create"][1]
        print(f"  added by the shim: wall {added_w * 1e3:+.3f} ms (target <= +2 ms), CPU {added_c * 1e3:+.3f} ms; "
              f"the shim's own work (runtime /bin/true, less /bin/true): wall "
              f"{(own['shim create (runtime /bin/true)'][0] - own['/bin/true create'][0]) * 1e3:+.3f} ms, "
              f"CPU {shim_cpu * 1e3:+.3f} ms; one exec of a program: {min(v[0] for v in ex.values()) * 1e3:.3f} ms",
              flush=True)
        if floor:
            print(f"  the floor of any shim (exec'd, reads config.json, writes the edited one, execs runc) adds "
                  f"wall {(cr['floor'][0] - cr['runc'][0]) * 1e3:+.3f} ms, CPU {(cr['floor'][1] - cr['runc'][1]) * 1e3:+.3f} ms; "
                  f"nvbind-runtime over that floor: wall {(cr['shim'][0] - cr['floor'][0]) * 1e3:+.3f} ms, "
                  f"CPU {(cr['shim'][1] - cr['floor'][1]) * 1e3:+.3f} ms", flush=True)
        ir, sc = counts["Ir"], counts["system calls"]
        if ir[0] is not None:
            print(f"  the shim's create, GPU 0: {ir[0]} instructions up to its exec of the runtime (callgrind; "
                  f"host cache off: {ir[2]}; /bin/true create: {ir[1]})", flush=True)
        if sc[0] is not None and sc[1] is not None:
            print(f"  the shim's create, GPU 0, runtime /bin/true: {sc[0]} system calls (host cache off: {sc[2]}), "
                  f"/bin/true create alone {sc[1]}: {sc[0] - sc[1]:+d} (strace -c)", flush=True)
    finally:
        for c in ("nvbind-bench-shim-a", "nvbind-bench-shim-b", "nvbind-bench-edit"):
            subprocess.run([runc, "delete", "--force", c], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
        if state:
            shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
