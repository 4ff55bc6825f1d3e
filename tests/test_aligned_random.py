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


PAIRS = '''
import numpy as np, torch
import mindspore as ms
from mindspore import ops, mint
from agent.verify import aligned_random as ar

ar.install_torch()
ar.install_ms()
ar.enable()
x, y = torch.zeros(2, 3), ms.Tensor(np.zeros((2, 3), np.float32))
pairs = [
    (lambda: torch.randn(2, 3), lambda: ops.randn(2, 3)),
    (lambda: torch.randn(size=(2, 3)), lambda: mint.randn((2, 3))),
    (lambda: torch.rand_like(x), lambda: ops.rand_like(y)),
    (lambda: torch.randn_like(x), lambda: mint.randn_like(y)),
    (lambda: torch.randint(0, 5, (4,)), lambda: ops.randint(0, 5, (4,))),
    (lambda: torch.randint(5, (4,)), lambda: mint.randint(5, (4,))),
    (lambda: torch.randperm(6), lambda: mint.randperm(6)),
    (lambda: torch.empty(3, 2).uniform_(-1, 1), lambda: ops.uniform((3, 2), ms.Tensor(-1.0), ms.Tensor(1.0))),
    (lambda: torch.empty(3, 2).normal_(), lambda: ops.standard_normal((3, 2))),
]
for i, (t, m) in enumerate(pairs):
    ar.reset()
    a = t().numpy()
    ar.reset()
    b = m().asnumpy()
    assert a.shape == b.shape and np.allclose(a, b), (i, a, b)
ar.disable()
assert not np.allclose(torch.randn(50).numpy(), torch.randn(50).numpy())  # off: torch's own generator
print("ok")
'''


def test_each_pair_of_samplers_draws_the_same_numbers():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", PAIRS], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-3000:]
