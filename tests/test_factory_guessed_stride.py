"""A builder whose layer takes a stride it passes on through **kwargs gets a guessed stride of 1; a
transposed convolution with output_padding=1 refuses that, so the builder's module is checked with a
stride of 2 instead. Real torch and MindSpore."""
from tests.support.one_file import migrate_one_file

SOURCE = '''\
import torch.nn as nn


class Deconv(nn.Module):
    def __init__(self, in_channels, out_channels, stride, out_padding=1):
        super().__init__()
        self.conv = nn.ConvTranspose2d(in_channels, out_channels, 3, stride=stride, padding=1,
                                       output_padding=out_padding)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.conv(x))


def up_block(in_channels, out_channels, **kwargs) -> nn.Module:
    return Deconv(in_channels, out_channels, **kwargs)
'''


def test_builder_of_a_transposed_convolution_is_checked_with_stride_two(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "up.py", SOURCE, shared_verifier)
    unit = next(u for u in report.units if u.name == "up_block")
    assert unit.status == "verified-by-rules", (unit.status, unit.reason)
    assert unit.spec["init"] == "up_block(8, 8, stride=2)", unit.spec
