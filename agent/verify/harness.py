"""Verify one unit: run the torch original and its MindSpore translation side by side.

Called in the warm worker as `verify_unit(**args)`; returns the JSON-serialisable result
described in docs/architecture.md. The torch side is the oracle: the first spec it accepts is
used for every trial (3 seeds x 2 input sizes), with the torch weights copied into the cell and
the same numpy-generated inputs on both sides. `level` (verify/levels.py) adds train-mode,
gradient, optimizer-step and graph-mode checks after the forward trials; the result's `levels`
holds a status per level run, and the unit is verified only when every level passed.

`timing` holds the forward calls of the trials alone (inputs are built and modules swapped in
before the timers start); MindSpore's forward ends once its asynchronous kernel queue has
drained, so its compute is not billed to the comparison that first reads the output.
"""
from __future__ import annotations

import math
import re
import time
from pathlib import Path

from agent.verify.compare import Mismatch, compare_outputs
from agent.verify.levels import LEVELS, LevelContext, levels_for, run_levels
from agent.verify.loader import MISSING, ForbiddenImport, RepoImporter, UnitNotFound, load_unit
from agent.verify.localize import localize
from agent.verify.spec_choice import choose_spec
from agent.verify.spec_choice import drain as _drain
from agent.verify.spec_choice import evaluate as _evaluate
from agent.verify.spec_choice import make_arrays as _make_arrays
from agent.verify.spec_choice import ms_args as _ms_args
from agent.verify.spec_choice import ms_sync as _ms_sync
from agent.verify.spec_choice import run_torch as _run_torch
from agent.verify.spec_choice import shapes as _shapes
from agent.verify.spec_choice import torch_args as _torch_args
from agent.verify.weights import WeightMapError, perturb_constants, transfer_weights

_KERNEL_MISSING = re.compile(
    r"kernel.{0,80}(unregistered|not registered|not found|not support)|not supported on this device"
    r"|Unsupported op|can ?not find.{0,40}kernel",
    re.I | re.S,
)

_IMPORTERS: dict[tuple[str, str], tuple[RepoImporter, dict]] = {}


class UnitFailure(Exception):
    def __init__(self, failure: str, reason: str, status: str = "failed"):
        super().__init__(reason)
        self.failure, self.reason, self.status = failure, reason, status


def _files_state(imp: RepoImporter) -> dict:
    out = {}
    for mod in imp.modules.values():
        f = getattr(mod, "__file__", None)
        if f and Path(f).exists():
            st = Path(f).stat()
            out[f] = (st.st_mtime_ns, st.st_size)
    return out


def importer_for(root: str, side: str) -> RepoImporter:
    """A cached importer per (root, side); dropped when a file it loaded changed (repair rewrote it)."""
    key = (str(Path(root).resolve()), side)
    cached = _IMPORTERS.get(key)
    # an importer that refused a file (it imported torch) has no state for it: never reuse that one
    if cached is not None and not cached[0].violations and _files_state(cached[0]) == cached[1]:
        return cached[0]
    imp = RepoImporter(key[0], side)
    _IMPORTERS[key] = (imp, {})
    return imp


def _remember_state(imp: RepoImporter) -> None:
    _IMPORTERS[(str(imp.root), imp.side)] = (imp, _files_state(imp))


def _set_context(device: str) -> None:
    import mindspore as ms

    ms.set_context(mode=ms.PYNATIVE_MODE)
    target = {"cpu": "CPU", "gpu": "GPU", "ascend": "Ascend"}.get(device.lower(), device)
    try:
        ms.set_device(target)
    except Exception:  # the device is fixed once a kernel ran; a warm worker keeps its first choice
        pass


def _classify(exc: BaseException, missing: list[dict], stage: str) -> UnitFailure:
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, NameError):
        for m in missing:
            if getattr(exc, "name", None) in m["names"]:
                return UnitFailure("import", f"needs module {m['module']!r} that failed to import (line {m['line']})")
    if _KERNEL_MISSING.search(str(exc)):
        return UnitFailure("missing-kernel", text[:800])
    return UnitFailure(stage, text[:800])


def _missing(imp: RepoImporter, module: str) -> list[dict]:
    mod = imp.modules.get(module)
    return list(getattr(mod, MISSING, []) or []) if mod is not None else []


def _choose_spec(pt_imp, unit, pt_obj, specs):
    """(public spec, init, sizes, torch object built with seed 0, tried) for the first spec torch accepts."""
    c = choose_spec(pt_imp, unit, pt_obj, specs)
    return c.spec, c.init, c.sizes, c.model, c.tried


def _finite(x):
    return x if x is None or math.isfinite(x) else None


def verify_unit(pt_root, ms_root, unit, specs=None, device="cpu", seeds=(0, 1, 2), kb_root=None,
                level="forward") -> dict:
    start = time.perf_counter()
    result = {
        "status": "failed", "failure": None, "reason": "", "trials": 0, "max_abs": None, "max_rel": None,
        "cosine": None, "weight_map": None, "spec": None, "divergence": None, "seconds": 0.0, "notes": [],
        "timing": {"torch_forward": 0.0, "ms_forward": 0.0}, "level": level, "levels": {},
    }
    _drain()  # an error queued by an earlier unit's failed MindSpore call is not this unit's
    try:
        if level not in LEVELS:
            raise UnitFailure("exception", f"unknown verification level {level!r}; choose one of {', '.join(LEVELS)}")
        _verify(pt_root, ms_root, unit, specs, device, list(seeds), kb_root, result, level)
        result["status"] = "verified"
    except UnitFailure as f:
        result.update(status=f.status, failure=f.failure, reason=f.reason)
    except Exception as exc:  # a verifier fault must still come back as a result, not kill the request
        result.update(failure="exception", reason=f"verifier error: {type(exc).__name__}: {str(exc)[:500]}")
    if "forward" not in result["levels"]:
        result["levels"]["forward"] = {"status": result["status"], "failure": result["failure"],
                                       "reason": result["reason"]}
    result["seconds"] = round(time.perf_counter() - start, 4)
    for k in ("max_abs", "max_rel", "cosine"):
        result[k] = _finite(result[k])
    return result


def _load_kb(kb_root):
    from agent.kb.store import KB, load_kb

    try:
        return load_kb(str(kb_root) if kb_root else None)
    except Exception:  # no KB on disk: user modules still map by identity
        return KB([])


def _verify(pt_root, ms_root, unit, specs, device, seeds, kb_root, result, level="forward") -> None:
    import torch

    _set_context(device)
    kb = _load_kb(kb_root)
    module, name = unit["module"], unit["name"]
    is_module = unit.get("kind", "module") == "module"

    pt_imp = importer_for(pt_root, "torch")
    try:
        pt_obj = load_unit(pt_imp, module, name)
    except UnitNotFound as exc:
        missing = _missing(pt_imp, module)
        raise UnitFailure("import", f"torch side: {exc}", "not-exercised" if missing else "failed") from None
    except Exception as exc:
        raise UnitFailure("import", f"torch side: {type(exc).__name__}: {exc}", "not-exercised") from None
    finally:
        _remember_state(pt_imp)

    # the model comes back built (and perturbed) for the first seed, with its torch outputs on that
    # seed's inputs: those runs are the first trial's torch forwards
    choice = choose_spec(pt_imp, unit, pt_obj, specs, seed=seeds[0], as_trial=True)
    spec, init_text, sizes, pt_model, tried = choice.spec, choice.init, choice.sizes, choice.model, choice.tried
    if spec is None:
        missing = _missing(pt_imp, module)
        lead = "; ".join(f"missing module {m['module']!r} (line {m['line']})" for m in missing)
        raise UnitFailure("import" if missing else None, (lead + "; " if lead else "")
                          + "no spec ran on the torch side; tried: " + " | ".join(tried[:8]), "not-exercised")
    result["spec"] = spec
    if len(sizes) < 2:
        result["notes"].append("the torch side accepted only one input size")

    ms_imp = importer_for(ms_root, "ms")
    try:
        ms_obj = load_unit(ms_imp, module, name)
    except ForbiddenImport:
        pass
    except Exception as exc:
        if not ms_imp.violations:
            raise _classify(exc, _missing(ms_imp, module), "import") from None
    finally:
        _remember_state(ms_imp)
    if ms_imp.violations:
        v = ms_imp.violations[0]
        raise UnitFailure("import", f"MindSpore side imports {v['module']} at {v['file']}:{v['line']}")
    ms_missing = _missing(ms_imp, module)

    ms_model = ms_obj
    if is_module:
        try:
            ms_model = _evaluate(ms_imp, module, init_text)
            ms_model.set_train(False)
        except Exception as exc:
            raise _classify(exc, ms_missing, "construct") from None

    worst = {"max_abs": 0.0, "max_rel": 0.0, "cosine": 1.0}
    for seed_idx, seed in enumerate(seeds):
        if is_module and seed_idx > 0:
            torch.manual_seed(seed)  # rebuilding the torch module is cheap; the cell is reused
            pt_model = _evaluate(pt_imp, module, init_text)
            pt_model.eval()
            perturb_constants(pt_model, seed)
        if is_module:
            try:
                result["weight_map"] = transfer_weights(pt_model, ms_model, kb, device)
            except WeightMapError as exc:
                raise UnitFailure("weights", str(exc)) from None
        for size_idx, size in enumerate(sizes):
            arrays = _make_arrays(size, seed, size_idx)
            # The timers hold the forward calls only; MindSpore runs ops asynchronously, so its
            # forward ends when the pipeline has drained, not when the call returns.
            if seed_idx == 0 and size_idx < len(choice.outputs):
                pt_out, seconds = choice.outputs[size_idx]
            else:
                with pt_imp.active():
                    args = _torch_args(arrays)
                    t0 = time.perf_counter()
                    pt_out = _run_torch(pt_model, args)
                    seconds = time.perf_counter() - t0
            result["timing"]["torch_forward"] += seconds
            try:
                with ms_imp.active():
                    args = _ms_args(arrays)
                    t0 = time.perf_counter()
                    ms_out = ms_model(*args)
                    _ms_sync()
                    result["timing"]["ms_forward"] += time.perf_counter() - t0
            except Exception as exc:
                raise _classify(exc, ms_missing, "exception") from None
            result["trials"] += 1
            try:
                cmp = compare_outputs(pt_out, ms_out)
            except Mismatch as exc:
                stats = exc.comparison
                if stats is not None and stats.outputs:
                    result.update(max_abs=stats.max_abs, max_rel=stats.max_rel, cosine=stats.cosine)
                if is_module:
                    with ms_imp.active():
                        try:
                            result["divergence"] = localize(pt_model, ms_model, _torch_args(arrays), _ms_args(arrays))
                        except Exception as lexc:  # localization is advice; the failure stands regardless
                            result["notes"].append(f"localization failed: {type(lexc).__name__}: {lexc}")
                raise UnitFailure(exc.failure, f"seed {seed}, inputs {_shapes(size)}: {exc}") from None
            for n in cmp.notes:
                if n not in result["notes"]:
                    result["notes"].append(n)
            worst["max_abs"] = max(worst["max_abs"], cmp.max_abs)
            worst["max_rel"] = max(worst["max_rel"], cmp.max_rel)
            if cmp.cosine is not None:
                worst["cosine"] = min(worst["cosine"], cmp.cosine)
            result.update(worst)
    result["reason"] = f"{result['trials']} trials matched"
    result["levels"]["forward"] = {"status": "verified", "reason": result["reason"], "max_abs": result["max_abs"]}
    if level != "forward":
        _extra_levels(pt_root, ms_root, unit, kb, device, seeds[0], sizes[0], init_text, pt_imp, ms_imp, ms_model,
                      level, result)


def _extra_levels(pt_root, ms_root, unit, kb, device, seed, size, init_text, pt_imp, ms_imp, ms_model, level,
                  result) -> None:
    """train/grad/step/graph on the first seed and input size; a failing level fails the unit."""
    import torch

    names = levels_for(level)[1:]
    if unit.get("kind", "module") != "module":
        for name in names:
            result["levels"][name] = {"status": "not-run", "reason": "levels beyond forward apply to modules"}
        result["notes"].append(f"{unit['name']} is a function: verified at forward only")
        return

    def fresh():
        torch.manual_seed(seed)
        pt = _evaluate(pt_imp, unit["module"], init_text)
        perturb_constants(pt, seed)
        try:
            return pt, transfer_weights(pt, ms_model, kb, device)
        except WeightMapError as exc:
            raise UnitFailure("weights", str(exc)) from None

    arrays = _make_arrays(size, seed, 0)
    ctx = LevelContext(ms_model=ms_model, fresh=fresh, torch_args=lambda: _torch_args(arrays),
                       ms_args=lambda: _ms_args(arrays), pt_active=pt_imp.active, ms_active=ms_imp.active,
                       pt_root=pt_root, ms_root=ms_root, kb=kb, device=device)
    failure = run_levels(ctx, level, result["levels"])
    if failure is not None:
        name = next(n for n in names if result["levels"][n]["status"] == "failed")
        kind = "missing-kernel" if _KERNEL_MISSING.search(failure.reason) else failure.failure
        result["levels"][name]["failure"] = kind
        if failure.divergence:
            result["divergence"] = failure.divergence
        raise UnitFailure(kind, f"forward verified ({result['trials']} trials); {name} failed: {failure.reason}")
    result["reason"] += "; " + "; ".join(f"{n}: {result['levels'][n]['reason']}" for n in names)
