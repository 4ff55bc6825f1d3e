"""Constructor arguments msagent has to guess, guessed so the check means something: an up-sampling
factor is an integer 2 (1 would make the layer an identity, and a float breaks pixel shuffles and size
arithmetic), and a block whose stride the caller chooses is also tried with stride 2 (a transposed
convolution with output_padding refuses stride 1). Real migrations on the shared worker."""
from tests.support.one_file import migrate_one_file

SOURCE = '''\
import torch.nn as nn
import torch.nn.functional as F


class ShuffleUp(nn.Module):
    def __init__(self, in_channels, out_channels, scale_factor):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels * scale_factor * scale_factor, 3, padding=1)
        self.shuffle = nn.PixelShuffle(upscale_factor=scale_factor)

    def forward(self, x):
        return self.shuffle(self.conv(x))


class ResizeBy(nn.Module):
    def __init__(self, scale_factor):
        super().__init__()
        self.scale_factor = scale_factor

    def forward(self, x):
        size = (x.shape[2] * self.scale_factor, x.shape[3] * self.scale_factor)
        return F.interpolate(x, size=size, mode="nearest")


class DeconvBlock(nn.Module):
    def __init__(self, in_channels, out_channels, stride):
        super().__init__()
        self.deconv = nn.ConvTranspose2d(in_channels, out_channels, 3, stride=stride, padding=1, output_padding=1)

    def forward(self, x):
        return self.deconv(x)
'''


def test_upsampling_factors_and_strides_guessed_to_exercise_the_layer(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "up.py", SOURCE, shared_verifier)
    units = {u.name: u for u in report.units}
    for name in ("ShuffleUp", "ResizeBy", "DeconvBlock"):
        assert units[name].status.startswith("verified"), (name, units[name].status, units[name].reason)
    assert "scale_factor=2" in units["ShuffleUp"].spec["init"], units["ShuffleUp"].spec
    assert "scale_factor=2" in units["ResizeBy"].spec["init"], units["ResizeBy"].spec
    assert "stride=2" in units["DeconvBlock"].spec["init"], units["DeconvBlock"].spec


SHAPED = '''\
import torch
import torch.nn as nn


class GridEmbedding(nn.Module):
    def __init__(self, dim, shape):
        super().__init__()
        self.axes = nn.ParameterList([nn.Parameter(torch.randn(n, dim)) for n in shape])
        self.rank = len(shape)

    def forward(self, x):
        return x + self.axes[0][: x.shape[1]] + self.axes[1][: x.shape[1]]
'''


def test_a_constructor_argument_used_as_a_shape_is_guessed_as_one(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "grid.py", SHAPED, shared_verifier)
    unit = next(u for u in report.units if u.name == "GridEmbedding")
    assert unit.status.startswith("verified"), (unit.status, unit.reason)
    assert "shape=(8, 8)" in unit.spec["init"], unit.spec


def test_instance_norm_first_layers_give_the_input_shape():
    import torch.nn as nn

    from agent.verify.infer import module_input_candidates

    for layer, rank in ((nn.InstanceNorm1d(5), 3), (nn.InstanceNorm2d(5, affine=True), 4), (nn.InstanceNorm3d(5), 5)):
        first = module_input_candidates(nn.Sequential(layer, nn.ReLU()))[0][0]
        assert len(first["shape"]) == rank and first["shape"][1] == 5, (layer, first)
