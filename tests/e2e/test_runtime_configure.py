"""nvbind runtime configure: the files it writes are read by the real engines (dockerd runs a
container through the registered nvbind-runtime, containerd's `config dump` shows the runtime,
podman reports it as its runtime, CRI-O's drop-in is TOML with CRI-O's keys); settings it does
not own are kept; a second run changes nothing; --dry-run writes nothing; bad files are refused
with one line and left as they were."""
import json
import os
import shutil
import stat
import tempfile
import tomllib
import unittest

import daemons
from nvbtest import NVBIND, make_busybox_rootfs, run

SHIM = os.path.join(os.path.dirname(NVBIND), "nvbind-runtime")

# A wrapper registered in place of the shim: it notes each call, then is the shim.
WRAPPER = """#!/bin/sh
echo "$@" >> {log}
exec {shim} "$@"
"""


def configure(*args, **kw):
    return run([NVBIND, "runtime", "configure", *args], **kw)


def read(path):
    with open(path) as f:
        return f.read()


class Base(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="nvbind-rtconf-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def write(self, name, text):
        with open(self.path(name), "w") as f:
            f.write(text)
        return self.path(name)

    def configure_ok(self, *args):
        r = configure(*args)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")
        return r.stdout

    def assert_second_run_changes_nothing(self, path, *args):
        before = read(path)
        out = self.configure_ok(*args)
        self.assertIn("nothing changed", out)
        self.assertEqual(read(path), before)


class DockerTest(Base):
    @classmethod
    def setUpClass(cls):
        # The suite's containerd, which the dockerd each test starts runs on (skips without it).
        daemons.docker_daemon()

    def wrapper(self):
        log = self.path("shim-calls")
        path = self.write("nvbind-runtime-wrapper", WRAPPER.format(log=log, shim=SHIM))
        os.chmod(path, 0o755)
        return path, log

    def test_dockerd_runs_a_container_through_the_registered_shim(self):
        """dockerd started with the daemon.json nvbind wrote runs `docker run --runtime nvbind`
        through the registered path, and as its default with --set-as-default; the settings
        that were in the file stay."""
        wrapper, log = self.wrapper()
        conf = self.write("daemon.json", json.dumps({"log-level": "warn", "shutdown-timeout": 7,
                                                     "features": {"buildkit": False}}))
        self.configure_ok("--runtime", "docker", "--config", conf, "--runtime-path", wrapper,
                          "--set-as-default", "--enable-cdi")
        written = json.loads(read(conf))
        self.assertEqual(written["log-level"], "warn")
        self.assertEqual(written["shutdown-timeout"], 7)
        self.assertEqual(written["features"], {"buildkit": False, "cdi": True})
        self.assertEqual(json.loads(read(conf + ".nvbind-backup"))["log-level"], "warn")
        d = daemons.extra_dockerd("dockerd-nvbind", conf)
        try:
            info = d.docker("info", "--format", "{{json .Runtimes}} {{.DefaultRuntime}}", check=True).stdout
            runtimes, default = info.rsplit(" ", 1)
            self.assertEqual(json.loads(runtimes)["nvbind"]["path"], wrapper)
            self.assertEqual(default.strip(), "nvbind")
            image = daemons.docker_import(d, make_busybox_rootfs(self.path("rootfs")))
            r = d.docker("run", "--rm", "--runtime", "nvbind", "--network", "none", image, "sh", "-c",
                         "echo inside-$(cat /proc/1/comm)")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout.strip(), "inside-sh")
            calls = read(log)
            self.assertIn("create", calls)
            os.unlink(log)
            r = d.docker("run", "--rm", "--network", "none", image, "true")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("create", read(log), "the default runtime did not go through nvbind-runtime")
        finally:
            d.stop()

    def test_second_run_and_dry_run_change_nothing(self):
        conf = self.write("daemon.json", '{ "debug": true }\n')
        out = configure("--runtime", "docker", "--config", conf, "--runtime-path", SHIM, "--dry-run")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn('"path": "%s"' % SHIM, out.stdout)
        self.assertEqual(read(conf), '{ "debug": true }\n')
        self.assertFalse(os.path.exists(conf + ".nvbind-backup"))
        self.configure_ok("--runtime", "docker", "--config", conf, "--runtime-path", SHIM)
        self.assert_second_run_changes_nothing(conf, "--runtime", "docker", "--config", conf, "--runtime-path", SHIM)

    def test_bad_daemon_json_refused_and_kept(self):
        text = '{"runtimes": {"nvbind": "not an object"}}'
        conf = self.write("daemon.json", text)
        r = configure("--runtime", "docker", "--config", conf, "--runtime-path", SHIM)
        self.assertEqual(r.returncode, 5)
        self.assertEqual(r.stderr, f'nvbind: {conf}: "runtimes.nvbind" is not an object; nvbind will not replace it\n')
        bad = self.write("bad.json", '{"a": 1,,}')
        r = configure("--runtime", "docker", "--config", bad, "--runtime-path", SHIM)
        self.assertEqual(r.returncode, 5)
        self.assertTrue(r.stderr.startswith(f"nvbind: {bad}:1:"), r.stderr)
        self.assertEqual(len(r.stderr.splitlines()), 1)
        self.assertEqual(read(conf), text)
        self.assertEqual(sorted(os.listdir(self.tmp)), ["bad.json", "daemon.json"])

    def test_unwritable_place_is_an_io_error(self):
        r = configure("--runtime", "docker", "--config", self.path("no-such-dir", "daemon.json"),
                      "--runtime-path", SHIM)
        self.assertEqual(r.returncode, 6, r.stderr)
        self.assertIn("no-such-dir", r.stderr)


class ContainerdTest(Base):
    def dump(self, conf):
        r = run(["containerd", "--config", conf, "config", "dump"], timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        return tomllib.loads(r.stdout)

    def setUp(self):
        super().setUp()
        if not shutil.which("containerd"):
            self.skipTest("containerd is not installed")

    def test_containerd_reads_the_runtime_and_keeps_other_settings(self):
        default = run(["containerd", "config", "default"], check=True).stdout
        # A setting and a comment of the user's, and runc's table after where nvbind's goes;
        # runc on the systemd cgroup driver, as on a kubeadm node.
        self.assertIn("SystemdCgroup = false", default)
        text = "# my containerd\n" + default.replace("oom_score = 0", "oom_score = -321  # keep me").replace(
            "SystemdCgroup = false", "SystemdCgroup = true")
        conf = self.write("config.toml", text)
        self.configure_ok("--runtime", "containerd", "--config", conf, "--runtime-path", SHIM, "--set-as-default",
                          "--enable-cdi")
        d = self.dump(conf)
        cri = d["plugins"]["io.containerd.grpc.v1.cri"]
        self.assertEqual(cri["containerd"]["default_runtime_name"], "nvbind")
        rt = cri["containerd"]["runtimes"]["nvbind"]
        self.assertEqual(rt["runtime_type"], "io.containerd.runc.v2")
        self.assertEqual(rt["options"]["BinaryName"], SHIM)
        # nvbind's runtime is runc with another binary: on runc's cgroup driver.
        self.assertIs(rt["options"]["SystemdCgroup"], True)
        self.assertEqual(cri["containerd"]["runtimes"]["runc"]["runtime_type"], "io.containerd.runc.v2")
        self.assertEqual(d["oom_score"], -321)
        written = read(conf)
        self.assertIn("oom_score = -321  # keep me", written)
        self.assertTrue(written.startswith("# my containerd\n"))
        # containerd 1.6 predates enable_cdi (1.7); the file holds it for the containerd that reads it.
        parsed = tomllib.loads(written)["plugins"]["io.containerd.grpc.v1.cri"]
        self.assertIs(parsed["enable_cdi"], True)
        self.assertEqual(parsed["cdi_spec_dirs"], ["/etc/cdi", "/var/run/cdi"])
        self.assertEqual(read(conf + ".nvbind-backup"), text)
        # Every line of the old file is still there but the one default_runtime_name replaced.
        old_lines = [l for l in text.splitlines() if "default_runtime_name" not in l]
        new_lines = written.splitlines()
        self.assertEqual([l for l in old_lines if l in new_lines], old_lines)
        self.assert_second_run_changes_nothing(conf, "--runtime", "containerd", "--config", conf, "--runtime-path",
                                               SHIM, "--set-as-default", "--enable-cdi")
        # A key the user put in nvbind's own table stays when nvbind's binary moves (without
        # it a privileged pod gets every host device).
        header = '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nvbind]\n'
        self.assertIn(header, written)
        with open(conf, "w") as f:
            f.write(written.replace(header, header + "  privileged_without_host_devices = true\n"))
        self.configure_ok("--runtime", "containerd", "--config", conf, "--runtime-path", "/opt/nvbind-runtime")
        rt = self.dump(conf)["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["runtimes"]["nvbind"]
        self.assertEqual(rt["options"]["BinaryName"], "/opt/nvbind-runtime")
        self.assertIs(rt["privileged_without_host_devices"], True)

    def test_new_file_and_version_3(self):
        conf = self.path("new.toml")
        self.configure_ok("--runtime", "containerd", "--config", conf, "--runtime-path", SHIM)
        d = self.dump(conf)
        self.assertEqual(d["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["runtimes"]["nvbind"]["options"]
                         ["BinaryName"], SHIM)
        v3 = self.write("v3.toml", "version = 3\n[plugins.'io.containerd.cri.v1.runtime'.containerd]\n"
                                   "  default_runtime_name = 'runc'\n")
        self.configure_ok("--runtime", "containerd", "--config", v3, "--runtime-path", SHIM, "--set-as-default",
                          "--enable-cdi")
        p = tomllib.loads(read(v3))["plugins"]["io.containerd.cri.v1.runtime"]
        self.assertEqual(p["containerd"]["default_runtime_name"], "nvbind")
        self.assertEqual(p["containerd"]["runtimes"]["nvbind"]["options"]["BinaryName"], SHIM)
        self.assertIs(p["enable_cdi"], True)

    def imports_setup(self):
        """config.toml (containerd's defaults) importing conf.d/*.toml: a drop-in with a CRI
        setting (a pause image) and one without (oom_score)."""
        os.makedirs(self.path("conf.d"))
        mirror = self.write("conf.d/10-mirror.toml", 'version = 2\n[plugins."io.containerd.grpc.v1.cri"]\n'
                                                      '  sandbox_image = "registry.local/pause:3.9"\n')
        self.write("conf.d/20-oom.toml", "version = 2\noom_score = -500\n")
        default = run(["containerd", "config", "default"], check=True).stdout
        self.assertIn("imports = []", default)
        conf = self.write("config.toml", default.replace("imports = []", f'imports = ["{self.path("conf.d")}/*.toml"]'))
        return conf, mirror

    def test_an_import_that_undoes_the_registration_is_said(self):
        """containerd 1.x takes a plugin's whole section from the last file that has one: a
        file config.toml imports with any CRI setting (a pause image here) drops nvbind's
        runtime and default, and containerd says nothing. configure asks the installed
        containerd what it would run with, says so and fails."""
        conf, mirror = self.imports_setup()
        args = ("--runtime", "containerd", "--config", conf, "--runtime-path", SHIM, "--set-as-default")
        r = configure(*args)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("would run without nvbind's runtime: a file " + conf + " imports undoes what nvbind wrote", r.stderr)
        self.assertIn(mirror, r.stderr)
        # What containerd itself makes of it: the warning is true.
        cri = self.dump(conf)["plugins"]["io.containerd.grpc.v1.cri"]
        self.assertEqual(cri["sandbox_image"], "registry.local/pause:3.9")
        self.assertNotIn("nvbind", cri["containerd"]["runtimes"])
        # Following the advice: the imported file registers it too, and both runs are quiet.
        self.configure_ok("--runtime", "containerd", "--config", mirror, "--runtime-path", SHIM, "--set-as-default")
        self.assertIn("nothing changed", self.configure_ok(*args))
        d = self.dump(conf)
        cri = d["plugins"]["io.containerd.grpc.v1.cri"]
        self.assertEqual(cri["containerd"]["default_runtime_name"], "nvbind")
        self.assertEqual(cri["containerd"]["runtimes"]["nvbind"]["options"]["BinaryName"], SHIM)
        self.assertEqual(cri["sandbox_image"], "registry.local/pause:3.9")
        self.assertEqual(d["oom_score"], -500)
        # An import of an import (containerd follows them) that undoes it again.
        with open(self.path("conf.d", "20-oom.toml"), "a") as f:
            f.write(f'imports = ["{self.path("nested.inc")}"]\n')
        self.write("nested.inc", 'version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd]\n'
                                 '  default_runtime_name = "runc"\n')
        r = configure(*args)
        self.assertEqual(r.returncode, 1, r.stderr)
        # containerd 1.x: its CRI section replaces the whole section, nvbind's runtime with it.
        self.assertIn("would run without nvbind's runtime", r.stderr)
        self.assertIn(self.path("nested.inc"), r.stderr)

    def test_without_containerd_nvbind_reads_the_imports_itself(self):
        """Where containerd is not installed (a file written for another machine), nvbind reads
        the files config.toml imports by containerd's rules: version 2, any CRI section."""
        conf, mirror = self.imports_setup()
        r = configure("--runtime", "containerd", "--config", conf, "--runtime-path", SHIM, "--set-as-default",
                      env={"PATH": "/nonexistent"})
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(r.stderr, f"nvbind: {conf} imports {mirror}, which has a section of the CRI plugin "
                                   "(containerd 1.x takes that section whole from the last file that has one): "
                                   f"containerd will not use what nvbind wrote in {conf} (put it in {mirror} instead)\n")

    def test_version_3_imports_conflict_only_on_the_keys_nvbind_sets(self):
        """containerd 2.x merges imported files key by key: only a key nvbind sets is a conflict.
        Debian's containerd is 1.x, not the one a version 3 file is for: nvbind reads the imports."""
        os.makedirs(self.path("conf.d"))
        plugin = "[plugins.'io.containerd.cri.v1.runtime']\n"
        images = self.write("conf.d/images.toml", "version = 3\n" + plugin + "  device_ownership_from_security_context = true\n")
        conf = self.write("config.toml", f'version = 3\nimports = ["{self.path("conf.d")}/*.toml"]\n')
        args = ("--runtime", "containerd", "--config", conf, "--runtime-path", SHIM, "--set-as-default")
        no_containerd = {"PATH": "/nonexistent"}
        r = configure(*args, env=no_containerd)
        self.assertEqual((r.returncode, r.stderr), (0, ""))
        with open(images, "a") as f:
            f.write("[plugins.'io.containerd.cri.v1.runtime'.containerd]\n  default_runtime_name = 'runc'\n")
        r = configure(*args, env=no_containerd)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(f"imports {images}, which sets default_runtime_name, and an imported key wins", r.stderr)
        # Without --set-as-default that key is none of nvbind's business.
        r = configure("--runtime", "containerd", "--config", conf, "--runtime-path", SHIM, env=no_containerd)
        self.assertEqual((r.returncode, r.stderr), (0, ""))
        if shutil.which("containerd") and "version = 2" in run(["containerd", "config", "default"]).stdout:
            r = configure(*args)
            self.assertIn("could not ask containerd", r.stderr)
            self.assertIn("not the containerd a version 3 file is for", r.stderr)

    def test_tables_it_cannot_edit_are_refused(self):
        cases = {
            "version 1": ("[plugins.cri]\n", "version 1 layout"),
            "dotted": ('version = 2\n[plugins."io.containerd.grpc.v1.cri"]\ncontainerd.snapshotter = "x"\n',
                       "is written as dotted keys"),
            "not toml": ("version = 2\n[plugins\n", ":2:"),
        }
        for name, (text, why) in cases.items():
            with self.subTest(name):
                conf = self.write("c.toml", text)
                r = configure("--runtime", "containerd", "--config", conf, "--runtime-path", SHIM, "--set-as-default")
                self.assertEqual(r.returncode, 5, r.stderr)
                self.assertIn(why, r.stderr)
                self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
                self.assertEqual(read(conf), text)
                self.assertFalse(os.path.exists(conf + ".nvbind-backup"))


class DropInTest(Base):
    def test_crio_drop_in_has_crio_keys(self):
        conf = self.path("crio.conf.d", "99-nvbind.conf")
        self.configure_ok("--runtime", "crio", "--config", conf, "--runtime-path", SHIM, "--set-as-default",
                          "--enable-cdi")
        with open(conf, "rb") as f:
            d = tomllib.load(f)
        rt = d["crio"]["runtime"]
        self.assertEqual(rt["default_runtime"], "nvbind")
        self.assertEqual(rt["runtimes"]["nvbind"]["runtime_path"], SHIM)
        self.assertEqual(rt["runtimes"]["nvbind"]["runtime_type"], "oci")
        self.assertEqual(oct(stat.S_IMODE(os.stat(conf).st_mode)), "0o644")
        self.assert_second_run_changes_nothing(conf, "--runtime", "crio", "--config", conf, "--runtime-path", SHIM,
                                               "--set-as-default", "--enable-cdi")

    def test_podman_picks_up_the_drop_in(self):
        if not shutil.which("podman"):
            self.skipTest("podman is not installed")
        conf = self.path("containers.conf.d", "99-nvbind.conf")
        self.configure_ok("--runtime", "podman", "--config", conf, "--runtime-path", SHIM, "--set-as-default")
        # CONTAINERS_CONF makes podman read this one file instead of /etc's (containers.conf(5)).
        r = run(["podman", "info", "--format", "{{.Host.OCIRuntime.Name}} {{.Host.OCIRuntime.Path}}"],
                env={"CONTAINERS_CONF": conf}, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.split(), ["nvbind", SHIM])
        self.assert_second_run_changes_nothing(conf, "--runtime", "podman", "--config", conf, "--runtime-path", SHIM,
                                               "--set-as-default")


class UsageTest(Base):
    def test_usage_errors(self):
        for args, msg in [
            ([], "nvbind runtime configure: --runtime docker|containerd|crio|podman is required\n"),
            (["--runtime", "lxc"], "nvbind runtime configure: --runtime lxc: not one of docker, containerd, crio, podman\n"),
            (["--runtime", "docker", "--runtime-path", "nvbind-runtime"],
             "nvbind runtime configure: --runtime-path nvbind-runtime: must be an absolute path\n"),
            (["--runtime", "docker", "--bogus"],
             "nvbind runtime configure: unknown option '--bogus' (see nvbind runtime configure --help)\n"),
            # CRI-O's drop-in makes the name a state folder, /run/NAME.
            (["--runtime", "crio", "--runtime-name", ".."],
             "nvbind runtime configure: --runtime-name ..: use letters, digits, '-', '_' and '.', not dots alone\n"),
        ]:
            with self.subTest(args=args):
                r = configure(*args)
                self.assertEqual((r.returncode, r.stderr), (2, msg))



class ConfigureAttacks(Base):
    """root writes an engine's configuration: a local user who can write in its folder must
    not turn that into a write of any file (a link planted at the file or its backup), and
    no set-id bit may come with the new file."""

    def setUp(self):
        super().setUp()
        self.victim = self.write("victim", "root:x:0:0::/root:/bin/sh\n")
        os.chmod(self.victim, 0o644)
        self.folder = self.path("etc-docker")
        os.mkdir(self.folder, 0o755)

    def assert_victim_untouched(self):
        self.assertEqual(read(self.victim), "root:x:0:0::/root:/bin/sh\n")
        self.assertEqual(stat.S_IMODE(os.stat(self.victim).st_mode), 0o644)

    def configure_in_folder(self, engine="docker"):
        name = "daemon.json" if engine == "docker" else "99-nvbind.conf"
        return configure("--runtime", engine, "--config", os.path.join(self.folder, name), "--runtime-path", SHIM)

    def test_a_folder_another_user_owns_is_refused(self):
        # The attack: the folder's owner makes daemon.json world-writable and plants a link to
        # a root-owned file at the backup's name; root's configure copied the old file there,
        # with its mode (the victim became world-writable, holding the user's text).
        conf = os.path.join(self.folder, "daemon.json")
        with open(conf, "w") as f:
            f.write('{"log-level": "info"}\n')
        os.chmod(conf, 0o666)
        os.symlink(self.victim, conf + ".nvbind-backup")
        os.chown(self.folder, 65534, 65534)
        r = self.configure_in_folder()
        self.assertEqual(r.returncode, 6, r.stderr)
        self.assertEqual(r.stderr, f"nvbind: {self.folder} is owned by uid 65534, neither root nor you: nvbind "
                                   "writes no engine configuration where another user could replace its files\n")
        self.assert_victim_untouched()
        self.assertEqual(read(conf), '{"log-level": "info"}\n')

    def test_a_folder_others_can_write_is_refused(self):
        for mode, who in ((0o1777, "everyone"), (0o775, "its group")):
            with self.subTest(mode=oct(mode)):
                os.chmod(self.folder, mode)
                r = self.configure_in_folder("crio")
                self.assertEqual(r.returncode, 6, r.stderr)
                self.assertIn(f"{self.folder} is writable by {who} (mode {mode:04o})", r.stderr)
                self.assertEqual(os.listdir(self.folder), [])

    def test_a_link_at_the_file_is_refused(self):
        # The crio and podman drop-ins are not read first: a link there made root replace its
        # target with the drop-in's text.
        for engine, name in (("crio", "99-nvbind.conf"), ("docker", "daemon.json")):
            with self.subTest(engine=engine):
                link = os.path.join(self.folder, name)
                os.symlink(self.victim, link)
                r = self.configure_in_folder(engine)
                self.assertEqual(r.returncode, 6, r.stderr)
                self.assertEqual(r.stderr, f"nvbind: {link} is a symbolic link: nvbind writes no engine configuration "
                                           "through a link; name the file it leads to with --config\n")
                self.assert_victim_untouched()
                self.assertTrue(os.path.islink(link))
                os.unlink(link)

    def test_a_link_at_the_backup_is_never_written_through(self):
        conf = os.path.join(self.folder, "daemon.json")
        with open(conf, "w") as f:
            f.write("{}\n")
        os.symlink(self.victim, conf + ".nvbind-backup")
        r = self.configure_in_folder()
        self.assertEqual(r.returncode, 6, r.stderr)
        self.assert_victim_untouched()
        self.assertEqual(read(conf), "{}\n")
        self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)

    def test_set_id_bits_are_never_kept(self):
        conf = os.path.join(self.folder, "daemon.json")
        with open(conf, "w") as f:
            f.write("{}\n")
        os.chmod(conf, 0o6755)
        out = self.configure_ok("--runtime", "docker", "--config", conf, "--runtime-path", SHIM)
        self.assertIn("updated", out)
        self.assertEqual(stat.S_IMODE(os.stat(conf).st_mode), 0o755)
        self.assertEqual(stat.S_IMODE(os.stat(conf + ".nvbind-backup").st_mode), 0o755)


if __name__ == "__main__":
    unittest.main()
