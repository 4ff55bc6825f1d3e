"""A worker registry for test modules of operations: the builtin operations plus each function a
test module defines, under its own name."""
from __future__ import annotations

import re

from agent.sandbox.config import BUILTIN_OPERATIONS


def registry(module: str, *sources_or_names: str) -> dict[str, str]:
    """{name: "module:name"} for every function defined at the top of each source text given (or each
    plain name given), with the builtin operations."""
    names: list[str] = []
    for item in sources_or_names:
        names += re.findall(r"^\s*def (\w+)\(", item, re.M) if "def " in item else [item]
    return {**BUILTIN_OPERATIONS, **{n: f"{module}:{n}" for n in names}}
