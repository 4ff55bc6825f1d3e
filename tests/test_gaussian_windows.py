"""Image-quality code builds its filter window once: a function annotated `-> Tensor` makes a 1-D
Gaussian, the module repeats it per channel with a list of counts (`.repeat([channel, 1] + [1] * n)`),
and the forward takes images of `channel` channels. The call on the function's result is a tensor
method (the annotation says so), the list becomes the tuple MindSpore's tile takes, and the module is
fed images of its `channel` count. Real migration, compared on real torch and MindSpore."""
from tests.support.one_file import assert_verified, migrate_one_file

SOURCE = '''\
import torch
import torch.nn as nn
import torch.nn.functional as F


def gauss_1d(size: int, sigma: float) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float) - size // 2
    g = torch.exp(-(coords ** 2) / (2 * sigma ** 2))
    return (g / g.sum()).unsqueeze(0).unsqueeze(0)


def blur(x, win):
    c = x.shape[1]
    out = F.conv2d(x, win.unsqueeze(2), groups=c)
    return F.conv2d(out, win.unsqueeze(3), groups=c)


class Blur(nn.Module):
    def __init__(self, size=5, sigma=1.5, channel=3, spatial_dims=1):
        super().__init__()
        self.win = gauss_1d(size, sigma).repeat([channel, 1] + [1] * spatial_dims)

    def forward(self, x):
        if x.dim() != 4:
            raise ValueError(f"expected images, got {x.shape}")
        return blur(x, self.win)
'''


def test_a_window_repeated_per_channel_converts_and_verifies(tmp_path, shared_verifier):
    report, out = migrate_one_file(tmp_path, "blur.py", SOURCE, shared_verifier)
    assert "gauss_1d(size, sigma).tile(tuple([channel, 1] + [1] * spatial_dims))" in out, out
    units = assert_verified(report, ["Blur"])
    assert units["Blur"].spec["inputs"][0][0]["shape"][1] == 3, units["Blur"].spec
