"""Arguments annotated `Tuple[int, int]` get that many numbers, in a constructor, a module's forward and a
function: a grid size guessed as one int (or one tensor) stopped every such unit on the torch side."""
from __future__ import annotations

from typing import Tuple

from agent.verify.constructors import guess_value, int_tuple_arity
from tests.support.one_file import migrate_one_file

SOURCE = '''\
from typing import Tuple

import torch
import torch.nn as nn


class GridEmbedding(nn.Module):
    def __init__(self, dim: int, grid_size: Tuple[int, int]):
        super().__init__()
        self.grid_size = grid_size
        self.pos = nn.Parameter(torch.randn(1, dim, grid_size[0], grid_size[1]))

    def forward(self, x):
        return x + self.pos


class Coordinates(nn.Module):
    def __init__(self, dim: int = 8):
        super().__init__()
        self.proj = nn.Linear(2, dim)

    def forward(self, size: Tuple[int, int]) -> torch.Tensor:
        h, w = size
        ys = torch.linspace(0.0, 1.0, h)
        xs = torch.linspace(0.0, 1.0, w)
        grid = torch.stack(torch.meshgrid(ys, xs, indexing="ij"), dim=-1)
        return self.proj(grid)


def crop(x: torch.Tensor, pad_hw: Tuple[int, int]) -> torch.Tensor:
    hp, wp = pad_hw
    return x[..., : hp // 2, : wp // 2] * 2.0
'''


def test_a_fixed_size_int_tuple_is_guessed_at_its_size():
    assert guess_value("grid_size", Tuple[int, int]) == (8, 8)
    assert guess_value("kernel_size", "Tuple[int, int, int]") == (3, 3, 3)
    assert int_tuple_arity("Tuple[int, ...]") is None and int_tuple_arity(int) is None


def test_units_taking_int_pairs_verify(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "grids.py", SOURCE, shared_verifier)
    units = {u.name: u for u in report.units}
    for name in ("GridEmbedding", "Coordinates", "crop"):
        assert units[name].status == "verified-by-rules", (name, units[name].status, units[name].reason)
