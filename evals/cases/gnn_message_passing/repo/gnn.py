import torch
import torch.nn as nn
import torch.nn.functional as F


def scatter_mean(src, index, num_nodes=None):
    if num_nodes is None:
        num_nodes = int(index.max()) + 1
    out = torch.zeros(num_nodes, src.size(1), dtype=src.dtype)
    out.scatter_add_(0, index.unsqueeze(-1).expand_as(src), src)
    count = torch.zeros(num_nodes, dtype=src.dtype).index_add_(0, index, torch.ones_like(index, dtype=src.dtype))
    return out / count.clamp(min=1).unsqueeze(-1)


class GraphConv(nn.Module):
    """h_i' = W_self h_i + W_nbr mean_{j->i} h_j"""

    def __init__(self, in_dim=8, out_dim=16):
        super().__init__()
        self.lin_self = nn.Linear(in_dim, out_dim)
        self.lin_nbr = nn.Linear(in_dim, out_dim, bias=False)

    def forward(self, x, edge_index):
        src, dst = edge_index
        msgs = x.index_select(0, src)
        agg = scatter_mean(msgs, dst, x.size(0))
        return self.lin_self(x) + self.lin_nbr(agg)


class GATLayer(nn.Module):
    def __init__(self, in_dim=16, out_dim=16, heads=2, negative_slope=0.2):
        super().__init__()
        self.heads, self.out_dim = heads, out_dim
        self.lin = nn.Linear(in_dim, heads * out_dim, bias=False)
        self.att_src = nn.Parameter(torch.empty(1, heads, out_dim))
        self.att_dst = nn.Parameter(torch.empty(1, heads, out_dim))
        nn.init.xavier_uniform_(self.att_src)
        nn.init.xavier_uniform_(self.att_dst)
        self.negative_slope = negative_slope

    def forward(self, x, edge_index):
        n = x.size(0)
        src, dst = edge_index
        h = self.lin(x).view(n, self.heads, self.out_dim)
        alpha = (h * self.att_src).sum(-1)[src] + (h * self.att_dst).sum(-1)[dst]
        alpha = F.leaky_relu(alpha, self.negative_slope)
        # softmax over the incoming edges of each destination node
        alpha_max = torch.full((n, self.heads), float("-inf")).scatter_reduce(0, dst.unsqueeze(-1).expand_as(alpha), alpha, reduce="amax")
        alpha = (alpha - alpha_max[dst]).exp()
        denom = torch.zeros(n, self.heads).index_add_(0, dst, alpha)
        alpha = alpha / denom[dst].clamp(min=1e-16)
        out = torch.zeros(n, self.heads, self.out_dim).index_add_(0, dst, h[src] * alpha.unsqueeze(-1))
        return out.mean(dim=1)


class GNN(nn.Module):
    def __init__(self, in_dim=8, hidden=16, num_classes=3):
        super().__init__()
        self.conv1 = GraphConv(in_dim, hidden)
        self.conv2 = GATLayer(hidden, hidden, heads=2)
        self.cls = nn.Linear(hidden, num_classes)

    def forward(self, x, edge_index):
        x = F.relu(self.conv1(x, edge_index))
        x = F.elu(self.conv2(x, edge_index))
        return self.cls(x)
