"""`nn.LayerNorm(dim, elementwise_affine=False)` is how modulated blocks normalise (the scale and shift
come from a conditioning vector), and `bias=False` is common in recent language models. Both were marked
unsupported; the LayerNorm helper now keeps no parameters (or no beta) as torch does, reads `weight` /
`bias` as None, and the blocks verify on real torch and MindSpore."""
from tests.support.one_file import assert_verified, migrate_one_file

SOURCE = '''\
import torch
import torch.nn as nn


class Modulated(nn.Module):
    def __init__(self, dim=8, cond_dim=4):
        super().__init__()
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.to_scale_shift = nn.Linear(cond_dim, dim * 2)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, cond):
        scale, shift = self.to_scale_shift(cond).unsqueeze(1).chunk(2, dim=-1)
        h = self.norm(x) * (1 + scale) + shift
        return x + self.proj(h)


class NoBias(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.norm = nn.LayerNorm(dim, bias=False)
        self.fc = nn.Linear(dim, dim, bias=False)

    def forward(self, x):
        extra = 0.0 if self.norm.bias is None else self.norm.bias.sum()
        return self.fc(self.norm(x)) + extra
'''


def test_layer_norms_without_affine_parameters_verify(tmp_path, shared_verifier):
    report, out = migrate_one_file(tmp_path, "modulated.py", SOURCE, shared_verifier)
    assert not [m for f in report.files for m in f.markers], [f.markers for f in report.files]
    assert "elementwise_affine=False" in out and "bias=False" in out
    assert_verified(report, ["Modulated", "NoBias"])
