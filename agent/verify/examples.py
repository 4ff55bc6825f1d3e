"""Specs from a file's own example inputs, scaled down to sizes the device runs quickly.

Benchmark-style files carry how to run their model: `get_init_inputs()` returns the constructor's
arguments, `get_inputs()` the forward's inputs, both built from module-level size constants
(`batch_size = 128`, `dim = 4096`, `bias_shape = (out_channels, 1, 1)`). Those are the repo's own
values, better than any guess, but sized for a GPU. Here the constants are scaled: a batch is 2, every
other integer constant of 16 or more is divided by one power of two (never below 8) chosen so the
largest input holds at most BUDGET elements and the model at most PARAMETER_BUDGET parameters (a
`Linear(32768, 32768)` is 4 GiB at the repo's sizes), and constants derived from others (`bias_shape`) are
recomputed from the scaled ones, so the sizes stay consistent. The factories run on torch's meta device
to choose the factor (nothing allocated), then for real at the chosen sizes (tensors a factory puts on a
GPU, `device="cuda"` or `.cuda()`, made on the device in use instead); the constructor's
arguments become a literal `init` the MindSpore side evaluates too, the inputs descriptors the trusted
side generates. Milder and stronger factors follow as fallbacks. Runs on the torch side only.
"""
from __future__ import annotations

import ast
import dis
import inspect
import math
import re
import types

BUDGET = 1 << 15  # elements of the largest input
PARAMETER_BUDGET = 1 << 22  # the model's parameters (`Linear(32768, 32768)` at the repo's sizes: 1 << 30)
FLOOR = 8  # a scaled constant never goes below this (nor below its own value)
_BATCH = re.compile(r"^(batch|batch_?size|bs|n_?batch|num_?batch(es)?)$", re.I)
_SAFE_CALLS = {"int", "min", "max", "round", "abs", "len", "tuple", "list"}
_LITERALS = (int, float, bool, str, type(None))


def example_specs(imp, unit: dict, spec: dict) -> list[dict]:
    """Concrete specs (literal init, input descriptors) from SPEC's example factories, best first."""
    import torch

    module = imp.load(unit["module"])
    make_inputs = getattr(module, spec["example"]["inputs"], None)
    make_init = getattr(module, spec["example"].get("init") or "", None)
    if not callable(make_inputs):
        return []
    constants = _constants(module)
    pinned = _globals_read(getattr(module, unit["name"].split(".")[0], None))
    constants = [(node, names, bool(pinned & set(names))) for node, names in constants]
    factors, largest = [], {}  # largest: the biggest input (or model, in BUDGET units) per factor, on meta
    for factor in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024):
        try:
            with imp.active(), torch.device("meta"):
                init_args, inputs, _ = _call(module, constants, factor, make_init, make_inputs)
                weights = _parameters(getattr(module, unit["name"].split(".")[0], None), init_args)
        except Exception:  # noqa: BLE001 - the factories need real tensors: try scaled sizes for real
            factors = [16, 64, 4, 256]
            break
        factors.append(factor)
        largest[factor] = max(_largest(inputs), weights * BUDGET // PARAMETER_BUDGET)
        if largest[factor] <= BUDGET:
            break
    if factors and factors[-1] != 1 and len(factors) > 1:
        best = factors[-1]
        factors = [best, best * 2, best // 2, best * 4, 1]  # 1 last: the repo's sizes (batch 2), if nothing else runs
    out = []
    for factor in factors:
        # a factor not probed (past the last one probed) is bounded by the smallest size the probes saw
        if largest.get(factor, min(largest.values(), default=0)) > 16 * BUDGET:
            continue  # not allocated: too large for the device to run quickly
        try:
            with imp.active():
                torch.manual_seed(0)
                init_args, inputs, ns = _call(module, constants, factor, make_init, make_inputs)
        except Exception:  # noqa: BLE001 - those sizes are not consistent: the next factor
            continue
        init = _init_text(unit["name"], init_args)
        described = _described(inputs)
        if init is None or described is None or _largest(inputs) > 16 * BUDGET:
            continue
        new = {"source": "file", "init": init, "inputs": [described], "where": spec.get("where"),
               "scaled": _changes(module, constants, ns)}
        if new not in out:
            out.append(new)
    return out


def _constants(module) -> list[tuple[ast.stmt, list[str]]]:
    """The module's top-level `NAME = expression` assignments over literals and earlier constants."""
    try:
        tree = ast.parse(inspect.getsource(module))
    except (OSError, TypeError, SyntaxError):
        return []
    out, known = [], set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and node.targets:
            target = node.targets[-1]
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target = node.target
        else:
            continue
        names = [target] if isinstance(target, ast.Name) else list(target.elts) \
            if isinstance(target, ast.Tuple) else []
        if not names or not all(isinstance(n, ast.Name) for n in names) or not _constant_expr(node.value, known):
            continue
        out.append((node, [n.id for n in names]))
        known.update(n.id for n in names)
    return out


def _constant_expr(node: ast.expr, known: set[str]) -> bool:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and sub.id not in known and sub.id not in _SAFE_CALLS:
            return False
        if isinstance(sub, ast.Call) and not (isinstance(sub.func, ast.Name) and sub.func.id in _SAFE_CALLS):
            return False
        if isinstance(sub, (ast.Attribute, ast.Lambda, ast.Subscript, ast.NamedExpr, ast.Await)):
            return False
    return True


def _globals_read(obj) -> set[str]:
    """Module-level names the unit's own code reads (`self.h0 = torch.randn(num_layers, batch_size, hidden)`
    in __init__): those constants keep the repo's values, so the unit and its inputs stay consistent."""
    codes = [f.__code__ for f in vars(obj).values() if inspect.isfunction(f)] if isinstance(obj, type) else \
        [obj.__code__] if inspect.isfunction(obj) else []
    names: set[str] = set()
    while codes:
        code = codes.pop()
        names.update(i.argval for i in dis.get_instructions(code) if i.opname in ("LOAD_GLOBAL", "LOAD_NAME"))
        codes += [c for c in code.co_consts if isinstance(c, types.CodeType)]
    return names


def _scaled(name: str, value, factor: int):
    if isinstance(value, bool) or not isinstance(value, (int, tuple, list)):
        return value
    if isinstance(value, (tuple, list)):
        return type(value)(_scaled("", v, factor) for v in value)
    if _BATCH.match(name):
        return min(value, 2)
    if value < 16 or factor == 1:
        return value
    return max(value // factor, min(value, FLOOR))


def _namespace(module, constants, factor: int) -> dict:
    """The module's globals with its size constants scaled by FACTOR (derived ones recomputed)."""
    ns = dict(vars(module))
    for node, names, pinned in constants:
        value = eval(compile(ast.Expression(node.value), "<constants>", "eval"), {"__builtins__": __builtins__}, ns)  # noqa: S307
        # over literals only (`M = 16384 * 4` too): the repo's own size, scaled; over other constants: derived
        literal = not any(isinstance(n, ast.Name) and n.id not in _SAFE_CALLS for n in ast.walk(node.value))
        scale = not pinned
        if len(names) == 1:
            ns[names[0]] = _scaled(names[0], value, factor) if scale and (literal or _BATCH.match(names[0])) else value
        else:
            for name, v in zip(names, value):
                ns[name] = _scaled(name, v, factor) if scale and (literal or _BATCH.match(name)) else v
    return ns


def _changes(module, constants, ns: dict) -> str:
    """`batch_size 128 -> 2, dim 4096 -> 64`: the repo's constants NS (a scaled namespace) changed, for the report."""
    names = [n for _, group, _ in constants for n in group]
    return ", ".join(f"{n} {getattr(module, n, None)!r} -> {ns[n]!r}" for n in names
                     if n in ns and ns[n] != getattr(module, n, None))[:500]


def _call(module, constants, factor: int, make_init, make_inputs):
    ns = _namespace(module, constants, factor)

    def rebound(fn):
        return types.FunctionType(fn.__code__, ns, fn.__name__, fn.__defaults__, fn.__closure__)

    with _here():
        init_args = rebound(make_init)() if callable(make_init) else []
        return init_args, rebound(make_inputs)(), ns


def _here():
    """The factories' tensors made where verification runs: `torch.rand(..., device='cuda')` and
    `x.cuda()` of a benchmark written for a GPU land on the current default device instead."""
    import torch
    from torch.overrides import TorchFunctionMode

    class Here(TorchFunctionMode):
        def __torch_function__(self, func, types_, args=(), kwargs=None):
            kwargs = dict(kwargs or {})
            if func is torch.Tensor.cuda:
                return args[0]
            if _gpu(kwargs.get("device")):
                kwargs.pop("device")
            if func is torch.Tensor.to and len(args) > 1 and _gpu(args[1]):
                args = (args[0], *args[2:])
                if len(args) == 1 and not kwargs:
                    return args[0]
            return func(*args, **kwargs)

    return Here()


def _gpu(device) -> bool:
    return str(device).startswith(("cuda", "mps", "xpu"))


def _parameters(cls, init_args) -> int:
    """Parameters of CLS built from INIT_ARGS (on the meta device: nothing allocated); 0 when it cannot be."""
    import torch

    if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
        return 0
    try:
        model = cls(**init_args) if isinstance(init_args, dict) else cls(*init_args)
    except Exception:  # noqa: BLE001 - a constructor that needs real tensors: the inputs alone decide
        return 0
    return sum(p.numel() for p in model.parameters())


def _largest(inputs) -> int:
    import torch

    items = inputs if isinstance(inputs, (list, tuple)) else [inputs]
    return max((math.prod(x.shape) for x in items if isinstance(x, torch.Tensor)), default=0)


def _literal(value) -> bool:
    if isinstance(value, (tuple, list)):
        return all(_literal(v) for v in value)
    return isinstance(value, _LITERALS) and not (isinstance(value, float) and not math.isfinite(value))


def _init_text(name: str, args) -> str | None:
    if isinstance(args, dict):
        parts = [f"{k}={v!r}" for k, v in args.items()] if all(_literal(v) for v in args.values()) else None
    elif isinstance(args, (list, tuple)):
        parts = [repr(a) for a in args] if all(_literal(a) for a in args) else None
    else:
        parts = None
    return None if parts is None else f"{name}({', '.join(parts)})"


def _described(inputs) -> list[dict] | None:
    """Input descriptors for the factory's tensors: shape, dtype and the value range it drew from."""
    import torch

    from agent.verify.parents import describe

    out = []
    for x in inputs if isinstance(inputs, (list, tuple)) else [inputs]:
        d = describe(x)
        if d is None or ("value" in d and not _literal(d["value"])):
            return None
        if isinstance(x, torch.Tensor) and x.is_floating_point() and x.numel() > 1:
            d = {**d, **_distribution(x.detach().double())}
        elif d.get("dtype") == "int64" and d.get("low", -1) >= 0:
            d = {**d, "low": 0}  # indices or labels drawn from 0 (the sample's own minimum is chance)
        out.append(d)
    return out


def _distribution(x) -> dict:
    """What the factory drew from, as input descriptors say it: a non-negative range as a uniform one over
    it (`torch.rand`, `abs`, probabilities: the domain kept), a normal of another centre or scale as such
    (`1 + 0.01 * torch.randn(...)`, whose products neither vanish nor blow up), a standard normal as nothing."""
    low, high, mean, std = float(x.min()), float(x.max()), float(x.mean()), float(x.std())
    if low >= 0:
        return {"low": low, "high": max(high, low + 1e-6)}
    if abs(mean) > 0.1 or not 0.5 < std < 2:
        return {"mean": mean, "std": std}
    return {}
