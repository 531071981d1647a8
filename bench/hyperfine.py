"""Medians from hyperfine, for the benchmark scripts here."""
import json
import os
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
