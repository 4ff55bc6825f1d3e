"""The warm template of one side: `python -m agent.sandbox.zygote`, started by `sides.Side`.

It enters its filesystem view, imports its framework once (torch for the reference, MindSpore
for the candidate), drops every capability and then only forks: one child per session (one unit
run). The child gets a fresh socketpair end as its only channel, handed to the CLI over the
control socket with SCM_RIGHTS, so no unit holds a handle to another's channel or to the
control socket. When the CLI closes a session the template kills the child and everything it
left running, and empties its private folders (/scratch, /dev/shm, /tmp): nothing one unit leaves behind reaches the next.

The next session's child (the spare) is forked as soon as a session is handed out, so that
MindSpore's runtime start (~50 ms: thread pools, first kernel; it cannot happen in the template,
a fork after it hangs) is done by the time the CLI opens the next session. The spare runs only
the framework's warm-up while the current unit's code runs beside it; that code cannot reach it
except by signals (same uid; neither is dumpable, so no ptrace and no /proc access): the spare
ignores every catchable signal until it is handed out, one that died or was stopped is replaced
or continued, and its folder is emptied (and made again) before its first request.

The template is pid 1 of its pid namespace: the kernel delivers it no signal from inside the
namespace that it does not handle, orphans are reparented to it, and when it dies every process
in the namespace dies with it. It is not dumpable, so children cannot open its /proc entries.

Control protocol (JSON frames of `wire`, CLI -> template): {"op": "open"} answered by
{"ok": true, "pid": n} with the session's socket attached; {"op": "close"} answered by
{"ok": true, "exit": "exit code 0" | "signal SIGSEGV" | ...} once the session is gone and wiped.
"""
from __future__ import annotations

import ctypes
import gc
import json
import os
import select
import shutil
import signal
import socket
import sys
import time

_PR_SET_DUMPABLE = 4
SCRATCH = os.environ.get("MSAGENT_SCRATCH", "/scratch")


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            return f"signal {signal.Signals(sig).name}"
        except ValueError:
            return f"signal {sig}"
    return f"exit code {os.WEXITSTATUS(status)}"


def _children() -> list[int]:
    pids = []
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/children") as fh:
                pids += [int(p) for p in fh.read().split()]
        except OSError:
            pass
    return pids


def _kill_all(keep: int | None = None) -> None:
    """SIGKILL every process in the namespace but ourselves and KEEP (the spare; orphans are our
    children), reap them."""
    for _ in range(200):
        kids = [pid for pid in _children() if pid != keep]
        if not kids:
            break
        for pid in kids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _reap()
        time.sleep(0.005)


def _reap() -> dict[int, int]:
    done = {}
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return done
        if pid == 0:
            return done
        done[pid] = status


def _wipe(places: list[str], keep: str | None = None) -> None:
    """Empty the writable places; the child (same uid, no capabilities) may have locked folders.
    KEEP (the spare's folder) is emptied, not removed: it is the spare's working folder."""
    def unlock(func, path, _exc):
        try:
            os.chmod(path, 0o700)
            os.chmod(os.path.dirname(path), 0o700)
            func(path)
        except OSError:
            pass

    for place in places:
        try:
            entries = os.listdir(place)
        except OSError:
            continue
        for name in entries:
            path = os.path.join(place, name)
            if path == keep and os.path.isdir(path) and not os.path.islink(path):
                _wipe([path])
            elif os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, onerror=unlock)
            else:
                try:
                    os.unlink(path)
                except OSError:
                    pass


_CATCHABLE = [s for s in signal.valid_signals() if s not in (signal.SIGKILL, signal.SIGSTOP, signal.SIGCHLD)]


def _session(conn: socket.socket, side: str, device: str, work: str) -> None:
    """The child: warm the framework's runtime while it waits, then serve the side's operations
    until EOF in its own working folder. It may warm while another unit's code runs (module
    docstring): until its first request it ignores signals, and that request finds its folder
    freshly emptied by the template (made again here, in case that code replaced it)."""
    os.setsid()
    previous = {}
    for sig in _CATCHABLE:
        try:
            previous[sig] = signal.signal(sig, signal.SIG_IGN)
        except (OSError, ValueError):
            pass
    signal.pthread_sigmask(signal.SIG_SETMASK, set())  # blocked since the fork: what came meanwhile is ignored
    os.makedirs(work, exist_ok=True)
    os.chdir(work)
    os.environ.update(HOME=work, TMPDIR=work)
    from agent.sandbox.session import DEVICE_ERROR, serve, warm

    def handed_out() -> None:
        os.makedirs(work, exist_ok=True)
        os.chdir(work)
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)

    code = 0
    try:
        try:
            warm(side, device)
            broken = None
        except Exception as exc:  # noqa: BLE001 - every request then gets this answer
            broken = f"{DEVICE_ERROR} {device!r}: {type(exc).__name__}: {str(exc)[:500]}"
        serve(conn, side, broken, on_first=handed_out)
    except BaseException:  # noqa: BLE001 - the exit status says it; the CLI sees the channel close
        code = 70
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


_forked = 0
# the spare forks this long after a session is handed out (or at once when the session closes
# sooner): a unit's start (import, build, spec choice) keeps both cores busy, its trials mostly not
SPARE_DELAY_S = 0.05


def _fork_session(control: socket.socket, side: str, device: str) -> tuple[int, socket.socket, str]:
    """(pid, our end of its channel, its folder) of a new session child."""
    global _forked
    _forked += 1
    work = os.path.join(SCRATCH, f"session-{_forked}")
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    # signals stay blocked from the fork until the child ignores them: a unit running beside the
    # new spare cannot kill it in between
    before = signal.pthread_sigmask(signal.SIG_BLOCK, _CATCHABLE)
    pid = os.fork()
    if pid != 0:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)
    if pid == 0:
        control.close()
        ours.close()
        _session(theirs, side, device, work)
    theirs.close()
    return pid, ours, work


def _end(child: int, kill: bool) -> int:
    """CHILD's exit status once it is gone: killed at once, or given 2 s to end on its own."""
    status = None
    try:
        os.kill(child, signal.SIGKILL) if kill else None
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + (0.0 if kill else 2.0)
    while status is None:
        status = _reap().get(child)
        if status is None and time.monotonic() > deadline:
            os.kill(child, signal.SIGKILL)
            deadline = float("inf")
        if status is None:
            time.sleep(0.002)
    return status


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, signal.SIGCONT)  # a stopped spare would hang its session
    except ProcessLookupError:
        return False
    done = _reap()
    return pid not in done


def main() -> None:
    from agent.sandbox import wire
    from agent.sandbox.confine import drop_capabilities
    from agent.sandbox.worker import preload as import_frameworks

    control = socket.socket(fileno=int(os.environ.pop("MSAGENT_CONTROL_FD")))
    os.dup2(2, 1)  # user prints go to the log, never to a channel
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    side = os.environ.pop("MSAGENT_SIDE")
    info: dict = {"ready": True, "side": side, "pid1": os.getpid() == 1}
    raw = os.environ.pop("MSAGENT_SANDBOX_VIEW", None)
    if raw:
        from agent.sandbox.view import build_view

        try:
            info.update(build_view(json.loads(raw)))
        except OSError as exc:
            wire.send(control, {"ok": False, "error": f"filesystem view: {exc}"})
            sys.exit(1)
    places = info.get("private") or [SCRATCH]
    os.makedirs(SCRATCH, exist_ok=True)  # without a view (no namespaces here) it is a plain folder
    os.chdir(SCRATCH)
    info["capabilities_dropped"] = drop_capabilities()
    ctypes.CDLL(None).prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
    preload = [m for m in os.environ.pop("MSAGENT_PRELOAD", "").split(",") if m]
    info.update(import_frameworks(preload))
    info["torch_loaded"] = "torch" in sys.modules
    from agent.sandbox.session import prime, registry

    registry(side)  # the side's operations imported here, so a session's start costs only the fork
    prime(side)
    gc.collect()
    gc.freeze()  # the template's objects leave the collector's view: children do not copy their pages to scan them
    device = os.environ.pop("MSAGENT_DEVICE", "cpu")
    wire.send(control, {"ok": True, "result": info})

    child = None
    spare = _fork_session(control, side, device)  # warms while the CLI does other work
    while True:
        if spare is None and not select.select([control], [], [], SPARE_DELAY_S)[0]:
            spare = _fork_session(control, side, device)  # the next session warms while this one runs
            continue
        try:
            msg, _ = wire.recv(control, max_bytes=1 << 20, max_arrays=0)
        except (EOFError, OSError, wire.WireError):
            _kill_all()
            return
        op = msg.get("op")
        if op == "open" and child is None:
            if spare is None or not _alive(spare[0]):
                spare = _fork_session(control, side, device)
            (child, ours, _), spare = spare, None
            socket.send_fds(control, [b"F"], [ours.fileno()])  # one byte carrying the fd, then the frame
            ours.close()
            wire.send(control, {"ok": True, "pid": child})
        elif op == "close":
            status = _end(child, bool(msg.get("kill"))) if child is not None else None
            _kill_all(keep=spare[0] if spare else None)
            _wipe(places, keep=spare[2] if spare else None)
            wire.send(control, {"ok": True, "exit": _describe(status) if status is not None else None})
            child = None
            if spare is None or not _alive(spare[0]):
                spare = _fork_session(control, side, device)
        else:
            wire.send(control, {"ok": False, "error": f"unknown or out-of-order control op {op!r}"})


if __name__ == "__main__":
    main()
