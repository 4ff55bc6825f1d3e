"""Shifted-window attention (the Swin family: image restoration, detection and segmentation backbones)
asks for sizes that fit together: a window size that is a pair (`window_size[0]`), tokens that fill a
window, windows that tile the grid the block was built for (a default window of 7 does not tile a guessed
8x8 grid), a forward given the grid's (H, W) beside the tokens (of an image model: tokens over the grid it
keeps), an up-sampling factor that is an integer; and a mask written through slices kept in variables, of
which a shift of 0 makes some empty (torch writes nothing there; MindSpore's setitem raised).
Guessed from torch's own errors, then checked on both sides (real migrations on the shared worker), and
the guesses one by one."""
import re

from agent.verify import constructors
from agent.verify.failures import level_failure
from agent.verify.init_sizes import windows_dividing
from agent.verify.input_shapes import grid_sizes
from agent.verify.inputs import make_arrays, pack, unpack
from agent.verify.shape_fix import corrected
from tests.support.one_file import migrate_one_file

SOURCE = '''\
import torch
import torch.nn as nn


def split_windows(x, size):
    b, h, w, c = x.shape
    x = x.view(b, h // size, size, w // size, size, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, size * size, c)


def merge_windows(windows, size, h, w):
    b = windows.shape[0] // ((h // size) * (w // size))
    x = windows.view(b, h // size, w // size, size, size, -1)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, -1)


class PairBiasAttention(nn.Module):
    def __init__(self, dim, window_size, num_heads):
        super().__init__()
        self.window_size, self.num_heads = window_size, num_heads
        tokens = window_size[0] * window_size[1]
        self.bias = nn.Parameter(torch.randn(num_heads, tokens, tokens) * 0.02)
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        attn = (q @ k.transpose(-2, -1)) * (c // self.num_heads) ** -0.5 + self.bias
        return self.proj((attn.softmax(-1) @ v).transpose(1, 2).reshape(b, n, c))


class GridBlock(nn.Module):
    def __init__(self, dim, input_resolution, num_heads, window_size=7):
        super().__init__()
        if min(input_resolution) <= window_size:  # a grid no larger than a window: one window, no shift
            window_size = min(input_resolution)
        self.input_resolution, self.window_size = input_resolution, window_size
        self.norm = nn.LayerNorm(dim)
        self.attn = PairBiasAttention(dim, (window_size, window_size), num_heads)

    def forward(self, x, x_size):
        h, w = x_size
        b, _, c = x.shape
        windows = split_windows(self.norm(x).view(b, h, w, c), self.window_size)
        out = merge_windows(self.attn(windows), self.window_size, h, w)
        return x + out.reshape(b, h * w, c)


class Unembed(nn.Module):
    def __init__(self, img_size=64, patch_size=4, embed_dim=8):
        super().__init__()
        self.patches_resolution = [img_size // patch_size, img_size // patch_size]
        self.embed_dim = embed_dim
        self.norm = nn.LayerNorm(embed_dim)

    def forward(self, x, x_size):
        b, hw, c = x.shape
        return self.norm(x).transpose(1, 2).view(b, self.embed_dim, x_size[0], x_size[1])


class ShiftMask(nn.Module):
    def __init__(self, window_size=4, shift_size=0):
        super().__init__()
        self.window_size, self.shift_size = window_size, shift_size

    def mask(self, h, w):
        img_mask = torch.zeros((1, h, w, 1))
        h_slices = (slice(0, -self.window_size), slice(-self.window_size, -self.shift_size),
                    slice(-self.shift_size, None))
        cnt = 0
        for hs in h_slices:
            for ws in h_slices:
                img_mask[:, hs, ws, :] = cnt
                cnt += 1
        return img_mask

    def forward(self, x):
        b, h, w, c = x.shape
        return x + self.mask(h, w)


class OneStepUp(nn.Module):
    def __init__(self, scale, num_feat, num_out_ch):
        super().__init__()
        self.conv = nn.Conv2d(num_feat, (scale ** 2) * num_out_ch, 3, 1, 1)
        self.shuffle = nn.PixelShuffle(scale)

    def forward(self, x):
        return self.shuffle(self.conv(x))
'''


def test_window_attention_units_get_sizes_that_fit_together(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "swin.py", SOURCE, shared_verifier)
    units = {u.name: u for u in report.units}
    for name in ("PairBiasAttention", "GridBlock", "OneStepUp", "Unembed", "ShiftMask"):
        assert units[name].status.startswith("verified"), (name, units[name].status, units[name].reason)
    assert re.search(r"window_size=\(\d+, \d+\)", units["PairBiasAttention"].spec["init"]), units["PairBiasAttention"].spec
    block = units["GridBlock"].spec
    assert "window_size=4" in block["init"] and "input_resolution=(8, 8)" in block["init"], block
    assert "scale=2" in units["OneStepUp"].spec["init"], units["OneStepUp"].spec
    tokens, grid = units["Unembed"].spec["inputs"][0]  # tokens over the grid the module keeps, and that grid
    assert tokens["shape"] == [2, 256, 8] and grid["value"] == [16, 16], units["Unembed"].spec


class _Block:
    def __init__(self, dim, input_resolution, num_heads, window_size=7):
        pass


class _Stages:
    def __init__(self, layers, width=8):
        self.first, self.second = layers[0], layers[1]
        self.third, self.fourth = layers[2], layers[3]


class _Net:
    def __init__(self, img_size=64, patch_size=1, window_size=7, scale=1.0):
        pass


def test_each_guess_reads_its_error():
    invalid = "shape '[2, 1, 7, 1, 7, 8]' is invalid for input of size 1024"
    assert windows_dividing("_Block(dim=8, input_resolution=(8, 8), num_heads=2)", invalid, _Block) == \
        "_Block(dim=8, input_resolution=(8, 8), num_heads=2, window_size=4)"
    assert windows_dividing("_Net()", invalid, _Net) == "_Net(window_size=4)"
    assert windows_dividing("_Net(window_size=8)", invalid, _Net) is None  # 8 tiles 64
    assert windows_dividing("_Net()", "mat1 and mat2 shapes cannot be multiplied", _Net) is None
    lines = ("self.conv = nn.Conv2d(num_feat, (scale ** 2) * num_out_ch, 3, 1, 1)",)
    assert constructors.naming_none("_Net(scale=1.0)", "empty(): argument 'size' (position 1) must be tuple of ints, "
                                    "but found element of type float at pos 0", _Net, lines) == "_Net(scale=2)"
    assert constructors.naming_none("_Block(dim=8, input_resolution=8, num_heads=2)", "'int' object is not subscriptable",
                                    _Block, ("n = (2 * input_resolution[0] - 1)",)) == \
        "_Block(dim=8, input_resolution=(8, 8), num_heads=2)"
    assert constructors.naming_none("_Stages(layers=2, width=8)", "'int' object is not subscriptable", _Stages,
                                    ("self.first, self.second = layers[0], layers[1]",)) == \
        "_Stages(layers=(2, 2, 2, 2), width=8)"  # as many as the constructor indexes
    scores = "The size of tensor a (8) must match the size of tensor b (64) at non-singleton dimension 3"
    tokens = [{"shape": [2, 8, 8], "dtype": "float32", "_batch": 0, "_vary": [1]}]
    assert corrected(tokens, scores)[0]["shape"] == [2, 64, 8]


def test_a_forward_given_the_grid_gets_the_modules_own_grid():
    class Block:
        def __init__(self):
            self.input_resolution = (4, 4)

    assert grid_sizes(Block(), "x_size", "length:2", re.compile(r"^input_resolution$")) == [
        {"value": [4, 4], "tuple": True}, {"value": [8, 8], "tuple": True}]  # tuples: `x_size == self.grid` holds
    descs, arrays = pack(make_arrays(grid_sizes(Block(), "x_size", None, re.compile(r"^input_resolution$")), 0, 0))
    assert unpack(descs, arrays) == [(4, 4), (8, 8)]  # a tuple on both sides, through the JSON between them
    assert grid_sizes(Block(), "mask", None, re.compile(r"^input_resolution$")) == []


def test_a_level_past_the_memory_limit_says_so():
    kind, why = level_failure("exception", "grad: RuntimeError: [enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: "
                              "can't allocate memory", 4.0)
    assert kind == "memory" and "4 GiB limit" in why
    assert level_failure("exception", "grad: kernel Foo unregistered", 4.0)[0] == "missing-kernel"
    assert level_failure("mismatch", "grad: loss differs", 4.0) == ("mismatch", "grad: loss differs")
