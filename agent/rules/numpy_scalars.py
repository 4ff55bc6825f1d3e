"""A numpy scalar in arithmetic beside a MindSpore tensor, made the Python number it holds.

torch treats a numpy scalar as a Python number: `np.float64(2.0) * t` is a float32 tensor. A MindSpore
tensor loses to it: numpy converts the tensor and the product is an ndarray, which the next MindSpore
op refuses (Whisper's `np.log(max_timescale) / (channels // 2 - 1)` times an `arange`). So a numpy
call that is an operand of `+ - * / // % **` (or negated there) goes through `_ms_scalar`, which turns
numpy scalars into Python numbers and leaves arrays, tensors and numbers as they are.
"""
from __future__ import annotations

import libcst as cst

from agent.rules.catalog import rewrite

_ARITHMETIC = (cst.Add, cst.Subtract, cst.Multiply, cst.Divide, cst.FloorDivide, cst.Modulo, cst.Power)

HELPER = '''def _ms_scalar(value):
    """A numpy scalar as the Python number it holds (torch treats numpy scalars as Python numbers; beside a
    MindSpore tensor numpy would win: `np.float64(2.0) * t` is an ndarray); anything else as it is."""
    import numpy

    return value.item() if isinstance(value, numpy.generic) else value
'''


class NumpyScalarRules:
    def _numpy_call(self, node: cst.BaseExpression) -> bool:
        return isinstance(node, cst.Call) and any(q.split(".")[0] == "numpy" for q in self.resolver.qualified(node.func))

    def _as_number(self, original: cst.BaseExpression, updated: cst.BaseExpression) -> cst.BaseExpression:
        if self._numpy_call(original):
            self.add_helper(HELPER)
            return cst.Call(func=cst.Name("_ms_scalar"), args=[cst.Arg(updated)])
        if isinstance(original, cst.UnaryOperation) and isinstance(updated, cst.UnaryOperation) and \
                self._numpy_call(original.expression):
            return updated.with_changes(expression=self._as_number(original.expression, updated.expression))
        return updated

    @rewrite("numpy-scalars-as-numbers")
    def numpy_scalar_operands(self, original: cst.BinaryOperation, updated: cst.BinaryOperation):
        """`np.log(n) / k * t`: a numpy call in arithmetic becomes `_ms_scalar(np.log(n))`, a Python number
        when numpy returns a scalar, so a tensor beside it stays a tensor as in torch."""
        if not isinstance(original.operator, _ARITHMETIC) or not isinstance(updated, cst.BinaryOperation):
            return None
        left, right = self._as_number(original.left, updated.left), self._as_number(original.right, updated.right)
        if left is updated.left and right is updated.right:
            return None
        return updated.with_changes(left=left, right=right)
