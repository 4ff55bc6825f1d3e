"""A model zoo's way of building models: `Net.from_name("tiny-a")` picks a configuration from a
module-level registry of names, the constructor itself only asserts it got a block list. Blocks take
parsed configuration tuples, strides arrive as one-element lists (`stride=[2]`, which torch accepts
and MindSpore's Conv2d refuses), and the parent passes each block a non-tensor keyword. Every unit
verifies with no spec: the network through its named configuration, a block as the network's part
(called with its own default for the keyword), the same-padding convolution from its guesses."""
from tests.support.one_file import assert_verified, migrate_one_file

SOURCE = '''\
import collections
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

VARIANTS = ("tiny-a", "tiny-b")
_WIDTHS = {"tiny-a": 8, "tiny-b": 12}
BlockArgs = collections.namedtuple("BlockArgs", ["width", "stride"])


class SameConv(nn.Conv2d):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, **kwargs):
        super().__init__(in_channels, out_channels, kernel_size, stride, **kwargs)
        self.stride = self.stride if len(self.stride) == 2 else [self.stride[0]] * 2

    def forward(self, x):
        ih, iw = x.shape[-2:]
        kh, kw = self.weight.shape[-2:]
        ph = max((math.ceil(ih / self.stride[0]) - 1) * self.stride[0] + kh - ih, 0)
        pw = max((math.ceil(iw / self.stride[1]) - 1) * self.stride[1] + kw - iw, 0)
        x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class Block(nn.Module):
    def __init__(self, block_args):
        super().__init__()
        self.conv = SameConv(block_args.width, block_args.width, 3, stride=[block_args.stride], bias=False)
        self.bn = nn.BatchNorm2d(block_args.width)

    def forward(self, x, scale=None):
        y = torch.relu(self.bn(self.conv(x)))
        if scale is not None:
            y = y * scale
        return y + x if y.shape == x.shape else y


class Net(nn.Module):
    def __init__(self, blocks=None, width=None):
        super().__init__()
        assert isinstance(blocks, list), "blocks should be a list"
        self.stem = SameConv(3, width, 3, stride=[2])
        self.blocks = nn.ModuleList([Block(b) for b in blocks])
        self.head = nn.Linear(width, 4)

    def forward(self, x):
        x = self.stem(x)
        for i, block in enumerate(self.blocks):
            x = block(x, scale=1.0 - 0.1 * i)
        return self.head(x.mean(dim=(2, 3)))

    @classmethod
    def from_name(cls, model_name):
        if model_name not in VARIANTS:
            raise ValueError("model_name should be one of: " + ", ".join(VARIANTS))
        width = _WIDTHS[model_name]
        return cls([BlockArgs(width, 1), BlockArgs(width, 2)], width)
'''


def test_a_zoo_built_from_named_configurations_verifies(tmp_path, shared_verifier):
    report, text = migrate_one_file(tmp_path, "zoo.py", SOURCE, shared_verifier)
    units = assert_verified(report, ["Net", "Block", "SameConv"])
    assert units["Net"].spec["init"] == "Net.from_name('tiny-a')"
    assert "Net.from_name('tiny-a')" in units["Block"].spec["init"]
    assert "class SameConv(_MsConv2dBase)" in text
