"""Shared helpers for nvbind's integration tests: the binary under test, fake hosts,
and running commands."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests", "fakehost"))
import fakehost  # noqa: E402

NVBIND = os.environ.get("NVBIND_BIN", os.path.join(REPO, "build", "src", "nvbind"))
BUILD_DIR = os.environ.get("NVBIND_BUILD_DIR", os.path.join(REPO, "build"))
FAKENVML = os.environ.get("NVBIND_FAKENVML", os.path.join(BUILD_DIR, "tests", "fakenvml", "libnvidia-ml.so.1"))
SCHEMA_DIR = os.path.join(os.path.dirname(REPO), "shared", "cdi-schema")


def run(args, input=None, env=None, timeout=120, check=False):
    """Run a command; returns CompletedProcess with text stdout/stderr."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    r = subprocess.run(args, input=input, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"{args} exited {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}")
    return r


def nvbind(*args, **kw):
    return run([NVBIND, *args], **kw)


def nvbind_json(*args, **kw):
    r = nvbind(*args, **kw)
    if r.returncode != 0:
        raise AssertionError(f"nvbind {' '.join(args)} exited {r.returncode}: {r.stderr}")
    return json.loads(r.stdout)


class FakeHost:
    """A fake host in a temporary folder, removed with the object's context."""

    def __init__(self, **options):
        self.tmp = tempfile.mkdtemp(prefix="nvbind-fakehost-")
        self.root = os.path.join(self.tmp, "host")
        self.manifest = fakehost.build(self.root, **options)
        self.args = list(self.manifest["nvbind_args"])

    def nvbind(self, *args, **kw):
        return nvbind(*self.args, *args, **kw)

    def nvbind_json(self, *args, **kw):
        return nvbind_json(*self.args, *args, **kw)

    def remove(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
