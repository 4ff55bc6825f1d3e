"""Jupyter notebooks: translate the code cells of an `.ipynb` with the rules, keep the rest.

All plain-Python code cells are joined into one module, so a torch import in the first cell
resolves the names used in later ones, translated once, and split back into cells. A cell the
rules cannot take as Python (IPython magics, shell lines, a syntax error) is kept as it is and
marked: in the cell's metadata, in a `# msagent:` comment where a comment is safe, and in the
result's markers. Notebooks are not imported by the verifier, so they hold no units.
"""
from __future__ import annotations

import ast
import json
import secrets
from dataclasses import dataclass, field

from agent.rules.engine import MARKER, translate_source

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


def _ipython_line(text: str) -> int | None:
    """The first line that is IPython syntax rather than Python (magic, shell escape, help), or None."""
    for n, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if s.startswith(("%", "!")) or (s.endswith("?") and not s.startswith("#")) or "= !" in s or "= %" in s:
            return n
    return None


def _why_kept(text: str) -> tuple[int, str] | None:
    """(line, reason) when the rules cannot take this cell as Python; None when they can."""
    try:
        ast.parse(text)
    except SyntaxError as exc:
        magic = _ipython_line(text)
        if magic is not None:
            return magic, f"IPython magic or shell line at cell line {magic}: cell kept unchanged"
        return exc.lineno or 1, f"syntax error at cell line {exc.lineno}: {exc.msg}; cell kept unchanged"
    except ValueError as exc:  # null bytes
        return 1, f"not Python source ({exc}); cell kept unchanged"
    return None


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _mark_kept(cell: dict, text: str, reason: str) -> None:
    cell.setdefault("metadata", {})["msagent"] = {"kept": reason}
    # A comment line on top is harmless for line magics and Python, but would break a cell magic
    # (`%%bash`, `%%html`), which must stay the first line: those carry the metadata only.
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


def translate_notebook(text: str, kb, device: str = "cpu", *, module_classes: set[str] | None = None,
                       nearest=None) -> NotebookResult:
    """Translate the code cells of one notebook. Raises NotebookError for a file that is not a
    Python notebook; a rules failure propagates like it does for a .py file."""
    nb = load(text)
    result = NotebookResult(text=text, changed=False)
    boundary = f"'msagent-cell-{secrets.token_hex(8)}'"  # a statement the rules never touch
    chunks: list[tuple[int, str]] = []  # (cell index, source) of cells the rules take
    for i, cell in enumerate(nb["cells"]):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        result.code_cells += 1
        src = _cell_text(cell)
        kept = _why_kept(src)
        if kept is not None:
            result.kept_cells += 1
            result.markers.append(CellMarker(i, kept[0], kept[1]))
            _mark_kept(cell, src, kept[1])
            result.changed = True
        elif src.strip():
            chunks.append((i, src))
    if chunks:
        _translate_cells(nb, chunks, boundary, kb, device, module_classes, nearest, result)
    if result.changed:
        result.text = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
    result.markers.sort(key=lambda m: (m.cell, m.line))
    return result


def _translate_cells(nb: dict, chunks, boundary: str, kb, device, module_classes, nearest,
                     result: NotebookResult) -> None:
    joined: list[str] = []
    starts: list[int] = []  # first line of each chunk in the joined module
    line = 1
    for n, (_, src) in enumerate(chunks):
        if n:
            joined.append(boundary + "\n")
            line += 1
        body = src if src.endswith("\n") else src + "\n"
        starts.append(line)
        joined.append(body)
        line += body.count("\n")
    r = translate_source("".join(joined), kb, device, module_classes=module_classes, nearest=nearest)
    result.api_calls, result.api_converted = r.api_calls, r.api_converted
    for m in r.markers:
        k = max(n for n, s in enumerate(starts) if s <= max(m.line, 1))
        result.markers.append(CellMarker(chunks[k][0], max(m.line, 1) - starts[k] + 1, m.reason))
    pieces = _split(r.code, boundary, len(chunks))
    for (i, old), new in zip(chunks, pieces):
        if not old.endswith("\n") and new.endswith("\n"):
            new = new[:-1]
        if new != old:
            cell = nb["cells"][i]
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
