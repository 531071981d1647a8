"""nvbind exporter and nvbind top against a fake host whose fake NVML reports usage: a real
Prometheus (Debian's) scrapes the exporter on loopback and its query API is asked for each
series; promtool lints the text; a runc container started by `nvbind run` runs a process the
fake NVML reports on GPU 0 and the series carries the container's name; top runs under tmux."""
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import unittest
import urllib.parse
import urllib.request

from nvbtest import FAKENVML, NVBIND, FakeHostCase, make_busybox_rootfs, run, stop_process, temp_dir
import fakehost

HAVE_PROMETHEUS = shutil.which("prometheus") is not None and shutil.which("promtool") is not None
HAVE_RUNC = shutil.which("runc") is not None
HAVE_TMUX = shutil.which("tmux") is not None
MIB = 1024 * 1024


def fake_has_events():
    """The fake NVML serves XID events (nvmlEventSet*, fed from a "fakenvml-events" file).
    Asked of its symbol table, not by loading it here: the ASan pass's fake is an ASan build,
    and dlopen of that into this (uninstrumented) Python ends the whole test run."""
    try:
        out = subprocess.run(["nm", "-D", "--defined-only", FAKENVML], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return False
    return any(line.split()[-1:] == ["nvmlEventSetCreate"] for line in out.splitlines())


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.headers.get("Content-Type"), r.read().decode()


def parse_text(text):
    """{(name, frozenset(labels.items())): value} of a Prometheus text page (the label values
    this exporter writes hold no commas or escaped quotes)."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, value = line.rsplit(" ", 1)
        name, _, rest = series.partition("{")
        labels = {}
        for part in filter(None, rest.rstrip("}").split('",')):
            k, _, v = part.partition('="')
            labels[k] = v.rstrip('"')
        out[(name, frozenset(labels.items()))] = float(value)
    return out


def series(parsed, name, **labels):
    """The values of name whose labels include the given ones."""
    want = set(labels.items())
    return [v for (n, ls), v in parsed.items() if n == name and want <= set(ls)]


def metrics_for(i, pids=()):
    return {"gpu_util": 40 + i, "mem_util": 10 + i, "memory_used_mib": 2048 + i, "temperature_c": 60 + i,
            "power_mw": 250125 + i, "sm_clock_mhz": 1400 + i, "mem_clock_mhz": 1500 + i,
            "pcie_tx_kbps": 3000 + i, "pcie_rx_kbps": 4000 + i,
            "processes": [{"pid": p, "used_mib": 512} for p in pids]}


@unittest.skipUnless(os.path.exists(FAKENVML), "the fake NVML is not built")
class MonitorBase(FakeHostCase):
    gpus = 2
    host_options = {"fake_nvml": FAKENVML}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.uuids = [g["uuid"] for g in sorted(cls.host.manifest["gpus"], key=lambda g: g["index"])]

    def setUp(self):
        self.tmp = temp_dir("nvbind-monitor-test-", self.addCleanup)
        self.state = os.path.join(self.tmp, "state")
        self.audit_log = os.path.join(self.tmp, "audit.log")
        self.spec_dir = os.path.join(self.tmp, "cdi")
        os.makedirs(self.spec_dir)
        self.config = os.path.join(self.tmp, "nvbind.toml")
        with open(self.config, "w") as f:
            f.write(f'[isolation]\nstate_dir = "{self.state}"\naudit_log = "{self.audit_log}"\n'
                    f'[cdi]\nspec_dirs = ["{self.spec_dir}"]\n')
        self.set_metrics({u: metrics_for(i) for i, u in enumerate(self.uuids)})
        self.procs = []

    def tearDown(self):
        for p in reversed(self.procs):
            stop_process(p, 20)

    def set_metrics(self, by_uuid):
        fakehost.set_nvml_metrics(self.host.manifest, by_uuid)

    def nvbind(self, *args, **kw):
        return run([NVBIND, *self.host.args, "--config", self.config, *args], **kw)

    def once(self, *extra):
        r = self.nvbind("exporter", "--once", *extra)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def start_exporter(self, *extra):
        port = free_port()
        log = open(os.path.join(self.tmp, "exporter.log"), "w")
        p = subprocess.Popen([NVBIND, *self.host.args, "--config", self.config, "exporter", "--listen",
                              f"127.0.0.1:{port}", *extra], stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.procs.append(p)
        url = f"http://127.0.0.1:{port}/metrics"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            self.assertIsNone(p.poll(), "the exporter exited while starting")
            try:
                http_get(url)
                return port, url
            except OSError:
                time.sleep(0.1)
        self.fail("the exporter did not answer within 30 s")


class Exporter(MonitorBase):
    def test_http_serves_the_text_format_on_loopback_only(self):
        port, url = self.start_exporter()
        status, ctype, text = http_get(url)
        self.assertEqual((status, ctype), (200, "text/plain; version=0.0.4; charset=utf-8"))
        self.assertIn("DCGM_FI_DEV_GPU_UTIL{", text)
        with self.assertRaises(urllib.error.HTTPError) as e:
            http_get(f"http://127.0.0.1:{port}/nothing")
        self.assertEqual(e.exception.code, 404)
        # The listening socket is bound to 127.0.0.1 (0100007F in /proc/net/tcp), not to every
        # address; and that is --listen's default.
        with open("/proc/net/tcp") as f:
            listening = [ln.split()[1] for ln in f.readlines()[1:] if ln.split()[3] == "0A"]
        self.assertIn(f"0100007F:{port:04X}", listening)
        self.assertNotIn(f"00000000:{port:04X}", listening)
        r = self.nvbind("exporter", "--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("default 127.0.0.1:9400", r.stdout)

    def test_each_gpu_series_carries_dcgm_labels_and_nvml_values(self):
        parsed = parse_text(self.once())
        for i, uuid in enumerate(self.uuids):
            g = self.host.manifest["gpus"][[x["uuid"] for x in self.host.manifest["gpus"]].index(uuid)]
            labels = {"gpu": str(i), "UUID": uuid, "device": f"nvidia{g['minor']}", "modelName": g["model"]["name"]
                      if isinstance(g.get("model"), dict) else g["name"]}
            expect = {"DCGM_FI_DEV_GPU_UTIL": 40 + i, "DCGM_FI_DEV_MEM_COPY_UTIL": 10 + i,
                      "DCGM_FI_DEV_FB_USED": 2048 + i, "DCGM_FI_DEV_GPU_TEMP": 60 + i,
                      "DCGM_FI_DEV_POWER_USAGE": (250125 + i) / 1000, "DCGM_FI_DEV_SM_CLOCK": 1400 + i,
                      "DCGM_FI_DEV_MEM_CLOCK": 1500 + i, "DCGM_FI_DEV_PCIE_TX_THROUGHPUT": 3000 + i,
                      "DCGM_FI_DEV_PCIE_RX_THROUGHPUT": 4000 + i}
            for name, value in expect.items():
                self.assertEqual(series(parsed, name, **labels), [value], f"{name} of GPU {i}")
            [free] = series(parsed, "DCGM_FI_DEV_FB_FREE", **labels)
            self.assertEqual(free + 2048 + i, g.get("memory_mib") or 81920)
        self.assertEqual(series(parsed, "nvbind_nvml_up"), [1])
        self.assertEqual(series(parsed, "nvbind_gpus"), [self.gpus])

    def test_promtool_reports_nothing(self):
        for extra in ((), ("--snake-case-labels",)):
            with self.subTest(extra=extra):
                text = self.once(*extra)
                r = run(["promtool", "check", "metrics"], input=text)
                lines = (r.stdout + r.stderr).splitlines()
                if extra:
                    self.assertEqual((r.returncode, lines), (0, []))
                else:
                    # dcgm-exporter's modelName is the one label promtool calls camelCase; it
                    # is kept for the dashboards written for dcgm-exporter.
                    self.assertEqual({ln.split(" ", 1)[1] for ln in lines},
                                     {"label names should be written in 'snake_case' not 'camelCase'"})

    def test_without_nvml_the_rest_still_works(self):
        os.rename(self.host.manifest["nvml"]["library"], self.host.manifest["nvml"]["library"] + ".away")
        try:
            parsed = parse_text(self.once())
        finally:
            os.rename(self.host.manifest["nvml"]["library"] + ".away", self.host.manifest["nvml"]["library"])
        self.assertEqual(series(parsed, "nvbind_nvml_up"), [0])
        self.assertEqual(series(parsed, "DCGM_FI_DEV_GPU_UTIL"), [])
        self.assertEqual(series(parsed, "nvbind_gpus"), [self.gpus])
        self.assertEqual(series(parsed, "nvbind_gpu_claims", gpu="0", mode="exclusive"), [0])

    def test_nvml_others_could_replace_is_not_loaded(self):
        """The exporter runs as root: an NVML in a folder others may write would run their code
        in it. It is not loaded (NVML down, the rest served); trusted again, it is."""
        folder = os.path.dirname(os.path.realpath(self.host.manifest["nvml"]["library"]))
        mode = os.stat(folder).st_mode
        os.chmod(folder, mode | 0o002)
        try:
            parsed = parse_text(self.once())
        finally:
            os.chmod(folder, mode)
        self.assertEqual(series(parsed, "nvbind_nvml_up"), [0])
        self.assertEqual(series(parsed, "DCGM_FI_DEV_GPU_UTIL"), [])
        self.assertEqual(series(parsed, "nvbind_gpus"), [self.gpus])
        self.assertEqual(series(parse_text(self.once()), "nvbind_nvml_up"), [1])

    def test_a_hung_nvml_delays_a_scrape_by_its_deadline_only(self):
        data_path = self.host.manifest["nvml"]["data"]
        with open(data_path) as f:
            data = json.load(f)
        data["init_delay_ms"] = 30000
        with open(data_path, "w") as f:
            json.dump(data, f)
        try:
            port, url = self.start_exporter()
            for _ in range(2):
                start = time.monotonic()
                parsed = parse_text(http_get(url, timeout=20)[2])
                self.assertLess(time.monotonic() - start, 5, "a scrape waited for the hung NVML")
                self.assertEqual(series(parsed, "nvbind_nvml_up"), [0])
                self.assertEqual(series(parsed, "nvbind_gpus"), [self.gpus])
        finally:
            data["init_delay_ms"] = 0
            with open(data_path, "w") as f:
                json.dump(data, f)

    def test_nvml_is_closed_between_scrapes_unless_interval(self):
        refs = os.path.join(self.tmp, "nvml-refs")
        os.environ["NVBIND_FAKE_NVML_REFS"] = refs
        try:
            port, url = self.start_exporter()
            parse_text(http_get(url)[2])
            with open(refs) as f:
                self.assertEqual(f.read().strip(), "0", "NVML left initialised after a scrape")
            self.procs[-1].send_signal(signal.SIGTERM)
            self.procs[-1].wait(20)
            os.unlink(refs)
            # --interval keeps it open and serves the latest sample, which follows NVML.
            port, url = self.start_exporter("--interval", "1")
            with open(refs) as f:
                self.assertEqual(f.read().strip(), "1")
            m = metrics_for(0)
            m["gpu_util"] = 99
            self.set_metrics({self.uuids[0]: m})
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                parsed = parse_text(http_get(url)[2])
                if series(parsed, "DCGM_FI_DEV_GPU_UTIL", gpu="0") == [99]:
                    break
                time.sleep(0.3)
            self.assertEqual(series(parsed, "DCGM_FI_DEV_GPU_UTIL", gpu="0"), [99])
        finally:
            del os.environ["NVBIND_FAKE_NVML_REFS"]

    def test_bad_options_are_usage_errors(self):
        for args, message in (
                (("exporter", "--listen", "localhost"), "nvbind exporter: --listen localhost: expected ADDR:PORT"),
                (("exporter", "--listen", "example.org:80"), "nvbind exporter: --listen example.org:80: not a numeric"),
                (("exporter", "--listen", "127.0.0.1:70000"), "nvbind exporter: --listen 127.0.0.1:70000: not a numeric"),
                (("exporter", "--interval", "0"), "nvbind exporter: --interval 0: expected a number of seconds"),
                (("exporter", "--once", "--interval", "5"), "nvbind exporter: --once and --interval do not go together"),
                (("exporter", "extra"), "nvbind exporter: unexpected argument 'extra'"),
                (("top", "--delay", "0"), "nvbind top: --delay 0: expected a number of seconds from 1 to 60")):
            with self.subTest(args=args):
                r = self.nvbind(*args)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
                self.assertTrue(r.stderr.startswith(message), r.stderr)
        # An address in use: one line naming it, exit status 1.
        port, _ = self.start_exporter()
        r = self.nvbind("exporter", "--listen", f"127.0.0.1:{port}", timeout=30)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(f"nvbind: exporter: cannot listen on 127.0.0.1:{port}", r.stderr)
        for cmd in ("exporter", "top"):
            r = self.nvbind(cmd, "--help")
            self.assertEqual((r.returncode, r.stdout.split()[:2]), (0, ["usage:", "nvbind"]))

    def test_nvbind_itself_maps_no_http_tls_or_curses_library(self):
        # The hooks start through nvbind: only nvbind-monitor links libmicrohttpd (and GnuTLS
        # behind it) and ncurses.
        def needed(exe):
            r = run(["readelf", "-d", exe], check=True)
            return {ln.split("[")[1].rstrip("]") for ln in r.stdout.splitlines() if "(NEEDED)" in ln}
        self.assertEqual({n for n in needed(NVBIND) if n.startswith(("libmicrohttpd", "libgnutls", "libncurses"))},
                         set())
        monitor = os.path.join(os.path.dirname(NVBIND), "nvbind-monitor")
        self.assertTrue({n for n in needed(monitor) if n.startswith("libmicrohttpd")}, "nvbind-monitor without HTTP")

    def test_a_host_without_driver_is_served_as_such(self):
        empty = os.path.join(self.tmp, "empty-root")
        os.makedirs(empty)
        r = run([NVBIND, "--root", empty, "--config", self.config, "exporter", "--once"])
        self.assertEqual(r.returncode, 0, r.stderr)
        parsed = parse_text(r.stdout)
        self.assertEqual(series(parsed, "nvbind_discovery_up"), [0])
        self.assertEqual(series(parsed, "nvbind_nvml_up"), [0])
        self.assertEqual(series(parsed, "nvbind_gpus"), [0])

    @unittest.skipUnless(os.path.exists(FAKENVML) and fake_has_events(), "the fake NVML has no XID events")
    def test_xid_errors_with_interval(self):
        events = os.path.join(os.path.dirname(self.host.manifest["nvml"]["data"]), "fakenvml-events")
        port, url = self.start_exporter("--interval", "1")
        parsed = parse_text(http_get(url)[2])
        self.assertEqual(series(parsed, "DCGM_FI_DEV_XID_ERRORS", gpu="0", UUID=self.uuids[0]), [0])
        with open(events, "a") as f:
            f.write(f"{self.uuids[0]} 48\n{self.uuids[0]} 79\n")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            parsed = parse_text(http_get(url)[2])
            if series(parsed, "nvbind_gpu_xid_errors_total", gpu="0") == [2]:
                break
            time.sleep(0.3)
        self.assertEqual(series(parsed, "nvbind_gpu_xid_errors_total", gpu="0"), [2])
        self.assertEqual(series(parsed, "DCGM_FI_DEV_XID_ERRORS", gpu="0"), [79], "the last XID")
        self.assertEqual(series(parsed, "nvbind_gpu_xid_errors_total", gpu="1"), [0])
        self.assertEqual(series(parsed, "DCGM_FI_DEV_XID_ERRORS", gpu="1"), [0])
        # Without --interval nothing watches XIDs: no series rather than a wrong 0.
        self.assertEqual(series(parse_text(self.once()), "DCGM_FI_DEV_XID_ERRORS"), [])

    def test_spec_freshness(self):
        r = self.nvbind("cdi", "generate", "--output", self.spec_dir)
        self.assertEqual(r.returncode, 0, r.stderr)
        [spec] = os.listdir(self.spec_dir)
        path = os.path.join(self.spec_dir, spec)
        parsed = parse_text(self.once())
        self.assertEqual(series(parsed, "nvbind_cdi_spec_fresh", path=path), [1])
        self.assertEqual(series(parsed, "nvbind_cdi_spec_stale_reasons", path=path), [0])
        # The spec names GPU 1's device node; once the node is gone the spec is stale, as
        # `nvbind cdi check` says.
        node = os.path.join(self.host.root, "dev", f"nvidia{self.host.manifest['gpus'][1]['minor']}")
        os.rename(node, node + ".away")
        try:
            parsed = parse_text(self.once())
            check = self.nvbind("cdi", "check", path)
        finally:
            os.rename(node + ".away", node)
        self.assertEqual(check.returncode, 1, check.stdout)
        self.assertEqual(series(parsed, "nvbind_cdi_spec_fresh", path=path), [0])
        [reasons] = series(parsed, "nvbind_cdi_spec_stale_reasons", path=path)
        self.assertEqual(reasons, check.stdout.count(": stale: "))


@unittest.skipUnless(HAVE_PROMETHEUS, "prometheus/promtool are not installed")
class Prometheus(MonitorBase):
    def start_prometheus(self, target_port):
        port = free_port()
        cfg = os.path.join(self.tmp, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "scrape_configs:\n  - job_name: nvbind\n    static_configs:\n"
                    f"      - targets: ['127.0.0.1:{target_port}']\n")
        log = open(os.path.join(self.tmp, "prometheus.log"), "w")
        p = subprocess.Popen(["prometheus", f"--config.file={cfg}", f"--storage.tsdb.path={self.tmp}/tsdb",
                              f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT,
                             cwd=self.tmp)
        log.close()
        self.procs.append(p)
        return f"http://127.0.0.1:{port}"

    def query(self, base, expr):
        url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        try:
            body = json.loads(http_get(url)[2])
        except OSError:
            return None
        return body["data"]["result"] if body.get("status") == "success" else None

    def wait_series(self, base, expr, n, seconds=60):
        deadline = time.monotonic() + seconds
        result = None
        while time.monotonic() < deadline:
            result = self.query(base, expr)
            if result and len(result) >= n:
                return result
            time.sleep(0.5)
        with open(os.path.join(self.tmp, "prometheus.log")) as f:
            log = f.read()[-2000:]
        self.fail(f"prometheus has no {n} series for {expr} after {seconds}s: {result}\n{log}")

    def test_prometheus_scrapes_every_series(self):
        eport, _ = self.start_exporter()
        base = self.start_prometheus(eport)
        up = self.wait_series(base, 'up{job="nvbind"} == 1', 1)
        self.assertEqual(up[0]["value"][1], "1")
        hostname = socket.gethostname()
        want = {"DCGM_FI_DEV_GPU_UTIL": 40, "DCGM_FI_DEV_MEM_COPY_UTIL": 10, "DCGM_FI_DEV_FB_USED": 2048,
                "DCGM_FI_DEV_GPU_TEMP": 60, "DCGM_FI_DEV_POWER_USAGE": 250.125, "DCGM_FI_DEV_SM_CLOCK": 1400,
                "DCGM_FI_DEV_MEM_CLOCK": 1500, "DCGM_FI_DEV_PCIE_TX_THROUGHPUT": 3000,
                "DCGM_FI_DEV_PCIE_RX_THROUGHPUT": 4000}
        for name, base_value in want.items():
            result = self.wait_series(base, name, self.gpus)
            self.assertEqual(len(result), self.gpus, name)
            for r in result:
                m = r["metric"]
                i = int(m["gpu"])
                self.assertEqual(m["UUID"], self.uuids[i], name)
                self.assertEqual(m["Hostname"], hostname)
                self.assertTrue(m["device"].startswith("nvidia") and m["pci_bus_id"].count(":") == 2, m)
                self.assertTrue(m["modelName"], m)
                self.assertEqual(float(r["value"][1]), base_value + (i / 1000 if name.endswith("POWER_USAGE") else i),
                                 f"{name} of GPU {i}")
        for name, n in (("nvbind_gpu_claims", 2 * self.gpus), ("nvbind_audit_decisions_total", 2),
                        ("nvbind_discovery_duration_seconds", 1), ("nvbind_nvml_up", 1), ("nvbind_gpus", 1)):
            self.assertEqual(len(self.wait_series(base, name, n)), n, name)
        self.assertEqual(self.query(base, "nvbind_gpus")[0]["value"][1], str(self.gpus))


@unittest.skipUnless(HAVE_RUNC, "runc is not installed")
class Containers(MonitorBase):
    def start_container(self, *extra, script="sleep 300 & echo $! > /tmp/child; echo ready; wait"):
        rootfs = os.path.join(self.tmp, "rootfs")
        if not os.path.exists(rootfs):
            make_busybox_rootfs(rootfs)
        tmpdir = os.path.join(self.tmp, "tmpdir")
        os.makedirs(tmpdir, exist_ok=True)
        p = subprocess.Popen([NVBIND, *self.host.args, "--config", self.config, "run", "--runtime", "runc",
                              "--gpu", "0", *extra, "--rootfs", rootfs, "--", "sh", "-c", script],
                             env={**os.environ, "TMPDIR": tmpdir}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        self.procs.append(p)
        line = p.stdout.readline()
        self.assertEqual(line.strip(), "ready", p.stderr.read() if not line else line)
        claims = json.loads(run([NVBIND, "claims", "--state-dir", self.state, "--json"], check=True).stdout)
        [claim] = claims
        return p, claim

    def child_pid(self, init_pid):
        """The container's sleep, as the host sees it: a child of the container's init."""
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == init_pid:
                return int(pid)
        self.fail(f"no child of the container's init {init_pid}")

    def test_container_process_on_gpu0_is_attributed_to_the_container(self):
        p, claim = self.start_container("--isolation", "exclusive")
        name = claim["container"]
        # Not the init but its child: found through its cgroup, which runc named after the container.
        sleeper = self.child_pid(claim["init_pid"])
        host_proc = os.getpid()  # a process in no container, also on GPU 0
        m0 = metrics_for(0)
        m0["processes"] = [{"pid": sleeper, "used_mib": 512}, {"pid": host_proc, "used_mib": 64}]
        self.set_metrics({self.uuids[0]: m0})
        # A second container asking for GPU 0 is denied (exit 8): a denial in the audit log.
        r = self.nvbind("run", "--runtime", "runc", "--gpu", "0", "--rootfs", os.path.join(self.tmp, "rootfs"),
                        "--", "true", env={"TMPDIR": os.path.join(self.tmp, "tmpdir")})
        self.assertEqual(r.returncode, 8, r.stderr)
        parsed = parse_text(self.once())
        self.assertEqual(series(parsed, "nvbind_container_gpu_memory_used_bytes", gpu="0", container=name),
                         [512 * MIB])
        self.assertEqual(series(parsed, "nvbind_container_gpu_processes", gpu="0", container=name), [1])
        self.assertEqual(series(parsed, "nvbind_container_gpu_memory_used_bytes", gpu="0", container=""), [64 * MIB])
        self.assertEqual(series(parsed, "nvbind_gpu_claims", gpu="0", mode="exclusive"), [1])
        self.assertEqual(series(parsed, "nvbind_gpu_claims", gpu="1", mode="exclusive"), [0])
        self.assertEqual(series(parsed, "nvbind_gpu_claim_holder", gpu="0", container=name, mode="exclusive"), [1])
        self.assertEqual(series(parsed, "nvbind_audit_decisions_total", decision="grant"), [1])
        self.assertEqual(series(parsed, "nvbind_audit_decisions_total", decision="deny"), [1])
        p.send_signal(signal.SIGTERM)
        p.wait(30)

    @unittest.skipUnless(HAVE_TMUX, "tmux is not installed")
    def test_top_under_tmux_shows_each_gpu_and_the_container(self):
        p, claim = self.start_container()
        name = claim["container"]
        m0 = metrics_for(0)
        m0["processes"] = [{"pid": self.child_pid(claim["init_pid"]), "used_mib": 768}]
        self.set_metrics({self.uuids[0]: m0})
        session = f"nvbind-top-{os.getpid()}"
        cmd = " ".join([NVBIND, *self.host.args, "--config", self.config, "top"])
        run(["tmux", "new-session", "-d", "-s", session, "-x", "200", "-y", "50", cmd], check=True)
        try:
            deadline = time.monotonic() + 20
            screen = ""
            while time.monotonic() < deadline:
                screen = run(["tmux", "capture-pane", "-p", "-t", session]).stdout
                if name in screen:
                    break
                time.sleep(0.3)
            for i, uuid in enumerate(self.uuids):
                [line] = [ln for ln in screen.splitlines() if ln.startswith(f"GPU {i} ")]
                self.assertIn(uuid, line)
                self.assertIn(f"temp {60 + i} C", line)
                self.assertIn("power 250 W", line)
            self.assertIn(f"util [", screen)
            self.assertIn("2048/81920 MiB", screen)
            [cline] = [ln for ln in screen.splitlines() if name in ln]
            self.assertIn("768 MiB", cline)
            run(["tmux", "send-keys", "-t", session, "q"], check=True)
            deadline = time.monotonic() + 10
            while run(["tmux", "has-session", "-t", session]).returncode == 0 and time.monotonic() < deadline:
                time.sleep(0.1)
            self.assertNotEqual(run(["tmux", "has-session", "-t", session]).returncode, 0, "q did not quit top")
        finally:
            run(["tmux", "kill-session", "-t", session])
        p.send_signal(signal.SIGTERM)
        p.wait(30)


if __name__ == "__main__":
    unittest.main()
