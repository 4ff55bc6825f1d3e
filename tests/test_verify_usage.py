"""verify/usage.py: argument kinds read from how a function uses its parameters, and the input
candidates built from them that real torch accepts."""
from __future__ import annotations

import textwrap

import numpy as np
import pytest

from agent.verify import infer
from agent.verify.usage import INDEX, INT, LENGTH, SHAPE, parameter_kinds

torch = pytest.importorskip("torch")


def _define(src: str):
    ns: dict = {"torch": torch}
    code = compile(textwrap.dedent(src), "<usage-test>", "exec")
    exec(code, ns)
    # inspect.getsource needs a file: linecache serves the text under the fake name
    import linecache

    linecache.cache["<usage-test>"] = (len(src), None, textwrap.dedent(src).splitlines(True), "<usage-test>")
    return ns


SRC = """
def extract(a, t, x_shape):
    out = a.gather(-1, t)
    return out.reshape(t.shape[0], *((1,) * (len(x_shape) - 1)))

def kernel(size, sigma):
    coords = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-(coords ** 2) / (2 * sigma ** 2))
    return g[:, None] * g[None, :]

def crop(x, n):
    return x[:, :n].reshape(x.shape[0], n, -1)

def plain(x, y):
    return x * y + x.sum()

def shift(t, amount, mask=None):
    if amount == 0:
        return t
    return torch.nn.functional.pad(t, (0, 0, amount, -amount), value=0.)

def pad_to(t, length, value=0.):
    return torch.nn.functional.pad(t, (0, length - t.shape[-1]), value=value)

def bands(x, max_freq, num_bands=4):
    scales = torch.linspace(1., max_freq / 2, num_bands)
    return x[..., None] * scales
"""


def test_kinds_come_from_uses_not_names():
    ns = _define(SRC)
    assert parameter_kinds(ns["extract"]) == {"t": INDEX, "x_shape": SHAPE}
    assert parameter_kinds(ns["kernel"]) == {"size": INT}
    assert parameter_kinds(ns["crop"]) == {"n": INT}
    assert parameter_kinds(ns["plain"]) == {}
    assert parameter_kinds(ns["shift"]) == {"amount": INT}  # a padding amount
    assert parameter_kinds(ns["pad_to"]) == {"length": INT}  # a length padded to
    assert parameter_kinds(ns["bands"]) == {"max_freq": INT, "num_bands": INT}  # linspace bounds and steps


LENGTHS = """
class Stack(torch.nn.Module):
    def __init__(self, dim, depth, kernel_size):
        super().__init__()
        assert len(depth) == 3, 'depth should be a tuple of length 3'
        pre, valley, post = depth
        kh, kw = kernel_size
        self.layers = torch.nn.ModuleList([torch.nn.Linear(dim, dim) for _ in range(pre + valley + post)])
        self.kernel = (kh, kw)
"""


def test_tuple_lengths_come_from_len_and_unpacking():
    from agent.verify.constructors import default_inits

    ns = _define(LENGTHS)
    kinds = parameter_kinds(ns["Stack"].__init__)
    assert kinds["depth"] == LENGTH + "3" and kinds["kernel_size"] == LENGTH + "2"
    init = default_inits("Stack", ns["Stack"])[0]
    assert "depth=(2, 2, 2)" in init and "kernel_size=(3, 3)" in init, init
    model = eval(init, ns)
    assert len(model.layers) == 6


@pytest.mark.parametrize("name", ["extract", "kernel", "crop", "shift", "bands", "pad_to"])
def test_some_candidate_runs_on_torch(name):
    fn = _define(SRC)[name]
    ran = []
    for cand in infer.function_input_candidates(fn):
        rng = np.random.default_rng(0)
        args = []
        for inp in cand:
            if "value" in inp:
                args.append(inp["value"])
            elif inp["dtype"].startswith("int"):
                args.append(torch.from_numpy(rng.integers(inp["low"], inp["high"], inp["shape"])))
            else:
                args.append(torch.from_numpy(rng.standard_normal(inp["shape"]).astype(np.float32)))
        try:
            out = fn(*args)
        except Exception:
            continue
        ran.append(out)
    assert ran and all(isinstance(o, torch.Tensor) for o in ran)


EXPERTS = """
class MixedConv(torch.nn.Module):
    def __init__(self, channels, experts=4):
        super().__init__()
        self.channels = channels
        self.weight = torch.nn.Parameter(torch.randn(experts, channels * channels * 9))

    def forward(self, x, mix):
        B, C, H, W = x.shape
        weight = torch.matmul(mix, self.weight).view(B * self.channels, C, 3, 3)
        out = torch.nn.functional.conv2d(x.reshape(1, B * C, H, W), weight, padding=1, groups=B)
        return out.view(B, self.channels, H, W)
"""


def test_an_unpacked_rank_comes_before_parameter_shaped_guesses():
    """The module's own parameter ([experts, n]) suggests (batch, experts) inputs; the first argument,
    unpacked into four axes, gets its rank-4 candidates first, so a combination that runs is tried
    within the first few."""
    module = _define(EXPERTS)["MixedConv"](8)
    combos = infer.module_input_candidates(module, hints=infer.geometry_hints(module, "MixedConv(channels=8)"))
    assert len(combos[0][0]["shape"]) == 4, combos[0]
    rng = np.random.default_rng(0)
    ran = 0
    for cand in combos[:4]:
        args = [torch.from_numpy(rng.standard_normal(c["shape"]).astype(np.float32)) for c in cand]
        try:
            ran += module(*args).dim() == 4
        except Exception:
            continue
    assert ran


MODULATED = """
import torch
from torch import nn

def modulate(x, shift, scale):
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)

def flattened(x, scale):
    b, n = x.shape
    return x.view(b, -1) * scale

class Drop(nn.Module):
    def __init__(self, n=10, dim=8, p=0.1):
        super().__init__()
        self.table, self.p = nn.Embedding(n + 1, dim), p

    def forward(self, labels, train, force_drop_ids=None):
        if (train and self.p > 0) or force_drop_ids is not None:
            labels = torch.where(torch.rand(labels.shape[0]) < self.p, torch.full_like(labels, 10), labels)
        return self.table(labels)
"""


def test_a_parameter_used_through_tensor_methods_is_a_tensor_whatever_its_name():
    ns = _define(MODULATED)
    kinds = parameter_kinds(ns["modulate"])
    assert kinds == {"shift": "tensor", "scale": "tensor"}, kinds
    assert parameter_kinds(ns["flattened"]) == {"x": "rank:2"}  # a use that tells more wins; `scale` a number
    first = infer.function_input_candidates(ns["modulate"])[0]
    assert all("shape" in a for a in first), first  # `scale` is not the number 1.0 its name suggests
    assert ns["modulate"](*[torch.randn(*a["shape"]) for a in first]).dtype == torch.float32


def test_a_forward_flag_named_for_training_is_off():
    ns = _define(MODULATED)
    drop = ns["Drop"]()
    candidates = infer.module_input_candidates(drop)
    assert candidates and all(c[1] == {"value": False} for c in candidates), candidates
    labels, flag = candidates[0]
    assert labels["dtype"] == "int64", labels  # torch runs it: the flag a plain False, not an ambiguous tensor
    assert drop(torch.randint(0, labels["high"], labels["shape"]), flag["value"]).shape == (*labels["shape"], 8)


STEPPED = """
import torch
from torch import nn

class Denoiser(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.proj, self.steps = nn.Linear(dim, dim), nn.Embedding(10, dim)

    def forward(self, x, timesteps=None, context=None):
        return self.proj(x) + self.steps(timesteps)


class Conditioned(nn.Module):
    def __init__(self, dim=8, classes=5):
        super().__init__()
        self.proj, self.steps, self.labels = nn.Linear(dim, dim), nn.Embedding(10, dim), nn.Embedding(classes, dim)

    def forward(self, x, t, y):
        c = self.steps(t) + self.labels(y)
        return self.proj(x) * c.chunk(2, dim=1)[0].sum(1, keepdim=True)
"""


def test_a_unets_timesteps_left_none_by_default_are_fed():
    ns = _define(STEPPED)
    model = ns["Denoiser"]()
    candidates = infer.module_input_candidates(model)
    x, steps = candidates[0]  # context=None stays out: nothing says it is needed
    assert steps["dtype"] == "int64" and steps["shape"] == [x["shape"][0]], candidates[0]
    assert model(torch.randn(*x["shape"]), torch.randint(0, steps["high"], steps["shape"])).shape == tuple(x["shape"])


def test_a_diffusion_forward_gets_one_step_and_one_label_per_sample():
    ns = _define(STEPPED)
    model = ns["Conditioned"]()
    candidates = infer.module_input_candidates(model)
    assert all(c[1]["shape"] == [c[0]["shape"][0]] for c in candidates), candidates  # a step per sample
    assert candidates[0][1]["dtype"] == "int64", candidates[0]  # an integer step first, then a time in [0, 1]
    per_sample = [c for c in candidates if c[2]["shape"] == [c[0]["shape"][0]]]  # `y`: a label per sample
    assert per_sample, candidates
    x, t, y = per_sample[0]
    args = [torch.randn(*x["shape"]), torch.randint(0, t["high"], t["shape"]), torch.randint(0, y["high"], y["shape"])]
    assert model(*args).shape == tuple(x["shape"])
