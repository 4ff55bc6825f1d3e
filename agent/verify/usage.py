"""What a function does with each of its parameters, read from its source: the kind of value to feed it.

Names say little (`n`, `size`, `t`, `x_shape`); uses say more. A parameter passed to `range`/`arange`,
given as a size to `zeros`/`view`/`reshape` or to a layer's constructor (`nn.Conv2d(inp, oup, 1)`), as
a `linspace` bound or an `F.pad` amount, or used as a slice bound is an integer; one passed to `len` or
splatted is a shape tuple; one unpacked into two or three names (`ph, pw = patch_size`) a pair
(constructors only: a forward unpacks tuples of tensors); one whose `.shape` is unpacked into N names
(`b, n, d = x.shape`) a tensor of rank N; one used as the index of `gather`/`index_select`/`embedding`/
`one_hot` is an integer tensor (a vector for `index_select`); one splatted as keywords (`f(x, **f_args)`)
a mapping; one checked by `isinstance(p, SomeClass)` (a wrapper asserting the model it wraps) is an
instance of that class; one whose module methods are called (`model.eval()`, `net.parameters()`) a model; one whose tensor methods
are called (`scale.unsqueeze(1)`) and that no other use tells more of, a tensor. Parameters with no such use
are left to the name-based guesses.
"""
from __future__ import annotations

import ast
import functools
import inspect
import os
import re
import textwrap

from agent.scan.names import parse_python

INT, SHAPE, INDEX, VECTOR_INDEX, MAPPING = "int", "shape", "index", "vector index", "mapping"
LENGTH = "length:"  # + how many items: `ph, pw = patch_size`, `assert len(depth) == 3`
INSTANCE = "instance:"  # + the class's name, as the function's module spells it
RANK = "rank:"  # + how many axes: `b, h, w, d = q.shape` unpacks a tensor of rank 4
MODULE = "module"  # `model.eval()`, `net.parameters()`: a model (the Linear stand-in, inputs.stand_in)
TENSOR = "tensor"  # `scale.unsqueeze(1)`: a tensor, whatever its name says (`scale` alone reads as a number)
_TENSOR_METHODS = {"unsqueeze", "squeeze", "view", "reshape", "permute", "transpose", "flatten", "expand", "expand_as",
                   "chunk", "split", "softmax", "sigmoid", "tanh", "float", "contiguous", "masked_fill", "matmul", "bmm",
                   "type_as", "clamp", "norm"}
_MODULE_METHODS = {"eval", "train", "parameters", "named_parameters", "modules", "named_modules", "children",
                   "named_children", "state_dict", "load_state_dict", "zero_grad", "buffers", "named_buffers"}

# calls whose positional arguments (from the given position on) are sizes / counts
_SIZE_ARGS = {"range": 0, "arange": 0, "zeros": 0, "ones": 0, "empty": 0, "full": 0, "randn": 0, "rand": 0,
              "eye": 0, "linspace": 0, "logspace": 0, "view": 0, "reshape": 0, "expand": 0, "repeat": 0, "new_zeros": 0,
              "new_ones": 0, "new_empty": 0, "tril_indices": 0, "triu_indices": 0, "randperm": 0, "narrow": 2}
# calls whose argument at this position is an index tensor (method form counts `self` out)
_INDEX_ARGS = {"gather": 1, "index_select": 1, "take_along_dim": 1, "scatter": 1, "scatter_add": 1,
               "index_add": 1, "embedding": 0, "one_hot": 0, "take": 0}
# layer constructors whose positional arguments are sizes (channels, features, kernel sizes)
_LAYER_SIZES = {"Linear", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
                "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LayerNorm", "GroupNorm", "Embedding", "InstanceNorm2d"}
_VECTOR_INDEX = {"index_select", "index_add", "index_copy", "index_fill"}  # the index is one-dimensional


def parameter_kinds(fn) -> dict[str, str]:
    """{parameter name: INT | SHAPE | INDEX | VECTOR_INDEX | MAPPING | LENGTH + N | RANK + N | INSTANCE + class
    name} for the parameters whose use tells;
    {} without source."""
    code = getattr(inspect.unwrap(fn) if callable(fn) else fn, "__code__", None)
    func = _definition(code.co_filename, code.co_firstlineno, code.co_name) if code is not None else None
    if func is None:
        try:
            tree = parse_python(textwrap.dedent(inspect.getsource(fn)))
        except (OSError, TypeError, SyntaxError, IndentationError):
            return {}
        func = next((n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))), None)
    if func is None:
        return {}
    return dict(_kinds(func))


@functools.lru_cache(maxsize=256)
def _file_functions(filename: str, mtime_ns: int) -> dict[tuple[int, str], ast.AST]:
    """Every function definition of a source file by (first line, decorators included; name): one parse
    per file, however many of its functions are asked about."""
    try:
        with open(filename, encoding="utf-8") as f:
            tree = parse_python(f.read(), filename)
    except (OSError, SyntaxError, ValueError, UnicodeDecodeError):
        return {}
    found = {}
    for n in ast.walk(tree):
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
            first = min([n.lineno, *(d.lineno for d in n.decorator_list)])
            found[(first, n.name)] = n
    return found


def _definition(filename: str, first_line: int, name: str):
    try:
        mtime = os.stat(filename).st_mtime_ns
    except OSError:
        return None
    return _file_functions(filename, mtime).get((first_line, name))


def _shape_of(node):
    """X for `X.shape` and `X.size()`, else None."""
    if isinstance(node, ast.Call) and not node.args and isinstance(node.func, ast.Attribute) and node.func.attr == "size":
        node = node.func
    elif not (isinstance(node, ast.Attribute) and node.attr == "shape"):
        return None
    return node.value


def _spread_shape(names: list, value) -> tuple | None:
    """(X, RANK + N) for `a, b, c, extra = *X.shape, other`: the names that the spread shape fills, the
    ones before a starred target when there is one (`b, f, _, h, w, *_, dev = *video.shape, video.device`)."""
    if not (isinstance(value, ast.Tuple) and value.elts and isinstance(value.elts[0], ast.Starred)):
        return None
    shape_of = _shape_of(value.elts[0].value)
    if shape_of is None:
        return None
    starred = [i for i, n in enumerate(names) if isinstance(n, ast.Starred)]
    rank = starred[0] if starred else len(names) - (len(value.elts) - 1)
    return (shape_of, RANK + str(rank)) if 1 <= rank <= 6 and len(starred) <= 1 else None


_EINOPS = {"rearrange", "reduce", "repeat"}
_EINOPS_AXIS = re.compile(r"\([^)]*\)|\S+")


def _einops_rank(callee: str | None, args: list) -> int | None:
    """How many axes an einops call's pattern gives its input (none with an ellipsis)."""
    if callee not in _EINOPS or len(args) < 2 or not isinstance(args[1], ast.Constant) \
            or not isinstance(args[1].value, str) or "->" not in args[1].value:
        return None
    left = args[1].value.split("->")[0]
    if "..." in left or "…" in left:
        return None
    return len(_EINOPS_AXIS.findall(left)) or None


@functools.lru_cache(maxsize=1024)
def _kinds(func: ast.AST) -> tuple[tuple[str, str], ...]:
    """(parameter, kind) pairs of one parsed function definition (cached: the tree is the file's)."""
    params = {a.arg for a in [*func.args.posonlyargs, *func.args.args, *func.args.kwonlyargs]} - {"self", "cls"}
    kinds: dict[str, str] = {}
    derived = _arithmetic_locals(func, params)  # `half = dim // 2`: half -> {dim}
    tensors: list[str] = []

    def mark(node, kind: str) -> None:
        if isinstance(node, ast.Name) and node.id in params:
            kinds.setdefault(node.id, kind)
        elif isinstance(node, ast.Name) and kind == INT:  # a size computed from parameters: they are integers
            for p in derived.get(node.id, ()):
                kinds.setdefault(p, INT)

    for node in ast.walk(func):  # breadth first: `len(p) == 3` is seen before the `len(p)` inside it
        if (isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.Eq)
                and isinstance(node.left, ast.Call) and getattr(node.left.func, "id", None) == "len"
                and len(node.left.args) == 1 and isinstance(node.comparators[0], ast.Constant)
                and isinstance(node.comparators[0].value, int)):
            mark(node.left.args[0], LENGTH + str(node.comparators[0].value))
        elif isinstance(node, ast.Call):
            callee = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
            if callee in _MODULE_METHODS:  # `net.parameters()` (a bare name called so is no parameter)
                mark(getattr(node.func, "value", None), MODULE)
            elif callee in _TENSOR_METHODS and isinstance(node.func, ast.Attribute) \
                    and isinstance(node.func.value, ast.Name):  # `scale.unsqueeze(1)`, unless a use says more
                tensors.append(node.func.value.id)
            if callee == "len" and node.args:
                mark(node.args[0], SHAPE)
            if callee == "isinstance" and len(node.args) == 2:
                classes = node.args[1].elts if isinstance(node.args[1], ast.Tuple) else [node.args[1]]
                if classes and isinstance(classes[0], ast.Name):  # `isinstance(m, (A, B))`: an A
                    mark(node.args[0], INSTANCE + classes[0].id)
                elif classes and getattr(classes[0], "attr", None) == "Module":  # `isinstance(m, nn.Module)`
                    mark(node.args[0], MODULE)
            for a in node.args:
                if isinstance(a, ast.Starred):
                    mark(a.value, SHAPE)
            rank = _einops_rank(callee, node.args)
            if rank:  # `rearrange(pos, 'b i c -> b i 1 c')`: pos has three axes
                mark(node.args[0], RANK + str(rank))
            if callee == "permute" and len(node.args) > 1 and all(isinstance(a, ast.Constant) for a in node.args):
                mark(node.func.value, RANK + str(len(node.args)))  # `z.permute(0, 2, 3, 1)`: z has four axes
            if callee in _LAYER_SIZES:  # `nn.Conv2d(inp, oup, 1)` in a builder: channel counts
                for a in node.args:
                    mark(a, INT)
            _mark_call_arguments(node, callee, mark)
        elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Tuple):
            names = node.targets[0].elts
            spread = _spread_shape(names, node.value)
            if spread is not None:  # `b, n, _, h = *x.shape, self.heads`: x has the axes named before the rest
                mark(*spread)
                continue
            if any(isinstance(n, ast.Starred) for n in names):
                continue
            shape_of = _shape_of(node.value)
            if shape_of is not None:  # `b, n, d = x.shape`: x has that many axes
                mark(shape_of, RANK + str(len(names)))
            elif len(names) in (2, 3, 4):  # `ph, pw = patch_size`: a pair
                mark(node.value, LENGTH + str(len(names)))
        elif isinstance(node, ast.Slice):
            for bound in (node.lower, node.upper):
                if bound is not None:
                    mark(bound, INT)
    for name in tensors:
        if name in params:
            kinds.setdefault(name, TENSOR)
    return tuple(kinds.items())


def consuming_layers(fn) -> dict[str, str]:
    """{parameter name: the attribute of `self` whose call first takes it as input} in FN's source, the
    parameter reaching the call through plain function calls only (`self.temb_proj(nonlinearity(temb))`:
    temb -> 'temb_proj'); a parameter reaching a layer only inside another layer's call counts for that one."""
    code = getattr(inspect.unwrap(fn) if callable(fn) else fn, "__code__", None)
    func = _definition(code.co_filename, code.co_firstlineno, code.co_name) if code is not None else None
    if func is None:
        return {}
    found: dict[str, str] = {}

    def reached(node) -> set[str]:  # parameter names NODE passes on, through calls that are not layers
        if isinstance(node, ast.Name):
            return {node.id}
        if isinstance(node, ast.Call) and not _self_call(node):
            return {n for a in [*node.args, *(k.value for k in node.keywords)] for n in reached(a)}
        if isinstance(node, ast.Starred):
            return reached(node.value)
        return set()

    for node in sorted((n for n in ast.walk(func) if _self_call(n)), key=lambda n: (n.lineno, n.col_offset)):
        for name in (reached(node.args[0]) if node.args else set()):
            found.setdefault(name, node.func.attr)
    return found


def _self_call(node) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
        isinstance(node.func.value, ast.Name) and node.func.value.id == "self"


def _arithmetic_locals(func: ast.AST, params: set[str]) -> dict[str, set[str]]:
    """{local name: the parameters it is computed from} for locals assigned arithmetic over parameters and
    numbers only (`half = dim // 2`)."""
    out: dict[str, set[str]] = {}
    for node in ast.walk(func):
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            continue
        parts = list(ast.walk(node.value))
        if all(isinstance(n, (ast.BinOp, ast.UnaryOp, ast.Name, ast.Constant, ast.operator, ast.unaryop, ast.Load))
               for n in parts) and isinstance(node.value, (ast.BinOp, ast.UnaryOp)):
            used = {n.id for n in parts if isinstance(n, ast.Name)}
            if used and used <= params | set(out):
                out[node.targets[0].id] = {p for u in used for p in ({u} if u in params else out[u])}
    return out

def _mark_call_arguments(node: ast.Call, callee, mark) -> None:
    """The kinds a call's arguments take from the callee: sizes, padding amounts, indices, spread keywords."""
    if callee in _SIZE_ARGS:
        for kw in node.keywords:  # `torch.linspace(-1., 1., steps=h)`
            if kw.arg in ("steps", "end", "size"):
                mark(kw.value, INT)
        for a in node.args[_SIZE_ARGS[callee]:]:
            mark(a, INT)
            if isinstance(a, ast.BinOp):  # arange(size - 1), view(n * n, -1)
                mark(a.left, INT)
                mark(a.right, INT)
    if callee == "pad" and len(node.args) > 1 and isinstance(node.args[1], (ast.Tuple, ast.List)):
        for a in node.args[1].elts:  # F.pad(t, (0, 0, amount, -amount)): padding amounts
            mark(a.operand if isinstance(a, ast.UnaryOp) else a, INT)
            if isinstance(a, ast.BinOp):  # F.pad(t, (0, length - t.shape[-1])): a target length
                mark(a.left, INT)
                mark(a.right, INT)
    if callee in _INDEX_ARGS:
        pos, kind = _INDEX_ARGS[callee], VECTOR_INDEX if callee in _VECTOR_INDEX else INDEX
        if pos < len(node.args):
            mark(node.args[pos], kind)
        for kw in node.keywords:
            if kw.arg in ("index", "indices"):
                mark(kw.value, kind)
    for kw in node.keywords:
        if kw.arg is None:  # `self.f(x, **f_args)`
            mark(kw.value, MAPPING)


def entry_point(module):
    """The method calling MODULE runs: its forward, or its class's own `__call__` where the class overrides
    torch's (a GAN loss written as `def __call__(self, prediction, target_is_real)`)."""
    for cls in type(module).__mro__:
        if cls.__module__.split(".")[0] == "torch":
            break
        if "__call__" in vars(cls):
            return module.__call__
    return module.forward
