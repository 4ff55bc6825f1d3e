import torch
import torch.nn as nn

from scene import Scene


class FeatureRenderer(nn.Module):
    """Turns per-point features into an image-sized map; the Scene only carries metadata."""

    def __init__(self, feat_dim=8, out_channels=3, width=16, height=16, render_device=0):
        super().__init__()
        self.scene = Scene(width, height)
        self.scene.cuda(render_device)
        self.proj = nn.Linear(feat_dim, out_channels)

    def forward(self, feats):
        pixels = self.scene.canvas.size()
        b, n, _ = feats.size()
        colors = self.proj(feats).transpose(1, 2)  # (B, C, N)
        grid = colors.view(b, -1, n).mean(dim=-1, keepdim=True)
        return grid.expand(b, colors.size(1), pixels[0] * pixels[1]).reshape(b, -1, pixels[1], pixels[0])
