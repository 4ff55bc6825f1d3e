"""A torch import in an `except` block (`except ImportError: from torch.nn import LayerNorm as
FusedLayerNorm`, the fallback when an optional fused kernel is missing) binds a name the rest of the
package may import from this module. The rules rewrite this file's own uses of the name, but the import
itself goes with every torch import, and the name with it: another file's `from .modules import
FusedLayerNorm` then fails. Here the import becomes an assignment of the MindSpore counterpart, so the
fallback still binds the name."""
from __future__ import annotations

import libcst as cst
from libcst.helpers import get_full_name_for_node

from agent.rules.calls import Unconvertible, has_arg_rules
from agent.rules.catalog import rewrite
from agent.scan.names import canonical, is_torch


class FallbackImportRules:
    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> None:
        self.handlers += 1

    def leave_ExceptHandler(self, original, updated):
        self.handlers -= 1
        return updated

    def leave_ImportFrom(self, original: cst.ImportFrom, updated: cst.ImportFrom):
        module = get_full_name_for_node(original.module) if original.module else None
        if not self.handlers or original.relative or not is_torch(module) or isinstance(original.names, cst.ImportStar):
            return updated
        return self._fallback_binding(original, module) or updated

    @rewrite("fallback-imports-keep-their-names")
    def _fallback_binding(self, original: cst.ImportFrom, module: str) -> cst.Assign | None:
        """`from torch.nn import LayerNorm as FusedLayerNorm` in an except block: `FusedLayerNorm = <the
        MindSpore LayerNorm, as a value>`; None (the import goes as usual) when a name has no value here."""
        names, values = [], []
        for alias in original.names:
            value = self._value_of(canonical(f"{module}.{get_full_name_for_node(alias.name)}"))
            if value is None:
                return None
            names.append(cst.Name(alias.asname.name.value if alias.asname else get_full_name_for_node(alias.name)))
            values.append(value)
        self.api_calls += len(values)
        self.api_converted += len(values)
        if len(names) == 1:
            return cst.Assign(targets=[cst.AssignTarget(names[0])], value=values[0])
        return cst.Assign(targets=[cst.AssignTarget(cst.Tuple([cst.Element(n) for n in names]))],
                          value=cst.Tuple([cst.Element(v) for v in values]))

    def _value_of(self, name: str) -> cst.BaseExpression | None:
        entry = self.kb.get(name)
        target = self._target(entry) if entry else None
        if target is None or (entry.kind == "function" and target.template):
            return None
        if entry.kind == "class" and (has_arg_rules(target) or target.template):
            try:
                return self.adapter_value(entry, target)
            except Unconvertible:
                return None
        return self._counterpart(target)
