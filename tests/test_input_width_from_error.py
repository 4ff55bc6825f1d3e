"""A module that builds its own inputs (a 2-d coordinate grid) for a network it is given: the guessed
network's input width (8) is corrected from torch's matrix-product error to the grid's (2), and the
module verifies. Real torch and MindSpore."""
from agent.verify.constructors import input_width
from tests.support.one_file import migrate_one_file

SOURCE = '''\
import torch
import torch.nn as nn


class MLP(nn.Module):
    def __init__(self, dim_in, dim_out):
        super().__init__()
        self.fc = nn.Linear(dim_in, dim_out)

    def forward(self, x):
        return torch.tanh(self.fc(x))


class Field(nn.Module):
    def __init__(self, net, size):
        super().__init__()
        assert isinstance(net, MLP)
        self.net = net
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
        self.register_buffer("grid", torch.stack([ys, xs], dim=-1).reshape(-1, 2))

    def forward(self):
        return self.net(self.grid)
'''


def test_input_width_read_from_the_matrix_product_error():
    error = "mat1 and mat2 shapes cannot be multiplied (64x2 and 8x8)"
    assert input_width("Field(net=MLP(dim_in=8, dim_out=8), size=8)", error) == "Field(net=MLP(dim_in=2, dim_out=8), size=8)"
    assert input_width("Field(net=MLP(dim_in=16, dim_out=8), size=8)", error) is None  # no argument holds 8
    assert input_width("Field(net=MLP(dim_in=8), size=8)", "shape '[2, 3]' is invalid") is None


def test_module_building_its_own_grid_verifies(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "field.py", SOURCE, shared_verifier)
    unit = next(u for u in report.units if u.name == "Field")
    assert unit.status == "verified-by-rules", (unit.status, unit.reason)
    assert "MLP(dim_in=2" in unit.spec["init"], unit.spec
