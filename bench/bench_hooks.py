#!/usr/bin/python3
"""The createContainer hooks' own time: `nvbind hook create-symlinks` and `nvbind hook
update-ldcache` with the arguments of a fake host's spec, run the way a runtime runs them
(state on stdin, empty environment) on a prepared bundle, medians of N runs (a spec whose
update-ldcache hook makes the links itself, --link, has no create-symlinks hook). The spec's
hook writes the cache itself when the image's cache is current (--lib64/--lib32; the run
stops if it did not); "update-ldcache, ldconfig" is the same hook without those arguments,
as older specs have it, which runs ldconfig. Also the floor of that: a static no-op in
ldconfig's place (process, state, lock, configuration files and sandbox, without ldconfig's
scan). Target: both hooks together <= 20 ms.

usage: bench/bench_hooks.py --nvbind PATH [--runs N] [--image-root DIR] [--runc]
  --image-root DIR  copy this root filesystem (a real glibc image, whose libraries ldconfig
                    scans too) instead of a busybox one
  --runc            instead, `runc run` of one bundle in interleaved rounds: no GPU; GPU 0 as
                    nvbind-runtime edits it (no hook, a /bin/true hook, the spec's hook, the
                    hook running ldconfig): what a GPU adds to a container start, and how
                    much of that is the hook

Measured (2026-12-04, static-pie nvbind, 1-GPU fake host: 53 links, 2 folders; the hook's
sandbox child started with fork, then sharing the hook's memory until its exec):
                                 fork                  shared memory
  busybox root, update-ldcache   11.0 ms (16.1 earlier  9.6 ms
                                 that day)
  busybox root, no-op ldconfig    6.7 ms (10.0)         5.5 ms
  Debian 12 image root (232       23.7, 24.9 ms         22.3, 22.8 ms
  libraries), update-ldcache
  the same, no-op ldconfig        6.5, 6.7 ms           5.3, 5.5 ms
With a fork the child's start cost 131 page faults a run against 94 (perf stat, ABBA rounds).
On a real image ldconfig's own scan is three quarters of the hook: about 17 ms, 26 ms of CPU
when run alone, an mmap, a read of the ELF header and an munmap for each of the image's
libraries. The target holds on the busybox root, not on the Debian image.

Measured (2026-12-04, next stop, the same build for all three; 30 runs): the cache written by
nvbind itself against ldconfig's run (the ldconfig case rewrites the cache every round, so the
spec's hook writes it every round too)
                                 nvbind writes   ldconfig   no-op ldconfig
  busybox root (no cache)          3.8 ms         11.5 ms     6.0 ms
  Debian 12 image root             4.9 ms         26.7 ms     6.1 ms
Without the sandbox child and ldconfig's exec the hook is below the old floor; on the Debian
image it is 5.4 times faster. Standalone it costs about 1 ms more than /bin/true (225 system
calls; a restart that finds its own cache writes nothing). After the review that made the
hook list every configured folder and the driver's (library names, not folder times): 4.5 /
11.6 / 6.7 ms on busybox, 6.1 / 29.2 / 7.3 ms on the Debian image (288 system calls there).
--runc (30 rounds; what GPU 0 adds to `runc run`, 69 more mounts):
                                 no hook  /bin/true hook  spec's hook  hook running ldconfig
  busybox root                   +17.1    +20.6           +32.2        +37.0 ms
  Debian 12 image root           +19.2    +24.4           +35.3        +54.6 ms
Inside runc the hook takes about twice its standalone time, as /bin/true does (runc's own
processes share the two cores).
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "fakehost"))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))
sys.path.insert(0, os.path.join(REPO, "bench"))
import fakehost  # noqa: E402
from nvbtest import make_busybox_rootfs  # noqa: E402


def prepare(nvbind, tmp, image_root):
    """A bundle whose root holds the library files the spec mounts; returns (state, hooks)."""
    host = os.path.join(tmp, "host")
    fakehost.build(host)
    spec = json.loads(subprocess.run([nvbind, "--root", host, "cdi", "generate", "--output", "-"], check=True,
                                     stdout=subprocess.PIPE, text=True).stdout)
    bundle = os.path.join(tmp, "bundle")
    root = os.path.join(bundle, "rootfs")
    if image_root:
        # cp -a: an image root has device nodes (/dev/zero) that a copy must not read.
        os.makedirs(bundle)
        subprocess.run(["cp", "-a", image_root, root], check=True)
    else:
        make_busybox_rootfs(root)
    for m in spec["containerEdits"]["mounts"]:  # what the runtime would bind-mount
        if "/lib" in m["containerPath"] and os.path.isfile(m["hostPath"]):
            os.makedirs(os.path.dirname(root + m["containerPath"]), exist_ok=True)
            shutil.copy(m["hostPath"], root + m["containerPath"])
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump({"ociVersion": "1.0.2", "root": {"path": "rootfs"}}, f)
    state = json.dumps({"ociVersion": "1.0.2", "id": "bench", "status": "creating", "pid": 1, "bundle": bundle})
    return state, [h["args"][1:] for h in spec["containerEdits"]["hooks"]]


def without_libs(args):
    """The hook's arguments less --lib64/--lib32 and their values."""
    out, skip = [], False
    for a in args:
        if not skip and a not in ("--lib64", "--lib32"):
            out.append(a)
        skip = not skip and a in ("--lib64", "--lib32")
    return out


def writer(state):
    """What ldconfig -p says wrote the bundle's cache."""
    root = os.path.join(json.loads(state)["bundle"], "rootfs")
    out = subprocess.run(["ldconfig", "-p", "-C", root + "/etc/ld.so.cache"], stdout=subprocess.PIPE, text=True,
                         env={"PATH": "/usr/sbin:/sbin:/usr/bin:/bin", "LC_ALL": "C"}).stdout
    return out.strip().splitlines()[-1].replace("Cache generated by: ", "")


def static_noop(tmp):
    src = os.path.join(tmp, "noop.c")
    with open(src, "w") as f:
        f.write("int main(void) { return 0; }\n")
    exe = os.path.join(tmp, "noop")
    r = subprocess.run(["gcc", "-static", "-O1", "-o", exe, src], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return exe if r.returncode == 0 else None


def edited_copy(src, dst, edit):
    """A copy of bundle src whose config.json is changed by edit(config)."""
    shutil.copytree(src, dst)
    with open(os.path.join(dst, "config.json")) as f:
        config = json.load(f)
    edit(config)
    with open(os.path.join(dst, "config.json"), "w") as f:
        json.dump(config, f)
    return dst


def runc_rounds(o):
    """runc run of the same root filesystem, each case once per round, the order reversed
    every other round; medians and what each adds to the plain start."""
    import bench_shim  # the bundles bench_shim.py times the shim's create with
    runc = shutil.which("runc")
    tmp = tempfile.mkdtemp(prefix="nvbind-bench-hooks-", dir="/var/tmp")
    try:
        host = os.path.join(tmp, "host")
        fakehost.build(host, gpus=1, layout="debian")
        rootfs = os.path.join(tmp, "rootfs")
        if o.image_root:
            subprocess.run(["cp", "-a", o.image_root, rootfs], check=True)
        else:
            make_busybox_rootfs(rootfs)
        state = tempfile.mkdtemp(prefix="nvbind-bench-state-", dir=tmp)
        cfg = os.path.join(tmp, "shim.toml")
        with open(cfg, "w") as f:
            f.write(f'[runtime]\noci_runtime = "/bin/true"\n[isolation]\nstate_dir = "{state}"\n'
                    f'audit_log = "{tmp}/audit.log"\n[security]\nallow_annotation_requests = true\n')
        shim = os.path.join(os.path.dirname(os.path.abspath(o.nvbind)), "nvbind-runtime")
        plain = bench_shim.bundle(os.path.join(tmp, "plain"), rootfs, runc)
        gpu = bench_shim.bundle(os.path.join(tmp, "gpu"), rootfs, runc, {"nvbind.gpus": "0"})
        subprocess.run([shim, "create", "--bundle", gpu, "x"], check=True,  # edits config.json
                       env=dict(os.environ, NVBIND_ROOT=host, NVBIND_CONFIG=cfg))

        def strip_libs(c):
            for h in c["hooks"]["createContainer"]:
                h["args"] = without_libs(h["args"])

        cases = {
            "no GPU": plain,
            "GPU 0, no hook (the mounts)": edited_copy(gpu, os.path.join(tmp, "nohook"), lambda c: c.pop("hooks")),
            "GPU 0, a /bin/true hook": edited_copy(gpu, os.path.join(tmp, "true"), lambda c: c.update(
                hooks={"createContainer": [{"path": shutil.which("true"), "args": ["true"]}]})),
            "GPU 0, the spec's hook": gpu,
            "GPU 0, the hook running ldconfig": edited_copy(gpu, os.path.join(tmp, "ldconfig"), strip_libs),
        }
        with open(os.path.join(gpu, "config.json")) as f:
            mounts = len(json.load(f)["mounts"])
        times = {k: [] for k in cases}
        for i in range(o.runs + 3):  # the first 3 warm up
            for name in (list(cases) if i % 2 == 0 else list(reversed(cases))):
                t = time.perf_counter()
                subprocess.run([runc, "run", "--bundle", cases[name], f"nvbind-bench-hooks-{os.getpid()}"],
                               check=True, stdout=subprocess.DEVNULL)
                if i >= 3:
                    times[name].append(time.perf_counter() - t)
        base = statistics.median(times["no GPU"])
        for name, v in times.items():
            m = statistics.median(v)
            print(f"runc run, {name:34s} median {m * 1000:7.1f} ms   added {(m - base) * 1000:+6.1f} ms")
        print(f"({mounts} mounts with GPU 0, {o.runs} rounds, {'the given image' if o.image_root else 'busybox'} "
              f"root, load average {os.getloadavg()[0]:.1f})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nvbind", default=os.path.join(REPO, "build", "src", "nvbind"))
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--image-root")
    ap.add_argument("--runc", action="store_true")
    o = ap.parse_args()
    if o.runc:
        return runc_rounds(o)
    tmp = tempfile.mkdtemp(prefix="nvbind-bench-hooks-")
    try:
        state, hooks = prepare(o.nvbind, tmp, o.image_root)
        # update-ldcache makes the links too (--link) where the spec has no create-symlinks hook.
        by_name = {h[1]: h for h in hooks}
        cache = by_name["update-ldcache"]
        links = by_name.get("create-symlinks", [])
        # The spec's hook writes the cache itself when the image's is current (--lib64,
        # --lib32); without those arguments it runs ldconfig, as specs before did.
        with_ldconfig = without_libs(cache)
        cases = {"update-ldcache": [o.nvbind, *cache],
                 "update-ldcache, ldconfig": [o.nvbind, *with_ldconfig]}
        if links:
            cases["create-symlinks"] = [o.nvbind, *links]
        noop = static_noop(tmp)
        if noop:
            cases["update-ldcache, no-op ldconfig"] = [o.nvbind, *with_ldconfig[:2], "--ldconfig", noop,
                                                       *with_ldconfig[2:]]
        subprocess.run(cases["update-ldcache"], input=state, text=True, check=True, env={})
        print(f"the spec's hook: the cache written by {writer(state)}")
        times = {k: [] for k in cases}
        times["both"] = []
        for _ in range(o.runs + 3):  # the first 3 warm up (page cache, first SONAME links)
            pair = 0.0
            for name, argv in cases.items():  # the ldconfig case rewrites the cache: still current
                t = time.perf_counter()
                subprocess.run(argv, input=state, text=True, check=True, env={})
                dt = time.perf_counter() - t
                times[name].append(dt)
                pair += dt if name in ("create-symlinks", "update-ldcache") else 0
                if name == "update-ldcache" and not writer(state).startswith("nvbind "):
                    sys.exit("the spec's hook ran ldconfig: the image's cache was not current")
            times["both"].append(pair)
        for name, v in times.items():
            v = v[3:]
            print(f"{name:32s} median {statistics.median(v) * 1000:7.1f} ms   min {min(v) * 1000:7.1f} ms")
        print(f"({(links + cache).count('--link')} links, {cache.count('--folder')} folders, {o.runs} runs, "
              f"load average {os.getloadavg()[0]:.1f})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
