#!/usr/bin/python3
"""nvbind device-plugin: Allocate latency and the plugin's memory, on an 8-GPU fake host with
the Python kubelet peer of the tests (tests/e2e/fakekubelet.py).

  Allocate            p50/p99 over --calls calls (one GPU each, cycling through the 8; the
                      spec is written by the first and checked by each; target p99 < 2 ms)
  baseline            p50/p99 of GetDevicePluginOptions, an RPC that does nothing: what the
                      Python client and the gRPC transport cost by themselves
  RSS                 the plugin's VmRSS and threads after the calls, and its private part
                      (smaps_rollup Private_Dirty: what the process itself holds; the rest is
                      code: its own executable, gRPC's in it when linked with -Dstatic_deps,
                      and libc's)
                      (target < 8 MiB; measured 7.0 to 7.3 MiB, of which 0.9 private, and 10.1
                      MiB with gRPC's shared libraries, -Dstatic_deps=false; docs/kubernetes.md)
  --smaps             also the resident memory by mapping (file, heap, stacks), largest first
usage: bench/bench_device_plugin.py [--nvbind PATH] [--calls N] [--smaps]
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))
from nvbtest import NVBIND, FakeHost  # noqa: E402
from fakekubelet import FakeKubelet, pb  # noqa: E402


def percentiles(samples):
    s = sorted(samples)
    return s[len(s) // 2], s[min(len(s) - 1, int(len(s) * 0.99))]


def timed(fn, calls):
    out = []
    for i in range(calls):
        t = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - t)
    return out


def kib(status_text, key):
    for line in status_text.splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return -1


def rss_by_mapping(pid):
    """{mapping name: resident KiB} from /proc/PID/smaps, anonymous mappings as "[anon]"."""
    out, name = {}, None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            parts = line.split()
            if "-" in parts[0] and len(parts) >= 5 and ":" in parts[3]:
                name = os.path.basename(parts[5]) if len(parts) > 5 else "[anon]"
            elif parts[0] == "Rss:":
                out[name] = out.get(name, 0) + int(parts[1])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nvbind", default=NVBIND)
    ap.add_argument("--calls", type=int, default=1000)
    ap.add_argument("--smaps", action="store_true")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="nvbind-bench-dp-")
    host = FakeHost(gpus=8)
    kubelet = FakeKubelet(os.path.join(tmp, "kubelet"))
    kubelet.start()
    # A file's pages written but not yet on disk count as the mapping process's Private_Dirty:
    # an executable just linked would show its code as the plugin's own memory.
    os.sync()
    p = subprocess.Popen([a.nvbind, *host.args, "device-plugin", "--kubelet-dir", kubelet.dir,
                          "--cdi-dir", os.path.join(tmp, "cdi")], stderr=subprocess.DEVNULL)
    try:
        reg = kubelet.wait_registration(timeout=30)
        stub = kubelet.plugin(reg.endpoint)
        ids = [g["uuid"] for g in host.manifest["gpus"]]
        for i in range(50):  # warm-up: connection, first spec write
            stub.Allocate(pb.AllocateRequest(container_requests=[pb.ContainerAllocateRequest(devices_ids=[ids[0]])]))
        base = timed(lambda i: stub.GetDevicePluginOptions(pb.Empty()), a.calls)
        alloc = timed(lambda i: stub.Allocate(pb.AllocateRequest(container_requests=[
            pb.ContainerAllocateRequest(devices_ids=[ids[i % 8]])])), a.calls)
        with open("/proc/%d/status" % p.pid) as f:
            status = f.read()
        rss, threads = kib(status, "VmRSS"), kib(status, "Threads")
        with open("/proc/%d/smaps_rollup" % p.pid) as f:
            private = kib(f.read(), "Private_Dirty")
        b50, b99 = percentiles(base)
        a50, a99 = percentiles(alloc)
        print("Allocate (8-GPU host, %d calls)   p50 %.3f ms   p99 %.3f ms   (target p99 < 2 ms)" % (
            a.calls, a50 * 1e3, a99 * 1e3))
        print("baseline GetDevicePluginOptions   p50 %.3f ms   p99 %.3f ms" % (b50 * 1e3, b99 * 1e3))
        print("plugin RSS                        %.1f MiB, of which private %.1f MiB, %d threads"
              "   (target < 8 MiB)" % (rss / 1024, private / 1024, threads))
        if a.smaps:
            for name, k in sorted(rss_by_mapping(p.pid).items(), key=lambda kv: -kv[1])[:15]:
                print("  %7.2f MiB  %s" % (k / 1024, name))
    finally:
        p.terminate()
        p.wait()
        kubelet.stop()
        host.remove()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
