"""Each KB entry's examples, run: the rules translate `before` (CPU, the packaged KB) and must write
`after` byte for byte. Entries carry them in tools/kb_src/ (rebuilt into mapping_kb/); no framework
is needed."""
from __future__ import annotations

import pytest

from agent.kb.store import load_kb
from agent.rules.engine import translate_source

KB = load_kb()
CASES = [(e.api, i, ex) for e in KB.entries for i, ex in enumerate(e.examples)]


@pytest.mark.parametrize("api, index, example", CASES, ids=[f"{a}-{i}" for a, i, _ in CASES])
def test_example(api, index, example):
    got = translate_source(example.before, KB, "cpu").code
    assert got == example.after, f"{api}, example {index}:\n{got}"


def test_the_built_kb_keeps_the_curated_examples():
    # layers, tensor methods, functions and functional ops each show at least one rewrite
    apis = {a for a, _, _ in CASES}
    assert {"torch.nn.Conv2d", "torch.Tensor.add_", "torch.cat", "torch.nn.functional.softmax"} <= apis
    assert len(apis) >= 15
