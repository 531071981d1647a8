"""Which configuration files nvbind trusts, and the host options every command shares.

- A configuration file chooses the hook binary root runs in every GPU container ([cdi]
  hook_path): nvbind never reads ./nvbind.toml, and refuses any file that someone other than
  root or the caller could have written (the file, its folders, links on the way). The hook
  binary named in a spec (`cdi check`) or by the configuration (`doctor`) gets the same rule.
- `info` and `doctor` read the configuration like every other command ([host] applies, a
  broken file is exit 5).
- A relative --root / NVBIND_ROOT is made absolute once, so specs and runc bundles hold
  absolute host paths.
"""
import json
import os
import pwd
import shutil
import subprocess
import unittest

from nvbtest import NVBIND, FakeHostCase, make_busybox_rootfs, runc_containers, temp_dir

NOBODY = pwd.getpwnam("nobody").pw_uid
OTHER_UID = 4242  # a uid that is neither root nor the caller in the non-root tests
HAVE_RUNC = shutil.which("runc") is not None


def hook_paths(spec):
    """Every hook binary a CDI spec makes the engine run."""
    edits = [spec.get("containerEdits", {})] + [d.get("containerEdits", {}) for d in spec.get("devices", [])]
    return {h["path"] for e in edits for h in e.get("hooks", [])}


@unittest.skipUnless(os.geteuid() == 0, "needs root: the attacks are on root, and files are chowned")
class TrustCase(FakeHostCase):
    def setUp(self):
        self.tmp = temp_dir("nvbind-trust-", self.addCleanup)
        os.chmod(self.tmp, 0o755)  # nobody must reach its own files in the non-root tests
        self.xdg = os.path.join(self.tmp, "xdg")  # empty: no file of this machine's user takes part
        os.makedirs(self.xdg)
        self.env = {k: v for k, v in os.environ.items() if k not in ("NVBIND_CONFIG", "NVBIND_ROOT")}
        self.env["XDG_CONFIG_HOME"] = self.xdg

    def nvbind(self, *args, cwd=None, env=None, user=None):
        full = dict(self.env)
        full.update(env or {})
        cmd = [NVBIND, *args]
        if user is not None:
            cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *cmd]
        return subprocess.run(cmd, cwd=cwd or self.tmp, env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, timeout=120)

    def write(self, path, text, owner=0, mode=0o644):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        os.chown(path, owner, owner)
        os.chmod(path, mode)
        return path

    def hostile_hook(self, owner=NOBODY):
        """A program that would run as root in every GPU container, owned by `owner`."""
        path = os.path.join(self.tmp, "drop", "pwn")
        self.write(path, "#!/bin/sh\ntouch /tmp/pwned\n", owner=owner, mode=0o755)
        return path

    def assertRefused(self, r, path, why):
        """Exit 5 and one line naming the file and why it is not trusted."""
        self.assertEqual(r.returncode, 5, r.stdout + r.stderr)
        self.assertEqual(r.stdout, "")
        lines = r.stderr.splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertTrue(lines[0].startswith(f"nvbind: {path}: refusing the configuration file: "), lines[0])
        self.assertIn(why, lines[0])


class ConfigFileTrust(TrustCase):
    def test_root_never_reads_nvbind_toml_planted_in_the_current_folder(self):
        """Attack: a user leaves ./nvbind.toml with a hostile [cdi] hook_path in a folder root
        later works in; the spec root writes would run the user's program as root in every GPU
        container (git's CVE-2022-24765 pattern)."""
        hook = self.hostile_hook()
        work = os.path.join(self.tmp, "shared-work")
        os.makedirs(work)
        os.chown(work, NOBODY, NOBODY)
        self.write(os.path.join(work, "nvbind.toml"), f'[cdi]\nhook_path = "{hook}"\n', owner=NOBODY)
        r = self.nvbind(*self.host.args, "cdi", "generate", cwd=work)
        self.assertEqual(r.returncode, 0, r.stderr)
        hooks = hook_paths(json.loads(r.stdout))
        self.assertNotIn(hook, hooks)
        self.assertEqual(hooks, {os.path.realpath(NVBIND)})

    def test_nobody_reads_nvbind_toml_from_the_current_folder(self):
        """Not even a file root owns: the current folder is not a configuration place."""
        self.write(os.path.join(self.tmp, "nvbind.toml"), '[gpu]\ndefault = "none"\n')
        r = self.nvbind("config", "show", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        shown = json.loads(r.stdout)
        if not os.path.exists("/etc/nvbind/config.toml"):
            self.assertIsNone(shown["source"])
        self.assertNotEqual(shown["values"]["gpu.default"]["value"], "none")

    def test_config_owned_by_another_user_is_refused(self):
        """Attack: --config (or NVBIND_CONFIG, or a sudo-kept XDG_CONFIG_HOME) naming a file
        another user can rewrite: their hook_path would run as root."""
        hook = self.hostile_hook()
        cfg = self.write(os.path.join(self.tmp, "cfg", "nvbind.toml"), f'[cdi]\nhook_path = "{hook}"\n', owner=NOBODY)
        why = f"{cfg} is owned by uid {NOBODY}, not by root"
        out = os.path.join(self.tmp, "spec.json")
        self.assertRefused(self.nvbind("--config", cfg, *self.host.args, "cdi", "generate", "--output", out), cfg, why)
        self.assertFalse(os.path.exists(out))
        self.assertRefused(self.nvbind("config", "show", env={"NVBIND_CONFIG": cfg}), cfg, why)
        xdg_file = self.write(os.path.join(self.xdg, "nvbind", "config.toml"), "", owner=NOBODY)
        self.assertRefused(self.nvbind("info"), xdg_file, f"{xdg_file} is owned by uid {NOBODY}, not by root")

    def test_config_writable_by_others_or_group_is_refused(self):
        """Attack: a root-owned file left mode 666 (or 664): anybody (or the group) rewrites it."""
        for mode, who in ((0o666, "others"), (0o664, "its group")):
            with self.subTest(mode=oct(mode)):
                cfg = self.write(os.path.join(self.tmp, "cfg", "open.toml"), "[gpu]\n", mode=mode)
                self.assertRefused(self.nvbind("--config", cfg, "config", "show"), cfg, f"{cfg} is writable by {who}")

    def test_config_in_a_folder_others_can_write_is_refused(self):
        """Attack: a root-owned, read-only file in a folder anybody may write: they rename it
        away and put their own in its place. A sticky folder (like /tmp) stops that, so it is
        fine; a folder owned by another user is not."""
        folder = os.path.join(self.tmp, "open")
        cfg = self.write(os.path.join(folder, "nvbind.toml"), "[gpu]\n")
        os.chmod(folder, 0o777)
        self.assertRefused(self.nvbind("--config", cfg, "config", "show"), cfg,
                           f"folder {folder} is writable by others without the sticky bit")
        os.chmod(folder, 0o1777)
        r = self.nvbind("--config", cfg, "config", "show")
        self.assertEqual(r.returncode, 0, r.stderr)
        os.chmod(folder, 0o755)
        os.chown(folder, NOBODY, NOBODY)
        self.assertRefused(self.nvbind("--config", cfg, "config", "show"), cfg,
                           f"folder {folder} is owned by uid {NOBODY}, not by root")

    def test_config_through_a_link_another_user_owns_is_refused(self):
        """Attack: a link another user owns, aimed at a good file today, at theirs tomorrow."""
        good = self.write(os.path.join(self.tmp, "cfg", "good.toml"), "[gpu]\n")
        link = os.path.join(self.tmp, "cfg", "link.toml")
        os.symlink(good, link)
        r = self.nvbind("--config", link, "config", "show")
        self.assertEqual(r.returncode, 0, r.stderr)  # a root-owned link to a good file is fine
        os.lchown(link, NOBODY, NOBODY)
        self.assertRefused(self.nvbind("--config", link, "config", "show"), link,
                           f"link {link} is owned by uid {NOBODY}, not by root")

    def test_good_config_is_used(self):
        """The rule refuses only what others could write: root's 0644 file in root's folders works."""
        cfg = self.write(os.path.join(self.tmp, "cfg", "nvbind.toml"), '[gpu]\ndefault = "none"\n')
        r = self.nvbind("--config", cfg, "config", "show", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["values"]["gpu.default"]["value"], "none")

    def test_unprivileged_caller_may_use_its_own_files_not_another_users(self):
        """For a user who is not root, "you" is that user: their own file and root's are
        trusted, a third user's is not."""
        own = self.write(os.path.join(self.tmp, "own", "nvbind.toml"), '[gpu]\ndefault = "none"\n', owner=NOBODY)
        os.chown(os.path.dirname(own), NOBODY, NOBODY)
        r = self.nvbind("--config", own, "config", "show", "--json", user=NOBODY)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["values"]["gpu.default"]["value"], "none")
        other = self.write(os.path.join(self.tmp, "other", "nvbind.toml"), "[gpu]\n", owner=OTHER_UID)
        r = self.nvbind("--config", other, "config", "show", user=NOBODY)
        self.assertRefused(r, other, f"{other} is owned by uid {OTHER_UID}, not by root or you")


class HookTrust(TrustCase):
    def test_cdi_check_reports_a_hook_binary_another_user_can_replace(self):
        """Attack: a spec whose hook binary another user owns: they replace it and their code
        runs as root in the next GPU container. `cdi check` names it with the fix."""
        hook = self.hostile_hook()
        spec = os.path.join(self.tmp, "spec.json")
        r = self.nvbind(*self.host.args, "cdi", "generate", "--hook-path", hook, "--output", spec)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.nvbind(*self.host.args, "cdi", "check", spec)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn(f"{spec}: stale: hook binary {hook} could be replaced by another user: "
                      f"{hook} is owned by uid {NOBODY}, not by root", r.stdout)
        self.assertIn("fix: chown root", r.stdout)
        os.chown(hook, 0, 0)
        os.chmod(os.path.dirname(hook), 0o777)  # its folder open to all is as bad
        r = self.nvbind(*self.host.args, "cdi", "check", spec)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn(f"folder {os.path.dirname(hook)} is writable by others", r.stdout)
        os.chmod(os.path.dirname(hook), 0o755)
        r = self.nvbind(*self.host.args, "cdi", "check", spec)
        self.assertEqual((r.returncode, r.stdout), (0, f"{spec}: fresh\n"), r.stderr)

    def test_doctor_reports_the_configured_hook_binary(self):
        """The same attack seen from `doctor`: the hook_path the configuration names."""
        hook = self.hostile_hook()
        cfg = self.write(os.path.join(self.tmp, "cfg", "nvbind.toml"), f'[cdi]\nhook_path = "{hook}"\n')
        r = self.nvbind("--config", cfg, *self.host.args, "doctor", "--json")
        self.assertEqual(r.returncode, 1, r.stderr)
        report = json.loads(r.stdout)
        [check] = [c for c in report["checks"] if c["name"] == "hook"]
        self.assertEqual(check["level"], "error")
        self.assertIn(f"hook binary {hook} could be replaced by another user: {hook} is owned by uid {NOBODY}",
                      check["message"])
        self.assertIn("chown root", check["fix"])
        self.assertFalse(report["ready"])
        os.chown(hook, 0, 0)
        report = json.loads(self.nvbind("--config", cfg, *self.host.args, "doctor", "--json").stdout)
        [check] = [c for c in report["checks"] if c["name"] == "hook"]
        self.assertEqual(check["level"], "ok", check)


class InfoAndDoctorReadTheConfiguration(TrustCase):
    host_options = {"layout": "operator"}

    def test_host_driver_root_from_the_configuration_applies_to_info(self):
        """[host] driver_root in nvbind.toml finds the operator host's libraries, exactly as
        --driver-root does."""
        root_args = self.host.args[:self.host.args.index("--driver-root")]
        driver_root = self.host.args[self.host.args.index("--driver-root") + 1]
        cfg = self.write(os.path.join(self.tmp, "cfg", "nvbind.toml"), f'[host]\ndriver_root = "{driver_root}"\n')
        by_option = json.loads(self.nvbind(*root_args, "--driver-root", driver_root, "info", "--json").stdout)
        r = self.nvbind("--config", cfg, *root_args, "info", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        by_config = json.loads(r.stdout)
        self.assertTrue(any("libcuda.so" in c["container_path"] for c in by_option["components"]["libraries"]))
        self.assertEqual(by_config["driver_root"], by_option["driver_root"])
        self.assertEqual(by_config["components"], by_option["components"])
        doctor = json.loads(self.nvbind("--config", cfg, *root_args, "doctor", "--json").stdout)
        [libs] = [c for c in doctor["checks"] if c["name"] == "libraries"]
        self.assertEqual(libs["level"], "ok", libs)

    def test_broken_configuration_stops_info_and_doctor(self):
        cfg = self.write(os.path.join(self.tmp, "cfg", "nvbind.toml"), "[host]\ndriver_root = 3\n")
        for cmd in (["info"], ["info", "--json"], ["doctor"]):
            with self.subTest(cmd=cmd):
                r = self.nvbind("--config", cfg, *self.host.args, *cmd)
                self.assertEqual(r.returncode, 5, r.stdout + r.stderr)
                self.assertEqual(r.stdout, "")
                self.assertEqual(r.stderr, f"nvbind: {cfg}:2:15: host.driver_root: expected a string, found integer\n")


class RelativeRoot(TrustCase):
    def test_relative_root_gives_the_spec_of_the_absolute_one(self):
        parent, name = os.path.split(self.host.root)
        rest = self.host.args[2:]  # after "--root DIR"
        self.assertEqual(self.host.args[:2], ["--root", self.host.root])
        absolute = self.nvbind("--root", self.host.root, *rest, "cdi", "generate")
        self.assertEqual(absolute.returncode, 0, absolute.stderr)
        for how in (["--root", name], ["--root", "./" + name + "/"]):
            with self.subTest(how=how):
                r = self.nvbind(*how, *rest, "cdi", "generate", cwd=parent)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(r.stdout, absolute.stdout)
        r = self.nvbind(*rest, "cdi", "generate", cwd=parent, env={"NVBIND_ROOT": name})
        self.assertEqual((r.returncode, r.stdout), (0, absolute.stdout), r.stderr)
        r = self.nvbind("--root", "no-such-host", "info", cwd=parent)
        self.assertEqual((r.returncode, r.stderr), (2, "nvbind: --root no-such-host: No such file or directory\n"))

    @unittest.skipUnless(HAVE_RUNC, "runc is not installed")
    def test_runc_run_with_a_relative_root(self):
        """The bundle's mounts name host files the runtime finds from its own folder."""
        parent, name = os.path.split(self.host.root)
        tmpdir = os.path.join(self.tmp, "tmpdir")
        os.makedirs(tmpdir)
        rootfs = make_busybox_rootfs(os.path.join(self.tmp, "rootfs"))
        cfg = self.write(os.path.join(self.tmp, "cfg", "nvbind.toml"),
                         f'[cdi]\noutput_dir = "{self.tmp}/specs"\n[isolation]\nstate_dir = "{self.tmp}/state"\n'
                         f'audit_log = "{self.tmp}/audit.log"\n')
        os.makedirs(os.path.join(self.tmp, "specs"))
        r = self.nvbind("--root", name, *self.host.args[2:], "--config", cfg, "run", "--runtime", "runc",
                        "--rootfs", rootfs, "--gpu", "all", "--", "sh", "-c",
                        "ls /dev; grep -q libcuda.so.1 /etc/ld.so.cache && echo CACHE-OK", cwd=parent,
                        env={"TMPDIR": tmpdir})
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        names = r.stdout.split()
        self.assertIn("nvidiactl", names)
        self.assertIn(f"nvidia{self.host.manifest['gpus'][0]['minor']}", names)
        self.assertIn("CACHE-OK", names)
        self.assertEqual(runc_containers(tmpdir), [])


if __name__ == "__main__":
    unittest.main()
