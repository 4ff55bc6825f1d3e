"""A causal mask buffer holds -inf above its diagonal (`torch.empty(n, n).fill_(-np.inf).triu_(1)`, Whisper's
decoder): the train level compared states by |torch - MindSpore|, and -inf minus -inf is NaN, so identical
masks 'differed'. Equal infinities now match; an infinity on one side only, or a NaN against a number, still
fails, and an infinite element no longer widens the tolerance to infinity."""
import numpy as np
import pytest

from agent.verify.levels import LevelFailure, close, rel_l2
from tests.support.one_file import assert_verified, migrate_one_file


def test_equal_infinities_match_and_others_fail():
    mask = np.triu(np.full((3, 3), -np.inf), 1)
    assert close(mask, mask.copy(), "mask") == 0.0
    assert rel_l2(mask, mask.copy()) == 0.0
    for other in (np.zeros((3, 3)), np.triu(np.full((3, 3), np.inf), 1), np.where(mask == 0, np.nan, mask)):
        with pytest.raises(LevelFailure, match="non-finite"):
            close(mask, other, "mask")
    with pytest.raises(LevelFailure, match="max abs"):  # the -inf does not make every finite difference pass
        close(mask, np.where(mask == 0, 1.0, mask), "mask")


SOURCE = '''\
import numpy as np
import torch
from torch import nn


class Decoder(nn.Module):
    def __init__(self, n_ctx=8, dim=8):
        super().__init__()
        self.proj = nn.Linear(dim, dim)
        mask = torch.empty(n_ctx, n_ctx).fill_(-np.inf).triu_(1)
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, x):
        n = x.shape[1]
        att = (self.proj(x) @ x.transpose(1, 2)) + self.mask[:n, :n]
        return att.softmax(-1) @ x
'''


def test_a_decoder_with_a_causal_mask_buffer_verifies(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "decoder.py", SOURCE, shared_verifier)
    assert_verified(report, ["Decoder"])
