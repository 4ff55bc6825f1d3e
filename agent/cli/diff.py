"""`msagent migrate --diff`: the Python files' changes as one unified diff."""
from __future__ import annotations

import difflib
import sys
from pathlib import Path

from agent.scan.files import walk_repo


def print_diff(src: Path, out: Path) -> None:
    for f in walk_repo(src):
        if f.kind != "python" or not (out / f.rel).is_file():
            continue
        try:
            a = f.path.read_text().splitlines(keepends=True)
            b = (out / f.rel).read_text().splitlines(keepends=True)
        except UnicodeDecodeError:
            continue
        sys.stdout.writelines(difflib.unified_diff(a, b, f"a/{f.rel}", f"b/{f.rel}"))
