"""`F.pad` with negative amounts crops: the token-shift idiom (`F.pad(t, (0, 0, 1, -1))`) and a crop to a
length. mindspore 2.10's CPU pad returns stale values on its second call with such amounts (the KB's
probe records `differs` for ops.pad), so the translation crops by slicing; a module that shifts tokens
on every call verifies over all its trials. Real torch and MindSpore."""
from tests.support.one_file import assert_verified, migrate_one_file

SOURCE = '''\
import torch
import torch.nn as nn
import torch.nn.functional as F


class TokenShift(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        half = x.shape[-1] // 2
        shifted = F.pad(x[..., :half], (0, 0, 1, -1))
        return self.proj(torch.cat([shifted, x[..., half:]], dim=-1))


def pad_dim_to(t, length: int, dim: int = 0):
    return F.pad(t, (0, 0) * (t.ndim - dim - 1) + (0, length - t.shape[dim]))
'''


def test_negative_amounts_crop_on_every_call(tmp_path, shared_verifier):
    report, out = migrate_one_file(tmp_path, "shift.py", SOURCE, shared_verifier)
    assert "_ms_pad(x[..., :half], (0, 0, 1, -1))" in out
    assert_verified(report, ["TokenShift"])
    assert_verified(report, ["pad_dim_to"], level=None)
