"""Layers and functions benchmark-style modules use that had no rule on CPU: distances, GLU, softmin,
3-d average pooling, adaptive 1-d max pooling, the fixed-mode upsampling layers, alpha dropout, cosine
embedding loss, atan2. Converted without a marker and verified on real torch and MindSpore."""
from tests.support.one_file import assert_verified, migrate_one_file

SOURCE = '''\
import torch
import torch.nn as nn
import torch.nn.functional as F


class Mixed(nn.Module):
    def __init__(self, channels=4):
        super().__init__()
        self.cos = nn.CosineSimilarity(dim=1)
        self.dist = nn.PairwiseDistance(p=1.0)
        self.glu = nn.GLU(dim=1)
        self.pool = nn.AdaptiveMaxPool1d(3)
        self.up = nn.UpsamplingNearest2d(scale_factor=2)
        self.bilinear = nn.UpsamplingBilinear2d(size=(6, 7))
        self.drop = nn.AlphaDropout(0.1)

    def forward(self, x):
        flat = x.flatten(2)
        a = self.cos(flat, flat.flip(-1)).sum() + self.dist(flat[:, 0], flat[:, 1]).sum()
        b = self.glu(x).mean() + F.softmin(flat, dim=-1).amax() + self.pool(flat).sum()
        c = self.up(x).mean() + self.bilinear(x).mean() + self.drop(x).mean()
        d = F.avg_pool3d(x.unsqueeze(1), 2).sum() + torch.atan2(x, x.flip(-1) + 0.5).mean()
        e = F.cosine_embedding_loss(flat[:, 0], flat[:, 1], torch.ones(x.shape[0]))
        return a + b + c + d + e
'''


def test_distances_pools_and_upsampling_verify(tmp_path, shared_verifier):
    report, out = migrate_one_file(tmp_path, "mixed.py", SOURCE, shared_verifier)
    assert not [m for f in report.files for m in f.markers], [f.markers for f in report.files]
    assert_verified(report, ["Mixed"])
