"""A block no guess can build (its constructor takes a layer class) is verified inside the model that
builds it, on what that model passed it: the model calls it with keywords (`blk(x, cond=None,
scale=0.5)`), which become positional inputs in the forward's order, a parameter skipped before one
given taking its default. Real torch and MindSpore."""
from tests.support.one_file import migrate_one_file

SOURCE = '''\
import torch.nn as nn


class Block(nn.Module):
    def __init__(self, dim, activation):
        super().__init__()
        self.fc = nn.Linear(dim, dim)
        self.act = activation()

    def forward(self, x, cond, shift=0.0, scale=1.0):
        y = self.act(self.fc(x)) * scale + shift
        return y if cond is None else y + cond


class Net(nn.Module):
    def __init__(self, dim=8, depth=2):
        super().__init__()
        self.blocks = nn.ModuleList([Block(dim, nn.GELU) for _ in range(depth)])

    def forward(self, x):
        for blk in self.blocks:
            x = blk(x, cond=None, scale=0.5)
        return x
'''


def test_block_called_with_keywords_verifies_inside_its_model(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "net.py", SOURCE, shared_verifier)
    unit = next(u for u in report.units if u.name == "Block")
    assert unit.status == "verified-by-rules", (unit.status, unit.reason)
    assert unit.spec["source"] == "parent" and "'blocks.0'" in unit.spec["init"], unit.spec
    assert [d.get("value", "array") for d in unit.spec["inputs"][0]] == ["array", None, 0.0, 0.5], unit.spec
