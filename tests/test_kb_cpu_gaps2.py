"""CPU mappings added for instance norm, ConvTranspose2d's output_padding, the RNN cells, torch.norm,
orthogonal init and torch's `keepdims` alias: small torch sources are translated by the rules with the
shipped KB, run on MindSpore with torch's weights, and compared with torch in forward and in the
gradients of the inputs and of every parameter (a random projection of the outputs as the loss, so
that normalisation layers get non-trivial gradients too)."""
import numpy as np
import pytest

ms = pytest.importorskip("mindspore")
torch = pytest.importorskip("torch")

from agent.kb.store import load_kb  # noqa: E402
from agent.rules.engine import translate_source  # noqa: E402
from agent.verify.weights import TRANSFORMS, transfer_weights  # noqa: E402

ms.set_context(mode=ms.PYNATIVE_MODE)
ms.set_device("CPU")

HEAD = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n\n"


@pytest.fixture(scope="module")
def kb():
    return load_kb()


def _translate(kb, src: str) -> str:
    r = translate_source(src, kb, "cpu")
    assert not r.markers, [(m.line, m.reason) for m in r.markers]
    return r.code


def _leaves(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _parity(kb, src: str, build: str, shapes, *, call=lambda m, *xs: m(*xs), atol=1e-5, scale=1.0):
    """Translate SRC, build the layer both ways with torch's weights, compare outputs and gradients."""
    code = _translate(kb, HEAD + src)
    tns, mns = {}, {}
    exec(HEAD + src, tns)
    exec(code, mns)
    torch.manual_seed(0)
    tm, mm = eval(build, tns), eval(build, mns)
    tm.eval()
    mm.set_train(False)
    plan = transfer_weights(tm, mm, kb, "cpu")
    rng = np.random.default_rng(1)
    arrays = [(rng.standard_normal(s) * scale).astype(np.float32) for s in shapes]
    txs = [torch.tensor(a, requires_grad=True) for a in arrays]
    tout = _leaves(call(tm, *txs))
    projections = [rng.standard_normal(tuple(o.shape)).astype(np.float32) for o in tout]
    loss = sum((o * torch.tensor(p)).sum() for o, p in zip(tout, projections))
    loss.backward()

    params = [p for p in mm.trainable_params()]

    def forward(*xs):
        outs = _leaves(call(mm, *xs))
        return sum((o * ms.Tensor(p)).sum() for o, p in zip(outs, projections)), outs

    fn = ms.value_and_grad(forward, grad_position=tuple(range(len(arrays))), weights=params or None, has_aux=True)
    (mloss, mout), grads = fn(*[ms.Tensor(a) for a in arrays])
    if params:
        in_grads, p_grads = grads
    else:
        in_grads, p_grads = grads, ()
    in_grads = in_grads if isinstance(in_grads, tuple) else (in_grads,)
    assert len(tout) == len(mout)
    for t, m in zip(tout, mout):
        assert tuple(t.shape) == tuple(m.shape)
        np.testing.assert_allclose(m.asnumpy(), t.detach().numpy(), atol=atol, rtol=1e-4)
    np.testing.assert_allclose(float(mloss.asnumpy()), loss.item(), atol=atol * 10, rtol=1e-4)
    for tx, g in zip(txs, in_grads):
        np.testing.assert_allclose(g.asnumpy(), tx.grad.numpy(), atol=atol, rtol=1e-4)
    by_ms = {p.name: g for p, g in zip(params, p_grads)}
    tparams = dict(tm.named_parameters())
    assert len(by_ms) == len(tparams)
    for tname, p in tparams.items():
        ms_name, transform = plan[tname]["ms"], plan[tname].get("transform")
        want = TRANSFORMS[transform](p.grad.numpy()) if transform else p.grad.numpy()  # MindSpore's layout
        np.testing.assert_allclose(by_ms[ms_name].asnumpy(), want, atol=atol, rtol=1e-4,
                                   err_msg=f"gradient of {tname}")
    return code, tm, mm


# ---------------------------------------------------------------- instance norm
NORMS = '''\
class Norms(nn.Module):
    def __init__(self):
        super().__init__()
        self.n1 = nn.InstanceNorm1d(3)
        self.n2 = nn.InstanceNorm2d(3, affine=True)
        self.n3 = nn.InstanceNorm3d(3, 1e-3, 0.1, True)
        self.w = nn.Parameter(torch.randn(3))
        self.b = nn.Parameter(torch.randn(3))

    def forward(self, x, v):
        return (self.n1(x.flatten(2)), self.n2(x), self.n3(v), self.n2(x[0]),
                F.instance_norm(x, weight=self.w, bias=self.b, eps=1e-4))
'''


def test_instance_norms_match_torch_with_affine_and_gradients(kb):
    code, tm, mm = _parity(kb, NORMS, "Norms()", [(2, 3, 4, 5), (2, 3, 3, 2, 4)])
    assert "_MsInstanceNorm(3, 1e-05, False, True, 1, 0.1, False)" in code
    assert sorted(n for n, _ in mm.parameters_and_names()) == sorted(n for n, _ in tm.named_parameters())


def test_instance_norm_perturbed_affine_weights_are_used(kb):
    """weight/bias copied from torch (not ones/zeros) change the output the same way on both sides."""
    src = '''\
class N(nn.Module):
    def __init__(self):
        super().__init__()
        self.n = nn.InstanceNorm2d(4, affine=True)
        with torch.no_grad():
            self.n.weight.copy_(torch.arange(1.0, 5.0))
            self.n.bias.copy_(torch.arange(4.0) - 2)

    def forward(self, x):
        return self.n(x)
'''
    _parity(kb, src, "N()", [(2, 4, 3, 3)])


def test_instance_norm_with_running_stats_converts(kb):
    """The helper keeps running statistics (tests/test_instance_norm_running_stats.py checks them on execution)."""
    r = translate_source(HEAD + "m = nn.InstanceNorm2d(3, track_running_stats=True)\n", kb, "cpu")
    assert not r.markers and "_MsInstanceNorm(3, 1e-05, False, True, 2, 0.1, True)" in r.code


# ---------------------------------------------------------------- ConvTranspose2d
UP = '''\
class Up(nn.Module):
    def __init__(self, *args, **kwargs):
        super().__init__()
        self.up = nn.ConvTranspose2d(*args, **kwargs)

    def forward(self, x):
        return self.up(x)
'''

CONVT_CASES = [
    "Up(4, 3, 3, 2, 1, 1)",  # the usual exact 2x upsampling
    "Up(4, 3, 3, stride=2, padding=0, output_padding=1)",  # output_padding > padding: rows no input reaches
    "Up(4, 2, (3, 2), stride=(2, 3), padding=(1, 0), output_padding=(1, 2), groups=2)",
    "Up(4, 3, 3, 2, 2, 1, dilation=2, bias=False)",
    "Up(4, 3, 4, 2, 1)",  # DCGAN's, no output_padding
]


@pytest.mark.parametrize("build", CONVT_CASES)
def test_conv_transpose2d_output_padding_matches_torch_forward_and_gradients(kb, build):
    src = UP.replace("nn.ConvTranspose2d(*args, **kwargs)", "nn.ConvTranspose2d" + build[2:])
    src = src.replace("def __init__(self, *args, **kwargs)", "def __init__(self)")
    code, _, mm = _parity(kb, src, "Up()", [(2, 4, 4, 5)])
    assert "_MsConvTranspose2d(" in code
    assert isinstance(mm.up, ms.nn.Conv2dTranspose)
    assert sorted(n for n, _ in mm.parameters_and_names()) == sorted(
        n for n in ("up.weight", "up.bias") if "bias=False" not in build or n == "up.weight")


def test_conv_transpose2d_output_size_and_unbatched_input(kb):
    src = '''\
class Up(nn.Module):
    def __init__(self):
        super().__init__()
        self.up = nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1)

    def forward(self, x):
        return self.up(x, output_size=[9, 10]), self.up(x[0])
'''
    _parity(kb, src, "Up()", [(2, 3, 5, 5)])


# ---------------------------------------------------------------- recurrent cells and RNN
CELLS = '''\
class Cells(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTMCell(4, 5)
        self.tanh = nn.RNNCell(4, 5)
        self.relu = nn.RNNCell(4, 5, nonlinearity="relu", bias=False)

    def forward(self, x, h, c):
        h1, c1 = self.lstm(x, (h, c))
        h2, c2 = self.lstm(x)
        h3, c3 = self.lstm(x[0], (h[0], c[0]))
        return h1, c1, h2, c2, h3, c3, self.tanh(x, h), self.tanh(x), self.relu(x, h), self.relu(x[1])
'''


def test_lstm_and_rnn_cells_match_torch_with_and_without_state(kb):
    code, tm, mm = _parity(kb, CELLS, "Cells()", [(3, 4), (3, 5), (3, 5)])
    assert "_MsLSTMCell(4, 5" in code and '_MsRNNCell(4, 5, False, "relu")' in code
    names = sorted(n for n, _ in mm.parameters_and_names())
    assert names == sorted(n for n, _ in tm.named_parameters())


def test_unrolled_lstm_cell_over_a_sequence(kb):
    src = '''\
class Loop(nn.Module):
    def __init__(self):
        super().__init__()
        self.cell = nn.LSTMCell(3, 4)

    def forward(self, xs):
        hx = None
        outs = []
        for t in range(xs.size(0)):
            hx = self.cell(xs[t], hx)
            outs.append(hx[0])
        return torch.stack(outs)
'''
    _parity(kb, src, "Loop()", [(4, 2, 3)])


@pytest.mark.parametrize("build", [
    "nn.RNN(4, 6, 2, 'relu', True, True)",
    "nn.RNN(input_size=4, hidden_size=3, num_layers=2, batch_first=True, bidirectional=True, dropout=0)",
    "nn.RNN(4, 3, nonlinearity='relu', bias=False)",
])
def test_rnn_matches_torch_with_initial_state(kb, build):
    src = f'''\
class R(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = {build}

    def forward(self, x, h0):
        out, hn = self.rnn(x, h0)
        out2, _ = self.rnn(x)
        return out, hn, out2
'''
    t = eval(build, {"nn": torch.nn})
    dirs = 2 if t.bidirectional else 1
    seq_batch = (2, 5) if t.batch_first else (5, 2)
    _parity(kb, src, "R()", [seq_batch + (4,), (t.num_layers * dirs, 2, t.hidden_size)])


# ---------------------------------------------------------------- norms
def test_norm_is_a_vector_norm_like_torch_with_gradients(kb):
    src = '''\
class Norm(nn.Module):
    def forward(self, x, y):
        z = torch.cat([torch.zeros(1, 6), y[:2]])
        return (torch.norm(x), torch.norm(y, 2), torch.norm(y, p=1), torch.norm(y, float("inf"), 1),
                torch.norm(x, "fro", (1, 2), True), torch.norm(x, p=3, dim=-1, keepdim=True),
                x.norm(), y.norm(2), x.norm(1, (0, 2)), y.norm(p=float("-inf"), dim=0), z.norm(dim=1),
                torch.norm(z, dim=-1, keepdim=True), x.norm(dim=[0, 1]))
'''
    code, _, _ = _parity(kb, src, "Norm()", [(3, 4, 5), (4, 6)])
    assert "_ms_norm(" in code


def test_norm_of_a_zero_vector_has_torch_zero_gradient(kb):
    code = _translate(kb, HEAD + "def f(x):\n    return torch.norm(x, dim=1).sum() + torch.norm(x)\n")
    ns: dict = {}
    exec(code, ns)
    x = np.zeros((2, 3), np.float32)
    x[1] = [3.0, 4.0, 0.0]
    g = ms.grad(lambda a: ns["f"](a))(ms.Tensor(x)).asnumpy()  # a function exec'd from a string has no source file
    tx = torch.tensor(x, requires_grad=True)
    (torch.norm(tx, dim=1).sum() + torch.norm(tx)).backward()
    assert np.isfinite(g).all()
    np.testing.assert_allclose(g, tx.grad.numpy(), atol=1e-6)


def test_norm_keepdims_is_not_accepted_as_torch_does_not(kb):
    with pytest.raises(TypeError):
        torch.randn(2, 3).norm(2, 1, keepdims=True)
    r = translate_source(HEAD + "def f(x):\n    return torch.norm(x, 2, 1, keepdims=True)\n", kb, "cpu")
    assert any("unknown argument 'keepdims'" in m.reason for m in r.markers)


# ---------------------------------------------------------------- init
def test_orthogonal_init_and_calculate_gain(kb):
    src = '''\
class Init(nn.Module):
    def __init__(self):
        super().__init__()
        self.wide = nn.Parameter(torch.empty(4, 6))
        self.tall = nn.Parameter(torch.empty(6, 4))
        self.conv = nn.Conv2d(2, 3, 2)
        g = nn.init.calculate_gain("relu")
        nn.init.orthogonal_(self.wide, gain=g)
        nn.init.orthogonal_(self.tall)
        nn.init.orthogonal_(self.conv.weight, nn.init.calculate_gain("leaky_relu", 0.2))
        self.gains = [nn.init.calculate_gain(n) for n in ("linear", "sigmoid", "tanh", "selu", "conv_transpose2d")]
        self.gains.append(nn.init.calculate_gain("leaky_relu"))

    def forward(self, x):
        return x
'''
    code = _translate(kb, HEAD + src)
    assert "Orthogonal(gain=" in code and "_ms_calculate_gain(" in code
    tns, mns = {}, {}
    exec(HEAD + src, tns)
    exec(code, mns)
    t, m = tns["Init"](), mns["Init"]()
    assert m.gains == pytest.approx(t.gains)
    relu, leaky = torch.nn.init.calculate_gain("relu"), torch.nn.init.calculate_gain("leaky_relu", 0.2)
    wide, tall, conv = m.wide.asnumpy(), m.tall.asnumpy(), m.conv.weight.asnumpy().reshape(3, -1)
    np.testing.assert_allclose(wide @ wide.T, relu ** 2 * np.eye(4), atol=1e-5)
    np.testing.assert_allclose(tall.T @ tall, np.eye(4), atol=1e-5)
    np.testing.assert_allclose(conv @ conv.T, leaky ** 2 * np.eye(3), atol=1e-5)
    assert np.abs(wide).max() > 0.05  # drawn, not left empty


# ---------------------------------------------------------------- keepdims alias
def test_keepdims_alias_in_reductions(kb):
    src = '''\
class Red(nn.Module):
    def forward(self, x):
        return (x.sum(1, keepdims=True), x.mean(dim=(0, 2), keepdims=True), x.max(1, keepdims=True)[0],
                x.min(-1, keepdims=True).values, x.amax(dim=(0, 2), keepdims=True), x.amin(1, keepdims=True),
                torch.sum(x, 1, keepdims=True), torch.mean(x, -1, keepdims=True), torch.max(x, 1, keepdims=True)[0],
                torch.min(x, 0, keepdims=True)[0], torch.amax(x, 1, keepdims=True), torch.amin(x, (0, 1), keepdims=True),
                x.sum(1, True), x.max(dim=2, keepdim=True)[0])
'''
    code, _, _ = _parity(kb, src, "Red()", [(2, 3, 4)])
    body = code.split("class Red", 1)[1]
    assert "x.sum(1, keepdim=True)" in body and "x.max(1, keepdim=True)" in body
