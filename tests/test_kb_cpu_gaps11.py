"""Functional transposed convolutions (mint's have no CPU kernel in MindSpore 2.10; 1-d has no MindSpore
function at all) the pseudo-inverse and trapezoid integration, found migrating a public audio filterbank package: an analysis
filterbank and its synthesis through conv_transpose1d, a 2-d upsampler, a least-squares fit. Verified on
real torch and MindSpore, gradients included."""
from tests.support.one_file import migrate_one_file

SOURCE = '''\
import torch
import torch.nn as nn
import torch.nn.functional as F


class Filterbank(nn.Module):
    """Analysis by a strided 1-d convolution, synthesis by its transpose."""

    def __init__(self, n_filters=6, kernel_size=8, stride=4):
        super().__init__()
        self.stride = stride
        self.filters = nn.Parameter(torch.randn(n_filters, 1, kernel_size) * 0.3)

    def forward(self, wav):
        spec = F.conv1d(wav, self.filters, stride=self.stride)
        back = F.conv_transpose1d(spec.relu(), self.filters, stride=self.stride, padding=1, output_padding=1)
        return back, torch.pinverse(self.filters.squeeze(1))


class Upsampler(nn.Module):
    def __init__(self, channels=4):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(channels, 2, 3, 3) * 0.2)
        self.bias = nn.Parameter(torch.zeros(4))

    def forward(self, x):
        if torch._C._is_tracing():
            return x
        return F.conv_transpose2d(x, self.weight, self.bias, stride=2, padding=1, output_padding=1, groups=2)


def area_under(err: torch.Tensor, t: torch.Tensor):
    return torch.trapezoid(err ** 2, t, dim=-1).mean() + torch.trapezoid(err, dx=0.5).sum()
'''


def test_functional_transposed_convolutions_and_pinverse_verify(tmp_path, shared_verifier):
    report, text = migrate_one_file(tmp_path, "fb.py", SOURCE, shared_verifier)
    assert "_ms_conv_transpose1d(" in text and "_ms_conv_transpose2d(" in text and "msagent:" not in text, text
    units = {u.name: u for u in report.units}
    assert units["area_under"].status == "verified-by-rules", units["area_under"].reason
    for name in ("Filterbank", "Upsampler"):
        assert units[name].status == "verified-by-rules", (name, units[name].status, units[name].reason)
        assert units[name].levels["grad"]["status"] == "verified", units[name].levels


CONSTANTS = '''\
import torch
import torch.nn as nn


class SegmentSum(nn.Module):
    """A causal segment sum as state-space duals write it: the upper triangle masked with -inf."""

    def forward(self, x):
        t = x.shape[-1]
        cum = torch.cumsum(x, dim=-1)
        seg = cum[..., :, None] - cum[..., None, :]
        mask = torch.tril(torch.ones(t, t, dtype=torch.bool), diagonal=0)
        out = torch.exp(seg.masked_fill(~mask, -torch.inf))
        return out * torch.e, torch.isnan(out.masked_fill(out > 1, torch.nan))
'''


def test_torch_float_constants_are_pythons(tmp_path, shared_verifier):
    report, text = migrate_one_file(tmp_path, "seg.py", CONSTANTS, shared_verifier)
    assert "-math.inf" in text and "math.e" in text and "math.nan" in text and "msagent:" not in text, text
    unit = report.units[0]
    assert unit.status == "verified-by-rules", (unit.status, unit.reason)


OPTIMIZER = '''\
import torch
from torch.optim.optimizer import Optimizer, required


class SGDP(Optimizer):
    def __init__(self, params, lr=required, momentum=0):
        if lr is not required and lr < 0.0:
            raise ValueError("bad lr")
        super().__init__(params, dict(lr=lr, momentum=momentum))


def scale(x: torch.Tensor) -> torch.Tensor:
    return x * 2
'''


def test_an_optimizer_module_imports(tmp_path, shared_verifier):
    # `lr=required` (torch's sentinel default) and a custom Optimizer subclass: the def and class statements
    # run at import, so the file's other units need them to translate to something that exists
    report, text = migrate_one_file(tmp_path, "sgdp.py", OPTIMIZER, shared_verifier)
    assert "lr=_ms_required" in text and "lr is not _ms_required" in text, text
    unit = {u.name: u for u in report.units}["scale"]
    assert unit.status == "verified-by-rules", (unit.status, unit.reason)


MASK_STATS = '''\
import torch


def stability(masks: torch.Tensor, threshold: float) -> torch.Tensor:
    inner = (masks > threshold + 0.5).sum(-1, dtype=torch.int16).sum(-1, dtype=torch.int32)
    outer = (masks > threshold - 0.5).sum(-1, dtype=torch.short).sum(-1, dtype=torch.int32)
    return inner / outer.clamp(min=1)
'''


def test_the_narrow_integer_dtypes_map(tmp_path, shared_verifier):
    # torch.int16 / torch.short (and int8, the unsigned and complex types) had no entry: the name stayed
    report, text = migrate_one_file(tmp_path, "masks.py", MASK_STATS, shared_verifier)
    assert "ms.int16" in text and "torch" not in text.split("def stability")[1], text
    assert report.units[0].status == "verified-by-rules", (report.units[0].status, report.units[0].reason)


POSITIONS = '''\
import torch
import torch.nn.functional as F
from torch import nn


class LearnedPositions(nn.Embedding):
    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int):
        super().__init__(num_embeddings + padding_idx + 1, embedding_dim, padding_idx)

    def forward(self, tokens):
        mask = tokens.ne(self.padding_idx).int()
        positions = (torch.cumsum(mask, dim=1) * mask).long() + self.padding_idx
        return F.embedding(positions, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                           self.scale_grad_by_freq, self.sparse)
'''


def test_an_embedding_subclass_passing_its_own_options_to_f_embedding(tmp_path, shared_verifier):
    # as nn.Embedding.forward itself does: max_norm, scale_grad_by_freq and sparse are known at run time
    # only (None/False in practice); the lookup checks them when called instead of the rules refusing it
    report, text = migrate_one_file(tmp_path, "positions.py", POSITIONS, shared_verifier)
    assert "msagent:" not in text.split("class LearnedPositions")[1], text
    unit = report.units[0]
    assert unit.status == "verified-by-rules", (unit.status, unit.reason)


STAGES = '''\
import math

import torch
from torch import nn
from torch.nn.init import _calculate_fan_in_and_fan_out


def lecun_normal_(tensor):
    fan_in, _ = _calculate_fan_in_and_fan_out(tensor)
    with torch.no_grad():
        return tensor.normal_(0, 1 / math.sqrt(fan_in))


class Staged(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        stages = [("stage1", nn.Linear(dim, dim)), ("stage2", nn.Linear(dim, dim))]
        for stage in stages:
            self.add_module(*stage)
        scale = 1 / math.sqrt(_calculate_fan_in_and_fan_out(self.stage1.weight)[0])
        self.scale = scale

    def forward(self, x):
        return self.stage2(torch.relu(self.stage1(x))) * self.scale
'''


def test_stages_added_by_spread_and_fans_from_torch_init(tmp_path, shared_verifier):
    # `self.add_module(*stage)` (a model zoo's stage loop) and init's `_calculate_fan_in_and_fan_out`
    report, text = migrate_one_file(tmp_path, "staged.py", STAGES, shared_verifier)
    assert "_ms_add_module(self, *stage)" in text and "msagent:" not in text, text
    unit = {u.name: u for u in report.units}["Staged"]
    assert unit.status == "verified-by-rules", (unit.status, unit.reason)
