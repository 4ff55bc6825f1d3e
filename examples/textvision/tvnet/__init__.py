"""tvnet: a tiny image + text classifier used as msagent's bundled example repo."""

from .blocks import AttentionBlock, MLPHead, ResidualBlock
from .model import TextVisionNet, build_model
from .text import TextEncoder

__all__ = [
    "AttentionBlock",
    "MLPHead",
    "ResidualBlock",
    "TextEncoder",
    "TextVisionNet",
    "build_model",
]
