"""Calls public model code makes that had no CPU rule (found by translating a file of common calls):
tensordot, take_along_dim, index_add / index_fill as functions, nansum / nanmean over a dim, lgamma, det,
Softmin and Bilinear layers, dropout1d. Each converts, and the units verify on real torch and MindSpore
(values and gradients: MindSpore's own index_add differs in its gradient, so it goes through a helper)."""
from tests.support.one_file import assert_verified, migrate_one_file

SOURCE = '''\
import torch
import torch.nn as nn
import torch.nn.functional as F


def contract(a: torch.Tensor, b: torch.Tensor):
    return torch.tensordot(a, b, dims=([1], [1])) + torch.tensordot(a, b.t(), dims=1)


def pick(scores: torch.Tensor, k: int = 2):
    idx = scores.argsort(dim=-1)[..., :k]
    return torch.take_along_dim(scores, idx, dim=-1) * 2


def pooled(x: torch.Tensor):
    segment = torch.arange(x.shape[0]) % 2
    sums = torch.index_add(torch.zeros(2, x.shape[1]), 0, segment, x)
    return torch.index_fill(sums, 1, torch.tensor([0]), 0.0) + torch.nansum(x, dim=0) + torch.nanmean(x, dim=0)


def log_beta(x: torch.Tensor):
    a, b = x.abs() + 0.5, x.abs() + 1.5
    return torch.lgamma(a) + torch.lgamma(b) - torch.lgamma(a + b)


def volume(x: torch.Tensor):
    m = x[..., :3, :3] + 3 * torch.eye(3)
    return torch.det(m)


class PairScore(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.proj = nn.Linear(dim, dim)
        self.bilinear = nn.Bilinear(dim, dim, 4)
        self.softmin = nn.Softmin(dim=-1)

    def forward(self, x):
        h = F.dropout1d(self.proj(x).unsqueeze(1), 0.2, training=self.training).squeeze(1)
        return self.softmin(self.bilinear(h, x))
'''


def test_common_calls_convert_and_verify(tmp_path, shared_verifier):
    report, out = migrate_one_file(tmp_path, "calls.py", SOURCE, shared_verifier)
    assert not [m for f in report.files for m in f.markers], [f.markers for f in report.files]
    assert "nn.BiDense(" in out and "_ms_index_add(" in out, out
    assert_verified(report, ["contract", "pick", "pooled", "log_beta", "PairScore"])
    assert_verified(report, ["volume"], level=None)


TEXT = '''\
import torch
import torch.nn as nn


class BagOfVectors(nn.Module):
    """Pretrained word vectors, frozen, averaged with a learned mask weight."""

    def __init__(self, vocab=12, dim=6):
        super().__init__()
        self.embed = nn.Embedding.from_pretrained(torch.randn(vocab, dim), padding_idx=0)
        self.gate = nn.Linear(dim, 1)

    def forward(self, ids):
        vectors = self.embed(ids)
        weights = self.gate(vectors).sigmoid() * (ids != 0).unsqueeze(-1)
        ones = vectors.new_ones(ids.shape[0], 1) + vectors.new_empty(ids.shape[0], 1).zero_()
        return (vectors * weights).sum(1) / (weights.sum(1) + ones)
'''


def test_pretrained_embeddings_and_sized_constructors_verify(tmp_path, shared_verifier):
    report, out = migrate_one_file(tmp_path, "bag.py", TEXT, shared_verifier)
    assert not [m for f in report.files for m in f.markers], [f.markers for f in report.files]
    assert "_ms_embedding_from_pretrained(" in out and "vectors.new_ones((ids.shape[0], 1))" in out, out
    assert "vectors.new_zeros((ids.shape[0], 1))" in out, out
    assert_verified(report, ["BagOfVectors"])
