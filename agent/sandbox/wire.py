"""Messages between the trusted CLI and a sandboxed session: one JSON header plus raw arrays.

A frame is `u32 header length | header JSON | the arrays' bytes, one after another`. The header
lists each array as [dtype, shape] (`_arrays`); an array's bytes are its C-order data. Nothing
executable crosses: the dtype is one of an allow-list of plain numeric strings, looked up, never
evaluated. The reading side validates everything before it believes it: header size, array count,
dtypes, shapes, and the frame's total size against the caller's bounds before reading the data.
"""
from __future__ import annotations

import json
import socket
import struct

import numpy as np

# Plain numeric and boolean dtypes only (complex included: FFT outputs): no objects, strings,
# structured or void records.
ALLOWED_KINDS = set("biufc")
MAX_HEADER = 64 * 2**20
DEFAULT_MAX_BYTES = 8 * 2**30
DEFAULT_MAX_ARRAYS = 200_000


class WireError(Exception):
    """A malformed, oversized or truncated frame; the other side is not believed."""


ALLOWED = {np.dtype(n).str: np.dtype(n) for n in (
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16", "float32", "float64",
    "complex64", "complex128")}
_SMALL = 1 << 20  # frames up to this size go out in one write


def _recv_exact(sock: socket.socket, n: int) -> bytearray:
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            raise EOFError("the other side closed the channel")
        got += k
    return buf


def _plain(arr) -> np.ndarray:
    """A C-ordered array of an allowed dtype (byte order made native), or ValueError."""
    arr = np.asarray(arr)
    if arr.dtype.str not in ALLOWED:
        if arr.dtype.kind not in ALLOWED_KINDS or arr.dtype.fields is not None or arr.dtype.subdtype:
            raise ValueError(f"dtype {arr.dtype} is not a plain numeric type")
        arr = arr.astype(arr.dtype.newbyteorder("="))
    if not arr.flags.c_contiguous:  # (np.ascontiguousarray would turn a 0-d array into 1-d)
        arr = arr.copy(order="C")
    return arr


def send(sock: socket.socket, header: dict, arrays: list[np.ndarray] = ()) -> None:
    arrays = [_plain(a) for a in arrays]
    head = json.dumps({**header, "_arrays": [[a.dtype.str, list(a.shape)] for a in arrays]}, allow_nan=True).encode()
    parts = [struct.pack("<I", len(head)) + head] + [a.reshape(-1).view(np.uint8).data for a in arrays if a.size]
    if sum(len(p) for p in parts) <= _SMALL:
        sock.sendall(b"".join(parts))
    else:
        for part in parts:
            sock.sendall(part)


def recv(sock: socket.socket, max_bytes: int = DEFAULT_MAX_BYTES,
         max_arrays: int = DEFAULT_MAX_ARRAYS) -> tuple[dict, list[np.ndarray]]:
    """(header, arrays) of the next frame; raises WireError for anything malformed, EOFError at end."""
    (hlen,) = struct.unpack("<I", _recv_exact(sock, 4))
    if hlen > MAX_HEADER:
        raise WireError(f"header of {hlen} bytes exceeds {MAX_HEADER}")
    try:
        header = json.loads(_recv_exact(sock, hlen))
    except ValueError as exc:
        raise WireError(f"header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise WireError("header is not an object")
    listed = header.pop("_arrays", [])
    if not isinstance(listed, list) or len(listed) > max_arrays:
        raise WireError(f"bad array list ({type(listed).__name__} of {len(listed) if isinstance(listed, list) else '?'})")
    layout, total = [], hlen
    for item in listed:
        dtype, shape, count = _described(item)
        layout.append((dtype, shape, count))
        total += count * dtype.itemsize
        if total > max_bytes:
            raise WireError(f"message exceeds {max_bytes} bytes")
    data = _recv_exact(sock, total - hlen)
    arrays, offset = [], 0
    for dtype, shape, count in layout:
        arrays.append(np.frombuffer(data, dtype, count, offset).reshape(shape) if count else np.zeros(shape, dtype))
        offset += count * dtype.itemsize
    return header, arrays


def _described(item) -> tuple[np.dtype, tuple, int]:
    if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str) and isinstance(item[1], list)):
        raise WireError(f"bad array description {str(item)[:80]!r}")
    dtype = ALLOWED.get(item[0])
    if dtype is None:
        raise WireError(f"dtype {item[0][:40]!r} is not a plain numeric type")
    shape = item[1]
    if len(shape) > 32 or not all(type(d) is int and 0 <= d < 2**40 for d in shape):
        raise WireError(f"bad shape {str(shape)[:80]}")
    count = 1
    for d in shape:
        count *= d
    return dtype, tuple(shape), count
