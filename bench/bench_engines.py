#!/usr/bin/python3
"""Container start through real engines, with and without nvbind, medians from hyperfine
(-N, warm-up runs first), all measured in this run on a one-GPU fake host; each comparison
is timed in the order A B B A and the pairs averaged, which cancels drift. The engines are
the test suite's own containerd and dockerd (tests/e2e/daemons.py: private state and
sockets, stopped at exit); nvbind-runtime is registered in that dockerd's daemon.json by
`nvbind runtime configure --runtime docker` and given to ctr as --runc-binary.

Cases (baseline: the same engine, same image, no GPU):
  docker run --rm IMG true                              the docker baseline
  docker run --rm --runtime nvbind IMG true             the shim passing a container through
  docker run --rm --runtime nvbind
             -e NVIDIA_VISIBLE_DEVICES=0 IMG true       the shim adding GPU 0 (target: <= +5 %)
  nvbind run --runtime docker --gpu 0 IMG true          nvbind run's whole path
  ctr run --rm IMG ID true                              the ctr baseline
  ctr run --rm --runc-binary nvbind-runtime IMG ID true the shim passing a container through
  ctr run --rm --runc-binary nvbind-runtime
          --env NVIDIA_VISIBLE_DEVICES=0 IMG ID true    the shim adding GPU 0 (target: <= +5 %)
  nvbind run's own work                                 nvbind run --runtime docker with docker
                                                        replaced by /bin/true, against /bin/true
                                                        (target: <= 5 ms added)
nvbind run has no ctr engine (podman, docker, bolt, runc, crun): ctr has no nvbind run case.

docker client: nvbind run runs the `docker` on PATH; both the baselines and nvbind run use
the one chosen by --docker (default: the client tests/e2e/daemons.py uses, Debian's); when
nvbind run cannot probe the daemon with it, that case is timed with /usr/local/bin/docker.
A container start takes a second here: give bench/run a small --runs (5 to 10).

Measured (2026-12-04, --runs 10, nvbind and nvbind-runtime static-pie): docker + shim no
request -2.3 % (95 % interval -4.2 .. +1.5), GPU 0 +4.5 % (-2.2 .. +11.6); nvbind run
--runtime docker --gpu 0 -4.8 %; ctr + shim no request +2.3 % (-1.1 .. +5.8), GPU 0 +10.7 %
(+7.2 .. +16.5: the update-ldcache hook, 10 ms by bench_hooks.py, of which 6 ms without
ldconfig's own scan, and runc's bind mounts); nvbind run's own work +2.2 ms less its child.

Measured (2026-12-04, next stop, two runs of --runs 10): docker + shim GPU 0 +6.2 % (+4.0 ..
+10.5) and +0.5 % (-5.6 .. +7.1), no request +4.7 % and +10.6 %; nvbind run --runtime docker
--gpu 0 +12.2 % and -0.1 %; ctr + shim GPU 0 +10.5 % (+7.5 .. +14.5) and +13.6 % (+7.0 ..
+19.9), no request +15.4 % (a run that shared the machine with other work) and -1.5 %;
nvbind run's own work +2.5 / +2.4 ms less its child, the legacy form +7.3 ms. What the GPU
adds to runc's create (40 bundles alternated, all capabilities): 83 ms plain, 95 ms with the
mounts and devices, 101 ms with a /bin/true createContainer hook in place of nvbind's, 115 ms
with nvbind's update-ldcache: runc's hook machinery ~5 ms, the hook's own process and
ldconfig ~14 ms, the bind mounts ~12 ms.

Measured (2026-12-04, the stop after, two runs of --runs 10, the update-ldcache hook's
sandbox child sharing the hook's memory until its exec: 1.2 to 2.3 ms less per hook by
bench_hooks.py): docker + shim GPU 0 -0.5 % (-3.5 .. +6.4) and +4.7 % (+1.8 .. +8.8), no
request +9.4 % and -6.3 %; nvbind run --runtime docker --gpu 0 +12.7 % and +6.2 %; ctr + shim
GPU 0 +3.0 % (-1.2 .. +12.8) and +10.9 % (+8.7 .. +15.4), no request -1.2 % and +4.4 %;
nvbind run's own work +2.1 / +3.6 ms less its child (+2.6 / +1.8 ms CPU), the legacy form
+9.3 / +5.9 ms. A third run that shared the machine with a compiler was dropped (ctr's
baseline took 392-436 ms instead of 255-269). The hook's saving is under 1 % of a ctr
start, inside the run-to-run spread; ctr with a GPU is not reliably within +5 %.

Measured (2026-12-05, --ctr-only): six runs on the same builds' line (10-30 rounds each): ctr
+ shim GPU 0 +3.6, +6.1, +10.3, +7.0, +10.1, +3.3 %; no request -0.0, +5.1, +7.6, +15.6,
+7.4, +1.7 %. The pass-through case alone spans 15 points: this machine cannot tell the 5 %
target.

Measured (2026-12-04, the stop where nvbind-runtime makes the loader cache before runc and
leaves the update-ldcache hook out): --ctr-only, this build and the last stop's alternated,
four runs each (two of --runs 10, two of --runs 20). ctr + shim GPU 0: this build +10.9,
+9.3, +1.4, +10.3 %; the last stop's +2.0, +2.3, +12.3, +12.3 %. No request: +6.9, +6.8,
+3.7, +4.4 % against +13.4, +7.6, +10.6, +4.8 %. ctr's own start moved 250-318 ms between
runs: the 10 ms the hook cost (`nvbind-runtime run` of a GPU 0 bundle against `runc run` of a
plain one, 40 alternated rounds: +20.7 ms with the last stop's build, +10.4 ms with this one)
does not show at this spread.

Measured (2026-12-03, four runs of --runs 5, the last through `bench/run engines`, on a
2-core machine shared with other jobs: a container start varied by +-15 % between identical
runs, so single results within that band are noise):
  docker (20.10 daemon) + shim, no request          -2, -7, -6 %
  docker + shim, NVIDIA_VISIBLE_DEVICES=0           +15, -9, -17, +33 %
  nvbind run --runtime docker --gpu 0               +56, +32, +20 %    with the docker 28 client:
                                                    Debian's 20.10 client fails nvbind's
                                                    `docker info --format` probe (exit 7)
  ctr + shim, no request                            -11, +9, +11 %
  ctr + shim, NVIDIA_VISIBLE_DEVICES=0              +32, +39, +40, +17 %   (+70..240 ms)
  nvbind run's own work                             +50 ms (audit log on disk), then on tmpfs
                                                    +37, +26 ms; less its two /bin/true
                                                    children +23, +12 ms (/bin/true: 6-7 ms)

Measured again (2026-12-03, one run of --runs 5 each, load average 12-15 on the 2 cores: a
container start took 1-4 s and identical cases moved by +-25 %), Debian's 20.10 client:
                                          before               after (the daemon asked
                                          (client probed       over its socket)
                                          twice in a row)
  docker + shim, no request               +24.5 %              -10.5 %
  docker + shim, NVIDIA_VISIBLE_DEVICES=0 +17.2 % (+581 ms)    +22.0 % (+523 ms)
  nvbind run --runtime docker --gpu 0     +112.6 % (+3245 ms)  +27.5 % (+737 ms)   (now
                                          through the shim, which this dockerd registers)
  ctr + shim, no request                  +8.8 %               -25.9 %
  ctr + shim, NVIDIA_VISIBLE_DEVICES=0    +84.2 % (+870 ms)    +39.5 % (+522 ms)
  nvbind run's own work (docker=/bin/true) 156 ms (+138; less   through the shim 73.6 ms
                                          two children +103)   (+69.5; less one child +65.5);
                                                               own claims 81.4 ms (+79)
  ... its own CPU time (perf stat          -                    through the shim +6.9 ms,
      --no-inherit, less /bin/true's)                          own claims +12.8 ms
Then with the /info request sent before discovery and the init asked of the socket (--own-only,
load average 16: /bin/true took 24 ms): through the shim 195 ms (+171), own claims 265 ms
(+238); own CPU +7.3 and +13.1 ms. Since nvbind asks the daemon itself, these wall times hold
the daemon's answer to GET /info (which the /bin/true client of the first rows never gave),
and on this machine they follow its load more than anything nvbind does.
The wall time left is waiting, not work: nvbind's own CPU is under 7 ms on the shim route,
and the shim's create with a GPU request is 10-13 ms of CPU (perf stat, the real runtime
replaced by /bin/true), most of it in the kernel (exec, page faults, ~500 system calls of
discovery), 1 % of a one-second container start.

The shim's share of a container start (2026-12-03; issue 11's target: <= +5 % with a GPU).
On an idle machine (--runs 10): docker + shim, no request +10.1 ms (+1.7 %), GPU 0 +53.4 ms
(+8.0 %); ctr + shim, no request +19.3 ms (+6.3 %), GPU 0 +89.9 ms (+29.5 %). Where the
ctr GPU case's +90 ms went (sched tracepoints, one start at load ~1): 4 shim execs (create,
start, delete, delete --force) of ~3.5-5 ms each before runc's exec, the create's discovery
+6 ms, runc's 69 bind mounts of driver files ~27 ms (43 system calls each in runc init:
+3500 per start; the mount options do not matter, their number does), two hook processes
~26 ms (create-symlinks 9 ms; update-ldcache 25 ms, ldconfig 5-10 ms of it) with 3 fsyncs
on the container's disk. Changed: one hook process (update-ldcache --link), no fsync of the
container's loader files (ldconfig's answered by its seccomp filter), no runtime-log line for
pass-through commands. Counts per ctr start with GPU 0 (perf on containerd's tree, 3 starts,
load-independent): nvbind's processes 7 execs -> 6, 2788 system calls -> 2328 (hooks 885 ->
439), fsyncs on the container's disk 3 -> 0; without a request 512 -> 499 system calls.
Wall times interleaved before/after/baseline at load 4-8 (20 rounds ctr, 12 docker) moved
by +-30 ms (ctr) and +-200 ms (docker) between identical cases, more than these changes:
ctr + shim GPU 0 +219 -> +186 ms (paired after-before -4 ms), no request +32 -> +17 ms;
docker not resolvable at that load. What is left of the GPU case is runc's per-mount work
and the shim's execs: within 5 % needs fewer mounts (the profile's files per
NVIDIA_DRIVER_CAPABILITIES) more than anything in the shim.

Then with docker's /info kept between runs (runtime/docker_info_cache.h: the daemon takes
~20 ms idle, 40-60 ms loaded, to answer it, since it runs `runc --version` and `docker-init
--version` each time), the nvbind group looked up only for a folder shared with it (its NSS
modules were loaded twice a run), the container-init watcher forked once and the container's
name from getrandom() (2026-12-03, --own-only --runs 5, the old and new binaries alternated on
the same daemons, load average 4 on the 2 cores shared with other jobs; added to /bin/true):
                                          before               after
  through the shim, wall                  +56.3, +32.2 ms      +15.9, +15.2 ms
  ... its own CPU                         +13.2, +8.5 ms       +8.1, +6.8 ms
  own claims, legacy form, wall           +72.3, +44.9 ms      +27.9, +24.3 ms
  ... its own CPU                         +17.5, +15.6 ms      +12.4, +12.7 ms
On a quieter moment (/bin/true 2.1 ms) the shim route measured 9.96 ms: +7.9 ms, +5.8 ms
less its /bin/true child, +4.6 ms of CPU. What load does not move (strace -f, one run):
system calls through the shim 810 -> 612 (nvbind alone 771 -> 573), own claims 1095 -> 709
(1030 -> 662); GET /info 1 -> 0; page faults of nvbind alone 200 -> 163 and 240 -> 201;
forks 1 and 3 -> 1 and 2; fsync 3 and 5, unchanged (the claim records and their folder: free
on /run, a tmpfs, and kept for a state_dir on disk: docs/isolation.md). What is left: process
start and discovery (~400 of the system calls; `nvbind run --dry-run --runtime podman`, which
stops there, costs +2.5 ms of CPU over /bin/true and 115 page faults to its 48, `nvbind
--version` +0.2 to 1.5 ms), the claims, the fork and exec of the engine, and for the legacy form the claim rewrite
naming the client, the watcher and the daemon's answer on the container after the client.

Then the fork (2026-12-03, page-fault counts by perf record with call graphs): through the
shim, nvbind forked the docker client behind the claim gate (the child waits until its pid is
recorded), although the shim claims there and nvbind records nothing. The fork made every page
nvbind wrote afterwards a copy-on-write fault, in both processes: 60 of its 230 faults. Now
that route spawns the client the plain way (posix_spawn, no copy): 229 -> 174 faults with the
/bin/true client, --own-only --runs 5 on an idle machine +5.66 -> +4.49 ms less the child,
CPU +4.70 -> +4.09 ms; the full run of --runs 10 after: +4.33 ms, CPU +2.91 ms. Full RELRO
(-z now) took the child's lazy-binding faults off the gated routes (235 -> 222 faults before
the change above). Tried and not kept: freeing the host model before the engine starts, and
malloc_trim or M_MXFAST=0 before the gate's fork (moved the faults, not their number).

Then with a 95 % bootstrap interval beside each median (hyperfine.abba_interval: each abba
block's runs resampled 2000 times), and creates without a request passed through unparsed
(2026-12-03, --runs 10, idle machine; docker starts took 600-700 ms in this run):
  docker + shim, no request          +5.6 %   interval -2.6 .. +11.2 %
  docker + shim, GPU 0               +6.6 %   interval +2.3 .. +9.3 %
  nvbind run --runtime docker --gpu 0 +13.2 %  interval +9.7 .. +15.6 %
  ctr + shim, no request             +14.2 %  interval +10.0 .. +17.2 %
  ctr + shim, GPU 0                  +13.9 %  interval +10.7 .. +16.4 %
So the 5 % target is not met with a GPU on either engine, nor for ctr without one: ctr's
start is short (270 ms), and the shim's four execs (create, start, delete, delete --force,
2.8-4.8 ms each in a start's timeline, against 1.6-1.8 ms alone) are most of ctr's no-request
share. nvbind run's own work through the shim: +5.6 ms less its child, +4.1 ms CPU (the old
and new binaries alternated twice: +3.6 and +4.1 ms CPU, within this machine's spread).
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
import daemons  # noqa: E402
from nvbtest import make_busybox_rootfs  # noqa: E402
from test_containerd import oci_archive  # noqa: E402
from hyperfine import abba_interval, medians  # noqa: E402

WARMUP = 2  # a container start is hundreds of ms: a few warm-up runs settle the caches
NAMESPACE = "nvbind-bench"
NEWER_DOCKER = "/usr/local/bin/docker"  # a docker 28 client, next to Debian's 20.10 one
CTR_IMAGE = "localhost/nvbind-bench-engines:latest"


def report(name, base_name, base, value, target=None, interval=None):
    line = (f"{name:<44} median {value * 1e3:8.2f} ms   {base_name:<26} {base * 1e3:8.2f} ms   "
            f"added {(value - base) * 1e3:+7.2f} ms   {(value / base - 1) * 100:+6.1f} %")
    if interval:
        line += f"   95 % interval {interval[0] * 100:+.1f} .. {interval[1] * 100:+.1f} %"
    if target:
        line += f"   (target {target})"
    print(line, flush=True)


def report_abba(name, base_name, base_cmd, cmd, a, env, target=None):
    """Time base_cmd and cmd in abba order and report the medians with the bootstrap
    interval of what cmd adds (hyperfine.abba_interval)."""
    b, v, interval = abba_interval(base_cmd, cmd, a.runs, env, WARMUP)
    report(name, base_name, b, v, target, interval)


def write(path, text, mode=None):
    with open(path, "w") as f:
        f.write(text)
    if mode:
        os.chmod(path, mode)
    return path


def check(argv, env, what):
    """Run argv once before timing it: a case that fails is reported, not timed."""
    r = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300)
    if r.returncode != 0:
        print(f"{what}: exit status {r.returncode}: {r.stderr.strip().splitlines()[-1:] or ''}", flush=True)
        return False
    return True


def bench_docker(a, tmp, env, shim, nvbind):
    # daemon.json of the legacy form's dockerd (own_work), written now: nvbind keeps a daemon's
    # /info only when its configuration predates it (runtime/docker_info_cache.h), as on a host.
    os.makedirs(os.path.join(tmp, "plain"))
    plain_conf = write(os.path.join(tmp, "plain", "daemon.json"), "{}\n")
    conf = write(os.path.join(tmp, "daemon.json"), "{}\n")
    subprocess.run([nvbind, "runtime", "configure", "--runtime", "docker", "--config", conf,
                    "--runtime-path", shim], check=True, stdout=subprocess.DEVNULL)
    d = daemons.extra_dockerd("dockerd-bench-engines", conf)
    image = daemons.docker_import(d, make_busybox_rootfs(os.path.join(tmp, "rootfs-docker")),
                                  tag="nvbind-bench-engines:latest")
    # nvbind run runs `docker` from PATH: put the chosen client first.
    client_bin = os.path.join(tmp, "client")
    os.makedirs(client_bin)
    os.symlink(a.docker, os.path.join(client_bin, "docker"))
    denv = dict(env, PATH=client_bin + ":" + env["PATH"], **d.env)
    print(f"docker client: {a.docker}", flush=True)
    base = f"{a.docker} run --rm --network none {image} true"
    shim_none = f"{a.docker} run --rm --network none --runtime nvbind {image} true"
    shim_run = f"{a.docker} run --rm --network none --runtime nvbind -e NVIDIA_VISIBLE_DEVICES=0 {image} true"
    run = f"{nvbind} run --runtime docker --gpu 0 {image} true"
    if a.own_only:
        own_work(a, tmp, denv, env, d, run, plain_conf)
        return
    if check(shim_none.split(), denv, "docker run --runtime nvbind"):
        report_abba("docker run --runtime nvbind, no request", "docker run --rm", base, shim_none, a, denv, "<= +5 %")
    if check(shim_run.split(), denv, "docker run --runtime nvbind -e NVIDIA_VISIBLE_DEVICES=0"):
        report_abba("docker run --runtime nvbind -e ..=0", "docker run --rm", base, shim_run, a, denv, "<= +5 %")
    # nvbind run probes the daemon with `docker info --format`; a client that cannot answer
    # the probe fails the run (exit 7): then the case is timed with the newer client, when
    # there is one, on both sides.
    for client in dict.fromkeys([a.docker, NEWER_DOCKER]):
        if not os.path.exists(client):
            continue
        os.unlink(os.path.join(client_bin, "docker"))
        os.symlink(client, os.path.join(client_bin, "docker"))
        if check(run.split(), denv, f"nvbind run --runtime docker (docker client {client})"):
            print(f"nvbind run --runtime docker: timed with docker client {client}, its baseline too", flush=True)
            report_abba("nvbind run --runtime docker --gpu 0", "docker run --rm",
                        f"{client} run --rm --network none {image} true", run, a, denv)
            break

    own_work(a, tmp, denv, env, d, run, plain_conf)


def own_work(a, tmp, denv, env, d, run, plain_conf):
    """nvbind run's own work: the docker client replaced by /bin/true. nvbind asks the daemon
    itself over its socket, so the route is the real one: through the shim (this dockerd
    registers it: one child, `docker run`), and with nvbind's own claims (a second 20.10
    dockerd without it: one child, `docker run`; the container's init is asked of the socket).
    Both daemons' daemon.json predate them, as on a host: nvbind keeps their /info."""
    fake_bin = os.path.join(tmp, "fakebin")
    os.makedirs(fake_bin)
    os.symlink("/bin/true", os.path.join(fake_bin, "docker"))
    plain = daemons.extra_dockerd("dockerd-bench-plain", plain_conf)
    for what, host, children in (("through the shim", d.host, 1), ("own claims, legacy form", plain.host, 1)):
        fenv = dict(denv, PATH=fake_bin + ":" + env["PATH"], DOCKER_HOST=host)
        m = medians(["/bin/true", run], a.runs * 10, fenv, WARMUP * 5)
        report(f"nvbind run's own work, {what}", "/bin/true", m[0], m[1], "<= 5 ms added")
        # On a busy machine a process start is several ms: what is left without the stand-ins
        # it waits for is nvbind's own.
        print(f"{'... less its ' + str(children) + ' /bin/true children':<44} added "
              f"{(m[1] - (children + 1) * m[0]) * 1e3:+7.2f} ms", flush=True)
        cpu = own_cpu_ms(run.split(), fenv, a.runs * 10)
        if cpu:
            print(f"{'... its own CPU time (perf, not children)':<44} median {cpu[1]:8.2f} ms   /bin/true "
                  f"{cpu[0]:8.2f} ms   added {cpu[1] - cpu[0]:+7.2f} ms", flush=True)


def own_cpu_ms(argv, env, runs):
    """Median task-clock (ms) of /bin/true and of argv's own process (perf stat --no-inherit:
    its children not counted), or None without a working perf. Unlike wall time, the CPU a
    process spends does not grow with the waits a loaded machine adds."""
    if not shutil.which("perf"):
        return None
    out = []
    for cmd in (["/bin/true"], argv):
        times = []
        for _ in range(runs):
            r = subprocess.run(["perf", "stat", "--no-inherit", "-x,", "-e", "task-clock", *cmd], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            line = [x for x in r.stderr.splitlines() if x.endswith("task-clock") or ",task-clock," in x]
            if r.returncode != 0 or not line:
                return None
            times.append(float(line[-1].split(",")[0]))
        out.append(sorted(times)[len(times) // 2])
    return out


def bench_ctr(a, tmp, env, shim):
    c = daemons.containerd_daemon()
    ctr = ["ctr", "--address", c.socket, "--namespace", NAMESPACE]
    archive = os.path.join(tmp, "image.tar")
    oci_archive(make_busybox_rootfs(os.path.join(tmp, "rootfs-ctr")), archive, CTR_IMAGE, ["PATH=/bin"])
    subprocess.run(ctr + ["images", "import", archive], check=True, stdout=subprocess.DEVNULL, env=env)
    # The same id on both sides would collide if one run's --rm were late: one id per command.
    base = " ".join(ctr + ["run", "--rm", CTR_IMAGE, "nvbind-bench-a", "true"])
    shim_none = " ".join(ctr + ["run", "--rm", "--runc-binary", shim, CTR_IMAGE, "nvbind-bench-c", "true"])
    shim_run = " ".join(ctr + ["run", "--rm", "--runc-binary", shim, "--env", "NVIDIA_VISIBLE_DEVICES=0",
                               CTR_IMAGE, "nvbind-bench-b", "true"])
    if check(shim_none.split(), env, "ctr run --runc-binary nvbind-runtime"):
        report_abba("ctr run --runc-binary nvbind-runtime, no req.", "ctr run --rm", base, shim_none, a, env,
                    "<= +5 %")
    if check(shim_run.split(), env, "ctr run --runc-binary nvbind-runtime --env NVIDIA_VISIBLE_DEVICES=0"):
        report_abba("ctr run --runc-binary nvbind-runtime", "ctr run --rm", base, shim_run, a, env, "<= +5 %")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nvbind", required=True)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--docker", default=daemons.DOCKER_CLI)
    ap.add_argument("--own-only", action="store_true", help="only nvbind run's own work (no container starts timed)")
    ap.add_argument("--ctr-only", action="store_true", help="only the ctr cases (more --runs in the same time)")
    a = ap.parse_args()
    nvbind = os.path.abspath(a.nvbind)
    shim = os.path.join(os.path.dirname(nvbind), "nvbind-runtime")
    why = daemons.missing() or (None if shutil.which("ctr") else "ctr is not installed")
    if why:
        print(f"bench_engines: {why}; skipped")
        return
    # hyperfine's -N splits commands on spaces: paths here hold none.
    tmp = tempfile.mkdtemp(prefix="nvbind-bench-engines-")
    state = tempfile.mkdtemp(prefix="nvbind-bench-state-", dir="/dev/shm" if os.path.isdir("/dev/shm") else tmp)
    try:
        root = os.path.join(tmp, "host")
        fakehost.build(root, gpus=1, layout="debian")
        # Claims, the audit log and the CDI specs in the benchmark's own folders, never the host's;
        # containers without a network (the suite's dockerd has no bridge). Claims and audit log
        # on a tmpfs (/run is one on real hosts): the fsyncs nvbind does for them wait on this
        # machine's shared disk for tens of ms when other jobs write to it.
        os.makedirs(os.path.join(state, "claims"))
        config = write(os.path.join(tmp, "nvbind.toml"),
                       f'[runtime]\nextra_args = ["--network", "none"]\n'
                       f'[cdi]\noutput_dir = "{tmp}/cdi"\n'
                       f'[isolation]\nstate_dir = "{state}/claims"\naudit_log = "{state}/audit.log"\n')
        # The daemons start after this and hand their environment down to the runtime they
        # run: the shim finds the fake host and this configuration without a wrapper script.
        os.environ.update(NVBIND_ROOT=root, NVBIND_CONFIG=config)
        env = dict(os.environ)
        if not a.ctr_only:
            bench_docker(a, tmp, env, shim, nvbind)
        if not a.own_only:
            bench_ctr(a, tmp, env, shim)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
