"""What the names in a file refer to, and where a node sits in it: the rules' two lookups, made cheap.

Qualified names come from the file's imports: `import torch.nn as nn` makes `nn.Conv2d` mean
`torch.nn.Conv2d`, whatever the import style or scope. That is exact as long as no torch alias is
also bound some other way in the file (a parameter called `F`, `nn = ...`); then LibCST's
scope-aware QualifiedNameProvider decides instead, at its price. One `ast` pass over the source
collects the imports, the other bindings and every identifier (so new aliases never clash).

Positions (marker lines, call sites seen by execution) are computed only for the top-level
statement that needs one, not for the whole file.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field

import libcst as cst
from libcst._metadata_dependent import LazyValue
from libcst.metadata import CodePosition, MetadataWrapper, PositionProvider, QualifiedNameProvider


def is_torch(name: str | None) -> bool:
    return name is not None and (name == "torch" or name.startswith("torch."))


def canonical(name: str) -> str:
    """torch.nn.modules.conv.Conv2d -> torch.nn.Conv2d (how the KB keys layers)."""
    if name.startswith("torch.nn.modules."):
        return "torch.nn." + name.rsplit(".", 1)[1]
    return name


@dataclass
class FileNames:
    aliases: dict[str, str] = field(default_factory=dict)  # local name -> what an import binds it to
    identifiers: set[str] = field(default_factory=set)  # every identifier written in the file
    torch_bound: set[str] = field(default_factory=set)  # local names torch imports bind ("*" for a star)
    shadowed: bool = False  # a torch alias is bound otherwise too: resolution must follow scopes


def scan_names(source: str) -> FileNames:
    """One `ast` pass. Source `ast` cannot parse (LibCST accepted it) is treated as shadowed."""
    out = FileNames()
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        out.shadowed = True
        return out
    other: set[str] = set()
    ids = out.identifiers
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            ids.add(node.id)
            if not isinstance(node.ctx, ast.Load):
                other.add(node.id)
        elif isinstance(node, ast.Attribute):
            ids.add(node.attr)
        elif isinstance(node, ast.arg):
            ids.add(node.arg)
            other.add(node.arg)
        elif isinstance(node, ast.keyword):
            if node.arg:
                ids.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            ids.add(node.name)
            other.add(node.name)
        elif isinstance(node, ast.Import):
            for a in node.names:
                ids.update(a.name.split("."))
                local = a.asname or a.name.split(".")[0]
                target = a.name if a.asname else local
                ids.add(local)
                _bind(out, local, target, other)
        elif isinstance(node, ast.ImportFrom):
            ids.update((node.module or "").split("."))
            for a in node.names:
                ids.add(a.name)
                if a.asname:
                    ids.add(a.asname)
                if node.level:  # relative: the repo's own modules
                    other.add(a.asname or a.name)
                elif a.name == "*":
                    if is_torch(node.module):
                        out.torch_bound.add("*")
                else:
                    _bind(out, a.asname or a.name, f"{node.module}.{a.name}", other)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            ids.update(node.names)
        elif isinstance(node, ast.ExceptHandler):
            if node.name:
                ids.add(node.name)
                other.add(node.name)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)):
            if node.name:
                ids.add(node.name)
                other.add(node.name)
        elif isinstance(node, ast.MatchMapping):
            if node.rest:
                ids.add(node.rest)
                other.add(node.rest)
        elif isinstance(node, ast.MatchClass):
            ids.update(node.kwd_attrs)
    torch_aliases = {k for k, v in out.aliases.items() if is_torch(v)}
    out.shadowed = out.shadowed or bool(torch_aliases & other)
    return out


def _bind(out: FileNames, local: str, target: str, other: set[str]) -> None:
    previous = out.aliases.get(local)
    if previous is not None and previous != target and (is_torch(previous) or is_torch(target)):
        out.shadowed = True  # one name, two imports, one of them torch: scopes decide
    out.aliases[local] = target
    if is_torch(target):
        out.torch_bound.add(local)


class Resolver:
    """Qualified names of Name / dotted Attribute nodes of one module tree."""

    def __init__(self, module: cst.Module, names: FileNames):
        self.aliases = names.aliases
        self._scoped = None
        if names.shadowed:
            self._scoped = MetadataWrapper(module, unsafe_skip_copy=True).resolve(QualifiedNameProvider)

    def qualified(self, node: cst.CSTNode) -> set[str]:
        if self._scoped is not None:
            found = self._scoped.get(node, ())
            if isinstance(found, LazyValue):
                found = found()
            return {q.name for q in found}
        parts: list[str] = []
        while isinstance(node, cst.Attribute):
            parts.append(node.attr.value)
            node = node.value
        if not isinstance(node, cst.Name):
            return set()
        base = self.aliases.get(node.value)
        if base is None:
            return set()
        return {".".join([base, *reversed(parts)])}

    def torch_name(self, node: cst.CSTNode) -> str | None:
        if self._scoped is None:
            root = node
            while isinstance(root, cst.Attribute):
                root = root.value
            if not isinstance(root, cst.Name) or not is_torch(self.aliases.get(root.value)):
                return None
        for n in sorted(self.qualified(node)):
            if is_torch(n):
                return canonical(n)
        return None


class Positions:
    """Start positions of nodes, resolved one top-level statement at a time."""

    def __init__(self, module: cst.Module):
        self.module = module
        self._first_line: dict[int, int] = {}  # id(top statement) -> line its leading lines start on
        self._scanned = 0
        self._next_line = len(module.header) + 1
        self._cache: dict[int, dict] = {}

    def _start_of(self, top: cst.CSTNode) -> int | None:
        body = self.module.body
        while id(top) not in self._first_line and self._scanned < len(body):
            stmt = body[self._scanned]
            self._first_line[id(stmt)] = self._next_line
            self._next_line += self.module.code_for_node(stmt).count("\n")
            self._scanned += 1
        return self._first_line.get(id(top))

    def start(self, top: cst.CSTNode | None, node: cst.CSTNode) -> CodePosition | None:
        if top is None:
            return None
        first = self._start_of(top)
        if first is None:
            return None
        table = self._cache.get(id(top))
        if table is None:
            alone = self.module.with_changes(body=[top], header=[], footer=[])
            table = self._cache[id(top)] = MetadataWrapper(alone, unsafe_skip_copy=True).resolve(PositionProvider)
        rng = table.get(node)
        if rng is None:
            return None
        return CodePosition(rng.start.line + first - 1, rng.start.column)


def statements(node: cst.CSTNode, into_classes: bool = True, into_functions: bool = True):
    """Every statement under `node` (compound ones and their bodies), without entering expressions."""
    body = getattr(node, "body", None)
    if isinstance(body, cst.BaseSuite):
        body = body.body
    if not isinstance(body, (list, tuple)):
        return
    for stmt in body:
        yield stmt
        if isinstance(stmt, cst.SimpleStatementLine):
            continue
        if isinstance(stmt, cst.ClassDef) and not into_classes:
            continue
        if isinstance(stmt, cst.FunctionDef) and not into_functions:
            continue
        for part in _suites(stmt):
            yield from statements(part, into_classes, into_functions)


def _suites(stmt: cst.CSTNode):
    if isinstance(stmt, (cst.ClassDef, cst.FunctionDef, cst.With, cst.Finally, cst.ExceptHandler,
                         cst.ExceptStarHandler, cst.Else, cst.MatchCase)):
        yield stmt
    elif isinstance(stmt, (cst.If, cst.For, cst.While)):
        yield stmt
        if stmt.orelse is not None:
            yield from _suites(stmt.orelse)
    elif isinstance(stmt, (cst.Try, cst.TryStar)):
        yield stmt
        for h in stmt.handlers:
            yield h
        if stmt.orelse is not None:
            yield stmt.orelse
        if stmt.finalbody is not None:
            yield stmt.finalbody
    elif isinstance(stmt, cst.Match):
        yield from stmt.cases


def referenced_names(module: cst.Module) -> set[str]:
    """Names the module's code reads or binds as variables (import statements bind, they do not count)."""
    try:
        tree = ast.parse(module.code)
    except (SyntaxError, ValueError):
        found: set[str] = set()

        class _V(cst.CSTVisitor):
            def visit_Import(self, node) -> bool:
                return False

            def visit_ImportFrom(self, node) -> bool:
                return False

            def visit_Name(self, node: cst.Name) -> None:
                found.add(node.value)

        module.visit(_V())
        return found
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
