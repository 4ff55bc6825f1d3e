"""Render MindSpore targets as short names and collect the imports they need.

`mindspore.nn.Dense` is written `nn.Dense` with `from mindspore import nn`; `mindspore.Tensor`
is `ms.Tensor` with `import mindspore as ms`. An alias already used by the file for something
else gets an `ms_` prefix.
"""
from __future__ import annotations

import libcst as cst

# Module -> preferred local alias. Anything deeper is reached by attribute from one of these,
# or imported as `from parent import last`.
_ALIASES = {
    "mindspore": "ms",
    "mindspore.nn": "nn",
    "mindspore.ops": "ops",
    "mindspore.mint": "mint",
    "mindspore.dataset": "ds",
    "mindspore.numpy": "mnp",
}
# Submodules that are importable attributes of their parent after `from mindspore import X`.
_REACHABLE = ("mindspore.nn.", "mindspore.ops.", "mindspore.mint.")


class ImportPlan:
    def __init__(self, taken: set[str]):
        self.taken = taken  # names the file binds to things other than torch
        self.needed: dict[str, tuple[str, str | None]] = {}  # alias -> (module, imported name or None)

    def _alias(self, preferred: str) -> str:
        return preferred if preferred not in self.taken else f"ms_{preferred}"

    def render(self, target: str) -> str:
        """Dotted MindSpore name -> expression text, registering the import it needs."""
        if target.startswith("builtins."):
            return target.split(".", 1)[1]
        if not target.startswith("mindspore"):
            # A python-level target such as contextlib.nullcontext
            module, _, name = target.rpartition(".")
            alias = self._alias(module.split(".")[-1])
            self.needed[alias] = (module, None) if alias == module else (module, None)
            return target
        module, _, name = target.rpartition(".")
        for prefix in _REACHABLE:
            if target.startswith(prefix):
                top = prefix[:-1]
                alias = self._alias(_ALIASES[top])
                self.needed[alias] = ("mindspore", top.split(".")[-1])
                return alias + target[len(top):]
        if module in _ALIASES:
            alias = self._alias(_ALIASES[module])
            self.needed[alias] = (module, None) if module == "mindspore" else ("mindspore", module.split(".")[-1])
            return f"{alias}.{name}"
        parent, _, last = module.rpartition(".")
        alias = self._alias(last)
        self.needed[alias] = (parent, last)
        return f"{alias}.{name}"

    def statements(self) -> list[cst.SimpleStatementLine]:
        out = []
        for alias, (module, name) in sorted(self.needed.items(), key=lambda kv: (kv[1][1] is not None, kv[0])):
            if name is None:
                if module == "mindspore":
                    text = "import mindspore as ms" if alias == "ms" else f"import mindspore as {alias}"
                else:
                    text = f"import {module}"
            else:
                text = f"from {module} import {name}" + ("" if alias == name else f" as {alias}")
            out.append(cst.parse_statement(text + "\n"))
        return out
