"""Stores into a module's registered buffers (`self.count += 1`, `self.mask = new`).

torch replaces the buffer; MindSpore 2.10's Cell refuses a plain tensor assigned to a buffer's name
("Buffer ... already exists in network"), so such a store goes through a helper that replaces the
buffer in the cell's own registry, as torch's __setattr__ does. Only names the class registers with
`register_buffer` are touched; parameters (which MindSpore updates through set_data) and plain
attributes keep Python's assignment.
"""
from __future__ import annotations

import libcst as cst

from agent.rules.catalog import rewrite
from agent.rules.complex_arithmetic import AUGMENTED


HELPER = '''def _ms_set_buffer(cell, name, value):
    """torch's `self.<buffer> = value`: MindSpore's Cell refuses a tensor assigned to a registered
    buffer's name, so the buffer is replaced in the cell's registry, as torch replaces it."""
    cell._buffers[name] = value
'''


class BufferRules:
    @rewrite("buffer-store-replaces-the-buffer")
    def _buffer_store(self, target: cst.BaseExpression) -> str | None:
        """`self.X` where X is a buffer the enclosing class registers, stored outside __init__ (there a
        store belongs to a branch that did not register X: `else: self.k_bias = None`): X."""
        facts, fn = self.scope.cls, self.scope.fn
        if facts is None or not facts.buffers or not isinstance(target, cst.Attribute) \
                or not (isinstance(target.value, cst.Name) and target.value.value == "self") \
                or not isinstance(fn, cst.FunctionDef) or fn.name.value == "__init__":
            return None
        return target.attr.value if target.attr.value in facts.buffers else None

    def _set_buffer(self, name: str, value: cst.BaseExpression, semicolon) -> cst.Expr:
        self.add_helper(HELPER)
        call = cst.Call(func=cst.Name("_ms_set_buffer"), args=[
            cst.Arg(cst.Name("self")), cst.Arg(cst.SimpleString(repr(name))), cst.Arg(value)])
        return cst.Expr(value=call, semicolon=semicolon)

    def buffer_assign(self, original: cst.Assign, updated: cst.Assign) -> cst.Expr | None:
        if len(original.targets) != 1:
            return None
        name = self._buffer_store(original.targets[0].target)
        return self._set_buffer(name, updated.value, updated.semicolon) if name else None

    def leave_AugAssign(self, original: cst.AugAssign, updated: cst.AugAssign):
        name = self._buffer_store(original.target)
        operator = AUGMENTED.get(type(original.operator))
        if name and operator is not None:
            value = cst.BinaryOperation(left=updated.target, operator=operator(), right=updated.value)
            return self._set_buffer(name, value, updated.semicolon)
        return super().leave_AugAssign(original, updated)
