"""A wrapper that reads an attribute of the module it wraps (`self.max_len = net.max_len`) cannot run on
an identity standing in for that module; the repo's own module that sets the attribute is built in its
place, and the wrapper verifies around it; the attribute is also found where the wrapper asserts it
(`assert hasattr(net, 'max_len')`) before reading it. Real torch and MindSpore."""
from tests.support.one_file import migrate_one_file

SOURCE = '''\
import torch.nn as nn


class Wrapper(nn.Module):
    def __init__(self, net):
        super().__init__()
        assert hasattr(net, 'max_len'), 'the wrapped model must say its maximum length'
        self.net = net
        self.max_len = net.max_len

    def forward(self, x):
        return self.net(x[:, : self.max_len]).softmax(dim=-1)


class LM(nn.Module):
    def __init__(self, num_tokens=20, dim=8, max_len=16):
        super().__init__()
        self.max_len = max_len
        self.emb = nn.Embedding(num_tokens, dim)
        self.out = nn.Linear(dim, num_tokens)

    def forward(self, x):
        return self.out(self.emb(x))
'''


def test_wrapper_verifies_around_the_repo_module_that_has_the_attribute(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "lm.py", SOURCE, shared_verifier)
    unit = next(u for u in report.units if u.name == "Wrapper")
    assert unit.status == "verified-by-rules", (unit.status, unit.reason)
    assert unit.spec["init"] == "Wrapper(net=LM())", unit.spec


NEXT_TOKEN = '''\
import torch
import torch.nn as nn
import torch.nn.functional as F


class NextToken(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net
        self.max_seq_len = net.seq_len

    def forward(self, x):
        inp, target = x[:, :-1], x[:, 1:]
        return F.cross_entropy(self.net(inp).transpose(1, 2), target)


class FixedLM(nn.Module):
    def __init__(self, num_tokens=20, dim=8, seq_len=16):
        super().__init__()
        self.seq_len = seq_len
        self.emb = nn.Embedding(num_tokens, dim)
        self.mix = nn.Parameter(torch.randn(seq_len, seq_len) / seq_len)
        self.out = nn.Linear(dim, num_tokens)

    def forward(self, x):
        return self.out(torch.einsum("bnd,mn->bmd", self.emb(x), self.mix))  # exactly seq_len positions
'''


def test_next_token_wrapper_gets_one_token_more_than_its_model_takes(tmp_path, shared_verifier):
    # the model mixes exactly 16 positions and the wrapper feeds it x[:, :-1]: torch's einsum error (16
    # against the 7 the wrapper passed on from 8 tokens) makes the tokens 17
    report, _ = migrate_one_file(tmp_path, "next_token.py", NEXT_TOKEN, shared_verifier)
    unit = next(u for u in report.units if u.name == "NextToken")
    assert unit.status == "verified-by-rules", (unit.status, unit.reason)
    assert unit.spec["init"] == "NextToken(net=FixedLM())", unit.spec
    assert unit.spec["inputs"][0][0]["shape"] == [2, 17] and unit.spec["inputs"][0][0]["dtype"] == "int64"
