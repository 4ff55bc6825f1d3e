"""Reading a webhook request before anyone has vouched for it.

Everything here assumes a hostile sender, because the body is read before its signature can
be checked: a Content-Length over the limit is refused without reading a byte, a chunked body
is refused as soon as its declared chunks pass the limit, and a sender that stalls (no byte
for `read_timeout_s`) or trickles (still sending when the connection's deadline passes) is
dropped instead of holding a server thread. The deadline covers the request line and headers
too, which the standard library reads line by line with no bound on the total time.
"""
from __future__ import annotations

import re
import socket
import time
from typing import BinaryIO

_DIGITS = re.compile(r"[0-9]{1,20}")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,16})(;[^\r\n]*)?\r?\n")
_LINE_LIMIT = 4096  # a chunk-size or trailer line longer than this is not HTTP
_TRAILER_LINES = 32


class BodyError(Exception):
    """A body the server will not read: `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class DeadlineReader:
    """A connection's buffered input where every socket read waits at most `read_timeout_s`
    and none starts after the connection's deadline (TimeoutError, which http.server answers
    by closing the connection). Offers what http.server and `read_body` use."""

    def __init__(self, rfile: BinaryIO, sock: socket.socket, read_timeout_s: float, lifetime_s: float) -> None:
        self._rfile, self._sock = rfile, sock
        self._read_timeout_s = read_timeout_s
        self._until = time.monotonic() + lifetime_s

    def _arm(self) -> None:
        left = self._until - time.monotonic()
        if left <= 0:
            raise TimeoutError("the connection outlived its deadline")
        self._sock.settimeout(min(self._read_timeout_s, left))

    def read1(self, n: int) -> bytes:
        self._arm()
        return self._rfile.read1(n)

    def read(self, n: int) -> bytes:
        """Up to `n` bytes: fewer only at end of input."""
        parts, got = [], 0
        while got < n:
            part = self.read1(min(n - got, 1 << 16))
            if not part:
                break
            parts.append(part)
            got += len(part)
        return b"".join(parts)

    def readline(self, limit: int = -1) -> bytes:
        """One line, at most `limit` bytes (all of it when negative), b"" at end of input."""
        line = b""
        while not line.endswith(b"\n") and (limit < 0 or len(line) < limit):
            self._arm()
            buffered = self._rfile.peek(1)  # at most one socket read
            if not buffered:
                break
            room = len(buffered) if limit < 0 else min(len(buffered), limit - len(line))
            end = buffered.find(b"\n", 0, room)
            line += self._rfile.read(end + 1 if end >= 0 else room)  # served from the buffer
        return line

    def close(self) -> None:
        self._rfile.close()


def read_body(reader: DeadlineReader, headers, limit: int) -> bytes:
    """The request body, framed by Content-Length or by chunked transfer coding.

    Raises BodyError (411 no length, 413 over `limit`, 400 or 501 malformed) before reading
    anything it would not keep; TimeoutError comes through from the reader.
    """
    lengths = headers.get_all("Content-Length") or []
    codings = headers.get_all("Transfer-Encoding") or []
    if lengths and codings:  # two framings disagreeing is how requests are smuggled
        raise BodyError(400, "both Content-Length and Transfer-Encoding")
    if codings:
        if [c.strip().lower() for c in codings] != ["chunked"]:
            raise BodyError(501, f"unsupported Transfer-Encoding {', '.join(codings)!r}")
        return _read_chunked(reader, limit)
    if not lengths:
        raise BodyError(411, "Content-Length required")
    if len({v.strip() for v in lengths}) != 1 or not _DIGITS.fullmatch(lengths[0].strip()):
        raise BodyError(400, "malformed Content-Length")
    length = int(lengths[0])
    if length > limit:
        raise BodyError(413, f"a body of {length} bytes is over the {limit}-byte limit")
    body = reader.read(length)
    if len(body) < length:
        raise BodyError(400, f"the body ended after {len(body)} of {length} bytes")
    return body


def _line(reader: DeadlineReader) -> bytes:
    line = reader.readline(_LINE_LIMIT + 1)
    if len(line) > _LINE_LIMIT or not line.endswith(b"\n"):
        raise BodyError(400, "malformed chunked body")
    return line


def _read_chunked(reader: DeadlineReader, limit: int) -> bytes:
    parts, total = [], 0
    while True:
        m = _CHUNK_SIZE.fullmatch(_line(reader))
        if m is None:
            raise BodyError(400, "malformed chunk size")
        size = int(m.group(1), 16)
        if size == 0:
            break
        if total + size > limit:
            raise BodyError(413, f"a chunked body over the {limit}-byte limit")
        chunk = reader.read(size)
        if len(chunk) < size:
            raise BodyError(400, "the body ended inside a chunk")
        parts.append(chunk)
        total += size
        if _line(reader).strip(b"\r\n"):
            raise BodyError(400, "a chunk not followed by CRLF")
    for _ in range(_TRAILER_LINES):  # trailers are read and dropped; a blank line ends the body
        if not _line(reader).strip(b"\r\n"):
            return b"".join(parts)
    raise BodyError(400, "too many trailer lines")
