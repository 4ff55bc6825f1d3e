"""Torch overloads only run time can tell apart: `x.max(other)` is an elementwise maximum when `other`
is a tensor and a reduction when it is a dim (EvoNorm divides by `left.max(right)`); a function that
returns a dtype is compared by the dtype's name (torch.float16 is mindspore.float16); `a.to(b)` casts
to b's dtype when b is a tensor and moves nothing when it is a device; a cast to integers or booleans
carries no gradient (MindSpore's Cast passes one back unless the translation cuts it); `module.to(x)`
moves nothing. Real migrations,
compared on real torch and MindSpore."""
from tests.support.one_file import assert_verified, migrate_one_file

SOURCE = '''\
import torch
import torch.nn as nn


class Ratio(nn.Module):
    def __init__(self, channels=4, dim=1):
        super().__init__()
        self.v = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.dim = dim

    def forward(self, x):
        left = x.var(dim=(2, 3), keepdim=True).add(1e-5).sqrt()
        right = self.v * x + 1.0
        peak = x.max(self.dim)[0]
        return x / left.max(right) + right.min(left), peak


def amp_dtype(x, device: str = "cuda"):
    return torch.get_autocast_dtype(device), x.dtype


class Router(nn.Module):
    """Top-1 routing as mixture-of-experts code writes it: the dispatch mask is the combine weights cast to
    bool and back, which carries no gradient in torch."""

    def __init__(self, dim=8, experts=4):
        super().__init__()
        self.w = nn.Parameter(torch.randn(dim, experts))

    def forward(self, x):
        gates = (x @ self.w).softmax(dim=-1)
        combine = gates * (gates >= gates.max(dim=-1, keepdim=True)[0]).float()
        dispatch = combine.bool().to(combine)
        return dispatch * x.sum(dim=-1, keepdim=True) + combine, x * (x * 3).long()


def kept_weights(scores, device: str = "cpu"):
    keep = scores > 0
    return keep.to(scores) * scores.to(device), (keep.long() * 2).to(keep)


class Smoother(nn.Module):
    def __init__(self, width=3):
        super().__init__()
        self.register_buffer("kernel", torch.ones(width) / width)

    def forward(self, x):
        return torch.nn.functional.conv1d(x.reshape(-1, 1, x.shape[-1]), self.kernel.view(1, 1, -1)).view(*x.shape[:-1], -1)


def smoothed(x: torch.Tensor, width: int = 3):
    """A module built and moved to its input's device and dtype in one go, then called."""
    return Smoother(width).to(x)(x)
'''


def test_runtime_overloads_and_dtype_outputs_verify(tmp_path, shared_verifier):
    report, out = migrate_one_file(tmp_path, "ratio.py", SOURCE, shared_verifier)
    assert "_ms_tensor_max(left, right)" in out and "_ms_tensor_max(x, self.dim)" in out
    assert_verified(report, ["Ratio"])
    assert_verified(report, ["amp_dtype"], level=None)
    assert "_ms_to(keep, scores) * scores," in out
    assert_verified(report, ["kept_weights"], level=None)
    assert "_ms_to(ops.stop_gradient(combine.bool()), combine)" in out
    assert_verified(report, ["Router"])
    assert "_ms_to(Smoother(width), x)(x)" in out
    assert_verified(report, ["smoothed"], level=None)


def test_a_wrong_dtype_is_a_mismatch():
    from agent.verify.compare import Mismatch, compare_trees

    pt, ms = {"t": "dtype", "v": "float16"}, {"t": "dtype", "v": "bfloat16"}
    try:
        compare_trees(pt, [], ms, [])
    except Mismatch as exc:
        assert "float16" in str(exc)
    else:
        raise AssertionError("float16 and bfloat16 compared equal")
