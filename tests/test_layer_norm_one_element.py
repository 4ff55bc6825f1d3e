"""A layer norm over a single element (a gate's LayerNorm of one reduced channel, as squeeze-excite and
global-context blocks have at small widths): its output is its bias, its input gradient zero. The
written-out layer_norm took the variance with ops.var, whose gradient is NaN over one element, so every
gradient upstream of the norm came out NaN; the mean of the centred squares is exact there."""
from tests.support.one_file import migrate_one_file

SOURCE = '''\
import torch
import torch.nn.functional as F
from torch import nn


class OneChannelGate(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.reduce = nn.Linear(dim, 1)
        self.norm_weight = nn.Parameter(torch.ones(1))
        self.norm_bias = nn.Parameter(torch.zeros(1))
        self.expand = nn.Linear(1, dim)

    def forward(self, x):
        r = self.reduce(x)
        h = F.layer_norm(r, (1,), self.norm_weight, self.norm_bias)
        return x * torch.sigmoid(self.expand(torch.relu(h) + r))
'''


def test_a_one_element_layer_norm_has_finite_gradients(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "gate.py", SOURCE, shared_verifier)
    (unit,) = [u for u in report.units if u.name == "OneChannelGate"]
    assert unit.status == "verified-by-rules" and unit.levels["grad"]["status"] == "verified", unit.reason
