"""A model zoo's weight init, applied to every layer by `self.apply(init)`, reads layer attributes under
`isinstance` (Conv2d's `groups` is MindSpore's `group`; `m.weight.size(0)` of a Linear is its shape), and
its activations are TorchScript functions (`@torch.jit.script`), checked through the Python function
they compile. Real torch and MindSpore."""
from tests.support.one_file import assert_verified, migrate_one_file

SOURCE = '''\
import math

import torch
import torch.nn as nn


@torch.jit.script
def swish(x, inplace: bool = False):
    return x.mul(x.sigmoid())


def init_weight(m, fix_group_fanout=True):
    if isinstance(m, nn.Conv2d):
        fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
        if fix_group_fanout:
            fan_out //= m.groups
        m.weight.data.normal_(0, math.sqrt(2.0 / fan_out))
    elif isinstance(m, nn.Linear):
        init_range = 1.0 / math.sqrt(m.weight.size(0))
        m.weight.data.uniform_(-init_range, init_range)
        m.bias.data.zero_()


class TinyNet(nn.Module):
    def __init__(self, channels=8, num_classes=4):
        super().__init__()
        self.stem = nn.Conv2d(3, channels, 3, padding=1)
        self.dw = nn.Conv2d(channels, channels, 3, padding=1, groups=channels)
        self.fc = nn.Linear(channels, num_classes)
        self.apply(init_weight)

    def forward(self, x):
        x = swish(self.dw(swish(self.stem(x))))
        return self.fc(x.mean((2, 3)))
'''


def test_zoo_init_and_scripted_activation_verify(tmp_path, shared_verifier):
    report, out = migrate_one_file(tmp_path, "tiny.py", SOURCE, shared_verifier)
    assert "fan_out //= m.group\n" in out and "m.weight.size(0)" not in out
    assert_verified(report, ["TinyNet"])
    assert_verified(report, ["swish"], level=None)
