"""Pools that subclass torch's and read its attributes in forward (TensorFlow-style "same" padding,
computed from the input size): `self.kernel_size`, `self.stride`, `self.dilation`, `self.ceil_mode`.
MindSpore's pools keep some of these under other values (its padding is a 3-tuple) and others not at
all; the subclass derives from a base that keeps torch's. Migrated on the shared worker with no spec."""
from tests.support.one_file import assert_verified, migrate_one_file

SOURCE = '''\
import math

import torch.nn as nn
import torch.nn.functional as F


def same_pad(size, kernel, stride, dilation=1):
    return max((math.ceil(size / stride) - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)


class MaxPoolSame(nn.MaxPool2d):
    def __init__(self, kernel_size, stride=None, dilation=1, ceil_mode=False):
        super().__init__(kernel_size, stride, 0, dilation, ceil_mode=ceil_mode)

    def forward(self, x):
        ph = same_pad(x.shape[-2], self.kernel_size, self.stride, self.dilation)
        pw = same_pad(x.shape[-1], self.kernel_size, self.stride, self.dilation)
        x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2], value=-1e9)
        return F.max_pool2d(x, self.kernel_size, self.stride, 0, self.dilation, self.ceil_mode)


class AvgPoolSame(nn.AvgPool2d):
    def __init__(self, kernel_size, stride=None):
        super().__init__(kernel_size, stride)

    def forward(self, x):
        ph = same_pad(x.shape[-2], self.kernel_size, self.stride)
        pw = same_pad(x.shape[-1], self.kernel_size, self.stride)
        x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return F.avg_pool2d(x, self.kernel_size, self.stride, 0, self.ceil_mode, self.count_include_pad)


class Stem(nn.Module):
    def __init__(self, channels=4):
        super().__init__()
        self.conv = nn.Conv2d(3, channels, 3)
        self.pool = MaxPoolSame(3, 2)
        self.smooth = AvgPoolSame(3, 2)

    def forward(self, x):
        return self.smooth(self.pool(self.conv(x)))
'''


def test_pool_subclasses_reading_torch_attributes_verify(tmp_path, shared_verifier):
    report, text = migrate_one_file(tmp_path, "pools.py", SOURCE, shared_verifier)
    assert_verified(report, ("MaxPoolSame", "AvgPoolSame", "Stem"))
    assert "class MaxPoolSame(_MsMaxPool2dBase)" in text and "class AvgPoolSame(_MsAvgPool2dBase)" in text
