"""The verification worker: `python -m agent.sandbox.worker`.

Reads JSON-lines requests {"id", "op": NAME, "args": {...}} on stdin, NAME one of the registry its
caller gave it (MSAGENT_OPERATIONS: name -> "module:function"; anything else is refused), and
answers each with one JSON line on stdout. User code may print freely: fd 1 is pointed at
stderr and replies go through a private copy of the real stdout. stdin is likewise replaced
by /dev/null so user code cannot eat requests.
"""
from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
from pathlib import PurePath

from agent.sandbox.confine import confine_from_env


def to_jsonable(value):
    """Plain JSON types from a result: numpy scalars become Python numbers, tuples lists."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, PurePath):
        return str(value)
    if type(value).__module__ == "numpy" and hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        return to_jsonable(value.item())
    raise TypeError(
        f"result of type {type(value).__module__}.{type(value).__qualname__} is not JSON-serialisable; "
        "return arrays as paths from agent.sandbox.arrays.save_array"
    )


def _error(rid, exc: BaseException, with_traceback: bool = True) -> dict:
    return {
        "id": rid, "ok": False, "kind": "exception",
        "error": f"{type(exc).__name__}: {exc}",
        "traceback": "".join(traceback.format_exception(exc)) if with_traceback else "",
    }


def handle(request: dict, operations: dict[str, str]) -> dict:
    """Run one request; every failure, SystemExit included, becomes an error reply."""
    rid = request.get("id")
    try:
        op = request.get("op")
        args = request.get("args") or {}
        if not isinstance(op, str) or not isinstance(args, dict):
            raise ValueError("a request needs 'op' as an operation name and 'args' as an object")
        if op not in operations:
            raise PermissionError(f"{op!r} is not a registered operation ({', '.join(sorted(operations))})")
        module_name, _, func_name = operations[op].partition(":")
        importlib.invalidate_caches()  # modules written since start (translated code) must be found
        func = getattr(importlib.import_module(module_name), func_name)
        result = to_jsonable(func(**args))
        return {"id": rid, "ok": True, "result": result}
    except BaseException as exc:  # noqa: BLE001 - user code may raise anything, even SystemExit
        return _error(rid, exc)


def preload(names: list[str]) -> dict:
    started, errors = time.perf_counter(), {}
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - reported in the ready message
            errors[name] = f"{type(exc).__name__}: {exc}"
    return {"preloaded": [n for n in names if n not in errors], "preload_errors": errors,
            "preload_s": round(time.perf_counter() - started, 3)}


def _run_as_init(child: int) -> None:
    """pid 1 of a pid namespace: reap orphans, and leave with the worker's status.

    The worker cannot be pid 1 itself: the kernel ignores signals a namespace's init sends
    itself, so abort() would not end it with SIGABRT.
    """
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            os._exit(1)
        if pid == child:
            os._exit(128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status))


def _write(fd: int, reply: dict) -> None:
    try:
        line = json.dumps(reply, allow_nan=True)
    except (TypeError, ValueError) as exc:
        line = json.dumps(_error(reply.get("id"), exc, with_traceback=False))
    data = (line + "\n").encode()
    while data:
        data = data[os.write(fd, data):]


def main() -> None:
    reply_fd = os.dup(1)
    request_fd = os.dup(0)
    os.dup2(2, 1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    sys.stdout.reconfigure(line_buffering=True)

    confined = confine_from_env()
    if os.getpid() == 1:
        child = os.fork()
        if child:
            os.close(reply_fd)
            os.close(request_fd)
            _run_as_init(child)

    operations = json.loads(os.environ.get("MSAGENT_OPERATIONS") or "{}")
    preload_names = [m.strip() for m in os.environ.get("MSAGENT_PRELOAD", "").split(",") if m.strip()]
    ready = {"ready": True, "pid": os.getpid(), **confined, **preload(preload_names)}
    _write(reply_fd, {"id": 0, "ok": True, "result": ready})

    with os.fdopen(request_fd, "rb") as requests:
        for line in requests:
            if not line.strip():
                continue
            try:
                request = json.loads(line)
                if not isinstance(request, dict):
                    raise ValueError("a request must be a JSON object")
            except ValueError as exc:
                _write(reply_fd, _error(None, exc, with_traceback=False))
                continue
            reply = handle(request, operations)
            sys.stdout.flush()
            sys.stderr.flush()
            _write(reply_fd, reply)


if __name__ == "__main__":
    main()
