import torch
import torch.nn as nn
import torch.nn.functional as F


class Expert(nn.Module):
    def __init__(self, dim=16, hidden=32):
        super().__init__()
        self.w1 = nn.Linear(dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, dim, bias=False)
        self.w3 = nn.Linear(dim, hidden, bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class TopKGate(nn.Module):
    def __init__(self, dim=16, num_experts=4, k=2):
        super().__init__()
        self.k = k
        self.wg = nn.Linear(dim, num_experts, bias=False)

    def forward(self, x):
        logits = self.wg(x)
        weights, indices = torch.topk(logits, self.k, dim=-1)
        weights = F.softmax(weights, dim=-1, dtype=torch.float).to(x.dtype)
        return weights, indices, logits


class MoELayer(nn.Module):
    def __init__(self, dim=16, num_experts=4, k=2, hidden=32):
        super().__init__()
        self.num_experts = num_experts
        self.gate = TopKGate(dim, num_experts, k)
        self.experts = nn.ModuleList([Expert(dim, hidden) for _ in range(num_experts)])

    def forward(self, x):
        shape = x.shape
        tokens = x.reshape(-1, shape[-1])
        weights, indices, logits = self.gate(tokens)
        out = torch.zeros_like(tokens)
        for e, expert in enumerate(self.experts):
            token_idx, slot = torch.where(indices == e)
            if token_idx.numel() == 0:
                continue
            y = expert(tokens[token_idx]) * weights[token_idx, slot, None]
            out.index_add_(0, token_idx, y)
        return out.view(shape), logits


def load_balancing_loss(router_logits, num_experts=4, k=2):
    """Switch-style auxiliary loss: fraction of tokens per expert times mean router probability."""
    probs = router_logits.softmax(dim=-1)
    _, selected = torch.topk(router_logits, k, dim=-1)
    expert_mask = F.one_hot(selected, num_experts).float().amax(dim=-2)
    tokens_per_expert = expert_mask.mean(dim=0)
    prob_per_expert = probs.mean(dim=0)
    return num_experts * torch.sum(tokens_per_expert * prob_per_expert)
