"""Every structural rewrite's examples, run: the rules translate each `before` (CPU, the packaged KB)
and must write its `after` byte for byte. The examples live beside the rewrites (agent/rules/catalog.py
explains); this file only collects them, so it needs neither torch nor MindSpore."""
from __future__ import annotations

import pytest

import agent.rules.engine  # noqa: F401 - imports every rules module, so every rewrite is declared
from agent.kb.store import load_kb
from agent.rules.catalog import REWRITES, rewrite
from agent.rules.engine import translate_source

CASES = [(r.name, i, ex) for r in REWRITES.values() for i, ex in enumerate(r.examples)]


@pytest.fixture(scope="module")
def kb():
    return load_kb()


@pytest.mark.parametrize("name, index, example", CASES, ids=[f"{n}-{i}" for n, i, _ in CASES])
def test_example(kb, name, index, example):
    got = translate_source(example.before, kb, "cpu").code
    assert got == example.after, f"{REWRITES[name].where}, example {index}:\n{got}"


def test_the_catalog_covers_the_structural_rewrites():
    where = {r.where.split(":")[0] for r in REWRITES.values()}
    assert {"agent.rules.structural", "agent.rules.references", "agent.rules.classes", "agent.rules.engine",
            "agent.rules.training"} <= where
    assert all(r.summary for r in REWRITES.values()), [r.name for r in REWRITES.values() if not r.summary]


def test_a_rewrite_without_examples_or_declared_twice_is_refused():
    with pytest.raises(ValueError, match="example"):
        rewrite("no-examples")
    name = next(iter(REWRITES))
    with pytest.raises(ValueError, match="twice"):
        rewrite(name)(lambda: None)
