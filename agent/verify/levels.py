"""Verification levels beyond the eval-mode forward pass, judged in the trusted process.

    train  train-mode forward with every Dropout set to p=0 on both sides; outputs and the updated
           BatchNorm running statistics (every mapped tensor) must match after the pass.
    grad   loss (sum over float outputs of mean(out**2)), train mode, dropout off: the loss, every
           trainable parameter's gradient (matched through the weight map) and the gradient of
           every float input.
    step   one optimizer step from the same state (optimizers.py picks the pairs): every updated
           parameter must match.
    graph  the cell compiled with mindspore.jit runs and matches the eval-mode torch forward.

Each side computes its numbers in its own sandbox (`reference` / `candidate` operations of the
same names) and sends arrays; the comparisons below run here. A requested level runs every
level before it in LEVELS order; the first failure stops the rest. Levels use the first seed and
the first input size; a train level float32 cannot decide there runs once more at batch 8, a grad
level of a model with BatchNorm once more in eval mode (RETRIES).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from agent.verify import rounding
from agent.verify.compare import Mismatch, compare_trees
from agent.verify.inputs import larger_batch, make_arrays, pack
from agent.verify.rounding import NOISE_CEILING, NOISE_FACTOR, NOISE_TRIGGER
from agent.verify.weights import TRANSFORMS

LEVELS = ("forward", "train", "grad", "step", "graph")
# Gradients and updated weights accumulate more rounding than a forward pass.
GRAD_ATOL, GRAD_RTOL = 1e-4, 1e-3
# ...and each gradient tensor's relative L2 error: the absolute floor alone passed any gradient far
# smaller than it (a state-space scan's parameters, 1e-7, wrong by 18-100%, beside 1e-3 elsewhere), and
# an optimizer like Adam trains them at the same rate whatever their size. 5%: MindSpore's own float32
# backward kernels (not emulated, torch's error stays small) put a deep convnet's tensors up to 1.9% off.
GRAD_L2 = 5e-2
# ...except for a tensor at float32 noise: one a millionth of the unit's largest gradient element or
# less (a GroupNorm weight whose gradient is zero but for rounding), or one whose float32 run misses
# torch's float64 run by half its own size: there no relative error means anything
GRAD_L2_FLOOR, NOISE_DOMINATED = 1e-6, 0.5
# Train-mode BatchNorm over a batch of two normalises each channel by the spread of two numbers: where
# they nearly agree, float32 rounding decides the result. A train level float32 cannot decide at the
# spec's batch is run once more at this batch, on fresh draws.
RETRY_BATCH = 8
# MindSpore's Adam adds eps to sqrt(v) before the bias correction, torch after it: on step 1 the
# effective eps is eps/sqrt(1-beta2), ~3e-7 for the defaults. That changes the update only where
# |grad| is within a few hundred times that size, so those elements are left out of the check.
ADAM_GRAD_FLOOR = 1e-4


class LevelFailure(Exception):
    def __init__(self, failure: str, reason: str, divergence: dict | None = None, max_abs: float | None = None,
                 numeric: bool = True):
        super().__init__(reason)
        self.failure, self.reason, self.divergence, self.max_abs = failure, reason, divergence, max_abs
        self.numeric = numeric  # a difference of numbers (rounding may explain it), not of structure


def levels_for(level: str) -> list[str]:
    """The levels a request for `level` runs, forward first."""
    if level not in LEVELS:
        raise ValueError(f"unknown verification level {level!r}; choose one of {', '.join(LEVELS)}")
    return list(LEVELS[: LEVELS.index(level) + 1])


@dataclass
class LevelContext:
    """What the levels need: the two sessions, the first trial's inputs and weights, the plan."""

    ref: object  # sandbox Session on the torch side
    cand: object  # sandbox Session on the MindSpore side
    seed: int
    inputs: tuple  # (descriptors, arrays) of the first trial
    plan: dict
    weights: tuple  # (MindSpore names, arrays) of the first seed, reloaded before each level
    forward: tuple  # (torch output tree, arrays) of the first trial, eval mode
    pairs: list = field(default_factory=list)  # optimizer pairs for `step`
    size: list | None = None  # the input spec of `inputs` (inputs.make_arrays), to draw a larger batch
    grad_eval: bool = False  # gradients taken in eval mode (BatchNorm on its running statistics)
    kernel_errors: dict = field(default_factory=dict)  # MindSpore's float32 kernel errors (verify/kernel_rounding.py)

    def emulated(self, op: str, extra: dict | None = None) -> tuple | None:
        """Torch's float32 OP run of the first trial with MindSpore's kernel rounding (rounding.emulated_run)."""
        descs, arrays = self.inputs
        return rounding.emulated_run(self.ref.call, op, {"seed": self.seed, "inputs": descs, **(extra or {})},
                                     arrays, self.kernel_errors)

    def both(self, op: str, ref_args: dict | None = None, cand_args: dict | None = None):
        """Run `op` on both sides at once, from the first seed's weights; ((pt, arrays), (ms, arrays)).
        A torch reply {"skip": why} raises Skip: the level does not apply to this unit."""
        if self.weights is not None:
            self.cand.call("weights", {"names": self.weights[0]}, self.weights[1])
        descs, arrays = self.inputs
        self.ref.send(op, {"seed": self.seed, "inputs": descs, **(ref_args or {})}, arrays)
        self.cand.send(op, {"inputs": descs, **(cand_args or {})}, arrays)
        pt = self.ref.receive()
        try:
            ms = self.cand.receive()
        except Exception:
            if pt[0].get("skip"):
                raise Skip(pt[0]["skip"]) from None
            if pt[0].get("all_zero"):  # an input overwritten in place: MindSpore refuses to differentiate that
                raise Skip("every torch gradient is zero (the output does not depend on a parameter or a float "
                           "input here) and MindSpore cannot differentiate it: nothing to compare") from None
            raise
        if pt[0].get("skip"):
            raise Skip(pt[0]["skip"])
        return pt, ms


class Skip(Exception):
    """A level that does not apply to this unit (a function has no train mode, nothing to differentiate)."""


def close(pt: np.ndarray, ms_arr: np.ndarray, what: str, keep: np.ndarray | None = None, slack: float = 0.0,
          l2: float | None = None, l2_slack: float = 0.0) -> float:
    """The largest difference; LevelFailure past GRAD_ATOL + GRAD_RTOL of the largest element (+ SLACK),
    or with L2, past that relative L2 error (+ L2_SLACK) where torch's tensor is not all zeros."""
    pt, ms_arr = np.asarray(pt, dtype=np.float64), np.asarray(ms_arr, dtype=np.float64)
    if pt.shape != ms_arr.shape:
        raise LevelFailure("shape", f"{what}: shape {list(ms_arr.shape)} != torch {list(pt.shape)}")
    if pt.size == 0:
        return 0.0
    same = (pt == ms_arr) | (np.isnan(pt) & np.isnan(ms_arr))  # the same infinity (a causal mask's -inf) matches
    with np.errstate(invalid="ignore"):
        diff = np.where(same, 0.0, np.abs(pt - ms_arr))
    if keep is not None:
        diff = np.where(keep, diff, 0.0)
    if not np.all(np.isfinite(diff)):
        raise LevelFailure("value", f"{what}: non-finite values differ")
    finite = np.abs(pt[np.isfinite(pt)])
    tol = GRAD_ATOL + GRAD_RTOL * (float(finite.max()) if finite.size else 0.0) + slack
    worst = float(diff.max())
    if worst > tol:
        raise LevelFailure("value", f"{what}: max abs diff {worst:.3g} > {tol:.3g}", max_abs=worst)
    if l2 is not None and (rel := rel_l2(pt, ms_arr, keep)) > l2 + l2_slack:
        raise LevelFailure("value", f"{what}: relative L2 error {rel:.3g} > {l2 + l2_slack:.3g} (max abs diff "
                           f"{worst:.3g}, largest element {float(np.abs(pt).max()):.3g})", max_abs=worst)
    return worst


def rel_l2(pt: np.ndarray, other: np.ndarray, keep: np.ndarray | None = None) -> float:
    """||other - pt|| / ||pt|| over the kept elements; 0 where torch's are all zero."""
    pt, other = np.asarray(pt, np.float64), np.asarray(other, np.float64)
    if keep is not None:
        pt, other = np.where(keep, pt, 0.0), np.where(keep, other, 0.0)
    same = (pt == other) | (np.isnan(pt) & np.isnan(other))  # equal infinities add nothing to either norm
    pt, other = np.where(same & ~np.isfinite(pt), 0.0, pt), np.where(same & ~np.isfinite(other), 0.0, other)
    norm = float(np.linalg.norm(pt))
    return float(np.linalg.norm(other - pt)) / norm if norm > 0 else 0.0


def grad_close(pt, ms_arr, what: str, keep=None, slack: float = 0.0, l2_slack: float = 0.0, floor: float = 0.0) -> float:
    """close() with the relative L2 bound, for a gradient whose largest element passes FLOOR."""
    large = np.size(pt) > 0 and float(np.max(np.abs(pt))) > floor
    return close(pt, ms_arr, what, keep, slack, l2=GRAD_L2 if large else None, l2_slack=l2_slack)


def _layout(arr: np.ndarray, entry: dict) -> np.ndarray:
    return TRANSFORMS[entry["transform"]](arr) if entry.get("transform") else arr


def _compare_state(plan: dict, pt_state: dict, pt_arrays: list, ms_state: dict, ms_arrays: list, what: str,
                   keep: dict | None = None, slack: dict | None = None) -> float:
    worst = 0.0
    for tname, entry in plan.items():
        ms_name = entry.get("ms")
        if ms_name is None or tname not in pt_state or ms_name not in ms_state:
            continue
        mask = (keep or {}).get(tname)
        mask = _layout(mask, entry) if mask is not None else None
        worst = max(worst, close(_layout(pt_arrays[pt_state[tname]], entry), ms_arrays[ms_state[ms_name]],
                                 f"{what} {tname}", mask, (slack or {}).get(tname, 0.0)))
    return worst


def _compare_outputs(pt, pa, ms, ma, what: str) -> float:
    try:
        return compare_trees(pt, pa, ms, ma).max_abs
    except Mismatch as exc:
        raise LevelFailure(exc.failure, f"{what}: {exc}") from None


# ------------------------------------------------------------------------------ the levels
def _within_rounding(ctx: LevelContext, op: str, failure: LevelFailure, compare) -> LevelFailure:
    """FAILURE, or a precision failure when torch's own float32 numbers for OP miss a float64 run of
    the same level (the torch side's twin; COMPARE checks torch against it) by more than the tolerance:
    then float32 rounding alone decides the comparison."""
    if failure.failure != "value" or not failure.numeric:
        return failure
    descs, arrays = ctx.inputs
    try:
        wide = ctx.ref.call(op, {"seed": ctx.seed, "inputs": descs, "float64": True}, arrays)
        if wide[0].get("skip"):
            return failure
        compare(*wide)
    except LevelFailure as noise:
        return LevelFailure("precision", f"{failure.reason}; float32 rounding alone fails the tolerance here (torch's "
                            f"own float32 result against its float64 run: {noise.reason}), so this comparison cannot "
                            "tell a translation error from rounding", failure.divergence, failure.max_abs)
    except Exception:  # noqa: BLE001 - no float64 twin (a dtype fixed in the code): the failure stands
        return failure
    return failure


def _same_names(plan: dict | None) -> dict:
    """The weight plan for comparing torch with torch: every name to itself, no layout change."""
    return {t: {"ms": t} for t in plan or {}}


def level_train(ctx: LevelContext) -> dict:
    if ctx.plan is None:
        raise Skip("a function has no train mode")
    (pt, pa), (ms, ma) = ctx.both("train")

    def compare(plan, ref, ra, other, oa) -> float:
        worst = _compare_outputs(ref["out"], ra, other["out"], oa, "train-mode output")
        return max(worst, _compare_state(plan, ref["state"], ra, other["state"], oa, "after the train-mode pass,"))

    judged = ""
    try:
        worst = compare(ctx.plan, pt, pa, ms, ma)
    except LevelFailure as exc:
        worst, judged = _train_against_float64(ctx, exc, (pt, pa), (ms, ma))
        if worst is None:
            raise _within_rounding(ctx, "train", exc, lambda w, wa: compare(_same_names(ctx.plan), w, wa, pt, pa)) \
                from None
    off = f" (dropout off on both sides: {pt['dropout_zeroed']} rates zeroed)" if pt.get("dropout_zeroed") else ""
    return {"max_abs": worst, "reason": "train-mode outputs and running statistics matched" + off + judged}


def _train_against_float64(ctx: LevelContext, failure: LevelFailure, torch_run: tuple, ms_run: tuple) -> tuple:
    """After a train-mode mismatch: MindSpore's train-mode outputs and running statistics judged against torch's
    float64 run by verify/rounding.py's rule; (worst, note) when they pass, (None, "") when torch's own error
    is small (the float32 comparison stands). Raises `precision` when float32 cannot decide at this spec."""
    if failure.failure != "value" or not failure.numeric:
        return None, ""
    descs, arrays = ctx.inputs
    (pt, pa), (ms, ma) = torch_run, ms_run
    try:
        wide, wa = ctx.ref.call("train", {"seed": ctx.seed, "inputs": descs, "float64": True}, arrays)
        if wide.get("skip"):
            return None, ""
        emu = ctx.emulated("train")
        judged = rounding.judge(wide["out"], wa, pt["out"], pa, ms["out"], ma,
                                emulated=(emu[0]["out"], emu[1]) if emu else None)
    except rounding.Undecidable as exc:
        raise LevelFailure("precision", f"{failure.reason}; {exc}", failure.divergence, failure.max_abs) from None
    except Exception:  # noqa: BLE001 - no float64 twin, or MindSpore misses it: the float32 verdict decides
        return None, ""
    if judged is None:
        return None, ""
    cmp, note = judged
    error = {}  # torch's own float32 error per running statistic (or the emulated run's, where larger)
    for tname in ctx.plan or {}:
        for run, arrs in ((pt, pa), emu or (None, None)):
            try:
                truth = np.asarray(wa[wide["state"][tname]], np.float64)
                off = float(np.abs(truth - np.asarray(arrs[run["state"][tname]], np.float64)).max()) if truth.size else 0.0
            except (KeyError, IndexError, TypeError, ValueError):  # not in this run, or malformed
                continue
            error[tname] = max(error.get(tname, 0.0), off)
    worst = _compare_state(ctx.plan, wide["state"], wa, ms["state"], ma, "after the train-mode pass (against torch's "
                           "float64 run),", slack={t: NOISE_FACTOR * e for t, e in error.items()})
    return max(cmp.max_abs, worst), "; " + note


def level_grad(ctx: LevelContext) -> dict:
    mode = {"eval": True} if ctx.grad_eval else {}
    (pt, pa), (ms, ma) = ctx.both("grad", mode, mode)
    judged = ""
    try:
        worst, checked, inputs = _compare_grads(ctx.plan, pt, pa, ms, ma)
    except LevelFailure as exc:
        worst, checked, inputs, judged = _grads_against_float64(ctx, exc, pt, pa, ms, ma)
    extra_in = f" and {inputs} input gradient(s)" if inputs else ""
    return {"max_abs": worst, "reason": f"loss, {checked} parameter gradients{extra_in} matched{judged}"}


def _grads_against_float64(ctx: LevelContext, failure: LevelFailure, pt, pa, ms, ma) -> tuple:
    """After a gradient mismatch: when torch's own float32 gradients miss its float64 run by more than
    an eighth of the tolerance, judge every gradient against that run (see NOISE_FACTOR); (worst, parameter
    gradients, input gradients, note). The failure stands when rounding is not what failed it, or
    becomes `precision` when torch's error is too large a part of a gradient to decide anything."""
    if failure.failure != "value" or not failure.numeric:
        raise failure
    descs, arrays = ctx.inputs
    try:
        wide, wa = ctx.ref.call("grad", {"seed": ctx.seed, "inputs": descs, "float64": True, "eval": ctx.grad_eval},
                                arrays)
    except Exception:  # noqa: BLE001 - no float64 twin (a dtype fixed in the code): the failure stands
        raise failure from None
    if wide.get("skip"):
        raise failure
    noise: dict = {}

    def measure(truth, f32, what, keep=None, floor=0.0):
        truth, f32 = np.asarray(truth, np.float64), np.asarray(f32, np.float64)
        noise[what] = (float(np.abs(truth - f32).max()) if truth.size else 0.0,
                       float(np.abs(truth).max()) if truth.size else 0.0, rel_l2(truth, f32) if truth.size else 0.0)
        return 0.0

    _compare_grads(_same_names(ctx.plan), wide, wa, pt, pa, judge=measure)
    own = dict(noise)
    if emu := ctx.emulated("grad", {"eval": ctx.grad_eval}):
        try:
            _compare_grads(_same_names(ctx.plan), wide, wa, *emu, judge=measure)
        except LevelFailure:
            pass  # the emulated run differs in structure: torch's own error is the estimate
        noise = {w: tuple(map(max, own.get(w, (0.0, 0.0, 0.0)), n)) for w, n in noise.items()}
    tolerance = {w: GRAD_ATOL + GRAD_RTOL * size for w, (_, size, _) in noise.items()}
    # noisy: rounding alone moves torch's own tensor past an eighth of either bound
    noisy = {w: n for w, (n, _, rel) in noise.items() if n > NOISE_TRIGGER * tolerance[w] or rel > NOISE_TRIGGER * GRAD_L2}
    if not noisy:
        raise failure
    # a tensor is beyond deciding when rounding alone moves it past its tolerance by a large part of its size
    undecidable = [w for w, n in noisy.items() if n > tolerance[w] and n > NOISE_CEILING * noise[w][1]]
    if undecidable:
        raise LevelFailure("precision", f"{failure.reason}; float32 rounding alone moves torch's own "
                           f"{undecidable[0]} by {noise[undecidable[0]][0]:.3g} against its float64 run, over "
                           f"{NOISE_CEILING:g} of its size, so no float32 comparison can decide it at this spec",
                           failure.divergence, failure.max_abs) from None

    def against_truth(truth, f32, what, keep=None, floor=0.0):
        n, _, rel = noise.get(what, (0.0, 0.0, 0.0))
        return grad_close(truth, f32, f"{what} (against torch's float64 run)", keep, slack=NOISE_FACTOR * n,
                          l2_slack=math.inf if rel >= NOISE_DOMINATED else NOISE_FACTOR * rel, floor=floor)

    worst, checked, inputs = _compare_grads(ctx.plan, wide, wa, ms, ma, judge=against_truth)
    first = max(noisy, key=noisy.get)
    whose = ("MindSpore's kernel rounding (emulated on torch's side) moves the gradients"
             if noise[first] > own.get(first, (0.0, 0.0, 0.0)) else "float32 rounding alone moves torch's own gradients")
    note = (f"; judged against torch's float64 run, as {whose} "
            f"past an eighth of the tolerance ({len(noisy)} tensor(s), most {first}: {noisy[first]:.3g}; MindSpore within "
            f"that error x{NOISE_FACTOR:g} plus the tolerance)")
    return worst, checked, inputs, note


def _compare_grads(plan: dict | None, pt: dict, pa: list, ms: dict, ma: list, judge=grad_close) -> tuple[float, int, int]:
    """(worst difference, parameter gradients compared, input gradients compared) of two grad replies."""
    worst = judge(np.array(pt["loss"]), np.array(ms["loss"]), "loss")
    sizes = [float(np.max(np.abs(pa[i]))) for i in [*pt["grads"].values(), *pt["input_grads"]]
             if i is not None and np.size(pa[i])]
    floor = GRAD_L2_FLOOR * max(sizes, default=0.0)
    checked = 0
    for tname, entry in (plan or {}).items():
        ms_name = entry.get("ms")
        if tname not in pt["grads"] or ms_name not in ms["grads"]:
            continue
        worst = max(worst, judge(_layout(pa[pt["grads"][tname]], entry), ma[ms["grads"][ms_name]],
                                 f"gradient of {tname}", floor=floor))
        checked += 1
    mapped = {e["ms"] for t, e in (plan or {}).items() if t in pt["grads"] and e.get("ms")}
    extra = sorted(set(ms["grads"]) - mapped)
    if extra:  # a parameter MindSpore trains that torch freezes (requires_grad=False lost)
        raise LevelFailure("value", f"MindSpore computes gradients for {extra[:5]}, which torch does not train",
                           numeric=False)
    inputs = 0
    for i, (a, b) in enumerate(zip(pt["input_grads"], ms["input_grads"] + [None] * len(pt["input_grads"]))):
        if a is None or b is None:
            continue
        worst = max(worst, judge(pa[a], ma[b], f"gradient of input {i}", floor=floor))
        inputs += 1
    return worst, checked, inputs


def level_step(ctx: LevelContext) -> dict:
    if ctx.plan is None:
        raise Skip("a function has no parameters to step")
    worst, done = 0.0, []
    for pair in ctx.pairs:
        where = f" (from {pair['where']})" if pair["where"] != "default" else ""
        div = {"torch_api": pair["torch_api"], "level": "step"}
        if pair["ms_api"] is None:
            raise LevelFailure("exception", f"step: {pair['torch_api']}{where} has no MindSpore optimizer in the "
                               "translation", div)
        try:
            (pt, pa), (ms, ma) = ctx.both("step", {"torch_api": pair["torch_api"], "kwargs": pair["torch_kwargs"]},
                                          {"ms_api": pair["ms_api"], "kwargs": pair["ms_kwargs"]})
        except Exception as exc:
            raise LevelFailure("exception", f"step with {pair['ms_api']}: {str(exc)[:300]}", div) from None
        keep = None
        if "Adam" in pair["torch_api"]:
            keep = {n: np.abs(pa[i]) > ADAM_GRAD_FLOOR for n, i in pt["grads"].items()}
        before = dict(zip(*ctx.weights))
        trained = {ctx.plan[t]["ms"] for t in pt["state"] if ctx.plan.get(t, {}).get("ms")}  # torch parameters
        moved = any(not np.array_equal(before[n], ma[i]) for n, i in ms["state"].items() if n in before and n in trained)
        try:
            worst = max(worst, _compare_state(ctx.plan, pt["state"], pa, ms["state"], ma,
                                              f"after one {pair['ms_api']} step,", keep))
        except LevelFailure as exc:
            hint = "" if moved else f"; {pair['ms_api']} left every trainable parameter unchanged"
            raise LevelFailure(exc.failure, f"step: torch {pair['torch_api']} vs {pair['ms_api']}{where}: "
                               f"{exc.reason}{hint}", div, exc.max_abs) from None
        done.append(f"{pair['torch_api']} -> {pair['ms_api']}")
    return {"max_abs": worst, "reason": "one step matched: " + ", ".join(done)}


def level_graph(ctx: LevelContext) -> dict:
    if ctx.plan is None:
        raise Skip("graph mode is checked for cells")
    ctx.cand.call("weights", {"names": ctx.weights[0]}, ctx.weights[1])
    descs, arrays = ctx.inputs
    ms, ma = ctx.cand.call("graph", {"inputs": descs}, arrays)
    if ms.get("error"):
        raise LevelFailure("exception", str(ms["error"])[:700])
    pt, pa = ctx.forward
    return {"max_abs": _compare_outputs(pt, pa, ms["out"], ma, "graph-mode output"),
            "reason": "compiled with mindspore.jit; outputs matched"}


RUNNERS = {"train": level_train, "grad": level_grad, "step": level_step, "graph": level_graph}


def _rerun(ctx: LevelContext, name: str, where: str) -> dict | None:
    """Level NAME's result on CTX (another batch, another mode); None when that run cannot decide either
    or does not run (a fixed input size; the first failure stands). A value mismatch there is raised,
    WHERE saying which run: there the comparison decides."""
    try:
        return RUNNERS[name](ctx)
    except LevelFailure as exc:
        if exc.failure != "value":
            return None
        raise LevelFailure("value", f"{where}: {exc.reason}", exc.divergence, exc.max_abs) from None
    except Exception:  # noqa: BLE001 - the unit does not run this way: the first failure stands
        return None


def _at_larger_batch(ctx: LevelContext, name: str, failure: LevelFailure) -> dict | None:
    """Level NAME once more at RETRY_BATCH after FAILURE (`precision` at the spec's batch): its result, with
    the reason saying why; None when there is no batch to grow, the torch side refuses the larger batch or
    float32 still cannot decide (FAILURE stands). A value mismatch at the larger batch is raised: there
    the comparison decides."""
    bigger = larger_batch(ctx.size, RETRY_BATCH) if ctx.size else None
    if bigger is None:
        return None
    out = _rerun(replace(ctx, inputs=pack(make_arrays(bigger, ctx.seed, 0))), name,
                 f"at batch {RETRY_BATCH} (float32 could not decide at the spec's batch)")
    if out is None:
        return None
    lead = next(inp["shape"][0] for inp in ctx.size if "value" not in inp and len(inp.get("shape") or ()) >= 2)
    return dict(out, reason=f"{out['reason']} at batch {RETRY_BATCH}, fresh inputs (at the spec's batch {lead} "
                f"float32 rounding could not decide: {failure.reason[:300]})")


def _in_eval_mode(ctx: LevelContext, name: str, failure: LevelFailure) -> dict | None:
    """The grad level once more in eval mode, after FAILURE (`precision` in train mode), for a model with
    BatchNorm running statistics: through a deep network's batch statistics at initialisation gradients
    grow with depth and float32 rounding decides them at any small batch; on the running statistics
    every other op's backward is still checked, and the train level has checked the batch statistics'
    forward. None for a model without running statistics (eval mode changes nothing there)."""
    if not any(t.endswith(("running_mean", "running_var")) for t in ctx.plan or {}):
        return None
    out = _rerun(replace(ctx, grad_eval=True), name, "in eval mode (float32 could not decide in train mode)")
    if out is None:
        return None
    return dict(out, reason=f"{out['reason']} in eval mode, BatchNorm on its running statistics (in train mode "
                f"float32 rounding could not decide: {failure.reason[:300]})")


RETRIES = {"train": _at_larger_batch, "grad": _in_eval_mode}


def run_levels(ctx: LevelContext, level: str, results: dict) -> LevelFailure | None:
    """Run the levels after forward up to `level`; fill results[name]; return the first failure."""
    names = levels_for(level)
    for name in names[1:]:
        try:
            out = RUNNERS[name](ctx)
        except Skip as exc:
            results[name] = {"status": "not-run", "reason": str(exc)}
            continue
        except LevelFailure as exc:
            failure = exc
        except Exception as exc:  # a side's error inside a level is a failure of that level
            failure = LevelFailure("exception", f"{name}: {str(exc)[:500]}")
        else:
            results[name] = {"status": "verified", **out}
            continue
        if failure.failure == "precision" and name in RETRIES:
            try:
                out = RETRIES[name](ctx, name, failure)
            except LevelFailure as exc:
                failure = exc
            else:
                if out is not None:
                    results[name] = {"status": "verified", **out}
                    continue
        results[name] = {"status": "failed", "failure": failure.failure, "reason": failure.reason,
                         "max_abs": failure.max_abs}
        for rest in names[names.index(name) + 1:]:
            results[rest] = {"status": "not-run", "reason": f"{name} failed"}
        return failure
    return None
