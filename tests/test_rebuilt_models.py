"""The training levels rebuild the torch model for each seed; a second build is not always the first one
(a projection drawn from numpy's generator, which no torch seed fixes). The rebuilt model takes the
tensors the MindSpore side was given, so the levels compare the same model on both sides."""
from tests.support.one_file import migrate_one_file

SOURCE = '''\
import numpy as np
import torch
import torch.nn as nn


class FourierFeatures(nn.Module):
    def __init__(self, dim_in=3, features=8, scale=2.0):
        super().__init__()
        self.register_buffer("freqs", torch.from_numpy(np.random.randn(dim_in, features).astype("float32")) * scale)
        self.mix = nn.Linear(2 * features, features)

    def forward(self, x):
        proj = x @ self.freqs
        return self.mix(torch.cat([proj.sin(), proj.cos()], dim=-1))
'''


def test_a_model_drawn_from_numpy_verifies_to_gradients(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "fourier.py", SOURCE, shared_verifier)
    unit = next(u for u in report.units if u.name == "FourierFeatures")
    assert unit.status == "verified-by-rules", (unit.status, unit.reason)
    assert unit.level_reached == "grad", unit.levels
