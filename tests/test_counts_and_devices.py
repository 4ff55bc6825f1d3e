"""A positional embedding called with a length and a device (`rotary(n, device)`) is fed an integer
length, 4 and then 6, and the string 'cpu' for the device (never a tensor); a count given to
`linspace(..., steps=h)` by keyword is a count too. The integer positions times float frequencies
(`einsum('i, j -> i j', arange(n), inv_freq)`) are promoted as torch promotes them. Real torch and
MindSpore."""
from tests.support.one_file import assert_verified, migrate_one_file

SOURCE = '''\
import torch
import torch.nn as nn
from torch import einsum


class Rotary(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.register_buffer("inv_freqs", 1.0 / (10000 ** (torch.arange(0, dim, 2).float() / dim)))

    def forward(self, n, device):
        seq = torch.arange(n, device=device)
        freqs = einsum("i, j -> i j", seq, self.inv_freqs)
        return torch.cat((freqs.sin(), freqs.cos()), dim=-1)


class AxialGrid(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.scales = nn.Parameter(torch.linspace(1.0, 4.0, dim))

    def forward(self, h, w, device):
        h_seq = torch.linspace(-1.0, 1.0, steps=h, device=device).unsqueeze(-1)
        w_seq = torch.linspace(-1.0, 1.0, steps=w, device=device).unsqueeze(-1)
        return (h_seq * self.scales)[:, None] + (w_seq * self.scales)[None, :]
'''


def test_lengths_are_counts_and_devices_are_strings(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "rotary.py", SOURCE, shared_verifier)
    units = assert_verified(report, ["Rotary", "AxialGrid"], level=None)
    assert units["Rotary"].spec["inputs"] == [[{"value": 4}, {"value": "cpu"}], [{"value": 6}, {"value": "cpu"}]]
    assert units["AxialGrid"].spec["inputs"][1] == [{"value": 6}, {"value": 6}, {"value": "cpu"}]
