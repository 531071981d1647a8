#!/usr/bin/env python3
"""Fake NVIDIA host builder for nvbind's tests and demo.

Builds, under a directory, a complete fake NVIDIA host that nvbind inspects through
`--root DIR` (and `--driver-root /run/nvidia/driver` for the GPU-operator layout):

* /proc/driver/nvidia/... and /proc/devices in the driver's exact text formats;
* /sys/bus/pci/devices/<bus id>/... for each GPU (vendor, device, class, NUMA node, DRM nodes);
* real character device nodes (mknod: run as root) with the driver's majors and minors;
* real ELF stub libraries carrying the driver's SONAMEs, indexed by the real `ldconfig -r`;
* binaries, firmware, vendor configuration files and IPC sockets where the driver puts them;
* decoys (glvnd, Mesa, CUDA toolkit, a stale older driver) that must never be reported.

It writes DIR/manifest.json: the discovery result nvbind is expected to report, derived from
the description of the host (never from running nvbind), plus the decoys.

Use it as a module (`build(dir, ...)`, `destroy(dir)`) or from the command line:

    python3 tests/fakehost/fakehost.py build DIR [--layout debian|debian-packaged|debian-tesla|fedora|arch|operator]
        [--gpus N]
        [--kmod open|proprietary] [--driver-version V] [--shuffle-minors] [--mig]
        [--fake-nvml LIBPATH] [--no-driver] [--no-dev-char] [--drm-gpus amd,intel,...] ...
    python3 tests/fakehost/fakehost.py build-wsl2 DIR [--gpus N] [--fake-nvml LIBPATH] [--old-driver]
        [--no-dxcore] [--no-ld-conf] [--no-wslg] [--no-systemd]
    python3 tests/fakehost/fakehost.py destroy DIR

Other vendors' GPUs (`drm_gpus=["amd", "intel", "nouveau", ...]`, see DRM_GPU_MODELS) are
added next to the NVIDIA ones, or alone with `no_driver=True, gpus=0`: their PCI device,
DRM nodes, and for AMD /dev/kfd with its KFD topology; the manifest's "drm_gpus" lists what
nvbind should report for them.

Standard library only; needs gcc (once per machine: the compiled stub is cached) and ldconfig.
"""

import argparse
import hashlib
import json
import os
import random
import shutil
import socket
import stat
import subprocess
import sys
import tempfile

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
DEFAULT_DRIVER_VERSION = "550.54.14"
STALE_DRIVER_VERSION = "535.129.03"
NVML_DATA_NAME = "fakenvml.json"

# Majors: 195 and 226 are fixed by the kernel; the others are dynamic. Those above 255 are
# what a host with many drivers gets (the kernel hands out 511 downwards once 234..254 run out),
# and they make sure nobody decodes a dev_t with 8-bit majors.
FRONTEND_MAJOR = 195
DRM_MAJOR = 226
DEFAULT_UVM_MAJOR = 510
DEFAULT_CAPS_MAJOR = 509
NVLINK_MAJOR = 508
CAPS_IMEX_MAJOR = 511

# PCI addresses of the GPUs, in bus order. They are created in another order (CREATION_ORDER)
# so that directory order is not bus order.
BUS_IDS = ["0000:01:00.0", "0000:21:00.0", "0000:41:00.0", "0000:61:00.0",
           "0000:81:00.0", "0000:a1:00.0", "0000:c1:00.0", "0000:e1:00.0"]
CREATION_ORDER = [5, 2, 7, 1, 3, 6, 0, 4]  # GPU 1 before GPU 0: out of order for any count
BMC_BUS_ID = "0000:03:00.0"
HOST_BRIDGE_BUS_ID = "0000:00:00.0"

GPU_MODELS = {
    "a100": {
        "name": "NVIDIA A100-SXM4-80GB", "device_id": 0x20B2, "subsystem": (0x10DE, 0x1463),
        "pci_class": 0x030200, "memory_mib": 81920, "cc": (8, 0), "brand": "NVIDIA",
        "nvml_brand": 14, "vbios": "92.00.36.00.10", "mig": {"profile": "3g.40gb", "memory_mib": 40192},
        "datacenter": True,
    },
    "h100": {
        "name": "NVIDIA H100 80GB HBM3", "device_id": 0x2330, "subsystem": (0x10DE, 0x16C1),
        "pci_class": 0x030200, "memory_mib": 81559, "cc": (9, 0), "brand": "NVIDIA",
        "nvml_brand": 14, "vbios": "96.00.74.00.0B", "mig": {"profile": "3g.40gb", "memory_mib": 40320},
        "datacenter": True,
    },
    "rtx4090": {
        "name": "NVIDIA GeForce RTX 4090", "device_id": 0x2684, "subsystem": (0x10DE, 0x167C),
        "pci_class": 0x030000, "memory_mib": 24564, "cc": (8, 9), "brand": "GeForce",
        "nvml_brand": 5, "vbios": "95.02.18.80.5F", "mig": None, "datacenter": False,
    },
}

# GPUs of other drivers (every vendor, issue 13): PCI ids, class, kernel driver, and whether
# the KFD topology lists it (AMD compute). "bus" pins an integrated GPU's usual address.
DRM_GPU_MODELS = {
    "amd": {"vendor": 0x1002, "device": 0x744C, "class": 0x030000, "driver": "amdgpu", "kfd": True, "numa": 0},
    "amd-mi210": {"vendor": 0x1002, "device": 0x740F, "class": 0x038000, "driver": "amdgpu", "kfd": True, "numa": 1},
    "amd-nokfd": {"vendor": 0x1002, "device": 0x15BF, "class": 0x030000, "driver": "amdgpu", "kfd": False,
                  "numa": -1},
    "intel": {"vendor": 0x8086, "device": 0xA780, "class": 0x030000, "driver": "i915", "kfd": False, "numa": -1,
              "bus": "0000:00:02.0"},
    "intel-xe": {"vendor": 0x8086, "device": 0xE20B, "class": 0x030000, "driver": "xe", "kfd": False, "numa": 0},
    "nouveau": {"vendor": 0x10DE, "device": 0x1F82, "class": 0x030000, "driver": "nouveau", "kfd": False, "numa": -1},
    "vmwgfx": {"vendor": 0x15AD, "device": 0x0405, "class": 0x030000, "driver": "vmwgfx", "kfd": False, "numa": -1},
}
DRM_BUS_IDS = ["0000:0c:00.0", "0000:2c:00.0", "0000:4c:00.0", "0000:6c:00.0", "0000:8c:00.0", "0000:ac:00.0"]
DRM_KINDS = {"amdgpu": "amd.com/gpu", "i915": "intel.com/gpu", "xe": "intel.com/gpu"}
DRM_VENDORS = {0x1002: "amd", 0x8086: "intel", 0x10DE: "nvidia", 0x15AD: "vmware"}
KFD_MAJOR = 235

# CUDA version each driver branch brings (what nvmlSystemGetCudaDriverVersion reports).
CUDA_BY_BRANCH = {535: 12020, 545: 12030, 550: 12040, 555: 12050, 560: 12060, 565: 12070,
                  570: 12080, 575: 12090, 580: 13000}

RELEASE_DATES = {"550.54.14": "Thu Feb 22 01:44:30 UTC 2024"}
DEFAULT_RELEASE_DATE = "Tue Jan 14 10:20:30 UTC 2025"

# The driver's user-space libraries (NVIDIA's manifest for the 550 branch, x86_64).
# soname: "1" -> lib.so.1; "ver" -> the SONAME is the versioned file name itself;
# "plain:<n>" -> shipped as an unversioned file lib.so.<n>; "own:<version>:<n>" -> its own
# version (egl-wayland, egl-gbm). i386: also shipped 32-bit. dev: a lib.so development link.
DRIVER_LIBS = [
    # utility
    ("libnvidia-ml", "1", True, True),
    ("libnvidia-cfg", "1", False, False),
    # compute
    ("libcuda", "1", True, True),
    ("libcudadebugger", "1", False, False),
    ("libnvidia-ptxjitcompiler", "1", True, True),
    ("libnvidia-nvvm", "4", False, True),
    ("libnvidia-gpucomp", "ver", True, False),
    ("libnvidia-opencl", "1", True, False),
    ("libnvidia-allocator", "1", True, False),
    ("libnvidia-pkcs11", "ver", False, False),
    ("libnvidia-pkcs11-openssl3", "ver", False, False),
    ("libnvidia-api", "plain:1", False, False),
    # video
    ("libnvcuvid", "1", True, True),
    ("libnvidia-encode", "1", True, True),
    ("libnvidia-opticalflow", "1", False, True),
    ("libvdpau_nvidia", "1", True, False),
    # graphics
    ("libGLX_nvidia", "0", True, False),
    ("libEGL_nvidia", "0", True, False),
    ("libGLESv2_nvidia", "2", True, False),
    ("libGLESv1_CM_nvidia", "1", True, False),
    ("libnvidia-glcore", "ver", True, False),
    ("libnvidia-eglcore", "ver", True, False),
    ("libnvidia-glsi", "ver", True, False),
    ("libnvidia-tls", "ver", True, False),
    ("libnvidia-glvkspirv", "ver", True, False),
    ("libnvidia-rtcore", "ver", False, False),
    ("libnvoptix", "1", False, False),
    ("libnvidia-fbc", "1", True, False),
    ("libnvidia-egl-gbm", "own:1.1.1:1", False, False),
    ("libnvidia-egl-wayland", "own:1.1.13:1", False, False),
    # ngx
    ("libnvidia-ngx", "1", False, False),
]

# Libraries that live beside the driver's but are not NVIDIA's driver: (file, SONAME).
DECOY_LIBS = [
    ("libGL.so.1.7.0", "libGL.so.1"),
    ("libEGL.so.1.1.0", "libEGL.so.1"),
    ("libGLX.so.0.0.0", "libGLX.so.0"),
    ("libGLdispatch.so.0.0.0", "libGLdispatch.so.0"),
    ("libOpenGL.so.0.0.0", "libOpenGL.so.0"),
    ("libGLESv2.so.2.1.0", "libGLESv2.so.2"),
    ("libvulkan.so.1.3.239", "libvulkan.so.1"),
    ("libOpenCL.so.1.0.0", "libOpenCL.so.1"),
    ("libEGL_mesa.so.0.0.0", "libEGL_mesa.so.0"),
    ("libGLX_mesa.so.0.0.0", "libGLX_mesa.so.0"),
    ("libvdpau.so.1.0.0", "libvdpau.so.1"),
    ("libz.so.1.2.13", "libz.so.1"),
]
DECOY_LIBS_64_ONLY = [
    ("libnvidia-container.so.1.14.6", "libnvidia-container.so.1"),
    ("libcudart.so.12.4.99", "libcudart.so.12"),
    ("libnvrtc.so.12.4.99", "libnvrtc.so.12"),
]

BINARIES = ["nvidia-smi", "nvidia-debugdump", "nvidia-persistenced",
            "nvidia-cuda-mps-control", "nvidia-cuda-mps-server"]
FIRMWARE = ["gsp_ga10x.bin", "gsp_tu10x.bin"]


class Layout:
    def __init__(self, name, driver_root, lib64, lib32, ldconf, firmware, vulkan_icd, vulkan_layer,
                 plain_glvnd, gcc, glx_indirect, package=None):
        self.name = name
        self.driver_root = driver_root  # absolute path on the host ("/" = the host root)
        self.lib64 = lib64              # driver libraries, relative to the driver root
        self.lib32 = lib32              # 32-bit libraries, or None
        self.ldconf = ldconf            # {conf file: [folders]} under etc/ld.so.conf.d
        self.firmware = firmware        # firmware base folder
        self.vulkan_icd = vulkan_icd    # folder of nvidia_icd.json
        self.vulkan_layer = vulkan_layer
        self.plain_glvnd = plain_glvnd  # libGLX_nvidia.so.0 / libEGL_nvidia.so.0 as plain files
        self.gcc = gcc                  # what /proc/driver/nvidia/version names as compiler
        self.glx_indirect = glx_indirect
        # A distribution's own packaging (Debian's nvidia-* packages): files in package folders
        # ("nvidia/current" under each library folder and under usr/lib), offered where programs
        # look through update-alternatives links. None: files where programs look.
        self.package = package


LAYOUTS = {
    "debian": Layout(
        "debian", "/", "usr/lib/x86_64-linux-gnu", "usr/lib/i386-linux-gnu",
        {"x86_64-linux-gnu.conf": ["/usr/local/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu",
                                   "/usr/lib/x86_64-linux-gnu"],
         "i386-linux-gnu.conf": ["/usr/local/lib/i386-linux-gnu", "/lib/i386-linux-gnu",
                                 "/usr/lib/i386-linux-gnu"],
         "libc.conf": ["/usr/local/lib"]},
        "lib/firmware", "usr/share/vulkan/icd.d", "usr/share/vulkan/implicit_layer.d", False,
        "gcc version 12.2.0 (Debian 12.2.0-14) ", True),
    "fedora": Layout(
        "fedora", "/", "usr/lib64", "usr/lib",
        # Fedora's own ldconfig trusts /usr/lib64 and /usr/lib without configuration; the
        # ldconfig that builds the cache here is this machine's, so name them.
        {"fakehost-trusted-dirs.conf": ["/usr/lib64", "/usr/lib"]},
        "usr/lib/firmware", "etc/vulkan/icd.d", "usr/share/vulkan/implicit_layer.d", True,
        "gcc version 13.2.1 20240316 (Red Hat 13.2.1-7) (GCC) ", False),
    "arch": Layout(
        "arch", "/", "usr/lib", "usr/lib32",
        {"fakehost-trusted-dirs.conf": ["/usr/lib", "/usr/lib32"]},
        "usr/lib/firmware", "usr/share/vulkan/icd.d", "usr/share/vulkan/implicit_layer.d", False,
        "gcc version 13.2.1 20240417 (GCC) ", False),
    "operator": Layout(
        "operator", "/run/nvidia/driver", "usr/lib/x86_64-linux-gnu", None,
        {"x86_64-linux-gnu.conf": ["/usr/local/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu",
                                   "/usr/lib/x86_64-linux-gnu"],
         "libc.conf": ["/usr/local/lib"]},
        # NVIDIA's .run installer (used by the operator's driver container) writes the
        # Vulkan files under /etc.
        "lib/firmware", "etc/vulkan/icd.d", "etc/vulkan/implicit_layer.d", False,
        "gcc version 11.4.0 (Ubuntu 11.4.0-1ubuntu1~22.04) ", True),
}

# Debian's packaging of the driver (bookworm's nvidia-* 535 packages), and the same with
# another package folder name (the nvidia-tesla-* flavours have their own): nothing may
# depend on the folder's name.
for _name, _folder in (("debian-packaged", "nvidia/current"), ("debian-tesla", "nvidia/tesla-535")):
    _d = LAYOUTS["debian"]
    LAYOUTS[_name] = Layout(_name, "/", _d.lib64, _d.lib32, _d.ldconf, "usr/lib/firmware", _d.vulkan_icd,
                            _d.vulkan_layer, False, _d.gcc, True, package=_folder)

# Libraries Debian ships in the package folder without an alternatives link: found there only.
PACKAGE_ONLY_LIBS = ["libnvidia-vulkan-producer"]
TRIPLETS = {"usr/lib/x86_64-linux-gnu": "x86_64-linux-gnu", "usr/lib/i386-linux-gnu": "i386-linux-gnu"}


class FakeHostError(Exception):
    """A fake host cannot be built or destroyed as asked."""


# ---------------------------------------------------------------------------------------------
# ELF stubs

_PLACEHOLDER = ("FAKEHOST_SONAME_PLACEHOLDER_" + "X" * 200)[:200].encode()
_STUB_SOURCE = "int fakehost_stub_marker = 1;\n"
_stub_memo = {}


def _stub_cache_dir():
    """A per-user cache folder for the compiled stubs, refusing one someone else controls."""
    base = os.environ.get("FAKEHOST_CACHE_DIR") or os.path.join(
        tempfile.gettempdir(), "nvbind-fakehost-cache-%d" % os.getuid())
    try:
        os.mkdir(base, 0o700)
    except FileExistsError:
        pass
    st = os.lstat(base)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o022:
        raise FakeHostError("stub cache folder %s is not a private folder of this user" % base)
    return base


def _compile_stub(bits):
    """Compile (once) a shared object whose SONAME is a 200-byte placeholder, linked against a
    dummy libc.so.6 so that ldconfig classes it like a real glibc library. Returns bytes or None
    when this machine cannot build that class (e.g. no 32-bit toolchain)."""
    key = hashlib.sha256((_STUB_SOURCE + str(bits) + _PLACEHOLDER.decode()).encode()).hexdigest()[:16]
    cache = _stub_cache_dir()
    cached = os.path.join(cache, "stub%d-%s.so" % (bits, key))
    if os.path.exists(cached):
        with open(cached, "rb") as f:
            return f.read()
    failed = os.path.join(cache, "stub%d-%s.failed" % (bits, key))
    if os.path.exists(failed):
        return None
    cc = os.environ.get("CC", "gcc")
    arch = ["-m32"] if bits == 32 else ["-m64"]
    with tempfile.TemporaryDirectory(dir=cache) as work:
        src = os.path.join(work, "stub.c")
        with open(src, "w") as f:
            f.write(_STUB_SOURCE)
        libc = os.path.join(work, "libc.so.6")
        out = os.path.join(work, "stub.so")
        common = [cc] + arch + ["-shared", "-fPIC", "-nostdlib", "-O0", "-g0", "-Wl,--build-id=none"]
        try:
            subprocess.run(common + ["-Wl,-soname,libc.so.6", "-o", libc, src],
                           check=True, capture_output=True)
            subprocess.run(common + ["-Wl,-soname," + _PLACEHOLDER.decode(), "-o", out, src,
                                     "-Wl,--no-as-needed", libc], check=True, capture_output=True)
        except (OSError, subprocess.CalledProcessError):
            if bits == 32:
                open(failed, "w").close()
                return None
            raise FakeHostError("cannot compile the ELF stub with %s (is gcc installed?)" % cc)
        with open(out, "rb") as f:
            data = f.read()
        if data.count(_PLACEHOLDER) != 1:
            raise FakeHostError("compiled stub does not hold its SONAME placeholder exactly once")
        tmp = cached + ".%d.tmp" % os.getpid()
        with open(tmp, "wb") as f:
            f.write(data)
        os.rename(tmp, cached)
        return data


def _stub(bits):
    if bits not in _stub_memo:
        data = _compile_stub(bits)
        _stub_memo[bits] = (data, data.index(_PLACEHOLDER)) if data else None
    return _stub_memo[bits]


def elf_with_soname(bits, soname):
    """Bytes of a real shared object (ELF class `bits`) whose DT_SONAME is `soname`."""
    stub = _stub(bits)
    if stub is None:
        raise FakeHostError("no %d-bit stub on this machine" % bits)
    data, off = stub
    name = soname.encode()
    if len(name) >= len(_PLACEHOLDER):
        raise FakeHostError("SONAME too long: %s" % soname)
    return data[:off] + name + b"\0" * (len(_PLACEHOLDER) - len(name)) + data[off + len(_PLACEHOLDER):]


# ---------------------------------------------------------------------------------------------
# Small file helpers


def _write(path, content, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    data = content.encode() if isinstance(content, str) else content
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


def _symlink(target, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    os.symlink(target, path)


def _mknod(path, major, minor, mode):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        os.mknod(path, stat.S_IFCHR | mode, os.makedev(major, minor))
    except PermissionError:
        raise FakeHostError("mknod %s: permission denied (the fake host builder must run as root)" % path)
    os.chmod(path, mode)


def _bind_socket(path):
    """Leave a real UNIX socket inode at `path` (bound, then closed)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        if len(path.encode()) < 100:
            s.bind(path)
        else:  # sun_path is 108 bytes: go through the folder's descriptor
            fd = os.open(os.path.dirname(path), os.O_RDONLY | os.O_DIRECTORY)
            try:
                s.bind("/proc/self/fd/%d/%s" % (fd, os.path.basename(path)))
            finally:
                os.close(fd)
    finally:
        s.close()


def _uuid_from(seed_text):
    h = hashlib.sha256(seed_text.encode()).hexdigest()
    return "%s-%s-%s-%s-%s" % (h[0:8], h[8:12], h[12:16], h[16:20], h[20:32])


def _parse_bus_id(bus_id):
    dom, bus, rest = bus_id.split(":")
    dev, fn = rest.split(".")
    return int(dom, 16), int(bus, 16), int(dev, 16), int(fn, 16)


def cuda_version_of(driver_version):
    """CUDA driver API version (e.g. 12040) of a driver version."""
    try:
        branch = int(driver_version.split(".")[0])
    except ValueError:
        return 12040
    best = 12040
    for b in sorted(CUDA_BY_BRANCH):
        if branch >= b:
            best = CUDA_BY_BRANCH[b]
    return best


def cuda_version_string(v):
    return "%d.%d" % (v // 1000, (v % 1000) // 10)


# ---------------------------------------------------------------------------------------------
# The builder


class _Builder:
    def __init__(self, root, opts):
        self.root = root
        self.o = opts
        self.layout = LAYOUTS[opts["layout"]]
        drv = self.layout.driver_root
        self.driver_root = drv
        self.drv = root if drv == "/" else os.path.join(root, drv.lstrip("/"))
        self.notes = []
        self.decoys = []
        self.comps = {"libraries": [], "binaries": [], "firmware": [], "configs": [], "ipc": []}
        self.cap_nodes = []
        self.shared_nodes = []
        self.gpus = []
        self.char_links = []

    # paths ------------------------------------------------------------------------------------
    def hp(self, rel):
        """Host path of a path relative to the host root."""
        return os.path.join(self.root, rel.lstrip("/"))

    def dp(self, rel):
        """Host path of a path relative to the driver root."""
        return os.path.join(self.drv, rel.lstrip("/"))

    def container_path(self, host_path):
        base = self.drv if host_path.startswith(self.drv + "/") else self.root
        return "/" + os.path.relpath(host_path, base)

    def add_comp(self, kind, host_path, offered_at=None):
        """A component: its data at host_path, offered at offered_at (a host path: where a
        link of the packaging puts it for programs) or, by default, at host_path itself."""
        self.comps[kind].append({"host_path": host_path,
                                 "container_path": self.container_path(offered_at or host_path)})

    def alternative(self, link_rel, target_rel, group="nvidia"):
        """An update-alternatives link: link_rel -> /etc/alternatives/<group>--<name> ->
        /target_rel (both relative to the driver root). Returns the link's host path."""
        name = os.path.basename(link_rel)
        triplet = TRIPLETS.get(os.path.dirname(link_rel).split("/vdpau")[0].split("/gbm")[0])
        alt = "etc/alternatives/%s--%s%s" % (group, name, "-" + triplet if triplet else "")
        if not os.path.lexists(self.dp(alt)):
            _symlink("/" + target_rel, self.dp(alt))
        _symlink("/" + alt, self.dp(link_rel))
        return self.dp(link_rel)

    # GPUs ---------------------------------------------------------------------------------------
    def plan_gpus(self):
        n = self.o["gpus"]
        models = self.o["models"]
        minors = list(range(n))
        if self.o["shuffle_minors"]:
            if n == 1:
                minors = [1]  # the lone GPU's minor still differs from its index
            else:
                rng = random.Random("minors:%s:%d" % (self.o["seed"], n))
                while any(m == i for i, m in enumerate(minors)):
                    rng.shuffle(minors)
        drm_base = 1 if self.o["bmc"] else 0
        for i in range(n):
            model_key = models[i % len(models)]
            model = GPU_MODELS[model_key]
            bus = BUS_IDS[i]
            g = {
                "index": i, "minor": minors[i], "bus_id": bus, "model_key": model_key, "model": model,
                "uuid": "GPU-" + _uuid_from("%s:gpu:%s" % (self.o["seed"], bus)),
                "card": drm_base + i, "render": 128 + i,
                "numa": (-1 if not model["datacenter"] else (0 if _parse_bus_id(bus)[1] < 0x80 else 1)),
                "irq": 88 + 4 * i, "migs": [],
            }
            self.gpus.append(g)
        if self.o["mig"]:
            g = self.gpus[0]
            for mi, gi in enumerate((1, 2)):
                ci = 0
                gi_minor = 3 + g["minor"] * 135 + gi * 9
                g["migs"].append({
                    "index": mi, "gi": gi, "ci": ci,
                    "uuid": "MIG-" + _uuid_from("%s:mig:%s:%d:%d" % (self.o["seed"], g["uuid"], gi, ci)),
                    "memory_mib": g["model"]["mig"]["memory_mib"],
                    "name": "%s MIG %s" % (g["model"]["name"], g["model"]["mig"]["profile"]),
                    "gi_minor": gi_minor, "ci_minor": gi_minor + 1 + ci,
                })

    # /proc --------------------------------------------------------------------------------------
    def write_proc(self):
        ver = self.o["driver_version"]
        caps_major = self.o["caps_major"]
        uvm_major = self.o["uvm_major"]
        branch = int(ver.split(".")[0]) if ver.split(".")[0].isdigit() else 550
        chars = [(1, "mem"), (4, "/dev/vc/0"), (4, "tty"), (4, "ttyS"), (5, "/dev/tty"),
                 (5, "/dev/console"), (5, "/dev/ptmx"), (7, "vcs"), (10, "misc"), (13, "input"),
                 (21, "sg"), (29, "fb"), (89, "i2c"), (116, "alsa"), (128, "ptm"), (136, "pts"),
                 (180, "usb"), (189, "usb_device"), (202, "cpu/msr"), (203, "cpu/cpuid"),
                 (DRM_MAJOR, "drm"), (240, "aux"), (241, "hidraw"), (242, "ttyDBC"), (243, "bsg"),
                 (244, "watchdog"), (245, "ptp"), (246, "pps"), (247, "cec"), (248, "rtc"),
                 (249, "dma_heap"), (250, "dax"), (251, "dimmctl"), (252, "ndctl"), (253, "tpm"),
                 (254, "gpiochip")]
        if not self.o["no_driver"]:
            if branch >= 560:
                chars += [(FRONTEND_MAJOR, "nvidia"), (FRONTEND_MAJOR, "nvidiactl")]
            else:
                chars += [(FRONTEND_MAJOR, "nvidia-frontend")]
            chars += [(uvm_major, "nvidia-uvm"), (caps_major, "nvidia-caps")]
            if any(g["model"]["datacenter"] for g in self.gpus):
                chars.append((NVLINK_MAJOR, "nvidia-nvlink"))
            if branch >= 550:
                chars.append((CAPS_IMEX_MAJOR, "nvidia-caps-imex-channels"))
        chars.sort(key=lambda c: c[0])  # stable: same-major lines keep their order
        blocks = [(7, "loop"), (8, "sd"), (9, "md"), (11, "sr"), (65, "sd"), (66, "sd"),
                  (253, "device-mapper"), (254, "mdp"), (259, "blkext")]
        text = "Character devices:\n" + "".join("%3d %s\n" % c for c in chars)
        text += "\nBlock devices:\n" + "".join("%3d %s\n" % b for b in blocks)
        _write(self.hp("proc/devices"), text, 0o444)
        _write(self.hp("proc/version"),
               "Linux version 6.1.0-18-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) "
               "12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 "
               "(2024-02-01)\n", 0o444)
        if self.o["no_driver"]:
            return
        date = RELEASE_DATES.get(ver, DEFAULT_RELEASE_DATE)
        if self.o["kmod"] == "open":
            nvrm = ("NVIDIA UNIX Open Kernel Module for x86_64  %s  Release Build  "
                    "(dvs-builder@U16-I3-B03-4-3)  %s" % (ver, date))
        else:
            nvrm = "NVIDIA UNIX x86_64 Kernel Module  %s  %s" % (ver, date)
        p = "proc/driver/nvidia/"
        _write(self.hp(p + "version"), "NVRM version: %s\nGCC version:  %s\n" % (nvrm, self.layout.gcc), 0o444)
        _write(self.hp(p + "params"), "".join("%s: %s\n" % kv for kv in [
            ("ResmanDebugLevel", "4294967295"), ("RmLogonRC", "1"), ("ModifyDeviceFiles", "1"),
            ("DeviceFileUID", "0"), ("DeviceFileGID", "0"), ("DeviceFileMode", "438"),
            ("InitializeSystemMemoryAllocations", "1"), ("UsePageAttributeTable", "4294967295"),
            ("EnableMSI", "1"), ("EnablePCIeGen3", "0"), ("MemoryPoolSize", "0"),
            ("KMallocHeapMaxSize", "0"), ("VMallocHeapMaxSize", "0"), ("IgnoreMMIOCheck", "0"),
            ("EnableStreamMemOPs", "0"), ("EnableUserNUMAManagement", "1"), ("NvLinkDisable", "0"),
            ("RmProfilingAdminOnly", "1"), ("PreserveVideoMemoryAllocations", "0"),
            ("EnableS0ixPowerManagement", "0"), ("DynamicPowerManagement", "3"),
            ("EnableGpuFirmware", "18" if self.o["kmod"] == "open" else "0"),
            ("RegistryDwords", '""'), ("RegistryDwordsPerDevice", '""'), ("RmMsg", '""'),
            ("GpuBlacklist", '""'), ("TemporaryFilePath", '""'), ("ExcludedGpus", '""')]), 0o444)
        _write(self.hp(p + "registry"), 'Binary: ""\n', 0o644)
        os.makedirs(self.hp(p + "warnings"), exist_ok=True)
        os.makedirs(self.hp(p + "patches"), exist_ok=True)
        for i in CREATION_ORDER:
            if i >= len(self.gpus):
                continue
            g = self.gpus[i]
            m = g["model"]
            dom, bus, dev, fn = _parse_bus_id(g["bus_id"])
            info = "Model: \t\t %s\n" % m["name"]
            info += "IRQ:   \t\t %d\n" % g["irq"]
            info += "GPU UUID: \t %s\n" % g["uuid"]
            info += "Video BIOS: \t %s\n" % m["vbios"].lower()
            info += "Bus Type: \t PCIe\n"
            info += "DMA Size: \t 47 bits\n"
            info += "DMA Mask: \t 0x7fffffffffff\n"
            info += "Bus Location: \t %04x:%02x:%02x.%x\n" % (dom, bus, dev, fn)
            info += "Device Minor: \t %u\n" % g["minor"]
            if self.o["kmod"] == "open":
                info += "GPU Firmware: \t %s\n" % ver
            info += "GPU Excluded:\t No\n"
            gp = p + "gpus/%s/" % g["bus_id"]
            _write(self.hp(gp + "information"), info, 0o444)
            _write(self.hp(gp + "registry"), 'Binary: ""\n', 0o644)
            _write(self.hp(gp + "power"),
                   "Runtime D3 status:          Disabled by default\nVideo Memory:               Active\n\n"
                   "GPU Hardware Support:\n Video Memory Self Refresh: Not Supported\n"
                   " Video Memory Off:          Supported\n\n", 0o444)
        # Capabilities: the driver's procfs view of /dev/nvidia-caps.
        caps = p + "capabilities/"
        _write(self.hp(caps + "mig/config"), "DeviceFileMinor: 1\nDeviceFileMode: 256\nDeviceFileModify: 1\n", 0o444)
        _write(self.hp(caps + "mig/monitor"), "DeviceFileMinor: 2\nDeviceFileMode: 292\nDeviceFileModify: 1\n", 0o444)
        minors_lines = ["config 1", "monitor 2"]
        for g in sorted(self.gpus, key=lambda x: x["minor"]):
            for gi in range(15):
                base = 3 + g["minor"] * 135 + gi * 9
                minors_lines.append("gpu%d/gi%d/access %d" % (g["minor"], gi, base))
                for ci in range(8):
                    minors_lines.append("gpu%d/gi%d/ci%d/access %d" % (g["minor"], gi, ci, base + 1 + ci))
            for mig in g["migs"]:
                d = caps + "gpu%d/mig/gi%d/" % (g["minor"], mig["gi"])
                body = "DeviceFileMinor: %d\nDeviceFileMode: 292\nDeviceFileModify: 1\n"
                _write(self.hp(d + "access"), body % mig["gi_minor"], 0o444)
                _write(self.hp(d + "ci%d/access" % mig["ci"]), body % mig["ci_minor"], 0o444)
        _write(self.hp("proc/driver/nvidia-caps/mig-minors"), "\n".join(minors_lines) + "\n", 0o444)

    # /sys ---------------------------------------------------------------------------------------
    def _pci_device(self, bus_id, vendor, device, pci_class, subsys, numa, irq, driver):
        dom, bus, dev, fn = _parse_bus_id(bus_id)
        root_bus = bus & 0xE0
        if bus_id == HOST_BRIDGE_BUS_ID:
            rel = "sys/devices/pci%04x:%02x/%s" % (dom, root_bus, bus_id)
        else:
            rel = "sys/devices/pci%04x:%02x/%04x:%02x:01.1/%s" % (dom, root_bus, dom, root_bus, bus_id)
        d = self.hp(rel)
        files = {"vendor": "0x%04x\n" % vendor, "device": "0x%04x\n" % device, "class": "0x%06x\n" % pci_class,
                 "subsystem_vendor": "0x%04x\n" % subsys[0], "subsystem_device": "0x%04x\n" % subsys[1],
                 "numa_node": "%d\n" % numa, "irq": "%d\n" % irq, "enable": "1\n",
                 "uevent": "PCI_CLASS=%X\nPCI_ID=%04X:%04X\nPCI_SUBSYS_ID=%04X:%04X\nPCI_SLOT_NAME=%s\n%s"
                           % (pci_class, vendor, device, subsys[0], subsys[1], bus_id,
                              "DRIVER=%s\n" % driver if driver else "")}
        for name, content in files.items():
            _write(os.path.join(d, name), content, 0o444)
        _symlink(os.path.relpath(d, self.hp("sys/bus/pci/devices")), self.hp("sys/bus/pci/devices/" + bus_id))
        if driver:
            drv_dir = self.hp("sys/bus/pci/drivers/" + driver)
            os.makedirs(drv_dir, exist_ok=True)
            _symlink(os.path.relpath(drv_dir, d), os.path.join(d, "driver"))
            _symlink(os.path.relpath(d, drv_dir), os.path.join(drv_dir, bus_id))
        return d

    def _drm_node(self, pci_dir, name, minor):
        d = os.path.join(pci_dir, "drm", name)
        _write(os.path.join(d, "dev"), "%d:%d\n" % (DRM_MAJOR, minor), 0o444)
        _write(os.path.join(d, "uevent"), "MAJOR=%d\nMINOR=%d\nDEVNAME=dri/%s\nDEVTYPE=drm_minor\n"
               % (DRM_MAJOR, minor, name), 0o444)
        _symlink(os.path.relpath(d, self.hp("sys/class/drm")), self.hp("sys/class/drm/" + name))

    def write_sys(self):
        os.makedirs(self.hp("sys/bus/pci/devices"), exist_ok=True)
        os.makedirs(self.hp("sys/class/drm"), exist_ok=True)
        self._pci_device(HOST_BRIDGE_BUS_ID, 0x8086, 0x09A2, 0x060000, (0x8086, 0x0000), 0, 0, None)
        if self.o["bmc"]:
            d = self._pci_device(BMC_BUS_ID, 0x1A03, 0x2000, 0x030000, (0x1A03, 0x2000), 0, 16, "ast")
            self._drm_node(d, "card0", 0)
        driver = None if self.o["no_driver"] else "nvidia"
        for i in CREATION_ORDER:
            if i >= len(self.gpus):
                continue
            g = self.gpus[i]
            m = g["model"]
            d = self._pci_device(g["bus_id"], 0x10DE, m["device_id"], m["pci_class"], m["subsystem"],
                                 g["numa"], g["irq"], driver)
            if driver:
                self._drm_node(d, "card%d" % g["card"], g["card"])
                self._drm_node(d, "renderD%d" % g["render"], g["render"])

    # /dev ---------------------------------------------------------------------------------------
    def _node(self, rel, major, minor, mode):
        path = self.hp(rel)
        _mknod(path, major, minor, mode)
        self.char_links.append((major, minor, path))
        return {"path": "/" + rel, "host_path": path, "type": "c", "major": major, "minor": minor,
                "file_mode": mode}

    def write_dev(self):
        for name, mj, mn in (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8),
                             ("urandom", 1, 9), ("tty", 5, 0)):
            self._node("dev/" + name, mj, mn, 0o666)
        os.makedirs(self.hp("dev/shm"), exist_ok=True)
        os.makedirs(self.hp("dev/pts"), exist_ok=True)
        if self.o["bmc"]:
            self._node("dev/dri/card0", DRM_MAJOR, 0, 0o660)
        if not self.o["no_driver"]:
            uvm = self.o["uvm_major"]
            caps = self.o["caps_major"]
            self.shared_nodes = [
                self._node("dev/nvidiactl", FRONTEND_MAJOR, 255, 0o666),
                self._node("dev/nvidia-modeset", FRONTEND_MAJOR, 254, 0o666),
                self._node("dev/nvidia-uvm", uvm, 0, 0o666),
                self._node("dev/nvidia-uvm-tools", uvm, 1, 0o666),
            ]
            self.shared_nodes.sort(key=lambda n: n["path"])
            self.cap_nodes = [self._node("dev/nvidia-caps/nvidia-cap1", caps, 1, 0o400),
                              self._node("dev/nvidia-caps/nvidia-cap2", caps, 2, 0o444)]
            for i in CREATION_ORDER:
                if i >= len(self.gpus):
                    continue
                g = self.gpus[i]
                g["nodes"] = [
                    self._node("dev/nvidia%d" % g["minor"], FRONTEND_MAJOR, g["minor"], 0o666),
                    self._node("dev/dri/card%d" % g["card"], DRM_MAJOR, g["card"], 0o660),
                    self._node("dev/dri/renderD%d" % g["render"], DRM_MAJOR, g["render"], 0o666),
                ]
                for mig in g["migs"]:
                    mig["nodes"] = [
                        self._node("dev/nvidia-caps/nvidia-cap%d" % mig["gi_minor"], caps, mig["gi_minor"], 0o444),
                        self._node("dev/nvidia-caps/nvidia-cap%d" % mig["ci_minor"], caps, mig["ci_minor"], 0o444),
                    ]
                    self.cap_nodes.extend(mig["nodes"])
            self.cap_nodes.sort(key=lambda n: n["minor"])
        if self.o["dev_char"]:
            for major, minor, path in self.char_links:
                _symlink(os.path.relpath(path, self.hp("dev/char")), self.hp("dev/char/%d:%d" % (major, minor)))

    # other vendors' GPUs ------------------------------------------------------------------------
    def write_drm_gpus(self):
        """PCI device, DRM nodes and, for AMD, /dev/kfd and the KFD topology of each of
        self.o["drm_gpus"]; fills self.drm_gpus with what nvbind should report."""
        self.drm_gpus = []
        if not self.o["drm_gpus"]:
            return
        nv = 0 if self.o["no_driver"] else len(self.gpus)
        card = (1 if self.o["bmc"] else 0) + nv
        render = 128 + nv
        free_bus = [b for b in DRM_BUS_IDS]
        used = set()
        topo = self.hp("sys/devices/virtual/kfd/kfd/topology/nodes")
        kfd_nodes = 0
        for key in self.o["drm_gpus"]:
            m = DRM_GPU_MODELS[key]
            bus = m.get("bus") if m.get("bus") and m.get("bus") not in used else free_bus.pop(0)
            used.add(bus)
            d = self._pci_device(bus, m["vendor"], m["device"], m["class"], (m["vendor"], 0x1000 + len(used)),
                                 m["numa"], 120 + len(used), m["driver"])
            self._drm_node(d, "card%d" % card, card)
            self._drm_node(d, "renderD%d" % render, render)
            kind = DRM_KINDS.get(m["driver"], "nvbind.drm/" + m["driver"])
            nodes = []
            if kind in ("amd.com/gpu", "intel.com/gpu", "nvbind.drm/nouveau"):
                nodes.append(self._node("dev/dri/card%d" % card, DRM_MAJOR, card, 0o660))
            else:
                self._node("dev/dri/card%d" % card, DRM_MAJOR, card, 0o660)  # present, never offered
            nodes.append(self._node("dev/dri/renderD%d" % render, DRM_MAJOR, render, 0o666))
            kfd_node = None
            if m["kfd"]:
                if kfd_nodes == 0:  # node 0: the CPU, which names no render node
                    _write(os.path.join(topo, "0", "properties"),
                           "cpu_cores_count 16\nsimd_count 0\nmem_banks_count 1\ndrm_render_minor 0\n", 0o444)
                    _write(os.path.join(topo, "0", "gpu_id"), "0\n", 0o444)
                    _symlink(os.path.relpath(self.hp("sys/devices/virtual/kfd/kfd"), self.hp("sys/class/kfd")),
                             self.hp("sys/class/kfd/kfd"))
                    self._node("dev/kfd", KFD_MAJOR, 0, 0o666)
                kfd_nodes += 1
                kfd_node = kfd_nodes
                dom, b, dv, fn = _parse_bus_id(bus)
                _write(os.path.join(topo, str(kfd_node), "properties"),
                       "cpu_cores_count 0\nsimd_count 192\nmem_banks_count 1\nlocation_id %d\ndomain %d\n"
                       "drm_render_minor %d\nhive_id 0\nnum_xcc 1\n" % ((b << 8) | (dv << 3) | fn, dom, render),
                       0o444)
                _write(os.path.join(topo, str(kfd_node), "gpu_id"), "%d\n" % (40000 + kfd_node * 1111), 0o444)
                nodes.append({"path": "/dev/kfd", "host_path": self.hp("dev/kfd"), "type": "c",
                              "major": KFD_MAJOR, "minor": 0, "file_mode": 0o666})
            self.drm_gpus.append({
                "kind": kind, "vendor": DRM_VENDORS.get(m["vendor"], "unknown"), "driver": m["driver"],
                "pci_bus_id": bus, "vendor_id": "0x%04x" % m["vendor"], "device_id": "0x%04x" % m["device"],
                "numa_node": None if m["numa"] < 0 else m["numa"], "kfd_node": kfd_node,
                "device_nodes": [n["path"] for n in nodes], "nodes": nodes,
            })
            card += 1
            render += 1
        self.drm_gpus.sort(key=lambda g: (g["kind"], g["pci_bus_id"]))
        for i, g in enumerate(self.drm_gpus):
            g["index"] = 0 if i == 0 or self.drm_gpus[i - 1]["kind"] != g["kind"] else self.drm_gpus[i - 1]["index"] + 1

    # libraries ----------------------------------------------------------------------------------
    def _lib_files(self, base, kind):
        """(file name, SONAME) of one driver library."""
        ver = self.o["driver_version"]
        plain_glvnd = self.o["plain_glvnd"] and base in ("libGLX_nvidia", "libEGL_nvidia")
        if kind.startswith("plain:") or plain_glvnd:
            n = kind.split(":")[1] if kind.startswith("plain:") else kind
            name = "%s.so.%s" % (base, n)
            return name, name
        if kind == "ver":
            name = "%s.so.%s" % (base, ver)
            return name, name
        if kind.startswith("own:"):
            _, own, n = kind.split(":")
            name = "%s.so.%s" % (base, own)
            return name, "%s.so.%s" % (base, n)
        name = "%s.so.%s" % (base, ver)
        return name, "%s.so.%s" % (base, kind)

    def _put_lib(self, folder, file_name, soname, bits, dev_link=False):
        path = os.path.join(folder, file_name)
        _write(path, elf_with_soname(bits, soname), 0o644)
        if soname != file_name:
            _symlink(file_name, os.path.join(folder, soname))
        if dev_link:
            dev = soname.split(".so")[0] + ".so"
            _symlink(soname, os.path.join(folder, dev))
        return path

    def _decoy_libs(self, base_dir, folder_rel, bits, extra=()):
        folder = os.path.join(base_dir, folder_rel)
        for file_name, soname in DECOY_LIBS + list(extra):
            self.decoys.append(self._put_lib(folder, file_name, soname, bits))

    def write_ldconf(self, base_dir, layout):
        _write(os.path.join(base_dir, "etc/ld.so.conf"), "include /etc/ld.so.conf.d/*.conf\n\n")
        for conf, dirs in layout.ldconf.items():
            _write(os.path.join(base_dir, "etc/ld.so.conf.d", conf),
                   "# written by fakehost.py\n" + "".join(d + "\n" for d in dirs))
            for d in dirs:
                os.makedirs(os.path.join(base_dir, d.lstrip("/")), exist_ok=True)
        os.makedirs(os.path.join(base_dir, "var/cache/ldconfig"), exist_ok=True)

    def run_ldconfig(self, base_dir):
        ldconfig = shutil.which("ldconfig") or "/sbin/ldconfig"
        try:
            subprocess.run([ldconfig, "-X", "-r", base_dir], check=True, capture_output=True, text=True)
        except subprocess.CalledProcessError as e:
            raise FakeHostError("ldconfig -r %s failed: %s" % (base_dir, e.stderr.strip()))
        except OSError as e:
            raise FakeHostError("cannot run ldconfig: %s" % e)

    def write_libraries(self):
        lay = self.layout
        lib64 = self.dp(lay.lib64)
        lib32 = self.dp(lay.lib32) if lay.lib32 and self.o["lib32"] else None
        if lib32 and _stub(32) is None:
            self.notes.append("32-bit libraries skipped: this machine cannot build 32-bit ELF objects")
            lib32 = None
        self.have_lib32 = lib32 is not None
        self.write_ldconf(self.drv, lay)
        if self.o["no_driver"]:
            self._decoy_libs(self.drv, lay.lib64, 64, DECOY_LIBS_64_ONLY)
            return
        for base, kind, i386, dev in DRIVER_LIBS:
            for folder, bits in ((lib64, 64), (lib32, 32)):
                if folder is None or (bits == 32 and not i386):
                    continue
                name, soname = self._lib_files(base, kind)
                if lay.package and kind.split(":")[0] in ("ver", "own"):
                    path = self._put_lib(folder, name, soname, bits)  # Debian keeps these in the folder itself
                    self.add_comp("libraries", path)
                elif lay.package:
                    path = self._put_packaged_lib(folder, base, name, soname, bits, dev and bits == 64)
                else:
                    path = self._put_lib(folder, name, soname, bits, dev_link=dev and bits == 64)
                    self.add_comp("libraries", path)
                if base == "libnvidia-ml" and bits == 64:
                    self.nvml_path = path
        if lay.package:
            self._packaged_extras(lib64)
        elif lay.glx_indirect:
            _symlink("libGLX_nvidia.so.0", os.path.join(lib64, "libGLX_indirect.so.0"))
        # A leftover of an older driver: same SONAME, no link of its own; never the driver's.
        self.decoys.append(self._stale_lib(lib64))
        self._decoy_libs(self.drv, lay.lib64, 64, DECOY_LIBS_64_ONLY)
        if lib32:
            self._decoy_libs(self.drv, lay.lib32, 32)
        # NGX's Windows DLLs for DLSS under Proton, beside libnvidia-ngx.
        for dll in ("nvngx.dll", "_nvngx.dll"):
            p = os.path.join(lib64, "nvidia/wine", dll)
            _write(p, b"MZ" + hashlib.sha256(dll.encode()).digest() * 8, 0o644)
            self.add_comp("configs", p)

    def _put_packaged_lib(self, folder, base, name, soname, bits, dev):
        """A library as Debian packages it: the file, its SONAME link (and development link)
        in the package folder, and alternatives links from the library folder to those."""
        pkg = os.path.join(folder, self.layout.package)
        path = self._put_lib(pkg, name, soname, bits, dev_link=dev)
        rel = os.path.relpath(folder, self.drv)
        pkg_rel = os.path.relpath(pkg, self.drv)
        if base == "libvdpau_nvidia":  # the VDPAU loader looks in vdpau/, and only there
            link = self.alternative(rel + "/vdpau/" + soname, pkg_rel + "/" + soname)
        else:
            link = self.alternative(rel + "/" + soname, pkg_rel + "/" + soname)
            if dev:
                dev_name = soname.split(".so")[0] + ".so"
                self.alternative(rel + "/" + dev_name, pkg_rel + "/" + dev_name)
        self.add_comp("libraries", path, offered_at=link)
        return path

    def _packaged_extras(self, lib64):
        """What Debian's packages add around the libraries: a library only in the package
        folder, the GBM backend, the X server's modules, GLVND's indirect GLX link."""
        ver = self.o["driver_version"]
        pkg = os.path.join(lib64, self.layout.package)
        rel, pkg_rel = os.path.relpath(lib64, self.drv), os.path.relpath(pkg, self.drv)
        for base in PACKAGE_ONLY_LIBS:
            name = "%s.so.%s" % (base, ver)
            path = self._put_lib(pkg, name, name, 64)
            self.add_comp("libraries", path, offered_at=os.path.join(lib64, name))
        alloc = os.path.join(pkg, "libnvidia-allocator.so.%s" % ver)
        _symlink(os.path.basename(alloc), os.path.join(pkg, "nvidia-drm_gbm.so"))
        gbm = self.alternative(rel + "/gbm/nvidia-drm_gbm.so", pkg_rel + "/nvidia-drm_gbm.so")
        self.add_comp("libraries", alloc, offered_at=gbm)
        xpkg = "usr/lib/" + self.layout.package
        drv = self.dp(xpkg + "/nvidia_drv.so")
        _write(drv, elf_with_soname(64, "nvidia_drv.so"), 0o644)
        glx = self._put_lib(self.dp(xpkg), "libglxserver_nvidia.so.%s" % ver, "libglxserver_nvidia.so.%s" % ver, 64)
        _symlink(os.path.basename(glx), self.dp(xpkg + "/libglxserver_nvidia.so"))
        # Two hops, as Debian's glx alternatives stack on the nvidia ones.
        for mod, target in (("drivers/nvidia_drv.so", "nvidia_drv.so"),
                            ("extensions/libglxserver_nvidia.so", "libglxserver_nvidia.so")):
            self.alternative("usr/lib/nvidia/" + target, xpkg + "/" + target)
            link = self.alternative("usr/lib/xorg/modules/" + mod, "usr/lib/nvidia/" + target, group="glx")
            self.add_comp("libraries", drv if target == "nvidia_drv.so" else glx, offered_at=link)
        self.alternative(rel + "/libGLX_indirect.so.0", rel + "/libGLX_nvidia.so.0", group="glx")

    def _stale_lib(self, lib64):
        path = os.path.join(lib64, "libnvidia-ml.so.%s" % STALE_DRIVER_VERSION)
        _write(path, elf_with_soname(64, "libnvidia-ml.so.1"), 0o644)
        return path

    def write_host_libs_operator(self):
        """The operator host's own root: its own libraries (none of the driver's) and cache."""
        lay = LAYOUTS["debian"]
        self.write_ldconf(self.root, lay)
        self._decoy_libs(self.root, lay.lib64, 64, DECOY_LIBS_64_ONLY)

    # binaries, firmware, configs, IPC -------------------------------------------------------------
    def write_binaries(self):
        ver = self.o["driver_version"]
        listing = "".join("GPU %d: %s (UUID: %s)\n" % (g["index"], g["model"]["name"], g["uuid"])
                          for g in self.gpus)
        for b in BINARIES:
            if b == "nvidia-smi":
                body = ("#!/bin/sh\n# fake nvidia-smi written by nvbind's fakehost.py\n"
                        "case \"$1\" in\n  -L|--list-gpus)\n    cat <<'EOF'\n%sEOF\n    ;;\n"
                        "  *)\n    echo 'NVIDIA-SMI %s    Driver Version: %s    CUDA Version: %s'\n"
                        "    echo '%d GPU(s) on a fake host'\n    ;;\nesac\n"
                        % (listing, ver, ver, cuda_version_string(cuda_version_of(ver)), len(self.gpus)))
            else:
                body = "#!/bin/sh\n# fake %s written by nvbind's fakehost.py\necho '%s %s (fake)'\n" % (b, b, ver)
            if self.layout.package and b in ("nvidia-smi", "nvidia-debugdump"):
                p = self.dp("usr/lib/%s/%s" % (self.layout.package, b))
                _write(p, body, 0o755)
                link = self.alternative("usr/bin/" + b, os.path.relpath(p, self.drv))
                self.add_comp("binaries", p, offered_at=link)
                continue
            p = self.dp("usr/bin/" + b)
            _write(p, body, 0o755)
            self.add_comp("binaries", p)

    def write_firmware(self):
        ver = self.o["driver_version"]
        for fw in FIRMWARE:
            p = self.dp("%s/nvidia/%s/%s" % (self.layout.firmware, ver, fw))
            _write(p, b"\x7fELF" + hashlib.sha256((ver + fw).encode()).digest() * 64, 0o644)
            self.add_comp("firmware", p)
        stale = self.dp("%s/nvidia/%s/gsp_ga10x.bin" % (self.layout.firmware, STALE_DRIVER_VERSION))
        _write(stale, b"\x7fELF stale firmware", 0o644)
        self.decoys.append(stale)

    def write_configs(self):
        ver = self.o["driver_version"]
        vk = "1.3.277" if ver.startswith("550.") else "1.3.280"
        lay = self.layout
        icd = ('{\n    "file_format_version" : "1.0.1",\n    "ICD": {\n'
               '        "library_path": "libGLX_nvidia.so.0",\n        "api_version" : "%s"\n    }\n}\n' % vk)
        layers = ('{\n    "file_format_version" : "1.0.1",\n    "layer": {\n'
                  '        "name": "VK_LAYER_NV_optimus",\n        "type": "INSTANCE",\n'
                  '        "library_path": "libGLX_nvidia.so.0",\n        "api_version" : "%s",\n'
                  '        "implementation_version" : "1",\n        "description" : "NVIDIA Optimus layer",\n'
                  '        "functions": {\n'
                  '            "vkGetInstanceProcAddr": "vk_optimusGetInstanceProcAddr",\n'
                  '            "vkGetDeviceProcAddr": "vk_optimusGetDeviceProcAddr"\n        },\n'
                  '        "enable_environment": {\n            "__NV_PRIME_RENDER_OFFLOAD": "1"\n        },\n'
                  '        "disable_environment": {\n            "DISABLE_LAYER_NV_OPTIMUS_1": ""\n        }\n'
                  '    }\n}\n' % vk)

        def egl_icd(lib, ver_="1.0.0"):
            return ('{\n    "file_format_version" : "%s",\n    "ICD" : {\n'
                    '        "library_path" : "%s"\n    }\n}\n' % (ver_, lib))

        files = [
            (lay.vulkan_icd + "/nvidia_icd.json", icd),
            (lay.vulkan_layer + "/nvidia_layers.json", layers),
            ("usr/share/glvnd/egl_vendor.d/10_nvidia.json", egl_icd("libEGL_nvidia.so.0")),
            ("usr/share/egl/egl_external_platform.d/10_nvidia_wayland.json", egl_icd("libnvidia-egl-wayland.so.1")),
            ("usr/share/egl/egl_external_platform.d/15_nvidia_gbm.json", egl_icd("libnvidia-egl-gbm.so.1")),
            ("etc/OpenCL/vendors/nvidia.icd", "libnvidia-opencl.so.1\n"),
            ("usr/share/nvidia/nvidia-application-profiles-%s-rc" % ver,
             "# Application profiles for the NVIDIA Linux graphics driver, version %s\n"
             "# Last modified: %s\n"
             "# These profiles were provided by NVIDIA and should not be modified.\n"
             "{\n    \"rules\": [\n"
             "        { \"pattern\": { \"feature\": \"procname\", \"matches\": \"gnome-shell\" },"
             " \"profile\": \"CompositorNoFlip\" },\n"
             "        { \"pattern\": { \"feature\": \"dso\", \"matches\": \"libcogl.so\" },"
             " \"profile\": \"NonConformantBlitFramebufferScissor\" }\n    ],\n"
             "    \"profiles\": [\n"
             "        { \"name\": \"CompositorNoFlip\", \"settings\": [ \"GLAllowFlipping\", false ] },\n"
             "        { \"name\": \"NonConformantBlitFramebufferScissor\","
             " \"settings\": [ \"GLConformantBlitFramebufferScissor\", false ] }\n"
             "    ]\n}\n" % (ver, RELEASE_DATES.get(ver, DEFAULT_RELEASE_DATE))),
            ("usr/share/nvidia/nvidia-application-profiles-%s-key-documentation" % ver,
             "# Documentation of the keys of the application profiles, driver %s\n"
             "GLAllowFlipping: boolean, allow flipping when rendering to a full-screen window\n"
             "GLConformantBlitFramebufferScissor: boolean, scissor test applies to glBlitFramebuffer\n" % ver),
        ]
        # Debian: the Vulkan ICD and the EGL vendor file through alternatives (older releases
        # did so; the rule is the same for any file), nvoptix.bin in the library package folder.
        packaged = {lay.vulkan_icd + "/nvidia_icd.json", "usr/share/glvnd/egl_vendor.d/10_nvidia.json"}
        for rel, content in files:
            if lay.package and rel in packaged:
                p = self.dp("usr/lib/%s/%s" % (lay.package, os.path.basename(rel)))
                _write(p, content, 0o644)
                self.add_comp("configs", p, offered_at=self.alternative(rel, os.path.relpath(p, self.drv)))
                continue
            p = self.dp(rel)
            _write(p, content, 0o644)
            self.add_comp("configs", p)
        optix = "%s/%s/nvoptix.bin" % (lay.lib64, lay.package) if lay.package else "usr/share/nvidia/nvoptix.bin"
        p = self.dp(optix)
        _write(p, hashlib.sha256(b"nvoptix" + ver.encode()).digest() * 128, 0o644)
        self.add_comp("configs", p, offered_at=self.alternative("usr/share/nvidia/nvoptix.bin", optix)
                      if lay.package else None)
        # Stale profiles of an older driver and Mesa's files: never the driver's.
        decoys = [
            ("usr/share/nvidia/nvidia-application-profiles-%s-rc" % STALE_DRIVER_VERSION, "{}\n"),
            ("usr/share/vulkan/icd.d/intel_icd.x86_64.json",
             '{\n    "ICD": {\n        "api_version": "1.3.230",\n'
             '        "library_path": "/usr/lib/x86_64-linux-gnu/libvulkan_intel.so"\n    },\n'
             '    "file_format_version": "1.0.0"\n}\n'),
            ("usr/share/vulkan/icd.d/radeon_icd.x86_64.json",
             '{\n    "ICD": {\n        "api_version": "1.3.230",\n'
             '        "library_path": "/usr/lib/x86_64-linux-gnu/libvulkan_radeon.so"\n    },\n'
             '    "file_format_version": "1.0.0"\n}\n'),
            ("usr/share/vulkan/implicit_layer.d/VkLayer_MESA_device_select.json",
             '{\n  "file_format_version" : "1.0.0",\n  "layer" : {\n    "name": "VK_LAYER_MESA_device_select",\n'
             '    "type": "GLOBAL",\n    "library_path": "libVkLayer_MESA_device_select.so",\n'
             '    "api_version": "1.3.211",\n    "implementation_version": "1",\n'
             '    "description": "Linux device selection layer",\n'
             '    "disable_environment": {\n      "NODEVICE_SELECT": "1"\n    }\n  }\n}\n'),
            ("usr/share/glvnd/egl_vendor.d/50_mesa.json", egl_icd("libEGL_mesa.so.0")),
            ("etc/OpenCL/vendors/pocl.icd", "libpocl.so.2\n"),
        ]
        for rel, content in decoys:
            p = self.dp(rel)
            _write(p, content, 0o644)
            self.decoys.append(p)

    def write_ipc(self):
        # NVIDIA's toolkit looks for these under the driver root; on a GPU-operator host they
        # come from the driver container, so they live there.
        if self.o["persistenced"]:
            p = self.dp("run/nvidia-persistenced/socket")
            _bind_socket(p)
            _write(self.dp("run/nvidia-persistenced/nvidia-persistenced.pid"), "1234\n", 0o644)
            self.add_comp("ipc", p)
        if self.o["fabricmanager"]:
            p = self.dp("run/nvidia-fabricmanager/socket")
            _bind_socket(p)
            self.add_comp("ipc", p)
        if self.o["mps"]:
            d = self.dp("tmp/nvidia-mps")
            os.makedirs(d, exist_ok=True)
            os.chmod(d, 0o755)
            os.mkfifo(os.path.join(d, "control"), 0o600)
            self.add_comp("ipc", d)

    def write_os_release(self):
        rel = {
            "debian": 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n',
            "fedora": 'NAME="Fedora Linux"\nVERSION="40 (Workstation Edition)"\nID=fedora\nVERSION_ID=40\n',
            "arch": 'NAME="Arch Linux"\nPRETTY_NAME="Arch Linux"\nID=arch\nBUILD_ID=rolling\n',
            "operator": 'PRETTY_NAME="Ubuntu 22.04.4 LTS"\nNAME="Ubuntu"\nVERSION_ID="22.04"\nID=ubuntu\n',
        }[self.layout.name if not self.layout.package else "debian"]
        _write(self.hp("etc/os-release"), rel, 0o644)
        if self.drv != self.root:
            _write(self.dp("etc/os-release"), rel, 0o644)

    # fake NVML ----------------------------------------------------------------------------------
    def nvml_data(self):
        ver = self.o["driver_version"]
        gpus = []
        for g in self.gpus:
            m = g["model"]
            dom, bus, dev, fn = _parse_bus_id(g["bus_id"])
            entry = {
                "uuid": g["uuid"], "name": m["name"], "pci_bus_id": g["bus_id"], "minor": g["minor"],
                "memory_mib": m["memory_mib"], "cc": list(m["cc"]), "brand": m["nvml_brand"],
                "pci_device_id": (m["device_id"] << 16) | 0x10DE,
                "pci_subsystem_id": (m["subsystem"][1] << 16) | m["subsystem"][0],
            }
            if m["mig"]:
                entry["mig_mode"] = 1 if g["migs"] else 0
                entry["max_mig_devices"] = 7
                entry["migs"] = [{"uuid": x["uuid"], "gi": x["gi"], "ci": x["ci"], "memory_mib": x["memory_mib"],
                                  "name": x["name"]} for x in g["migs"]]
            gpus.append(entry)
        return {"driver_version": ver, "cuda_version": cuda_version_of(ver),
                "nvml_version": "12.%s" % ver, "init_delay_ms": 0, "init_error": 0, "gpus": gpus}

    def install_fake_nvml(self, libpath):
        if not os.path.isfile(libpath):
            raise FakeHostError("fake NVML library not found: %s" % libpath)
        dest = self.nvml_path
        shutil.copyfile(libpath, dest)
        os.chmod(dest, 0o755)
        data_path = os.path.join(os.path.dirname(dest), NVML_DATA_NAME)
        data = self.nvml_data()
        data.update(self.o.get("nvml_overrides") or {})
        _write(data_path, json.dumps(data, indent=2) + "\n", 0o644)
        self.decoys.append(data_path)
        return {"library": dest, "data": data_path}

    # manifest -----------------------------------------------------------------------------------
    def manifest(self, nvml):
        ver = self.o["driver_version"]
        args = ["--root", self.root]
        if self.driver_root != "/":
            args += ["--driver-root", self.driver_root]
        m = {
            "fakehost_format": MANIFEST_FORMAT,
            "root": self.root,
            "driver_root": self.driver_root,
            "driver_root_host_path": self.drv,
            "layout": self.layout.name,
            "nvbind_args": args,
            "options": {k: v for k, v in self.o.items() if k not in ("nvml_overrides",)},
            "notes": self.notes,
            "majors": {"nvidia-frontend": FRONTEND_MAJOR, "nvidia-uvm": self.o["uvm_major"],
                       "nvidia-caps": self.o["caps_major"], "drm": DRM_MAJOR},
            "decoys": sorted(self.decoys),
            "nvml": nvml,
            "drm_gpus": self.drm_gpus,
        }
        if self.o["no_driver"]:
            m.update({
                "driver": None, "gpus": [], "device_nodes": [], "capability_nodes": [],
                "components": {k: [] for k in self.comps}, "detailed": None,
                "expected_error": {"exit_code": 3, "message":
                                   "nvbind: no NVIDIA driver found under %s: /proc/driver/nvidia/version is missing"
                                   % self.root},
            })
            return m
        gpus = []
        detailed = []
        for g in self.gpus:
            mdl = g["model"]
            gpus.append({
                "index": g["index"], "minor": g["minor"], "uuid": g["uuid"], "name": mdl["name"],
                "pci_bus_id": g["bus_id"], "memory_mib": None,
                "device_nodes": [n["path"] for n in g["nodes"]],
                "vendor_id": "0x10de", "device_id": "0x%04x" % mdl["device_id"],
                "numa_node": None if g["numa"] < 0 else g["numa"],
                "nodes": g["nodes"],
            })
            detailed.append({
                "index": g["index"], "memory_mib": mdl["memory_mib"],
                "compute_capability": "%d.%d" % mdl["cc"], "brand": mdl["brand"], "nvml_brand": mdl["nvml_brand"],
                "mig_mode": (("enabled" if g["migs"] else "disabled") if mdl["mig"] else None),
                "mig_devices": [{
                    "name": "%d:%d" % (g["index"], x["index"]), "uuid": x["uuid"], "gi": x["gi"], "ci": x["ci"],
                    "memory_mib": x["memory_mib"], "device_nodes": [n["path"] for n in x["nodes"]],
                    "nodes": x["nodes"],
                } for x in g["migs"]],
            })
        for kind in self.comps:
            self.comps[kind].sort(key=lambda c: c["container_path"])
        m.update({
            "driver": {"version": ver, "kernel_module": self.o["kmod"], "cuda_version": None},
            "gpus": gpus,
            "device_nodes": self.shared_nodes,
            "capability_nodes": self.cap_nodes,
            "components": self.comps,
            # What `info --detailed` adds through NVML; null without a fake NVML.
            "detailed": None if not nvml else {
                "driver": {"cuda_version": cuda_version_string(cuda_version_of(ver))},
                "gpus": detailed,
            },
        })
        return m

    def build(self):
        self.plan_gpus()
        self.write_os_release()
        self.write_proc()
        self.write_sys()
        self.write_dev()
        self.write_drm_gpus()
        if self.drv != self.root:
            self.write_host_libs_operator()
        self.write_libraries()
        if not self.o["no_driver"]:
            self.write_binaries()
            self.write_firmware()
            self.write_configs()
            self.write_ipc()
        nvml = None
        if self.o["fake_nvml"] and not self.o["no_driver"]:
            nvml = self.install_fake_nvml(self.o["fake_nvml"])
        if self.drv != self.root:
            self.run_ldconfig(self.root)
        self.run_ldconfig(self.drv)
        return self.manifest(nvml)


def _check_options(o):
    if o["layout"] not in LAYOUTS:
        raise FakeHostError("unknown layout %r (one of: %s)" % (o["layout"], ", ".join(LAYOUTS)))
    no_nvidia_gpu = o["no_driver"] and o["drm_gpus"]  # a host of other vendors' GPUs only
    if not isinstance(o["gpus"], int) or not (0 if no_nvidia_gpu else 1) <= o["gpus"] <= len(BUS_IDS):
        raise FakeHostError("gpus must be 1 to %d, not %r" % (len(BUS_IDS), o["gpus"]))
    for key in o["drm_gpus"]:
        if key not in DRM_GPU_MODELS:
            raise FakeHostError("unknown DRM GPU model %r (one of: %s)" % (key, ", ".join(DRM_GPU_MODELS)))
    if len(o["drm_gpus"]) > len(DRM_BUS_IDS):
        raise FakeHostError("at most %d DRM GPUs" % len(DRM_BUS_IDS))
    if o["kmod"] not in ("open", "proprietary"):
        raise FakeHostError("kmod must be open or proprietary, not %r" % o["kmod"])
    parts = o["driver_version"].split(".")
    if not 2 <= len(parts) <= 3 or not all(p.isdigit() for p in parts):
        raise FakeHostError("driver version must look like 550.54.14, not %r" % o["driver_version"])
    for mdl in o["models"]:
        if mdl not in GPU_MODELS:
            raise FakeHostError("unknown GPU model %r (one of: %s)" % (mdl, ", ".join(GPU_MODELS)))
    for key in ("uvm_major", "caps_major"):
        if not 1 <= o[key] <= 511 or o[key] in (FRONTEND_MAJOR, DRM_MAJOR):
            raise FakeHostError("%s must be a free major in 1..511, not %r" % (key, o[key]))
    if o["uvm_major"] == o["caps_major"]:
        raise FakeHostError("uvm_major and caps_major must differ")
    if o["mig"] and not GPU_MODELS[o["models"][0]]["mig"]:
        raise FakeHostError("--mig needs a MIG-capable model on GPU 0, not %s" % o["models"][0])


def build(dir, layout="debian", gpus=1, kmod="open", driver_version=DEFAULT_DRIVER_VERSION,
          shuffle_minors=False, mig=False, fake_nvml=None, no_driver=False, dev_char=True,
          plain_glvnd=None, lib32=True, persistenced=True, fabricmanager=False, mps=False,
          bmc=False, model="a100", models=None, uvm_major=DEFAULT_UVM_MAJOR,
          caps_major=DEFAULT_CAPS_MAJOR, seed="nvbind", nvml_overrides=None, drm_gpus=None):
    """Build a fake NVIDIA host under `dir` (absent or empty) and return its manifest (also
    written to dir/manifest.json). See the module's documentation for what is built."""
    opts = {
        "layout": layout, "gpus": gpus, "kmod": kmod, "driver_version": driver_version,
        "shuffle_minors": bool(shuffle_minors), "mig": bool(mig),
        "fake_nvml": os.path.abspath(fake_nvml) if fake_nvml else None, "no_driver": bool(no_driver),
        "dev_char": bool(dev_char),
        "plain_glvnd": LAYOUTS[layout].plain_glvnd if plain_glvnd is None and layout in LAYOUTS else bool(plain_glvnd),
        "lib32": bool(lib32), "persistenced": bool(persistenced), "fabricmanager": bool(fabricmanager),
        "mps": bool(mps), "bmc": bool(bmc), "models": list(models) if models else [model],
        "uvm_major": uvm_major, "caps_major": caps_major, "seed": str(seed),
        "nvml_overrides": dict(nvml_overrides) if nvml_overrides else None,
        "drm_gpus": list(drm_gpus) if drm_gpus else [],
    }
    _check_options(opts)
    root = os.path.realpath(os.path.abspath(dir))
    if os.path.exists(root):
        if not os.path.isdir(root):
            raise FakeHostError("%s exists and is not a folder" % root)
        if os.listdir(root):
            raise FakeHostError("%s is not empty: build a fake host into an empty or new folder" % root)
    else:
        os.makedirs(root)
    os.chmod(root, 0o755)
    try:
        manifest = _Builder(root, opts).build()
        _write(os.path.join(root, MANIFEST_NAME), json.dumps(manifest, indent=2, sort_keys=True) + "\n", 0o644)
    except BaseException:
        # The folder was empty when we started: leave it so, not half a host without a manifest.
        for entry in os.listdir(root):
            p = os.path.join(root, entry)
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p, ignore_errors=True)
            else:
                os.unlink(p)
        raise
    return manifest


def expected_info(manifest, detailed=False):
    """What `nvbind info --json` (with `detailed`: `info --detailed --json`) should report for
    this fake host, limited to the keys the manifest knows: driver, gpus, device_nodes,
    capability_nodes, components. None for a host without the driver."""
    if manifest["driver"] is None:
        return None
    if detailed and not manifest["detailed"]:
        raise FakeHostError("this fake host has no fake NVML: build it with fake_nvml=...")
    gpus = []
    for g in manifest["gpus"]:
        e = {k: v for k, v in g.items() if k != "nodes"}
        if detailed:
            d = manifest["detailed"]["gpus"][g["index"]]
            e.update({k: v for k, v in d.items() if k not in ("index", "nvml_brand", "mig_devices")})
            e["mig_devices"] = [{k: v for k, v in x.items() if k != "nodes"} for x in d["mig_devices"]]
        gpus.append(e)
    driver = dict(manifest["driver"])
    if detailed:
        driver.update(manifest["detailed"]["driver"])
    return {"driver": driver, "gpus": gpus, "device_nodes": manifest["device_nodes"],
            "capability_nodes": manifest["capability_nodes"], "components": manifest["components"]}


def load_manifest(dir):
    with open(os.path.join(dir, MANIFEST_NAME)) as f:
        return json.load(f)


def destroy(dir):
    """Remove a fake host. Refuses a folder without manifest.json, one whose manifest names
    another root, and one with anything mounted below it."""
    root = os.path.realpath(os.path.abspath(dir))
    if root == "/" or not os.path.isdir(root):
        raise FakeHostError("%s is not a fake host folder" % root)
    try:
        manifest = load_manifest(root)
    except FileNotFoundError:
        raise FakeHostError("%s has no %s: not removing a folder fakehost.py did not build" % (root, MANIFEST_NAME))
    except (OSError, ValueError) as e:
        raise FakeHostError("%s/%s is unreadable (%s): not removing" % (root, MANIFEST_NAME, e))
    if os.path.realpath(manifest.get("root", "")) != root:
        raise FakeHostError("%s/%s describes %r: not removing" % (root, MANIFEST_NAME, manifest.get("root")))
    dev = os.lstat(root).st_dev
    for d, subdirs, _ in os.walk(root):
        for s in subdirs:
            p = os.path.join(d, s)
            st = os.lstat(p)
            if stat.S_ISDIR(st.st_mode) and (st.st_dev != dev or os.path.ismount(p)):
                raise FakeHostError("%s is a mount point: unmount it before destroying the fake host" % p)
    shutil.rmtree(root)


def find_fakenvml():
    """Path of the built fake libnvidia-ml.so.1: env NVBIND_FAKENVML, else the default build
    folder next to NVBIND_BIN or in the repository; None when not built."""
    env = os.environ.get("NVBIND_FAKENVML")
    if env:
        return env if os.path.isfile(env) else None
    candidates = []
    nvbind_bin = os.environ.get("NVBIND_BIN")
    if nvbind_bin:
        candidates.append(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(nvbind_bin))),
                                       "tests", "fakenvml", "libnvidia-ml.so.1"))
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    candidates.append(os.path.join(repo, "build", "tests", "fakenvml", "libnvidia-ml.so.1"))
    for c in candidates:
        if os.path.isfile(c):
            return c
    return None


# ---------------------------------------------------------------------------------------------
# WSL2: the NVIDIA driver a Windows host lends to its WSL2 guest (docs/wsl2.md). No
# /proc/driver/nvidia, no nvidia kernel module, no /dev/nvidia*: the paravirtual /dev/dxg, the
# driver's loaders in /usr/lib/wsl/lib (plain files, as WSL maps them: no symlinks) and the
# Windows driver store's Linux files in /usr/lib/wsl/drivers/<package folder>/.

WSL2_KERNEL = "5.15.153.1-microsoft-standard-WSL2"
WSL2_DRIVER_VERSION = "560.94"
WSL2_DXG = (10, 63)
# /usr/lib/wsl/lib: (file, SONAME); libcuda.so, libcuda.so.1 and libcuda.so.1.1 are three copies.
WSL2_LIB_FILES = [
    ("libcuda.so", "libcuda.so.1"), ("libcuda.so.1", "libcuda.so.1"), ("libcuda.so.1.1", "libcuda.so.1"),
    ("libd3d12.so", "libd3d12.so"), ("libd3d12core.so", "libd3d12core.so"), ("libdxcore.so", "libdxcore.so"),
    ("libnvcuvid.so.1", "libnvcuvid.so.1"), ("libnvidia-encode.so.1", "libnvidia-encode.so.1"),
    ("libnvidia-ml.so.1", "libnvidia-ml.so.1"), ("libnvidia-opticalflow.so.1", "libnvidia-opticalflow.so.1"),
    ("libnvoptix.so.1", "libnvoptix.so.1"), ("libnvwgf2umx.so", "libnvwgf2umx.so"),
    ("libnvdxgdmal.so.1", "libnvdxgdmal.so.1"),
]
# The NVIDIA driver store folder's Linux files (NVIDIA's WSL driver package).
WSL2_STORE_LIBS = [
    ("libcuda.so.1.1", "libcuda.so.1"), ("libcuda_loader.so", "libcuda_loader.so"),
    ("libnvidia-ptxjitcompiler.so.1", "libnvidia-ptxjitcompiler.so.1"), ("libnvidia-ml.so.1", "libnvidia-ml.so.1"),
    ("libnvidia-ml_loader.so", "libnvidia-ml_loader.so"), ("libnvdxgdmal.so.1", "libnvdxgdmal.so.1"),
    ("libnvwgf2umx.so", "libnvwgf2umx.so"),
]
# The loaders older WSL drivers did not ship.
WSL2_NEWER_FILES = ("libcuda_loader.so", "libnvidia-ml_loader.so")
WSL2_STORE_WINDOWS_FILES = ["nvlddmkm.sys", "nvapi64.dll", "nvwgf2umx.dll", "nv_dispi.inf"]
WSL2_SMI = "#!/bin/sh\necho 'NVIDIA-SMI (fakehost WSL2) Driver Version: %s'\n"


def _wsl2_store_name(seed, tag):
    return "nv_dispi.inf_amd64_" + hashlib.sha256((seed + tag).encode()).hexdigest()[:16]


def build_wsl2(dir, gpus=1, fake_nvml=None, driver_version=WSL2_DRIVER_VERSION, old_driver=False, dxcore=True,
               ld_conf=True, wslg=True, systemd=True, stale_store=True, seed="nvbind", nvml_overrides=None):
    """Build a fake WSL2 guest under `dir` (absent or empty): the layout WSL and NVIDIA's Windows
    driver give it, without any Linux NVIDIA driver. `gpus` are what the fake NVML (when
    `fake_nvml` names it) lists; without it NVML answers nothing. `old_driver`: the store lacks
    the loaders newer drivers bring; `dxcore`, `ld_conf`, `wslg`, `systemd`: WSL's parts on or
    off; `stale_store`: an earlier driver's store folder beside the current one. Returns the
    manifest (also written to dir/manifest.json)."""
    if not isinstance(gpus, int) or not 1 <= gpus <= len(BUS_IDS):
        raise FakeHostError("gpus must be 1 to %d, not %r" % (len(BUS_IDS), gpus))
    root = os.path.realpath(os.path.abspath(dir))
    os.makedirs(root, exist_ok=True)
    if os.listdir(root):
        raise FakeHostError("%s is not empty: build a fake host into an empty or new folder" % root)
    os.chmod(root, 0o755)
    hp = lambda rel: os.path.join(root, rel.lstrip("/"))
    libs, decoys = [], []
    _write(hp("etc/os-release"), 'PRETTY_NAME="Ubuntu 22.04.4 LTS"\nNAME="Ubuntu"\nVERSION_ID="22.04"\nID=ubuntu\n')
    _write(hp("proc/sys/kernel/osrelease"), WSL2_KERNEL + "\n")
    _write(hp("proc/version"), "Linux version %s (root@1d5a0d5b4c61) (gcc (GCC) 11.2.0, GNU ld (GNU Binutils) "
           "2.37) #1 SMP Tue Nov 5 00:21:55 UTC 2024\n" % WSL2_KERNEL)
    _mknod(hp("dev/dxg"), WSL2_DXG[0], WSL2_DXG[1], 0o666)
    lib_dir = "/usr/lib/wsl/lib"
    for name, soname in WSL2_LIB_FILES:
        if name == "libdxcore.so" and not dxcore:
            continue
        _write(hp(lib_dir + "/" + name), elf_with_soname(64, soname), 0o555)
        libs.append(lib_dir + "/" + name)
    _write(hp(lib_dir + "/nvidia-smi"), WSL2_SMI % driver_version, 0o555)
    store = "/usr/lib/wsl/drivers/" + _wsl2_store_name(seed, "current")
    for name, soname in WSL2_STORE_LIBS:
        if old_driver and name in WSL2_NEWER_FILES:
            continue
        _write(hp(store + "/" + name), elf_with_soname(64, soname), 0o555)
        libs.append(store + "/" + name)
    _write(hp(store + "/nvcubins.bin"), b"\0fakehost nvcubins\n" * 8, 0o555)
    _write(hp(store + "/nvidia-smi"), WSL2_SMI % driver_version, 0o555)
    for name in WSL2_STORE_WINDOWS_FILES:
        _write(hp(store + "/" + name), b"MZ fakehost windows file\n", 0o555)
        decoys.append(store + "/" + name)
    others = ["/usr/lib/wsl/drivers/iigd_dch.inf_amd64_" + _wsl2_store_name(seed, "intel")[19:]]
    _write(hp(others[0] + "/igd12umd64.dll"), b"MZ fakehost windows file\n", 0o555)
    if stale_store:  # an earlier driver's package, written before the current one
        old = "/usr/lib/wsl/drivers/" + _wsl2_store_name(seed, "earlier")
        for name, soname in WSL2_STORE_LIBS:
            _write(hp(old + "/" + name), elf_with_soname(64, soname), 0o555)
            os.utime(hp(old + "/" + name), (1600000000, 1600000000))
            decoys.append(old + "/" + name)
        others.append(old)
    if ld_conf:
        _write(hp("etc/ld.so.conf"), "include /etc/ld.so.conf.d/*.conf\n")
        _write(hp("etc/ld.so.conf.d/ld.wsl.conf"), "# This file was automatically generated by WSL.\n" + lib_dir + "\n")
    os.makedirs(hp("var/cache/ldconfig"), exist_ok=True)
    ldconfig = shutil.which("ldconfig") or "/sbin/ldconfig"
    # ldconfig warns that WSL's copies are "not a symbolic link", as on a real WSL2 guest.
    subprocess.run([ldconfig, "-X", "-r", root], check=True, capture_output=True, text=True)
    if wslg:
        for sock in ("mnt/wslg/.X11-unix/X0", "mnt/wslg/runtime-dir/wayland-0", "mnt/wslg/PulseServer"):
            _bind_socket(hp(sock))
        _symlink("/mnt/wslg/.X11-unix", hp("tmp/.X11-unix"))
    if systemd:
        os.makedirs(hp("run/systemd/system"), exist_ok=True)
    gpu_list = []
    nvml = None
    if fake_nvml:
        mdl = GPU_MODELS["rtx4090"]
        for i in range(gpus):
            gpu_list.append({"index": i, "uuid": "GPU-" + _uuid_from("%s-wsl2-%d" % (seed, i)), "name": mdl["name"],
                             "pci_bus_id": BUS_IDS[i], "device_nodes": ["/dev/dxg"]})
        data = {"driver_version": driver_version, "cuda_version": 12060, "init_delay_ms": 0, "init_error": 0,
                "gpus": [{"uuid": g["uuid"], "name": g["name"], "pci_bus_id": g["pci_bus_id"], "minor": g["index"],
                          "memory_mib": mdl["memory_mib"], "cc": list(mdl["cc"]), "brand": mdl["nvml_brand"]}
                         for g in gpu_list]}
        data.update(nvml_overrides or {})
        nvml = {"libraries": [], "data": []}
        for folder in (lib_dir, store):  # both copies answer, as on WSL2
            shutil.copyfile(fake_nvml, hp(folder + "/libnvidia-ml.so.1"))
            os.chmod(hp(folder + "/libnvidia-ml.so.1"), 0o555)
            _write(hp(folder + "/" + NVML_DATA_NAME), json.dumps(data, indent=2) + "\n")
            nvml["libraries"].append(hp(folder + "/libnvidia-ml.so.1"))
            nvml["data"].append(hp(folder + "/" + NVML_DATA_NAME))
    manifest = {
        "fakehost_format": MANIFEST_FORMAT, "root": root, "driver_root": "/", "driver_root_host_path": root,
        "layout": "wsl2", "nvbind_args": ["--root", root],
        "options": {"gpus": gpus, "old_driver": old_driver, "dxcore": dxcore, "ld_conf": ld_conf, "wslg": wslg,
                    "systemd": systemd, "stale_store": stale_store, "seed": seed},
        "driver": {"version": driver_version if fake_nvml else "unknown"},
        "gpus": gpu_list,
        "wsl2": {"store": store, "lib_dir": lib_dir, "other_stores": others, "dxg": list(WSL2_DXG)},
        "components": {
            "libraries": sorted(libs),
            "binaries": [store + "/nvidia-smi", lib_dir + "/nvidia-smi"],
            "firmware": [store + "/nvcubins.bin"],
        },
        "decoys": sorted(decoys), "nvml": nvml, "notes": [],
    }
    _write(os.path.join(root, MANIFEST_NAME), json.dumps(manifest, indent=2, sort_keys=True) + "\n", 0o644)
    return manifest


# ---------------------------------------------------------------------------------------------
# Command line


def _main(argv):
    ap = argparse.ArgumentParser(prog="fakehost.py", description="Build or remove a fake NVIDIA host.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build a fake host into DIR (absent or empty)")
    b.add_argument("dir", metavar="DIR")
    b.add_argument("--layout", choices=sorted(LAYOUTS), default="debian")
    b.add_argument("--gpus", type=int, default=1, metavar="N", help="1 to 8 GPUs (default 1)")
    b.add_argument("--kmod", choices=["open", "proprietary"], default="open")
    b.add_argument("--driver-version", default=DEFAULT_DRIVER_VERSION)
    b.add_argument("--model", choices=sorted(GPU_MODELS), default="a100")
    b.add_argument("--models", help="comma-separated models, one per GPU in bus order (cycled)")
    b.add_argument("--shuffle-minors", action="store_true", help="device minors differ from bus order")
    b.add_argument("--mig", action="store_true", help="GPU 0 in MIG mode with two MIG devices")
    b.add_argument("--fake-nvml", metavar="LIBPATH", help="install this built fake libnvidia-ml.so.1")
    b.add_argument("--no-driver", action="store_true", help="a host without the NVIDIA driver")
    b.add_argument("--no-dev-char", action="store_true", help="omit the /dev/char/MAJ:MIN links")
    b.add_argument("--plain-glvnd", action="store_true",
                   help="libGLX_nvidia.so.0 / libEGL_nvidia.so.0 as plain files (default for fedora)")
    b.add_argument("--no-32bit", action="store_true", help="omit the 32-bit libraries")
    b.add_argument("--no-persistenced", action="store_true", help="no persistence daemon socket")
    b.add_argument("--fabricmanager", action="store_true", help="add the fabric manager socket")
    b.add_argument("--mps", action="store_true", help="add the MPS pipe folder")
    b.add_argument("--bmc", action="store_true", help="add a BMC VGA (ASPEED) as /dev/dri/card0")
    b.add_argument("--uvm-major", type=int, default=DEFAULT_UVM_MAJOR)
    b.add_argument("--caps-major", type=int, default=DEFAULT_CAPS_MAJOR)
    b.add_argument("--seed", default="nvbind", help="changes the UUIDs and the minor permutation")
    b.add_argument("--nvml-init-delay-ms", type=int, default=0, help="fake NVML: sleep this long in nvmlInit")
    b.add_argument("--drm-gpus", metavar="LIST",
                   help="other vendors' GPUs, comma-separated: %s" % ", ".join(DRM_GPU_MODELS))
    b.add_argument("--json", action="store_true", help="print the manifest")
    w = sub.add_parser("build-wsl2", help="build a fake WSL2 guest into DIR (absent or empty)")
    w.add_argument("dir", metavar="DIR")
    w.add_argument("--gpus", type=int, default=1, metavar="N", help="GPUs the fake NVML lists (default 1)")
    w.add_argument("--fake-nvml", metavar="LIBPATH", help="install this built fake libnvidia-ml.so.1")
    w.add_argument("--old-driver", action="store_true", help="a store without the newer drivers' loaders")
    w.add_argument("--no-dxcore", action="store_true", help="no /usr/lib/wsl/lib/libdxcore.so")
    w.add_argument("--no-ld-conf", action="store_true", help="no /etc/ld.so.conf.d/ld.wsl.conf")
    w.add_argument("--no-wslg", action="store_true", help="no WSLg sockets")
    w.add_argument("--no-systemd", action="store_true", help="systemd off")
    d = sub.add_parser("destroy", help="remove a fake host built by this tool")
    d.add_argument("dir", metavar="DIR")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "destroy":
            destroy(args.dir)
            return 0
        if args.cmd == "build-wsl2":
            m = build_wsl2(args.dir, gpus=args.gpus, fake_nvml=args.fake_nvml, old_driver=args.old_driver,
                           dxcore=not args.no_dxcore, ld_conf=not args.no_ld_conf, wslg=not args.no_wslg,
                           systemd=not args.no_systemd)
            print("fake WSL2 guest at %s\ntry: nvbind --root %s wsl2 check" % (m["root"], m["root"]))
            return 0
        overrides = {"init_delay_ms": args.nvml_init_delay_ms} if args.nvml_init_delay_ms else None
        m = build(args.dir, layout=args.layout, gpus=args.gpus, kmod=args.kmod,
                  driver_version=args.driver_version, shuffle_minors=args.shuffle_minors, mig=args.mig,
                  fake_nvml=args.fake_nvml, no_driver=args.no_driver, dev_char=not args.no_dev_char,
                  plain_glvnd=True if args.plain_glvnd else None, lib32=not args.no_32bit,
                  persistenced=not args.no_persistenced, fabricmanager=args.fabricmanager, mps=args.mps,
                  bmc=args.bmc, model=args.model,
                  models=args.models.split(",") if args.models else None,
                  uvm_major=args.uvm_major, caps_major=args.caps_major, seed=args.seed,
                  nvml_overrides=overrides, drm_gpus=args.drm_gpus.split(",") if args.drm_gpus else None)
    except FakeHostError as e:
        print("fakehost.py: %s" % e, file=sys.stderr)
        return 1
    if args.json:
        json.dump(m, sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    else:
        what = "no driver" if args.no_driver else "%d GPU(s), %s kernel module %s" % (
            args.gpus, args.kmod, args.driver_version)
        print("fake %s host (%s) at %s" % (m["layout"], what, m["root"]))
        print("try: nvbind %s info" % " ".join(m["nvbind_args"]))
        for n in m["notes"]:
            print("note: %s" % n)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
