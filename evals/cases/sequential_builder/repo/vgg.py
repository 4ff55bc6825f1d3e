from collections import OrderedDict

import torch
import torch.nn as nn

CFG = {"A": [8, "M", 16, "M"], "B": [8, 8, "M", 16, 16, "M"]}


def make_layers(cfg, in_channels=3, batch_norm=True):
    layers = []
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            conv = nn.Conv2d(in_channels, v, kernel_size=3, padding=1)
            layers += [conv, nn.BatchNorm2d(v), nn.ReLU(inplace=True)] if batch_norm else [conv, nn.ReLU(inplace=True)]
            in_channels = v
    return nn.Sequential(*layers)


class VGGTiny(nn.Module):
    def __init__(self, variant="A", num_classes=10):
        super().__init__()
        self.features = make_layers(CFG[variant])
        self.classifier = nn.Sequential(OrderedDict([
            ("fc1", nn.Linear(16 * 4 * 4, 32)),
            ("relu", nn.ReLU(True)),
            ("drop", nn.Dropout()),
            ("fc2", nn.Linear(32, num_classes)),
        ]))

    def forward(self, x):
        x = self.features(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


def vgg_tiny_b(**kwargs):
    return VGGTiny("B", **kwargs)
