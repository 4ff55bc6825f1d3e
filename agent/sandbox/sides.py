"""The trusted CLI's handle on one sandboxed side: a warm template process and its sessions.

    with Side(SideConfig(side="mindspore", preload=["mindspore"], repo_paths=[out])) as side:
        with side.session(timeout=120) as s:
            result, arrays = s.call("load", {...})

`Side.start()` launches `agent.sandbox.zygote` in its own namespaces (network, mount, pid) and
filesystem view; `session()` forks a fresh child from it for one unit. A call returns the
operation's data or raises `SessionError` (kind exception | timeout | crash | protocol); it never
returns a verdict, and nothing a child sends is believed beyond its validated shape.
"""
from __future__ import annotations

import glob
import json
import os
import shutil
import site
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from agent.sandbox import wire
from agent.sandbox.config import SideConfig
from agent.sandbox.isolation import (UNSANDBOXED_NOTE, allow_unsandboxed, build_launch, probe_namespaces, refusal,
                                     sandbox_missing)
from agent.sandbox.process import SandboxProcess, WorkerStartError, spawn

TEMP_PREFIX = "msagent-side-"
AGENT_DIR = str(Path(__file__).resolve().parents[1])
PROJECT_ROOT = str(Path(AGENT_DIR).parent)


class SessionError(Exception):
    def __init__(self, kind: str, message: str, traceback: str = ""):
        super().__init__(message)
        self.kind, self.message, self.traceback = kind, message, traceback


def torch_install_paths() -> list[str]:
    """Where torch lives on this machine (found without importing it): hidden from the candidate."""
    dirs = {p for p in [*site.getsitepackages(), site.getusersitepackages(), *sys.path] if p and os.path.isdir(p)}
    out = []
    for d in sorted(dirs):
        for pattern in ("torch", "torch-*", "torchgen", "functorch", "torch_*", "torchvision*", "torchaudio*"):
            out += glob.glob(os.path.join(d, pattern))
    return sorted(set(out))


def python_paths() -> list[str]:
    """The Python install and the agent package, as the view must show them."""
    paths = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, AGENT_DIR]
    kb = Path(PROJECT_ROOT, "mapping_kb")
    if kb.is_dir():
        paths.append(str(kb))
    return list(dict.fromkeys(paths))


def clean_stale(temp_dir: str | None = None) -> int:
    """Remove side folders whose owning CLI process is gone (a killed run); returns how many."""
    removed = 0
    for path in glob.glob(os.path.join(temp_dir or tempfile.gettempdir(), TEMP_PREFIX + "*")):
        try:
            pid = int(Path(path).name[len(TEMP_PREFIX):].split("-")[0])
        except ValueError:
            continue
        if pid == os.getpid() or Path(f"/proc/{pid}").exists():
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed += 1
    return removed


class Side(SandboxProcess):
    """One warm template (torch or MindSpore); sessions are serialised, so one Side per job."""

    def __init__(self, config: SideConfig) -> None:
        self.config = config
        clean_stale(config.temp_dir)
        self._base = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-", dir=config.temp_dir))
        self._log_path = self._base / "stderr.log"
        self._proc: subprocess.Popen | None = None
        self._control: socket.socket | None = None
        self._launch = None
        self._lock = threading.RLock()
        self._pending = 0  # close replies not read yet
        self.ready_info: dict = {}
        self.isolation: dict = {}
        self.restarts = 0
        self.busy_s = 0.0  # the seconds its sessions said their operations took (a benchmark's figure, nothing more)

    def _view(self) -> dict:
        root = self._base / "root"
        root.mkdir(exist_ok=True)
        hide = list(self.config.hide_paths)
        if self.config.side == "mindspore":
            hide += torch_install_paths()
        return {"root": str(root), "read_only": [*python_paths(), *self.config.repo_paths], "hide": hide,
                "tmp_size": self.config.tmp_size}

    def start(self) -> None:
        with self._lock:
            if self.alive:
                return
            self._reap_dead()
            self._pending = 0
            wanted = self.config.network_isolation or self.config.fs_isolation or self.config.pid_isolation
            missing = sandbox_missing() if wanted else []
            if missing and not allow_unsandboxed():  # never a silent fall back to running untrusted code bare
                raise WorkerStartError(f"{self.config.side} side: {refusal(missing)}")
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            cfg = self.config.model_copy(update={"extra_env": {
                **self.config.extra_env, "MSAGENT_CONTROL_FD": str(theirs.fileno()), "MSAGENT_SIDE": self.config.side}})
            workdir = self._base / "work"
            workdir.mkdir(exist_ok=True)
            self._launch = launch = build_launch(cfg, str(workdir), module="agent.sandbox.zygote")
            launch.env.pop("MSAGENT_SANDBOX_FS", None)
            ns = probe_namespaces()
            view = bool(self.config.fs_isolation and launch.pid_namespace and ns.get("fs"))
            if view:
                launch.env["MSAGENT_SANDBOX_VIEW"] = json.dumps(self._view())
            launch.env["MSAGENT_SCRATCH"] = "/scratch" if view else str(workdir)
            launch.env["MSAGENT_DEVICE"] = self.config.device
            with open(self._log_path, "wb") as log:
                self._proc = spawn(launch.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=launch.env,
                                    cwd=launch.cwd, start_new_session=True, preexec_fn=launch.preexec,
                                    pass_fds=[theirs.fileno()])
            theirs.close()
            self._control = ours
            ours.settimeout(self.config.start_timeout_s)
            try:
                ready, _ = wire.recv(ours, max_bytes=1 << 20, max_arrays=0)
            except (OSError, EOFError, wire.WireError) as exc:
                why = self._exit_description()
                self._reap()
                raise WorkerStartError(f"{self.config.side} side failed to start ({why}; {exc}):\n{self.stderr_tail()}")
            if not ready.get("ok"):
                self._reap()
                raise WorkerStartError(f"{self.config.side} side failed to start: {ready.get('error')}\n"
                                       f"{self.stderr_tail()}")
            self.ready_info = ready["result"]
            ours.settimeout(None)
            public = {k: v for k, v in launch.applied.items() if not k.startswith("_")}
            self.isolation = {**public, "fs": bool(self.ready_info.get("view")), "view": "allow-list" if view else None,
                              "hidden": self.ready_info.get("hidden", []),
                              "capabilities_dropped": bool(self.ready_info.get("capabilities_dropped")),
                              "fresh_process_per_unit": True}
            if self.config.fs_isolation and not view:
                self.isolation["notes"] = [*public.get("notes", []), "no filesystem view on this host"]
            if missing:  # the user agreed to go on without the sandbox: the report says so
                self.isolation["unsandboxed"] = True
                self.isolation["notes"] = [*self.isolation.get("notes", []), UNSANDBOXED_NOTE, *missing]

    def close(self) -> None:
        with self._lock:
            self._reap()
            self._proc = None
            shutil.rmtree(self._base, ignore_errors=True)

    @contextmanager
    def session(self, timeout: float | None = None):
        """A fresh child for the block; killed and wiped after it, whatever happened."""
        with self._lock:
            sess = self.open(timeout)
            try:
                yield sess
            finally:
                sess.close()

    def open(self, timeout: float | None = None) -> "Session":
        """A fresh child; the caller closes it (held sessions: one file's units, see verify.judge)."""
        with self._lock:
            self.start()
            return Session(self, timeout if timeout is not None else self.config.timeout_s)

    # -- control channel ---------------------------------------------------------------------
    def _control_call(self, msg: dict, with_fd: bool = False, timeout: float = 30.0, wait: bool = True):
        """Send a control message; with wait=False its reply is read before the next call's (a
        session's close: the template kills and wipes while the CLI goes on with the verdict)."""
        sock = self._control
        sock.settimeout(timeout)
        try:
            self._drain()
            wire.send(sock, msg)
            if not wait:
                self._pending += 1
                return None, None
            fd = None
            if with_fd:
                _, fds, _, _ = socket.recv_fds(sock, 1, 1)
                if not fds:  # the template answered with an error frame (e.g. a session still open)
                    raise wire.WireError("no session channel came back (is another session of this side open?)")
                fd = fds[0]
            reply, _ = wire.recv(sock, max_bytes=1 << 20, max_arrays=0)
            return reply, fd
        finally:
            sock.settimeout(None)

    def _drain(self) -> None:
        while self._pending:
            wire.recv(self._control, max_bytes=1 << 20, max_arrays=0)
            self._pending -= 1

    def _reap(self) -> None:
        if self._control is not None:
            try:
                self._control.close()
            except OSError:
                pass
            self._control = None
        self._kill()


class Session:
    """One forked child of a Side: calls over its private channel, then close() kills and wipes it."""

    def __init__(self, side: Side, timeout: float):
        self.side, self.timeout = side, timeout
        self.deadline = time.monotonic() + timeout
        self.exit: str | None = None
        self._closed = False
        self._awaited = 0  # replies not read yet: a child still working is killed at close, not waited for
        try:
            reply, fd = side._control_call({"op": "open"}, with_fd=True)
        except (OSError, EOFError, wire.WireError) as exc:
            side._reap()  # the template is gone or confused: the next session starts a new one
            raise SessionError("crash", f"{side.config.side} side: could not open a session ({exc})") from None
        self.sock = socket.socket(fileno=fd)

    @property
    def closed(self) -> bool:
        return self._closed

    def renew(self, timeout: float) -> None:
        """A new time budget, for the next unit a held session serves."""
        self.timeout, self.deadline = timeout, time.monotonic() + timeout

    def call(self, op: str, args: dict | None = None, arrays: list = (), max_bytes: int | None = None):
        """(result, arrays) of `op`; raises SessionError. The session's whole budget bounds every call."""
        self.send(op, args, arrays)
        return self.receive(max_bytes)

    def send(self, op: str, args: dict | None = None, arrays: list = ()) -> None:
        """Start `op` without waiting: two sides then compute at the same time (`receive` gets the reply)."""
        self._guard(lambda: wire.send(self.sock, {"op": op, "args": args or {}}, arrays))
        self._awaited += 1

    def receive(self, max_bytes: int | None = None):
        reply, out = self._guard(lambda: wire.recv(self.sock, max_bytes=max_bytes or self.side.config.max_reply_bytes))
        self._awaited -= 1
        if isinstance(reply.get("op_s"), float) and 0.0 <= reply["op_s"] < 1e6:
            self.side.busy_s += reply["op_s"]
        if reply.get("ok") is True and isinstance(reply.get("result"), (dict, list, type(None))):
            return reply["result"], out
        if reply.get("ok") is False:
            raise SessionError("exception", str(reply.get("error", ""))[:4000], str(reply.get("traceback", ""))[-6000:])
        raise SessionError("protocol", f"malformed reply from the {self.side.config.side} side")

    def _guard(self, io):
        if self._closed:
            raise SessionError("crash", f"the {self.side.config.side} session is closed ({self.exit or 'earlier failure'})")
        left = self.deadline - time.monotonic()
        if left <= 0:
            self.close(kill=True)
            raise SessionError("timeout", f"timed out after {self.timeout:g}s")
        self.sock.settimeout(left)
        try:
            return io()
        except (socket.timeout, TimeoutError):
            self.close(kill=True)
            raise SessionError("timeout", f"timed out after {self.timeout:g}s") from None
        except (EOFError, ConnectionError, BrokenPipeError):
            self.close(kill=True)
            raise SessionError("crash", f"the {self.side.config.side} process died: {self.exit or 'unknown'}") from None
        except wire.WireError as exc:
            self.close(kill=True)
            raise SessionError("protocol", f"malformed reply from the {self.side.config.side} side: {exc}") from None

    def close(self, kill: bool = False) -> None:
        if self._closed:
            return
        self._closed = True
        kill = kill or self._awaited > 0
        try:
            self.sock.close()
        except OSError:
            pass
        try:
            # a clean end is wiped in the background; a killed one waits to learn how the process ended
            reply, _ = self.side._control_call({"op": "close", "kill": kill}, wait=kill)
            if reply is not None:
                self.exit = reply.get("exit")
        except (OSError, EOFError, wire.WireError):
            self.side._reap()
