import torch.nn as nn
import torchvision
from torchvision.models import resnet18

from .heads import ProjectionHead
from .pooling import GeM


class EmbeddingNet(nn.Module):
    def __init__(self, embed_dim=16, pretrained=False):
        super().__init__()
        weights = torchvision.models.ResNet18_Weights.DEFAULT if pretrained else None
        trunk = resnet18(weights=weights)
        self.body = nn.Sequential(*list(trunk.children())[:-2])
        self.pool = GeM(p=3.0)
        self.head = ProjectionHead(512, embed_dim)

    def forward(self, x):
        return self.head(self.pool(self.body(x)).flatten(1))
