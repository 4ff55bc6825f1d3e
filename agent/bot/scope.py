"""`scope: changed`: check only the Python files a pull request changed, plus what they import.

The pipeline migrates and verifies every Python file under its SRC, and has no file filter. So
the bot gives it a SRC that holds less: a copy of the checkout without the Python files outside
the *import closure* of the changed files: the changed files, the repository files they import
(`import a.b`, `from .x import y`, at any nesting level, followed transitively) and the packages'
`__init__.py` files above each of them, which Python runs on import. A changed unit therefore
imports and builds as it would in the whole repository, and the units of the files it imports are
verified with it. Non-Python files (settings, data a unit reads) are copied as before.

What is lost: constructor calls in files that only import a changed file (a training script
calling `Model(depth=50)`) are not seen, so a unit whose arguments only such a caller tells may
be not exercised here where `scope: all` verifies it.
"""
from __future__ import annotations

import ast
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from agent.scan.files import MAX_PY_BYTES, SKIP_DIRS
from agent.scan.names import parse_python

SCOPES = ("changed", "all")


@dataclass
class Scoped:
    kept: list[str]  # the Python files copied (posix, relative to the root)
    changed: list[str]  # the changed Python files among them
    left_out: int  # Python files of the checkout not copied

    def note(self) -> str:
        imported = len(self.kept) - len(self.changed)
        return (f"scope changed: {len(self.kept)} of {len(self.kept) + self.left_out} Python files migrated "
                f"and verified: the {len(self.changed)} the pull request changed and {imported} they import "
                "(with their packages' __init__.py); units in the other files were not checked")


def _readable(path: Path) -> bool:
    """A regular file (not a link: it could name a FIFO or /dev/zero) small enough to parse."""
    try:
        return path.is_file() and not path.is_symlink() and path.stat().st_size <= MAX_PY_BYTES
    except OSError:
        return False


def _imports(tree: ast.Module) -> list[tuple[int, list[str], list[str]]]:
    """(level, module parts, imported names) for every import statement of the file."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(0, a.name.split("."), []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            parts = node.module.split(".") if node.module else []
            found.append((node.level, parts, [a.name for a in node.names if a.name != "*"]))
    return found


def _locate(base: Path, parts: list[str]) -> list[Path]:
    """The files Python runs to import `parts` from `base`: the module, and each package on the way."""
    out = []
    for i in range(1, len(parts) + 1):
        d = base.joinpath(*parts[:i])
        if (d / "__init__.py").is_file():
            out.append(d / "__init__.py")
        elif i == len(parts) and d.with_name(parts[i - 1] + ".py").is_file():
            out.append(d.with_name(parts[i - 1] + ".py"))
    return out


def import_closure(root: Path, changed: Iterable[str]) -> set[str]:
    """The changed Python files that exist under `root`, and the repo files they import, transitively."""
    root = root.resolve()
    bases = [root] + ([root / "src"] if (root / "src").is_dir() else [])  # as the verifier's importer looks
    todo = [rel for rel in changed if rel.endswith(".py") and (root / rel).is_file()]
    seen: set[str] = set()
    while todo:
        rel = todo.pop()
        if rel in seen:
            continue
        seen.add(rel)
        path = root / rel
        for d in path.parents:  # the packages above: importing a.b.c runs a/__init__.py and a/b/__init__.py
            if d == root or not d.is_relative_to(root):
                break
            if (d / "__init__.py").is_file():
                todo.append((d / "__init__.py").relative_to(root).as_posix())
        if not _readable(path):
            continue
        try:
            tree = parse_python(path.read_bytes(), filename=rel)
        except (SyntaxError, ValueError, RecursionError, MemoryError, OSError):
            continue  # the pipeline reports the file; it imports nothing we can see
        for level, parts, names in _imports(tree):
            if level:  # relative: from the file's package, `level - 1` packages up
                pkg = path.parent
                for _ in range(level - 1):
                    pkg = pkg.parent
                if not pkg.is_relative_to(root):
                    continue
                searched = [(pkg, parts)]
            else:  # absolute: the root (and src/), and the file's own folder for a sibling script's `import utils`
                searched = [(b, parts) for b in bases + ([path.parent] if len(parts) == 1 else [])]
            for base, mod in searched:
                hits = _locate(base, mod) if mod else []
                hits += [f for name in names for f in _locate(base, [*mod, name])]  # `from pkg import submodule`
                for f in hits:
                    target = f.resolve()
                    if target.is_relative_to(root):
                        todo.append(f.relative_to(root).as_posix())
                        if target != f:  # a link inside the tree: its target is copied too
                            todo.append(target.relative_to(root).as_posix())
    return seen


def copy_scoped(src: Path, dest: Path, changed: Iterable[str]) -> Scoped:
    """Copy `src` to `dest` (which must not exist) without the Python files outside the import
    closure of `changed`, without `.git` and the folders the pipeline skips."""
    src = src.resolve()
    changed = [c for c in changed if c.endswith(".py")]
    keep = import_closure(src, changed)
    left_out = 0

    def ignore(folder: str, names: list[str]) -> list[str]:
        nonlocal left_out
        here = Path(folder).relative_to(src)
        skip = []
        for name in names:
            if name in SKIP_DIRS:
                skip.append(name)
            elif name.endswith(".py") and (here / name).as_posix() not in keep:
                skip.append(name)
                left_out += 1
        return skip

    shutil.copytree(src, dest, ignore=ignore, symlinks=True)
    kept = sorted(keep)
    return Scoped(kept=kept, changed=[c for c in changed if c in keep], left_out=left_out)
