"""torch.distributions as generative and policy code uses them: a VAE's Normal posterior sampled by
rsample (its noise drawn from one stream on both sides by the verifier) and its KL to a standard Normal
prior; a policy's Categorical over logits, its log_prob and entropy. MindSpore's own distributions are
Cells with another API; the translation keeps torch's, and the units verify on real torch and MindSpore."""
from tests.support.one_file import assert_verified, migrate_one_file

SOURCE = '''\
import torch
import torch.nn as nn
from torch.distributions import Categorical, Normal, kl_divergence


class Encoder(nn.Module):
    def __init__(self, dim=8, latent=4):
        super().__init__()
        self.stats = nn.Linear(dim, 2 * latent)

    def forward(self, x):
        mu, log_sd = self.stats(x).chunk(2, dim=-1)
        q = Normal(mu, log_sd.exp())
        prior = Normal(torch.zeros_like(mu), torch.ones_like(mu))
        z = q.rsample()
        return z, kl_divergence(q, prior).sum(-1), q.log_prob(z).sum(-1)


class Policy(nn.Module):
    def __init__(self, dim=8, actions=5):
        super().__init__()
        self.head = nn.Linear(dim, actions)

    def forward(self, x):
        logits = self.head(x)
        dist = torch.distributions.Categorical(logits=logits)
        greedy = logits.argmax(dim=-1)
        return dist.log_prob(greedy), dist.entropy(), dist.probs
'''


def test_distributions_convert_and_verify(tmp_path, shared_verifier):
    report, out = migrate_one_file(tmp_path, "models.py", SOURCE, shared_verifier)
    assert not [m for f in report.files for m in f.markers], [f.markers for f in report.files]
    assert "_MsNormal(mu, " in out and "_ms_kl_divergence(q, prior)" in out and "_MsCategorical(logits=" in out, out
    assert_verified(report, ["Encoder", "Policy"])
