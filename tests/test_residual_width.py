"""A ResNet bottleneck adds its input to a branch four times as wide as `planes`: guessed with
inplanes == planes, torch's broadcast error names both widths, and the block is rebuilt with its input as
wide as the branch (no downsample needed). Real torch and MindSpore."""
from agent.verify.constructors import residual_width
from tests.support.one_file import migrate_one_file

SOURCE = '''\
import torch.nn as nn


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)
'''

ERROR = "The size of tensor a (32) must match the size of tensor b (8) at non-singleton dimension 1"


def test_the_input_width_follows_the_branch():
    assert residual_width("Bottleneck(inplanes=8, planes=8)", ERROR) == "Bottleneck(inplanes=32, planes=8)"
    assert residual_width("Block(dim=8)", ERROR) is None  # no argument says it is the input's width
    assert residual_width("Bottleneck(inplanes=8, planes=8)", ERROR.replace("dimension 1", "dimension 2")) is None


def test_bottleneck_verifies_with_its_input_as_wide_as_its_branch(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "bottleneck.py", SOURCE, shared_verifier)
    unit = report.units[0]
    assert unit.status == "verified-by-rules", (unit.status, unit.reason)
    assert unit.spec["init"] == "Bottleneck(inplanes=32, planes=8)", unit.spec
