#!/usr/bin/env python3
"""Real-packaging NVIDIA test host and real container image for nvbind's tests.

The fake hosts (tests/fakehost) are laid out by nvbind's own tests, so they can only confirm
our own assumptions. This builder makes a host from Debian's own packages instead:

* a minimal Debian 12 root (debootstrap, minbase) with Debian's NVIDIA driver user-space
  packages installed by apt inside it (amd64 and the i386 libraries Steam/Wine need); their
  maintainer scripts and update-alternatives run, then ldconfig;
* the kernel side a loaded driver would add (/proc/driver/nvidia, /proc/devices, /sys, /dev
  nodes, the persistenced socket), written by tests/fakehost's builder for a few GPUs;
* a driver-less Debian 12 root with the GL/Vulkan loaders a GPU application image carries,
  imported into podman as localhost/nvbind-debian:12.

Downloads are cached outside the checkout (NVBIND_REALHOST_CACHE, default
/var/cache/nvbind-tests/realhost): debootstrap's --cache-dir and apt's archives. A built host
and image are reused while their recipe hash matches; a new machine builds them fresh.

    python3 tests/realhost/realhost.py build|show|destroy|table [--output FILE]

From Python: ensure() -> {"root", "image", "image_root", "driver_version", "packages", "gpus"}.
Needs root, network access to the Debian mirror on the first build, debootstrap and podman.
"""

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "fakehost"))
import fakehost  # noqa: E402

MIRROR = "http://deb.debian.org/debian"
MIRROR_HOST = "deb.debian.org"
SUITE = "bookworm"
COMPONENTS = "main,contrib,non-free,non-free-firmware"
IMAGE = "localhost/nvbind-debian:12"
STATE = "realhost.json"
GPUS = 3

# Debian's NVIDIA driver user space, no kernel module and no DKMS. The i386 set is what a
# Steam or Wine container loads (GL, EGL, Vulkan, CUDA for PhysX, NVML, video).
HOST_PACKAGES = [
    "libcuda1", "libnvidia-ml1", "nvidia-smi", "libnvcuvid1", "libnvidia-encode1",
    "libnvidia-ptxjitcompiler1", "libnvidia-nvvm4", "libnvidia-opticalflow1", "libnvidia-fbc1",
    "libnvidia-cfg1", "libnvidia-allocator1", "libnvidia-api1",
    "libgl1-nvidia-glvnd-glx", "libglx-nvidia0", "libegl-nvidia0", "libgles-nvidia1", "libgles-nvidia2",
    "libnvidia-glcore", "libnvidia-eglcore", "libnvidia-glvkspirv", "libnvidia-rtcore", "libnvoptix1",
    "libnvidia-ngx1", "nvidia-vulkan-icd", "nvidia-egl-icd", "nvidia-opencl-icd", "nvidia-vdpau-driver",
    "libnvidia-egl-gbm1", "libnvidia-egl-wayland1", "nvidia-driver-bin", "firmware-nvidia-gsp",
    "xserver-xorg-video-nvidia", "nvidia-persistenced",
    "libcuda1:i386", "libnvidia-ml1:i386", "libgl1-nvidia-glvnd-glx:i386", "libglx-nvidia0:i386",
    "libegl-nvidia0:i386", "libnvidia-glcore:i386", "libnvidia-eglcore:i386", "nvidia-vulkan-icd:i386",
    "libnvidia-ptxjitcompiler1:i386", "libnvidia-encode1:i386", "libnvcuvid1:i386",
]
# What a GPU application image brings itself: the vendor-neutral loaders (glvnd, Vulkan,
# OpenCL, VDPAU, GBM, Wayland), never a driver. ldd comes with libc-bin (in minbase).
IMAGE_PACKAGES = [
    "libglvnd0", "libgl1", "libglx0", "libegl1", "libgles2", "libopengl0", "libvulkan1",
    "ocl-icd-libopencl1", "libvdpau1", "libgbm1", "libwayland-client0", "libwayland-server0",
    "libx11-6", "libxext6",
]
# Bump when the way the roots are made changes (not only what goes in them).
RECIPE_VERSION = 1


class RealHostUnavailable(Exception):
    """The host cannot be built for a reason outside nvbind (no route to the mirror)."""


def cache_dir():
    return os.environ.get("NVBIND_REALHOST_CACHE", "/var/cache/nvbind-tests/realhost")


def recipe(kind):
    r = {"version": RECIPE_VERSION, "suite": SUITE, "mirror": MIRROR, "components": COMPONENTS, "kind": kind}
    if kind == "host":
        r.update(packages=HOST_PACKAGES, gpus=GPUS)
    else:
        r.update(packages=IMAGE_PACKAGES)
    return hashlib.sha256(json.dumps(r, sort_keys=True).encode()).hexdigest()[:16]


def log(msg):
    print(f"realhost: {msg}", file=sys.stderr, flush=True)


def sh(args, logf, **kw):
    """Run a build step, its output appended to the build log; a failure names the step and
    ends with the log's tail."""
    logf.write(f"$ {' '.join(args)}\n")
    logf.flush()
    r = subprocess.run(args, stdout=logf, stderr=subprocess.STDOUT, **kw)
    if r.returncode != 0:
        logf.flush()
        with open(logf.name, errors="replace") as f:
            tail = f.read()[-2000:]
        raise RuntimeError(f"{' '.join(args[:4])}... failed with status {r.returncode}; "
                           f"log {logf.name}:\n{tail}")


def mirror_reachable():
    try:
        socket.create_connection((MIRROR_HOST, 80), timeout=10).close()
        return True
    except OSError:
        return False


@contextlib.contextmanager
def locked():
    """One builder at a time per cache (tests may call ensure() from several processes)."""
    os.makedirs(cache_dir(), exist_ok=True)
    with open(os.path.join(cache_dir(), "lock"), "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def chroot_env():
    return {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive",
            "LC_ALL": "C", "HOME": "/root"}


def base_recipe():
    r = {"version": RECIPE_VERSION, "suite": SUITE, "mirror": MIRROR, "components": COMPONENTS}
    return hashlib.sha256(json.dumps(r, sort_keys=True).encode()).hexdigest()[:16]


def base_root(logf):
    """The minbase Debian root both the host and the image start from: debootstrap runs once
    (the slowest step of a fresh build) and its result stays in the cache."""
    final = os.path.join(cache_dir(), f"base-{base_recipe()}")
    if os.path.isdir(final):
        return final
    for old in os.listdir(cache_dir()):
        if old.startswith(("base-", ".base-")):
            shutil.rmtree(os.path.join(cache_dir(), old), ignore_errors=True)
    debs = os.path.join(cache_dir(), "debootstrap")
    os.makedirs(debs, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".base-", dir=cache_dir())
    os.chmod(tmp, 0o755)
    try:
        sh(["debootstrap", "--variant=minbase", f"--components={COMPONENTS}", f"--cache-dir={debs}",
            SUITE, tmp, MIRROR], logf)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    os.rename(tmp, final)
    return final


def debootstrap(root, logf):
    """A copy of the minbase root, set up for apt inside a chroot."""
    sh(["cp", "-a", base_root(logf) + "/.", root], logf)
    with open(os.path.join(root, "etc/apt/sources.list"), "w") as f:
        f.write(f"deb {MIRROR} {SUITE} {COMPONENTS.replace(',', ' ')}\n")
    # No service may start inside the chroot while packages are configured.
    policy = os.path.join(root, "usr/sbin/policy-rc.d")
    with open(policy, "w") as f:
        f.write("#!/bin/sh\nexit 101\n")
    os.chmod(policy, 0o755)


def _link_debs(src, dst):
    """Hard-link the .deb files of src into dst (same file system: no copy, no mount)."""
    os.makedirs(dst, exist_ok=True)
    for name in os.listdir(src):
        if name.endswith(".deb") and not os.path.exists(os.path.join(dst, name)):
            try:
                os.link(os.path.join(src, name), os.path.join(dst, name))
            except OSError:
                shutil.copy2(os.path.join(src, name), os.path.join(dst, name))


def apt_install(root, packages, logf, i386=False):
    """apt-get install inside the chroot, apt's archives kept in the cache between builds."""
    archives = os.path.join(cache_dir(), "apt-archives")
    os.makedirs(archives, exist_ok=True)
    inside = os.path.join(root, "var/cache/apt/archives")
    _link_debs(archives, inside)
    env = chroot_env()
    if i386:
        sh(["chroot", root, "dpkg", "--add-architecture", "i386"], logf, env=env)
    sh(["chroot", root, "apt-get", "update", "-q"], logf, env=env)
    sh(["chroot", root, "apt-get", "install", "-y", "-q", "--no-install-recommends", *packages], logf, env=env)
    _link_debs(inside, archives)
    sh(["chroot", root, "apt-get", "clean"], logf, env=env)
    os.unlink(os.path.join(root, "usr/sbin/policy-rc.d"))


def installed_packages(root):
    out = subprocess.run(["chroot", root, "dpkg-query", "-W", "-f", "${Package}:${Architecture} ${Version}\n"],
                         stdout=subprocess.PIPE, check=True, text=True, env=chroot_env()).stdout
    return dict(line.split(" ", 1) for line in out.splitlines() if line)


def kernel_side(root, driver_version, gpus):
    """/proc, /sys, /dev and the persistenced socket of a host with the driver loaded, made by
    the fake host builder (its kernel-side half only: the user space is Debian's here)."""
    for name in ("null", "zero", "full", "random", "urandom", "tty"):
        p = os.path.join(root, "dev", name)
        if os.path.lexists(p):
            os.unlink(p)  # debootstrap's nodes; the fake host builder makes the same ones
    opts = {
        "layout": "debian", "gpus": gpus, "kmod": "open", "driver_version": driver_version,
        "shuffle_minors": True, "mig": False, "fake_nvml": None, "no_driver": False, "dev_char": True,
        "plain_glvnd": False, "lib32": True, "persistenced": True, "fabricmanager": False, "mps": False,
        "bmc": False, "models": ["a100"], "uvm_major": fakehost.DEFAULT_UVM_MAJOR,
        "caps_major": fakehost.DEFAULT_CAPS_MAJOR, "seed": "nvbind-realhost", "nvml_overrides": None,
    }
    b = fakehost._Builder(root, opts)
    b.plan_gpus()
    b.write_proc()
    b.write_sys()
    b.write_dev()
    b.write_ipc()
    return [{"index": g["index"], "minor": g["minor"], "uuid": g["uuid"], "pci_bus_id": g["bus_id"],
             "name": g["model"]["name"]} for g in b.gpus]


def build_host(root, logf):
    debootstrap(root, logf)
    apt_install(root, HOST_PACKAGES, logf, i386=True)
    sh(["chroot", root, "ldconfig"], logf, env=chroot_env())
    packages = installed_packages(root)
    driver = packages["libcuda1:amd64"].split("-")[0].split(":")[-1]
    gpus = kernel_side(root, driver, GPUS)
    return {"driver_version": driver, "packages": packages, "gpus": gpus}


def build_image_root(root, logf):
    debootstrap(root, logf)
    apt_install(root, IMAGE_PACKAGES, logf)
    return {"packages": installed_packages(root)}


def write_state(root, info):
    """root/realhost.json, replaced whole (a reader never sees half of it)."""
    tmp = os.path.join(root, STATE + ".tmp")
    with open(tmp, "w") as f:
        json.dump(info, f, indent=2, sort_keys=True)
    os.replace(tmp, os.path.join(root, STATE))


def _built(kind, builder):
    """The root of `kind` for the current recipe: reused when present, else built in a
    temporary folder and renamed into place (a killed build leaves no half root behind)."""
    name = f"{kind}-{recipe(kind)}"
    final = os.path.join(cache_dir(), name)
    state = os.path.join(final, STATE)
    if os.path.exists(state):
        with open(state) as f:
            return final, json.load(f)
    if not mirror_reachable():
        raise RealHostUnavailable(f"{MIRROR_HOST} cannot be reached: the real {kind} root cannot be built")
    for old in os.listdir(cache_dir()):
        p = os.path.join(cache_dir(), old)
        if old.startswith((f"{kind}-", f".{kind}-")) and os.path.isdir(p):
            shutil.rmtree(p, ignore_errors=True)  # another recipe's root, or a killed build's
    tmp = tempfile.mkdtemp(prefix=f".{name}.", dir=cache_dir())
    os.chmod(tmp, 0o755)
    started = time.monotonic()
    with open(os.path.join(cache_dir(), f"{kind}-build.log"), "w") as logf:
        log(f"building the {kind} root (log {logf.name})")
        try:
            info = builder(tmp, logf)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    info["recipe"] = recipe(kind)
    info["build_seconds"] = round(time.monotonic() - started, 1)
    write_state(tmp, info)
    os.rename(tmp, final)
    log(f"{kind} root built in {info['build_seconds']} s")
    return final, info


def _podman_image_id():
    r = subprocess.run(["podman", "image", "inspect", "--format", "{{.Id}}", IMAGE], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, text=True)
    return r.stdout.strip() if r.returncode == 0 else None


def _import_image(image_root, info):
    """podman import of the image root, redone when the image is missing or another one
    holds its name."""
    if info.get("image_id") and _podman_image_id() == info["image_id"]:
        return
    tar = subprocess.Popen(["tar", "-C", image_root, "--exclude", "./" + STATE, "-c", "."], stdout=subprocess.PIPE)
    r = subprocess.run(["podman", "import", "--change", "CMD=/bin/bash", "-", IMAGE], stdin=tar.stdout,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    tar.stdout.close()
    if tar.wait() != 0 or r.returncode != 0:
        raise RuntimeError(f"podman import of {image_root} as {IMAGE} failed: {r.stderr.strip()}")
    info["image_id"] = _podman_image_id()
    write_state(image_root, info)


def ensure():
    """Build what is missing (or reuse it) and return where everything is."""
    if os.geteuid() != 0:
        raise RealHostUnavailable("the real host builder runs debootstrap and chroot: run it as root")
    for tool in ("debootstrap", "podman", "chroot"):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            raise RuntimeError(f"{tool} is not installed (scripts/install-deps installs it)")
    with locked():
        root, host = _built("host", build_host)
        image_root, image = _built("image", build_image_root)
        _import_image(image_root, image)
    return {"root": root, "image": IMAGE, "image_root": image_root, "driver_version": host["driver_version"],
            "packages": host["packages"], "gpus": host["gpus"], "build_seconds": {
                "host": host.get("build_seconds"), "image": image.get("build_seconds")}}


def destroy():
    """Remove the built roots and the image (the download cache stays)."""
    with locked():
        for name in os.listdir(cache_dir()):
            if name.split("-")[0].lstrip(".").split(".")[0] in ("host", "image", "base"):
                p = os.path.join(cache_dir(), name)
                if os.path.isdir(p):
                    shutil.rmtree(p, ignore_errors=True)
        subprocess.run(["podman", "rmi", "-f", IMAGE], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _main(argv):
    ap = argparse.ArgumentParser(prog="realhost.py")
    ap.add_argument("command", choices=["build", "show", "destroy", "table"])
    ap.add_argument("--nvbind", default=os.path.join(REPO, "build", "src", "nvbind"))
    ap.add_argument("--output", help="table: write the Markdown here instead of stdout")
    a = ap.parse_args(argv)
    try:
        if a.command == "destroy":
            destroy()
            return 0
        info = ensure()
    except RealHostUnavailable as e:
        print(f"realhost: {e}", file=sys.stderr)
        return 3
    if a.command == "table":
        import pkgtable
        text = pkgtable.markdown(info, a.nvbind)
        if a.output:
            with open(a.output, "w") as f:
                f.write(text)
        else:
            sys.stdout.write(text)
        return 0
    shown = dict(info)
    if a.command == "build":
        shown.pop("packages")
    print(json.dumps(shown, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
