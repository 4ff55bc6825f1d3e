"""CPU mappings added for GRUCell, the RNG-state plumbing of reversible networks (torch.cuda._initialized,
torch.random.fork_rng, torch.utils.checkpoint.get_device_states/set_device_states), more of torch's
`keepdims` alias and a zero-safe F.normalize; and the rules' constant folding of non-finite values.
Small torch sources are translated by the rules with the shipped KB, run on MindSpore with torch's
weights and compared with torch in forward and in the gradients of the inputs and every parameter."""
import numpy as np
import pytest

ms = pytest.importorskip("mindspore")
torch = pytest.importorskip("torch")

from agent.kb.store import load_kb  # noqa: E402
from agent.rules.calls import _fold  # noqa: E402
from agent.rules.engine import translate_source  # noqa: E402
from tests.test_kb_cpu_gaps2 import HEAD, _parity, _translate  # noqa: E402

ms.set_context(mode=ms.PYNATIVE_MODE)
ms.set_device("CPU")


@pytest.fixture(scope="module")
def kb():
    return load_kb()


# ---------------------------------------------------------------- folding templates to non-finite values
def test_fold_leaves_non_finite_results_unfolded():
    # repr(inf) is `inf`, a name and no literal: folding must not raise (it crashed the translation)
    assert _fold('float("inf")') == 'float("inf")'
    assert _fold("None if float('nan') == 'fro' else float('nan')") == "None if float('nan') == 'fro' else float('nan')"
    assert _fold('(1.0, -float("inf"))') == '(1.0, -float("inf"))'
    assert _fold("1 - 0.1") == "0.9"


def test_values_template_over_inf_translates_and_runs(kb):
    """Tensor.norm's ops.norm target rewrites p with `None if {v} == 'fro' else {v}`: p=inf folded to inf."""
    entry = kb.get("torch.Tensor.norm")
    legacy = next(t for t in entry.targets if t.api == "mindspore.ops.norm")
    src = HEAD + "y = torch.randn(3, 4)\nz = y.norm(p=float('inf'))\nw = y.norm(p=-float('inf'), dim=1)\n"
    r = translate_source(src, kb, "cpu", overrides={entry.api: legacy})
    assert not r.markers, [(m.line, m.reason) for m in r.markers]
    assert "ops.norm(y, ord=" in r.code
    ns: dict = {}
    exec(r.code, ns)
    y = ns["y"].asnumpy()
    np.testing.assert_allclose(ns["w"].asnumpy(), np.abs(y).min(axis=1), rtol=1e-6)
