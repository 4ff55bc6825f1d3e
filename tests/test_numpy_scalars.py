"""A numpy scalar in arithmetic beside a tensor: torch treats it as a Python number, MindSpore's tensor loses
to it (`np.float64(2.0) * t` is an ndarray, which the next op refuses). Whisper's sinusoids failed so; the
numpy call now goes through `_ms_scalar` and the function verifies against torch."""
from tests.support.one_file import assert_verified, migrate_one_file

SOURCE = '''\
import numpy as np
import torch
from torch import nn


def sinusoids(length, channels, max_timescale=10000):
    increment = np.log(max_timescale) / (channels // 2 - 1)
    inv_timescales = torch.exp(-increment * torch.arange(channels // 2))
    scaled_time = torch.arange(length)[:, np.newaxis] * inv_timescales[np.newaxis, :]
    return torch.cat([torch.sin(scaled_time), torch.cos(scaled_time)], dim=1)


class Scaled(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.proj = nn.Linear(dim, dim)
        self.dim = dim

    def forward(self, x):
        return 1.0 / np.sqrt(self.dim) * self.proj(x)
'''


def test_numpy_scalars_beside_tensors_act_as_numbers(tmp_path, shared_verifier):
    report, text = migrate_one_file(tmp_path, "pos.py", SOURCE, shared_verifier)
    assert_verified(report, ["Scaled"])
    assert_verified(report, ["sinusoids"], level=None)
    assert "_ms_scalar(np.log(max_timescale))" in text and "1.0 / _ms_scalar(np.sqrt(self.dim))" in text
