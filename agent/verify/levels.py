"""Verification levels beyond the eval-mode forward pass, run in the worker after `forward` passed.

    train  train-mode forward with every Dropout set to p=0 on both sides; outputs and the updated
           BatchNorm running statistics (every mapped tensor) must match after the pass.
    grad   gradients of a scalar loss (sum over float outputs of mean(out**2)), train mode, dropout
           off: torch autograd against mindspore.value_and_grad over the cell's trainable
           parameters, matched through the weight map.
    step   one optimizer step from the same state (optimizers.py picks the pairs): every updated
           parameter must match.
    graph  the cell compiled with mindspore.jit runs and matches the eval-mode torch forward.

A requested level runs every level before it in LEVELS order; the first failure stops the rest.
Each extra level uses one seed (the first) and the first input size, so its cost is one or two
forward/backward passes per side (graph adds one compilation).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LEVELS = ("forward", "train", "grad", "step", "graph")
# Gradients and updated weights accumulate more rounding than a forward pass.
GRAD_ATOL, GRAD_RTOL = 1e-4, 1e-3


class LevelFailure(Exception):
    def __init__(self, failure: str, reason: str, divergence: dict | None = None, max_abs: float | None = None):
        super().__init__(reason)
        self.failure, self.reason, self.divergence, self.max_abs = failure, reason, divergence, max_abs


def levels_for(level: str) -> list[str]:
    """The levels a request for `level` runs, forward first."""
    if level not in LEVELS:
        raise ValueError(f"unknown verification level {level!r}; choose one of {', '.join(LEVELS)}")
    return list(LEVELS[: LEVELS.index(level) + 1])


@dataclass
class LevelContext:
    """What the extra levels need from the harness; `fresh()` rebuilds torch from the seed and
    copies its weights into the cell again, returning (torch module, weight plan)."""

    ms_model: object
    fresh: object  # () -> (torch module, plan)
    torch_args: object  # () -> list of torch inputs (fresh copies)
    ms_args: object  # () -> list of MindSpore inputs
    pt_active: object  # context manager factory: the torch importer active
    ms_active: object
    pt_root: str
    ms_root: str
    kb: object
    device: str


# ------------------------------------------------------------------------------ helpers
def _torch_leaves(out) -> list:
    import torch

    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        return [x for v in out.values() for x in _torch_leaves(v)]
    if isinstance(out, (list, tuple)):
        return [x for v in out for x in _torch_leaves(v)]
    return []


def _ms_leaves(out) -> list:
    import mindspore as ms

    if isinstance(out, ms.Tensor):
        return [out]
    if isinstance(out, dict):
        return [x for v in out.values() for x in _ms_leaves(v)]
    if isinstance(out, (list, tuple)):
        return [x for v in out for x in _ms_leaves(v)]
    return []


def torch_loss(out):
    leaves = [t for t in _torch_leaves(out) if t.is_floating_point()]
    if not leaves:
        raise LevelFailure("exception", "no floating-point output to take a loss of")
    return sum((t.float() ** 2).mean() for t in leaves)


def ms_loss(out):
    import mindspore as ms

    floats = (ms.float16, ms.float32, ms.float64, ms.bfloat16)
    leaves = [t for t in _ms_leaves(out) if t.dtype in floats]
    total = None
    for t in leaves:
        term = (t.astype(ms.float32) ** 2).mean()
        total = term if total is None else total + term
    return total


def _zero_dropout_torch(module) -> None:
    for m in module.modules():
        if "Dropout" in type(m).__name__ and hasattr(m, "p"):
            m.p = 0.0


def _zero_dropout_ms(cell) -> None:
    for _, c in cell.cells_and_names():
        if "Dropout" in type(c).__name__:
            if hasattr(c, "p"):
                c.p = 0.0
            if hasattr(c, "keep_prob"):
                c.keep_prob = 1.0


def _close(pt: np.ndarray, ms_arr: np.ndarray, what: str, keep: np.ndarray | None = None) -> float:
    pt, ms_arr = np.asarray(pt, dtype=np.float64), np.asarray(ms_arr, dtype=np.float64)
    if pt.shape != ms_arr.shape:
        raise LevelFailure("shape", f"{what}: shape {list(ms_arr.shape)} != torch {list(pt.shape)}")
    if pt.size == 0:
        return 0.0
    diff = np.abs(pt - ms_arr)
    if keep is not None:
        diff = np.where(keep, diff, 0.0)
    if not np.all(np.isfinite(diff)):
        raise LevelFailure("value", f"{what}: non-finite values differ")
    tol = GRAD_ATOL + GRAD_RTOL * float(np.abs(pt).max())
    worst = float(diff.max())
    if worst > tol:
        raise LevelFailure("value", f"{what}: max abs diff {worst:.3g} > {tol:.3g}", max_abs=worst)
    return worst


def _ms_tensors(cell) -> dict:
    out = {n: p for n, p in cell.parameters_and_names()}
    if hasattr(cell, "named_buffers"):
        out.update({n: b for n, b in cell.named_buffers()})
    return out


def _as_ms_layout(arr: np.ndarray, entry: dict) -> np.ndarray:
    from agent.verify.weights import TRANSFORMS

    return TRANSFORMS[entry["transform"]](arr) if entry.get("transform") else arr


def _compare_state(pt_model, ms_model, plan: dict, what: str, only_params: bool = False,
                   keep: dict | None = None) -> float:
    pt = dict(pt_model.named_parameters(remove_duplicate=False))
    if not only_params:
        pt.update(dict(pt_model.named_buffers(remove_duplicate=False)))
    ms_t = _ms_tensors(ms_model)
    worst = 0.0
    for tname, entry in plan.items():
        if entry.get("ms") is None or tname not in pt or entry["ms"] not in ms_t:
            continue
        t = pt[tname].detach().float().numpy()
        mask = (keep or {}).get(tname)
        mask = _as_ms_layout(mask, entry) if mask is not None else None
        worst = max(worst, _close(_as_ms_layout(t, entry), ms_t[entry["ms"]].asnumpy(), f"{what} {tname}", mask))
    return worst


def _compare_outputs(pt_out, ms_out, what: str) -> float:
    from agent.verify.compare import Mismatch, compare_outputs

    try:
        return compare_outputs(pt_out, ms_out).max_abs
    except Mismatch as exc:
        raise LevelFailure(exc.failure, f"{what}: {exc}") from None


def _trainable(ms_model) -> tuple[list[str], list]:
    pairs = [(n, p) for n, p in ms_model.parameters_and_names() if p.requires_grad]
    return [n for n, _ in pairs], [p for _, p in pairs]


# ------------------------------------------------------------------------------ the levels
def level_train(ctx: LevelContext) -> dict:
    import torch

    pt, plan = ctx.fresh()
    pt.train()
    _zero_dropout_torch(pt)
    ctx.ms_model.set_train(True)
    _zero_dropout_ms(ctx.ms_model)
    try:
        with ctx.pt_active(), torch.no_grad():
            pt_out = pt(*ctx.torch_args())
        with ctx.ms_active():
            ms_out = ctx.ms_model(*ctx.ms_args())
        worst = _compare_outputs(pt_out, ms_out, "train-mode output")
        worst = max(worst, _compare_state(pt, ctx.ms_model, plan, "after the train-mode pass,"))
    finally:
        ctx.ms_model.set_train(False)
    return {"max_abs": worst, "reason": "train-mode outputs and running statistics matched"}


def _ms_value_and_grad(ctx: LevelContext, weights):
    import mindspore as ms

    def forward_fn(*xs):
        return ms_loss(ctx.ms_model(*xs))

    return ms.value_and_grad(forward_fn, None, weights)


def level_grad(ctx: LevelContext) -> dict:
    import mindspore as ms

    pt, plan = ctx.fresh()
    pt.train()
    _zero_dropout_torch(pt)
    ctx.ms_model.set_train(True)
    _zero_dropout_ms(ctx.ms_model)
    names, params = _trainable(ctx.ms_model)
    try:
        with ctx.pt_active():
            pt.zero_grad(set_to_none=True)
            pt_l = torch_loss(pt(*ctx.torch_args()))
            pt_l.backward()
        with ctx.ms_active():
            ms_l, grads = _ms_value_and_grad(ctx, ms.ParameterTuple(params))(*ctx.ms_args())
    finally:
        ctx.ms_model.set_train(False)
    worst = _close(np.array(pt_l.item()), np.array(float(ms_l)), "loss")
    ms_grads = dict(zip(names, grads))
    pt_params = dict(pt.named_parameters(remove_duplicate=False))
    checked = 0
    for tname, entry in plan.items():
        if tname not in pt_params or entry.get("ms") not in ms_grads or not pt_params[tname].requires_grad:
            continue
        p = pt_params[tname]
        g = p.grad.detach().float().numpy() if p.grad is not None else np.zeros(tuple(p.shape), np.float32)
        worst = max(worst, _close(_as_ms_layout(g, entry), ms_grads[entry["ms"]].asnumpy(), f"gradient of {tname}"))
        checked += 1
    return {"max_abs": worst, "reason": f"loss and {checked} parameter gradients matched"}


# MindSpore's Adam adds eps to sqrt(v) before the bias correction, torch after it: on step 1 the
# effective eps is eps/sqrt(1-beta2), ~3e-7 for the defaults. That changes the update only where
# |grad| is within a few hundred times that size, so those elements are left out of the check.
ADAM_GRAD_FLOOR = 1e-4  # effect of the eps convention below it: up to lr * 3e-7 / |g|


def _adam_comparable(pair, pt) -> dict | None:
    if "Adam" not in pair.torch_api:
        return None
    return {n: (p.grad.detach().abs().numpy() > ADAM_GRAD_FLOOR) if p.grad is not None else None
            for n, p in pt.named_parameters(remove_duplicate=False)}


def level_step(ctx: LevelContext) -> dict:
    from agent.verify.optimizers import build_ms_optimizer, build_torch_optimizer, repo_optimizers

    pairs = repo_optimizers(ctx.pt_root, ctx.ms_root, ctx.kb, ctx.device)
    worst, done = 0.0, []
    for pair in pairs:
        where = f" (from {pair.where})" if pair.where != "default" else ""
        div = {"torch_api": pair.torch_api, "level": "step"}
        if pair.ms_api is None:
            raise LevelFailure("exception", f"step: {pair.torch_api}{where} has no MindSpore optimizer in the "
                               "translation", div)
        pt, plan = ctx.fresh()
        pt.train()
        _zero_dropout_torch(pt)
        ctx.ms_model.set_train(True)
        _zero_dropout_ms(ctx.ms_model)
        _, params = _trainable(ctx.ms_model)
        before = [p.asnumpy().copy() for p in params]
        try:
            with ctx.pt_active():
                opt = build_torch_optimizer(pair, [p for p in pt.parameters() if p.requires_grad])
                opt.zero_grad()
                torch_loss(pt(*ctx.torch_args())).backward()
                opt.step()
            keep = _adam_comparable(pair, pt)
            with ctx.ms_active():
                try:
                    ms_opt = build_ms_optimizer(pair, params)
                    _, grads = _ms_value_and_grad(ctx, ms_opt.parameters)(*ctx.ms_args())
                    ms_opt(grads)
                except Exception as exc:
                    raise LevelFailure("exception", f"step with {pair.ms_api}: {type(exc).__name__}: "
                                       f"{str(exc)[:300]}", div) from None
        finally:
            ctx.ms_model.set_train(False)
        moved = any(not np.array_equal(b, p.asnumpy()) for b, p in zip(before, params))
        try:
            worst = max(worst, _compare_state(pt, ctx.ms_model, plan, f"after one {pair.ms_api} step,",
                                              only_params=True, keep=keep))
        except LevelFailure as exc:
            hint = "" if moved else f"; {pair.ms_api} left every parameter unchanged on {ctx.device}"
            raise LevelFailure(exc.failure, f"step: torch {pair.torch_api} vs {pair.ms_api}{where}: "
                               f"{exc.reason}{hint}", div, exc.max_abs) from None
        done.append(f"{pair.torch_api} -> {pair.ms_api}")
    return {"max_abs": worst, "reason": "one step matched: " + ", ".join(done)}


def level_graph(ctx: LevelContext) -> dict:
    import mindspore as ms
    import torch

    pt, _ = ctx.fresh()
    pt.eval()
    ctx.ms_model.set_train(False)
    with ctx.pt_active(), torch.no_grad():
        pt_out = pt(*ctx.torch_args())
    try:
        with ctx.ms_active():
            ms_out = ms.jit(ctx.ms_model)(*ctx.ms_args())
    except Exception as exc:
        text = str(exc).split("\n-----", 1)[0].strip()  # drop MindSpore's C++ stack banner
        raise LevelFailure("exception", f"graph mode (mindspore.jit): {type(exc).__name__}: {text[:600]}") from None
    return {"max_abs": _compare_outputs(pt_out, ms_out, "graph-mode output"),
            "reason": "compiled with mindspore.jit; outputs matched"}


RUNNERS = {"train": level_train, "grad": level_grad, "step": level_step, "graph": level_graph}


def run_levels(ctx: LevelContext, level: str, results: dict) -> LevelFailure | None:
    """Run the levels after forward up to `level`; fill results[name]; return the first failure."""
    for name in levels_for(level)[1:]:
        try:
            out = RUNNERS[name](ctx)
        except LevelFailure as exc:
            results[name] = {"status": "failed", "failure": exc.failure, "reason": exc.reason, "max_abs": exc.max_abs}
            for rest in levels_for(level)[levels_for(level).index(name) + 1:]:
                results[rest] = {"status": "not-run", "reason": f"{name} failed"}
            return exc
        except Exception as exc:  # a framework error inside a level is a failure of that level
            failure = LevelFailure("exception", f"{name}: {type(exc).__name__}: {str(exc)[:500]}")
            results[name] = {"status": "failed", "failure": "exception", "reason": failure.reason}
            for rest in levels_for(level)[levels_for(level).index(name) + 1:]:
                results[rest] = {"status": "not-run", "reason": f"{name} failed"}
            return failure
        results[name] = {"status": "verified", **out}
    return None
