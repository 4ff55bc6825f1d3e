import math

import torch
import torch.nn as nn


class PositionalEncoding(nn.Module):
    def __init__(self, d_model=16, dropout=0.1, max_len=32):
        super().__init__()
        self.dropout = nn.Dropout(p=dropout)
        position = torch.arange(max_len).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
        pe = torch.zeros(max_len, 1, d_model)
        pe[:, 0, 0::2] = torch.sin(position * div_term)
        pe[:, 0, 1::2] = torch.cos(position * div_term)
        self.register_buffer("pe", pe)

    def forward(self, x):
        """x: (seq_len, batch, d_model)"""
        x = x + self.pe[: x.size(0)]
        return self.dropout(x)


class TokenEncoder(nn.Module):
    def __init__(self, ntoken=40, d_model=16):
        super().__init__()
        self.d_model = d_model
        self.embedding = nn.Embedding(ntoken, d_model)
        self.pos_encoder = PositionalEncoding(d_model, dropout=0.1)

    def forward(self, src):
        """src: (batch, seq_len) token ids -> (seq_len, batch, d_model)"""
        src = self.embedding(src.t()) * math.sqrt(self.d_model)
        return self.pos_encoder(src)
