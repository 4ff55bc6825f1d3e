import torch
from torch import nn


class Encoder(nn.Module):
    def __init__(self, input_dim=64, latent_dim=8):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(input_dim, 32), nn.Tanh(), nn.Linear(32, latent_dim))

    def forward(self, x):
        return self.net(x.flatten(start_dim=1))


class Decoder(nn.Module):
    def __init__(self, latent_dim=8, output_dim=64):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(latent_dim, 32), nn.Tanh(), nn.Linear(32, output_dim), nn.Sigmoid())

    def forward(self, z):
        return self.net(z)


class AutoEncoder(nn.Module):
    def __init__(self, input_dim=64, latent_dim=8):
        super().__init__()
        self.encoder = Encoder(input_dim, latent_dim)
        self.decoder = Decoder(latent_dim, input_dim)

    def forward(self, x):
        z = self.encoder(x)
        return self.decoder(z), z


def reconstruction_loss(recon, target):
    return nn.functional.binary_cross_entropy(recon, target.flatten(1), reduction="sum") / target.size(0)
