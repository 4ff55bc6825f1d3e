"""A unit whose torch original is random (sampling in forward, an init function) cannot be compared
output to output: it is reported not exercised with that reason, never failed as a wrong
translation, while its deterministic neighbours in the same file verify."""
from tests.support.one_file import migrate_one_file

SOURCE = '''\
import math
import torch
import torch.nn as nn


def init_(tensor):
    std = 1 / math.sqrt(tensor.shape[-1])
    tensor.uniform_(-std, std)
    return tensor


class Sampler(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.mu = nn.Linear(dim, dim)
        self.logvar = nn.Linear(dim, dim)

    def forward(self, x):
        std = torch.exp(0.5 * self.logvar(x))
        return self.mu(x) + torch.randn_like(std) * std


class Encoder(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        return torch.tanh(self.proj(x))
'''


def test_random_units_are_not_exercised_with_the_reason(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "vae.py", SOURCE, shared_verifier)
    units = {u.name: u for u in report.units}
    assert units["Encoder"].status == "verified-by-rules", units["Encoder"].reason
    for name in ("Sampler", "init_"):
        assert units[name].status == "not-exercised", (name, units[name].status, units[name].reason)
        assert "random" in units[name].reason, units[name].reason
