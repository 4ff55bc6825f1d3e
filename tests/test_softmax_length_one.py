"""mindspore 2.10's CPU SoftmaxGrad, once run on an axis of length 1 (a gate over one choice, attention
to a single key), gives wrong gradients to every later softmax of that rank in the process: the forward
matches, training silently goes wrong. Every softmax translates to a helper that writes a length-1 softmax
out as ones, so the bad kernel never runs. Attention to one pooled token after self-attention (the
length-1 softmax's gradient runs first, then the self-attention's) verifies at grad level on real torch
and MindSpore; with MindSpore's own softmax its first layer's gradient is off by about 2."""
from tests.support.one_file import assert_verified, migrate_one_file

SOURCE = '''\
import torch
import torch.nn as nn


class GatedAttention(nn.Module):
    """Self-attention over the tokens, then attention from each token to one pooled summary token."""

    def __init__(self, dim=8):
        super().__init__()
        self.qkv = nn.Linear(dim, 3 * dim)
        self.q2 = nn.Linear(dim, dim)
        self.kv2 = nn.Linear(dim, 2 * dim)

    def forward(self, x):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        x = (q @ k.transpose(-1, -2)).softmax(dim=-1) @ v + x
        summary = x.mean(dim=1, keepdim=True)
        k2, v2 = self.kv2(summary).chunk(2, dim=-1)
        attn = (self.q2(x) @ k2.transpose(-1, -2)).softmax(dim=-1)
        return attn @ v2 + x
'''


def test_a_length_one_softmax_does_not_corrupt_later_gradients(tmp_path, shared_verifier):
    report, out = migrate_one_file(tmp_path, "gated.py", SOURCE, shared_verifier)
    assert "ops.softmax" not in out.split("def construct")[-1] and "_ms_softmax(" in out, out
    assert_verified(report, ["GatedAttention"])
