import torch
import torch.nn as nn


class ResMLPBlock(nn.Module):
    def __init__(self, dim, expansion=2, layerscale=0.1):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, dim * expansion)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(dim * expansion, dim)
        self.gamma = nn.Parameter(layerscale * torch.ones(dim))

    def forward(self, x):
        return x + self.gamma * self.fc2(self.act(self.fc1(self.norm(x))))


class ResMLPNet(nn.Module):
    def __init__(self, in_channels=3, patch=4, dim=16, depth=2, num_classes=10):
        super().__init__()
        self.stem = nn.Conv2d(in_channels, dim, patch, stride=patch)
        self.blocks = nn.Sequential(*[ResMLPBlock(dim) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        x = self.stem(x).flatten(2).transpose(1, 2)
        x = self.blocks(x)
        return self.head(self.norm(x).mean(dim=1))
