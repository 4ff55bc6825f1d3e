"""A container block no guess can fill (its children are added by the model that uses it) is verified
inside a model defined in another file of the package: the spec names `pkg.net.Net()`, and both sides
import `pkg.net` for it even though the block's own module never imports it. Real torch and MindSpore."""
from tests.support.one_file import migrate_files

FILES = {
    "pkg/__init__.py": "",
    "pkg/blocks.py": '''\
import torch
import torch.nn as nn


class Concat(nn.Sequential):
    """Runs every child on the input and concatenates their outputs."""

    def forward(self, x):
        return torch.cat([m(x) for m in self.children()], dim=1)
''',
    "pkg/net.py": '''\
import torch.nn as nn

from pkg.blocks import Concat


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.branches = Concat()
        self.branches.add_module("a", nn.Linear(8, 4))
        self.branches.add_module("b", nn.Linear(8, 4))
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        return self.head(self.branches(x))
''',
}


def test_container_verified_inside_a_model_of_another_file(tmp_path, shared_verifier):
    report = migrate_files(tmp_path, FILES, shared_verifier)
    unit = next(u for u in report.units if u.name == "Concat")
    assert unit.status == "verified-by-rules", (unit.status, unit.reason)
    assert unit.spec["source"] == "parent" and "pkg.net.Net()" in unit.spec["init"], unit.spec
