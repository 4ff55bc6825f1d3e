import math

import torch
import torch.nn as nn


class DetectionHead(nn.Module):
    """Shared conv towers for classification and box regression, applied to every feature level."""

    def __init__(self, in_channels=8, num_anchors=3, num_classes=4, num_convs=2):
        super().__init__()
        self.num_classes = num_classes
        cls_tower, box_tower = [], []
        for _ in range(num_convs):
            cls_tower += [nn.Conv2d(in_channels, in_channels, 3, padding=1), nn.GroupNorm(4, in_channels), nn.ReLU()]
            box_tower += [nn.Conv2d(in_channels, in_channels, 3, padding=1), nn.GroupNorm(4, in_channels), nn.ReLU()]
        self.cls_tower = nn.Sequential(*cls_tower)
        self.box_tower = nn.Sequential(*box_tower)
        self.cls_logits = nn.Conv2d(in_channels, num_anchors * num_classes, 3, padding=1)
        self.bbox_pred = nn.Conv2d(in_channels, num_anchors * 4, 3, padding=1)
        prior = 0.01
        nn.init.constant_(self.cls_logits.bias, -math.log((1 - prior) / prior))

    def forward(self, *features):
        logits, deltas = [], []
        for f in features:
            n, _, h, w = f.shape
            cls = self.cls_logits(self.cls_tower(f))
            box = self.bbox_pred(self.box_tower(f))
            logits.append(cls.permute(0, 2, 3, 1).reshape(n, h * w * (cls.shape[1] // self.num_classes), self.num_classes))
            deltas.append(box.permute(0, 2, 3, 1).reshape(n, -1, 4))
        return torch.cat(logits, dim=1), torch.cat(deltas, dim=1)


class TinyDetector(nn.Module):
    def __init__(self, num_classes=4, width=8):
        super().__init__()
        self.stage1 = nn.Sequential(nn.Conv2d(3, width, 3, stride=2, padding=1), nn.BatchNorm2d(width), nn.ReLU())
        self.stage2 = nn.Sequential(nn.Conv2d(width, width, 3, stride=2, padding=1), nn.BatchNorm2d(width), nn.ReLU())
        self.head = DetectionHead(width, num_anchors=3, num_classes=num_classes)

    def forward(self, images):
        c1 = self.stage1(images)
        c2 = self.stage2(c1)
        return self.head(c1, c2)
