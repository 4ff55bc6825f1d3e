"""A point-cloud layer that takes features and 3-d positions and embeds the pairwise offsets of the
positions: the einops pattern says the positions have three axes, and torch's matrix-product error
(b*n*n rows, which no input has as it is) says the one input whose last axis is wrong must carry 3.
Real torch and MindSpore."""
from agent.verify.shape_fix import corrected
from agent.verify.usage import RANK, parameter_kinds
from tests.support.one_file import load_source, migrate_one_file

SOURCE = '''\
import torch.nn as nn
from einops import rearrange


class PairwisePoints(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.to_v = nn.Linear(dim, dim)
        self.pos_mlp = nn.Sequential(nn.Linear(3, dim), nn.ReLU(), nn.Linear(dim, dim))

    def forward(self, x, pos):
        rel = rearrange(pos, 'b i c -> b i 1 c') - rearrange(pos, 'b j c -> b 1 j c')
        weights = self.pos_mlp(rel).softmax(dim=-2)
        return (weights * rearrange(self.to_v(x), 'b j d -> b 1 j d')).sum(dim=-2)
'''


def test_an_einops_pattern_gives_the_rank_of_its_input(tmp_path):
    mod = load_source(tmp_path, "points_for_kinds", SOURCE)
    assert parameter_kinds(mod.PairwisePoints.forward) == {"pos": RANK + "3"}


def test_the_one_input_with_the_wrong_last_axis_is_corrected():
    inputs = [{"shape": [2, 8, 8], "dtype": "float32", "_vary": [1]},
              {"shape": [2, 8, 4], "dtype": "float32", "_vary": [1, 2]}]
    fixed = corrected(inputs, "mat1 and mat2 shapes cannot be multiplied (128x4 and 3x64)")
    assert fixed == [inputs[0], {"shape": [2, 8, 3], "dtype": "float32", "_vary": [1]}]
    # two inputs ending in 4: nothing says which one torch multiplied
    both = [dict(inputs[1]), dict(inputs[1])]
    assert corrected(both, "mat1 and mat2 shapes cannot be multiplied (128x4 and 3x64)") is None


def test_pairwise_point_layer_verifies(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "points.py", SOURCE, shared_verifier)
    unit = report.units[0]
    assert unit.status == "verified-by-rules", (unit.status, unit.reason)
    assert unit.spec["inputs"][0][1]["shape"][-1] == 3, unit.spec
