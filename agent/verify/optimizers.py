"""Which optimizer pairs the `step` level checks, and how each side's optimizer is built.

The step level follows the repository: where the torch code constructs `torch.optim.X(...)`, the
MindSpore optimizer is the one the translated file at the same path constructs (the KB target the
rules chose, or a repair's alternative), so a wrong choice such as mint.optim.Adam on CPU fails
here and points the repair loop at the `torch.optim.X` entry. A repository without an optimizer is
checked with torch.optim.SGD and Adam against the KB's choice for the device.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from agent.scan.names import import_aliases, parse_python, qualify

DEFAULT_OPTIMIZERS = ("torch.optim.SGD", "torch.optim.Adam")
# Hyperparameters of the one-step check: large enough that an optimizer that does not move the
# weights is far outside the tolerance, defaults otherwise (levels.py explains the Adam eps caveat).
STEP_KWARGS = {"torch.optim.SGD": {"lr": 0.1, "momentum": 0.9}, "torch.optim.Adam": {"lr": 0.01},
               "torch.optim.AdamW": {"lr": 0.01}}
_FALLBACK_KWARGS = {"lr": 0.01}


@dataclass
class OptimizerPair:
    torch_api: str  # e.g. torch.optim.Adam
    ms_api: str | None  # qualified MindSpore class, None when the translation has no counterpart
    target: object | None  # the KB Target used to rename arguments
    where: str  # file the pair came from, or "default"

    @property
    def kwargs(self) -> dict:
        return dict(STEP_KWARGS.get(self.torch_api, _FALLBACK_KWARGS))


def _calls(tree: ast.Module, aliases: dict[str, str]) -> list[str]:
    return [q for n in ast.walk(tree) if isinstance(n, ast.Call) and (q := qualify(n.func, aliases))]


def _parse(path: Path) -> ast.Module | None:
    try:
        return parse_python(path.read_text(encoding="utf-8", errors="replace"))
    except (SyntaxError, ValueError, OSError, RecursionError):
        return None


def _optimizer_entry(kb, name: str):
    if not name.startswith("torch.optim.") or ".lr_scheduler" in name:
        return None
    e = kb.get(name)
    return e if e is not None and e.kind == "class" else None


def repo_optimizers(pt_root: str, ms_root: str, kb, device: str) -> list[OptimizerPair]:
    """The optimizer pairs to step: those the repository builds, else the defaults."""
    pairs: list[OptimizerPair] = []
    seen: set[str] = set()
    for path in sorted(Path(pt_root).rglob("*.py")):
        rel = path.relative_to(pt_root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        tree = _parse(path)
        if tree is None:
            continue
        aliases = import_aliases(tree, "torch")
        if not aliases:
            continue
        for name in _calls(tree, aliases):
            entry = _optimizer_entry(kb, name)
            if entry is None or entry.api in seen:
                continue
            seen.add(entry.api)
            pairs.append(_translated_pair(entry, Path(ms_root) / rel, str(rel)))
    if pairs:
        return pairs
    out = []
    for api in DEFAULT_OPTIMIZERS:
        entry = kb.get(api)
        target = kb.target_for(entry, device) if entry else None
        out.append(OptimizerPair(api, target.api if target else None, target, "default"))
    return out


def _translated_pair(entry, ms_file: Path, rel: str) -> OptimizerPair:
    by_api = {t.api: t for t in entry.targets}
    tree = _parse(ms_file) if ms_file.is_file() else None
    if tree is not None:
        for name in _calls(tree, import_aliases(tree)):
            if name in by_api:
                return OptimizerPair(entry.api, name, by_api[name], rel)
    return OptimizerPair(entry.api, None, None, rel)


def pair_data(pair: OptimizerPair) -> dict:
    """What each side needs to build its optimizer: the class and its keyword arguments, with the
    KB target's renames and value templates applied here, on the trusted side."""
    kwargs = {}
    target = pair.target
    for name, value in pair.kwargs.items():
        new = target.args.get(name, name) if target is not None else name
        if new is None:
            continue
        if target is not None and name in target.values:
            value = eval(target.values[name].format(v=repr(value)))  # noqa: S307 - KB template over a literal
        kwargs[new] = value
    return {"torch_api": pair.torch_api, "torch_kwargs": pair.kwargs, "ms_api": pair.ms_api, "ms_kwargs": kwargs,
            "where": pair.where}
