"""Output comparison: structure, shapes, dtypes and the per-width tolerances."""
from collections import namedtuple

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ms = pytest.importorskip("mindspore")

from agent.verify.compare import Mismatch, compare_outputs  # noqa: E402

Pair = namedtuple("Pair", "a b")


def t(a):
    return torch.tensor(np.asarray(a))


def m(a):
    return ms.Tensor(np.asarray(a))


def test_nested_outputs_match_and_record_stats():
    x = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    res = compare_outputs({"p": Pair(t(x), [t(x), 3])}, {"p": Pair(m(x + 1e-6), [m(x), 3])})
    assert len(res.outputs) == 2 and res.max_abs > 0 and res.cosine > 0.999999


def test_int32_vs_int64_is_equivalent_but_noted():
    res = compare_outputs(t(np.arange(4, dtype=np.int64)), m(np.arange(4, dtype=np.int32)))
    assert any("int64" in n and "int32" in n for n in res.notes)


@pytest.mark.parametrize(
    "pt, out, failure",
    [
        (t(np.zeros((2, 3), np.float32)), m(np.zeros((3, 2), np.float32)), "shape"),
        ((t(np.zeros(2, np.float32)),), (m(np.zeros(2, np.float32)),) * 2, "shape"),
        (t(np.ones(3, np.float32)), m(np.ones(3, np.float32) * (1 + 3e-4)), "value"),
        (t(np.array([1.0, np.nan], np.float32)), m(np.array([np.nan, 1.0], np.float32)), "value"),
        (t(np.array([1, 2])), m(np.array([1, 3])), "value"),
        (t(np.ones(3, np.float16)), m(np.ones(3, np.float32)), "value"),
    ],
)
def test_mismatches_are_classified(pt, out, failure):
    with pytest.raises(Mismatch) as info:
        compare_outputs(pt, out)
    assert info.value.failure == failure


def test_float16_uses_its_wider_tolerance():
    a = np.linspace(1, 2, 8).astype(np.float16)
    compare_outputs(t(a), m((a.astype(np.float32) * (1 + 2e-3)).astype(np.float16)))
