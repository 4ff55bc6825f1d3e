"""Build the unit from a spec, generate its inputs, and pick the first spec the torch side accepts.

The torch side is the oracle: candidate specs (the user's, then defaults inferred from the
signature) are tried in order until one constructs and runs. The accepted runs use exactly the
inputs of the first trial seed, so when the caller asks for it (`as_trial=True`) a module is
prepared as that trial's model and the outputs come back for reuse: the verifier then does not run
the same torch forward twice.
"""
from __future__ import annotations

import ast
import inspect
import re
import time
import traceback
import types
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from agent.verify import assert_sizes, config_objects, constructors, examples, infer, init_sizes, parents, shape_fix
from agent.verify.input_shapes import none_fed
from agent.verify.input_shapes import halved
from agent.verify.inputs import calibration_inputs, is_stand_in, make_arrays, shapes
from agent.verify.loader import RepoImporter
from agent.verify.weights import BLOWN_UP, batchnorms, calibrate_batchnorm, perturb_constants, seed_torch
from agent.scan.names import parse_python


class _RepoNames(dict):
    """Locals for evaluating an `init` expression: top-level repo packages resolve on demand."""

    def __init__(self, imp: RepoImporter, own: dict):
        super().__init__()
        self.imp, self.own = imp, own

    def __missing__(self, key):
        if key in self.own:  # the module's own name (`stack` in stack.py) before a package of the same name
            raise KeyError(key)
        if key == parents.PART:
            return parents.torch_part
        if key == parents.IDENTITY:
            return parents.torch_identity
        if key == parents.FILLED:
            return parents.torch_filled
        if key == parents.SEQUENCE:
            return parents.torch_sequence
        if key == parents.LINEAR:
            return parents.torch_linear
        if self.imp.owns(key):
            return self.imp.load(key)
        raise KeyError(key)


def dotted_prefixes(expr: str) -> list[str]:
    """'pkg.config' for `pkg.config.GPTConfig(...)`: submodules a qualified spec needs imported."""
    out = []
    for node in ast.walk(parse_python(expr, mode="eval")):
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if isinstance(node, ast.Name) and parts:
            chain = [node.id, *reversed(parts)]
            out += [".".join(chain[: i + 1]) for i in range(1, len(chain) - 1)]
    return out


def evaluate(imp: RepoImporter, module: str, expr: str):
    """The value of an `init` expression in the namespace of `module` on this side."""
    with imp.active():
        ns = imp.load(module).__dict__
        for dotted in dotted_prefixes(expr):
            top = ns.get(dotted.split(".")[0])
            # a repo package the module binds (`import pkg`) may not have imported the submodule yet
            if (top is None or isinstance(top, types.ModuleType)) and imp.owns(dotted):
                try:
                    imp.load(dotted)
                except ImportError:
                    pass
        return eval(expr, ns, _RepoNames(imp, ns))  # noqa: S307 - the expression is a spec over the user's own code


def torch_args(arrays):
    import torch

    return [torch.from_numpy(a.copy()) if isinstance(a, np.ndarray) else parents.torch_linear(a["features"])
            if is_stand_in(a) else a for a in arrays]


def ms_sync() -> None:
    """Wait for MindSpore's queued kernels (PyNative dispatches them to a worker thread)."""
    from mindspore.graph.api import _pynative_executor

    _pynative_executor.sync()


def drain() -> None:
    """Flush an error a failed MindSpore call left queued in the async executor; otherwise the next
    call (the next unit's, the next probe's) raises it as its own."""
    try:
        ms_sync()
    except Exception:
        pass


def run_torch(obj, args):
    import torch

    with torch.no_grad():
        return obj(*args)


SLOW_FORWARD = 1.0  # seconds of a guessed input's torch forward past which smaller inputs are tried first
MAX_FIXES = 3  # inputs corrected from torch's errors per constructor call (see shape_fix)


@dataclass
class SpecChoice:
    spec: dict | None = None  # the public spec (source, init, inputs)
    init: str | None = None
    sizes: list | None = None
    model: object = None  # the torch object built with the trial seed
    tried: list[str] = field(default_factory=list)
    # (output, forward seconds) per accepted size, on the trial seed's inputs; filled with as_trial=True
    outputs: list[tuple] = field(default_factory=list)
    kind: str | None = None  # "module" when a function unit is a factory: what it returns is checked
    calibrated: bool = False  # BatchNorm statistics were calibrated (activations blew up without)
    norms: int = 0  # BatchNorm layers with running statistics in the chosen model


def _timed_run(pt_imp, obj, arrays) -> tuple:
    with pt_imp.active():
        args = torch_args(arrays)
        t0 = time.perf_counter()
        out = run_torch(obj, args)
        return out, time.perf_counter() - t0


def choose_spec(pt_imp, unit, pt_obj, specs, seed: int = 0, as_trial: bool = False,
                calibrate: bool | None = None) -> SpecChoice:
    """The first spec torch accepts, its model built under `seed`. With `as_trial`, a module's
    constant tensors get the trial perturbation for `seed` before the runs that test the sizes, and
    those runs' outputs are kept: they are the first trial's torch forwards. BatchNorm statistics are
    calibrated when the outputs blew up (`calibrate` None), always (True) or never (False): the judge
    asks for the other choice when float32 rounding alone failed the first."""
    is_module = unit.get("kind", "module") == "module"
    choice = SpecChoice()
    candidates = [dict(c) for s in specs or [] for c in (examples.example_specs(pt_imp, unit, s) if s.get("example")
                                                          else [s])]
    if is_module and pt_obj is not None:
        candidates += [{"source": "defaults", "init": i, "inputs": None}
                       for i in init_sizes.smaller_first(pt_obj, constructors.default_inits(unit["name"], pt_obj),
                                                         partial(evaluate, pt_imp, unit["module"]))]
    else:
        candidates += [{"source": "defaults", "init": None, "inputs": None}]
    fallback, least = None, 2.0  # the accepted inputs with the fewest non-finite outputs, if nothing better runs
    for spec in _with_parents(candidates, pt_imp, unit, pt_obj, seed, is_module):
        if not is_module and spec.get("init"):  # a builder's call written in the repo: `get_resnet(blocks=18)`
            made = _as_factory(pt_imp, unit, spec, seed, as_trial, choice.tried, calibrate)
            if made is not None:
                return made
            continue
        init = spec.get("init") if is_module else None
        inits = [init] if init else (constructors.default_inits(unit["name"], pt_obj) if is_module and pt_obj is not None
                                     else [None])
        inits = list(inits)
        for init_text in inits:
            try:
                obj, init_text = _trial_object(pt_imp, unit, init_text, pt_obj, spec, seed, as_trial)
            except (Exception, SystemExit) as exc:  # `exit(-1)` in the original: this init does not run
                choice.tried.append(f"{init_text}: {type(exc).__name__}: {str(exc)[:120]}")
                inits += [i for i in _inits_asked(pt_imp, unit, pt_obj, init_text, exc, is_module) if i not in inits]
                continue
            queue, fixes = list(_first_sizes(spec, obj, init_text, is_module)), 0
            while queue:
                first = queue.pop(0)
                values = all("value" in x and not is_stand_in(x["value"]) for x in first)
                call = f"{unit['name']}({', '.join(repr(x['value']) for x in first)})" if values else None
                outputs, call, exc = _run_first(pt_imp, unit, obj, first, call, seed, is_module)
                if outputs is None:
                    choice.tried.append(f"{call or init_text or unit['name']} on {shapes(first)}: "
                                        f"{type(exc).__name__}: {str(exc)[:120]}")
                    wider = constructors.residual_width(init_text, str(exc)) if init_text else None
                    fixed = None if spec.get("inputs") or fixes >= MAX_FIXES or wider else (shape_fix.corrected(
                        first, assert_sizes.with_sizes(exc), infer.vocab(obj)) or none_fed(obj, first, str(exc)))
                    if fixed is not None:  # what torch's error asked for, before the next guess
                        queue.insert(0, fixed)
                        fixes += 1
                    elif init_text and (again := wider or constructors.input_width(init_text, str(exc))
                                        or constructors.iterated(init_text, exc, pt_obj)
                                        or init_sizes.windows_dividing(init_text, str(exc), pt_obj)) \
                            and again not in inits:
                        inits.append(again)  # data the module builds itself, a residual the input joins, a pair
                    continue
                made = None if is_module or call is None else _built(pt_imp, unit, outputs[0][0], call, seed, as_trial,
                                                                     choice.tried, calibrate)
                if made is not None:
                    return made
                share, why = (0.0, "") if spec.get("inputs") else _poor_outputs(outputs[0][0])
                if share > 0:  # guessed inputs outside the unit's domain (`log(t)` of normal samples): the next
                    choice.tried.append(f"{init_text or unit['name']} on {shapes(first)}: {why}")
                    if share < least:
                        fallback, least = (obj, spec, init_text, first, outputs), share
                    continue
                if not spec.get("inputs") and outputs[0][1] > SLOW_FORWARD and (smaller := halved(first)):
                    # a guessed size torch needs seconds for runs minutes on MindSpore's CPU kernels (a decoder
                    # fed its latent at image size): smaller first; this one if nothing else runs
                    choice.tried.append(f"{init_text or unit['name']} on {shapes(first)}: {outputs[0][1]:.1f} s "
                                        "on torch, smaller inputs tried first")
                    queue.insert(0, smaller)
                    if fallback is None or least > 0.0:  # slow beats outputs outside the domain
                        fallback, least = (obj, spec, init_text, first, outputs), 0.0
                    continue
                return _accept(choice, pt_imp, obj, spec, init_text, first, outputs, seed, as_trial, is_module, calibrate)
    if fallback is not None:
        return _accept(choice, pt_imp, *fallback, seed, as_trial, is_module, calibrate)
    return choice


def _inits_asked(pt_imp, unit, pt_obj, init_text, exc: Exception, is_module: bool) -> list[str]:
    """Constructor calls the error EXC of building INIT_TEXT asks for: a parameter left None that it names,
    a number that must be a tuple (constructors.naming_none), a repo module with the attribute a wrapper
    read from its identity stand-in (parents.attribute_owners)."""
    if not (init_text and is_module):
        return []
    lines = tuple(f.line or "" for f in traceback.extract_tb(exc.__traceback__)[1:])
    again = (constructors.naming_none(init_text, str(exc), pt_obj, lines)
             or init_sizes.divisible_from_error(init_text, str(exc))
             or init_sizes.windows_dividing(init_text, str(exc), pt_obj))
    return ([again] if again is not None else []) + parents.attribute_owners(pt_imp, unit, init_text, str(exc))


def _run_first(pt_imp, unit, obj, first: list[dict], call: str | None, seed: int, is_module: bool):
    """(outputs, call, None) of the unit on the inputs FIRST, or (None, call, the error). A builder taking
    what it passes on through **kwargs that misses names gets them guessed: CALL is then the call that
    built (or failed to build) its module."""
    try:
        return [_timed_run(pt_imp, obj, make_arrays(first, seed, 0))], call, None
    except TypeError as exc:
        call = constructors.with_missing(call, exc) if not is_module else None
        if call is None:
            return None, None, exc
        try:
            with pt_imp.active():
                built, call = _build(pt_imp, unit, call, None, guessed=True)
            return [(built, 0.0)], call, None
        except (Exception, SystemExit) as again:  # noqa: BLE001
            return None, call, again
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - torch refused these inputs (or exits): the next
        return None, None, exc


def _trial_object(pt_imp, unit, init_text, pt_obj, spec: dict, seed: int, as_trial: bool):
    """(the unit built from INIT_TEXT under SEED, in eval mode, its constants perturbed for a trial; the
    init that built it)."""
    import torch

    seed_torch(seed)
    obj, init_text = _build(pt_imp, unit, init_text, pt_obj, guessed=spec.get("source") in ("defaults", "repo"))
    if unit.get("kind", "module") == "module" and hasattr(obj, "eval"):
        obj.eval()
    if as_trial and isinstance(obj, torch.nn.Module):
        perturb_constants(obj, seed)
    return obj, init_text


def _first_sizes(spec: dict, obj, init_text: str | None, is_module: bool) -> list[list[dict]]:
    """The candidate first inputs: the spec's own, else inferred from the module's layers or the function."""
    if spec.get("inputs"):
        return [spec["inputs"][0]]
    if is_module:
        return infer.module_input_candidates(obj, hints=infer.geometry_hints(obj, init_text))
    return infer.function_input_candidates(obj)


def _accept(choice: SpecChoice, pt_imp, obj, spec: dict, init_text, first, outputs: list, seed: int, as_trial: bool,
            is_module: bool, calibrate: bool | None) -> SpecChoice:
    """CHOICE filled for the spec torch accepted on FIRST: a second size, BatchNorm calibration and
    (as_trial) the first trial's outputs. Whether the unit is random is asked afterwards
    (`is_random`): the judge has it checked while the MindSpore side imports."""
    if spec.get("inputs") and len(spec["inputs"]) > 1:
        sizes = [first, spec["inputs"][1]]
    else:
        sizes = [first]
        for second in infer.second_sizes(first):
            try:
                outputs.append(_timed_run(pt_imp, obj, make_arrays(second, seed, 1)))
            except Exception:
                continue
            sizes.append(second)
            break
    if as_trial and is_module and calibrate is not False and (calibrate or _blown_up(outputs[0][0])) \
            and calibrate_batchnorm(
            obj, [partial(_timed_run, pt_imp, obj, arrays) for arrays in calibration_inputs(first, seed)]):
        choice.calibrated = True  # the trial's forwards again, on the calibrated model
        outputs = [_timed_run(pt_imp, obj, make_arrays(size, seed, i)) for i, size in enumerate(sizes)]
    choice.spec = {"source": spec.get("source", "defaults"), "init": init_text,
                   "inputs": infer.public_spec(sizes)}
    if spec.get("scaled"):  # the file's own sizes, scaled down (verify/examples.py): which, from what
        choice.spec["scaled"] = spec["scaled"]
    choice.init, choice.sizes, choice.model = init_text, sizes, obj
    choice.norms = batchnorms(obj) if is_module else 0
    choice.outputs = outputs if as_trial else []
    return choice


def _module_of(pt_imp, unit, spec: dict, seed: int, as_trial: bool, tried: list[str],
               calibrate: bool | None = None) -> SpecChoice:
    """The choice for what a factory call (SPEC's init) builds, checked as a module."""
    made = choose_spec(pt_imp, dict(unit, kind="module"), None,
                       [{"source": spec["source"], "init": spec["init"], "inputs": spec.get("inputs")}], seed, as_trial,
                       calibrate)
    made.kind = "module"
    if made.spec is None:
        made.tried = tried + made.tried
    return made


def _as_factory(pt_imp, unit, spec: dict, seed: int, as_trial: bool, tried: list[str],
                calibrate: bool | None = None) -> SpecChoice | None:
    """A function unit called as SPEC's init says: the choice for the module it returns, or None (noted
    in TRIED) when the call fails or what it returns runs as no module."""
    made = _module_of(pt_imp, unit, spec, seed, as_trial, tried, calibrate)
    if made.spec is None:
        tried[:] = made.tried
        return None
    return made


def _built(pt_imp, unit, out, call: str, seed: int, as_trial: bool, tried: list[str],
           calibrate: bool | None) -> SpecChoice | None:
    """When a function unit's call CALL returned a module (a factory: `resnet18()`, `conv3x3(8, 8)`) or a
    layer builder (`lambda c: nn.BatchNorm2d(c)`), the choice for the module, checked as one; else None."""
    import torch

    if isinstance(out, torch.nn.Module):
        made = _module_of(pt_imp, unit, {"source": "factory", "init": call}, seed, as_trial, tried, calibrate)
        if made.spec is None and _GUESSED_STRIDE.search(call):  # a transposed convolution's output_padding,
            tried[:] = made.tried  # a downsampling block: a guessed stride of 1 is too small
            made = _module_of(pt_imp, unit, {"source": "factory", "init": _GUESSED_STRIDE.sub("=2", call)}, seed,
                              as_trial, tried, calibrate)
        return made
    builder = _builder_call(out, call)
    if builder is None:
        return None
    return _as_factory(pt_imp, unit, {"source": "factory", "init": builder}, seed, as_trial, tried, calibrate)


def _builder_call(out, call: str) -> str | None:
    """`make()()` / `make()(num_features=8)`: the call of what CALL returned, when that is a layer builder
    (a function, lambda or partial, or a Module class) whose required parameters can all be guessed by
    name; None for anything else. Whether the call builds a module is left to the module check."""
    import torch

    if isinstance(out, torch.nn.Module) or isinstance(out, torch.Tensor) or not callable(out):
        return None
    if isinstance(out, type) and not issubclass(out, torch.nn.Module):
        return None
    try:
        params = inspect.signature(out).parameters.values()
    except (TypeError, ValueError):
        return None
    args = []
    for p in params:
        if p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        value = constructors.guess_value(p.name, p.annotation)
        if value is inspect.Parameter.empty:
            return None
        args.append(repr(value) if p.kind is p.POSITIONAL_ONLY else f"{p.name}={value!r}")
    return f"{call}({', '.join(args)})"


def _with_parents(candidates: list[dict], pt_imp, unit, pt_obj, seed: int, is_module: bool):
    """The candidate specs, then (modules only, reached when none of them ran) the specs found by
    building a repo module that contains the unit; guesses with an identity standing in for a wrapped
    submodule, filling an empty container, or a config namespace, come last: the repo's own use says more."""
    last = (*constructors.STAND_INS, config_objects.NAMESPACE)
    stand_in = [c for c in candidates if any(name in (c.get("init") or "") for name in last)]
    yield from (c for c in candidates if c not in stand_in)
    if is_module and isinstance(pt_obj, type):
        yield from parents.parent_specs(pt_imp, unit, pt_obj, seed)
    yield from stand_in


def _build(pt_imp, unit, init_text, pt_obj, guessed: bool):
    """(object, the init that built it). A guessed init that passes arguments on through **kwargs may
    miss names only the callee requires (`PerceiverLM(dim=8)` needs `depth`): those are guessed too."""
    if not init_text:
        return pt_obj, init_text
    for _ in range(3):
        try:
            return constructors.keyword_only_defaults(evaluate(pt_imp, unit["module"], init_text)), init_text
        except TypeError as exc:
            again = constructors.with_missing(init_text, exc) if guessed else None
            if again is None:
                raise
            init_text = again
    return constructors.keyword_only_defaults(evaluate(pt_imp, unit["module"], init_text)), init_text


_GUESSED_STRIDE = re.compile(r"(?<=\bstride)=1\b")
def is_random(pt_imp, choice: SpecChoice, seed: int) -> bool:
    """Whether the unit CHOICE accepted (chosen with as_trial) gives other outputs under another torch
    seed on the first trial's inputs (see `_differs_on_rerun`)."""
    return bool(choice.outputs) and _differs_on_rerun(pt_imp, choice.model, choice.sizes[0], seed,
                                                      choice.outputs[0][0])


def _differs_on_rerun(pt_imp, obj, first, seed: int, out) -> bool:
    """Run again on the same inputs under another torch seed: a unit whose outputs change is random
    (sampling, an init function, dropout left on in eval): no trial can compare it as it stands."""
    import torch

    from agent.verify.tree import encode

    try:
        seed_torch(seed + 7919)
        again = _timed_run(pt_imp, obj, make_arrays(first, seed, 0))[0]
        a, b = [], []
        ta, tb = encode(out, a), encode(again, b)
    except Exception:  # noqa: BLE001 - a unit that fails the second time is judged by the trials
        return False
    if ta != tb or len(a) != len(b):
        return True
    return any(x.shape != y.shape or not np.allclose(x, y, rtol=1e-6, atol=1e-7, equal_nan=True)
               for x, y in zip(a, b) if isinstance(x, np.ndarray) and x.dtype.kind in "fiub")


def _blown_up(out) -> bool:
    """The output of a random-weight network whose activations grew without bound through depth
    (BatchNorm statistics at their constants do not rein them in): rounding alone would fail it."""
    from agent.verify.tree import encode

    arrays: list = []
    try:
        encode(out, arrays)
    except Exception:  # noqa: BLE001
        return False
    return any(a.dtype.kind == "f" and a.size and float(np.nanmax(np.abs(a))) > BLOWN_UP for a in arrays)


def _poor_outputs(out) -> tuple[float, str]:
    """(share, why) of a guessed spec's outputs that any other spec should come before: the share of
    non-finite floats, or 1.0 when they hold nothing to compare (an empty container's `[]`, a None)."""
    if _holds_nothing(out):
        return 1.0, "nothing in the outputs"
    share = _not_finite(out)
    return share, "non-finite outputs"


def _holds_nothing(out) -> bool:
    """None, or containers holding only that (an empty list): outputs with nothing to compare."""
    if out is None:
        return True
    if isinstance(out, (list, tuple)):
        return all(_holds_nothing(o) for o in out)
    if isinstance(out, dict):
        return all(_holds_nothing(v) for v in out.values())
    return False


def _not_finite(out) -> float:
    """The share of NaNs and infinities among the float outputs (from finite inputs)."""
    from agent.verify.tree import encode

    arrays: list = []
    try:
        encode(out, arrays)
    except Exception:  # noqa: BLE001
        return 0.0
    floats = [a for a in arrays if a.dtype.kind == "f" and a.size]
    total = sum(a.size for a in floats)
    return sum(int((~np.isfinite(a)).sum()) for a in floats) / total if total else 0.0
