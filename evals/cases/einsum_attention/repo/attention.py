import torch
import torch.nn as nn


class RelPosBias(nn.Module):
    """A learned bias per head for every relative offset in [-(n-1), n-1]."""

    def __init__(self, num_heads=4, max_len=8):
        super().__init__()
        self.max_len = max_len
        self.table = nn.Parameter(torch.zeros(2 * max_len - 1, num_heads))
        nn.init.trunc_normal_(self.table, std=0.02)
        coords = torch.arange(max_len)
        rel = coords[:, None] - coords[None, :] + max_len - 1
        self.register_buffer("rel_index", rel, persistent=False)

    def forward(self, n):
        bias = self.table[self.rel_index[:n, :n].reshape(-1)]
        return bias.view(n, n, -1).permute(2, 0, 1).contiguous()


class EinsumAttention(nn.Module):
    def __init__(self, dim=16, heads=4, max_len=8):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.to_qkv = nn.Linear(dim, dim * 3, bias=False)
        self.rel_pos = RelPosBias(heads, max_len)
        self.to_out = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, d = x.shape
        h = self.heads
        qkv = self.to_qkv(x).reshape(b, n, 3, h, d // h)
        q, k, v = qkv.unbind(dim=2)
        sim = torch.einsum("bihd,bjhd->bhij", q, k) * self.scale
        sim = sim + self.rel_pos(n).unsqueeze(0)
        attn = sim.softmax(dim=-1)
        out = torch.einsum("bhij,bjhd->bihd", attn, v).reshape(b, n, d)
        return self.to_out(out)


def bilinear_score(x, y, w):
    """score[b, i, j] = x[b, i] . W . y[b, j]"""
    return torch.einsum("bid,de,bje->bij", x, w, y)
