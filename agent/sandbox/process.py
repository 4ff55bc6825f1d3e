"""What every sandboxed process the CLI starts has in common (the trusted worker of `pool.py`, the
two sides' templates of `sides.py`): how it is spawned, how its death is described, how its whole
tree is killed, the tail of its log.
"""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from agent.sandbox.isolation import cgroup_pids, remove_cgroup

_SPAWNER: ThreadPoolExecutor | None = None
_SPAWNER_LOCK = threading.Lock()


class WorkerStartError(RuntimeError):
    """The process did not come up (or did not finish its preload) in time."""


class DeviceUnavailable(WorkerStartError):
    """The side's framework cannot run on the device asked for (a CPU-only build asked for GPU)."""


def spawn(*args, **kwargs) -> subprocess.Popen:
    """Popen from a thread that lives as long as the process. The child's parent-death signal
    (PR_SET_PDEATHSIG) fires when the *thread* that forked it ends: a process started or restarted
    from a job thread (an eval case, a pool job) would be killed when that job finished."""
    global _SPAWNER
    if threading.current_thread() is threading.main_thread():
        return subprocess.Popen(*args, **kwargs)
    with _SPAWNER_LOCK:
        if _SPAWNER is None:
            _SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="msagent-spawn")
    return _SPAWNER.submit(subprocess.Popen, *args, **kwargs).result()


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def kill_tree(proc: subprocess.Popen, cgroup: str | None, streams=()) -> None:
    """SIGKILL a sandbox process's group and whatever is left in its cgroup, wait, remove the cgroup."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for pid in cgroup_pids(cgroup):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    for stream in streams:
        try:
            if stream is not None:
                stream.close()
        except OSError:
            pass
    for _ in range(50):  # members leave the cgroup asynchronously after SIGKILL
        if not cgroup_pids(cgroup):
            break
        time.sleep(0.02)
    remove_cgroup(cgroup)


def log_tail(path, lines: int = 20) -> str:
    """The last lines of a sandbox process's log file."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 8192))
            text = fh.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def start_all(processes) -> None:
    """Call start() on each at once, in threads (their framework imports overlap); re-raise the
    first failure in the caller's thread."""
    errors: list[BaseException] = []

    def start_one(p) -> None:
        try:
            p.start()
        except BaseException as exc:  # noqa: BLE001 - re-raised below in the caller's thread
            errors.append(exc)

    threads = [threading.Thread(target=start_one, args=(p,)) for p in processes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


class SandboxProcess:
    """The lifecycle both kinds share: `_proc` (the Popen), `_launch` (its isolation), `_log_path`
    (its stderr); subclasses define start() and close()."""

    _proc: subprocess.Popen | None = None
    _launch = None
    _log_path = None
    restarts = 0

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def stderr_tail(self, lines: int = 20) -> str:
        """The last lines the current (or last) process wrote to stderr, user prints included."""
        return log_tail(self._log_path, lines)

    def _exit_description(self) -> str:
        if self._proc is None:
            return "not started"
        try:
            code = self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return "stopped answering (closed its output)"
        if code < 0:
            return f"signal {signal_name(-code)}"
        if self._launch is not None and self._launch.pid_namespace and code > 128:
            return f"signal {signal_name(code - 128)}"  # the namespace's init passes it on as 128+n
        return f"exit code {code}"

    def _reap_dead(self) -> None:
        """Before a (re)start: a process that ran before is killed with its tree and counted."""
        if self._proc is not None:
            self._reap()
            self.restarts += 1

    def _reap(self) -> None:
        self._kill()

    def _kill(self, streams=()) -> None:
        """Kill the whole tree (process group, then anything left in the cgroup)."""
        if self._proc is not None:
            kill_tree(self._proc, self._launch.cgroup if self._launch else None, streams)
