import torch
import torch.nn as nn


class TabularMLP(nn.Module):
    """A plain feed-forward classifier for tabular features."""

    def __init__(self, in_features=12, hidden=(32, 16), num_classes=3, dropout=0.2):
        super().__init__()
        layers = []
        prev = in_features
        for width in hidden:
            layers += [nn.Linear(prev, width), nn.BatchNorm1d(width), nn.ReLU(inplace=True), nn.Dropout(dropout)]
            prev = width
        self.body = nn.Sequential(*layers)
        self.out = nn.Linear(prev, num_classes)

    def forward(self, x):
        return self.out(self.body(x))

    @torch.no_grad()
    def predict(self, x):
        return self.forward(x).argmax(dim=1)
