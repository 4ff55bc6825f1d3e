"""Units that sample (a VAE's reparameterisation, a diffusion step's noise and timestep) are compared on
the same random numbers: both sides draw from one stream, started afresh for every run. A translation that
samples another distribution is caught; a unit whose randomness escapes the aligned samplers (numpy's own
generator) stays not-exercised."""
from tests.support.one_file import assert_verified, migrate_one_file

SOURCE = '''\
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class TinyVAE(nn.Module):
    def __init__(self, dim=16, latent=4):
        super().__init__()
        self.enc = nn.Linear(dim, 2 * latent)
        self.dec = nn.Linear(latent, dim)

    def forward(self, x):
        mu, logvar = self.enc(x).chunk(2, dim=-1)
        std = torch.exp(0.5 * logvar)
        z = mu + torch.randn_like(std) * std
        return self.dec(z), mu, logvar


class NoisyStep(nn.Module):
    def __init__(self, dim=16, steps=10):
        super().__init__()
        self.net = nn.Linear(dim, dim)
        self.steps = steps

    def forward(self, x):
        t = torch.randint(0, self.steps, (x.shape[0],))
        noise = torch.randn(x.shape)
        scale = (t.float() + 1).unsqueeze(-1) / self.steps
        return F.mse_loss(self.net(x + scale * noise), noise)


class NumpyNoise(nn.Module):
    def __init__(self, dim=16):
        super().__init__()
        self.net = nn.Linear(dim, dim)

    def forward(self, x):
        return self.net(x) + torch.from_numpy(np.random.standard_normal(x.shape).astype("float32"))
'''


def test_sampling_units_verify_on_aligned_draws(tmp_path, shared_verifier):
    report, out = migrate_one_file(tmp_path, "gen.py", SOURCE, shared_verifier)
    units = assert_verified(report, ["TinyVAE", "NoisyStep"])
    assert any(n.startswith("random: the torch original samples") for n in units["TinyVAE"].notes)
    numpy_noise = {u.name: u for u in report.units}["NumpyNoise"]
    assert numpy_noise.status == "not-exercised" and "random" in numpy_noise.reason, numpy_noise.reason


def test_a_translation_that_samples_another_distribution_fails(tmp_path, shared_verifier):
    from tests.support.verify import verify_unit

    report, out = migrate_one_file(tmp_path, "gen.py", SOURCE, shared_verifier)
    assert "ops.randn_like(std)" in out, out
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    (wrong / "gen.py").write_text(out.replace("ops.randn_like(std)", "ops.rand_like(std)"))
    result = verify_unit(tmp_path / "src", wrong, {"module": "gen", "name": "TinyVAE"})
    assert result["status"] == "failed", (result["status"], result["reason"])
