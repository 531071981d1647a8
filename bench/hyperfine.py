"""Medians from hyperfine, and counts that do not move with the machine's load (system calls,
instructions), for the benchmark scripts here."""
import json
import os
import re
import shutil
import subprocess
import tempfile


def medians(commands, runs, env, warmup, shell=False):
    """Median seconds of each command, in order: `runs` timed runs after `warmup` untimed
    ones; without a shell (-N) unless shell is true."""
    fd, out = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    args = ["hyperfine", *(["-S", "sh"] if shell else ["-N"]), "--warmup", str(warmup), "--runs", str(runs),
            "--export-json", out, "--style", "none"]
    subprocess.run(args + commands, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    with open(out) as f:
        data = json.load(f)
    os.unlink(out)
    return [r["median"] for r in data["results"]]


def abba(base, candidate, runs, env, warmup, shell=False):
    """Medians of base and candidate timed in the order base, candidate, candidate, base, each
    pair averaged: container starts drift over a run (cgroups, page cache), and the order
    cancels the drift out of the difference."""
    m = medians([base, candidate, candidate, base], runs, env, warmup, shell)
    return (m[0] + m[3]) / 2, (m[1] + m[2]) / 2


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
