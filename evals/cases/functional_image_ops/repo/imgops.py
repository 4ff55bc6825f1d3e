"""Differentiable image helpers (torch.nn.functional only, no parameters)."""

import torch
import torch.nn.functional as F


def _gaussian_kernel(size, sigma):
    coords = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-(coords ** 2) / (2 * sigma ** 2))
    g = g / g.sum()
    return g[:, None] * g[None, :]


def gaussian_blur(img, size=5, sigma=1.0):
    c = img.shape[1]
    kernel = _gaussian_kernel(size, sigma).expand(c, 1, size, size)
    img = F.pad(img, (size // 2,) * 4, mode="reflect")
    return F.conv2d(img, kernel, groups=c)


def sobel_edges(gray):
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    weight = torch.stack([kx, kx.t()]).unsqueeze(1)
    grad = F.conv2d(gray, weight, padding=1)
    return torch.sqrt(grad.pow(2).sum(dim=1, keepdim=True) + 1e-6)


def resize_and_pad(img, size=12):
    h, w = img.shape[-2:]
    scale = size / max(h, w)
    new_h, new_w = int(round(h * scale)), int(round(w * scale))
    img = F.interpolate(img, size=(new_h, new_w), mode="bilinear", align_corners=False)
    return F.pad(img, (0, size - new_w, 0, size - new_h), value=0.0)


def ssim(x, y, window=3, c1=0.01 ** 2, c2=0.03 ** 2):
    mu_x = F.avg_pool2d(x, window, 1, padding=window // 2, count_include_pad=False)
    mu_y = F.avg_pool2d(y, window, 1, padding=window // 2, count_include_pad=False)
    sigma_x = F.avg_pool2d(x * x, window, 1, padding=window // 2, count_include_pad=False) - mu_x ** 2
    sigma_y = F.avg_pool2d(y * y, window, 1, padding=window // 2, count_include_pad=False) - mu_y ** 2
    sigma_xy = F.avg_pool2d(x * y, window, 1, padding=window // 2, count_include_pad=False) - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * sigma_xy + c2)
    den = (mu_x ** 2 + mu_y ** 2 + c1) * (sigma_x + sigma_y + c2)
    return (num / den).mean(dim=(1, 2, 3))


def channel_normalize(img, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)):
    mean = torch.as_tensor(mean, dtype=img.dtype).view(1, -1, 1, 1)
    std = torch.as_tensor(std, dtype=img.dtype).view(1, -1, 1, 1)
    return F.normalize((img - mean) / std, p=2.0, dim=1)
