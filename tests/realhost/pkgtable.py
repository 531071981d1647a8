"""docs/debian-packaging.md: every file Debian's NVIDIA packages put on the real host (dpkg's
lists and the update-alternatives links their maintainer scripts make), and whether nvbind's
CDI spec for that host offers it to a container, where, and why not.

Run through `python3 tests/realhost/realhost.py table --output docs/debian-packaging.md`;
the table is regenerated whenever discovery changes."""
import json
import os
import subprocess

# Folders of a package that describe it rather than serve a program (not listed one by one).
PACKAGING_ONLY = ("/usr/share/doc/", "/usr/share/man/", "/usr/share/lintian/", "/usr/share/bug/")

# Why a file is not for containers, by where it lives (first match).
HOST_ONLY = [
    ("/etc/modprobe.d/", "kernel module configuration: the host's"),
    ("/lib/modprobe.d/", "kernel module configuration: the host's"),
    ("/usr/lib/modprobe.d/", "kernel module configuration: the host's"),
    ("/lib/udev/", "udev rules: the host's device manager"),
    ("/usr/lib/udev/", "udev rules: the host's device manager"),
    ("/lib/systemd/", "service unit: daemons run on the host"),
    ("/usr/lib/systemd/", "service unit: daemons run on the host"),
    ("/etc/init.d/", "service script: daemons run on the host"),
    ("/etc/X11/", "X server configuration: the host's X server"),
    ("/usr/share/X11/", "X server configuration: the host's X server"),
    ("/usr/lib/xorg/modules/drivers/", "X server driver: loaded by an X server, not by applications"),
    ("/usr/lib/xorg/modules/", "X server module: loaded by an X server, not by applications"),
    ("/usr/lib/nvidia/current/libglxserver_nvidia.so", "X server module: loaded by an X server, not by applications"),
    ("/usr/lib/nvidia/libglxserver_nvidia.so", "X server module: loaded by an X server, not by applications"),
    ("/usr/lib/nvidia/current/nvidia_drv.so", "X server driver: loaded by an X server, not by applications"),
    ("/usr/lib/nvidia/nvidia_drv.so", "X server driver: loaded by an X server, not by applications"),
    ("/usr/lib/nvidia/current/nvidia.ids", "the X driver's list of supported GPUs (X autoconfiguration)"),
    ("/etc/nvidia/", "X server configuration: the host's X server"),
    ("/usr/share/initramfs-tools/", "initramfs hook: the host's boot"),
    ("/usr/lib/nvidia/pre-install", "packaging helper run by the maintainer scripts"),
    ("/usr/lib/nvidia/check-for-", "packaging helper run by the maintainer scripts"),
    ("/usr/lib/nvidia/alternate-install-present", "packaging marker for NVIDIA's own installer"),
    ("/usr/share/man/", "manual page"),
    ("/usr/lib/nvidia/current/nvidia-smi.1.gz", "manual page"),
    ("/usr/share/nvidia/rim/", "reference integrity manifest for confidential-computing attestation, not read by applications"),
    ("/usr/sbin/nvidia-persistenced", "daemon: runs on the host; containers get its socket"),
    ("/usr/bin/nvidia-persistenced", "daemon: runs on the host; containers get its socket"),
    ("/etc/ld.so.conf.d/", "host library search path: the container's cache is made by the hook"),
    ("/usr/lib/nvidia/current/nvidia-bug-report.sh", "host diagnostics script: collects the host's logs"),
    ("/usr/lib/nvidia/nvidia-bug-report.sh", "host diagnostics script: collects the host's logs"),
    ("/usr/bin/nvidia-bug-report.sh", "host diagnostics script: collects the host's logs"),
]


def nvidia_packages(root):
    """(package:arch, version) of every installed package built from NVIDIA's driver sources
    or carrying an NVIDIA part (firmware, Xorg driver, EGL platforms)."""
    out = subprocess.run(["chroot", root, "dpkg-query", "-W", "-f",
                          "${Package}:${Architecture}\t${Version}\t${source:Package}\n"],
                         stdout=subprocess.PIPE, check=True, text=True, env={"PATH": "/usr/bin:/bin:/usr/sbin:/sbin"})
    pkgs = []
    for line in out.stdout.splitlines():
        name, version, source = line.split("\t")
        if "nvidia" in name or "nvidia" in source or source in ("egl-wayland", "egl-gbm") or \
                name.startswith(("libcuda", "libnvcuvid", "libnvoptix")):
            pkgs.append((name, version))
    return sorted(pkgs)


def dpkg_list(root, pkg):
    name, arch = pkg.split(":")
    for cand in (f"{name}:{arch}.list", f"{name}.list"):
        p = os.path.join(root, "var/lib/dpkg/info", cand)
        if os.path.exists(p):
            with open(p) as f:
                return [line.rstrip("\n") for line in f if line.strip() and line.strip() != "/."]
    return []


def alternatives(root):
    """{public link: (alternative name, where it points)} from dpkg's alternatives database."""
    base = os.path.join(root, "var/lib/dpkg/alternatives")
    links = {}
    for name in sorted(os.listdir(base)) if os.path.isdir(base) else []:
        with open(os.path.join(base, name)) as f:
            lines = f.read().split("\n")
        pairs = [(name, lines[1])]
        i = 2
        while i + 1 < len(lines) and lines[i]:
            pairs.append((lines[i], lines[i + 1]))
            i += 2
        for alt, link in pairs:
            target = os.path.join(root, "etc/alternatives", alt)
            if os.path.islink(target) and "nvidia" in (os.readlink(target) + alt):
                links[link] = (alt, os.readlink(target))
    return links


def resolve_in(root, path, depth=0):
    """path (absolute, in the host) with every symlink followed inside root."""
    parts = path.strip("/").split("/")
    cur = "/"
    for i, part in enumerate(parts):
        nxt = os.path.join(cur, part)
        full = os.path.join(root, nxt.lstrip("/"))
        if os.path.islink(full) and depth < 40:
            t = os.readlink(full)
            t = t if t.startswith("/") else os.path.join(cur, t)
            return resolve_in(root, os.path.normpath(os.path.join(t, *parts[i + 1:])), depth + 1)
        cur = nxt
    return cur


def spec_view(root, nvbind):
    r = subprocess.run([nvbind, "--root", root, "cdi", "generate", "--format", "json", "--output", "-"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"nvbind cdi generate on {root}: {r.stderr.strip()}")
    edits = json.loads(r.stdout)["containerEdits"]
    mounts = {}
    for m in edits.get("mounts", []):
        host = m["hostPath"]
        rel = "/" + os.path.relpath(host, root) if host.startswith(root + "/") else host
        mounts.setdefault(rel, []).append(m["containerPath"])
    links, folders = {}, set()
    for h in edits.get("hooks", []):
        args = h.get("args", [])
        for i, arg in enumerate(args):
            if "::" in arg:
                target, link = arg.split("::", 1)
                links[link] = target
            if arg == "--folder" and i + 1 < len(args):
                folders.add(args[i + 1])
    return mounts, links, folders


def soname(path):
    """The SONAME of a shared library (readelf, from binutils), or None."""
    r = subprocess.run(["readelf", "-d", path], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in r.stdout.splitlines():
        if "(SONAME)" in line and "[" in line:
            return line.rsplit("[", 1)[1].rstrip("]")
    return None


def canonical(root, path):
    """path with the links of its folders followed (/lib is /usr/lib on a merged-/usr host),
    the last component kept."""
    return os.path.join(resolve_in(root, os.path.dirname(path)), os.path.basename(path))


def verdict(root, path, view):
    """(offered, container path, why not) of one host path: "yes" when the container has it
    at this path, "elsewhere" when only at another, "no", or "folder" (not listed)."""
    mounts, links, folders, by_target = view["mounts"], view["links"], view["folders"], view["by_target"]
    if os.path.isdir(os.path.join(root, resolve_in(root, path).lstrip("/"))):
        return "folder", "", ""
    path = canonical(root, path)
    full = os.path.join(root, path.lstrip("/"))
    if path in view["container_paths"]:
        return "yes", path, ""
    if path in links:
        return "yes (link)", path, f"made by the create-symlinks hook, to {links[path]}"
    real = resolve_in(root, path)
    if os.path.islink(full) and real in mounts and os.path.dirname(real) == os.path.dirname(path) \
            and os.path.dirname(path) in folders and soname(os.path.join(root, real.lstrip("/"))) == \
            os.path.basename(path):
        return "yes (link)", path, "a SONAME link: made by ldconfig in the update-ldcache hook"
    if path in mounts:
        return "elsewhere", mounts[path][0], "offered under another name"
    if os.path.islink(full) and real in mounts:
        return "elsewhere", mounts[real][0], "a link; only its target is offered, at another path"
    if real in by_target:
        return "elsewhere", by_target[real], "the same file is offered at another path"
    # What the spec does not offer: why, where that is a choice (host-only files).
    for prefix, why in HOST_ONLY:
        if path.startswith(prefix):
            return "no", "", why
    if not os.path.exists(full) and not os.path.islink(full):
        return "no", "", "not on the host (removed by a maintainer script)"
    return "no", "", "not found by nvbind's discovery"


def markdown(info, nvbind):
    root = os.path.realpath(info["root"])
    mounts, links, folders = spec_view(root, nvbind)
    by_target = {}
    for host_path, cpaths in mounts.items():
        by_target.setdefault(resolve_in(root, host_path), cpaths[0])
    view = {"mounts": mounts, "links": links, "folders": folders, "by_target": by_target,
            "container_paths": {c for cpaths in mounts.values() for c in cpaths}}
    out = ["# Debian's NVIDIA packages and what nvbind offers from them", "",
           "Generated by `python3 tests/realhost/realhost.py table --output docs/debian-packaging.md` on the",
           f"real-packaging test host (Debian 12, driver {info['driver_version']}, {len(info['gpus'])} GPUs "
           "with the kernel side laid out by tests/fakehost). Do not edit by hand: regenerate it.", "",
           "For each package: every file `dpkg -L` lists (packaging documentation under `/usr/share/doc`, "
           "`man`, `lintian` and `bug` only counted), whether `nvbind cdi generate` offers it to a "
           "container (a read-only mount, or a link made by the `create-symlinks` hook), its path in "
           "the container, and why not when it is not. Folders are left out. What matters most is that "
           "the names programs use (the update-alternatives links at the end, such as "
           "`/usr/bin/nvidia-smi` or `libcuda.so.1` in the multiarch folder) are offered.", ""]
    summary = {"yes": 0, "elsewhere": 0, "no": 0}
    sections = []
    for pkg, version in nvidia_packages(root):
        files = dpkg_list(root, pkg)
        doc = [f for f in files if f.startswith(PACKAGING_ONLY)]
        rows = []
        for f in files:
            if f in doc:
                continue
            offered, cpath, why = verdict(root, f, view)
            if offered == "folder":
                continue
            summary[offered.split()[0]] += 1
            rows.append(f"| `{f}` | {offered} | {'`' + cpath + '`' if cpath else ''} | {why} |")
        sections += [f"## {pkg} {version}", ""]
        if rows:
            sections += ["| file | offered | in the container | why not |", "| --- | --- | --- | --- |", *rows]
        else:
            sections.append("No files outside packaging documentation.")
        if doc:
            sections += ["", f"Plus {len(doc)} packaging documentation files (not offered: not used by programs)."]
        sections.append("")
    alts = alternatives(root)
    sections += ["## Links made by update-alternatives (maintainer scripts; not in dpkg's lists)", "",
                 "| link | alternative -> where it points | offered | in the container | why not |",
                 "| --- | --- | --- | --- | --- |"]
    for link, (alt, target) in sorted(alts.items()):
        offered, cpath, why = verdict(root, link, view)
        if offered == "folder":
            continue
        summary[offered.split()[0]] += 1
        sections.append(f"| `{link}` | {alt} -> `{target}` | {offered} | {'`' + cpath + '`' if cpath else ''} | {why} |")
    sections.append("")
    out += [f"In all: {summary['yes']} offered at their own path, {summary['elsewhere']} only at another path "
            f"(\"elsewhere\": the content is in the container, under the name in the next column), "
            f"{summary['no']} not at all.", ""]
    return "\n".join(out + sections)
