import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def timestep_embedding(timesteps, dim=16, max_period=10000):
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(start=0, end=half, dtype=torch.float32) / half)
    args = timesteps[:, None].float() * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class TimeResBlock(nn.Module):
    def __init__(self, in_ch=8, out_ch=16, temb_dim=32, groups=4):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.temb_proj = nn.Linear(temb_dim, out_ch)
        self.norm2 = nn.GroupNorm(groups, out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x, temb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.temb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return h + self.skip(x)


class TinyDenoiser(nn.Module):
    def __init__(self, in_ch=3, base=8, temb_dim=32):
        super().__init__()
        self.base = base
        self.time_mlp = nn.Sequential(nn.Linear(base * 2, temb_dim), nn.SiLU(), nn.Linear(temb_dim, temb_dim))
        self.inp = nn.Conv2d(in_ch, base, 3, padding=1)
        self.down = TimeResBlock(base, base * 2, temb_dim)
        self.pool = nn.AvgPool2d(2)
        self.mid = TimeResBlock(base * 2, base * 2, temb_dim)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.dec = TimeResBlock(base * 4, base, temb_dim)
        self.out = nn.Sequential(nn.GroupNorm(4, base), nn.SiLU(), nn.Conv2d(base, in_ch, 3, padding=1))

    def forward(self, x, t):
        temb = self.time_mlp(timestep_embedding(t, self.base * 2))
        h0 = self.down(self.inp(x), temb)
        h = self.mid(self.pool(h0), temb)
        h = self.dec(torch.cat([self.up(h), h0], dim=1), temb)
        return self.out(h)


def extract(a, t, x_shape):
    out = a.gather(-1, t)
    return out.reshape(t.shape[0], *((1,) * (len(x_shape) - 1)))


class GaussianDiffusion(nn.Module):
    def __init__(self, model=None, timesteps=50, beta_start=1e-4, beta_end=0.02):
        super().__init__()
        self.model = model if model is not None else TinyDenoiser()
        self.num_timesteps = timesteps
        betas = torch.linspace(beta_start, beta_end, timesteps, dtype=torch.float64)
        alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
        self.register_buffer("betas", betas.float())
        self.register_buffer("sqrt_alphas_cumprod", alphas_cumprod.sqrt().float())
        self.register_buffer("sqrt_one_minus_alphas_cumprod", (1.0 - alphas_cumprod).sqrt().float())

    def q_sample(self, x_start, t, noise):
        return (extract(self.sqrt_alphas_cumprod, t, x_start.shape) * x_start
                + extract(self.sqrt_one_minus_alphas_cumprod, t, x_start.shape) * noise)

    def forward(self, x_start, t, noise):
        """The denoising loss for given timesteps and noise (both passed in so the loss is deterministic)."""
        x_noisy = self.q_sample(x_start, t, noise)
        return F.mse_loss(self.model(x_noisy, t), noise)
