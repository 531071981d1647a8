#!/usr/bin/python3
"""Container start on the real-packaging host (tests/realhost: Debian's own NVIDIA packages,
a real Debian 12 image), medians from hyperfine, each comparison timed in the order A B B A.

Cases:
  podman run --rm IMAGE true                   the baseline
  ... --device KIND=0                          one GPU through nvbind's CDI spec (target: <= +15 %)
  nvbind hook update-ldcache                   each hook's own time, run the way the runtime runs
  nvbind hook create-symlinks                  it (state JSON on stdin) against a bundle holding
                                               the image and the spec's mounts (target: <= 20 ms
                                               for both together)
  chroot ROOT ldconfig                         the image's own ldconfig on that root: the floor
                                               update-ldcache cannot go below
usage: bench/bench_realhost.py --nvbind PATH [--runs N] [--podman-runs N]
"""
import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "realhost"))
import realhost  # noqa: E402
from hyperfine import abba, medians  # noqa: E402

KIND = "realhost.nvbind.test/gpu"  # the same kind tests/e2e/test_realhost.py uses
SPEC = "/var/run/cdi/realhost.nvbind.test-gpu.json"


def ms(s):
    return f"{s * 1e3:8.2f} ms"


def place(src, dst):
    """Put a host file at its place in the bundle's root: a hard link where possible (the
    runtime would bind-mount it; the hooks only read it)."""
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    if os.path.lexists(dst):
        os.unlink(dst)
    if os.path.isdir(src) and not os.path.islink(src):
        shutil.copytree(src, dst, symlinks=True)
        return
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError:
        shutil.copy2(src, dst, follow_symlinks=False)


def bundle(spec, image_root, work):
    """A bundle whose root is the image plus every file the spec mounts, as the runtime would
    present it to the hooks."""
    b = os.path.join(work, "bundle")
    rootfs = os.path.join(b, "rootfs")
    os.makedirs(b)
    subprocess.run(["cp", "-al", image_root, rootfs], check=True)
    for m in spec["containerEdits"].get("mounts", []):
        if os.path.exists(m["hostPath"]) and not m["containerPath"].startswith("/run/"):
            place(m["hostPath"], rootfs + m["containerPath"])
    with open(os.path.join(b, "config.json"), "w") as f:
        json.dump({"ociVersion": "1.0.2", "process": {"args": ["true"], "cwd": "/", "env": []},
                   "root": {"path": "rootfs"}}, f)
    state = os.path.join(work, "state.json")
    with open(state, "w") as f:
        json.dump({"ociVersion": "1.0.2", "id": "nvbind-bench", "status": "creating", "pid": os.getpid(),
                   "bundle": b, "annotations": {}}, f)
    return rootfs, state


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nvbind", required=True)
    ap.add_argument("--runs", type=int, default=100, help="runs of each hook")
    ap.add_argument("--podman-runs", type=int, default=15, help="runs of each podman start")
    a = ap.parse_args()
    nvbind = os.path.abspath(a.nvbind)
    if os.geteuid() != 0 or not shutil.which("podman"):
        print("bench_realhost: needs podman and root; skipped")
        return
    try:
        host = realhost.ensure()
    except realhost.RealHostUnavailable as e:
        print(f"bench_realhost: {e}; skipped")
        return
    work = tempfile.mkdtemp(prefix="nvbind-bench-realhost-", dir=realhost.cache_dir())
    try:
        subprocess.run([nvbind, "--root", host["root"], "cdi", "generate", "--kind", KIND, "--output", SPEC],
                       check=True)
        with open(SPEC) as f:
            spec = json.load(f)
        env = dict(os.environ)
        base = f"podman run --rm {host['image']} true"
        gpu = f"podman run --rm --device {KIND}=0 {host['image']} true"
        b, g = abba(base, gpu, a.podman_runs, env, warmup=3)
        # Container starts stretch with the machine's load: say what it was.
        print(f"driver {host['driver_version']}, image {host['image']}, load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)
        print(f"{'podman run --rm IMAGE true':<44} median {ms(b)}")
        print(f"{'... --device ' + KIND + '=0':<44} median {ms(g)}   added {(g - b) * 1e3:+7.2f} ms   "
              f"{(g / b - 1) * 100:+5.1f} %   (target <= +15 %)", flush=True)
        rootfs, state = bundle(spec, host["image_root"], work)
        hooks = [h for h in spec["containerEdits"].get("hooks", []) if h["hookName"] == "createContainer"]
        cmds, names = [], []
        for h in hooks:
            argv = [h["path"], *h["args"][1:]]
            names.append(" ".join(h["args"][1:3]))
            cmds.append(f"cd {shlex.quote(rootfs)} && {shlex.join(argv)} < {shlex.quote(state)}")
        if not cmds:
            print("the spec has no hooks: nothing to time")
            return
        # The floor for update-ldcache: the image's own ldconfig over the same root.
        floor = f"chroot {shlex.quote(rootfs)} /sbin/ldconfig"
        # hyperfine subtracts its shell's own start from each result.
        times = medians(cmds + [floor], a.runs, {}, warmup=5, shell=True)
        floor_time = times.pop()
        for n, t in zip(names, times):
            print(f"{n:<44} median {ms(t)}", flush=True)
        print(f"{'(floor: chroot ROOT ldconfig, no hook)':<44} median {ms(floor_time)}", flush=True)
        print(f"{'both hooks together':<44} median {ms(sum(times))}   (target <= 20 ms)", flush=True)
    finally:
        if os.path.exists(SPEC):
            os.unlink(SPEC)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
