"""The full model: an image branch and a text branch fused by concatenation, then an MLP head."""

import torch
import torch.nn as nn

from .blocks import MLPHead, ResidualBlock
from .text import TextEncoder


class TextVisionNet(nn.Module):
    def __init__(self, num_classes=5, vocab_size=100, embed_dim=32, text_hidden=16, max_len=12):
        super().__init__()
        self.image_branch = nn.Sequential(
            ResidualBlock(3, 8),
            ResidualBlock(8, 16, stride=2),
            nn.AdaptiveAvgPool2d(1),
        )
        self.text_branch = TextEncoder(vocab_size, embed_dim, hidden_size=text_hidden, max_len=max_len)
        self.head = MLPHead(16 + 2 * text_hidden, hidden=32, num_classes=num_classes)

    def forward(self, images, tokens):
        img = self.image_branch(images).flatten(1)
        txt = self.text_branch(tokens)
        return self.head(torch.cat([img, txt], dim=1))


def build_model(cfg=None):
    """Build the model from a config dict (see configs/default.yaml); missing keys take the defaults."""
    cfg = cfg or {}
    return TextVisionNet(
        num_classes=cfg.get("num_classes", 5),
        vocab_size=cfg.get("vocab_size", 100),
        embed_dim=cfg.get("embed_dim", 32),
        text_hidden=cfg.get("text_hidden", 16),
        max_len=cfg.get("max_len", 12),
    )
