"""A block's second input fed to its own layer through a plain function (`self.temb_proj(nonlinearity(temb))`,
the timestep embedding of every diffusion ResBlock) is shaped for that layer, [batch, 64] here; before, it was
shaped for the block's second top-level layer (a convolution) and no spec ran."""
from agent.verify import usage
from tests.support.one_file import assert_verified, load_source, migrate_one_file

SOURCE = '''\
import torch
from torch import nn


def nonlinearity(x):
    return x * torch.sigmoid(x)


class ResBlock(nn.Module):
    def __init__(self, in_channels=16, out_channels=16, temb_channels=64):
        super().__init__()
        self.norm1 = nn.GroupNorm(4, in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.temb_proj = nn.Linear(temb_channels, out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)

    def forward(self, x, temb):
        h = self.conv1(nonlinearity(self.norm1(x)))
        h = h + self.temb_proj(nonlinearity(temb))[:, :, None, None]
        return x + self.conv2(nonlinearity(h))
'''


def test_the_layer_each_input_reaches_is_read_from_the_source(tmp_path):
    module = load_source(tmp_path, "block.py", SOURCE)
    assert usage.consuming_layers(module.ResBlock.forward) == {"x": "norm1", "temb": "temb_proj", "h": "conv2"}


def test_a_block_with_a_timestep_embedding_verifies(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "block.py", SOURCE, shared_verifier)
    units = assert_verified(report, ["ResBlock"])
    assert units["ResBlock"].spec["inputs"][0][1]["shape"] == [2, 64], units["ResBlock"].spec
