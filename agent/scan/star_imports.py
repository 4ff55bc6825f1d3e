"""Torch names a file gets from another file of the repo through `from .activations import *`.

A module that imports torch (`import torch`, `import torch.nn.functional as F`) and has no `__all__`
exports those names to every star import of it, and real code uses them: timm's create_act.py reads
`torch.nn.functional` and `F.silu` with no torch import of its own. The rules translate one file at a
time, so these bindings are handed to them as if the file had imported them itself.
"""
from __future__ import annotations

import ast

from agent.scan.files import module_name
from agent.scan.names import is_torch


def star_inherited(trees: dict[str, ast.Module]) -> dict[str, dict[str, str]]:
    """rel -> {local name: torch name} for the files that star-import a repo module exporting torch names
    (through chains of star imports too)."""
    by_module = {module_name(rel): rel for rel in trees}
    done: dict[str, dict[str, str]] = {}

    def exports(rel: str, seen: frozenset) -> dict[str, str]:
        public = _declared_all(trees[rel])
        return {k: v for k, v in {**inherited(rel, seen), **_top_level_torch(trees[rel])}.items()
                if (k in public if public is not None else not k.startswith("_"))}

    def inherited(rel: str, seen: frozenset = frozenset()) -> dict[str, str]:
        if rel in done:
            return done[rel]
        found: dict[str, str] = {}
        for source in _star_sources(trees[rel], module_name(rel), rel.endswith("__init__.py")):
            other = by_module.get(source)
            if other is not None and other != rel and other not in seen:
                found.update(exports(other, seen | {rel}))
        done[rel] = found
        return found

    return {rel: names for rel in trees if (names := inherited(rel))}


def _star_sources(tree: ast.Module, module: str, is_package: bool) -> list[str]:
    """The dotted modules of the top-level `from X import *` statements (relative ones resolved)."""
    package = module if is_package else module.rpartition(".")[0]
    out = []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
            if node.level == 0:
                out.append(node.module or "")
                continue
            parts = package.split(".") if package else []
            if node.level - 1 > len(parts):
                continue
            base = parts[:len(parts) - (node.level - 1)]
            out.append(".".join(base + ([node.module] if node.module else [])))
    return out


def _top_level_torch(tree: ast.Module) -> dict[str, str]:
    """Names the module's top-level imports bind to torch (imports inside a top-level try/if too)."""
    out: dict[str, str] = {}
    stack = list(tree.body)
    while stack:
        node = stack.pop(0)
        if isinstance(node, (ast.Try, ast.If)):
            stack[:0] = [*node.body, *getattr(node, "orelse", [])]
        elif isinstance(node, ast.Import):
            for a in node.names:
                local = a.asname or a.name.split(".")[0]
                target = a.name if a.asname else local
                if is_torch(target):
                    out[local] = target
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and is_torch(node.module):
            for a in node.names:
                if a.name != "*":
                    out[a.asname or a.name] = f"{node.module}.{a.name}"
    return out


def _declared_all(tree: ast.Module) -> set[str] | None:
    """The names of a literal top-level `__all__`, or None when the module declares none."""
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets) and node.value is not None:
            try:
                value = ast.literal_eval(node.value)
            except (ValueError, SyntaxError):
                return None
            return {v for v in value if isinstance(v, str)} if isinstance(value, (list, tuple, set)) else None
    return None
