"""Walk SRC and say what each file is; nothing here reads more than it must."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SKIP_DIRS = {".git", ".hg", ".svn", "__pycache__", ".venv", "venv", ".tox", "node_modules", ".mypy_cache",
             ".pytest_cache", ".ipynb_checkpoints"}
MAX_PY_BYTES = 2_000_000  # larger Python files are generated data, not code to translate


@dataclass
class SourceFile:
    rel: str  # posix path relative to SRC, as shown: bytes of a name that is not UTF-8 escaped (bad\xff.py)
    path: Path
    kind: str  # python | notebook | other | skipped | error (copied unchanged, not translated: reason says why)
    reason: str = ""
    dest: str = ""  # the path under OUT when it is not rel: a name that is not UTF-8 keeps its own bytes there

    @property
    def out_rel(self) -> str:
        return self.dest or self.rel


def shown(text: str) -> str:
    """Text fit for the reports: the bytes of a file name that is not UTF-8 (which Python holds as
    lone surrogates, and which no UTF-8 file can hold) written as escapes, `bad\\xff.py`."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        return os.fsencode(text).decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate that no file name gave
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def walk_repo(src: Path) -> list[SourceFile]:
    """Every file under SRC with its kind. One odd entry (a link loop, a name that is not UTF-8, a
    file gone or unreadable while we look) is listed as skipped with its reason, never fatal."""
    src = src.resolve()
    out: list[SourceFile] = []

    def unreadable(exc: OSError) -> None:  # os.walk would pass over a folder it cannot list in silence
        where = Path(exc.filename) if exc.filename else src
        if where != src:
            rel = shown(where.relative_to(src).as_posix()) if where.is_relative_to(src) else shown(str(where))
            out.append(SourceFile(rel, where, "skipped", f"folder cannot be listed: {exc.strerror or exc}"))

    for dirpath, dirnames, filenames in os.walk(src, onerror=unreadable, followlinks=False):
        d = Path(dirpath)
        kept = []
        for name in sorted(dirnames):
            if name in SKIP_DIRS:
                continue
            p = d / name
            if p.is_symlink():
                out.append(_guarded(src, p, _link))
                continue
            kept.append(name)
        dirnames[:] = kept
        for name in sorted(filenames):
            out.append(_guarded(src, d / name, _classify))
    return out


def _guarded(src: Path, p: Path, classify) -> SourceFile:
    try:
        return classify(src, p)
    except RuntimeError:  # Path.resolve before Python 3.13; 3.13 raises OSError ELOOP
        return SourceFile(shown(p.relative_to(src).as_posix()), p, "skipped", "symbolic link loop: not followed")
    except (OSError, ValueError) as exc:  # gone or unreadable while we looked
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else f"{type(exc).__name__}: {exc}"
        return SourceFile(shown(p.relative_to(src).as_posix()), p, "skipped", f"cannot be read: {shown(why)}")


def _classify(src: Path, p: Path) -> SourceFile:
    rel, name = p.relative_to(src).as_posix(), p.name
    if shown(rel) != rel:
        return _undecodable(p, rel)
    if p.is_symlink():
        item = _link(src, p)
        if item.kind == "skipped":
            return item
    if not p.is_file():
        return SourceFile(rel, p, "skipped", "not a regular file")
    if name.endswith(".py"):
        size = p.stat().st_size
        if size > MAX_PY_BYTES:
            return SourceFile(rel, p, "other", f"{size} bytes: too large to translate, copied unchanged")
        return SourceFile(rel, p, "python")
    if name.endswith(".ipynb"):
        return SourceFile(rel, p, "notebook")
    return SourceFile(rel, p, "other")


def _undecodable(p: Path, rel: str) -> SourceFile:
    """A name that is not UTF-8 (a Latin-1 `données.csv` from an old archive): no report can
    name it as it is, nor Python import it, so its file is copied byte for byte under its own
    name and the report shows the name escaped. Python code under such a name is not translated."""
    show = shown(rel)
    if p.is_symlink() or not p.is_file():
        return SourceFile(show, p, "skipped", "file name is not UTF-8, and it is a link or not a regular file: "
                                              "not copied", rel)
    if rel.endswith((".py", ".ipynb")):
        return SourceFile(show, p, "error", "file name is not UTF-8 (shown escaped): not translated", rel)
    return SourceFile(show, p, "other", "file name is not UTF-8 (shown escaped): copied unchanged", rel)


def _link(src: Path, p: Path) -> SourceFile:
    rel = p.relative_to(src).as_posix()
    target = p.resolve()
    if not target.is_relative_to(src):
        return SourceFile(shown(rel), p, "skipped",
                          f"symbolic link to {shown(str(target))}, outside the source tree: not followed")
    if not target.exists():
        return SourceFile(shown(rel), p, "skipped", f"broken symbolic link to {shown(str(target))}: nothing to migrate")
    if target.is_dir():
        return SourceFile(shown(rel), p, "skipped",
                          "symbolic link to a directory inside the tree: its files are migrated there")
    kind = "python" if p.name.endswith(".py") else "other"
    return SourceFile(rel, p, kind)


def module_name(rel: str) -> str:
    parts = rel[:-3].split("/") if rel.endswith(".py") else rel.split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)
