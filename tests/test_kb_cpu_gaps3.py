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


# ---------------------------------------------------------------- GRUCell
GRU_CELLS = '''\
class Cells(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRUCell(4, 5)
        self.plain = nn.GRUCell(input_size=4, hidden_size=5, bias=False)

    def forward(self, x, h):
        return self.gru(x, h), self.gru(x), self.gru(x[0], h[0]), self.gru(x[1]), self.plain(x, h), self.plain(x)
'''


def test_gru_cell_matches_torch_with_and_without_state_and_unbatched(kb):
    code, tm, mm = _parity(kb, GRU_CELLS, "Cells()", [(3, 4), (3, 5)])
    assert "_MsGRUCell(4, 5, True)" in code and "_MsGRUCell(4, 5, False)" in code
    assert sorted(n for n, _ in mm.parameters_and_names()) == sorted(n for n, _ in tm.named_parameters())
    assert dict(mm.parameters_and_names())["gru.weight_ih"].shape == (15, 4)


def test_unrolled_gru_cell_over_a_sequence(kb):
    src = '''\
class Loop(nn.Module):
    def __init__(self):
        super().__init__()
        self.cell = nn.GRUCell(3, 4)
        self.head = nn.Linear(4, 2)

    def forward(self, xs):
        h = None
        for t in range(xs.size(0)):
            h = self.cell(xs[t], h)
        return self.head(h)
'''
    _parity(kb, src, "Loop()", [(4, 2, 3)])
