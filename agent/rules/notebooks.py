"""Jupyter notebooks: translate the code cells of an `.ipynb` with the rules, keep the rest.

All plain-Python code cells are joined into one module, so a torch import in the first cell
resolves the names used in later ones, translated once, and split back into cells. A cell the
rules cannot take as Python (IPython magics, shell lines, a syntax error) is kept as it is and
marked: in the cell's metadata, in a `# msagent:` comment where a comment is safe, and in the
result's markers. Notebooks are not imported by the verifier, so they hold no units.
"""
from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field


from agent.rules.engine import DEEP_RETRY_MAX_TOKENS, MARKER, longest_statement, translate_source
from agent.scan.names import parse_python, scan_names

NBFORMAT = 4


class NotebookError(ValueError):
    """The file is not a notebook the rules can work on; the message says why."""


@dataclass
class CellMarker:
    cell: int  # index in the notebook's cell list
    line: int  # line within the cell, 1-based
    reason: str


@dataclass
class NotebookResult:
    text: str  # the new .ipynb JSON (the input unchanged when nothing changed)
    changed: bool
    api_calls: int = 0
    api_converted: int = 0
    code_cells: int = 0
    kept_cells: int = 0
    markers: list[CellMarker] = field(default_factory=list)


def _cell_text(cell: dict) -> str:
    src = cell.get("source", "")
    if isinstance(src, list):
        return "".join(str(s) for s in src)
    if isinstance(src, str):
        return src
    raise NotebookError("a cell's source is neither a string nor a list of strings")


def _is_ipython(line: str) -> bool:
    """A line IPython rewrites before Python sees it: magic, shell escape, `x = !cmd`, `obj?`."""
    s = line.strip()
    return s.startswith(("%", "!")) or bool(re.match(r"^[\w., ()]+=\s*[!%]", s)) or (
        s.endswith("?") and not s.startswith("#"))


def _mask(text: str, tag: str) -> tuple[str, dict[str, str], list[int]]:
    """The cell with each IPython line replaced by a placeholder statement (same indent), the
    placeholders' original lines, and the masked line numbers. Used only on cells that do not
    parse as they are, so string contents of valid Python are never touched."""
    out: list[str] = []
    originals: dict[str, str] = {}
    masked: list[int] = []
    key = ""
    continuing = False
    for n, line in enumerate(_lines(text), 1):
        if continuing:  # a magic continued with a backslash: the placeholder stands for it too
            originals[key] += line
        elif _is_ipython(line):
            key = f"'{tag}-{n}'"
            originals[key] = line
            masked.append(n)
            out.append(f"{line[: len(line) - len(line.lstrip())]}{key}\n")
        else:
            out.append(line)
            continue
        continuing = line.rstrip("\r\n").endswith("\\")
    return "".join(out), originals, masked


def _unmask(text: str, originals: dict[str, str]) -> str:
    if not originals:
        return text
    out = []
    for line in _lines(text):
        original = originals.get(line.strip())
        if original is None:
            out.append(line)
        else:
            out.append(original.rstrip("\n") + ("\n" if line.endswith("\n") else ""))
    return "".join(out)


def _parses(text: str) -> SyntaxError | ValueError | RecursionError | None:
    try:
        parse_python(text)
    except (SyntaxError, ValueError, RecursionError) as exc:  # ValueError: null bytes
        return exc
    return None


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _mark_kept(cell: dict, text: str, reason: str) -> None:
    cell.setdefault("metadata", {})["msagent"] = {"kept": reason}
    # A comment line on top is harmless for Python, but would break a cell magic (`%%bash`,
    # `%%html`), which must stay the first line: those carry the metadata only.
    if not text.lstrip().startswith("%%"):
        cell["source"] = _lines(f"{MARKER} {reason}\n{text}")


def load(text: str) -> dict:
    try:
        nb = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NotebookError(f"not valid JSON (line {exc.lineno}: {exc.msg})") from exc
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise NotebookError("not a notebook: no list of cells")
    if nb.get("nbformat") != NBFORMAT:
        raise NotebookError(f"notebook format {nb.get('nbformat')!r} (only format {NBFORMAT} is translated)")
    lang = (nb.get("metadata", {}).get("language_info") or {}).get("name") or \
        (nb.get("metadata", {}).get("kernelspec") or {}).get("language") or "python"
    if str(lang).lower() != "python":
        raise NotebookError(f"a {lang} notebook, not Python")
    return nb


@dataclass
class _Chunk:
    cell: int
    text: str  # what the rules see: IPython lines masked
    originals: dict[str, str]  # placeholder -> IPython line
    trailing_newline: bool


def translate_notebook(text: str, kb, device: str = "cpu", *, module_classes: set[str] | None = None,
                       nearest=None) -> NotebookResult:
    """Translate the code cells of one notebook. Raises NotebookError for a file that is not a
    Python notebook; a rules failure propagates like it does for a .py file."""
    nb = load(text)
    result = NotebookResult(text=text, changed=False)
    tag = f"msagent-{secrets.token_hex(6)}"
    chunks: list[_Chunk] = []
    kept_text: list[str] = []  # cells kept whole: their torch names must keep their imports
    for i, cell in enumerate(nb["cells"]):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        result.code_cells += 1
        src = _cell_text(cell)
        if not src.strip():
            continue
        masked, originals, lines = src, {}, []
        error = _parses(src)
        if error is not None and not src.lstrip().startswith("%%"):
            masked, originals, lines = _mask(src, f"{tag}-c{i}")
            error = _parses(masked) if originals else error
        if error is None:
            for n in lines:
                result.markers.append(CellMarker(i, n, "IPython magic or shell line kept unchanged"))
            if lines:
                cell.setdefault("metadata", {})["msagent"] = {"ipython_lines_kept": lines}
                result.changed = True
            chunks.append(_Chunk(i, masked, originals, src.endswith("\n")))
            continue
        if src.lstrip().startswith("%%"):
            reason = "cell magic: cell kept unchanged"
        elif isinstance(error, SyntaxError):
            reason = f"syntax error at cell line {error.lineno}: {error.msg}; cell kept unchanged"
        elif isinstance(error, RecursionError):
            reason = "too deeply nested to parse (deeper than Python's recursion limit); cell kept unchanged"
        else:
            reason = f"not Python source ({error}); cell kept unchanged"
        line = getattr(error, "lineno", None) or 1
        result.kept_cells += 1
        result.markers.append(CellMarker(i, line, reason))
        _mark_kept(cell, src, reason)
        kept_text.append(src)
        result.changed = True
    if chunks:
        try:
            _translate_cells(nb, chunks, "\n".join(kept_text), f"'{tag}-boundary'", kb, device, module_classes,
                             nearest, result)
        except RecursionError:  # a cell too deep for the rules even on a deep stack: keep it, translate the rest
            deep = [c for c in chunks if longest_statement(c.text) > DEEP_RETRY_MAX_TOKENS]
            if not deep:
                raise
            reason = "too deeply nested to translate; cell kept unchanged"
            for c in deep:
                cell = nb["cells"][c.cell]
                src = _cell_text(cell)
                result.kept_cells += 1
                result.markers.append(CellMarker(c.cell, 1, reason))
                _mark_kept(cell, src, reason)
                kept_text.append(src)
                result.changed = True
            chunks = [c for c in chunks if c not in deep]
            if chunks:
                _translate_cells(nb, chunks, "\n".join(kept_text), f"'{tag}-boundary'", kb, device,
                                 module_classes, nearest, result)
    if result.changed:
        result.text = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
    result.markers.sort(key=lambda m: (m.cell, m.line))
    return result


def _keep_alive(joined: str, kept_text: str) -> str:
    """A statement naming the torch imports that whole-kept cells still use, so the rules keep
    those imports (with their marker) instead of leaving the kept cells with a NameError."""
    bound = scan_names(joined).torch_bound
    used = sorted(n for n in bound if n != "*" and re.search(rf"\b{re.escape(n)}\b", kept_text))
    return f"({', '.join(used)},)\n" if used else ""


def _translate_cells(nb: dict, chunks: list[_Chunk], kept_text: str, boundary: str, kb, device, module_classes,
                     nearest, result: NotebookResult) -> None:
    parts: list[str] = []
    starts: list[int] = []  # first line of each chunk in the joined module
    line = 1
    for n, chunk in enumerate(chunks):
        if n:
            parts.append(boundary + "\n")
            line += 1
        body = chunk.text if chunk.text.endswith("\n") else chunk.text + "\n"
        starts.append(line)
        parts.append(body)
        line += body.count("\n")
    alive = _keep_alive("".join(parts), kept_text) if kept_text else ""
    if alive:
        parts += [boundary + "\n", alive]
    r = translate_source("".join(parts), kb, device, module_classes=module_classes, nearest=nearest)
    result.api_calls, result.api_converted = r.api_calls, r.api_converted
    for m in r.markers:
        at = max(m.line, 1)
        if at >= line:  # the keep-alive statement: not the user's code
            continue
        k = max(n for n, s in enumerate(starts) if s <= at)
        result.markers.append(CellMarker(chunks[k].cell, at - starts[k] + 1, m.reason))
    pieces = _split(r.code, boundary, len(chunks) + (1 if alive else 0))[: len(chunks)]
    for chunk, new in zip(chunks, pieces):
        new = _unmask(new, chunk.originals)
        old = _unmask(chunk.text, chunk.originals)
        if not chunk.trailing_newline and new.endswith("\n"):
            new = new[:-1]
        if new != old:
            cell = nb["cells"][chunk.cell]
            cell["source"] = _lines(new)
            # outputs were produced by the torch code; keeping them would show results this code never gave
            cell["outputs"], cell["execution_count"] = [], None
            result.changed = True


def _split(code: str, boundary: str, count: int) -> list[str]:
    pieces, current = [], []
    for line in _lines(code):
        if line.strip() == boundary:
            pieces.append("".join(current))
            current = []
        else:
            current.append(line)
    pieces.append("".join(current))
    if len(pieces) != count:  # the rules moved a boundary: never guess which code belongs where
        raise RuntimeError(f"cell boundaries lost in translation ({len(pieces)} pieces for {count} cells)")
    return pieces
