"""A comparison float32 rounding alone decides is named as such. When a value mismatch shows, the
torch side runs a float64 copy of the same model on the same inputs: if torch's own float32 output
misses that by more than the tolerance, the unit fails as `precision` (not as a wrong value, and no
repair is tried); a unit whose torch float32 output is well within the tolerance keeps its verdict.
Real torch and real MindSpore on both sides."""
from tests.support.one_file import migrate_one_file

SOURCE = '''\
import torch
import torch.nn as nn


class Chaotic(nn.Module):
    """An iterated map that amplifies every rounding difference (sin's last bit differs between
    libraries), so its float32 output says nothing about the translation's correctness."""

    def __init__(self, steps=60):
        super().__init__()
        self.steps = steps

    def forward(self, x):
        for _ in range(self.steps):
            x = torch.sin(3.0 * x) * 0.9 + 0.05 * x.mean(-1, keepdim=True)
        return x


class Smooth(nn.Module):
    def __init__(self, dim=16):
        super().__init__()
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        return torch.sin(self.proj(x))
'''


def test_rounding_decided_comparison_fails_as_precision_and_others_verify(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "maps.py", SOURCE, shared_verifier)
    units = {u.name: u for u in report.units}
    chaotic, smooth = units["Chaotic"], units["Smooth"]
    assert chaotic.status == "failed", (chaotic.status, chaotic.reason)
    assert chaotic.failure == "precision", (chaotic.failure, chaotic.reason)
    assert "float32 rounding alone" in chaotic.reason and "float64" in chaotic.reason
    assert "LLM repair" not in chaotic.reason and not chaotic.repairs
    assert smooth.status == "verified-by-rules", (smooth.status, smooth.reason)
