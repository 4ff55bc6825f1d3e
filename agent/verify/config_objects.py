"""A constructor that takes one config object (`GPT(config)`, `Net(args)`): the configurations to try.

The module's dataclasses first, shrunk by their fields' names then at their defaults; then a namespace
holding every attribute the module reads off the parameter, each guessed by its name (a config class that
is not a dataclass, an argparse Namespace, a config read from a YAML file)."""
from __future__ import annotations

import ast
import inspect
import re

from agent.verify.name_guesses import guess_value, names_object

CONFIG_PARAM = re.compile(r"config|cfg|conf$|hparams|params$|args$|opts?$|settings")
NAMESPACE = "__import__('types').SimpleNamespace"  # a guessed config: tried after the repo's own parents


def _config_dataclasses(cls) -> list[tuple[str, type]]:
    """Dataclasses visible where the unit is defined (its module's globals): candidate config types."""
    import dataclasses

    namespace = getattr(cls.__init__, "__globals__", {})
    return [(n, v) for n, v in namespace.items()
            if isinstance(v, type) and dataclasses.is_dataclass(v) and not n.startswith("_")]


def _shrunk_fields(dc) -> str:
    """Keyword arguments that make a config small: name-based guesses for int fields (layers 2, heads 2,
    widths 16, vocab 50), the defaults for everything else."""
    import dataclasses

    parts = []
    for f in dataclasses.fields(dc):
        if f.type in (int, "int") or isinstance(f.default, int) and not isinstance(f.default, bool):
            guess = guess_value(f.name, int)
            if isinstance(guess, int) and not isinstance(guess, bool):
                parts.append(f"{f.name}={16 if guess == 8 else guess!r}")
    return ", ".join(parts)


def config_inits(name: str, cls, param: str) -> list[str]:
    """`GPT(GPTConfig(n_layer=2, ...))` then `GPT(GPTConfig())` for each dataclass in the unit's module, then
    a namespace holding every attribute the module's code reads off PARAM (`config.n_embd`), each guessed by
    its name: a config class that is not a dataclass, an argparse Namespace, a config read from a file."""
    out = []
    for dc_name, dc in _config_dataclasses(cls):
        out.append(f"{name}({param}={dc_name}({_shrunk_fields(dc)}))")
        out.append(f"{name}({param}={dc_name}())")
    read = _attributes_read(cls, param)
    if read:
        values = {a: guess_value(a) for a in read}  # a name that says nothing and may hold an object: left out
        values = {a: v for a, v in values.items() if v is not inspect.Parameter.empty or not names_object(a)}
        fields = ", ".join(f"{a}={16 if v == 8 or v is inspect.Parameter.empty else v!r}" for a, v in values.items())
        out.append(f"{name}({param}={NAMESPACE}({fields}))")
    return out


def _attributes_read(cls, param: str) -> list[str]:
    """Attributes the source of CLS's module reads off PARAM or self.PARAM (`config.n_embd`), then off any other
    config-like name (the blocks it passes its config on to: `Block(args)` reads `config.n_head`); none read
    through getattr with a default, nor methods (`config.get(...)`)."""
    try:  # the file of its __init__: the module itself may be out of sys.modules between a side's swaps
        with open(inspect.getfile(cls if inspect.isfunction(cls) else cls.__init__), encoding="utf-8") as f:
            tree = ast.parse(f.read())
    except (OSError, TypeError, SyntaxError, ValueError, RecursionError):
        return []
    calls = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    found: dict[str, None] = {}
    for n in ast.walk(tree):
        if not isinstance(n, ast.Attribute) or id(n) in calls or n.attr.startswith("_"):
            continue
        base = n.value
        if isinstance(base, ast.Attribute) and isinstance(base.value, ast.Name) and base.value.id == "self":
            base = ast.Name(base.attr)
        if isinstance(base, ast.Name) and (base.id == param or CONFIG_PARAM.search(base.id.lower())):
            found.setdefault(n.attr, base.id == param)
    return [a for a, own in found.items() if own] + [a for a, own in found.items() if not own]
