"""The second rules pass: Tensor methods on receivers static inference cannot type, converted from
what running the torch original saw at each call site; numpy look-alikes stay as they are."""
from tests.support.one_file import migrate_one_file

NET = '''\
import numpy as np
import torch
import torch.nn as nn


def scale_table(n):
    arr = np.arange(n, dtype=np.float32)
    return arr.repeat(2)


class Net(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.fc = nn.Linear(dim, 4)
        self.table = scale_table(2)

    def _features(self, x):
        return self.fc(x)

    def forward(self, x):
        h = self._features(x)
        n = h.size(0)
        return h.view(n, -1).repeat(1, 2)
'''



def test_execution_types_the_receiver_and_leaves_numpy_alone(tmp_path, shared_verifier):
    report, out = migrate_one_file(tmp_path, "net.py", NET, shared_verifier)
    (unit,) = [u for u in report.units if u.name == "Net"]
    assert unit.status == "verified-by-rules", unit.reason
    assert "n = h.shape[0]" in out
    assert "h.view(n, -1).tile((1, 2))" in out
    assert "    return arr.repeat(2)" in out  # numpy: never observed as a torch call


TIED = '''\
import torch.nn as nn


def layers(vocab, dim):
    return nn.ModuleDict(dict(emb=nn.Embedding(vocab, dim), norm=nn.LayerNorm(dim)))


class TinyLM(nn.Module):
    def __init__(self, vocab=32, dim=8):
        super().__init__()
        self.body = layers(vocab, dim)
        self.head = nn.Linear(dim, vocab, bias=False)
        self.body.emb.weight = self.head.weight  # tied: MindSpore calls it embedding_table

    def forward(self, idx):
        return self.head(self.body.norm(self.body.emb(idx)))
'''


def test_weight_tying_into_a_layer_only_execution_can_type(tmp_path, shared_verifier):
    report, out = migrate_one_file(tmp_path, "lm.py", TIED, shared_verifier)
    assert "self.body.emb.embedding_table = self.head.weight" in out
    (unit,) = [u for u in report.units if u.name == "TinyLM"]
    assert unit.status == "verified-by-rules", unit.reason
