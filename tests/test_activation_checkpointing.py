"""Activation checkpointing (`torch.utils.checkpoint.checkpoint`, `checkpoint_sequential`) trades memory
for compute and changes neither values nor gradients: the call runs as it is, also where the function is
passed on (`partial(checkpoint, fn)`), and the module verifies up to its gradients. Real torch and
MindSpore."""
from tests.support.one_file import assert_verified, migrate_one_file

SOURCE = '''\
from functools import partial

import torch.nn as nn
from torch.utils.checkpoint import checkpoint, checkpoint_sequential


def mix(a, b):
    return (a * b).tanh()


checkpointed_mix = partial(checkpoint, mix)


class Stack(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.inner = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, dim))
        self.gate = nn.Linear(dim, dim)

    def forward(self, x):
        h = checkpoint(self.gate, x, use_reentrant=False)
        h = checkpointed_mix(h, x)
        return checkpoint_sequential(self.inner, 2, h, use_reentrant=False)
'''


def test_checkpointed_calls_run_as_they_are(tmp_path, shared_verifier):
    report, out = migrate_one_file(tmp_path, "stack.py", SOURCE, shared_verifier)
    assert "checkpointed_mix = partial(_ms_checkpoint, mix)" in out
    assert_verified(report, ["Stack"])
