"""A language model written the way PyTorch's own examples write it: a subclass of nn.Transformer
that calls `self.encoder(src, mask=...)` with torch's argument names, keeps its mask in an attribute
set to None in __init__ (so nothing static says `self.src_mask.size(0)` is a tensor's), and a
positional table whose width only the error of a first guess tells. Migrated on the shared worker:
every unit verified up to gradients."""
from tests.support.one_file import assert_verified, migrate_one_file

SOURCE = '''\
import math
import torch
import torch.nn as nn
import torch.nn.functional as F


class PositionalEncoding(nn.Module):
    def __init__(self, d_model=8, dropout=0.1, max_len=64):
        super().__init__()
        self.dropout = nn.Dropout(p=dropout)
        pe = torch.zeros(max_len, d_model)
        position = torch.arange(0, max_len, dtype=torch.float).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2).float() * (-math.log(10000.0) / d_model))
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        self.register_buffer("pe", pe.unsqueeze(0).transpose(0, 1))

    def forward(self, x):
        return self.dropout(x + self.pe[: x.size(0), :])


class TransformerModel(nn.Transformer):
    def __init__(self, ntoken=50, ninp=8, nhead=2, nhid=16, nlayers=2, dropout=0.5):
        super().__init__(d_model=ninp, nhead=nhead, dim_feedforward=nhid, num_encoder_layers=nlayers)
        self.src_mask = None
        self.pos_encoder = PositionalEncoding(ninp, dropout)
        self.input_emb = nn.Embedding(ntoken, ninp)
        self.ninp = ninp
        self.decoder = nn.Linear(ninp, ntoken)

    def _generate_square_subsequent_mask(self, sz):
        return torch.log(torch.tril(torch.ones(sz, sz)))

    def forward(self, src, has_mask=True):
        if has_mask:
            if self.src_mask is None or self.src_mask.size(0) != len(src):
                self.src_mask = self._generate_square_subsequent_mask(len(src)).to(src.device)
        else:
            self.src_mask = None
        src = self.pos_encoder(self.input_emb(src) * math.sqrt(self.ninp))
        return F.log_softmax(self.decoder(self.encoder(src, mask=self.src_mask)), dim=-1)
'''


def test_transformer_subclass_language_model_verifies(tmp_path, shared_verifier):
    report, text = migrate_one_file(tmp_path, "model.py", SOURCE, shared_verifier)
    assert_verified(report, ("PositionalEncoding", "TransformerModel"))
    assert "class TransformerModel(_MsTransformer)" in text and "# msagent:" not in text
