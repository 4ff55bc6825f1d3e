"""The inputs a repo feeds the unit it builds: `net = Net(); y = net(torch.randn(1, 3, 32, 32))` in a
`__main__` block, a test or a script is the forward's input as the repo runs it (a LeNet whose Linear
expects 28x28 images says so nowhere else). Static, in the CLI process (no torch): only tensor
factories whose sizes are literals or constants the renderer resolves (`torch.randn(batch, 3, size,
size)`), passed directly or through a name assigned in the same scope.
"""
from __future__ import annotations

import ast
import math

import numpy as np

# factory -> the value range it draws from (None: standard normal; zeros/ones/empty are drawn normal too:
# a constant input would check little)
_FACTORIES = {"randn": None, "rand": (0.0, 1.0), "zeros": None, "ones": None, "empty": None, "randint": "int"}
_DTYPES = {"long": "int64", "int64": "int64", "int": "int32", "int32": "int32", "float": "float32",
           "float32": "float32", "float64": "float64", "double": "float64", "bool": "bool"}
BUDGET = 1 << 17  # elements of an input above which a smaller copy (halved image axes) is tried first


def call_inputs(index, f, call: ast.Call, chain: list[int], render) -> list[list[dict]]:
    """Input sizes (each a list of descriptors) for the object CALL builds, from where the repo calls it;
    RENDER(node, line) resolves an expression to literal text."""
    for use in _uses(index, f, call, chain):
        described = [_describe(a, use.lineno, f, chain, render) for a in use.args]
        if use.keywords or not described or None in described:
            continue
        smaller = _smaller(described)
        return [smaller, described] if smaller else [described]
    return []


def _uses(index, f, call: ast.Call, chain: list[int]):
    """Calls of the built object: `Net(...)(x)`, or `net(x)` after `net = Net(...)` in the same scope."""
    for node in ast.walk(f.tree):
        if isinstance(node, ast.Call) and node.func is call:
            yield node
        elif isinstance(node, ast.Assign) and node.value is call and len(node.targets) == 1 \
                and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            # until the name is bound again in the scope (`m = A(); m(x); m = B(); m(y)`): the nearest uses first
            rebound = min((ln for ln, _ in f.scopes.get(chain[0], {}).get(name, []) if ln > call.lineno),
                          default=float("inf"))
            uses = [use for g, use, use_chain in index.calls_named(name) if g is f and use_chain[0] == chain[0]
                    and call.lineno < use.lineno < rebound and isinstance(use.func, ast.Name)]
            yield from sorted(uses, key=lambda u: u.lineno)


def _describe(arg: ast.expr, line: int, f, chain: list[int], render) -> dict | None:
    if isinstance(arg, ast.Name):  # `x = torch.randn(...)` earlier in the scope
        for scope in chain:
            assigns = [v for ln, v in f.scopes.get(scope, {}).get(arg.id, []) if ln < line]
            if assigns:
                return _describe(assigns[-1], line, f, chain, render)
        return None
    if isinstance(arg, ast.Constant) and isinstance(arg.value, (int, float, bool)):
        return {"value": arg.value}
    if isinstance(arg, ast.Call) and isinstance(arg.func, ast.Attribute) and arg.func.attr in ("tensor", "LongTensor") \
            and len(arg.args) == 1:
        return _written(arg, _literal(arg.args[0], line, render))
    if not (isinstance(arg, ast.Call) and isinstance(arg.func, ast.Attribute) and arg.func.attr in _FACTORIES):
        return None
    kind = _FACTORIES[arg.func.attr]
    sizes = [_literal(a, line, render) for a in arg.args]
    if None in sizes:
        return None
    if kind == "int":  # randint(high, size) / randint(low, high, size)
        if len(sizes) not in (2, 3) or not isinstance(sizes[-1], (tuple, list)):
            return None
        low, high = (0, sizes[0]) if len(sizes) == 2 else sizes[:2]
        shape = list(sizes[-1])
    else:
        shape = list(sizes[0]) if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)) else sizes
        low = high = None
    if not shape or not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in shape):
        return None
    dtype = "int64" if kind == "int" else "float32"
    for k in arg.keywords:
        if k.arg == "dtype" and isinstance(k.value, ast.Attribute):
            dtype = _DTYPES.get(k.value.attr, dtype)
    out = {"shape": shape, "dtype": dtype, "_batch": 0}
    if dtype.startswith("int"):
        out.update(low=int(low or 0), high=int(high if high is not None else 10))
    elif kind:
        out.update(low=kind[0], high=kind[1])
    return out


def _written(call: ast.Call, value) -> dict | None:
    """`torch.tensor([[0, 5], [1, 7]])`: its shape, and for integers (indices, class labels) the range the
    written values span; None unless VALUE is a non-empty rectangular nest of numbers."""
    shape, level = [], value
    while isinstance(level, (list, tuple)):
        if not level:
            return None
        shape.append(len(level))
        level = level[0]
    flat = np.asarray(value, dtype=object).ravel() if shape else []
    if not shape or len(flat) != math.prod(shape) or not all(isinstance(v, (int, float)) for v in flat):
        return None
    ints = call.func.attr == "LongTensor" or all(isinstance(v, int) and not isinstance(v, bool) for v in flat)
    if any(k.arg == "dtype" and isinstance(k.value, ast.Attribute) and k.value.attr in _DTYPES for k in call.keywords):
        ints = _DTYPES[next(k.value.attr for k in call.keywords if k.arg == "dtype")].startswith("int")
    if not ints:
        return {"shape": shape, "dtype": "float32", "_batch": 0}
    columns = np.asarray(value).reshape(-1, shape[-1]).max(axis=0) if len(shape) >= 2 else None
    # a table of categories (one column per feature, each with its own count): each column its own bound
    high = [int(c) + 1 for c in columns] if columns is not None else int(max(flat)) + 1
    return {"shape": shape, "dtype": "int64", "_batch": 0, "low": min(0, int(min(flat))), "high": high}


def _literal(node: ast.expr, line: int, render):
    text = render(node, line)
    if text is None:
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def _smaller(described: list[dict]) -> list[dict] | None:
    """The same inputs with the image axes of 4-D/5-D float tensors halved until each fits BUDGET."""
    out, changed = [], False
    for d in described:
        shape = d.get("shape")
        if shape and len(shape) in (4, 5) and d["dtype"].startswith("float"):
            shape = list(shape)
            while math.prod(shape) > BUDGET and min(shape[2:]) >= 32:
                shape = shape[:2] + [n // 2 for n in shape[2:]]
            if shape != d["shape"]:
                d, changed = {**d, "shape": shape}, True
        out.append(d)
    return out if changed else None
