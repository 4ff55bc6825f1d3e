"""The MindSpore side of a verification, run in a sandboxed child forked from the MindSpore template.

torch is not in this process's filesystem view, and `load` imports the unit's translated file
the way the user will: whole, top to bottom, with plain `import` (no statement skipped, no guard),
so a file that fails to import has no unit to verify. The cell gets the weights and inputs the
trusted side sends and returns raw outputs; a verdict is never computed here.
"""
from __future__ import annotations

import importlib
import importlib.abc
import os
import types
import sys
import time
import traceback

import numpy as np

from agent.verify.constructors import keyword_only_defaults
from agent.verify import aligned_random
from agent.verify.inputs import is_stand_in, unpack
from agent.verify.ms_stand_ins import (FILLED, IDENTITY, LINEAR, PART, SEQUENCE, ms_filled, ms_identity, ms_linear,
                                       ms_part, ms_sequence)
from agent.verify.weights import describe_ms, load_weights
from agent.verify.devices import ms_target
from agent.verify.absent import Absent, AbsentModule
from agent.verify.spec_choice import dotted_prefixes
from agent.verify.tree import encode, tensor_leaves

_S: dict = {}
FORBIDDEN = ("torch", "torchvision", "torchaudio", "functorch", "torchgen")


class _NoTorch(importlib.abc.MetaPathFinder):
    """A clearer error than ModuleNotFoundError for translated code that still imports torch
    (torch is absent from this process's files anyway; this only names the cause)."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in FORBIDDEN:
            raise ImportError(f"the MindSpore side imports {fullname}: torch is not available to translated code",
                              name=fullname)
        return None


def _where(exc: BaseException, root: str) -> str:
    """'pkg/models.py:12' for the deepest frame of the traceback inside the translated tree."""
    found = ""
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename.startswith(root + os.sep):
            found = f"{frame.filename[len(root) + 1:]}:{frame.lineno}"
    if not found and isinstance(exc, SyntaxError) and exc.filename and exc.filename.startswith(root):
        found = f"{exc.filename[len(root) + 1:]}:{exc.lineno}"
    return found


def _torch_library(exc: BaseException, root: str) -> str | None:
    """The installed package whose own import of torch stopped the translated file (a torch-based library
    the repo uses, `from product_key_memory import PKM`), None when the translation itself imports it."""
    if not (isinstance(exc, ImportError) and str(exc).startswith("the MindSpore side imports")):
        return None
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename.startswith(root + os.sep):
            return None
        parts = frame.filename.split(os.sep)
        for marker in ("site-packages", "dist-packages"):
            if marker in parts and parts.index(marker) + 1 < len(parts):
                dotted = [p.removesuffix(".py") for p in parts[parts.index(marker) + 1:]]
                return ".".join(dotted[:-1] if dotted[-1] == "__init__" else dotted)
    return None


def _set_device(device: str) -> None:
    import mindspore as ms


    target = ms_target(device)
    if _S.get("device") == target:
        return
    if _S.get("device") is not None:
        raise RuntimeError(f"this MindSpore side runs on {_S['device']}, not {target}")
    ms.set_context(mode=ms.PYNATIVE_MODE)
    ms.set_device(target)
    if target == "CPU":
        # Asynchronous dispatch on CPU keeps a runtime thread spinning and made small cells' forwards ~4x
        # slower here (benchmarks/ms_dispatch.py); synchronous launches also raise at the failing line.
        ms.runtime.launch_blocking()
    _S["device"] = target


def prime() -> None:
    """In the template, before any fork: build small cells (no kernel runs) so the lazy imports and
    caches of cell construction are done once, not in every session."""
    from mindspore import nn

    nn.SequentialCell([nn.Conv2d(2, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(), nn.Dense(2, 2),
                       nn.LayerNorm((2,)), nn.Embedding(4, 2)])


def warm(device: str) -> None:
    """Set the device and run one kernel: MindSpore's runtime starts before the unit arrives."""
    import mindspore as ms

    _set_device(device)
    (ms.Tensor(np.ones((2, 2), np.float32)) + 1).asnumpy()


def import_unit(args: dict, arrays: list):
    """Import the unit's module as the user would and look the unit up (no construction): the judge
    asks for it while the torch side chooses the spec, and `load` reuses what it found."""
    root = os.path.realpath(args["ms_root"])
    unit = args["unit"]
    key = (root, unit["module"], unit["name"], args.get("file"))
    if _S.get("imported", (None,))[0] == key:
        return _S["imported"][1], []
    for name in ("cell", "obj", "module"):  # a session may serve the next unit of the same file
        _S.pop(name, None)
    _S.update(root=root, unit=unit)
    _set_device(args.get("device", "cpu"))
    if not any(isinstance(f, _NoTorch) for f in sys.meta_path):
        sys.meta_path.insert(0, _NoTorch())
    if args.get("absent") and not any(isinstance(f, Absent) for f in sys.meta_path):
        sys.meta_path.append(Absent(args["absent"]))  # last: only what no other finder has
    bases = [root] + ([os.path.join(root, "src")] if os.path.isdir(os.path.join(root, "src")) else [])
    sys.path[:0] = [b for b in bases if b not in sys.path]
    rel = args.get("file") or unit["module"].replace(".", "/") + ".py"
    sys.argv = [os.path.join(root, rel)]
    result = _import_and_find(root, unit)
    _S["imported"] = (key, result)
    return result, []


def _import_and_find(root: str, unit: dict) -> dict:
    try:
        module = importlib.import_module(unit["module"])
    except BaseException as exc:  # noqa: BLE001 - SystemExit too: the file does not import
        where = _where(exc, root)
        library = _torch_library(exc, root)
        why = (f" (imported by {library}, installed here and built on torch: translated code cannot use it; port "
               "what the code takes from it, or migrate it too)") if library else ""
        frames = [f"{f.filename[len(root) + 1:]}:{f.lineno}" for f in traceback.extract_tb(exc.__traceback__)
                  if f.filename.startswith(root + os.sep)]
        return {"error": "import", "where": where, "frames": frames[-20:],
                "reason": f"{where + ': ' if where else ''}{type(exc).__name__}: {str(exc)[:600]}{why}"}
    obj = module
    for part in unit["name"].split("."):
        if not hasattr(obj, part):
            return {"error": "import", "reason": f"{unit['module']} has no {unit['name']} after translation"}
        obj = getattr(obj, part)
    _S.update(obj=obj, module=module)
    return {}


def load(args: dict, arrays: list):
    """The unit imported (see `import_unit`), then built from the spec's `init` (modules) in eval mode."""
    found, _ = import_unit(args, arrays)
    _S.pop("imported", None)  # a later unit, or this one checked again, imports afresh
    _S.pop("cell", None)
    if found.get("error"):
        return found, []
    unit = args["unit"]
    stand_ins = sorted(n for n, m in sys.modules.items() if isinstance(m, AbsentModule) and "." not in n)
    if unit.get("kind", "module") != "module":
        return {"kind": "function", "stand_ins": stand_ins}, []
    module, root = _S["module"], _S["root"]
    bases = [root] + ([os.path.join(root, "src")] if os.path.isdir(os.path.join(root, "src")) else [])
    _import_named_submodules(args["init"], module, bases)
    try:
        with aligned_random.paused():  # an init draws from MindSpore's generator (torch's weights come next)
            cell = eval(args["init"], module.__dict__, _TopLevel(bases, module.__dict__))  # noqa: S307 - the spec, in the unit's module
        cell.set_train(False)
        keyword_only_defaults(cell)
    except BaseException as exc:  # noqa: BLE001
        where = _where(exc, root)
        return {"error": "construct", "where": where,
                "reason": f"{where + ': ' if where else ''}{type(exc).__name__}: {str(exc)[:600]}"}, []
    _S["cell"] = cell
    return {"kind": "module", "desc": describe_ms(cell), "stand_ins": stand_ins}, []


def _import_named_submodules(init: str, module, bases) -> None:
    """`pkg.sub.Model(...)` in a spec: import pkg.sub of the translated tree when the unit's module binds
    only pkg (the torch side does the same), so the attribute lookup finds it."""
    for dotted in dotted_prefixes(init):
        top = module.__dict__.get(dotted.split(".")[0])
        path = os.path.join(*dotted.split("."))
        if (top is None or isinstance(top, types.ModuleType)) and any(
                os.path.exists(os.path.join(b, path + ".py")) or os.path.isdir(os.path.join(b, path)) for b in bases):
            try:
                importlib.import_module(dotted)
            except Exception:  # noqa: BLE001 - the spec's own evaluation reports what is wrong
                pass


class _TopLevel(dict):
    """Names of an `init` expression that are top-level packages of the translated tree."""

    def __init__(self, bases, own: dict):
        super().__init__()
        self.bases, self.own = bases, own

    def __missing__(self, key):
        if key in self.own:  # the module's own name (`stack` in stack.py) before a package of the same name
            raise KeyError(key)
        if key == PART:
            return ms_part
        if key == IDENTITY:
            return ms_identity
        if key == FILLED:
            return ms_filled
        if key == SEQUENCE:
            return ms_sequence
        if key == LINEAR:
            return ms_linear
        for base in self.bases:
            if os.path.exists(os.path.join(base, key + ".py")) or os.path.isdir(os.path.join(base, key)):
                return importlib.import_module(key)
        raise KeyError(key)


def weights(args: dict, arrays: list):

    load_weights(_S["cell"], args["names"], arrays)
    return {}, []


def _sync() -> None:
    from mindspore.graph.api import _pynative_executor

    _pynative_executor.sync()


def _ms_args(inputs: list) -> list:
    import mindspore as ms

    return [ms.Tensor(a.copy()) if isinstance(a, np.ndarray) else ms_linear(a["features"]) if is_stand_in(a) else a
            for a in inputs]


def run(args: dict, arrays: list):
    target = _S.get("cell", _S["obj"])
    margs = _ms_args(unpack(args["inputs"], arrays))
    t0 = time.perf_counter()
    out = target(*margs)
    _sync()  # MindSpore queues kernels: the forward ends when the queue has drained
    seconds = time.perf_counter() - t0
    tensors: list = []
    return {"out": encode(out, tensors), "seconds": seconds}, tensors


def record(args: dict, arrays: list):
    """Every sub-cell's outputs on these inputs (forward hooks), for localization."""
    cell, records, handles, tensors = _S["cell"], {}, [], []
    classes = {}
    for path, sub in cell.cells_and_names():
        if not path:
            continue
        classes[path] = type(sub).__name__

        def hook(c, inputs, output, path=path):
            records.setdefault(path, []).append(encode(output, tensors))

        handles.append(sub.register_forward_hook(hook))
    error = None
    try:
        cell(*_ms_args(unpack(args["inputs"], arrays)))
        _sync()
    except Exception as exc:  # noqa: BLE001 - outputs recorded before a failure still localize it
        error = f"{type(exc).__name__}: {str(exc)[:300]}"
    finally:
        for h in handles:
            h.remove()
    return {"records": records, "classes": classes, "error": error}, tensors


def _to_ms(node: dict, arrays: list):
    import mindspore as ms

    t = node["t"]
    if t == "tensor":
        return ms.Tensor(arrays[node["i"]].copy())
    if t == "scalar":
        return node["v"]
    if t == "dict":
        return {k: _to_ms(v, arrays) for k, v in zip(node["keys"], node["items"])}
    if t == "seq":
        items = [_to_ms(v, arrays) for v in node["items"]]
        return items if node["kind"] == "list" else tuple(items)
    return None


def run_sub(args: dict, arrays: list):
    """Run one sub-cell alone on the torch side's recorded input (sent as an encoded tuple)."""
    sub = dict(_S["cell"].cells_and_names())[args["path"]]
    inputs = _to_ms(args["in"], arrays)
    out = sub(*inputs)
    _sync()
    tensors: list = []
    return {"out": encode(out, tensors)}, tensors


# ------------------------------------------------------------------------------ levels
def _zero_dropout(cell) -> None:
    from agent.verify.dropout import patch_functional, zero_layers

    zero_layers(cell.cells_and_names())
    patch_functional("mindspore")

def loss_of(out):
    import mindspore as ms

    floats = (ms.float16, ms.float32, ms.float64, ms.bfloat16)
    total = None
    for t in (t for t in tensor_leaves(out, ms.Tensor) if t.dtype in floats):
        t = t.astype(ms.float32)
        term = (ms.ops.where(ms.ops.isfinite(t), t, ms.ops.zeros_like(t)) ** 2).mean()
        total = term if total is None else total + term
    return total


def _state(cell, tensors: list, params_only: bool = False) -> dict:
    named = {n: p for n, p in cell.parameters_and_names()}
    if not params_only and hasattr(cell, "named_buffers"):
        named.update({n: b for n, b in cell.named_buffers()})
    out = {}
    for name, t in named.items():
        tensors.append(np.asarray(t.asnumpy(), dtype=np.float32).copy())
        out[name] = len(tensors) - 1
    return out


def split_grads(grads, inputs: bool, params: bool) -> tuple:
    """(input gradients, parameter gradients) from what value_and_grad returned for those positions."""
    if inputs and params:
        in_grads, p_grads = grads
    elif inputs:
        in_grads, p_grads = grads, ()
    else:
        in_grads, p_grads = (), grads
    if inputs and not isinstance(in_grads, (tuple, list)):
        in_grads = (in_grads,)
    return in_grads, p_grads


def unique_names(pairs: list) -> None:
    """Name parameters by their path where two share a name: value_and_grad's ParameterTuple refuses
    duplicates (cells inserted under a container keep their local names)."""
    names = [p.name for _, p in pairs]
    if len(set(names)) != len(names):
        for path, p in pairs:
            p.name = path


def train(args: dict, arrays: list):
    cell = _S["cell"]
    cell.set_train(True)
    _zero_dropout(cell)
    try:
        out = cell(*_ms_args(unpack(args["inputs"], arrays)))
        _sync()
        tensors: list = []
        node = encode(out, tensors)
        return {"out": node, "state": _state(cell, tensors)}, tensors
    finally:
        cell.set_train(False)


def grad(args: dict, arrays: list):
    import mindspore as ms

    cell = _S.get("cell")
    target = cell if cell is not None else _S["obj"]
    if cell is not None:
        cell.set_train(not args.get("eval"))
        _zero_dropout(cell)
    pairs = [(n, p) for n, p in cell.parameters_and_names() if p.requires_grad] if cell is not None else []
    unique_names(pairs)
    margs = _ms_args(unpack(args["inputs"], arrays))
    float_pos = [i for i, a in enumerate(margs) if isinstance(a, ms.Tensor) and a.dtype in (ms.float16, ms.float32, ms.float64)]
    try:
        fn = ms.value_and_grad(lambda *xs: loss_of(target(*xs)), tuple(float_pos) if float_pos else None,
                               ms.ParameterTuple([p for _, p in pairs]) if pairs else None)
        loss, grads = fn(*margs)
        _sync()
    finally:
        if cell is not None:
            cell.set_train(False)
    in_grads, p_grads = split_grads(grads, bool(float_pos), bool(pairs))
    tensors, out = [], {}
    for (name, _), g in zip(pairs, p_grads):
        tensors.append(np.asarray(g.asnumpy(), dtype=np.float32).copy())
        out[name] = len(tensors) - 1
    inputs = [None] * len(margs)
    for pos, g in zip(float_pos, in_grads):
        tensors.append(np.asarray(g.asnumpy(), dtype=np.float32).copy())
        inputs[pos] = len(tensors) - 1
    return {"loss": float(loss.asnumpy()), "grads": out, "input_grads": inputs}, tensors


def step(args: dict, arrays: list):
    import mindspore as ms

    cell = _S["cell"]
    cell.set_train(True)
    _zero_dropout(cell)
    params = [p for _, p in cell.parameters_and_names() if p.requires_grad]
    module, _, cls = args["ms_api"].rpartition(".")
    try:
        opt = getattr(importlib.import_module(module), cls)(params, **args["kwargs"])
        fn = ms.value_and_grad(lambda *xs: loss_of(cell(*xs)), None, opt.parameters)
        _, grads = fn(*_ms_args(unpack(args["inputs"], arrays)))
        opt(grads)
        _sync()
    finally:
        cell.set_train(False)
    tensors: list = []
    return {"state": _state(cell, tensors, params_only=True)}, tensors


def graph(args: dict, arrays: list):
    import mindspore as ms

    cell = _S["cell"]
    cell.set_train(False)
    try:
        out = ms.jit(cell)(*_ms_args(unpack(args["inputs"], arrays)))
        _sync()
    except Exception as exc:  # noqa: BLE001
        text = str(exc).split("\n-----", 1)[0].strip()  # drop MindSpore's C++ stack banner
        return {"error": f"graph mode (mindspore.jit): {type(exc).__name__}: {text[:600]}"}, []
    tensors: list = []
    return {"out": encode(out, tensors)}, tensors


def ping(args: dict, arrays: list):
    """Nothing: a session's round trip, for benchmarks and health checks."""
    return {}, []


def align_random(args: dict, arrays: list):
    """Draw from the aligned stream from now on (the torch side found the unit's randomness all in its
    sampling functions: see aligned_random)."""
    aligned_random.install_ms()
    aligned_random.enable()
    return {}, []


OPS = {name: aligned_random.resetting(op) for name, op in {
    "ping": ping, "import": import_unit, "load": load, "weights": weights, "run": run, "record": record,
    "run_sub": run_sub, "train": train, "grad": grad, "step": step, "graph": graph,
    "align_random": align_random}.items()}
