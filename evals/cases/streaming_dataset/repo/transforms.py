import torch
import torch.nn as nn


def random_crop_eval(img, size=16):
    """Center crop at evaluation time (the training path crops at random offsets)."""
    h, w = img.shape[-2:]
    top, left = (h - size) // 2, (w - size) // 2
    return img[..., top:top + size, left:left + size]


class Normalize(nn.Module):
    def __init__(self, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25)):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x):
        return (x - self.mean) / self.std


def mixup(x, y, lam=0.7, num_classes=4):
    """Mix each sample with the batch reversed (deterministic permutation for reproducibility)."""
    y1 = torch.nn.functional.one_hot(y, num_classes).float()
    x = lam * x + (1 - lam) * x.flip(0)
    return x, lam * y1 + (1 - lam) * y1.flip(0)


class SpecAugment(nn.Module):
    """Masks a band of frequencies and of time steps; at eval the bands come from fixed positions."""

    def __init__(self, freq_width=2, time_width=3):
        super().__init__()
        self.freq_width, self.time_width = freq_width, time_width

    def forward(self, spec):
        b, f, t = spec.shape
        if self.training:
            f0 = torch.randint(0, f - self.freq_width + 1, (b, 1, 1))
            t0 = torch.randint(0, t - self.time_width + 1, (b, 1, 1))
        else:
            f0 = torch.zeros(b, 1, 1, dtype=torch.long)
            t0 = torch.full((b, 1, 1), t // 2, dtype=torch.long)
        fr = torch.arange(f).view(1, f, 1)
        tr = torch.arange(t).view(1, 1, t)
        mask = ((fr >= f0) & (fr < f0 + self.freq_width)) | ((tr >= t0) & (tr < t0 + self.time_width))
        return spec.masked_fill(mask, 0.0)
