"""Attention masks filled with a dtype's limit, as most transformer code writes them:
`dots.masked_fill(~mask, -torch.finfo(dots.dtype).max)`. torch.finfo gives Python floats; MindSpore's
masked_fill refuses the numpy scalars numpy.finfo gives, so the KB's finfo gives Python floats too."""
from tests.support.one_file import migrate_one_file

SOURCE = '''\
import torch
import torch.nn as nn


class CausalScores(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.qk = nn.Linear(dim, dim * 2)

    def forward(self, x):
        q, k = self.qk(x).chunk(2, dim=-1)
        dots = q @ k.transpose(-1, -2)
        n = dots.shape[-1]
        future = torch.ones(n, n, dtype=torch.bool).triu(1)
        dots = dots.masked_fill(future, -torch.finfo(dots.dtype).max)
        return dots.softmax(dim=-1)
'''


def test_masks_filled_with_a_dtype_limit_verify(tmp_path, shared_verifier):
    report, text = migrate_one_file(tmp_path, "scores.py", SOURCE, shared_verifier)
    unit = next(u for u in report.units if u.name == "CausalScores")
    assert unit.status == "verified-by-rules", (unit.status, unit.reason)
    assert unit.level_reached == "grad", unit.levels
    assert "_ms_finfo(dots.dtype).max" in text
