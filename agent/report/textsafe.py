"""Text that came from the code being migrated is data: exception messages, file and unit
names, marker reasons. Before it goes into a report or a PR comment it is

- redacted: the values of secret-looking environment variables, PEM private keys (whole or in
  pieces) and secrets the caller registered become "[redacted]", so code that prints a
  credential it can see does not publish it;
- escaped for where it lands: one Markdown table cell, one list item or one code span, so a
  file named "x|y`\\n| fake | row |.py" stays one cell and cannot close a `<details>` block.
"""
from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping

REDACTED = "[redacted]"
MIN_SECRET = 8  # shorter values would redact ordinary words
MIN_KEY_LINE = 16  # a registered PEM key's lines at least this long are secrets of their own

_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASS|CREDENTIAL|PRIVATE", re.IGNORECASE)  # PASS covers PASSWORD
_B64 = r"[A-Za-z0-9+/=]{40,}"
_PEM_BLOCK = re.compile(r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY-----.*?-----END[A-Z0-9 ]*PRIVATE KEY-----", re.DOTALL)
_PEM_MARKER = re.compile(r"-----(?:BEGIN|END)[A-Z0-9 ]*PRIVATE KEY-----")
# base64 runs next to a marker, separated by whitespace or by \n as an escaped string shows it;
# the runs before a marker are matched on the reversed text ("\n" reads "n\" there). Both only
# ever grow to the right, so a long base64 blob costs linear time, not a backtracking search.
_B64_AFTER = re.compile(rf"(?:(?:\s|\\[nrt])*{_B64})*")
_B64_BEFORE_REVERSED = re.compile(r"(?:(?:\s|[nrt]\\)*(?:[A-Za-z0-9+/=](?!\\)){40,})*")  # n of \n is no base64

_registered: set[str] = set()
_lock = threading.Lock()
_cache: dict[tuple[str, ...], re.Pattern | None] = {}


def register_secret(value: str | bytes | None) -> None:
    """Redact `value` from now on, in this process. A PEM key's lines are registered one by one
    too, so a key printed in pieces is caught."""
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    if not value:
        return
    found = {value.strip()} if len(value.strip()) >= MIN_SECRET else set()
    if "PRIVATE KEY" in value:
        found |= {line.strip() for line in value.splitlines() if len(line.strip()) >= MIN_KEY_LINE}
    with _lock:
        _registered.update(found)


def secret_values(env: Mapping[str, str] | None = None) -> set[str]:
    """The values redact() removes: secret-looking variables of `env` (os.environ by default)
    and the registered secrets."""
    env = os.environ if env is None else env
    found = {v.strip() for k, v in env.items() if _SECRET_NAME.search(k) and len(v.strip()) >= MIN_SECRET}
    with _lock:
        return found | _registered


def _pattern(values: set[str]) -> re.Pattern | None:
    key = tuple(sorted(values, key=lambda v: (-len(v), v)))  # longest first: a value inside another
    if key not in _cache:
        if len(_cache) > 64:
            _cache.clear()
        _cache[key] = re.compile("|".join(map(re.escape, key))) if key else None
    return _cache[key]


def redact(text: str, env: Mapping[str, str] | None = None) -> str:
    """`text` with every secret value and PEM private key replaced by "[redacted]"."""
    if not text:
        return text or ""
    text = _without_pem(text)
    pattern = _pattern(secret_values(env))
    return pattern.sub(REDACTED, text) if pattern else text


def _without_pem(text: str) -> str:
    """Whole PEM private keys, then leftover pieces: a BEGIN/END marker and the base64 runs
    adjacent to it (a key cut by truncation, or printed in chunks)."""
    text = _PEM_BLOCK.sub(REDACTED, text)
    out, pos = [], 0
    for m in _PEM_MARKER.finditer(text):
        if m.start() < pos:
            continue
        before = _B64_BEFORE_REVERSED.match(text[pos:m.start()][::-1]).end()
        out += [text[pos:m.start() - before], REDACTED]
        pos = _B64_AFTER.match(text, m.end()).end()
    return "".join(out) + text[pos:]


def redact_data(value):
    """redact() applied to every string inside dicts, lists and tuples (JSON-like data)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact_data(v) for v in value)
    return value


def one_line(text: str | None, limit: int) -> str:
    """Redacted, on one line, at most `limit` characters. Redaction comes first: a key cut in
    two would escape it. Line breaks and other white space become spaces; control and format
    characters (bidi overrides, zero-width) are dropped."""
    flat = "".join(ch if ch.isprintable() else " " if ch.isspace() else "" for ch in redact(str(text or "")))
    return flat if len(flat) <= limit else flat[: max(limit - 1, 0)] + "…"


_CELL_ESCAPES = {"\\": "\\\\", "|": "\\|", "`": "\\`", "[": "\\[", "]": "\\]", "<": "&lt;", ">": "&gt;"}
_BLOCK_START = re.compile(r"^(?:[#+=~-]|\d+(?=[.)]))")  # would start a heading, quote, list, rule or fence


def md_cell(text: str | None, limit: int = 160) -> str:
    """`text` as plain text inside one Markdown table cell or after a list bullet."""
    flat = "".join(_CELL_ESCAPES.get(ch, ch) for ch in one_line(text, limit))
    m = _BLOCK_START.match(flat)
    if m is None:
        return flat
    if flat[0].isdigit():  # "1." or "1)" starts an ordered list: escape the punctuation
        return flat[:m.end()] + "\\" + flat[m.end():]
    return "\\" + flat


def md_inline(text: str | None, limit: int = 200, table: bool = False) -> str:
    """`text` as one complete code span (a file or unit name), fences included. The fence is
    longer than any backtick run inside, so a backtick in a name cannot close it; in a table
    (`table=True`) "|" is escaped, which GFM undoes inside code spans too."""
    flat = one_line(text, limit)
    longest = max((len(run) for run in re.findall(r"`+", flat)), default=0)
    fence = "`" * (longest + 1)
    if flat.startswith("`") or flat.endswith("`") or not flat.strip():
        flat = f" {flat} "
    if table:
        flat = flat.replace("|", "\\|")
    return f"{fence}{flat}{fence}"
