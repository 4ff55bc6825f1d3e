"""What a failed `assert a == b` on sizes compared: the two sides, read in the frame that raised it.

`assert x.shape[1:] == self.positional_embedding.shape, "incorrect audio shape"` says nothing of the sizes
in its message; the frame still holds them. On the torch side, after a guessed input failed such an
assertion, the comparison's operands are evaluated again in that frame when they only read names,
attributes, subscripts, `len()` and `.size()`/`.dim()` (nothing the unit defines runs), and the sizes are
appended to the error text for shape_fix (`[compared sizes: (8, 8) != (16, 8)]`).
"""
from __future__ import annotations

import ast
import inspect
import textwrap

_READERS = {"len", "size", "dim", "numel"}


def _reads_only(node: ast.AST) -> bool:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            func = sub.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
            if name not in _READERS:
                return False
        elif not isinstance(sub, (ast.Name, ast.Attribute, ast.Subscript, ast.Constant, ast.Slice, ast.Tuple,
                                  ast.Load, ast.UnaryOp, ast.USub)):
            return False
    return True


def _as_size(value):
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, tuple) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return tuple(value)  # a torch.Size is a tuple
    return None


def _failed_assert(exc: BaseException):
    """(the Assert node, its frame) of the innermost frame of EXC's traceback, or None."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return None
    frame = tb.tb_frame
    try:
        lines, start = inspect.getsourcelines(frame.f_code)
        tree = ast.parse(textwrap.dedent("".join(lines)))
    except (OSError, TypeError, SyntaxError, IndentationError):
        return None
    line = tb.tb_lineno - max(start, 1) + 1
    found = [n for n in ast.walk(tree) if isinstance(n, ast.Assert) and n.lineno <= line <= (n.end_lineno or n.lineno)]
    return (found[-1], frame) if found else None


def compared_sizes(exc: BaseException) -> tuple | None:
    """(seen, wanted) of the first `==` between sizes that fails in the assertion EXC raised, or None."""
    if not isinstance(exc, AssertionError):
        return None
    try:
        failed = _failed_assert(exc)
    except Exception:  # noqa: BLE001 - a frame or source we cannot read: no sizes
        return None
    if failed is None:
        return None
    node, frame = failed
    tests = node.test.values if isinstance(node.test, ast.BoolOp) and isinstance(node.test.op, ast.And) else [node.test]
    for test in tests:
        if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
            continue
        left, right = test.left, test.comparators[0]
        if not (_reads_only(left) and _reads_only(right)):
            continue
        try:
            seen, wanted = (_as_size(eval(compile(ast.Expression(side), "<assert>", "eval"), frame.f_globals,
                                          frame.f_locals)) for side in (left, right))
        except Exception:  # noqa: BLE001 - an operand that does not evaluate alone
            continue
        if seen is not None and wanted is not None and seen != wanted:
            return seen, wanted
    return None


def with_sizes(exc: BaseException) -> str:
    """EXC's text, with the sizes a failed size assertion compared appended."""
    text = str(exc)
    sizes = compared_sizes(exc)
    return f"{text} [compared sizes: {sizes[0]} != {sizes[1]}]" if sizes else text
