"""LibCST transformer and visitor bases for the rules' passes: the same protocol, less overhead.

LibCST looks up `visit_<Node>` / `leave_<Node>` by formatted name on every node and calls a hook
before and after every child field (`visit_<Node>_<field>`), which no pass here defines. These
bases resolve the hooks once per node type and skip the field hooks: the walk costs about a
third less, and the rules spend most of their time walking. Whitespace, comments, punctuation,
operators and number/string literals are not entered at all (no pass rewrites them): LibCST would
rebuild and re-validate each one. `statements` walks statement bodies alone, for the passes that
look at statements only (class facts, dataset columns, returns).
"""
from __future__ import annotations

import inspect
import sys
import threading

import libcst as cst

_TRIVIA_BASES = (cst.BaseParenthesizableWhitespace, cst.TrailingWhitespace, cst.EmptyLine, cst.Newline, cst.Comment,
                 cst.Comma, cst.Dot, cst.Colon, cst.Semicolon, cst.AssignEqual, cst.LeftParen, cst.RightParen,
                 cst.LeftSquareBracket, cst.RightSquareBracket, cst.LeftCurlyBrace, cst.RightCurlyBrace,
                 cst.BaseBinaryOp, cst.BaseAugOp, cst.BaseBooleanOp, cst.BaseCompOp, cst.BaseUnaryOp,
                 cst.Integer, cst.Float, cst.Imaginary, cst.SimpleString, cst.Ellipsis)
TRIVIA = frozenset(c for _, c in inspect.getmembers(cst, inspect.isclass)
                   if issubclass(c, _TRIVIA_BASES) and not inspect.isabstract(c))


def _hook(cls: type, cache: dict, prefix: str, node_type: type):
    try:
        return cache[node_type]
    except KeyError:
        fn = cache[node_type] = getattr(cls, f"{prefix}{node_type.__name__}", None)
        return fn


class _Dispatch:
    """Hook lookup once per node type, trivia not entered, no per-field hooks."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._visit_hooks, cls._leave_hooks = {}, {}

    def on_visit(self, node: cst.CSTNode) -> bool:
        if type(node) in TRIVIA:
            return False
        fn = _hook(type(self), self._visit_hooks, "visit_", type(node))
        return fn is None or fn(self, node) is not False

    def visit_hook(self, node_type: type):
        """The `visit_<Node>` function for a node type, or None (for subclasses inlining on_visit)."""
        return _hook(type(self), self._visit_hooks, "visit_", node_type)

    def leave_hook(self, node_type: type):
        return _hook(type(self), self._leave_hooks, "leave_", node_type)

    def on_visit_attribute(self, node, attribute) -> None:
        pass

    def on_leave_attribute(self, original_node, attribute) -> None:
        pass


class Transformer(_Dispatch, cst.CSTTransformer):
    def on_leave(self, original_node, updated_node):
        fn = self.leave_hook(type(original_node))
        return updated_node if fn is None else fn(self, original_node, updated_node)


class Visitor(_Dispatch, cst.CSTVisitor):
    def on_leave(self, original_node) -> None:
        fn = self.leave_hook(type(original_node))
        if fn is not None:
            fn(self, original_node)


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


DEEP_RECURSION_LIMIT = 60_000
DEEP_STACK_BYTES = 512 << 20
_deep = threading.Lock()


def with_deep_stack(fn, *args, **kwargs):
    """fn(*args, **kwargs) in a thread with a 512 MiB stack, under a recursion limit of 60,000.

    LibCST's visitors and code generator recurse several frames per node, so an expression
    nested about 150 deep (150 nested calls, a sum of 1,000 terms) exceeds Python's default limit
    of 1,000, while `ast` (which gates every file first) accepts nesting about three times that.
    The limit is process-wide: it is raised only while fn runs (the caller waits; one such call
    at a time) and put back after. The big stack is what makes the higher limit safe. A
    RecursionError fn still raises propagates, like any other exception."""
    box: dict = {}

    def run():
        old = sys.getrecursionlimit()
        sys.setrecursionlimit(max(old, DEEP_RECURSION_LIMIT))
        try:
            box["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc
        finally:
            sys.setrecursionlimit(old)

    with _deep:
        size = threading.stack_size(DEEP_STACK_BYTES)
        try:
            thread = threading.Thread(target=run, name="msagent-deep-walk", daemon=True)
            thread.start()
        finally:
            threading.stack_size(size)
        thread.join()
    if "error" in box:
        raise box.pop("error")
    return box["value"]
