"""GAN discriminators wrap their layers in `nn.utils.spectral_norm`: the weight divided by its largest
singular value, estimated by one power-iteration step per training call on stored vectors. MindSpore has
no counterpart; the translation keeps torch's weight_orig / weight_u / weight_v, updates u and v in
training only, and the discriminator verifies on real torch and MindSpore at every level (the train
level compares the updated vectors too)."""
from tests.support.one_file import assert_verified, migrate_one_file

SOURCE = '''\
import torch.nn as nn
from torch.nn.utils import spectral_norm


class Critic(nn.Module):
    def __init__(self, channels=3, width=8):
        super().__init__()
        self.conv = spectral_norm(nn.Conv2d(channels, width, 3, stride=2, padding=1))
        self.head = spectral_norm(nn.Linear(width, 1))
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x):
        h = self.act(self.conv(x))
        return self.head(h.mean(dim=(2, 3)))
'''


def test_spectral_norm_verifies_at_every_level(tmp_path, shared_verifier):
    report, out = migrate_one_file(tmp_path, "critic.py", SOURCE, shared_verifier)
    assert not [m for f in report.files for m in f.markers], [f.markers for f in report.files]
    assert "_ms_spectral_norm(nn.Conv2d(" in out, out
    assert_verified(report, ["Critic"])
