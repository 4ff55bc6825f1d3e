"""Slices with a step on tensors of three or more dimensions (Swin's patch merging, a Focus layer, interleaved
rotary embeddings): MindSpore 2.10's CPU gradient of a strided slice fails ("StridedSliceGrad ... input
memory out of bounds"), so such units verified forward and failed at the gradient level. On CPU the
subscript goes through `_ms_steps`, which gathers the stepped axes; the units verify up to gradients
against torch, assignments into a stepped slice still write the tensor, and a two-dimensional tensor or
a list is sliced as it is."""
from tests.support.one_file import assert_verified, migrate_one_file

SOURCE = '''\
import torch
from torch import nn


class PatchMerging(nn.Module):
    def __init__(self, input_resolution, dim):
        super().__init__()
        self.input_resolution = input_resolution
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x):
        H, W = self.input_resolution
        B, L, C = x.shape
        x = x.view(B, H, W, C)
        x0 = x[:, 0::2, 0::2, :]
        x1 = x[:, 1::2, 0::2, :]
        x2 = x[:, 0::2, 1::2, :]
        x3 = x[:, 1::2, 1::2, :]
        return self.reduction(self.norm(torch.cat([x0, x1, x2, x3], -1)))


class Focus(nn.Module):
    def __init__(self, c1=3, c2=8):
        super().__init__()
        self.conv = nn.Conv2d(c1 * 4, c2, 1)

    def forward(self, x):
        return self.conv(torch.cat([x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2], x[..., 1::2, 1::2]], 1))


class Interleaved(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        y = self.proj(x)
        pairs = torch.stack((-y[:, :, 1::2], y[:, :, ::2]), dim=-1).flatten(-2)
        flat = y[0, :, ::2]  # two dimensions: sliced as written
        return pairs + y, flat


def every_other_row(x):
    out = torch.relu(x)
    out[:, ::2] = 0
    out[:, 1::2] *= 2
    return out, [1, 2, 3, 4][::2]
'''


def test_stepped_slices_verify_up_to_gradients(tmp_path, shared_verifier):
    report, text = migrate_one_file(tmp_path, "merge.py", SOURCE, shared_verifier)
    assert_verified(report, ["PatchMerging", "Focus", "Interleaved"])
    assert_verified(report, ["every_other_row"], level=None)
    assert "x0 = _ms_steps(x)[:, 0::2, 0::2, :]" in text
    assert "out[:, ::2] = 0" in text  # an assignment target stays as written
