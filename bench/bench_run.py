#!/usr/bin/python3
"""Container start with `nvbind run --runtime runc` against plain `runc run`, medians from
hyperfine (-N, warm-up runs first), all measured in this run on a fake host; each comparison
is timed in the order A B B A and the pairs averaged, which cancels drift.

Cases:
  runc run, bundle without GPUs              the baseline: the bundle `nvbind run --gpu none` makes
  nvbind run --gpu none                      nvbind's whole path, no GPU (target: < 5 ms added)
  runc run, the same bundle with GPUs        the bundle `nvbind run --gpu all` makes
  nvbind run --gpu all                       the GPU case (target: < 5 ms added over the line above)
  ... with a new id                          the same, runc also given a new container id per run
  nvbind's own work                          the same two nvbind runs with `runc` replaced by
                                             /bin/true, against /bin/true: what nvbind itself adds
usage: bench/bench_run.py --nvbind PATH [--runs N]

Measured (2026-12-04, --runs 30; nvbind now makes the capsule's loader cache itself before
runc runs and leaves the update-ldcache hook out of the bundle): --gpu all +14.4 ms over runc
run of the same bundle, +52.1 ms over the bundle without GPUs; nvbind's own work +4.6 ms
(--gpu none), +9.4 ms (--gpu all, 1 GPU), of which the cache's work is 0.3-0.5 ms. In a
separate loop of 60 alternated runs, `nvbind run --runtime runc --gpu 0` took 104.2 ms, 115.8
ms with a volume under /usr that keeps the hook, and 105.7 ms with the same volume elsewhere
(the hook itself: 10.1 ms); --gpu none 83.5 ms.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "fakehost"))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))
import fakehost  # noqa: E402
from nvbtest import make_busybox_rootfs  # noqa: E402
from hyperfine import abba, medians  # noqa: E402


WARMUP = 10


def report(name, base_name, base, value, target=None):
    line = (f"{name:<46} median {value * 1e3:8.2f} ms   {base_name:<34} {base * 1e3:8.2f} ms   "
            f"added {(value - base) * 1e3:+7.2f} ms   ratio {value / base:5.2f}x")
    if target:
        line += f"   (target {target})"
    print(line, flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nvbind", required=True)
    ap.add_argument("--runs", type=int, default=100)
    a = ap.parse_args()
    nvbind = os.path.abspath(a.nvbind)
    runc = shutil.which("runc")
    if not runc or os.geteuid() != 0:
        print("bench_run: needs runc and root; skipped")
        return
    tmp = tempfile.mkdtemp(prefix="nvbind-bench-run-")
    state = tempfile.mkdtemp(prefix="nvbind-bench-state-", dir="/dev/shm" if os.path.isdir("/dev/shm") else tmp)
    try:
        root = os.path.join(tmp, "host")
        fakehost.build(root, gpus=1, layout="debian")
        rootfs = make_busybox_rootfs(os.path.join(tmp, "rootfs"))
        config = os.path.join(tmp, "nvbind.toml")
        with open(config, "w") as f:
            # Claims and the audit log in the benchmark's own folder, never the host's.
            # /run is a tmpfs on real hosts: the claim records live on one here too (/dev/shm).
            f.write(f'[isolation]\nstate_dir = "{state}"\naudit_log = "{tmp}/audit.log"\n')
        # Bundles go where they go by default (no TMPDIR): /run/nvbind/bundles for root.
        env = {k: v for k, v in os.environ.items() if k != "TMPDIR"}
        env.update(NVBIND_CONFIG=config, NVBIND_ROOT=root)

        # The baselines run exactly the bundles nvbind makes: a stand-in `runc` on PATH copies
        # each run's config.json out instead of running it.
        capture_bin = os.path.join(tmp, "capture")
        os.makedirs(capture_bin)
        with open(os.path.join(capture_bin, "runc"), "w") as f:
            f.write('#!/bin/sh\nwhile [ "$1" != --bundle ]; do shift; done\ncp "$2/config.json" "$CAPTURE"\n')
        os.chmod(os.path.join(capture_bin, "runc"), 0o755)
        bundles = {}
        for gpus in ("none", "all"):
            path = os.path.join(tmp, "bundle-" + gpus)
            os.makedirs(path)
            subprocess.run([nvbind, "run", "--runtime", "runc", "--gpu", gpus, "--rootfs", rootfs, "--", "/bin/true"],
                           check=True, env=dict(env, PATH=capture_bin + ":" + os.environ["PATH"],
                                                CAPTURE=os.path.join(path, "config.json")))
            bundles[gpus] = path
        plain, gpu = bundles["none"], bundles["all"]

        run_none = f"{nvbind} run --runtime runc --gpu none --rootfs {rootfs} -- /bin/true"
        run_all = f"{nvbind} run --runtime runc --gpu all --rootfs {rootfs} -- /bin/true"
        base_none = f"{runc} run --bundle {plain} nvbind-bench-plain"
        base_all = f"{runc} run --bundle {gpu} nvbind-bench-gpu"
        none_base, none_run = abba(base_none, run_none, a.runs, env, WARMUP)
        all_base, all_run = abba(base_all, run_all, a.runs, env, WARMUP)
        report("nvbind run --runtime runc --gpu none", "runc run, same bundle", none_base, none_run, "< 5 ms added")
        report("nvbind run --runtime runc --gpu all", "runc run, same bundle (GPUs)", all_base, all_run,
               "< 5 ms added")
        report("nvbind run --runtime runc --gpu all", "runc run, bundle without GPUs", none_base, all_run)

        # nvbind runs each container under a new id (nvbind-<pid>-<random>), and a new id
        # costs runc more than reusing one: the same comparisons with a new id for runc too
        # (both through `sh -c`, whose own cost is then on both sides).
        b, r = abba(f"{runc} run --bundle {plain} nvbind-bench-$$", run_none, a.runs, env, WARMUP, shell=True)
        report("nvbind run --gpu none (sh -c)", "runc run, same bundle, new id", b, r, "< 5 ms added")
        b, r = abba(f"{runc} run --bundle {gpu} nvbind-bench-$$", run_all, a.runs, env, WARMUP, shell=True)
        report("nvbind run --gpu all (sh -c)", "runc run, same GPU bundle, new id", b, r, "< 5 ms added")

        # nvbind's own work: runc replaced by /bin/true on PATH.
        fake_bin = os.path.join(tmp, "fakebin")
        os.makedirs(fake_bin)
        os.symlink("/bin/true", os.path.join(fake_bin, "runc"))
        fenv = dict(env, PATH=fake_bin + ":" + os.environ["PATH"])
        m = medians(["/bin/true", run_none, run_all], a.runs * 3, fenv, WARMUP)
        report("nvbind's own work, --gpu none", "/bin/true", m[0], m[1])
        report("nvbind's own work, --gpu all (1 GPU)", "/bin/true", m[0], m[2])
    finally:
        subprocess.run([runc, "delete", "--force", "nvbind-bench-plain"], capture_output=True)
        subprocess.run([runc, "delete", "--force", "nvbind-bench-gpu"], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
