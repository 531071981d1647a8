"""Medians from hyperfine, and counts that do not move with the machine's load (system calls,
instructions), for the benchmark scripts here."""
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import tempfile


def medians(commands, runs, env, warmup, shell=False):
    """Median seconds of each command, in order: `runs` timed runs after `warmup` untimed
    ones; without a shell (-N) unless shell is true."""
    return [statistics.median(t) for t in timings(commands, runs, env, warmup, shell)]


def timings(commands, runs, env, warmup, shell=False):
    """Every timed run's seconds, a list per command, in order (see medians)."""
    fd, out = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    args = ["hyperfine", *(["-S", "sh"] if shell else ["-N"]), "--warmup", str(warmup), "--runs", str(runs),
            "--export-json", out, "--style", "none"]
    subprocess.run(args + commands, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    with open(out) as f:
        data = json.load(f)
    os.unlink(out)
    return [r["times"] for r in data["results"]]


def abba(base, candidate, runs, env, warmup, shell=False):
    """Medians of base and candidate timed in the order base, candidate, candidate, base, each
    pair averaged: container starts drift over a run (cgroups, page cache), and the order
    cancels the drift out of the difference."""
    b, v, _ = abba_interval(base, candidate, runs, env, warmup, shell)
    return b, v


def abba_interval(base, candidate, runs, env, warmup, shell=False, rounds=2000):
    """abba's two medians, and a 95 % bootstrap interval of what candidate adds to base, as
    a fraction of base: each block's runs resampled with replacement `rounds` times. A
    target such as "adds at most 5 %" is shown met only when the interval's upper end is
    within it; a median alone, on a machine whose starts move by +-10 %, cannot say."""
    t = timings([base, candidate, candidate, base], runs, env, warmup, shell)
    b, v = _abba_of([statistics.median(x) for x in t])
    rng = random.Random(1)  # the same resampling every run: only the timings vary
    added = sorted(_added(*_abba_of([statistics.median(rng.choices(x, k=len(x))) for x in t]))
                   for _ in range(rounds))
    return b, v, (added[int(rounds * 0.025)], added[int(rounds * 0.975) - 1])


def _abba_of(m):
    return (m[0] + m[3]) / 2, (m[1] + m[2]) / 2


def _added(base, value):
    return value / base - 1


def syscalls(argv, env=None):
    """System calls one run of argv makes (strace -c, through its execs), or None without
    strace."""
    if not shutil.which("strace"):
        return None
    fd, out = tempfile.mkstemp(suffix=".strace")
    os.close(fd)
    try:
        subprocess.run(["strace", "-f", "-c", "-o", out, *argv], env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        with open(out) as f:
            m = re.search(r"^100\.00\s+\S+\s+\S+\s+(\d+)", f.read(), re.M)
        return int(m.group(1)) if m else None
    finally:
        os.unlink(out)
