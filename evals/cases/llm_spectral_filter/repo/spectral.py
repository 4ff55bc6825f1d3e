"""Frequency-domain filtering of short 1-D signals (batch, channels, length)."""
import torch
import torch.nn as nn


class SpectralFilter(nn.Module):
    """Scales every rfft bin of every channel by a learned gain, then returns to the time domain."""

    def __init__(self, channels=4, length=16):
        super().__init__()
        self.length = length
        self.gain = nn.Parameter(torch.ones(channels, length // 2 + 1))

    def forward(self, x):
        spec = torch.fft.rfft(x, dim=-1)
        return torch.fft.irfft(spec * self.gain, n=self.length, dim=-1)


def band_energy(x, bands=4):
    """Energy of the signal in `bands` equal slices of its spectrum (DC bin dropped)."""
    power = torch.fft.rfft(x, dim=-1).abs().pow(2)[..., 1:]
    return power.reshape(*power.shape[:-1], bands, -1).sum(-1)
