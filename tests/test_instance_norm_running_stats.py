"""InstanceNorm with track_running_stats=True (pix2pix/CycleGAN's `get_norm_layer('instance')` in its
widely copied versions): the helper refused it and the generators built with it could not be built. It now
keeps torch's running statistics: training updates them (compared at the train level), eval normalises with
them; with momentum None they stay as torch leaves them (torch's instance norm does not average). Real torch and MindSpore, up to gradients."""
from tests.support.one_file import assert_verified, migrate_one_file

SOURCE = '''\
import functools

import torch.nn as nn


def get_norm_layer(norm_type="instance"):
    if norm_type == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True)
    return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=True)


class Block(nn.Module):
    def __init__(self, dim=4, norm_layer=get_norm_layer()):
        super().__init__()
        self.conv = nn.Conv2d(dim, dim, 3, padding=1)
        self.norm = norm_layer(dim)
        self.cumulative = nn.InstanceNorm1d(dim, momentum=None, affine=True, track_running_stats=True)

    def forward(self, x):
        y = self.norm(self.conv(x)).relu()
        return y + self.cumulative(y.flatten(2)).view_as(y)
'''


def test_instance_norm_keeps_running_statistics(tmp_path, shared_verifier):
    report, text = migrate_one_file(tmp_path, "norms.py", SOURCE, shared_verifier)
    units = assert_verified(report, ["Block"])
    assert "running statistics matched" in units["Block"].reason
    assert "_MsInstanceNorm(dim, 1e-05, True, True, 1, None, True)" in text, text
