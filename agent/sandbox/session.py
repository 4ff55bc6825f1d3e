"""One session inside a sandboxed child: answer the side's operations over the session channel.

Operations are looked up in the side's registry (`agent.verify.reference.OPS` for torch,
`agent.verify.candidate.OPS` for MindSpore), never by a dotted name from the request. An
operation takes (args, arrays) and returns (result, arrays): outputs and errors, never a verdict.
"""
from __future__ import annotations

import importlib
import socket
import time
import traceback

from agent.sandbox import wire

REGISTRIES = {"torch": "agent.verify.reference", "mindspore": "agent.verify.candidate", "echo": "agent.sandbox.echo"}


def registry(side: str) -> dict:
    return importlib.import_module(REGISTRIES[side]).OPS


def prime(side: str) -> None:
    """Framework-only work the template does before forking (the side's `prime()` if it has one):
    what it imports or caches, every session inherits instead of repeating."""
    module = importlib.import_module(REGISTRIES[side])
    if hasattr(module, "prime"):
        try:
            module.prime()
        except Exception:  # noqa: BLE001 - only a head start: a session then does the same work itself
            pass


def warm(side: str, device: str) -> None:
    """Start the side's runtime (thread pools, first kernels) before any request: the side's
    `warm(device)` if it has one. Only the framework's own code runs here."""
    module = importlib.import_module(REGISTRIES[side])
    if hasattr(module, "warm"):
        module.warm(device)


DEVICE_ERROR = "the side's framework cannot run on device"


def serve(conn: socket.socket, side: str, broken: str | None = None, on_first=None) -> None:
    """Answer requests until EOF; with BROKEN (the runtime did not start on the device) every request
    gets it as its error. ON_FIRST runs when the first request has arrived."""
    ops = registry(side)
    while True:
        try:
            msg, arrays = wire.recv(conn)
        except EOFError:
            return
        if on_first is not None:
            on_first()
            on_first = None
        op = msg.get("op")
        try:
            if broken:
                raise RuntimeError(broken)
            if op not in ops:
                raise LookupError(f"no operation {op!r} on the {side} side")
            started = time.perf_counter()
            result, out = ops[op](msg.get("args") or {}, arrays)
            reply, out = {"ok": True, "result": result, "op_s": time.perf_counter() - started}, list(out)
        except BaseException as exc:  # noqa: BLE001 - user code may raise anything, SystemExit included
            reply, out = {"ok": False, "kind": "exception", "error": f"{type(exc).__name__}: {exc}"[:4000],
                          "traceback": "".join(traceback.format_exception(exc))[-6000:]}, []
        try:
            wire.send(conn, reply, out)
        except (TypeError, ValueError) as exc:  # a result that does not serialise is an error, not a hang
            wire.send(conn, {"ok": False, "kind": "exception", "error": f"unserialisable result: {exc}"})
