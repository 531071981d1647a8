"""The command line's one description (src/cli_table.c) against everything that shows it:
--help and `nvbind help` of every command and subcommand, the man page, the README, the shell
completions (each loaded in its real shell), and the usage errors.

A failure names what is missing where, e.g.
  docs/man/nvbind.1 SYNOPSIS, `nvbind cdi check`: missing --json
so a merge that adds a command or an option is fixed from the message alone."""
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import unittest

import nvbtest
from nvbtest import REPO, nvbind

MAN = os.path.join(REPO, "docs", "man", "nvbind.1")
README = os.path.join(REPO, "README.md")
OPTION = re.compile(r"^\s+(?:-\w, )?\s*--([a-z][a-z0-9-]*)")
# Commands that report something a script reads: each has --json (issue 12).
REPORTING = ["info", "doctor", "cdi list", "cdi validate", "cdi check", "config show", "config validate", "claims",
             "audit", "run"]


def help_sections(text):
    """{'Options': [...lines], 'Commands': [...]} of a --help text."""
    sections, current = {}, None
    for line in text.splitlines():
        m = re.match(r"^([A-Z][A-Za-z ()]*):$", line)
        if m:
            current = sections.setdefault(m.group(1).split(" (")[0], [])
        elif not line.strip():
            current = None if current is not None and sections.get("Commands") is current else current
        elif current is not None:
            current.append(line)
    return sections


def command_tree():
    """{path: (help text, [long options without --help], [subcommand names])} of every
    command reachable from `nvbind --help`; path "" is nvbind itself."""
    tree, todo = {}, [""]
    while todo:
        path = todo.pop(0)
        r = nvbind(*path.split(), "--help")
        assert r.returncode == 0, f"`nvbind {path} --help` exited {r.returncode}: {r.stderr}"
        sec = help_sections(r.stdout)
        opts = [m.group(1) for line in sec.get("Global options", sec.get("Options", [])) for m in [OPTION.match(line)]
                if m and m.group(1) != "help"]
        subs = [m.group(1) for line in sec.get("Commands", []) for m in [re.match(r"^  (\S+)", line)] if m]
        tree[path] = (r.stdout, opts, subs)
        todo += [f"{path} {s}".strip() for s in subs]
    return tree


def unroff(text):
    return text.replace("\\-", "-").replace("\\fB", "").replace("\\fR", "").replace("\\fI", "")


def man_synopsis(tree):
    """{path: set of options} from the SYNOPSIS's `.B nvbind PATH` blocks."""
    with open(MAN) as f:
        text = f.read()
    syn = text.split(".SH SYNOPSIS", 1)[1].split("\n.SH ", 1)[0]
    blocks, path = {}, None
    for line in syn.splitlines():
        m = re.match(r"^\.B nvbind(.*)$", line)
        if m:
            words = []
            for w in unroff(m.group(1)).split():
                if w.startswith("-") or " ".join(words + [w]) not in tree:
                    break
                words.append(w)
            path = " ".join(words)
            blocks.setdefault(path, set())
            line = unroff(m.group(1))[len(path) + 1:] if path else ""
        if path is not None:
            blocks[path] |= set(re.findall(r"--([a-z][a-z0-9-]*)", unroff(line)))
    return blocks, text


def man_globals(text):
    sec = text.split('.SH "GLOBAL OPTIONS"', 1)[1].split("\n.SH ", 1)[0]
    lines = sec.splitlines()
    return {o for i, line in enumerate(lines) if i and lines[i - 1] == ".TP"
            for o in re.findall(r"--([a-z][a-z0-9-]*)", unroff(line))} - {"help"}


def readme_synopsis(tree):
    """{path: set of options} from the README's command-line section: `nvbind PATH ...`
    lines in code blocks (with their indented continuation lines) and ### headings."""
    with open(README) as f:
        text = f.read()
    sec = text.split("\n## Command line", 1)[1].split("\n## ", 1)[0]
    found, path, in_code = {}, None, False
    globals_ = set()
    for line in sec.splitlines():
        if line.startswith("```"):
            in_code, path = not in_code, None
            continue
        heading = re.match(r"^###+ `(nvbind [^`]*)`", line)
        body = heading.group(1) if heading else line if in_code and line.startswith("nvbind ") else None
        if body is None and in_code and path is not None and line.startswith(" "):
            body = line  # continuation of the synopsis above
        elif body is not None:
            words = []
            for w in body.split()[1:]:
                if " ".join(words + [w]) not in tree:
                    break
                words.append(w)
            path = " ".join(words)
            body = body.split("nvbind", 1)[1][len(" ".join(words)) + 1:]
        else:
            path = None
            m = re.match(r"^\| (?:`-[a-zA-Z]`, )?`--([a-z][a-z0-9-]*)", line)
            if m and not in_code:
                globals_.add(m.group(1))
            continue
        body = body.split("  #", 1)[0]
        found.setdefault(path, set()).update(re.findall(r"--([a-z][a-z0-9-]*)", body))
    return found, globals_


def usage_line(help_text):
    """The usage lines of --help as one README synopsis, to paste."""
    lines = help_text.split("\n\n", 1)[0].splitlines()
    return " ".join(" ".join(lines).split()).replace("usage: ", "")


class CommandTable(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tree = command_tree()

    def test_every_command_answers_help_with_exit_0_and_help_command_agrees(self):
        problems = []
        for path, (text, _, _) in self.tree.items():
            for form in ([*path.split(), "-h"], ["help", *path.split()]):
                r = nvbind(*form)
                if r.returncode != 0 or r.stdout != text:
                    problems.append(f"`nvbind {' '.join(form)}`: exit {r.returncode}, "
                                    f"{'same' if r.stdout == text else 'different'} text than --help")
        self.assertEqual(problems, [])

    def test_version_short_and_long(self):
        for flag in ("-V", "--version"):
            r = nvbind(flag)
            self.assertEqual((r.returncode, r.stderr), (0, ""))
            self.assertRegex(r.stdout, r"^nvbind \d+\.\d+\.\d+\n$")

    def test_man_page_synopsis_and_sections_match_help(self):
        blocks, text = man_synopsis(self.tree)
        problems = []
        for path, (help_text, opts, subs) in self.tree.items():
            if path and not subs:
                if path not in blocks:
                    problems.append(f"docs/man/nvbind.1 SYNOPSIS: no `.B nvbind {path}` entry "
                                    f"(usage: {usage_line(help_text)})")
                else:
                    self._compare(problems, f"docs/man/nvbind.1 SYNOPSIS, `nvbind {path}`", set(opts), blocks[path])
            if path and not re.search(r'^\.SS "nvbind %s(?:[ "\[]|\\-|$)' % re.escape(path.replace("-", "\\-")),
                                      text, re.M):
                problems.append(f'docs/man/nvbind.1: no section `.SS "nvbind {path} ..."`')
        self._compare(problems, "docs/man/nvbind.1 GLOBAL OPTIONS", set(self.tree[""][1]), man_globals(text))
        self.assertEqual(problems, [], "\n" + "\n".join(problems))

    def test_readme_synopses_match_help(self):
        found, globals_ = readme_synopsis(self.tree)
        problems = []
        for path, (help_text, opts, subs) in self.tree.items():
            if not path or subs:
                continue
            if path not in found:
                problems.append(f"README.md: no synopsis line for `nvbind {path}` in the command-line section "
                                f"(usage: {usage_line(help_text)})")
            else:
                self._compare(problems, f"README.md, `nvbind {path}`", set(opts), found[path])
        self._compare(problems, "README.md global options table", set(self.tree[""][1]) - {"version"}, globals_)
        self.assertEqual(problems, [], "\n" + "\n".join(problems))

    @staticmethod
    def _compare(problems, where, expected, documented):
        missing, extra = sorted(expected - documented), sorted(documented - expected - {"help"})
        if missing:
            problems.append(f"{where}: missing " + ", ".join("--" + o for o in missing))
        if extra:
            problems.append(f"{where}: has " + ", ".join("--" + o for o in extra) + " that --help does not")

    def test_reporting_commands_have_json(self):
        lacking = [p for p in REPORTING if "json" not in self.tree[p][1]]
        self.assertEqual(lacking, [], "these report but have no --json")

    def test_help_names_only_configuration_keys_config_validate_accepts(self):
        """`run --help` once named [runtime] default_runtime and [gpu] default_selection,
        keys the configuration refuses."""
        keys = set()
        for text, _, _ in self.tree.values():
            keys |= set(re.findall(r"\[([a-z][a-z_.]*)\] ([a-z][a-z_]*)", text))
        self.assertIn(("runtime", "default"), keys)
        with tempfile.TemporaryDirectory() as tmp:
            for table, key in sorted(keys):
                path = os.path.join(tmp, "nvbind.toml")
                with open(path, "w") as f:
                    f.write(f'[{table}]\n{key} = "?"\n')
                r = nvbind("config", "validate", path)
                self.assertNotIn("unknown key", r.stderr, f"[{table}] {key} named in --help")
                self.assertNotIn("unknown table", r.stderr, f"[{table}] {key} named in --help")


class UsageErrors(unittest.TestCase):
    def expect(self, args, message):
        r = nvbind(*args)
        self.assertEqual((r.returncode, r.stdout, r.stderr), (2, "", message + "\n"), args)

    def test_unknown_short_option_in_a_bundle_is_named_by_its_letter(self):
        """getopt leaves optind on a bundle while letters remain: the argument before the
        bundle ("all", "--json") was named instead of the letter."""
        self.expect(["claims", "--state-dir", "/run/x", "-jq"],
                    "nvbind claims: unknown option '-q' (see nvbind claims --help)")
        self.expect(["info", "-dqj"], "nvbind info: unknown option '-q' (see nvbind info --help)")
        # letters left after the culprit, and a long option before the bundle: that option was
        # blamed ("--json takes no value")
        self.expect(["claims", "--json", "-qj"], "nvbind claims: unknown option '-q' (see nvbind claims --help)")
        self.expect(["cdi", "generate", "--format", "json", "-xk", "a/b"],
                    "nvbind cdi generate: unknown option '-x' (see nvbind cdi generate --help)")

    def test_group_commands(self):
        self.expect(["cdi"], "nvbind cdi: missing subcommand (generate, list, validate, check; see nvbind cdi --help)")
        self.expect(["config", "frob"], "nvbind config: unknown subcommand 'frob' (init, show, validate)")
        self.expect(["help", "cdi", "frob"], "nvbind help: unknown subcommand 'frob' (see nvbind cdi --help)")
        self.expect(["completion", "tcsh"], "nvbind completion: unknown shell 'tcsh' (bash, zsh or fish)")


class JsonReports(unittest.TestCase):
    def test_cdi_validate_json(self):
        with tempfile.TemporaryDirectory() as tmp:
            bad = os.path.join(tmp, "bad.json")
            with open(bad, "w") as f:
                json.dump({"cdiVersion": "0.5.0", "kind": "nvidia.com/gpu", "devices": []}, f)
            r = nvbind("cdi", "validate", "--json", bad)
            self.assertEqual(r.returncode, 1, r.stderr)
            doc = json.loads(r.stdout)
            self.assertEqual((doc["file"], doc["valid"]), (bad, False))
            self.assertTrue(doc["problems"])

    def test_config_validate_json(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "nvbind.toml")
            with open(path, "w") as f:
                f.write("[gpu]\ndefault = 3\n")
            r = nvbind("config", "validate", "--json", path)
            self.assertEqual(r.returncode, 5)
            doc = json.loads(r.stdout)
            self.assertEqual((doc["file"], doc["valid"]), (path, False))
            self.assertIn("gpu.default", doc["error"])
            with open(path, "w") as f:
                f.write('[gpu]\ndefault = "all"\n')
            doc = json.loads(nvbind("config", "validate", "--json", path, check=True).stdout)
            self.assertEqual((doc["valid"], doc["error"]), (True, None))

    def test_cdi_check_json(self):
        with nvbtest.FakeHost() as host, tempfile.TemporaryDirectory() as tmp:
            spec = os.path.join(tmp, "nvidia.com-gpu.json")
            host.nvbind("cdi", "generate", "--output", spec, check=True)
            doc = json.loads(host.nvbind("cdi", "check", "--json", spec, check=True).stdout)
            self.assertEqual(doc, [{"file": spec, "fresh": True, "stale": [], "error": None}])

    def test_run_dry_run_json(self):
        with nvbtest.FakeHost() as host, tempfile.TemporaryDirectory() as tmp:
            rootfs = os.path.join(tmp, "rootfs")
            os.makedirs(os.path.join(rootfs, "bin"))
            r = host.nvbind("run", "--runtime", "runc", "--dry-run", "--json", "--gpu", "0", rootfs, "true", check=True)
            doc = json.loads(r.stdout)
            self.assertEqual(doc["engine"], "runc")
            self.assertEqual(len(doc["commands"]), 1)
            self.assertEqual(doc["commands"][0][0], "runc")


# ---- completions, each in its own shell -------------------------------------------------------

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[=>]|\r|\x08")


def readline_words(line):
    """COMP_WORDS as readline makes them: split at blanks and around COMP_WORDBREAKS' ':' and
    '=' ("-v /a:/b" is -v, /a, :, /b), as a bash array's words."""
    words = []
    for w in line.split(" "):
        words += [p for p in re.split(r"([:=])", w) if p] or [""]
    return " ".join(shlex.quote(w) if w else "''" for w in words)


class Completions(unittest.TestCase):
    """`nvbind ru<TAB>` offers run and runtime; `nvbind run --g<TAB>` offers --gpu; a value
    and a subcommand come from the same table."""

    CASES = [("nvbind ru", {"run", "runtime"}), ("nvbind run --g", {"--gpu"}),
             ("nvbind cdi gen", {"generate"}), ("nvbind cdi generate --format ", {"json", "yaml"}),
             ("nvbind --root /tmp cl", {"claims"}), ("nvbind completion ", {"bash", "zsh", "fish"}),
             # an engine option's value is skipped: the word after it is IMAGE, then files
             ("nvbind run -v /tmp:/work --runtime ", {"podman", "docker", "bolt", "runc", "crun"})]

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="nvbind-completion-")
        for shell in ("bash", "zsh", "fish"):
            r = nvbind("completion", shell, check=True)
            name = {"bash": "nvbind", "zsh": "_nvbind", "fish": "nvbind.fish"}[shell]
            os.makedirs(os.path.join(cls.tmp, shell), exist_ok=True)
            with open(os.path.join(cls.tmp, shell, name), "w") as f:
                f.write(r.stdout)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_bash_with_bash_completion(self):
        """Loaded by bash-completion's own loader (the folder it looks in for `nvbind`), then
        asked as readline would: COMP_WORDS / COMP_CWORD, the answer in COMPREPLY."""
        if not os.path.exists("/usr/share/bash-completion/bash_completion"):
            self.skipTest("bash-completion is not installed")
        for line, want in self.CASES:
            script = (f'BASH_COMPLETION_USER_DIR={self.tmp}/bashdir; mkdir -p $BASH_COMPLETION_USER_DIR/completions; '
                      f'cp {self.tmp}/bash/nvbind $BASH_COMPLETION_USER_DIR/completions/; '
                      'source /usr/share/bash-completion/bash_completion; '
                      '__load_completion nvbind || exit 3; '
                      f'COMP_LINE={line!r}; COMP_POINT=${{#COMP_LINE}}; COMP_WORDS=({readline_words(line)}); '
                      'COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); '
                      'f=$(complete -p nvbind | sed -E "s/.*-F ([^ ]+).*/\\1/"); '
                      '$f nvbind "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"; '
                      'printf "%s\\n" "${COMPREPLY[@]}"')
            r = subprocess.run(["bash", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(set(r.stdout.split()), want, line)

    def test_fish(self):
        if not shutil.which("fish"):
            self.skipTest("fish is not installed")
        for line, want in self.CASES:
            script = f"source {self.tmp}/fish/nvbind.fish; complete -C {line!r}"
            r = subprocess.run(["fish", "--no-config", "-c", script],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
            self.assertEqual(r.stderr, "")
            self.assertEqual({w.split("\t")[0] for w in r.stdout.splitlines()}, want, line)

    def test_zsh_with_compinit(self):
        """A real interactive zsh on a pty (zsh/zpty): compinit finds _nvbind in $fpath, the
        line is typed and TAB pressed; what zsh then lists or inserts is the answer."""
        if not shutil.which("zsh"):
            self.skipTest("zsh is not installed")
        driver = os.path.join(self.tmp, "drive.zsh")
        with open(driver, "w") as f:
            f.write(ZPTY_DRIVER)
        for line, want in self.CASES:
            r = subprocess.run(["zsh", "-f", driver, os.path.join(self.tmp, "zsh"), line], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, timeout=60)
            screen = ANSI.sub(" ", r.stdout)
            words = set(re.findall(r"[\w-]+", screen))
            # One candidate is inserted into the line, several are listed under it; either way
            # the words starting with what was typed are zsh's answer.
            prefix = line.split(" ")[-1]
            if prefix:
                self.assertEqual({w for w in words if w.startswith(prefix) and w != prefix}, want,
                                 f"{line!r}: zsh showed {screen[-300:]!r}")
            else:
                self.assertTrue(want <= words, f"{line!r}: zsh showed {screen[-300:]!r}")


# Type a line into an interactive zsh and press TAB; print what the terminal shows.
ZPTY_DRIVER = r"""
zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z "PS1='>'; fpath=($1 \$fpath); autoload -U compinit; compinit -u -D"
zpty -w z "zstyle ':completion:*' list-prompt ''; unsetopt beep; setopt nolistambiguous; nvbind() { : }; print READY"
out=''
for i in {1..100}; do zpty -r -t z chunk && out+=$chunk; [[ $out == *READY*'>'* ]] && break; sleep 0.1; done
zpty -w -n z "$2"$'\t'
out=''
sleep 1
for i in {1..40}; do zpty -r -t z chunk && out+=$chunk; sleep 0.05; done
print -r -- "$out"
zpty -d z
"""


if __name__ == "__main__":
    unittest.main()
