"""A few hundred fuzz inputs through the rules stage in the normal suite (benchmarks/fuzz_rules.py
runs 10,000): translate_source with the real KB raises nothing but a parse error on unparsable
input, and its output always parses."""
from __future__ import annotations

import functools
import importlib.util
import random
from pathlib import Path

import libcst as cst
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]


@functools.cache
def fuzz():
    spec = importlib.util.spec_from_file_location("fuzz_rules", ROOT / "benchmarks" / "fuzz_rules.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.cache
def kb():
    from agent.kb.store import load_kb

    return load_kb()


@functools.cache
def material() -> tuple[list[str], list[str], list[str]]:
    f = fuzz()
    calls = f.calls(kb(), random.Random(0), count=200)
    layers = [c for c in calls if c.split("(")[0].rsplit(".", 1)[-1][:1].isupper()]
    return f.snippets(f.corpus_texts()), calls, layers


FUZZ = settings(max_examples=80, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# Failures already pinned by an xfail test below; tolerated in the random runs so that the suite stays
# green until the rules are fixed. Remove an entry together with its xfail marker.
KNOWN: tuple[str, ...] = ()


def _assert_behaves(text: str, device: str = "cpu", known: tuple[str, ...] = KNOWN) -> None:
    failure = fuzz().check(text, kb(), device)
    assert failure is None or failure.startswith(known), f"{failure}\n--- input ---\n{text}"


@FUZZ
@given(st.data())
def test_mutated_corpus_snippets(data):
    snippets, calls, _ = material()
    text = data.draw(st.sampled_from(snippets), label="snippet")
    edits = data.draw(st.lists(st.tuples(st.sampled_from(fuzz().OPS), st.integers(0, 2**30)), min_size=1, max_size=4),
                      label="mutations")
    for op, k in edits:
        text = fuzz().mutate(text, op, k, calls)
    _assert_behaves(text, data.draw(st.sampled_from(["cpu", "gpu", "ascend"]), label="device"))


@FUZZ
@given(st.integers(0, 2**32))
def test_generated_programs(seed):
    _, calls, layers = material()
    _assert_behaves(fuzz().program(random.Random(seed), calls, layers))


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(st.lists(st.sampled_from(list("torch.nn(x)[]:=,*\n _1'\"\\#@") + ["import torch\n", "    ", "def ",
                                                                                 "class ", "lambda ", "x.add_(1)"]),
                max_size=40))
def test_python_shaped_noise(pieces):
    text = "".join(pieces)
    _assert_behaves(text)


def test_minimal_parser_logic_error_is_a_parse_error():
    from agent.rules.engine import translate_source

    with pytest.raises(cst.ParserSyntaxError):
        translate_source("''t''", kb())


def test_unparsable_input_is_a_parse_error_not_a_crash():
    assert fuzz().check("import torch\nx = torch.relu(\n", kb()) is None
    assert fuzz().check("import torch\nx = 1\x00\n", kb()) is None


def test_the_checker_catches_output_that_does_not_parse():
    """The property is not vacuous: a checker fed a broken translation reports it."""
    f = fuzz()
    real = f.translate_source
    try:
        f.translate_source = lambda text, kb, device: type("R", (), {"code": text + "\n)"})()
        assert f.check("import torch\nx = torch.zeros(2)\n", kb()).startswith("output does not parse")
    finally:
        f.translate_source = real


@pytest.mark.parametrize("statement", ["x.float().sigmoid_()", "(x + 1).mul_(2)"])
def test_inplace_method_on_an_unassignable_receiver_gives_valid_python(statement):
    _assert_behaves(f"import torch\n\n\ndef f(x: torch.Tensor):\n    {statement}\n    return x\n", known=())
