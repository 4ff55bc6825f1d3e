"""Norm layers the way layer libraries use them: a BatchNorm subclass whose forward is torch's own
(reading `track_running_stats`, `num_batches_tracked`, `momentum`, calling F.batch_norm), and a factory
that picks a variant by the layer class's name (`norm_layer.__name__`), given `nn.BatchNorm2d` as a
value. Both convert and verify on real torch and MindSpore, train mode included."""
from tests.support.one_file import assert_verified, migrate_one_file

SOURCE = '''\
import torch
import torch.nn as nn
import torch.nn.functional as F


class BatchNormAct(nn.BatchNorm2d):
    def __init__(self, num_features, eps=1e-5, momentum=0.1, act_layer=nn.ReLU):
        super().__init__(num_features, eps=eps, momentum=momentum)
        self.act = act_layer()

    def forward(self, x):
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            if self.num_batches_tracked is not None:
                self.num_batches_tracked.add_(1)
        use_batch = self.training or (self.running_mean is None and self.running_var is None)
        x = F.batch_norm(x, self.running_mean if not self.training or self.track_running_stats else None,
                         self.running_var if not self.training or self.track_running_stats else None,
                         self.weight, self.bias, use_batch, factor, self.eps)
        return self.act(x)


VARIANTS = {"batchnorm2d": BatchNormAct}


def norm_act_for(norm_layer):
    return VARIANTS[norm_layer.__name__.lower()]


class Block(nn.Module):
    def __init__(self, channels=4, norm_layer=nn.BatchNorm2d):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn = norm_act_for(norm_layer)(channels)

    def forward(self, x):
        return self.bn(self.conv(x))
'''


def test_batchnorm_subclass_and_name_lookup_verify(tmp_path, shared_verifier):
    report, out = migrate_one_file(tmp_path, "block.py", SOURCE, shared_verifier)
    assert "layer_name = 'BatchNorm2d'" in out
    units = assert_verified(report, ["Block", "BatchNormAct"], level=None)
    for name in ("Block", "BatchNormAct"):
        assert units[name].levels["train"]["status"] == "verified", units[name].levels


DISCRIMINATOR = '''\
import functools

import torch.nn as nn


class Discriminator(nn.Module):
    def __init__(self, channels=3, width=8, norm_layer=nn.BatchNorm2d):
        super().__init__()
        if type(norm_layer) == functools.partial:
            use_bias = norm_layer.func != nn.BatchNorm2d
        else:
            use_bias = norm_layer != nn.BatchNorm2d
        self.main = nn.Sequential(nn.Conv2d(channels, width, 3, padding=1, bias=use_bias), norm_layer(width),
                                  nn.LeakyReLU(0.2), nn.Conv2d(width, 1, 3, padding=1))

    def forward(self, x):
        return self.main(x)
'''


def test_a_layer_class_compared_with_the_layer_it_defaults_to(tmp_path, shared_verifier):
    """`use_bias = norm_layer != nn.BatchNorm2d` with `norm_layer=nn.BatchNorm2d`: the default became the
    layer's adapter and the compared name the layer itself, so the MindSpore convolutions had a bias torch's
    do not (a discriminator's weights left unfilled)."""
    report, _ = migrate_one_file(tmp_path, "disc.py", DISCRIMINATOR, shared_verifier)
    assert_verified(report, ["Discriminator"], level=None)
