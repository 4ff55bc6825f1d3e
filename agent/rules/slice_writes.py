"""Writes through slices kept in variables (`for h in h_slices: img_mask[:, h, w, :] = cnt`), as torch does them.

A shifted-window attention mask (Swin and the models built on it) is written region by region through
`slice(0, -window)`, `slice(-window, -shift)`, `slice(-shift, None)`. Where the shift is 0 (every other
block, and every block when the image is not the size the model was built for) `slice(-window, -0)` selects
nothing: torch writes nothing, MindSpore's setitem raises ("storage_info->shape is not equal to
src_tensor->shape()", MindSpore 2.10). Such a write goes through `_ms_set_slices`, which skips a selection
that is empty and writes the rest as written.
"""
from __future__ import annotations

import libcst as cst

from agent.rules.catalog import rewrite

HELPER = '''def _ms_set_slices(x, index, value):
    """`x[index] = value` as torch writes it: nothing where a slice selects no element (`slice(-4, -0)`, a
    window shift of 0), which MindSpore's setitem refuses."""
    sizes = list(x.shape) if Ellipsis not in index else []
    for i in index:
        size = sizes.pop(0) if sizes and i is not None else None
        if isinstance(i, slice) and size is not None and len(range(size)[i]) == 0:
            return
    x[index] = value
'''


def slice_variables(module: cst.Module) -> set[str]:
    """Names a `for` loop binds to `slice(...)` objects in MODULE: loops over a tuple or list of slice calls,
    written in place or bound to a name first (`h_slices = (slice(0, -w), ...)`)."""
    tuples: set[str] = set()
    loops: list[cst.For] = []

    class Finder(cst.CSTVisitor):
        def visit_Assign(self, node: cst.Assign) -> None:
            if _slice_calls(node.value):
                tuples.update(t.target.value for t in node.targets if isinstance(t.target, cst.Name))

        def visit_For(self, node: cst.For) -> None:
            loops.append(node)

    module.visit(Finder())
    return {loop.target.value for loop in loops if isinstance(loop.target, cst.Name) and (
        _slice_calls(loop.iter) or isinstance(loop.iter, cst.Name) and loop.iter.value in tuples)}


def _slice_calls(node: cst.BaseExpression) -> bool:
    return isinstance(node, (cst.Tuple, cst.List)) and bool(node.elements) and all(
        isinstance(e.value, cst.Call) and isinstance(e.value.func, cst.Name) and e.value.func.value == "slice"
        for e in node.elements)


def _as_value(part: cst.BaseSlice) -> cst.BaseExpression:
    """One subscript element as the value it indexes with: `:` -> slice(None), `a:b` -> slice(a, b)."""
    if isinstance(part, cst.Index):
        return part.value
    bounds = [part.lower, part.upper] + ([part.step] if part.step is not None else [])
    return cst.Call(func=cst.Name("slice"), args=[cst.Arg(b if b is not None else cst.Name("None")) for b in bounds])


class SliceWriteRules:
    @rewrite("writes-through-kept-slices-skip-empty-ones")
    def slice_write(self, original: cst.Assign, updated: cst.Assign) -> cst.Expr | None:
        """`img_mask[:, h, w, :] = cnt` with `h`, `w` looping over slice objects: `_ms_set_slices(img_mask,
        (slice(None), h, w, slice(None)), cnt)`, which writes nothing where a slice selects nothing, as torch."""
        if len(updated.targets) != 1 or not isinstance(updated.targets[0].target, cst.Subscript):
            return None
        target = updated.targets[0].target
        if not any(isinstance(e.slice, cst.Index) and isinstance(e.slice.value, cst.Name)
                   and e.slice.value.value in self.slice_names for e in target.slice):
            return None
        self.add_helper(HELPER)
        index = cst.Tuple([cst.Element(_as_value(e.slice)) for e in target.slice])
        return cst.Expr(cst.Call(func=cst.Name("_ms_set_slices"),
                                 args=[cst.Arg(target.value), cst.Arg(index), cst.Arg(updated.value)]))
