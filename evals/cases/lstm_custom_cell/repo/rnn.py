import math

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class LayerNormLSTMCell(nn.Module):
    def __init__(self, input_size=8, hidden_size=16):
        super().__init__()
        self.hidden_size = hidden_size
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))
        self.bias = nn.Parameter(torch.zeros(4 * hidden_size))
        self.ln_gates = nn.LayerNorm(4 * hidden_size)
        self.ln_cell = nn.LayerNorm(hidden_size)
        stdv = 1.0 / math.sqrt(hidden_size)
        for w in (self.weight_ih, self.weight_hh):
            nn.init.uniform_(w, -stdv, stdv)

    def forward(self, x, state):
        h, c = state
        gates = self.ln_gates(torch.mm(x, self.weight_ih.t()) + torch.mm(h, self.weight_hh.t()) + self.bias)
        i, f, g, o = gates.chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(self.ln_cell(c))
        return h, c


class UnrolledLSTM(nn.Module):
    def __init__(self, input_size=8, hidden_size=16):
        super().__init__()
        self.cell = LayerNormLSTMCell(input_size, hidden_size)
        self.hidden_size = hidden_size

    def forward(self, x):
        """x: (batch, time, input_size)"""
        b = x.size(0)
        h = x.new_zeros(b, self.hidden_size)
        c = x.new_zeros(b, self.hidden_size)
        outputs = []
        for t in range(x.size(1)):
            h, c = self.cell(x[:, t], (h, c))
            outputs.append(h)
        return torch.stack(outputs, dim=1), (h, c)


class PackedGRUEncoder(nn.Module):
    def __init__(self, vocab=50, emb=16, hidden=16):
        super().__init__()
        self.emb = nn.Embedding(vocab, emb, padding_idx=0)
        self.gru = nn.GRU(emb, hidden, batch_first=True, bidirectional=True)

    def forward(self, tokens, lengths):
        packed = pack_padded_sequence(self.emb(tokens), lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, h = self.gru(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=tokens.size(1))
        return out, torch.cat([h[0], h[1]], dim=-1)
