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
    rel: str  # posix path relative to SRC
    path: Path
    kind: str  # python | notebook | other | skipped
    reason: str = ""


def walk_repo(src: Path) -> list[SourceFile]:
    src = src.resolve()
    out: list[SourceFile] = []
    for dirpath, dirnames, filenames in os.walk(src, followlinks=False):
        d = Path(dirpath)
        kept = []
        for name in sorted(dirnames):
            if name in SKIP_DIRS:
                continue
            p = d / name
            if p.is_symlink():
                out.append(_link(src, p))
                continue
            kept.append(name)
        dirnames[:] = kept
        for name in sorted(filenames):
            p = d / name
            rel = p.relative_to(src).as_posix()
            if p.is_symlink():
                item = _link(src, p)
                if item.kind == "skipped":
                    out.append(item)
                    continue
            if not p.is_file():
                out.append(SourceFile(rel, p, "skipped", "not a regular file"))
                continue
            if name.endswith(".py"):
                size = p.stat().st_size
                if size > MAX_PY_BYTES:
                    out.append(SourceFile(rel, p, "other", f"{size} bytes: too large to translate, copied unchanged"))
                else:
                    out.append(SourceFile(rel, p, "python"))
            elif name.endswith(".ipynb"):
                out.append(SourceFile(rel, p, "notebook"))
            else:
                out.append(SourceFile(rel, p, "other"))
    return out


def _link(src: Path, p: Path) -> SourceFile:
    rel = p.relative_to(src).as_posix()
    target = p.resolve()
    if not target.is_relative_to(src):
        return SourceFile(rel, p, "skipped", f"symbolic link to {target}, outside the source tree: not followed")
    if not target.exists():
        return SourceFile(rel, p, "skipped", f"broken symbolic link to {target}: nothing to migrate")
    if target.is_dir():
        return SourceFile(rel, p, "skipped", "symbolic link to a directory inside the tree: its files are migrated there")
    kind = "python" if p.name.endswith(".py") else "other"
    return SourceFile(rel, p, kind)


def module_name(rel: str) -> str:
    parts = rel[:-3].split("/") if rel.endswith(".py") else rel.split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)
