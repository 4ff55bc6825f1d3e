"""Two conversions that compiled but computed something else: `Tensor.unfold(dim, size, step)` (a sliding
window; MindSpore's Tensor.unfold is im2col) and `nn.LayerNorm` over several trailing dimensions (the
legacy layer normalised the last one only). Small torch sources are translated by the rules with the
shipped KB, run on MindSpore with torch's weights, and compared with torch in forward and in the
gradients of the inputs and of every parameter."""
import pytest

pytest.importorskip("mindspore")
pytest.importorskip("torch")

from agent.kb.store import load_kb  # noqa: E402
from tests.test_kb_cpu_gaps2 import _parity  # noqa: E402

WINDOWS = '''\
class Windows(nn.Module):
    def forward(self, x):
        patches = x.unfold(2, 3, 2).unfold(3, 2, 2)      # non-overlapping and strided windows
        frames = x.flatten(1).unfold(-1, 4, 1)            # overlapping, along the last axis
        return patches.sum((-1, -2)), frames.mean(-1)
'''

TRAILING = '''\
class Trailing(nn.Module):
    def __init__(self):
        super().__init__()
        self.two = nn.LayerNorm([5, 6], eps=1e-5)
        self.three = nn.LayerNorm((4, 5, 6))
        self.one = nn.LayerNorm(6)

    def forward(self, x):
        return self.two(x), self.three(x), self.one(x)
'''


@pytest.fixture(scope="module")
def kb():
    return load_kb()


def test_tensor_unfold_is_a_sliding_window(kb):
    code, _, _ = _parity(kb, WINDOWS, "Windows()", [(2, 3, 7, 6)])
    assert "_ms_unfold_windows(" in code and ".unfold(" not in code.split("def _ms_unfold_windows")[0]


def test_layer_norm_over_several_trailing_dims(kb):
    code, _, _ = _parity(kb, TRAILING, "Trailing()", [(2, 4, 5, 6)])
    assert "_MsLayerNorm(" in code


UPSAMPLE_1D = '''\
class Upsample1d(nn.Module):
    def __init__(self):
        super().__init__()
        self.up = nn.ConvTranspose1d(4, 3, 3, stride=2, padding=1, output_padding=1)
        self.wide = nn.ConvTranspose1d(4, 2, 3, stride=2, output_padding=1, groups=2, bias=False)

    def forward(self, x):
        return self.up(x), self.wide(x), self.up(x, output_size=[2, 3, 14])
'''


def test_conv_transpose_1d_computes_output_padding_as_torch(kb):
    code, _, _ = _parity(kb, UPSAMPLE_1D, "Upsample1d()", [(2, 4, 7)])
    assert "_MsConvTranspose1d(" in code and "msagent:" not in code
