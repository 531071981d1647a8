#!/usr/bin/python3
"""Fast paths (issue 16), one run: on the 8-GPU fake host and, when tests/realhost's cache
holds a built host, on the real-packaging host:

  in-process (bench_api, one warm manager, 2000 calls each timed): the AI/ML spec call, a
  capsule's edits from the kept model (nvbind_get_capsule_edits), the revalidation alone;
  with the system calls (strace -c) and instructions (callgrind) per call beside the times;
  `nvbind info --json` and `nvbind cdi generate` against /bin/true (hyperfine: median and p99),
  with callgrind instruction counts beside them (they do not move with the machine's load)
  and the peak RSS of one run.

usage: bench/bench_api.py [--nvbind PATH] [--bench-api PATH] [--runs N] [--calls N] [--json FILE]
"""
import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "fakehost"))
sys.path.insert(0, os.path.join(REPO, "bench"))
import fakehost  # noqa: E402
from hyperfine import syscalls  # noqa: E402


def realhost_root():
    """The cached real-packaging host root, or None: never built here (that needs the mirror)."""
    cache = os.environ.get("NVBIND_REALHOST_CACHE", "/var/cache/nvbind-tests/realhost")
    for state in sorted(glob.glob(os.path.join(cache, "host-*", "realhost.json"))):
        return os.path.dirname(state)
    return None


def in_process(bench_api, root, mode, calls):
    r = subprocess.run([bench_api, root, mode, str(calls)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        return {"mode": mode, "error": r.stderr.strip()}
    return json.loads(r.stdout)


def per_call_counts(bench_api, root, mode):
    """System calls (strace -c) and instructions (callgrind's Ir) per call of the mode: the
    difference between runs of 250 and 50 calls, over 200 (the start and the warm-up cancel
    out). Neither moves with the machine's load. None for a tool that is missing."""
    def diff(count):
        a, b = count(50), count(250)
        return None if a is None or b is None else (b - a) / 200

    sc = diff(lambda n: syscalls([bench_api, root, mode, str(n)]))
    # The bench's own clock: one CPU-time read (a system call) per call besides the call's.
    return {"syscalls_per_call": sc - 2 if sc is not None else None,
            "ir_per_call": diff(lambda n: instructions([bench_api, root, mode, str(n)]))}


def hyperfine(commands, runs):
    fd, out = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    subprocess.run(["hyperfine", "-N", "--warmup", "20", "--runs", str(runs), "--export-json", out, "--style", "none",
                    *commands], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(out) as f:
        data = json.load(f)
    os.unlink(out)
    res = []
    for r in data["results"]:
        t = sorted(r["times"])
        res.append({"median_us": r["median"] * 1e6, "p99_us": t[min(len(t) - 1, (len(t) * 99) // 100)] * 1e6})
    return res


def instructions(argv, warm=False):
    """Instructions executed by one run (callgrind's Ir total), or None without valgrind.
    warm: count the second of two runs. The host cache (docs/host-cache.md) keys its models
    by the executable that wrote them, and under valgrind that is another one: the first run
    there discovers and writes, as only the very first run of nvbind on a host does."""
    if not shutil.which("valgrind"):
        return None
    d = tempfile.mkdtemp(prefix="nvbind-bench-cg-")
    try:
        for _ in range(2 if warm else 1):
            r = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={d}/cg.out", *argv],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        m = re.search(r"Collected : (\d+)", r.stderr)
        return int(m.group(1)) if m else None
    finally:
        shutil.rmtree(d, ignore_errors=True)


def peak_rss_kib(argv):
    r = subprocess.run(["/usr/bin/time", "-f", "%M", *argv], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       text=True)
    try:
        return int(r.stderr.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None


def bench_host(name, root, a, results):
    print(f"== {name} ({root})", flush=True)
    for mode in ("spec", "edits", "revalidate"):
        r = in_process(a.bench_api, root, mode, a.calls)
        r["host"] = name
        results.append(r)
        if "error" in r:
            print(f"  in-process {mode:<11} not available: {r['error']}")
            continue
        r.update(per_call_counts(a.bench_api, root, mode))
        sc, ir = r["syscalls_per_call"], r["ir_per_call"]
        print(f"  in-process {mode:<11} median {r['median_us']:8.1f} us   p99 {r['p99_us']:8.1f} us   "
              f"(CPU time: median {r['cpu_median_us']:7.1f} us, p99 {r['cpu_p99_us']:7.1f} us)   "
              f"system calls {round(sc, 1) if sc is not None else '-'}   Ir {round(ir) if ir is not None else '-'} per call",
              flush=True)
    true = shutil.which("true")
    cases = {"/bin/true": [true], "info --json": [a.nvbind, "--root", root, "info", "--json"],
             "cdi generate": [a.nvbind, "--root", root, "cdi", "generate"]}
    times = hyperfine([" ".join(c) for c in cases.values()], a.runs)
    base = times[0]["median_us"]
    for (case, argv), t in zip(cases.items(), times):
        ir = instructions(argv, warm=True)
        rss = peak_rss_kib(argv)
        r = {"host": name, "case": case, **t, "ratio": t["median_us"] / base, "instructions": ir, "peak_rss_kib": rss}
        results.append(r)
        print(f"  {case:<14} median {t['median_us']:8.1f} us   p99 {t['p99_us']:8.1f} us   "
              f"ratio {r['ratio']:5.2f}x   Ir {ir if ir is not None else '-':>11}   "
              f"peak RSS {rss / 1024 if rss else 0:5.2f} MiB", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nvbind", default=os.path.join(REPO, "build", "src", "nvbind"))
    ap.add_argument("--bench-api", default=os.path.join(REPO, "build", "bench", "bench_api"))
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--json")
    a = ap.parse_args()
    results = []
    tmp = tempfile.mkdtemp(prefix="nvbind-bench-api-")
    try:
        root = os.path.join(tmp, "host")
        fakehost.build(root, gpus=8, layout="debian")
        bench_host("8-GPU fake host", root, a, results)
        real = realhost_root()
        if real:
            bench_host("real-packaging host", real, a, results)
        else:
            print("tests/realhost's cache holds no built host: the real-packaging host is skipped")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
