"""Bind a LibCST call against a torch signature written as a parameter-list string.

Binding follows Python's rules; a call that does not bind (too many positional arguments, an
unknown keyword, `*args`/`**kwargs` spread into it) is reported, never guessed.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from functools import lru_cache

import libcst as cst

from agent.scan.names import parse_python


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # positional, vararg, keyword_only, varkw
    default: str | None  # source text of the default, None when required


@dataclass
class BoundArg:
    name: str
    node: cst.Arg
    positional: bool
    index: int  # position in the original call


@dataclass
class Binding:
    args: dict[str, BoundArg] = field(default_factory=dict)
    varargs: list[BoundArg] = field(default_factory=list)
    vararg_name: str | None = None
    params: tuple[Param, ...] = ()

    def default_of(self, name: str) -> str | None:
        for p in self.params:
            if p.name == name:
                return p.default
        return None


class BindError(Exception):
    pass


class SpreadArguments(BindError):
    """`f(*args)` / `f(**kwargs)`: which parameters they fill is known only at run time."""


@lru_cache(maxsize=4096)
def parse_signature(signature: str) -> tuple[Param, ...]:
    """'(input, dim=0, *, out=None)' -> Params. Raises ValueError on a malformed string."""
    tree = parse_python(f"def _f{signature}: pass")
    fn = tree.body[0]
    assert isinstance(fn, ast.FunctionDef)
    a = fn.args
    out: list[Param] = []
    positional = a.posonlyargs + a.args
    defaults = [None] * (len(positional) - len(a.defaults)) + [ast.unparse(d) for d in a.defaults]
    for arg, d in zip(positional, defaults):
        if arg.arg != "self":
            out.append(Param(arg.arg, "positional", d))
    if a.vararg:
        out.append(Param(a.vararg.arg, "vararg", None))
    for arg, d in zip(a.kwonlyargs, a.kw_defaults):
        out.append(Param(arg.arg, "keyword_only", ast.unparse(d) if d is not None else None))
    if a.kwarg:
        out.append(Param(a.kwarg.arg, "varkw", None))
    return tuple(out)


_NUMPY_NAMES = {"axis": "dim", "keepdims": "keepdim"}
# torch functions written in Python (torch/functional.py, Tensor.norm calls torch.norm): their own
# signatures, without the argument parser's numpy names
_PYTHON_LEVEL = {"norm", "unique", "unique_consecutive", "split", "stft", "istft", "tensordot", "cdist"}


def takes_numpy_names(api: str, kind: str) -> bool:
    """Whether torch's argument parser takes numpy's `axis`/`keepdims` for API's `dim`/`keepdim`
    (`t.sum(axis=1, keepdims=True)`): its native functions and methods do, its layers and the functions
    written in Python do not."""
    return kind in ("function", "method") and api.rsplit(".", 1)[-1] not in _PYTHON_LEVEL


def bind(call: cst.Call, signature: str, numpy_names: bool = False) -> Binding:
    params = parse_signature(signature)
    b = Binding(params=params)
    positional = [p for p in params if p.kind == "positional"]
    vararg = next((p for p in params if p.kind == "vararg"), None)
    b.vararg_name = vararg.name if vararg else None
    by_name = {p.name: p for p in params if p.kind in ("positional", "keyword_only")}
    has_varkw = any(p.kind == "varkw" for p in params)
    pos_i = 0
    for i, arg in enumerate(call.args):
        if arg.star == "*" and vararg is not None and pos_i >= len(positional) and not b.args.keys() - {
                p.name for p in positional}:
            b.varargs.append(BoundArg(vararg.name, arg, True, i))  # nn.Sequential(*layers)
            continue
        if arg.star:
            raise SpreadArguments(f"call spreads {arg.star}arguments into it; cannot check them against {signature}")
        if arg.keyword is None:
            if pos_i < len(positional):
                p = positional[pos_i]
                b.args[p.name] = BoundArg(p.name, arg, True, i)
                pos_i += 1
            elif vararg is not None:
                b.varargs.append(BoundArg(vararg.name, arg, True, i))
            else:
                raise BindError(f"too many positional arguments for {signature}")
        else:
            name = arg.keyword.value
            if numpy_names and name not in by_name and _NUMPY_NAMES.get(name) in by_name:
                name = _NUMPY_NAMES[name]  # `t.sum(axis=1, keepdims=True)`: torch takes numpy's names
            if name in b.args:
                raise BindError(f"argument {name!r} given twice")
            if name not in by_name and not has_varkw and name != b.vararg_name:
                raise BindError(f"unknown argument {name!r} for {signature}")
            b.args[name] = BoundArg(name, arg, False, i)
    # torch's varargs functions usually accept the same values by keyword (size=, dims=)
    missing = [p.name for p in positional if p.default is None and p.name not in b.args]
    if vararg is not None and not b.varargs and vararg.name in b.args:
        missing = [m for m in missing if m != vararg.name]
    if missing and not (vararg is not None and b.varargs and not positional):
        raise BindError(f"missing required argument(s) {', '.join(missing)} for {signature}")
    return b
