"""Layers that compute in complex numbers, as state-space and Fourier models do: a kernel built from
complex eigenvalues (`1j * imag`, complex exp, division, einsum, `.real`) and a long convolution done
as a product of real FFTs. MindSpore on CPU has no gradient for complex multiplication and refuses
Python complex scalars; the rules spell that arithmetic through real and imaginary parts. Migrated
on the shared worker: every unit verified up to gradients, against real torch."""
from tests.support.one_file import assert_verified, migrate_one_file

SOURCE = '''\
import torch
import torch.nn as nn
from torch.fft import rfft, irfft


def fft_conv(u, k):
    """Causal convolution of u (batch, length, channels) with k (length, channels)."""
    n = u.shape[1] * 2
    spectrum = rfft(u, n=n, dim=1) * rfft(k, n=n, dim=0)
    spectrum /= n
    return irfft(spectrum, n=n, dim=1)[:, : u.shape[1]] * n


class DiagonalStateKernel(nn.Module):
    def __init__(self, channels=4, states=6):
        super().__init__()
        self.log_decay = nn.Parameter(torch.randn(states) * 0.1)
        self.freq = nn.Parameter(torch.randn(states))
        self.c_re = nn.Parameter(torch.randn(channels, states))
        self.c_im = nn.Parameter(torch.randn(channels, states))

    def forward(self, u):
        length = u.shape[1]
        lam = -self.log_decay.exp() + 1j * self.freq
        c = self.c_re + 1j * self.c_im
        steps = torch.arange(length).float()
        powers = (lam.unsqueeze(-1) * steps).exp()
        c = c * (lam.exp() - 1) / lam
        kernel = torch.einsum("hn,nl->lh", c, powers).real
        return fft_conv(u, kernel) + u


class SpectralGate(nn.Module):
    def __init__(self, length=8, channels=4):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(length // 2 + 1, channels, 2) * 0.1)

    def forward(self, x):
        spec = torch.fft.rfft(x, dim=1)
        gated = spec * torch.view_as_complex(self.weight)
        return torch.fft.irfft(gated, n=x.shape[1], dim=1) + spec.abs().mean()
'''


def test_complex_arithmetic_verifies_to_gradients(tmp_path, shared_verifier):
    report, text = migrate_one_file(tmp_path, "ssm.py", SOURCE, shared_verifier)
    assert_verified(report, ("DiagonalStateKernel", "SpectralGate"))
    assert '_ms_complex_op("mul", 1j, self.freq)' in text and "# msagent:" not in text
