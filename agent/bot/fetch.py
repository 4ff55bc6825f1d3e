"""App mode has no checkout: rebuild the part of the repository a migration needs, at the PR's
head commit, in a temp folder.

What is fetched: every Python file in the tree at the head commit plus the settings files
(`msagent.toml`, `pyproject.toml`), through the git trees API (one request for the listing)
and the blobs API (one request per file). Python files are what the migration translates and
what verification imports, and a changed file's imports and the repo's own instantiations (which
verification uses as input specs) can live anywhere in the repo, so all of them come, not only
the changed ones. Data files, weights and notebooks are left out: they can be large and the
rules do not read them. The Action works on a full checkout instead.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from agent.bot.github import RepoAPI
from agent.scan.files import MAX_PY_BYTES, SKIP_DIRS

SETTINGS_FILES = ("msagent.toml", "pyproject.toml")
MAX_FILES = 3000
MAX_TOTAL_BYTES = 64 * 2**20


class TreeTooLarge(Exception):
    """The head commit holds more Python than the App fetches file by file."""


@dataclass
class Fetched:
    root: Path
    files: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "path: why"


def wanted(path: str, size: int | None) -> str | None:
    """None when `path` should be fetched, else why not."""
    p = PurePosixPath(path)
    if p.is_absolute() or ".." in p.parts:
        return "unsafe path"
    if any(part in SKIP_DIRS for part in p.parts[:-1]):
        return "in a skipped folder"
    if path not in SETTINGS_FILES and p.suffix != ".py":
        return "not Python"
    if size is not None and size > MAX_PY_BYTES:
        return f"{size} bytes: too large to translate"
    return None


def fetch_python_tree(api: RepoAPI, head_sha: str, dest: Path) -> Fetched:
    """Write the head commit's Python and settings files under `dest` (which must exist)."""
    entries, truncated = api.tree(head_sha)
    if truncated:
        raise TreeTooLarge("GitHub truncated the file list of this commit; use the msagent Action on a checkout")
    result = Fetched(root=dest)
    picked = []
    for e in entries:
        why = wanted(e["path"], e.get("size"))
        if why is None:
            picked.append(e)
        elif why != "not Python":
            result.skipped.append(f"{e['path']}: {why}")
    total = sum(e.get("size") or 0 for e in picked)
    if len(picked) > MAX_FILES or total > MAX_TOTAL_BYTES:
        raise TreeTooLarge(f"{len(picked)} Python files ({total} bytes) at {head_sha[:7]}: more than the App fetches "
                           f"({MAX_FILES} files, {MAX_TOTAL_BYTES} bytes); use the msagent Action on a checkout")
    for e in picked:
        target = dest.joinpath(*PurePosixPath(e["path"]).parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(api.blob(e["sha"]))
        result.files.append(e["path"])
    return result
