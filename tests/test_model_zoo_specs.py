"""A file written the way model zoos are (stages built with add_module, blocks whose arguments only
their model knows, a container subclass reading self._modules, builders that pass **kwargs on,
zero-argument factories at the bottom): every unit verifies with no spec, against real torch and
MindSpore, and the report says where each spec came from."""
from tests.support.one_file import migrate_one_file

ZOO = '''\
import torch
import torch.nn as nn


class Chain(nn.Sequential):
    def forward(self, x):
        for module in self._modules.values():
            x = module(x)
        return x


class ConvBlock(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, activate=True):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.activ = nn.ReLU() if activate else None

    def forward(self, x):
        x = self.bn(self.conv(x))
        return self.activ(x) if self.activ is not None else x


def conv3x3_block(stride=1, **kwargs):
    return ConvBlock(kernel_size=3, stride=stride, padding=1, **kwargs)


def conv3x3(stride=1, **kwargs):
    return nn.Conv2d(kernel_size=3, stride=stride, padding=1, bias=False, **kwargs)


class Unit(nn.Module):
    def __init__(self, in_channels, out_channels, stride):
        super().__init__()
        self.body = Chain()
        self.body.add_module("conv1", conv3x3_block(in_channels=in_channels, out_channels=out_channels, stride=stride))
        self.body.add_module("conv2", conv3x3_block(in_channels=out_channels, out_channels=out_channels, activate=False))
        self.skip = ConvBlock(in_channels, out_channels, 1, stride, 0, activate=False)

    def forward(self, x):
        return torch.relu(self.body(x) + self.skip(x))


class Net(nn.Module):
    def __init__(self, channels, in_channels=3, in_size=(32, 32), num_classes=10):
        super().__init__()
        self.features = nn.Sequential()
        for i, width in enumerate(channels):
            stage = nn.Sequential()
            stage.add_module("unit{}".format(i + 1), Unit(in_channels, width, 2 if i else 1))
            self.features.add_module("stage{}".format(i + 1), stage)
            in_channels = width
        self.features.add_module("pool", nn.AdaptiveAvgPool2d(1))
        self.output = nn.Linear(in_channels, num_classes)

    def forward(self, x):
        return self.output(self.features(x).flatten(1))


def get_net(blocks, **kwargs):
    if blocks == 2:
        channels = [4, 8]
    elif blocks == 3:
        channels = [8, 16, 32]
    else:
        raise ValueError("unsupported depth {}".format(blocks))
    return Net(channels=channels, **kwargs)


def net2(**kwargs):
    return get_net(blocks=2, **kwargs)


def net3(**kwargs):
    return get_net(blocks=3, **kwargs)
'''


def test_model_zoo_units_verify_without_specs(tmp_path, shared_verifier):
    report, out = migrate_one_file(tmp_path, "zoo.py", ZOO, shared_verifier)
    assert "_ms_add_module(" in out and "self._cells.values()" in out
    units = {u.name: u for u in report.units}
    for name in ("Chain", "ConvBlock", "Unit", "Net", "conv3x3"):
        assert units[name].status == "verified-by-rules", (name, units[name].status, units[name].reason)
    # the repo's own configuration: the call get_net makes (its **kwargs pass-through dropped)
    assert units["Net"].spec["source"] == "repo" and units["Net"].spec["init"].startswith("Net(channels=["), units["Net"].spec
    # a builder whose arguments go through **kwargs: the names torch says are missing, guessed
    assert units["conv3x3"].spec["init"] == "conv3x3(in_channels=8, out_channels=8)", units["conv3x3"].spec
