"""The torch side of a verification, run in a sandboxed child forked from the torch template.

The torch original is the oracle: `prepare` finds the first spec it accepts, `model` builds it for
a seed (constants perturbed so a wrong mapping shows) and sends its tensors, `run` sends its
outputs for inputs the trusted side generated. The extra levels (`train`, `grad`, `step`) and
localization (`record`) send data the same way. Nothing here decides a verdict; one session
serves one unit, so module-level state lives exactly as long as that unit's check.
"""
from __future__ import annotations

import time
from functools import partial

import numpy as np

from agent.verify import aligned_random
from agent.verify.constructors import keyword_only_defaults
from agent.verify.kernel_rounding import emulating
from agent.verify.inputs import calibration_inputs, make_arrays, unpack
from agent.verify.loader import MISSING, RepoImporter, UnitNotFound, load_unit
from agent.verify.spec_choice import choose_spec, evaluate, is_random, run_torch, torch_args
from agent.verify.weights import calibrate_batchnorm, describe_torch, perturb_constants, seed_torch
from agent.verify.observe import observe_unit
from agent.verify.tree import encode, tensor_leaves

_S: dict = {}  # this session's unit: importer, spec choice, current model


def warm(device: str) -> None:
    """One small op: torch's allocator and thread pool start before the unit arrives."""
    import torch

    torch.set_num_threads(1)  # the MindSpore side runs beside it: two sides, one core each
    torch.nn.functional.linear(torch.ones(2, 2), torch.ones(2, 2)).sum().item()


def _missing(imp, module: str) -> list[dict]:

    mod = imp.modules.get(module)
    return [{k: m[k] for k in ("module", "line")} for m in (getattr(mod, MISSING, []) or [])] if mod else []


def prepare(args: dict, arrays: list):

    unit, seed = args["unit"], int(args["seed"])
    imp = _importer(args["pt_root"], args.get("references"))
    _new_unit()
    _S.update(imp=imp, unit=unit, seed0=seed)
    try:
        obj = load_unit(imp, unit["module"], unit["name"])
    except UnitNotFound as exc:
        return {"spec": None, "error": f"torch side: {exc}", "missing": _missing(imp, unit["module"])}, []
    except Exception as exc:  # noqa: BLE001 - the original itself does not import
        return {"spec": None, "error": f"torch side: {type(exc).__name__}: {exc}", "missing": []}, []
    choice = choose_spec(imp, unit, obj, args.get("specs") or [], seed=seed, as_trial=True,
                         calibrate=args.get("calibrate"))
    _S.update(obj=obj, choice=choice, model=choice.model, model_seed=seed)
    if choice.kind:
        _S["unit"] = dict(unit, kind=choice.kind)
    out = {"spec": choice.spec, "init": choice.init, "sizes": choice.sizes, "tried": choice.tried[:12],
           "missing": _missing(imp, unit["module"]), "kind": choice.kind,
           "calibrated": choice.calibrated, "norms": choice.norms, "errors": imp.statement_errors()[:50],
           "references": sorted(imp.references.used)}
    return out, []


def random(args: dict, arrays: list):
    """Whether the prepared unit is random (another torch seed, other outputs on the same inputs). Asked
    right after `prepare`, so it runs while the MindSpore side imports; before any trial. A random unit
    whose draws all go through torch's sampling functions is `aligned` instead (see aligned_random)."""
    if not is_random(_S["imp"], _S["choice"], _S["seed0"]):
        return {"random": False}, []
    if _aligned_is_deterministic():
        return {"random": False, "aligned": True}, []
    return {"random": True}, []


def _aligned_is_deterministic() -> bool:
    """Two runs under different torch seeds, both drawing from the aligned stream: the same outputs."""
    choice = _S["choice"]
    if not choice.sizes:
        return False
    aligned_random.install_torch()
    aligned_random.enable()
    outs = []
    for rng in (1_000, 2_000):
        aligned_random.reset()
        seed_torch(rng)
        try:
            with _S["imp"].active():
                out = run_torch(_S["model"] if _is_module() else _S["obj"],
                                torch_args(make_arrays(choice.sizes[0], _S["seed0"], 0)))
        except Exception:  # noqa: BLE001 - the unit then stays random
            break
        arrays: list = []
        outs.append((encode(out, arrays), arrays, aligned_random.draws()))
    same = (len(outs) == 2 and outs[0][2] > 0 and outs[0][0] == outs[1][0]
            and all(a.shape == b.shape and np.array_equal(a, b, equal_nan=True) for a, b in zip(outs[0][1], outs[1][1])))
    if not same:
        aligned_random.disable()
        return False
    choice.outputs = []  # spec choice ran without the stream: its outputs are not the aligned ones
    return True


def _is_module() -> bool:
    return _S["unit"].get("kind", "module") == "module"


def _fresh(seed: int):
    """The torch module built under `seed`, in eval mode, constants perturbed for that seed."""
    import torch


    seed_torch(seed)
    with aligned_random.paused():  # an init draws from torch's generator, seeded
        m = keyword_only_defaults(evaluate(_S["imp"], _S["unit"]["module"], _S["choice"].init))
    m.eval()
    perturb_constants(m, seed)
    sizes = _S["choice"].sizes
    if sizes and _S["choice"].calibrated:
        with _S["imp"].active():
            calibrate_batchnorm(m, [partial(run_torch, m, torch_args(arrays))
                                    for arrays in calibration_inputs(sizes[0], seed)])
    _restore_sent(m, seed)
    return m


def _restore_sent(m, seed: int) -> None:
    """The tensors this seed's model had when they were sent to the judge (and so to the MindSpore side):
    a second build under the same seed is not always the same model (a `torch.empty` nobody fills, an
    init drawn from numpy's or Python's generator)."""
    import torch

    sent = _S.get("sent", {}).get(seed)
    if sent is None:
        return
    desc, arrays = sent
    by_name = {f"{mod['path']}.{t['name']}" if mod["path"] else t["name"]: arrays[t["array"]]
               for mod in desc["modules"] for t in mod["tensors"] if "array" in t}
    with torch.no_grad():
        for name, t in [*m.named_parameters(), *m.named_buffers()]:
            a = by_name.get(name)
            if a is not None and tuple(a.shape) == tuple(t.shape):
                t.copy_(torch.from_numpy(a))


def _model_of(seed: int):
    """This seed's model, leaving the current one in place (the next seed's may already be built)."""
    return _S["model"] if seed == _S["model_seed"] else _fresh(seed)


def model(args: dict, arrays: list):

    seed = int(args["seed"])
    if seed != _S["model_seed"]:
        _S["model"], _S["model_seed"] = _fresh(seed), seed
    desc, tensors = describe_torch(_S["model"])
    _S.setdefault("sent", {})[seed] = (desc, tensors)
    return {"desc": desc}, tensors


def run(args: dict, arrays: list):

    seed, size = int(args["seed"]), int(args["size"])
    if _is_module() and seed != _S["model_seed"]:  # the model of the seed asked for, whatever ran since
        _S["model"], _S["model_seed"] = _fresh(seed), seed
    cached = _S["choice"].outputs
    if seed == _S["seed0"] and size < len(cached) and _S["model_seed"] == seed:
        out, seconds = cached[size]  # spec choice ran exactly these inputs on this model
    else:
        inputs = unpack(args["inputs"], arrays)
        with _S["imp"].active():
            targs = torch_args(inputs)
            t0 = time.perf_counter()
            out = run_torch(_S["model"] if _is_module() else _S["obj"], targs)
            seconds = time.perf_counter() - t0
    tensors: list = []
    return {"out": encode(out, tensors), "seconds": seconds}, tensors


def float64(args: dict, arrays: list):
    """The outputs of a float64 copy of this seed's model on these inputs (float inputs widened), sent
    as float32: the judge measures how far torch's own float32 result is from it, i.e. how much of the
    tolerance float32 rounding alone takes at this spec. With `emulate` (kernel errors by function name):
    the float32 model run with MindSpore's kernel rounding instead (verify/kernel_rounding.py)."""
    import copy

    seed, errors = int(args["seed"]), args.get("emulate")
    twin = _model_of(seed) if errors else copy.deepcopy(_model_of(seed)).double()
    inputs = unpack(args["inputs"], arrays)
    with _S["imp"].active(), emulating(errors, seed):
        out = run_torch(twin, torch_args(inputs if errors else _widened(inputs)))
    tensors: list = []
    node = encode(out, tensors)
    return {"out": node}, _narrowed(tensors)


def record(args: dict, arrays: list):
    """Every submodule's inputs and output on these inputs (forward hooks), for localization: the model of
    the seed asked for (the next seed's may already be built)."""
    import torch

    model_ = _model_of(int(args["seed"]))
    records, counts, handles, tensors = [], {}, [], []
    classes = {}
    for path, mod in model_.named_modules():
        if not path:
            continue
        classes[path] = type(mod).__name__

        def hook(m, inputs, output, path=path):
            idx = counts.get(path, 0)
            counts[path] = idx + 1
            if len(records) < 500:
                records.append({"path": path, "call": idx, "in": encode(tuple(inputs), tensors),
                                "out": encode(output, tensors)})

        handles.append(mod.register_forward_hook(hook))
    try:
        with _S["imp"].active(), torch.no_grad():
            model_(*torch_args(unpack(args["inputs"], arrays)))
    finally:
        for h in handles:
            h.remove()
    return {"records": records, "classes": classes}, tensors


# ------------------------------------------------------------------------------ levels
def _zero_dropout(module) -> int:
    """Dropout off (see verify.dropout); returns how many rates were zeroed."""
    from agent.verify.dropout import patch_functional, zero_layers

    patch_functional("torch")
    return zero_layers(module.named_modules())


def loss_of(out):
    import torch

    floats = [t for t in tensor_leaves(out, torch.Tensor) if t.is_floating_point()]
    if not floats:
        raise ValueError("no floating-point output to take a loss of")
    # the finite elements only: a masked logit (-inf) has no square to differentiate
    return sum((torch.where(torch.isfinite(t), t, 0.0).float() ** 2).mean() for t in floats)


def _state(m, tensors: list, params_only: bool = False) -> dict:
    named = dict(m.named_parameters(remove_duplicate=False))
    if not params_only:
        named.update(dict(m.named_buffers(remove_duplicate=False)))
    out = {}
    for name, t in named.items():
        tensors.append(t.detach().float().numpy().copy())
        out[name] = len(tensors) - 1
    return out


def _random_in_train(seed: int, inputs: list) -> bool:
    """True when the train-mode forward, dropout off, still gives different outputs under two RNG
    states (noise injection, random masking, sampling): no framework pair can be compared there."""
    import torch

    outs = []
    for rng in (1_000 + seed, 2_000 + seed):
        m = _fresh(seed)
        m.train()
        _zero_dropout(m)
        seed_torch(rng)
        if aligned_random.enabled():
            aligned_random.reset()
        with _S["imp"].active(), torch.no_grad():
            arrays: list = []
            encode(m(*torch_args(inputs)), arrays)
        outs.append(arrays)
    return any(a.shape != b.shape or not np.array_equal(a, b, equal_nan=True) for a, b in zip(*outs))


RANDOM_SKIP = "the train-mode forward is random even with dropout off (two torch runs differ): not comparable"


def train(args: dict, arrays: list):
    """Train-mode forward with dropout off: outputs and every tensor after the pass."""
    import torch

    inputs = unpack(args["inputs"], arrays)
    try:
        random_in_train = _random_in_train(int(args["seed"]), inputs)
    except Exception as exc:  # noqa: BLE001 - the original has no train mode to compare
        return _raises("in train mode", exc, args), []
    if random_in_train:
        _S["random_in_train"] = True
        return {"skip": RANDOM_SKIP}, []
    m = _fresh(int(args["seed"]))
    if args.get("float64"):
        m, inputs = m.double(), _widened(inputs)
    m.train()
    zeroed = _zero_dropout(m)
    if aligned_random.enabled():  # the randomness check above drew from the stream
        aligned_random.reset()
    with _S["imp"].active(), torch.no_grad(), emulating(args.get("emulate"), int(args["seed"])):
        try:
            out = m(*torch_args(inputs))
        except Exception as exc:  # noqa: BLE001 - the original has no train mode to compare
            return _raises("in train mode", exc, args), []
    tensors: list = []
    node = encode(out, tensors)
    return {"out": node, "state": _state(m, tensors), "dropout_zeroed": zeroed}, _narrowed(tensors)


def _raises(where: str, exc: Exception, args: dict) -> dict:
    """A level that does not apply: the torch original itself fails there (its eval forward ran). A
    float64 or emulated twin run that fails raises: the caller's float32 verdict stands."""
    if args.get("float64") or args.get("emulate"):
        raise exc
    return {"skip": f"the torch original raises {where} ({type(exc).__name__}: {str(exc)[:300]}): nothing to compare"}


def _widened(inputs: list) -> list:
    """float32 input arrays as float64 (a level's float64 twin run: how much rounding alone moves it)."""
    return [a.astype(np.float64) if isinstance(a, np.ndarray) and a.dtype == np.float32 else a for a in inputs]


def _narrowed(tensors: list) -> list:
    return [t.astype(np.float32) if isinstance(t, np.ndarray) and t.dtype == np.float64 else t for t in tensors]


def grad(args: dict, arrays: list):
    """Loss (mean of squares over float outputs), every parameter's gradient and the inputs' gradients.
    {"skip": why} when there is nothing to differentiate (no float output, or no parameter and no
    float input)."""
    import torch

    if _S.get("random_in_train"):
        return {"skip": RANDOM_SKIP}, []
    wide = bool(args.get("float64"))
    if _is_module():
        m = _fresh(int(args["seed"]))
        m = m.double() if wide else m
        m.train(not args.get("eval"))
        _zero_dropout(m)
        m.zero_grad(set_to_none=True)
        params = list(m.named_parameters(remove_duplicate=False))
    else:
        m, params = _S["obj"], []
    with _S["imp"].active():
        inputs = unpack(args["inputs"], arrays)
        targs = torch_args(_widened(inputs) if wide else inputs)
        floats = [a for a in targs if isinstance(a, torch.Tensor) and a.is_floating_point()]
        if not floats and not any(p.requires_grad for _, p in params):
            return {"skip": "nothing to differentiate: no trainable parameter and no float input"}, []
        for a in floats:
            a.requires_grad_(True)
        # the model gets copies: a leaf that requires grad refuses in-place ops (a first ReLU(inplace=True)),
        # which in training meet the output of an earlier layer, never a leaf; gradients reach the leaves
        given = [a.clone() if isinstance(a, torch.Tensor) and a.requires_grad else a for a in targs]
        with emulating(args.get("emulate"), int(args["seed"])):
            try:
                out = m(*given)
            except Exception as exc:  # noqa: BLE001 - its eval forward ran: differentiating it is what fails
                return _raises("when its inputs require gradients", exc, args), []
            if _changed_outside_autograd(out, given):
                return {"skip": "it returns its input changed in place outside autograd (under torch.no_grad, an "
                                "initialiser): torch's gradient does not see the change, nothing to compare"}, []
            try:
                loss = loss_of(out)
            except ValueError as exc:
                return {"skip": str(exc)}, []
            if not loss.requires_grad:
                return {"skip": "the output does not depend on a parameter or a float input"}, []
            try:
                loss.backward()
            except Exception as exc:  # noqa: BLE001 - a custom backward's own bug (`None.detach()`) too
                return _raises("in its backward pass", exc, args), []
    tensors, grads, frozen = [], {}, []
    for name, p in params:
        if not p.requires_grad:
            frozen.append(name)
            continue
        g = p.grad.detach().float().numpy() if p.grad is not None else np.zeros(tuple(p.shape), np.float32)
        tensors.append(g.copy())
        grads[name] = len(tensors) - 1
    inputs = []
    for a in targs:
        if isinstance(a, torch.Tensor) and a.requires_grad:
            g = a.grad
            tensors.append(g.detach().float().numpy().copy() if g is not None else np.zeros(tuple(a.shape), np.float32))
            inputs.append(len(tensors) - 1)
        else:
            inputs.append(None)
    return {"loss": float(loss.item()), "grads": grads, "frozen": frozen, "input_grads": inputs,
            "all_zero": bool(tensors) and not any(np.any(g) for g in tensors)}, tensors


def _changed_outside_autograd(out, given: list) -> bool:
    """OUT is (a tuple of) the tensors given, each changed in place with no op recorded since its copy."""
    import torch

    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    return bool(outs) and all(isinstance(t, torch.Tensor) and any(t is g for g in given) and t._version > 0
                              and type(t.grad_fn).__name__ == "CloneBackward0" for t in outs)


def step(args: dict, arrays: list):
    """One optimizer step (torch_api with kwargs) from the seed's state; parameters after it, and grads."""
    import importlib

    if _S.get("random_in_train"):
        return {"skip": RANDOM_SKIP}, []

    m = _fresh(int(args["seed"]))
    m.train()
    _zero_dropout(m)
    module, _, cls = args["torch_api"].rpartition(".")
    opt = getattr(importlib.import_module(module), cls)([p for p in m.parameters() if p.requires_grad],
                                                        **args["kwargs"])
    opt.zero_grad()
    with _S["imp"].active():
        loss_of(m(*torch_args(unpack(args["inputs"], arrays)))).backward()
        opt.step()
    tensors: list = []
    grads = {}
    for name, p in m.named_parameters(remove_duplicate=False):
        if p.grad is not None:
            tensors.append(p.grad.detach().float().numpy().copy())
            grads[name] = len(tensors) - 1
    return {"state": _state(m, tensors, params_only=True), "grads": grads}, tensors


def observe(args: dict, arrays: list):
    """The torch call sites the unit's original runs through (see verify.observe)."""
    imp = _importer(args["pt_root"], args.get("references"))
    return observe_unit(args["pt_root"], args["unit"], args.get("specs") or [], imp), []


def _importer(root: str, references: dict | None = None):
    """One importer per repository for the session: the next unit of the same file finds its modules
    loaded (a session serves the units of one file at most). REFERENCES: the KB's torch versions of
    torch-built libraries' names, bound where such a library cannot be imported here."""
    importers = _S.setdefault("importers", {})
    if root not in importers:
        importers[root] = RepoImporter(root, "torch")
    importers[root].references.sources.update(references or {})
    return importers[root]


def _new_unit() -> None:
    """Forget the previous unit of this session (its model, spec choice, flags); keep the importers."""
    importers = _S.get("importers")
    _S.clear()
    if importers is not None:
        _S["importers"] = importers


def ping(args: dict, arrays: list):
    """Nothing: a session's round trip, for benchmarks and health checks."""
    return {}, []


OPS = {name: aligned_random.resetting(op) for name, op in {
    "ping": ping, "prepare": prepare, "random": random, "model": model, "run": run, "record": record, "train": train,
    "grad": grad, "step": step, "observe": observe, "float64": float64}.items()}
