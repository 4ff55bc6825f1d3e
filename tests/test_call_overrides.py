"""A module whose class overrides `__call__` instead of `forward` (GAN losses written as
`def __call__(self, prediction, target_is_real)`): its inputs are guessed from `__call__`'s parameters, not
from the `forward` torch's Module leaves unimplemented, and it verifies against torch up to gradients."""
from tests.support.one_file import assert_verified, migrate_one_file

SOURCE = '''\
import torch
import torch.nn as nn


class AdversarialLoss(nn.Module):
    def __init__(self, least_squares=True, real_value=1.0, fake_value=0.0):
        super().__init__()
        self.register_buffer("real", torch.tensor(real_value))
        self.register_buffer("fake", torch.tensor(fake_value))
        self.criterion = nn.MSELoss() if least_squares else nn.BCEWithLogitsLoss()

    def __call__(self, prediction, target_is_real):
        target = (self.real if target_is_real else self.fake).expand_as(prediction)
        return self.criterion(prediction, target)
'''


def test_inputs_follow_an_overridden_call(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "losses.py", SOURCE, shared_verifier)
    assert_verified(report, ["AdversarialLoss"])
