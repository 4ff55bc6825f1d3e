"""Pooling and padding sizes written as lists, and avg_pool2d's (h, w) padding. torch takes lists
anywhere a size goes (`self.kernel_size = [k] * 2` in same-padding pools, `nn.ZeroPad2d([l, r, t, b])`);
MindSpore's max_pool2d, avg_pool2d and pad layers take an int or a tuple, and avg_pool2d's tuple padding
has four values. Literal ints and tuples stay as written; anything else goes through the KB's
`_ms_pool_arg` (pad layers: `tuple(p) if isinstance(p, list) else p`)."""
from tests.support.one_file import assert_verified, migrate_one_file

SOURCE = '''\
import torch.nn as nn
import torch.nn.functional as F


class SamePaddingMaxPool(nn.MaxPool2d):
    def __init__(self, kernel_size, stride):
        super().__init__(kernel_size, stride)
        self.kernel_size = [self.kernel_size] * 2 if isinstance(self.kernel_size, int) else self.kernel_size
        self.stride = [self.stride] * 2 if isinstance(self.stride, int) else self.stride

    def forward(self, x):
        x = F.pad(x, [0, 1, 0, 1])
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                            self.return_indices)


class TallAvgPool(nn.Module):
    def __init__(self, padding=(1, 0)):
        super().__init__()
        self.padding = padding
        self.proj = nn.Conv2d(3, 4, 1)

    def forward(self, x):
        y = F.avg_pool2d(self.proj(x), [3, 2], stride=(2, 1), padding=self.padding)
        return F.max_pool2d(y, 2) + F.avg_pool2d(y, 2, 2, (1, 1), count_include_pad=False)[..., :-1, :-1]
'''


def test_list_sizes_and_pair_padding_verify(tmp_path, shared_verifier):
    report, text = migrate_one_file(tmp_path, "pools.py", SOURCE, shared_verifier)
    assert_verified(report, ["SamePaddingMaxPool", "TallAvgPool"])
    assert "max_pool2d(y, 2)" in text  # a literal size stays as written
    assert "_ms_pool_arg(self.padding, True)" in text and "_ms_pool_arg(self.kernel_size)" in text
    assert text.count("def _ms_pool_arg") == 1


PADS = '''\
import torch.nn as nn


class AsymmetricPad(nn.Module):
    def __init__(self, kernel_size=3):
        super().__init__()
        pad = [kernel_size // 2, (kernel_size - 1) // 2] * 2  # a list, as same-padding code computes it
        self.pad = nn.ZeroPad2d(pad)
        self.conv = nn.Conv2d(4, 4, kernel_size)

    def forward(self, x):
        return self.conv(self.pad(x))
'''


def test_pad_layers_take_list_padding(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "pads.py", PADS, shared_verifier)
    assert_verified(report, ["AsymmetricPad"])
