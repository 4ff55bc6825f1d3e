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
from contextlib import contextmanager
from dataclasses import dataclass, field

import libcst as cst
from libcst._metadata_dependent import LazyValue
from libcst._nodes.internal import CodegenState
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
    nested_torch_imports: bool = False  # torch imported somewhere other than a top-level statement
    tree: ast.Module | None = None  # the file as `ast` reads it (None where it could not)


def scan_names(source: str) -> FileNames:
    """One `ast` pass. Source `ast` cannot parse (LibCST accepted it) is treated as shadowed."""
    out = FileNames()
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        out.shadowed = True
        return out
    out.tree = tree
    other: set[str] = set()
    ids = out.identifiers
    top = {id(n) for n in tree.body}
    nested = False
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
            nested |= id(node) not in top and _imports_torch(node)
            for a in node.names:
                ids.update(a.name.split("."))
                local = a.asname or a.name.split(".")[0]
                target = a.name if a.asname else local
                ids.add(local)
                _bind(out, local, target, other)
        elif isinstance(node, ast.ImportFrom):
            nested |= id(node) not in top and _imports_torch(node)
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
    out.nested_torch_imports = nested
    torch_aliases = {k for k, v in out.aliases.items() if is_torch(v)}
    out.shadowed = out.shadowed or bool(torch_aliases & other)
    return out


def _imports_torch(node: ast.Import | ast.ImportFrom) -> bool:
    if isinstance(node, ast.Import):
        return any(is_torch(a.name) for a in node.names)
    return not node.level and is_torch(node.module)


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


def top_level_lines(module: cst.Module, tree: ast.Module | None) -> list[tuple[int, int]] | None:
    """(first, last) source line of each top-level statement of `module`, its leading comment and blank
    lines included, read off `ast` (a LibCST statement line holds as many `ast` statements as it has
    small statements); None when the two trees do not line up."""
    if tree is None:
        return None
    out, j = [], 0
    for stmt in module.body:
        k = len(stmt.body) if isinstance(stmt, cst.SimpleStatementLine) else 1
        nodes = tree.body[j:j + k]
        j += k
        if len(nodes) < k:
            return None
        head = nodes[0]
        first = head.decorator_list[0].lineno if getattr(head, "decorator_list", None) else head.lineno
        lead = len(stmt.leading_lines)
        if getattr(stmt, "decorators", None):
            lead += len(stmt.decorators[0].leading_lines)
        out.append((first - lead, nodes[-1].end_lineno))
    return out if j == len(tree.body) else None


class Positions:
    """Start positions of nodes, resolved one top-level statement (or one method of a top-level class)
    at a time: LibCST's PositionProvider over a whole file costs more than the rest of the rules."""

    def __init__(self, module: cst.Module, lines: list[tuple[int, int]] | None = None):
        self.module = module
        self._first_line: dict[int, int] = {}  # id(statement) -> line its leading lines start on
        if lines is not None:  # from top_level_lines: no code generation needed to find them
            self._first_line = {id(stmt): first for stmt, (first, _) in zip(module.body, lines)}
        self._scanned = 0 if lines is None else len(module.body)
        self._next_line = len(module.header) + 1
        self._tables: dict[int, dict] = {}
        self._lines: dict[int, dict] = {}

    def _top_start(self, top: cst.CSTNode) -> int | None:
        body = self.module.body
        while id(top) not in self._first_line and self._scanned < len(body):
            stmt = body[self._scanned]
            self._first_line[id(stmt)] = self._next_line
            self._next_line += self.module.code_for_node(stmt).count("\n")
            self._scanned += 1
        return self._first_line.get(id(top))

    def _member_start(self, cls: cst.ClassDef, member: cst.CSTNode) -> int | None:
        if id(member) not in self._first_line:
            first = self._top_start(cls)
            if first is None:
                return None
            stub = cls.with_changes(body=cls.body.with_changes(body=[cst.SimpleStatementLine([cst.Pass()])], footer=[]))
            line = first + self.module.code_for_node(stub).count("\n") - 1
            for stmt in cls.body.body:
                self._first_line[id(stmt)] = line
                line += self.module.code_for_node(stmt).count("\n")
        return self._first_line.get(id(member))

    def _table(self, stmt: cst.CSTNode):
        table = self._tables.get(id(stmt))
        if table is None:
            alone = self.module.with_changes(body=[stmt], header=[], footer=[])
            table = self._tables[id(stmt)] = MetadataWrapper(alone, unsafe_skip_copy=True).resolve(PositionProvider)
        return table

    def start(self, top: cst.CSTNode | None, node: cst.CSTNode) -> CodePosition | None:
        """Line and column (exact: a top-level statement starts at column 0)."""
        first = self._top_start(top) if top is not None else None
        rng = self._table(top).get(node) if first is not None else None
        return CodePosition(rng.start.line + first - 1, rng.start.column) if rng is not None else None

    def line(self, top: cst.CSTNode | None, member: cst.CSTNode | None, node: cst.CSTNode) -> int | None:
        """The line alone (what a marker needs); `member` is the statement of class `top` holding `node`."""
        if top is None:
            return None
        if member is None or not isinstance(top, cst.ClassDef):
            member, first = top, self._top_start(top)
        else:
            first = self._member_start(top, member)
        if first is None:
            return None
        lines = self._lines.get(id(member))
        if lines is None:
            state = _LineState(default_indent=self.module.default_indent, default_newline=self.module.default_newline)
            self.module.with_changes(body=[member], header=[], footer=[])._codegen(state)
            lines = self._lines[id(member)] = state.lines
        rel = lines.get(id(node))
        return rel + first - 1 if rel is not None else None


@dataclass
class _LineState(CodegenState):
    """Code generation that keeps only each node's start line (the syntactic one, as PositionProvider's):
    a fraction of the provider's cost, which also tracks columns and end positions."""

    line: int = 1
    lines: dict = field(default_factory=dict)  # id(node) -> line

    def add_token(self, value: str) -> None:
        self.tokens.append(value)
        if "\n" in value or "\r" in value:
            self.line += value.count("\n") or value.count("\r")

    def before_codegen(self, node: cst.CSTNode) -> None:
        self.lines[id(node)] = self.line

    @contextmanager
    def record_syntactic_position(self, node: cst.CSTNode, *, start_node=None, end_node=None):
        if start_node is not None:
            # a node positioned at a child (a statement line at its first statement): same line here
            self.lines[id(node)] = self.lines.get(id(start_node), self.line)
        else:
            self.lines[id(node)] = self.line
        yield


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
