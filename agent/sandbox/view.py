"""The filesystem a sandboxed side sees: an allow-list, not the host with holes punched in it.

Run once in the template process (inside its own mount namespace, before any user code): a
fresh tmpfs becomes the new root, the listed paths are bind-mounted into it read-only (the
Python install, the `agent` package, the repository copy, a few files of /etc, the system
libraries), `hide` paths inside those are covered with empty read-only tmpfs (torch's
installation on the MindSpore side), /proc is the pid namespace's own, /dev holds only the
harmless character devices, and /scratch, /dev/shm (and /tmp) are private tmpfs. Then pivot_root: the
host's tree is detached and nothing outside the list can be named, let alone opened.
"""
from __future__ import annotations

import ctypes
import os
import platform

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "arm64": 41}

# System folders a Python process and the frameworks' shared libraries need (merged-/usr systems
# have /lib, /bin as symlinks; those are recreated as symlinks).
SYSTEM_PATHS = ["/usr", "/lib", "/lib32", "/lib64", "/bin", "/sbin"]
ETC_FILES = ["/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/passwd",
             "/etc/group", "/etc/nsswitch.conf", "/etc/hosts", "/etc/host.conf", "/etc/os-release",
             "/etc/alternatives"]
DEVICES = ["null", "zero", "full", "random", "urandom"]
CPU_INFO = ["/sys/devices/system/cpu"]
SCRATCH = "/scratch"  # the one writable folder a session works in (HOME, TMPDIR, cwd)

_libc = ctypes.CDLL(None, use_errno=True)


def _mount(source, target, fstype, flags, data=None) -> None:
    enc = lambda s: s.encode() if isinstance(s, str) else s  # noqa: E731
    if _libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {source} on {target}: {os.strerror(err)}")


def _bind(path: str, root: str, writable: bool = False) -> bool:
    """Mirror host `path` at root+path (read-only unless `writable`); False when it does not exist."""
    if os.path.islink(path) and os.path.dirname(path) == "/":
        os.symlink(os.readlink(path), root + path)  # /lib -> usr/lib on merged-/usr systems
        return True
    real = os.path.realpath(path)
    if not os.path.exists(real):
        return False
    target = root + real
    if os.path.isdir(real):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.exists(target):
            open(target, "w").close()
    _mount(real, target, None, MS_BIND | MS_REC)
    flags = MS_REMOUNT | MS_BIND | MS_NOSUID | (0 if writable else MS_RDONLY)
    _mount(None, target, None, flags)
    if real != path and not os.path.lexists(root + path):  # the name the caller uses, as a symlink
        os.makedirs(os.path.dirname(root + path), exist_ok=True)
        os.symlink(real, root + path)
    return True


def _pivot(root: str) -> None:
    number = _SYS_PIVOT_ROOT.get(platform.machine())
    if number is None:
        raise OSError(f"pivot_root: unknown syscall number on {platform.machine()}")
    os.chdir(root)
    if _libc.syscall(number, b".", b".") != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"pivot_root: {os.strerror(err)}")
    if _libc.umount2(b".", MNT_DETACH) != 0:  # the old root, stacked under the new one
        err = ctypes.get_errno()
        raise OSError(err, f"detaching the host root: {os.strerror(err)}")
    os.chdir("/")


def build_view(spec: dict) -> dict:
    """Enter the view `spec` = {"root": empty host dir, "read_only": [paths], "hide": [paths],
    "tmp_size": "1g"}; returns what was mounted. Needs CAP_SYS_ADMIN in a private mount namespace."""
    root = spec["root"]
    _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing below propagates back to the host
    _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=755")
    shown = []
    for path in [*SYSTEM_PATHS, *ETC_FILES, *CPU_INFO, *spec.get("read_only", [])]:
        try:
            if _bind(path, root):
                shown.append(path)
        except OSError:
            if path in spec.get("read_only", []):
                raise  # a path the caller asked for must be there
    hidden = []
    for path in spec.get("hide", []):
        real = os.path.realpath(path)
        if os.path.isdir(root + real):
            _mount("tmpfs", root + real, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k,mode=555")
            hidden.append(path)
        elif os.path.isfile(root + real):
            _mount(root + "/dev/null" if os.path.exists(root + "/dev/null") else "/dev/null", root + real, None, MS_BIND)
            hidden.append(path)
    os.makedirs(root + "/proc")
    _mount("/proc", root + "/proc", None, MS_BIND | MS_REC)  # this pid namespace's own /proc
    os.makedirs(root + "/dev")
    for dev in DEVICES:
        if os.path.exists("/dev/" + dev):
            open(root + "/dev/" + dev, "w").close()
            _mount("/dev/" + dev, root + "/dev/" + dev, None, MS_BIND)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                         ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{root}/dev/{name}")
    size = spec.get("tmp_size", "1g")
    # /tmp is private too unless a shown folder lives under it (a repository in a temp dir): then
    # /tmp holds only those folders, read-only, and SCRATCH alone is writable.
    under_tmp = any(os.path.realpath(p) == "/tmp" or os.path.realpath(p).startswith("/tmp/")
                    for p in spec.get("read_only", []))
    private = [SCRATCH, "/dev/shm"] + ([] if under_tmp else ["/tmp"])
    for place in private:
        os.makedirs(root + place, exist_ok=True)
        _mount("tmpfs", root + place, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size},mode=1777")
    _pivot(root)
    _mount(None, "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)  # the root tmpfs itself
    return {"view": True, "shown": shown, "hidden": hidden, "private": private}
