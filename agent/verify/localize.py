"""Find the first submodule whose MindSpore output departs from torch's, and confirm it in isolation.

Each side records every submodule's output on the same inputs (forward hooks fire when a module
returns, so the first recorded divergence is the innermost, earliest one) and sends them; the
comparison runs in the trusted process. The suspect MindSpore cell is then run alone on the torch
side's recorded input: if it still differs, the fault is in that cell (`confirmed: true`); if not,
the difference came in between modules.
"""
from __future__ import annotations

from agent.sandbox.sides import SessionError
from agent.verify.compare import Mismatch, compare_trees
from agent.verify.inputs import pack


def subtree(node: dict, arrays: list, out: list | None = None) -> tuple[dict, list]:
    """A copy of `node` whose tensor leaves index a fresh list holding only the arrays it uses."""
    out = [] if out is None else out
    if node["t"] == "tensor":
        out.append(arrays[node["i"]])
        return {**node, "i": len(out) - 1}, out
    if node["t"] in ("seq", "dict"):
        return {**node, "items": [subtree(c, arrays, out)[0] for c in node["items"]]}, out
    return dict(node), out


def localize(ref, cand, inputs: list, seed: int) -> dict | None:
    """{path, call, torch_class, ms_class, max_abs, reason, confirmed, isolated} or None: the torch model of
    SEED (the one whose weights the MindSpore cell holds) against the cell."""
    descs, arrays = pack(inputs)
    pt, pa = ref.call("record", {"inputs": descs, "seed": seed}, arrays)
    ms, ma = cand.call("record", {"inputs": descs}, arrays)
    for rec in pt["records"]:
        outs = ms["records"].get(rec["path"])
        if not outs or rec["call"] >= len(outs):
            continue  # no MindSpore cell at this path (restructured, or a functional replacement)
        try:
            compare_trees(rec["out"], pa, outs[rec["call"]], ma)
        except Mismatch as exc:
            stats = exc.comparison.outputs if exc.comparison else []
            found = {"path": rec["path"], "call": rec["call"], "torch_class": pt["classes"].get(rec["path"]),
                     "ms_class": ms["classes"].get(rec["path"]),
                     "max_abs": max((s["max_abs"] for s in stats), default=None), "reason": str(exc)}
            found["confirmed"], found["isolated"] = _confirm(cand, rec, pa)
            return found
    return None


def _confirm(cand, rec: dict, pa: list) -> tuple[bool | None, str]:
    node, arrays = subtree(rec["in"], pa)
    try:
        ms, ma = cand.call("run_sub", {"path": rec["path"], "in": node}, arrays)
    except SessionError as exc:  # raising on torch's input is itself a confirmation
        if exc.kind != "exception":
            return None, f"the MindSpore side {exc.kind}: {exc.message[:200]}"
        return True, f"raised on the torch input: {exc.message[:200]}"
    out, oa = subtree(rec["out"], pa)
    try:
        compare_trees(out, oa, ms["out"], ma)
    except Mismatch as exc:
        return True, f"differs on the torch input: {exc}"
    return False, "matches on the torch input: the difference comes from code between modules"
