"""What a side's error text says about the cause: a kernel the device lacks, the sandbox's own limits
(no network, the memory cap), a module installed on neither side, so a unit's failure is named for its
cause."""
from __future__ import annotations

import ast
import re
from pathlib import Path

KERNEL_MISSING = re.compile(
    r"kernel.{0,80}(unregistered|not registered|not found|not support)|not supported on this device"
    r"|Unsupported op|can ?not find.{0,40}kernel",
    re.I | re.S,
)
NETWORK = re.compile(r"Network is unreachable|Temporary failure in name resolution|Name or service not known"
                     r"|gaierror|ConnectionRefused|Connection refused|urlopen error|No route to host", re.I)
MEMORY = re.compile(r"MemoryError|Cannot allocate memory|std::bad_alloc|out of memory|DefaultCPUAllocator"
                    r"|Allocate memory failed", re.I)  # the last: MindSpore's device allocator


def blocked_by_limits(text: str, memory_gib: float) -> tuple[str, str] | None:
    """(failure kind, reason) when the sandbox's own limits caused TEXT (not a missing spec), else None."""
    if NETWORK.search(text):
        return "network", "the code needs the network, which verification blocks: " + text[:300]
    if MEMORY.search(text):
        return "memory", f"ran out of memory under the sandbox's {memory_gib:g} GiB limit: " + text[:300]
    return None


def level_failure(kind: str | None, reason: str, memory_gib: float) -> tuple[str | None, str]:
    """(failure kind, reason) of a level after forward that failed with KIND and REASON: a side's error that the
    sandbox's limits caused says so (a large model's gradients on torch's side past the memory limit), a kernel
    missing on the device is named as such."""
    if kind == "exception" and (blocked := blocked_by_limits(reason, memory_gib)):
        return blocked
    return ("missing-kernel" if KERNEL_MISSING.search(reason) else kind), reason


# what the MindSpore side's stand-in for a module installed on neither side raises where it is used
ABSENT_TEXT = "its module is not installed where msagent verifies (the torch original could not import it either)"
_ABSENT_USE = re.compile(r"ModuleNotFoundError: ([\w.]+): " + re.escape(ABSENT_TEXT[:40]))


def load_failure(load: dict, absent, original: tuple = ()) -> tuple[str, str, str]:
    """(failure kind, reason, status) of a translated file that does not import, or a cell that cannot be
    built. Raised by the stand-in of a module the judge found on neither side (ABSENT), or at a statement
    the torch original's import failed at too (ORIGINAL: the arguments of original_fails_too after LOAD):
    nothing could be checked here (not-exercised), the translation is not shown wrong."""
    reason = load.get("reason") or ""
    lead = "the translated file does not import: " if load.get("error") == "import" else \
        "the MindSpore cell cannot be built: "
    used = _ABSENT_USE.search(reason)
    if used and (module := used.group(1).split(".")[0]) in absent:
        return "import", f"{lead}it needs {module}, installed on neither side here: {reason}", "not-exercised"
    if original and (same := original_fails_too(load, *original)):
        return "import", same, "not-exercised"
    if library := _TORCH_LIBRARY.search(reason):
        reason += (f" ({library.group(1) or library.group(2)} is a library built on torch, which the MindSpore side "
                   "does not have: translated code cannot use it; port what the code takes from it, or migrate it too)")
    return ("missing-kernel" if KERNEL_MISSING.search(reason) else load.get("error")), lead + reason, "failed"


# a name imported from a torch_* library, whose files the candidate's view leaves out with torch's
_TORCH_LIBRARY = re.compile(r"cannot import name '\w+' from '(torch[\w.]*)' \(unknown location\)"
                            r"|No module named '(torch_\w*)")


def original_fails_too(load: dict, errors, pt_root: str, ms_root: str) -> str | None:
    """The reason to give when the statement that stops the translated file's import (LOAD's `where`) is
    one the torch original's import also failed at (ERRORS: the torch side's {file, line, error} of
    guarded statements that raised), with the same exception type: a dataclass default Python 3.11
    rejects, a base class from a package installed nowhere here. Nothing could be checked then; the
    translation is not shown wrong. None otherwise."""
    if load.get("error") != "import" or not isinstance(errors, list):
        return None
    frames = load.get("frames") if isinstance(load.get("frames"), list) else []
    for where in [str(load.get("where") or ""), *map(str, frames[:20])]:  # the deepest frame may be a helper's
        file, _, line = where.rpartition(":")
        if not line.isdigit():
            continue
        ours = _bound_at(Path(ms_root, file), int(line))
        for e in errors:
            if not (isinstance(e, dict) and e.get("file") == file and isinstance(e.get("line"), int)):
                continue
            kind = re.match(r"(\w+)\(", str(e.get("error", "")))
            if kind and f"{kind.group(1)}:" in str(load.get("reason", "")) and \
                    ours & _bound_at(Path(pt_root, file), e["line"]):
                return (f"the torch original does not import either: {file}, the statement at line {e['line']} raises "
                        f"{str(e.get('error'))[:300]} under torch too, so nothing could be checked "
                        f"(the translated file stops at line {line} the same way)")
    return None


def _bound_at(path: Path, line: int) -> set[str]:
    """Names the top-level statement of PATH that holds LINE binds (its decorators count as its lines)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError, RecursionError, MemoryError):
        return set()
    for stmt in tree.body:
        first = min([stmt.lineno, *(d.lineno for d in getattr(stmt, "decorator_list", []))])
        if first <= line <= (stmt.end_lineno or stmt.lineno):
            return _bound(stmt)
    return set()


def _bound(node: ast.AST) -> set[str]:
    if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
        return {node.name}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split(".")[0] for a in node.names}
    if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return {name for child in ast.iter_child_nodes(node) if isinstance(child, ast.stmt) for name in _bound(child)}
