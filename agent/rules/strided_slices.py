"""A slice with a step (`x[:, 0::2, 1::2, :]`), taken by gathering on CPU.

MindSpore's CPU kernel for the gradient of a strided slice fails on tensors of three or more dimensions
("For 'StridedSliceGrad', ... input memory out of bounds", MindSpore 2.10), so a model that downsamples by
slicing (Swin's patch merging, a Focus layer, interleaved rotary embeddings) runs forward and cannot
train. On CPU such a subscript goes through `_ms_steps`, whose `[...]` gathers the stepped axes' indices
instead: the same values, and a gradient that runs. Anything but a tensor of three or more dimensions is
indexed as it is, and an assignment through it (`_ms_steps(x)[:, ::2] += 1`) writes the tensor itself.
"""
from __future__ import annotations

import libcst as cst

from agent.rules.catalog import rewrite
from agent.rules.tensors import NON_TENSOR_ATTRS

HELPER = '''class _MsSteps:
    """`_ms_steps(x)[:, 0::2]`: a slice with a step, taken by gathering the stepped axes' indices (MindSpore's
    CPU gradient of a strided slice fails on tensors of three or more dimensions)."""

    def __init__(self, x):
        self.x = x

    def __getitem__(self, index):
        x = self.x
        items = index if isinstance(index, tuple) else (index,)
        simple = all(i is None or i is Ellipsis or isinstance(i, slice) or type(i) is int for i in items)
        if not simple or sum(i is Ellipsis for i in items) > 1:
            return x[index]
        spans = x.ndim - sum(1 for i in items if i is not None and i is not Ellipsis)
        plain, gathers, dim, axis = [], [], 0, 0
        for i in items:
            if i is Ellipsis:
                plain.append(i)
                dim, axis = dim + spans, axis + spans
            elif i is None:
                plain.append(i)
                axis += 1
            elif isinstance(i, slice):
                stepped = i.step not in (None, 1)
                if stepped:
                    gathers.append((axis, list(range(x.shape[dim]))[i]))
                plain.append(slice(None) if stepped else i)
                dim, axis = dim + 1, axis + 1
            else:
                plain.append(i)
                dim += 1
        if not gathers or not all(taken for _, taken in gathers):
            return x[index]
        y = x[tuple(plain)]
        for axis, taken in gathers:
            y = mindspore.ops.gather(y, mindspore.Tensor(taken, mindspore.int32), axis)
        return y

    def __setitem__(self, index, value):
        self.x[index] = value
'''

WRAP = '''def _ms_steps(x):
    return _MsSteps(x) if isinstance(x, mindspore.Tensor) and x.ndim >= 3 else x
'''

# values a subscript with a step is never a tensor on: literals, and what these builtins return
_NOT_TENSORS = (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString, cst.List, cst.Tuple, cst.ListComp,
                cst.Dict, cst.Set)
_NON_TENSOR_BUILTINS = {"range", "list", "tuple", "str", "sorted", "reversed", "bytes", "enumerate", "zip"}


def _stepped(node: cst.Subscript) -> bool:
    for element in node.slice:
        part = element.slice
        if isinstance(part, cst.Slice) and part.step is not None and not (
                isinstance(part.step, cst.Integer) and part.step.value == "1"):
            return True
    return False


def _maybe_tensor(value: cst.BaseExpression) -> bool:
    if isinstance(value, _NOT_TENSORS):
        return False
    if isinstance(value, cst.Attribute) and value.attr.value in NON_TENSOR_ATTRS:  # `x.shape[::-1]`
        return False
    if isinstance(value, cst.Call):
        func = value.func
        if isinstance(func, cst.Name) and func.value in _NON_TENSOR_BUILTINS:
            return False
        if isinstance(func, cst.Attribute) and func.attr.value in ("size", "split", "keys", "values", "items"):
            return False  # `x.size()[::-1]`, `line.split()[::2]`
    return True


class StridedSliceRules:
    @rewrite("stepped-slices-gather-on-cpu")
    def leave_Subscript(self, original: cst.Subscript, updated: cst.Subscript):
        """`x[:, 0::2, 1::2]` on CPU: `_ms_steps(x)[:, 0::2, 1::2]`, the same values through a gather, whose
        gradient runs where MindSpore's strided-slice gradient fails. Assignment targets stay as written."""
        if self.device != "cpu" or id(original) in self.assigned or not _stepped(original) \
                or not _maybe_tensor(original.value):
            return updated
        self.add_helper(HELPER)
        self.add_helper(WRAP)
        return updated.with_changes(value=cst.Call(func=cst.Name("_ms_steps"), args=[cst.Arg(updated.value)]))
