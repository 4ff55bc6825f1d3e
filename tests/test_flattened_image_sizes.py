"""Tutorial networks flatten with a written size, `x.view(-1, 320)` (MNIST's 28-pixel digits) or
`x.view(-1, 16 * 5 * 5)` (CIFAR's 32-pixel images): the guessed 16-pixel image gave 'shape [-1, 320] is
invalid for input of size 40' and no spec ran. The image side is stepped up (or down) until the view fits."""
from tests.support.one_file import assert_verified, migrate_one_file

SOURCE = '''\
import torch
import torch.nn as nn
import torch.nn.functional as F


class MnistNet(nn.Module):
    def __init__(self):
        super(MnistNet, self).__init__()
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
        self.conv2 = nn.Conv2d(10, 20, kernel_size=5)
        self.fc1 = nn.Linear(320, 50)
        self.fc2 = nn.Linear(50, 10)

    def forward(self, x):
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2(x), 2))
        x = x.view(-1, 320)
        return F.log_softmax(self.fc2(F.relu(self.fc1(x))), dim=1)


class CifarNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = x.view(-1, 16 * 5 * 5)
        return self.fc2(F.relu(self.fc1(x)))
'''


def test_tutorial_networks_get_the_image_size_their_flatten_was_written_for(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "nets.py", SOURCE, shared_verifier)
    units = assert_verified(report, ["MnistNet", "CifarNet"])
    assert units["MnistNet"].spec["inputs"][0][0]["shape"][2:] == [28, 28], units["MnistNet"].spec
    assert units["CifarNet"].spec["inputs"][0][0]["shape"][2:] == [32, 32], units["CifarNet"].spec
