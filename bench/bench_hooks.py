#!/usr/bin/python3
"""The createContainer hooks' own time: `nvbind hook create-symlinks` and `nvbind hook
update-ldcache` with the arguments of a fake host's spec, run the way a runtime runs them
(state on stdin, empty environment) on a prepared bundle, medians of N runs (a spec whose
update-ldcache hook makes the links itself, --link, has no create-symlinks hook). Also the
floor of update-ldcache: the same hook with a static no-op in ldconfig's place (process,
state, lock, configuration files and sandbox, without ldconfig's scan). Target: both hooks
together <= 20 ms.

usage: bench/bench_hooks.py --nvbind PATH [--runs N] [--image-root DIR]
  --image-root DIR  copy this root filesystem (a real glibc image, whose libraries ldconfig
                    scans too) instead of a busybox one

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


def static_noop(tmp):
    src = os.path.join(tmp, "noop.c")
    with open(src, "w") as f:
        f.write("int main(void) { return 0; }\n")
    exe = os.path.join(tmp, "noop")
    r = subprocess.run(["gcc", "-static", "-O1", "-o", exe, src], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return exe if r.returncode == 0 else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nvbind", default=os.path.join(REPO, "build", "src", "nvbind"))
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--image-root")
    o = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="nvbind-bench-hooks-")
    try:
        state, hooks = prepare(o.nvbind, tmp, o.image_root)
        # update-ldcache makes the links too (--link) where the spec has no create-symlinks hook.
        by_name = {h[1]: h for h in hooks}
        cache = by_name["update-ldcache"]
        links = by_name.get("create-symlinks", [])
        cases = {"update-ldcache": [o.nvbind, *cache]}
        if links:
            cases["create-symlinks"] = [o.nvbind, *links]
        noop = static_noop(tmp)
        if noop:
            cases["update-ldcache, no-op ldconfig"] = [o.nvbind, *cache[:2], "--ldconfig", noop, *cache[2:]]
        times = {k: [] for k in cases}
        times["both"] = []
        for _ in range(o.runs + 3):  # the first 3 warm up (page cache, first SONAME links)
            pair = 0.0
            for name, argv in cases.items():
                t = time.perf_counter()
                subprocess.run(argv, input=state, text=True, check=True, env={})
                dt = time.perf_counter() - t
                times[name].append(dt)
                pair += dt if name in ("create-symlinks", "update-ldcache") else 0
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
