"""Indexing helpers used by the ranking model."""

import torch
import torch.nn as nn


def batched_gather(values, index):
    """values: (B, N, D), index: (B, K) -> (B, K, D)"""
    return torch.gather(values, 1, index.unsqueeze(-1).expand(-1, -1, values.size(-1)))


def one_hot_scatter(labels, num_classes=6):
    out = torch.zeros(labels.size(0), num_classes, dtype=torch.float32)
    return out.scatter_(1, labels.unsqueeze(1), 1.0)


def topk_mask(scores, k=3):
    """A 0/1 mask of the k largest scores in each row."""
    _, idx = scores.topk(k, dim=-1)
    mask = torch.zeros_like(scores)
    mask.scatter_(-1, idx, 1.0)
    return mask


def clip_negatives(x, floor=-1.0):
    x = torch.where(x < floor, torch.full_like(x, floor), x)
    x[x.isnan()] = 0.0
    return x


def last_valid(seq, lengths):
    """seq: (B, T, D), lengths: (B,) -> the item at position length - 1 of each row."""
    rows = torch.arange(seq.size(0))
    return seq[rows, lengths - 1]


class TopKPool(nn.Module):
    """Keep the k highest-scoring items of a set, weighted by their sigmoid score."""

    def __init__(self, dim=16, k=4):
        super().__init__()
        self.k = k
        self.score = nn.Linear(dim, 1)

    def forward(self, x):
        s = self.score(x).squeeze(-1)
        top, idx = torch.topk(s, self.k, dim=1, sorted=True)
        picked = batched_gather(x, idx)
        return picked * torch.sigmoid(top).unsqueeze(-1), idx
