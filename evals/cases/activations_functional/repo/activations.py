"""Activation functions used across the project, kept in one place."""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def swish(x, beta=1.0):
    return x * torch.sigmoid(beta * x)


def mish(x):
    return x * torch.tanh(F.softplus(x))


def hard_sigmoid(x):
    return F.relu6(x + 3.0) / 6.0


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3))))


class Swish(nn.Module):
    def __init__(self, beta=1.0, learnable=False):
        super().__init__()
        if learnable:
            self.beta = nn.Parameter(torch.tensor(beta))
        else:
            self.beta = beta

    def forward(self, x):
        return swish(x, self.beta)
