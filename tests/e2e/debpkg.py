"""Build nvbind's Debian packages from the checkout, once per state of the tree.

Shared by tests/e2e/test_package.py (installs them into a debootstrap root) and tests/run's
build check build:debian-package (lintian): whichever comes first in a run builds, the other
reuses the result while the tree is unchanged.

The build runs in a copy of the tree (the files git tracks, and untracked ones it does not
ignore) under build-deb/, because dpkg-buildpackage writes its .deb files next to the source
folder and its debian/ work files inside it: the checkout stays as it was.

DEB_BUILD_OPTIONS=nocheck: tests/run has just run the whole suite on this same tree; a second
run of the unit tests inside the package build would add minutes and test nothing new.
"""
import hashlib
import json
import os
import shutil
import subprocess
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(REPO, "build-deb")
PACKAGES = ("nvbind", "nvbind-device-plugin", "nvbind-monitor", "libnvbind0", "libnvbind-dev")


class PackageBuildError(Exception):
    pass


def tree_files():
    out = subprocess.run(["git", "-C", REPO, "ls-files", "-z", "-c", "-o", "--exclude-standard"],
                         stdout=subprocess.PIPE, check=True).stdout
    return sorted(p for p in out.decode().split("\0") if p and os.path.isfile(os.path.join(REPO, p)))


def tree_hash(files):
    h = hashlib.sha256()
    for p in files:
        full = os.path.join(REPO, p)
        h.update(p.encode() + b"\0" + oct(os.stat(full).st_mode & 0o777).encode() + b"\0")
        with open(full, "rb") as f:
            h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()


def _reuse(stamp, want):
    try:
        with open(stamp) as f:
            s = json.load(f)
    except (OSError, ValueError):
        return None
    if s.get("tree") != want or not all(os.path.exists(p) for p in s.get("debs", {}).values()):
        return None
    return dict(s, reused=True)


def build():
    """{"debs": {package: path}, "changes": path, "seconds": build time, "reused": bool}."""
    files = tree_files()
    want = tree_hash(files)
    stamp = os.path.join(OUT, "stamp.json")
    got = _reuse(stamp, want)
    if got:
        return got
    shutil.rmtree(OUT, ignore_errors=True)
    src = os.path.join(OUT, "nvbind")
    os.makedirs(src)
    for p in files:
        os.makedirs(os.path.dirname(os.path.join(src, p)), exist_ok=True)
        shutil.copy2(os.path.join(REPO, p), os.path.join(src, p))
    env = dict(os.environ, DEB_BUILD_OPTIONS=f"nocheck parallel={os.cpu_count() or 1}")
    started = time.monotonic()
    with open(os.path.join(OUT, "build.log"), "w") as log:
        r = subprocess.run(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=src, env=env, stdout=log,
                           stderr=subprocess.STDOUT)
    seconds = round(time.monotonic() - started, 1)
    if r.returncode != 0:
        with open(os.path.join(OUT, "build.log"), errors="replace") as f:
            tail = f.read()[-3000:]
        raise PackageBuildError(f"dpkg-buildpackage failed with status {r.returncode} "
                                f"(log build-deb/build.log):\n{tail}")
    version = subprocess.run(["dpkg-parsechangelog", "-S", "Version"], cwd=src, stdout=subprocess.PIPE,
                             text=True, check=True).stdout.strip()
    arch = subprocess.run(["dpkg", "--print-architecture"], stdout=subprocess.PIPE, text=True,
                          check=True).stdout.strip()
    debs = {p: os.path.join(OUT, f"{p}_{version}_{arch}.deb") for p in PACKAGES}
    missing = [p for p, path in debs.items() if not os.path.exists(path)]
    if missing:
        raise PackageBuildError(f"dpkg-buildpackage made no package {', '.join(missing)}")
    s = {"tree": want, "debs": debs, "changes": os.path.join(OUT, f"nvbind_{version}_{arch}.changes"),
         "version": version, "seconds": seconds}
    with open(stamp + ".tmp", "w") as f:
        json.dump(s, f, indent=2)
    os.replace(stamp + ".tmp", stamp)
    return dict(s, reused=False)


def lintian(changes):
    """lintian's tags for the built packages: (errors, warnings), one line each."""
    r = subprocess.run(["lintian", "--no-tag-display-limit", changes], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    lines = r.stdout.splitlines()
    return [ln for ln in lines if ln.startswith("E: ")], [ln for ln in lines if ln.startswith("W: ")]
