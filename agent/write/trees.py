"""A folder as {relative path: bytes} and back: how trees travel to Ray actors (eval cases, a
migration's SRC and OUT), whose nodes share no disk."""
from __future__ import annotations

from pathlib import Path

SKIP_DIRS = {"__pycache__", ".git"}


def pack_tree(root: Path) -> dict[str, bytes]:
    """Every file under ROOT as {relative path: bytes}."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not SKIP_DIRS & set(p.relative_to(root).parts)}


def unpack_tree(files: dict[str, bytes], root: Path) -> None:
    for rel, data in files.items():
        target = (root / rel).resolve()
        if not target.is_relative_to(root.resolve()):
            raise ValueError(f"{rel}: outside the tree")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
