"""Where a node sits in its file, computed only where asked: marker lines, call sites seen by execution.

LibCST's PositionProvider over a whole file costs more than the rest of the rules. Here the start
line of each top-level statement comes from `ast` (or, failing that, from printing the statements
before it), and positions inside a statement come from printing that statement alone: the
provider for exact columns, a line-counting printer where only the line matters.
"""
from __future__ import annotations

import ast
from contextlib import contextmanager
from dataclasses import dataclass, field

import libcst as cst
from libcst._nodes.internal import CodegenState
from libcst.metadata import CodePosition, MetadataWrapper, PositionProvider


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


class Unchanged:
    """The source text of each top-level statement of a freshly parsed module, to print a translated module
    faster: statements no pass changed are the very nodes parsed (the walks keep unchanged nodes), and
    their text is the source's own lines. Exact by construction: LibCST prints a module as its header,
    each statement's leading lines and tokens, and its footer, reproducing the source; a statement's
    text starts at its first leading line and ends on its last line or later (block-final comment lines),
    so when the ranges of `top_level_lines` tile the lines between header and footer, each range is
    exactly what LibCST prints for that statement. Files where they do not tile, without a final
    newline or with carriage returns are printed by LibCST alone."""

    def __init__(self, module: cst.Module, source: str, lines: list[tuple[int, int]] | None):
        self.texts: dict[int, tuple[cst.CSTNode, str]] = {}  # id(statement) -> (statement, text)
        if lines is None or not module.has_trailing_newline or "\r" in source or len(lines) != len(module.body):
            return
        rows = source.split("\n")  # ast's lines: "\n" ends a line ("\r" excluded above)
        total = len(rows) - 1  # the source ends with "\n": the last item is empty
        expect = len(module.header) + 1
        for first, last in lines:
            if first != expect or last < first:
                return
            expect = last + 1
        if expect + len(module.footer) != total + 1:
            return
        self.texts = {id(stmt): (stmt, "\n".join(rows[a - 1:b]) + "\n") for stmt, (a, b) in zip(module.body, lines)}

    def code(self, module: cst.Module) -> str:
        """`module.code`, printing only the statements not in the source as parsed."""
        if not self.texts:
            return module.code
        state = CodegenState(default_indent=module.default_indent, default_newline=module.default_newline)
        for h in module.header:
            h._codegen(state)
        texts = self.texts
        for stmt in module.body:
            known = texts.get(id(stmt))
            if known is not None and known[0] is stmt:
                state.add_token(known[1])
            else:
                stmt._codegen(state)
        for f in module.footer:
            f._codegen(state)
        if not module.has_trailing_newline:
            return module.code  # (not reached for a module parsed with its newline: kept for safety)
        if not state.tokens:
            state.add_token(state.default_newline)
        return "".join(state.tokens)


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
