"""Guessed numbers out of a bound the code states: a filter refusing 'a cutoff above 0.5' gets a
fraction (0.25) for the cutoff it was guessed, as a constructor argument and as a function's scalar
input, instead of leaving the unit not exercised. The filter is built from torch.hann_window, whose
MindSpore counterpart is float64 unless told otherwise: the translation asks for float32, as torch's
default. Real migrations on the shared worker."""
from agent.verify import shape_fix
from agent.verify.constructors import naming_none
from tests.support.one_file import assert_verified, migrate_one_file

SOURCE = '''\
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def _taps(cutoff, half):
    if cutoff > 0.5:
        raise ValueError("A cutoff above 0.5 does not make sense.")
    window = torch.hann_window(2 * half + 1, periodic=False)
    time = torch.arange(-half, half + 1)
    taps = 2 * cutoff * window * torch.sinc(2 * cutoff * time)
    return taps / taps.sum()


class Smooth(nn.Module):
    def __init__(self, cutoffs, half=3):
        super().__init__()
        self.half = half
        self.register_buffer("taps", torch.stack([_taps(c, half) for c in cutoffs])[:, None])

    def forward(self, x):
        y = F.conv1d(F.pad(x[:, None], (self.half, self.half), mode="replicate"), self.taps)
        return y.permute(1, 0, 2)


def smooth(x, cutoff):
    taps = _taps(cutoff, 3)[None, None]
    return F.conv1d(F.pad(x[:, None], (3, 3), mode="replicate"), taps)[:, 0]
'''


def test_a_guessed_cutoff_above_a_stated_bound_becomes_a_fraction(tmp_path, shared_verifier):
    report, text = migrate_one_file(tmp_path, "filters.py", SOURCE, shared_verifier)
    units = assert_verified(report, ["Smooth", "smooth"])
    assert "0.25" in units["Smooth"].spec["init"], units["Smooth"].spec
    assert {"value": 0.25} in units["smooth"].spec["inputs"][0], units["smooth"].spec
    assert "hann_window(2 * half + 1, periodic=False, dtype=ms.float32)" in text, text


def test_only_a_fractional_bound_on_a_named_guess_makes_fractions():
    class Band:
        def __init__(self, cutoffs, cutoff_low=1.0, img_size=8, stride=1):
            pass

    ask = "A cutoff above 0.5 does not make sense."
    assert naming_none("Band(cutoffs=(8, 8))", ask, Band) == "Band(cutoffs=(0.25, 0.25))"
    assert naming_none("Band(cutoffs=8, cutoff_low=1.0, stride=1)", ask, Band) == \
        "Band(cutoffs=0.25, cutoff_low=0.25, stride=1)"
    assert naming_none("Band(cutoffs=(0.25, 0.25))", ask, Band) is None  # fractions already
    assert naming_none("Band(cutoffs=8, img_size=8)", "Image size should be larger than 160", Band) is None
    inputs = [{"shape": [2, 8], "dtype": "float32"}, {"value": 1.0}]
    assert shape_fix.corrected(inputs, "p must be in [0, 1]") == [inputs[0], {"value": 0.25}]
    assert shape_fix.corrected([inputs[0], {"value": 0.25}], "p must be in [0, 1]") is None
    # a second tensor a condition reads (`if cutoff > 0.5`) is a number: 1.0, then a fraction if refused
    ambiguous = "RuntimeError: Boolean value of Tensor with more than one value is ambiguous"
    assert shape_fix.corrected([inputs[0], inputs[0]], ambiguous) == [inputs[0], {"value": 1.0}]
