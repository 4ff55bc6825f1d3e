"""What execution saw: the call sites in the repo where torch ran a function or Tensor method.

Static inference cannot always tell that `h.size(0)` is called on a tensor (h came from a helper
method, a dict, a loop). Running the torch original once under a TorchFunctionMode records, for
every torch call, the repo source position that made it; the rules' second pass converts the
method calls at those positions and nothing else. Tensor stores into torch layers' attributes are
recorded too (weight tying). After the eval-mode forward, a train-mode forward and its backward run
under the same recording (custom autograd Functions' backward code, train-only branches). Runs in the
worker, torch side only.
"""
from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path

from agent.verify.weights import seed_torch


def _position(frame) -> tuple[int, int] | None:
    """(line, column) where the current instruction's expression starts (Python 3.11+ positions)."""
    code = frame.f_code
    try:
        positions = _POSITIONS.get(code)
        if positions is None:
            positions = _POSITIONS[code] = list(code.co_positions())
        line, _end, col, _end_col = positions[frame.f_lasti // 2]
    except (AttributeError, IndexError, ValueError):
        return (frame.f_lineno, -1)
    return (line, col) if line is not None and col is not None else (frame.f_lineno, -1)


_POSITIONS: dict = {}
_LAYER_CODE = "/torch/nn/modules/"


def _mode_class():
    from torch.overrides import TorchFunctionMode

    class Recorder(TorchFunctionMode):
        def __init__(self, root: Path):
            super().__init__()
            self.root = str(root) + "/"
            self.sites: set[tuple[str, int, int, str]] = set()

        def __torch_function__(self, func, types, args=(), kwargs=None):
            frame = sys._getframe(1)
            for _ in range(6):  # torch's own Python wrappers sit between the call and the repo
                if frame is None or frame.f_code.co_filename.startswith(self.root):
                    break
                if _LAYER_CODE in frame.f_code.co_filename:
                    frame = None  # a torch layer's forward made the call (`self.softmax(x)`): not a repo site
                    break
                frame = frame.f_back
            if frame is not None and frame.f_code.co_filename.startswith(self.root):
                line, col = _position(frame)
                name = getattr(func, "__name__", "") or ""
                rel = frame.f_code.co_filename[len(self.root):]
                self.sites.add((rel, line, col, name))
                if name in FLOAT_OF_INTEGER and args and _integral(args[0]):
                    self.sites.add((rel, line, col, INTEGER_INPUT + name))
            return func(*args, **(kwargs or {}))

    return Recorder


@contextmanager
def _stores_into_layers(recorder):
    """Also record where repo code assigns a tensor to an attribute of a torch layer
    (`self.wte.weight = self.head.weight`, weight tying): MindSpore may name that parameter otherwise
    (Embedding's is `embedding_table`), and only the layer's class, seen here, tells the rules which."""
    import torch

    original = torch.nn.Module.__setattr__

    def spy(module, name, value):
        cls = type(module)
        if isinstance(value, torch.Tensor) and cls.__module__.startswith("torch.nn."):
            frame = sys._getframe(1)
            if frame.f_code.co_filename.startswith(recorder.root):
                line, col = _position(frame)
                rel = frame.f_code.co_filename[len(recorder.root):]
                recorder.sites.add((rel, line, col, f"{STORE}{name}:torch.nn.{cls.__name__}"))
        original(module, name, value)

    torch.nn.Module.__setattr__ = spy
    try:
        yield
    finally:
        torch.nn.Module.__setattr__ = original


STORE = "setattr:"  # observed-site name prefix for attribute stores: "setattr:<attr>:<torch class>"
INTEGER_INPUT = "int-input:"  # observed-site name prefix: a float function torch ran on an integer tensor
# functions torch computes in its default float dtype when given integer or bool tensors, where MindSpore's
# CPU kernels refuse them (`torch.log(torch.arange(1, n + 1))`, `torch.sqrt(torch.tensor(d_k))`)
FLOAT_OF_INTEGER = frozenset({"log", "log2", "log10", "log1p", "exp", "expm1", "sqrt", "rsqrt", "sin", "cos", "tan",
                              "tanh", "sigmoid", "erf", "erfinv", "reciprocal", "sinh", "cosh", "asin", "acos",
                              "atan", "lgamma", "digamma"})


def _integral(value) -> bool:
    import torch

    return isinstance(value, torch.Tensor) and not (value.dtype.is_floating_point or value.dtype.is_complex)


def observe_unit(pt_root: str, unit: dict, specs=None, imp=None) -> dict:
    """Run the unit's torch side once (first spec torch accepts) and list the torch call sites it hit."""
    import torch

    from agent.verify.inputs import make_arrays
    from agent.verify.loader import RepoImporter, load_unit
    from agent.verify.spec_choice import choose_spec, evaluate, torch_args

    root = Path(pt_root).resolve()
    imp = imp or RepoImporter(str(root), "torch")
    try:
        obj = load_unit(imp, unit["module"], unit["name"])
    except Exception as exc:
        return {"sites": [], "error": f"{type(exc).__name__}: {exc}"}
    choice = choose_spec(imp, unit, obj, specs or [])
    if choice.spec is None or not choice.sizes:
        return {"sites": [], "error": "no spec ran on the torch side"}
    model = choice.model
    recorder = _mode_class()(root)
    try:
        with imp.active(), torch.no_grad(), recorder, _stores_into_layers(recorder):
            if choice.init:  # construction too: weight-init code calls tensor methods (.data.zero_())
                seed_torch(0)
                model = evaluate(imp, unit["module"], choice.init)
                model.eval()
            model(*torch_args(make_arrays(choice.sizes[0], 0, 0)))
    except Exception as exc:
        return {"sites": sorted(recorder.sites), "error": f"{type(exc).__name__}: {exc}"}
    try:
        with imp.active(), recorder, _stores_into_layers(recorder), _into_custom_backward(recorder):
            _backward_pass(model, torch_args(make_arrays(choice.sizes[0], 0, 0)))
    except Exception:  # noqa: BLE001 - a unit that cannot train: the eval pass's sites stand
        pass
    # the constructor call torch accepted: the judge has the MindSpore side build it early next time
    return {"sites": sorted(recorder.sites), "init": choice.init if choice.kind is None else None}


@contextmanager
def _into_custom_backward(recorder):
    """The autograd engine runs a custom Function's backward outside the recording mode: enter it again
    there, so the tensor methods of that backward are seen."""
    from torch.autograd.function import BackwardCFunction

    original = BackwardCFunction.apply

    def apply(self, *args):
        with recorder:
            return original(self, *args)

    BackwardCFunction.apply = apply
    try:
        yield
    finally:
        BackwardCFunction.apply = original


def _backward_pass(model, args: list) -> None:
    """A train-mode forward and its backward: code that runs only there (a custom autograd Function's
    backward, a train-only branch) calls tensor methods the rules must see too."""
    import torch

    from agent.verify.reference import loss_of

    if isinstance(model, torch.nn.Module):
        model.train()
    given = []
    for a in args:
        if isinstance(a, torch.Tensor) and a.is_floating_point():
            a = a.detach().requires_grad_(True).clone()  # a copy: in-place ops on a leaf that requires grad fail
        given.append(a)
    loss = loss_of(model(*given))
    if loss.requires_grad:
        loss.backward()
