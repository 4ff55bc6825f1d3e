"""Parent side of the sandbox: which namespaces the host allows, the worker's environment,
its command line, resource limits and the pids cgroup.

The worker side (mounts, capability drop) lives in `confine.py`; the two meet through the
MSAGENT_SANDBOX_FS variable, a JSON description of the mounts to apply.
"""
from __future__ import annotations

import ctypes
import fnmatch
import functools
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from agent.sandbox.config import WorkerConfig

# The folder holding the `agent` package: the worker is started with it on PYTHONPATH.
PROJECT_ROOT = str(Path(__file__).resolve().parents[2])

# Flags for unshare(1) per isolation kind; pid needs its own /proc, so it implies a mount namespace.
_NS_FLAGS = {
    "network": ["--net"],
    "fs": ["--mount", "--propagation", "private"],
    "pid": ["--pid", "--fork", "--kill-child", "--mount-proc"],
}


# Tests only: make the probe report no sandbox ("namespaces": no namespace can be created;
# "platform": as on a host that is not Linux), so the refusal and the unsandboxed path run here.
FORCE_UNAVAILABLE_ENV = "MSAGENT_SANDBOX_FORCE_UNAVAILABLE"
# The user's consent to verify without isolation (the CLI's --allow-unsandboxed sets it).
ALLOW_UNSANDBOXED_ENV = "MSAGENT_ALLOW_UNSANDBOXED"
ALLOW_UNSANDBOXED_FLAG = "--allow-unsandboxed"
UNSANDBOXED_NOTE = ("verification ran without isolation (--allow-unsandboxed): the code under test could read "
                    "this machine's files, reach the network and tamper with the verifying process")


def _forced() -> str:
    return os.environ.get(FORCE_UNAVAILABLE_ENV, "").strip().lower()


def _runs(argv: list[str]) -> bool:
    try:
        return subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@functools.lru_cache(maxsize=1)
def probe_namespaces() -> dict:
    """Which namespaces this host lets us create, probed once per process.

    Returns {"unshare": path|None, "user_ns": bool, "network": bool, "fs": bool, "pid": bool}.
    As root plain unshare works; otherwise a user namespace mapping us to root is tried.
    """
    found = {"unshare": shutil.which("unshare"), "user_ns": False, "network": False, "fs": False, "pid": False}
    if not found["unshare"] or sys.platform != "linux" or _forced() in ("namespaces", "platform"):
        return found
    for prefix in ([], ["--map-root-user"]):
        ok = {kind: _runs([found["unshare"], *prefix, *flags, "true"]) for kind, flags in _NS_FLAGS.items()}
        if any(ok.values()):
            found.update(ok, user_ns=bool(prefix))
            break
    return found


def sandbox_missing() -> list[str]:
    """What the verification sandbox (network, mount and pid namespaces) needs and this host
    lacks, one phrase each; [] when it can be built."""
    forced = _forced()
    why = f" [{FORCE_UNAVAILABLE_ENV}={forced}]" if forced in ("namespaces", "platform") else ""
    if sys.platform != "linux" or forced == "platform":
        return [f"not Linux{why or f' (this is {sys.platform})'}"]
    ns = probe_namespaces()
    if not ns["unshare"]:
        return ["no unshare command (util-linux)"]
    lacking = [kind for kind in _NS_FLAGS if not ns[kind]]
    if len(lacking) == len(_NS_FLAGS):
        if os.geteuid() == 0 and not why:
            return [f"no namespaces (`unshare --net` failed even as root){why}"]
        return [f"no user namespaces (`unshare --map-root-user` failed){why}"]
    return [f"no {kind} namespace (`unshare {' '.join(_NS_FLAGS[kind])}` failed)" for kind in lacking]


def allow_unsandboxed() -> bool:
    """Whether the user agreed to verification without the sandbox (MSAGENT_ALLOW_UNSANDBOXED=1)."""
    return os.environ.get(ALLOW_UNSANDBOXED_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def refusal(missing: list[str], no_verify: bool = True) -> str:
    """The one-line refusal: what is missing and the flags that go on without the sandbox."""
    return (f"cannot build the verification sandbox: {'; '.join(missing)}; rerun with {ALLOW_UNSANDBOXED_FLAG} "
            f"(or {ALLOW_UNSANDBOXED_ENV}=1) to verify without isolation (code under test can then read your "
            "files and forge verdicts)" + (", or --no-verify" if no_verify else ""))


def sandbox_refusal(no_verify: bool = True) -> str | None:
    """The refusal when the sandbox cannot be built and the user has not agreed to go without it."""
    missing = sandbox_missing()
    return refusal(missing, no_verify) if missing and not allow_unsandboxed() else None


def _allowed(name: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def build_env(config: WorkerConfig, workdir: str) -> dict[str, str]:
    """The worker's whole environment: the allow-list from ours, extra_env, then the sandbox's own."""
    env = {k: v for k, v in os.environ.items() if _allowed(k, config.env_allow)}
    extra = dict(config.extra_env)
    paths = [PROJECT_ROOT, *extra.pop("PYTHONPATH", "").split(os.pathsep), *env.get("PYTHONPATH", "").split(os.pathsep)]
    env.update(extra)
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(p for p in paths if p))
    env.update(
        HOME=workdir,
        TMPDIR=workdir,
        MSAGENT_WORKDIR=workdir,
        MSAGENT_PRELOAD=",".join(config.preload),
        MSAGENT_OPERATIONS=json.dumps(config.operations),
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.setdefault("PATH", os.defpath)
    return env


def create_pids_cgroup(limit: int) -> str | None:
    """A fresh pids cgroup capped at `limit` tasks, or None where none can be made (v1 or v2)."""
    candidates = [Path("/sys/fs/cgroup/pids")]
    try:  # cgroup v2: a child of our own group, if the pids controller is delegated to it.
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            if line.startswith("0::"):
                own = Path("/sys/fs/cgroup") / line[3:].lstrip("/")
                if "pids" in (own / "cgroup.subtree_control").read_text().split():
                    candidates.append(own)
    except OSError:
        pass
    for parent in candidates:
        if not (parent / "cgroup.procs").exists() or not os.access(parent, os.W_OK):
            continue
        path = parent / f"msagent-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            path.mkdir()
            (path / "pids.max").write_text(str(limit))
            return str(path)
        except OSError:
            remove_cgroup(str(path))
    return None


def cgroup_pids(path: str | None) -> list[int]:
    if not path:
        return []
    try:
        return [int(x) for x in Path(path, "cgroup.procs").read_text().split()]
    except OSError:
        return []


def remove_cgroup(path: str | None) -> None:
    if path:
        try:
            os.rmdir(path)
        except OSError:
            pass  # still has members (a straggler being reaped) or already gone


@dataclass
class Launch:
    """Everything Popen needs, plus what was (or will be) applied, for Worker.isolation."""

    argv: list[str]
    env: dict[str, str]
    cwd: str
    cgroup: str | None
    pid_namespace: bool
    applied: dict = field(default_factory=dict)

    def preexec(self) -> None:
        """Runs in the child between fork and exec: only syscalls, no imports or locks."""
        if _LIBC is not None:  # the worker dies with the CLI, even one killed by SIGKILL
            _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        for limit, value in self.applied.get("_rlimits", []):
            resource.setrlimit(limit, (value, value))
        if self.applied.get("cpus"):
            os.sched_setaffinity(0, self.applied["cpus"])
        if self.cgroup:
            fd = os.open(self.cgroup + "/cgroup.procs", os.O_WRONLY)
            try:
                os.write(fd, b"0")  # 0 means "the writing process"
            finally:
                os.close(fd)


_PR_SET_PDEATHSIG = 1
try:
    _LIBC = ctypes.CDLL(None, use_errno=True)
except OSError:  # not glibc-like: no parent-death signal
    _LIBC = None


def _rlimits(config: WorkerConfig, cgroup: str | None) -> tuple[list, list[str]]:
    limits, names = [(resource.RLIMIT_CORE, 0)], ["core=0"]
    if config.memory_limit_bytes:
        # RLIMIT_AS would count the large PROT_NONE ranges torch and MindSpore reserve (and glibc's
        # per-thread arenas); RLIMIT_DATA counts only private writable memory, so a real allocation
        # beyond the cap fails while the frameworks' reservations do not.
        limits.append((resource.RLIMIT_DATA, config.memory_limit_bytes))
        names.append(f"data={config.memory_limit_bytes}")
    if config.file_size_limit_bytes:
        limits.append((resource.RLIMIT_FSIZE, config.file_size_limit_bytes))
        names.append(f"fsize={config.file_size_limit_bytes}")
    if config.max_processes and not cgroup and os.geteuid() != 0:
        # Per-user and ignored for root, so only worth setting when neither holds.
        limits.append((resource.RLIMIT_NPROC, config.max_processes))
        names.append(f"nproc={config.max_processes}")
    return limits, names


def build_launch(config: WorkerConfig, workdir: str, module: str = "agent.sandbox.worker") -> Launch:
    """The worker's command line, environment and limits for this host, degrading where it must."""
    ns = probe_namespaces()
    want = {"network": config.network_isolation, "fs": config.fs_isolation, "pid": config.pid_isolation}
    use = {k: bool(want[k] and ns[k]) for k in want}
    notes = [f"{k} isolation unavailable on this host" for k in want if want[k] and not use[k]]
    argv = [sys.executable, "-m", module]
    if any(use.values()):
        flags = ["--map-root-user"] if ns["user_ns"] else []
        for kind in ("network", "fs", "pid"):
            if use[kind]:
                flags += _NS_FLAGS[kind]
        argv = [ns["unshare"], *flags, "--", *argv]
    env = build_env(config, workdir)
    if use["fs"] or use["pid"]:
        home = os.path.expanduser("~")
        hidden = config.hidden_paths if config.hidden_paths is not None else ([home] if home != "/" else [])
        keep = [sys.prefix, sys.base_prefix, PROJECT_ROOT, workdir, *env["PYTHONPATH"].split(os.pathsep),
                *config.visible_paths]
        env["MSAGENT_SANDBOX_FS"] = json.dumps({
            "read_only": config.read_only_paths if use["fs"] else [],
            "hidden": hidden if use["fs"] else [],
            "writable": [workdir],
            "keep": keep,
        })
    cgroup = create_pids_cgroup(config.max_processes) if config.max_processes else None
    if config.max_processes and not cgroup:
        notes.append("no pids cgroup: the process limit is " + ("not enforced (root)" if os.geteuid() == 0 else "RLIMIT_NPROC, per user"))
    limits, names = _rlimits(config, cgroup)
    if cgroup:
        names.append(f"pids_cgroup={config.max_processes}")
    applied = {
        "network": use["network"], "pid": use["pid"], "fs": False, "env": "allow-list",
        "rlimits": names, "notes": notes, "_rlimits": limits,
    }
    if config.cpus:
        applied["cpus"] = list(config.cpus)
    return Launch(argv=argv, env=env, cwd=workdir, cgroup=cgroup, pid_namespace=use["pid"], applied=applied)
