"""A wrapper that reads an attribute of the module it wraps (`self.max_len = net.max_len`) cannot run on
an identity standing in for that module; the repo's own module that sets the attribute is built in its
place, and the wrapper verifies around it. Real torch and MindSpore."""
from tests.support.one_file import migrate_one_file

SOURCE = '''\
import torch.nn as nn


class Wrapper(nn.Module):
    def __init__(self, net):
        super().__init__()
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
