"""A block's second input fed to its own layer through a plain function (`self.temb_proj(nonlinearity(temb))`,
the timestep embedding of every diffusion ResBlock) is shaped for that layer, [batch, 64] here; before, it was
shaped for the block's second top-level layer (a convolution) and no spec ran."""
from agent.verify import usage
from tests.support.one_file import assert_verified, load_source, migrate_one_file

SOURCE = '''\
import torch
from torch import nn


def nonlinearity(x):
    return x * torch.sigmoid(x)


class ResBlock(nn.Module):
    def __init__(self, in_channels=16, out_channels=16, temb_channels=64):
        super().__init__()
        self.norm1 = nn.GroupNorm(4, in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.temb_proj = nn.Linear(temb_channels, out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)

    def forward(self, x, temb):
        h = self.conv1(nonlinearity(self.norm1(x)))
        h = h + self.temb_proj(nonlinearity(temb))[:, :, None, None]
        return x + self.conv2(nonlinearity(h))
'''


def test_the_layer_each_input_reaches_is_read_from_the_source(tmp_path):
    module = load_source(tmp_path, "block.py", SOURCE)
    assert usage.consuming_layers(module.ResBlock.forward) == {"x": "norm1", "temb": "temb_proj", "h": "conv2"}


def test_a_block_with_a_timestep_embedding_verifies(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "block.py", SOURCE, shared_verifier)
    units = assert_verified(report, ["ResBlock"])
    assert units["ResBlock"].spec["inputs"][0][1]["shape"] == [2, 64], units["ResBlock"].spec


UNET = '''\
import math

import torch
from torch import nn


def timestep_embedding(timesteps, dim, max_period=10000):
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(start=0, end=half, dtype=torch.float32) / half)
    args = timesteps[:, None].float() * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class TinyUNet(nn.Module):
    def __init__(self, image_size, in_channels, model_channels):
        super().__init__()
        self.model_channels = model_channels
        self.time_embed = nn.Sequential(nn.Linear(model_channels, 4 * model_channels), nn.SiLU())
        self.emb_proj = nn.Linear(4 * model_channels, model_channels)
        self.conv_in = nn.Conv2d(in_channels, model_channels, 3, padding=1)
        self.conv_out = nn.Conv2d(model_channels, in_channels, 3, padding=1)

    def forward(self, x, timesteps):
        emb = self.time_embed(timestep_embedding(timesteps, self.model_channels))
        h = self.conv_in(x) + self.emb_proj(emb)[:, :, None, None]
        return self.conv_out(torch.relu(h))
'''


def test_a_denoiser_gets_an_image_and_one_timestep_per_sample(tmp_path, shared_verifier):
    """`forward(x, timesteps)` whose first child is the time embedding: x is the image its image_size and
    in_channels describe, timesteps one integer step per sample."""
    report, _ = migrate_one_file(tmp_path, "unet.py", UNET, shared_verifier)
    units = assert_verified(report, ["TinyUNet"])
    x, steps = units["TinyUNet"].spec["inputs"][0]
    assert len(x["shape"]) == 4 and steps["shape"] == [2] and steps["dtype"] == "int64", units["TinyUNet"].spec


EMBEDDING = '''\
import math

import torch


def timestep_embedding(timesteps, dim, max_period=10000):
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(start=0, end=half, dtype=torch.float32) / half)
    args = timesteps[:, None].float() * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
'''


def test_a_timestep_embedding_function_gets_steps_and_a_width(tmp_path, shared_verifier):
    """`dim` sizes an arange through `half = dim // 2` (an integer, not an axis), `timesteps` is one step
    per sample (its name held `eps`: it was guessed 1e-05)."""
    from agent.verify.name_guesses import guess_value

    assert guess_value("timesteps") is not 1e-5 and guess_value("layer_norm_eps") == 1e-5
    report, _ = migrate_one_file(tmp_path, "embedding.py", EMBEDDING, shared_verifier)
    units = assert_verified(report, ["timestep_embedding"], level=None)
    steps, dim = units["timestep_embedding"].spec["inputs"][0]
    assert steps["shape"] == [2] and isinstance(dim["value"], int) and dim["value"] > 0, units["timestep_embedding"].spec


QUANTIZER = '''\
import torch
from torch import nn


class VectorQuantizer(nn.Module):
    def __init__(self, n_e, e_dim, beta):
        super().__init__()
        self.n_e, self.e_dim, self.beta = n_e, e_dim, beta
        self.embedding = nn.Embedding(self.n_e, self.e_dim)

    def forward(self, z):
        z = z.permute(0, 2, 3, 1).contiguous()
        flat = z.view(-1, self.e_dim)
        d = torch.sum(flat ** 2, dim=1, keepdim=True) + torch.sum(self.embedding.weight ** 2, dim=1) - \\
            2 * torch.matmul(flat, self.embedding.weight.t())
        z_q = self.embedding(torch.argmin(d, dim=1)).view(z.shape)
        loss = torch.mean((z_q.detach() - z) ** 2) + self.beta * torch.mean((z_q - z.detach()) ** 2)
        return (z + (z_q - z).detach()).permute(0, 3, 1, 2).contiguous(), loss
'''


def test_a_permuted_input_has_as_many_axes_as_the_permutation(tmp_path, shared_verifier):
    """`z.permute(0, 2, 3, 1)` (a VQ-VAE quantizer): z is a feature map, not the Embedding's token ids."""
    report, _ = migrate_one_file(tmp_path, "quantize.py", QUANTIZER, shared_verifier)
    units = assert_verified(report, ["VectorQuantizer"])
    assert len(units["VectorQuantizer"].spec["inputs"][0][0]["shape"]) == 4, units["VectorQuantizer"].spec


QKV = '''\
import math

import torch
from torch import nn


class QKVAttention(nn.Module):
    def __init__(self, n_heads):
        super().__init__()
        self.n_heads = n_heads

    def forward(self, qkv):
        bs, width, length = qkv.shape
        assert width % (3 * self.n_heads) == 0
        ch = width // (3 * self.n_heads)
        q, k, v = qkv.chunk(3, dim=1)
        scale = 1 / math.sqrt(math.sqrt(ch))
        weight = torch.einsum("bct,bcs->bts", (q * scale).view(bs * self.n_heads, ch, length),
                              (k * scale).view(bs * self.n_heads, ch, length))
        weight = torch.softmax(weight, dim=-1)
        return torch.einsum("bts,bcs->bct", weight, v.reshape(bs * self.n_heads, ch, length)).reshape(bs, -1, length)
'''


def test_a_bare_assertion_gets_sizes_with_more_divisors(tmp_path, shared_verifier):
    """`assert width % (3 * self.n_heads) == 0` says nothing: a guessed 8 becomes 24 (divisible by 2, 3, 4,
    6, 8 and 12) once."""
    report, _ = migrate_one_file(tmp_path, "qkv.py", QKV, shared_verifier)
    units = assert_verified(report, ["QKVAttention"])
    assert units["QKVAttention"].spec["inputs"][0][0]["shape"][1] == 24, units["QKVAttention"].spec
