"""Worker side of the sandbox, run once at worker start before any user code:
apply the mounts described in MSAGENT_SANDBOX_FS, then drop every capability so that
nothing the user code does can undo them (raise rlimits, unmount, leave the cgroup).
"""
from __future__ import annotations

import ctypes
import json
import os

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
_KEEP_FLAGS = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC}

_libc = ctypes.CDLL(None, use_errno=True)


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = lambda s: s.encode() if s is not None else None  # noqa: E731
    if _libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {target}: {os.strerror(err)}")


def _mounts() -> list[tuple[str, int]]:
    """(mount point, flags to keep on remount) from /proc/self/mountinfo, outermost first."""
    out = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            parts = line.split()
            point = parts[4].replace("\\040", " ")
            keep = sum(f for name, f in _KEEP_FLAGS.items() if name in parts[5].split(","))
            out.append((point, keep))
    return sorted(set(out), key=lambda m: m[0].count("/"))


def _under(path: str, root: str) -> bool:
    root = root.rstrip("/") or "/"
    return path == root or path.startswith(root if root == "/" else root + "/")


def _make_read_only(paths: list[str], skip: list[str]) -> list[str]:
    done = []
    points = {p for p, _ in _mounts()}
    for path in paths:
        if os.path.exists(path) and path not in points:
            _mount(path, path, None, MS_BIND | MS_REC)
    for point, keep in _mounts():
        if any(_under(point, p) for p in paths) and not any(_under(point, s) for s in skip):
            try:
                _mount(None, point, None, MS_REMOUNT | MS_BIND | MS_RDONLY | keep)
                done.append(point)
            except OSError:
                pass  # e.g. a mount we may not touch; the top-level ones matter
    return done


def _hide(path: str, reexpose: list[str]) -> None:
    """Cover `path` with an empty tmpfs, then bind back the folders under it the worker needs
    (e.g. a Python installed under $HOME): they are reached through fds opened beforehand."""
    fds = [(k, os.open(k, os.O_PATH | os.O_DIRECTORY)) for k in sorted(set(reexpose))]
    try:
        _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=755")
        for keep, fd in fds:
            os.makedirs(keep, exist_ok=True)
            _mount(f"/proc/self/fd/{fd}", keep, None, MS_BIND | MS_REC)
    finally:
        for _, fd in fds:
            os.close(fd)


def apply_fs(spec: dict) -> dict:
    """Hide, make read-only and re-open for writing as `spec` says; returns what was applied."""
    applied = {"fs": False, "read_only": [], "hidden": [], "skipped": []}
    _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing we mount may propagate to the host
    keep = [os.path.realpath(k) for k in spec.get("keep", []) if k]
    for path in spec.get("hidden", []):
        real = os.path.realpath(path)
        if not os.path.isdir(real) or real in keep:
            applied["skipped"].append(path)
            continue
        _hide(real, [k for k in keep if _under(k, real) and os.path.isdir(k)])
        applied["hidden"].append(path)
    read_only = [os.path.realpath(p) for p in spec.get("read_only", [])]
    if read_only:
        applied["read_only"] = _make_read_only(read_only, skip=["/proc"])
    for path in spec.get("writable", []):
        real = os.path.realpath(path)
        _mount(real, real, None, MS_BIND)
        _mount(None, real, None, MS_REMOUNT | MS_BIND)  # a bind copies the read-only flag; clear it
    if read_only and os.path.isdir("/dev/shm"):
        # A fresh one: the host's /dev/shm would be a way to write outside the temp dir.
        _mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "size=256m,mode=1777")
    applied["fs"] = bool(applied["read_only"] or applied["hidden"])
    return applied


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def drop_capabilities() -> bool:
    """Empty the bounding set and all capability sets; uid 0 stays uid 0 but with no privilege."""
    PR_SET_NO_NEW_PRIVS, PR_CAPBSET_DROP = 38, 24
    for cap in range(64):
        if _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            break  # past the last capability this kernel knows
    _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    header = _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (_CapData * 2)()
    return _libc.capset(ctypes.byref(header), data) == 0


def confine_from_env() -> dict:
    """Apply MSAGENT_SANDBOX_FS if set, then drop capabilities; errors are reported, not raised."""
    result: dict = {"fs": False}
    raw = os.environ.pop("MSAGENT_SANDBOX_FS", None)
    if raw:
        try:
            result.update(apply_fs(json.loads(raw)))
        except OSError as exc:
            result["fs_error"] = str(exc)
    result["capabilities_dropped"] = drop_capabilities()
    return result
