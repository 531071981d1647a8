"""GPU containers on a host made of Debian's own NVIDIA packages (tests/realhost), checked from
inside a real Debian 12 container started by real podman with nvbind's CDI spec.

Fake hosts are laid out by our own tests; this host is laid out by Debian (update-alternatives,
nvidia/current/ folders, its ld.so.conf.d), so what fails here fails on users' machines:
nvidia-smi missing from PATH, driver libraries that vanish at the container's first ldconfig,
vendor files the loaders never read, libraries whose dependencies do not resolve.

The whole file is skipped only when the host cannot be built for a reason outside nvbind
(no route to the Debian mirror); a host that builds but whose checks fail is a failure."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

from nvbtest import NVBIND, REPO, run

sys.path.insert(0, os.path.join(REPO, "tests", "realhost"))
import pkgtable  # noqa: E402
import realhost  # noqa: E402

# A kind of our own: other tests (and other checkouts on the same machine) write
# nvidia.com/gpu specs to /var/run/cdi at the same time; a second spec of the same kind
# would make podman refuse both.
KIND = "realhost.nvbind.test/gpu"
SPEC = "/var/run/cdi/realhost.nvbind.test-gpu.json"
LIBDIR = "/usr/lib/x86_64-linux-gnu"
NVCC = "/usr/local/cuda/bin/nvcc"
REQUESTED = 1  # the GPU index the container asks for

# dlopen a library by the name an application uses and call its init function: a CUresult or
# nvmlReturn_t means the library and everything it needs loaded; a load failure says LOADFAIL.
DLPROBE_C = r"""
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv) {
    if (argc != 3) return 64;
    void *h = dlopen(argv[1], RTLD_NOW | RTLD_GLOBAL);
    if (!h) { printf("LOADFAIL %s\n", dlerror()); return 2; }
    if (strcmp(argv[2], "-") == 0) { printf("LOADED\n"); return 0; }
    int (*init)(unsigned) = (int (*)(unsigned))dlsym(h, argv[2]);
    if (!init) { printf("NOSYM %s\n", argv[2]); return 3; }
    printf("RESULT %d\n", init(0));
    return 0;
}
"""
# A CUDA program with the runtime linked statically: cudaGetDeviceCount makes the runtime load
# the driver's libcuda.so.1 itself. The runtime answers "insufficient driver" both when it
# cannot load libcuda and when the driver is older than the runtime, so the check script runs
# it with LD_DEBUG=libs: the loader's "calling init: .../libcuda.so.1" says it was loaded.
CUDAPROBE_CU = r"""
#include <cstdio>
#include <cuda_runtime.h>
int main() {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    printf("ERROR %d %s\n", (int)e, cudaGetErrorString(e));
    return 0;
}
"""
VULKAN_DIRS = ["/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d", "/usr/local/share/vulkan/icd.d"]
EGL_VENDOR_DIRS = ["/usr/share/glvnd/egl_vendor.d", "/etc/glvnd/egl_vendor.d"]
EGL_PLATFORM_DIRS = ["/usr/share/egl/egl_external_platform.d", "/etc/egl/egl_external_platform.d"]
# What a 32-bit program (Steam, Wine) loads by name from the i386 multiarch folder.
I386_LIBS = ["libcuda.so.1", "libnvidia-ml.so.1", "libGLX_nvidia.so.0", "libEGL_nvidia.so.0"]
# nvngx.dll: Proton loads DLSS's Windows side from nvidia/wine/ beside libGLX_nvidia.so.0 as
# the container sees it; Debian keeps the DLLs beside the library's data in nvidia/current/.
NAMED_FILES = [f"{LIBDIR}/libGLX_indirect.so.0", f"{LIBDIR}/vdpau/libvdpau_nvidia.so.1",
               f"{LIBDIR}/gbm/nvidia-drm_gbm.so", "/usr/share/nvidia/nvoptix.bin",
               f"{LIBDIR}/nvidia/wine/nvngx.dll", f"{LIBDIR}/nvidia/wine/_nvngx.dll",
               "/usr/lib/xorg/modules/drivers/nvidia_drv.so"]

CHECK_SCRIPT = r"""
probe=/nvbind-probe
phase() {
  echo "@@PHASE $1"
  echo "@@CHECK which"; command -v nvidia-smi || echo MISSING
  echo "@@CHECK smi"; nvidia-smi 2>&1; echo "rc=$?"
  for l in libcuda.so.1 libcuda.so; do echo "@@CHECK dl:$l"; $probe/dlprobe $l cuInit 2>&1; done
  for l in libnvidia-ml.so.1 libnvidia-ml.so; do echo "@@CHECK dl:$l"; $probe/dlprobe $l nvmlInit_v2 2>&1; done
  while read -r f; do echo "@@CHECK ldd:$f"; ldd "$f" 2>&1; done < $probe/elf64.txt
  for f in $(cat $probe/named.txt); do
    echo "@@CHECK file:$f"; if [ -e "$f" ]; then echo present; else echo absent; fi
  done
  for l in $(cat $probe/i386.txt); do
    echo "@@CHECK i386:$l"; f=/usr/lib/i386-linux-gnu/$l
    if [ -e "$f" ]; then od -An -tx1 -j18 -N2 "$f"; else echo absent; fi
  done
  for d in $(cat $probe/vendor_dirs.txt); do
    for j in "$d"/*.json; do
      [ -e "$j" ] || continue
      echo "@@CHECK vendor:$j"
      lib=$(tr -d '\n' < "$j" | grep -o '"library_path"[^"]*"[^"]*"' | sed 's/.*"\([^"]*\)"$/\1/')
      echo "library_path=$lib"; $probe/dlprobe "$lib" - 2>&1
    done
  done
  echo "@@CHECK dev"; ls /dev
  echo "@@CHECK dri"; ls /dev/dri 2>/dev/null
  if [ -x $probe/cudaprobe ]; then
    echo "@@CHECK cuda"; LD_DEBUG=libs $probe/cudaprobe 2>/tmp/ld-debug.log; echo "rc=$?"
    grep -o 'calling init: [^ ]*libcuda[^ ]*' /tmp/ld-debug.log | head -n 1
  fi
}
phase first
ldconfig
phase after-ldconfig
"""


def parse(out):
    """{phase: {check: text}} from the check script's output."""
    phases, cur, check = {}, None, None
    for line in out.splitlines():
        if line.startswith("@@PHASE "):
            cur = phases.setdefault(line.split(" ", 1)[1], {})
        elif line.startswith("@@CHECK ") and cur is not None:
            check = line.split(" ", 1)[1]
            cur[check] = ""
        elif cur is not None and check is not None:
            cur[check] += line + "\n"
    return phases


def build_probes(tmp):
    """Build the probes into TMP/probe: dlprobe (gcc), and cudaprobe when nvcc is here.
    Returns (the probe folder, nvcc's error output or None)."""
    probe = os.path.join(tmp, "probe")
    os.makedirs(probe)
    src = os.path.join(tmp, "dlprobe.c")
    with open(src, "w") as f:
        f.write(DLPROBE_C)
    subprocess.run(["gcc", "-O1", "-o", os.path.join(probe, "dlprobe"), src, "-ldl"], check=True)
    if not os.path.exists(NVCC):
        return probe, None
    cu = os.path.join(tmp, "cudaprobe.cu")
    with open(cu, "w") as f:
        f.write(CUDAPROBE_CU)
    r = run([NVCC, "-cudart", "static", "-o", os.path.join(probe, "cudaprobe"), cu, "-ldl"], timeout=300)
    return probe, (r.stderr[-2000:] if r.returncode != 0 else None)


def elf_machine(path):
    """"x86_64" or "i386" for an ELF program or library of that machine, None for anything
    else (the GSP firmware files are ELF too, for the GPU's own processor)."""
    try:
        with open(path, "rb") as f:
            head = f.read(20)
    except OSError:
        return None
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return None
    return {62: "x86_64", 3: "i386"}.get(int.from_bytes(head[18:20], "little"))


class RealHost(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise unittest.SkipTest("debootstrap, chroot and podman need root")
        if not os.path.exists(NVBIND):
            raise unittest.SkipTest(f"{NVBIND} is not built")
        try:
            cls.host = realhost.ensure()
        except realhost.RealHostUnavailable as e:
            raise unittest.SkipTest(str(e))
        cls.root = cls.host["root"]
        cls.tmp = tempfile.mkdtemp(prefix="nvbind-realhost-")
        try:
            cls._prepare()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if os.path.exists(SPEC):
            os.unlink(SPEC)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def _prepare(cls):
        r = run([NVBIND, "--root", cls.root, "cdi", "generate", "--kind", KIND, "--output", SPEC])
        if r.returncode != 0:
            raise AssertionError(f"cdi generate on the real host failed: {r.stderr}")
        with open(SPEC) as f:
            cls.spec = json.load(f)
        probe, cls.nvcc_error = build_probes(cls.tmp)
        # Every x86_64 program and library the spec mounts (the image's ldd is the 64-bit
        # one), by its path in the container.
        mounts = cls.spec["containerEdits"].get("mounts", [])
        cls.elf64 = sorted(m["containerPath"] for m in mounts if elf_machine(m["hostPath"]) == "x86_64")
        # Every file name Debian's NVIDIA packages install (libraries and their SONAME links).
        cls.driver_names = {os.path.basename(f) for pkg, _ in pkgtable.nvidia_packages(cls.root)
                            for f in pkgtable.dpkg_list(cls.root, pkg)}
        with open(os.path.join(probe, "elf64.txt"), "w") as f:
            f.write("".join(p + "\n" for p in cls.elf64))
        with open(os.path.join(probe, "named.txt"), "w") as f:
            f.write("".join(p + "\n" for p in NAMED_FILES))
        with open(os.path.join(probe, "i386.txt"), "w") as f:
            f.write("".join(p + "\n" for p in I386_LIBS))
        with open(os.path.join(probe, "vendor_dirs.txt"), "w") as f:
            f.write("".join(p + "\n" for p in VULKAN_DIRS + EGL_VENDOR_DIRS + EGL_PLATFORM_DIRS))
        r = run(["podman", "run", "--rm", "--device", f"{KIND}={REQUESTED}", "-v", f"{probe}:/nvbind-probe:ro",
                 cls.host["image"], "bash", "-c", CHECK_SCRIPT], timeout=600)
        cls.podman = r
        cls.phases = parse(r.stdout)

    def each_phase(self):
        """(phase name, its checks): the first start, then after ldconfig ran again inside."""
        self.assertEqual(self.podman.returncode, 0, f"podman run failed: {self.podman.stderr}")
        self.assertEqual(sorted(self.phases), ["after-ldconfig", "first"], self.podman.stdout[-2000:])
        for name in ("first", "after-ldconfig"):
            yield name, self.phases[name]

    def test_host_cache_answers_as_a_fresh_discovery(self):
        """Debian's own layout through the host cache (docs/host-cache.md): a run served from
        the kept model answers exactly what a fresh discovery answers."""
        cache = tempfile.mkdtemp(prefix="nvbind-realhost-cache-")
        self.addCleanup(shutil.rmtree, cache, True)
        for args in (["info", "--json"], ["cdi", "generate", "--kind", KIND]):
            fresh = run([NVBIND, "--root", self.root, *args], env={"NVBIND_HOST_CACHE": "off"}, check=True).stdout
            served = False
            for _ in range(4):  # a host built less than a second ago is not kept yet
                r = run([NVBIND, "--root", self.root, *args],
                        env={"NVBIND_HOST_CACHE": cache, "NVBIND_LOG": "info"}, check=True)
                self.assertEqual(r.stdout, fresh, f"nvbind {' '.join(args)} through the host cache differs")
                served = served or "the host model from" in r.stderr
                if served:
                    break
                time.sleep(1.1)
            self.assertTrue(served, f"nvbind {' '.join(args)}: the host cache never served: {r.stderr}")

    def test_nvidia_smi_on_path_fails_only_for_lack_of_driver(self):
        """Debian installs nvidia-smi as an update-alternatives link into nvidia/current/."""
        for phase, c in self.each_phase():
            with self.subTest(phase=phase):
                self.assertNotIn("MISSING", c["which"], "nvidia-smi is not on PATH in the container")
                self.assertIn("couldn't communicate with the NVIDIA driver", c["smi"])

    def test_driver_libraries_load_by_application_names(self):
        """cuInit/nvmlInit return a result code: the library and its dependencies loaded."""
        for phase, c in self.each_phase():
            for lib in ("libcuda.so.1", "libcuda.so", "libnvidia-ml.so.1", "libnvidia-ml.so"):
                with self.subTest(phase=phase, lib=lib):
                    self.assertRegex(c[f"dl:{lib}"], r"^RESULT -?\d+\n", c[f"dl:{lib}"])

    def test_every_mounted_elf_file_resolves(self):
        """ldd of each mounted library and binary finds every driver library it needs. A
        dependency the driver does not ship (libcrypto.so.3 of libnvidia-pkcs11-openssl3,
        libtirpc.so.3 of nvidia-persistenced) is the image's to bring, never the host's."""
        self.assertTrue(self.elf64, "the spec mounts no 64-bit ELF file")
        for phase, c in self.each_phase():
            for path in self.elf64:
                with self.subTest(phase=phase, path=path):
                    out = c.get(f"ldd:{path}")
                    self.assertIsNotNone(out, f"ldd did not run on {path}")
                    self.assertNotIn("No such file", out)
                    self.assertNotIn("not a dynamic executable", out)
                    missing = re.findall(r"^\s*(\S+) => not found", out, re.M)
                    self.assertEqual([m for m in missing if m in self.driver_names], [], out)

    def test_vendor_files_where_loaders_look_and_name_loadable_libraries(self):
        for phase, c in self.each_phase():
            vendor = {k[len("vendor:"):]: v for k, v in c.items() if k.startswith("vendor:")}
            for dirs, what in ((VULKAN_DIRS, "Vulkan ICD"), (EGL_VENDOR_DIRS, "EGL vendor")):
                with self.subTest(phase=phase, kind=what):
                    found = [p for p in vendor if os.path.dirname(p) in dirs and "nvidia" in os.path.basename(p)]
                    self.assertTrue(found, f"no NVIDIA {what} file in {dirs}")
            for path, out in vendor.items():
                with self.subTest(phase=phase, file=path):
                    lib = re.search(r"^library_path=(.*)$", out, re.M).group(1)
                    if lib and elf_machine(os.path.join(self.root, lib.lstrip("/"))) == "i386":
                        continue  # a 32-bit ICD: the 64-bit probe cannot load it
                    self.assertIn("LOADED", out, f"{path} names {lib!r}, which does not load: {out}")

    def test_glx_indirect_vdpau_gbm_optix_ngx_and_xorg_files_present(self):
        for phase, c in self.each_phase():
            for path in NAMED_FILES:
                with self.subTest(phase=phase, path=path):
                    self.assertEqual(c[f"file:{path}"].strip(), "present")

    def test_32bit_driver_libraries_where_the_i386_loader_looks(self):
        """Debian's i386 packages keep them in i386-linux-gnu/nvidia/current/; a 32-bit game
        or Wine looks them up by SONAME in the i386 multiarch folder."""
        for phase, c in self.each_phase():
            for lib in I386_LIBS:
                with self.subTest(phase=phase, lib=lib):
                    # e_machine 3 (EM_386), little-endian: the file there is the 32-bit one.
                    self.assertEqual(c[f"i386:{lib}"].split(), ["03", "00"], c[f"i386:{lib}"])

    def test_only_the_requested_gpu_nodes(self):
        gpus = self.host["gpus"]
        want = next(g for g in gpus if g["index"] == REQUESTED)
        for phase, c in self.each_phase():
            with self.subTest(phase=phase):
                nodes = {n for n in c["dev"].split() if re.fullmatch(r"nvidia\d+", n)}
                self.assertEqual(nodes, {f"nvidia{want['minor']}"})
                self.assertIn("nvidiactl", c["dev"].split())
                # The DRM nodes of that GPU, as the host's /sys names them, and no other GPU's.
                drm = os.path.join(self.root, "sys/bus/pci/devices", want["pci_bus_id"], "drm")
                self.assertEqual(set(c["dri"].split()), set(os.listdir(drm)))

    def test_cuda_program_fails_only_for_driver_not_loading(self):
        """A CUDA runtime (nvcc, -cudart static) on this 535 driver without a kernel module:
        insufficient driver (a runtime newer than 12.2) or no device, after libcuda.so.1 was
        loaded and initialised."""
        if not os.path.exists(NVCC):
            self.skipTest(f"{NVCC} is not installed")
        self.assertIsNone(self.nvcc_error, f"nvcc failed: {self.nvcc_error}")
        for phase, c in self.each_phase():
            with self.subTest(phase=phase):
                out = c.get("cuda", "")
                self.assertIn("calling init: ", out, f"the CUDA runtime did not load libcuda: {out}")
                m = re.search(r"^ERROR (\d+) ", out, re.M)
                self.assertIsNotNone(m, out)
                # cudaErrorInsufficientDriver (35), cudaErrorNoDevice (100)
                self.assertIn(int(m.group(1)), (35, 100), out)


if __name__ == "__main__":
    unittest.main()
