"""Judging against torch's float64 run, where float32 rounding is a sizeable part of the tolerance.

Torch's float32 result and MindSpore's are two float32 computations of one function that sum in
different orders: each carries a rounding error of its own. When torch's own float32 result misses
its float64 run (the same model and inputs, in double precision) by more than NOISE_TRIGGER of the
tolerance (an eighth: then NOISE_FACTOR times that error, the allowance below, passes half the
tolerance), a float32-to-float32 comparison can fail on rounding alone. MindSpore's float32 result is
then judged against the float64 run instead: it may miss it by the tolerance plus NOISE_FACTOR times
torch's own error (per output tensor, elementwise and in relative L2), and only while torch's error
stays under NOISE_CEILING of the tensor's largest element; beyond that nothing can be decided and the
unit fails as `precision`. Outputs, train-mode outputs and gradients are judged by this one rule.

Where MindSpore's kernels on the device are less precise than torch's, torch's own error understates
the rounding: the torch side also runs the unit with MindSpore's kernel rounding emulated
(verify/kernel_rounding.py), and the larger of the two errors, per tensor, is the rounding estimate.
"""
from __future__ import annotations

from agent.verify.compare import Comparison, Mismatch, compare_trees
from agent.verify.tree import validate

NOISE_TRIGGER, NOISE_FACTOR, NOISE_CEILING = 0.125, 4.0, 0.05


class Undecidable(Exception):
    """Torch's own float32 error is too large a part of a tensor to decide anything at this spec."""


def torch_error(wide: dict, wide_arrays: list, pt: dict, pt_arrays: list) -> dict[str, dict]:
    """Per output tensor path: how torch's float32 output PT misses its float64 run WIDE (max_abs, rel_l2,
    ratio: the largest difference over the elementwise tolerance, size: the run's largest magnitude).
    Raises Mismatch when the two differ in structure (no comparable float64 twin)."""
    return {o["path"]: o for o in compare_trees(wide, wide_arrays, pt, pt_arrays, measure=True).outputs}


def emulated_run(call, op: str, args: dict, arrays: list, errors: dict, tree: str | None = None) -> tuple | None:
    """The torch side's float32 OP run (CALL: a session's `call`) with MindSpore's kernel rounding ERRORS
    (verify/kernel_rounding.py): (reply, arrays), or the reply's TREE entry and the arrays when TREE is
    given; None when there are no measured errors or the run fails, skips or sends a malformed tree."""
    if not errors:
        return None
    try:
        reply, arrs = call(op, {**args, "emulate": errors}, arrays)
        if reply.get("skip"):
            return None
        if tree is not None:
            validate(reply.get(tree), len(arrs))
            return reply[tree], arrs
        return reply, arrs
    except Exception:  # noqa: BLE001 - no emulated run: torch's own error is the estimate
        return None


def larger(error: dict[str, dict], other: dict[str, dict]) -> dict[str, dict]:
    """Per tensor path, the larger of two error measures (each of max_abs, rel_l2, ratio); paths only
    in ERROR keep theirs. A path where OTHER is larger is marked `emulated`."""
    out = dict(error)
    for p, e in other.items():
        if p in out and e["max_abs"] > out[p]["max_abs"]:
            out[p] = {**out[p], **{k: max(out[p][k], e[k]) for k in ("max_abs", "rel_l2", "ratio")}, "emulated": True}
    return out


def judge(wide: dict, wide_arrays: list, pt: dict, pt_arrays: list, ms: dict, ms_arrays: list,
          emulated: tuple | None = None) -> tuple[Comparison, str] | None:
    """MindSpore's float32 output MS judged against torch's float64 run, when torch's own float32 output (or
    EMULATED, torch's float32 run with MindSpore's kernel rounding: (tree, arrays)) misses that run by more
    than NOISE_TRIGGER of the tolerance somewhere: (the comparison, a note for the report). None when the
    error is small: the float32 comparison stands. Raises Undecidable (see NOISE_CEILING) and Mismatch
    when MindSpore misses the run by more than the tolerance and its allowance."""
    error = torch_error(wide, wide_arrays, pt, pt_arrays)
    if emulated is not None:
        try:
            error = larger(error, torch_error(wide, wide_arrays, *emulated))
        except Mismatch:
            pass  # the emulated run differs in structure: torch's own error is the estimate
    noisy = {p: e for p, e in error.items() if e["ratio"] > NOISE_TRIGGER}
    if not noisy:
        return None
    beyond = [p for p, e in noisy.items() if e["ratio"] > 1.0 and e["max_abs"] > NOISE_CEILING * e["size"]]
    if beyond:
        e = error[beyond[0]]
        whose = ("MindSpore-sized kernel rounding moves torch's" if e.get("emulated")
                 else "float32 rounding alone moves torch's own")
        raise Undecidable(f"{whose} {beyond[0]} by {e['max_abs']:.3g} against its "
                          f"float64 run, over {NOISE_CEILING:g} of its size ({e['size']:.3g}), so no float32 "
                          "comparison can decide it at this spec")
    slack = {p: (NOISE_FACTOR * e["max_abs"], NOISE_FACTOR * e["rel_l2"]) for p, e in error.items()}
    cmp = compare_trees(wide, wide_arrays, ms, ms_arrays, slack=slack)
    worst = max(noisy, key=lambda p: noisy[p]["ratio"])
    whose = ("MindSpore's kernel rounding (emulated on torch's side) moves the output" if noisy[worst].get("emulated")
             else "float32 rounding alone moves torch's own output")
    note = (f"judged against torch's float64 run, as {whose} past an eighth of "
            f"the tolerance ({len(noisy)} tensor(s), most {worst}: {noisy[worst]['max_abs']:.3g}; MindSpore within "
            f"that error x{NOISE_FACTOR:g} plus the tolerance)")
    return cmp, note

