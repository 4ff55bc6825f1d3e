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


# ---------------------------------------------------------------- RNG state of reversible networks
DETERMINISTIC = '''\
from torch.utils.checkpoint import get_device_states, set_device_states


class Deterministic(nn.Module):
    def __init__(self, net):
        super().__init__(); self.net = net; self.cpu_state = None; self.cuda_in_fwd = None; self.gpu_devices = None; self.gpu_states = None
    def record_rng(self, *args):
        self.cpu_state = torch.get_rng_state()
        if torch.cuda._initialized:
            self.cuda_in_fwd = True
            self.gpu_devices, self.gpu_states = get_device_states(*args)
    def forward(self, *args, record_rng = False, set_rng = False, **kwargs):
        if record_rng: self.record_rng(*args)
        if not set_rng: return self.net(*args, **kwargs)
        rng_devices = []
        if self.cuda_in_fwd: rng_devices = self.gpu_devices
        with torch.random.fork_rng(devices=rng_devices, enabled=True):
            torch.set_rng_state(self.cpu_state)
            if self.cuda_in_fwd: set_device_states(self.gpu_devices, self.gpu_states)
            return self.net(*args, **kwargs)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.f = Deterministic(nn.Sequential(nn.Linear(4, 4), nn.Tanh()))
        self.g = Deterministic(nn.Linear(4, 4))

    def forward(self, x1, x2):
        y1 = x1 + self.f(x2, record_rng=True)
        y2 = x2 + self.g(y1, record_rng=True)
        # the reverse pass recomputes under the recorded state, as a reversible block's backward does
        z1 = y1 - self.f(x2, set_rng=True)
        return y1, y2, z1, self.g(y1, set_rng=True)
'''


def _torch_names(code: str) -> set:
    import ast

    tree = ast.parse(code)
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    imported = {a.name for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
    modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    return {n for n in names | imported | modules if n and n.split(".")[0] == "torch"} | (
        {"get_device_states", "set_device_states"} & names)


def test_deterministic_wrapper_translates_without_torch_names_and_matches(kb):
    code, tm, mm = _parity(kb, DETERMINISTIC, "Block()", [(2, 4), (2, 4)])
    assert not _torch_names(code), _torch_names(code)
    body = code.split("class Deterministic", 1)[1]
    assert "if False:" in body and "_ms_get_device_states(*args)" in body
    assert "with _ms_fork_rng(True):" in body and "ms.set_rng_state(state=self.cpu_state)" in body
    assert "_ms_set_device_states(self.gpu_devices, self.gpu_states)" in body
    assert mm.f.cuda_in_fwd is None and mm.f.cpu_state is not None  # recorded, the CUDA branch not taken


def test_fork_rng_restores_the_global_rng_state_on_exit(kb):
    src = HEAD + '''\
def forked(fn, enabled=True):
    before = torch.get_rng_state()
    with torch.random.fork_rng(devices=[], enabled=enabled):
        fn()
        inside = torch.get_rng_state()
    return before, inside, torch.get_rng_state()


def devices(*args):
    return get_device_states(*args), set_device_states([], [])
'''
    src = src.replace("import torch\n", "import torch\nfrom torch.utils.checkpoint import get_device_states, set_device_states\n", 1)
    code = _translate(kb, src)
    assert not _torch_names(code)
    tns, mns = {}, {}
    exec(src, tns)
    exec(code, mns)
    for ns, seed, equal in ((tns, torch.manual_seed, torch.equal),
                            (mns, ms.manual_seed, lambda a, b: bool((a == b).all()))):
        seed(1)
        before, inside, after = ns["forked"](lambda: seed(7))
        assert equal(before, after) and not equal(before, inside)
        before, inside, after = ns["forked"](lambda: seed(7), False)  # enabled=False: nothing restored
        assert equal(inside, after) and not equal(before, after)
        assert ns["devices"](torch.randn(2)) == (([], []), None)
    ms.manual_seed(0)


# ---------------------------------------------------------------- keepdims alias, more reductions
def test_keepdims_alias_in_float_reductions_with_gradients(kb):
    src = '''\
class Red(nn.Module):
    def forward(self, x):
        z = torch.cat([torch.zeros(1, 3, 4), x[:1]])
        return (x.std(1, keepdims=True), torch.std(x, 1, keepdims=True), x.var(dim=(0, 2), keepdims=True),
                torch.var(x, dim=0, keepdims=True, unbiased=False), x.prod(1, keepdims=True), torch.prod(x, -1, keepdims=True),
                torch.prod(z, 0), z.prod(), x.logsumexp(1, keepdims=True), torch.logsumexp(x, -1, keepdims=True),
                x.median(0, keepdims=True)[0], torch.median(x, 1, keepdims=True).values, x.median(),
                torch.median(x, -1)[0], x.std(1, keepdim=True), torch.prod(x, 1, True))
'''
    code, _, _ = _parity(kb, src, "Red()", [(2, 3, 4)])
    body = code.split("class Red", 1)[1]
    assert "keepdims=True" in body  # ops.std/var's own keyword
    assert "x.prod(1, keepdim=True)" in body and "ops.prod(x, -1, keep_dims=True)" in body
    assert "_ms_median(x, 0, False, True)" in body and "_ms_median(x, 1, keepdim=True)" in body
    assert "_ms_median(x, None, False, False)" in body


def test_keepdims_alias_in_index_and_bool_reductions(kb):
    src = '''\
class Red(nn.Module):
    def forward(self, x):
        b = x > 0.3
        return (x.argmax(-1, keepdims=True), torch.argmax(x, 1, keepdims=True), x.argmin(0, keepdims=True),
                torch.argmin(x, 1, keepdims=True), b.any(1, keepdims=True), torch.any(b, 2, keepdims=True),
                b.all(-1, keepdims=True), torch.all(b, 0, keepdims=True), torch.any(b), torch.all(x > -3, (0, 2)),
                x.median(1, keepdims=True)[1], torch.argmax(x, 1, True), b.any(1, True))
'''
    code = _translate(kb, HEAD + src)
    body = code.split("class Red", 1)[1]
    assert "x.argmax(-1, keepdim=True)" in body and "b.all(-1, keepdim=True)" in body
    assert "ops.argmin(x, axis=1, keepdims=True)" in body and "ops.any(b, 2, keep_dims=True)" in body
    tns, mns = {}, {}
    exec(HEAD + src, tns)
    exec(code, mns)
    a = np.random.default_rng(2).standard_normal((2, 3, 4)).astype(np.float32)
    for t, m in zip(tns["Red"]()(torch.tensor(a)), mns["Red"]()(ms.Tensor(a)), strict=True):
        assert tuple(t.shape) == tuple(m.shape)
        np.testing.assert_array_equal(m.asnumpy(), t.numpy())


# ---------------------------------------------------------------- F.normalize on an all-zero row
NORMALIZE = '''\
class Normalize(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(4, 5)

    def forward(self, x, y):
        z = torch.cat([torch.zeros(1, 5), self.proj(x)[1:]])  # an all-zero row, as padding gives
        return (F.normalize(z, dim=1), F.normalize(z, p=2, dim=-1, eps=1e-6), F.normalize(y, dim=0),
                F.normalize(x, p=1.0, dim=1), F.normalize(self.proj(x)))
'''


def test_normalize_zero_row_gradients_are_finite_and_match_torch(kb):
    code, tm, mm = _parity(kb, NORMALIZE, "Normalize()", [(3, 4), (4, 6)])
    assert "_ms_normalize(z, 2.0, 1, 1e-12)" in code and "_ms_normalize(x, 1.0, 1, 1e-12)" in code

    # the input gradient of the zero row is 1/eps times the upstream in torch; nan with ops.norm's gradient
    ns: dict = {}
    exec(_translate(kb, HEAD + "def f(v, g):\n    return (F.normalize(v, dim=1, eps=1e-6) * g).sum()\n"), ns)
    v = np.zeros((2, 3), np.float32)
    v[1] = [3.0, 4.0, 0.0]
    g = np.array([[1.0, -2.0, 0.5], [0.3, 0.1, -1.0]], np.float32)
    mg = ms.grad(lambda a: ns["f"](a, ms.Tensor(g)))(ms.Tensor(v)).asnumpy()
    tv = torch.tensor(v, requires_grad=True)
    (torch.nn.functional.normalize(tv, dim=1, eps=1e-6) * torch.tensor(g)).sum().backward()
    assert np.isfinite(mg).all()
    np.testing.assert_allclose(mg, tv.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mg[0], g[0] / 1e-6, rtol=1e-5)
