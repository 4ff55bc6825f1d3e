"""Text branch: token embeddings, an LSTM and an attention block, mean-pooled over real tokens."""

import torch
import torch.nn as nn

from .blocks import AttentionBlock


class TextEncoder(nn.Module):
    def __init__(self, vocab_size=100, embed_dim=32, hidden_size=16, max_len=12, pad_idx=0):
        super().__init__()
        self.pad_idx = pad_idx
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_idx)
        self.lstm = nn.LSTM(embed_dim, hidden_size, num_layers=1, batch_first=True, bidirectional=True)
        self.attn = AttentionBlock(dim=2 * hidden_size, num_heads=4, max_len=max_len)

    def forward(self, tokens):
        emb = self.embedding(tokens)
        out, _ = self.lstm(emb)
        out = self.attn(out)
        # Average only over non-padding positions; clamp so an all-padding row does not divide by zero.
        keep = (tokens != self.pad_idx).unsqueeze(-1).float()
        return (out * keep).sum(dim=1) / keep.sum(dim=1).clamp(min=1.0)
