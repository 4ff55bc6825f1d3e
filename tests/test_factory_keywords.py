"""Layers built with torch's factory keywords passed on from a constructor (`device=None, dtype=None`),
as current model libraries write them: MindSpore's layers refuse `dtype=None`, so a variable passed on
as dtype becomes `dtype if dtype is not None else float32`. The subclass and the block using it verify."""
from tests.support.one_file import assert_verified, migrate_one_file

SOURCE = '''\
import torch
import torch.nn as nn
import torch.nn.functional as F


class SameConv(nn.Conv2d):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, bias=True, device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding=0, bias=bias, device=device,
                         dtype=dtype)

    def forward(self, x):
        return F.conv2d(F.pad(x, [1, 1, 1, 1]), self.weight, self.bias, self.stride)


class Head(nn.Module):
    def __init__(self, dim=8, device=None, dtype=None):
        super().__init__()
        self.conv = SameConv(dim, dim, 3, device=device, dtype=dtype)
        self.norm = nn.LayerNorm(dim, device=device, dtype=dtype)
        self.fc = nn.Linear(dim, 4, device=device, dtype=dtype)

    def forward(self, x):
        y = self.conv(x).mean((2, 3))
        return self.fc(self.norm(y))
'''


def test_factory_keywords_passed_on_build_mindspore_layers(tmp_path, shared_verifier):
    report, out = migrate_one_file(tmp_path, "layers.py", SOURCE, shared_verifier)
    assert "dtype=dtype if dtype is not None else" in out, out
    assert_verified(report, ["SameConv", "Head"])


BUILTIN_DTYPES = '''\
import torch
import torch.nn as nn


class CausalMix(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.fc = nn.Linear(dim, dim)

    def forward(self, x):
        t = x.shape[1]
        mask = torch.tril(torch.ones(t, t, device=x.device, dtype=bool), diagonal=0)
        scores = (x @ x.transpose(1, 2)).masked_fill(~mask, float("-inf")).softmax(-1)
        steps = torch.arange(t, dtype=int).to(x.dtype)
        return self.fc(scores @ x) + steps[None, :, None]
'''


def test_python_types_given_as_dtypes_become_mindspore_dtypes(tmp_path, shared_verifier):
    # torch takes `dtype=bool` / `int` / `float` (torch.bool, int64, float64); MindSpore's functions refuse them
    report, out = migrate_one_file(tmp_path, "mix.py", BUILTIN_DTYPES, shared_verifier)
    assert "dtype=ms.bool_" in out and "dtype=ms.int64" in out, out
    assert_verified(report, ["CausalMix"])
