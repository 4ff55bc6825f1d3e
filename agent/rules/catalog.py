"""The rules' structural rewrites, each named and carrying the examples that show what it does.

What is not KB data (an entry's rename or template) is a small function of the rewrite context
(`rw`: the engine's rewriter, with its import plan, markers, helpers and counters), declared with
`@rewrite(name)`. Its examples are data, under that name in `rules/examples.yaml`: pairs of whole
files, torch `before` and MindSpore `after` as the rules write it on CPU with the packaged KB
(`after` equal to `before` says the rule leaves that code alone). They are the rule's
documentation and its test: tests/test_rule_examples.py translates every `before` and expects its
`after` byte for byte, with no framework installed. A rewrite without examples is refused.

Declaring a rewrite adds no pass: the functions run inside the engine's one walk, dispatched by
node type and then by name (a method, a torch API), as the engine's comments say where.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import yaml

EXAMPLES = Path(__file__).with_name("examples.yaml")


@dataclass(frozen=True)
class Example:
    before: str
    after: str


@dataclass(frozen=True)
class Rewrite:
    name: str
    where: str  # module:function that implements it
    summary: str  # the function's docstring's first line
    examples: tuple[Example, ...]


REWRITES: dict[str, Rewrite] = {}


@functools.cache
def examples() -> dict[str, tuple[Example, ...]]:
    raw = yaml.safe_load(EXAMPLES.read_text()) or {}
    return {name: tuple(Example(e["before"], e["after"]) for e in pairs) for name, pairs in raw.items()}


def rewrite(name: str):
    """Register the decorated function as the rewrite NAME; its examples must be in examples.yaml."""
    if not examples().get(name):
        raise ValueError(f"rewrite {name!r} has no example in {EXAMPLES.name}")

    def declare(fn):
        if name in REWRITES:
            raise ValueError(f"rewrite {name!r} is declared twice")
        doc = (fn.__doc__ or "").strip().splitlines()
        REWRITES[name] = Rewrite(name, f"{fn.__module__}:{fn.__qualname__}", doc[0] if doc else "", examples()[name])
        return fn

    return declare
