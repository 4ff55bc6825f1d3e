"""BatchNorm as meta-learning and some GAN code configures it: `track_running_stats=False` (the batch's
own statistics in training and evaluation alike) and `bias=False`. Legacy MindSpore BatchNorm has
neither; such calls take the KB's second target, BatchNorm written with ops under torch's names and
momentum, and verify on real torch and MindSpore at every level (the train level compares the updated
running statistics of the bias-free one)."""
from tests.support.one_file import assert_verified, migrate_one_file

SOURCE = '''\
import torch.nn as nn


class InnerLoopBlock(nn.Module):
    def __init__(self, channels=4):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.norm = nn.BatchNorm2d(channels, track_running_stats=False)
        self.head = nn.Linear(channels, 3)
        self.head_norm = nn.BatchNorm1d(3, bias=False, momentum=0.2)
        self.plain = nn.BatchNorm1d(3)

    def forward(self, x):
        h = self.norm(self.conv(x)).relu().mean(dim=(2, 3))
        return self.plain(self.head_norm(self.head(h)))
'''


def test_batchnorm_without_running_stats_or_bias_verifies(tmp_path, shared_verifier):
    report, out = migrate_one_file(tmp_path, "block.py", SOURCE, shared_verifier)
    assert not [m for f in report.files for m in f.markers], [f.markers for f in report.files]
    assert "_MsBatchNorm(channels, track_running_stats=False)" in out and "_MsBatchNorm1d(3" in out, out
    assert_verified(report, ["InnerLoopBlock"])
