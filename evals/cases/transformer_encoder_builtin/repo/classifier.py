import torch
import torch.nn as nn


class TransformerClassifier(nn.Module):
    def __init__(self, vocab_size=64, d_model=16, nhead=4, num_layers=2, dim_feedforward=32, num_classes=3,
                 max_len=16, pad_id=0):
        super().__init__()
        self.pad_id = pad_id
        self.tok = nn.Embedding(vocab_size, d_model, padding_idx=pad_id)
        self.pos = nn.Embedding(max_len + 1, d_model)
        self.cls = nn.Parameter(torch.zeros(1, 1, d_model))
        layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout=0.1, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.fc = nn.Linear(d_model, num_classes)

    def forward(self, ids):
        b, t = ids.shape
        x = torch.cat([self.cls.expand(b, -1, -1), self.tok(ids)], dim=1)
        x = x + self.pos(torch.arange(t + 1, device=ids.device)).unsqueeze(0)
        pad = torch.cat([torch.zeros(b, 1, dtype=torch.bool, device=ids.device), ids == self.pad_id], dim=1)
        x = self.encoder(x, src_key_padding_mask=pad)
        return self.fc(self.norm(x[:, 0]))
