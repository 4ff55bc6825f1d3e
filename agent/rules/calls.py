"""Rewrite one bound torch call into its MindSpore target, as the KB entry's data says."""
from __future__ import annotations

import ast
import functools
import re
import warnings

import libcst as cst

from agent.kb.schema import Entry, Target
from agent.kb.store import helper_name  # noqa: F401 - the rules name it here
from agent.rules.signature import Binding
from agent.scan.names import parse_python

_EMPTY = cst.Module([])
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class Unconvertible(Exception):
    """The call cannot be expressed with this target; the reason goes into a marker."""


class DependsOnRuntime(Unconvertible):
    """An unsupported argument whose value is only known at run time (`bias=config.bias`)."""


def code(node: cst.CSTNode) -> str:
    return _EMPTY.code_for_node(node)


def _same_value(a: str, b: str | None) -> bool:
    if b is None:
        return False
    if a.strip() == b.strip():
        return True
    try:
        return ast.literal_eval(a) == ast.literal_eval(b)
    except (ValueError, SyntaxError):
        return False


def _atomic(src: str) -> bool:
    """Source that needs no parentheses of its own in a template (`{self}.long()`): a name, a literal, a
    call, attribute or subscript, or something already in parentheses."""
    src = src.strip()
    if re.fullmatch(r"[\w.]+|'[^']*'|\"[^\"]*\"|-?\d+(\.\d*)?(e-?\d+)?", src):
        return True
    try:
        node = parse_python(src, mode="eval").body
    except SyntaxError:
        return False
    return isinstance(node, (ast.Call, ast.Attribute, ast.Subscript, ast.List, ast.Dict)) or _enclosed(src)


def _enclosed(src: str) -> bool:
    """`(a + b)`: the first parenthesis closes at the last character."""
    if not src.startswith("("):
        return False
    depth = 0
    for i, ch in enumerate(src):  # brackets inside strings would mislead this count: such code stays wrapped
        if ch in "'\"":
            return False
        depth += ch in "([{"
        depth -= ch in ")]}"
        if depth == 0:
            return i == len(src) - 1
    return False


# value templates an argument of these kinds already satisfies: it stays as written
_NUMBER = (cst.Integer, cst.UnaryOperation)
SATISFIED_BY = {
    "list({v})": (cst.List, cst.ListComp),
    "_ms_pool_arg({v})": (*_NUMBER, cst.Tuple),  # only a list needs it (MindSpore's pools refuse lists)
    "_ms_pool_arg({v}, True)": _NUMBER,
    "{v}.astype(mindspore.bool_)": (cst.Comparison,),  # a comparison is already a bool tensor
}
# arithmetic that never makes a list or tuple (`+` and `*` may: `[k] * 2`)
_NUMERIC_OPS = (cst.FloorDivide, cst.Divide, cst.Subtract, cst.Modulo, cst.Power)


_LOGICAL_OPS = (cst.BitAnd, cst.BitOr, cst.BitXor)


def _satisfies(template: str, node: cst.BaseExpression) -> bool:
    kinds = SATISFIED_BY.get(template, ())
    if cst.Comparison in kinds:  # `(x > 0) & (x < 1)`, `~(x > 0)`: logic over comparisons is bool too
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, _LOGICAL_OPS):
            return _satisfies(template, node.left) and _satisfies(template, node.right)
        if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.BitInvert):
            return _satisfies(template, node.expression)
    if cst.Integer in kinds and isinstance(node, cst.BinaryOperation) and isinstance(node.operator, _NUMERIC_OPS):
        return True
    return isinstance(node, kinds)


def _fill(template: str, binding: Binding, own: str | None = None, receiver: str | None = None,
          none_ok: bool = False) -> str | None:
    """Replace {v} with the argument's source and {name} with another bound argument's source."""
    missing = False

    def sub(m: re.Match) -> str:
        nonlocal missing
        key = m.group(1)
        if key == "v":
            src = own
        elif key == "self":
            src = receiver
        elif key in binding.args:
            src = code(binding.args[key].node.value)
        elif key == binding.vararg_name and binding.varargs:  # *dims: a tuple of what the call passed
            src = "(" + ", ".join(("*" if a.node.star == "*" else "") + code(a.node.value)
                                  for a in binding.varargs) + ",)"
        else:
            src = binding.default_of(key)
        if src is None or (src == "None" and not none_ok):
            missing = True
            return "None"
        return src if _atomic(src) else f"({src})"

    out = _PLACEHOLDER.sub(sub, template)
    return None if missing else _fold(out)


@functools.lru_cache(maxsize=8192)
def _fold(expr: str) -> str:
    """`1 - 0.1` -> `0.9`: templates over numeric literals read better folded."""
    try:
        tree = parse_python(expr, mode="eval")
    except SyntaxError:
        return expr
    nodes = list(ast.walk(tree))
    if all(isinstance(n, (ast.Expression, ast.Constant)) for n in nodes):
        return expr
    for n in nodes:
        if isinstance(n, ast.Name) and n.id not in _FOLD_BUILTINS or not isinstance(n, _FOLD_NODES):
            return _fold_str_tests(tree, expr)
    try:  # literals, operators and a few pure builtins only: safe to evaluate here
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = eval(compile(tree, "<kb>", "eval"), {"__builtins__": _FOLD_BUILTINS})
    except Exception:
        return expr
    if isinstance(value, float):
        value = round(value, 12)
    if not isinstance(value, (int, float, str, bool, tuple)):
        return expr
    try:  # inf and nan print as names (`inf`), which are no literal; a huge int refuses to print
        if ast.literal_eval(repr(value)) == value:
            return repr(value)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        pass
    return expr


class _NotAString(ast.NodeTransformer):
    """`isinstance(k // 2, str)` is False (arithmetic never gives a string), and `a if False else b` is b."""

    def visit_Call(self, node: ast.Call):
        self.generic_visit(node)
        if (isinstance(node.func, ast.Name) and node.func.id == "isinstance" and len(node.args) == 2
                and isinstance(node.args[1], ast.Name) and node.args[1].id == "str"
                and isinstance(node.args[0], ast.BinOp) and isinstance(node.args[0].op, _AST_NUMERIC_OPS)):
            return ast.copy_location(ast.Constant(False), node)
        return node

    def visit_IfExp(self, node: ast.IfExp):
        self.generic_visit(node)
        if isinstance(node.test, ast.Constant) and isinstance(node.test.value, bool):
            return node.body if node.test.value else node.orelse
        return node


_AST_NUMERIC_OPS = (ast.FloorDiv, ast.Sub, ast.Div, ast.Pow)  # as _NUMERIC_OPS, in ast's terms


def _fold_str_tests(tree: ast.Expression, expr: str) -> str:
    if "isinstance(" not in expr:
        return expr
    new = _NotAString().visit(tree)
    return ast.unparse(new) if new is not tree or ast.dump(new) != ast.dump(parse_python(expr, mode="eval")) else expr


_FOLD_BUILTINS = {"isinstance": isinstance, "int": int, "float": float, "str": str, "tuple": tuple,
                  "bool": bool, "len": len, "list": list}
_FOLD_NODES = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant, ast.operator, ast.unaryop, ast.IfExp,
               ast.Call, ast.Name, ast.Load, ast.Tuple, ast.List, ast.Compare, ast.cmpop, ast.BoolOp, ast.boolop,
               ast.Subscript)


def _kw(name: str, value: cst.BaseExpression) -> cst.Arg:
    return cst.Arg(value=value, keyword=cst.Name(name), equal=cst.AssignEqual(
        whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")))


MS_NAME = re.compile(r"\bmindspore(?:\.[A-Za-z_][A-Za-z0-9_]*)+")


def _expr(text: str, render) -> cst.BaseExpression:
    """Parse a filled template; MindSpore names in it are rendered through the file's import plan."""
    if render is not None:
        text = MS_NAME.sub(lambda m: render(m.group(0)), text)
    return expression(text)


@functools.lru_cache(maxsize=8192)
def expression(text: str) -> cst.BaseExpression:
    """Parsed once: nodes are immutable, so one tree serves every place the same text goes."""
    return cst.parse_expression(text)


def _literal(src: str) -> bool:
    try:
        ast.literal_eval(src)
    except (ValueError, SyntaxError):
        return False
    return True


def build_args(binding: Binding, target: Target, render=None) -> list[cst.Arg]:
    """The target call's argument list. `render` turns a dotted MindSpore name into source text."""
    _refuse_unsupported(binding, target)
    items, first_dropped = _renamed_args(binding, target, render)
    out, present = _placed_args(items, target, first_dropped)
    _add_defaults(out, present, binding, target, render)
    _layer_dtype(out, binding, target, render)
    _builtin_dtype(out, render)
    return out


# torch takes Python's types as dtypes (`torch.ones(n, dtype=bool)`); MindSpore's functions refuse them
_BUILTIN_DTYPES = {"bool": "mindspore.bool_", "float": "mindspore.float64", "int": "mindspore.int64",
                   "complex": "mindspore.complex128"}


def _builtin_dtype(out: list[cst.Arg], render) -> None:
    for i, a in enumerate(out):
        if a.keyword is not None and a.keyword.value == "dtype" and isinstance(a.value, cst.Name) \
                and a.value.value in _BUILTIN_DTYPES:
            out[i] = a.with_changes(value=_expr(_BUILTIN_DTYPES[a.value.value], render))


_LAYERS = ("mindspore.nn.", "mindspore.mint.nn.")
_LAYER_HELPER = re.compile(r"^class\s+\w+\(\s*mindspore\.(mint\.)?nn\.\w+\s*\)", re.M)  # a helper extending a layer


def _layer_dtype(out: list[cst.Arg], binding: Binding, target: Target, render) -> None:
    """`nn.Linear(..., dtype=dtype)` passing on a parameter whose torch default is None (as layers built
    with `device=None, dtype=None` factory keywords do): MindSpore's layers refuse `dtype=None` (their
    default is float32), so a variable passed on becomes `dtype if dtype is not None else float32`."""
    layer = target.api.startswith(_LAYERS) or bool(target.helper and _LAYER_HELPER.search(target.helper))
    if not layer or "dtype" in target.defaults_from or binding.default_of("dtype") != "None":
        return
    for i, a in enumerate(out):
        if a.keyword is not None and a.keyword.value == "dtype" and isinstance(a.value, cst.Name) \
                and a.value.value != "None":
            v = code(a.value)
            out[i] = _kw("dtype", _expr(f"{v} if {v} is not None else mindspore.float32", render))


def _refuse_unsupported(binding: Binding, target: Target, runtime: type[Exception] = DependsOnRuntime) -> None:
    """An argument the target does not support, given a value other than torch's default, stops the
    call: `runtime` when the value is not a literal (an adapter can decide at run time)."""
    for name, reason in target.unsupported.items():
        bound = binding.args.get(name)
        if bound is not None and not _same_value(code(bound.node.value), binding.default_of(name)):
            src = code(bound.node.value)
            error = runtime if not _literal(src) else Unconvertible
            raise error(f"argument {name}={src} not supported: {reason}")


def _renamed_args(binding: Binding, target: Target, render) -> tuple[list[tuple], int]:
    """The bound arguments in torch's order as (order, torch name, target name, arg, was positional),
    renamed, dropped, their values rewritten and varargs packed as the target says; and the order of
    the first positional argument dropped (10**6 when none is)."""
    items: list[tuple[int, str | None, str | None, cst.Arg, bool]] = []
    if binding.varargs:
        if target.pack_varargs and (len(binding.varargs) > 1 or binding.varargs[0].node.star == "*"):
            # zeros(2, 3) -> zeros((2, 3)); zeros(*shape) -> zeros((*shape,))
            tup = cst.Tuple([cst.StarredElement(b.node.value) if b.node.star == "*" else cst.Element(b.node.value)
                             for b in binding.varargs])
            items.append((binding.varargs[0].index, None, None, cst.Arg(tup), True))
        elif target.pack_varargs and _list_valued(binding.varargs[0].node.value):
            # repeat([c, 1] + [1] * n) -> tile(tuple([c, 1] + [1] * n)): MindSpore's sizes are tuples
            b = binding.varargs[0]
            value = cst.Call(func=cst.Name("tuple"), args=[cst.Arg(b.node.value)])
            items.append((b.index, None, None, b.node.with_changes(value=value), True))
        else:
            items.extend((b.index, None, None, b.node, True) for b in binding.varargs)
    first_dropped = 10**6  # a dropped positional argument shifts every later one: those become keywords
    for name, bound in binding.args.items():
        new_name = target.args.get(name, name)
        if new_name is None:
            if bound.positional:
                first_dropped = min(first_dropped, bound.index)
            continue
        node = bound.node
        if name in target.values and not _satisfies(target.values[name], node.value):
            filled = _fill(target.values[name], binding, code(node.value))
            if filled is None:
                raise Unconvertible(f"cannot rewrite argument {name}")
            node = node.with_changes(value=_expr(filled, render))
        if name == binding.vararg_name and target.pack_varargs:
            new_name = target.pack_varargs
        items.append((bound.index, name, new_name, node, bound.positional))
    items.sort(key=lambda t: t[0])
    return items, first_dropped


def _list_valued(node: cst.BaseExpression) -> bool:
    """A list as code writes one: a display, a comprehension, or list arithmetic (`[c] + [1] * n`)."""
    if isinstance(node, (cst.List, cst.ListComp)):
        return True
    return isinstance(node, cst.BinaryOperation) and (_list_valued(node.left) or _list_valued(node.right))


def _placed_args(items: list[tuple], target: Target, first_dropped: int) -> tuple[list[cst.Arg], set[str]]:
    """The arguments as the target takes them: positional while the target's parameter order allows,
    by keyword from the first that may not stay in place; and the target names given."""
    out: list[cst.Arg] = []
    present: set[str] = set()
    positional_ok = True
    pos_index = 0
    for index, torch_name, name, node, was_positional in items:
        if name is None:  # varargs stay positional
            out.append(node.with_changes(comma=cst.MaybeSentinel.DEFAULT))
            pos_index += 1
            continue
        present.add(name)
        keep_positional = False
        if was_positional and positional_ok:
            if target.positional is not None:
                keep_positional = pos_index < len(target.positional) and target.positional[pos_index] == name
            else:
                # without the target's parameter order only a pure rename may keep torch's positions;
                # otherwise just the leading argument (the input) stays positional, the rest by keyword
                keep_positional = torch_name == name and index < first_dropped and (
                    not _may_reorder(target) or pos_index == 0)
        if keep_positional:
            out.append(node.with_changes(keyword=None, equal=cst.MaybeSentinel.DEFAULT, comma=cst.MaybeSentinel.DEFAULT))
            pos_index += 1
        else:
            positional_ok = False
            out.append(_kw(name, node.value))
    return out, present


def _add_defaults(out: list[cst.Arg], present: set[str], binding: Binding, target: Target, render) -> None:
    """The target's `defaults` the call lacks, and its `defaults_from` (a keyword filled from another
    argument where the call leaves it out or None), appended to `out`."""
    for name, template in target.defaults.items():
        if name in present:
            continue
        filled = _fill(template, binding)
        if filled is not None:
            out.append(_kw(name, _expr(filled, render)))
            present.add(name)
    for name, template in target.defaults_from.items():
        filled = _fill(template, binding)
        if filled is None:
            continue
        given = [i for i, a in enumerate(out) if a.keyword is not None and a.keyword.value == name]
        if given and code(out[given[0]].value).strip() == "None":
            out[given[0]] = _kw(name, _expr(filled, render))
        elif given and isinstance(out[given[0]].value, (cst.Name, cst.Attribute)):
            v = code(out[given[0]].value)  # a variable may hold None at run time
            out[given[0]] = _kw(name, _expr(f"{v} if {v} is not None else {filled}", render))
        elif not given and name not in present:
            out.append(_kw(name, _expr(filled, render)))


def fill_template(binding: Binding, target: Target, render, receiver: cst.BaseExpression | None) -> cst.BaseExpression:
    """A target given as a whole-call template: every placeholder filled from the bound call. An unsupported
    argument given a value known only at run time (`max_norm=self.max_norm`, None in practice) raises
    DependsOnRuntime: an adapter with torch's signature then checks it when called."""
    _refuse_unsupported(binding, target)
    filled = _fill(target.template, binding, receiver=code(receiver) if receiver is not None else None,
                   none_ok=True)
    if filled is None:
        raise Unconvertible(f"the call lacks an argument that {target.api} needs")
    return _expr(filled, render)


def _may_reorder(target: Target) -> bool:
    """A target whose parameters are renamed or extended may order them differently from torch."""
    return bool(any(v is not None and v != k for k, v in target.args.items()) or target.defaults
                or target.defaults_from or target.pack_varargs)


def has_arg_rules(target: Target) -> bool:
    return bool(target.args or target.values or target.defaults or target.defaults_from or target.unsupported
                or target.pack_varargs)


def describe(entry: Entry, target: Target) -> str:
    return f"{entry.api} -> {target.api}"


def fix_commas(args: list[cst.Arg]) -> list[cst.Arg]:
    """The argument list without a trailing comma after its last argument."""
    if not args:
        return args
    return [*args[:-1], args[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)]
