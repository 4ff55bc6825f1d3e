"""Graph layers written the way the classic dense-adjacency graph repos write them: weights made with the
legacy `torch.FloatTensor(rows, cols)` constructor and filled through `.data` (`w.data.uniform_`,
`init.xavier_uniform_(w.data)`), a sparse-by-dense product (`torch.spmm`), heads registered with
`add_module`, a bias registered as None, and forward(x, adj) over a nodes x nodes adjacency. Migrated on
the shared worker with no spec: every unit verified up to gradients, at two graph sizes; the
translated initialisation really writes the parameters (MindSpore's `.data` is a copy)."""
import numpy as np

from tests.support.one_file import assert_verified, migrate_one_file

SOURCE = '''\
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class DenseGraphConv(nn.Module):
    def __init__(self, in_features, out_features, bias=False):
        super().__init__()
        self.weight = nn.Parameter(torch.FloatTensor(in_features, out_features))
        if bias:
            self.bias = nn.Parameter(torch.FloatTensor(out_features))
        else:
            self.register_parameter("bias", None)
        bound = 1.0 / math.sqrt(out_features)
        self.weight.data.uniform_(-bound, bound)
        if self.bias is not None:
            self.bias.data.uniform_(-bound, bound)

    def forward(self, x, adj):
        out = torch.spmm(adj, torch.mm(x, self.weight))
        return out if self.bias is None else out + self.bias


class AttentionHead(nn.Module):
    def __init__(self, in_features, out_features, slope=0.2):
        super().__init__()
        self.proj = nn.Parameter(torch.empty(in_features, out_features))
        self.score = nn.Parameter(torch.empty(2 * out_features, 1))
        nn.init.xavier_uniform_(self.proj.data, gain=1.4)
        nn.init.xavier_uniform_(self.score.data, gain=1.4)
        self.act = nn.LeakyReLU(slope)
        self.width = out_features

    def forward(self, x, adj):
        h = x @ self.proj
        logits = self.act(h @ self.score[: self.width] + (h @ self.score[self.width :]).T)
        logits = torch.where(adj > 0, logits, torch.full_like(logits, -1e9))
        return F.softmax(logits, dim=1) @ h


class GraphNet(nn.Module):
    def __init__(self, features, hidden, classes, heads=2):
        super().__init__()
        self.heads = [AttentionHead(features, hidden) for _ in range(heads)]
        for i, head in enumerate(self.heads):
            self.add_module("head_%d" % i, head)
        self.conv = DenseGraphConv(hidden * heads, classes, bias=True)

    def forward(self, x, adj):
        x = F.elu(torch.cat([head(x, adj) for head in self.heads], dim=1))
        return F.log_softmax(self.conv(x, adj), dim=1)
'''


def test_graph_layers_verify_without_a_spec(tmp_path, shared_verifier):
    report, text = migrate_one_file(tmp_path, "graph.py", SOURCE, shared_verifier)
    units = assert_verified(report, ("DenseGraphConv", "AttentionHead", "GraphNet"))
    for unit in units.values():  # the second size's adjacency follows its batch of nodes
        assert [[i["shape"] for i in size] for size in unit.spec["inputs"]][1][1] == [3, 3], unit.spec
    assert "# msagent:" not in text and ".data" not in text


def test_initialisation_written_through_data_reaches_the_parameter(tmp_path, shared_verifier):
    _, text = migrate_one_file(tmp_path, "graph.py", SOURCE, shared_verifier)
    scope: dict = {}
    exec(compile(text, "graph.py", "exec"), scope)
    conv = scope["DenseGraphConv"](8, 4, bias=True)
    weight = conv.weight.asnumpy()
    assert weight.shape == (8, 4) and np.abs(weight).max() > 0 and np.abs(weight).max() <= 0.5
    assert np.abs(conv.bias.asnumpy()).max() > 0
    head = scope["AttentionHead"](8, 4)
    assert np.abs(head.proj.asnumpy()).max() > 0
