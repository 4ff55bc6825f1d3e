"""Image-to-image models pad their convolutions by reflection (`nn.Conv2d(..., padding_mode='reflect')`)
and periodic models circularly; audio models replicate a signal's edges (Conv1d). MindSpore's legacy Conv2d only zero-pads: such calls were marked. They
now take the KB's second Conv2d target (ops.pad in that mode, then an unpadded convolution), chosen
because the first refuses the argument, and verify on real torch and MindSpore."""
from tests.support.one_file import assert_verified, migrate_one_file

SOURCE = '''\
import torch.nn as nn


class Waveform(nn.Module):
    def __init__(self, channels=4):
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, 5, padding=2, padding_mode="replicate")

    def forward(self, x):
        return self.conv(x) + x


class Refine(nn.Module):
    def __init__(self, channels=4):
        super().__init__()
        self.smooth = nn.Conv2d(channels, channels, 3, padding=1, padding_mode="reflect")
        self.wrap = nn.Conv2d(channels, channels, 3, padding="same", padding_mode="circular", bias=False)
        self.plain = nn.Conv2d(channels, channels, 1)

    def forward(self, x):
        return self.plain(self.wrap(self.smooth(x).relu())) + x
'''


def test_reflect_and_circular_padding_verify(tmp_path, shared_verifier):
    report, out = migrate_one_file(tmp_path, "refine.py", SOURCE, shared_verifier)
    assert not [m for f in report.files for m in f.markers], [f.markers for f in report.files]
    assert "_MsPaddedConv2d(channels, channels, 3, padding=1, padding_mode=" in out, out
    assert "self.plain = nn.Conv2d(channels, channels, 1, pad_mode='pad', has_bias=True)" in out, out
    assert "_MsPaddedConv1d(channels, channels, 5, padding=2, padding_mode=" in out, out
    assert_verified(report, ["Refine", "Waveform"])
