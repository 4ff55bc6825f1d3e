"""CPU mappings added for APIs timm 1.0.31 uses: F.group_norm and F.rms_norm (timm's norm layers),
nn.LogSoftmax (its losses), torch.pi and torch.get_default_dtype (sin-cos position embeddings,
optimizers), torch.Size and `isinstance(m, torch.nn.modules.batchnorm._BatchNorm)` (convert_sync_batchnorm,
convert_splitbn_model). Small torch sources are translated by the rules with the shipped KB, run on
MindSpore with torch's weights, and compared with torch in forward and in the gradients of the inputs
and of every parameter (a random projection of the outputs as the loss)."""
import numpy as np
import pytest

ms = pytest.importorskip("mindspore")
torch = pytest.importorskip("torch")

from agent.kb.store import load_kb  # noqa: E402
from tests.test_kb_cpu_gaps2 import HEAD, _parity, _translate  # noqa: E402

ms.set_context(mode=ms.PYNATIVE_MODE)
ms.set_device("CPU")


@pytest.fixture(scope="module")
def kb():
    return load_kb()


def _both(kb, src: str):
    """The torch source and the rules' translation of it, each executed: (torch namespace, ms namespace, code)."""
    code = _translate(kb, HEAD + src)
    tns, mns = {}, {}
    exec(HEAD + src, tns)
    exec(code, mns)
    return tns, mns, code


# ---------------------------------------------------------------- F.group_norm / F.rms_norm (timm layers/norm.py)
NORMS = '''\
class Norms(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(6))
        self.b = nn.Parameter(torch.randn(6))
        self.g = nn.Parameter(torch.randn(5))
        self.g2 = nn.Parameter(torch.randn(4, 5))

    def forward(self, x, y):
        return (F.group_norm(x, 3, self.w, self.b, 1e-5),
                F.group_norm(x, 2),
                F.group_norm(input=x, num_groups=6, weight=self.w, eps=1e-3),
                F.rms_norm(y, (5,), self.g, 1e-6),
                F.rms_norm(y, y.shape[-2:], self.g2),
                F.rms_norm(y, [5]),
                F.rms_norm(input=y, normalized_shape=[4, 5], eps=None))
'''


def test_group_norm_and_rms_norm_match_torch_with_gradients(kb):
    code, _, _ = _parity(kb, NORMS, "Norms()", [(2, 6, 4, 3), (3, 4, 5)])
    assert "ops.group_norm(" in code and "def _ms_rms_norm(" in code


def test_rms_norm_default_eps_is_float32_machine_epsilon(kb):
    """Inputs small enough for eps to matter: eps=None must be torch's 1.1920928955078125e-07, not 1e-6
    nor 0."""
    src = "def f(x):\n    return F.rms_norm(x, (8,))\n"
    tns, mns, _ = _both(kb, src)
    x = (np.random.default_rng(0).standard_normal((3, 8)) * 1e-4).astype(np.float32)
    t = tns["f"](torch.tensor(x)).numpy()
    m = mns["f"](ms.Tensor(x)).asnumpy()
    np.testing.assert_allclose(m, t, rtol=1e-5, atol=1e-6)
    # the eps shows: plain x / rms(x) would be far from it
    assert np.abs(x / np.sqrt((x * x).mean(-1, keepdims=True)) - t).max() > 1e-3


def test_rms_norm_float64_uses_float64_epsilon(kb):
    src = "def f(x, w):\n    return F.rms_norm(x, [6], w)\n"
    tns, mns, _ = _both(kb, src)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 6)) * 1e-7
    w = rng.standard_normal(6)
    t = tns["f"](torch.tensor(x), torch.tensor(w)).numpy()
    m = mns["f"](ms.Tensor(x), ms.Tensor(w))
    assert m.dtype == ms.float64
    np.testing.assert_allclose(m.asnumpy(), t, rtol=1e-10)


# ---------------------------------------------------------------- nn.LogSoftmax (timm loss/asymmetric_loss.py)
LOGSOFTMAX = '''\
class Heads(nn.Module):
    def __init__(self):
        super().__init__()
        self.logsoftmax = nn.LogSoftmax(dim=-1)
        self.implicit = nn.LogSoftmax()
        self.first = torch.nn.LogSoftmax(0)

    def forward(self, x, y, z):
        return self.logsoftmax(x), self.implicit(x), self.implicit(y), self.implicit(z), self.first(y)
'''


def test_log_softmax_layer_matches_torch_including_implicit_dim(kb):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch warns about the implicit dim
        code, _, _ = _parity(kb, LOGSOFTMAX, "Heads()", [(2, 3, 4, 5), (3, 4, 5), (4, 7)])
    assert "_MsLogSoftmax(dim=-1)" in code and "mint.nn.LogSoftmax(" not in code


# ---------------------------------------------------------------- torch.pi / get_default_dtype / torch.Size
SINCOS = '''\
def freq_bands(num_bands, temperature=10000.0, step=2):
    exp = torch.arange(0, num_bands, step, dtype=torch.int64).to(torch.float32) / num_bands
    return 1.0 / (temperature ** exp)


def pixel_freq_bands(x, num_bands=4, max_freq=224.0, dtype=None):
    dtype = dtype or torch.get_default_dtype()
    bands = torch.ones(num_bands, dtype=dtype) * (max_freq / 2) * (torch.arange(num_bands, dtype=dtype) + 1)
    return torch.sin(x[..., None] * bands * torch.pi), bands.dtype == torch.float32


def reshape_to(x, shape: torch.Size):
    assert isinstance(x.shape, torch.Size)
    return x.reshape(torch.Size(shape)), torch.Size([2, 3]) == (2, 3), tuple(torch.Size())
'''


def test_pi_default_dtype_and_size(kb):
    tns, mns, code = _both(kb, SINCOS)
    assert "math.pi" in code and "import math" in code
    assert "tuple(shape)" in code and "isinstance(x.shape, tuple)" in code
    x = np.random.default_rng(3).standard_normal((2, 3)).astype(np.float32) * 0.01
    t_out, t_is32 = tns["pixel_freq_bands"](torch.tensor(x))
    m_out, m_is32 = mns["pixel_freq_bands"](ms.Tensor(x))
    assert t_is32 and m_is32
    assert m_out.dtype == ms.float32
    np.testing.assert_allclose(m_out.asnumpy(), t_out.numpy(), atol=1e-5, rtol=1e-4)
    t_r, t_eq, t_empty = tns["reshape_to"](torch.tensor(x), (3, 2))
    m_r, m_eq, m_empty = mns["reshape_to"](ms.Tensor(x), (3, 2))
    assert m_r.shape == tuple(t_r.shape) == (3, 2)
    assert t_eq and m_eq and t_empty == m_empty == ()
    np.testing.assert_allclose(m_r.asnumpy(), t_r.numpy())


def test_pi_gradient_matches(kb):
    src = '''\
class Phase(nn.Module):
    def forward(self, x):
        return torch.cos(2 * torch.pi * x) + torch.pi
'''
    _parity(kb, src, "Phase()", [(3, 4)])


# ---------------------------------------------------------------- isinstance(m, _BatchNorm) (timm layers/norm_act.py)
BN = '''\
from torch import nn as tnn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.bn = nn.BatchNorm2d(4)
        self.ln = nn.LayerNorm(4)
        self.fc = nn.Linear(4, 2)
        self.bn1 = nn.BatchNorm1d(2)

    def forward(self, x):
        x = self.bn(self.conv(x)).mean((2, 3))
        return self.bn1(self.fc(self.ln(x)))


def bn_flags(model):
    return [isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in (model.conv, model.bn, model.ln, model.fc, model.bn1)]


def bn3d_flags():
    return (isinstance(nn.BatchNorm3d(2), tnn.modules.batchnorm._BatchNorm),
            isinstance(nn.InstanceNorm2d(2), tnn.modules.batchnorm._BatchNorm),
            issubclass(nn.BatchNorm2d, torch.nn.modules.batchnorm._BatchNorm),
            issubclass(nn.Linear, torch.nn.modules.batchnorm._BatchNorm))
'''


def test_batchnorm_base_isinstance_like_torch(kb):
    tns, mns, code = _both(kb, BN)
    assert "class _MsBatchNormBase" in code
    tm, mm = tns["Net"](), mns["Net"]()
    assert tns["bn_flags"](tm) == [False, True, False, False, True]
    assert mns["bn_flags"](mm) == tns["bn_flags"](tm)
    # BatchNorm3d maps to legacy nn.BatchNorm3d, which derives from neither base: it counts too
    assert tns["bn3d_flags"]() == (True, False, True, False)
    assert mns["bn3d_flags"]() == tns["bn3d_flags"]()
