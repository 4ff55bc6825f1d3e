"""The warm worker as seen from the CLI: start it, call ops with a wall-clock limit, survive
its crashes. The CLI never imports torch or MindSpore; only the worker does.

    with Worker(WorkerConfig(preload=["torch", "mindspore"])) as w:
        reply = w.call("echo", {"value": 1}, timeout=60)

A reply is {"id", "ok": True, "result"} or {"id", "ok": False, "kind":
"exception"|"timeout"|"crash", "error", ...}; call() never raises for the worker's failures.
"""
from __future__ import annotations

import json
import os
import queue
import select
import shutil
import subprocess
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from agent.sandbox.config import WorkerConfig
from agent.sandbox.isolation import Launch, build_launch
from agent.sandbox.process import SandboxProcess, WorkerStartError, spawn, start_all

__all__ = ["Worker", "WorkerConfig", "WorkerPool", "WorkerStartError"]

_EOF = object()
_TIMEOUT = object()


class Worker(SandboxProcess):
    """One warm worker subprocess; calls are serialised, so one Worker per thread of work."""

    def __init__(self, config: WorkerConfig | None = None, **overrides) -> None:
        self.config = (config or WorkerConfig()).model_copy(update=overrides)
        self._base = Path(tempfile.mkdtemp(prefix="msagent-worker-", dir=self.config.temp_dir))
        self.workdir = str(self._base / "work")
        os.makedirs(self.workdir)
        self._log_path = self._base / "stderr.log"
        self._proc: subprocess.Popen | None = None
        self._launch: Launch | None = None
        self._buffer = b""
        self._next_id = 1
        self._lock = threading.RLock()
        self.isolation: dict = {}
        self.ready_info: dict = {}
        self.restarts = 0

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Start the worker (no-op when running) and wait for its ready line."""
        with self._lock:
            if self.alive:
                return
            self._reap_dead()
            self._launch = launch = build_launch(self.config, self.workdir)
            with open(self._log_path, "wb") as log:  # fresh log: its tail describes this process
                self._proc = spawn(
                    launch.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                    env=launch.env, cwd=launch.cwd, start_new_session=True, preexec_fn=launch.preexec,
                )
            self._buffer = b""
            ready = self._read_reply(time.monotonic() + self.config.start_timeout_s, 0)
            if not isinstance(ready, dict) or not ready.get("ok"):
                why = "timed out" if ready is _TIMEOUT else self._exit_description()
                self._reap()
                raise WorkerStartError(f"worker failed to start ({why}):\n{self.stderr_tail()}")
            self.ready_info = ready["result"]
            public = {k: v for k, v in launch.applied.items() if not k.startswith("_")}
            self.isolation = {
                **public,
                "fs": bool(self.ready_info.get("fs")),
                "read_only": self.ready_info.get("read_only", []),
                "hidden": self.ready_info.get("hidden", []),
                "capabilities_dropped": bool(self.ready_info.get("capabilities_dropped")),
            }
            if self.ready_info.get("fs_error"):
                self.isolation["notes"] = [*public["notes"], "fs isolation failed: " + self.ready_info["fs_error"]]

    def close(self) -> None:
        """Stop the worker and delete its temp dir."""
        with self._lock:
            if self.alive:
                try:
                    self._proc.stdin.close()  # the worker ends its loop on EOF
                    self._proc.wait(timeout=2)
                except (OSError, subprocess.TimeoutExpired):
                    pass
            self._reap()
            self._proc = None
            shutil.rmtree(self._base, ignore_errors=True)

    # -- calls -----------------------------------------------------------------------------
    def call(self, op: str, args: dict | None = None, timeout: float | None = None) -> dict:
        """Run the registered operation `op` (see WorkerConfig.operations) with **args in the worker and
        return its reply."""
        timeout = self.config.timeout_s if timeout is None else timeout
        with self._lock:
            rid = self._next_id
            self._next_id += 1
            if op not in self.config.operations:
                return {"id": rid, "ok": False, "kind": "exception",
                        "error": f"PermissionError: {op!r} is not a registered operation "
                                 f"({', '.join(sorted(self.config.operations))})", "traceback": ""}
            try:
                self.start()
            except WorkerStartError as exc:
                return {"id": rid, "ok": False, "kind": "crash", "error": str(exc), "stderr": self.stderr_tail()}
            line = json.dumps({"id": rid, "op": op, "args": args or {}}) + "\n"
            try:
                self._proc.stdin.write(line.encode())
                self._proc.stdin.flush()
                reply = self._read_reply(time.monotonic() + timeout, rid)
            except (BrokenPipeError, OSError):
                reply = _EOF
            if reply is _TIMEOUT:
                self._reap()
                try:
                    self.start()
                except WorkerStartError:
                    pass  # the next call tries again and reports it
                return {"id": rid, "ok": False, "kind": "timeout", "error": f"timed out after {timeout:g}s"}
            if reply is _EOF:
                why, tail = self._exit_description(), self.stderr_tail()
                self._reap()
                return {"id": rid, "ok": False, "kind": "crash", "error": f"worker died: {why}", "stderr": tail}
            return reply

    def _read_reply(self, deadline: float, rid: int):
        """The reply line with id `rid`, or _TIMEOUT / _EOF; stray lines are dropped."""
        fd = self._proc.stdout.fileno()
        while True:
            while b"\n" in self._buffer:
                line, self._buffer = self._buffer.split(b"\n", 1)
                try:
                    reply = json.loads(line)
                except ValueError:
                    continue
                if isinstance(reply, dict) and reply.get("id") == rid:
                    return reply
            left = deadline - time.monotonic()
            if left <= 0:
                return _TIMEOUT
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    return _EOF
                self._buffer += chunk

    def _reap(self) -> None:
        self._kill((self._proc.stdin, self._proc.stdout) if self._proc is not None else ())


class WorkerPool:
    """N warm workers (or verifiers) handed out one caller at a time (for `msagent eval --jobs N`)."""

    def __init__(self, n: int, config: WorkerConfig | None = None, factory=None) -> None:
        """N workers made by `factory()` (any object with start/close), or Worker(config)."""
        if n < 1:
            raise ValueError("a pool needs at least one worker")
        self.workers = [factory() if factory else Worker(config) for _ in range(n)]
        self._free: queue.Queue[Worker] = queue.Queue()
        for w in self.workers:
            self._free.put(w)

    def start(self) -> None:
        """Start every worker at once (their preloads overlap); raises if one fails."""
        start_all(self.workers)

    @contextmanager
    def worker(self, timeout: float | None = None) -> Iterator[Worker]:
        """Borrow a free worker for the block; blocks until one is free."""
        w = self._free.get(timeout=timeout)
        try:
            yield w
        finally:
            self._free.put(w)

    def call(self, op: str, args: dict | None = None, timeout: float | None = None) -> dict:
        with self.worker() as w:
            return w.call(op, args, timeout=timeout)

    def close(self) -> None:
        for w in self.workers:
            w.close()

    def __enter__(self) -> "WorkerPool":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()
