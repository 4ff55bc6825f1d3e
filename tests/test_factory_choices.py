"""Layer factories of diffusion code: `conv_nd(dims, *args, **kwargs)` picks Conv1d/2d/3d by comparing dims
with 1, 2, 3 (the generic guess 8 raised "unsupported dimensions"), and `Normalize(channels)` builds a
GroupNorm of 32 groups (8 channels are not divisible by 32). The number the code compares the parameter
with, and a multiple of the group count torch's error names, are now tried; both verify against torch."""
from agent.verify.constructors import int_choices
from agent.verify.shape_fix import corrected
from tests.support.one_file import assert_verified, load_source, migrate_one_file

SOURCE = '''\
import torch.nn as nn


def layer_nd(ndim, *args, **kwargs):
    if ndim == 1:
        return nn.Conv1d(*args, **kwargs)
    if ndim in (2, 3):
        return (nn.Conv2d if ndim == 2 else nn.Conv3d)(*args, **kwargs)
    raise ValueError(f"no {ndim}-d convolution")


def group_norm(channels, groups=32):
    return nn.GroupNorm(groups, channels, eps=1e-6)
'''


def test_numbers_compared_with_and_group_multiples(tmp_path):
    mod = load_source(tmp_path, "layers", SOURCE)
    assert int_choices(mod.layer_nd, ["ndim", "args"]) == {"ndim": [1]}
    error = "num_channels (8) must be divisible by num_groups (32)"
    assert corrected([{"value": 8}], error) == [{"value": 32}]
    assert corrected([{"value": 40}], error.replace("(8)", "(40)")) == [{"value": 64}]


def test_layer_factories_verify(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "layers.py", SOURCE, shared_verifier)
    assert_verified(report, ["layer_nd", "group_norm"], level=None)
