"""Graph code as public GNN repositories write it: an adjacency built sparse in forward from an
`edge_index` (torch.sparse_coo_tensor, torch.sparse.sum/mm, to_dense), and messages over edges gathered
by index and scattered back with index_add_ / scatter_add_. Sparse tensors are written dense on
MindSpore; an argument named like `edge_index` gets (2, edges) node indices within the node count (the
batch axis), and a forward that concatenates both ends' features before its first Linear gets features
half its width. Real migrations, compared on real torch and MindSpore."""
from tests.support.one_file import assert_verified, migrate_one_file

SOURCE = '''\
import math
import torch
import torch.nn as nn
import torch.nn.functional as F


class GraphConvolution(nn.Module):
    def __init__(self, in_features=8, out_features=8, bias=True):
        super().__init__()
        self.weight = nn.Parameter(torch.FloatTensor(in_features, out_features))
        self.bias = nn.Parameter(torch.FloatTensor(out_features)) if bias else None
        stdv = 1.0 / math.sqrt(self.weight.size(1))
        self.weight.data.uniform_(-stdv, stdv)
        if self.bias is not None:
            self.bias.data.uniform_(-stdv, stdv)

    def forward(self, input, adj):
        support = torch.mm(input, self.weight)
        output = torch.spmm(adj, support)
        return output + self.bias if self.bias is not None else output


class SparseAdjacency(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.lin = nn.Linear(dim, dim)

    def forward(self, x, edge_index):
        n = x.shape[0]
        values = torch.ones(edge_index.shape[1])
        adj = torch.sparse_coo_tensor(edge_index, values, (n, n))
        deg = torch.sparse.sum(adj, dim=1).to_dense().clamp(min=1)
        return torch.sparse.mm(adj, self.lin(x)) / deg.unsqueeze(-1)


class ScatterMean(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.msg = nn.Linear(2 * dim, dim)

    def forward(self, x, edge_index):
        src, dst = edge_index
        m = self.msg(torch.cat([x[src], x[dst]], dim=-1))
        out = torch.zeros_like(x).index_add_(0, dst, m)
        cnt = torch.zeros(x.shape[0]).scatter_add_(0, dst, torch.ones(dst.shape[0]))
        return out / cnt.clamp(min=1).unsqueeze(-1)
'''


def test_graph_units_convert_and_verify(tmp_path, shared_verifier):
    report, out = migrate_one_file(tmp_path, "graph.py", SOURCE, shared_verifier)
    assert not [m for f in report.files for m in f.markers], [f.markers for f in report.files]
    units = assert_verified(report, ["GraphConvolution", "SparseAdjacency", "ScatterMean"])
    edges = units["ScatterMean"].spec["inputs"][0][1]
    assert edges["dtype"] == "int64" and edges["shape"][0] == 2 and edges["high"] <= 2, edges
    assert units["ScatterMean"].spec["inputs"][0][0]["shape"] == [2, 8], units["ScatterMean"].spec
