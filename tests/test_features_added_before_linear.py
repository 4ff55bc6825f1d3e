"""A module that appends features of its own to the input before its first Linear (Fourier position
features on a point cloud): the input guessed from that Linear carries the Linear's full width, so
torch's matrix-product error says how many features the module added, and the input's last axis is cut
by as many. Real torch and MindSpore."""
from agent.verify.shape_fix import corrected
from tests.support.one_file import migrate_one_file

SOURCE = '''\
import torch
import torch.nn as nn


class FourierPoints(nn.Module):
    def __init__(self, bands=4, dim=8, in_channels=6):
        super().__init__()
        self.bands = bands
        self.proj = nn.Linear(in_channels + 2 * bands, dim)

    def forward(self, x):
        pos = torch.linspace(-1.0, 1.0, x.shape[1])
        freqs = torch.arange(1, self.bands + 1, dtype=x.dtype)
        enc = torch.cat([torch.sin(pos[:, None] * freqs), torch.cos(pos[:, None] * freqs)], dim=-1)
        return self.proj(torch.cat([x, enc.unsqueeze(0).expand(x.shape[0], -1, -1)], dim=-1))
'''


def test_the_input_loses_the_features_the_module_adds():
    inputs = [{"shape": [2, 8, 14], "dtype": "float32", "_vary": [1, 2]}]
    fixed = corrected(inputs, "mat1 and mat2 shapes cannot be multiplied (16x22 and 14x8)")
    assert fixed == [{"shape": [2, 8, 6], "dtype": "float32", "_vary": [1]}]


def test_module_adding_features_before_its_linear_verifies(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "points.py", SOURCE, shared_verifier)
    unit = report.units[0]
    assert unit.status == "verified-by-rules", (unit.status, unit.reason)
    assert unit.spec["inputs"][0][0]["shape"][-1] == 6, unit.spec
