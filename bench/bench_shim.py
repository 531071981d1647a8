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
usage: bench/bench_shim.py --nvbind PATH [--runs N]
"""
import argparse
import json
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


WARMUP = 20


def report(name, base_name, base, value, target=None):
    line = (f"{name:<46} median {value * 1e3:8.3f} ms   {base_name:<26} {base * 1e3:8.3f} ms   "
            f"added {(value - base) * 1e3:+7.3f} ms")
    if target:
        line += f"   (target {target})"
    print(line, flush=True)


def bundle(path, rootfs, runc, annotations=None):
    os.makedirs(path)
    subprocess.run([runc, "spec", "--bundle", path], check=True)
    with open(os.path.join(path, "config.json")) as f:
        config = json.load(f)
    config["root"] = {"path": rootfs, "readonly": False}
    config["process"]["terminal"] = False
    config["process"]["args"] = ["/bin/true"]
    if annotations:
        config["annotations"] = annotations
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(config, f)
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nvbind", required=True)
    ap.add_argument("--runs", type=int, default=100)
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
        env = dict(os.environ, NVBIND_ROOT=root, NVBIND_CONFIG=true_cfg)

        # Edit once: later runs rewrite the same content (the edit is idempotent).
        subprocess.run([shim, "create", "--bundle", req, "x"], check=True, env=env)
        m = medians(["/bin/true create --bundle {} x".format(plain),
                     f"{shim} create --bundle {plain} x",
                     f"{shim} create --bundle {req} x",
                     f"{shim} state x"], a.runs * 3, env, WARMUP)
        report("shim create, no GPU request", "/bin/true", m[0], m[1], "< 1 ms added")
        report("shim create, all GPUs (edit + write)", "/bin/true", m[0], m[2], "< 1 ms added")
        report("shim pass-through (state)", "/bin/true", m[0], m[3], "< 1 ms added")

        runc_cfg = os.path.join(tmp, "runc.toml")
        with open(runc_cfg, "w") as f:
            f.write(f'[runtime]\noci_runtime = "{runc}"\n' + isolation)
        env = dict(env, NVBIND_CONFIG=runc_cfg)
        base, run = abba(f"{runc} run --bundle {req} nvbind-bench-shim-a",
                         f"{shim} run --bundle {req} nvbind-bench-shim-b", a.runs, env, WARMUP)
        report("nvbind-runtime run, all GPUs", "runc run (same bundle)", base, run, "< 1 ms added")
    finally:
        for c in ("nvbind-bench-shim-a", "nvbind-bench-shim-b"):
            subprocess.run([runc, "delete", "--force", c], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
        if state:
            shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
