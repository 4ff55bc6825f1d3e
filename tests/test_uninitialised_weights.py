"""Weights nobody initialised (`nn.Parameter(torch.Tensor(n, m))` with no init after it) hold whatever
memory held: not finite, or huge. The trial fills them with seeded normal draws, both sides get those, and
the unit is compared on numbers, the same under the same seed. Real torch and MindSpore."""
import torch

from agent.verify.weights import perturb_constants
from tests.support.one_file import migrate_one_file

SOURCE = '''\
import torch
import torch.nn as nn


class Select(nn.Module):
    def __init__(self, in_features, out_features, options=1):
        super().__init__()
        self.weight = nn.Parameter(torch.Tensor(options, out_features, in_features))  # never initialised
        self.weight.data.fill_(float("nan"))  # what such memory may hold, made certain for the test

    def forward(self, x, indices):
        weight = torch.index_select(self.weight, dim=0, index=indices)
        return weight.bmm(x.unsqueeze(-1)).squeeze(dim=-1)
'''


def test_garbage_is_replaced_by_seeded_draws_and_initialised_weights_are_kept():
    m = torch.nn.Linear(4, 3)
    kept = m.weight.detach().clone()
    with torch.no_grad():
        m.bias.fill_(1e30)
    assert perturb_constants(m, seed=1) == ["bias"]
    assert torch.equal(m.weight, kept) and float(m.bias.abs().max()) < 1.0
    again = torch.nn.Linear(4, 3)
    with torch.no_grad():
        again.bias.fill_(float("inf"))
    perturb_constants(again, seed=1)
    assert torch.equal(again.bias, m.bias)  # the same draws under the same seed
    tiny = torch.nn.Linear(4, 3)  # memory holding subnormal numbers: no initialiser draws those
    small = torch.nn.Linear(4, 3)  # a real init of small weights is kept
    with torch.no_grad():
        tiny.weight.copy_(torch.tensor([1e-42, 0.0, 3e-45, 2e-44]).repeat(3, 1))
        small.weight.mul_(1e-3)
    kept_small = small.weight.detach().clone()
    assert "weight" in perturb_constants(tiny, seed=1) and float(tiny.weight.abs().max()) > 1e-3
    assert "weight" not in perturb_constants(small, seed=1) and torch.equal(small.weight, kept_small)
    masked = torch.nn.Module()
    masked.register_buffer("mask", torch.full((3, 3), float("-inf")).triu(1))
    kept_mask = masked.mask.clone()
    perturb_constants(masked, seed=1)
    assert torch.equal(masked.mask, kept_mask)  # a buffer's -inf is meant: a causal mask stays one


def test_module_with_uninitialised_weights_verifies(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "options.py", SOURCE, shared_verifier)
    unit = report.units[0]
    assert unit.status == "verified-by-rules", (unit.status, unit.reason)
    assert unit.levels["grad"]["status"] == "verified", unit.levels
