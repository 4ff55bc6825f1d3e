"""Messages between the trusted CLI and a sandboxed session: one JSON header plus raw arrays.

A frame is `u32 header length | header JSON | for each array: u64 length | .npy bytes`; the header
names how many arrays follow. Arrays are written and read with numpy's .npy format and
`allow_pickle=False`, so nothing executable crosses. The reading side validates everything
before it believes it: frame and total sizes against the caller's bounds, dtypes against an
allow-list of plain numeric kinds, and each array's byte length against its shape.
"""
from __future__ import annotations

import io
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


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            raise EOFError("the other side closed the channel")
        got += k
    return bytes(buf)


def send(sock: socket.socket, header: dict, arrays: list[np.ndarray] = ()) -> None:
    arrays = list(arrays)
    head = json.dumps({**header, "n_arrays": len(arrays)}, allow_nan=True).encode()
    sock.sendall(struct.pack("<I", len(head)) + head)
    for arr in arrays:
        arr = np.asarray(arr)
        if not arr.flags.c_contiguous:  # (np.ascontiguousarray would turn a 0-d array into 1-d)
            arr = arr.copy(order="C")
        buf = io.BytesIO()
        np.lib.format.write_array(buf, arr, allow_pickle=False)
        data = buf.getbuffer()
        sock.sendall(struct.pack("<Q", len(data)))
        sock.sendall(data)


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
    n = header.pop("n_arrays", 0)
    if not isinstance(n, int) or n < 0 or n > max_arrays:
        raise WireError(f"bad array count {n!r}")
    arrays, total = [], hlen
    for _ in range(n):
        (alen,) = struct.unpack("<Q", _recv_exact(sock, 8))
        total += alen
        if total > max_bytes:
            raise WireError(f"message exceeds {max_bytes} bytes")
        arrays.append(_parse_npy(_recv_exact(sock, alen)))
    return header, arrays


def _parse_npy(data: bytes) -> np.ndarray:
    buf = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(buf)
        shape, fortran, dtype = np.lib.format._read_array_header(buf, version)  # noqa: SLF001 - header only
    except (ValueError, OSError) as exc:
        raise WireError(f"bad .npy header: {exc}") from None
    if dtype.hasobject or dtype.kind not in ALLOWED_KINDS or dtype.fields is not None or dtype.subdtype:
        raise WireError(f"dtype {dtype} is not a plain numeric type")
    if not all(isinstance(d, int) and d >= 0 for d in shape) or len(shape) > 32:
        raise WireError(f"bad shape {shape!r}")
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    body = data[buf.tell():]
    if len(body) != count * dtype.itemsize:
        raise WireError(f"array of shape {list(shape)} {dtype} has {len(body)} bytes, expected {count * dtype.itemsize}")
    arr = np.frombuffer(body, dtype=dtype).reshape(shape, order="F" if fortran else "C")
    return arr.copy()  # writable, owns its memory
