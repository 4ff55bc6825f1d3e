"""Diffusion code normalises with `nn.GroupNorm(num_groups=32, num_channels=ch)` written inside its blocks:
a guessed channel count of 8 or 16 was refused ('num_channels (8) must be divisible by num_groups (32)')
and every block of a latent-diffusion model went unexercised. The channel arguments equal to the refused
count are now made a multiple of the divisor torch's error names; a resolution list guessed as a number
(`if curr_res in attn_resolutions`) becomes a tuple."""
from agent.verify.init_sizes import divisible_from_error
from tests.support.one_file import assert_verified, migrate_one_file

SOURCE = '''\
import torch
from torch import nn


def Normalize(in_channels):
    return nn.GroupNorm(num_groups=32, num_channels=in_channels, eps=1e-6, affine=True)


class ResnetBlock(nn.Module):
    def __init__(self, *, in_channels, out_channels=None):
        super().__init__()
        out_channels = in_channels if out_channels is None else out_channels
        self.norm1 = Normalize(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm2 = Normalize(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)

    def forward(self, x):
        h = self.conv1(torch.nn.functional.silu(self.norm1(x)))
        return x + self.conv2(torch.nn.functional.silu(self.norm2(h)))


class Stack(nn.Module):
    def __init__(self, ch, attn_resolutions, resolution):
        super().__init__()
        self.blocks = nn.ModuleList([ResnetBlock(in_channels=ch)
                                     for res in (resolution, resolution // 2) if res in attn_resolutions])

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return x
'''


def test_channel_arguments_follow_the_divisor_the_error_names():
    message = "ValueError: num_channels (8) must be divisible by num_groups (32)"
    assert divisible_from_error("Model(ch=8, out_ch=8, in_channels=8, resolution=8)", message) == \
        "Model(ch=32, out_ch=8, in_channels=32, resolution=8)"
    assert divisible_from_error("Model(ch=16)", message) is None  # not the count refused
    assert divisible_from_error("Model(ch=8)", "size mismatch") is None


def test_group_normed_blocks_verify(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "blocks.py", SOURCE, shared_verifier)
    units = assert_verified(report, ["ResnetBlock", "Stack"], level=None)
    assert "in_channels=32" in units["ResnetBlock"].spec["init"], units["ResnetBlock"].spec
    assert "attn_resolutions=(" in units["Stack"].spec["init"], units["Stack"].spec
