"""A unit whose torch original is random through torch's samplers (sampling in forward, an init function)
is compared on aligned draws (see test_aligned_random); one whose randomness comes from elsewhere (Python's
`random`) cannot be compared output to output: it is reported not exercised with that reason, never
failed as a wrong translation, while its deterministic neighbours in the same file verify."""
from tests.support.one_file import migrate_one_file

SOURCE = '''\
import math
import random

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


class Jitter(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        return self.proj(x) * (1 + random.random())


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
        assert units[name].levels["forward"]["status"] == "verified", (name, units[name].status, units[name].reason)
        assert any(n.startswith("random: the torch original samples") for n in units[name].notes), units[name].notes
    assert units["Sampler"].status == "verified-by-rules", units["Sampler"].reason
    # init_ overwrites its input in place: every torch gradient is zero, so the grad level does not apply
    assert units["init_"].status == "verified-by-rules", units["init_"].reason
    assert units["init_"].levels["grad"]["status"] == "not-run", units["init_"].levels
    jitter = units["Jitter"]
    assert jitter.status == "not-exercised" and "random" in jitter.reason, (jitter.status, jitter.reason)
