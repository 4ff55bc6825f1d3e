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

import ast
import dataclasses
import inspect
import sys
import textwrap
import threading

import libcst as cst
from libcst import CSTValidationError, FlattenSentinel, MaybeSentinel, RemovalSentinel

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


# How LibCST visits each node type's children, read once per type off its `_visit_and_replace_children`:
# (field, kind) in visiting order. Kinds are LibCST's helpers (visit_required, visit_optional,
# visit_sentinel, visit_sequence, visit_body_sequence) and "optional_sequence" (a sequence or None).
# None: a method of another shape, left to LibCST (the node and its subtree are then rebuilt as LibCST does).
_SPECS: dict[type, tuple | None] = {}
_KINDS = {"visit_required": 1, "visit_optional": 2, "visit_sentinel": 3, "visit_sequence": 4, "visit_body_sequence": 5}
_OPTIONAL_SEQUENCE = 6


def _field_kind(name: str, value: ast.expr) -> int | None:
    """0 for a field passed through, the helper's kind for a visited one, None for anything else."""
    if isinstance(value, ast.Attribute) and isinstance(value.value, ast.Name) and value.value.id == "self":
        return 0 if value.attr == name else None
    if isinstance(value, ast.IfExp):  # `visit_sequence(self, "f", f, visitor) if f is not None else None`
        test = value.test
        if (isinstance(value.orelse, ast.Constant) and value.orelse.value is None and isinstance(test, ast.Compare)
                and isinstance(test.left, ast.Name) and len(test.ops) == 1 and isinstance(test.ops[0], ast.IsNot)
                and isinstance(test.comparators[0], ast.Constant) and test.comparators[0].value is None
                and _helper_call(name, value.body, local=test.left.id) == 4):
            return _OPTIONAL_SEQUENCE
        return None
    return _helper_call(name, value)


def _helper_call(name: str, value: ast.expr, local: str | None = None) -> int | None:
    if not (isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id in _KINDS
            and len(value.args) == 4 and not value.keywords):
        return None
    parent, field_name, node, visitor = value.args
    if not (isinstance(parent, ast.Name) and parent.id == "self" and isinstance(field_name, ast.Constant)
            and field_name.value == name and isinstance(visitor, ast.Name) and visitor.id == "visitor"):
        return None
    if local is not None:
        ok = isinstance(node, ast.Name) and node.id == local
    else:
        ok = isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self" \
            and node.attr == name
    return _KINDS[value.func.id] if ok else None


def _read_spec(cls: type) -> tuple | None:
    try:
        fn = ast.parse(textwrap.dedent(inspect.getsource(cls._visit_and_replace_children))).body[0]
    except (OSError, TypeError, SyntaxError, IndexError):
        return None
    body = [s for s in fn.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    locals_: dict[str, str] = {}  # `f = self.f` before the return
    while len(body) > 1 and isinstance(body[0], ast.Assign) and len(body[0].targets) == 1 \
            and isinstance(body[0].targets[0], ast.Name) and isinstance(body[0].value, ast.Attribute) \
            and isinstance(body[0].value.value, ast.Name) and body[0].value.value.id == "self" \
            and body[0].targets[0].id == body[0].value.attr:
        locals_[body[0].targets[0].id] = body[0].value.attr
        body = body[1:]
    if len(body) == 1 and isinstance(body[0], ast.Return) and isinstance(body[0].value, ast.Attribute) is False \
            and isinstance(body[0].value, ast.Name) and body[0].value.id == "self":
        return ()  # a leaf: `return self`
    if len(body) == 2 and isinstance(body[0], ast.Assign) and isinstance(body[1], ast.Return) \
            and len(body[0].targets) == 1 and isinstance(body[0].targets[0], ast.Name) \
            and isinstance(body[1].value, ast.Name) and body[1].value.id == body[0].targets[0].id:
        body = [ast.Return(value=body[0].value)]  # `ret = Node(...); return ret`
    if not (len(body) == 1 and isinstance(body[0], ast.Return) and isinstance(body[0].value, ast.Call)):
        return None
    call = body[0].value
    if call.args or not (isinstance(call.func, ast.Name) and call.func.id == cls.__name__):
        return None
    spec = []
    for kw in call.keywords:
        if kw.arg is None:
            return None
        kind = _field_kind(kw.arg, kw.value)
        if kind is None or (kind == _OPTIONAL_SEQUENCE) != (kw.arg in locals_):
            return None
        if kind:
            spec.append((kw.arg, kind))
    if {kw.arg for kw in call.keywords} != {f.name for f in dataclasses.fields(cls)}:
        return None  # LibCST's rebuild would reset a field: leave such a type to LibCST
    return tuple(spec)


def _spec(cls: type) -> tuple | None:
    try:
        return _SPECS[cls]
    except KeyError:
        spec = _SPECS[cls] = _read_spec(cls)
        return spec


def _no_sequence(node: cst.CSTNode) -> TypeError:
    return TypeError(f"We got a FlattenSentinel while visiting a {type(node).__name__}. This node's parent does not "
                     "allow for it to be it to be replaced with a sequence.")


def _children(node: cst.CSTNode, spec: tuple, visitor) -> cst.CSTNode:
    """LibCST's `_visit_and_replace_children` for `node`, returning `node` itself when no child changed."""
    changes = None
    for name, kind in spec:
        old = getattr(node, name)
        if kind == 1:  # visit_required
            new = _walk(old, visitor)
            if new is old:
                continue
            if isinstance(new, RemovalSentinel):
                raise TypeError(f"We got a RemovalSentinel while visiting a {type(old).__name__}. This node's parent "
                                "does not allow it to be removed.")
            if isinstance(new, FlattenSentinel):
                raise _no_sequence(old)
        elif kind == 2:  # visit_optional
            if old is None:
                continue
            new = _walk(old, visitor)
            if new is old:
                continue
            if isinstance(new, FlattenSentinel):
                raise _no_sequence(old)
            if isinstance(new, RemovalSentinel):
                new = None
        elif kind == 3:  # visit_sentinel
            if isinstance(old, MaybeSentinel):
                new = MaybeSentinel.DEFAULT
            else:
                new = _walk(old, visitor)
                if isinstance(new, FlattenSentinel):
                    raise _no_sequence(old)
                if isinstance(new, RemovalSentinel):
                    new = MaybeSentinel.DEFAULT
        elif kind == 5:  # visit_body_sequence
            new = _body_sequence(old, visitor)
        else:  # visit_sequence, or an optional one
            if old is None:
                continue
            new = _sequence(old, visitor)
        if new is not old:
            if changes is None:
                changes = {}
            changes[name] = new
    if changes is None:
        return node
    return type(node)(**{f.name: changes.get(f.name, getattr(node, f.name)) for f in dataclasses.fields(node)})


def _sequence(children, visitor):
    out = []
    same = type(children) is tuple  # LibCST makes every visited sequence a tuple
    for child in children:
        new = _walk(child, visitor)
        if new is child:
            out.append(new)
        elif isinstance(new, FlattenSentinel):
            out.extend(new)
            same = False
        elif isinstance(new, RemovalSentinel):
            same = False
        else:
            out.append(new)
            same = False
    return children if same else tuple(out)


def _body_sequence(children, visitor):
    out = []
    same = type(children) is tuple
    for child in children:
        new = _walk(child, visitor)
        if isinstance(new, RemovalSentinel):
            same = False
            continue
        if isinstance(new, FlattenSentinel):
            same = False
            for item in new:
                if (not child._is_removable()) and item._is_removable():
                    continue
                out.append(item)
        else:
            if new is not child:
                same = False
                if (not child._is_removable()) and new._is_removable():
                    continue
            out.append(new)
    return children if same else tuple(out)


def _walk(node: cst.CSTNode, visitor):
    """CSTNode.visit, without rebuilding unchanged nodes."""
    if visitor.on_visit(node):
        spec = _spec(type(node))
        updated = node._visit_and_replace_children(visitor) if spec is None else _children(node, spec, visitor)
    else:
        updated = node
    if visitor._is_visitor:
        visitor.on_leave(node)
        return node
    result = visitor.on_leave(node, updated)
    if result is not updated and not isinstance(result, (cst.CSTNode, RemovalSentinel, FlattenSentinel)):
        raise CSTValidationError("Expected a node of type CSTNode or a RemovalSentinel, "
                                 f"but got a return value of {type(result).__name__}")
    return result


def visit(node: cst.CSTNode, visitor: "Transformer | Visitor"):
    """`node.visit(visitor)` for this module's visitors and transformers, unchanged nodes not rebuilt."""
    result = _walk(node, visitor)
    if isinstance(node, cst.Module) and isinstance(result, RemovalSentinel):
        return node.with_changes(body=(), header=(), footer=())
    return result


class Transformer(_Dispatch, cst.CSTTransformer):
    _is_visitor = False

    def on_leave(self, original_node, updated_node):
        fn = self.leave_hook(type(original_node))
        return updated_node if fn is None else fn(self, original_node, updated_node)


class Visitor(_Dispatch, cst.CSTVisitor):
    _is_visitor = True

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
