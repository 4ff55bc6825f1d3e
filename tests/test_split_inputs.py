"""An input that carries two things side by side (a radiance field's positions and view directions, split
with `torch.split(x, [input_ch, input_ch_views], dim=-1)`): guessed from the first layer, it held only the
positions, and torch's split error says the width the pieces add up to. The input is widened to it and
the module verifies against torch up to gradients."""
from agent.verify.shape_fix import corrected
from tests.support.one_file import assert_verified, migrate_one_file

SOURCE = '''\
import torch
import torch.nn as nn
import torch.nn.functional as F


class RadianceField(nn.Module):
    def __init__(self, W=16, input_ch=3, input_ch_views=3):
        super().__init__()
        self.input_ch, self.input_ch_views = input_ch, input_ch_views
        self.pts = nn.Linear(input_ch, W)
        self.views = nn.Linear(input_ch_views + W, W // 2)
        self.rgb = nn.Linear(W // 2, 3)

    def forward(self, x):
        pts, views = torch.split(x, [self.input_ch, self.input_ch_views], dim=-1)
        h = F.relu(self.pts(pts))
        return torch.sigmoid(self.rgb(F.relu(self.views(torch.cat([h, views], -1)))))
'''


def test_the_split_width_is_read_from_the_error():
    error = ("split_with_sizes expects split_sizes to sum exactly to 3 (input tensor's size at dimension -1), "
             "but got split_sizes=[3, 3]")
    fixed = corrected([{"shape": [2, 3], "dtype": "float32"}], error)
    assert fixed is not None and fixed[0]["shape"] == [2, 6]


def test_a_module_splitting_its_input_verifies(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "field.py", SOURCE, shared_verifier)
    assert_verified(report, ["RadianceField"])
