#!/usr/bin/python3
"""Container start with `nvbind run --runtime runc` against plain `runc run`, medians from
hyperfine (-N, warm-up runs first), all measured in this run on a fake host.

Cases:
  runc run, bundle without GPUs              the baseline (`runc spec`, /bin/true)
  nvbind run --gpu none                      nvbind's whole path, no GPU (target: < 5 ms added)
  runc run, the same bundle with GPU edits   baseline for the GPU case (the edits nvbind applies)
  nvbind run --gpu all                       the GPU case
  nvbind's own work                          the same two nvbind runs with `runc` replaced by
                                             /bin/true, against /bin/true: what nvbind itself adds
usage: bench/bench_run.py --nvbind PATH [--runs N]
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


def hyperfine(commands, runs, env):
    fd, out = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    args = ["hyperfine", "-N", "--warmup", "10", "--runs", str(runs), "--export-json", out, "--style", "none"]
    subprocess.run(args + commands, check=True, stdout=subprocess.DEVNULL, env=env)
    with open(out) as f:
        data = json.load(f)
    os.unlink(out)
    return [r["median"] for r in data["results"]]


def report(name, base_name, base, value, target=None):
    line = (f"{name:<46} median {value * 1e3:8.2f} ms   {base_name:<34} {base * 1e3:8.2f} ms   "
            f"added {(value - base) * 1e3:+7.2f} ms   ratio {value / base:5.2f}x")
    if target:
        line += f"   (target {target})"
    print(line, flush=True)


def runc_bundle(path, rootfs, runc):
    os.makedirs(path)
    subprocess.run([runc, "spec", "--bundle", path], check=True)
    with open(os.path.join(path, "config.json")) as f:
        config = json.load(f)
    config["root"] = {"path": rootfs, "readonly": False}
    config["process"]["terminal"] = False
    config["process"]["args"] = ["/bin/true"]
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(config, f)
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nvbind", required=True)
    ap.add_argument("--runs", type=int, default=100)
    a = ap.parse_args()
    nvbind = os.path.abspath(a.nvbind)
    shim = os.path.join(os.path.dirname(nvbind), "nvbind-runtime")
    runc = shutil.which("runc")
    if not runc or os.geteuid() != 0:
        print("bench_run: needs runc and root; skipped")
        return
    tmp = tempfile.mkdtemp(prefix="nvbind-bench-run-")
    try:
        root = os.path.join(tmp, "host")
        fakehost.build(root, gpus=1, layout="debian")
        rootfs = make_busybox_rootfs(os.path.join(tmp, "rootfs"))
        tmpdir = os.path.join(tmp, "tmpdir")
        os.makedirs(tmpdir)
        config = os.path.join(tmp, "nvbind.toml")
        with open(config, "w") as f:
            f.write("")
        env = dict(os.environ, TMPDIR=tmpdir, NVBIND_CONFIG=config, NVBIND_ROOT=root)

        plain = runc_bundle(os.path.join(tmp, "plain"), rootfs, runc)
        # The same bundle with the GPU edits, applied by nvbind's own patcher (through the shim,
        # with /bin/true standing in for the real runtime so only the edit happens).
        gpu = runc_bundle(os.path.join(tmp, "gpu"), rootfs, runc)
        with open(os.path.join(gpu, "config.json")) as f:
            c = json.load(f)
        c["annotations"] = {"nvbind.gpus": "all"}
        with open(os.path.join(gpu, "config.json"), "w") as f:
            json.dump(c, f)
        true_cfg = os.path.join(tmp, "true.toml")
        with open(true_cfg, "w") as f:
            f.write('[runtime]\noci_runtime = "/bin/true"\n')
        subprocess.run([shim, "create", "--bundle", gpu, "x"], check=True, env=dict(env, NVBIND_CONFIG=true_cfg))

        run_none = f"{nvbind} run --runtime runc --gpu none --rootfs {rootfs} -- /bin/true"
        run_all = f"{nvbind} run --runtime runc --gpu all --rootfs {rootfs} -- /bin/true"
        m = hyperfine([f"{runc} run --bundle {plain} nvbind-bench-plain", run_none,
                       f"{runc} run --bundle {gpu} nvbind-bench-gpu", run_all], a.runs, env)
        report("nvbind run --runtime runc --gpu none", "runc run (bundle without GPUs)", m[0], m[1], "< 5 ms added")
        report("nvbind run --runtime runc --gpu all", "runc run (same bundle, GPU edits)", m[2], m[3], "< 5 ms added")
        report("nvbind run --runtime runc --gpu all", "runc run (bundle without GPUs)", m[0], m[3])

        # nvbind's own work: runc replaced by /bin/true on PATH.
        fake_bin = os.path.join(tmp, "fakebin")
        os.makedirs(fake_bin)
        os.symlink("/bin/true", os.path.join(fake_bin, "runc"))
        fenv = dict(env, PATH=fake_bin + ":" + os.environ["PATH"])
        m = hyperfine(["/bin/true", run_none, run_all], a.runs * 3, fenv)
        report("nvbind's own work, --gpu none", "/bin/true", m[0], m[1])
        report("nvbind's own work, --gpu all (1 GPU)", "/bin/true", m[0], m[2])
    finally:
        subprocess.run([runc, "delete", "--force", "nvbind-bench-plain"], capture_output=True)
        subprocess.run([runc, "delete", "--force", "nvbind-bench-gpu"], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
